//! Ansible's Jinja tests (`x is ...`): regex matching, `version`, set relations, the state of
//! registered results (`failed`, `changed`, ...), truthiness and controller-side paths.
//! Jinja's own tests (`defined`, `none`, `string`, `in`, ...) come from minijinja.

use std::cmp::Ordering;
use std::path::Path;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, State, Value};

use super::filters::{arg, defined, fail, text};
use super::python::{ansible_bool, py_str, py_type_name};
use super::re::compile;

/// Adds Ansible's tests.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_test("match", is_match);
    env.add_test("search", is_search);
    env.add_test("regex", is_regex);
    env.add_test("contains", contains);
    env.add_test("version", version_test);
    env.add_test("version_compare", version_test);
    env.add_test("subset", subset);
    env.add_test("superset", superset);
    env.add_test("success", succeeded);
    env.add_test("succeeded", succeeded);
    env.add_test("failed", failed);
    env.add_test("failure", failed);
    env.add_test("changed", changed);
    env.add_test("change", changed);
    env.add_test("skipped", skipped);
    env.add_test("skip", skipped);
    env.add_test("truthy", truthy);
    env.add_test("falsy", falsy);
    env.add_test("all", all);
    env.add_test("any", any);
    env.add_test("file", is_file);
    env.add_test("directory", is_directory);
    env.add_test("exists", exists);
    env.add_test("link", is_link);
    env.add_test("abs", is_abs);
    env.add_test("vault_encrypted", vault_encrypted);
}

fn regex_flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
    Ok((ignorecase, multiline))
}

/// `value is match(pattern)`: `re.match` (anchored at the start).
fn is_match(state: &State, value: &Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let (i, m) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    Ok(compile(&pattern, i, m, true)?.is_match(&text(state, value)?))
}

/// `value is search(pattern)`: `re.search`.
fn is_search(state: &State, value: &Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let (i, m) = regex_flags(&kwargs)?;
    kwargs.assert_all_used()?;
    Ok(compile(&pattern, i, m, false)?.is_match(&text(state, value)?))
}

/// `value is regex(pattern, match_type='search')`.
fn is_regex(state: &State, value: &Value, pattern: String, kwargs: Kwargs) -> Result<bool, Error> {
    let (i, m) = regex_flags(&kwargs)?;
    let anchored = match kwargs.get::<Option<String>>("match_type")?.as_deref() {
        None | Some("search") => false,
        Some("match") => true,
        Some(other) => return Err(fail("regex", format!("unknown match_type '{other}'"))),
    };
    kwargs.assert_all_used()?;
    Ok(compile(&pattern, i, m, anchored)?.is_match(&text(state, value)?))
}

/// `seq is contains(value)`.
fn contains(state: &State, seq: &Value, item: &Value) -> Result<bool, Error> {
    defined(state, seq)?;
    match seq.kind() {
        ValueKind::String => Ok(seq.as_str().unwrap_or_default().contains(&py_str(item))),
        ValueKind::Map => Ok(!seq.get_item(item).unwrap_or_default().is_undefined()),
        _ => Ok(seq.try_iter()?.any(|x| &x == item)),
    }
}

/// One component of a loose version: numbers compare as numbers, before words.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Num(u64),
    Word(String),
}

/// distutils' `LooseVersion` components.
fn loose(v: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut cur_digit = false;
    let flush = |cur: &mut String, digit: bool, parts: &mut Vec<Part>| {
        if cur.is_empty() {
            return;
        }
        parts.push(if digit {
            Part::Num(cur.parse().unwrap_or(u64::MAX))
        } else {
            Part::Word(std::mem::take(cur))
        });
        cur.clear();
    };
    for c in v.chars() {
        if c == '.' {
            flush(&mut cur, cur_digit, &mut parts);
            continue;
        }
        let digit = c.is_ascii_digit();
        if !cur.is_empty() && digit != cur_digit {
            flush(&mut cur, cur_digit, &mut parts);
        }
        cur_digit = digit;
        cur.push(c);
    }
    flush(&mut cur, cur_digit, &mut parts);
    parts
}

