//! The integration tests of this crate, one binary (ripgrep's layout): one module per area.

mod cli;
mod publish;
mod repo;
