//! The one place that parses YAML: a tree of [`Node`]s with line/column spans, resolved with
//! YAML 1.1 rules as Ansible users expect (`yes`/`no`/`on`/`off` booleans, `0755` octal), with
//! anchors, aliases, merge keys (`<<`) and the `!vault` / `!unsafe` tags. Swapping the parser
//! crate means rewriting only this file.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Value;
use saphyr_parser::{Event, Parser, ScalarStyle};

mod emit;
pub use emit::to_yaml_string;

/// A position in a source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file the position is in.
    pub file: Arc<PathBuf>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

impl Location {
    /// A location at the start of `file`, for errors that concern a whole file.
    pub fn file_start(file: &Path) -> Self {
        Location {
            file: Arc::new(file.to_path_buf()),
            line: 1,
            col: 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// A YAML value with the location it was written at.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The resolved value.
    pub value: NodeValue,
    /// Where the value starts in its file.
    pub loc: Location,
}

/// A resolved YAML value.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true`/`false` and YAML 1.1's `yes`/`no`/`on`/`off`.
    Bool(bool),
    /// Integers, including `0x1F`, `0o17` and YAML 1.1 octal `0755`.
    Int(i64),
    /// Floating point numbers.
    Float(f64),
    /// Strings (quoted scalars are always strings).
    Str(String),
    /// An `!unsafe` string: never templated.
    Unsafe(String),
    /// An `!vault` value: the Ansible Vault envelope text, still encrypted.
    Vault(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (merge keys already applied).
    Map(Vec<(Node, Node)>),
}

/// A YAML syntax error with its location.
#[derive(Debug, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct YamlError {
    /// Where the error was found.
    pub loc: Location,
    /// What went wrong.
    pub message: String,
}

impl Node {
    /// The string if this node is a (plain or quoted) string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) | NodeValue::Unsafe(s) => Some(s),
            _ => None,
        }
    }

    /// The entries if this node is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            NodeValue::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items if this node is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            NodeValue::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Looks up a string key in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Whether this node is null.
    pub fn is_null(&self) -> bool {
        matches!(self.value, NodeValue::Null)
    }

    /// A short name of the node's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) | NodeValue::Unsafe(_) => "a string",
            NodeValue::Vault(_) => "a vault value",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    /// Renders a scalar as the string Ansible would see (`yes` becomes `True`), if it is one.
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            NodeValue::Str(s) | NodeValue::Unsafe(s) => Some(s.clone()),
            NodeValue::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            _ => None,
        }
    }

    /// Converts the node to a template value. Vault values become their envelope text wrapped
    /// by `vault` (the caller decrypts); `!unsafe` strings are marked safe from templating.
    pub fn to_value(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::from(()),
            NodeValue::Bool(b) => Value::from(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::Str(s) => Value::from(s.as_str()),
            NodeValue::Unsafe(s) => crate::template::unsafe_value(s),
            NodeValue::Vault(s) => crate::template::vault_value(s),
            NodeValue::Seq(items) => {
                Value::from(items.iter().map(Node::to_value).collect::<Vec<_>>())
            }
            NodeValue::Map(entries) => Value::from(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k
                            .scalar_string()
                            .unwrap_or_else(|| format!("{:?}", k.value));
                        (Value::from(key), v.to_value())
                    })
                    .collect::<indexmap::IndexMap<Value, Value>>(),
            ),
        }
    }
}

/// Parses one YAML document from `text`; `file` is used for locations. An empty document is
/// `Null`. More than one document is an error (Ansible files hold one).
pub fn parse(text: &str, file: &Path) -> Result<Node, YamlError> {
    let mut docs = parse_all(text, file)?;
    match docs.len() {
        0 => Ok(Node {
            value: NodeValue::Null,
            loc: Location::file_start(file),
        }),
        1 => Ok(docs.remove(0)),
        _ => Err(YamlError {
            loc: docs[1].loc.clone(),
            message: "more than one YAML document in this file".into(),
        }),
    }
}

