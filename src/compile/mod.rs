//! Whole-playbook checks before any connection opens (modules exist, arguments are known,
//! handlers exist), and the static views of a playbook: `--list-tasks` and `--list-tags`.

use std::collections::BTreeSet;

use crate::core::{Location, ModuleSpec};
use crate::executor::{ACTION_SPECS, TagFilter};
use crate::playbook::{IncludeKind, Play, Playbook, Task, TaskNode, role_block, suggest};

/// A problem found while validating a playbook.
#[derive(Debug, thiserror::Error)]
#[error("{loc}: {message}")]
pub struct ValidationError {
    /// Where.
    pub loc: Location,
    /// What.
    pub message: String,
}

/// The spec of a module or controller action by canonical name.
pub fn module_spec(name: &str) -> Option<&'static ModuleSpec> {
    if let Some(m) = crate::modules::find(name) {
        return Some(m.spec());
    }
    ACTION_SPECS.iter().find(|s| s.name == name)
}

/// Every known module and action name, for suggestions and `shipshape doc --list`.
pub fn all_module_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = crate::modules::all().map(|m| m.spec().name).collect();
    names.extend(ACTION_SPECS.iter().map(|s| s.name));
    names.sort_unstable();
    names
}

/// Visits every task of a play (roles expanded, includes' preloaded files too).
fn visit_play(play: &Play, f: &mut dyn FnMut(&Task, &[String], bool)) {
    fn walk(
        nodes: &[TaskNode],
        tags: &[String],
        handler: bool,
        f: &mut dyn FnMut(&Task, &[String], bool),
    ) {
        for n in nodes {
            match n {
                TaskNode::Task(t) => {
                    let mut all = tags.to_vec();
                    all.extend(t.common.tags.iter().cloned());
                    f(t, &all, handler);
                }
                TaskNode::Block(b) => {
                    let mut all = tags.to_vec();
                    all.extend(b.common.tags.iter().cloned());
                    walk(&b.block, &all, handler, f);
                    walk(&b.rescue, &all, handler, f);
                    walk(&b.always, &all, handler, f);
                }
                TaskNode::Include(inc) => {
                    // The include's own tags select the include, not the tasks it brings
                    // (those get only `apply:` tags), as when running.
                    let mut all = tags.to_vec();
                    all.extend(inc.apply.tags.iter().cloned());
                    match &inc.kind {
                        IncludeKind::Tasks {
                            preloaded: Some(tasks),
                            ..
                        } => walk(tasks, &all, handler, f),
                        IncludeKind::Tasks {
                            preloaded: None, ..
                        } => {}
                        IncludeKind::Role(u) => {
                            walk(std::slice::from_ref(&role_block(u)), &all, handler, f)
                        }
                    }
                }
            }
        }
    }
    let tags = play.common.tags.clone();
    walk(&play.pre_tasks, &tags, false, f);
    let roles: Vec<TaskNode> = play.roles.iter().map(role_block).collect();
    walk(&roles, &tags, false, f);
    walk(&play.tasks, &tags, false, f);
    walk(&play.post_tasks, &tags, false, f);
    walk(&play.handlers, &tags, true, f);
}

/// Checks every task of the playbook; returns all problems found.
pub fn validate(playbook: &Playbook) -> Result<(), Vec<ValidationError>> {
    let mut errors = Vec::new();
    let names = all_module_names();
    for play in &playbook.plays {
        let mut handler_names: BTreeSet<String> = BTreeSet::new();
        visit_play(play, &mut |t, _, handler| {
            if handler {
                if let Some(n) = &t.name {
                    handler_names.insert(n.clone());
                    if let Some(r) = &t.role {
                        handler_names.insert(format!("{} : {}", r.name, n));
                    }
                }
                handler_names.extend(t.listen.iter().cloned());
            }
        });
        visit_play(play, &mut |t, _, _| {
            let Some(spec) = module_spec(&t.module) else {
                let hint = suggest(&t.module, names.iter().copied())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                errors.push(ValidationError {
                    loc: t.module_loc.clone(),
                    message: format!(
                        "unknown module '{}'{hint}; run `shipshape doc --list` for the supported modules",
                        t.module
                    ),
                });
                return;
            };
            let arg_names: Vec<&str> = t
                .args
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !k.starts_with("__"))
                .collect();
            let has_template_args = t.args.iter().any(|(k, _)| k == "__args_template");
            if spec.name == "set_fact" {
                return;
            }
            if let Err(msg) = check_args(spec, &arg_names, has_template_args) {
                let prefix = format!("{}: ", spec.name);
                errors.push(ValidationError {
                    loc: t.module_loc.clone(),
                    message: if msg.starts_with(&prefix) {
                        msg
                    } else {
                        format!("{prefix}{msg}")
                    },
                });
            }
            for n in &t.notify {
                if !n.contains("{{") && !handler_names.contains(n) {
                    errors.push(ValidationError {
                        loc: t.loc.clone(),
                        message: format!(
                            "notify: no handler named or listening to '{n}' in this play"
                        ),
                    });
                }
            }
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn check_args(spec: &ModuleSpec, names: &[&str], has_template_args: bool) -> Result<(), String> {
    if crate::modules::find(spec.name).is_some() {
        return if has_template_args {
            // Unknown until rendered; the module checks at run time.
            Ok(())
        } else {
            crate::modules::check_arg_names(spec, names)
        };
    }
    for n in names {
        if *n == "_raw_params" && spec.free_form {
            continue;
        }
        if spec.param(n).is_none() {
            let hint = suggest(n, spec.params.iter().map(|p| p.name))
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            if *n == "_raw_params" {
                return Err("this action takes key=value arguments, not free-form text".into());
            }
            return Err(format!("unsupported parameter '{n}'{hint}"));
        }
    }
    for p in spec.params.iter().filter(|p| p.required) {
        if !has_template_args && !names.iter().any(|n| *n == p.name || p.aliases.contains(n)) {
            return Err(format!("missing required parameter '{}'", p.name));
        }
    }
    Ok(())
}

/// One line per play and task, as `ansible-playbook --list-tasks` prints them.
pub fn list_tasks(playbook: &Playbook, filter: &TagFilter) -> String {
    let mut out = format!("\nplaybook: {}\n", playbook.path.display());
    for (n, play) in playbook.plays.iter().enumerate() {
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n    tasks:\n",
            n + 1,
            play.hosts,
            play.name,
            play.common.tags.join(", ")
        ));
        visit_play(play, &mut |t, tags, handler| {
            if handler || !filter.selects(tags) {
                return;
            }
            let tags: BTreeSet<&String> = tags.iter().collect();
            let tags: Vec<&str> = tags.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "      {}\tTAGS: [{}]\n",
                t.display_name(),
                tags.join(", ")
            ));
        });
    }
    out
}

/// The tags used in each play, as `--list-tags` prints them.
pub fn list_tags(playbook: &Playbook) -> String {
    let mut out = format!("\nplaybook: {}\n", playbook.path.display());
    for (n, play) in playbook.plays.iter().enumerate() {
        let mut all: BTreeSet<String> = BTreeSet::new();
        visit_play(play, &mut |_, tags, _| all.extend(tags.iter().cloned()));
        let list: Vec<String> = all.into_iter().collect();
        out.push_str(&format!(
            "\n  play #{} ({}): {}\tTAGS: [{}]\n      TASK TAGS: [{}]\n",
            n + 1,
            play.hosts,
            play.name,
            play.common.tags.join(", "),
            list.join(", ")
        ));
    }
    out
}
