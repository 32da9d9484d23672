//! The integration tests of twoliter-publish, in one binary (one link on 2 cores).

mod publish;
