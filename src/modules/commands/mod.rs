//! The command-running modules (`command`, `shell`, `raw`) and what they share: shlex-style
//! word splitting, quoting words with Ansible's `$VAR`/`~` expansion, `creates`/`removes`
//! checks in one query, and the registered result (rc, stdout, stderr, timing).

pub mod command;
pub mod raw;
pub mod shell;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::core::{ExecOutput, ExecRequest, ModuleError, Plan, ResultMap, TaskCtx, quote};

/// Splits a command line like Python's `shlex.split` (POSIX mode, no comments): quotes group,
/// backslash escapes, adjacent pieces join.
pub fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("no closing quotation in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(format!("no closing quotation in {s:?}")),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("no closing quotation in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(ch) => cur.push(ch),
                    None => return Err(format!("no escaped character at the end of {s:?}")),
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Shell text for one argument word with Ansible's expansion of `$NAME`, `${NAME}` (left as
/// is when unset) and a leading `~`/`~user`; everything else literal. Literal fallbacks for
/// unset variables are declared in `decls` (`_v1='${NAME}'`).
pub fn expanding_word(word: &str, decls: &mut Vec<String>) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let mut rest = word;
    let flush = |out: &mut String, literal: &mut String| {
        if !literal.is_empty() {
            out.push_str(&quote(literal));
            literal.clear();
        }
    };
    if let Some(after) = rest.strip_prefix('~') {
        let user_len = after.find('/').unwrap_or(after.len());
        let user = &after[..user_len];
        if user.is_empty() {
            out.push_str("\"$HOME\"");
            rest = after;
        } else if user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && user
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        {
            // Unquoted `~user` is expanded by the shell when the user exists, else kept.
            out.push('~');
            out.push_str(user);
            rest = &after[user_len..];
        }
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let (name, len, text) = if bytes.get(i + 1) == Some(&b'{') {
                match rest[i + 2..].find('}') {
                    Some(end) => {
                        let name = &rest[i + 2..i + 2 + end];
                        (name, end + 3, &rest[i..i + end + 3])
                    }
                    None => ("", 1, "$"),
                }
            } else {
                let n = rest[i + 1..]
                    .bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                    .count();
                (&rest[i + 1..i + 1 + n], n + 1, &rest[i..i + 1 + n])
            };
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && !name.as_bytes()[0].is_ascii_digit();
            if valid {
                flush(&mut out, &mut literal);
                decls.push(format!("_v{}={}", decls.len() + 1, quote(text)));
                out.push_str(&format!("\"${{{name}-$_v{}}}\"", decls.len()));
            } else {
                literal.push_str(text);
            }
            i += len;
            continue;
        }
        let ch = rest[i..].chars().next().unwrap_or('\u{fffd}');
        literal.push(ch);
        i += ch.len_utf8();
    }
    flush(&mut out, &mut literal);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// Shell text for a glob pattern: glob characters (`*`, `?`, simple `[...]`) stay active,
/// everything else is quoted.
pub fn glob_word(pattern: &str) -> String {
    let mut out = String::new();
    let mut literal = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let flush = |out: &mut String, literal: &mut String| {
        if !literal.is_empty() {
            out.push_str(&quote(literal));
            literal.clear();
        }
    };
    while i < chars.len() {
        match chars[i] {
            '*' | '?' => {
                flush(&mut out, &mut literal);
                out.push(chars[i]);
                i += 1;
            }
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| i + 1 + p);
                let safe = |c: &char| c.is_ascii_alphanumeric() || "!^-_.".contains(*c);
                match end {
                    Some(e) if e > i + 1 && chars[i + 1..e].iter().all(safe) => {
                        flush(&mut out, &mut literal);
                        out.extend(&chars[i..=e]);
                        i = e + 1;
                    }
                    _ => {
                        literal.push('[');
                        i += 1;
                    }
                }
            }
            c => {
                literal.push(c);
                i += 1;
            }
        }
    }
    flush(&mut out, &mut literal);
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// The parameters every command-like module shares.
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    /// `chdir:`.
    pub chdir: Option<String>,
    /// `creates:` (a glob).
    pub creates: Option<String>,
    /// `removes:` (a glob).
    pub removes: Option<String>,
    /// `stdin:` (newline added unless `stdin_add_newline: no`).
    pub stdin: Option<Vec<u8>>,
    /// Strip trailing newlines of stdout/stderr.
    pub strip_empty_ends: bool,
}

/// The shell prologue that changes into `chdir` (failing clearly).
pub fn chdir_prefix(chdir: Option<&str>) -> String {
    match chdir {
        Some(d) => format!(
            "cd -- {} || {{ printf 'Unable to change directory before execution: %s\\n' {} >&2; exit 1; }}\n",
            quote(d),
            quote(d)
        ),
        None => String::new(),
    }
}

