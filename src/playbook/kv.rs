//! Splits Ansible's `k=v` argument strings (`copy: src=a dest="b c"`), keeping quoted text and
//! Jinja expressions (`{{ x | default('a b') }}`) whole.

/// Splits `text` into shell-like words, respecting quotes and `{{ }}`/`{% %}` nesting. Quotes
/// around a whole value are removed.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let mut in_word = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if depth == 0 && quote.is_none() && c.is_whitespace() {
            if in_word {
                words.push(std::mem::take(&mut cur));
                in_word = false;
            }
            i += 1;
            continue;
        }
        in_word = true;
        if (c == '{' && matches!(next, Some('{') | Some('%') | Some('#'))) && quote.is_none() {
            depth += 1;
            cur.push(c);
            cur.push(next.expect("checked above"));
            i += 2;
            continue;
        }
        if depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') && quote.is_none() {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        if depth > 0 {
            // Inside Jinja, quotes belong to the expression.
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
            } else if c == '\'' || c == '"' {
                quote = Some(c);
            }
            cur.push(c);
            i += 1;
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
            }
            // Escape sequences are decoded in key=value words, quoted or not, as Ansible's
            // parse_kv does (`content="a\n"` is a newline); free-form text keeps its own.
            _ if c == '\\' && next.is_some() => {
                i += 1 + decode_escape(&chars[i + 1..], &mut cur);
                continue;
            }
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None => cur.push(c),
        }
        i += 1;
    }
    if quote.is_some() {
        return Err("unbalanced quotes".into());
    }
    if depth > 0 {
        return Err("unbalanced Jinja braces".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Decodes the escape sequence after a backslash (`rest` starts after it) into `out`, as
/// Python's unicode_escape does for Ansible: `\\n \\t \\r \\a \\b \\f \\v \\\\ \\' \\" \\xHH
/// \\uHHHH \\UHHHHHHHH`; anything else stays as written. Returns the characters consumed.
fn decode_escape(rest: &[char], out: &mut String) -> usize {
    let hex = |n: usize| -> Option<char> {
        let digits: String = rest.get(1..=n)?.iter().collect();
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    };
    let simple = match rest[0] {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'f' => Some('\x0c'),
        'v' => Some('\x0b'),
        '\\' | '\'' | '"' => Some(rest[0]),
        _ => None,
    };
    if let Some(c) = simple {
        out.push(c);
        return 1;
    }
    for (mark, n) in [('x', 2), ('u', 4), ('U', 8)] {
        if rest[0] == mark
            && let Some(c) = hex(n)
        {
            out.push(c);
            return 1 + n;
        }
    }
    out.push('\\');
    out.push(rest[0]);
    1
}

/// Parses `text` into `(key, value)` pairs. For free-form modules only `free_form_keys` are
/// taken as parameters and the rest is kept (as written) under `_raw_params`; for the others
/// every word must be `key=value`.
pub fn parse_kv(
    text: &str,
    free_form_keys: Option<&[&str]>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    // The free-form text keeps its own whitespace between words (newlines of a `shell: |`
    // script included), as Ansible does; only the recognised key=value words are cut out.
    let mut raw = String::new();
    let mut raw_end: Option<usize> = None;
    for (word, original) in split_words(text)?.into_iter().zip(raw_words(text)) {
        let key_val = word.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let start = original.as_ptr() as usize - text.as_ptr() as usize;
        match (key_val, free_form_keys) {
            (Some((k, v)), Some(keys)) if keys.contains(&k) => out.push((k.into(), v.into())),
            (Some((k, v)), None) => out.push((k.into(), v.into())),
            (_, Some(_)) => {
                if let Some(end) = raw_end {
                    let gap: &str = &text[end..start];
                    // Between two free words: their own separator; across a cut key=value
                    // word: a newline if there was one, else a space.
                    if gap.trim().is_empty() {
                        raw.push_str(gap);
                    } else if gap.contains('\n') {
                        raw.push('\n');
                    } else {
                        raw.push(' ');
                    }
                }
                raw.push_str(original);
                raw_end = Some(start + original.len());
            }
            (None, None) => {
                return Err(format!(
                    "'{word}' is not a key=value argument (this module takes no free-form text)"
                ));
            }
        }
    }
    if !raw.is_empty() {
        out.push(("_raw_params".into(), raw));
    }
    Ok(out)
}

/// The words of `text` as written (quotes kept), aligned with [`split_words`].
fn raw_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < bytes.len() {
        let (pos, c) = bytes[i];
        let next = bytes.get(i + 1).map(|(_, c)| *c);
        if depth == 0 && quote.is_none() && c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&text[s..pos]);
            }
            i += 1;
            continue;
        }
        if start.is_none() {
            start = Some(pos);
        }
        if quote.is_none() && c == '{' && matches!(next, Some('{') | Some('%') | Some('#')) {
            depth += 1;
            i += 2;
            continue;
        }
        if quote.is_none() && depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') {
            depth -= 1;
            i += 2;
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => i += 1,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None => {}
        }
        i += 1;
    }
    if let Some(s) = start {
        words.push(&text[s..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_and_jinja() {
        let w = split_words(r#"src=a dest="b c" msg={{ x | default('d e') }}"#).unwrap();
        assert_eq!(w, ["src=a", "dest=b c", "msg={{ x | default('d e') }}"]);
    }

    #[test]
    fn kv_pairs_and_free_form() {
        let kv = parse_kv("src=a dest='/x y'", None).unwrap();
        assert_eq!(
            kv,
            [("src".into(), "a".into()), ("dest".into(), "/x y".into())]
        );
        let kv = parse_kv("echo 'a=b' > /tmp/x chdir=/tmp", Some(&["chdir"])).unwrap();
        assert_eq!(kv[0], ("chdir".into(), "/tmp".into()));
        assert_eq!(kv[1], ("_raw_params".into(), "echo 'a=b' > /tmp/x".into()));
        assert!(parse_kv("just words", None).is_err());
        assert!(parse_kv("a='unterminated", None).is_err());
    }

    #[test]
    fn escapes_are_decoded_in_values_as_ansible_does() {
        let kv = parse_kv(
            r#"content="one\ntwo\t\"q\" \\n \x41\u00e9" dest=/x\y"#,
            None,
        )
        .unwrap();
        assert_eq!(kv[0].1, "one\ntwo\t\"q\" \\n A\u{e9}");
        assert_eq!(kv[1].1, "/x\\y");
        // Free-form text is kept as written.
        let kv = parse_kv(r#"printf 'a\n' creates=/x"#, Some(&["creates"])).unwrap();
        assert_eq!(kv[1].1, r#"printf 'a\n'"#);
    }

    #[test]
    fn free_form_text_keeps_its_lines() {
        let script = "for i in 1 2; do\n  echo $i\ndone\ncreates=/x echo  done\n";
        let kv = parse_kv(script, Some(&["creates"])).unwrap();
        assert_eq!(kv[0], ("creates".into(), "/x".into()));
        assert_eq!(
            kv[1],
            (
                "_raw_params".into(),
                "for i in 1 2; do\n  echo $i\ndone\necho  done".into()
            )
        );
    }
}
