//! One host's walk through a play: facts, sections, blocks with rescue/always, dynamic
//! includes and handler flushes. Each task position is a path in the tree so that the linear
//! strategy can keep hosts in step.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::future::BoxFuture;
use minijinja::Value;

use crate::core::Vars;
use crate::playbook::{Block, Include, IncludeKind, TaskNode, role_block};
use crate::report::{Event, Status};

use super::inherit::Inherited;
use super::lockstep::Position;
use super::task::{Outcome, TaskKind};
use super::{Executor, PlayCtx};

/// How a walk over a task list ended for the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on.
    Continue,
    /// A task failed (a rescue may recover it).
    Failed,
    /// Stop this host for the rest of the play (unreachable, end_host, abort).
    Stop,
}

const SECTION_FACTS: u32 = 0;
const SECTION_PRE: u32 = 1;
const SECTION_MAIN: u32 = 3;
const SECTION_POST: u32 = 5;

impl Executor {
    /// Runs the whole play on one host.
    pub(crate) async fn run_host(self: &Arc<Self>, ctx: &Arc<PlayCtx>, host: &str) {
        {
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            st.played = true;
            st.roles_done.clear();
        }
        // Whatever happens to this host (even a panic), the others must not wait for it.
        let _leave = LeaveOnDrop { ctx, host };
        let recorded = self.load_pending(ctx, host).await;
        let flow = self.run_host_inner(ctx, host).await;
        let succeeded = flow == Flow::Continue && !self.host_failed(host);
        if !succeeded {
            let force = ctx.play.force_handlers || self.opts.force_handlers;
            if force && !self.host_unreachable(host) {
                let _ = self.flush_handlers(ctx, host, vec![9]).await;
            }
        }
        self.save_pending(ctx, host, recorded, succeeded).await;
        let st = self.host_state(host);
        st.lock().expect("host lock").ended = false;
    }

    fn host_failed(&self, host: &str) -> bool {
        let st = self.host_state(host);
        let st = st.lock().expect("host lock");
        st.failed || st.unreachable
    }

    fn host_unreachable(&self, host: &str) -> bool {
        let st = self.host_state(host);
        st.lock().expect("host lock").unreachable
    }

    async fn run_host_inner(self: &Arc<Self>, ctx: &Arc<PlayCtx>, host: &str) -> Flow {
        let base = Inherited::default().with(&ctx.play.common);
        match self.load_vars_files(ctx, host) {
            Ok(v) => {
                let st = self.host_state(host);
                st.lock().expect("host lock").vars_files = v;
            }
            Err(msg) => {
                let outcome = super::task::Outcome::failed(msg);
                self.record(
                    ctx,
                    host,
                    "vars_files",
                    &ctx.play.loc.to_string(),
                    false,
                    outcome,
                    None,
                    true,
                    None,
                );
                self.mark_failed(ctx, host, false);
                return Flow::Failed;
            }
        }
        if ctx.play.gather_facts {
            let flow = self
                .gather_facts(ctx, host, &base, vec![SECTION_FACTS])
                .await;
            if flow != Flow::Continue {
                return flow;
            }
        }
        let play = &ctx.play;
        let mut main: Vec<TaskNode> = play.roles.iter().map(role_block).collect();
        main.extend(play.tasks.iter().cloned());
        let sections: [(u32, &[TaskNode]); 3] = [
            (SECTION_PRE, &play.pre_tasks),
            (SECTION_MAIN, &main),
            (SECTION_POST, &play.post_tasks),
        ];
        for (section, nodes) in sections {
            let flow = self.run_list(ctx, host, nodes, &base, vec![section]).await;
            if flow != Flow::Continue {
                return flow;
            }
            let flow = self.flush_handlers(ctx, host, vec![section + 1]).await;
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    /// Runs a list of nodes; stops at the first failure.
    pub(crate) fn run_list<'a>(
        self: &'a Arc<Self>,
        ctx: &'a Arc<PlayCtx>,
        host: &'a str,
        nodes: &'a [TaskNode],
        inh: &'a Inherited,
        pos: Position,
    ) -> BoxFuture<'a, Flow> {
        Box::pin(async move {
            for (i, node) in nodes.iter().enumerate() {
                let mut p = pos.clone();
                p.push(i as u32);
                if self.should_stop(ctx, host) {
                    return Flow::Stop;
                }
                let flow = match node {
                    TaskNode::Task(t) if is_flush_handlers(t) => {
                        // Handlers run in the task's place (each with its own position, so
                        // the linear strategy keeps hosts in step); no result of its own.
                        let tinh = inh.with(&t.common);
                        if self.opts.tags.selects(&tinh.tags) {
                            self.flush_handlers(ctx, host, p).await
                        } else {
                            Flow::Continue
                        }
                    }
                    TaskNode::Task(t) => {
                        self.run_task(ctx, host, TaskKind::Task(t.clone()), inh, p, false)
                            .await
                    }
                    TaskNode::Block(b) => self.run_block(ctx, host, b, inh, p).await,
                    TaskNode::Include(inc) => self.run_include(ctx, host, inc, inh, p).await,
                };
                if flow != Flow::Continue {
                    return flow;
                }
            }
            Flow::Continue
        })
    }

