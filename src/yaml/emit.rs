//! Writes template values as block-style YAML (`to_yaml` / `to_nice_yaml`), quoting strings that
//! would otherwise be read back as another type.

use minijinja::Value;
use minijinja::value::ValueKind;

/// Serialises `value` as YAML with `indent` spaces per level; ends with a newline.
pub fn to_yaml_string(value: &Value, indent: usize) -> String {
    let mut out = String::new();
    emit(value, 0, indent.max(1), &mut out, false);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn is_empty_collection(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Seq | ValueKind::Map) && v.len() == Some(0)
}

fn emit(value: &Value, level: usize, indent: usize, out: &mut String, inline_first: bool) {
    let pad = " ".repeat(level * indent);
    match value.kind() {
        ValueKind::Map if !is_empty_collection(value) => {
            let mut first = true;
            for key in value.try_iter().into_iter().flatten() {
                let item = value.get_item(&key).unwrap_or_default();
                if !(first && inline_first) {
                    out.push_str(&pad);
                }
                first = false;
                out.push_str(&scalar(&key));
                out.push(':');
                if matches!(item.kind(), ValueKind::Map | ValueKind::Seq)
                    && !is_empty_collection(&item)
                {
                    out.push('\n');
                    let next = if item.kind() == ValueKind::Seq {
                        level
                    } else {
                        level + 1
                    };
                    emit(&item, next, indent, out, false);
                } else {
                    out.push(' ');
                    emit(&item, level + 1, indent, out, true);
                }
            }
        }
        ValueKind::Seq if !is_empty_collection(value) => {
            let mut first = true;
            for item in value.try_iter().into_iter().flatten() {
                if !(first && inline_first) {
                    out.push_str(&pad);
                }
                first = false;
                out.push_str("- ");
                if item.kind() == ValueKind::Map && !is_empty_collection(&item) {
                    emit(&item, level + 1, indent, out, true);
                } else if item.kind() == ValueKind::Seq && !is_empty_collection(&item) {
                    out.push('\n');
                    emit(&item, level + 1, indent, out, false);
                } else {
                    emit(&item, level + 1, indent, out, true);
                }
            }
        }
        ValueKind::Map => out.push_str("{}\n"),
        ValueKind::Seq => out.push_str("[]\n"),
        _ => {
            out.push_str(&scalar(value));
            out.push('\n');
        }
    }
}

fn scalar(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => "null".into(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number => value.to_string(),
        _ => {
            let s = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            if needs_quotes(&s) {
                format!("'{}'", s.replace('\'', "''"))
            } else {
                s
            }
        }
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || s.contains('\n') {
        return true;
    }
    let probe = super::parse(&format!("k: {s}\n"), std::path::Path::new("-"));
    !matches!(probe, Ok(ref n) if n.get("k").map(|v| v.as_str() == Some(s)).unwrap_or(false))
        || s.starts_with(' ')
        || s.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_round_trip() {
        let v = Value::from(minijinja::value::Serde(serde_json::json!({
            "a": 1, "b": ["x", "yes", {"c": true}], "d": {"e": "0755"}, "f": []
        })));
        let text = to_yaml_string(&v, 2);
        let back = super::super::parse(&text, std::path::Path::new("t")).unwrap();
        assert_eq!(back.to_value(), v, "{text}");
    }
}
