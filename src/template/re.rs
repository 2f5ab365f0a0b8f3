//! Python-flavoured regular expressions for Ansible's `regex_*` filters and the
//! `match`/`search`/`regex` tests: pattern and replacement translation (`\1` -> `${1}`), flags,
//! and a small cache of compiled patterns.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, State, Value};

use super::filters::{arg, fail, text};

/// Adds the `regex_*` filters.
pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("regex_escape", regex_escape);
}

/// Compiles a Python-syntax pattern (cached). `anchored` makes it match only at the start,
/// like `re.match`.
pub(crate) fn compile(
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
    anchored: bool,
) -> Result<regex::Regex, Error> {
    static CACHE: OnceLock<Mutex<HashMap<(String, u8), regex::Regex>>> = OnceLock::new();
    let flags = u8::from(ignorecase) | (u8::from(multiline) << 1) | (u8::from(anchored) << 2);
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = (pattern.to_string(), flags);
    if let Some(re) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(re.clone());
    }
    let mut translated = String::new();
    if ignorecase || multiline {
        translated.push_str("(?");
        if ignorecase {
            translated.push('i');
        }
        if multiline {
            translated.push('m');
        }
        translated.push(')');
    }
    let body = translate_pattern(pattern);
    if anchored {
        translated.push_str(&format!(r"\A(?:{body})"));
    } else {
        translated.push_str(&body);
    }
    let re = regex::Regex::new(&translated).map_err(|e| {
        fail(
            "regex",
            format!("invalid regular expression {pattern:?}: {e}"),
        )
    })?;
    let mut guard = cache.lock().unwrap_or_else(|e| e.into_inner());
    if guard.len() > 1024 {
        guard.clear();
    }
    guard.insert(key, re.clone());
    Ok(re)
}

/// Python-only pattern syntax to Rust's: `\Z` is `\z`.
fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str(r"\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A Python `re.sub` replacement (`\1`, `\g<1>`, `\g<name>`, `\n`) in Rust's syntax.
pub(crate) fn translate_replacement(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len());
    let chars: Vec<char> = repl.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '$' => out.push_str("$$"),
            '\\' if i + 1 < chars.len() => {
                let n = chars[i + 1];
                if n.is_ascii_digit() {
                    let mut digits = n.to_string();
                    if i + 2 < chars.len() && chars[i + 2].is_ascii_digit() {
                        digits.push(chars[i + 2]);
                        i += 1;
                    }
                    out.push_str(&format!("${{{digits}}}"));
                    i += 1;
                } else if n == 'g' && chars.get(i + 2) == Some(&'<') {
                    let close = chars[i + 3..].iter().position(|&ch| ch == '>');
                    match close {
                        Some(len) => {
                            let name: String = chars[i + 3..i + 3 + len].iter().collect();
                            out.push_str(&format!("${{{name}}}"));
                            i += 3 + len;
                        }
                        None => {
                            out.push_str("\\g");
                            i += 1;
                        }
                    }
                } else {
                    match n {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '\\' => out.push('\\'),
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                    i += 1;
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

fn flags(kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false),
        kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false),
    ))
}

/// `regex_replace(pattern, replacement='', ignorecase=False, multiline=False, count=0,
/// mandatory_count=0)`.
fn regex_replace(
    state: &State,
    value: &Value,
    pattern: Option<String>,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    let pattern = arg(pattern, &kwargs, "pattern")?.unwrap_or_default();
    let replacement = arg(replacement, &kwargs, "replacement")?.unwrap_or_default();
    let (ignorecase, multiline) = flags(&kwargs)?;
    let count = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    kwargs.assert_all_used()?;
    let s = text(state, value)?;
    let re = compile(&pattern, ignorecase, multiline, false)?;
    if mandatory > 0 {
        let found = re.find_iter(&s).count();
        if found != mandatory {
            return Err(fail(
                "regex_replace",
                format!("'{pattern}' should match {mandatory} times, but matches {found} times"),
            ));
        }
    }
    let repl = translate_replacement(&replacement);
    Ok(re.replacen(&s, count, repl.as_str()).into_owned())
}

/// `regex_search(regex, *groups, ignorecase=False, multiline=False)`: the match, the listed
/// groups (`'\\1'`, `'\\g<name>'`), or none.
fn regex_search(
    state: &State,
    value: &Value,
    pattern: String,
    groups: minijinja::value::Rest<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let s = text(state, value)?;
    let re = compile(&pattern, ignorecase, multiline, false)?;
    let Some(caps) = re.captures(&s) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(
            caps.get(0).map(|m| m.as_str()).unwrap_or_default(),
        ));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(n) => caps.get(n),
                Err(_) => caps.name(name),
            }
        } else if let Some(n) = g.strip_prefix('\\').and_then(|d| d.parse::<usize>().ok()) {
            caps.get(n)
        } else {
            return Err(fail("regex_search", format!("unknown argument {g:?}")));
        };
        out.push(
            m.map(|m| Value::from(m.as_str()))
                .unwrap_or(Value::from(())),
        );
    }
    Ok(Value::from(out))
}

