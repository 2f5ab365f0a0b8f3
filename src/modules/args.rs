//! Module argument parsing: name validation against a [`ModuleSpec`] (unknown names with a
//! "did you mean", missing required, mutually exclusive) and Ansible's lenient coercions
//! (booleans from `yes`/`no`, ints from strings, octal and symbolic modes, comma lists).
//! It reads rendered arguments only; it never templates and never talks to a host.

use serde_json::Value;

use crate::core::{ModuleError, ModuleSpec, ParamKind, ResultMap};

/// Extra argument rules of one module that a [`ModuleSpec`] cannot express.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rules {
    /// Groups of parameters of which at most one may be set.
    pub exclusive: &'static [&'static [&'static str]],
    /// Groups of parameters of which at least one must be set.
    pub one_of: &'static [&'static [&'static str]],
}

impl Rules {
    /// No extra rules.
    pub const NONE: Rules = Rules {
        exclusive: &[],
        one_of: &[],
    };
}

/// Checks the parameter names of a task before connecting: unknown names (with the closest
/// known name), aliases given twice, missing required parameters and mutually exclusive ones.
pub fn check_arg_names(spec: &ModuleSpec, names: &[&str]) -> Result<(), String> {
    let rules = super::registry::rules(spec.name);
    check_names_with(spec, &rules, names)
}

fn check_names_with(spec: &ModuleSpec, rules: &Rules, names: &[&str]) -> Result<(), String> {
    let mut canonical: Vec<(&str, &str)> = Vec::new();
    for &name in names {
        if name == "_raw_params" {
            if spec.free_form {
                canonical.push(("_raw_params", name));
                continue;
            }
            return Err(format!(
                "{} does not take free-form text; use key: value parameters ({})",
                spec.name,
                known_names(spec)
            ));
        }
        match spec.param(name) {
            Some(p) => {
                if let Some((_, other)) = canonical.iter().find(|(c, _)| *c == p.name) {
                    return Err(format!(
                        "{}: parameters '{other}' and '{name}' are the same parameter; set only one",
                        spec.name
                    ));
                }
                canonical.push((p.name, name));
            }
            None => return Err(unknown_message(spec, name)),
        }
    }
    let is_set = |n: &str| canonical.iter().any(|(c, _)| *c == n);
    for p in spec.params.iter().filter(|p| p.required) {
        if !is_set(p.name) {
            return Err(format!(
                "{}: missing required parameter '{}' ({})",
                spec.name, p.name, p.doc
            ));
        }
    }
    for group in rules.exclusive {
        let set: Vec<&str> = group.iter().copied().filter(|n| is_set(n)).collect();
        if set.len() > 1 {
            return Err(format!(
                "{}: parameters are mutually exclusive: {}",
                spec.name,
                set.join(", ")
            ));
        }
    }
    for group in rules.one_of {
        if !group.iter().any(|n| is_set(n)) {
            let shown: Vec<&str> = group
                .iter()
                .map(|n| {
                    if *n == "_raw_params" {
                        "free-form text"
                    } else {
                        n
                    }
                })
                .collect();
            return Err(format!(
                "{}: one of these parameters is required: {}",
                spec.name,
                shown.join(", ")
            ));
        }
    }
    Ok(())
}

fn known_names(spec: &ModuleSpec) -> String {
    spec.params
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_message(spec: &ModuleSpec, name: &str) -> String {
    let candidates = spec
        .params
        .iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()));
    let best = candidates
        .map(|c| (levenshtein(name, c), c))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, c)) if d <= (name.len().max(c.len()) / 2).max(2) => format!(
            "{}: unknown parameter '{name}'; did you mean '{c}'?",
            spec.name
        ),
        _ => format!(
            "{}: unknown parameter '{name}'; accepted: {}",
            spec.name,
            known_names(spec)
        ),
    }
}

/// The edit distance between two strings (insertions, deletions, substitutions).
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A requested file mode, as written in a playbook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// An absolute mode (`0644`, `"644"`, YAML `0644` parsed to 420).
    Octal(u32),
    /// A symbolic mode (`u=rw,g=r,o=r`, `u+x`, `a-w`), applied to the current mode.
    Symbolic(String),
    /// `preserve`: the mode of the source file (copy/template only).
    Preserve,
}

