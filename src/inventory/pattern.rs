//! Host patterns (`hosts:` of a play, `--limit`), with Ansible's semantics: `all`/`*`, names,
//! groups, globs, `~regex`, unions (`a:b`, `a,b`), intersections (`a:&b`), exclusions (`a:!b`)
//! applied in that order, subscripts (`web[0]`, `web[0:2]`, `web[-1]`) and `@file`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::{Inventory, LOCALHOST_NAMES, address};

/// A host pattern that cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    /// A malformed pattern (a bad regular expression...).
    #[error("invalid host pattern '{pattern}': {message}")]
    Invalid {
        /// The offending pattern term.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// An `@file` pattern naming a file that cannot be read.
    #[error("cannot read host pattern file {}: {message}", path.display())]
    File {
        /// The file named after `@`.
        path: PathBuf,
        /// Why it cannot be read.
        message: String,
    },
}

/// One pattern term split at `:` outside brackets (Ansible's legacy separator).
static COLON_TERM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("static regex is valid"));

/// A pattern with a subscript: `expr[3]`, `expr[-1]`, `expr[1:2]`, `expr[1:]`.
static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)[:-]([0-9]*))\]$").expect("static regex is valid")
});

enum Subscript {
    Index(i64),
    Range(usize, Option<usize>),
}

impl Inventory {
    /// The hosts a pattern selects, in Ansible's order (each union term in turn; a group's
    /// own hosts, then its children's), without duplicates. Matching nothing is an empty
    /// list, not an error. `localhost` selects the implicit localhost when not defined.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        let terms = expand_files(split_pattern(pattern))?;
        self.evaluate(&terms)
    }

    /// The hosts of `hosts` that `limit` also selects (`--limit`), keeping `hosts`' order.
    pub fn limit(&self, hosts: Vec<String>, limit: &str) -> Result<Vec<String>, PatternError> {
        let allowed: HashSet<String> = self.select(limit)?.into_iter().collect();
        Ok(hosts.into_iter().filter(|h| allowed.contains(h)).collect())
    }

    fn evaluate(&self, terms: &[String]) -> Result<Vec<String>, PatternError> {
        let mut regular: Vec<&str> = terms
            .iter()
            .map(String::as_str)
            .filter(|t| !t.starts_with(['&', '!']))
            .collect();
        if regular.is_empty() {
            regular.push("all");
        }
        let ordered = regular
            .into_iter()
            .chain(
                terms
                    .iter()
                    .map(String::as_str)
                    .filter(|t| t.starts_with('&')),
            )
            .chain(
                terms
                    .iter()
                    .map(String::as_str)
                    .filter(|t| t.starts_with('!')),
            );
        let mut hosts: Vec<String> = Vec::new();
        let mut present: HashSet<String> = HashSet::new();
        for term in ordered {
            if self.hosts.contains_key(term) {
                if present.insert(term.to_string()) {
                    hosts.push(term.to_string());
                }
                continue;
            }
            if let Some(rest) = term.strip_prefix('!') {
                let that: HashSet<String> = self.match_one(rest)?.into_iter().collect();
                hosts.retain(|h| !that.contains(h));
                present.retain(|h| !that.contains(h));
            } else if let Some(rest) = term.strip_prefix('&') {
                let that: HashSet<String> = self.match_one(rest)?.into_iter().collect();
                hosts.retain(|h| that.contains(h));
                present.retain(|h| that.contains(h));
            } else {
                for h in self.match_one(term)? {
                    if present.insert(h.clone()) {
                        hosts.push(h);
                    }
                }
            }
        }
        Ok(hosts)
    }

    /// One term without its `&`/`!` prefix: groups and hosts it matches, then the subscript.
    fn match_one(&self, term: &str) -> Result<Vec<String>, PatternError> {
        let (expr, subscript) = split_subscript(term);
        let matcher = compile(expr)?;
        let mut out: Vec<String> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let groups: Vec<&str> = self
            .groups
            .keys()
            .map(String::as_str)
            .filter(|g| matcher.is_match(g))
            .collect();
        for g in &groups {
            for h in self.group_hosts(g) {
                if seen.insert(h) {
                    out.push(h.to_string());
                }
            }
        }
        let special = expr.starts_with('~') || expr.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            for h in self.hosts.keys().filter(|h| matcher.is_match(h)) {
                if seen.insert(h.as_str()) {
                    out.push(h.clone());
                }
            }
        }
        if out.is_empty() && LOCALHOST_NAMES.contains(&expr) {
            out.push(expr.to_string());
        }
        Ok(apply_subscript(out, subscript))
    }
}