/// Parses every document in `text`.
pub fn parse_all(text: &str, file: &Path) -> Result<Vec<Node>, YamlError> {
    let file = Arc::new(file.to_path_buf());
    let mut builder = Builder {
        anchors: HashMap::new(),
        stack: Vec::new(),
        docs: Vec::new(),
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            loc: Location {
                file: file.clone(),
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            message: e.info().to_string(),
        })?;
        let loc = Location {
            file: file.clone(),
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        builder.event(event, loc)?;
    }
    Ok(builder.docs)
}

enum Frame {
    Seq(Vec<Node>, usize, Location),
    Map(Vec<(Node, Node)>, Option<Node>, usize, Location),
}

struct Builder {
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, loc: Location) -> Result<(), YamlError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let node = Node {
                    value: resolve_scalar(&text, style, tag.as_deref(), &loc)?,
                    loc,
                };
                self.push(node, anchor)
            }
            Event::Alias(id) => {
                let node = self.anchors.get(&id).cloned().ok_or_else(|| YamlError {
                    loc: loc.clone(),
                    message: "alias refers to an unknown anchor".into(),
                })?;
                self.push(node, 0)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame::Seq(Vec::new(), anchor, loc));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(Vec::new(), None, anchor, loc));
                Ok(())
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq(items, anchor, loc)) => self.push(
                    Node {
                        value: NodeValue::Seq(items),
                        loc,
                    },
                    anchor,
                ),
                _ => Err(Self::err(loc, "unexpected end of sequence")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(entries, _, anchor, loc)) => self.push(
                    Node {
                        value: NodeValue::Map(entries),
                        loc,
                    },
                    anchor,
                ),
                _ => Err(Self::err(loc, "unexpected end of mapping")),
            },
            _ => Ok(()),
        }
    }

    fn err(loc: Location, message: &str) -> YamlError {
        YamlError {
            loc,
            message: message.into(),
        }
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _, _)) => items.push(node),
            Some(Frame::Map(entries, pending, _, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if key.as_str() == Some("<<") && !matches!(key.value, NodeValue::Unsafe(_)) {
                        merge_into(entries, node)?;
                    } else if let Some(pos) = entries
                        .iter()
                        .position(|(k, _)| k.value == key.value && k.as_str().is_some())
                    {
                        // Later keys win, as in PyYAML; keep the position of the first.
                        entries[pos] = (key, node);
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

/// Applies a merge key: entries of the merged mapping(s) that are not already set.
fn merge_into(entries: &mut Vec<(Node, Node)>, merged: Node) -> Result<(), YamlError> {
    let sources = match merged.value {
        NodeValue::Map(m) => vec![m],
        NodeValue::Seq(items) => items
            .into_iter()
            .map(|n| match n.value {
                NodeValue::Map(m) => Ok(m),
                _ => Err(YamlError {
                    loc: n.loc,
                    message: "a merge key (<<) takes a mapping or a list of mappings".into(),
                }),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(YamlError {
                loc: merged.loc,
                message: "a merge key (<<) takes a mapping or a list of mappings".into(),
            });
        }
    };
    for source in sources {
        for (k, v) in source {
            if !entries.iter().any(|(ek, _)| ek.value == k.value) {
                entries.push((k, v));
            }
        }
    }
    Ok(())
}

fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    loc: &Location,
) -> Result<NodeValue, YamlError> {
    match tag {
        Some("!vault") | Some("!vault-encrypted") => return Ok(NodeValue::Vault(text.to_string())),
        Some("!unsafe") => return Ok(NodeValue::Unsafe(text.to_string())),
        Some("!!str") | Some("tag:yaml.org,2002:str") => return Ok(NodeValue::Str(text.into())),
        Some("!!int") | Some("tag:yaml.org,2002:int") => {
            return resolve_plain(text)
                .filter(|v| matches!(v, NodeValue::Int(_)))
                .ok_or_else(|| YamlError {
                    loc: loc.clone(),
                    message: format!("{text:?} is not an integer"),
                });
        }
        Some("!!float") | Some("tag:yaml.org,2002:float") => {
            return text
                .trim()
                .parse::<f64>()
                .map(NodeValue::Float)
                .map_err(|_| YamlError {
                    loc: loc.clone(),
                    message: format!("{text:?} is not a number"),
                });
        }
        Some("!!bool") | Some("tag:yaml.org,2002:bool") => {
            return resolve_plain(text)
                .filter(|v| matches!(v, NodeValue::Bool(_)))
                .ok_or_else(|| YamlError {
                    loc: loc.clone(),
                    message: format!("{text:?} is not a boolean"),
                });
        }
        Some(other) if !other.starts_with("!!") => {
            return Err(YamlError {
                loc: loc.clone(),
                message: format!("unsupported YAML tag {other} (supported: !vault, !unsafe)"),
            });
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Ok(NodeValue::Str(text.to_string()));
    }
    Ok(resolve_plain(text).unwrap_or_else(|| NodeValue::Str(text.to_string())))
}

/// YAML 1.1 (PyYAML) resolution of a plain scalar; `None` means "a string".
fn resolve_plain(text: &str) -> Option<NodeValue> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(NodeValue::Null),
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
            return Some(NodeValue::Bool(true));
        }
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
            return Some(NodeValue::Bool(false));
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" => return Some(NodeValue::Float(f64::INFINITY)),
        "-.inf" | "-.Inf" | "-.INF" => return Some(NodeValue::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(NodeValue::Float(f64::NAN)),
        _ => {}
    }
    let (neg, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits_clean = digits.replace('_', "");
    let parsed = if let Some(hex) = digits_clean.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = digits_clean.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(bin) = digits_clean.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if digits_clean.len() > 1
        && digits_clean.starts_with('0')
        && digits_clean.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&digits_clean, 8).ok()
    } else if !digits_clean.is_empty() && digits_clean.bytes().all(|b| b.is_ascii_digit()) {
        digits_clean.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(n) = parsed {
        return Some(NodeValue::Int(if neg { -n } else { n }));
    }
    let looks_float = digits_clean
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits_clean.bytes().any(|b| b.is_ascii_digit())
        && digits_clean.contains('.');
    if looks_float && let Ok(f) = text.replace('_', "").parse::<f64>() {
        return Some(NodeValue::Float(f));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Node {
        parse(text, Path::new("t.yml")).expect("valid yaml")
    }

    #[test]
    fn yaml11_booleans_and_octal() {
        let n = p("a: yes\nb: off\nc: 0755\nd: '0755'\ne: 1.5\nf: ~\ng: 0x1f\n");
        assert_eq!(n.get("a").unwrap().value, NodeValue::Bool(true));
        assert_eq!(n.get("b").unwrap().value, NodeValue::Bool(false));
        assert_eq!(n.get("c").unwrap().value, NodeValue::Int(0o755));
        assert_eq!(n.get("d").unwrap().value, NodeValue::Str("0755".into()));
        assert_eq!(n.get("e").unwrap().value, NodeValue::Float(1.5));
        assert_eq!(n.get("f").unwrap().value, NodeValue::Null);
        assert_eq!(n.get("g").unwrap().value, NodeValue::Int(31));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("base: &b\n  x: 1\n  y: 2\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        let other = n.get("other").unwrap();
        assert_eq!(other.get("x").unwrap().value, NodeValue::Int(1));
        assert_eq!(other.get("y").unwrap().value, NodeValue::Int(3));
        assert_eq!(n.get("list").unwrap().as_seq().unwrap().len(), 1);
    }

    #[test]
    fn vault_tag_and_locations() {
        let n = p("x: 1\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n");
        let s = n.get("secret").unwrap();
        assert!(matches!(&s.value, NodeValue::Vault(t) if t.starts_with("$ANSIBLE_VAULT")));
        assert_eq!(s.loc.line, 2);
        assert_eq!(n.get("x").unwrap().loc.col, 4);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = parse("a: 1\n b: 2\n", Path::new("bad.yml")).unwrap_err();
        assert_eq!(err.loc.line, 2);
        assert!(err.to_string().starts_with("bad.yml:2:"), "{err}");
    }

    #[test]
    fn unknown_tag_is_an_error() {
        assert!(parse("a: !foo x\n", Path::new("t.yml")).is_err());
    }
}
