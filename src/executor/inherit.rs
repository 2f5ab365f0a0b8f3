//! What a task inherits from the play, blocks, roles and includes around it: conditions, tags,
//! become, variable layers. Built while walking the task tree, cheap to clone.

use std::sync::Arc;

use minijinja::Value;

use crate::core::Vars;
use crate::playbook::{Common, Cond, Role};

/// Settings accumulated down the task tree.
#[derive(Clone, Default)]
pub struct Inherited {
    /// Conditions of enclosing blocks and roles (all must hold).
    pub when: Vec<Cond>,
    /// Tags of enclosing blocks and roles.
    pub tags: Vec<String>,
    /// `become`.
    pub become_: Option<bool>,
    /// `become_user`.
    pub become_user: Option<String>,
    /// Block and role-parameter variable layers, outermost first.
    pub block_vars: Vec<Arc<Vars>>,
    /// Include parameters (`include_tasks` vars, loop variables of an include).
    pub include_params: Vec<Arc<Vars>>,
    /// `ignore_errors`.
    pub ignore_errors: Option<bool>,
    /// `ignore_unreachable`.
    pub ignore_unreachable: Option<bool>,
    /// `no_log`.
    pub no_log: Option<bool>,
    /// `check_mode`.
    pub check_mode: Option<bool>,
    /// `diff`.
    pub diff: Option<bool>,
    /// `environment` mappings, outermost first.
    pub environment: Vec<Value>,
    /// `any_errors_fatal`.
    pub any_errors_fatal: Option<bool>,
    /// `run_once`.
    pub run_once: Option<bool>,
    /// `delegate_to`.
    pub delegate_to: Option<String>,
    /// `connection` keyword.
    pub connection: Option<String>,
    /// The innermost role, for `role_path`, `files/`, `templates/` and its vars.
    pub role: Option<Arc<Role>>,
}

impl Inherited {
    /// Adds a node's own settings to what it inherited (inner settings win).
    pub fn with(&self, c: &Common) -> Inherited {
        let mut n = self.clone();
        n.when.extend(c.when.iter().cloned());
        n.tags.extend(c.tags.iter().cloned());
        if c.become_.is_some() {
            n.become_ = c.become_;
        }
        if c.become_user.is_some() {
            n.become_user = c.become_user.clone();
        }
        if !c.vars.is_empty() {
            n.block_vars.push(Arc::new(c.vars.clone()));
        }
        macro_rules! take {
            ($($f:ident),*) => { $( if c.$f.is_some() { n.$f = c.$f.clone(); } )* };
        }
        take!(
            ignore_errors,
            ignore_unreachable,
            no_log,
            check_mode,
            diff,
            any_errors_fatal,
            run_once,
            delegate_to,
            connection
        );
        if let Some(env) = &c.environment {
            n.environment.push(env.clone());
        }
        n
    }
}
