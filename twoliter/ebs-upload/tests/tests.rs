//! The integration tests of twoliter-ebs-upload, in one binary (one link on 2 cores).

mod upload;