impl ModeArg {
    /// Parses a mode value the way Ansible does: an int is taken as the mode itself (YAML
    /// `0644` arrives as 420); an all-octal-digit string is octal; anything else is symbolic.
    pub fn from_value(v: &Value) -> Result<ModeArg, String> {
        match v {
            Value::Number(n) => {
                let m = n
                    .as_u64()
                    .ok_or_else(|| format!("mode {n} is not a valid file mode"))?;
                if m > 0o7777 {
                    return Err(format!(
                        "mode {n} is out of range; quote octal modes like \"0644\""
                    ));
                }
                Ok(ModeArg::Octal(m as u32))
            }
            Value::String(s) => ModeArg::parse(s),
            other => Err(format!("mode must be a string or a number, got {other}")),
        }
    }

    /// Parses a mode string (`"0644"`, `"0o644"`, `"u+x"`, `"preserve"`).
    pub fn parse(s: &str) -> Result<ModeArg, String> {
        let t = s.trim();
        if t == "preserve" {
            return Ok(ModeArg::Preserve);
        }
        let digits = t.strip_prefix("0o").unwrap_or(t);
        if !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let m = u32::from_str_radix(digits, 8).map_err(|e| format!("mode {s:?}: {e}"))?;
            if m > 0o7777 {
                return Err(format!("mode {s:?} is out of range"));
            }
            return Ok(ModeArg::Octal(m));
        }
        // Validate the symbolic syntax now, against an arbitrary current mode.
        apply_symbolic(t, 0o644, false)?;
        Ok(ModeArg::Symbolic(t.to_string()))
    }

    /// The mode to set given the current one (`current` is the mode of the existing file or
    /// the default for a new one). `Preserve` resolves to `preserve_from` or `current`.
    pub fn resolve(&self, current: u32, is_dir: bool) -> Result<u32, String> {
        match self {
            ModeArg::Octal(m) => Ok(*m),
            ModeArg::Symbolic(s) => apply_symbolic(s, current, is_dir),
            ModeArg::Preserve => Ok(current),
        }
    }

    /// Whether the result depends on the current mode.
    pub fn is_symbolic(&self) -> bool {
        matches!(self, ModeArg::Symbolic(_))
    }
}