/// `regex_findall(regex, multiline=False, ignorecase=False)` like Python's `re.findall`.
fn regex_findall(
    state: &State,
    value: &Value,
    pattern: String,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let (ignorecase, multiline) = flags(&kwargs)?;
    kwargs.assert_all_used()?;
    let s = text(state, value)?;
    let re = compile(&pattern, ignorecase, multiline, false)?;
    let groups = re.captures_len() - 1;
    let group = |c: &regex::Captures<'_>, i: usize| {
        Value::from(c.get(i).map(|m| m.as_str()).unwrap_or_default())
    };
    let out: Vec<Value> = re
        .captures_iter(&s)
        .map(|c| match groups {
            0 => group(&c, 0),
            1 => group(&c, 1),
            n => Value::from((1..=n).map(|i| group(&c, i)).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(out))
}

/// `regex_escape(re_type='python')`.
fn regex_escape(state: &State, value: &Value, re_type: Option<String>) -> Result<String, Error> {
    let s = text(state, value)?;
    let special: &[char] = match re_type.as_deref().unwrap_or("python") {
        "python" => &[
            '(', ')', '[', ']', '{', '}', '?', '*', '+', '-', '|', '^', '$', '\\', '.', '&', '~',
            '#', ' ', '\t', '\n', '\r', '\u{b}', '\u{c}',
        ],
        "posix_basic" => &['.', '[', ']', '\\', '*', '^', '$'],
        other => {
            return Err(fail(
                "regex_escape",
                format!("re_type '{other}' is not supported (python, posix_basic)"),
            ));
        }
    };
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if special.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{Scope, Templar};
    use super::*;

    fn r(expr: &str) -> String {
        match Templar::new().render_str(expr, &Scope::default()) {
            Ok(v) => super::super::python::py_str(&v),
            Err(e) => format!("ERROR: {e}"),
        }
    }

    #[test]
    fn replacements_translate_python_backrefs() {
        assert_eq!(translate_replacement(r"\1-\2"), "${1}-${2}");
        assert_eq!(translate_replacement(r"\g<name>$"), "${name}$$");
        assert_eq!(translate_replacement(r"a\nb"), "a\nb");
    }

    #[test]
    fn regex_replace_like_ansible() {
        assert_eq!(
            r("{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\\\1') }}"),
            "able"
        );
        assert_eq!(
            r("{{ 'foobar' | regex_replace('^f.*o(.*)$', '\\\\1') }}"),
            "bar"
        );
        assert_eq!(
            r(
                "{{ 'localhost:80' | regex_replace('^(?P<host>.+):(?P<port>\\\\d+)$', '\\\\g<host>, \\\\g<port>') }}"
            ),
            "localhost, 80"
        );
        assert_eq!(
            r("{{ 'CAR' | regex_replace('car', 'bus', ignorecase=True) }}"),
            "bus"
        );
        assert_eq!(r("{{ 'aaa' | regex_replace('a', 'b', count=2) }}"), "bba");
        assert_eq!(
            r("{{ 'a\\nb' | regex_replace('^', '#', multiline=True) }}"),
            "#a\n#b"
        );
        assert_eq!(r("{{ 'cost' | regex_replace('o', '$') }}"), "c$st");
        assert!(r("{{ 'x' | regex_replace('(', 'y') }}").contains("invalid regular expression"));
    }

    #[test]
    fn regex_search_and_findall() {
        assert_eq!(
            r("{{ 'server1/database42' | regex_search('database[0-9]+') }}"),
            "database42"
        );
        assert_eq!(r("{{ 'foo' | regex_search('bar') }}"), "None");
        assert_eq!(
            r(
                "{{ 'server1/database42' | regex_search('server([0-9]+)/database([0-9]+)', '\\\\1', '\\\\2') }}"
            ),
            "['1', '42']"
        );
        assert_eq!(
            r("{{ 'ab12' | regex_search('(?P<num>\\\\d+)', '\\\\g<num>') }}"),
            "['12']"
        );
        assert_eq!(r("{{ 'ABC' | regex_search('b', ignorecase=true) }}"), "B");
        assert_eq!(
            r(
                "{{ 'DNS servers 8.8.8.8 and 8.8.4.4' | regex_findall('\\\\b(?:[0-9]{1,3}\\\\.){3}[0-9]{1,3}\\\\b') }}"
            ),
            "['8.8.8.8', '8.8.4.4']"
        );
        assert_eq!(
            r("{{ 'a=1 b=2' | regex_findall('(\\\\w)=(\\\\d)') }}"),
            "[['a', '1'], ['b', '2']]"
        );
        assert_eq!(
            r("{{ 'a=1 b=2' | regex_findall('\\\\w=(\\\\d)') }}"),
            "['1', '2']"
        );
    }

    #[test]
    fn regex_escape_like_python() {
        assert_eq!(
            r("{{ '^f.*o(.*)$' | regex_escape }}"),
            r"\^f\.\*o\(\.\*\)\$"
        );
        assert_eq!(r("{{ 'a_b-c' | regex_escape }}"), r"a_b\-c");
        assert_eq!(
            r("{{ '^f.*o(.*)$' | regex_escape('posix_basic') }}"),
            r"\^f\.\*o(\.\*)\$"
        );
    }

    #[test]
    fn anchored_compile_matches_only_at_start() {
        let re = compile("b", false, true, true).expect("compiles");
        assert!(!re.is_match("ab"));
        assert!(re.is_match("ba"));
    }
}
