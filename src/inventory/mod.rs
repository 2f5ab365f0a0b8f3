//! Inventory: hosts, groups and inventory-level variables, loaded from files exactly as Ansible
//! reads them. Pure: files in, [`Inventory`] out (the only process it runs is a dynamic
//! inventory script the user named as a source).
//!
//! # Public API
//! ```text
//! Inventory::load(sources: &[PathBuf]) -> Result<Inventory, InventoryError>
//! Inventory::load_with(sources: &[PathBuf], options: LoadOptions) -> Result<Inventory, InventoryError>
//!     LoadOptions { decrypt: Option<Decryptor> }   for vault-encrypted files
//!     sources: INI file, YAML file, executable (dynamic inventory, `--list`/`--host`),
//!     directory (every file in it), a Terraform state or saved `terraform output -json`
//!     (terraform.rs, docs/terraform.md), or a host list "a,b," ; group_vars/ and host_vars/
//!     beside each source are loaded too.
//! inv.add_playbook_vars_dir(&mut self, dir: &Path) -> Result<(), InventoryError>
//!     the playbook directory's group_vars/ and host_vars/ (they rank above the inventory's)
//! inv.hosts() -> impl Iterator<Item = &Host>        hosts in definition order
//! inv.host(name) -> Option<&Host>                   also Ansible's implicit localhost
//! inv.groups() -> impl Iterator<Item = &Group>; inv.group(name) -> Option<&Group>
//! inv.group_hosts(name) -> Vec<&str>               one entry of `groups`
//! inv.groups_map() -> IndexMap<String, Vec<String>> Ansible's `groups` magic variable
//! inv.group_names(host) -> Vec<String>              Ansible's `group_names` magic variable
//! inv.host_vars(host) -> Vars                       merged inventory-level variables
//! inv.host_var_layers(host) -> Vec<VarLayer>        the same, layer by layer (lowest first)
//! inv.select(pattern) -> Result<Vec<String>, PatternError>   Ansible host patterns
//! inv.limit(hosts: Vec<String>, limit) -> Result<Vec<String>, PatternError>
//! inv.to_list_json() -> serde_json::Value           `ansible-inventory --list`
//! inv.graph() -> String; inv.graph_group(name) -> Option<String>   `ansible-inventory --graph`
//! inv.host_json(name) -> Option<serde_json::Value>  `ansible-inventory --host NAME`
//! inv.warnings() -> &[String]                       what Ansible would warn about
//! SshConfig::parse(text) / parse_file(path) / load_default() -> SshConfig
//! ssh_config.lookup(alias) -> SshHostConfig { hostname, user, port, identity_files, ... }
//! ```
//!
//! Behaviour checked against ansible-core 2.19, including where it differs from folklore:
//! `[g:children]` naming a group never defined is an error, and `group_names` of a host that is
//! in no group is `["ungrouped"]`.

mod address;
mod error;
mod ini;
mod literal;
mod output;
mod pattern;
mod script;
mod ssh_config;
mod terraform;
mod vars_dirs;
mod yaml_inv;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::Value;

pub use crate::core::Vars;
use crate::yaml::{Location, Node};
pub use error::InventoryError;
pub use pattern::PatternError;
pub use ssh_config::{SshConfig, SshHostConfig, StrictHostKeyChecking};
use vars_dirs::{VarsDir, VarsDirKind};

/// The names Ansible treats as the implicit localhost when the inventory does not define them.
const LOCALHOST_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Files a directory source skips (Ansible's INVENTORY_IGNORE_EXTS).
const IGNORED_SUFFIXES: [&str; 12] = [
    ".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry",
];

/// Decrypts the text of an Ansible-Vault-encrypted file (`$ANSIBLE_VAULT;...`): given the file
/// and its text, returns the plain text or why it could not.
pub type Decryptor = Arc<dyn Fn(&Path, &str) -> Result<String, String> + Send + Sync>;

/// Options for [`Inventory::load_with`].
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Used for vault-encrypted inventory, group_vars and host_vars files; without it such a
    /// file is an error.
    pub decrypt: Option<Decryptor>,
}

impl fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("decrypt", &self.decrypt.is_some())
            .finish()
    }
}

