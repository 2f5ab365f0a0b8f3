//! Ansible's filters that are not about regexes or collections: defaults and type
//! conversions, JSON/YAML, encodings and hashes, paths, shell quoting, `ternary`, `random`.
//! Jinja's own filters (`lower`, `map`, `select`, `sort`, ...) come from minijinja.

use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use base64::Engine as _;
use minijinja::value::{Kwargs, StringInput, ValueKind};
use minijinja::{Environment, Error, State, Value};
use sha2::Digest as _;

use super::error::TemplateError;
use super::python::{JsonStyle, ansible_bool, map_entries, py_json, py_str, py_type_name};
use super::{collections, re, tests};

/// Adds Ansible's filters to `env` (replacing Jinja builtins where Ansible differs).
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("default", default);
    env.add_filter("d", default);
    env.add_filter("bool", bool_filter);
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("string", string);
    env.add_filter("join", join);
    env.add_filter("mandatory", mandatory);
    env.add_filter("ternary", ternary);
    env.add_filter("type_debug", type_debug);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("from_yaml_all", from_yaml_all);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("hash", hash);
    env.add_filter("checksum", checksum);
    env.add_filter("md5", md5_filter);
    env.add_filter("sha1", sha1_filter);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("expanduser", expanduser);
    env.add_filter("splitext", splitext);
    env.add_filter("path_join", path_join);
    env.add_filter("quote", quote);
    env.add_filter("random", random);
    env.add_filter("log", log);
    env.add_filter("pow", pow);
    env.add_filter("root", root);
    env.add_filter("version_compare", tests::version_compare);
    re::register(env);
    collections::register(env);
}

/// Fails with minijinja's undefined error (naming the variable) if `v` is undefined.
pub(crate) fn defined(state: &State, v: &Value) -> Result<(), Error> {
    if v.is_undefined() {
        StringInput::new(state, v)?;
    }
    Ok(())
}

/// The text of a value (Python's `str`), failing on undefined.
pub(crate) fn text(state: &State, v: &Value) -> Result<String, Error> {
    defined(state, v)?;
    Ok(py_str(v))
}

/// An error of a filter, test or lookup: `name: message`.
pub(crate) fn fail(name: &str, message: impl std::fmt::Display) -> Error {
    TemplateError::failed(format!("{name}: {message}")).into_minijinja()
}

/// A positional argument, or the keyword argument of the same name.
pub(crate) fn arg<'a, T>(
    pos: Option<T>,
    kwargs: &'a Kwargs,
    name: &'a str,
) -> Result<Option<T>, Error>
where
    T: minijinja::value::ArgType<'a, Output = T>,
{
    match pos {
        Some(v) => Ok(Some(v)),
        None => kwargs.get::<Option<T>>(name),
    }
}

/// `default(value, default_value='', boolean=False)`.
fn default(
    value: &Value,
    other: Option<Value>,
    boolean: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let other = arg(other, &kwargs, "default_value")?.unwrap_or_else(|| Value::from(""));
    let boolean = arg(boolean, &kwargs, "boolean")?.is_some_and(|b| b.is_true());
    kwargs.assert_all_used()?;
    if value.is_undefined() || (boolean && !value.is_true()) {
        Ok(other)
    } else {
        Ok(value.clone())
    }
}

/// Ansible's `bool`: `yes`/`on`/`1`/`true` are true.
fn bool_filter(state: &State, value: &Value) -> Result<bool, Error> {
    defined(state, value)?;
    Ok(ansible_bool(value))
}

