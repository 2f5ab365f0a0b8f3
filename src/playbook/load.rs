//! Reads playbooks, task files and roles from disk into the typed model, checking every keyword
//! as it goes. Unknown or unsupported keywords are errors with file:line:col; nothing is
//! silently ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::Value;

use super::kv;
use super::model::*;
use crate::core::{Location, Vars};
use crate::yaml::{self, Node, NodeValue};

/// A playbook, task file or role that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct LoadError {
    /// Where the problem is.
    pub loc: Location,
    /// What is wrong, and how to fix it where we know.
    pub message: String,
}

impl LoadError {
    fn new(loc: &Location, message: impl Into<String>) -> Self {
        LoadError {
            loc: loc.clone(),
            message: message.into(),
        }
    }
}

impl From<yaml::YamlError> for LoadError {
    fn from(e: yaml::YamlError) -> Self {
        LoadError {
            loc: e.loc,
            message: format!("YAML syntax error: {}", e.message),
        }
    }
}

type Result<T> = std::result::Result<T, LoadError>;

/// Modules whose free-form text is kept whole (`command: ls -l chdir=/tmp`), with the
/// `key=value` words they accept.
const FREE_FORM: &[(&str, &[&str])] = &[
    (
        "command",
        &[
            "chdir",
            "creates",
            "removes",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
        ],
    ),
    (
        "shell",
        &[
            "chdir",
            "creates",
            "removes",
            "executable",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
        ],
    ),
    ("raw", &["executable"]),
    ("include_vars", &["name", "file", "dir"]),
    ("set_fact", &[]),
    ("meta", &[]),
];

const PLAY_KEYS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "gather_facts",
    "serial",
    "strategy",
    "any_errors_fatal",
    "max_fail_percentage",
    "force_handlers",
    "pre_tasks",
    "roles",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "tags",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "check_mode",
    "diff",
    "environment",
    "run_once",
    "collections",
    "order",
    "connection",
    "gather_subset",
    "gather_timeout",
    "vars_prompt",
    "module_defaults",
    "port",
    "throttle",
];

const TASK_KEYS: &[&str] = &[
    "name",
    "when",
    "tags",
    "become",
    "become_user",
    "become_method",
    "remote_user",
    "vars",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "check_mode",
    "diff",
    "environment",
    "any_errors_fatal",
    "run_once",
    "delegate_to",
    "loop",
    "loop_control",
    "register",
    "changed_when",
    "failed_when",
    "until",
    "retries",
    "delay",
    "notify",
    "listen",
    "timeout",
    "args",
    "action",
    "local_action",
    "async",
    "poll",
    "throttle",
    "delegate_facts",
    "connection",
    "collections",
    "module_defaults",
    "debugger",
    "port",
];

/// A whole number of at least `min` (seconds, hosts), or `msg` at the value.
fn count(v: &Node, min: i64, msg: &str) -> Result<u64> {
    match &v.value {
        NodeValue::Int(i) if *i >= min => Ok(*i as u64),
        _ => Err(LoadError::new(&v.loc, msg)),
    }
}

/// Keywords we parse but cannot honour yet: rejected with this explanation.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("delegate_facts", "delegate_facts is not supported"),
    ("module_defaults", "module_defaults is not supported"),
    ("debugger", "the task debugger is not supported"),
    (
        "collections",
        "collections are not supported: use fully qualified ansible.builtin names",
    ),
    (
        "vars_prompt",
        "vars_prompt is not supported: pass values with -e",
    ),
    (
        "gather_subset",
        "gather_subset is not supported: facts are always the native set",
    ),
    ("gather_timeout", "gather_timeout is not supported"),
    ("port", "set ansible_port in the inventory instead"),
    ("become_method", "only become_method: sudo is supported"),
];

const INCLUDE_KEYS: &[&str] = &[
    "include_tasks",
    "import_tasks",
    "include_role",
    "import_role",
    "import_playbook",
    "include",
];

/// Loads playbooks, task files and roles, caching roles by path.
pub struct Loader {
    roles_path: Vec<PathBuf>,
    playbook_dir: PathBuf,
    role_cache: Mutex<HashMap<(PathBuf, String), Arc<Role>>>,
}

fn loc(node: &Node) -> Location {
    node.loc.clone()
}

/// Closest candidate to `word` within a small edit distance, for "did you mean".
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    match suggest(word, candidates.iter().copied()) {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}

/// Reads and parses a YAML file; the error names the file.
pub fn read_yaml(path: &Path, at: Option<&Location>) -> Result<Node> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        let l = at.cloned().unwrap_or_else(|| Location::file_start(path));
        LoadError::new(&l, format!("cannot read {}: {e}", path.display()))
    })?;
    let text = crate::vault::maybe_decrypt(text)
        .map_err(|e| LoadError::new(&Location::file_start(path), e.to_string()))?;
    Ok(yaml::parse(&text, path)?)
}

/// Converts a mapping node into variables (`vars:`, vars files, role defaults).
pub fn node_to_vars(node: &Node, what: &str) -> Result<Vars> {
    let mut vars = Vars::new();
    if node.is_null() {
        return Ok(vars);
    }
    // `vars:` may also be a list of mappings (old style).
    if let Some(items) = node.as_seq() {
        for item in items {
            vars.extend(node_to_vars(item, what)?);
        }
        return Ok(vars);
    }
    let map = node.as_map().ok_or_else(|| {
        LoadError::new(
            &node.loc,
            format!("{what} must be a mapping, not {}", node.type_name()),
        )
    })?;
    for (k, v) in map {
        let name = k
            .scalar_string()
            .ok_or_else(|| LoadError::new(&k.loc, "variable names must be strings"))?;
        if !is_identifier(&name) {
            return Err(LoadError::new(
                &k.loc,
                format!("'{name}' is not a valid variable name (letters, digits and _ only)"),
            ));
        }
        vars.insert(name, v.to_value());
    }
    Ok(vars)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn expect_bool(node: &Node, key: &str) -> Result<bool> {
    match &node.value {
        NodeValue::Bool(b) => Ok(*b),
        NodeValue::Str(s) => match s.to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" => Ok(true),
            "no" | "false" | "off" | "0" => Ok(false),
            _ => Err(LoadError::new(
                &node.loc,
                format!("{key} must be a boolean (templates are not supported here), not '{s}'"),
            )),
        },
        NodeValue::Int(i) => Ok(*i != 0),
        _ => Err(LoadError::new(
            &node.loc,
            format!("{key} must be a boolean, not {}", node.type_name()),
        )),
    }
}

