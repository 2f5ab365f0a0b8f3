//! Ansible's filters on lists and dictionaries: `combine`, `dict2items`/`items2dict`,
//! `flatten`, set operations, `zip`, `subelements`, `extract`.

use indexmap::IndexMap;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Environment, Error, State, Value};

use super::filters::{arg, defined, fail, mapping_entries};
use super::python::{map_entries, py_str, py_type_name};

/// Adds the collection filters.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("combine", combine);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("flatten", flatten);
    env.add_filter("union", union);
    env.add_filter("intersect", intersect);
    env.add_filter("difference", difference);
    env.add_filter("symmetric_difference", symmetric_difference);
    env.add_filter("zip", zip);
    env.add_filter("zip_longest", zip_longest);
    env.add_filter("subelements", subelements);
    env.add_filter("extract", extract);
    env.add_function("dict", dict);
}

/// Python's `dict(mapping_or_pairs=None, **kwargs)`.
fn dict(value: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let mut out: IndexMap<Value, Value> = IndexMap::new();
    if let Some(v) = value.filter(|v| !v.is_none() && !v.is_undefined()) {
        match v.kind() {
            ValueKind::Map => out.extend(map_entries(&v)),
            ValueKind::Seq | ValueKind::Iterable => {
                for pair in v.try_iter()? {
                    let kv = list_of("dict", &pair)?;
                    match kv.as_slice() {
                        [k, v] => {
                            out.insert(k.clone(), v.clone());
                        }
                        _ => {
                            return Err(fail(
                                "dict",
                                format!("expects pairs, got {}", py_str(&pair)),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(fail(
                    "dict",
                    format!("cannot convert {} to a dictionary", py_type_name(&v)),
                ));
            }
        }
    }
    let names: Vec<String> = kwargs.args().map(str::to_string).collect();
    for name in names {
        let v: Value = kwargs.get(&name)?;
        out.insert(Value::from(name), v);
    }
    Ok(Value::from(out))
}

fn list_of(name: &str, v: &Value) -> Result<Vec<Value>, Error> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
        ValueKind::String => Ok(v
            .as_str()
            .unwrap_or_default()
            .chars()
            .map(Value::from)
            .collect()),
        _ => Err(fail(
            name,
            format!("expects a list, got {}", py_type_name(v)),
        )),
    }
}

/// How `combine` merges two lists found under the same key.
#[derive(Clone, Copy)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

fn merge_lists(x: &Value, y: &Value, how: ListMerge) -> Result<Value, Error> {
    let x = list_of("combine", x)?;
    let y = list_of("combine", y)?;
    let out: Vec<Value> = match how {
        ListMerge::Replace => y,
        ListMerge::Keep => x,
        ListMerge::Append => x.into_iter().chain(y).collect(),
        ListMerge::Prepend => y.into_iter().chain(x).collect(),
        ListMerge::AppendRp => x
            .into_iter()
            .filter(|i| !y.contains(i))
            .chain(y.iter().cloned())
            .collect(),
        ListMerge::PrependRp => {
            let rest: Vec<Value> = x.into_iter().filter(|i| !y.contains(i)).collect();
            y.into_iter().chain(rest).collect()
        }
    };
    Ok(Value::from(out))
}

/// Ansible's `merge_hash(x, y)`: `y` wins; dicts merge when `recursive`.
fn merge_hash(x: &Value, y: &Value, recursive: bool, how: ListMerge) -> Result<Value, Error> {
    let mut out: IndexMap<Value, Value> = map_entries(x).into_iter().collect();
    for (k, yv) in map_entries(y) {
        let merged = match out.get(&k) {
            Some(xv) if recursive && xv.kind() == ValueKind::Map && yv.kind() == ValueKind::Map => {
                merge_hash(xv, &yv, recursive, how)?
            }
            Some(xv) if xv.kind() == ValueKind::Seq && yv.kind() == ValueKind::Seq => {
                merge_lists(xv, &yv, how)?
            }
            _ => yv,
        };
        out.insert(k, merged);
    }
    Ok(Value::from(out))
}

/// `combine(*dicts, recursive=False, list_merge='replace')`.
fn combine(
    state: &State,
    value: &Value,
    others: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let how = match kwargs.get::<Option<String>>("list_merge")?.as_deref() {
        None | Some("replace") => ListMerge::Replace,
        Some("keep") => ListMerge::Keep,
        Some("append") => ListMerge::Append,
        Some("prepend") => ListMerge::Prepend,
        Some("append_rp") => ListMerge::AppendRp,
        Some("prepend_rp") => ListMerge::PrependRp,
        Some(other) => {
            return Err(fail(
                "combine",
                format!(
                    "'{other}' is not a valid list_merge value (replace, keep, append, prepend, append_rp, prepend_rp)"
                ),
            ));
        }
    };
    kwargs.assert_all_used().map_err(|_| {
        fail(
            "combine",
            "'recursive' and 'list_merge' are the only valid keyword arguments",
        )
    })?;
    let mut dicts = Vec::new();
    for term in std::iter::once(value.clone()).chain(others.0) {
        defined(state, &term)?;
        match term.kind() {
            ValueKind::Map => dicts.push(term),
            ValueKind::Seq | ValueKind::Iterable => dicts.extend(term.try_iter()?),
            _ => {
                return Err(fail(
                    "combine",
                    format!("expects dictionaries, got {}", py_type_name(&term)),
                ));
            }
        }
    }
    for d in &dicts {
        if d.kind() != ValueKind::Map {
            return Err(fail(
                "combine",
                format!("expects dictionaries, got {}", py_type_name(d)),
            ));
        }
    }
    let mut iter = dicts.into_iter().rev();
    let Some(mut result) = iter.next() else {
        return Ok(Value::from(IndexMap::<Value, Value>::new()));
    };
    for d in iter {
        result = merge_hash(&d, &result, recursive, how)?;
    }
    Ok(result)
}

/// `dict2items(key_name='key', value_name='value')`.
fn dict2items(
    state: &State,
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let key_name = arg(key_name, &kwargs, "key_name")?.unwrap_or_else(|| "key".into());
    let value_name = arg(value_name, &kwargs, "value_name")?.unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    defined(state, value)?;
    let items = mapping_entries("dict2items", value)?
        .into_iter()
        .map(|(k, v)| {
            let mut m = IndexMap::new();
            m.insert(Value::from(key_name.as_str()), k);
            m.insert(Value::from(value_name.as_str()), v);
            Value::from(m)
        })
        .collect::<Vec<_>>();
    Ok(Value::from(items))
}

/// `items2dict(key_name='key', value_name='value')`.
fn items2dict(
    state: &State,
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let key_name = arg(key_name, &kwargs, "key_name")?.unwrap_or_else(|| "key".into());
    let value_name = arg(value_name, &kwargs, "value_name")?.unwrap_or_else(|| "value".into());
    kwargs.assert_all_used()?;
    defined(state, value)?;
    let mut out = IndexMap::new();
    for item in list_of("items2dict", value)? {
        if item.kind() != ValueKind::Map {
            return Err(fail(
                "items2dict",
                format!(
                    "requires a list of dictionaries, got {}",
                    py_type_name(&item)
                ),
            ));
        }
        let k = item.get_attr(&key_name).unwrap_or_default();
        let v = item.get_attr(&value_name).unwrap_or_default();
        if k.is_undefined() || v.is_undefined() {
            return Err(fail(
                "items2dict",
                format!("each item needs the keys '{key_name}' and '{value_name}'"),
            ));
        }
        out.insert(k, v);
    }
    Ok(Value::from(out))
}

fn flatten_into(
    items: Vec<Value>,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    for item in items {
        if skip_nulls && (item.is_none() || matches!(item.as_str(), Some("None") | Some("null"))) {
            continue;
        }
        let is_list = matches!(item.kind(), ValueKind::Seq | ValueKind::Iterable);
        match levels {
            _ if !is_list => out.push(item),
            None => flatten_into(item.try_iter()?.collect(), None, skip_nulls, out)?,
            Some(n) if n >= 1 => {
                flatten_into(item.try_iter()?.collect(), Some(n - 1), skip_nulls, out)?
            }
            Some(_) => out.push(item),
        }
    }
    Ok(())
}

/// `flatten(levels=None, skip_nulls=True)`.
fn flatten(
    state: &State,
    value: &Value,
    levels: Option<i64>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let levels = arg(levels, &kwargs, "levels")?;
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    kwargs.assert_all_used()?;
    defined(state, value)?;
    let mut out = Vec::new();
    flatten_into(list_of("flatten", value)?, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

fn unique(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// `union(other)`: unique items of both, in order.
fn union(value: &Value, other: &Value) -> Result<Value, Error> {
    let a = list_of("union", value)?;
    let b = list_of("union", other)?;
    Ok(Value::from(unique(a.into_iter().chain(b))))
}

/// `intersect(other)`.
fn intersect(value: &Value, other: &Value) -> Result<Value, Error> {
    let a = list_of("intersect", value)?;
    let b = list_of("intersect", other)?;
    Ok(Value::from(unique(a.into_iter().filter(|x| b.contains(x)))))
}

/// `difference(other)`: items of the list not in `other`.
fn difference(value: &Value, other: &Value) -> Result<Value, Error> {
    let a = list_of("difference", value)?;
    let b = list_of("difference", other)?;
    Ok(Value::from(unique(
        a.into_iter().filter(|x| !b.contains(x)),
    )))
}

/// `symmetric_difference(other)`.
fn symmetric_difference(value: &Value, other: &Value) -> Result<Value, Error> {
    let a = list_of("symmetric_difference", value)?;
    let b = list_of("symmetric_difference", other)?;
    let both: Vec<Value> = a.iter().filter(|x| b.contains(x)).cloned().collect();
    Ok(Value::from(unique(
        a.into_iter().chain(b).filter(|x| !both.contains(x)),
    )))
}

/// `zip(*others)`: a list of lists, as long as the shortest input.
fn zip(value: &Value, others: Rest<Value>) -> Result<Value, Error> {
    let mut lists = vec![list_of("zip", value)?];
    for o in others.iter() {
        lists.push(list_of("zip", o)?);
    }
    let len = lists.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..len)
            .map(|i| Value::from(lists.iter().map(|l| l[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// `zip_longest(*others, fillvalue=None)`.
fn zip_longest(value: &Value, others: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let fill = kwargs
        .get::<Option<Value>>("fillvalue")?
        .unwrap_or(Value::from(()));
    kwargs.assert_all_used()?;
    let mut lists = vec![list_of("zip_longest", value)?];
    for o in others.iter() {
        lists.push(list_of("zip_longest", o)?);
    }
    let len = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok(Value::from(
        (0..len)
            .map(|i| {
                Value::from(
                    lists
                        .iter()
                        .map(|l| l.get(i).cloned().unwrap_or_else(|| fill.clone()))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>(),
    ))
}

/// `subelements(key, skip_missing=False)`: `[item, subitem]` pairs for each item's list
/// under `key` (a dotted path).
fn subelements(
    state: &State,
    value: &Value,
    key: &Value,
    skip_missing: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let skip_missing = arg(skip_missing, &kwargs, "skip_missing")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    defined(state, value)?;
    let items: Vec<Value> = match value.kind() {
        ValueKind::Map => map_entries(value).into_iter().map(|(_, v)| v).collect(),
        _ => list_of("subelements", value)?,
    };
    let path: Vec<String> = match key.as_str() {
        Some(s) => s.split('.').map(str::to_string).collect(),
        None => list_of("subelements", key)?.iter().map(py_str).collect(),
    };
    let mut out = Vec::new();
    'items: for item in items {
        let mut cur = item.clone();
        for k in &path {
            let next = if cur.kind() == ValueKind::Map {
                cur.get_attr(k).unwrap_or_default()
            } else {
                Value::UNDEFINED
            };
            if next.is_undefined() {
                if skip_missing {
                    continue 'items;
                }
                return Err(fail(
                    "subelements",
                    format!(
                        "could not find '{k}' key in iterated item '{}'",
                        py_str(&item)
                    ),
                ));
            }
            cur = next;
        }
        let subs = list_of("subelements", &cur).map_err(|_| {
            fail(
                "subelements",
                format!("the key '{}' should point to a list", path.join(".")),
            )
        })?;
        for sub in subs {
            out.push(Value::from(vec![item.clone(), sub]));
        }
    }
    Ok(Value::from(out))
}

/// `extract(container, morekeys=None)`: `container[item]`, then deeper by `morekeys`.
fn extract(item: &Value, container: &Value, morekeys: Option<Value>) -> Result<Value, Error> {
    let mut v = container.get_item(item).unwrap_or_default();
    if let Some(keys) = morekeys {
        let keys: Vec<Value> = match keys.kind() {
            ValueKind::Seq => keys.try_iter()?.collect(),
            _ => vec![keys],
        };
        for k in keys {
            v = v.get_item(&k).unwrap_or_default();
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::super::{Scope, Templar};

    fn r(expr: &str) -> String {
        match Templar::new().render_str(expr, &Scope::default()) {
            Ok(v) => super::py_str(&v),
            Err(e) => format!("ERROR: {e}"),
        }
    }

    #[test]
    fn combine_like_ansible() {
        assert_eq!(
            r("{{ {'a': 1, 'b': 2} | combine({'b': 3}) }}"),
            "{'a': 1, 'b': 3}"
        );
        assert_eq!(
            r("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}) }}"),
            "{'a': {'y': 2}}"
        );
        assert_eq!(
            r("{{ {'a': {'x': 1}} | combine({'a': {'y': 2}}, recursive=true) }}"),
            "{'a': {'x': 1, 'y': 2}}"
        );
        assert_eq!(
            r("{{ [{'a': 1}, {'a': 2, 'b': 3}] | combine }}"),
            "{'a': 2, 'b': 3}"
        );
        assert_eq!(
            r("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append') }}"),
            "{'l': [1, 2, 2, 3]}"
        );
        assert_eq!(
            r("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}"),
            "{'l': [1, 2, 3]}"
        );
        assert_eq!(
            r("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='prepend_rp') }}"),
            "{'l': [2, 3, 1]}"
        );
        assert_eq!(
            r("{{ {'l': [1]} | combine({'l': [2]}, list_merge='keep') }}"),
            "{'l': [1]}"
        );
        assert!(r("{{ {} | combine({}, bogus=1) }}").contains("only valid keyword"));
        assert!(r("{{ {} | combine(1) }}").contains("expects dictionaries"));
    }

    #[test]
    fn dict2items_and_back() {
        assert_eq!(
            r("{{ {'a': 1, 'b': 2} | dict2items }}"),
            "[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]"
        );
        assert_eq!(
            r("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}"),
            "[{'k': 'a', 'v': 1}]"
        );
        assert_eq!(
            r("{{ [{'key': 'a', 'value': 1}] | items2dict }}"),
            "{'a': 1}"
        );
        assert_eq!(
            r("{{ [{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v') }}"),
            "{'a': 1}"
        );
        assert!(r("{{ [1] | dict2items }}").contains("requires a dictionary, got list"));
    }

    #[test]
    fn flatten_levels_and_nulls() {
        assert_eq!(
            r("{{ [1, [2, [3, [4]]], none] | flatten }}"),
            "[1, 2, 3, 4]"
        );
        assert_eq!(r("{{ [1, [2, [3]]] | flatten(1) }}"), "[1, 2, [3]]");
        assert_eq!(
            r("{{ [1, none] | flatten(skip_nulls=false) }}"),
            "[1, None]"
        );
    }

    #[test]
    fn set_operations_keep_order() {
        assert_eq!(r("{{ [1, 2, 2, 3] | union([3, 4, 1]) }}"), "[1, 2, 3, 4]");
        assert_eq!(r("{{ [1, 2, 3, 2] | intersect([2, 3, 5]) }}"), "[2, 3]");
        assert_eq!(r("{{ [1, 2, 3] | difference([2]) }}"), "[1, 3]");
        assert_eq!(
            r("{{ [1, 2, 3] | symmetric_difference([3, 4]) }}"),
            "[1, 2, 4]"
        );
        assert_eq!(r("{{ [3, 1, 3] | unique }}"), "[3, 1]");
    }

    #[test]
    fn zips_are_lists() {
        assert_eq!(
            r("{{ [1, 2, 3] | zip(['a', 'b']) }}"),
            "[[1, 'a'], [2, 'b']]"
        );
        assert_eq!(
            r("{{ [1, 2] | zip_longest(['a']) }}"),
            "[[1, 'a'], [2, None]]"
        );
        assert_eq!(
            r("{{ [1] | zip_longest([], fillvalue='-') }}"),
            "[[1, '-']]"
        );
        assert_eq!(
            r("{{ dict(['a', 'b'] | zip([1, 2])) }}"),
            "{'a': 1, 'b': 2}"
        );
        assert_eq!(r("{{ dict({'a': 1}, b=2) }}"), "{'a': 1, 'b': 2}");
        assert_eq!(r("{{ dict() }}"), "{}");
    }

    #[test]
    fn subelements_and_extract() {
        assert_eq!(
            r(
                "{{ [{'n': 'a', 'g': ['x', 'y']}, {'n': 'b', 'g': []}] | subelements('g') | map('last') | list }}"
            ),
            "['x', 'y']"
        );
        assert_eq!(
            r("{{ [{'n': 'a'}] | subelements('g', skip_missing=true) }}"),
            "[]"
        );
        assert!(r("{{ [{'n': 'a'}] | subelements('g') }}").contains("could not find 'g' key"));
        assert_eq!(
            r("{{ ['a', 'b'] | map('extract', {'a': 1, 'b': 2}) | list }}"),
            "[1, 2]"
        );
        assert_eq!(
            r("{{ 'h1' | extract({'h1': {'ip': '10.0.0.1'}}, 'ip') }}"),
            "10.0.0.1"
        );
    }
}
