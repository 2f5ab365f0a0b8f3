//! shipshape: an agentless SSH configuration runner that runs Ansible-style playbooks.
//!
//! Data flows one way: `inventory` and `playbook` load files into typed models, `compile`
//! expands plays x hosts into task instances, `executor` runs them over `transport` with
//! `modules`, and `report` turns the resulting events into output and an exit code. `config`
//! reads ansible.cfg / shipshape.toml and the `ANSIBLE_*` environment for `cli`.

pub mod cli;
pub mod compile;
pub mod config;
pub mod core;
pub mod executor;
pub mod inventory;
pub mod modules;
pub mod playbook;
pub mod report;
pub mod template;
pub mod transport;
pub mod vault;
pub mod yaml;
