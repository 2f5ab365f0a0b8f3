//! `service` (also `systemd_service`, `systemd`, `sysvinit`): a service started, stopped,
//! restarted or reloaded, and enabled at boot or not. One read-only query detects the init
//! system (systemd only when /run/systemd/system exists and systemctl answers, else
//! /etc/init.d with update-rc.d) and the service's state; every change is a step.

use serde_json::{Map, Value};

use crate::core::{
    Diff, Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx, quote,
};
use crate::modules::args::{Args, Rules};

/// The `service` module under one of its names.
pub struct Service {
    spec: &'static ModuleSpec,
}

/// `state`, shared by every name of the module.
const STATE: ParamSpec = ParamSpec::new(
    "state",
    ParamKind::Str,
    "started, stopped, restarted (always a change) or reloaded (always a change).",
)
.choices(&["started", "stopped", "restarted", "reloaded"]);

/// `enabled`, shared by every name of the module.
const ENABLED: ParamSpec = ParamSpec::new("enabled", ParamKind::Bool, "Start the service at boot.");

const PARAMS: &[ParamSpec] = &[
    ParamSpec::new(
        "name",
        ParamKind::Str,
        "The service name (without .service).",
    )
    .required()
    .aliases(&["service", "unit"]),
    STATE,
    ENABLED,
];

/// `systemd_service`/`systemd`: the same, plus `daemon_reload` (then `name` may be left out).
const PARAMS_SYSTEMD: &[ParamSpec] = &[
    ParamSpec::new(
        "name",
        ParamKind::Str,
        "The service name (without .service); optional with only daemon_reload.",
    )
    .aliases(&["service", "unit"]),
    STATE,
    ENABLED,
    ParamSpec::new(
        "daemon_reload",
        ParamKind::Bool,
        "Run `systemctl daemon-reload` first (so changed unit files are read); not a change. Nothing to do on hosts without systemd.",
    )
    .aliases(&["daemon-reload"]),
];

const DOC: &str =
    "Manages a service: systemd when it runs the host, else /etc/init.d and update-rc.d.";

/// Parameters of `service`.
pub static SPEC_SERVICE: ModuleSpec = ModuleSpec {
    name: "service",
    doc: DOC,
    params: PARAMS,
    free_form: false,
};
/// Parameters of `systemd_service` (the same module).
pub static SPEC_SYSTEMD_SERVICE: ModuleSpec = ModuleSpec {
    name: "systemd_service",
    doc: DOC,
    params: PARAMS_SYSTEMD,
    free_form: false,
};
/// Parameters of `systemd` (the same module).
pub static SPEC_SYSTEMD: ModuleSpec = ModuleSpec {
    name: "systemd",
    doc: DOC,
    params: PARAMS_SYSTEMD,
    free_form: false,
};
/// Parameters of `sysvinit` (the same module).
pub static SPEC_SYSVINIT: ModuleSpec = ModuleSpec {
    name: "sysvinit",
    doc: DOC,
    params: PARAMS,
    free_form: false,
};

/// `service`.
pub static SERVICE: Service = Service {
    spec: &SPEC_SERVICE,
};
/// `systemd_service`.
pub static SYSTEMD_SERVICE: Service = Service {
    spec: &SPEC_SYSTEMD_SERVICE,
};
/// `systemd`.
pub static SYSTEMD: Service = Service {
    spec: &SPEC_SYSTEMD,
};
/// `sysvinit`.
pub static SYSVINIT: Service = Service {
    spec: &SPEC_SYSVINIT,
};

/// Argument rules of `service`: a state or `enabled` must be given.
pub const RULES: Rules = Rules {
    exclusive: &[],
    one_of: &[&["state", "enabled"]],
};

/// Argument rules of `systemd_service`/`systemd`: a state, `enabled` or `daemon_reload`.
pub const RULES_SYSTEMD: Rules = Rules {
    exclusive: &[],
    one_of: &[&["state", "enabled", "daemon_reload"]],
};

