//! The apiclient's integration tests, in one binary (one link): the real `apiclient` binary and
//! library against the real API server (in process) or a scripted one; shared helpers in
//! `common`.

mod common;

mod apply_uri;
mod cli;
mod update;
