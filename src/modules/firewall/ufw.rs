//! `ufw` (community.general.ufw): ufw enabled/disabled/reloaded/reset, default policies,
//! logging and one rule per task. One read-only query reads ufw's own state (`ufw status`,
//! ufw.conf, /etc/default/ufw, the rule tuples of user.rules/user6.rules) and asks
//! `ufw --dry-run` what the rule command would write, so ufw itself decides whether a rule
//! already exists. It only runs `ufw`; it never edits ufw's files itself.

use serde_json::Value;

use crate::core::{
    Diff, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, Sh, TaskCtx,
};
use crate::modules::args::{Args, Rules};

/// The `ufw` module.
pub struct Ufw;

/// Parameters of `ufw`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "ufw",
    doc: "Manages ufw: state, default policies, logging and rules (idempotent through ufw --dry-run).",
    params: &[
        ParamSpec::new(
            "state",
            ParamKind::Str,
            "enabled, disabled, reloaded (a change when active) or reset.",
        )
        .choices(&["enabled", "disabled", "reloaded", "reset"]),
        ParamSpec::new(
            "default",
            ParamKind::Str,
            "Default policy (allow, deny, reject) for `direction` (incoming by default).",
        )
        .aliases(&["policy"])
        .choices(&["allow", "deny", "reject"]),
        ParamSpec::new(
            "direction",
            ParamKind::Str,
            "incoming/outgoing/routed for `default`; in/out for a rule.",
        )
        .choices(&["in", "incoming", "out", "outgoing", "routed"]),
        ParamSpec::new(
            "logging",
            ParamKind::Str,
            "Logging level: on, off, low, medium, high, full.",
        )
        .choices(&["on", "off", "low", "medium", "high", "full"]),
        ParamSpec::new(
            "rule",
            ParamKind::Str,
            "Add (or delete) a rule: allow, deny, limit or reject.",
        )
        .choices(&["allow", "deny", "limit", "reject"]),
        ParamSpec::new(
            "insert",
            ParamKind::Int,
            "Insert the rule at this position (1 = first).",
        ),
        ParamSpec::new(
            "interface",
            ParamKind::Str,
            "Interface the rule applies to (needs direction).",
        )
        .aliases(&["if"]),
        ParamSpec::new(
            "from_ip",
            ParamKind::Str,
            "Source address or network (default any).",
        )
        .aliases(&["from", "src"]),
        ParamSpec::new("from_port", ParamKind::Str, "Source port or range."),
        ParamSpec::new(
            "to_ip",
            ParamKind::Str,
            "Destination address or network (default any).",
        )
        .aliases(&["dest", "to"]),
        ParamSpec::new(
            "to_port",
            ParamKind::Str,
            "Destination port, list or range (a:b).",
        )
        .aliases(&["port"]),
        ParamSpec::new(
            "proto",
            ParamKind::Str,
            "Protocol: any, tcp, udp, ipv6, esp, ah, gre, igmp.",
        )
        .aliases(&["protocol"])
        .choices(&["any", "tcp", "udp", "ipv6", "esp", "ah", "gre", "igmp"]),
        ParamSpec::new("comment", ParamKind::Str, "A comment stored with the rule."),
        ParamSpec::new(
            "delete",
            ParamKind::Bool,
            "Delete the rule instead of adding it.",
        ),
        ParamSpec::new("route", ParamKind::Bool, "A routed (forwarding) rule."),
        ParamSpec::new(
            "log",
            ParamKind::Bool,
            "Log new connections matching the rule.",
        ),
    ],
    free_form: false,
};

/// Argument rules of `ufw`: something to do must be given.
pub const RULES: Rules = Rules {
    exclusive: &[],
    one_of: &[&["state", "default", "rule", "logging"]],
};

