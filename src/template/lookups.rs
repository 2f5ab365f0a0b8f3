//! Lookup plugins on the controller (`lookup(name, ...)`, `query`/`q`): `file`, `env`,
//! `template`, `pipe`, `lines`, `vars`, `items`, `list`, `dict`, `sequence`, `nested`,
//! `together`, `indexed_items`, `fileglob`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

use super::error::TemplateError;
use super::filters::fail;
use super::python::{map_entries, py_str};
use super::scope::{ROOT_KEY, ScopeRoot};
use super::templar::path_list;

/// The lookup plugins this build has.
pub const LOOKUPS: &[&str] = &[
    "file",
    "env",
    "template",
    "pipe",
    "lines",
    "vars",
    "items",
    "list",
    "dict",
    "sequence",
    "nested",
    "together",
    "indexed_items",
    "fileglob",
];

/// Adds `lookup`, `query` and `q`.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", lookup);
    env.add_function("query", query);
    env.add_function("q", query);
}

fn kwargs_map(kwargs: &Kwargs) -> Result<IndexMap<String, Value>, Error> {
    let mut out = IndexMap::new();
    let names: Vec<String> = kwargs.args().map(str::to_string).collect();
    for name in names {
        let v: Value = kwargs.get(&name)?;
        out.insert(name, v);
    }
    Ok(out)
}

fn root_of(state: &State) -> Result<Value, Error> {
    state
        .lookup(ROOT_KEY)
        .ok_or_else(|| fail("lookup", "no variable scope is available here"))
}

/// `lookup(name, *terms, wantlist=False, **options)`: joins string results with commas,
/// like Ansible.
fn lookup(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut options = kwargs_map(&kwargs)?;
    let wantlist = options
        .shift_remove("wantlist")
        .is_some_and(|v| v.is_true());
    let root = root_of(state)?;
    let results = run(&name, &terms, &options, &root)?;
    if wantlist {
        return Ok(Value::from(results));
    }
    if results.iter().all(|r| r.kind() == ValueKind::String) {
        return Ok(Value::from(
            results.iter().map(py_str).collect::<Vec<_>>().join(","),
        ));
    }
    if results.len() == 1 {
        return Ok(results.into_iter().next().unwrap_or_default());
    }
    Ok(Value::from(results))
}

/// `query(name, *terms, **options)`: always a list.
fn query(state: &State, name: String, terms: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let options = kwargs_map(&kwargs)?;
    let root = root_of(state)?;
    Ok(Value::from(run(&name, &terms, &options, &root)?))
}

/// Runs a lookup for [`super::Templar::query`].
pub(crate) fn run_with_root(
    name: &str,
    terms: &[Value],
    options: &IndexMap<String, Value>,
    root: &Value,
) -> Result<Vec<Value>, TemplateError> {
    run(name, terms, options, root).map_err(|e| {
        super::error::carried(&e).unwrap_or_else(|| TemplateError::failed(e.to_string()))
    })
}

/// The terms of a lookup: a single list argument stands for its items.
fn terms_of(terms: &[Value]) -> Vec<Value> {
    if let [single] = terms
        && single.kind() == ValueKind::Seq
    {
        return single.try_iter().map(|i| i.collect()).unwrap_or_default();
    }
    terms.to_vec()
}

fn opt_bool(options: &IndexMap<String, Value>, name: &str, default: bool) -> bool {
    options.get(name).map(Value::is_true).unwrap_or(default)
}

fn scope_root(root: &Value) -> Result<Arc<ScopeRoot>, Error> {
    root.downcast_object::<ScopeRoot>()
        .ok_or_else(|| fail("lookup", "no variable scope is available here"))
}

/// Finds a controller file: absolute, or relative to the directories of the scope list
/// variable `var`, then the current directory.
fn find_file(root: &Value, var: &str, term: &str) -> Option<PathBuf> {
    let p = Path::new(term);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let dirs = root
        .get_attr(var)
        .ok()
        .filter(|v| !v.is_undefined())
        .map(|v| path_list(&v))
        .unwrap_or_default();
    dirs.iter()
        .map(|d| d.join(term))
        .chain(std::iter::once(PathBuf::from(term)))
        .find(|c| c.is_file())
}