/// Plans a command run: checks `creates`/`removes` in one query (skipping like Ansible when
/// they decide), else returns a Change whose one step runs `script`.
pub async fn plan_run(
    ctx: &TaskCtx<'_>,
    opts: &RunOpts,
    script: String,
    cmd: Value,
) -> Result<Plan, ModuleError> {
    let mut result = ResultMap::new();
    result.insert("cmd".into(), cmd);
    if opts.creates.is_some() || opts.removes.is_some() {
        let mut q = chdir_prefix(opts.chdir.as_deref());
        for (key, pat) in [("creates", &opts.creates), ("removes", &opts.removes)] {
            if let Some(p) = pat {
                q.push_str(&format!(
                    "for f in {}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then echo {key}; break; fi; done\n",
                    glob_word(p)
                ));
            }
        }
        let out = ctx.query(q).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_str().trim().to_string()));
        }
        let text = out.stdout_str();
        let found = |k: &str| text.lines().any(|l| l == k);
        let skip = if let Some(c) = opts.creates.as_deref().filter(|_| found("creates")) {
            Some((
                format!("Did not run command since '{c}' exists"),
                format!("skipped, since {c} exists"),
            ))
        } else {
            opts.removes
                .as_deref()
                .filter(|_| !found("removes"))
                .map(|r| {
                    (
                        format!("Did not run command since '{r}' does not exist"),
                        format!("skipped, since {r} does not exist"),
                    )
                })
        };
        if let Some((msg, stdout)) = skip {
            result.insert("msg".into(), msg.into());
            result.insert("stdout".into(), stdout.clone().into());
            result.insert("stdout_lines".into(), Value::from(vec![stdout]));
            result.insert("stderr".into(), "".into());
            result.insert("stderr_lines".into(), Value::Array(Vec::new()));
            result.insert("rc".into(), 0.into());
            return Ok(Plan::Unchanged { result });
        }
    }
    result.insert("start".into(), timestamp(SystemTime::now()).into());
    if !opts.strip_empty_ends {
        result.insert(KEEP_ENDS_KEY.into(), true.into());
    }
    let mut req = ExecRequest::new(script);
    if let Some(input) = &opts.stdin {
        req = req.stdin(input.clone());
    }
    let step = ctx.step_with("run the command", req);
    Ok(Plan::Change {
        diff: Vec::new(),
        steps: vec![step],
        result,
    })
}

/// The internal result key (removed by [`finish_run`]) set when `strip_empty_ends: no`.
const KEEP_ENDS_KEY: &str = "_keep_empty_ends";

/// Fills rc/stdout/stderr/timing from the one step's output; rc != 0 fails with the result.
/// `strip` trims trailing newlines unless the plan recorded `strip_empty_ends: no`.
pub fn finish_run(
    result: &mut ResultMap,
    outputs: &[ExecOutput],
    strip: bool,
) -> Result<(), ModuleError> {
    let now = SystemTime::now();
    let strip = strip && result.remove(KEEP_ENDS_KEY).is_none();
    let start = result
        .get("start")
        .and_then(|v| v.as_str())
        .and_then(parse_timestamp);
    let out = outputs.first().cloned().unwrap_or_default();
    let tidy = |b: &[u8]| {
        let s = String::from_utf8_lossy(b).into_owned();
        if strip {
            s.trim_end_matches(['\r', '\n']).to_string()
        } else {
            s
        }
    };
    let stdout = tidy(&out.stdout);
    let stderr = tidy(&out.stderr);
    result.insert("rc".into(), out.status.into());
    result.insert("stdout_lines".into(), lines_value(&stdout));
    result.insert("stderr_lines".into(), lines_value(&stderr));
    result.insert("stdout".into(), stdout.into());
    result.insert("stderr".into(), stderr.into());
    result.insert("end".into(), timestamp(now).into());
    let delta = start
        .and_then(|s| now.duration_since(s).ok())
        .unwrap_or_default();
    result.insert("delta".into(), format_delta(delta).into());
    if out.status != 0 {
        result.insert("msg".into(), "non-zero return code".into());
        return Err(ModuleError::Failed {
            msg: "non-zero return code".into(),
            result: result.clone(),
        });
    }
    result.insert("msg".into(), "".into());
    Ok(())
}

/// Python's `str.splitlines()` of a string as a JSON list.
pub fn lines_value(s: &str) -> Value {
    Value::from(s.lines().map(str::to_string).collect::<Vec<_>>())
}