/// Reloads systemd's units when systemd runs the host.
const DAEMON_RELOAD: &str = "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload; else echo no-systemd; fi";

/// The init system that runs the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    /// systemd is PID 1.
    Systemd,
    /// /etc/init.d scripts with update-rc.d.
    SysV,
}

impl Manager {
    fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::SysV => "sysv",
        }
    }
}

/// What the query found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceState {
    /// The init system.
    pub manager: Manager,
    /// Whether the unit or init script exists.
    pub exists: bool,
    /// Whether it runs now.
    pub running: bool,
    /// Whether it starts at boot.
    pub enabled: bool,
}

/// The read-only query for service `name`.
pub fn service_query(name: &str) -> String {
    format!(
        r#"n={}
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl show-environment >/dev/null 2>&1; then
  echo mgr=systemd
  if [ "$(systemctl show -p LoadState --value -- "$n.service" 2>/dev/null)" = not-found ]; then echo exists=no; else echo exists=yes; fi
  if systemctl is-active --quiet -- "$n.service"; then echo running=yes; else echo running=no; fi
  if systemctl is-enabled --quiet -- "$n.service" 2>/dev/null; then echo enabled=yes; else echo enabled=no; fi
else
  echo mgr=sysv
  s="/etc/init.d/$n"
  if [ -f "$s" ] && [ -x "$s" ]; then
    echo exists=yes
    if "$s" status </dev/null >/dev/null 2>&1; then echo running=yes; else echo running=no; fi
  else
    echo exists=no
    echo running=no
  fi
  e=no
  for l in /etc/rc2.d/S*"$n" /etc/rc3.d/S*"$n" /etc/rc4.d/S*"$n" /etc/rc5.d/S*"$n"; do
    case "${{l##*/}}" in S[0-9][0-9]"$n") [ -e "$l" ] && e=yes ;; esac
  done
  echo enabled=$e
fi
"#,
        quote(name)
    )
}

/// Parses the query output.
pub fn parse_service(out: &str) -> Result<ServiceState, String> {
    let mut manager = None;
    let (mut exists, mut running, mut enabled) = (None, None, None);
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let yes = |v: &str| match v {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err(format!("unexpected service query output {line:?}")),
        };
        match line.split_once('=') {
            Some(("mgr", "systemd")) => manager = Some(Manager::Systemd),
            Some(("mgr", "sysv")) => manager = Some(Manager::SysV),
            Some(("exists", v)) => exists = Some(yes(v)?),
            Some(("running", v)) => running = Some(yes(v)?),
            Some(("enabled", v)) => enabled = Some(yes(v)?),
            _ => return Err(format!("unexpected service query output {line:?}")),
        }
    }
    match (manager, exists, running, enabled) {
        (Some(manager), Some(exists), Some(running), Some(enabled)) => Ok(ServiceState {
            manager,
            exists,
            running,
            enabled,
        }),
        _ => Err(format!("incomplete service query output {out:?}")),
    }
}

/// The wanted run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WantState {
    /// Running.
    Started,
    /// Not running.
    Stopped,
    /// Restarted now (always a change).
    Restarted,
    /// Reloaded now, or started when stopped (always a change).
    Reloaded,
}

impl WantState {
    fn parse(s: &str) -> Option<WantState> {
        match s {
            "started" => Some(WantState::Started),
            "stopped" => Some(WantState::Stopped),
            "restarted" => Some(WantState::Restarted),
            "reloaded" => Some(WantState::Reloaded),
            _ => None,
        }
    }
}

/// The command that runs `action` (start, stop...) on service `name`.
pub fn action_cmd(m: Manager, name: &str, action: &str) -> String {
    let q = quote(name);
    match m {
        Manager::Systemd => format!(
            "systemctl {action} -- {}",
            quote(&format!("{name}.service"))
        ),
        Manager::SysV => format!(
            "if command -v service >/dev/null 2>&1; then service {q} {action}; else /etc/init.d/{q} {action}; fi </dev/null"
        ),
    }
}