fn run(
    name: &str,
    terms: &[Value],
    options: &IndexMap<String, Value>,
    root: &Value,
) -> Result<Vec<Value>, Error> {
    let name = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    match name {
        "file" => {
            let rstrip = opt_bool(options, "rstrip", true);
            let lstrip = opt_bool(options, "lstrip", false);
            terms_of(terms)
                .iter()
                .map(|t| {
                    let term = py_str(t);
                    let path = find_file(root, "__file_search", &term).ok_or_else(|| {
                        fail(
                            "lookup('file')",
                            format!("could not locate file in lookup: {term}"),
                        )
                    })?;
                    let mut content = std::fs::read_to_string(&path).map_err(|e| {
                        fail(
                            "lookup('file')",
                            format!("could not read {}: {e}", path.display()),
                        )
                    })?;
                    if rstrip {
                        content.truncate(content.trim_end().len());
                    }
                    if lstrip {
                        content = content.trim_start().to_string();
                    }
                    Ok(Value::from(content))
                })
                .collect()
        }
        "env" => {
            let default = options.get("default").cloned();
            terms_of(terms)
                .iter()
                .map(|t| {
                    let var = py_str(t);
                    Ok(match std::env::var(&var) {
                        Ok(v) => Value::from(v),
                        Err(_) => default.clone().unwrap_or_else(|| Value::from("")),
                    })
                })
                .collect()
        }
        "pipe" | "lines" => {
            let mut out = Vec::new();
            for t in terms_of(terms) {
                let cmd = py_str(&t);
                let output = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(&cmd)
                    .output()
                    .map_err(|e| {
                        fail(
                            &format!("lookup('{name}')"),
                            format!("cannot run {cmd:?}: {e}"),
                        )
                    })?;
                if !output.status.success() {
                    return Err(fail(
                        &format!("lookup('{name}')"),
                        format!(
                            "command {cmd:?} returned {}",
                            output.status.code().unwrap_or(-1)
                        ),
                    ));
                }
                let stdout = String::from_utf8_lossy(&output.stdout);
                if name == "pipe" {
                    out.push(Value::from(stdout.trim_end()));
                } else {
                    out.extend(stdout.lines().map(Value::from));
                }
            }
            Ok(out)
        }
        "template" => {
            let sr = scope_root(root)?;
            let mut scope = sr.scope.clone();
            if let Some(extra) = options
                .get("template_vars")
                .filter(|v| v.kind() == ValueKind::Map)
            {
                let layer: crate::core::Vars = map_entries(extra)
                    .into_iter()
                    .map(|(k, v)| (py_str(&k), v))
                    .collect();
                scope = scope.with_layer(Arc::new(layer));
            }
            let inner_root = ScopeRoot::value(&scope, &sr.templar);
            let mut out = Vec::new();
            for t in terms_of(terms) {
                let term = py_str(&t);
                let path = find_file(root, "__template_search", &term)
                    .or_else(|| find_file(root, "__file_search", &term))
                    .ok_or_else(|| {
                        fail(
                            "lookup('template')",
                            format!("the template file {term} could not be found for the lookup"),
                        )
                    })?;
                let source = std::fs::read_to_string(&path).map_err(|e| {
                    fail(
                        "lookup('template')",
                        format!("could not read {}: {e}", path.display()),
                    )
                })?;
                let rendered = sr
                    .templar
                    .render_file_in(&source, &path.to_string_lossy(), &inner_root)
                    .map_err(TemplateError::into_minijinja)?;
                out.push(Value::from(rendered));
            }
            Ok(out)
        }
        "vars" => {
            let default = options.get("default").cloned();
            terms_of(terms)
                .iter()
                .map(|t| {
                    let var = py_str(t);
                    let v = root.get_attr(&var)?;
                    if v.is_undefined() {
                        default.clone().ok_or_else(|| {
                            fail(
                                "lookup('vars')",
                                format!("No variable found with this name: {var}"),
                            )
                        })
                    } else {
                        Ok(v)
                    }
                })
                .collect()
        }
        "items" => {
            let mut out = Vec::new();
            for t in terms {
                if t.kind() == ValueKind::Seq {
                    out.extend(t.try_iter()?);
                } else {
                    out.push(t.clone());
                }
            }
            Ok(out)
        }
        "list" => Ok(terms_of(terms)),
        "dict" => {
            let mut out = Vec::new();
            for t in terms_of(terms) {
                if t.kind() != ValueKind::Map {
                    return Err(fail("lookup('dict')", "with_dict expects a dict"));
                }
                for (k, v) in map_entries(&t) {
                    let mut m = IndexMap::new();
                    m.insert(Value::from("key"), k);
                    m.insert(Value::from("value"), v);
                    out.push(Value::from(m));
                }
            }
            Ok(out)
        }
        "indexed_items" => Ok(terms_of(terms)
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::from(vec![Value::from(i), v]))
            .collect()),
        "nested" => {
            let lists = lists_of(name, terms)?;
            let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
            for list in lists {
                let mut next = Vec::new();
                for prefix in &acc {
                    for item in &list {
                        let mut row = prefix.clone();
                        row.push(item.clone());
                        next.push(row);
                    }
                }
                acc = next;
            }
            Ok(acc.into_iter().map(Value::from).collect())
        }
        "together" => {
            let lists = lists_of(name, terms)?;
            let len = lists.iter().map(Vec::len).max().unwrap_or(0);
            Ok((0..len)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect())
        }
        "sequence" => {
            let mut out = Vec::new();
            for t in terms_of(terms) {
                out.extend(sequence(&py_str(&t))?.into_iter().map(Value::from));
            }
            Ok(out)
        }
        "fileglob" => {
            let mut out = Vec::new();
            for t in terms_of(terms) {
                let pattern = py_str(&t);
                let dirs = if Path::new(&pattern).is_absolute() {
                    vec![PathBuf::new()]
                } else {
                    let mut d = root
                        .get_attr("__file_search")
                        .ok()
                        .filter(|v| !v.is_undefined())
                        .map(|v| path_list(&v))
                        .unwrap_or_default();
                    d.push(PathBuf::from("."));
                    d
                };
                for dir in dirs {
                    let full = dir.join(&pattern);
                    let Ok(paths) = glob::glob(&full.to_string_lossy()) else {
                        return Err(fail(
                            "lookup('fileglob')",
                            format!("bad pattern {pattern:?}"),
                        ));
                    };
                    let found: Vec<Value> = paths
                        .flatten()
                        .filter(|p| p.is_file())
                        .map(|p| Value::from(p.to_string_lossy().into_owned()))
                        .collect();
                    if !found.is_empty() {
                        out.extend(found);
                        break;
                    }
                }
            }
            Ok(out)
        }
        other => Err(fail(
            "lookup",
            format!(
                "lookup plugin '{other}' not found (available: {})",
                LOOKUPS.join(", ")
            ),
        )),
    }
}

