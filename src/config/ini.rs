//! Reads `ansible.cfg` the way Python's configparser does for Ansible (sections, `key = value`
//! or `key: value`, `#`/`;` comment lines, `;` inline comments after a space, indented
//! continuation lines, lower-cased keys, duplicates refused) into raw entries with line numbers.

use std::path::Path;

use super::{ConfigError, RawEntry, RawValue};

/// Parses the text of an INI config file into its entries, in file order.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let err = |line: usize, message: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        line,
        message,
    };
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut sections: Vec<String> = Vec::new();
    let mut section: Option<(String, usize)> = None;
    // Index in `entries` of the entry a continuation line extends, and its key's indent.
    let mut open: Option<(usize, usize)> = None;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if trimmed.is_empty() {
            open = None;
            continue;
        }
        let value_part = strip_inline_comment(trimmed);
        if let Some((idx, key_indent)) = open
            && indent > key_indent
        {
            if let Some(RawEntry {
                value: RawValue::Text(v),
                ..
            }) = entries.get_mut(idx)
            {
                if !v.is_empty() {
                    v.push('\n');
                }
                v.push_str(value_part);
            }
            continue;
        }
        open = None;
        if let Some(name) = trimmed.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(err(
                    line_no,
                    format!("bad section header '{trimmed}' (expected [name])"),
                ));
            };
            if sections.iter().any(|s| s == name) {
                return Err(err(line_no, format!("section [{name}] appears twice")));
            }
            sections.push(name.to_string());
            section = Some((name.to_string(), line_no));
            continue;
        }
        let Some((sect, sect_line)) = &section else {
            return Err(err(
                line_no,
                format!("'{trimmed}' comes before any [section] header"),
            ));
        };
        let Some(pos) = value_part.find(['=', ':']) else {
            return Err(err(
                line_no,
                format!("'{trimmed}' is not 'key = value' (a key needs a value)"),
            ));
        };
        let key = value_part[..pos].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(err(line_no, format!("'{trimmed}' has no key")));
        }
        let value = value_part[pos + 1..].trim().to_string();
        if entries
            .iter()
            .any(|e| e.section == *sect && e.key == key && e.section_line == *sect_line)
        {
            return Err(err(
                line_no,
                format!("key '{key}' appears twice in section [{sect}]"),
            ));
        }
        entries.push(RawEntry {
            section: sect.clone(),
            section_line: *sect_line,
            key,
            value: RawValue::Text(value),
            line: line_no,
        });
        open = Some((entries.len() - 1, indent));
    }
    // Sections with no keys still count (an unknown empty section is reported).
    for (name, line) in sections_without_keys(text, &entries) {
        entries.push(RawEntry {
            section: name,
            section_line: line,
            key: String::new(),
            value: RawValue::Text(String::new()),
            line,
        });
    }
    Ok(entries)
}

/// `;` after whitespace starts an inline comment (Ansible's `inline_comment_prefixes`); `#`
/// does not.
fn strip_inline_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b';' && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return s[..i].trim_end();
        }
    }
    s
}

/// Section headers (name, line) that hold no entry.
fn sections_without_keys(text: &str, entries: &[RawEntry]) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(n, l)| {
            let t = l.trim();
            let name = t.strip_prefix('[')?.strip_suffix(']')?;
            Some((name.to_string(), n + 1))
        })
        .filter(|(_, line)| !entries.iter().any(|e| e.section_line == *line))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<RawEntry>, ConfigError> {
        parse(Path::new("ansible.cfg"), text)
    }

    fn text(e: &RawEntry) -> &str {
        match &e.value {
            RawValue::Text(t) => t,
            RawValue::List(_) => panic!("list"),
        }
    }

    #[test]
    fn reads_sections_keys_comments_and_continuations() {
        let e = p(
            "# top\n[defaults]\nInventory = hosts.ini ; the hosts\nforks: 10\n\
                   roles_path = a\n  b\n; gone\n[privilege_escalation]\nbecome=True\n",
        )
        .expect("parses");
        let got: Vec<(&str, &str, &str, usize)> = e
            .iter()
            .map(|e| (e.section.as_str(), e.key.as_str(), text(e), e.line))
            .collect();
        assert_eq!(
            got,
            vec![
                ("defaults", "inventory", "hosts.ini", 3),
                ("defaults", "forks", "10", 4),
                ("defaults", "roles_path", "a\nb", 5),
                ("privilege_escalation", "become", "True", 9),
            ]
        );
    }

    #[test]
    fn hash_is_not_an_inline_comment() {
        let e = p("[defaults]\nforks = 10 # ten\n").expect("parses");
        assert_eq!(text(&e[0]), "10 # ten");
    }

    #[test]
    fn errors_name_the_line() {
        let e = p("forks = 3\n").expect_err("no section");
        assert!(e.to_string().starts_with("ansible.cfg:1: "), "{e}");
        let e = p("[defaults]\nforks = 3\nforks = 4\n").expect_err("duplicate");
        assert!(
            e.to_string()
                .contains("ansible.cfg:3: key 'forks' appears twice"),
            "{e}"
        );
        let e = p("[defaults]\njust_a_word\n").expect_err("no value");
        assert!(e.to_string().starts_with("ansible.cfg:2: "), "{e}");
        let e = p("[defaults]\n[defaults]\n").expect_err("dup section");
        assert!(e.to_string().starts_with("ansible.cfg:2: "), "{e}");
        let e = p("[defaults\n").expect_err("bad header");
        assert!(e.to_string().starts_with("ansible.cfg:1: "), "{e}");
    }

    #[test]
    fn empty_sections_are_kept() {
        let e = p("[galaxy]\n[defaults]\nforks=2\n").expect("parses");
        assert!(e.iter().any(|e| e.section == "galaxy" && e.key.is_empty()));
    }
}