/// ufw's state as the query read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UfwState {
    /// `Status: active`.
    pub active: bool,
    /// LOGLEVEL of ufw.conf (`off`, `low`...).
    pub loglevel: String,
    /// Default policies (`incoming`, `outgoing`, `routed`) as ufw words (allow/deny/reject).
    pub policies: Vec<(String, String)>,
    /// `### tuple ###` lines of user.rules.
    pub rules4: Vec<String>,
    /// `### tuple ###` lines of user6.rules.
    pub rules6: Vec<String>,
    /// What `ufw --dry-run RULE` printed and its exit status, when a rule was asked about.
    pub dry_run: Option<(String, i32)>,
}

const MARK: &str = "==shipshape:";

/// The read-only query; `rule_args` are the words after `ufw` of the task's rule, if any.
pub fn query_script(rule_args: Option<&[String]>) -> String {
    let mut s = String::from(
        "command -v ufw >/dev/null 2>&1 || { echo '==shipshape:missing'; exit 0; }\n\
         echo '==shipshape:status'; LC_ALL=C ufw status 2>&1 | head -n 1\n\
         echo '==shipshape:conf'; grep -E '^(ENABLED|LOGLEVEL)=' /etc/ufw/ufw.conf 2>/dev/null\n\
         echo '==shipshape:defaults'; grep -E '^DEFAULT_(INPUT|OUTPUT|FORWARD)_POLICY=' /etc/default/ufw 2>/dev/null\n\
         echo '==shipshape:rules4'; grep '^### tuple ###' /etc/ufw/user.rules 2>/dev/null\n\
         echo '==shipshape:rules6'; grep '^### tuple ###' /etc/ufw/user6.rules 2>/dev/null\n",
    );
    if let Some(args) = rule_args {
        s.push_str(&format!(
            "echo '==shipshape:dryrun'; LC_ALL=C {} 2>&1; echo \"==shipshape:dryrun-rc $?\"\n",
            Sh::new("ufw").arg("--dry-run").args(args).build()
        ));
    }
    s.push_str("exit 0\n");
    s
}

