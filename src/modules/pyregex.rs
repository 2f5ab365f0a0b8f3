//! Python `re` compatibility for the line-editing modules: translates a Python pattern to
//! Rust `regex` syntax (or explains why it cannot), expands Python replacement templates
//! (`\1`, `\g<name>`, `\n`), and splits contents into lines the way Python does.

use std::collections::HashMap;
use std::sync::Mutex;

use regex::bytes::{Captures, Regex};

/// How many compiled patterns [`compile`] keeps; the cache is emptied when it is full (a
/// playbook has a few dozen distinct patterns, templated ones at most one per host).
const CACHE_CAP: usize = 4096;

/// Compiled patterns by `(prefix_flags, pattern)`: a task runs on every host with the same
/// pattern, so each distinct pattern is translated and compiled once per run. A cached
/// `Regex` is cloned (it shares the compiled program).
static CACHE: std::sync::LazyLock<Mutex<HashMap<(String, String), Regex>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

/// Compiles a Python regular expression. `prefix_flags` is prepended as an inline flag group
/// (`"m"` for MULTILINE, `"s"` for DOTALL) when non-empty. Results are cached per pattern.
pub fn compile(pattern: &str, prefix_flags: &str) -> Result<Regex, String> {
    let key = (prefix_flags.to_string(), pattern.to_string());
    if let Some(re) = CACHE.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(re);
    }
    let re = compile_uncached(pattern, prefix_flags)?;
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, re.clone());
    }
    Ok(re)
}

fn compile_uncached(pattern: &str, prefix_flags: &str) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    let full = if prefix_flags.is_empty() {
        translated
    } else {
        format!("(?{prefix_flags}){translated}")
    };
    Regex::new(&full).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim();
        format!("invalid regular expression {pattern:?}: {last}")
    })
}