/// Splits a pattern into terms like Ansible: at commas when there is one; else a single
/// address stays whole (IPv6, `host:port`, ranges); else at colons outside brackets.
fn split_pattern(pattern: &str) -> Vec<String> {
    let terms: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(String::from).collect()
    } else if address::parse_address(pattern.trim()).is_some() {
        vec![pattern.to_string()]
    } else {
        COLON_TERM
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    terms
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Replaces `@file` terms by the file's lines (one term per line).
fn expand_files(terms: Vec<String>) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    for term in terms {
        let Some(file) = term.strip_prefix('@') else {
            out.push(term);
            continue;
        };
        let path = PathBuf::from(file);
        let text = std::fs::read_to_string(&path).map_err(|e| PatternError::File {
            path: path.clone(),
            message: e.to_string(),
        })?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    Ok(out)
}

fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') {
        return (term, None);
    }
    let Some(caps) = SUBSCRIPT.captures(term) else {
        return (term, None);
    };
    let expr = caps.get(1).map_or(term, |m| m.as_str());
    if let Some(idx) = caps.get(2).and_then(|m| m.as_str().parse().ok()) {
        return (expr, Some(Subscript::Index(idx)));
    }
    let start = caps.get(3).and_then(|m| m.as_str().parse().ok());
    let end = caps.get(4).and_then(|m| m.as_str().parse().ok());
    match start {
        Some(start) => (expr, Some(Subscript::Range(start, end))),
        None => (term, None),
    }
}

/// Ansible's subscript rules: indexes may be negative, ranges include their end, an open
/// end means "to the last", out-of-range selects nothing.
fn apply_subscript(hosts: Vec<String>, subscript: Option<Subscript>) -> Vec<String> {
    let Some(subscript) = subscript else {
        return hosts;
    };
    if hosts.is_empty() {
        return hosts;
    }
    let len = hosts.len();
    let pick = |i: usize| hosts.get(i).cloned().into_iter().collect::<Vec<_>>();
    match subscript {
        Subscript::Index(i) if i >= 0 => pick(i as usize),
        Subscript::Index(i) => match len.checked_sub(i.unsigned_abs() as usize) {
            Some(j) => pick(j),
            None => Vec::new(),
        },
        Subscript::Range(start, end) => {
            let end = end.unwrap_or(len - 1);
            if end == 0 {
                return pick(start);
            }
            let end = end.min(len - 1);
            if start > end {
                return Vec::new();
            }
            hosts[start..=end].to_vec()
        }
    }
}

/// A glob (`fnmatch`, whole name) or, after `~`, a regex anchored at the start (`re.match`).
fn compile(expr: &str) -> Result<Regex, PatternError> {
    let source = match expr.strip_prefix('~') {
        Some(re) => format!("^(?:{re})"),
        None => format!("^(?s:{})$", glob_to_regex(expr)),
    };
    Regex::new(&source).map_err(|e| PatternError::Invalid {
        pattern: expr.to_string(),
        message: e.to_string(),
    })
}

