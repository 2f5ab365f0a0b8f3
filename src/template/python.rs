//! Python's view of template values: `str()`/`repr()` text (what Jinja2 prints: `True`, `None`,
//! `['a', 1]`), `json.dumps` output, Ansible truthiness, and conversions to and from JSON.

use std::fmt::Write as _;

use indexmap::IndexMap;
use minijinja::Value;
use minijinja::value::ValueKind;

/// Python's `str(value)`: strings as they are, everything else as `repr`.
pub(crate) fn py_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Bytes => String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned(),
        ValueKind::Undefined => String::new(),
        _ => py_repr(v),
    }
}

/// Python's `repr(value)`: strings quoted, containers with Python brackets.
pub(crate) fn py_repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(v, &mut out);
    out
}

fn write_repr(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => out.push_str(&py_number(v)),
        ValueKind::String => out.push_str(&py_quote(v.as_str().unwrap_or_default())),
        ValueKind::Bytes => {
            out.push('b');
            out.push_str(&py_quote(&String::from_utf8_lossy(
                v.as_bytes().unwrap_or_default(),
            )));
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = v.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let mut n = 0;
            if let Ok(iter) = v.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(&item, out);
                    n += 1;
                }
            }
            if tuple && n == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(iter) = v.try_iter() {
                for (i, key) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(&key, out);
                    out.push_str(": ");
                    write_repr(&v.get_item(&key).unwrap_or_default(), out);
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
}

/// A number as Python prints it (`1.0`, `1e-05`, `42`).
pub(crate) fn py_number(v: &Value) -> String {
    if v.is_integer() {
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => py_float(f),
        Err(_) => v.to_string(),
    }
}

/// Python's `repr(float)`.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = f.abs();
    if abs >= 1e16 || (abs != 0.0 && abs < 1e-4) {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Python's `repr(str)`: single quotes unless the text has a single quote and no double quote.
pub(crate) fn py_quote(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Options of Python's `json.dumps` that Ansible's `to_json`/`to_nice_json` pass.
#[derive(Clone, Debug)]
pub(crate) struct JsonStyle {
    /// Spaces per level; `None` writes everything on one line.
    pub indent: Option<usize>,
    /// Sort mapping keys.
    pub sort_keys: bool,
    /// Escape non-ASCII characters as `\uXXXX`.
    pub ensure_ascii: bool,
    /// Item and key separators; `None` means Python's defaults for the indent.
    pub separators: Option<(String, String)>,
}

impl Default for JsonStyle {
    fn default() -> Self {
        JsonStyle {
            indent: None,
            sort_keys: false,
            ensure_ascii: true,
            separators: None,
        }
    }
}

/// `json.dumps(value, ...)` with Python's formatting.
pub(crate) fn py_json(v: &Value, style: &JsonStyle) -> String {
    let (item_sep, key_sep) = match &style.separators {
        Some((i, k)) => (i.clone(), k.clone()),
        None if style.indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let mut out = String::new();
    write_json(v, style, &item_sep, &key_sep, 0, &mut out);
    out
}

fn json_newline(style: &JsonStyle, level: usize, out: &mut String) {
    if let Some(n) = style.indent {
        out.push('\n');
        out.push_str(&" ".repeat(n * level));
    }
}

fn write_json(
    v: &Value,
    style: &JsonStyle,
    item_sep: &str,
    key_sep: &str,
    level: usize,
    out: &mut String,
) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                out.push_str(&v.to_string());
            } else {
                match f64::try_from(v.clone()) {
                    Ok(f) if f.is_nan() => out.push_str("NaN"),
                    Ok(f) if f.is_infinite() => {
                        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" })
                    }
                    Ok(f) => out.push_str(&py_float(f)),
                    Err(_) => out.push_str(&v.to_string()),
                }
            }
        }
        ValueKind::String | ValueKind::Bytes => write_json_str(&py_str(v), style.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(style, level + 1, out);
                write_json(item, style, item_sep, key_sep, level + 1, out);
            }
            json_newline(style, level, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, Value)> = v
                .try_iter()
                .map(|keys| {
                    keys.map(|k| (json_key(&k), v.get_item(&k).unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            if entries.is_empty() {
                out.push_str("{}");
                return;
            }
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(style, level + 1, out);
                write_json_str(k, style.ensure_ascii, out);
                out.push_str(key_sep);
                write_json(item, style, item_sep, key_sep, level + 1, out);
            }
            json_newline(style, level, out);
            out.push('}');
        }
        _ => write_json_str(&py_str(v), style.ensure_ascii, out),
    }
}

/// A mapping key as `json.dumps` writes it (`True` becomes `true`, `None` becomes `null`).
fn json_key(k: &Value) -> String {
    match k.kind() {
        ValueKind::Bool => if k.is_true() { "true" } else { "false" }.into(),
        ValueKind::None | ValueKind::Undefined => "null".into(),
        _ => py_str(k),
    }
}

fn write_json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && c as u32 > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Ansible truthiness: strings `yes`/`true`/`on`/`1` are true and `no`/`false`/`off`/`0`/``
/// false (any case); other strings are true when non-empty; numbers when non-zero;
/// collections when non-empty; none and undefined are false.
pub fn is_truthy(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default();
            match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" | "y" | "t" => true,
                "no" | "false" | "off" | "0" | "n" | "f" | "" => false,
                _ => true,
            }
        }
        _ => v.is_true(),
    }
}

