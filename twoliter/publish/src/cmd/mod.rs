//! One module per subcommand: each `run` converts its arguments, calls the library and prints.

pub mod ami;
pub mod snapshot;
pub mod ssm;
