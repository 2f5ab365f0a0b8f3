//! What `shipshape inventory` prints: the shapes of `ansible-inventory --list`, `--graph` and
//! `--host NAME`. Rendering only; no loading or merging here.

use minijinja::Value;

use super::{Inventory, Vars};

impl Inventory {
    /// The JSON of `ansible-inventory --list`: `_meta.hostvars` (merged inventory-level
    /// variables of every host that has any), `all.children`, and for each other group with
    /// content its direct `hosts` and `children`.
    pub fn to_list_json(&self) -> serde_json::Value {
        let mut hostvars = serde_json::Map::new();
        for host in self.hosts.keys() {
            let vars = self.host_vars(host);
            if !vars.is_empty() {
                hostvars.insert(host.clone(), vars_json(&vars));
            }
        }
        let mut root = serde_json::Map::new();
        root.insert(
            "_meta".into(),
            serde_json::json!({ "hostvars": serde_json::Value::Object(hostvars) }),
        );
        for group in self.groups.values() {
            let mut entry = serde_json::Map::new();
            if !group.children.is_empty() {
                entry.insert("children".into(), serde_json::json!(group.children));
            }
            if group.name != "all" && !group.hosts.is_empty() {
                entry.insert("hosts".into(), serde_json::json!(group.hosts));
            }
            if group.name == "all" || !entry.is_empty() {
                root.insert(group.name.clone(), serde_json::Value::Object(entry));
            }
        }
        serde_json::Value::Object(root)
    }

    /// The text of `ansible-inventory --graph`: the tree under `all`, child groups before
    /// hosts, each line prefixed with `|--`.
    pub fn graph(&self) -> String {
        self.graph_group("all").unwrap_or_default()
    }

    /// `ansible-inventory --graph GROUP`: the tree under one group (`None` if unknown).
    pub fn graph_group(&self, group: &str) -> Option<String> {
        self.groups.get(group)?;
        let mut out = String::new();
        self.graph_into(group, &mut out);
        Some(out)
    }

    /// Renders the tree with an explicit stack (group chains may be long).
    fn graph_into(&self, root: &str, out: &mut String) {
        enum Item<'a> {
            Group(&'a str, usize),
            Host(&'a str, usize),
        }
        let mut stack = vec![Item::Group(root, 0)];
        while let Some(item) = stack.pop() {
            let (name, depth) = match item {
                Item::Host(name, depth) => {
                    out.push_str(&graph_prefix(depth));
                    out.push_str(name);
                    out.push('\n');
                    continue;
                }
                Item::Group(name, depth) => (name, depth),
            };
            let Some(group) = self.groups.get(name) else {
                continue;
            };
            out.push_str(&graph_prefix(depth));
            out.push('@');
            out.push_str(name);
            out.push_str(":\n");
            // Children print before hosts; the stack pops in reverse.
            if name != "all" {
                for host in group.hosts.iter().rev() {
                    stack.push(Item::Host(host, depth + 1));
                }
            }
            for child in group.children.iter().rev() {
                stack.push(Item::Group(child, depth + 1));
            }
        }
    }

    /// The JSON of `ansible-inventory --host NAME`: the host's merged inventory-level
    /// variables (`None` for a host the inventory does not define).
    pub fn host_json(&self, name: &str) -> Option<serde_json::Value> {
        self.hosts.get(name)?;
        Some(vars_json(&self.host_vars(name)))
    }
}

fn graph_prefix(depth: usize) -> String {
    if depth == 0 {
        String::new()
    } else {
        format!("  {}|--", "|  ".repeat(depth - 1))
    }
}

fn vars_json(vars: &Vars) -> serde_json::Value {
    serde_json::Value::Object(
        vars.iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

/// A template value as JSON; a value JSON cannot hold (a map with odd keys) becomes its text.
fn value_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
}
