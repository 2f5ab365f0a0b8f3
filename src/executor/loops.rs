//! Expands `loop:` and the `with_*` forms into the list of items a task runs over.

use minijinja::Value;
use minijinja::value::ValueKind;

use crate::playbook::LoopStyle;

use super::map_value;

fn items_of(v: &Value) -> Vec<Value> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => {
            v.try_iter().map(|i| i.collect()).unwrap_or_default()
        }
        ValueKind::None | ValueKind::Undefined => Vec::new(),
        _ => vec![v.clone()],
    }
}

/// Turns the rendered loop value into items, following the loop style.
pub fn expand(style: LoopStyle, value: &Value) -> Result<Vec<Value>, String> {
    Ok(match style {
        LoopStyle::List => match value.kind() {
            ValueKind::Seq | ValueKind::Iterable | ValueKind::None | ValueKind::Undefined => {
                items_of(value)
            }
            ValueKind::String => {
                return Err(format!(
                    "loop takes a list, got the string {:?} (did you mean to use a variable, `{{{{ var }}}}`?)",
                    value.as_str().unwrap_or_default()
                ));
            }
            other => return Err(format!("loop takes a list, got {other:?}")),
        },
        LoopStyle::Items => {
            let mut out = Vec::new();
            for i in items_of(value) {
                if i.kind() == ValueKind::Seq {
                    out.extend(items_of(&i));
                } else {
                    out.push(i);
                }
            }
            out
        }
        LoopStyle::Dict => {
            if value.kind() != ValueKind::Map {
                return Err("with_dict takes a mapping".into());
            }
            value
                .try_iter()
                .map_err(|e| e.to_string())?
                .map(|k| {
                    let v = value.get_item(&k).unwrap_or_default();
                    map_value([("key".to_string(), k), ("value".to_string(), v)])
                })
                .collect()
        }
        LoopStyle::Indexed => items_of(value)
            .into_iter()
            .enumerate()
            .map(|(i, v)| Value::from(vec![Value::from(i), v]))
            .collect(),
        LoopStyle::Fileglob => {
            let mut out = Vec::new();
            for pattern in items_of(value) {
                let pattern = pattern.to_string();
                let paths = glob::glob(&pattern).map_err(|e| format!("bad glob {pattern}: {e}"))?;
                for p in paths.flatten() {
                    if p.is_file() {
                        out.push(Value::from(p.display().to_string()));
                    }
                }
            }
            out
        }
        LoopStyle::Sequence => sequence(&value.to_string())?,
        LoopStyle::Nested => {
            let lists: Vec<Vec<Value>> = items_of(value).iter().map(items_of).collect();
            let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
            for list in lists {
                let mut next = Vec::new();
                for prefix in &acc {
                    for v in &list {
                        let mut p = prefix.clone();
                        p.push(v.clone());
                        next.push(p);
                    }
                }
                acc = next;
            }
            acc.into_iter().map(Value::from).collect()
        }
        LoopStyle::Together => {
            let lists: Vec<Vec<Value>> = items_of(value).iter().map(items_of).collect();
            let n = lists.iter().map(Vec::len).max().unwrap_or(0);
            (0..n)
                .map(|i| {
                    Value::from(
                        lists
                            .iter()
                            .map(|l| l.get(i).cloned().unwrap_or(Value::from(())))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect()
        }
        LoopStyle::Subelements => {
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
            out
        }
    })
}

/// `with_sequence: start=1 end=5 stride=1 format=web%02d` (or `count=`).
fn sequence(spec: &str) -> Result<Vec<Value>, String> {
    let mut start = 1i64;
    let mut end = None;
    let mut stride = 1i64;
    let mut format = None;
    for word in spec.split_whitespace() {
        let (k, v) = word
            .split_once('=')
            .ok_or(format!("with_sequence: bad term '{word}'"))?;
        let num = || {
            v.parse::<i64>()
                .map_err(|_| format!("with_sequence: {k} must be a number"))
        };
        match k {
            "start" => start = num()?,
            "end" => end = Some(num()?),
            "count" => end = Some(start + num()? - 1),
            "stride" => stride = num()?,
            "format" => format = Some(v.to_string()),
            _ => return Err(format!("with_sequence: unknown term '{k}'")),
        }
    }
    let end = end.ok_or("with_sequence needs end= or count=")?;
    if stride == 0 {
        return Err("with_sequence: stride cannot be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::from(match &format {
            Some(f) => printf_int(f, i),
            None => i.to_string(),
        }));
        i += stride;
        if out.len() > 100_000 {
            return Err("with_sequence: more than 100000 items".into());
        }
    }
    Ok(out)
}

fn printf_int(fmt: &str, n: i64) -> String {
    // Supports %d and %0Nd, the forms used in practice.
    let Some(pos) = fmt.find('%') else {
        return fmt.to_string();
    };
    let rest = &fmt[pos + 1..];
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let after = &rest[digits.len()..];
    if !after.starts_with('d') {
        return fmt.to_string();
    }
    let width: usize = digits.trim_start_matches('0').parse().unwrap_or(0);
    let num = if digits.starts_with('0') {
        format!("{n:0width$}")
    } else {
        format!("{n:width$}")
    };
    format!("{}{}{}", &fmt[..pos], num, &after[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_items_flattens_and_sequence_formats() {
        let v = Value::from(vec![
            Value::from(1),
            Value::from(vec![Value::from(2), Value::from(3)]),
        ]);
        assert_eq!(expand(LoopStyle::Items, &v).unwrap().len(), 3);
        let s = expand(
            LoopStyle::Sequence,
            &Value::from("start=1 end=3 format=web%02d"),
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                Value::from("web01"),
                Value::from("web02"),
                Value::from("web03")
            ]
        );
        assert!(expand(LoopStyle::List, &Value::from("oops")).is_err());
    }
}