    pub(crate) fn should_stop(&self, ctx: &PlayCtx, host: &str) -> bool {
        if self.is_interrupted() || ctx.abort.load(Ordering::SeqCst) {
            return true;
        }
        let st = self.host_state(host);
        let st = st.lock().expect("host lock");
        st.ended || st.unreachable
    }

    async fn run_block(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        block: &Block,
        inh: &Inherited,
        pos: Position,
    ) -> Flow {
        if let Some(key) = &block.role_once {
            let st = self.host_state(host);
            if !st.lock().expect("host lock").roles_done.insert(key.clone()) {
                // Ansible runs a role (or dependency) once per play unless its parameters differ.
                return Flow::Continue;
            }
        }
        let inner = match &block.role {
            Some(r) => {
                // Role parameters (and include_role vars) rank above set_fact and
                // registered variables: Ansible's "role and include params".
                let mut c = block.common.clone();
                let params = std::mem::take(&mut c.vars);
                let mut n = inh.with(&c);
                if !params.is_empty() {
                    n.include_params.push(Arc::new(params));
                }
                n.role = Some(r.clone());
                n
            }
            None => inh.with(&block.common),
        };
        let mut p = pos.clone();
        p.push(0);
        let mut flow = self.run_list(ctx, host, &block.block, &inner, p).await;
        if flow == Flow::Failed && !block.rescue.is_empty() {
            let failure = {
                let st = self.host_state(host);
                let mut st = st.lock().expect("host lock");
                st.failed = false;
                st.last_failure.clone()
            };
            let mut rescue_inh = inner.clone();
            if let Some((task, result)) = failure {
                let mut layer = crate::core::Vars::new();
                layer.insert(
                    "ansible_failed_task".into(),
                    super::map_value([("name".to_string(), Value::from(task))]),
                );
                layer.insert(
                    "ansible_failed_result".into(),
                    crate::template::json_to_value(&result),
                );
                rescue_inh.include_params.push(Arc::new(layer));
            }
            let mut p = pos.clone();
            p.push(1);
            flow = self
                .run_list(ctx, host, &block.rescue, &rescue_inh, p)
                .await;
            if flow == Flow::Continue {
                let st = self.host_state(host);
                let mut st = st.lock().expect("host lock");
                st.stats.rescued += 1;
                st.stats.failed = st.stats.failed.saturating_sub(1);
            }
        }
        if !block.always.is_empty() && !self.host_unreachable(host) && !self.is_interrupted() {
            let was_failed = self.host_failed(host);
            {
                // `always` runs even after a failure.
                let st = self.host_state(host);
                st.lock().expect("host lock").failed = false;
            }
            let mut p = pos.clone();
            p.push(2);
            let always = self.run_list(ctx, host, &block.always, &inner, p).await;
            if was_failed {
                let st = self.host_state(host);
                st.lock().expect("host lock").failed = true;
            }
            if always != Flow::Continue {
                return always;
            }
        }
        flow
    }