/// A symbolic mode with every empty "who" made explicit (`+x` -> `a+x`), so chmod(1) applies
/// it without the umask, as Ansible does.
pub fn canonical_symbolic(spec: &str) -> String {
    spec.split(',')
        .map(|c| {
            if c.starts_with(['+', '-', '=']) {
                format!("a{c}")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Formats a mode like Ansible's results: `"0644"`, `"4755"`.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Applies a symbolic mode (`u=rw,g+x,o-rwx`, `a+X`, `g=u`) to `current` like chmod(1)
/// without a umask: an empty "who" means all.
pub fn apply_symbolic(spec: &str, current: u32, is_dir: bool) -> Result<u32, String> {
    let mut mode = current & 0o7777;
    if spec.is_empty() {
        return Err("empty symbolic mode".to_string());
    }
    for clause in spec.split(',') {
        let bad = || format!("invalid symbolic mode clause {clause:?} in {spec:?}");
        let bytes = clause.as_bytes();
        let mut i = 0;
        let mut who = 0u32;
        while i < bytes.len() && b"ugoa".contains(&bytes[i]) {
            who |= match bytes[i] {
                b'u' => 0o4700,
                b'g' => 0o2070,
                b'o' => 0o1007,
                _ => 0o7777,
            };
            i += 1;
        }
        if who == 0 {
            who = 0o7777;
        }
        if i >= bytes.len() {
            return Err(bad());
        }
        while i < bytes.len() {
            let op = bytes[i];
            if !b"+-=".contains(&op) {
                return Err(bad());
            }
            i += 1;
            let start = i;
            while i < bytes.len() && !b"+-=".contains(&bytes[i]) {
                i += 1;
            }
            let perms = &clause[start..i];
            let bits = perm_bits(perms, mode, is_dir).ok_or_else(bad)?;
            let bits = bits & who;
            match op {
                b'+' => mode |= bits,
                b'-' => mode &= !bits,
                _ => {
                    // `=` clears every bit the "who" covers, then sets.
                    mode = (mode & !who) | bits;
                }
            }
        }
    }
    Ok(mode)
}

/// The bits (for all of u, g, o; masked by "who" later) named by a perm list.
fn perm_bits(perms: &str, current: u32, is_dir: bool) -> Option<u32> {
    if perms.len() == 1 && "ugo".contains(perms) {
        let src = match perms {
            "u" => (current >> 6) & 7,
            "g" => (current >> 3) & 7,
            _ => current & 7,
        };
        return Some(src * 0o111);
    }
    let mut bits = 0;
    for c in perms.chars() {
        bits |= match c {
            'r' => 0o444,
            'w' => 0o222,
            'x' => 0o111,
            'X' => {
                if is_dir || current & 0o111 != 0 {
                    0o111
                } else {
                    0
                }
            }
            's' => 0o6000,
            't' => 0o1000,
            _ => return None,
        };
    }
    Some(bits)
}

/// Parses a boolean the way Ansible does (`yes`/`no`, `true`/`false`, `on`/`off`, `1`/`0`).
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" | "t" => Some(true),
            "no" | "false" | "off" | "0" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A scalar as the string Python's `str()` would give (`True`, `42`, `1.5`).
pub fn value_to_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("True".to_string()),
        Value::Bool(false) => Some("False".to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A task's rendered arguments, validated against the module's spec, with typed getters.
pub struct Args<'a> {
    spec: &'static ModuleSpec,
    map: &'a ResultMap,
}

impl<'a> Args<'a> {
    /// Validates names (unknown, required, exclusive) and value types, then wraps `map`.
    pub fn parse(spec: &'static ModuleSpec, map: &'a ResultMap) -> Result<Self, ModuleError> {
        let names: Vec<&str> = map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, _)| k.as_str())
            .collect();
        check_arg_names(spec, &names).map_err(ModuleError::Args)?;
        let args = Args { spec, map };
        for p in spec.params {
            let Some(v) = args.value(p.name) else {
                continue;
            };
            let ok = match p.kind {
                ParamKind::Bool => parse_bool(v).is_some(),
                ParamKind::Int => as_int(v).is_some(),
                ParamKind::Mode => {
                    ModeArg::from_value(v).map_err(|e| args.err(p.name, &e))?;
                    true
                }
                ParamKind::Str | ParamKind::Path => value_to_string(v).is_some(),
                ParamKind::List => matches!(v, Value::Array(_)) || value_to_string(v).is_some(),
                ParamKind::Dict => v.is_object(),
                ParamKind::Raw => true,
            };
            if !ok {
                return Err(args.err(p.name, &format!("expected {}, got {v}", kind_name(p.kind))));
            }
            if !p.choices.is_empty() {
                let s = value_to_string(v).unwrap_or_default();
                if !p.choices.contains(&s.as_str()) {
                    return Err(args.err(
                        p.name,
                        &format!("value {s:?} is not one of: {}", p.choices.join(", ")),
                    ));
                }
            }
        }
        Ok(args)
    }

    fn err(&self, name: &str, msg: &str) -> ModuleError {
        ModuleError::Args(format!("{}: parameter '{name}': {msg}", self.spec.name))
    }

    /// The raw value of a parameter (by name or alias); `null` counts as unset.
    pub fn value(&self, name: &str) -> Option<&'a Value> {
        let names: Vec<&str> = match self.spec.param(name) {
            Some(p) => std::iter::once(p.name)
                .chain(p.aliases.iter().copied())
                .collect(),
            None => vec![name],
        };
        names
            .iter()
            .filter_map(|n| self.map.get(*n))
            .find(|v| !v.is_null())
    }

    /// Whether a parameter is set.
    pub fn has(&self, name: &str) -> bool {
        self.value(name).is_some()
    }

    /// A string parameter (scalars are converted like Python's `str()`).
    pub fn str(&self, name: &str) -> Result<Option<String>, ModuleError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => value_to_string(v)
                .map(Some)
                .ok_or_else(|| self.err(name, &format!("expected a string, got {v}"))),
        }
    }

    /// A string parameter that must be set.
    pub fn req_str(&self, name: &str) -> Result<String, ModuleError> {
        self.str(name)?.ok_or_else(|| self.err(name, "is required"))
    }

    /// A string parameter restricted to the spec's choices, with a default.
    pub fn choice(&self, name: &str, default: &str) -> Result<String, ModuleError> {
        Ok(self.str(name)?.unwrap_or_else(|| default.to_string()))
    }

    /// A boolean parameter with a default.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.value(name) {
            None => Ok(default),
            Some(v) => {
                parse_bool(v).ok_or_else(|| self.err(name, &format!("expected a boolean, got {v}")))
            }
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ModuleError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => as_int(v)
                .map(Some)
                .ok_or_else(|| self.err(name, &format!("expected an integer, got {v}"))),
        }
    }

    /// A file mode parameter.
    pub fn mode(&self, name: &str) -> Result<Option<ModeArg>, ModuleError> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => ModeArg::from_value(v)
                .map(Some)
                .map_err(|e| self.err(name, &e)),
        }
    }

    /// A list parameter: a list of scalars, or a comma-separated string.
    pub fn list(&self, name: &str) -> Result<Option<Vec<String>>, ModuleError> {
        match self.value(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    value_to_string(i)
                        .ok_or_else(|| self.err(name, &format!("list item {i} is not a scalar")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(v) => {
                let s = value_to_string(v)
                    .ok_or_else(|| self.err(name, &format!("expected a list, got {v}")))?;
                Ok(Some(
                    s.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect(),
                ))
            }
        }
    }
}

fn kind_name(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Str => "a string",
        ParamKind::Bool => "a boolean (yes/no/true/false)",
        ParamKind::Int => "an integer",
        ParamKind::Mode => "a file mode",
        ParamKind::Path => "a path",
        ParamKind::List => "a list",
        ParamKind::Dict => "a mapping",
        ParamKind::Raw => "a value",
    }
}

