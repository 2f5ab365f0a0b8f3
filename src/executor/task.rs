//! Runs one task on one host: variable layers, `when`, loops, argument templating, the module's
//! plan and (outside check mode) its steps, `changed_when`/`failed_when`/`until`, `register`,
//! `notify`, and the result event.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::Value;
use serde_json::{Map, Value as Json, json};

use crate::core::{
    Become, Controller, Diff, ModuleError, Plan, ResultMap, Secret, TaskCtx, Transport, Vars,
};
use crate::playbook::{Cond, Loop, Task};
use crate::report::Status;
use crate::template::{Scope, Templar, is_truthy, value_to_json};

use super::host::Flow;
use super::inherit::Inherited;
use super::lockstep::Position;
use super::{Executor, PlayCtx, map_value};

/// What is being run: a playbook task or the implicit fact gathering.
#[derive(Clone)]
pub(crate) enum TaskKind {
    /// A task or handler.
    Task(Arc<Task>),
    /// "Gathering Facts".
    Facts,
}

/// The result of one task (or item) before it is reported.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub status: Status,
    pub msg: Option<String>,
    pub diffs: Vec<Diff>,
    pub result: ResultMap,
    pub assumed: bool,
}

/// A `run_once` task at one position: the host that runs it and its outcome once known.
#[derive(Clone)]
pub(crate) struct RunOnce {
    runner: String,
    outcome: Arc<tokio::sync::watch::Sender<Option<Outcome>>>,
}

/// Variable layers that are the same for every host and task of a batch, built once per
/// batch instead of once per task and host.
pub(crate) struct BatchLayers {
    /// `-e` variables.
    extra_vars: Arc<Vars>,
    /// Magic variables that do not depend on the host (`groups`, `play_hosts`, ...).
    play_magic: Arc<Vars>,
    /// `__file_search` outside roles.
    file_search: Arc<Vars>,
}

const NO_LOG_MSG: &str =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

impl Outcome {
    pub fn ok(result: ResultMap) -> Self {
        Outcome {
            status: Status::Ok,
            msg: None,
            diffs: Vec::new(),
            result,
            assumed: false,
        }
    }
    pub fn failed(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        let mut result = ResultMap::new();
        result.insert("failed".into(), json!(true));
        result.insert("msg".into(), json!(msg.clone()));
        Outcome {
            status: Status::Failed,
            msg: Some(msg),
            diffs: Vec::new(),
            result,
            assumed: false,
        }
    }
    fn skipped(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        let mut result = ResultMap::new();
        result.insert("skipped".into(), json!(true));
        result.insert("changed".into(), json!(false));
        result.insert("skip_reason".into(), json!(msg.clone()));
        Outcome {
            status: Status::Skipped,
            msg: Some(msg),
            diffs: Vec::new(),
            result,
            assumed: false,
        }
    }
    fn unreachable(msg: String) -> Self {
        let mut result = ResultMap::new();
        result.insert("unreachable".into(), json!(true));
        result.insert("msg".into(), json!(msg.clone()));
        Outcome {
            status: Status::Unreachable,
            msg: Some(msg),
            diffs: Vec::new(),
            result,
            assumed: false,
        }
    }
    fn finalize_result(&mut self) {
        let failed = matches!(self.status, Status::Failed | Status::Ignored);
        // A command that ran and then failed still changed something (Ansible keeps
        // `changed: true` in its failed result).
        let changed = self.status == Status::Changed
            || (failed && self.result.get("changed") == Some(&json!(true)));
        self.result.insert("changed".into(), json!(changed));
        if failed {
            self.result.insert("failed".into(), json!(true));
        } else {
            self.result.remove("failed");
            self.result.insert("failed".into(), json!(false));
        }
        if self.status == Status::Skipped {
            self.result.insert("skipped".into(), json!(true));
        }
    }
    fn redact(&mut self) {
        self.result = Map::from_iter([
            ("censored".to_string(), json!(NO_LOG_MSG)),
            ("changed".to_string(), json!(self.status == Status::Changed)),
        ]);
        if self.msg.is_some() {
            self.msg = Some(NO_LOG_MSG.into());
        }
        self.diffs.clear();
    }
}

/// Modules that run commands: in check mode they are skipped unless `creates`/`removes`
/// decided (Ansible's behaviour).
const COMMAND_MODULES: &[&str] = &["command", "shell", "raw", "script"];

/// Controller-side services for one task: `src` lookup and template rendering.
struct TaskController<'a> {
    templar: &'a Templar,
    scope: &'a Scope,
    role_path: Option<PathBuf>,
    playbook_dir: &'a Path,
}

