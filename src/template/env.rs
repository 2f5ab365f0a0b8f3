//! Builds the one minijinja [`Environment`] configured like Ansible's Jinja2: strict undefined,
//! no autoescape, `trim_blocks`, Python-style printing, pycompat methods, Ansible's filters,
//! tests and lookups, and a loader that doubles as the compiled-template cache.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use super::python::py_str;
use super::{filters, lookups, omit_marker, tests};

/// Loader-name prefix of an inline template: the rest of the name is its source.
pub(crate) const INLINE: char = '\u{1}';
/// Loader-name prefix of a bare expression: the rest of the name is the expression.
pub(crate) const EXPR: char = '\u{2}';
/// Loader-name prefix of a template file: `name`, NUL, then the source.
pub(crate) const FILE: char = '\u{3}';
/// The variable an expression template stores its result in.
pub(crate) const RESULT: &str = "__shipshape_result";

thread_local! {
    /// Directories searched for `{% include %}` / `{% import %}` during the current render on
    /// this thread (from the scope variable `__template_search`).
    static SEARCH: RefCell<Vec<PathBuf>> = const { RefCell::new(Vec::new()) };
}

/// Sets the include search path for the current thread until dropped (then restores it).
pub(crate) struct SearchGuard {
    previous: Vec<PathBuf>,
}

impl SearchGuard {
    /// Installs `dirs` as the include search path.
    pub fn set(dirs: Vec<PathBuf>) -> SearchGuard {
        let previous = SEARCH.with(|s| std::mem::replace(&mut *s.borrow_mut(), dirs));
        SearchGuard { previous }
    }
}

impl Drop for SearchGuard {
    fn drop(&mut self) {
        let previous = std::mem::take(&mut self.previous);
        SEARCH.with(|s| *s.borrow_mut() = previous);
    }
}

/// The user-facing name of a loader name (the file name of a template file, the text of an
/// inline template or expression).
pub(crate) fn display_name(name: &str) -> &str {
    if let Some(rest) = name.strip_prefix(FILE) {
        rest.split_once('\0').map(|(n, _)| n).unwrap_or(rest)
    } else if let Some(rest) = name.strip_prefix(INLINE) {
        rest
    } else if let Some(rest) = name.strip_prefix(EXPR) {
        rest
    } else {
        name
    }
}

/// Builds the environment. `compiles` counts loader calls, i.e. template compilations.
pub(crate) fn build(compiles: Arc<AtomicUsize>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_debug(true);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_auto_reload(false);
    // Ansible keeps trailing newlines itself (see `Templar`), like Jinja2's default here.
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(false)
        .keep_trailing_newline(false)
        .build()
        .expect("default delimiters are valid");
    env.set_syntax(syntax);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    minijinja_contrib::add_to_environment(&mut env);
    env.set_formatter(|out, _state, value| {
        if let Some(s) = value.as_str() {
            out.write_str(s)?;
        } else {
            out.write_str(&py_str(value))?;
        }
        Ok(())
    });
    env.set_loader(move |name| {
        compiles.fetch_add(1, Ordering::Relaxed);
        Ok(load(name))
    });
    env.set_path_join_callback(|name, parent| join_path(name, parent).into());
    filters::register(&mut env);
    tests::register(&mut env);
    lookups::register(&mut env);
    env.add_global("omit", omit_marker());
    env
}

/// Returns the source for a loader name.
fn load(name: &str) -> Option<String> {
    if let Some(src) = name.strip_prefix(INLINE) {
        Some(src.to_string())
    } else if let Some(expr) = name.strip_prefix(EXPR) {
        Some(format!(
            "{{% set {RESULT} = ({expr}) %}}{{% if {RESULT} is undefined %}}{{{{ {RESULT} }}}}{{% endif %}}"
        ))
    } else if let Some(rest) = name.strip_prefix(FILE) {
        rest.split_once('\0').map(|(_, src)| src.to_string())
    } else {
        std::fs::read_to_string(name).ok()
    }
}

/// Resolves an included template name: absolute paths as they are, otherwise relative to the
/// including template's directory, then to each directory of the search path.
fn join_path(name: &str, parent: &str) -> String {
    if Path::new(name).is_absolute() {
        return name.to_string();
    }
    let parent_file = if parent.starts_with(INLINE) || parent.starts_with(EXPR) {
        None
    } else {
        Some(Path::new(display_name(parent)))
    };
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = parent_file.and_then(Path::parent) {
        candidates.push(dir.join(name));
    }
    SEARCH.with(|s| {
        for dir in s.borrow().iter() {
            candidates.push(dir.join(name));
        }
    });
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn display_names_strip_loader_prefixes() {
        assert_eq!(display_name(&format!("{FILE}a/b.j2\0src")), "a/b.j2");
        assert_eq!(display_name(&format!("{INLINE}x {{{{ y }}}}")), "x {{ y }}");
        assert_eq!(display_name("/etc/x.j2"), "/etc/x.j2");
    }

    #[test]
    fn includes_resolve_next_to_the_parent_then_on_the_search_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.j2"), "A").expect("write");
        std::fs::write(other.path().join("b.j2"), "B").expect("write");
        let parent = format!("{FILE}{}\0src", dir.path().join("main.j2").display());
        assert_eq!(
            join_path("a.j2", &parent),
            dir.path().join("a.j2").to_string_lossy()
        );
        let _g = SearchGuard::set(vec![other.path().to_path_buf()]);
        assert_eq!(
            join_path("b.j2", &parent),
            other.path().join("b.j2").to_string_lossy()
        );
        assert_eq!(join_path("missing.j2", &parent), "missing.j2");
    }
}