/// Jinja2's `int(value, default=0, base=10)`: falls back to `default` instead of failing.
fn int(
    state: &State,
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = arg(default, &kwargs, "default")?.unwrap_or_else(|| Value::from(0));
    let base = arg(base, &kwargs, "base")?.unwrap_or(10);
    kwargs.assert_all_used()?;
    defined(state, value)?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(i64::from(value.is_true())),
        ValueKind::Number if value.is_integer() => value.clone(),
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) if f.is_finite() => Value::from(f.trunc() as i64),
            _ => default,
        },
        ValueKind::String => parse_int(value.as_str().unwrap_or_default(), base)
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Python's `int(s, base)`, then `int(float(s))` for base 10.
fn parse_int(s: &str, base: u32) -> Option<i64> {
    let s = s.trim().replace('_', "");
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    let prefix = match base {
        16 => Some("0x"),
        8 => Some("0o"),
        2 => Some("0b"),
        _ => None,
    };
    let digits = match prefix {
        Some(p) if digits.len() > 2 && digits[..2].eq_ignore_ascii_case(p) => &digits[2..],
        _ => digits,
    };
    if (2..=36).contains(&base)
        && !digits.is_empty()
        && let Ok(n) = i64::from_str_radix(digits, base)
    {
        return Some(if neg { -n } else { n });
    }
    if base == 10 {
        return s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.trunc() as i64);
    }
    None
}

/// Jinja2's `float(value, default=0.0)`.
fn float(
    state: &State,
    value: &Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let default = arg(default, &kwargs, "default")?.unwrap_or_else(|| Value::from(0.0));
    kwargs.assert_all_used()?;
    defined(state, value)?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone())
            .map(Value::from)
            .unwrap_or(default),
        ValueKind::String => value
            .as_str()
            .unwrap_or_default()
            .trim()
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or(default),
        _ => default,
    })
}

/// Python's `str(value)`.
fn string(state: &State, value: &Value) -> Result<Value, Error> {
    defined(state, value)?;
    if value.kind() == ValueKind::String {
        return Ok(value.clone());
    }
    Ok(Value::from(py_str(value)))
}

/// Jinja2's `join(d='', attribute=None)` with Python's `str` of each item.
fn join(
    state: &State,
    value: &Value,
    sep: Option<String>,
    attribute: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let sep = arg(sep, &kwargs, "d")?.unwrap_or_default();
    let attribute = arg(attribute, &kwargs, "attribute")?;
    kwargs.assert_all_used()?;
    defined(state, value)?;
    if let Some(s) = value.as_str() {
        return Ok(s.chars().map(String::from).collect::<Vec<_>>().join(&sep));
    }
    let iter = value
        .try_iter()
        .map_err(|_| fail("join", format!("cannot join {}", value.kind())))?;
    let mut parts = Vec::new();
    for item in iter {
        let item = match &attribute {
            Some(a) => item.get_attr(a).unwrap_or_default(),
            None => item,
        };
        parts.push(py_str(&item));
    }
    Ok(parts.join(&sep))
}

/// `mandatory(msg=None)`: fails when the value is undefined.
fn mandatory(
    state: &State,
    value: &Value,
    msg: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let msg = arg(msg, &kwargs, "msg")?;
    kwargs.assert_all_used()?;
    if value.is_undefined() {
        if let Some(msg) = msg {
            return Err(TemplateError::failed(msg).into_minijinja());
        }
        defined(state, value)?;
    }
    Ok(value.clone())
}

/// `ternary(true_val, false_val, none_val=None)`.
fn ternary(value: &Value, true_val: Value, false_val: Value, none_val: Option<Value>) -> Value {
    if value.is_none()
        && let Some(n) = none_val
    {
        return n;
    }
    if value.is_true() { true_val } else { false_val }
}

/// Python's type name (`str`, `int`, `list`, `dict`, ...).
fn type_debug(value: &Value) -> &'static str {
    py_type_name(value)
}

fn json_style(kwargs: &Kwargs, indent: Option<usize>, sort_keys: bool) -> Result<JsonStyle, Error> {
    let indent = match kwargs.get::<Option<Value>>("indent")? {
        Some(v) if v.is_none() => None,
        Some(v) => Some(usize::try_from(v)?),
        None => indent,
    };
    let sort_keys = kwargs
        .get::<Option<bool>>("sort_keys")?
        .unwrap_or(sort_keys);
    let ensure_ascii = kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true);
    let separators = match kwargs.get::<Option<Value>>("separators")? {
        Some(v) if !v.is_none() => {
            let parts: Vec<String> = v.try_iter()?.map(|p| py_str(&p)).collect();
            match parts.as_slice() {
                [a, b] => Some((a.clone(), b.clone())),
                _ => return Err(fail("to_json", "separators must be a pair")),
            }
        }
        _ => None,
    };
    kwargs.assert_all_used()?;
    Ok(JsonStyle {
        indent,
        sort_keys,
        ensure_ascii,
        separators,
    })
}

