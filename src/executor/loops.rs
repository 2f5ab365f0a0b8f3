//! Expands `loop:` and the `with_*` forms into the list of items a task runs over.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::playbook::LoopStyle;
use crate::template::{Scope, Templar};

fn items_of(v: &Value) -> Vec<Value> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        ValueKind::None | ValueKind::Undefined => Vec::new(),
        _ => vec![v.clone()],
    }
}

/// Turns the rendered loop value into items, following the loop style. The `with_*` forms
/// are Ansible lookups (`with_items: x` is `query('items', x)`), run by the template layer.
pub fn expand(
    style: LoopStyle,
    value: &Value,
    templar: &Templar,
    scope: &Scope,
) -> Result<Vec<Value>, String> {
    let lookup = |name: &str, terms: Vec<Value>| {
        templar
            .query(name, &terms, scope)
            .map_err(|e| format!("with_{name}: {e}"))
    };
    match style {
        LoopStyle::List => match value.kind() {
            ValueKind::Seq | ValueKind::Iterable | ValueKind::None | ValueKind::Undefined => {
                Ok(items_of(value))
            }
            ValueKind::String => Err(format!(
                "loop takes a list, got the string {:?} (did you mean to use a variable, `{{{{ var }}}}`?)",
                value.as_str().unwrap_or_default()
            )),
            other => Err(format!("loop takes a list, got {other:?}")),
        },
        LoopStyle::Items => lookup("items", items_of(value)),
        LoopStyle::Dict => lookup("dict", vec![value.clone()]),
        LoopStyle::Indexed => lookup("indexed_items", items_of(value)),
        LoopStyle::Fileglob => lookup("fileglob", items_of(value)),
        LoopStyle::Sequence => lookup("sequence", vec![value.clone()]),
        LoopStyle::Nested => lookup("nested", items_of(value)),
        LoopStyle::Together => lookup("together", items_of(value)),
        LoopStyle::Subelements => subelements(value),
    }
}

/// `with_subelements: [list, 'key']`: each parent paired with each item of its `key` list.
fn subelements(value: &Value) -> Result<Vec<Value>, String> {
    let args = items_of(value);
    let (list, key) = match (args.first(), args.get(1)) {
        (Some(l), Some(k)) => (items_of(l), k.to_string()),
        _ => return Err("with_subelements takes [list, 'subkey']".into()),
    };
    let mut out = Vec::new();
    for parent in list {
        let sub = parent.get_attr(&key).unwrap_or_default();
        if sub.is_undefined() {
            return Err(format!("with_subelements: an item has no key '{key}'"));
        }
        for s in items_of(&sub) {
            out.push(Value::from(vec![parent.clone(), s]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_items_flattens_and_sequence_formats() {
        let (t, scope) = (Templar::new(), Scope::default());
        let v = Value::from(vec![
            Value::from(1),
            Value::from(vec![Value::from(2), Value::from(3)]),
        ]);
        assert_eq!(expand(LoopStyle::Items, &v, &t, &scope).unwrap().len(), 3);
        let spec = Value::from("start=1 end=3 format=web%02d");
        let s = expand(LoopStyle::Sequence, &spec, &t, &scope).unwrap();
        assert_eq!(
            s,
            vec![
                Value::from("web01"),
                Value::from("web02"),
                Value::from("web03")
            ]
        );
        assert!(expand(LoopStyle::List, &Value::from("oops"), &t, &scope).is_err());
        let nested = Value::from(vec![
            Value::from(vec![Value::from("a"), Value::from("b")]),
            Value::from(vec![Value::from(1), Value::from(2)]),
        ]);
        assert_eq!(
            expand(LoopStyle::Nested, &nested, &t, &scope)
                .unwrap()
                .len(),
            4
        );
    }
}