/// Local time like Python's `str(datetime.now())`: `2024-01-02 03:04:05.123456`.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero is valid; localtime_r reads `secs`
    // and writes only into `tm`.
    let (ok, tm) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let ok = !libc::localtime_r(&secs, &mut tm).is_null();
        (ok, tm)
    };
    if !ok {
        return format!("{}.{:06}", d.as_secs(), d.subsec_micros());
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_micros()
    )
}

/// Parses a [`timestamp`] back into a time.
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once(' ')?;
    let d: Vec<i32> = date
        .split('-')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.')?;
    let t: Vec<i32> = hms
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let micros: u64 = frac.parse().ok()?;
    // SAFETY: as in `timestamp`; mktime reads and normalises the struct we own.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = d[0] - 1900;
        tm.tm_mon = d[1] - 1;
        tm.tm_mday = d[2];
        tm.tm_hour = t[0];
        tm.tm_min = t[1];
        tm.tm_sec = t[2];
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    };
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_micros(micros))
}

/// A duration like Python's `str(timedelta)`: `0:00:01.234567`.
pub fn format_delta(d: Duration) -> String {
    let s = d.as_secs();
    format!(
        "{}:{:02}:{:02}.{:06}",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        d.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("SHIPSHAPE_T", "val ue")
            .env_remove("SHIPSHAPE_UNSET")
            .output()
            .expect("sh runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn splits_like_shlex() {
        let ok = |s: &str| split_args(s).unwrap();
        assert_eq!(ok("ls -l /tmp"), vec!["ls", "-l", "/tmp"]);
        assert_eq!(
            ok(r#"echo "a b" 'c d' e\ f"#),
            vec!["echo", "a b", "c d", "e f"]
        );
        assert_eq!(ok(r#"a"b c"d"#), vec!["ab cd"]);
        assert_eq!(
            ok(r#"x "q\"uote\n" '' #c"#),
            vec!["x", "q\"uote\\n", "", "#c"]
        );
        assert_eq!(ok("  "), Vec::<String>::new());
        assert!(split_args("echo 'open").is_err());
        assert!(split_args("echo \\").is_err());
    }

    #[test]
    fn words_expand_vars_and_tilde_only() {
        let run = |w: &str| {
            let mut decls = Vec::new();
            let word = expanding_word(w, &mut decls);
            sh(&format!("{}\nprintf '%s|' {word}", decls.join("\n")))
        };
        assert_eq!(run("$SHIPSHAPE_T"), "val ue|");
        assert_eq!(run("a${SHIPSHAPE_T}b"), "aval ueb|");
        assert_eq!(run("$SHIPSHAPE_UNSET/x"), "$SHIPSHAPE_UNSET/x|");
        assert_eq!(run("${SHIPSHAPE_UNSET}"), "${SHIPSHAPE_UNSET}|");
        assert_eq!(run("$(id) `id` ;|&*"), "$(id) `id` ;|&*|");
        assert_eq!(run("$1 $ ${"), "$1 $ ${|");
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(run("~/x"), format!("{home}/x|"));
        assert_eq!(run("~root"), format!("{}|", sh("printf %s ~root")));
        assert_eq!(run("a~"), "a~|");
        assert_eq!(run(""), "|");
    }

    #[test]
    fn glob_words_keep_globs_only() {
        assert_eq!(glob_word("/tmp/a b/*.txt"), "'/tmp/a b/'*.txt");
        assert_eq!(glob_word("x[0-9]?"), "x[0-9]?");
        assert_eq!(glob_word("$(id)[;]"), "'$(id)[;]'");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f 1.log"), "").unwrap();
        let pat = format!("{}/f*.log", dir.path().display());
        let out = sh(&format!(
            "for f in {}; do [ -e \"$f\" ] && echo yes; done",
            glob_word(&pat)
        ));
        assert_eq!(out, "yes\n");
    }

    #[test]
    fn formats_times() {
        assert_eq!(
            format_delta(Duration::from_micros(3_723_000_001)),
            "1:02:03.000001"
        );
        let t = timestamp(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(t.len(), "2023-11-14 22:13:20.000000".len());
        assert!(t.starts_with("2023-11-1"), "{t}");
        let back = parse_timestamp(&t).unwrap();
        assert_eq!(back, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert!(parse_timestamp("garbage").is_none());
    }
}

#[cfg(test)]
mod host_tests {
    use super::command::Command;
    use super::raw::Raw;
    use super::shell::Shell;
    use crate::core::{ModuleError, Plan};
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[tokio::test]
    async fn command_runs_without_a_shell() {
        let h = Harness::new();
        let args = json!({"_raw_params": "echo $(id) ; 'a  b' $HOME $NOPE_UNSET"});
        let r = h.apply(&Command, &args).await.unwrap();
        assert!(r.changed);
        let home = std::env::var("HOME").unwrap_or_default();
        assert_eq!(
            r.result["stdout"],
            format!("$(id) ; a  b {home} $NOPE_UNSET")
        );
        assert_eq!(r.result["rc"], 0);
        assert_eq!(
            r.result["cmd"],
            json!(["echo", "$(id)", ";", "a  b", "$HOME", "$NOPE_UNSET"])
        );
        for k in [
            "start",
            "end",
            "delta",
            "stdout_lines",
            "stderr_lines",
            "stderr",
        ] {
            assert!(r.result.contains_key(k), "missing {k}");
        }
        // Always changed when it runs.
        assert!(h.apply(&Command, &args).await.unwrap().changed);
        // argv, chdir, stdin.
        let dir = h.path("");
        let r = h
            .apply(
                &Command,
                &json!({"argv": ["sh", "-c", "pwd; cat"], "chdir": dir, "stdin": "in"}),
            )
            .await
            .unwrap();
        assert_eq!(
            r.result["stdout_lines"],
            json!([dir.trim_end_matches('/'), "in"])
        );
        // Check mode plans a change with no diff.
        let Plan::Change { diff, .. } = h.plan(&Command, &args, true).await.unwrap() else {
            panic!("command planned no change");
        };
        assert!(diff.is_empty());
    }

    #[tokio::test]
    async fn creates_and_removes_skip() {
        let h = Harness::new();
        let marker = h.path("done marker.txt");
        std::fs::write(&marker, "").unwrap();
        let glob = h.path("done*.txt");
        let r = h
            .assert_unchanged(&Command, &json!({"cmd": "false", "creates": glob}))
            .await;
        assert_eq!(r["stdout"], format!("skipped, since {glob} exists"));
        assert_eq!(r["rc"], 0);
        let r = h
            .assert_unchanged(
                &Shell,
                &json!({"cmd": "false", "removes": h.path("nothing*")}),
            )
            .await;
        assert!(r["msg"].as_str().unwrap().contains("does not exist"));
        // Relative creates is checked inside chdir.
        let r = h
            .assert_unchanged(
                &Command,
                &json!({"cmd": "false", "chdir": h.path(""), "creates": "done marker.txt"}),
            )
            .await;
        assert!(r["msg"].as_str().unwrap().contains("exists"));
        let r = h
            .apply(&Command, &json!({"cmd": "echo ran", "removes": marker}))
            .await
            .unwrap();
        assert_eq!(r.result["stdout"], "ran");
    }

    #[tokio::test]
    async fn failures_carry_the_result() {
        let h = Harness::new();
        let err = h
            .apply(
                &Shell,
                &json!({"_raw_params": "echo out; echo err >&2; exit 3"}),
            )
            .await
            .unwrap_err();
        let ModuleError::Failed { msg, result } = err else {
            panic!("not a failure")
        };
        assert_eq!(msg, "non-zero return code");
        assert_eq!(result["rc"], 3);
        assert_eq!(result["stdout"], "out");
        assert_eq!(result["stderr"], "err");
        let err = h
            .apply(&Command, &json!({"_raw_params": "'unterminated"}))
            .await
            .unwrap_err();
        assert!(matches!(err, ModuleError::Args(_)), "{err}");
        let err = h
            .apply(&Command, &json!({"cmd": "true", "argv": ["true"]}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
    }

    #[tokio::test]
    async fn shell_and_raw() {
        let h = Harness::new();
        let r = h
            .apply(&Shell, &json!({"_raw_params": "echo abc | tr a-c x-z"}))
            .await
            .unwrap();
        assert_eq!(r.result["stdout"], "xyz");
        assert_eq!(r.result["cmd"], "echo abc | tr a-c x-z");
        let r = h
            .apply(
                &Shell,
                &json!({"cmd": "echo ${BASH_VERSION:+bash}", "executable": "/bin/bash"}),
            )
            .await
            .unwrap();
        assert_eq!(r.result["stdout"], "bash");
        let r = h
            .apply(&Raw, &json!({"_raw_params": "printf 'raw\\n'"}))
            .await
            .unwrap();
        assert_eq!(r.result["stdout"], "raw\n");
        assert!(!r.result.contains_key("start"));
        let err = h
            .apply(&Raw, &json!({"_raw_params": "exit 4"}))
            .await
            .unwrap_err();
        let ModuleError::Failed { result, .. } = err else {
            panic!("not a failure")
        };
        assert_eq!(result["rc"], 4);
    }
}