    async fn run_include(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        inc: &Include,
        inh: &Inherited,
        pos: Position,
    ) -> Flow {
        let mut tags = inh.tags.clone();
        tags.extend(inc.common.tags.iter().cloned());
        if !self.opts.tags.selects(&tags) {
            return Flow::Continue;
        }
        let inner_base = {
            // Include keywords other than `vars`, `when` and `tags` apply to the included
            // tasks (Ansible: `when` and `tags` only to the include itself; `apply:` passes
            // keywords on); its `vars` are include parameters.
            let mut c = inc.common.clone();
            let params = std::mem::take(&mut c.vars);
            c.when.clear();
            c.tags.clear();
            let mut n = inh.with(&c).with(&inc.apply);
            if !params.is_empty() {
                n.include_params.push(Arc::new(params));
            }
            n
        };
        // Evaluate the include's own `when` and loop on this host.
        let mut check = inh.clone();
        check.when.extend(inc.common.when.iter().cloned());
        let scope = self.scope_for(ctx, host, &inner_base, None, &[]);
        let items: Vec<Option<(Value, Vars)>> = match &inc.loop_ {
            None => vec![None],
            Some(l) => match self.loop_items(l, &scope) {
                Ok(items) => items.into_iter().map(Some).collect(),
                Err(msg) => {
                    return self.include_failed(ctx, host, inc, msg, pos).await;
                }
            },
        };
        for (i, item) in items.into_iter().enumerate() {
            let mut inner = inner_base.clone();
            if let Some((_, layer)) = &item {
                inner.include_params.push(Arc::new(layer.clone()));
            }
            let item_scope = self.scope_for(ctx, host, &inner, None, &[]);
            match self.eval_conditions(&check.when, &item_scope) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(msg) => return self.include_failed(ctx, host, inc, msg, pos).await,
            }
            let mut p = pos.clone();
            p.push(i as u32);
            let flow = match &inc.kind {
                IncludeKind::Tasks {
                    file,
                    base_dir,
                    preloaded,
                    role,
                } => {
                    let tasks = match preloaded {
                        Some(t) => t.clone(),
                        None => {
                            let name = match self.templar.render_str(file, &item_scope) {
                                Ok(v) => v.to_string(),
                                Err(e) => {
                                    let msg = format!("include_tasks file name: {e}");
                                    return self.include_failed(ctx, host, inc, msg, pos).await;
                                }
                            };
                            let mut candidates = vec![base_dir.join(&name)];
                            if let Some(r) = role {
                                candidates.push(r.path.join("tasks").join(&name));
                            }
                            candidates.push(self.playbook_dir.join(&name));
                            let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
                                let msg = format!("include_tasks: file '{name}' not found");
                                return self.include_failed(ctx, host, inc, msg, pos).await;
                            };
                            let role_ctx = role.clone();
                            match self.loader.task_file(
                                &path,
                                role_ctx.as_ref(),
                                false,
                                Some(&inc.loc),
                            ) {
                                Ok(t) => t,
                                Err(e) => {
                                    return self
                                        .include_failed(ctx, host, inc, e.to_string(), pos)
                                        .await;
                                }
                            }
                        }
                    };
                    self.run_list(ctx, host, &tasks, &inner, p).await
                }
                IncludeKind::Role(use_) => {
                    let node = role_block(use_);
                    self.run_list(ctx, host, std::slice::from_ref(&node), &inner, p)
                        .await
                }
            };
            if flow != Flow::Continue {
                return flow;
            }
        }
        Flow::Continue
    }

    async fn include_failed(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        inc: &Include,
        msg: String,
        pos: Position,
    ) -> Flow {
        let name = inc.name.clone().unwrap_or_else(|| "include".into());
        if let Some(ls) = &ctx.lockstep
            && ls.arrive(host, &pos).await
        {
            self.events.emit(Event::TaskStart {
                name: name.clone(),
                loc: inc.loc.to_string(),
                handler: false,
            });
        }
        let outcome = Outcome::failed(format!("{}: {msg}", inc.loc));
        self.record(
            ctx,
            host,
            &name,
            &inc.loc.to_string(),
            false,
            outcome,
            None,
            false,
            None,
        );
        self.mark_failed(ctx, host, false);
        Flow::Failed
    }

    /// Runs the handlers notified on this host, in definition order. Handlers inherit only
    /// the play's keywords (and their role's), not those of the task that flushed them.
    pub(crate) fn flush_handlers<'a>(
        self: &'a Arc<Self>,
        ctx: &'a Arc<PlayCtx>,
        host: &'a str,
        pos: Position,
    ) -> BoxFuture<'a, Flow> {
        Box::pin(async move {
            let inh = Inherited::default().with(&ctx.play.common);
            let mut round = 0u32;
            loop {
                if self.host_unreachable(host) {
                    return Flow::Continue;
                }
                // Every handler answering a pending name runs (several may listen to one
                // topic); names notified while they run are handled in the next round.
                let pending = {
                    let st = self.host_state(host);
                    let mut st = st.lock().expect("host lock");
                    std::mem::take(&mut st.pending_handlers)
                };
                if pending.is_empty() {
                    return Flow::Continue;
                }
                let mut handled: Vec<String> = Vec::new();
                for (i, h) in ctx.handlers.iter().enumerate() {
                    let names = handler_names(&h.task);
                    if !pending.iter().any(|n| names.contains(n)) {
                        continue;
                    }
                    let mut p = pos.clone();
                    p.push(round);
                    p.push(i as u32);
                    let mut hinh = inh.clone();
                    if let Some(role) = &h.role {
                        hinh.role = Some(role.clone());
                    }
                    if let Some(params) = &h.params {
                        hinh.include_params.push(params.clone());
                    }
                    let flow = self
                        .run_task(ctx, host, TaskKind::Task(h.task.clone()), &hinh, p, true)
                        .await;
                    if flow != Flow::Continue || self.host_failed(host) {
                        // What this round did not handle stays pending (and is recorded on
                        // the host for the next run).
                        let st = self.host_state(host);
                        let mut st = st.lock().expect("host lock");
                        for n in pending.iter().filter(|n| !handled.contains(n)) {
                            if !st.unhandled_handlers.contains(n) {
                                st.unhandled_handlers.push(n.clone());
                            }
                        }
                        return if flow == Flow::Continue {
                            Flow::Failed
                        } else {
                            flow
                        };
                    }
                    handled.extend(names);
                }
                round += 1;
                if round > MAX_HANDLER_ROUNDS {
                    self.events.emit(Event::Warning {
                        host: Some(host.to_string()),
                        message: "handlers keep notifying each other: stopped".into(),
                    });
                    return Flow::Continue;
                }
            }
        })
    }

    async fn gather_facts(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        inh: &Inherited,
        pos: Position,
    ) -> Flow {
        self.run_task(ctx, host, TaskKind::Facts, inh, pos, false)
            .await
    }

    /// Marks the host failed and applies the play's failure policy.
    pub(crate) fn mark_failed(&self, ctx: &PlayCtx, host: &str, any_errors_fatal: bool) {
        {
            let st = self.host_state(host);
            st.lock().expect("host lock").failed = true;
        }
        let mut stop = any_errors_fatal || ctx.play.any_errors_fatal;
        if let Some(pct) = ctx.play.max_fail_percentage {
            let failed = ctx.batch.iter().filter(|h| self.host_failed(h)).count();
            stop |= (failed as f64) * 100.0 / (ctx.batch.len() as f64) > pct;
        }
        if stop {
            ctx.abort_failed.store(true, Ordering::SeqCst);
            ctx.abort.store(true, Ordering::SeqCst);
        }
    }

    /// Emits a result and updates the host's totals.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        _ctx: &PlayCtx,
        host: &str,
        task_name: &str,
        task_loc: &str,
        handler: bool,
        outcome: Outcome,
        item: Option<String>,
        count: bool,
        duration: Option<std::time::Duration>,
    ) {
        if count {
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            match outcome.status {
                Status::Ok => st.stats.ok += 1,
                Status::Changed => {
                    st.stats.ok += 1;
                    st.stats.changed += 1;
                }
                Status::Skipped => st.stats.skipped += 1,
                Status::Failed => st.stats.failed += 1,
                Status::Unreachable => st.stats.unreachable = 1,
                Status::Ignored => {
                    st.stats.ok += 1;
                    st.stats.ignored += 1;
                }
            }
        }
        self.events
            .emit(Event::HostResult(Box::new(crate::report::HostResult {
                host: host.to_string(),
                task: task_name.to_string(),
                task_loc: task_loc.to_string(),
                status: outcome.status,
                item: item.clone(),
                msg: outcome.msg,
                diffs: outcome.diffs,
                assumed: outcome.assumed,
                handler,
                looped: item.is_none() && outcome.result.contains_key("results"),
                result: serde_json::Value::Object(outcome.result),
                duration_ms: duration.map(|d| d.as_millis() as u64).unwrap_or(0),
            })));
    }
}

/// Removes a host from the lockstep when its walk ends, however it ends.
struct LeaveOnDrop<'a> {
    ctx: &'a PlayCtx,
    host: &'a str,
}

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(ls) = &self.ctx.lockstep {
            ls.leave(self.host);
        }
    }
}

/// How often handlers notified by handlers are run again within one flush.
const MAX_HANDLER_ROUNDS: u32 = 32;

/// `meta: flush_handlers` (without a loop, which Ansible does not allow either).
fn is_flush_handlers(t: &crate::playbook::Task) -> bool {
    t.module == "meta"
        && t.loop_.is_none()
        && t.args
            .iter()
            .any(|(k, v)| k == "_raw_params" && v.as_str().map(str::trim) == Some("flush_handlers"))
}

/// The names a handler answers to: its name, `role : name`, and its `listen` topics.
fn handler_names(h: &crate::playbook::Task) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(n) = &h.name {
        names.push(n.clone());
        if let Some(r) = &h.role {
            names.push(format!("{} : {}", r.name, n));
        }
    }
    names.extend(h.listen.iter().cloned());
    names
}
