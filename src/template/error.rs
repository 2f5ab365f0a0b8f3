//! [`TemplateError`]: what went wrong while rendering, worded like Ansible (`'foo' is
//! undefined`, `'dict object' has no attribute 'bar'`), and its passage through minijinja.

use std::sync::{Arc, OnceLock};

use minijinja::ErrorKind;

/// An error rendering a template or evaluating an expression. Callers add the file:line of
/// the task; the message names the variable, attribute or syntax problem.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    /// A variable or attribute used by the template does not exist.
    #[error("{message}{}", suffix(.context))]
    Undefined {
        /// The undefined variable or attribute name.
        name: String,
        /// `'foo' is undefined` or `'dict object' has no attribute 'bar'`.
        message: String,
        /// Where it happened (variable being rendered, template file and line).
        context: Vec<String>,
    },
    /// The template text is not valid Jinja.
    #[error("template syntax error: {message} (line {line}: {text}){}", suffix(.context))]
    Syntax {
        /// minijinja's description of the problem.
        message: String,
        /// 1-based line in the template text.
        line: usize,
        /// That line of the template.
        text: String,
        /// Where it happened.
        context: Vec<String>,
    },
    /// Variables whose templates refer to each other in a cycle.
    #[error(
        "recursive loop detected in template: variable '{name}' depends on itself ({})",
        chain.join(" -> ")
    )]
    Recursion {
        /// The variable found again while being rendered.
        name: String,
        /// The chain of variables, ending with `name` again.
        chain: Vec<String>,
    },
    /// Any other failure (a filter's bad input, a failed lookup, a type error).
    #[error("{message}{}", suffix(.context))]
    Failed {
        /// What went wrong.
        message: String,
        /// Where it happened.
        context: Vec<String>,
    },
}

fn suffix(context: &[String]) -> String {
    if context.is_empty() {
        String::new()
    } else {
        format!(" ({})", context.join("; "))
    }
}

impl TemplateError {
    /// A plain failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        TemplateError::Failed {
            message: message.into(),
            context: Vec::new(),
        }
    }

    /// Adds a note on where the error happened (kept in order, innermost first).
    pub(crate) fn with_context(mut self, note: String) -> Self {
        match &mut self {
            TemplateError::Undefined { context, .. }
            | TemplateError::Syntax { context, .. }
            | TemplateError::Failed { context, .. } => {
                if !context.contains(&note) {
                    context.push(note)
                }
            }
            TemplateError::Recursion { .. } => {}
        }
        self
    }

    /// Wraps this error into a minijinja error that carries it as its source, so that it
    /// survives a trip through the engine (a filter, a lazily rendered variable).
    pub(crate) fn into_minijinja(self) -> minijinja::Error {
        let kind = match self {
            TemplateError::Undefined { .. } => ErrorKind::UndefinedError,
            _ => ErrorKind::InvalidOperation,
        };
        minijinja::Error::new(kind, self.to_string()).with_source(Carried(Arc::new(self)))
    }
}

/// A [`TemplateError`] travelling as the source of a minijinja error.
#[derive(Debug, Clone)]
pub(crate) struct Carried(pub Arc<TemplateError>);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Carried {}

/// The [`TemplateError`] carried somewhere in the source chain of `err`, if any.
pub(crate) fn carried(err: &minijinja::Error) -> Option<TemplateError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<Carried>() {
            return Some((*c.0).clone());
        }
        cur = e.source();
    }
    None
}

/// The expression minijinja names in its "`x.y` is undefined" detail.
pub(crate) fn undefined_expr(detail: &str) -> Option<String> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r"`([^`]+)` is undefined").expect("valid regex"));
    re.captures(detail).map(|c| c[1].to_string())
}

/// Splits a simple path expression (`foo.bar['baz'][0]`) into its parent and last key.
/// `None` when the expression is a bare name or not a simple path.
pub(crate) fn split_path(expr: &str) -> Option<(String, String)> {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:-?\d+|'[^']*'|"[^"]*")\])*)(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+|'[^']*'|"[^"]*")\])$"#,
        )
        .expect("valid regex")
    });
    let c = re.captures(expr.trim())?;
    let parent = c[1].to_string();
    let key = c.get(2).or_else(|| c.get(3)).map(|m| {
        m.as_str()
            .trim_matches(|ch| ch == '\'' || ch == '"')
            .to_string()
    })?;
    Some((parent, key))
}

/// Whether `expr` is a bare variable name.
pub(crate) fn is_identifier(expr: &str) -> bool {
    let mut chars = expr.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The 1-based `line` of `source`, trimmed, for syntax error messages.
pub(crate) fn source_line(source: &str, line: usize) -> String {
    source
        .lines()
        .nth(line.saturating_sub(1))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_key() {
        assert_eq!(split_path("foo.bar"), Some(("foo".into(), "bar".into())));
        assert_eq!(split_path("a.b['c d']"), Some(("a.b".into(), "c d".into())));
        assert_eq!(split_path("a[0]"), Some(("a".into(), "0".into())));
        assert_eq!(split_path("foo"), None);
        assert_eq!(split_path("foo(1).x"), None);
        assert_eq!(
            undefined_expr("`x.y` is undefined (from t.j2:3)").as_deref(),
            Some("x.y")
        );
    }

    #[test]
    fn carried_errors_survive_minijinja() {
        let e = TemplateError::failed("boom").with_context("while rendering variable 'a'".into());
        let mj = e.clone().into_minijinja();
        let back = carried(&mj).expect("carried");
        assert_eq!(back.to_string(), "boom (while rendering variable 'a')");
    }
}