/// Rewrites Python-only syntax into the Rust equivalent.
pub fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let unsupported =
        |what: &str| format!("regular expression {pattern:?} uses {what}, which is not supported");
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    return Err(format!(
                        "regular expression {pattern:?} ends with a backslash"
                    ));
                };
                match n {
                    'Z' => out.push_str(r"\z"),
                    '<' | '>' => out.push(n),
                    '1'..='9' => return Err(unsupported("a backreference")),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
            }
            '[' => {
                i = translate_class(&chars, i, &mut out, pattern)?;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..].iter().take(3).collect();
                if rest.starts_with('=') || rest.starts_with('!') {
                    return Err(unsupported("a lookahead assertion"));
                }
                if rest.starts_with("<=") || rest.starts_with("<!") {
                    return Err(unsupported("a lookbehind assertion"));
                }
                if rest.starts_with("P=") {
                    return Err(unsupported("a named backreference"));
                }
                if rest.starts_with('#') {
                    // A comment group: drop it.
                    let mut j = i + 2;
                    while j < chars.len() && chars[j] != ')' {
                        j += 1;
                    }
                    i = j + 1;
                    continue;
                }
                if rest.starts_with('(') {
                    return Err(unsupported("a conditional group"));
                }
                out.push_str("(?");
                i += 2;
            }
            '{' => {
                // Python treats a brace that does not start a valid repetition as a literal.
                let mut j = i + 1;
                let mut lo = String::new();
                while j < chars.len() && chars[j].is_ascii_digit() {
                    lo.push(chars[j]);
                    j += 1;
                }
                let mut hi: Option<String> = None;
                if j < chars.len() && chars[j] == ',' {
                    j += 1;
                    let mut h = String::new();
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        h.push(chars[j]);
                        j += 1;
                    }
                    hi = Some(h);
                }
                let closed = j < chars.len() && chars[j] == '}';
                let valid =
                    closed && (!lo.is_empty() || hi.as_ref().is_some_and(|h| !h.is_empty()));
                if valid && !out.is_empty() {
                    out.push('{');
                    out.push_str(if lo.is_empty() { "0" } else { &lo });
                    if let Some(h) = hi {
                        out.push(',');
                        out.push_str(&h);
                    }
                    out.push('}');
                    i = j + 1;
                } else {
                    out.push_str(r"\{");
                    i += 1;
                }
            }
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Copies a character class starting at `start` (`[`), escaping what Rust would read as
/// nested classes or set operations. Returns the index after the closing `]`.
fn translate_class(
    chars: &[char],
    start: usize,
    out: &mut String,
    pattern: &str,
) -> Result<usize, String> {
    let mut i = start + 1;
    out.push('[');
    if chars.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        out.push_str(r"\]");
        i += 1;
    }
    while i < chars.len() {
        let c = chars[i];
        match c {
            ']' => {
                out.push(']');
                return Ok(i + 1);
            }
            '\\' => {
                let Some(&n) = chars.get(i + 1) else {
                    break;
                };
                match n {
                    '1'..='9' => {
                        // Python reads \1 in a class as an octal escape.
                        let v = n.to_digit(8).unwrap_or(0);
                        out.push_str(&format!(r"\x{{{v:x}}}"));
                    }
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                i += 2;
            }
            '[' => {
                out.push_str(r"\[");
                i += 1;
            }
            '&' | '~' | '-' if chars.get(i + 1) == Some(&c) => {
                out.push('\\');
                out.push(c);
                out.push('\\');
                out.push(c);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Err(format!(
        "regular expression {pattern:?} has an unterminated character class"
    ))
}

/// Expands a Python replacement template (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) with the
/// groups of a match. Unmatched groups expand to nothing, as in Python 3.5+.
pub fn expand(template: &[u8], re: &Regex, caps: &Captures<'_>) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(template.len());
    let mut i = 0;
    let group = |out: &mut Vec<u8>, name: &str| -> Result<(), String> {
        let m = match name.parse::<usize>() {
            Ok(n) => {
                if n >= caps.len() {
                    return Err(format!(
                        "invalid group reference {n} in {:?}",
                        show(template)
                    ));
                }
                caps.get(n)
            }
            Err(_) => {
                if !re.capture_names().any(|n| n == Some(name)) {
                    return Err(format!(
                        "unknown group name {name:?} in {:?}",
                        show(template)
                    ));
                }
                caps.name(name)
            }
        };
        if let Some(m) = m {
            out.extend_from_slice(m.as_bytes());
        }
        Ok(())
    };
    while i < template.len() {
        let b = template[i];
        if b != b'\\' || i + 1 >= template.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let n = template[i + 1];
        match n {
            b'g' if template.get(i + 2) == Some(&b'<') => {
                let end = template[i + 3..]
                    .iter()
                    .position(|&c| c == b'>')
                    .ok_or_else(|| {
                        format!("missing '>' in group reference in {:?}", show(template))
                    })?;
                let name = String::from_utf8_lossy(&template[i + 3..i + 3 + end]).into_owned();
                group(&mut out, &name)?;
                i += 3 + end + 1;
            }
            b'0' => {
                // Octal escape: \0, \01, \012.
                let mut j = i + 1;
                let mut v: u32 = 0;
                let mut digits = 0;
                while j < template.len() && digits < 3 && (b'0'..=b'7').contains(&template[j]) {
                    v = v * 8 + u32::from(template[j] - b'0');
                    j += 1;
                    digits += 1;
                }
                out.push((v & 0xff) as u8);
                i = j;
            }
            b'1'..=b'9' => {
                let mut j = i + 2;
                if j < template.len() && template[j].is_ascii_digit() {
                    j += 1;
                }
                let name = String::from_utf8_lossy(&template[i + 1..j]).into_owned();
                group(&mut out, &name)?;
                i = j;
            }
            b'n' => {
                out.push(b'\n');
                i += 2;
            }
            b't' => {
                out.push(b'\t');
                i += 2;
            }
            b'r' => {
                out.push(b'\r');
                i += 2;
            }
            b'f' => {
                out.push(0x0c);
                i += 2;
            }
            b'v' => {
                out.push(0x0b);
                i += 2;
            }
            b'a' => {
                out.push(0x07);
                i += 2;
            }
            b'b' => {
                out.push(0x08);
                i += 2;
            }
            b'\\' => {
                out.push(b'\\');
                i += 2;
            }
            c if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "bad escape \\{} in replacement {:?}",
                    c as char,
                    show(template)
                ));
            }
            _ => {
                out.push(b'\\');
                out.push(n);
                i += 2;
            }
        }
    }
    Ok(out)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Searches `line` (one line with its ending) like Python's `re.search` on the line: `$`
/// matches before the final `\n` too. Returns the captures relative to the line.
pub fn search_line<'h>(re: &Regex, line: &'h [u8]) -> Option<Captures<'h>> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    re.captures(body)
}

