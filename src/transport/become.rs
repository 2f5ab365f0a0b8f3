//! Privilege escalation with sudo, shared by every transport: wraps a script for `sudo`, and
//! watches its stderr to feed the password only when sudo asks for it, release the command's
//! stdin only once sudo let it run, and turn sudo's refusals into clear messages.
//!
//! Protocol: the wrapped command is
//! `sudo -H -S -p '<prompt marker>' -u USER /bin/sh -c 'echo <ok marker> >&2 && exec /bin/sh -c SCRIPT'`
//! (`sudo -H -n ...` without a password, so a needed password fails fast instead of hanging).
//! The password is written to stdin when the prompt marker shows up on stderr, never on argv;
//! the request's own stdin follows only after the ok marker, so a wrong password never eats it.
//! A second prompt means the password was wrong: the caller stops there.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::core::{Become, Sh};

/// A script ready to run under `/bin/sh -c`, and the watcher for its sudo dialogue, if any.
pub(crate) struct Wrapped {
    /// Shell text to run with `/bin/sh -c`.
    pub(crate) script: String,
    /// Present when the script runs through sudo.
    pub(crate) watch: Option<BecomeWatch>,
}

/// What the stdin side must do next, as decided by sudo's stderr.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BecomeStep {
    /// sudo asks for the password: write these bytes (the password and a newline).
    SendPassword(Vec<u8>),
    /// sudo let the command run: write the request's stdin, then EOF.
    Release,
    /// sudo refused; stop the command and report this message.
    Fail(String),
}

/// Follows sudo's stderr for one command.
pub(crate) struct BecomeWatch {
    user: String,
    password: Option<String>,
    prompt: Vec<u8>,
    ok: Vec<u8>,
    /// stderr received before the ok marker.
    pending: Vec<u8>,
    prompts: usize,
    started: bool,
}

/// Wraps `script` for `become_` (or returns it as is without become).
pub(crate) fn wrap(script: &str, become_: Option<&Become>) -> Wrapped {
    let Some(b) = become_ else {
        return Wrapped {
            script: script.to_string(),
            watch: None,
        };
    };
    let token = unique_token();
    let prompt = format!("[shipshape-sudo-prompt-{token}]");
    let ok = format!("SHIPSHAPE-BECOME-OK-{token}");
    let inner = Sh::new("echo")
        .arg(&ok)
        .raw(">&2 &&")
        .raw("exec")
        .arg("/bin/sh")
        .arg("-c")
        .arg(script)
        .build();
    let sudo = Sh::new("sudo").arg("-H");
    let sudo = match &b.password {
        Some(_) => sudo.arg("-S").arg("-p").arg(&prompt),
        None => sudo.arg("-n"),
    };
    let wrapped = sudo
        .arg("-u")
        .arg(&b.user)
        .arg("/bin/sh")
        .arg("-c")
        .arg(inner)
        .build();
    Wrapped {
        script: wrapped,
        watch: Some(BecomeWatch {
            user: b.user.clone(),
            password: b.password.as_ref().map(|p| p.expose().to_string()),
            prompt: prompt.into_bytes(),
            ok: ok.into_bytes(),
            pending: Vec::new(),
            prompts: 0,
            started: false,
        }),
    }
}

/// A token no script output will contain by chance: pid, a counter and the clock.
pub(crate) fn unique_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}-{n:x}-{nanos:x}", std::process::id())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    let mut n = 0;
    let mut rest = hay;
    while let Some(i) = find(rest, needle) {
        n += 1;
        rest = &rest[i + needle.len()..];
    }
    n
}

