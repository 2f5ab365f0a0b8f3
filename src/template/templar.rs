//! [`Templar`]: renders strings, values, template files and bare expressions against a
//! [`Scope`], keeping native types for single expressions, compiling each source once, and
//! turning minijinja's errors into precise [`TemplateError`]s.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use indexmap::IndexMap;
use minijinja::value::ValueKind;
use minijinja::{Environment, ErrorKind, Value};

use super::env::{self, EXPR, FILE, INLINE, RESULT, SearchGuard};
use super::error::{
    TemplateError, carried, is_identifier, source_line, split_path, undefined_expr,
};
use super::python::{is_truthy, materialize, py_str, py_type_name};
use super::scope::{Scope, ScopeRoot, has_template_syntax, needs_render};

/// The templating engine: one configured minijinja environment and its compiled-template
/// cache. Cheap to clone and share between threads.
#[derive(Clone)]
pub struct Templar {
    inner: Arc<Inner>,
}

struct Inner {
    env: Environment<'static>,
    compiles: Arc<AtomicUsize>,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl std::fmt::Debug for Templar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templar")
            .field("compiles", &self.compile_count())
            .finish()
    }
}

/// What is being rendered, for error messages.
#[derive(Clone, Copy)]
enum Src<'a> {
    Inline(&'a str),
    Expr(&'a str),
    File { name: &'a str, source: &'a str },
}

impl Src<'_> {
    fn source(&self) -> &str {
        match self {
            Src::Inline(s) | Src::Expr(s) => s,
            Src::File { source, .. } => source,
        }
    }
}

impl Templar {
    /// Builds the environment (filters, tests, lookups, settings) once.
    pub fn new() -> Templar {
        let compiles = Arc::new(AtomicUsize::new(0));
        Templar {
            inner: Arc::new(Inner {
                env: env::build(compiles.clone()),
                compiles,
            }),
        }
    }

    /// How many template sources have been compiled so far (cache misses).
    pub fn compile_count(&self) -> usize {
        self.inner.compiles.load(Ordering::Relaxed)
    }

    /// Renders a string. Text without Jinja markers comes back as is; a string that is exactly
    /// one `{{ expr }}` keeps the native type of the result; anything else renders to a string.
    pub fn render_str(&self, text: &str, scope: &Scope) -> Result<Value, TemplateError> {
        if !has_template_syntax(text) {
            return Ok(Value::from(text));
        }
        let root = ScopeRoot::value(scope, self);
        self.render_str_in(text, &root)
    }

    /// Renders lists and maps (keys too) deeply; strings as [`Templar::render_str`]; strings
    /// marked `!unsafe` and other values are returned as they are.
    pub fn render_value(&self, v: &Value, scope: &Scope) -> Result<Value, TemplateError> {
        if !needs_render(v) {
            return Ok(v.clone());
        }
        let root = ScopeRoot::value(scope, self);
        self.render_value_in(v, &root)
    }

    /// Renders a whole template file (the `template` module). `name` (its path) is used in
    /// errors and to resolve `{% include %}` next to it, then in the directories listed in
    /// the scope variable `__template_search`. Trailing newlines of the source are kept.
    pub fn render_template_file(
        &self,
        source: &str,
        name: &str,
        scope: &Scope,
    ) -> Result<String, TemplateError> {
        let root = ScopeRoot::value(scope, self);
        self.render_file_in(source, name, &root)
    }

    /// Evaluates a bare Jinja expression (`when:`, `that:`, `until:` ...). An expression
    /// wrapped in `{{ }}` is accepted too.
    pub fn eval(&self, expr: &str, scope: &Scope) -> Result<Value, TemplateError> {
        let root = ScopeRoot::value(scope, self);
        let expr = single_expression(expr).unwrap_or(expr.trim());
        if has_template_syntax(expr) {
            // Old-style `when: "{{ x }} == 1"`: render the templates, then evaluate.
            let rendered = py_str(&self.render_str_in(expr, &root)?);
            return self.eval_in(&rendered, &root);
        }
        self.eval_in(expr, &root)
    }

    /// Evaluates a condition with Ansible truthiness (`"no"`, `"false"`, `"0"`, `""` are
    /// false when the whole result is a string).
    pub fn eval_bool(&self, expr: &str, scope: &Scope) -> Result<bool, TemplateError> {
        self.eval(expr, scope).map(|v| is_truthy(&v))
    }

    /// The rendered value of variable `name`, `None` if the scope does not define it.
    pub fn var(&self, name: &str, scope: &Scope) -> Result<Option<Value>, TemplateError> {
        let root = ScopeRoot::value(scope, self);
        scope.resolve(name, self, &root).transpose()
    }

    /// Runs lookup plugin `name` on `terms` like `query(name, *terms)` (for `with_<name>`).
    pub fn query(
        &self,
        name: &str,
        terms: &[Value],
        scope: &Scope,
    ) -> Result<Vec<Value>, TemplateError> {
        let root = ScopeRoot::value(scope, self);
        super::lookups::run_with_root(name, terms, &IndexMap::new(), &root)
    }

