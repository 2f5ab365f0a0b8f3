//! YAML inventory files, as Ansible's `yaml` plugin reads them:
//! `all: {hosts: {h: {vars}}, vars: {...}, children: {g: {...}}}`, any group at top level,
//! keys handled in file order, null everywhere a mapping may be empty.

use super::{Inventory, InventoryError, address, node_to_vars};
use crate::yaml::{Node, NodeValue};

/// Parses a YAML inventory document into `inv`.
pub(crate) fn parse(inv: &mut Inventory, doc: &Node) -> Result<(), InventoryError> {
    if doc.is_null() {
        return Ok(());
    }
    let Some(entries) = doc.as_map() else {
        return Err(InventoryError::invalid(
            doc.loc.clone(),
            format!(
                "a YAML inventory must be a mapping of group names, found {}",
                doc.type_name()
            ),
        ));
    };
    if let Some(plugin) = doc.get("plugin") {
        return Err(InventoryError::invalid(
            plugin.loc.clone(),
            format!(
                "inventory plugin configuration files (plugin: {}) are not supported; \
                 export the inventory with `ansible-inventory --list` or use a script",
                plugin.scalar_string().unwrap_or_default()
            ),
        ));
    }
    for (key, value) in entries {
        let name = group_name(key)?;
        if value.is_null() || value.as_map().is_some() {
            parse_group(inv, &name, key, value)?;
        } else {
            inv.warn(format!(
                "{}: skipping '{name}' as this is not a valid group definition",
                key.loc
            ));
        }
    }
    Ok(())
}

fn group_name(key: &Node) -> Result<String, InventoryError> {
    key.scalar_string().ok_or_else(|| {
        InventoryError::invalid(
            key.loc.clone(),
            format!("group names must be strings, found {}", key.type_name()),
        )
    })
}

/// A section value: a mapping, null, or a lone string (Ansible reads `hosts: web1` as
/// `hosts: {web1: null}`).
fn section_entries(value: &Node) -> Option<Vec<(Node, Node)>> {
    match &value.value {
        NodeValue::Map(m) => Some(m.clone()),
        NodeValue::Null => Some(Vec::new()),
        NodeValue::Str(_) | NodeValue::Unsafe(_) => Some(vec![(
            value.clone(),
            Node {
                value: NodeValue::Null,
                loc: value.loc.clone(),
            },
        )]),
        _ => None,
    }
}

fn parse_group(
    inv: &mut Inventory,
    name: &str,
    key: &Node,
    data: &Node,
) -> Result<(), InventoryError> {
    inv.add_group(name, Some(&key.loc));
    let Some(entries) = data.as_map() else {
        return Ok(());
    };
    let mut sections = Vec::new();
    for (k, v) in entries {
        let section = k.scalar_string().unwrap_or_default();
        if matches!(section.as_str(), "vars" | "children" | "hosts") {
            let Some(items) = section_entries(v) else {
                return Err(InventoryError::invalid(
                    v.loc.clone(),
                    format!(
                        "invalid \"{section}\" entry for \"{name}\" group, requires a mapping, \
                         found {} instead",
                        v.type_name()
                    ),
                ));
            };
            sections.push((section, items));
        } else if !v.is_null() && v.as_map().is_none() {
            inv.warn(format!(
                "{}: skipping key ({section}) in group ({name}) as it is not a mapping, it is {}",
                k.loc,
                v.type_name()
            ));
        } else {
            inv.warn(format!(
                "{}: skipping unexpected key ({section}) in group ({name}), only \"vars\", \
                 \"children\" and \"hosts\" are valid",
                k.loc
            ));
        }
    }
    for (section, items) in sections {
        match section.as_str() {
            "vars" => {
                for (k, v) in &items {
                    let var = k.scalar_string().ok_or_else(|| {
                        InventoryError::invalid(
                            k.loc.clone(),
                            format!("variable names must be strings, found {}", k.type_name()),
                        )
                    })?;
                    inv.set_group_var(name, &var, v.to_value());
                }
            }
            "children" => {
                for (k, v) in &items {
                    let child = group_name(k)?;
                    if v.is_null() || v.as_map().is_some() {
                        parse_group(inv, &child, k, v)?;
                    } else {
                        inv.warn(format!(
                            "{}: skipping '{child}' as this is not a valid group definition",
                            k.loc
                        ));
                        inv.add_group(&child, Some(&k.loc));
                    }
                    inv.add_child(name, &child, &k.loc)?;
                }
            }
            _ => {
                for (k, v) in &items {
                    parse_host(inv, name, k, v)?;
                }
            }
        }
    }
    Ok(())
}

