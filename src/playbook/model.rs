//! The typed playbook model: plays, blocks, tasks, handlers and roles, each with the location it
//! was written at. Values stay untemplated here; `compile` and `executor` render them.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Value;

use crate::core::{Location, Vars};

/// A loaded playbook file (imports of other playbooks already inlined).
#[derive(Debug, Clone)]
pub struct Playbook {
    /// The playbook file.
    pub path: PathBuf,
    /// Its directory (`playbook_dir`).
    pub dir: PathBuf,
    /// The plays, in order.
    pub plays: Vec<Play>,
}

/// The `order:` of a play's hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostOrder {
    /// As in the inventory (default).
    #[default]
    Inventory,
    /// The inventory order reversed.
    ReverseInventory,
    /// Sorted by name.
    Sorted,
    /// Sorted by name, descending.
    ReverseSorted,
    /// A random order.
    Shuffle,
}

impl HostOrder {
    /// Parses Ansible's value.
    pub fn parse(s: &str) -> Option<HostOrder> {
        Some(match s {
            "inventory" => HostOrder::Inventory,
            "reverse_inventory" => HostOrder::ReverseInventory,
            "sorted" => HostOrder::Sorted,
            "reverse_sorted" => HostOrder::ReverseSorted,
            "shuffle" => HostOrder::Shuffle,
            _ => return None,
        })
    }

    /// Puts `hosts` (in inventory order) in this order.
    pub fn apply(self, hosts: &mut [String]) {
        match self {
            HostOrder::Inventory => {}
            HostOrder::ReverseInventory => hosts.reverse(),
            HostOrder::Sorted => hosts.sort(),
            HostOrder::ReverseSorted => {
                hosts.sort();
                hosts.reverse();
            }
            HostOrder::Shuffle => {
                // A Fisher-Yates shuffle seeded by the clock: no crate for one call.
                let mut seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1;
                for i in (1..hosts.len()).rev() {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    hosts.swap(i, (seed % (i as u64 + 1)) as usize);
                }
            }
        }
    }
}

/// How hosts progress through a play's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Every host finishes a task before any host starts the next (Ansible's default).
    #[default]
    Linear,
    /// Each host runs through the tasks as fast as it can.
    Free,
}

/// One batch size of `serial:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Serial {
    /// A number of hosts.
    Count(usize),
    /// A percentage of the play's hosts.
    Percent(f64),
}

/// One play.
#[derive(Debug, Clone)]
pub struct Play {
    /// `name:` (or the hosts pattern).
    pub name: String,
    /// Where the play starts.
    pub loc: Location,
    /// The `hosts:` pattern (may contain templates).
    pub hosts: String,
    /// Play `vars:`.
    pub vars: Vars,
    /// `vars_files:` entries (templated paths, relative to the playbook directory).
    pub vars_files: Vec<(String, Location)>,
    /// Whether to gather facts first.
    pub gather_facts: bool,
    /// `serial:` batch sizes (the last repeats).
    pub serial: Vec<Serial>,
    /// `strategy:`.
    pub strategy: Strategy,
    /// Stop every host when one fails.
    pub any_errors_fatal: bool,
    /// Abort when more than this percentage of a batch failed.
    pub max_fail_percentage: Option<f64>,
    /// Run notified handlers even after a failure.
    pub force_handlers: bool,
    /// `order:`: the order hosts start in.
    pub order: HostOrder,
    /// Settings inherited by every task.
    pub common: Common,
    /// `pre_tasks:`.
    pub pre_tasks: Vec<TaskNode>,
    /// `roles:` (loaded), run after pre_tasks.
    pub roles: Vec<RoleUse>,
    /// `tasks:`.
    pub tasks: Vec<TaskNode>,
    /// `post_tasks:`.
    pub post_tasks: Vec<TaskNode>,
    /// `handlers:` of the play and of its roles.
    pub handlers: Vec<TaskNode>,
}

