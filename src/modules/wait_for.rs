//! `wait_for`: waits on the target for a TCP port to listen or close, or a file to appear
//! (optionally containing a regex) or disappear. The whole wait is one remote command that
//! loops with `sleep` until done or timed out; the request's own timeout is a backstop so a
//! stuck target never hangs the run. Never reports changed.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::core::{
    ExecRequest, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh,
    TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};
use crate::modules::pyregex;

/// The `wait_for` module.
pub struct WaitFor;

/// Parameters of `wait_for`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "wait_for",
    doc: "Waits for a port to open or close, or a file to appear (with a regex) or disappear.",
    params: &[
        ParamSpec::new(
            "host",
            ParamKind::Str,
            "Host whose port to check, as seen from the target (default 127.0.0.1).",
        ),
        ParamSpec::new("port", ParamKind::Int, "TCP port to wait for."),
        ParamSpec::new(
            "path",
            ParamKind::Path,
            "File to wait for (or wait to disappear).",
        ),
        ParamSpec::new(
            "state",
            ParamKind::Str,
            "started/present (default) or stopped/absent.",
        )
        .choices(&["started", "present", "stopped", "absent"]),
        ParamSpec::new(
            "timeout",
            ParamKind::Int,
            "Seconds to wait before failing (default 300).",
        ),
        ParamSpec::new(
            "delay",
            ParamKind::Int,
            "Seconds to wait before the first check (default 0).",
        ),
        ParamSpec::new(
            "sleep",
            ParamKind::Int,
            "Seconds between checks (default 1).",
        ),
        ParamSpec::new(
            "connect_timeout",
            ParamKind::Int,
            "Seconds one port check may take (default 5).",
        ),
        ParamSpec::new(
            "search_regex",
            ParamKind::Str,
            "Regex the file must contain (with path).",
        ),
        ParamSpec::new("msg", ParamKind::Str, "Message for the failure on timeout."),
    ],
    free_form: false,
};

/// Argument rules of `wait_for`.
pub const RULES: Rules = Rules {
    exclusive: &[&["port", "path"]],
    one_of: &[],
};

/// What to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A TCP port on a host.
    Port {
        /// Host name or address.
        host: String,
        /// Port number.
        port: u16,
    },
    /// A file, optionally containing a regex.
    Path {
        /// The file.
        path: String,
        /// Python regex (MULTILINE) the content must match.
        regex: Option<String>,
    },
    /// Nothing: just sleep for the timeout.
    Sleep,
}

/// The timing of the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Seconds before giving up.
    pub timeout: u64,
    /// Seconds before the first check.
    pub delay: u64,
    /// Seconds between checks.
    pub sleep: u64,
    /// Seconds one port probe may take.
    pub connect_timeout: u64,
}

/// Whether `host` is the target itself (checked through /proc/net/tcp).
fn is_local(host: &str) -> bool {
    matches!(
        host,
        "127.0.0.1" | "localhost" | "::1" | "0.0.0.0" | "::" | "ip6-localhost"
    )
}

