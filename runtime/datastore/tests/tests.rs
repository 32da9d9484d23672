//! The datastore's integration tests, one binary (modules by topic).

mod concurrency;
mod crash;
mod functional;
