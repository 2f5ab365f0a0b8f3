//! Harness shared by the integration tests (each test file does `mod support;`): a real
//! loopback sshd lab started with scripts/loopback-lab.sh, and inventories pointing at it.
// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod netlab;
pub mod project;
pub mod sshd;

pub use sshd::TestLab;