fn lists_of(name: &str, terms: &[Value]) -> Result<Vec<Vec<Value>>, Error> {
    terms_of(terms)
        .iter()
        .map(|t| match t.kind() {
            ValueKind::Seq => Ok(t.try_iter()?.collect()),
            _ => Err(fail(
                &format!("lookup('{name}')"),
                "expects a list of lists",
            )),
        })
        .collect()
}

/// The `sequence` lookup: `start=1 end=5 stride=1 format=%d` or `count=N`, or the short form
/// `[start-]end[/stride][:format]`.
fn sequence(spec: &str) -> Result<Vec<String>, Error> {
    let err = |m: String| fail("lookup('sequence')", m);
    let mut start: i64 = 1;
    let mut end: Option<i64> = None;
    let mut count: Option<i64> = None;
    let mut stride: i64 = 1;
    let mut format = "%d".to_string();
    let parse = |s: &str| -> Result<i64, Error> {
        let s = s.trim();
        let (neg, d) = match s.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, s),
        };
        let n = if let Some(h) = d.strip_prefix("0x") {
            i64::from_str_radix(h, 16)
        } else if let Some(o) = d.strip_prefix("0o") {
            i64::from_str_radix(o, 8)
        } else {
            d.parse::<i64>()
        }
        .map_err(|_| err(format!("can't parse {s:?} as an integer")))?;
        Ok(if neg { -n } else { n })
    };
    if spec.contains('=') {
        for part in spec.split_whitespace() {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("can't parse arg {part:?}")))?;
            match k {
                "start" => start = parse(v)?,
                "end" => end = Some(parse(v)?),
                "count" => count = Some(parse(v)?),
                "stride" => stride = parse(v)?,
                "format" => format = v.to_string(),
                other => return Err(err(format!("unrecognized arg {other:?}"))),
            }
        }
    } else {
        let (rest, fmt) = match spec.split_once(':') {
            Some((r, f)) => (r, Some(f)),
            None => (spec, None),
        };
        if let Some(f) = fmt {
            format = f.to_string();
        }
        let (range, st) = match rest.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (rest, None),
        };
        if let Some(s) = st {
            stride = parse(s)?;
        }
        match range.split_once('-') {
            Some((a, b)) if !a.is_empty() => {
                start = parse(a)?;
                end = Some(parse(b)?);
            }
            _ => end = Some(parse(range)?),
        }
    }
    if let Some(c) = count {
        if end.is_some() {
            return Err(err(
                "can't specify both count and end in with_sequence".into()
            ));
        }
        end = Some(if c == 0 {
            start - stride
        } else {
            start + (c - 1) * stride
        });
        if c == 0 {
            return Ok(Vec::new());
        }
    }
    let end = end.ok_or_else(|| err("must specify count or end in with_sequence".into()))?;
    if stride == 0 {
        return Err(err("stride can't be zero".into()));
    }
    if (stride > 0 && end < start) || (stride < 0 && end > start) {
        return Err(err("to count backwards make stride negative".into()));
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(printf_int(&format, i));
        i += stride;
    }
    Ok(out)
}