impl Controller for TaskController<'_> {
    fn find_file(&self, kind: &str, name: &str) -> Result<PathBuf, ModuleError> {
        let p = Path::new(name);
        if p.is_absolute() {
            return if p.exists() {
                Ok(p.to_path_buf())
            } else {
                Err(ModuleError::Args(format!("could not find src '{name}'")))
            };
        }
        let mut candidates = Vec::new();
        if let Some(r) = &self.role_path {
            candidates.push(r.join(kind).join(name));
            candidates.push(r.join(name));
            candidates.push(r.join("tasks").join(name));
        }
        candidates.push(self.playbook_dir.join(kind).join(name));
        candidates.push(self.playbook_dir.join(name));
        candidates
            .iter()
            .find(|c| c.exists())
            .cloned()
            .ok_or_else(|| {
                ModuleError::Args(format!(
                    "could not find src '{name}' (searched {})",
                    candidates
                        .iter()
                        .map(|c| c.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    fn render_template(&self, path: &Path) -> Result<String, ModuleError> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ModuleError::Args(format!("cannot read template {}: {e}", path.display()))
        })?;
        let mut layer = Vars::new();
        let dir = path.parent().unwrap_or(Path::new("."));
        layer.insert(
            "template_path".into(),
            Value::from(path.display().to_string()),
        );
        layer.insert(
            "template_fullpath".into(),
            Value::from(path.display().to_string()),
        );
        layer.insert(
            "template_destpath".into(),
            Value::from(path.display().to_string()),
        );
        layer.insert("template_host".into(), Value::from(hostname()));
        layer.insert("ansible_managed".into(), Value::from("Ansible managed"));
        layer.insert(
            "__template_search".into(),
            Value::from(vec![Value::from(dir.display().to_string())]),
        );
        let scope = self.scope.with_layer(Arc::new(layer));
        self.templar
            .render_template_file(&source, &path.display().to_string(), &scope)
            .map_err(|e| ModuleError::Args(format!("template {}: {e}", path.display())))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Executor {
    /// The variable scope of a task on a host, lowest precedence first.
    pub(crate) fn scope_for(
        &self,
        ctx: &PlayCtx,
        host: &str,
        inh: &Inherited,
        task: Option<&Task>,
        extra: &[Arc<Vars>],
    ) -> Scope {
        let (inv, facts, vars, include_vars, vars_files) = {
            let st = self.host_state(host);
            let st = st.lock().expect("host lock");
            (
                st.inv_vars.clone(),
                st.facts.clone(),
                st.vars.clone(),
                st.include_vars.clone(),
                st.vars_files.clone(),
            )
        };
        let mut layers: Vec<Arc<Vars>> = Vec::with_capacity(16);
        layers.push(ctx.role_defaults.clone());
        if let Some(r) = &inh.role {
            layers.push(Arc::new(r.defaults.clone()));
        }
        layers.push(inv);
        layers.push(facts);
        layers.push(ctx.play_vars.clone());
        layers.push(vars_files);
        layers.push(ctx.role_vars.clone());
        if let Some(r) = &inh.role {
            layers.push(Arc::new(r.vars.clone()));
        }
        layers.extend(inh.block_vars.iter().cloned());
        if let Some(t) = task
            && !t.common.vars.is_empty()
        {
            layers.push(Arc::new(t.common.vars.clone()));
        }
        layers.push(include_vars);
        layers.push(vars);
        layers.extend(inh.include_params.iter().cloned());
        layers.extend(extra.iter().cloned());
        let shared = self.batch_layers(ctx);
        layers.push(shared.extra_vars.clone());
        layers.extend(self.magic_layers(shared, host, inh));
        Scope::new(layers)
    }

    /// Loads the play's `vars_files` for a host (paths may use its variables).
    pub(crate) fn load_vars_files(&self, ctx: &PlayCtx, host: &str) -> Result<Arc<Vars>, String> {
        if ctx.play.vars_files.is_empty() {
            return Ok(Arc::new(Vars::new()));
        }
        let inv = self
            .host_state(host)
            .lock()
            .expect("host lock")
            .inv_vars
            .clone();
        let shared = self.batch_layers(ctx);
        let mut layers = vec![inv, ctx.play_vars.clone(), shared.extra_vars.clone()];
        layers.extend(self.magic_layers(shared, host, &Inherited::default()));
        let scope = Scope::new(layers);
        let mut out = Vars::new();
        for (file, loc) in &ctx.play.vars_files {
            let name = self
                .templar
                .render_str(file, &scope)
                .map(|v| v.to_string())
                .map_err(|e| format!("{loc}: vars_files entry '{file}': {e}"))?;
            let path = self.playbook_dir.join(&name);
            let node = crate::playbook::read_yaml(&path, Some(loc)).map_err(|e| e.to_string())?;
            out.extend(
                crate::playbook::node_to_vars(&node, "a vars file").map_err(|e| e.to_string())?,
            );
        }
        Ok(Arc::new(out))
    }

    /// The layers every task of the batch shares, built by the first task that asks.
    fn batch_layers<'a>(&self, ctx: &'a PlayCtx) -> &'a BatchLayers {
        ctx.batch_layers.get_or_init(|| BatchLayers {
            extra_vars: Arc::new(self.opts.extra_vars.clone()),
            play_magic: Arc::new(self.play_magic_vars(ctx)),
            file_search: Arc::new(self.file_search_vars(None)),
        })
    }

    /// The magic variables of a task on a host, as three layers whose names do not overlap
    /// (so their order is only the order `vars` lists them in): the host's own
    /// (`inventory_hostname`, `group_names`), the batch's (shared) and the role's.
    fn magic_layers(&self, shared: &BatchLayers, host: &str, inh: &Inherited) -> [Arc<Vars>; 3] {
        let mut m = Vars::new();
        m.insert("inventory_hostname".into(), Value::from(host));
        m.insert(
            "inventory_hostname_short".into(),
            Value::from(host.split('.').next().unwrap_or(host)),
        );
        m.insert(
            "group_names".into(),
            Value::from(self.inventory.group_names(host)),
        );
        let role = match inh.role.as_deref() {
            Some(r) => Arc::new(self.file_search_vars(Some(r))),
            None => shared.file_search.clone(),
        };
        [Arc::new(m), shared.play_magic.clone(), role]
    }

    /// Magic variables that are the same for every host and task of a batch. Built once:
    /// `play_hosts` and `ansible_play_batch` alone are lists as long as the batch.
    fn play_magic_vars(&self, ctx: &PlayCtx) -> Vars {
        let mut m = Vars::new();
        m.insert("groups".into(), self.groups_value());
        m.insert("hostvars".into(), self.hostvars_value(ctx));
        let play_hosts = Value::from(ctx.play_hosts.clone());
        m.insert("play_hosts".into(), play_hosts.clone());
        m.insert("ansible_play_hosts".into(), play_hosts.clone());
        m.insert("ansible_play_hosts_all".into(), play_hosts);
        m.insert("ansible_play_batch".into(), Value::from(ctx.batch.clone()));
        m.insert(
            "ansible_play_name".into(),
            Value::from(ctx.play.name.clone()),
        );
        m.insert(
            "playbook_dir".into(),
            Value::from(self.playbook_dir.display().to_string()),
        );
        m.insert("ansible_check_mode".into(), Value::from(self.opts.check));
        m.insert("ansible_diff_mode".into(), Value::from(self.opts.diff));
        m.insert("ansible_forks".into(), Value::from(self.opts.forks));
        m.insert(
            "ansible_run_tags".into(),
            Value::from(if self.opts.tags.only.is_empty() {
                vec!["all".to_string()]
            } else {
                self.opts.tags.only.clone()
            }),
        );
        m.insert(
            "ansible_skip_tags".into(),
            Value::from(self.opts.tags.skip.clone()),
        );
        m.insert(
            "ansible_version".into(),
            map_value([
                ("full".to_string(), Value::from("2.17.0")),
                ("major".to_string(), Value::from(2)),
                ("minor".to_string(), Value::from(17)),
                ("revision".to_string(), Value::from(0)),
                ("string".to_string(), Value::from("2.17.0")),
            ]),
        );
        m
    }

    /// `role_name`, `role_path` (inside a role) and `__file_search`, the directories `file`
    /// and `template` lookups search.
    fn file_search_vars(&self, role: Option<&crate::playbook::Role>) -> Vars {
        let mut m = Vars::new();
        let mut search = Vec::new();
        if let Some(r) = role {
            m.insert("role_name".into(), Value::from(r.name.clone()));
            m.insert(
                "role_path".into(),
                Value::from(r.path.display().to_string()),
            );
            search.push(Value::from(r.path.join("files").display().to_string()));
            search.push(Value::from(r.path.join("templates").display().to_string()));
            search.push(Value::from(r.path.display().to_string()));
        }
        search.push(Value::from(
            self.playbook_dir.join("files").display().to_string(),
        ));
        search.push(Value::from(self.playbook_dir.display().to_string()));
        m.insert("__file_search".into(), Value::from(search));
        m
    }

    pub(crate) fn groups_value(&self) -> Value {
        self.groups
            .get_or_init(|| {
                map_value(
                    self.inventory
                        .groups_map()
                        .into_iter()
                        .map(|(g, hosts)| (g, Value::from(hosts))),
                )
            })
            .clone()
    }

    /// `hostvars`: every host's variables, built lazily when read.
    fn hostvars_value(&self, _ctx: &PlayCtx) -> Value {
        Value::from_object(super::hostvars::HostVars {
            exec: self.me.clone(),
        })
    }

    pub(crate) fn eval_conditions(&self, conds: &[Cond], scope: &Scope) -> Result<bool, String> {
        for c in conds {
            match self.templar.eval_bool(&c.expr, scope) {
                Ok(true) => {}
                Ok(false) => return Ok(false),
                Err(e) => {
                    return Err(format!(
                        "{}: the condition '{}' could not be evaluated: {e}",
                        c.loc, c.expr
                    ));
                }
            }
        }
        Ok(true)
    }

    /// Renders a loop and returns each item with the variable layer it brings.
    pub(crate) fn loop_items(&self, l: &Loop, scope: &Scope) -> Result<Vec<(Value, Vars)>, String> {
        let rendered = self
            .templar
            .render_value(&l.items, scope)
            .map_err(|e| format!("loop: {e}"))?;
        let items = super::loops::expand(l.style, &rendered, &self.templar, scope)?;
        let n = items.len();
        Ok(items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut layer = Vars::new();
                layer.insert(l.loop_var.clone(), item.clone());
                if let Some(iv) = &l.index_var {
                    layer.insert(iv.clone(), Value::from(i));
                }
                layer.insert(
                    "ansible_loop".into(),
                    map_value([
                        ("index".to_string(), Value::from(i + 1)),
                        ("index0".to_string(), Value::from(i)),
                        ("first".to_string(), Value::from(i == 0)),
                        ("last".to_string(), Value::from(i + 1 == n)),
                        ("length".to_string(), Value::from(n)),
                        ("revindex".to_string(), Value::from(n - i)),
                        ("revindex0".to_string(), Value::from(n - i - 1)),
                    ]),
                );
                layer.insert("ansible_loop_var".into(), Value::from(l.loop_var.clone()));
                (item, layer)
            })
            .collect())
    }

    /// Runs one task on one host and reports it.
    pub(crate) async fn run_task(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        kind: TaskKind,
        inh: &Inherited,
        pos: Position,
        handler: bool,
    ) -> Flow {
        let (task, tinh) = match &kind {
            TaskKind::Task(t) => (Some(t.clone()), inh.with(&t.common)),
            TaskKind::Facts => (None, inh.clone()),
        };
        let (name, loc) = match &task {
            Some(t) => (t.display_name(), t.loc.to_string()),
            None => ("Gathering Facts".to_string(), ctx.play.loc.to_string()),
        };
        // `tinh.tags` holds the task's own tags and every inherited one.
        if task.is_some() && !handler && !self.opts.tags.selects(&tinh.tags) {
            return Flow::Continue;
        }
        if self.should_stop(ctx, host) {
            return Flow::Stop;
        }
        if let Some(ls) = &ctx.lockstep
            && ls.arrive(host, &pos).await
        {
            self.events.emit(crate::report::Event::TaskStart {
                name: name.clone(),
                loc: loc.clone(),
                handler,
            });
        }
        if self.should_stop(ctx, host) {
            return Flow::Stop;
        }
        let started = Instant::now();
        let no_log = tinh.no_log.unwrap_or(false);
        if let Some(t) = &task
            && tinh.run_once.unwrap_or(false)
        {
            return self
                .run_once(ctx, host, t, &tinh, &name, &loc, handler, pos, no_log)
                .await;
        }
        let _permit = ctx.forks.acquire().await;
        let Some(task) = task else {
            let outcome = self.gather(ctx, host, &tinh).await;
            return self.finish_task(
                ctx, host, None, &tinh, &name, &loc, handler, outcome, started,
            );
        };
        // `throttle:` bounds the hosts running this task at once (a slot per position).
        let throttle = task.throttle.map(|n| {
            ctx.throttles
                .lock()
                .expect("throttle lock")
                .entry(pos.clone())
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(n)))
                .clone()
        });
        let _throttled = match &throttle {
            Some(sem) => sem.acquire().await.ok(),
            None => None,
        };
        let outcome = self.task_outcomes(ctx, host, &task, &tinh, no_log).await;
        self.finish_task(
            ctx,
            host,
            Some(&task),
            &tinh,
            &name,
            &loc,
            handler,
            outcome,
            started,
        )
    }

    /// `run_once`: the first host of the batch running this task runs it and reports it;
    /// the others wait (without a fork slot) and take its result: registered variable,
    /// facts, notifications and failure, as Ansible applies them to every host.
    #[allow(clippy::too_many_arguments)]
    async fn run_once(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        name: &str,
        loc: &str,
        handler: bool,
        pos: super::lockstep::Position,
        no_log: bool,
    ) -> Flow {
        let started = Instant::now();
        let slot = {
            let mut map = ctx.run_once.lock().expect("run_once lock");
            map.entry(pos.clone())
                .or_insert_with(|| RunOnce {
                    runner: ctx
                        .lockstep
                        .as_ref()
                        .and_then(|ls| ls.first_at(&pos, &ctx.batch))
                        .unwrap_or_else(|| host.to_string()),
                    outcome: Arc::new(tokio::sync::watch::channel(None).0),
                })
                .clone()
        };
        if slot.runner == host {
            let outcome = {
                let _permit = ctx.forks.acquire().await;
                self.task_outcomes(ctx, host, task, inh, no_log).await
            };
            slot.outcome.send_replace(Some(outcome.clone()));
            return self.finish_task(
                ctx,
                host,
                Some(task),
                inh,
                name,
                loc,
                handler,
                outcome,
                started,
            );
        }
        let mut rx = slot.outcome.subscribe();
        let outcome = loop {
            // The runner may stop before running it (Ctrl-C, any_errors_fatal): so do we.
            tokio::select! {
                r = rx.wait_for(Option::is_some) => break match r {
                    Ok(o) => o
                        .clone()
                        .unwrap_or_else(|| Outcome::failed("run_once: no result")),
                    Err(_) => Outcome::failed("run_once: the host running this task stopped"),
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if self.should_stop(ctx, host) {
                        return Flow::Stop;
                    }
                }
            }
        };
        if matches!(outcome.status, Status::Ok | Status::Changed)
            && let Some(Json::Object(facts)) = outcome.result.get("ansible_facts")
        {
            let vars: Vars = facts
                .iter()
                .map(|(k, v)| (k.clone(), crate::template::json_to_unsafe_value(v)))
                .collect();
            match task.module.as_str() {
                "set_fact" => self.set_host_vars(host, vars),
                "include_vars" => self.set_include_vars(host, vars),
                // Facts a module reports (hostname...) update the host's facts, as in Ansible.
                _ => self.merge_facts(host, facts),
            }
        }
        self.apply_shared(ctx, host, task, inh, outcome)
    }

    /// Applies another host's `run_once` result to this host without reporting it.
    fn apply_shared(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        mut outcome: Outcome,
    ) -> Flow {
        if outcome.status == Status::Failed && inh.ignore_errors.unwrap_or(false) {
            outcome.status = Status::Ignored;
        }
        outcome.finalize_result();
        self.register_and_notify(host, task, &outcome);
        match outcome.status {
            Status::Failed => {
                self.mark_failed(ctx, host, inh.any_errors_fatal.unwrap_or(false));
                Flow::Failed
            }
            _ => Flow::Continue,
        }
    }

    /// `register:` and `notify:` of a finished task.
    fn register_and_notify(&self, host: &str, t: &Task, outcome: &Outcome) {
        if let Some(reg) = &t.register {
            let value =
                crate::template::json_to_unsafe_value(&Json::Object(outcome.result.clone()));
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            Arc::make_mut(&mut st.vars).insert(reg.clone(), value);
        }
        if outcome.status == Status::Changed && !t.notify.is_empty() {
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            for n in &t.notify {
                if !st.pending_handlers.contains(n) {
                    st.pending_handlers.push(n.clone());
                }
            }
        }
    }

    /// Runs a task (all loop items) and returns the aggregated outcome; item results are
    /// reported as they finish.
    async fn task_outcomes(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        no_log: bool,
    ) -> Outcome {
        let scope = self.scope_for(ctx, host, inh, Some(task), &[]);
        let Some(l) = &task.loop_ else {
            return self.run_item(ctx, host, task, inh, &scope).await;
        };
        // `when` on a looped task is evaluated per item (Ansible).
        let items = match self.loop_items(l, &scope) {
            Ok(items) => items,
            Err(msg) => return Outcome::failed(format!("{}: {msg}", task.loc)),
        };
        let mut results = Vec::new();
        let mut any_changed = false;
        let mut any_failed = false;
        let mut all_skipped = !items.is_empty();
        let mut failed_msg = None;
        for (i, (item, layer)) in items.into_iter().enumerate() {
            if i > 0
                && let Some(p) = l.pause
            {
                self.sleep(Duration::from_secs_f64(p)).await;
            }
            let item_scope = self.scope_for(ctx, host, inh, Some(task), &[Arc::new(layer)]);
            let label = match &l.label {
                Some(lbl) => self
                    .templar
                    .render_str(lbl, &item_scope)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| lbl.clone()),
                None => display_item(&item),
            };
            let mut o = self.run_item(ctx, host, task, inh, &item_scope).await;
            o.result.insert(l.loop_var.clone(), value_to_json(&item));
            o.result
                .insert("ansible_loop_var".into(), json!(l.loop_var));
            if o.status == Status::Unreachable {
                return o;
            }
            any_changed |= o.status == Status::Changed;
            all_skipped &= o.status == Status::Skipped;
            if o.status == Status::Failed {
                any_failed = true;
                failed_msg.get_or_insert_with(|| o.msg.clone().unwrap_or_default());
            }
            let mut shown = o.clone();
            if no_log {
                shown.redact();
            }
            self.record(
                ctx,
                host,
                &task.display_name(),
                &task.loc.to_string(),
                false,
                shown,
                Some(if no_log { "(censored)".into() } else { label }),
                false,
                None,
            );
            results.push(Json::Object(o.result));
        }
        let mut result = ResultMap::new();
        result.insert("results".into(), Json::Array(results));
        result.insert("msg".into(), json!("All items completed"));
        let status = if any_failed {
            result.insert("msg".into(), json!("One or more items failed"));
            Status::Failed
        } else if all_skipped {
            Status::Skipped
        } else if any_changed {
            Status::Changed
        } else {
            Status::Ok
        };
        // Item diffs were already reported with each item.
        Outcome {
            status,
            msg: failed_msg,
            diffs: Vec::new(),
            result,
            assumed: false,
        }
    }

    /// Decides become for a task from the task, the host's variables and the command line.
    fn become_for(&self, inh: &Inherited, scope: &Scope) -> Result<Option<Become>, String> {
        let var = |name: &str| -> Result<Option<Value>, String> {
            match scope.get_raw(name) {
                Some(v) => self
                    .templar
                    .render_value(&v, scope)
                    .map(Some)
                    .map_err(|e| format!("{name}: {e}")),
                None => Ok(None),
            }
        };
        let enabled = match inh.become_ {
            Some(b) => b,
            None => match var("ansible_become")? {
                Some(v) => is_truthy(&v),
                None => self.opts.become_,
            },
        };
        if !enabled {
            return Ok(None);
        }
        let user = match &inh.become_user {
            Some(u) => self
                .templar
                .render_str(u, scope)
                .map(|v| v.to_string())
                .map_err(|e| format!("become_user: {e}"))?,
            None => match var("ansible_become_user")? {
                Some(v) => v.to_string(),
                None => self
                    .opts
                    .become_user
                    .clone()
                    .unwrap_or_else(|| "root".into()),
            },
        };
        let password = match &self.opts.become_password {
            Some(p) => Some(p.clone()),
            None => var("ansible_become_password")?
                .or(var("ansible_become_pass")?)
                .map(|v| Secret::new(v.to_string())),
        };
        Ok(Some(Become { user, password }))
    }

    /// Renders the task's arguments; `omit` drops a key.
    fn render_args(&self, task: &Task, scope: &Scope) -> Result<ResultMap, String> {
        let mut out = ResultMap::new();
        for (k, v) in &task.args {
            let rendered = self
                .templar
                .render_value(v, scope)
                .map_err(|e| format!("{}: argument '{k}': {e}", task.loc))?;
            if crate::template::is_omit(&rendered) {
                continue;
            }
            if k == "__args_template" {
                match value_to_json(&rendered) {
                    Json::Object(m) => out.extend(m),
                    _ => return Err(format!("{}: args must render to a mapping", task.loc)),
                }
                continue;
            }
            out.insert(k.clone(), strip_omitted(value_to_json(&rendered)));
        }
        Ok(out)
    }

    /// Runs the task once (one loop item), including retries.
    async fn run_item(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        scope: &Scope,
    ) -> Outcome {
        match self.eval_conditions(&inh.when, scope) {
            Ok(true) => {}
            Ok(false) => {
                let expr = inh
                    .when
                    .iter()
                    .map(|c| c.expr.clone())
                    .collect::<Vec<_>>()
                    .join(" and ");
                let mut o = Outcome::skipped("Conditional result was False");
                o.result.insert("false_condition".into(), json!(expr));
                return o;
            }
            Err(msg) => return Outcome::failed(msg),
        }
        let retries = match &task.retries {
            Some(v) => match self.templar.render_value(v, scope) {
                Ok(v) => v.to_string().parse::<u32>().unwrap_or(3),
                Err(e) => return Outcome::failed(format!("{}: retries: {e}", task.loc)),
            },
            None if task.until.is_some() => 3,
            None => 0,
        };
        let delay = match &task.delay {
            Some(v) => match self.templar.render_value(v, scope) {
                Ok(v) => v.to_string().parse::<f64>().unwrap_or(5.0),
                Err(e) => return Outcome::failed(format!("{}: delay: {e}", task.loc)),
            },
            None => 5.0,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut o = self.run_module(ctx, host, task, inh, scope).await;
            // Unreachable, or a check-mode guess with no real result to test conditions on.
            if o.status == Status::Unreachable || o.assumed {
                return o;
            }
            if let Err(msg) = self.apply_conditions(task, scope, &mut o) {
                return Outcome::failed(msg);
            }
            let Some(until) = &task.until else { return o };
            let mut layer = Vars::new();
            let mut probe = o.clone();
            probe.finalize_result();
            let reg = task.register.clone().unwrap_or_else(|| "result".into());
            layer.insert(
                reg,
                crate::template::json_to_value(&Json::Object(probe.result.clone())),
            );
            let s = scope.with_layer(Arc::new(layer));
            match self.eval_conditions(until, &s) {
                Ok(true) => {
                    o.result.insert("attempts".into(), json!(attempt));
                    return o;
                }
                Ok(false) if attempt <= retries => {
                    if !self.sleep(Duration::from_secs_f64(delay)).await {
                        let mut f = Outcome::failed("interrupted while retrying");
                        f.result.insert("attempts".into(), json!(attempt));
                        return f;
                    }
                }
                Ok(false) => {
                    let mut f = Outcome::failed(format!(
                        "the 'until' condition was still false after {attempt} attempts"
                    ));
                    f.result.extend(o.result);
                    f.result.insert("attempts".into(), json!(attempt));
                    f.result.insert("failed".into(), json!(true));
                    return f;
                }
                Err(msg) => return Outcome::failed(msg),
            }
        }
    }

    /// `changed_when` and `failed_when`, evaluated with the registered result visible.
    fn apply_conditions(&self, task: &Task, scope: &Scope, o: &mut Outcome) -> Result<(), String> {
        if task.changed_when.is_none() && task.failed_when.is_none() {
            return Ok(());
        }
        if matches!(o.status, Status::Skipped) {
            return Ok(());
        }
        let mut probe = o.clone();
        probe.finalize_result();
        let result_value = crate::template::json_to_value(&Json::Object(probe.result.clone()));
        let mut layer = Vars::new();
        if let Some(r) = &task.register {
            layer.insert(r.clone(), result_value.clone());
        }
        // Ansible also exposes the result's own keys (rc, stdout...) to these conditions.
        for (k, v) in &probe.result {
            layer
                .entry(k.clone())
                .or_insert_with(|| crate::template::json_to_value(v));
        }
        let s = scope.with_layer(Arc::new(layer));
        // As Ansible: changed_when first (also on a failed result), then failed_when.
        let mut changed = probe.result.get("changed") == Some(&json!(true));
        if let Some(cw) = &task.changed_when {
            changed = self.eval_conditions(cw, &s)?;
        }
        let mut failed = o.status == Status::Failed;
        if let Some(fw) = &task.failed_when {
            failed = self.eval_conditions(fw, &s)?;
            o.result.insert("failed_when_result".into(), json!(failed));
            if failed && o.msg.is_none() {
                o.msg = Some("failed_when condition met".into());
            }
        }
        o.result.insert("changed".into(), json!(changed));
        o.status = if failed {
            Status::Failed
        } else {
            if o.status == Status::Failed {
                o.msg = None;
            }
            if changed { Status::Changed } else { Status::Ok }
        };
        Ok(())
    }

    /// Dispatches to a controller action or a remote module.
    async fn run_module(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: &Arc<Task>,
        inh: &Inherited,
        scope: &Scope,
    ) -> Outcome {
        let args = match self.render_args(task, scope) {
            Ok(a) => a,
            Err(msg) => return Outcome::failed(msg),
        };
        if let Some(mut o) = self.run_action(ctx, host, task, inh, scope, &args).await {
            let check = inh.check_mode.unwrap_or(self.opts.check);
            let would_change = self
                .host_state(host)
                .lock()
                .expect("host lock")
                .would_change;
            if check && would_change && o.status == Status::Failed {
                // e.g. an assert on a file an earlier task would create: unknowable in check
                // mode, not a failure of the real run.
                o.status = Status::Ok;
                o.assumed = true;
                o.msg = Some(format!(
                    "not checked: {}",
                    o.msg.unwrap_or_else(|| "failed".into())
                ));
                o.result.remove("failed");
            }
            return o;
        }
        let Some(module) = crate::modules::find(&task.module) else {
            return Outcome::failed(format!(
                "{}: unknown module '{}'",
                task.module_loc, task.module
            ));
        };
        let become_ = match self.become_for(inh, scope) {
            Ok(b) => b,
            Err(msg) => return Outcome::failed(format!("{}: {msg}", task.loc)),
        };
        let transport = match self.transport_for(host, inh, scope).await {
            Ok(t) => t,
            Err(e) => return Outcome::unreachable(e),
        };
        let transport: Arc<dyn Transport> = if inh.environment.is_empty() {
            transport
        } else {
            match environment_prefix(&inh.environment, &self.templar, scope) {
                Ok(prefix) if prefix.is_empty() => transport,
                Ok(prefix) => Arc::new(EnvTransport {
                    inner: transport,
                    prefix,
                }),
                Err(msg) => return Outcome::failed(format!("{}: {msg}", task.loc)),
            }
        };
        let check = inh.check_mode.unwrap_or(self.opts.check);
        let diff = inh.diff.unwrap_or(self.opts.diff);
        let controller = TaskController {
            templar: &self.templar,
            scope,
            role_path: inh.role.as_ref().map(|r| r.path.clone()),
            playbook_dir: &self.playbook_dir,
        };
        let tctx = TaskCtx {
            transport: transport.as_ref(),
            become_,
            check,
            diff,
            controller: &controller,
        };
        let would_change_before = {
            let st = self.host_state(host);
            st.lock().expect("host lock").would_change
        };
        let plan = match module.plan(&tctx, &args).await {
            Ok(p) => p,
            Err(ModuleError::Transport(e)) if e.is_unreachable() => {
                return Outcome::unreachable(e.to_string());
            }
            // Bad arguments are wrong in any run: never masked as "cannot plan yet".
            Err(e) if check && would_change_before && !matches!(e, ModuleError::Args(_)) => {
                // An earlier task would have changed this host: this plan cannot be known yet.
                let mut o = Outcome::ok(ResultMap::new());
                o.status = Status::Changed;
                o.assumed = true;
                o.msg = Some(format!("cannot plan yet: {e}"));
                return o;
            }
            // Bad arguments name the task's file:line, like the loader's errors.
            Err(ModuleError::Args(m)) if !m.starts_with(&task.loc.to_string()) => {
                return module_failure(ModuleError::Args(format!("{}: {m}", task.loc)));
            }
            Err(e) => return module_failure(e),
        };
        match plan {
            Plan::Unchanged { result } => Outcome::ok(result),
            Plan::Change {
                diff: diffs,
                steps,
                mut result,
            } => {
                if check {
                    if COMMAND_MODULES.contains(&task.module.as_str())
                        && !args.contains_key("creates")
                        && !args.contains_key("removes")
                    {
                        let mut o = Outcome::skipped("command would have run if not in check mode");
                        o.result.extend(result);
                        return o;
                    }
                    let st = self.host_state(host);
                    st.lock().expect("host lock").would_change = true;
                    return Outcome {
                        status: Status::Changed,
                        msg: None,
                        diffs,
                        result,
                        assumed: false,
                    };
                }
                let mut outputs = Vec::with_capacity(steps.len());
                for step in steps {
                    let mut req = step.request;
                    if req.timeout.is_none() {
                        req.timeout = task.timeout.map(Duration::from_secs);
                    }
                    match transport.exec(req).await {
                        Ok(out) => {
                            let ok = out.success();
                            outputs.push(out);
                            if !ok {
                                break;
                            }
                        }
                        Err(e) if e.is_unreachable() => return Outcome::unreachable(e.to_string()),
                        Err(e) => return Outcome::failed(e.to_string()),
                    }
                }
                match module.finish(&mut result, &outputs) {
                    Ok(()) => Outcome {
                        status: Status::Changed,
                        msg: None,
                        diffs,
                        result,
                        assumed: false,
                    },
                    Err(e) => {
                        let mut o = module_failure(e);
                        o.diffs = diffs;
                        if COMMAND_MODULES.contains(&task.module.as_str()) {
                            o.result.insert("changed".into(), json!(true));
                        }
                        o
                    }
                }
            }
        }
    }

    /// Reports the task result, registers it, notifies handlers, applies the failure policy.
    #[allow(clippy::too_many_arguments)]
    fn finish_task(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        task: Option<&Arc<Task>>,
        inh: &Inherited,
        name: &str,
        loc: &str,
        handler: bool,
        mut outcome: Outcome,
        started: Instant,
    ) -> Flow {
        let ignore = inh.ignore_errors.unwrap_or(false);
        if outcome.status == Status::Failed && ignore {
            outcome.status = Status::Ignored;
        }
        if outcome.status == Status::Unreachable && inh.ignore_unreachable.unwrap_or(false) {
            outcome.status = Status::Ignored;
        }
        outcome.finalize_result();
        if let Some(t) = task {
            self.register_and_notify(host, t, &outcome);
        }
        let status = outcome.status;
        if status == Status::Failed {
            let st = self.host_state(host);
            st.lock().expect("host lock").last_failure =
                Some((name.to_string(), Json::Object(outcome.result.clone())));
        }
        if inh.no_log.unwrap_or(false) {
            outcome.redact();
        }
        self.record(
            ctx,
            host,
            name,
            loc,
            handler,
            outcome,
            None,
            true,
            Some(started.elapsed()),
        );
        match status {
            Status::Unreachable => {
                let st = self.host_state(host);
                st.lock().expect("host lock").unreachable = true;
                Flow::Stop
            }
            Status::Failed => {
                self.mark_failed(ctx, host, inh.any_errors_fatal.unwrap_or(false));
                Flow::Failed
            }
            _ => Flow::Continue,
        }
    }

    /// Merges facts reported by a module into the host's facts: `ansible_facts.NAME` and the
    /// `ansible_NAME` variable.
    fn merge_facts(&self, host: &str, facts: &serde_json::Map<String, Json>) {
        let st = self.host_state(host);
        let mut st = st.lock().expect("host lock");
        let f = Arc::make_mut(&mut st.facts);
        let mut all = match f.get("ansible_facts").map(crate::template::value_to_json) {
            Some(Json::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for (k, v) in facts {
            let short = k.strip_prefix("ansible_").unwrap_or(k);
            all.insert(short.to_string(), v.clone());
            f.insert(
                format!("ansible_{short}"),
                crate::template::json_to_unsafe_value(v),
            );
        }
        f.insert(
            "ansible_facts".into(),
            crate::template::json_to_unsafe_value(&Json::Object(all)),
        );
    }

    /// Gathers facts on the host (one remote command).
    pub(crate) async fn gather(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        inh: &Inherited,
    ) -> Outcome {
        let scope = self.scope_for(ctx, host, inh, None, &[]);
        let transport = match self.transport_for(host, inh, &scope).await {
            Ok(t) => t,
            Err(e) => return Outcome::unreachable(e),
        };
        let out = match transport
            .exec(crate::core::ExecRequest::new(super::facts::FACTS_SCRIPT))
            .await
        {
            Ok(o) => o,
            Err(e) if e.is_unreachable() => return Outcome::unreachable(e.to_string()),
            Err(e) => return Outcome::failed(e.to_string()),
        };
        let facts = super::facts::parse_facts(&out.stdout_str());
        let mut vars = Vars::new();
        for (k, v) in &facts {
            vars.insert(
                format!("ansible_{k}"),
                crate::template::json_to_unsafe_value(v),
            );
        }
        vars.insert(
            "ansible_facts".into(),
            crate::template::json_to_unsafe_value(&Json::Object(facts.clone())),
        );
        {
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            let f = Arc::make_mut(&mut st.facts);
            f.extend(vars);
        }
        Outcome::ok(Map::from_iter([(
            "ansible_facts".to_string(),
            Json::Object(facts),
        )]))
    }

    /// Stores variables set by `set_fact` (or facts with `cacheable`).
    pub(crate) fn set_host_vars(&self, host: &str, vars: Vars) {
        let st = self.host_state(host);
        let mut st = st.lock().expect("host lock");
        Arc::make_mut(&mut st.vars).extend(vars);
    }

    /// Stores variables from `include_vars`.
    pub(crate) fn set_include_vars(&self, host: &str, vars: Vars) {
        let st = self.host_state(host);
        let mut st = st.lock().expect("host lock");
        Arc::make_mut(&mut st.include_vars).extend(vars);
    }
}

/// Drops `omit` markers nested in mappings.
fn strip_omitted(v: Json) -> Json {
    match v {
        Json::Object(m) => Json::Object(
            m.into_iter()
                .filter(|(_, v)| !v.as_str().is_some_and(crate::template::is_omit_str))
                .map(|(k, v)| (k, strip_omitted(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Renders the task's `environment:` mappings into `export` lines (inner mappings win).
fn environment_prefix(env: &[Value], templar: &Templar, scope: &Scope) -> Result<String, String> {
    let mut merged = Map::new();
    for e in env {
        let v = templar
            .render_value(e, scope)
            .map_err(|e| format!("environment: {e}"))?;
        match value_to_json(&v) {
            Json::Object(m) => merged.extend(m),
            Json::Null => {}
            _ => return Err("environment must be a mapping".into()),
        }
    }
    let mut prefix = String::new();
    for (k, v) in merged {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.is_empty() {
            return Err(format!("environment: '{k}' is not a valid variable name"));
        }
        let value = match v {
            Json::String(s) => s,
            other => other.to_string(),
        };
        prefix.push_str(&format!("export {k}={}\n", crate::core::quote(&value)));
    }
    Ok(prefix)
}

/// A transport that runs every command of one task with extra environment variables.
struct EnvTransport {
    inner: Arc<dyn Transport>,
    prefix: String,
}

#[async_trait::async_trait]
impl Transport for EnvTransport {
    async fn exec(
        &self,
        mut req: crate::core::ExecRequest,
    ) -> Result<crate::core::ExecOutput, crate::core::TransportError> {
        req.script = format!("{}{}", self.prefix, req.script);
        self.inner.exec(req).await
    }
    fn host(&self) -> &str {
        self.inner.host()
    }
}

fn module_failure(e: ModuleError) -> Outcome {
    match e {
        ModuleError::Failed { msg, result } => {
            let mut o = Outcome::failed(msg);
            o.result.extend(result);
            o
        }
        other => Outcome::failed(other.to_string()),
    }
}

fn display_item(v: &Value) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => serde_json::to_string(&value_to_json(v)).unwrap_or_else(|_| v.to_string()),
    }
}