/// A parsed `StrictVersion`: numbers, then an optional pre-release (`a1`, `b2`).
type Strict = (Vec<u64>, Option<(char, u64)>);

/// distutils' `StrictVersion`: `N.N[.N][(a|b)N]`.
fn strict(v: &str) -> Option<Strict> {
    let re = compile(r"^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$", false, false, false).ok()?;
    let c = re.captures(v)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<u64>().ok());
    let nums = vec![num(1)?, num(2)?, num(4).unwrap_or(0)];
    let pre = c.get(5).map(|m| {
        let s = m.as_str();
        (s.chars().next().unwrap_or('a'), num(6).unwrap_or(0))
    });
    Some((nums, pre))
}

/// Semantic versioning 2.0 precedence (build metadata ignored).
fn semver(v: &str) -> Option<(Vec<u64>, Vec<Part>)> {
    let v = v.split('+').next().unwrap_or(v);
    let (core, pre) = match v.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (v, None),
    };
    let nums: Vec<u64> = core
        .split('.')
        .map(|n| n.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 3 {
        return None;
    }
    let pre = pre
        .map(|p| {
            p.split('.')
                .map(|id| match id.parse::<u64>() {
                    Ok(n) => Part::Num(n),
                    Err(_) => Part::Word(id.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    Some((nums, pre))
}

/// Compares two versions by `version_type` (`loose`, `strict`, `semver`/`semantic`).
pub(crate) fn compare_versions(a: &str, b: &str, version_type: &str) -> Result<Ordering, Error> {
    match version_type {
        "loose" => Ok(loose(a).cmp(&loose(b))),
        "strict" => {
            let pa = strict(a)
                .ok_or_else(|| fail("version", format!("invalid version number '{a}'")))?;
            let pb = strict(b)
                .ok_or_else(|| fail("version", format!("invalid version number '{b}'")))?;
            Ok(pa.0.cmp(&pb.0).then_with(|| match (&pa.1, &pb.1) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => x.cmp(y),
            }))
        }
        "semver" | "semantic" => {
            let pa = semver(a)
                .ok_or_else(|| fail("version", format!("invalid semantic version '{a}'")))?;
            let pb = semver(b)
                .ok_or_else(|| fail("version", format!("invalid semantic version '{b}'")))?;
            Ok(pa
                .0
                .cmp(&pb.0)
                .then_with(|| match (pa.1.is_empty(), pb.1.is_empty()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => Ordering::Greater,
                    (false, true) => Ordering::Less,
                    (false, false) => pa.1.cmp(&pb.1),
                }))
        }
        other => Err(fail(
            "version",
            format!("version_type '{other}' is not supported (loose, strict, semver)"),
        )),
    }
}

/// `value is version(other, operator='eq', strict=False, version_type='loose')`; also the
/// `version_compare` filter.
pub(crate) fn version_compare(
    state: &State,
    value: &Value,
    other: &Value,
    operator: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    let operator = arg(operator, &kwargs, "operator")?.unwrap_or_else(|| "eq".into());
    let strict_flag = kwargs.get::<Option<bool>>("strict")?.unwrap_or(false);
    let version_type = kwargs
        .get::<Option<String>>("version_type")?
        .unwrap_or_else(|| if strict_flag { "strict" } else { "loose" }.into());
    kwargs.assert_all_used()?;
    let a = text(state, value)?;
    let b = text(state, other)?;
    if a.is_empty() {
        return Err(fail("version", "input version value cannot be empty"));
    }
    let ord = compare_versions(&a, &b, &version_type)?;
    Ok(match operator.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        other => return Err(fail("version", format!("invalid operator type ({other})"))),
    })
}

fn version_test(
    state: &State,
    value: &Value,
    other: &Value,
    operator: Option<String>,
    kwargs: Kwargs,
) -> Result<bool, Error> {
    version_compare(state, value, other, operator, kwargs)
}

fn items(name: &str, v: &Value) -> Result<Vec<Value>, Error> {
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable | ValueKind::Map => Ok(v.try_iter()?.collect()),
        _ => Err(fail(
            name,
            format!("expects a list, got {}", py_type_name(v)),
        )),
    }
}

/// `a is subset(b)`.
fn subset(a: &Value, b: &Value) -> Result<bool, Error> {
    let b = items("subset", b)?;
    Ok(items("subset", a)?.iter().all(|x| b.contains(x)))
}

/// `a is superset(b)`.
fn superset(a: &Value, b: &Value) -> Result<bool, Error> {
    let a = items("superset", a)?;
    Ok(items("superset", b)?.iter().all(|x| a.contains(x)))
}

fn result_map<'v>(name: &str, state: &State, v: &'v Value) -> Result<&'v Value, Error> {
    defined(state, v)?;
    if v.kind() != ValueKind::Map {
        return Err(fail(
            name,
            format!(
                "the '{name}' test expects a dictionary, got {}",
                py_type_name(v)
            ),
        ));
    }
    Ok(v)
}

