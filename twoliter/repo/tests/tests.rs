//! The integration tests of twoliter-repo, in one binary (one link on 2 cores).

mod create;