/// Ansible's `bool` filter: `yes`/`on`/`1`/`true` (any case) and the number 1 are true,
/// everything else false.
pub(crate) fn ansible_bool(v: &Value) -> bool {
    match v.kind() {
        ValueKind::Bool => v.is_true(),
        ValueKind::String => matches!(
            v.as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
                .as_str(),
            "yes" | "on" | "1" | "true" | "y" | "t"
        ),
        ValueKind::Number => matches!(f64::try_from(v.clone()), Ok(f) if f == 1.0),
        _ => false,
    }
}

/// Converts a template value to JSON, keeping mapping order. Keys become strings (Python's
/// `str`); undefined becomes `null`; other objects their printed form.
pub fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    // Lazy objects (a host's variables, `hostvars`) may contain themselves: show at most two
    // levels of them, so `debug: var=hostvars` is finite.
    let lazy = is_lazy_object(v);
    if lazy {
        let depth = LAZY_DEPTH.with(|d| d.get());
        if depth >= 2 {
            return J::String(format!("<{} ...>", v.kind()));
        }
        LAZY_DEPTH.with(|d| d.set(depth + 1));
    }
    let out = value_to_json_inner(v);
    if lazy {
        LAZY_DEPTH.with(|d| d.set(d.get() - 1));
    }
    out
}

thread_local! {
    static LAZY_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Whether `v` is a container that is not plain data: an object computing its items on
/// demand (a variable scope, `hostvars`). Plain lists and mappings are never lazy.
pub fn is_lazy_object(v: &Value) -> bool {
    match v.as_object() {
        None => false,
        Some(obj) => {
            matches!(
                v.kind(),
                ValueKind::Map | ValueKind::Seq | ValueKind::Iterable
            ) && obj
                .downcast_ref::<indexmap::IndexMap<Value, Value>>()
                .is_none()
                && obj.downcast_ref::<Vec<Value>>().is_none()
                && obj
                    .downcast_ref::<std::collections::BTreeMap<Value, Value>>()
                    .is_none()
                && obj
                    .downcast_ref::<std::collections::HashMap<Value, Value>>()
                    .is_none()
        }
    }
}

fn value_to_json_inner(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => J::Null,
        ValueKind::Bool => J::Bool(v.is_true()),
        ValueKind::Number => {
            if let Some(i) = v.as_i64() {
                J::from(i)
            } else if let Ok(u) = u64::try_from(v.clone()) {
                J::from(u)
            } else {
                f64::try_from(v.clone())
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(J::Number)
                    .unwrap_or(J::Null)
            }
        }
        ValueKind::String | ValueKind::Bytes => J::String(py_str(v)),
        ValueKind::Seq | ValueKind::Iterable => J::Array(
            v.try_iter()
                .map(|it| it.map(|item| value_to_json(&item)).collect())
                .unwrap_or_default(),
        ),
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            if let Ok(keys) = v.try_iter() {
                for k in keys {
                    let item = v.get_item(&k).unwrap_or_default();
                    map.insert(py_str(&k), value_to_json(&item));
                }
            }
            J::Object(map)
        }
        _ => J::String(py_str(v)),
    }
}

/// Converts JSON to a template value (mappings keep the JSON map's order).
pub fn json_to_value(j: &serde_json::Value) -> Value {
    json_to_value_with(j, false)
}