fn flag(v: &Value, key: &str) -> bool {
    let f = v.get_attr(key).unwrap_or_default();
    !f.is_undefined() && super::is_truthy(&f)
}

/// `result is failed`.
fn failed(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(flag(result_map("failed", state, v)?, "failed"))
}

/// `result is succeeded`.
fn succeeded(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(!flag(result_map("succeeded", state, v)?, "failed"))
}

/// `result is changed` (also true when any item of a loop's `results` changed).
fn changed(state: &State, v: &Value) -> Result<bool, Error> {
    let v = result_map("changed", state, v)?;
    let results = v.get_attr("results").unwrap_or_default();
    if results.kind() == ValueKind::Seq
        && results
            .get_item_by_index(0)
            .is_ok_and(|r| r.kind() == ValueKind::Map)
    {
        return Ok(results.try_iter()?.any(|r| flag(&r, "changed")));
    }
    Ok(flag(v, "changed"))
}

/// `result is skipped`.
fn skipped(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(flag(result_map("skipped", state, v)?, "skipped"))
}

/// `value is truthy(convert_bool=False)`.
fn truthy(state: &State, v: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    let convert = kwargs.get::<Option<bool>>("convert_bool")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    defined(state, v)?;
    Ok(
        if convert
            && matches!(
                v.kind(),
                ValueKind::String | ValueKind::Bool | ValueKind::Number
            )
        {
            ansible_bool(v)
        } else {
            v.is_true()
        },
    )
}

/// `value is falsy(convert_bool=False)`.
fn falsy(state: &State, v: &Value, kwargs: Kwargs) -> Result<bool, Error> {
    truthy(state, v, kwargs).map(|t| !t)
}

/// `list is all`: every item true.
fn all(v: &Value) -> Result<bool, Error> {
    Ok(items("all", v)?.iter().all(Value::is_true))
}

/// `list is any`: some item true.
fn any(v: &Value) -> Result<bool, Error> {
    Ok(items("any", v)?.iter().any(Value::is_true))
}

fn path(state: &State, v: &Value) -> Result<String, Error> {
    text(state, v)
}

/// `path is file` (on the controller).
fn is_file(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v)?).is_file())
}

/// `path is directory` (on the controller).
fn is_directory(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v)?).is_dir())
}

/// `path is exists` (on the controller; follows symlinks).
fn exists(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v)?).exists())
}

/// `path is link` (on the controller).
fn is_link(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(Path::new(&path(state, v)?).is_symlink())
}

/// `path is abs`.
fn is_abs(state: &State, v: &Value) -> Result<bool, Error> {
    Ok(path(state, v)?.starts_with('/'))
}

/// `value is vault_encrypted`.
fn vault_encrypted(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.trim_start().starts_with("$ANSIBLE_VAULT;"))
}

#[cfg(test)]
mod unit {
    use super::super::{Scope, Templar};
    use super::*;

    fn t(expr: &str) -> String {
        match Templar::new().eval(expr, &Scope::default()) {
            Ok(v) => py_str(&v),
            Err(e) => format!("ERROR: {e}"),
        }
    }

    #[test]
    fn jinja_builtin_tests_still_work() {
        assert_eq!(t("x is defined"), "False");
        assert_eq!(t("x is undefined"), "True");
        assert_eq!(t("none is none"), "True");
        assert_eq!(t("'a' is string"), "True");
        assert_eq!(t("1.5 is number"), "True");
        assert_eq!(t("{} is mapping"), "True");
        assert_eq!(t("[1] is sequence and [1] is iterable"), "True");
        assert_eq!(t("true is boolean"), "True");
        assert_eq!(t("2 is in [1, 2]"), "True");
    }