/// `to_json(indent=None, sort_keys=False, ...)` like `json.dumps`.
fn to_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    Ok(py_json(value, &json_style(&kwargs, None, false)?))
}

/// `to_nice_json(indent=4, sort_keys=True)`.
fn to_nice_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    Ok(py_json(value, &json_style(&kwargs, Some(4), true)?))
}

/// `from_json`: parses JSON text, keeping key order.
fn from_json(state: &State, value: &Value) -> Result<Value, Error> {
    let s = text(state, value)?;
    serde_json::from_str::<Value>(&s).map_err(|e| fail("from_json", e))
}

fn yaml_indent(kwargs: &Kwargs, default: usize) -> Result<usize, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(default);
    // PyYAML options without an equivalent here are accepted and ignored.
    for name in [
        "width",
        "default_flow_style",
        "allow_unicode",
        "sort_keys",
        "explicit_start",
    ] {
        let _ = kwargs.get::<Option<Value>>(name)?;
    }
    kwargs.assert_all_used()?;
    Ok(indent)
}

/// `to_yaml`: block-style YAML.
fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    Ok(crate::yaml::to_yaml_string(value, yaml_indent(&kwargs, 2)?))
}

/// `to_nice_yaml(indent=4)`.
fn to_nice_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    Ok(crate::yaml::to_yaml_string(value, yaml_indent(&kwargs, 4)?))
}

/// `from_yaml`: one YAML document.
fn from_yaml(state: &State, value: &Value) -> Result<Value, Error> {
    let s = text(state, value)?;
    crate::yaml::parse(&s, Path::new("<from_yaml>"))
        .map(|n| n.to_value())
        .map_err(|e| fail("from_yaml", e))
}

/// `from_yaml_all`: every document, as a list.
fn from_yaml_all(state: &State, value: &Value) -> Result<Value, Error> {
    let s = text(state, value)?;
    crate::yaml::parse_all(&s, Path::new("<from_yaml_all>"))
        .map(|docs| Value::from(docs.iter().map(|n| n.to_value()).collect::<Vec<_>>()))
        .map_err(|e| fail("from_yaml_all", e))
}

/// `b64encode` of the UTF-8 text.
fn b64encode(state: &State, value: &Value, _kwargs: Kwargs) -> Result<String, Error> {
    Ok(base64::engine::general_purpose::STANDARD.encode(text(state, value)?))
}