fn expect_string(node: &Node, key: &str) -> Result<String> {
    node.scalar_string().ok_or_else(|| {
        LoadError::new(
            &node.loc,
            format!("{key} must be a string, not {}", node.type_name()),
        )
    })
}

fn string_list(node: &Node, key: &str) -> Result<Vec<String>> {
    match &node.value {
        NodeValue::Null => Ok(Vec::new()),
        NodeValue::Seq(items) => items.iter().map(|i| expect_string(i, key)).collect(),
        _ => {
            let s = expect_string(node, key)?;
            Ok(s.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect())
        }
    }
}

fn conditions(node: &Node, key: &str) -> Result<Vec<Cond>> {
    let one = |n: &Node| -> Result<Cond> {
        let expr = match &n.value {
            NodeValue::Bool(b) => b.to_string(),
            _ => expect_string(n, key)?,
        };
        Ok(Cond { expr, loc: loc(n) })
    };
    match &node.value {
        NodeValue::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(node)?]),
    }
}

fn map_entries<'a>(node: &'a Node, what: &str) -> Result<&'a [(Node, Node)]> {
    node.as_map().ok_or_else(|| {
        LoadError::new(
            &node.loc,
            format!("{what} must be a mapping, not {}", node.type_name()),
        )
    })
}

fn key_str(k: &Node) -> Result<String> {
    k.scalar_string()
        .ok_or_else(|| LoadError::new(&k.loc, "keys must be strings"))
}

/// Canonical short name of a module or action: `ansible.builtin.copy` -> `copy`.
pub fn canonical_module(name: &str) -> &str {
    for prefix in [
        "ansible.builtin.",
        "ansible.legacy.",
        "ansible.posix.",
        "community.general.",
    ] {
        if let Some(short) = name.strip_prefix(prefix) {
            return short;
        }
    }
    name
}

