//! Actions that run on the controller, not as remote modules: debug, set_fact, assert, fail,
//! meta, include_vars, pause, ping, setup/gather_facts and wait_for_connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::core::{ModuleSpec, ParamKind, ParamSpec, ResultMap, Vars};
use crate::playbook::Task;
use crate::report::Status;
use crate::template::Scope;

use super::inherit::Inherited;
use super::task::Outcome;
use super::{Executor, PlayCtx};

const fn p(name: &'static str, kind: ParamKind, doc: &'static str) -> ParamSpec {
    ParamSpec::new(name, kind, doc)
}

/// Parameter specs of the controller actions, for validation and `shipshape doc`.
pub static ACTION_SPECS: &[ModuleSpec] = &[
    ModuleSpec {
        name: "debug",
        doc: "Print a message or a variable.",
        params: &[
            p("msg", ParamKind::Raw, "The message to print."),
            p(
                "var",
                ParamKind::Str,
                "A variable name (or expression) to print.",
            ),
            p(
                "verbosity",
                ParamKind::Int,
                "Only print at this -v level or above.",
            ),
        ],
        free_form: false,
    },
    ModuleSpec {
        name: "set_fact",
        doc: "Set host variables (every argument is a variable).",
        params: &[p(
            "cacheable",
            ParamKind::Bool,
            "Accepted for compatibility.",
        )],
        free_form: true,
    },
    ModuleSpec {
        name: "assert",
        doc: "Fail unless every condition holds.",
        params: &[
            p("that", ParamKind::List, "Conditions (Jinja expressions).").required(),
            p("msg", ParamKind::Raw, "Message when a condition fails.").aliases(&["fail_msg"]),
            p("success_msg", ParamKind::Str, "Message when all hold."),
            p("quiet", ParamKind::Bool, "Print less."),
        ],
        free_form: false,
    },
    ModuleSpec {
        name: "fail",
        doc: "Fail with a message.",
        params: &[p("msg", ParamKind::Raw, "The message.")],
        free_form: false,
    },
    ModuleSpec {
        name: "meta",
        doc: "Control execution: flush_handlers, end_play, end_host, end_batch, noop, clear_host_errors, reset_connection.",
        params: &[p("_raw_params", ParamKind::Str, "The action.")],
        free_form: true,
    },
    ModuleSpec {
        name: "include_vars",
        doc: "Load variables from a YAML file or directory on the controller.",
        params: &[
            p("file", ParamKind::Path, "The file."),
            p("dir", ParamKind::Path, "A directory of .yml/.yaml files."),
            p("name", ParamKind::Str, "Put the variables under this name."),
            p("_raw_params", ParamKind::Path, "The file (free form)."),
        ],
        free_form: true,
    },
    ModuleSpec {
        name: "pause",
        doc: "Wait for a number of seconds or minutes (no prompts: shipshape never reads the terminal mid-run).",
        params: &[
            p("seconds", ParamKind::Int, "Seconds to wait."),
            p("minutes", ParamKind::Int, "Minutes to wait."),
            p(
                "prompt",
                ParamKind::Str,
                "Text shown while waiting (a prompt without seconds/minutes needs a terminal and fails).",
            ),
            p(
                "echo",
                ParamKind::Bool,
                "Accepted for compatibility (nothing is read).",
            ),
        ],
        free_form: false,
    },
    ModuleSpec {
        name: "ping",
        doc: "Check that the host answers a command.",
        params: &[p(
            "data",
            ParamKind::Str,
            "What to answer with (default pong).",
        )],
        free_form: false,
    },
    ModuleSpec {
        name: "setup",
        doc: "Gather facts now.",
        params: &[
            p(
                "gather_subset",
                ParamKind::List,
                "Accepted; the native set is always gathered.",
            ),
            p(
                "filter",
                ParamKind::List,
                "Accepted; all facts are returned.",
            ),
        ],
        free_form: false,
    },
    ModuleSpec {
        name: "gather_facts",
        doc: "Gather facts now.",
        params: &[],
        free_form: false,
    },
    ModuleSpec {
        name: "wait_for_connection",
        doc: "Wait until the host accepts SSH and runs a command.",
        params: &[
            p(
                "timeout",
                ParamKind::Int,
                "Give up after this many seconds (600).",
            ),
            p("delay", ParamKind::Int, "Wait this long first."),
            p("sleep", ParamKind::Int, "Seconds between attempts (1)."),
            p(
                "connect_timeout",
                ParamKind::Int,
                "Timeout of each attempt (5).",
            ),
        ],
        free_form: false,
    },
];