/// `b64decode` to UTF-8 text.
fn b64decode(state: &State, value: &Value, _kwargs: Kwargs) -> Result<String, Error> {
    let s = text(state, value)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| fail("b64decode", e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The hex digest of `data` with algorithm `kind`.
pub(crate) fn digest_hex(kind: &str, data: &[u8]) -> Result<String, Error> {
    Ok(match kind {
        "sha1" => hex::encode(sha1::Sha1::digest(data)),
        "sha224" => hex::encode(sha2::Sha224::digest(data)),
        "sha256" => hex::encode(sha2::Sha256::digest(data)),
        "sha384" => hex::encode(sha2::Sha384::digest(data)),
        "sha512" => hex::encode(sha2::Sha512::digest(data)),
        "md5" => format!("{:x}", md5::compute(data)),
        other => {
            return Err(fail(
                "hash",
                format!(
                    "unsupported hash type '{other}' (sha1, sha224, sha256, sha384, sha512, md5)"
                ),
            ));
        }
    })
}

/// `hash(hashtype='sha1')`.
fn hash(state: &State, value: &Value, kind: Option<String>) -> Result<String, Error> {
    digest_hex(
        kind.as_deref().unwrap_or("sha1"),
        text(state, value)?.as_bytes(),
    )
}

/// `checksum`: sha1.
fn checksum(state: &State, value: &Value) -> Result<String, Error> {
    digest_hex("sha1", text(state, value)?.as_bytes())
}

fn md5_filter(state: &State, value: &Value) -> Result<String, Error> {
    digest_hex("md5", text(state, value)?.as_bytes())
}

fn sha1_filter(state: &State, value: &Value) -> Result<String, Error> {
    digest_hex("sha1", text(state, value)?.as_bytes())
}

/// `os.path.basename`.
fn basename(state: &State, value: &Value) -> Result<String, Error> {
    let p = text(state, value)?;
    Ok(p.rsplit('/').next().unwrap_or_default().to_string())
}

/// `os.path.dirname`.
fn dirname(state: &State, value: &Value) -> Result<String, Error> {
    let p = text(state, value)?;
    let head = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    if !head.is_empty() && head.bytes().any(|b| b != b'/') {
        Ok(head.trim_end_matches('/').to_string())
    } else {
        Ok(head.to_string())
    }
}

/// `os.path.expanduser` for `~` and `~/...` (with `$HOME`).
fn expanduser(state: &State, value: &Value) -> Result<String, Error> {
    let p = text(state, value)?;
    let home = std::env::var("HOME").unwrap_or_default();
    if p == "~" {
        Ok(home)
    } else if let Some(rest) = p.strip_prefix("~/") {
        Ok(format!("{}/{rest}", home.trim_end_matches('/')))
    } else {
        Ok(p)
    }
}

/// `os.path.splitext`: `[root, ext]`.
fn splitext(state: &State, value: &Value) -> Result<Value, Error> {
    let p = text(state, value)?;
    let base_start = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    let base = &p[base_start..];
    let leading_dots = base.len() - base.trim_start_matches('.').len();
    let split = base
        .rfind('.')
        .filter(|&i| i >= leading_dots && i > 0)
        .map(|i| base_start + i);
    Ok(match split {
        Some(i) => Value::from(vec![Value::from(&p[..i]), Value::from(&p[i..])]),
        None => Value::from(vec![Value::from(p.as_str()), Value::from("")]),
    })
}

/// `path_join`: `os.path.join` of a list of parts.
fn path_join(state: &State, value: &Value) -> Result<String, Error> {
    defined(state, value)?;
    let parts: Vec<String> = if let Some(s) = value.as_str() {
        vec![s.to_string()]
    } else {
        value.try_iter()?.map(|p| py_str(&p)).collect()
    };
    let mut out = String::new();
    for part in parts {
        if part.starts_with('/') || out.is_empty() {
            out = part;
        } else if out.ends_with('/') {
            out.push_str(&part);
        } else {
            out.push('/');
            out.push_str(&part);
        }
    }
    Ok(out)
}

/// Shell quoting (`shlex.quote`).
fn quote(state: &State, value: &Value) -> Result<String, Error> {
    Ok(crate::core::quote(&text(state, value)?))
}

/// A small deterministic generator (splitmix64) for `random`.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// `random(start=0, step=1, seed=None)`: an item of a list or a number below an integer.
/// With `seed` the choice is reproducible (but not the same number Python would pick).
fn random(
    state: &State,
    value: &Value,
    start: Option<i64>,
    step: Option<i64>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let start = arg(start, &kwargs, "start")?.unwrap_or(0);
    let step = arg(step, &kwargs, "step")?.unwrap_or(1).max(1);
    let seed = kwargs.get::<Option<Value>>("seed")?;
    kwargs.assert_all_used()?;
    defined(state, value)?;
    let seed = match seed {
        Some(s) if !s.is_none() => {
            let d = sha2::Sha256::digest(py_str(&s).as_bytes());
            u64::from_le_bytes(d[..8].try_into().expect("8 bytes of a sha256"))
        }
        _ => {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0),
            );
            h.finish()
        }
    };
    let mut rng = SplitMix(seed);
    if let Some(end) = value.as_i64() {
        if end <= start {
            return Err(fail("random", "empty range"));
        }
        let count = ((end - start) + step - 1) / step;
        return Ok(Value::from(start + step * rng.below(count as u64) as i64));
    }
    let items: Vec<Value> = value
        .try_iter()
        .map_err(|_| fail("random", format!("cannot choose from {}", value.kind())))?
        .collect();
    if items.is_empty() {
        return Err(fail("random", "cannot choose from an empty sequence"));
    }
    Ok(items[rng.below(items.len() as u64) as usize].clone())
}