fn parse_host(
    inv: &mut Inventory,
    group: &str,
    key: &Node,
    value: &Node,
) -> Result<(), InventoryError> {
    let entry = key.scalar_string().ok_or_else(|| {
        InventoryError::invalid(
            key.loc.clone(),
            format!("host names must be strings, found {}", key.type_name()),
        )
    })?;
    let (names, port) = address::expand_host_entry(&entry)
        .map_err(|m| InventoryError::invalid(key.loc.clone(), m))?;
    let vars = node_to_vars(value, &format!("the variables of host '{entry}'"))?;
    for host in names {
        inv.add_host(&host, group, port, Some(&key.loc));
        for (k, v) in &vars {
            inv.set_host_var(&host, k, v.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn try_load(text: &str) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::default();
        let doc = crate::yaml::parse(text, Path::new("inv.yml"))?;
        parse(&mut inv, &doc)?;
        inv.reconcile()?;
        Ok(inv)
    }

    fn load(text: &str) -> Inventory {
        try_load(text).expect("valid YAML inventory")
    }

    fn var(inv: &Inventory, host: &str, key: &str) -> String {
        let vars = inv.host_vars(host);
        serde_json::to_string(vars.get(key).expect("variable is set")).expect("json")
    }

    const NESTED: &str = "\
all:
  vars:
    lvl: all
  hosts:
    h0:
  children:
    web:
      vars: {lvl: web}
      hosts:
        h1: {x: 1}
        h[2:3]:
      children:
        front:
          vars: {lvl: front}
          hosts:
            h3:
    empty:
    db:
      hosts:
        d1:2222:
          lvl: host
other:
  hosts:
    h9:
  vars:
    ansible_group_priority: 10
    lvl: other
";

    #[test]
    fn nested_groups_hosts_and_vars() {
        let inv = load(NESTED);
        let hosts: Vec<&str> = inv.hosts().map(|h| h.name.as_str()).collect();
        assert_eq!(hosts, ["h0", "h1", "h2", "h3", "d1", "h9"]);
        assert_eq!(inv.group_hosts("web"), ["h1", "h2", "h3"]);
        assert_eq!(inv.group_hosts("all"), ["h0", "h1", "h2", "h3", "d1", "h9"]);
        // h0 is only in `all`, so Ansible also puts it in `ungrouped`.
        assert_eq!(inv.group_hosts("ungrouped"), ["h0"]);
        assert_eq!(var(&inv, "h0", "lvl"), "\"all\"");
        assert_eq!(var(&inv, "h1", "lvl"), "\"web\"");
        assert_eq!(var(&inv, "h1", "x"), "1");
        // front is deeper than web: child groups override parents.
        assert_eq!(var(&inv, "h3", "lvl"), "\"front\"");
        assert_eq!(var(&inv, "d1", "lvl"), "\"host\"");
        assert_eq!(var(&inv, "d1", "ansible_port"), "2222");
        // A top-level group other than `all` becomes a child of `all`.
        assert!(
            inv.group("all")
                .expect("all")
                .children
                .contains(&"other".to_string())
        );
        assert_eq!(var(&inv, "h9", "lvl"), "\"other\"");
        assert!(inv.group("empty").is_some());
    }

    #[test]
    fn null_hosts_sections_and_groups_are_fine() {
        let inv = load("all:\n  hosts:\n  children:\n    web:\n      hosts:\n");
        assert_eq!(inv.hosts().count(), 0);
        assert!(inv.group("web").is_some());
        let inv = load("");
        assert_eq!(inv.hosts().count(), 0);
    }

    #[test]
    fn a_lone_string_is_a_one_entry_mapping() {
        let inv = load("web:\n  hosts: web1\n");
        assert_eq!(inv.group_hosts("web"), ["web1"]);
    }

    #[test]
    fn a_host_in_several_groups_merges_its_vars() {
        let inv = load("all: {hosts: {a: {b: 1}}}\nweb: {hosts: {a: {c: 2}}}\n");
        assert_eq!(var(&inv, "a", "b"), "1");
        assert_eq!(var(&inv, "a", "c"), "2");
        assert_eq!(inv.group_names("a"), ["web"]);
    }

    #[test]
    fn duplicate_group_definitions_merge() {
        let inv = load(
            "all:\n  children:\n    web:\n      hosts: {w1: }\n      vars: {a: 1}\n\
             web:\n  hosts: {w2: }\n  vars: {b: 2}\n",
        );
        assert_eq!(inv.group_hosts("web"), ["w1", "w2"]);
        assert_eq!(var(&inv, "w1", "b"), "2");
        assert_eq!(var(&inv, "w2", "a"), "1");
    }

    #[test]
    fn unknown_keys_are_warnings_like_ansible() {
        let inv = load("all:\n  foo: {hosts: {x: }}\n  bar: 1\nweb: str\n");
        assert_eq!(inv.hosts().count(), 0);
        let w = inv.warnings().join("\n");
        assert!(
            w.contains("inv.yml:2:3: skipping unexpected key (foo) in group (all)"),
            "{w}"
        );
        assert!(
            w.contains("skipping key (bar) in group (all) as it is not a mapping"),
            "{w}"
        );
        assert!(
            w.contains("skipping 'web' as this is not a valid group definition"),
            "{w}"
        );
    }

    fn err(text: &str) -> String {
        try_load(text).expect_err("invalid").to_string()
    }

    #[test]
    fn errors_name_file_line_and_column() {
        assert_eq!(
            err("all:\n  hosts: [a, b]\n"),
            "inv.yml:2:10: invalid \"hosts\" entry for \"all\" group, requires a mapping, found a list instead"
        );
        assert!(err("all:\n  vars: [1]\n").starts_with("inv.yml:2:9: invalid \"vars\" entry"));
        assert!(err("all:\n  children: [web]\n").starts_with("inv.yml:2:13: invalid \"children\""));
        assert_eq!(
            err("all:\n  hosts:\n    a: 5\n"),
            "inv.yml:3:8: the variables of host 'a' must be a mapping, found an integer"
        );
        assert_eq!(
            err("- a\n- b\n"),
            "inv.yml:1:1: a YAML inventory must be a mapping of group names, found a list"
        );
        assert!(err("plugin: aws_ec2\n").contains("plugin: aws_ec2"));
        assert!(err("all:\n  hosts:\n    'h[1:]':\n").starts_with("inv.yml:3:5: host range"));
        assert!(err("all: {a: [\n").starts_with("inv.yml:"));
    }

    #[test]
    fn cycles_through_all_are_errors() {
        assert_eq!(
            err("all:\n  children:\n    web:\nweb:\n  children:\n    all:\n"),
            "inv.yml:6:5: adding group 'all' as a child of 'web' creates a cycle: web -> all -> web"
        );
    }
}