/// The command that enables or disables service `name` at boot. On SysV the rc links are
/// removed first: `update-rc.d X defaults` does nothing while K links are left from a disable.
pub fn enable_cmd(m: Manager, name: &str, enable: bool) -> String {
    let q = quote(name);
    match (m, enable) {
        (Manager::Systemd, true) => {
            format!("systemctl enable -- {}", quote(&format!("{name}.service")))
        }
        (Manager::Systemd, false) => {
            format!("systemctl disable -- {}", quote(&format!("{name}.service")))
        }
        (Manager::SysV, true) => format!("update-rc.d -f {q} remove && update-rc.d {q} defaults"),
        (Manager::SysV, false) => format!("update-rc.d {q} disable"),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn run_word(b: bool) -> &'static str {
    if b { "started" } else { "stopped" }
}

/// Decides the commands and diffs for service `name` from its current state.
pub fn decide_service(
    name: &str,
    state: Option<WantState>,
    enabled: Option<bool>,
    cur: &ServiceState,
) -> (Vec<String>, Vec<Diff>) {
    let what = format!("service {name}");
    let m = cur.manager;
    let mut cmds = Vec::new();
    let mut diff = Vec::new();
    let before = run_word(cur.running);
    match state {
        None => {}
        Some(WantState::Started) if !cur.running => {
            cmds.push(action_cmd(m, name, "start"));
            diff.push(Diff::attr(&what, "state", before, "started"));
        }
        Some(WantState::Stopped) if cur.running => {
            cmds.push(action_cmd(m, name, "stop"));
            diff.push(Diff::attr(&what, "state", before, "stopped"));
        }
        Some(WantState::Started | WantState::Stopped) => {}
        Some(WantState::Restarted) => {
            cmds.push(action_cmd(m, name, "restart"));
            diff.push(Diff::attr(&what, "state", before, "restarted"));
        }
        Some(WantState::Reloaded) => {
            let action = if cur.running { "reload" } else { "start" };
            cmds.push(action_cmd(m, name, action));
            diff.push(Diff::attr(&what, "state", before, "reloaded"));
        }
    }
    if let Some(e) = enabled.filter(|e| *e != cur.enabled) {
        cmds.push(enable_cmd(m, name, e));
        diff.push(Diff::attr(&what, "enabled", yes_no(cur.enabled), yes_no(e)));
    }
    (cmds, diff)
}

/// The plan for a service whose unit or init script does not exist. In check mode its package
/// is most likely installed by an earlier task of the same run, so the plan reports what it
/// would change (with a note) instead of failing; in a real run it fails clearly.
pub fn missing_service(
    check: bool,
    name: &str,
    state: Option<WantState>,
    enabled: Option<bool>,
) -> Result<Plan, ModuleError> {
    if !check {
        return Err(ModuleError::failed(format!(
            "service {name} not found (is its package installed?)"
        )));
    }
    let what = format!("service {name}");
    let mut diff = Vec::new();
    let mut result = ResultMap::new();
    result.insert("name".into(), name.into());
    if let Some(s) = state {
        let word = match s {
            WantState::Started => "started",
            WantState::Stopped => "stopped",
            WantState::Restarted => "restarted",
            WantState::Reloaded => "reloaded",
        };
        if s != WantState::Stopped {
            diff.push(Diff::attr(&what, "state", "absent", word));
        }
        result.insert("state".into(), word.into());
    }
    if let Some(e) = enabled {
        if e {
            diff.push(Diff::attr(&what, "enabled", "absent", "yes"));
        }
        result.insert("enabled".into(), e.into());
    }
    if diff.is_empty() {
        // Stopped and disabled is what a missing service already is.
        return Ok(Plan::Unchanged { result });
    }
    result.insert(
        "msg".into(),
        format!(
            "service {name} is not installed yet; would change once an earlier task installs it (check mode)"
        )
        .into(),
    );
    Ok(Plan::Change {
        diff,
        steps: Vec::new(),
        result,
    })
}

#[async_trait::async_trait]
impl Module for Service {
    fn spec(&self) -> &'static ModuleSpec {
        self.spec
    }

    async fn plan(&self, ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(self.spec, args)?;
        let daemon_reload =
            self.spec.param("daemon_reload").is_some() && a.bool("daemon_reload", false)?;
        if daemon_reload && !ctx.check {
            // A side effect Ansible does not count as a change: done while planning.
            let out = ctx.query(DAEMON_RELOAD).await?;
            if out.status != 0 {
                return Err(ModuleError::failed(format!(
                    "systemctl daemon-reload failed: {}",
                    out.stderr_str().trim()
                )));
            }
        }
        if daemon_reload && !a.has("name") && !a.has("state") && !a.has("enabled") {
            let mut result = ResultMap::new();
            result.insert("daemon_reload".into(), true.into());
            return Ok(Plan::Unchanged { result });
        }
        let name = a.req_str("name")?;
        let state = match a.str("state")? {
            None => None,
            Some(s) => Some(WantState::parse(&s).ok_or_else(|| {
                ModuleError::Args(format!("{}: unknown state {s:?}", self.spec.name))
            })?),
        };
        let enabled = if a.has("enabled") {
            Some(a.bool("enabled", false)?)
        } else {
            None
        };
        if state.is_none() && enabled.is_none() {
            return Err(ModuleError::Args(format!(
                "{}: one of these parameters is required: state, enabled",
                self.spec.name
            )));
        }
        let out = ctx.query(service_query(&name)).await?;
        let cur = parse_service(&out.stdout_str()).map_err(|e| {
            ModuleError::failed(format!("service {name}: {e} {}", out.stderr_str().trim()))
        })?;
        if !cur.exists {
            return missing_service(ctx.check, &name, state, enabled);
        }
        let (cmds, diff) = decide_service(&name, state, enabled, &cur);
        let mut result = ResultMap::new();
        result.insert("name".into(), name.clone().into());
        let after_running = match state {
            Some(WantState::Stopped) => false,
            Some(_) => true,
            None => cur.running,
        };
        let state_word = match state {
            Some(WantState::Restarted) => "restarted",
            Some(WantState::Reloaded) => "reloaded",
            _ => run_word(after_running),
        };
        result.insert("state".into(), state_word.into());
        result.insert("enabled".into(), enabled.unwrap_or(cur.enabled).into());
        let mut status = Map::new();
        status.insert("manager".into(), cur.manager.name().into());
        status.insert("running".into(), cur.running.into());
        status.insert("enabled".into(), cur.enabled.into());
        result.insert("status".into(), Value::Object(status));
        if cmds.is_empty() {
            return Ok(Plan::Unchanged { result });
        }
        let steps = cmds.into_iter().map(|c| ctx.step(c.clone(), c)).collect();
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

    fn st(manager: Manager, running: bool, enabled: bool) -> ServiceState {
        ServiceState {
            manager,
            exists: true,
            running,
            enabled,
        }
    }

    #[test]
    fn parses_service_query() {
        assert_eq!(
            parse_service("mgr=sysv\nexists=yes\nrunning=no\nenabled=yes\n").unwrap(),
            st(Manager::SysV, false, true)
        );
        let s = parse_service("mgr=systemd\nexists=no\nrunning=no\nenabled=no\n").unwrap();
        assert!(!s.exists);
        assert_eq!(s.manager, Manager::Systemd);
        assert!(parse_service("mgr=sysv\nexists=yes\n").is_err());
        assert!(parse_service("mgr=upstart\nexists=yes\nrunning=no\nenabled=no\n").is_err());
        assert!(parse_service("mgr=sysv\nexists=maybe\nrunning=no\nenabled=no\n").is_err());
    }

    #[test]
    fn missing_service_is_a_predicted_change_only_in_check_mode() {
        let p = missing_service(true, "cron", Some(WantState::Started), Some(true)).unwrap();
        let Plan::Change {
            diff,
            steps,
            result,
        } = p
        else {
            panic!("expected a change");
        };
        assert!(steps.is_empty());
        assert_eq!(diff.len(), 2);
        assert_eq!(diff[0].after, "state: started\n");
        assert!(
            result["msg"]
                .as_str()
                .unwrap()
                .contains("not installed yet")
        );
        assert!(matches!(
            missing_service(true, "cron", Some(WantState::Stopped), Some(false)).unwrap(),
            Plan::Unchanged { .. }
        ));
        let e = missing_service(false, "cron", Some(WantState::Started), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "service cron not found (is its package installed?)"
        );
    }

    #[test]
    fn decides_service_changes() {
        use WantState::*;
        let sysv = Manager::SysV;
        /// (state, enabled, current, number of commands, a command that must appear)
        type Case = (
            Option<WantState>,
            Option<bool>,
            ServiceState,
            usize,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (Some(Started), None, st(sysv, true, false), 0, ""),
            (
                Some(Started),
                None,
                st(sysv, false, false),
                1,
                "service x start",
            ),
            (
                Some(Stopped),
                None,
                st(sysv, true, false),
                1,
                "service x stop",
            ),
            (Some(Stopped), None, st(sysv, false, false), 0, ""),
            (
                Some(Restarted),
                None,
                st(sysv, true, false),
                1,
                "service x restart",
            ),
            (
                Some(Reloaded),
                None,
                st(sysv, true, false),
                1,
                "service x reload",
            ),
            (
                Some(Reloaded),
                None,
                st(sysv, false, false),
                1,
                "service x start",
            ),
            (None, Some(true), st(sysv, false, true), 0, ""),
            (
                None,
                Some(true),
                st(sysv, false, false),
                1,
                "update-rc.d -f x remove && update-rc.d x defaults",
            ),
            (
                None,
                Some(false),
                st(sysv, false, true),
                1,
                "update-rc.d x disable",
            ),
            (
                Some(Started),
                Some(true),
                st(Manager::Systemd, false, false),
                2,
                "systemctl enable -- x.service",
            ),
        ];
        for (state, enabled, cur, n, needle) in cases {
            let (cmds, diff) = decide_service("x", state, enabled, &cur);
            assert_eq!(cmds.len(), n, "{state:?} {enabled:?} {cur:?}");
            assert_eq!(diff.len(), n);
            if n > 0 {
                assert!(cmds.iter().any(|c| c.contains(needle)), "{cmds:?}");
            }
        }
        let (_, diff) = decide_service("x", Some(Started), Some(true), &st(sysv, false, false));
        assert_eq!(diff[0].before, "state: stopped\n");
        assert_eq!(diff[0].after, "state: started\n");
        assert_eq!(diff[1].before, "enabled: no\n");
        assert_eq!(diff[1].after, "enabled: yes\n");
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::modules::testutil::{Harness, is_root};
    use serde_json::json;
    use std::path::Path;

    const SCRIPT: &str = r#"#!/bin/sh
### BEGIN INIT INFO
# Provides:          @NAME@
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: shipshape test service
### END INIT INFO
PID=/tmp/@NAME@.pid
running() { [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; }
case "$1" in
  start) running || { sleep 1000 >/dev/null 2>&1 </dev/null & echo $! > "$PID"; } ;;
  stop) if running; then kill "$(cat "$PID")"; fi; rm -f "$PID" ;;
  restart|reload|force-reload) "$0" stop; "$0" start ;;
  status) running ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 3 ;;