/// One host of the inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    /// The inventory name (`inventory_hostname`).
    pub name: String,
    /// Variables set on the host in inventory sources (INI inline vars, YAML host vars, script
    /// hostvars, `host:port`), not yet merged with group or vars-file variables.
    pub vars: Vars,
    /// The groups the host was listed in directly (without `all`).
    pub groups: Vec<String>,
    /// Whether this is Ansible's implicit localhost (not defined by the inventory).
    pub implicit: bool,
    /// Where the host was first defined.
    pub loc: Option<Location>,
}

/// One group of the inventory.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// The group name.
    pub name: String,
    /// Variables set on the group in inventory sources (`[g:vars]`, YAML `vars:`).
    pub vars: Vars,
    /// Hosts listed in the group directly, in order.
    pub hosts: Vec<String>,
    /// Child groups, in order.
    pub children: Vec<String>,
    /// Parent groups, in order.
    pub parents: Vec<String>,
    /// `ansible_group_priority` (default 1): among groups of equal depth, higher wins.
    pub priority: i64,
    /// Longest distance from `all` (0 for `all`, 1 for its children...).
    pub depth: usize,
    /// Where the group was first defined.
    pub loc: Option<Location>,
}

impl Group {
    fn new(name: &str, loc: Option<Location>) -> Self {
        Group {
            name: name.to_string(),
            vars: Vars::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            priority: 1,
            depth: 0,
            loc,
        }
    }
}

/// One layer of a host's variables, for precedence explanations (`--explain-var`).
#[derive(Clone, Debug, PartialEq)]
pub struct VarLayer {
    /// Where the layer comes from: a file path, or e.g. "inventory vars of group 'web'".
    pub source: String,
    /// The variables of that layer.
    pub vars: Vars,
}

/// Hosts, groups and their inventory-level variables.
#[derive(Clone, Debug)]
pub struct Inventory {
    hosts: IndexMap<String, Host>,
    groups: IndexMap<String, Group>,
    /// (group, host) pairs of direct membership, mirroring `Group::hosts` for fast checks.
    members: HashSet<(String, String)>,
    implicit: Vec<Host>,
    vars_dirs: Vec<VarsDir>,
    warnings: Vec<String>,
    options: LoadOptions,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory::empty(LoadOptions::default())
    }
}