/// An integer from a number or a numeric string.
pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ParamSpec;
    use serde_json::json;

    static SPEC: ModuleSpec = ModuleSpec {
        name: "demo",
        doc: "a demo module",
        params: &[
            ParamSpec::new("path", ParamKind::Path, "the path")
                .required()
                .aliases(&["dest", "name"]),
            ParamSpec::new("mode", ParamKind::Mode, "the mode"),
            ParamSpec::new("force", ParamKind::Bool, "force it"),
            ParamSpec::new("count", ParamKind::Int, "a count"),
            ParamSpec::new("items", ParamKind::List, "some items"),
            ParamSpec::new("state", ParamKind::Str, "state").choices(&["present", "absent"]),
            ParamSpec::new("content", ParamKind::Str, "content"),
            ParamSpec::new("src", ParamKind::Path, "source"),
        ],
        free_form: false,
    };

    const RULES: Rules = Rules {
        exclusive: &[&["content", "src"]],
        one_of: &[],
    };

    fn map(v: Value) -> ResultMap {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn names_are_checked_with_suggestions() {
        assert!(check_names_with(&SPEC, &RULES, &["path", "mode"]).is_ok());
        assert!(check_names_with(&SPEC, &RULES, &["dest"]).is_ok());
        let e = check_names_with(&SPEC, &RULES, &["path", "mdoe"]).unwrap_err();
        assert!(
            e.contains("unknown parameter 'mdoe'") && e.contains("did you mean 'mode'"),
            "{e}"
        );
        let e = check_names_with(&SPEC, &RULES, &["mode"]).unwrap_err();
        assert!(e.contains("missing required parameter 'path'"), "{e}");
        let e = check_names_with(&SPEC, &RULES, &["path", "content", "src"]).unwrap_err();
        assert!(e.contains("mutually exclusive: content, src"), "{e}");
        let e = check_names_with(&SPEC, &RULES, &["path", "dest"]).unwrap_err();
        assert!(e.contains("same parameter"), "{e}");
        let e = check_names_with(&SPEC, &RULES, &["path", "zzzzzzzzzzzz"]).unwrap_err();
        assert!(e.contains("accepted: path, mode"), "{e}");
        let e = check_names_with(&SPEC, &RULES, &["path", "_raw_params"]).unwrap_err();
        assert!(e.contains("free-form"), "{e}");
    }

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("mode", "mode"), 0);
        assert_eq!(levenshtein("mdoe", "mode"), 2);
    }

    #[test]
    fn booleans_coerce_like_ansible() {
        for (v, want) in [
            (json!("yes"), Some(true)),
            (json!("No"), Some(false)),
            (json!("on"), Some(true)),
            (json!("off"), Some(false)),
            (json!("1"), Some(true)),
            (json!(0), Some(false)),
            (json!(true), Some(true)),
            (json!("maybe"), None),
            (json!(2), None),
        ] {
            assert_eq!(parse_bool(&v), want, "{v}");
        }
    }

    #[test]
    fn modes_parse_and_resolve() {
        assert_eq!(
            ModeArg::from_value(&json!("0644")),
            Ok(ModeArg::Octal(0o644))
        );
        assert_eq!(
            ModeArg::from_value(&json!("644")),
            Ok(ModeArg::Octal(0o644))
        );
        assert_eq!(
            ModeArg::from_value(&json!("0o750")),
            Ok(ModeArg::Octal(0o750))
        );
        // YAML 0644 arrives as 420 and means 0o644.
        assert_eq!(ModeArg::from_value(&json!(420)), Ok(ModeArg::Octal(0o644)));
        assert_eq!(
            ModeArg::from_value(&json!("preserve")),
            Ok(ModeArg::Preserve)
        );
        assert!(ModeArg::from_value(&json!("0999")).is_err());
        assert!(ModeArg::from_value(&json!(99999)).is_err());
        assert!(ModeArg::from_value(&json!("u+q")).is_err());
        assert!(ModeArg::from_value(&json!("rwx")).is_err());
        let sym = |s: &str, cur: u32, dir: bool| apply_symbolic(s, cur, dir).unwrap();
        assert_eq!(sym("u=rw,g=r,o=r", 0o777, false), 0o644);
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("a-w", 0o666, false), 0o444);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("go-rwx", 0o755, false), 0o700);
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("g=u", 0o750, false), 0o770);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("g+s", 0o755, true), 0o2755);
        assert_eq!(sym("+t", 0o777, true), 0o1777);
        assert_eq!(sym("u=rwx,g=rx,o=", 0o666, false), 0o750);
        assert_eq!(sym("u=rw-x+x", 0o600, false), 0o700);
        assert_eq!(canonical_symbolic("+x,u=rw,-w"), "a+x,u=rw,a-w");
        assert_eq!(mode_string(0o644), "0644");
        assert_eq!(mode_string(0o4755), "4755");
        assert_eq!(mode_string(0o100644), "0644");
    }

    #[test]
    fn typed_getters_coerce() {
        let m = map(json!({
            "dest": "/tmp/x", "mode": 420, "force": "yes", "count": "12",
            "items": "a, b,,c", "state": "absent"
        }));
        let a = Args::parse(&SPEC, &m).unwrap();
        assert_eq!(a.req_str("path").unwrap(), "/tmp/x");
        assert_eq!(a.mode("mode").unwrap(), Some(ModeArg::Octal(0o644)));
        assert!(a.bool("force", false).unwrap());
        assert_eq!(a.int("count").unwrap(), Some(12));
        assert_eq!(a.list("items").unwrap().unwrap(), vec!["a", "b", "c"]);
        assert_eq!(a.choice("state", "present").unwrap(), "absent");
        assert_eq!(a.str("content").unwrap(), None);

        let m = map(json!({"path": "/x", "items": ["a", 1, true], "content": 5}));
        let a = Args::parse(&SPEC, &m).unwrap();
        assert_eq!(a.list("items").unwrap().unwrap(), vec!["a", "1", "True"]);
        assert_eq!(a.str("content").unwrap().unwrap(), "5");

        let bad = |v: Value| {
            Args::parse(&SPEC, &map(v))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        assert!(bad(json!({"path": "/x", "force": "perhaps"})).contains("force"));
        assert!(bad(json!({"path": "/x", "count": "ten"})).contains("integer"));
        assert!(bad(json!({"path": "/x", "state": "gone"})).contains("not one of"));
        assert!(bad(json!({"path": "/x", "mode": "u+q"})).contains("mode"));
        assert!(bad(json!({"path": {"a": 1}})).contains("expected a path"));
        // null counts as unset
        let m = map(json!({"path": "/x", "mode": null}));
        assert_eq!(Args::parse(&SPEC, &m).unwrap().mode("mode").unwrap(), None);
    }
}
