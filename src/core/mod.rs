//! Shared vocabulary of every layer: locations, shell command building, the [`Transport`] and
//! [`Module`] traits, diffs and run events. Depends on nothing else in the crate but `yaml`.

mod diff;
mod module;
mod shell;
mod transport;

pub use crate::yaml::Location;
pub use diff::Diff;
pub use module::{
    Controller, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, Step, TaskCtx,
};
pub use shell::{Secret, Sh, quote};
pub use transport::{Become, ExecOutput, ExecRequest, Transport, TransportError};

/// Variables as template values, in insertion order.
pub type Vars = indexmap::IndexMap<String, minijinja::Value>;

/// A JSON-like result map a module returns (what `register:` stores).
pub type ResultMap = serde_json::Map<String, serde_json::Value>;