/// Splits like Python's `readlines()`: at `\n` only, each line keeping its ending.
pub fn readlines(content: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in content.iter().enumerate() {
        if b == b'\n' {
            lines.push(content[start..=i].to_vec());
            start = i + 1;
        }
    }
    if start < content.len() {
        lines.push(content[start..].to_vec());
    }
    lines
}

/// Splits like Python's `bytes.splitlines(True)`: at `\n`, `\r\n` and `\r`, keeping endings.
pub fn splitlines_keepends(content: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'\n' => {
                lines.push(content[start..=i].to_vec());
                start = i + 1;
            }
            b'\r' => {
                let end = if content.get(i + 1) == Some(&b'\n') {
                    i + 1
                } else {
                    i
                };
                lines.push(content[start..=end].to_vec());
                start = end + 1;
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    if start < content.len() {
        lines.push(content[start..].to_vec());
    }
    lines
}

/// Strips every trailing `\r` and `\n` (Python's `rstrip(b'\r\n')`).
pub fn rstrip_newlines(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_python_only_syntax() {
        assert_eq!(translate(r"^foo\Z").unwrap(), r"^foo\z");
        assert_eq!(translate("a{").unwrap(), r"a\{");
        assert_eq!(translate("{foo}").unwrap(), r"\{foo\}");
        assert_eq!(translate("x{2}").unwrap(), "x{2}");
        assert_eq!(translate("x{,3}").unwrap(), "x{0,3}");
        assert_eq!(translate("[[]").unwrap(), r"[\[]");
        assert_eq!(translate("[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate("[a&&b]").unwrap(), r"[a\&\&b]");
        assert_eq!(translate(r"\<tag\>").unwrap(), "<tag>");
        assert_eq!(translate("a(?#comment)b").unwrap(), "ab");
        assert!(translate("(?=x)").unwrap_err().contains("lookahead"));
        assert!(translate("(?<!x)y").unwrap_err().contains("lookbehind"));
        assert!(translate(r"(a)\1").unwrap_err().contains("backreference"));
        assert!(translate("[abc").is_err());
        assert!(compile("(?P<k>[a-z]+)=(.*)", "").is_ok());
        assert!(
            compile("(", "")
                .unwrap_err()
                .contains("invalid regular expression")
        );
    }

    #[test]
    fn dollar_matches_before_final_newline() {
        let re = compile("^foo$", "").unwrap();
        assert!(search_line(&re, b"foo\n").is_some());
        assert!(search_line(&re, b"foo").is_some());
        assert!(search_line(&re, b"foo\r\n").is_none());
        let re = compile(r"bar\Z", "").unwrap();
        assert!(search_line(&re, b"bar\n").is_some());
    }

    #[test]
    fn expands_python_templates() {
        let re = compile(r"^(?P<key>\w+)=(\d+)?(.*)$", "").unwrap();
        let caps = re.captures(b"port=x").unwrap();
        let expand_t = |t: &[u8], c: &Captures<'_>| expand(t, &re, c);
        assert_eq!(
            expand_t(br"\1 is \g<key>; [\2] \g<3>\n", &caps).unwrap(),
            b"port is port; [] x\n"
        );
        assert_eq!(expand_t(br"\\1 \.", &caps).unwrap(), br"\1 \.");
        assert_eq!(expand_t(br"a\0b", &caps).unwrap(), b"a\0b");
        assert!(
            expand_t(br"\9", &caps)
                .unwrap_err()
                .contains("invalid group")
        );
        assert!(
            expand_t(br"\g<nope>", &caps)
                .unwrap_err()
                .contains("unknown group")
        );
        assert!(expand_t(br"\q", &caps).unwrap_err().contains("bad escape"));
    }

    #[test]
    fn splits_lines_like_python() {
        assert_eq!(
            readlines(b"a\nb\r\nc"),
            vec![b"a\n".to_vec(), b"b\r\n".to_vec(), b"c".to_vec()]
        );
        assert_eq!(readlines(b""), Vec::<Vec<u8>>::new());
        assert_eq!(readlines(b"a\rb\n"), vec![b"a\rb\n".to_vec()]);
        assert_eq!(
            splitlines_keepends(b"a\rb\r\nc\n\nd"),
            vec![
                b"a\r".to_vec(),
                b"b\r\n".to_vec(),
                b"c\n".to_vec(),
                b"\n".to_vec(),
                b"d".to_vec()
            ]
        );
        assert_eq!(rstrip_newlines(b"x\r\n\n"), b"x");
    }
}
