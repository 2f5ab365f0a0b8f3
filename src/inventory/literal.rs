//! INI inventory values: Python literal evaluation (`ast.literal_eval`), which is how Ansible
//! types `key=value` pairs in INI files. Only literals: numbers, strings, `True`/`False`/`None`,
//! lists, tuples, sets and dicts. Anything else is not a literal and stays a plain string.

use indexmap::IndexMap;
use minijinja::Value;

/// How deep literals may nest before we give up (and keep the text as a string).
const MAX_DEPTH: usize = 64;

/// Types an INI value like Ansible: the Python literal it spells, or else the text itself.
pub(crate) fn ini_value(text: &str) -> Value {
    eval(text).unwrap_or_else(|| Value::from(text))
}

/// Evaluates `text` as a Python literal; `None` if it is not one.
pub(crate) fn eval(text: &str) -> Option<Value> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    p.skip_ws(true);
    let first = p.expr()?;
    p.skip_ws(true);
    if p.peek() == Some(b',') {
        // A bare tuple: `1, 2`.
        let mut items = vec![first];
        while p.eat(b',') {
            p.skip_ws(true);
            if p.at_end() {
                break;
            }
            items.push(p.expr()?);
            p.skip_ws(true);
        }
        return p.at_end().then(|| Value::from(items));
    }
    p.at_end().then_some(first)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Skips blanks and `#` comments; newlines only inside brackets (`nl`).
    fn skip_ws(&mut self, nl: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'\n' | b'\r' if nl => self.i += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let v = self.unary();
        self.depth -= 1;
        v
    }

    fn unary(&mut self) -> Option<Value> {
        self.skip_ws(true);
        match self.peek()? {
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                let v = self.expr()?;
                if !v.is_number() {
                    return None;
                }
                if !neg {
                    return Some(v);
                }
                if v.is_integer() {
                    return i128::try_from(v).ok().map(|i| int_value(-i));
                }
                f64::try_from(v).ok().map(|f| Value::from(-f))
            }
            b'[' => {
                self.i += 1;
                self.items(b']').map(Value::from)
            }
            b'(' => {
                self.i += 1;
                self.skip_ws(true);
                if self.eat(b')') {
                    return Some(Value::from(Vec::<Value>::new()));
                }
                let first = self.expr()?;
                self.skip_ws(true);
                if self.eat(b')') {
                    return Some(first);
                }
                if !self.eat(b',') {
                    return None;
                }
                let mut rest = self.items(b')')?;
                rest.insert(0, first);
                Some(Value::from(rest))
            }
            b'{' => {
                self.i += 1;
                self.dict_or_set()
            }
            b'0'..=b'9' | b'.' => self.number(),
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    self.i += 1;
                }
                let word = &self.text[start..self.i];
                match word {
                    "True" => Some(Value::from(true)),
                    "False" => Some(Value::from(false)),
                    "None" => Some(Value::from(())),
                    _ if matches!(self.peek(), Some(b'\'' | b'"'))
                        && word.len() <= 2
                        && word
                            .chars()
                            .all(|c| matches!(c, 'r' | 'R' | 'b' | 'B' | 'u' | 'U')) =>
                    {
                        self.i = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn items(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws(true);
            if self.eat(close) {
                return Some(out);
            }
            out.push(self.expr()?);
            self.skip_ws(true);
            if self.eat(close) {
                return Some(out);
            }
            if !self.eat(b',') {
                return None;
            }
        }
    }

    fn dict_or_set(&mut self) -> Option<Value> {
        self.skip_ws(true);
        if self.eat(b'}') {
            return Some(Value::from(IndexMap::<Value, Value>::new()));
        }
        let first = self.expr()?;
        self.skip_ws(true);
        if !self.eat(b':') {
            // A set: Ansible's JSON-ish world has no sets, so it becomes a list.
            let mut items = vec![first];
            if !self.eat(b'}') {
                if !self.eat(b',') {
                    return None;
                }
                items.extend(self.items(b'}')?);
            }
            let mut unique: Vec<Value> = Vec::new();
            for v in items {
                if !unique.contains(&v) {
                    unique.push(v);
                }
            }
            return Some(Value::from(unique));
        }
        let mut map = IndexMap::new();
        let mut key = first;
        loop {
            let value = self.expr()?;
            map.insert(key, value);
            self.skip_ws(true);
            if self.eat(b'}') {
                return Some(Value::from(map));
            }
            if !self.eat(b',') {
                return None;
            }
            self.skip_ws(true);
            if self.eat(b'}') {
                return Some(Value::from(map));
            }
            key = self.expr()?;
            self.skip_ws(true);
            if !self.eat(b':') {
                return None;
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let so_far = &self.text[start..self.i];
            let exponent_sign = matches!(c, b'+' | b'-')
                && so_far.ends_with(['e', 'E'])
                && !so_far.starts_with("0x")
                && !so_far.starts_with("0X");
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exponent_sign {
                self.i += 1;
            } else {
                break;
            }
        }
        let raw = &self.text[start..self.i];
        parse_number(raw)
    }

    /// One or more adjacent string literals, concatenated as Python does.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            self.skip_ws(false);
            let start = self.i;
            let mut raw = false;
            while let Some(c) = self.peek() {
                match c {
                    b'r' | b'R' => raw = true,
                    b'b' | b'B' | b'u' | b'U' => {}
                    _ => break,
                }
                self.i += 1;
            }
            if self.i - start > 2 || !matches!(self.peek(), Some(b'\'' | b'"')) {
                self.i = start;
                return any.then(|| Value::from(out));
            }
            out.push_str(&self.string_body(raw)?);
            any = true;
        }
    }

    fn string_body(&mut self, raw: bool) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.s.get(self.i..self.i + 3) == Some(&[quote, quote, quote][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = &self.text[self.i..];
            let c = rest.chars().next()?;
            if c as u32 == quote as u32 {
                if !triple {
                    self.i += 1;
                    return Some(out);
                }
                if rest.as_bytes().starts_with(&[quote, quote, quote]) {
                    self.i += 3;
                    return Some(out);
                }
            }
            if c == '\n' && !triple {
                return None;
            }
            if c == '\\' {
                self.i += 1;
                let e = self.text[self.i..].chars().next()?;
                self.i += e.len_utf8();
                if raw {
                    out.push('\\');
                    out.push(e);
                    continue;
                }
                match e {
                    '\n' => {}
                    '\\' | '\'' | '"' => out.push(e),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '0'..='7' => {
                        let mut n = e.to_digit(8)?;
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    n = n * 8 + u32::from(d - b'0');
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(n)?);
                    }
                    'x' => out.push(self.hex_escape(2)?),
                    'u' => out.push(self.hex_escape(4)?),
                    'U' => out.push(self.hex_escape(8)?),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }

    fn hex_escape(&mut self, len: usize) -> Option<char> {
        let digits = self.text.get(self.i..self.i + len)?;
        let n = u32::from_str_radix(digits, 16).ok()?;
        self.i += len;
        char::from_u32(n)
    }
}

/// An integer value, stored as `i64` when it fits (as every other integer in templates is).
fn int_value(i: i128) -> Value {
    i64::try_from(i).map_or_else(|_| Value::from(i), Value::from)
}

/// Python number syntax: decimal (no leading zeros), `0x`/`0o`/`0b`, `_` separators, floats.
fn parse_number(raw: &str) -> Option<Value> {
    if raw.contains("__") || raw.ends_with('_') || raw.starts_with('_') {
        return None;
    }
    let lower = raw.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            let digits = digits.strip_prefix('_').unwrap_or(digits);
            if digits.is_empty() {
                return None;
            }
            return i128::from_str_radix(&digits.replace('_', ""), radix)
                .ok()
                .map(int_value);
        }
    }
    let clean = lower.replace('_', "");
    if clean.bytes().all(|b| b.is_ascii_digit()) {
        // Python 3 rejects `0755`; only zeros may lead.
        if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
            return None;
        }
        return clean.parse::<i128>().ok().map(int_value);
    }
    let valid_float = {
        let (mantissa, exp) = match clean.split_once('e') {
            Some((m, e)) => (m, Some(e)),
            None => (clean.as_str(), None),
        };
        let mantissa_ok = mantissa.bytes().filter(|b| *b == b'.').count() <= 1
            && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && mantissa.bytes().any(|b| b.is_ascii_digit());
        let exp_ok = exp.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        });
        mantissa_ok && exp_ok && (mantissa.contains('.') || exp.is_some())
    };
    if !valid_float {
        return None;
    }
    clean.parse::<f64>().ok().map(Value::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> String {
        serde_json::to_string(&ini_value(text)).expect("serialisable")
    }

    #[test]
    fn numbers_follow_python() {
        assert_eq!(json("12"), "12");
        assert_eq!(json("-3"), "-3");
        assert_eq!(json("0x1f"), "31");
        assert_eq!(json("1_000"), "1000");
        assert_eq!(json("1.5"), "1.5");
        assert_eq!(json("1e3"), "1000.0");
        assert_eq!(json(".5"), "0.5");
        // Python 3 has no leading-zero integers: Ansible keeps the string (file modes!).
        assert_eq!(json("0755"), "\"0755\"");
        assert_eq!(json("00"), "0");
        assert_eq!(ini_value("7"), Value::from(7i64));
        assert_eq!(json("-0x10"), "-16");
        assert_eq!(
            json("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn python_keywords_not_yaml_ones() {
        assert_eq!(json("True"), "true");
        assert_eq!(json("False"), "false");
        assert_eq!(json("None"), "null");
        // YAML-style booleans are just strings in INI files.
        assert_eq!(json("yes"), "\"yes\"");
        assert_eq!(json("true"), "\"true\"");
        assert_eq!(json("FALSE"), "\"FALSE\"");
    }

    #[test]
    fn strings_lists_dicts() {
        assert_eq!(json("'q'"), "\"q\"");
        assert_eq!(json(r#""it's""#), "\"it's\"");
        assert_eq!(json(r#""a" "b""#), "\"ab\"");
        assert_eq!(json(r"'a\tb'"), "\"a\\tb\"");
        assert_eq!(json("[1, 'x']"), "[1,\"x\"]");
        assert_eq!(json("(1,2)"), "[1,2]");
        assert_eq!(json("1, 2"), "[1,2]");
        assert_eq!(
            json("{'k': [1, 'x'], 2: None}"),
            "{\"k\":[1,\"x\"],\"2\":null}"
        );
        assert_eq!(json("{1, 2, 1}"), "[1,2]");
        assert_eq!(json("[]"), "[]");
        assert_eq!(json("1 # comment"), "1");
    }

    #[test]
    fn non_literals_stay_text() {
        for text in [
            "hello world",
            "{a:1}",
            "a=b",
            "1+2",
            "'unclosed",
            "[1, 2",
            "-x",
            "1j",
            "",
            "/etc/passwd",
            "10.0.0.1",
        ] {
            assert_eq!(ini_value(text), Value::from(text), "{text}");
        }
        let deep = "[".repeat(10_000);
        assert_eq!(ini_value(&deep), Value::from(deep.as_str()));
    }
}
