//! Playbooks as typed data: files -> [`Playbook`] with file:line:col on every node. No
//! templating happens here; unknown or unsupported keywords are load errors.

mod kv;
mod load;
mod model;

pub use kv::{parse_kv, split_words};
pub use load::{
    LoadError, Loader, canonical_module, main_file, node_to_vars, read_yaml, role_block, suggest,
};
pub use model::*;