esac
"#;

    /// Removes the throwaway init script, its links and its process, even when a test fails.
    struct Cleanup(String);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            let n = &self.0;
            let _ = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "/etc/init.d/{n} stop; update-rc.d -f {n} remove; rm -f /etc/init.d/{n} /etc/rc?.d/[SK][0-9][0-9]{n} /tmp/{n}.pid"
                ))
                .output();
        }
    }

    fn links(name: &str) -> Vec<String> {
        let mut v = Vec::new();
        for d in 0..=6 {
            let dir = format!("/etc/rc{d}.d");
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    let f = e.file_name().to_string_lossy().into_owned();
                    if f.ends_with(name) {
                        v.push(format!("{d}:{f}"));
                    }
                }
            }
        }
        v
    }

    fn sysv_host() -> bool {
        is_root()
            && !Path::new("/run/systemd/system").exists()
            && Path::new("/etc/init.d").is_dir()
            && Path::new("/usr/sbin/update-rc.d").exists()
    }

    #[tokio::test]
    async fn drives_a_throwaway_init_script() {
        if !sysv_host() {
            return;
        }
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("ssx-test-{n:x}");
        let _cleanup = Cleanup(name.clone());
        let path = format!("/etc/init.d/{name}");
        std::fs::write(&path, SCRIPT.replace("@NAME@", &name)).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let status = || {
            std::process::Command::new(&path)
                .arg("status")
                .status()
                .unwrap()
                .success()
        };
        let h = Harness::new();
        let r = h
            .converge(
                &SERVICE,
                &json!({"name": name, "state": "started", "enabled": true}),
            )
            .await;
        assert_eq!(r.diff[0].after, "state: started\n");
        assert_eq!(r.diff[1].after, "enabled: yes\n");
        assert_eq!(r.result["status"]["manager"], "sysv");
        assert!(status());
        assert!(
            links(&name).iter().any(|l| l.starts_with("2:S")),
            "{:?}",
            links(&name)
        );
        let pid = std::fs::read_to_string(format!("/tmp/{name}.pid")).unwrap();
        let r = h
            .apply(
                &SYSTEMD_SERVICE,
                &json!({"name": name, "state": "restarted"}),
            )
            .await
            .unwrap();
        assert!(r.changed);
        assert_ne!(
            pid,
            std::fs::read_to_string(format!("/tmp/{name}.pid")).unwrap()
        );
        let r = h
            .converge(
                &SERVICE,
                &json!({"name": name, "state": "stopped", "enabled": false}),
            )
            .await;
        assert_eq!(r.diff[0].before, "state: started\n");
        assert_eq!(r.diff[1].before, "enabled: yes\n");
        assert!(!status());
        // Enabling again after a disable (K links left behind) must work.
        h.converge(&SERVICE, &json!({"name": name, "enabled": "yes"}))
            .await;
        assert!(
            links(&name).iter().any(|l| l.starts_with("3:S")),
            "{:?}",
            links(&name)
        );
    }

    #[tokio::test]
    async fn daemon_reload_alone_is_not_a_change_and_plain_service_refuses_it() {
        if !sysv_host() {
            return;
        }
        let h = Harness::new();
        let r = h
            .assert_unchanged(&SYSTEMD_SERVICE, &json!({"daemon_reload": true}))
            .await;
        assert_eq!(r["daemon_reload"], true);
        let e = h
            .plan(
                &SERVICE,
                &json!({"name": "ssh", "daemon_reload": true}),
                false,
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("daemon_reload"), "{e}");
        let e = h
            .plan(&SYSTEMD_SERVICE, &json!({"state": "started"}), false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("name"), "{e}");
    }

    #[tokio::test]
    async fn reports_ssh_and_missing_services() {
        if !sysv_host() {
            return;
        }
        let h = Harness::new();
        if Path::new("/etc/init.d/ssh").exists() {
            let out = std::process::Command::new("/etc/init.d/ssh")
                .arg("status")
                .output()
                .unwrap();
            let state = if out.status.success() {
                "started"
            } else {
                "stopped"
            };
            let r = h
                .assert_unchanged(&SERVICE, &json!({"name": "ssh", "state": state}))
                .await;
            assert_eq!(r["state"], state);
        }
        let e = h
            .plan(
                &SERVICE,
                &json!({"name": "ssx-no-such-service", "state": "started"}),
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "service ssx-no-such-service not found (is its package installed?)"
        );
        let e = h
            .plan(&SERVICE, &json!({"name": "ssh"}), false)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("state, enabled"), "{e}");
    }
}