impl Loader {
    /// A loader that finds roles in `playbook_dir/roles`, then `roles_path`, then `playbook_dir`.
    pub fn new(playbook_dir: &Path, roles_path: Vec<PathBuf>) -> Self {
        Loader {
            roles_path,
            playbook_dir: playbook_dir.to_path_buf(),
            role_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Loads a playbook file, inlining `import_playbook`.
    pub fn load_playbook(&self, path: &Path) -> Result<Playbook> {
        let mut plays = Vec::new();
        self.load_plays(path, None, &mut plays)?;
        // `playbook_dir` is absolute in Ansible; `site.yml`'s parent would be "".
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        Ok(Playbook {
            path: path.to_path_buf(),
            dir: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            plays,
        })
    }

    fn enter(&self, path: &Path, at: Option<&Location>) -> Result<PathGuard> {
        let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        LOADING.with(|stack| {
            let mut stack = stack.borrow_mut();
            if !stack.contains(&canon) {
                stack.push(canon);
                return Ok(PathGuard);
            }
            let chain: Vec<String> = stack
                .iter()
                .chain(std::iter::once(&canon))
                .map(|p| p.display().to_string())
                .collect();
            let l = at.cloned().unwrap_or_else(|| Location::file_start(path));
            Err(LoadError::new(
                &l,
                format!("cyclic include: {}", chain.join(" -> ")),
            ))
        })
    }

    fn load_plays(&self, path: &Path, at: Option<&Location>, out: &mut Vec<Play>) -> Result<()> {
        let _guard = self.enter(path, at)?;
        let doc = read_yaml(path, at)?;
        if doc.is_null() {
            // As Ansible: an empty playbook is an error, not a silent success.
            return Err(LoadError::new(
                &doc.loc,
                format!("empty playbook, nothing to do: {}", path.display()),
            ));
        }
        let items = doc
            .as_seq()
            .ok_or_else(|| LoadError::new(&doc.loc, "a playbook must be a list of plays"))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        for item in items {
            let entries = map_entries(item, "a play")?;
            if let Some((k, v)) = entries.iter().find(|(k, _)| {
                matches!(
                    k.as_str().map(canonical_module),
                    Some("import_playbook") | Some("include")
                )
            }) {
                if k.as_str().map(canonical_module) == Some("include") {
                    return Err(LoadError::new(
                        &k.loc,
                        "'include' was removed from Ansible; use import_playbook",
                    ));
                }
                let file = expect_string(v, "import_playbook")?;
                self.load_plays(&dir.join(file), Some(&v.loc), out)?;
                continue;
            }
            out.push(self.load_play(item, dir)?);
        }
        Ok(())
    }

    fn load_play(&self, node: &Node, dir: &Path) -> Result<Play> {
        let entries = map_entries(node, "a play")?;
        let mut play = Play {
            name: String::new(),
            loc: loc(node),
            hosts: String::new(),
            vars: Vars::new(),
            vars_files: Vec::new(),
            gather_facts: true,
            serial: Vec::new(),
            strategy: Strategy::Linear,
            any_errors_fatal: false,
            max_fail_percentage: None,
            force_handlers: false,
            order: HostOrder::Inventory,
            common: Common::default(),
            pre_tasks: Vec::new(),
            roles: Vec::new(),
            tasks: Vec::new(),
            post_tasks: Vec::new(),
            handlers: Vec::new(),
        };
        let mut has_hosts = false;
        for (k, v) in entries {
            let key = key_str(k)?;
            if !PLAY_KEYS.contains(&key.as_str()) {
                let hint = did_you_mean(&key, PLAY_KEYS);
                let task_hint = if TASK_KEYS.contains(&key.as_str()) || key.contains('.') {
                    " (tasks go under 'tasks:')"
                } else {
                    ""
                };
                return Err(LoadError::new(
                    &k.loc,
                    format!("'{key}' is not a valid play keyword{hint}{task_hint}"),
                ));
            }
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(u, _)| *u == key) {
                if !(key == "become_method" && v.as_str() == Some("sudo")) {
                    return Err(LoadError::new(&k.loc, format!("'{key}': {why}")));
                }
                continue;
            }
            match key.as_str() {
                "name" => play.name = expect_string(v, "name")?,
                "hosts" => {
                    has_hosts = true;
                    play.hosts = string_list(v, "hosts")?.join(":");
                }
                "vars" => play.vars = node_to_vars(v, "vars")?,
                "vars_files" => {
                    let items = match &v.value {
                        NodeValue::Seq(items) => items.clone(),
                        _ => vec![v.clone()],
                    };
                    for item in items {
                        if item.as_seq().is_some() {
                            return Err(LoadError::new(
                                &item.loc,
                                "lists of alternative vars_files are not supported",
                            ));
                        }
                        play.vars_files
                            .push((expect_string(&item, "vars_files")?, loc(&item)));
                    }
                }
                "gather_facts" => play.gather_facts = expect_bool(v, "gather_facts")?,
                "serial" => play.serial = parse_serial(v)?,
                "strategy" => {
                    play.strategy = match v.as_str() {
                        Some("linear") => Strategy::Linear,
                        Some("free") => Strategy::Free,
                        _ => {
                            return Err(LoadError::new(
                                &v.loc,
                                "strategy must be 'linear' or 'free' (other strategies are not supported)",
                            ));
                        }
                    }
                }
                "any_errors_fatal" => play.any_errors_fatal = expect_bool(v, &key)?,
                "max_fail_percentage" => {
                    play.max_fail_percentage = Some(match &v.value {
                        NodeValue::Int(i) => *i as f64,
                        NodeValue::Float(f) => *f,
                        NodeValue::Str(s) => s.trim_end_matches('%').parse().map_err(|_| {
                            LoadError::new(&v.loc, "max_fail_percentage must be a number")
                        })?,
                        _ => {
                            return Err(LoadError::new(
                                &v.loc,
                                "max_fail_percentage must be a number",
                            ));
                        }
                    })
                }
                "force_handlers" => play.force_handlers = expect_bool(v, &key)?,
                "order" => {
                    let o = expect_string(v, &key)?;
                    play.order = HostOrder::parse(&o).ok_or_else(|| {
                        LoadError::new(
                            &v.loc,
                            format!("order: '{o}' is not one of inventory, reverse_inventory, sorted, reverse_sorted, shuffle"),
                        )
                    })?;
                }
                "pre_tasks" => play.pre_tasks = self.task_list(v, dir, None, false)?,
                "tasks" => play.tasks = self.task_list(v, dir, None, false)?,
                "post_tasks" => play.post_tasks = self.task_list(v, dir, None, false)?,
                "handlers" => play.handlers = self.task_list(v, dir, None, true)?,
                "roles" => {
                    let items = match &v.value {
                        NodeValue::Null => Vec::new(),
                        NodeValue::Seq(items) => items.clone(),
                        _ => return Err(LoadError::new(&v.loc, "roles must be a list")),
                    };
                    for item in &items {
                        play.roles.push(self.role_use(item, dir)?);
                    }
                }
                _ => self.common_key(&mut play.common, &key, k, v)?,
            }
        }
        if !has_hosts {
            return Err(LoadError::new(
                &play.loc,
                "this play has no 'hosts:' (every play needs a host pattern)",
            ));
        }
        if play.name.is_empty() {
            play.name = play.hosts.clone();
        }
        // Role handlers come first, as Ansible compiles them before the play's own.
        let mut handlers = role_handlers(&play);
        handlers.append(&mut play.handlers);
        play.handlers = handlers;
        Ok(play)
    }

    /// Applies a keyword shared by plays, blocks and tasks. Errors for keys it does not know.
    fn common_key(&self, c: &mut Common, key: &str, k: &Node, v: &Node) -> Result<()> {
        match key {
            "when" => c.when = conditions(v, key)?,
            "tags" => c.tags = string_list(v, key)?,
            "become" => c.become_ = Some(expect_bool(v, key)?),
            "become_user" => c.become_user = Some(expect_string(v, key)?),
            "remote_user" => c.remote_user = Some(expect_string(v, key)?),
            "vars" => c.vars = node_to_vars(v, key)?,
            "ignore_errors" => c.ignore_errors = Some(expect_bool(v, key)?),
            "ignore_unreachable" => c.ignore_unreachable = Some(expect_bool(v, key)?),
            "no_log" => c.no_log = Some(expect_bool(v, key)?),
            "check_mode" => c.check_mode = Some(expect_bool(v, key)?),
            "diff" => c.diff = Some(expect_bool(v, key)?),
            "any_errors_fatal" => c.any_errors_fatal = Some(expect_bool(v, key)?),
            "run_once" => c.run_once = Some(expect_bool(v, key)?),
            "environment" => c.environment = Some(v.to_value()),
            "connection" => {
                let kind = expect_string(v, key)?;
                let kind = match kind.as_str() {
                    "local" => "local",
                    "ssh" | "smart" | "paramiko" => "ssh",
                    other => {
                        return Err(LoadError::new(
                            &v.loc,
                            format!("connection '{other}' is not supported (ssh or local)"),
                        ));
                    }
                };
                c.connection = Some(kind.to_string());
            }
            "delegate_to" => {
                // localhost (the controller) or another host, by inventory name or address;
                // templates are rendered per host at run time.
                c.delegate_to = Some(expect_string(v, key)?);
            }
            _ => {
                return Err(LoadError::new(&k.loc, format!("'{key}' is not valid here")));
            }
        }
        Ok(())
    }

    /// Parses a list of tasks (or handlers).
    pub fn task_list(
        &self,
        node: &Node,
        dir: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
    ) -> Result<Vec<TaskNode>> {
        let items = match &node.value {
            NodeValue::Null => return Ok(Vec::new()),
            NodeValue::Seq(items) => items,
            _ => {
                return Err(LoadError::new(
                    &node.loc,
                    format!("a task list must be a list, not {}", node.type_name()),
                ));
            }
        };
        let mut out = Vec::new();
        for item in items {
            self.task_node(item, dir, role, handlers, &mut out)?;
        }
        Ok(out)
    }

    fn task_node(
        &self,
        node: &Node,
        dir: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
        out: &mut Vec<TaskNode>,
    ) -> Result<()> {
        let entries = map_entries(node, "a task")?;
        let has = |name: &str| entries.iter().any(|(k, _)| k.as_str() == Some(name));
        if has("block") {
            out.push(TaskNode::Block(Arc::new(
                self.block(node, dir, role, handlers)?,
            )));
            return Ok(());
        }
        if let Some((k, v)) = entries.iter().find(|(k, _)| {
            k.as_str()
                .map(|s| INCLUDE_KEYS.contains(&canonical_module(s)))
                .unwrap_or(false)
        }) {
            return self.include(node, k, v, dir, role, handlers, out);
        }
        out.push(TaskNode::Task(Arc::new(
            self.task(node, dir, role, handlers)?,
        )));
        Ok(())
    }

    fn block(
        &self,
        node: &Node,
        dir: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
    ) -> Result<Block> {
        let mut block = Block {
            name: None,
            loc: loc(node),
            common: Common::default(),
            block: Vec::new(),
            rescue: Vec::new(),
            always: Vec::new(),
            role: None,
            role_once: None,
        };
        for (k, v) in map_entries(node, "a block")? {
            let key = key_str(k)?;
            match key.as_str() {
                "name" => block.name = Some(expect_string(v, "name")?),
                "block" => block.block = self.task_list(v, dir, role, handlers)?,
                "rescue" => block.rescue = self.task_list(v, dir, role, handlers)?,
                "always" => block.always = self.task_list(v, dir, role, handlers)?,
                "when" | "tags" | "become" | "become_user" | "remote_user" | "vars"
                | "ignore_errors" | "ignore_unreachable" | "no_log" | "check_mode" | "diff"
                | "environment" | "any_errors_fatal" | "run_once" | "delegate_to"
                | "connection" => self.common_key(&mut block.common, &key, k, v)?,
                other => {
                    let hint = did_you_mean(
                        other,
                        &[
                            "block", "rescue", "always", "when", "tags", "vars", "become",
                        ],
                    );
                    return Err(LoadError::new(
                        &k.loc,
                        format!(
                            "'{other}' is not valid in a block{hint} (a block holds only block/rescue/always and task keywords)"
                        ),
                    ));
                }
            }
        }
        Ok(block)
    }

    #[allow(clippy::too_many_arguments)]
    fn include(
        &self,
        node: &Node,
        key: &Node,
        value: &Node,
        dir: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
        out: &mut Vec<TaskNode>,
    ) -> Result<()> {
        let kind = canonical_module(key.as_str().unwrap_or_default()).to_string();
        let mut common = Common::default();
        let mut name = None;
        let mut loop_: Option<Loop> = None;
        let mut loop_control: Option<&Node> = None;
        let mut role_opts: Vec<(String, &Node)> = Vec::new();
        let mut file_from_args: Option<String> = None;
        let mut apply: Option<&Node> = None;
        for (k, v) in map_entries(node, "a task")? {
            let key_name = key_str(k)?;
            if std::ptr::eq(k, key) {
                continue;
            }
            match key_name.as_str() {
                "name" => name = Some(expect_string(v, "name")?),
                "loop_control" => loop_control = Some(v),
                "args" => {
                    for (ak, av) in map_entries(v, "args")? {
                        let an = key_str(ak)?;
                        match an.as_str() {
                            "file" => file_from_args = Some(expect_string(av, "file")?),
                            "apply" => apply = Some(av),
                            _ => role_opts.push((an, av)),
                        }
                    }
                }
                k2 if k2 == "loop" || k2.starts_with("with_") => {
                    loop_ = Some(parse_loop(k2, v, k)?);
                }
                "when" | "tags" | "become" | "become_user" | "remote_user" | "vars"
                | "ignore_errors" | "no_log" | "check_mode" | "diff" | "environment"
                | "any_errors_fatal" | "run_once" | "delegate_to" | "connection" => {
                    self.common_key(&mut common, &key_name, k, v)?
                }
                other => {
                    return Err(LoadError::new(
                        &k.loc,
                        format!("'{other}' is not valid with {kind}"),
                    ));
                }
            }
        }
        if let (Some(l), Some(lc)) = (loop_.as_mut(), loop_control) {
            apply_loop_control(l, lc)?;
        }
        match kind.as_str() {
            "include" => Err(LoadError::new(
                &key.loc,
                "'include' was removed from Ansible; use include_tasks or import_tasks",
            )),
            "import_playbook" => Err(LoadError::new(
                &key.loc,
                "import_playbook is only valid at the play level",
            )),
            "import_tasks" | "include_tasks" => {
                let file = match &value.value {
                    NodeValue::Map(_) => {
                        let mut f = None;
                        for (k, v) in map_entries(value, &kind)? {
                            match key_str(k)?.as_str() {
                                "file" => f = Some(expect_string(v, "file")?),
                                "apply" => apply = Some(v),
                                other => {
                                    return Err(LoadError::new(
                                        &k.loc,
                                        format!("'{other}' is not a valid option of {kind}"),
                                    ));
                                }
                            }
                        }
                        f
                    }
                    NodeValue::Null => file_from_args.clone(),
                    _ => Some(expect_string(value, &kind)?),
                }
                .ok_or_else(|| LoadError::new(&value.loc, format!("{kind} needs a file name")))?;
                let templated = file.contains("{{");
                let apply = self.apply_keywords(&kind, apply)?;
                if kind == "import_tasks" {
                    if templated {
                        return Err(LoadError::new(
                            &value.loc,
                            "import_tasks is static: its file name cannot use variables (use include_tasks)",
                        ));
                    }
                    if loop_.is_some() {
                        return Err(LoadError::new(
                            &value.loc,
                            "import_tasks cannot loop (use include_tasks)",
                        ));
                    }
                    let path = self.resolve_task_file(&file, dir, role, &value.loc)?;
                    let tasks = self.task_file(&path, role, handlers, Some(&value.loc))?;
                    // Static import: the keywords apply to every imported task, as a block.
                    out.push(TaskNode::Block(Arc::new(Block {
                        name,
                        loc: loc(node),
                        common,
                        block: tasks,
                        rescue: Vec::new(),
                        always: Vec::new(),
                        role: None,
                        role_once: None,
                    })));
                    return Ok(());
                }
                let preloaded = if templated {
                    None
                } else {
                    let path = self.resolve_task_file(&file, dir, role, &value.loc)?;
                    Some(self.task_file(&path, role, handlers, Some(&value.loc))?)
                };
                out.push(TaskNode::Include(Arc::new(Include {
                    name,
                    loc: loc(node),
                    common,
                    loop_,
                    kind: IncludeKind::Tasks {
                        file,
                        base_dir: dir.to_path_buf(),
                        preloaded,
                        role: role.cloned(),
                    },
                    apply,
                })));
                Ok(())
            }
            "import_role" | "include_role" => {
                let mut role_name = None;
                let mut tasks_from = "main".to_string();
                let opts_node = value;
                let mut opts: Vec<(String, &Node)> = role_opts;
                if let Some(entries) = opts_node.as_map() {
                    for (k, v) in entries {
                        opts.push((key_str(k)?, v));
                    }
                } else if !opts_node.is_null() {
                    return Err(LoadError::new(
                        &opts_node.loc,
                        format!("{kind} takes a mapping with 'name:'"),
                    ));
                }
                for (k, v) in opts {
                    match k.as_str() {
                        "name" => role_name = Some(expect_string(v, "name")?),
                        "tasks_from" => tasks_from = expect_string(v, "tasks_from")?,
                        "public" | "allow_duplicates" | "rolespec_validate" => {}
                        "apply" => apply = Some(v),
                        "vars_from" | "defaults_from" | "handlers_from" => {
                            return Err(LoadError::new(
                                &v.loc,
                                format!("{kind} option '{k}' is not supported"),
                            ));
                        }
                        other => {
                            return Err(LoadError::new(
                                &v.loc,
                                format!("'{other}' is not a valid option of {kind}"),
                            ));
                        }
                    }
                }
                let role_name = role_name
                    .ok_or_else(|| LoadError::new(&value.loc, format!("{kind} needs 'name:'")))?;
                let apply = self.apply_keywords(&kind, apply)?;
                if kind == "import_role" && loop_.is_some() {
                    return Err(LoadError::new(
                        &value.loc,
                        "import_role cannot loop (use include_role)",
                    ));
                }
                let role = self.load_role(&role_name, &tasks_from, dir, &value.loc)?;
                let use_ = RoleUse {
                    role,
                    loc: loc(node),
                    common: Common {
                        vars: Vars::new(),
                        ..common.clone()
                    },
                    params: common.vars.clone(),
                    tasks_from,
                    once: false,
                };
                if kind == "import_role" {
                    out.push(role_block(&use_));
                } else {
                    out.push(TaskNode::Include(Arc::new(Include {
                        name,
                        loc: loc(node),
                        common: Common {
                            vars: Vars::new(),
                            ..common
                        },
                        loop_,
                        kind: IncludeKind::Role(Box::new(use_)),
                        apply,
                    })));
                }
                Ok(())
            }
            _ => Err(LoadError::new(
                &key.loc,
                format!("unknown include '{kind}'"),
            )),
        }
    }

    /// The `apply:` keywords of an include (only include_tasks and include_role take them).
    fn apply_keywords(&self, kind: &str, node: Option<&Node>) -> Result<Common> {
        let mut c = Common::default();
        let Some(node) = node else { return Ok(c) };
        if kind.starts_with("import_") {
            return Err(LoadError::new(
                &node.loc,
                format!("'apply' is only valid with include_tasks and include_role, not {kind}"),
            ));
        }
        for (k, v) in map_entries(node, "apply")? {
            let key = key_str(k)?;
            match key.as_str() {
                "when" | "tags" | "become" | "become_user" | "remote_user" | "vars"
                | "ignore_errors" | "ignore_unreachable" | "no_log" | "check_mode" | "diff"
                | "environment" | "any_errors_fatal" | "run_once" | "delegate_to"
                | "connection" => self.common_key(&mut c, &key, k, v)?,
                other => {
                    return Err(LoadError::new(
                        &k.loc,
                        format!("'{other}' is not valid in apply (block keywords only)"),
                    ));
                }
            }
        }
        Ok(c)
    }

    fn resolve_task_file(
        &self,
        file: &str,
        dir: &Path,
        role: Option<&Arc<RoleContext>>,
        at: &Location,
    ) -> Result<PathBuf> {
        let mut candidates = vec![dir.join(file)];
        if let Some(r) = role {
            candidates.push(r.path.join("tasks").join(file));
        }
        candidates.push(self.playbook_dir.join(file));
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| {
                LoadError::new(
                    at,
                    format!(
                        "task file '{file}' not found (looked in {})",
                        candidates
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// Loads a task file (a list of tasks).
    pub fn task_file(
        &self,
        path: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
        at: Option<&Location>,
    ) -> Result<Vec<TaskNode>> {
        let _guard = self.enter(path, at)?;
        let doc = read_yaml(path, at)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        self.task_list(&doc, dir, role, handlers)
    }

    fn task(
        &self,
        node: &Node,
        _dir: &Path,
        role: Option<&Arc<RoleContext>>,
        handlers: bool,
    ) -> Result<Task> {
        let entries = map_entries(node, "a task")?;
        let mut task = Task {
            name: None,
            loc: loc(node),
            module: String::new(),
            module_loc: loc(node),
            args: Vec::new(),
            common: Common::default(),
            loop_: None,
            register: None,
            changed_when: None,
            failed_when: None,
            until: None,
            retries: None,
            delay: None,
            notify: Vec::new(),
            listen: Vec::new(),
            timeout: None,
            throttle: None,
            role: role.cloned(),
        };
        let mut module: Option<(&Node, &Node)> = None;
        let mut extra_args: Option<&Node> = None;
        let mut loop_control: Option<&Node> = None;
        let mut async_secs: Option<(u64, &Node)> = None;
        let mut poll: Option<(u64, &Node)> = None;
        for (k, v) in entries {
            let key = key_str(k)?;
            let is_loop = key == "loop" || key.starts_with("with_");
            if !TASK_KEYS.contains(&key.as_str()) && !is_loop {
                if let Some((prev, _)) = module {
                    let prev_name = prev.as_str().unwrap_or_default();
                    let hint = did_you_mean(&key, TASK_KEYS);
                    return Err(LoadError::new(
                        &k.loc,
                        format!(
                            "'{key}' is not a task keyword{hint}, and this task already has the module '{prev_name}' (one module per task)"
                        ),
                    ));
                }
                module = Some((k, v));
                continue;
            }
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(u, _)| *u == key) {
                if !(key == "become_method" && v.as_str() == Some("sudo")) {
                    return Err(LoadError::new(&k.loc, format!("'{key}': {why}")));
                }
                continue;
            }
            match key.as_str() {
                "name" => task.name = Some(expect_string(v, "name")?),
                "register" => {
                    let r = expect_string(v, "register")?;
                    if !is_identifier(&r) {
                        return Err(LoadError::new(
                            &v.loc,
                            format!("'{r}' is not a valid variable name for register"),
                        ));
                    }
                    task.register = Some(r);
                }
                "changed_when" => task.changed_when = Some(conditions(v, &key)?),
                "failed_when" => task.failed_when = Some(conditions(v, &key)?),
                "until" => task.until = Some(conditions(v, &key)?),
                "retries" => task.retries = Some(v.to_value()),
                "delay" => task.delay = Some(v.to_value()),
                "notify" => task.notify = string_list(v, &key)?,
                "listen" => {
                    if !handlers {
                        return Err(LoadError::new(&k.loc, "'listen' is only valid in handlers"));
                    }
                    task.listen = string_list(v, &key)?
                }
                "timeout" => {
                    task.timeout = Some(count(v, 0, "timeout must be a number of seconds")?)
                }
                "throttle" => {
                    task.throttle =
                        Some(
                            count(v, 1, "throttle must be a number of hosts (1 or more)")? as usize,
                        )
                }
                "async" | "poll" => {
                    let n = count(v, 0, &format!("{key} must be a number of seconds"))?;
                    if key == "async" {
                        async_secs = Some((n, k));
                    } else {
                        poll = Some((n, k));
                    }
                }
                "loop_control" => loop_control = Some(v),
                "args" => extra_args = Some(v),
                "action" | "local_action" => {
                    if key == "local_action" {
                        task.common.delegate_to = Some("localhost".into());
                    }
                    module = Some((k, v));
                }
                _ if is_loop => {
                    if task.loop_.is_some() {
                        return Err(LoadError::new(&k.loc, "a task can have only one loop"));
                    }
                    task.loop_ = Some(parse_loop(&key, v, k)?);
                }
                _ => self.common_key(&mut task.common, &key, k, v)?,
            }
        }
        if let (Some(l), Some(lc)) = (task.loop_.as_mut(), loop_control) {
            apply_loop_control(l, lc)?;
        } else if let Some(lc) = loop_control {
            return Err(LoadError::new(&lc.loc, "loop_control without a loop"));
        }
        // async with polling: the task waits for its result, at most `async` seconds (Ansible
        // polls a background job; the outcome is the same). Fire-and-forget is refused.
        match (async_secs, poll) {
            (Some((_, k)), Some((0, _))) => {
                return Err(LoadError::new(
                    &k.loc,
                    "'async' with 'poll: 0': fire-and-forget background tasks are not supported (with poll > 0 the task waits up to `async` seconds)",
                ));
            }
            (Some((secs, _)), _) => {
                task.timeout = Some(task.timeout.map_or(secs, |t| t.min(secs)));
            }
            (None, Some((_, k))) => {
                return Err(LoadError::new(&k.loc, "'poll' without 'async'"));
            }
            (None, None) => {}
        }
        let (mk, mv) = module.ok_or_else(|| {
            LoadError::new(
                &task.loc,
                "no module or action in this task (check the indentation of its arguments)",
            )
        })?;
        let mut module_name = key_str(mk)?;
        let mut args_node_value: Option<&Node> = Some(mv);
        let mut args: Vec<(String, Value)> = Vec::new();
        if module_name == "action" || module_name == "local_action" {
            // `action: copy src=a dest=b` or `action: {module: copy, ...}`
            match &mv.value {
                NodeValue::Map(entries) => {
                    let m = entries
                        .iter()
                        .find(|(k, _)| k.as_str() == Some("module"))
                        .ok_or_else(|| LoadError::new(&mv.loc, "action needs 'module:'"))?;
                    module_name = expect_string(&m.1, "module")?;
                    for (k, v) in entries {
                        if k.as_str() != Some("module") {
                            args.push((key_str(k)?, v.to_value()));
                        }
                    }
                    args_node_value = None;
                }
                _ => {
                    let text = expect_string(mv, "action")?;
                    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
                    module_name = name.to_string();
                    let canonical = canonical_module(&module_name).to_string();
                    args.extend(self.kv_args(&canonical, rest, &mv.loc)?);
                    args_node_value = None;
                }
            }
        }
        let canonical = canonical_module(&module_name).to_string();
        if let Some(v) = args_node_value {
            match &v.value {
                NodeValue::Null => {}
                NodeValue::Map(entries) => {
                    for (k, val) in entries {
                        args.push((key_str(k)?, val.to_value()));
                    }
                }
                NodeValue::Str(s) | NodeValue::Unsafe(s) => {
                    args.extend(self.kv_args(&canonical, s, &v.loc)?);
                }
                NodeValue::Seq(_) if canonical == "command" => {
                    args.push(("argv".into(), v.to_value()));
                }
                _ => {
                    args.push(("_raw_params".into(), v.to_value()));
                }
            }
        }
        if let Some(extra) = extra_args {
            match &extra.value {
                NodeValue::Map(entries) => {
                    for (k, v) in entries {
                        let name = key_str(k)?;
                        args.retain(|(n, _)| *n != name);
                        args.push((name, v.to_value()));
                    }
                }
                NodeValue::Str(s) => {
                    // `args: "{{ some_dict }}"`: rendered at run time.
                    args.push(("__args_template".into(), Value::from(s.as_str())));
                }
                _ => return Err(LoadError::new(&extra.loc, "args must be a mapping")),
            }
        }
        task.module = canonical;
        task.module_loc = loc(mk);
        task.args = args;
        Ok(task)
    }

    fn kv_args(&self, module: &str, text: &str, at: &Location) -> Result<Vec<(String, Value)>> {
        let free = FREE_FORM
            .iter()
            .find(|(m, _)| *m == module)
            .map(|(_, keys)| *keys);
        // Modules that are not free-form but take a single raw value (e.g. `debug: msg=x`) use k=v.
        let pairs = kv::parse_kv(text, free).map_err(|e| LoadError::new(at, e))?;
        Ok(pairs
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect())
    }

    fn role_use(&self, node: &Node, dir: &Path) -> Result<RoleUse> {
        let (name, entries): (String, &[(Node, Node)]) = match &node.value {
            NodeValue::Str(s) => (s.clone(), &[]),
            NodeValue::Map(entries) => {
                let name = entries
                    .iter()
                    .find(|(k, _)| matches!(k.as_str(), Some("role") | Some("name")))
                    .ok_or_else(|| LoadError::new(&node.loc, "a role entry needs 'role:'"))?;
                (expect_string(&name.1, "role")?, entries.as_slice())
            }
            _ => {
                return Err(LoadError::new(
                    &node.loc,
                    "a role entry must be a name or a mapping",
                ));
            }
        };
        let mut common = Common::default();
        let mut params = Vars::new();
        for (k, v) in entries {
            let key = key_str(k)?;
            match key.as_str() {
                "role" | "name" => {}
                "when" | "tags" | "become" | "become_user" | "remote_user" | "ignore_errors"
                | "no_log" | "check_mode" | "diff" | "environment" | "any_errors_fatal"
                | "delegate_to" | "run_once" | "connection" => {
                    self.common_key(&mut common, &key, k, v)?
                }
                "vars" => params.extend(node_to_vars(v, "vars")?),
                _ if TASK_KEYS.contains(&key.as_str()) => {
                    return Err(LoadError::new(
                        &k.loc,
                        format!("'{key}' is not valid on a role"),
                    ));
                }
                _ => {
                    params.insert(key, v.to_value());
                }
            }
        }
        let role = self.load_role(&name, "main", dir, &node.loc)?;
        Ok(RoleUse {
            once: !role.allow_duplicates,
            role,
            loc: loc(node),
            common,
            params,
            tasks_from: "main".into(),
        })
    }

    fn find_role(&self, name: &str, dir: &Path) -> Option<PathBuf> {
        let direct = Path::new(name);
        if (direct.is_absolute() || name.contains('/')) && direct.is_dir() {
            return Some(direct.to_path_buf());
        }
        let mut candidates = vec![
            dir.join("roles").join(name),
            self.playbook_dir.join("roles").join(name),
        ];
        candidates.extend(self.roles_path.iter().map(|p| p.join(name)));
        candidates.push(self.playbook_dir.join(name));
        candidates.into_iter().find(|p| p.is_dir())
    }

    /// Loads a role (cached by path and task file), with its meta dependencies.
    pub fn load_role(
        &self,
        name: &str,
        tasks_from: &str,
        dir: &Path,
        at: &Location,
    ) -> Result<Arc<Role>> {
        let path = self.find_role(name, dir).ok_or_else(|| {
            let mut searched = vec![self.playbook_dir.join("roles")];
            searched.extend(self.roles_path.iter().cloned());
            LoadError::new(
                at,
                format!(
                    "role '{name}' not found (searched {})",
                    searched
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let key = (path.clone(), tasks_from.to_string());
        if let Some(r) = self.role_cache.lock().expect("role cache lock").get(&key) {
            return Ok(r.clone());
        }
        let _guard = self.enter(&path.join(".role"), Some(at)).map_err(|mut e| {
            e.message = format!(
                "cyclic role dependency: {}",
                e.message.trim_start_matches("cyclic include: ")
            );
            e
        })?;
        let context = Arc::new(RoleContext {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| name.to_string()),
            path: path.clone(),
        });
        let defaults = self.role_vars_file(&path.join("defaults"), "main")?;
        let vars = self.role_vars_file(&path.join("vars"), "main")?;
        let tasks = match main_file(&path.join("tasks"), tasks_from) {
            Some(f) => self.task_file(&f, Some(&context), false, Some(at))?,
            None if tasks_from == "main" => Vec::new(),
            None => {
                return Err(LoadError::new(
                    at,
                    format!(
                        "role '{name}' has no tasks file '{tasks_from}' in {}",
                        path.join("tasks").display()
                    ),
                ));
            }
        };
        let handlers = match main_file(&path.join("handlers"), "main") {
            Some(f) => self.task_file(&f, Some(&context), true, Some(at))?,
            None => Vec::new(),
        };
        let mut dependencies = Vec::new();
        let mut allow_duplicates = false;
        if let Some(meta) = main_file(&path.join("meta"), "main") {
            let doc = read_yaml(&meta, Some(at))?;
            if let Some(deps) = doc.get("dependencies") {
                for d in deps.as_seq().unwrap_or_default() {
                    dependencies.push(self.role_use(d, &path)?);
                }
            }
            if let Some(v) = doc.get("allow_duplicates") {
                allow_duplicates = expect_bool(v, "allow_duplicates")?;
            }
        }
        let role = Arc::new(Role {
            name: context.name.clone(),
            path,
            defaults,
            vars,
            tasks,
            handlers,
            dependencies,
            allow_duplicates,
            context,
        });
        self.role_cache
            .lock()
            .expect("role cache lock")
            .insert(key, role.clone());
        Ok(role)
    }

    fn role_vars_file(&self, dir: &Path, name: &str) -> Result<Vars> {
        let mut vars = Vars::new();
        if let Some(f) = main_file(dir, name) {
            vars.extend(node_to_vars(&read_yaml(&f, None)?, "a vars file")?);
        } else if dir.join(name).is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(name))
                .map_err(|e| LoadError::new(&Location::file_start(dir), e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yml") | Some("yaml")
                    )
                })
                .collect();
            files.sort();
            for f in files {
                vars.extend(node_to_vars(&read_yaml(&f, None)?, "a vars file")?);
            }
        }
        Ok(vars)
    }
}

thread_local! {
    /// Files being loaded on this thread, outermost first, to detect cycles. Per thread:
    /// hosts load dynamic includes at the same time on several threads, each synchronously.
    static LOADING: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Pops the file from [`LOADING`] when its loading ends.
struct PathGuard;

impl Drop for PathGuard {
    fn drop(&mut self) {
        LOADING.with(|stack| {
            stack.borrow_mut().pop();
        });
    }
}

/// `dir/name.yml`, `dir/name.yaml` or `dir/name` if it is a file.
pub fn main_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [
        format!("{name}.yml"),
        format!("{name}.yaml"),
        name.to_string(),
    ]
    .iter()
    .map(|n| dir.join(n))
    .find(|p| p.is_file())
}

/// A role's tasks (with its dependencies first) as one block carrying the role's keywords.
pub fn role_block(use_: &RoleUse) -> TaskNode {
    let mut tasks = Vec::new();
    for dep in &use_.role.dependencies {
        tasks.push(role_block(dep));
    }
    tasks.extend(use_.role.tasks.iter().cloned());
    let mut common = use_.common.clone();
    // Role params rank above role vars: carried as block vars of the role block.
    common.vars = use_.params.clone();
    let role_once = use_.once.then(|| {
        let params: Vec<(&String, &Value)> = use_.params.iter().collect();
        let when: Vec<&str> = use_.common.when.iter().map(|c| c.expr.as_str()).collect();
        format!(
            "{}|{}|{}|{:?}|{:?}",
            use_.role.path.display(),
            use_.tasks_from,
            serde_json::to_string(&params).unwrap_or_default(),
            when,
            use_.common.tags
        )
    });
    TaskNode::Block(Arc::new(Block {
        name: None,
        loc: use_.loc.clone(),
        common,
        block: tasks,
        rescue: Vec::new(),
        always: Vec::new(),
        role: Some(use_.role.clone()),
        role_once,
    }))
}

/// The handlers of every role a play applies (`roles:`, dependencies, import_role and
/// include_role), once per role, each as a block carrying the role and its parameters.
fn role_handlers(play: &Play) -> Vec<TaskNode> {
    fn walk(nodes: &[TaskNode], seen: &mut Vec<PathBuf>, out: &mut Vec<TaskNode>) {
        for n in nodes {
            match n {
                TaskNode::Task(_) => {}
                TaskNode::Block(b) => {
                    // Dependencies are nested role blocks: their handlers come first.
                    walk(&b.block, seen, out);
                    walk(&b.rescue, seen, out);
                    walk(&b.always, seen, out);
                    if let Some(r) = &b.role
                        && !seen.contains(&r.path)
                    {
                        seen.push(r.path.clone());
                        if !r.handlers.is_empty() {
                            out.push(TaskNode::Block(Arc::new(Block {
                                name: None,
                                loc: b.loc.clone(),
                                common: Common {
                                    vars: b.common.vars.clone(),
                                    ..Common::default()
                                },
                                block: r.handlers.clone(),
                                rescue: Vec::new(),
                                always: Vec::new(),
                                role: Some(r.clone()),
                                role_once: None,
                            })));
                        }
                    }
                }
                TaskNode::Include(inc) => match &inc.kind {
                    IncludeKind::Role(u) => walk(&[role_block(u)], seen, out),
                    IncludeKind::Tasks {
                        preloaded: Some(tasks),
                        ..
                    } => walk(tasks, seen, out),
                    IncludeKind::Tasks { .. } => {}
                },
            }
        }
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    let roles: Vec<TaskNode> = play.roles.iter().map(role_block).collect();
    for list in [&play.pre_tasks, &roles, &play.tasks, &play.post_tasks] {
        walk(list, &mut seen, &mut out);
    }
    out
}

fn parse_serial(v: &Node) -> Result<Vec<Serial>> {
    let one = |n: &Node| -> Result<Serial> {
        match &n.value {
            NodeValue::Int(i) if *i > 0 => Ok(Serial::Count(*i as usize)),
            NodeValue::Str(s) if s.ends_with('%') => s
                .trim_end_matches('%')
                .parse::<f64>()
                .map(Serial::Percent)
                .map_err(|_| LoadError::new(&n.loc, "serial must be a number or a percentage")),
            NodeValue::Str(s) => s
                .parse::<usize>()
                .map(Serial::Count)
                .map_err(|_| LoadError::new(&n.loc, "serial must be a number or a percentage")),
            _ => Err(LoadError::new(
                &n.loc,
                "serial must be a positive number or a percentage",
            )),
        }
    };
    match &v.value {
        NodeValue::Seq(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(v)?]),
    }
}

fn parse_loop(key: &str, v: &Node, k: &Node) -> Result<Loop> {
    let style = match key {
        "loop" | "with_list" => LoopStyle::List,
        "with_items" | "with_flattened" => LoopStyle::Items,
        "with_dict" => LoopStyle::Dict,
        "with_indexed_items" => LoopStyle::Indexed,
        "with_fileglob" => LoopStyle::Fileglob,
        "with_sequence" => LoopStyle::Sequence,
        "with_nested" | "with_cartesian" => LoopStyle::Nested,
        "with_together" => LoopStyle::Together,
        "with_subelements" => LoopStyle::Subelements,
        other => {
            return Err(LoadError::new(
                &k.loc,
                format!(
                    "'{other}' is not supported (supported: loop, with_items, with_list, with_dict, with_indexed_items, with_fileglob, with_sequence, with_nested, with_together, with_subelements)"
                ),
            ));
        }
    };
    Ok(Loop {
        items: v.to_value(),
        style,
        loop_var: "item".into(),
        index_var: None,
        label: None,
        pause: None,
        extended: false,
    })
}

fn apply_loop_control(l: &mut Loop, lc: &Node) -> Result<()> {
    for (k, v) in map_entries(lc, "loop_control")? {
        match key_str(k)?.as_str() {
            "loop_var" => l.loop_var = expect_string(v, "loop_var")?,
            "index_var" => l.index_var = Some(expect_string(v, "index_var")?),
            "label" => l.label = Some(expect_string(v, "label")?),
            "pause" => {
                l.pause = Some(match &v.value {
                    NodeValue::Int(i) => *i as f64,
                    NodeValue::Float(f) => *f,
                    _ => return Err(LoadError::new(&v.loc, "pause must be a number")),
                })
            }
            "extended" => l.extended = expect_bool(v, "extended")?,
            "extended_allitems" | "break_when" => {
                return Err(LoadError::new(
                    &k.loc,
                    "this loop_control option is not supported",
                ));
            }
            other => {
                let hint = did_you_mean(
                    other,
                    &["loop_var", "index_var", "label", "pause", "extended"],
                );
                return Err(LoadError::new(
                    &k.loc,
                    format!("'{other}' is not a loop_control option{hint}"),
                ));
            }
        }
    }
    Ok(())
}