    // --- internals, working on a scope root value ---------------------------------------

    pub(crate) fn render_str_in(&self, text: &str, root: &Value) -> Result<Value, TemplateError> {
        if !has_template_syntax(text) {
            return Ok(Value::from(text));
        }
        if let Some(expr) = single_expression(text) {
            let v = self.eval_in(expr, root)?;
            let trimmed = text.trim();
            // Containers keep their type even with whitespace around (`loop: >` blocks);
            // a scalar with whitespace around is text, as in Ansible (`content: "{{ n }}\n"`).
            let container = matches!(
                v.kind(),
                ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Plain
            );
            if trimmed.len() == text.len() || container || v.is_undefined() {
                return Ok(v);
            }
            // Surrounding whitespace is part of a string result (`content: "{{ x }}\n"`).
            let start = text.len() - text.trim_start().len();
            let rendered = format!(
                "{}{}{}",
                &text[..start],
                py_str(&v),
                &text[start + trimmed.len()..]
            );
            return Ok(if v.is_safe() {
                Value::from_safe_string(rendered)
            } else {
                Value::from(rendered)
            });
        }
        let name = format!("{INLINE}{text}");
        self.render_named(&name, root, Src::Inline(text))
            .map(Value::from)
    }

    pub(crate) fn render_value_in(&self, v: &Value, root: &Value) -> Result<Value, TemplateError> {
        if super::python::is_lazy_object(v) {
            return Ok(v.clone());
        }
        match v.kind() {
            ValueKind::String if !v.is_safe() => match v.as_str() {
                Some(s) => self.render_str_in(s, root),
                None => Ok(v.clone()),
            },
            ValueKind::Seq => {
                let mut out = Vec::with_capacity(v.len().unwrap_or(0));
                for item in v
                    .try_iter()
                    .map_err(|e| self.map_err(e, root, Src::Inline("")))?
                {
                    out.push(if needs_render(&item) {
                        self.render_value_in(&item, root)?
                    } else {
                        item
                    });
                }
                Ok(Value::from(out))
            }
            ValueKind::Map => {
                let mut out = IndexMap::new();
                for k in v
                    .try_iter()
                    .map_err(|e| self.map_err(e, root, Src::Inline("")))?
                {
                    let item = v.get_item(&k).unwrap_or_default();
                    let key = if needs_render(&k) {
                        self.render_value_in(&k, root)?
                    } else {
                        k
                    };
                    let item = if needs_render(&item) {
                        self.render_value_in(&item, root)?
                    } else {
                        item
                    };
                    out.insert(key, item);
                }
                Ok(Value::from(out))
            }
            _ => Ok(v.clone()),
        }
    }

    pub(crate) fn render_file_in(
        &self,
        source: &str,
        name: &str,
        root: &Value,
    ) -> Result<String, TemplateError> {
        let search = root
            .get_attr("__template_search")
            .ok()
            .filter(|v| !v.is_undefined())
            .map(|v| path_list(&v))
            .unwrap_or_default();
        let _guard = SearchGuard::set(search);
        let key = format!("{FILE}{name}\0{source}");
        self.render_named(&key, root, Src::File { name, source })
    }

    pub(crate) fn eval_in(&self, expr: &str, root: &Value) -> Result<Value, TemplateError> {
        let name = format!("{EXPR}{expr}");
        let tmpl = match self.inner.env.get_template(&name) {
            Ok(t) => t,
            Err(e) => {
                // Report the problem in terms of the expression, not our wrapper around it.
                let e = match self.inner.env.compile_expression(expr) {
                    Err(direct) => direct,
                    Ok(_) => e,
                };
                return Err(self.map_err(e, root, Src::Expr(expr)));
            }
        };
        let captured = tmpl
            .render_captured(root.clone())
            .map_err(|e| self.map_err(e, root, Src::Expr(expr)))?;
        let v = captured.state().lookup(RESULT).unwrap_or_default();
        if v.is_undefined() {
            return Ok(Value::from(()));
        }
        Ok(materialize(&v))
    }

    fn render_named(
        &self,
        name: &str,
        root: &Value,
        src: Src<'_>,
    ) -> Result<String, TemplateError> {
        let tmpl = self
            .inner
            .env
            .get_template(name)
            .map_err(|e| self.map_err(e, root, src))?;
        let mut out = tmpl
            .render(root.clone())
            .map_err(|e| self.map_err(e, root, src))?;
        keep_trailing_newlines(src.source(), &mut out);
        Ok(out)
    }

