//! INI inventory files, as Ansible's `ini` plugin reads them: `[group]`, `[group:children]`,
//! `[group:vars]`, host lines with inline `key=value` variables (typed as Python literals),
//! host ranges and `host:port`, `#`/`;` comment lines, and hosts before any section in
//! `ungrouped`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use indexmap::IndexMap;
use minijinja::Value;
use regex::Regex;

use super::{Inventory, InventoryError, address, literal};
use crate::yaml::Location;

/// `[name]` or `[name:kind]`, optionally followed by a `#` comment.
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("static regex is valid")
});

/// A group name line in a `:children` section.
static CHILD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("static regex is valid"));

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Hosts,
    Vars,
    Children,
}

/// Declarations waiting for their group to be defined later in the same file.
#[derive(Default)]
struct Pending {
    /// `[g:vars]` of a group not defined yet: the header line and the variables.
    vars: IndexMap<String, (usize, Vec<(String, Value)>)>,
    /// Children named before their definition: child -> (parent, line).
    children: IndexMap<String, Vec<(String, usize)>>,
}

/// Parses INI inventory `text` from `file` into `inv`.
pub(crate) fn parse(inv: &mut Inventory, file: &Path, text: &str) -> Result<(), InventoryError> {
    let file = Arc::new(file.to_path_buf());
    let loc = |line: usize| Location {
        file: file.clone(),
        line,
        col: 1,
    };
    let mut group = String::from("ungrouped");
    let mut section = Section::Hosts;
    let mut pending = Pending::default();

    for (index, raw) in text.lines().enumerate() {
        let lineno = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(caps) = SECTION.captures(line) {
            group = caps[1].to_string();
            let kind = caps.get(2).map_or("hosts", |m| m.as_str());
            section = match kind {
                "hosts" => Section::Hosts,
                "vars" => Section::Vars,
                "children" => Section::Children,
                other => {
                    return Err(InventoryError::invalid(
                        loc(lineno),
                        format!("section [{group}:{other}] has unknown type: {other}"),
                    ));
                }
            };
            if !group.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                inv.warn(format!(
                    "{}: invalid characters in group name '{group}' (kept as is)",
                    loc(lineno)
                ));
            }
            if section == Section::Vars {
                if inv.group(&group).is_none() {
                    pending
                        .vars
                        .entry(group.clone())
                        .or_insert((lineno, Vec::new()));
                }
            } else {
                inv.add_group(&group, Some(&loc(lineno)));
                define(inv, &group, &mut pending, &file)?;
            }
            continue;
        }
        // `[web` (a section header missing its `]`) is a typo, not a host named "[web".
        if line.starts_with('[') && !line.contains(']') {
            return Err(InventoryError::invalid(
                loc(lineno),
                format!("invalid section entry: '{line}' has no closing ']'"),
            ));
        }
        if line.starts_with('[') && line.ends_with(']') {
            return Err(InventoryError::invalid(
                loc(lineno),
                format!(
                    "invalid section entry: '{line}'. Make sure there are no spaces or other \
                     invalid characters in the section entry"
                ),
            ));
        }
        match section {
            Section::Hosts => {
                let (entry, vars) =
                    host_line(line).map_err(|m| InventoryError::invalid(loc(lineno), m))?;
                let (names, port) = address::expand_host_entry(&entry)
                    .map_err(|m| InventoryError::invalid(loc(lineno), m))?;
                for name in names {
                    inv.add_host(&name, &group, port, Some(&loc(lineno)));
                    for (k, v) in &vars {
                        inv.set_host_var(&name, k, v.clone());
                    }
                }
            }
            Section::Vars => {
                let Some((k, v)) = line.split_once('=') else {
                    return Err(InventoryError::invalid(
                        loc(lineno),
                        format!("expected key=value in [{group}:vars], got: {line}"),
                    ));
                };
                let (key, value) = (k.trim(), literal::ini_value(v.trim()));
                if key.is_empty() {
                    return Err(InventoryError::invalid(
                        loc(lineno),
                        format!("missing variable name in [{group}:vars]: {line}"),
                    ));
                }
                match pending.vars.get_mut(&group) {
                    Some((_, vars)) => vars.push((key.to_string(), value)),
                    None => inv.set_group_var(&group, key, value),
                }
            }
            Section::Children => {
                let Some(caps) = CHILD.captures(line) else {
                    return Err(InventoryError::invalid(
                        loc(lineno),
                        format!("expected a group name in [{group}:children], got: {line}"),
                    ));
                };
                let child = caps[1].to_string();
                if inv.group(&child).is_some() {
                    inv.add_child(&group, &child, &loc(lineno))?;
                } else {
                    pending
                        .children
                        .entry(child)
                        .or_default()
                        .push((group.clone(), lineno));
                }
            }
        }
    }

    if let Some((name, (line, _))) = pending.vars.first() {
        return Err(InventoryError::invalid(
            loc(*line),
            format!("section [{name}:vars] not valid for undefined group: {name}"),
        ));
    }
    if let Some((child, refs)) = pending.children.first()
        && let Some((parent, line)) = refs.first()
    {
        return Err(InventoryError::invalid(
            loc(*line),
            format!("section [{parent}:children] includes undefined group: {child}"),
        ));
    }
    Ok(())
}

