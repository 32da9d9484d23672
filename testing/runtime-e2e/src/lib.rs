//! Dev-only crate: its test (`tests/runtime.rs`) runs the host runtime's local main job with
//! the real binaries, storewolf → apiserver → apiclient → thar-be-settings, as the booted host
//! does, without a VM or a container engine.
//!
//! The binaries are the workspace's own, next to the test executable in the target directory;
//! `cargo test --workspace` builds them (their crates have integration tests of their own).