fn arg_str(args: &ResultMap, key: &str) -> Option<String> {
    args.get(key).map(|v| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn arg_f64(args: &ResultMap, key: &str) -> Option<f64> {
    args.get(key).and_then(|v| match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn conds(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| match i {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Bool(b)) => vec![b.to_string()],
        _ => Vec::new(),
    }
}

impl Executor {
    /// Runs a controller action; `None` when the task is a remote module.
    pub(crate) async fn run_action(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        scope: &Scope,
        args: &ResultMap,
    ) -> Option<Outcome> {
        let outcome = match task.module.as_str() {
            "debug" => self.debug(scope, args),
            "set_fact" => {
                let mut vars = Vars::new();
                // set_fact keeps the raw (rendered) values with their types.
                for (k, v) in args {
                    if k == "cacheable" {
                        continue;
                    }
                    // Already rendered: store as data, never render again.
                    vars.insert(k.clone(), crate::template::json_to_unsafe_value(v));
                }
                let result = ResultMap::from_iter([(
                    "ansible_facts".to_string(),
                    Json::Object(args.clone()),
                )]);
                self.set_host_vars(host, vars);
                Outcome::ok(result)
            }
            "assert" => self.assert(task, scope, args),
            "fail" => Outcome::failed(
                arg_str(args, "msg").unwrap_or_else(|| "Failed as requested from task".into()),
            ),
            "meta" => self.meta(ctx, host, args).await,
            "include_vars" => self.include_vars(host, inh, args),
            "pause" => {
                let secs = arg_f64(args, "seconds").unwrap_or(0.0)
                    + arg_f64(args, "minutes").unwrap_or(0.0) * 60.0;
                if secs <= 0.0 {
                    Outcome::failed(
                        "pause needs seconds or minutes (interactive prompts are not supported)",
                    )
                } else if self.sleep(Duration::from_secs_f64(secs)).await {
                    let mut r = ResultMap::from_iter([("delta".to_string(), json!(secs))]);
                    if let Some(prompt) = args.get("prompt").and_then(|v| v.as_str()) {
                        r.insert("msg".into(), json!(prompt));
                        r.insert("user_input".into(), json!(""));
                    }
                    Outcome::ok(r)
                } else {
                    Outcome::failed("pause: interrupted")
                }
            }
            "ping" => match self.transport_for(host, inh, scope).await {
                Err(e) => Outcome {
                    status: Status::Unreachable,
                    msg: Some(e.clone()),
                    diffs: Vec::new(),
                    result: ResultMap::from_iter([("msg".to_string(), json!(e))]),
                    assumed: false,
                },
                Ok(t) => match t.exec(crate::core::ExecRequest::new("true")).await {
                    Ok(_) => Outcome::ok(ResultMap::from_iter([(
                        "ping".to_string(),
                        json!(arg_str(args, "data").unwrap_or_else(|| "pong".into())),
                    )])),
                    Err(e) => Outcome::failed(e.to_string()),
                },
            },
            "setup" | "gather_facts" => self.gather_now(ctx, host, inh).await,
            "wait_for_connection" => self.wait_for_connection(host, inh, scope, args).await,
            _ => return None,
        };
        Some(outcome)
    }

    fn debug(&self, scope: &Scope, args: &ResultMap) -> Outcome {
        if let Some(level) = arg_f64(args, "verbosity")
            && (self.opts.verbosity as f64) < level
        {
            return Outcome {
                status: Status::Skipped,
                msg: Some("verbosity threshold not met".into()),
                diffs: Vec::new(),
                result: ResultMap::new(),
                assumed: false,
            };
        }
        if let Some(var) = arg_str(args, "var") {
            let value = match self.templar.eval(&var, scope) {
                Ok(v) if v.is_undefined() => json!("VARIABLE IS NOT DEFINED!"),
                Ok(v) => crate::template::value_to_json(&v),
                Err(e) => json!(format!("VARIABLE IS NOT DEFINED! ({e})")),
            };
            let text = format!(
                "{var}: {}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            let mut o = Outcome::ok(ResultMap::from_iter([(var, value)]));
            o.msg = Some(text);
            return o;
        }
        let msg = args.get("msg").cloned().unwrap_or(json!("Hello world!"));
        let text = match &msg {
            Json::String(s) => s.clone(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        };
        let mut o = Outcome::ok(ResultMap::from_iter([("msg".to_string(), msg)]));
        o.msg = Some(text);
        o
    }

    fn assert(&self, task: &Task, scope: &Scope, args: &ResultMap) -> Outcome {
        let that = conds(args.get("that"));
        for c in &that {
            match self.templar.eval_bool(c, scope) {
                Ok(true) => {}
                Ok(false) => {
                    let msg = args
                        .get("msg")
                        .or(args.get("fail_msg"))
                        .map(|m| match m {
                            Json::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .unwrap_or_else(|| "Assertion failed".into());
                    let mut o = Outcome::failed(msg);
                    o.result.insert("assertion".into(), json!(c));
                    o.result.insert("evaluated_to".into(), json!(false));
                    return o;
                }
                Err(e) => {
                    return Outcome::failed(format!(
                        "{}: the assertion '{c}' could not be evaluated: {e}",
                        task.loc
                    ));
                }
            }
        }
        let quiet = matches!(args.get("quiet"), Some(Json::Bool(true)))
            || matches!(args.get("quiet"), Some(Json::String(s)) if matches!(s.as_str(), "yes" | "true" | "True"));
        let mut o = Outcome::ok(ResultMap::new());
        if !quiet {
            o.msg = Some(
                arg_str(args, "success_msg").unwrap_or_else(|| "All assertions passed".into()),
            );
        }
        o
    }

    async fn meta(self: &Arc<Self>, ctx: &Arc<PlayCtx>, host: &str, args: &ResultMap) -> Outcome {
        let action = arg_str(args, "_raw_params").unwrap_or_default();
        match action.trim() {
            "flush_handlers" => {
                let flow = self.flush_handlers(ctx, host, vec![2, u32::MAX]).await;
                if flow == super::host::Flow::Continue {
                    Outcome::ok(ResultMap::new())
                } else {
                    Outcome::failed("a handler failed")
                }
            }
            "end_play" | "end_batch" => {
                ctx.abort.store(true, std::sync::atomic::Ordering::SeqCst);
                let mut o = Outcome::ok(ResultMap::new());
                o.msg = Some(format!("{} requested", action.trim()));
                o
            }
            "end_host" => {
                let st = self.host_state(host);
                st.lock().expect("host lock").ended = true;
                let mut o = Outcome::ok(ResultMap::new());
                o.msg = Some("end_host requested".into());
                o
            }
            "clear_host_errors" => {
                for h in &ctx.batch {
                    let st = self.host_state(h);
                    st.lock().expect("host lock").failed = false;
                }
                Outcome::ok(ResultMap::new())
            }
            "noop" | "reset_connection" | "refresh_inventory" | "clear_facts" => {
                if action.trim() == "clear_facts" {
                    let st = self.host_state(host);
                    st.lock().expect("host lock").facts = Arc::new(Vars::new());
                }
                Outcome::ok(ResultMap::new())
            }
            other => Outcome::failed(format!("meta: unknown action '{other}'")),
        }
    }

    fn include_vars(&self, host: &str, inh: &Inherited, args: &ResultMap) -> Outcome {
        let file = arg_str(args, "file").or_else(|| arg_str(args, "_raw_params"));
        let dir = arg_str(args, "dir");
        let mut base_dirs = Vec::new();
        if let Some(r) = &inh.role {
            base_dirs.push(r.path.join("vars"));
            base_dirs.push(r.path.clone());
        }
        base_dirs.push(self.playbook_dir.join("vars"));
        base_dirs.push(self.playbook_dir.clone());
        let find = |name: &str| {
            let p = std::path::Path::new(name);
            if p.is_absolute() {
                return Some(p.to_path_buf());
            }
            base_dirs.iter().map(|d| d.join(name)).find(|c| c.exists())
        };
        let mut files = Vec::new();
        match (file, dir) {
            (Some(f), _) => match find(&f) {
                Some(p) => files.push(p),
                None => return Outcome::failed(format!("include_vars: file '{f}' not found")),
            },
            (None, Some(d)) => match find(&d) {
                Some(p) => {
                    let mut entries: Vec<_> = std::fs::read_dir(&p)
                        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                        .unwrap_or_default();
                    entries.retain(|e: &std::path::PathBuf| {
                        matches!(
                            e.extension().and_then(|x| x.to_str()),
                            Some("yml" | "yaml" | "json")
                        )
                    });
                    entries.sort();
                    files.extend(entries);
                }
                None => return Outcome::failed(format!("include_vars: directory '{d}' not found")),
            },
            (None, None) => return Outcome::failed("include_vars needs a file or dir"),
        }
        let mut vars = Vars::new();
        for f in &files {
            match crate::playbook::read_yaml(f, None)
                .map_err(|e| e.to_string())
                .and_then(|n| {
                    crate::playbook::node_to_vars(&n, "a vars file").map_err(|e| e.to_string())
                }) {
                Ok(v) => vars.extend(v),
                Err(e) => return Outcome::failed(format!("include_vars: {e}")),
            }
        }
        let vars = match arg_str(args, "name") {
            Some(name) => {
                let mut wrapped = Vars::new();
                wrapped.insert(name, super::map_value(vars));
                wrapped
            }
            None => vars,
        };
        // As Ansible: `ansible_facts` holds what was set (under `name` when given).
        let facts: serde_json::Map<String, Json> = vars
            .iter()
            .map(|(k, v)| (k.clone(), crate::template::value_to_json(v)))
            .collect();
        self.set_include_vars(host, vars);
        Outcome::ok(ResultMap::from_iter([
            ("ansible_facts".to_string(), Json::Object(facts)),
            (
                "ansible_included_var_files".to_string(),
                json!(
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                ),
            ),
        ]))
    }

    async fn gather_now(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        inh: &Inherited,
    ) -> Outcome {
        self.gather(ctx, host, inh).await
    }

    async fn wait_for_connection(
        &self,
        host: &str,
        inh: &Inherited,
        scope: &Scope,
        args: &ResultMap,
    ) -> Outcome {
        let timeout = arg_f64(args, "timeout").unwrap_or(600.0);
        let delay = arg_f64(args, "delay").unwrap_or(0.0);
        let sleep = arg_f64(args, "sleep").unwrap_or(1.0).max(0.1);
        let started = Instant::now();
        if delay > 0.0 && !self.sleep(Duration::from_secs_f64(delay)).await {
            return Outcome::failed("wait_for_connection: interrupted");
        }
        let mut backoff = sleep;
        loop {
            self.forget_connection(host);
            let attempt = match self.transport_for(host, inh, scope).await {
                Ok(t) => t
                    .exec(crate::core::ExecRequest::new("true"))
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match attempt {
                Ok(_) => {
                    return Outcome::ok(ResultMap::from_iter([(
                        "elapsed".to_string(),
                        json!(started.elapsed().as_secs()),
                    )]));
                }
                Err(e) if started.elapsed().as_secs_f64() + backoff > timeout => {
                    return Outcome::failed(format!(
                        "timed out waiting for connection after {:.0} s: {e}",
                        started.elapsed().as_secs_f64()
                    ));
                }
                Err(_) if !self.sleep(Duration::from_secs_f64(backoff)).await => {
                    return Outcome::failed("wait_for_connection: interrupted");
                }
                Err(_) => {
                    backoff = (backoff * 1.5).min(10.0);
                }
            }
        }
    }
}
