//! Runs plays: one tokio task per host walking the play's task tree, a fork semaphore, the
//! linear strategy's lockstep (or free), serial batches, handlers and the failure policy.
//! Everything it does is reported as [`Event`]s.

mod actions;
mod connect;
mod facts;
mod host;
mod hostvars;
mod inherit;
mod lockstep;
mod loops;
mod options;
mod pending;
mod state;
mod tags;
mod task;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use minijinja::Value;

use crate::core::Vars;
use crate::inventory::Inventory;
use crate::playbook::{Loader, Play, Playbook, Role, Serial, Strategy, TaskNode};
use crate::report::{Event, HostStats, Reporter};
use crate::template::Templar;

pub use actions::ACTION_SPECS;
pub use facts::{FACTS_SCRIPT, parse_facts};
pub use options::{RunOptions, Shard};
pub use tags::TagFilter;

use connect::Connections;
use lockstep::Lockstep;
use state::HostState;

/// The outcome of a whole run.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Totals per host, in the order hosts were first seen.
    pub stats: Vec<(String, HostStats)>,
    /// Whether Ctrl-C / SIGTERM stopped the run.
    pub interrupted: bool,
}

impl RunSummary {
    /// Whether any host changed (or would change, in check mode).
    pub fn changed(&self) -> bool {
        self.stats.iter().any(|(_, s)| s.changed > 0)
    }
}

/// Sends events to the reporter from any host task.
#[derive(Clone)]
pub struct EventSink(Arc<Mutex<Box<dyn Reporter>>>);

impl EventSink {
    /// Wraps a reporter.
    pub fn new(r: Box<dyn Reporter>) -> Self {
        EventSink(Arc::new(Mutex::new(r)))
    }
    /// Emits one event, with every vault secret and password redacted: the one place all
    /// output passes through.
    pub fn emit(&self, mut e: Event) {
        if crate::vault::has_secrets() {
            redact_event(&mut e);
        }
        if let Ok(mut r) = self.0.lock() {
            r.event(&e);
        }
    }
    /// Flushes the reporter.
    pub fn finish(&self) {
        if let Ok(mut r) = self.0.lock() {
            r.finish();
        }
    }
}

fn redact_event(e: &mut Event) {
    use crate::vault::{redact, redact_json};
    match e {
        Event::HostResult(r) => {
            if let Some(m) = &mut r.msg {
                *m = redact(m);
            }
            if let Some(i) = &mut r.item {
                *i = redact(i);
            }
            for d in &mut r.diffs {
                d.before = redact(&d.before);
                d.after = redact(&d.after);
            }
            redact_json(&mut r.result);
        }
        Event::Warning { message, .. } => *message = redact(message),
        _ => {}
    }
}

/// The state shared by every host task of a run.
pub struct Executor {
    inventory: Arc<Inventory>,
    templar: Templar,
    opts: RunOptions,
    events: EventSink,
    loader: Arc<Loader>,
    hosts: Mutex<indexmap::IndexMap<String, Arc<Mutex<HostState>>>>,
    conns: Connections,
    interrupted: Arc<AtomicBool>,
    playbook_dir: PathBuf,
    groups: std::sync::OnceLock<Value>,
    me: std::sync::Weak<Executor>,
}

/// Per-play data shared by the hosts of a batch.
pub(crate) struct PlayCtx {
    pub play: Play,
    pub play_vars: Arc<Vars>,
    pub role_defaults: Arc<Vars>,
    pub role_vars: Arc<Vars>,
    pub play_hosts: Vec<String>,
    pub batch: Vec<String>,
    pub lockstep: Option<Lockstep>,
    pub forks: tokio::sync::Semaphore,
    pub abort: AtomicBool,
    /// The abort came from the failure policy (`any_errors_fatal`, `max_fail_percentage`):
    /// every host of the batch counts as failed for the rest of the run, as in Ansible.
    pub abort_failed: AtomicBool,
    pub handlers: Vec<Handler>,
    pub run_once: Mutex<HashMap<Vec<u32>, task::RunOnce>>,
    /// Variable layers every host and task of the batch shares, built on first use.
    pub batch_layers: std::sync::OnceLock<task::BatchLayers>,
    /// `throttle:` limits, one semaphore per task position.
    pub throttles: Mutex<HashMap<Vec<u32>, Arc<tokio::sync::Semaphore>>>,
}

