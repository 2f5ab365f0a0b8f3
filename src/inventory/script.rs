//! Dynamic inventory: an executable source run with `--list` (and `--host NAME` per host
//! when its output has no `_meta`), read with Ansible's JSON protocol: groups as lists of
//! hosts or as `{hosts, vars, children}`, host variables in `_meta.hostvars`.

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::process::Command;

use indexmap::{IndexMap, IndexSet};
use minijinja::Value;
use minijinja::value::ValueKind;

use super::{Inventory, InventoryError};
use crate::yaml::Location;

/// Whether a source file is a program to run: executable and starting with `#!` (or an ELF
/// binary). Executable files without either are read as INI/YAML, as files copied from
/// another system often carry a stray execute bit.
pub(crate) fn is_script(path: &Path, meta: &Metadata) -> bool {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o111 == 0 {
        return false;
    }
    let mut head = [0u8; 4];
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    head[..n].starts_with(b"#!") || head[..n] == *b"\x7fELF"
}

/// Runs the script and adds what it lists to `inv`.
pub(crate) fn load(inv: &mut Inventory, path: &Path) -> Result<(), InventoryError> {
    let list = run(path, &["--list"])?;
    let parsed: Value = serde_json::from_str(&list)
        .map_err(|e| script_error(path, format!("--list printed invalid JSON: {e}")))?;
    let data: IndexMap<String, Value> = map_entries(&parsed)
        .ok_or_else(|| script_error(path, "--list must print a JSON object".into()))?
        .into_iter()
        .collect();
    let loc = Location::file_start(path);
    let mut hosts: IndexSet<String> = IndexSet::new();
    for (group, value) in &data {
        if group != "_meta" {
            parse_group(inv, path, &loc, group, value, &mut hosts)?;
        }
    }
    match data.get("_meta") {
        Some(meta) => {
            let hostvars = meta.get_attr("hostvars").unwrap_or_default();
            for host in &hosts {
                let vars = hostvars.get_attr(host).unwrap_or_default();
                set_host_vars(inv, path, host, &vars)?;
            }
        }
        None => {
            for host in &hosts {
                let out = run(path, &["--host", host])?;
                let vars: Value = serde_json::from_str(&out).map_err(|e| {
                    script_error(path, format!("--host {host} printed invalid JSON: {e}"))
                })?;
                set_host_vars(inv, path, host, &vars)?;
            }
        }
    }
    Ok(())
}

fn parse_group(
    inv: &mut Inventory,
    path: &Path,
    loc: &Location,
    group: &str,
    value: &Value,
    hosts: &mut IndexSet<String>,
) -> Result<(), InventoryError> {
    inv.add_group(group, Some(loc));
    let (host_list, vars, children) = match value.kind() {
        ValueKind::Seq => (Some(value.clone()), None, None),
        ValueKind::Map => {
            let get = |k: &str| value.get_attr(k).ok().filter(|v| !v.is_undefined());
            let (h, v, c) = (get("hosts"), get("vars"), get("children"));
            if h.is_none() && v.is_none() && c.is_none() {
                // Old short form: a group holding only variables is a host of that name.
                (
                    Some(Value::from(vec![Value::from(group)])),
                    Some(value.clone()),
                    None,
                )
            } else {
                (h, v, c)
            }
        }
        ValueKind::None => (None, None, None),
        _ => {
            return Err(script_error(
                path,
                format!("group '{group}' must be a list of hosts or a mapping, found {value}"),
            ));
        }
    };
    if let Some(list) = host_list.filter(|v| !v.is_none()) {
        for host in strings(&list).ok_or_else(|| {
            script_error(path, format!("group '{group}' has a bad host list: {list}"))
        })? {
            inv.add_host(&host, group, None, Some(loc));
            hosts.insert(host);
        }
    }
    if let Some(vars) = vars.filter(|v| !v.is_none()) {
        let entries = map_entries(&vars).ok_or_else(|| {
            script_error(path, format!("group '{group}' has bad variables: {vars}"))
        })?;
        for (k, v) in entries {
            inv.set_group_var(group, &k, v);
        }
    }
    if let Some(children) = children.filter(|v| !v.is_none()) {
        for child in strings(&children).ok_or_else(|| {
            script_error(
                path,
                format!("group '{group}' has bad children: {children}"),
            )
        })? {
            inv.add_child(group, &child, loc)?;
        }
    }
    Ok(())
}

fn set_host_vars(
    inv: &mut Inventory,
    path: &Path,
    host: &str,
    vars: &Value,
) -> Result<(), InventoryError> {
    if vars.is_undefined() || vars.is_none() {
        return Ok(());
    }
    let entries = map_entries(vars).ok_or_else(|| {
        script_error(
            path,
            format!("variables of host '{host}' must be a mapping: {vars}"),
        )
    })?;
    for (k, v) in entries {
        inv.set_host_var(host, &k, v);
    }
    Ok(())
}

fn strings(list: &Value) -> Option<Vec<String>> {
    if list.kind() != ValueKind::Seq {
        return None;
    }
    list.try_iter()
        .ok()?
        .map(|v| v.as_str().map(String::from))
        .collect()
}

fn map_entries(map: &Value) -> Option<Vec<(String, Value)>> {
    if map.kind() != ValueKind::Map {
        return None;
    }
    map.try_iter()
        .ok()?
        .map(|k| {
            let v = map.get_item(&k).ok()?;
            Some((k.as_str().map_or_else(|| k.to_string(), String::from), v))
        })
        .collect()
}

fn script_error(path: &Path, what: String) -> InventoryError {
    InventoryError::Script {
        file: path.to_path_buf(),
        what,
    }
}

/// Runs the script with `args`, returning its stdout; a failure carries exit code and stderr.
fn run(path: &Path, args: &[&str]) -> Result<String, InventoryError> {
    let program: PathBuf = if path.components().count() == 1 && !path.is_absolute() {
        Path::new(".").join(path)
    } else {
        path.to_path_buf()
    };
    let output = Command::new(&program)
        .args(args)
        .output()
        .map_err(|e| script_error(path, format!("cannot be run: {e}")))?;
    if !output.status.success() {
        let code = output.status.code().map_or_else(
            || "killed by a signal".to_string(),
            |c| format!("exit code {c}"),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(script_error(
            path,
            format!("{} failed ({code}): {}", args.join(" "), stderr.trim()),
        ));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| script_error(path, format!("{} printed non-UTF-8 output", args.join(" "))))
}