fn number(state: &State, value: &Value, name: &str) -> Result<f64, Error> {
    defined(state, value)?;
    f64::try_from(value.clone())
        .map_err(|_| fail(name, format!("{} is not a number", py_str(value))))
}

/// `log(base=e)`.
fn log(state: &State, value: &Value, base: Option<f64>) -> Result<f64, Error> {
    let x = number(state, value, "log")?;
    Ok(match base {
        Some(b) => x.ln() / b.ln(),
        None => x.ln(),
    })
}

/// `pow(y)`.
fn pow(state: &State, value: &Value, y: f64) -> Result<f64, Error> {
    Ok(number(state, value, "pow")?.powf(y))
}

/// `root(base=2)`.
fn root(state: &State, value: &Value, base: Option<f64>) -> Result<f64, Error> {
    let x = number(state, value, "root")?;
    Ok(match base.unwrap_or(2.0) {
        2.0 => x.sqrt(),
        b => x.powf(1.0 / b),
    })
}

/// Helper for other filter files: the entries of a mapping or an error naming the filter.
pub(crate) fn mapping_entries(name: &str, v: &Value) -> Result<Vec<(Value, Value)>, Error> {
    if v.kind() != ValueKind::Map {
        return Err(fail(
            name,
            format!("requires a dictionary, got {} instead", py_type_name(v)),
        ));
    }
    Ok(map_entries(v))
}

#[cfg(test)]
mod unit {
    use super::super::{Scope, Templar};
    use minijinja::Value;

    fn r(expr: &str) -> String {
        let t = Templar::new();
        match t.render_str(expr, &Scope::default()) {
            Ok(v) => super::py_str(&v),
            Err(e) => format!("ERROR: {e}"),
        }
    }

    #[test]
    fn default_and_bool() {
        assert_eq!(r("{{ nope | default('x') }}"), "x");
        assert_eq!(r("{{ '' | default('x') }}"), "");
        assert_eq!(r("{{ '' | default('x', true) }}"), "x");
        assert_eq!(r("{{ '' | d('x', boolean=true) }}"), "x");
        assert_eq!(r("{{ 'yes' | bool }}"), "True");
        assert_eq!(r("{{ 'off' | bool }}"), "False");
        assert_eq!(r("{{ 1 | bool }}"), "True");
    }

    #[test]
    fn int_float_string() {
        assert_eq!(r("{{ '42' | int + 1 }}"), "43");
        assert_eq!(r("{{ '12.7' | int }}"), "12");
        assert_eq!(r("{{ 'abc' | int }}"), "0");
        assert_eq!(r("{{ 'abc' | int(7) }}"), "7");
        assert_eq!(r("{{ '0x1F' | int(base=16) }}"), "31");
        assert_eq!(r("{{ '1.5' | float }}"), "1.5");
        assert_eq!(r("{{ 'x' | float }}"), "0.0");
        assert_eq!(r("{{ true | string }}"), "True");
        assert_eq!(r("{{ [1, 'a'] | string }}"), "[1, 'a']");
    }

    #[test]
    fn join_uses_python_str() {
        assert_eq!(r("{{ [1, true, 'x'] | join(',') }}"), "1,True,x");
        assert_eq!(r("{{ ['a', 'b'] | join }}"), "ab");
    }

    #[test]
    fn ternary_mandatory_type_debug() {
        assert_eq!(r("{{ true | ternary('a', 'b') }}"), "a");
        assert_eq!(r("{{ none | ternary('a', 'b', 'n') }}"), "n");
        assert_eq!(r("{{ 0 | ternary('a', 'b') }}"), "b");
        assert_eq!(r("{{ 1 | mandatory }}"), "1");
        assert_eq!(r("{{ nope | mandatory }}"), "ERROR: 'nope' is undefined");
        assert_eq!(r("{{ nope | mandatory('set nope!') }}"), "ERROR: set nope!");
        assert_eq!(r("{{ {} | type_debug }}"), "dict");
        assert_eq!(r("{{ 'a' | type_debug }}"), "str");
        assert_eq!(r("{{ 1.5 | type_debug }}"), "float");
    }