    #[test]
    fn regex_tests() {
        assert_eq!(
            t("'http://example.com/x' is match('http://example.com')"),
            "True"
        );
        assert_eq!(t("'xhttp://example.com' is match('http')"), "False");
        assert_eq!(t("'xhttp://example.com' is search('http')"), "True");
        assert_eq!(t("'ABC' is search('b', ignorecase=true)"), "True");
        assert_eq!(t("'abc' is regex('^b')"), "False");
        assert_eq!(t("'abc' is regex('a', match_type='match')"), "True");
        assert_eq!(t("[1, 2] is contains(2)"), "True");
        assert_eq!(t("'abc' is contains('bc')"), "True");
    }

    #[test]
    fn versions() {
        assert_eq!(t("'1.10.0' is version('1.9', '>')"), "True");
        assert_eq!(t("'1.2.3' is version('1.2.3', 'eq')"), "True");
        assert_eq!(t("'2.0' is version('10.0', operator='lt')"), "True");
        assert_eq!(t("'1.0a1' is version('1.0', '<', strict=true)"), "True");
        assert_eq!(
            t("'1.0.0-rc.1' is version('1.0.0', '<', version_type='semver')"),
            "True"
        );
        assert_eq!(
            t("'1.0.0-alpha' is version('1.0.0-alpha.1', 'lt', version_type='semver')"),
            "True"
        );
        assert_eq!(t("'1.2' is version_compare('1.3', 'le')"), "True");
        assert_eq!(t("'1.2' | version_compare('1.3', '>=')"), "False");
        assert!(t("'1.2' is version('1.3', 'bogus')").contains("invalid operator type"));
        assert!(t("'x.y' is version('1.0', strict=true)").contains("invalid version number"));
        assert_eq!(
            compare_versions("1.2.10", "1.2.9", "loose").ok(),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn set_relations() {
        assert_eq!(t("[1, 2] is subset([1, 2, 3])"), "True");
        assert_eq!(t("[1, 4] is subset([1, 2, 3])"), "False");
        assert_eq!(t("[1, 2, 3] is superset([3])"), "True");
    }

    #[test]
    fn registered_result_tests() {
        assert_eq!(t("{'failed': true} is failed"), "True");
        assert_eq!(t("{'rc': 0} is failed"), "False");
        assert_eq!(t("{'rc': 0} is succeeded"), "True");
        assert_eq!(t("{'failed': false} is success"), "True");
        assert_eq!(t("{'changed': true} is changed"), "True");
        assert_eq!(
            t("{'results': [{'changed': false}, {'changed': true}]} is changed"),
            "True"
        );
        assert_eq!(t("{'skipped': true} is skipped"), "True");
        assert_eq!(t("{} is skipped"), "False");
        assert!(t("'x' is failed").contains("expects a dictionary"));
    }

    #[test]
    fn truthiness_tests() {
        assert_eq!(t("'no' is truthy"), "True");
        assert_eq!(t("'no' is truthy(convert_bool=true)"), "False");
        assert_eq!(t("'' is falsy"), "True");
        assert_eq!(t("[true, 1] is all"), "True");
        assert_eq!(t("[false, 0] is any"), "False");
        assert_eq!(
            t("'$ANSIBLE_VAULT;1.1;AES256\n6162' is vault_encrypted"),
            "True"
        );
    }

    #[test]
    fn path_tests_on_the_controller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").expect("write");
        let d = dir.path().display();
        let f = file.display();
        assert_eq!(t(&format!("'{f}' is file")), "True");
        assert_eq!(t(&format!("'{d}' is file")), "False");
        assert_eq!(t(&format!("'{d}' is directory")), "True");
        assert_eq!(t(&format!("'{d}/nope' is exists")), "False");
        assert_eq!(t(&format!("'{f}' is exists")), "True");
        assert_eq!(t("'/etc' is abs and not ('etc' is abs)"), "True");
    }
}
