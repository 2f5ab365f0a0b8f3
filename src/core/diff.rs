//! A change as data: the before and after text of one thing (a file, a mode, a directory
//! listing). Reporters render it; modules only build it.

use serde::Serialize;

/// The before/after of one changed thing, rendered as a unified diff by reporters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Header of the old side (`before: /etc/motd`).
    pub before_header: String,
    /// Header of the new side (`after: /etc/motd`).
    pub after_header: String,
    /// Old content ("" for a new file).
    pub before: String,
    /// New content ("" for a removed file).
    pub after: String,
}

impl Diff {
    /// A diff of `path` from `before` to `after`.
    pub fn new(path: &str, before: impl Into<String>, after: impl Into<String>) -> Self {
        Diff {
            before_header: format!("before: {path}"),
            after_header: format!("after: {path}"),
            before: before.into(),
            after: after.into(),
        }
    }

    /// A diff of one attribute (`mode`, `owner`, `state`) of `path`.
    pub fn attr(path: &str, attr: &str, before: &str, after: &str) -> Self {
        Diff::new(
            &format!("{path} ({attr})"),
            format!("{attr}: {before}\n"),
            format!("{attr}: {after}\n"),
        )
    }

    /// The unified diff text (no colours), as `diff -u` would print it.
    pub fn unified(&self) -> String {
        let before = ensure_newline(&self.before);
        let after = ensure_newline(&self.after);
        similar::TextDiff::from_lines(&before, &after)
            .unified_diff()
            .context_radius(3)
            .header(&self.before_header, &self.after_header)
            .to_string()
    }
}

fn ensure_newline(s: &str) -> String {
    if s.is_empty() || s.ends_with('\n') {
        s.to_string()
    } else {
        format!("{s}\n\\ No newline at end of file\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_has_headers_and_changes() {
        let d = Diff::new("/etc/motd", "a\nb\n", "a\nc\n");
        let u = d.unified();
        assert!(u.contains("--- before: /etc/motd"), "{u}");
        assert!(u.contains("-b\n+c\n"), "{u}");
    }
}