    #[test]
    fn json_and_yaml() {
        assert_eq!(
            r("{{ {'b': 1, 'a': [true, none]} | to_json }}"),
            r#"{"b": 1, "a": [true, null]}"#
        );
        assert_eq!(
            r("{{ {'b': 1, 'a': 'x'} | to_nice_json }}"),
            "{\n    \"a\": \"x\",\n    \"b\": 1\n}"
        );
        assert_eq!(
            r("{{ {'a': 1} | to_nice_json(indent=2) }}"),
            "{\n  \"a\": 1\n}"
        );
        assert_eq!(
            r("{{ ('{\"z\": 1, \"a\": [1, 2]}' | from_json).a[1] }}"),
            "2"
        );
        assert_eq!(
            r("{{ ('{\"z\": 1, \"a\": 2}' | from_json) | list }}"),
            "['z', 'a']"
        );
        assert_eq!(r("{{ {'a': [1, 2]} | to_yaml }}"), "a:\n- 1\n- 2\n");
        assert_eq!(r("{{ {'a': {'b': 1}} | to_nice_yaml }}"), "a:\n    b: 1\n");
        assert_eq!(r("{{ ('a: yes\\nb: [1, 2]' | from_yaml).b[0] }}"), "1");
        assert_eq!(r("{{ ('a: yes' | from_yaml).a }}"), "True");
        assert_eq!(r("{{ ('1\\n---\\n2' | from_yaml_all) }}"), "[1, 2]");
    }