impl Executor {
    /// An executor for one run. `interrupted` is set by the signal handler.
    pub fn new(
        inventory: Arc<Inventory>,
        opts: RunOptions,
        events: EventSink,
        loader: Arc<Loader>,
        playbook_dir: PathBuf,
        interrupted: Arc<AtomicBool>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| Executor {
            groups: std::sync::OnceLock::new(),
            me: me.clone(),
            inventory,
            templar: Templar::new(),
            opts,
            events,
            loader,
            hosts: Mutex::new(indexmap::IndexMap::new()),
            conns: Connections::default(),
            interrupted,
            playbook_dir,
        })
    }

    fn host_state(&self, name: &str) -> Arc<Mutex<HostState>> {
        let mut hosts = self.hosts.lock().expect("hosts lock");
        hosts
            .entry(name.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(HostState::new(Arc::new(
                    self.inventory.host_vars(name),
                ))))
            })
            .clone()
    }

    pub(crate) fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, cut short by Ctrl-C/SIGTERM; false when interrupted.
    pub(crate) async fn sleep(&self, d: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            if self.is_interrupted() {
                return false;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return true;
            }
            let step = (deadline - now).min(std::time::Duration::from_millis(100));
            tokio::time::sleep(step).await;
        }
    }

    /// Runs every play of `playbook` and returns the totals.
    pub async fn run(self: &Arc<Self>, playbook: &Playbook) -> RunSummary {
        let started = Instant::now();
        self.events.emit(Event::PlaybookStart {
            playbook: playbook.path.display().to_string(),
            check: self.opts.check,
        });
        for play in &playbook.plays {
            if self.is_interrupted() {
                break;
            }
            if let Err(message) = self.run_play(play).await {
                self.events.emit(Event::Warning {
                    host: None,
                    message,
                });
                break;
            }
        }
        self.conns.close_all().await;
        let stats: Vec<(String, HostStats)> = self
            .hosts
            .lock()
            .expect("hosts lock")
            .iter()
            .filter_map(|(h, s)| {
                let s = s.lock().expect("host lock");
                s.played.then(|| (h.clone(), s.stats.clone()))
            })
            .collect();
        let interrupted = self.is_interrupted();
        self.events.emit(Event::Recap {
            hosts: stats.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            interrupted,
        });
        self.events.finish();
        RunSummary { stats, interrupted }
    }

    /// Selects a play's hosts: pattern, then `--limit`, minus hosts that failed earlier.
    pub fn select_hosts(&self, pattern: &str) -> Result<Vec<String>, String> {
        let scope = crate::template::Scope::new(vec![Arc::new(self.opts.extra_vars.clone())]);
        let pattern = self
            .templar
            .render_str(pattern, &scope)
            .map_err(|e| format!("hosts pattern '{pattern}': {e}"))?;
        let pattern = pattern.as_str().map(str::to_string).unwrap_or_else(|| {
            pattern
                .try_iter()
                .map(|it| it.map(|v| v.to_string()).collect::<Vec<_>>().join(":"))
                .unwrap_or_else(|_| pattern.to_string())
        });
        let mut hosts = self
            .inventory
            .select(&pattern)
            .map_err(|e| format!("hosts pattern '{pattern}': {e}"))?;
        if let Some(limit) = &self.opts.limit {
            hosts = self
                .inventory
                .limit(hosts, limit)
                .map_err(|e| format!("--limit '{limit}': {e}"))?;
        }
        if let Some(shard) = &self.opts.shard {
            // Split over the whole (limited) inventory, not this play's hosts, so a host
            // belongs to the same shard in every play.
            let mut all = self
                .inventory
                .select("all")
                .map_err(|e| format!("--shard: {e}"))?;
            if let Some(limit) = &self.opts.limit {
                all = self
                    .inventory
                    .limit(all, limit)
                    .map_err(|e| format!("--limit '{limit}': {e}"))?;
            }
            let mine = shard.pick(all);
            hosts.retain(|h| mine.contains(h));
        }
        Ok(hosts)
    }

    async fn run_play(self: &Arc<Self>, play: &Play) -> Result<(), String> {
        let selected = self.select_hosts(&play.hosts)?;
        let mut hosts: Vec<String> = selected
            .into_iter()
            .filter(|h| {
                let st = self.host_state(h);
                let st = st.lock().expect("host lock");
                !st.unreachable && !st.failed
            })
            .collect();
        play.order.apply(&mut hosts);
        self.events.emit(Event::PlayStart {
            name: play.name.clone(),
            hosts: hosts.clone(),
        });
        if hosts.is_empty() {
            return Ok(());
        }
        let (role_defaults, role_vars) = collect_role_vars(play);
        let handlers = flatten_handlers(&play.handlers);
        let mut remaining = hosts.clone();
        let mut serial = play.serial.iter();
        let mut last = Serial::Count(hosts.len());
        while !remaining.is_empty() {
            if self.is_interrupted() {
                break;
            }
            let size = match serial.next() {
                Some(s) => {
                    last = s.clone();
                    s.clone()
                }
                None => last.clone(),
            };
            let n = match size {
                Serial::Count(n) => n,
                Serial::Percent(p) => ((hosts.len() as f64) * p / 100.0).floor() as usize,
            }
            .max(1)
            .min(remaining.len());
            let batch: Vec<String> = remaining.drain(..n).collect();
            let ctx = Arc::new(PlayCtx {
                play: play.clone(),
                play_vars: Arc::new(play.vars.clone()),
                role_defaults: role_defaults.clone(),
                role_vars: role_vars.clone(),
                play_hosts: hosts.clone(),
                lockstep: (play.strategy == Strategy::Linear).then(|| Lockstep::new(&batch)),
                batch: batch.clone(),
                forks: tokio::sync::Semaphore::new(self.opts.forks.max(1)),
                throttles: Mutex::new(HashMap::new()),
                abort: AtomicBool::new(false),
                abort_failed: AtomicBool::new(false),
                handlers: handlers.clone(),
                run_once: Mutex::new(HashMap::new()),
                batch_layers: std::sync::OnceLock::new(),
            });
            let mut joins = tokio::task::JoinSet::new();
            for h in &batch {
                let exec = self.clone();
                let ctx = ctx.clone();
                let h = h.clone();
                joins.spawn(async move { exec.run_host(&ctx, &h).await });
            }
            while let Some(r) = joins.join_next().await {
                if let Err(e) = r {
                    self.events.emit(Event::Warning {
                        host: None,
                        message: format!("internal error in a host task: {e}"),
                    });
                }
            }
            if ctx.abort_failed.load(Ordering::SeqCst) {
                for h in &batch {
                    let st = self.host_state(h);
                    st.lock().expect("host lock").failed = true;
                }
            }
            let all_failed = batch.iter().all(|h| {
                let st = self.host_state(h);
                let st = st.lock().expect("host lock");
                st.failed || st.unreachable
            });
            if ctx.abort.load(Ordering::SeqCst) || all_failed {
                break;
            }
        }
        Ok(())
    }
}

