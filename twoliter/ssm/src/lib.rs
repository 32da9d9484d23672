//! SSM parameters for published AMIs, as Bottlerocket's `pubsys ssm` and `promote-ssm` write them.
//!
//! [`Template`]s (the [`default_templates`] or a file read by [`load_templates`]) are rendered
//! per region with a [`Context`] into [`Parameters`]; [`put`] writes them without ever clobbering
//! a different value unless asked, [`promote`] copies a version's live values to another name
//! (e.g. `latest`), and [`validate`] checks what SSM holds. [`SsmInputs`] gathers what the
//! commands share: the build, its AMIs by region, the templates and the prefix.

mod aws;
mod error;
mod inputs;
mod template;

pub use aws::{promote, put, validate, Change, Parameters, PutReport, ValidateReport};
pub use error::{Conflict, SsmError};
pub use inputs::{PublishedImage, SsmInputs, DEFAULT_PREFIX};
pub use template::{
    check_name, default_templates, load_templates, normalise, render, Context, Template,
    MAX_LEVELS, PLACEHOLDERS,
};