/// Rewrites the common Python regex escapes to POSIX ERE for `grep -E` on the target (the
/// exact match groups are computed locally afterwards).
pub fn python_to_ere(re: &str) -> String {
    let mut out = String::new();
    let mut chars = re.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('d') => out.push_str("[0-9]"),
                Some('D') => out.push_str("[^0-9]"),
                Some('s') => out.push_str("[[:space:]]"),
                Some('S') => out.push_str("[^[:space:]]"),
                Some('w') => out.push_str("[[:alnum:]_]"),
                Some('W') => out.push_str("[^[:alnum:]_]"),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            },
            '(' if chars.peek() == Some(&'?') => {
                chars.next();
                match chars.peek() {
                    Some(':') => {
                        chars.next();
                    }
                    Some('P') => {
                        // (?P<name>...) -> (...)
                        for n in chars.by_ref() {
                            if n == '>' {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
                out.push('(');
            }
            '*' | '+' | '?' | '}' if chars.peek() == Some(&'?') => {
                // Lazy quantifiers match the same lines.
                chars.next();
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The shell function `chk` that succeeds when the awaited condition holds, and a marker
/// printed when a port cannot be probed from the target.
fn check_fn(target: &Target, t: &Timing) -> String {
    match target {
        Target::Sleep => "chk() { return 1; }\n".into(),
        Target::Path { path, regex: None } => {
            format!("chk() {{ [ -e {} ]; }}\n", quote(path))
        }
        Target::Path {
            path,
            regex: Some(r),
        } => format!(
            "chk() {{ [ -r {p} ] && {grep}; }}\n",
            p = quote(path),
            grep = Sh::new("grep")
                .arg("-Eq")
                .arg("--")
                .arg(python_to_ere(r))
                .arg(path)
                .raw("2>/dev/null")
                .build()
        ),
        Target::Port { host, port } => {
            let remote = format!(
                "if command -v nc >/dev/null 2>&1; then chk() {{ {nc}; }}\n\
                 elif command -v bash >/dev/null 2>&1; then chk() {{ {bash}; }}\n\
                 else echo noprobe; exit 0; fi\n",
                nc = Sh::new("nc")
                    .arg("-z")
                    .arg("-w")
                    .arg(t.connect_timeout.max(1).to_string())
                    .arg(host)
                    .arg(port.to_string())
                    .raw(">/dev/null 2>&1")
                    .build(),
                bash = Sh::new("timeout")
                    .arg(t.connect_timeout.max(1).to_string())
                    .arg("bash")
                    .arg("-c")
                    .arg("exec 3<>\"/dev/tcp/$1/$2\"")
                    .arg("_")
                    .arg(host)
                    .arg(port.to_string())
                    .raw(">/dev/null 2>&1")
                    .build()
            );
            if is_local(host) {
                let pat =
                    format!("^ *[0-9]+: [0-9A-Fa-f]+:{port:04X} [0-9A-Fa-f]+:[0-9A-Fa-f]+ 0A ");
                format!(
                    "if [ -r /proc/net/tcp ]; then chk() {{ {}; }}\nelse {remote}fi\n",
                    Sh::new("grep")
                        .arg("-Eq")
                        .arg("--")
                        .arg(pat)
                        .arg("/proc/net/tcp")
                        .arg("/proc/net/tcp6")
                        .raw("2>/dev/null")
                        .build()
                )
            } else {
                remote
            }
        }
    }
}

/// The one remote command that waits. Prints `elapsed=N` and `ok` or `timeout` (and the file
/// content after `content` when a regex was awaited), or `noprobe`.
pub fn wait_script(target: &Target, want_present: bool, t: &Timing) -> String {
    let mut s = check_fn(target, t);
    s.push_str("start=$(date +%s)\n");
    if t.delay > 0 {
        s.push_str(&format!("sleep {}\n", t.delay));
    }
    s.push_str(&format!("end=$((start + {}))\n", t.timeout));
    if *target == Target::Sleep {
        s.push_str(&format!(
            "sleep {}\necho \"elapsed=$(( $(date +%s) - start ))\"\necho ok\n",
            t.timeout
        ));
        return s;
    }
    let cond = if want_present { "chk" } else { "! chk" };
    s.push_str(&format!(
        "found=\nwhile :; do\n  if {cond}; then found=1; break; fi\n  [ \"$(date +%s)\" -ge \"$end\" ] && break\n  sleep {}\ndone\n",
        t.sleep
    ));
    s.push_str("echo \"elapsed=$(( $(date +%s) - start ))\"\n");
    s.push_str("if [ -z \"$found\" ]; then echo timeout; exit 0; fi\necho ok\n");
    if let (
        Target::Path {
            path,
            regex: Some(_),
        },
        true,
    ) = (target, want_present)
    {
        s.push_str(&format!("echo content\ncat -- {}\n", quote(path)));
    }
    s
}

/// What the wait reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitOutcome {
    /// Seconds waited.
    pub elapsed: u64,
    /// Whether the condition was met.
    pub ok: bool,
    /// The port could not be probed (no /proc, nc or bash).
    pub noprobe: bool,
    /// The file content (regex waits).
    pub content: Option<Vec<u8>>,
}

/// Parses [`wait_script`] output.
pub fn parse_wait(out: &[u8]) -> WaitOutcome {
    let mut o = WaitOutcome {
        elapsed: 0,
        ok: false,
        noprobe: false,
        content: None,
    };
    let mut pos = 0;
    while pos < out.len() {
        let end = out[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i)
            .unwrap_or(out.len());
        let line = String::from_utf8_lossy(&out[pos..end]).into_owned();
        pos = end + 1;
        match line.as_str() {
            "ok" => o.ok = true,
            "noprobe" => o.noprobe = true,
            "content" => {
                o.content = Some(out.get(pos..).unwrap_or_default().to_vec());
                break;
            }
            l => {
                if let Some(v) = l.strip_prefix("elapsed=") {
                    o.elapsed = v.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    o
}

/// Match groups of a Python regex on the content (MULTILINE), for the result.
fn match_groups(regex: &str, content: &[u8]) -> (Value, Value) {
    let Ok(re) = pyregex::compile(regex, "m") else {
        return (Value::Array(Vec::new()), Value::Object(Map::new()));
    };
    let Some(caps) = re.captures(content) else {
        return (Value::Array(Vec::new()), Value::Object(Map::new()));
    };
    let text = |m: Option<regex::bytes::Match<'_>>| match m {
        Some(m) => Value::from(String::from_utf8_lossy(m.as_bytes()).into_owned()),
        None => Value::Null,
    };
    let groups: Vec<Value> = (1..caps.len()).map(|i| text(caps.get(i))).collect();
    let mut dict = Map::new();
    for name in re.capture_names().flatten() {
        dict.insert(name.to_string(), text(caps.name(name)));
    }
    (Value::Array(groups), Value::Object(dict))
}

fn non_negative(a: &Args<'_>, name: &str, default: u64) -> Result<u64, ModuleError> {
    match a.int(name)? {
        None => Ok(default),
        Some(v) if v >= 0 => Ok(v as u64),
        Some(v) => Err(ModuleError::Args(format!(
            "wait_for: {name} must not be negative (got {v})"
        ))),
    }
}

#[async_trait::async_trait]
impl Module for WaitFor {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let state = a.choice("state", "started")?;
        let want_present = state == "started" || state == "present";
        let host = a.str("host")?.unwrap_or_else(|| "127.0.0.1".into());
        let port =
            match a.int("port")? {
                None => None,
                Some(p) => Some(u16::try_from(p).map_err(|_| {
                    ModuleError::Args(format!("wait_for: port {p} is out of range"))
                })?),
            };
        let path = a.str("path")?;
        let search_regex = a.str("search_regex")?;
        if let Some(r) = &search_regex {
            if port.is_some() {
                return Err(ModuleError::Args(
                    "wait_for: search_regex with port is not supported; use path".into(),
                ));
            }
            if !want_present {
                return Err(ModuleError::Args(
                    "wait_for: search_regex only works with state=present or started".into(),
                ));
            }
            pyregex::compile(r, "m").map_err(ModuleError::Args)?;
        }
        let target = match (port, &path) {
            (Some(port), _) => Target::Port {
                host: host.clone(),
                port,
            },
            (None, Some(p)) => Target::Path {
                path: p.clone(),
                regex: search_regex.clone(),
            },
            (None, None) => Target::Sleep,
        };
        let mut timing = Timing {
            timeout: non_negative(&a, "timeout", 300)?,
            delay: non_negative(&a, "delay", 0)?,
            sleep: non_negative(&a, "sleep", 1)?,
            connect_timeout: non_negative(&a, "connect_timeout", 5)?,
        };
        if ctx.check {
            // Check once: a real run waits, and earlier tasks may not have run.
            timing.timeout = 0;
            timing.delay = 0;
            if target == Target::Sleep {
                let mut result = ResultMap::new();
                result.insert("elapsed".into(), 0.into());
                return Ok(Plan::Unchanged { result });
            }
        }
        let backstop = timing.delay + timing.timeout + timing.connect_timeout + timing.sleep + 5;
        let mut req = ExecRequest::new(wait_script(&target, want_present, &timing));
        req.timeout = Some(Duration::from_secs(backstop));
        let out = ctx.query_with(req).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!(
                "wait_for could not run on the target: {}",
                out.stderr_str().trim()
            )));
        }
        let o = parse_wait(&out.stdout);
        let mut result = ResultMap::new();
        result.insert("elapsed".into(), o.elapsed.into());
        result.insert("state".into(), state.clone().into());
        result.insert("port".into(), port.map(Value::from).unwrap_or(Value::Null));
        result.insert(
            "path".into(),
            path.clone().map(Value::from).unwrap_or(Value::Null),
        );
        result.insert(
            "search_regex".into(),
            search_regex.clone().map(Value::from).unwrap_or(Value::Null),
        );
        let (groups, dict) = match (&search_regex, &o.content) {
            (Some(r), Some(c)) => match_groups(r, c),
            _ => (Value::Array(Vec::new()), Value::Object(Map::new())),
        };
        result.insert("match_groups".into(), groups);
        result.insert("match_groupdict".into(), dict);
        if o.noprobe {
            return Err(ModuleError::Failed {
                msg: format!(
                    "cannot check port {host}:{} from the target: it has neither nc nor bash (install netcat, or wait for a local port)",
                    port.unwrap_or(0)
                ),
                result,
            });
        }
        if o.ok {
            return Ok(Plan::Unchanged { result });
        }
        if ctx.check {
            result.insert(
                "msg".into(),
                format!(
                    "check mode: condition not met yet; a real run waits up to {} s",
                    non_negative(&a, "timeout", 300)?
                )
                .into(),
            );
            return Ok(Plan::Unchanged { result });
        }
        let default_msg = match (&target, want_present) {
            (Target::Port { host, port }, true) => {
                format!("Timeout when waiting for {host}:{port}")
            }
            (Target::Port { host, port }, false) => {
                format!("Timeout when waiting for {host}:{port} to stop.")
            }
            (
                Target::Path {
                    path,
                    regex: Some(r),
                },
                _,
            ) => {
                format!("Timeout when waiting for search string {r} in {path}")
            }
            (Target::Path { path, .. }, true) => format!("Timeout when waiting for file {path}"),
            (Target::Path { path, .. }, false) => {
                format!("Timeout when waiting for {path} to be absent.")
            }
            (Target::Sleep, _) => "Timeout".to_string(),
        };
        Err(ModuleError::Failed {
            msg: a.str("msg")?.unwrap_or(default_msg),
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ere_conversion() {
        assert_eq!(
            python_to_ere(r"^(?P<v>\d+)\s*(?:ok)+?$"),
            "^([0-9]+)[[:space:]]*(ok)+$"
        );
        assert_eq!(python_to_ere(r"a\.b"), r"a\.b");
    }

    #[test]
    fn wait_output_parses() {
        let o = parse_wait(b"elapsed=3\nok\ncontent\nline=1\n");
        assert_eq!(o.elapsed, 3);
        assert!(o.ok && !o.noprobe);
        assert_eq!(o.content.as_deref(), Some(&b"line=1\n"[..]));
        let o = parse_wait(b"elapsed=5\ntimeout\n");
        assert!(!o.ok);
        assert!(parse_wait(b"noprobe\n").noprobe);
    }

    #[test]
    fn groups_are_extracted() {
        let (g, d) = match_groups(r"^ver=(?P<v>\d+)$", b"x\nver=12\n");
        assert_eq!(g, serde_json::json!(["12"]));
        assert_eq!(d, serde_json::json!({"v": "12"}));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;
    use std::time::Instant;

    #[tokio::test]
    async fn waits_for_files_and_regexes() {
        let h = Harness::new();
        let f = h.path("ready flag");
        let f2 = f.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1200));
            std::fs::write(&f2, "booting\nstatus=up v42\n").unwrap();
        });
        let args = json!({"path": f, "search_regex": r"status=(\w+) v(?P<ver>\d+)", "timeout": 10});
        let r = h.assert_unchanged(&WaitFor, &args).await;
        writer.join().unwrap();
        assert_eq!(r["match_groups"], json!(["up", "42"]));
        assert_eq!(r["match_groupdict"], json!({"ver": "42"}));
        assert!(r["elapsed"].as_u64().unwrap() <= 5);
        // Absent: times out quickly with the custom message and elapsed.
        let t0 = Instant::now();
        let err = h
            .apply(
                &WaitFor,
                &json!({"path": f, "state": "absent", "timeout": 1, "msg": "still there"}),
            )
            .await
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5));
        match err {
            ModuleError::Failed { msg, result } => {
                assert_eq!(msg, "still there");
                assert!(result.contains_key("elapsed"));
            }
            other => panic!("{other}"),
        }
        // Check mode does not wait.
        let t0 = Instant::now();
        let plan = h
            .plan(
                &WaitFor,
                &json!({"path": h.path("never"), "timeout": 30}),
                true,
            )
            .await
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(3));
        let Plan::Unchanged { result } = plan else {
            panic!("wait_for changed")
        };
        assert!(result["msg"].as_str().unwrap().contains("check mode"));
    }

    #[tokio::test]
    async fn waits_for_local_ports() {
        let h = Harness::new();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = h
            .assert_unchanged(&WaitFor, &json!({"port": port, "timeout": 5}))
            .await;
        assert_eq!(r["port"], port);
        drop(listener);
        h.assert_unchanged(
            &WaitFor,
            &json!({"port": port, "state": "stopped", "timeout": 5}),
        )
        .await;
        let err = h
            .apply(&WaitFor, &json!({"port": port, "timeout": 1}))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("Timeout when waiting for 127.0.0.1:{port}")),
            "{err}"
        );
        let err = h
            .apply(&WaitFor, &json!({"port": port, "path": "/x"}))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("mutually exclusive"), "{err}");
    }
}