/// ufw's policy word for an iptables target in /etc/default/ufw.
fn policy_word(target: &str) -> String {
    match target {
        "ACCEPT" => "allow".into(),
        "DROP" => "deny".into(),
        "REJECT" => "reject".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// Parses the query output; `None` when ufw is not installed.
pub fn parse_query(out: &str) -> Result<Option<UfwState>, String> {
    let mut st = UfwState::default();
    let mut section = "";
    let mut dry = String::new();
    let mut status_seen = false;
    for line in out.lines() {
        if let Some(name) = line.strip_prefix(MARK) {
            if name == "missing" {
                return Ok(None);
            }
            if let Some(rc) = name.strip_prefix("dryrun-rc ") {
                let rc = rc
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad line {line:?}"))?;
                st.dry_run = Some((std::mem::take(&mut dry), rc));
                section = "";
                continue;
            }
            section = match name {
                "status" => "status",
                "conf" => "conf",
                "defaults" => "defaults",
                "rules4" => "rules4",
                "rules6" => "rules6",
                "dryrun" => "dryrun",
                _ => return Err(format!("unexpected query line {line:?}")),
            };
            continue;
        }
        match section {
            "status" => {
                status_seen = true;
                match line.trim() {
                    "Status: active" => st.active = true,
                    "Status: inactive" => st.active = false,
                    other => return Err(format!("ufw status said {other:?}")),
                }
            }
            "conf" => {
                if let Some(v) = line.strip_prefix("LOGLEVEL=") {
                    st.loglevel = v.trim().trim_matches('"').to_string();
                }
            }
            "defaults" => {
                if let Some((k, v)) = line.split_once('=') {
                    let dir = match k {
                        "DEFAULT_INPUT_POLICY" => "incoming",
                        "DEFAULT_OUTPUT_POLICY" => "outgoing",
                        "DEFAULT_FORWARD_POLICY" => "routed",
                        _ => continue,
                    };
                    st.policies
                        .push((dir.to_string(), policy_word(v.trim().trim_matches('"'))));
                }
            }
            "rules4" => st.rules4.push(line.to_string()),
            "rules6" => st.rules6.push(line.to_string()),
            "dryrun" => {
                dry.push_str(line);
                dry.push('\n');
            }
            _ => {}
        }
    }
    if !status_seen {
        return Err("ufw status printed nothing".to_string());
    }
    if st.loglevel.is_empty() {
        st.loglevel = "off".to_string();
    }
    Ok(Some(st))
}

/// The rule tuples of each rules file a dry run printed: `(is_v6, tuples)` per file. A family
/// whose file is not printed is unchanged.
pub fn dry_run_tables(out: &str) -> Vec<(bool, Vec<String>)> {
    let mut files = Vec::new();
    let mut cur: Option<(bool, Vec<String>)> = None;
    for line in out.lines() {
        if line == "*filter" {
            if let Some(f) = cur.take() {
                files.push(f);
            }
            cur = Some((false, Vec::new()));
            continue;
        }
        let Some((v6, tuples)) = cur.as_mut() else {
            continue;
        };
        if line.starts_with(":ufw6-") {
            *v6 = true;
        } else if line.starts_with("### tuple ###") {
            tuples.push(line.to_string());
        } else if line == "COMMIT"
            && let Some(f) = cur.take()
        {
            files.push(f);
        }
    }
    if let Some(f) = cur {
        files.push(f);
    }
    files
}

/// The rule list as shown in diffs: one tuple per line, marked with its family.
fn render_rules(v4: &[String], v6: &[String]) -> String {
    let mut s = String::new();
    for (fam, list) in [("v4", v4), ("v6", v6)] {
        for t in list {
            let t = t.trim_start_matches("### tuple ###").trim();
            s.push_str(&format!("{fam}: {t}\n"));
        }
    }
    s
}

/// The rule's words after `ufw`, in ufw's grammar:
/// `[delete] [insert N] [route] RULE [in|out [on IF]] [log] [proto P] [from A [port P]] [to A [port P]] [comment C]`.
pub fn rule_words(a: &Args<'_>, rule: &str) -> Result<Vec<String>, ModuleError> {
    let mut w: Vec<String> = Vec::new();
    let route = a.bool("route", false)?;
    if a.bool("delete", false)? {
        w.push("delete".into());
    }
    if let Some(n) = a.int("insert")? {
        if n < 1 {
            return Err(ModuleError::Args(format!(
                "ufw: parameter 'insert': positions start at 1, got {n}"
            )));
        }
        w.extend(["insert".to_string(), n.to_string()]);
    }
    if route {
        w.push("route".into());
    }
    w.push(rule.to_string());
    let direction = a.str("direction")?;
    match direction.as_deref() {
        None => {}
        Some("in" | "incoming") => w.push("in".into()),
        Some("out" | "outgoing") => w.push("out".into()),
        Some(other) => {
            return Err(ModuleError::Args(format!(
                "ufw: parameter 'direction': {other:?} is not a rule direction (in or out)"
            )));
        }
    }
    if let Some(iface) = a.str("interface")? {
        if direction.is_none() {
            return Err(ModuleError::Args(
                "ufw: parameter 'interface': direction must be specified when creating a rule on an interface"
                    .to_string(),
            ));
        }
        w.extend(["on".to_string(), iface]);
    }
    if a.bool("log", false)? {
        w.push("log".into());
    }
    if let Some(p) = a.str("proto")?.filter(|p| p != "any") {
        w.extend(["proto".to_string(), p]);
    }
    w.extend([
        "from".to_string(),
        a.str("from_ip")?.unwrap_or_else(|| "any".into()),
    ]);
    if let Some(p) = a.str("from_port")? {
        w.extend(["port".to_string(), p]);
    }
    w.extend([
        "to".to_string(),
        a.str("to_ip")?.unwrap_or_else(|| "any".into()),
    ]);
    if let Some(p) = a.str("to_port")? {
        w.extend(["port".to_string(), p]);
    }
    if let Some(c) = a.str("comment")? {
        w.extend(["comment".to_string(), c]);
    }
    Ok(w)
}

/// Whether the dry run of a rule would change the rules files, and the predicted lists.
pub fn rule_change(st: &UfwState, dry: &str) -> Option<(Vec<String>, Vec<String>)> {
    let mut v4 = st.rules4.clone();
    let mut v6 = st.rules6.clone();
    for (is6, tuples) in dry_run_tables(dry) {
        if is6 {
            v6 = tuples;
        } else {
            v4 = tuples;
        }
    }
    if v4 == st.rules4 && v6 == st.rules6 {
        None
    } else {
        Some((v4, v6))
    }
}

/// The logging level `ufw logging VALUE` leaves (`on` keeps a level that is not off).
fn log_level_after(current: &str, want: &str) -> String {
    match want {
        "on" if current != "off" => current.to_string(),
        "on" => "low".to_string(),
        other => other.to_string(),
    }
}

#[async_trait::async_trait]
impl Module for Ufw {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let state = a.str("state")?;
        let default = a.str("default")?;
        let logging = a.str("logging")?;
        let rule = a.str("rule")?;
        if state.is_none() && default.is_none() && logging.is_none() && rule.is_none() {
            return Err(ModuleError::Args(
                "ufw: one of these parameters is required: state, default, rule, logging"
                    .to_string(),
            ));
        }
        let policy_dir = match a.str("direction")?.as_deref() {
            None | Some("in" | "incoming") => "incoming",
            Some("out" | "outgoing") => "outgoing",
            Some(_) => "routed",
        };
        let words = match &rule {
            Some(r) => Some(rule_words(&a, r)?),
            None => None,
        };
        let out = ctx.query(query_script(words.as_deref())).await?;
        let st = parse_query(&out.stdout_str())
            .map_err(|e| ModuleError::failed(format!("ufw: {e} {}", out.stderr_str().trim())))?
            .ok_or_else(|| {
                ModuleError::failed(
                    "ufw: ufw is not installed on the host (install the ufw package)",
                )
            })?;
        let mut cmds: Vec<Vec<String>> = Vec::new();
        let mut diff = Vec::new();
        let status = |b: bool| if b { "active" } else { "inactive" };
        let mut reset = false;
        match state.as_deref() {
            Some("enabled") if !st.active => {
                cmds.push(vec!["--force".into(), "enable".into()]);
                diff.push(Diff::attr("ufw", "status", "inactive", "active"));
            }
            Some("disabled") if st.active => {
                cmds.push(vec!["disable".into()]);
                diff.push(Diff::attr("ufw", "status", "active", "inactive"));
            }
            Some("reloaded") if st.active => {
                cmds.push(vec!["reload".into()]);
                diff.push(Diff::attr("ufw", "status", "active", "active (reloaded)"));
            }
            Some("reset") if st.active || !st.rules4.is_empty() || !st.rules6.is_empty() => {
                reset = true;
                cmds.push(vec!["--force".into(), "reset".into()]);
                diff.push(Diff::new(
                    "ufw rules (reset)",
                    render_rules(&st.rules4, &st.rules6),
                    "",
                ));
                if st.active {
                    diff.push(Diff::attr("ufw", "status", status(st.active), "inactive"));
                }
            }
            _ => {}
        }
        if let Some(d) = &default {
            let cur = st
                .policies
                .iter()
                .find(|(k, _)| k == policy_dir)
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            if cur != d {
                cmds.push(vec!["default".into(), d.clone(), policy_dir.into()]);
                diff.push(Diff::attr("ufw", &format!("{policy_dir} policy"), cur, d));
            }
        }
        if let (Some(w), Some((dry, rc))) = (&words, &st.dry_run) {
            if *rc != 0 || dry.lines().any(|l| l.starts_with("ERROR")) {
                return Err(ModuleError::failed(format!(
                    "ufw: ufw refused the rule `ufw {}`: {}",
                    w.join(" "),
                    dry.trim()
                )));
            }
            let deleting = w.first().is_some_and(|x| x == "delete");
            let change = if reset {
                (!deleting).then(|| (Vec::new(), Vec::new()))
            } else {
                rule_change(&st, dry)
            };
            if let Some((v4, v6)) = change {
                cmds.push(w.clone());
                let (b4, b6) = if reset {
                    (Vec::new(), Vec::new())
                } else {
                    (st.rules4.clone(), st.rules6.clone())
                };
                let after = if reset {
                    format!("(rule added after the reset: ufw {})\n", w.join(" "))
                } else {
                    render_rules(&v4, &v6)
                };
                diff.push(Diff::new("ufw rules", render_rules(&b4, &b6), after));
            }
        }
        if let Some(l) = &logging {
            let after = log_level_after(&st.loglevel, l);
            if after != st.loglevel {
                cmds.push(vec!["logging".into(), l.clone()]);
                diff.push(Diff::attr("ufw", "logging", &st.loglevel, &after));
            }
        }
        let mut result = ResultMap::new();
        let shown: Vec<Value> = cmds
            .iter()
            .map(|c| Value::String(Sh::new("ufw").args(c).build()))
            .collect();
        result.insert("commands".into(), Value::Array(shown));
        if cmds.is_empty() {
            result.insert(
                "msg".into(),
                format!("Status: {}", status(st.active)).into(),
            );
            return Ok(Plan::Unchanged { result });
        }
        let steps = cmds
            .into_iter()
            .map(|c| {
                let cmd = Sh::new("ufw").args(&c).build();
                ctx.step(cmd.clone(), format!("LC_ALL=C {cmd}"))
            })
            .collect();
        Ok(Plan::Change {
            diff,
            steps,
            result,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const QUERY: &str = "==shipshape:status
Status: inactive
==shipshape:conf
ENABLED=no
LOGLEVEL=low
==shipshape:defaults
DEFAULT_INPUT_POLICY=\"DROP\"
DEFAULT_OUTPUT_POLICY=\"ACCEPT\"
DEFAULT_FORWARD_POLICY=\"DROP\"
==shipshape:rules4
### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
==shipshape:rules6
### tuple ### allow tcp 22 ::/0 any ::/0 in
";

    /// `ufw --dry-run allow from 10.213.0.13 to any port 80 proto tcp` (ufw 0.36.2, trimmed).
    const DRY_ADD: &str = "*filter
:ufw-user-input - [0:0]
:ufw-user-limit-accept - [0:0]
### RULES ###

### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -j ACCEPT

### tuple ### allow tcp 80 0.0.0.0/0 any 10.213.0.13 in
-A ufw-user-input -p tcp --dport 80 -s 10.213.0.13 -j ACCEPT

### END RULES ###
COMMIT
Rules updated
";

    fn with_dry(dry: &str, rc: i32) -> String {
        format!("{QUERY}==shipshape:dryrun\n{dry}==shipshape:dryrun-rc {rc}\n")
    }

    #[test]
    fn parses_ufw_state() {
        let st = parse_query(QUERY).unwrap().unwrap();
        assert!(!st.active);
        assert_eq!(st.loglevel, "low");
        assert_eq!(
            st.policies,
            vec![
                ("incoming".to_string(), "deny".to_string()),
                ("outgoing".to_string(), "allow".to_string()),
                ("routed".to_string(), "deny".to_string())
            ]
        );
        assert_eq!(st.rules4.len(), 1);
        assert_eq!(st.rules6.len(), 1);
        assert!(st.dry_run.is_none());
        assert_eq!(parse_query("==shipshape:missing\n").unwrap(), None);
        assert!(parse_query("").is_err());
        assert!(
            parse_query("==shipshape:status\nERROR: You need to be root to run this script\n")
                .is_err()
        );
        let st = parse_query(&with_dry(DRY_ADD, 0)).unwrap().unwrap();
        let (dry, rc) = st.dry_run.clone().unwrap();
        assert_eq!(rc, 0);
        assert!(dry.ends_with("Rules updated\n"));
    }

    #[test]
    fn dry_runs_decide_rule_changes() {
        let st = parse_query(&with_dry(DRY_ADD, 0)).unwrap().unwrap();
        let (dry, _) = st.dry_run.clone().unwrap();
        let (v4, v6) = rule_change(&st, &dry).expect("a new rule");
        assert_eq!(v4.len(), 2);
        assert_eq!(v6, st.rules6);
        let shown = render_rules(&v4, &v6);
        assert!(
            shown.contains("v4: allow tcp 80 0.0.0.0/0 any 10.213.0.13 in\n"),
            "{shown}"
        );
        // An existing rule: ufw prints no file, only "Skipping".
        let skip = "Skipping adding existing rule\nSkipping adding existing rule (v6)\n";
        assert_eq!(rule_change(&st, skip), None);
        // Deleting a rule that is not there prints the unchanged files.
        let same = "*filter\n:ufw-user-input - [0:0]\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\nCOMMIT\n*filter\n:ufw6-user-input - [0:0]\n### tuple ### allow tcp 22 ::/0 any ::/0 in\nCOMMIT\nRules updated\nRules updated (v6)\n";
        assert_eq!(rule_change(&st, same), None);
        // Deleting 22/tcp prints both files without it.
        let gone =
            "*filter\n:ufw-user-input - [0:0]\nCOMMIT\n*filter\n:ufw6-user-input - [0:0]\nCOMMIT\n";
        assert_eq!(rule_change(&st, gone), Some((vec![], vec![])));
    }

    fn words(v: serde_json::Value) -> Result<Vec<String>, ModuleError> {
        let m = match v {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("an object"),
        };
        let a = Args::parse(&SPEC, &m)?;
        let rule = a.req_str("rule")?;
        rule_words(&a, &rule)
    }

    #[test]
    fn builds_rule_commands_like_ansible() {
        assert_eq!(
            words(json!({"rule": "allow", "port": "22", "proto": "tcp"}))
                .unwrap()
                .join(" "),
            "allow proto tcp from any to any port 22"
        );
        assert_eq!(
            words(
                json!({"rule": "allow", "src": "10.213.0.13", "to_port": 80, "proto": "tcp",
                         "comment": "web only", "direction": "incoming", "interface": "eth0"})
            )
            .unwrap()
            .join(" "),
            "allow in on eth0 proto tcp from 10.213.0.13 to any port 80 comment web only"
        );
        assert_eq!(
            words(
                json!({"rule": "deny", "delete": true, "insert": 2, "route": true,
                         "log": true, "from": "10.0.0.0/8", "from_port": "53", "dest": "1.2.3.4"})
            )
            .unwrap()
            .join(" "),
            "delete insert 2 route deny log from 10.0.0.0/8 port 53 to 1.2.3.4"
        );
        let e = words(json!({"rule": "allow", "interface": "eth0"})).unwrap_err();
        assert!(e.to_string().contains("direction must be specified"), "{e}");
        let e = words(json!({"rule": "allow", "direction": "routed"})).unwrap_err();
        assert!(e.to_string().contains("not a rule direction"), "{e}");
        let e = words(json!({"rule": "allow", "insert": 0})).unwrap_err();
        assert!(e.to_string().contains("insert"), "{e}");
        let e = words(json!({"rule": "permit"})).unwrap_err();
        assert!(e.to_string().contains("not one of"), "{e}");
        let q = query_script(Some(&["allow".into(), "comment".into(), "it's".into()]));
        assert!(q.contains("ufw --dry-run allow comment 'it'\\''s'"), "{q}");
    }

    #[test]
    fn logging_levels() {
        assert_eq!(log_level_after("off", "on"), "low");
        assert_eq!(log_level_after("medium", "on"), "medium");
        assert_eq!(log_level_after("low", "off"), "off");
        assert_eq!(log_level_after("low", "high"), "high");
    }
}