/// Settings a play, block, role or task sets and its children inherit.
#[derive(Debug, Clone, Default)]
pub struct Common {
    /// `when:` conditions (all must hold).
    pub when: Vec<Cond>,
    /// `tags:`.
    pub tags: Vec<String>,
    /// `become:`.
    pub become_: Option<bool>,
    /// `become_user:`.
    pub become_user: Option<String>,
    /// `remote_user:`.
    pub remote_user: Option<String>,
    /// `vars:`.
    pub vars: Vars,
    /// `ignore_errors:`.
    pub ignore_errors: Option<bool>,
    /// `ignore_unreachable:`.
    pub ignore_unreachable: Option<bool>,
    /// `no_log:`.
    pub no_log: Option<bool>,
    /// `check_mode:` (force check mode on or off).
    pub check_mode: Option<bool>,
    /// `diff:`.
    pub diff: Option<bool>,
    /// `environment:` (templated mapping).
    pub environment: Option<Value>,
    /// `any_errors_fatal:`.
    pub any_errors_fatal: Option<bool>,
    /// `run_once:`.
    pub run_once: Option<bool>,
    /// `delegate_to:` (only `localhost` style delegation to the controller is supported).
    pub delegate_to: Option<String>,
    /// `connection:` (`local` or `ssh`); an `ansible_connection` variable still wins.
    pub connection: Option<String>,
}

/// A condition expression with its location.
#[derive(Debug, Clone)]
pub struct Cond {
    /// The Jinja expression (or a literal boolean rendered as text).
    pub expr: String,
    /// Where it was written.
    pub loc: Location,
}

/// A node of a task list.
#[derive(Debug, Clone)]
pub enum TaskNode {
    /// A single task.
    Task(Arc<Task>),
    /// `block:` with `rescue:` and `always:`.
    Block(Arc<Block>),
    /// `include_tasks:` / `include_role:`: resolved for each host at run time.
    Include(Arc<Include>),
}

/// `block:` / `rescue:` / `always:`.
#[derive(Debug, Clone)]
pub struct Block {
    /// `name:` if any.
    pub name: Option<String>,
    /// Where it starts.
    pub loc: Location,
    /// Inherited settings.
    pub common: Common,
    /// The tasks tried.
    pub block: Vec<TaskNode>,
    /// Run when a task of `block` failed.
    pub rescue: Vec<TaskNode>,
    /// Always run afterwards.
    pub always: Vec<TaskNode>,
    /// Set when this block is a role application (`roles:`, `import_role`, `include_role`).
    pub role: Option<Arc<Role>>,
    /// For `roles:` entries and meta dependencies: the role runs once per host and play
    /// for this key (role, parameters, `when` and tags), as Ansible deduplicates roles.
    pub role_once: Option<String>,
}

/// What a dynamic include brings in.
#[derive(Debug, Clone)]
pub enum IncludeKind {
    /// `include_tasks: FILE`: the file (templated) relative to `base_dir`.
    Tasks {
        /// The file name as written.
        file: String,
        /// The directory relative paths resolve against.
        base_dir: PathBuf,
        /// Pre-loaded tasks when the name has no template.
        preloaded: Option<Vec<TaskNode>>,
        /// Role context for `src` lookups inside the file.
        role: Option<Arc<RoleContext>>,
    },
    /// `include_role:`.
    Role(Box<RoleUse>),
}

/// `include_tasks:` or `include_role:` with its task keywords.
#[derive(Debug, Clone)]
pub struct Include {
    /// `name:`.
    pub name: Option<String>,
    /// Where it was written.
    pub loc: Location,
    /// Inherited settings (when, tags, vars...). `vars` are include params.
    pub common: Common,
    /// `loop:` over which the include is repeated.
    pub loop_: Option<Loop>,
    /// What is included.
    pub kind: IncludeKind,
    /// `apply:` keywords given to the included tasks (the include's own `tags` and `when`
    /// apply only to the include itself, as in Ansible).
    pub apply: Common,
}

/// A loop over items.
#[derive(Debug, Clone)]
pub struct Loop {
    /// The items expression or literal list.
    pub items: Value,
    /// For `with_dict`, items become `{key, value}`; for `with_fileglob`, globs.
    pub style: LoopStyle,
    /// `loop_control.loop_var` (default `item`).
    pub loop_var: String,
    /// `loop_control.index_var`.
    pub index_var: Option<String>,
    /// `loop_control.label`.
    pub label: Option<String>,
    /// `loop_control.pause` in seconds.
    pub pause: Option<f64>,
    /// `loop_control.extended`.
    pub extended: bool,
}

/// How `loop` items are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopStyle {
    /// `loop:`, `with_list:`.
    List,
    /// `with_items:` (flattens one level).
    Items,
    /// `with_dict:`.
    Dict,
    /// `with_indexed_items:`.
    Indexed,
    /// `with_fileglob:`.
    Fileglob,
    /// `with_sequence:`.
    Sequence,
    /// `with_nested:` / `with_cartesian:`.
    Nested,
    /// `with_together:`.
    Together,
    /// `with_subelements:`.
    Subelements,
}