/// A group just got defined: apply the declarations that were waiting for it.
fn define(
    inv: &mut Inventory,
    group: &str,
    pending: &mut Pending,
    file: &Arc<PathBuf>,
) -> Result<(), InventoryError> {
    if let Some((_, vars)) = pending.vars.shift_remove(group) {
        for (k, v) in vars {
            inv.set_group_var(group, &k, v);
        }
    }
    if let Some(parents) = pending.children.shift_remove(group) {
        for (parent, line) in parents {
            let loc = Location {
                file: file.clone(),
                line,
                col: 1,
            };
            inv.add_child(&parent, group, &loc)?;
        }
    }
    Ok(())
}

/// Splits a host line into the host entry and its typed variables.
fn host_line(line: &str) -> Result<(String, Vec<(String, Value)>), String> {
    let tokens =
        shlex_split(line).map_err(|e| format!("error parsing host definition '{line}': {e}"))?;
    let mut tokens = tokens.into_iter();
    let Some(entry) = tokens.next() else {
        return Err(format!("no host in line: {line}"));
    };
    let mut vars = Vec::new();
    for token in tokens {
        let Some((k, v)) = token.split_once('=') else {
            return Err(format!(
                "expected key=value host variable assignment, got: {token}"
            ));
        };
        vars.push((k.to_string(), literal::ini_value(v)));
    }
    Ok((entry, vars))
}