    /// Turns a minijinja error into a [`TemplateError`] naming the undefined variable, the
    /// syntax problem or the failing operation.
    fn map_err(&self, err: minijinja::Error, root: &Value, src: Src<'_>) -> TemplateError {
        let location = Self::location(&err);
        if let Some(te) = carried(&err) {
            return match location {
                Some(loc) if matches!(src, Src::File { .. }) => te.with_context(loc),
                _ => te,
            };
        }
        let detail = err.detail().unwrap_or_default().to_string();
        let mut te = match err.kind() {
            ErrorKind::SyntaxError => {
                let line = err.line().unwrap_or(1);
                let text = match src {
                    Src::Expr(e) => e.trim().to_string(),
                    _ => err
                        .template_source()
                        .map(|s| source_line(s, line))
                        .unwrap_or_else(|| source_line(src.source(), line)),
                };
                TemplateError::Syntax {
                    message: detail,
                    line,
                    text,
                    context: Vec::new(),
                }
            }
            ErrorKind::UndefinedError => self.undefined_error(&err, &detail, root, src),
            kind => TemplateError::Failed {
                message: if detail.is_empty() {
                    kind.to_string()
                } else {
                    format!("{kind}: {detail}")
                },
                context: Vec::new(),
            },
        };
        if let Some(loc) = location {
            te = te.with_context(loc);
        }
        te
    }

    /// Where an error happened, for file templates and includes: `in template X line N`.
    fn location(err: &minijinja::Error) -> Option<String> {
        let name = err.name()?;
        let line = err.line()?;
        if name.starts_with(INLINE) || name.starts_with(EXPR) || name.starts_with('<') {
            return None;
        }
        Some(format!(
            "in template {} line {line}",
            env::display_name(name)
        ))
    }

    fn undefined_error(
        &self,
        err: &minijinja::Error,
        detail: &str,
        root: &Value,
        src: Src<'_>,
    ) -> TemplateError {
        let undefined = |name: String, message: String| TemplateError::Undefined {
            name,
            message,
            context: Vec::new(),
        };
        if let Some(expr) = undefined_expr(detail) {
            if is_identifier(&expr) {
                return undefined(expr.clone(), format!("'{expr}' is undefined"));
            }
            if let Some((parent, key)) = split_path(&expr) {
                let parent_value = self.eval_in(&parent, root).ok();
                return match parent_value {
                    Some(p) => {
                        let ty = py_type_name(&p);
                        let message = if ty == "list" && key.parse::<i64>().is_ok() {
                            format!("'list object' has no element {key}")
                        } else {
                            format!("'{ty} object' has no attribute '{key}'")
                        };
                        undefined(key, message)
                    }
                    _ => undefined(key.clone(), format!("'{parent}' has no attribute '{key}'")),
                };
            }
            return undefined(expr.clone(), format!("'{expr}' is undefined"));
        }
        // No origin recorded: name the first variable of the template the scope lacks.
        let name = err.name().map(str::to_string).unwrap_or_else(|| match src {
            Src::Inline(t) => format!("{INLINE}{t}"),
            Src::Expr(e) => format!("{EXPR}{e}"),
            Src::File { name, source } => format!("{FILE}{name}\0{source}"),
        });
        if let Ok(t) = self.inner.env.get_template(&name) {
            let mut names: Vec<String> = t.undeclared_variables(false).into_iter().collect();
            names.sort();
            for n in names {
                let known = root
                    .get_attr(&n)
                    .map(|v| !v.is_undefined())
                    .unwrap_or(false)
                    || self.inner.env.globals().any(|(g, _)| g == n);
                if !known && n != RESULT {
                    return undefined(n.clone(), format!("'{n}' is undefined"));
                }
            }
        }
        let message = if detail.is_empty() {
            "undefined value".to_string()
        } else {
            format!("undefined value: {detail}")
        };
        undefined(String::new(), message)
    }
}

/// The expression inside a string that is exactly one `{{ expr }}` (surrounding whitespace
/// allowed), or `None`.
pub(crate) fn single_expression(text: &str) -> Option<&str> {
    let t = text.trim();
    let body = t.strip_prefix("{{")?;
    // The expression ends at the first `}}` outside string literals and brackets (a dict
    // literal's closing `}}` belongs to the expression, as in Jinja's lexer).
    let end = expression_end(body)?;
    if body[end..] != *"}}" {
        return None;
    }
    let inner = &body[..end];
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    if inner.contains("{%") || inner.contains("{#") {
        return None;
    }
    let inner = inner.trim();
    if inner.is_empty() { None } else { Some(inner) }
}

/// The byte offset of the `}}` that closes an expression whose text starts at `body`.
fn expression_end(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'{' | b'[' | b'(' => depth += 1,
                b'}' if depth == 0 => return (bytes.get(i + 1) == Some(&b'}')).then_some(i),
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Ansible's newline preservation: the output ends with at least as many newlines as the
/// source (Jinja drops one; Ansible adds them back).
fn keep_trailing_newlines(source: &str, out: &mut String) {
    let count = |s: &str| s.bytes().rev().take_while(|b| *b == b'\n').count();
    let want = count(source);
    let have = count(out);
    for _ in have..want {
        out.push('\n');
    }
}

/// A list of directory paths from a template value (a list, or one string).
pub(crate) fn path_list(v: &Value) -> Vec<PathBuf> {
    match v.kind() {
        ValueKind::String => vec![PathBuf::from(py_str(v))],
        ValueKind::Seq | ValueKind::Iterable => v
            .try_iter()
            .map(|it| it.map(|p| PathBuf::from(py_str(&p))).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}