/// Like [`json_to_value`], but every string is marked unsafe: never rendered as a template.
/// For data that came from a host (registered results, facts): a `{{` in command output is
/// text, not a template.
pub fn json_to_unsafe_value(j: &serde_json::Value) -> Value {
    json_to_value_with(j, true)
}

fn json_to_value_with(j: &serde_json::Value, unsafe_strings: bool) -> Value {
    use serde_json::Value as J;
    match j {
        J::String(s) if unsafe_strings => Value::from_safe_string(s.clone()),
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(
            items
                .iter()
                .map(|i| json_to_value_with(i, unsafe_strings))
                .collect::<Vec<_>>(),
        ),
        J::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| {
                    (
                        Value::from(k.as_str()),
                        json_to_value_with(v, unsafe_strings),
                    )
                })
                .collect::<IndexMap<Value, Value>>(),
        ),
    }
}

/// Deep copy of a value into plain lists and maps: generators (`map`, `select`), tuples and
/// chained views become lists, map-like objects become maps. Safe strings stay safe.
pub(crate) fn materialize(v: &Value) -> Value {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Value::from(
            v.try_iter()
                .map(|it| it.map(|item| materialize(&item)).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
        ValueKind::Map => Value::from(
            v.try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let item = v.get_item(&k).unwrap_or_default();
                        (k, materialize(&item))
                    })
                    .collect::<IndexMap<Value, Value>>()
                })
                .unwrap_or_default(),
        ),
        _ => v.clone(),
    }
}

/// The entries of a map value, in order.
pub(crate) fn map_entries(v: &Value) -> Vec<(Value, Value)> {
    v.try_iter()
        .map(|keys| {
            keys.map(|k| {
                let item = v.get_item(&k).unwrap_or_default();
                (k, item)
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Python's type name of a value (`type_debug`).
pub(crate) fn py_type_name(v: &Value) -> &'static str {
    match v.kind() {
        ValueKind::Undefined => "AnsibleUndefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number => {
            if v.is_integer() {
                "int"
            } else {
                "float"
            }
        }
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq if v.is_tuple() => "tuple",
        ValueKind::Seq => "list",
        ValueKind::Iterable => "generator",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(j: serde_json::Value) -> Value {
        json_to_value(&j)
    }

    #[test]
    fn repr_matches_python() {
        let x = v(serde_json::json!({"a": [1, "it's", true, null], "b": 1.5}));
        assert_eq!(py_repr(&x), r#"{'a': [1, "it's", True, None], 'b': 1.5}"#);
        assert_eq!(py_str(&Value::from("plain")), "plain");
        assert_eq!(py_str(&Value::from(false)), "False");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_quote("a'b\"c\n"), r#"'a\'b"c\n'"#);
    }

    #[test]
    fn json_matches_python_dumps() {
        let x: Value =
            serde_json::from_str(r#"{"b": [1, 2], "a": {"x": "é"}, "c": []}"#).expect("json");
        assert_eq!(
            py_json(&x, &JsonStyle::default()),
            r#"{"b": [1, 2], "a": {"x": "\u00e9"}, "c": []}"#
        );
        let nice = JsonStyle {
            indent: Some(4),
            sort_keys: true,
            ..JsonStyle::default()
        };
        assert_eq!(
            py_json(&x, &nice),
            "{\n    \"a\": {\n        \"x\": \"\\u00e9\"\n    },\n    \"b\": [\n        1,\n        2\n    ],\n    \"c\": []\n}"
        );
    }

    #[test]
    fn truthiness_follows_ansible() {
        for s in ["yes", "True", "on", "1", "anything"] {
            assert!(is_truthy(&Value::from(s)), "{s}");
        }
        for s in ["no", "False", "off", "0", ""] {
            assert!(!is_truthy(&Value::from(s)), "{s}");
        }
        assert!(!is_truthy(&Value::from(0)));
        assert!(!is_truthy(&Value::from(())));
        assert!(!is_truthy(&v(serde_json::json!([]))));
        assert!(is_truthy(&v(serde_json::json!({"a": 1}))));
        assert!(ansible_bool(&Value::from("Yes")));
        assert!(!ansible_bool(&Value::from("maybe")));
    }

    #[test]
    fn json_round_trip_keeps_types() {
        let j = serde_json::json!({"a": [1, 2.5, "x", null, true], "b": {"c": -3}});
        assert_eq!(value_to_json(&json_to_value(&j)), j);
    }
}
