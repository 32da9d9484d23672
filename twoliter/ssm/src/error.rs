//! The errors of this crate: each names the file, template, region or parameter it concerns.

use serde::Serialize;
use std::fmt::Write as _;
use twoliter_project::Diagnostic;

/// An existing parameter whose value differs from the one to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The region of the parameter.
    pub region: String,
    /// The parameter's name.
    pub name: String,
    /// Its value in SSM now.
    pub current: String,
    /// The value that would replace it.
    pub new: String,
}

/// Why an SSM operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    /// The template file defines no parameter.
    #[error("{} defines no [[parameter]]; add one, or leave out --template for the defaults", path.display())]
    NoTemplates {
        /// The template file.
        path: std::path::PathBuf,
    },
    /// The template file cannot be read or is invalid; the diagnostic names file, line and key.
    #[error("{0}")]
    TemplateFile(Box<Diagnostic>),

    /// A template uses an unknown or malformed placeholder, or one that is empty in the context.
    #[error("SSM parameter template `{template}`: {problem}")]
    Template {
        /// The template's name, as written.
        template: String,
        /// What is wrong.
        problem: String,
    },

    /// A rendered name or value that SSM would refuse.
    #[error("SSM parameter `{name}` (from template `{template}`): {problem}")]
    Name {
        /// The rendered name.
        name: String,
        /// The template's name, as written.
        template: String,
        /// What is wrong.
        problem: String,
    },

    /// No template to promote.
    #[error(
        "no SSM parameter template has {{image_version}} in its name, so there is nothing to \
         promote; add one (e.g. `{{variant}}/{{arch}}/{{image_version}}/image_id`)"
    )]
    NothingToPromote,

    /// Parameters were asked for in a region without a client.
    #[error("no SSM client for region {region}; configure the region before publishing to it")]
    NoClient {
        /// The region.
        region: String,
    },

    /// An SSM call failed (after retries, when the failure was throttling).
    #[error(
        "SSM {operation} in {region} failed for {parameters}: {}{message}",
        code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default()
    )]
    Service {
        /// The region.
        region: String,
        /// The API operation, e.g. `PutParameter`.
        operation: &'static str,
        /// The parameter names of the call, shortened when there are many.
        parameters: String,
        /// The service's error code, when it sent one.
        code: Option<String>,
        /// The service's message, or the client's description of the failure.
        message: String,
    },

    /// Existing parameters have different values, and clobbering was not allowed; nothing was
    /// written.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),

    /// Parameters to promote do not exist; nothing was written.
    #[error("{}", missing_message(.0))]
    MissingSource(Vec<(String, String)>),

    /// Some writes failed; the others were done (a rerun writes only what is still missing).
    #[error("{}", writes_message(*.written, .failures))]
    Writes {
        /// How many parameters were written.
        written: usize,
        /// The failed writes.
        failures: Vec<SsmError>,
    },
}

fn conflicts_message(conflicts: &[Conflict]) -> String {
    let mut out = format!(
        "{} SSM parameter{} already exist{} with a different value; nothing was written:",
        conflicts.len(),
        if conflicts.len() == 1 { "" } else { "s" },
        if conflicts.len() == 1 { "s" } else { "" },
    );
    for c in conflicts {
        let _ = write!(
            out,
            "\n  {} in {}: current `{}`, new `{}`",
            c.name, c.region, c.current, c.new
        );
    }
    out.push_str("\n  help: pass --allow-clobber to overwrite them");
    out
}

fn missing_message(missing: &[(String, String)]) -> String {
    let mut out = format!(
        "{} SSM parameter{} to promote do{} not exist; nothing was written:",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        if missing.len() == 1 { "es" } else { "" },
    );
    for (region, name) in missing {
        let _ = write!(out, "\n  {name} in {region}");
    }
    out.push_str("\n  help: write the parameters of the source version first, or check its version and prefix");
    out
}

fn writes_message(written: usize, failures: &[SsmError]) -> String {
    let mut out = format!(
        "{} SSM parameter write{} failed ({written} written):",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" },
    );
    for failure in failures {
        let _ = write!(out, "\n  {failure}");
    }
    out.push_str("\n  help: rerunning writes only what is still missing");
    out
}