/// Every role applied in a play, depth first, dependencies before dependants.
fn play_roles(play: &Play) -> Vec<Arc<Role>> {
    fn walk(nodes: &[TaskNode], out: &mut Vec<Arc<Role>>) {
        for n in nodes {
            match n {
                TaskNode::Block(b) => {
                    if let Some(r) = &b.role {
                        for dep in &r.dependencies {
                            walk_use(dep, out);
                        }
                        push_role(r, out);
                    }
                    walk(&b.block, out);
                    walk(&b.rescue, out);
                    walk(&b.always, out);
                }
                TaskNode::Include(inc) => {
                    if let crate::playbook::IncludeKind::Role(u) = &inc.kind {
                        walk_use(u, out);
                    }
                }
                TaskNode::Task(_) => {}
            }
        }
    }
    fn push_role(r: &Arc<Role>, out: &mut Vec<Arc<Role>>) {
        if !out.iter().any(|x| x.path == r.path) {
            out.push(r.clone());
        }
    }
    fn walk_use(u: &crate::playbook::RoleUse, out: &mut Vec<Arc<Role>>) {
        for dep in &u.role.dependencies {
            walk_use(dep, out);
        }
        push_role(&u.role, out);
        walk(&u.role.tasks, out);
    }
    let mut out = Vec::new();
    walk(&play.pre_tasks, &mut out);
    for u in &play.roles {
        walk_use(u, &mut out);
    }
    walk(&play.tasks, &mut out);
    walk(&play.post_tasks, &mut out);
    out
}

/// Role defaults and role vars of every role of the play, merged in order (Ansible exposes
/// them play-wide; the task's own role is layered on top again in `task.rs`).
fn collect_role_vars(play: &Play) -> (Arc<Vars>, Arc<Vars>) {
    let mut defaults = Vars::new();
    let mut vars = Vars::new();
    for r in play_roles(play) {
        defaults.extend(r.defaults.iter().map(|(k, v)| (k.clone(), v.clone())));
        vars.extend(r.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    (Arc::new(defaults), Arc::new(vars))
}

/// A handler with the role (and role parameters) it was defined in.
#[derive(Clone)]
pub(crate) struct Handler {
    pub task: Arc<crate::playbook::Task>,
    pub role: Option<Arc<Role>>,
    pub params: Option<Arc<Vars>>,
}

/// Handlers as a flat list, in definition order.
fn flatten_handlers(nodes: &[TaskNode]) -> Vec<Handler> {
    fn walk(nodes: &[TaskNode], role: Option<(&Arc<Role>, &Vars)>, out: &mut Vec<Handler>) {
        for n in nodes {
            match n {
                TaskNode::Task(t) => out.push(Handler {
                    task: t.clone(),
                    role: role.map(|(r, _)| r.clone()),
                    params: role
                        .filter(|(_, p)| !p.is_empty())
                        .map(|(_, p)| Arc::new(p.clone())),
                }),
                TaskNode::Block(b) => {
                    let role = match &b.role {
                        Some(r) => Some((r, &b.common.vars)),
                        None => role,
                    };
                    walk(&b.block, role, out);
                    walk(&b.rescue, role, out);
                    walk(&b.always, role, out);
                }
                TaskNode::Include(_) => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(nodes, None, &mut out);
    out
}

/// A map value from `(key, value)` pairs.
pub(crate) fn map_value<I: IntoIterator<Item = (String, Value)>>(items: I) -> Value {
    Value::from(
        items
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect::<indexmap::IndexMap<Value, Value>>(),
    )
}