    #[test]
    fn encodings_and_hashes() {
        assert_eq!(r("{{ 'hello' | b64encode }}"), "aGVsbG8=");
        assert_eq!(r("{{ 'aGVsbG8=' | b64decode }}"), "hello");
        assert_eq!(
            r("{{ 'hello' | hash('sha1') }}"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("{{ 'hello' | checksum }}"),
            "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"
        );
        assert_eq!(
            r("{{ 'hello' | hash('sha256') }}"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            r("{{ 'hello' | hash('md5') }}"),
            "5d41402abc4b2a76b9719d911017c592"
        );
        assert!(r("{{ 'hello' | hash('whirlpool') }}").contains("unsupported hash type"));
    }

    #[test]
    fn paths_and_quote() {
        assert_eq!(r("{{ '/etc/nginx/nginx.conf' | basename }}"), "nginx.conf");
        assert_eq!(r("{{ '/etc/nginx/nginx.conf' | dirname }}"), "/etc/nginx");
        assert_eq!(r("{{ '/etc/' | dirname }}"), "/etc");
        assert_eq!(r("{{ 'file' | dirname }}"), "");
        assert_eq!(r("{{ '/' | dirname }}"), "/");
        assert_eq!(r("{{ 'a/b.tar.gz' | splitext }}"), "['a/b.tar', '.gz']");
        assert_eq!(r("{{ '.bashrc' | splitext }}"), "['.bashrc', '']");
        assert_eq!(
            r("{{ ['/etc', 'nginx', 'x.conf'] | path_join }}"),
            "/etc/nginx/x.conf"
        );
        assert_eq!(r("{{ ['a', '/b', 'c'] | path_join }}"), "/b/c");
        assert_eq!(r("{{ \"it's here\" | quote }}"), "'it'\\''s here'");
        assert_eq!(r("{{ '' | quote }}"), "''");
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            r("{{ '~/x' | expanduser }}"),
            format!("{}/x", home.trim_end_matches('/'))
        );
    }

    #[test]
    fn random_with_seed_is_reproducible() {
        let a = r("{{ 60 | random(seed='host1') }}");
        assert_eq!(a, r("{{ 60 | random(seed='host1') }}"));
        let n: i64 = a.parse().expect("a number");
        assert!((0..60).contains(&n));
        let pick = r("{{ ['x', 'y', 'z'] | random(seed='s') }}");
        assert!(["x", "y", "z"].contains(&pick.as_str()));
    }

    #[test]
    fn math() {
        assert_eq!(r("{{ 8 | log(2) }}"), "3.0");
        assert_eq!(r("{{ 2 | pow(10) }}"), "1024.0");
        assert_eq!(r("{{ 27 | root(3) | round }}"), "3.0");
        assert_eq!(r("{{ 16 | root }}"), "4.0");
    }

    #[test]
    fn jinja_builtins_behave_like_ansible() {
        assert_eq!(
            r("{{ 'Hello World' | lower }}|{{ 'a' | upper }}"),
            "hello world|A"
        );
        assert_eq!(
            r("{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}"),
            "Hello world|Hello World"
        );
        assert_eq!(
            r("{{ '  x  ' | trim }}|{{ 'a-b-c' | replace('-', '+') }}"),
            "x|a+b+c"
        );
        assert_eq!(r("{{ 'a,b,c' | split(',') }}"), "['a', 'b', 'c']");
        assert_eq!(r("{{ 'a b  c' | split }}"), "['a', 'b', 'c']");
        assert_eq!(r("{{ [3, 1, 2] | first }}|{{ [3, 1, 2] | last }}"), "3|2");
        assert_eq!(r("{{ [3, 1, 2] | length }}|{{ 'abc' | count }}"), "3|3");
        assert_eq!(
            r("{{ [3, 1, 2] | sort }}|{{ [3, 1, 2] | sort(reverse=true) }}"),
            "[1, 2, 3]|[3, 2, 1]"
        );
        assert_eq!(
            r("{{ [{'n': 'b'}, {'n': 'a'}] | sort(attribute='n') | map(attribute='n') | list }}"),
            "['a', 'b']"
        );
        assert_eq!(
            r("{{ [3, 1, 2] | min }}|{{ [3, 1, 2] | max }}|{{ [3, 1, 2] | sum }}"),
            "1|3|6"
        );
        assert_eq!(
            r(
                "{{ [{'a': 2}, {'a': 5}] | max(attribute='a') }}|{{ [{'a': 2}, {'a': 5}] | sum(attribute='a') }}"
            ),
            "{'a': 5}|7"
        );
        assert_eq!(r("{{ ['1', '2'] | map('int') | sum }}"), "3");
        assert_eq!(r("{{ [1, 2, 3, 4] | select('even') | list }}"), "[2, 4]");
        assert_eq!(r("{{ [1, 2, 3, 4] | reject('odd') | list }}"), "[2, 4]");
        assert_eq!(
            r("{{ ['ab', 'cd'] | select('match', 'a') | list }}"),
            "['ab']"
        );
        assert_eq!(
            r("{{ ['ab', 'cd'] | reject('search', 'd') | list }}"),
            "['ab']"
        );
        assert_eq!(r("{{ [1, 5] | select('in', [5, 6]) | list }}"), "[5]");
        let users = "[{'n': 'a', 'v': '1.2'}, {'n': 'b', 'admin': true, 'v': '2.0'}]";
        assert_eq!(
            r(&format!(
                "{{{{ {users} | selectattr('admin', 'defined') | map(attribute='n') | list }}}}"
            )),
            "['b']"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {users} | rejectattr('admin', 'defined') | map(attribute='n') | list }}}}"
            )),
            "['a']"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {users} | selectattr('n', 'equalto', 'a') | map(attribute='v') | list }}}}"
            )),
            "['1.2']"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {users} | selectattr('v', 'version', '1.5', '>=') | map(attribute='n') | list }}}}"
            )),
            "['b']"
        );
        assert_eq!(
            r(&format!(
                "{{{{ {users} | selectattr('n', 'search', 'b') | list | length }}}}"
            )),
            "1"
        );
        assert_eq!(
            r("{{ range(3) | list }}|{{ range(1, 7, 2) | list }}"),
            "[0, 1, 2]|[1, 3, 5]"
        );
        assert_eq!(
            r("={{ {'b': 1, 'a': 2} | dictsort }}"),
            "=[('a', 2), ('b', 1)]"
        );
    }

    #[test]
    fn native_types_from_filters() {
        let t = Templar::new();
        let v = t
            .render_str("{{ '5' | int }}", &Scope::default())
            .expect("renders");
        assert_eq!(v, Value::from(5));
    }
}
