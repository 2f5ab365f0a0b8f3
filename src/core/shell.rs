//! Builds POSIX shell text with every argument quoted, so values reach the target literally.
//! Secrets are kept apart so that callers can redact them from anything they print.

use std::fmt;

/// Quotes `s` for a POSIX shell: `'...'` with embedded single quotes escaped.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        if ch == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(ch);
        }
    }
    out.push('\'');
    out
}

/// A secret string (a password, a vault value) that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that must send it (stdin of sudo, a file).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(********)")
    }
}

/// A shell command line under construction: `Sh::new("mkdir").arg("-p").arg(path)`.
#[derive(Clone, Debug, Default)]
pub struct Sh {
    text: String,
}

impl Sh {
    /// Starts a command with a program name (quoted like any argument).
    pub fn new(program: &str) -> Self {
        Sh {
            text: quote(program),
        }
    }

    /// Appends one quoted argument.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.text.push(' ');
        self.text.push_str(&quote(arg.as_ref()));
        self
    }

    /// Appends several quoted arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Appends shell syntax verbatim (`&&`, `>`, `2>/dev/null`): only for constant text.
    pub fn raw(mut self, syntax: &'static str) -> Self {
        self.text.push(' ');
        self.text.push_str(syntax);
        self
    }

    /// Appends another built command verbatim.
    pub fn then(mut self, op: &'static str, other: Sh) -> Self {
        self.text.push(' ');
        self.text.push_str(op);
        self.text.push(' ');
        self.text.push_str(&other.text);
        self
    }

    /// The finished shell text.
    pub fn build(self) -> String {
        self.text
    }

    /// The shell text so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Sh {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_everything_dangerous() {
        assert_eq!(quote("plain/path-1.txt"), "plain/path-1.txt");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's $(x) `y`"), "'it'\\''s $(x) `y`'");
        let cmd = Sh::new("echo").arg("$HOME").raw("2>/dev/null").build();
        assert_eq!(cmd, "echo '$HOME' 2>/dev/null");
    }

    #[test]
    fn quoted_text_round_trips_through_sh() {
        for s in ["a'b", "$(id)", "`id`", "x\ny", " lead", "\\n", "*"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(Sh::new("printf").arg("%s").arg(s).build())
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }
}
