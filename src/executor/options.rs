//! Settings of one run, resolved from the command line and configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::core::{Secret, Vars};
use crate::transport::HostKeyPolicy;

use super::tags::TagFilter;

/// Everything the executor needs to know about how to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// `--check`: plan only, change nothing.
    pub check: bool,
    /// `--diff`: collect and show diffs.
    pub diff: bool,
    /// `--forks`: hosts worked on at once.
    pub forks: usize,
    /// `--tags` / `--skip-tags`.
    pub tags: TagFilter,
    /// `--limit` pattern.
    pub limit: Option<String>,
    /// `-e` variables (highest precedence).
    pub extra_vars: Vars,
    /// `-b`: become for every task.
    pub become_: bool,
    /// `--become-user`.
    pub become_user: Option<String>,
    /// `-K`: the sudo password.
    pub become_password: Option<Secret>,
    /// `-u`: the remote user when the inventory names none.
    pub remote_user: Option<String>,
    /// `--private-key`.
    pub private_key: Option<PathBuf>,
    /// SSH connect timeout.
    pub connect_timeout: Duration,
    /// known_hosts files (first one is written by accept-new).
    pub known_hosts: Vec<PathBuf>,
    /// Host key checking policy.
    pub host_key_policy: HostKeyPolicy,
    /// `--force-handlers`.
    pub force_handlers: bool,
    /// `-v` count.
    pub verbosity: u8,
    /// Directories searched for roles after `./roles`.
    pub roles_path: Vec<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 50,
            tags: TagFilter::default(),
            limit: None,
            extra_vars: Vars::new(),
            become_: false,
            become_user: None,
            become_password: None,
            remote_user: None,
            private_key: None,
            connect_timeout: Duration::from_secs(10),
            known_hosts: Vec::new(),
            host_key_policy: HostKeyPolicy::Strict,
            force_handlers: false,
            verbosity: 0,
            roles_path: Vec::new(),
        }
    }
}
