//! The integration tests of this crate, one binary (ripgrep's layout): one module per area.

mod broken_inputs;
mod inheritance;
mod repository;
mod schemas;
