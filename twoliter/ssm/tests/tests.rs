//! The integration tests of twoliter-ssm, in one binary (one link on 2 cores).

mod moto;