/// POSIX shell-like word splitting with `#` comments (Python's `shlex.split(line,
/// comments=True)`): quotes group and are removed, `\` escapes outside single quotes.
fn shlex_split(line: &str) -> Result<Vec<String>, &'static str> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    let mut in_token = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_token {
                    tokens.push(std::mem::take(&mut token));
                    in_token = false;
                }
            }
            '#' => break,
            '\'' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => token.push(c),
                        None => return Err("no closing quotation"),
                    }
                }
            }
            '"' => {
                in_token = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => token.push(e),
                            Some(e) => {
                                token.push('\\');
                                token.push(e);
                            }
                            None => return Err("no closing quotation"),
                        },
                        Some(c) => token.push(c),
                        None => return Err("no closing quotation"),
                    }
                }
            }
            '\\' => {
                in_token = true;
                match chars.next() {
                    Some(e) => token.push(e),
                    None => return Err("no escaped character"),
                }
            }
            c => {
                in_token = true;
                token.push(c);
            }
        }
    }
    if in_token {
        tokens.push(token);
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Inventory {
        try_load(text).expect("valid INI inventory")
    }

    fn try_load(text: &str) -> Result<Inventory, InventoryError> {
        let mut inv = Inventory::default();
        parse(&mut inv, Path::new("hosts.ini"), text)?;
        inv.reconcile()?;
        Ok(inv)
    }

    fn var(inv: &Inventory, host: &str, key: &str) -> String {
        let vars = inv.host_vars(host);
        serde_json::to_string(vars.get(key).expect("variable is set")).expect("json")
    }

    fn names<'a>(it: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        it.collect()
    }

    #[test]
    fn hosts_before_any_section_are_ungrouped() {
        let inv = load("lonely\n[web]\nw1\n");
        assert_eq!(inv.group_hosts("ungrouped"), ["lonely"]);
        assert_eq!(inv.group_hosts("web"), ["w1"]);
        assert_eq!(inv.group_hosts("all"), ["lonely", "w1"]);
    }

    #[test]
    fn comments_blank_lines_and_trailing_comments() {
        let inv =
            load("# comment\n; also a comment\n\n[web]   # the web tier\nw1 x=1 # trailing\n");
        assert_eq!(inv.group_hosts("web"), ["w1"]);
        assert_eq!(var(&inv, "w1", "x"), "1");
    }

    #[test]
    fn ranges_expand_in_host_lines() {
        let inv = load("[web]\nweb[01:03]\n[db]\ndb-[a:c]\n[odd]\nh[1:10:4]\n");
        assert_eq!(inv.group_hosts("web"), ["web01", "web02", "web03"]);
        assert_eq!(inv.group_hosts("db"), ["db-a", "db-b", "db-c"]);
        assert_eq!(inv.group_hosts("odd"), ["h1", "h5", "h9"]);
    }

    #[test]
    fn inline_host_vars_are_python_literals_after_shell_splitting() {
        let inv = load(
            "[web]\nweb1 ansible_host=10.0.0.1 ansible_port=2222 http_port=8000 on=True \
             name=\"two words\" list=[1,2] mode=0755 f=1.5 none=None yes=yes q='it''s'\n",
        );
        assert_eq!(var(&inv, "web1", "ansible_host"), "\"10.0.0.1\"");
        assert_eq!(var(&inv, "web1", "ansible_port"), "2222");
        assert_eq!(var(&inv, "web1", "http_port"), "8000");
        assert_eq!(var(&inv, "web1", "on"), "true");
        assert_eq!(var(&inv, "web1", "name"), "\"two words\"");
        assert_eq!(var(&inv, "web1", "list"), "[1,2]");
        assert_eq!(var(&inv, "web1", "mode"), "\"0755\"");
        assert_eq!(var(&inv, "web1", "f"), "1.5");
        assert_eq!(var(&inv, "web1", "none"), "null");
        assert_eq!(var(&inv, "web1", "yes"), "\"yes\"");
        assert_eq!(var(&inv, "web1", "q"), "\"its\"");
    }

    #[test]
    fn group_vars_sections_keep_quotes_for_literal_evaluation() {
        let inv = load(
            "[web]\nw1\n[web:vars]\nport=12\nmotd = hello world  # not a comment\nflag=True\n\
             quoted=\"quoted\"\nyaml_bool=FALSE\nlist=[1, 2]\nempty=\n",
        );
        assert_eq!(var(&inv, "w1", "port"), "12");
        assert_eq!(var(&inv, "w1", "motd"), "\"hello world  # not a comment\"");
        assert_eq!(var(&inv, "w1", "flag"), "true");
        assert_eq!(var(&inv, "w1", "quoted"), "\"quoted\"");
        assert_eq!(var(&inv, "w1", "yaml_bool"), "\"FALSE\"");
        assert_eq!(var(&inv, "w1", "list"), "[1,2]");
        assert_eq!(var(&inv, "w1", "empty"), "\"\"");
    }

    #[test]
    fn host_colon_port_sets_ansible_port_only_for_a_new_host() {
        let inv = load("[db]\ndb1:2222\n[fe]\n[fe80::1]:22\n::1\n[again]\ndb1:9999\n");
        assert_eq!(var(&inv, "db1", "ansible_port"), "2222");
        assert_eq!(var(&inv, "fe80::1", "ansible_port"), "22");
        assert!(inv.host("::1").is_some());
    }

    #[test]
    fn children_may_be_named_before_they_are_defined() {
        let inv = load("[prod:children]\nweb\ndb\n[web]\nw1\n[db]\nd1\n[db:vars]\nx=1\n");
        assert_eq!(inv.group("prod").expect("prod").children, ["web", "db"]);
        assert_eq!(inv.group_hosts("prod"), ["w1", "d1"]);
        assert_eq!(
            names(inv.group_names("d1").iter().map(String::as_str)),
            ["db", "prod"]
        );
    }

    #[test]
    fn vars_may_come_before_the_group_definition() {
        let inv = load("[g:vars]\nk=1\n[g]\nh1\n");
        assert_eq!(var(&inv, "h1", "k"), "1");
    }

    #[test]
    fn all_section_vars_apply_to_every_host() {
        let inv = load("[web]\nw1\n[all:vars]\nntp=pool.ntp.org\n[all]\nlone\n");
        assert_eq!(var(&inv, "w1", "ntp"), "\"pool.ntp.org\"");
        assert_eq!(inv.group_hosts("ungrouped"), ["lone"]);
    }

    #[test]
    fn duplicate_sections_merge() {
        let inv = load("[web]\nw1\n[db]\nd1\n[web]\nw2\n[web:vars]\na=1\n[web:vars]\nb=2\n");
        assert_eq!(inv.group_hosts("web"), ["w1", "w2"]);
        assert_eq!(var(&inv, "w2", "a"), "1");
        assert_eq!(var(&inv, "w2", "b"), "2");
    }

    fn err(text: &str) -> String {
        try_load(text).expect_err("invalid inventory").to_string()
    }

    #[test]
    fn errors_name_file_and_line() {
        assert_eq!(
            err("[a]\nh1\nh2 novalue\n"),
            "hosts.ini:3:1: expected key=value host variable assignment, got: novalue"
        );
        assert!(
            err("[a]\nh1 x=\"unclosed\n")
                .starts_with("hosts.ini:2:1: error parsing host definition")
        );
        assert!(err("[a]\nh1:\n").starts_with("hosts.ini:2:1: invalid host pattern 'h1:'"));
        assert!(err("[a]\nweb[01:3]\n").starts_with("hosts.ini:2:1: host range"));
        assert_eq!(
            err("[a:bogus]\n"),
            "hosts.ini:1:1: section [a:bogus] has unknown type: bogus"
        );
        assert!(err("[a b]\n").starts_with("hosts.ini:1:1: invalid section entry"));
        assert_eq!(
            err("[a]\nh\n[a:vars]\nnovalue\n"),
            "hosts.ini:4:1: expected key=value in [a:vars], got: novalue"
        );
        assert_eq!(
            err("[a:children]\nb c\n"),
            "hosts.ini:2:1: expected a group name in [a:children], got: b c"
        );
    }

    #[test]
    fn undefined_groups_are_errors_as_in_ansible() {
        // ansible-core 2.19: "Section [prod:children] includes undefined group 'nope'".
        assert_eq!(
            err("[web]\nw1\n[prod:children]\nweb\nnope\n"),
            "hosts.ini:5:1: section [prod:children] includes undefined group: nope"
        );
        assert_eq!(
            err("[x]\nh\n[ghost:vars]\nk=1\n"),
            "hosts.ini:3:1: section [ghost:vars] not valid for undefined group: ghost"
        );
    }

    #[test]
    fn cycles_are_errors_naming_the_groups() {
        let e = err("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n");
        assert_eq!(
            e,
            "hosts.ini:6:1: adding group 'a' as a child of 'c' creates a cycle: c -> a -> b -> c"
        );
        assert!(err("[a:children]\na\n").contains("cycle: a -> a"));
    }

    #[test]
    fn shell_splitting() {
        assert_eq!(
            shlex_split(r#"h a="x y" b='q"' c=d\ e f=g#h"#).expect("valid"),
            ["h", "a=x y", "b=q\"", "c=d e", "f=g"]
        );
        assert_eq!(shlex_split(r#"a="\n""#).expect("valid"), ["a=\\n"]);
        assert!(shlex_split("a='x").is_err());
        assert!(shlex_split("a\\").is_err());
    }
}
