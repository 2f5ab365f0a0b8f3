//! Handlers that survive failures. When a host fails after a task notified handlers that did
//! not run, their names are recorded on the host itself (`pending-handlers` in the host's
//! `shipshape_state_dir`, default `~/.shipshape` of the connecting user, one `HOST#PLAYBOOK#PLAY<TAB>HANDLER` line each), and the next run of the same play
//! on that host runs them at its first handler flush, then clears them. Ansible loses them.
//! Kept on the host, not the controller, so that any controller (a fresh CI runner) sees them.

use std::sync::Arc;

use super::inherit::Inherited;
use super::{Executor, PlayCtx};
use crate::core::{ExecRequest, Transport};
use crate::playbook::Play;
use crate::report::Event;

/// The state directory when the host does not set `shipshape_state_dir`.
const DEFAULT_DIR: &str = "~/.shipshape";

/// A shell word for the state directory (`~/` becomes `"$HOME"/`).
fn dir_word(dir: &str) -> String {
    match dir.strip_prefix("~/") {
        Some(rest) => format!("\"$HOME\"/{}", crate::core::quote(rest)),
        None => crate::core::quote(dir),
    }
}

/// Reads the state file (empty when absent).
fn read_script(dir: &str) -> String {
    format!("cat {}/pending-handlers 2>/dev/null || true", dir_word(dir))
}

/// Replaces the state file with stdin (atomically, mode 0600), or removes it when stdin is
/// empty.
fn write_script(dir: &str) -> String {
    format!(
        "set -e; d={}; mkdir -p \"$d\"; chmod 700 \"$d\"; \
         tmp=$(mktemp \"$d/pending.XXXXXX\"); trap 'rm -f \"$tmp\"' EXIT; cat >\"$tmp\"; \
         if [ -s \"$tmp\" ]; then mv -f \"$tmp\" \"$d/pending-handlers\"; \
         else rm -f \"$tmp\" \"$d/pending-handlers\"; rmdir \"$d\" 2>/dev/null || true; fi",
        dir_word(dir)
    )
}

/// What identifies a play on a host across runs and checkouts: the inventory name (homes may
/// be shared between hosts), the play's file name and its name.
pub(crate) fn play_key(play: &Play, host: &str) -> String {
    let file = play
        .loc
        .file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    clean(&format!("{host}#{file}#{}", play.name))
}

/// Keeps one entry on one line: tabs and newlines become spaces.
fn clean(s: &str) -> String {
    s.replace(['\t', '\n', '\r'], " ")
}

/// The handler names recorded for `key` in the state file `text`.
pub(crate) fn entries_for(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(k, _)| *k == key)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// `text` with the entries of `key` replaced by `names` (entries of other plays are kept).
pub(crate) fn replace_entries(text: &str, key: &str, names: &[String]) -> String {
    let mut out: String = text
        .lines()
        .filter(|l| l.split_once('\t').is_some_and(|(k, _)| k != key))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut seen = Vec::new();
    for n in names {
        let n = clean(n);
        if !seen.contains(&n) {
            out.push_str(&format!("{key}\t{n}\n"));
            seen.push(n);
        }
    }
    out
}

/// What [`Executor::load_pending`] found on the host.
pub(crate) struct Recorded {
    /// The whole state file as read.
    text: String,
    /// Whether it held entries for this play.
    had_entries: bool,
    /// The state directory of the host.
    dir: String,
    /// The host's connection, used again to write the file back.
    transport: Arc<dyn Transport>,
}

impl Executor {
    /// Reads handlers left pending on `host` by an earlier failed run of this play and notifies
    /// them again. `None` when the play has no handlers or the host cannot be asked (the first
    /// task then reports why).
    pub(crate) async fn load_pending(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
    ) -> Option<Recorded> {
        if ctx.handlers.is_empty() {
            return None;
        }
        let inh = Inherited::default().with(&ctx.play.common);
        let scope = self.scope_for(ctx, host, &inh, None, &[]);
        let dir = self
            .conn_var(&scope, &["shipshape_state_dir"])
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_DIR.to_string());
        let transport = self.transport_for(host, &inh, &scope).await.ok()?;
        let out = transport
            .exec(ExecRequest::new(read_script(&dir)))
            .await
            .ok()?;
        let text = out.stdout_str();
        let names = entries_for(&text, &play_key(&ctx.play, host));
        if !names.is_empty() {
            self.events.emit(Event::Warning {
                host: Some(host.to_string()),
                message: format!(
                    "handlers left pending by an earlier failed run will run: {} (recorded in {dir}/pending-handlers)",
                    names.join(", ")
                ),
            });
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            for n in &names {
                if !st.pending_handlers.contains(n) {
                    st.pending_handlers.push(n.clone());
                }
            }
        }
        Some(Recorded {
            transport,
            had_entries: !names.is_empty(),
            text,
            dir,
        })
    }

    /// After the play on `host`: records the handlers still pending (the host failed before
    /// they ran), or clears the entries that this run has now handled. Check mode records
    /// nothing.
    pub(crate) async fn save_pending(
        self: &Arc<Self>,
        ctx: &Arc<PlayCtx>,
        host: &str,
        recorded: Option<Recorded>,
        succeeded: bool,
    ) {
        let Some(recorded) = recorded else { return };
        if self.opts.check {
            return;
        }
        let (still, unreachable) = {
            let st = self.host_state(host);
            let mut st = st.lock().expect("host lock");
            let mut still = std::mem::take(&mut st.unhandled_handlers);
            for n in std::mem::take(&mut st.pending_handlers) {
                if !still.contains(&n) {
                    still.push(n);
                }
            }
            (still, st.unreachable)
        };
        let names = if succeeded { Vec::new() } else { still };
        if names.is_empty() && !recorded.had_entries {
            return;
        }
        if unreachable {
            if !names.is_empty() {
                self.events.emit(Event::Warning {
                    host: Some(host.to_string()),
                    message: format!(
                        "handlers notified but not run, and the host is unreachable so they could not be recorded for the next run: {}",
                        names.join(", ")
                    ),
                });
            }
            return;
        }
        let text = replace_entries(&recorded.text, &play_key(&ctx.play, host), &names);
        let saved = recorded
            .transport
            .exec(ExecRequest::new(write_script(&recorded.dir)).stdin(text.into_bytes()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|o| {
                if o.status == 0 {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            });
        match saved {
            Ok(()) if !names.is_empty() => self.events.emit(Event::Warning {
                host: Some(host.to_string()),
                message: format!(
                    "handlers notified but not run were recorded in {}/pending-handlers and will run on the next run: {}",
                    recorded.dir,
                    names.join(", ")
                ),
            }),
            Ok(()) => {}
            Err(e) => self.events.emit(Event::Warning {
                host: Some(host.to_string()),
                message: format!(
                    "cannot record pending handlers in {}/pending-handlers: {e}",
                    recorded.dir
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_kept_per_play() {
        let text = "site.yml#web\treload nginx\nsite.yml#db\trestart mysql\n";
        assert_eq!(entries_for(text, "site.yml#web"), vec!["reload nginx"]);
        assert!(entries_for(text, "other.yml#web").is_empty());
        let text = replace_entries(
            text,
            "site.yml#web",
            &["a".into(), "b\tc".into(), "a".into()],
        );
        assert_eq!(
            text,
            "site.yml#db\trestart mysql\nsite.yml#web\ta\nsite.yml#web\tb c\n"
        );
        assert_eq!(
            replace_entries(&text, "site.yml#web", &[]),
            "site.yml#db\trestart mysql\n"
        );
        assert_eq!(replace_entries("", "k", &[]), "");
    }
}