impl Inventory {
    /// Loads and merges inventory sources (see the module docs for the kinds of source), then
    /// the `group_vars/` and `host_vars/` beside each.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        Inventory::load_with(sources, LoadOptions::default())
    }

    /// [`Inventory::load`] with options (a vault decryptor).
    pub fn load_with(
        sources: &[PathBuf],
        options: LoadOptions,
    ) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::empty(options);
        for source in sources {
            inv.parse_source(source)?;
        }
        inv.reconcile()?;
        for source in sources {
            if let Some(base) = vars_base(source) {
                inv.load_vars_dir(&base, VarsDirKind::Inventory)?;
            }
        }
        Ok(inv)
    }

    /// An inventory with only the implicit groups `all` and `ungrouped`.
    fn empty(options: LoadOptions) -> Inventory {
        let mut inv = Inventory {
            hosts: IndexMap::new(),
            groups: IndexMap::new(),
            members: HashSet::new(),
            implicit: Vec::new(),
            vars_dirs: Vec::new(),
            warnings: Vec::new(),
            options,
        };
        inv.add_group("all", None);
        inv.add_group("ungrouped", None);
        inv.link("all", "ungrouped");
        inv.implicit = LOCALHOST_NAMES
            .iter()
            .map(|name| Host {
                name: name.to_string(),
                vars: Vars::from([("ansible_connection".to_string(), Value::from("local"))]),
                groups: Vec::new(),
                implicit: true,
                loc: None,
            })
            .collect();
        inv
    }

    /// Loads a playbook directory's `group_vars/` and `host_vars/`. At each level they rank
    /// above the inventory's own (Ansible's "playbook group_vars/all" above "inventory
    /// group_vars/all", and so on). Call it once per playbook directory, in order.
    pub fn add_playbook_vars_dir(&mut self, dir: &Path) -> Result<(), InventoryError> {
        self.load_vars_dir(dir, VarsDirKind::Playbook)
    }

    fn load_vars_dir(&mut self, base: &Path, kind: VarsDirKind) -> Result<(), InventoryError> {
        let group_names: Vec<String> = self.groups.keys().cloned().collect();
        let mut host_names: Vec<String> = self.hosts.keys().cloned().collect();
        host_names.extend(
            LOCALHOST_NAMES
                .iter()
                .filter(|n| !self.hosts.contains_key(**n))
                .map(|n| n.to_string()),
        );
        let dir = VarsDir::load(base, kind, &group_names, &host_names, &|p| {
            self.read_text(p)
        })?;
        self.vars_dirs.push(dir);
        Ok(())
    }

    /// What Ansible would have warned about while loading (skipped YAML keys, odd names...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    // ----- sources -----

    fn parse_source(&mut self, source: &Path) -> Result<(), InventoryError> {
        let text = source.to_string_lossy();
        if text.contains(',') && !source.exists() {
            self.parse_host_list(&text);
            return Ok(());
        }
        let meta = std::fs::metadata(source).map_err(|e| InventoryError::read(source, &e))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(source)
                .map_err(|e| InventoryError::read(source, &e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| !ignored_in_dir(p))
                .collect();
            entries.sort();
            for entry in entries {
                self.parse_source(&entry)?;
            }
            return Ok(());
        }
        if script::is_script(source, &meta) {
            return script::load(self, source);
        }
        let text = self.read_text(source)?;
        if let Some(kind) = terraform::detect(source, &text) {
            return terraform::load(self, source, &text, kind);
        }
        self.parse_text(source, &text)
    }

    /// Parses a data file: YAML by extension, INI for other extensions, and by content when
    /// the file has no extension (as Ansible's yaml-then-ini plugin order does).
    fn parse_text(&mut self, file: &Path, text: &str) -> Result<(), InventoryError> {
        let ext = file
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "yml" | "yaml" | "json" => {
                let node = crate::yaml::parse(text, file)?;
                yaml_inv::parse(self, &node)
            }
            "" => match crate::yaml::parse(text, file) {
                Ok(node) if node.as_map().is_some() => yaml_inv::parse(self, &node),
                Ok(_) => ini::parse(self, file, text),
                Err(yaml) => {
                    ini::parse(self, file, text).map_err(|ini| InventoryError::Unparsable {
                        file: file.to_path_buf(),
                        yaml: yaml.to_string(),
                        ini: ini.to_string(),
                    })
                }
            },
            "toml" => Err(InventoryError::invalid(
                Location::file_start(file),
                "TOML inventories are not supported: use INI or YAML",
            )),
            _ => ini::parse(self, file, text),
        }
    }

    /// `-i host1,host2:2222,` : hosts in `ungrouped`.
    fn parse_host_list(&mut self, list: &str) {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, port) =
                address::parse_address(entry).unwrap_or_else(|| (entry.to_string(), None));
            if !self.hosts.contains_key(&name) {
                self.add_host(&name, "ungrouped", port, None);
            }
        }
    }

    /// Reads a source or vars file as text, decrypting it when it is vault-encrypted.
    pub(crate) fn read_text(&self, file: &Path) -> Result<String, InventoryError> {
        let bytes = std::fs::read(file).map_err(|e| InventoryError::read(file, &e))?;
        let text = String::from_utf8(bytes).map_err(|_| InventoryError::Read {
            file: file.to_path_buf(),
            message: "not UTF-8 text".into(),
        })?;
        if !text.starts_with("$ANSIBLE_VAULT;") {
            return Ok(text);
        }
        match &self.options.decrypt {
            Some(decrypt) => decrypt(file, &text).map_err(|message| InventoryError::Read {
                file: file.to_path_buf(),
                message: format!("cannot decrypt vault file: {message}"),
            }),
            None => Err(InventoryError::Read {
                file: file.to_path_buf(),
                message: "the file is encrypted with Ansible Vault and no vault password was given"
                    .into(),
            }),
        }
    }

    // ----- building (used by the source parsers) -----

    /// Creates `name` if it does not exist.
    pub(crate) fn add_group(&mut self, name: &str, loc: Option<&Location>) {
        if !self.groups.contains_key(name) {
            self.groups
                .insert(name.to_string(), Group::new(name, loc.cloned()));
        }
    }

    /// Adds a host (created if new) to `group` (created if new). `port` sets `ansible_port`
    /// only when the host is new, as in Ansible.
    pub(crate) fn add_host(
        &mut self,
        name: &str,
        group: &str,
        port: Option<u16>,
        loc: Option<&Location>,
    ) {
        if !self.hosts.contains_key(name) {
            let mut vars = Vars::new();
            if let Some(port) = port {
                vars.insert("ansible_port".into(), Value::from(port));
            }
            self.hosts.insert(
                name.to_string(),
                Host {
                    name: name.to_string(),
                    vars,
                    groups: Vec::new(),
                    implicit: false,
                    loc: loc.cloned(),
                },
            );
        }
        self.add_group(group, loc);
        if self.members.insert((group.to_string(), name.to_string())) {
            let g = self.groups.get_mut(group).expect("group was just ensured");
            g.hosts.push(name.to_string());
        }
        let h = self.hosts.get_mut(name).expect("host was just ensured");
        if group != "all" && !h.groups.iter().any(|g| g == group) {
            h.groups.push(group.to_string());
        }
    }

    /// Sets an inventory-file variable of a host.
    pub(crate) fn set_host_var(&mut self, host: &str, key: &str, value: Value) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
    }

    /// Sets an inventory-file variable of a group (`ansible_group_priority` sets the priority).
    pub(crate) fn set_group_var(&mut self, group: &str, key: &str, value: Value) {
        self.add_group(group, None);
        let g = self.groups.get_mut(group).expect("group was just ensured");
        if key == "ansible_group_priority" {
            match i64::try_from(value.clone())
                .ok()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            {
                Some(p) => g.priority = p,
                None => self.warnings.push(format!(
                    "group '{group}': ansible_group_priority must be an integer, got {value}"
                )),
            }
            return;
        }
        g.vars.insert(key.to_string(), value);
    }

    /// Makes `child` a child of `parent` (creating either), refusing cycles.
    pub(crate) fn add_child(
        &mut self,
        parent: &str,
        child: &str,
        loc: &Location,
    ) -> Result<(), InventoryError> {
        self.add_group(parent, Some(loc));
        self.add_group(child, Some(loc));
        if let Some(mut path) = self.descent_path(child, parent) {
            path.insert(0, parent.to_string());
            return Err(InventoryError::Cycle {
                loc: loc.clone(),
                parent: parent.to_string(),
                child: child.to_string(),
                cycle: path,
            });
        }
        self.link(parent, child);
        Ok(())
    }

    fn link(&mut self, parent: &str, child: &str) {
        if let Some(p) = self.groups.get_mut(parent)
            && !p.children.iter().any(|c| c == child)
        {
            p.children.push(child.to_string());
        }
        if let Some(c) = self.groups.get_mut(child)
            && !c.parents.iter().any(|p| p == parent)
        {
            c.parents.push(parent.to_string());
        }
    }

    /// A path `from -> ... -> to` following child links, if `to` is `from` or below it.
    fn descent_path(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut came_from: HashMap<&str, &str> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(g) = queue.pop_front() {
            if g == to {
                let mut path = vec![g.to_string()];
                let mut cur = g;
                while let Some(prev) = came_from.get(cur) {
                    path.push(prev.to_string());
                    cur = prev;
                }
                path.reverse();
                return Some(path);
            }
            for c in self
                .groups
                .get(g)
                .map(|g| g.children.as_slice())
                .unwrap_or(&[])
            {
                if seen.insert(c.as_str()) {
                    came_from.insert(c.as_str(), g);
                    queue.push_back(c.as_str());
                }
            }
        }
        None
    }

    pub(crate) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Ansible's reconcile step: every group hangs under `all`, hosts in no group go to
    /// `ungrouped` (and leave it when they are in a real group), depths are computed.
    fn reconcile(&mut self) -> Result<(), InventoryError> {
        let orphans: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.name != "all" && g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for name in orphans {
            let loc = self.groups[&name]
                .loc
                .clone()
                .unwrap_or_else(|| Location::file_start(Path::new("<inventory>")));
            self.add_child("all", &name, &loc)?;
        }
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        let mut leave_ungrouped: HashSet<String> = HashSet::new();
        for name in names {
            let groups = &self.hosts[&name].groups;
            let in_real_group = groups.iter().any(|g| g != "all" && g != "ungrouped");
            let in_ungrouped = groups.iter().any(|g| g == "ungrouped");
            if in_real_group && in_ungrouped {
                if let Some(h) = self.hosts.get_mut(&name) {
                    h.groups.retain(|g| g != "ungrouped");
                }
                self.members
                    .remove(&("ungrouped".to_string(), name.clone()));
                leave_ungrouped.insert(name);
            } else if !in_real_group && !in_ungrouped {
                self.add_host(&name, "ungrouped", None, None);
            }
        }
        if let Some(g) = self.groups.get_mut("ungrouped") {
            g.hosts.retain(|h| !leave_ungrouped.contains(h));
        }
        for conflict in self.hosts.keys().filter(|h| self.groups.contains_key(*h)) {
            self.warnings.push(format!(
                "found both group and host with the same name: {conflict}"
            ));
        }
        self.compute_depths();
        Ok(())
    }

    /// Longest distance from a root, in topological order (no cycles by construction).
    fn compute_depths(&mut self) {
        let mut pending: HashMap<String, usize> = self
            .groups
            .values()
            .map(|g| (g.name.clone(), g.parents.len()))
            .collect();
        let mut depth: HashMap<String, usize> = HashMap::new();
        let mut queue: VecDeque<String> = self
            .groups
            .values()
            .filter(|g| g.parents.is_empty())
            .map(|g| g.name.clone())
            .collect();
        for root in &queue {
            depth.insert(root.clone(), 0);
        }
        while let Some(name) = queue.pop_front() {
            let d = depth.get(&name).copied().unwrap_or(0);
            for child in self.groups[&name].children.clone() {
                let entry = depth.entry(child.clone()).or_insert(0);
                *entry = (*entry).max(d + 1);
                if let Some(left) = pending.get_mut(&child) {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        queue.push_back(child);
                    }
                }
            }
        }
        for g in self.groups.values_mut() {
            g.depth = depth.get(&g.name).copied().unwrap_or(0);
        }
    }

    // ----- queries -----

    /// The hosts, in the order they were first defined (implicit localhost excluded).
    pub fn hosts(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// A host by name; `localhost`, `127.0.0.1` and `::1` exist implicitly (with
    /// `ansible_connection: local`) when the inventory does not define them, as in Ansible.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts
            .get(name)
            .or_else(|| self.implicit.iter().find(|h| h.name == name))
    }

    /// The groups, in the order they were first defined (`all` and `ungrouped` first).
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A group by name.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.get(name)
    }

    /// All hosts of a group, its own first, then those of its descendants (breadth first),
    /// without duplicates: Ansible's `groups[name]`. Empty for an unknown group.
    pub fn group_hosts(&self, name: &str) -> Vec<&str> {
        let Some(group) = self.groups.get(name) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = Vec::new();
        let mut seen_hosts: HashSet<&str> = HashSet::new();
        let mut seen_groups: HashSet<&str> = HashSet::from([name]);
        let mut queue: VecDeque<&Group> = VecDeque::from([group]);
        while let Some(g) = queue.pop_front() {
            for h in &g.hosts {
                if seen_hosts.insert(h.as_str()) {
                    out.push(h.as_str());
                }
            }
            for c in &g.children {
                if seen_groups.insert(c.as_str())
                    && let Some(child) = self.groups.get(c)
                {
                    queue.push_back(child);
                }
            }
        }
        out
    }

    /// Ansible's `groups` magic variable: every group (with `all` and `ungrouped`) and all its
    /// hosts, including those of child groups.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|g| {
                let hosts = self.group_hosts(g).into_iter().map(String::from).collect();
                (g.clone(), hosts)
            })
            .collect()
    }

    /// Every group a host is in, directly or through child groups, `all` included.
    fn host_groups(&self, host: &str) -> Vec<&Group> {
        let Some(h) = self.hosts.get(host) else {
            return Vec::new();
        };
        let mut seen: HashSet<&str> = HashSet::new();
        let mut out = Vec::new();
        let mut stack: Vec<&str> = h.groups.iter().map(String::as_str).collect();
        stack.push("all");
        while let Some(name) = stack.pop() {
            if !seen.insert(name) {
                continue;
            }
            if let Some(g) = self.groups.get(name) {
                out.push(g);
                stack.extend(g.parents.iter().map(String::as_str));
            }
        }
        out
    }

    /// Ansible's `group_names` magic variable: the host's groups including parent groups,
    /// sorted, without `all` (a host in no group has `["ungrouped"]`, as in Ansible).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .host_groups(host)
            .into_iter()
            .filter(|g| g.name != "all")
            .map(|g| g.name.clone())
            .collect();
        names.sort();
        names
    }

    /// The host's groups other than `all`, in Ansible's variable order: by depth, then
    /// priority, then name (later ones win).
    fn sorted_groups(&self, host: &str) -> Vec<&Group> {
        let mut groups: Vec<&Group> = self
            .host_groups(host)
            .into_iter()
            .filter(|g| g.name != "all")
            .collect();
        groups.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        groups
    }

    /// The merged inventory-level variables of a host (empty for an unknown host). Mapping
    /// values replace each other whole (Ansible's default `hash_behaviour=replace`).
    pub fn host_vars(&self, host: &str) -> Vars {
        let mut out = Vars::new();
        for layer in self.host_var_layers(host) {
            out.extend(layer.vars);
        }
        out
    }

    /// A host's inventory-level variables layer by layer, lowest precedence first, in
    /// Ansible's order:
    /// 1. inventory-file vars of `all`, then of the host's groups (by depth, priority, name);
    /// 2. inventory `group_vars/all`, then playbook `group_vars/all`;
    /// 3. inventory `group_vars/<group>`, then playbook `group_vars/<group>`;
    /// 4. inventory-file host vars;
    /// 5. inventory `host_vars/<host>`, then playbook `host_vars/<host>`.
    pub fn host_var_layers(&self, host: &str) -> Vec<VarLayer> {
        let Some(h) = self.host(host) else {
            return Vec::new();
        };
        let mut layers = Vec::new();
        let all = self.groups.get("all");
        let groups = self.sorted_groups(host);
        for g in all.into_iter().chain(groups.iter().copied()) {
            if !g.vars.is_empty() {
                layers.push(VarLayer {
                    source: format!("inventory vars of group '{}'", g.name),
                    vars: g.vars.clone(),
                });
            }
        }
        let by_kind = |kind: VarsDirKind| self.vars_dirs.iter().filter(move |d| d.kind == kind);
        let kinds = [VarsDirKind::Inventory, VarsDirKind::Playbook];
        for kind in kinds {
            for dir in by_kind(kind) {
                layers.extend(dir.group_layers("all"));
            }
        }
        for kind in kinds {
            for dir in by_kind(kind) {
                for g in &groups {
                    layers.extend(dir.group_layers(&g.name));
                }
            }
        }
        if !h.vars.is_empty() {
            layers.push(VarLayer {
                source: format!("inventory vars of host '{}'", h.name),
                vars: h.vars.clone(),
            });
        }
        for kind in kinds {
            for dir in by_kind(kind) {
                layers.extend(dir.host_layers(&h.name));
            }
        }
        layers
    }
}

