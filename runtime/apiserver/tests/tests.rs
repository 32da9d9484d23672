//! The apiserver's integration tests, in one binary (one link): the real `apiserver` binary on
//! a real Unix socket, driven with the `apiclient` library; shared helpers in `common`.

mod common;

mod api;
mod cache;
mod openapi;
mod updates;
