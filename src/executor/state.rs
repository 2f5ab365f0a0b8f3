//! What the executor remembers about one host for the whole run: facts, registered and
//! `set_fact` variables, pending handlers, failure state and totals.

use std::sync::Arc;

use crate::core::Vars;
use crate::report::HostStats;

/// Run-wide state of one host.
pub struct HostState {
    /// Inventory variables (groups and host, with group_vars/host_vars).
    pub inv_vars: Arc<Vars>,
    /// Gathered facts: `ansible_facts` plus the `ansible_*` names.
    pub facts: Arc<Vars>,
    /// `set_fact` and `register` results.
    pub vars: Arc<Vars>,
    /// `include_vars` results.
    pub include_vars: Arc<Vars>,
    /// The current play's `vars_files`, loaded for this host.
    pub vars_files: Arc<Vars>,
    /// Recap totals.
    pub stats: HostStats,
    /// The host failed (it is left out of later tasks and plays).
    pub failed: bool,
    /// The host could not be reached.
    pub unreachable: bool,
    /// Check mode: an earlier task would have changed this host.
    pub would_change: bool,
    /// Handlers notified and not run yet (names or listen topics).
    pub pending_handlers: Vec<String>,
    /// Notified names a failed handler flush left unhandled (recorded for the next run, not
    /// flushed again in this one).
    pub unhandled_handlers: Vec<String>,
    /// `meta: end_host` was run in the current play.
    pub ended: bool,
    /// Keys of the deduplicated roles (`Block::role_once`) already run in the current play.
    pub roles_done: std::collections::HashSet<String>,
    /// The host took part in a play (only those appear in the recap).
    pub played: bool,
    /// The last failed task's name and result (for `ansible_failed_task`/`_result` in rescue).
    pub last_failure: Option<(String, serde_json::Value)>,
}

impl HostState {
    /// A fresh host with its inventory variables.
    pub fn new(inv_vars: Arc<Vars>) -> Self {
        HostState {
            inv_vars,
            facts: Arc::new(Vars::new()),
            vars: Arc::new(Vars::new()),
            include_vars: Arc::new(Vars::new()),
            vars_files: Arc::new(Vars::new()),
            stats: HostStats::default(),
            failed: false,
            unreachable: false,
            would_change: false,
            pending_handlers: Vec::new(),
            unhandled_handlers: Vec::new(),
            ended: false,
            roles_done: std::collections::HashSet::new(),
            played: false,
            last_failure: None,
        }
    }
}
