//! The native remote modules: each plans from one read-only query of the target and returns
//! the shell steps that would change it. Modules see only `core` (a `&dyn Transport` through
//! `TaskCtx`), never a concrete transport. One table of all of them lives in `registry`.

pub mod args;
pub mod commands;
pub mod docker;
pub mod files;
pub mod firewall;
pub mod mysql;
pub mod net;
pub mod packages;
pub mod pyregex;
pub mod registry;
pub mod services;
pub mod system;
pub mod users;
pub mod wait_for;

#[cfg(test)]
mod security_tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use args::check_arg_names;
pub use registry::{all, find};