/// Role context of a task: where its `files/` and `templates/` are.
#[derive(Debug, Clone)]
pub struct RoleContext {
    /// The role's name.
    pub name: String,
    /// The role's directory.
    pub path: PathBuf,
}

/// A task.
#[derive(Debug, Clone)]
pub struct Task {
    /// `name:`.
    pub name: Option<String>,
    /// Where the task starts.
    pub loc: Location,
    /// The module's canonical short name (`copy` for `ansible.builtin.copy`).
    pub module: String,
    /// Where the module key was written.
    pub module_loc: Location,
    /// Module arguments (`k=v` strings already split; free-form text in `_raw_params`).
    pub args: Vec<(String, Value)>,
    /// Inherited and own settings.
    pub common: Common,
    /// `loop:` / `with_*:`.
    pub loop_: Option<Loop>,
    /// `register:`.
    pub register: Option<String>,
    /// `changed_when:`.
    pub changed_when: Option<Vec<Cond>>,
    /// `failed_when:`.
    pub failed_when: Option<Vec<Cond>>,
    /// `until:`.
    pub until: Option<Vec<Cond>>,
    /// `retries:` (templated).
    pub retries: Option<Value>,
    /// `delay:` (templated).
    pub delay: Option<Value>,
    /// `notify:` handler names or topics.
    pub notify: Vec<String>,
    /// For handlers: `listen:` topics.
    pub listen: Vec<String>,
    /// `timeout:` in seconds.
    pub timeout: Option<u64>,
    /// `throttle:`: at most this many hosts run the task at once.
    pub throttle: Option<usize>,
    /// The role the task belongs to.
    pub role: Option<Arc<RoleContext>>,
}

impl Task {
    /// The name shown in output: `name:` or the module and its main argument.
    pub fn display_name(&self) -> String {
        let base = match &self.name {
            Some(n) => n.clone(),
            None => self.module.clone(),
        };
        match &self.role {
            Some(r) => format!("{} : {}", r.name, base),
            None => base,
        }
    }
}

/// A role applied by a play (`roles:`), `import_role` or `include_role`.
#[derive(Debug, Clone)]
pub struct RoleUse {
    /// The loaded role.
    pub role: Arc<Role>,
    /// Where it was referenced.
    pub loc: Location,
    /// Keywords given with the reference (`when`, `tags`, `become`, params as `vars`).
    pub common: Common,
    /// Role parameters (`- role: x` with extra keys, or `vars:` of include_role).
    pub params: Vars,
    /// `tasks_from:` (default `main`).
    pub tasks_from: String,
    /// Run once per host and play even when referenced again (`roles:` entries and
    /// dependencies without `allow_duplicates: true`; never for import/include_role).
    pub once: bool,
}

/// A loaded role.
#[derive(Debug, Clone)]
pub struct Role {
    /// Name as referenced.
    pub name: String,
    /// Directory.
    pub path: PathBuf,
    /// `defaults/main.yml`.
    pub defaults: Vars,
    /// `vars/main.yml`.
    pub vars: Vars,
    /// Task files by name (`main`, plus every file under tasks/ loaded on demand).
    pub tasks: Vec<TaskNode>,
    /// `handlers/main.yml`.
    pub handlers: Vec<TaskNode>,
    /// `meta/main.yml` dependencies, in order, run before this role.
    pub dependencies: Vec<RoleUse>,
    /// `meta/main.yml` `allow_duplicates: true`.
    pub allow_duplicates: bool,
    /// The role context shared by its tasks.
    pub context: Arc<RoleContext>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_orders() {
        let hosts = || vec!["b".to_string(), "c".into(), "a".into()];
        let ordered = |o: HostOrder| {
            let mut h = hosts();
            o.apply(&mut h);
            h
        };
        assert_eq!(ordered(HostOrder::Inventory), ["b", "c", "a"]);
        assert_eq!(ordered(HostOrder::ReverseInventory), ["a", "c", "b"]);
        assert_eq!(ordered(HostOrder::Sorted), ["a", "b", "c"]);
        assert_eq!(ordered(HostOrder::ReverseSorted), ["c", "b", "a"]);
        let mut shuffled = ordered(HostOrder::Shuffle);
        shuffled.sort();
        assert_eq!(shuffled, ["a", "b", "c"]);
        assert_eq!(HostOrder::parse("sorted"), Some(HostOrder::Sorted));
        assert_eq!(HostOrder::parse("random"), None);
    }
}