fn glob_to_regex(glob: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '[' => {
                let mut j = i + 1;
                if chars.get(j) == Some(&'!') {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let body: String = chars[i + 1..j].iter().collect();
                    let (negate, body) = match body.strip_prefix('!') {
                        Some(rest) => (true, rest.to_string()),
                        None => (false, body),
                    };
                    let escaped: String = body
                        .chars()
                        .map(|c| match c {
                            '\\' | '[' | '&' | '~' | '|' | '^' => format!("\\{c}"),
                            c => c.to_string(),
                        })
                        .collect();
                    out.push('[');
                    if negate {
                        out.push('^');
                    }
                    out.push_str(&escaped);
                    out.push(']');
                    i = j;
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// web: b a (in that order), db: a b, prod: children web, plus w0 ungrouped and a few
    /// named hosts. The same inventory ansible-core 2.19 was checked against.
    fn inv() -> Inventory {
        let text = "\
w0
[web]
b
a
[db]
a
b
[prod:children]
web
[other]
web10.example.com
web2.example.com
db.example.org
";
        let mut inv = Inventory::default();
        super::super::ini::parse(&mut inv, Path::new("hosts"), text).expect("valid");
        inv.reconcile().expect("no cycles");
        inv
    }

    fn sel(p: &str) -> Vec<String> {
        inv().select(p).expect("valid pattern")
    }

    #[test]
    fn all_and_star_select_every_host_in_group_order() {
        let all = [
            "w0",
            "a",
            "b",
            "web10.example.com",
            "web2.example.com",
            "db.example.org",
        ];
        assert_eq!(sel("all"), all);
        assert_eq!(sel("*"), all);
    }

    #[test]
    fn a_group_keeps_its_own_order() {
        // groups['db'][0] is "a" even though "b" was defined first: Ansible users rely on it.
        assert_eq!(sel("db"), ["a", "b"]);
        assert_eq!(sel("web"), ["b", "a"]);
        assert_eq!(sel("prod"), ["b", "a"]);
        assert_eq!(sel("ungrouped"), ["w0"]);
    }

    #[test]
    fn host_names_and_globs() {
        assert_eq!(sel("a"), ["a"]);
        assert_eq!(
            sel("web*"),
            ["b", "a", "web10.example.com", "web2.example.com"]
        );
        assert_eq!(
            sel("*.example.com"),
            ["web10.example.com", "web2.example.com"]
        );
        assert_eq!(sel("web?.example.com"), ["web2.example.com"]);
        assert_eq!(sel("web[12]*"), ["web10.example.com", "web2.example.com"]);
        assert_eq!(sel("nosuch"), Vec::<String>::new());
    }

    #[test]
    fn regexes_match_from_the_start() {
        assert_eq!(
            sel("~web\\d+\\."),
            ["web10.example.com", "web2.example.com"]
        );
        assert_eq!(sel("~(db|w0)"), ["a", "b", "w0", "db.example.org"]);
        assert!(matches!(
            inv().select("~web("),
            Err(PatternError::Invalid { .. })
        ));
    }

    #[test]
    fn unions_intersections_exclusions() {
        assert_eq!(sel("w0:db"), ["w0", "a", "b"]);
        assert_eq!(sel("w0,db"), ["w0", "a", "b"]);
        assert_eq!(
            sel("all:!web"),
            [
                "w0",
                "web10.example.com",
                "web2.example.com",
                "db.example.org"
            ]
        );
        assert_eq!(sel("web:&db"), ["b", "a"]);
        // Unions first, then intersections, then exclusions, wherever they are written.
        assert_eq!(sel("!a:web:w0"), ["b", "w0"]);
        assert_eq!(sel("&db:other:web"), ["b", "a"]);
        // Only exclusions: they apply to `all`.
        assert_eq!(sel("!web:!other"), ["w0"]);
        // With a comma, colons are not separators (Ansible quirk): nothing matches "web:&db".
        assert_eq!(sel("web:&db,w0"), ["w0"]);
    }

    #[test]
    fn subscripts() {
        assert_eq!(sel("web[0]"), ["b"]);
        assert_eq!(sel("web[-1]"), ["a"]);
        assert_eq!(sel("all[1:2]"), ["a", "b"]);
        assert_eq!(sel("all[4:]"), ["web2.example.com", "db.example.org"]);
        assert_eq!(sel("web[5]"), Vec::<String>::new());
        assert_eq!(sel("web[-5]"), Vec::<String>::new());
        assert_eq!(sel("web[0:9]"), ["b", "a"]);
        assert_eq!(sel("db[0]:web[0]"), ["a", "b"]);
    }

    #[test]
    fn implicit_localhost() {
        assert_eq!(sel("localhost"), ["localhost"]);
        assert_eq!(
            Inventory::default().select("localhost").expect("ok"),
            ["localhost"]
        );
        let inv = Inventory::default();
        let h = inv.host("localhost").expect("implicit");
        assert!(h.implicit);
        assert_eq!(
            h.vars.get("ansible_connection").and_then(|v| v.as_str()),
            Some("local")
        );
        assert_eq!(inv.select("all").expect("ok"), Vec::<String>::new());
    }

    #[test]
    fn limit_is_an_intersection_keeping_the_play_order() {
        let inv = inv();
        let play = inv.select("web").expect("ok");
        assert_eq!(inv.limit(play.clone(), "a").expect("ok"), ["a"]);
        assert_eq!(inv.limit(play.clone(), "!a").expect("ok"), ["b"]);
        assert_eq!(inv.limit(play, "db").expect("ok"), ["b", "a"]);
    }

    #[test]
    fn at_file_lists_one_pattern_per_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("retry");
        std::fs::write(&file, "a\n\n  w0  \n!b\n").expect("write");
        let inv = inv();
        let limit = format!("@{}", file.display());
        assert_eq!(inv.select(&limit).expect("ok"), ["a", "w0"]);
        assert_eq!(
            inv.limit(inv.select("all").expect("ok"), &limit)
                .expect("ok"),
            ["w0", "a"]
        );
        let missing = inv.select("@/nonexistent/limit").expect_err("missing file");
        assert!(
            missing
                .to_string()
                .starts_with("cannot read host pattern file /nonexistent/limit")
        );
    }

    #[test]
    fn splitting_like_ansible() {
        assert_eq!(split_pattern("a:b"), ["a", "b"]);
        assert_eq!(split_pattern("a , b[1], c[2:3] "), ["a", "b[1]", "c[2:3]"]);
        assert_eq!(split_pattern("web[0:2]"), ["web[0:2]"]);
        assert_eq!(split_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(
            split_pattern("all:!web[0:1]:&db"),
            ["all", "!web[0:1]", "&db"]
        );
    }

    #[test]
    fn globs_translate_like_fnmatch() {
        let m = |g: &str, s: &str| compile(g).expect("valid").is_match(s);
        assert!(m("web[0-9]", "web5"));
        assert!(!m("web[!0-9]", "web5"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("[", "["));
        assert!(m("a+(b)", "a+(b)"));
        assert!(!m("Web", "web"), "case-sensitive");
    }
}
