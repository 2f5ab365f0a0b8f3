//! Reads `shipshape.toml` (tables named like ansible.cfg's sections, e.g. `[defaults]`) into
//! the same raw entries as ansible.cfg, with line numbers taken from the TOML spans.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::{ConfigError, RawEntry, RawValue};

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// Parses a shipshape.toml document.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Vec<RawEntry>, ConfigError> {
    let err = |offset: usize, message: String| ConfigError::Invalid {
        file: file.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        err(at, format!("invalid TOML: {}", e.message()))
    })?;
    let mut entries = Vec::new();
    for (name, value) in doc.get_ref() {
        let section_line = line_of(text, name.span().start);
        let DeValue::Table(table) = value.get_ref() else {
            return Err(err(
                name.span().start,
                format!(
                    "top-level key '{}' must be a table such as [defaults]",
                    name.get_ref()
                ),
            ));
        };
        if table.is_empty() {
            entries.push(RawEntry {
                section: name.get_ref().to_string(),
                section_line,
                key: String::new(),
                value: RawValue::Text(String::new()),
                line: section_line,
            });
        }
        for (key, v) in table {
            let at = key.span().start;
            let value = match v.get_ref() {
                DeValue::String(s) => RawValue::Text(s.to_string()),
                DeValue::Integer(i) if i.radix() == 10 => RawValue::Text(i.as_str().to_string()),
                DeValue::Boolean(b) => RawValue::Text(b.to_string()),
                DeValue::Array(items) => {
                    let mut list = Vec::new();
                    for item in items {
                        match item.get_ref() {
                            DeValue::String(s) => list.push(s.to_string()),
                            _ => {
                                return Err(err(
                                    item.span().start,
                                    format!("'{}': list items must be strings", key.get_ref()),
                                ));
                            }
                        }
                    }
                    RawValue::List(list)
                }
                _ => {
                    return Err(err(
                        at,
                        format!(
                            "'{}' must be a string, a decimal integer, a boolean or a list of strings",
                            key.get_ref()
                        ),
                    ));
                }
            };
            entries.push(RawEntry {
                section: name.get_ref().to_string(),
                section_line,
                key: key.get_ref().to_string(),
                value,
                line: line_of(text, at),
            });
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tables_with_lines() {
        let e = parse(
            Path::new("shipshape.toml"),
            "[defaults]\nforks = 8\ninventory = [\"a.ini\", \"b.tfstate\"]\n\n[privilege_escalation]\nbecome = true\n",
        )
        .expect("parses");
        assert_eq!(e.len(), 3);
        assert_eq!((e[0].key.as_str(), e[0].line), ("forks", 2));
        assert_eq!(e[0].value, RawValue::Text("8".into()));
        assert_eq!(
            e[1].value,
            RawValue::List(vec!["a.ini".into(), "b.tfstate".into()])
        );
        assert_eq!(
            (e[2].section.as_str(), e[2].key.as_str(), e[2].line),
            ("privilege_escalation", "become", 6)
        );
        assert_eq!(e[2].value, RawValue::Text("true".into()));
    }

    #[test]
    fn bad_toml_names_the_line() {
        let e = parse(Path::new("shipshape.toml"), "[defaults]\nforks = = 3\n").expect_err("bad");
        assert!(e.to_string().starts_with("shipshape.toml:2: "), "{e}");
        let e = parse(Path::new("shipshape.toml"), "forks = 3\n").expect_err("not a table");
        assert!(e.to_string().starts_with("shipshape.toml:1: "), "{e}");
    }
}