/// The directory whose `group_vars/` and `host_vars/` belong to a source: the source itself
/// when it is a directory, else the file's directory. Host lists have none.
fn vars_base(source: &Path) -> Option<PathBuf> {
    if source.is_dir() {
        return Some(source.to_path_buf());
    }
    if source.to_string_lossy().contains(',') && !source.exists() {
        return None;
    }
    match source.parent() {
        Some(p) if p.as_os_str().is_empty() => Some(PathBuf::from(".")),
        Some(p) => Some(p.to_path_buf()),
        None => None,
    }
}

/// Whether a directory source skips this entry (dotfiles, vars dirs, backup/doc extensions).
fn ignored_in_dir(path: &Path) -> bool {
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return true;
    };
    name.starts_with('.')
        || matches!(name.as_ref(), "group_vars" | "host_vars" | "vars_plugins")
        || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Converts a YAML mapping to variables; `what` names the mapping for the error.
pub(crate) fn node_to_vars(node: &Node, what: &str) -> Result<Vars, InventoryError> {
    if node.is_null() {
        return Ok(Vars::new());
    }
    let Some(entries) = node.as_map() else {
        return Err(InventoryError::invalid(
            node.loc.clone(),
            format!("{what} must be a mapping, found {}", node.type_name()),
        ));
    };
    let mut vars = Vars::new();
    for (k, v) in entries {
        let Some(key) = k.scalar_string() else {
            return Err(InventoryError::invalid(
                k.loc.clone(),
                format!(
                    "variable names in {what} must be strings, found {}",
                    k.type_name()
                ),
            ));
        };
        vars.insert(key, v.to_value());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests;