/// Formats one integer with a printf-style format holding one `%d`/`%x`/`%o`/`%s`
/// conversion (with optional zero padding and width).
fn printf_int(format: &str, n: i64) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '-' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        let zero = spec.starts_with('0');
        let width: usize = spec.trim_start_matches(['0', '-']).parse().unwrap_or(0);
        let body = match chars.next() {
            Some('d') | Some('i') | Some('s') => n.to_string(),
            Some('x') => format!("{n:x}"),
            Some('X') => format!("{n:X}"),
            Some('o') => format!("{n:o}"),
            Some('%') => {
                out.push('%');
                continue;
            }
            Some(other) => format!("%{spec}{other}"),
            None => format!("%{spec}"),
        };
        if zero {
            out.push_str(&format!("{body:0>width$}"));
        } else if spec.starts_with('-') {
            out.push_str(&format!("{body:<width$}"));
        } else {
            out.push_str(&format!("{body:>width$}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Scope, Templar};
    use super::*;

    fn scope(pairs: &[(&str, Value)]) -> Scope {
        Scope::new(vec![Arc::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )])
    }

    fn r(expr: &str, s: &Scope) -> String {
        match Templar::new().render_str(expr, s) {
            Ok(v) => py_str(&v),
            Err(e) => format!("ERROR: {e}"),
        }
    }

    #[test]
    fn file_lookup_searches_and_strips() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("motd"), "hello\n\n").expect("write");
        let s = scope(&[(
            "__file_search",
            Value::from(vec![Value::from(dir.path().to_string_lossy().into_owned())]),
        )]);
        assert_eq!(r("{{ lookup('file', 'motd') }}", &s), "hello");
        assert_eq!(
            r("{{ lookup('file', 'motd', rstrip=False) }}", &s),
            "hello\n\n"
        );
        assert_eq!(
            r("{{ query('file', 'motd', 'motd') }}", &s),
            "['hello', 'hello']"
        );
        assert_eq!(r("{{ lookup('file', 'motd', 'motd') }}", &s), "hello,hello");
        let abs = dir.path().join("motd");
        assert_eq!(
            r(
                &format!("{{{{ lookup('file', '{}') }}}}", abs.display()),
                &s
            ),
            "hello"
        );
        let err = r("{{ lookup('file', 'nope.txt') }}", &s);
        assert!(
            err.contains("could not locate file in lookup: nope.txt"),
            "{err}"
        );
    }

    #[test]
    fn env_pipe_and_lines() {
        let s = Scope::default();
        // PATH is set in any test environment.
        assert_eq!(r("{{ lookup('env', 'PATH') == '' }}", &s), "False");
        assert_eq!(
            r(
                "{{ lookup('env', 'SHIPSHAPE_SURELY_UNSET', default='dflt') }}",
                &s
            ),
            "dflt"
        );
        assert_eq!(r("{{ lookup('env', 'SHIPSHAPE_SURELY_UNSET') }}", &s), "");
        assert_eq!(
            r("{{ lookup('pipe', 'echo hi; echo there') }}", &s),
            "hi\nthere"
        );
        assert_eq!(
            r("{{ query('lines', 'printf \"a\\nb\\n\"') }}", &s),
            "['a', 'b']"
        );
        assert!(r("{{ lookup('pipe', 'exit 3') }}", &s).contains("returned 3"));
    }

    #[test]
    fn vars_items_list_dict() {
        let s = scope(&[
            ("greeting", Value::from("hi {{ who }}")),
            ("who", Value::from("you")),
        ]);
        assert_eq!(r("{{ lookup('vars', 'greeting') }}", &s), "hi you");
        assert_eq!(r("{{ lookup('vars', 'nope', default=1) }}", &s), "1");
        assert!(
            r("{{ lookup('vars', 'nope') }}", &s)
                .contains("No variable found with this name: nope")
        );
        assert_eq!(r("{{ query('items', [1, 2], 3) }}", &s), "[1, 2, 3]");
        assert_eq!(r("{{ query('list', [1, [2]]) }}", &s), "[1, [2]]");
        assert_eq!(
            r("{{ query('dict', {'a': 1}) }}", &s),
            "[{'key': 'a', 'value': 1}]"
        );
        assert_eq!(
            r("{{ q('indexed_items', ['a', 'b']) }}", &s),
            "[[0, 'a'], [1, 'b']]"
        );
        assert_eq!(
            r("{{ query('nested', [1, 2], ['a', 'b']) }}", &s),
            "[[1, 'a'], [1, 'b'], [2, 'a'], [2, 'b']]"
        );
        assert_eq!(
            r("{{ query('together', [1, 2], ['a']) }}", &s),
            "[[1, 'a'], [2, None]]"
        );
        assert_eq!(
            r("{{ lookup('vars', 'who', wantlist=True) }}", &s),
            "['you']"
        );
    }

    #[test]
    fn sequence_lookup() {
        assert_eq!(
            sequence("start=1 end=3").ok(),
            Some(vec!["1".into(), "2".into(), "3".into()])
        );
        assert_eq!(
            sequence("start=0 end=32 stride=16 format=testuser%02x").ok(),
            Some(vec![
                "testuser00".into(),
                "testuser10".into(),
                "testuser20".into()
            ])
        );
        assert_eq!(sequence("count=2").ok(), Some(vec!["1".into(), "2".into()]));
        assert_eq!(
            sequence("4-6/2:host%d").ok(),
            Some(vec!["host4".into(), "host6".into()])
        );
        assert!(sequence("start=5 end=1").is_err());
    }

    #[test]
    fn template_lookup_renders_with_the_scope() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t.j2"), "name={{ n }}\n").expect("write");
        let s = scope(&[
            ("n", Value::from("web")),
            (
                "__template_search",
                Value::from(vec![Value::from(dir.path().to_string_lossy().into_owned())]),
            ),
        ]);
        assert_eq!(r("{{ lookup('template', 't.j2') }}", &s), "name=web\n");
        assert_eq!(
            r(
                "{{ lookup('template', 't.j2', template_vars={'n': 'db'}) }}",
                &s
            ),
            "name=db\n"
        );
    }

    #[test]
    fn unknown_lookup_is_named() {
        let e = r("{{ lookup('password', '/tmp/x') }}", &Scope::default());
        assert!(e.contains("lookup plugin 'password' not found"), "{e}");
    }

    #[test]
    fn fileglob_finds_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.conf"), "").expect("write");
        std::fs::write(dir.path().join("b.txt"), "").expect("write");
        let s = Scope::default();
        let out = r(
            &format!(
                "{{{{ query('fileglob', '{}/*.conf') | length }}}}",
                dir.path().display()
            ),
            &s,
        );
        assert_eq!(out, "1");
    }
}