fn remove_all(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut rest = hay;
    while let Some(i) = find(rest, needle) {
        out.extend_from_slice(&rest[..i]);
        rest = &rest[i + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

impl BecomeWatch {
    /// Steps to take before any output arrives: without a password sudo runs with `-n` and
    /// cannot read stdin, so the request's stdin can go at once.
    pub(crate) fn initial(&self) -> Option<BecomeStep> {
        if self.password.is_none() {
            Some(BecomeStep::Release)
        } else {
            None
        }
    }

    /// Takes one stderr chunk; appends what belongs to the command's stderr to `keep` (markers
    /// removed) and returns the steps it calls for, in order.
    pub(crate) fn on_stderr(&mut self, chunk: &[u8], keep: &mut Vec<u8>) -> Vec<BecomeStep> {
        if self.started {
            keep.extend_from_slice(chunk);
            return Vec::new();
        }
        self.pending.extend_from_slice(chunk);
        let mut steps = Vec::new();
        let before_ok = match find(&self.pending, &self.ok) {
            Some(i) => &self.pending[..i],
            None => &self.pending[..],
        };
        let prompts = count(before_ok, &self.prompt);
        while self.prompts < prompts {
            self.prompts += 1;
            if self.prompts > 1 {
                steps.push(BecomeStep::Fail(format!(
                    "incorrect sudo password (becoming {})",
                    self.user
                )));
                return steps;
            }
            match &self.password {
                Some(pw) => {
                    let mut line = pw.clone().into_bytes();
                    line.push(b'\n');
                    steps.push(BecomeStep::SendPassword(line));
                }
                None => {
                    steps.push(BecomeStep::Fail(format!(
                        "sudo asks for a password to become {} and none was given",
                        self.user
                    )));
                    return steps;
                }
            }
        }
        if let Some(i) = find(&self.pending, &self.ok) {
            self.started = true;
            let mut end = i + self.ok.len();
            if self.pending.get(end) == Some(&b'\n') {
                end += 1;
            }
            let before = remove_all(&self.pending[..i], &self.prompt);
            keep.extend_from_slice(&before);
            keep.extend_from_slice(&self.pending[end..]);
            self.pending.clear();
            if self.password.is_some() {
                steps.push(BecomeStep::Release);
            }
        }
        steps
    }

    /// Called when the command ended with `status`: an error message when sudo never let the
    /// command start.
    pub(crate) fn finish(&self, status: Option<i32>) -> Result<(), String> {
        if self.started {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&remove_all(&self.pending, &self.prompt)).into_owned();
        Err(classify(&text, &self.user, status))
    }
}

/// Turns what sudo printed into a message that says what to do.
pub(crate) fn classify(stderr: &str, user: &str, status: Option<i32>) -> String {
    let said = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("incorrect password") || lower.contains("sorry, try again") {
        format!("incorrect sudo password (becoming {user})")
    } else if lower.contains("a password is required") || lower.contains("no password was provided")
    {
        format!(
            "sudo needs a password to become {user}: give it with --ask-become-pass \
             (or ansible_become_password)"
        )
    } else if lower.contains("not in the sudoers file") || lower.contains("is not allowed to") {
        format!("the login user may not sudo to {user}: {said}")
    } else if lower.contains("unknown user") {
        format!("the user {user} does not exist on the host: {said}")
    } else if status == Some(127)
        || lower.contains("sudo: not found")
        || lower.contains("sudo: command not found")
    {
        "sudo is not installed on the host (it is needed for become)".to_string()
    } else if said.is_empty() {
        match status {
            Some(s) => format!("sudo exited with status {s} before running the command"),
            None => "sudo stopped before running the command".to_string(),
        }
    } else {
        format!("sudo failed: {said}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Secret;

    fn become_(pw: Option<&str>) -> Become {
        Become {
            user: "root".into(),
            password: pw.map(Secret::new),
        }
    }

    fn markers(w: &BecomeWatch) -> (Vec<u8>, Vec<u8>) {
        (w.prompt.clone(), w.ok.clone())
    }

    #[test]
    fn no_become_leaves_script_alone() {
        let w = wrap("echo hi", None);
        assert_eq!(w.script, "echo hi");
        assert!(w.watch.is_none());
    }

    #[test]
    fn password_never_on_argv_and_n_without_password() {
        let w = wrap("id -un", Some(&become_(Some("s3cret'pw"))));
        assert!(!w.script.contains("s3cret"), "{}", w.script);
        assert!(w.script.starts_with("sudo -H -S -p "), "{}", w.script);
        let w = wrap("id -un", Some(&become_(None)));
        assert!(
            w.script.starts_with("sudo -H -n -u root /bin/sh -c "),
            "{}",
            w.script
        );
        assert_eq!(
            w.watch.as_ref().and_then(BecomeWatch::initial),
            Some(BecomeStep::Release)
        );
    }

    #[test]
    fn prompt_then_ok_sends_password_then_releases() {
        let mut w = wrap("cat", Some(&become_(Some("pw"))))
            .watch
            .expect("watch");
        assert_eq!(w.initial(), None);
        let (prompt, ok) = markers(&w);
        let mut keep = Vec::new();
        // The prompt arrives split over two chunks.
        let (a, b) = prompt.split_at(5);
        assert!(w.on_stderr(a, &mut keep).is_empty());
        assert_eq!(
            w.on_stderr(b, &mut keep),
            vec![BecomeStep::SendPassword(b"pw\n".to_vec())]
        );
        let mut chunk = ok.clone();
        chunk.extend_from_slice(b"\nreal stderr\n");
        assert_eq!(w.on_stderr(&chunk, &mut keep), vec![BecomeStep::Release]);
        assert!(w.on_stderr(b"more\n", &mut keep).is_empty());
        assert_eq!(keep, b"real stderr\nmore\n");
        assert_eq!(w.finish(Some(0)), Ok(()));
    }

    #[test]
    fn no_prompt_with_password_releases_without_sending_it() {
        let mut w = wrap("cat", Some(&become_(Some("pw"))))
            .watch
            .expect("watch");
        let (_, ok) = markers(&w);
        let mut keep = Vec::new();
        let mut chunk = b"lecture\n".to_vec();
        chunk.extend_from_slice(&ok);
        chunk.push(b'\n');
        assert_eq!(w.on_stderr(&chunk, &mut keep), vec![BecomeStep::Release]);
        assert_eq!(keep, b"lecture\n");
    }

    #[test]
    fn second_prompt_is_a_wrong_password() {
        let mut w = wrap("cat", Some(&become_(Some("bad"))))
            .watch
            .expect("watch");
        let (prompt, _) = markers(&w);
        let mut keep = Vec::new();
        assert_eq!(
            w.on_stderr(&prompt, &mut keep),
            vec![BecomeStep::SendPassword(b"bad\n".to_vec())]
        );
        let mut chunk = b"Sorry, try again.\n".to_vec();
        chunk.extend_from_slice(&prompt);
        let steps = w.on_stderr(&chunk, &mut keep);
        assert!(
            matches!(&steps[..], [BecomeStep::Fail(m)] if m.contains("incorrect sudo password")),
            "{steps:?}"
        );
    }

    #[test]
    fn sudo_refusals_are_classified() {
        let mut w = wrap("true", Some(&become_(None))).watch.expect("watch");
        let mut keep = Vec::new();
        w.on_stderr(b"sudo: a password is required\n", &mut keep);
        let err = w.finish(Some(1)).expect_err("refused");
        assert!(err.contains("needs a password"), "{err}");
        assert!(keep.is_empty());
        let m = classify("bob is not in the sudoers file.\n", "root", Some(1));
        assert!(m.contains("may not sudo"), "{m}");
        let m = classify("sudo: unknown user ghost\n", "ghost", Some(1));
        assert!(m.contains("does not exist"), "{m}");
        let m = classify("sh: 1: sudo: not found\n", "root", Some(127));
        assert!(m.contains("not installed"), "{m}");
        let m = classify("sudo: 1 incorrect password attempt\n", "root", Some(1));
        assert!(m.contains("incorrect sudo password"), "{m}");
    }

    #[test]
    fn wrapped_script_keeps_metacharacters() {
        // Run the inner part of the wrapper (what sudo would run) with a real /bin/sh.
        let script = "printf '%s|' \"$0\" 'a b' '$(x)' \"it's\"";
        let w = wrap(script, Some(&become_(None)));
        let inner_start = w.script.find("/bin/sh -c ").expect("inner sh") + "/bin/sh -c ".len();
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec /bin/sh -c {}", &w.script[inner_start..]))
            .output()
            .expect("sh runs");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "/bin/sh|a b|$(x)|it's|"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("SHIPSHAPE-BECOME-OK-"), "{err}");
    }
}
