//! Whole-run reports built after the last playbook: the drift report of `shipshape plan`, a
//! JUnit XML file for CI test views and a Markdown summary for pull-request comments. A
//! [`RunLog`] collects the events of every playbook of the run; the writers read a snapshot.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use super::Reporter;
use super::event::{Event, HostResult, HostStats, Status};

/// What a run reported, in order: every task outcome (loop items folded into their task),
/// warnings, and the per-host totals of all playbooks added together.
#[derive(Clone, Debug, Default)]
pub struct RunSnapshot {
    /// The playbook files, in run order.
    pub playbooks: Vec<String>,
    /// Check mode.
    pub check: bool,
    /// One outcome per host and task (the summary of a loop, not its items).
    pub results: Vec<HostResult>,
    /// Warnings, with their host when they have one.
    pub warnings: Vec<(Option<String>, String)>,
    /// Totals per host, in first-seen order.
    pub stats: Vec<(String, HostStats)>,
    /// Wall time of all playbooks, in milliseconds.
    pub duration_ms: u64,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

impl RunSnapshot {
    /// Hosts with at least one change (in check mode: drift).
    pub fn changed_hosts(&self) -> Vec<&str> {
        self.stats
            .iter()
            .filter(|(_, s)| s.changed > 0)
            .map(|(h, _)| h.as_str())
            .collect()
    }

    /// Whether any host failed or was unreachable.
    pub fn has_errors(&self) -> bool {
        self.stats
            .iter()
            .any(|(_, s)| s.failed > 0 || s.unreachable > 0)
    }

    /// The outcomes of one host, in order.
    fn results_of<'a>(&'a self, host: &'a str) -> impl Iterator<Item = &'a HostResult> + 'a {
        self.results.iter().filter(move |r| r.host == host)
    }
}

fn add_stats(into: &mut HostStats, s: &HostStats) {
    into.ok += s.ok;
    into.changed += s.changed;
    into.unreachable += s.unreachable;
    into.failed += s.failed;
    into.skipped += s.skipped;
    into.rescued += s.rescued;
    into.ignored += s.ignored;
}

/// Collects the events of a whole run (clone it into the reporters of every playbook).
#[derive(Clone, Default)]
pub struct RunLog(Arc<Mutex<RunSnapshot>>);

impl RunLog {
    /// A copy of everything collected so far.
    pub fn snapshot(&self) -> RunSnapshot {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Reporter for RunLog {
    fn event(&mut self, event: &Event) {
        let Ok(mut log) = self.0.lock() else { return };
        match event {
            Event::PlaybookStart { playbook, check } => {
                log.playbooks.push(playbook.clone());
                log.check = *check;
            }
            // Loop items are folded into the loop's own result, which follows them.
            Event::HostResult(r) if r.item.is_none() => log.results.push((**r).clone()),
            Event::Warning { host, message } => log.warnings.push((host.clone(), message.clone())),
            Event::Recap {
                hosts,
                duration_ms,
                interrupted,
            } => {
                for (host, s) in hosts {
                    match log.stats.iter_mut().find(|(h, _)| h == host) {
                        Some((_, total)) => add_stats(total, s),
                        None => log.stats.push((host.clone(), s.clone())),
                    }
                }
                log.duration_ms += duration_ms;
                log.interrupted |= interrupted;
            }
            _ => {}
        }
    }
}

fn is_failure(s: Status) -> bool {
    matches!(s, Status::Failed | Status::Unreachable)
}

/// The drift report `shipshape plan` prints after the recap: per host, the tasks that would
/// change (with `file:line`), then one line per host.
pub fn drift_report(run: &RunSnapshot) -> String {
    let mut out = String::new();
    let width = run.stats.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
    let _ = writeln!(out, "\nDRIFT REPORT {}", "*".repeat(65));
    for (host, s) in &run.stats {
        let verdict = if s.unreachable > 0 {
            "UNREACHABLE".to_string()
        } else if s.failed > 0 {
            format!("ERROR ({} failed)", s.failed)
        } else if s.changed > 0 {
            format!("DRIFT ({} would change)", s.changed)
        } else {
            "in sync".to_string()
        };
        let _ = writeln!(out, "{host:<width$} : {verdict}");
        for r in run.results_of(host) {
            let mark = match r.status {
                Status::Changed => "~",
                s if is_failure(s) => "!",
                _ => continue,
            };
            let _ = write!(out, "    {mark} {} ({})", r.task, r.task_loc);
            if let Some(msg) = r.msg.as_ref().filter(|_| is_failure(r.status)) {
                let _ = write!(out, ": {}", first_line(msg));
            }
            out.push('\n');
        }
    }
    let drift = run.changed_hosts().len();
    let _ = writeln!(
        out,
        "\n{} of {} hosts would change{}",
        drift,
        run.stats.len(),
        if run.has_errors() {
            "; some hosts could not be checked"
        } else {
            ""
        }
    );
    out
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Escapes text for XML attributes and content (and drops characters XML 1.0 forbids).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML document: one `<testsuite>` per host, one `<testcase>` per task. Failed and
/// unreachable tasks are `<failure>`s; skipped ones `<skipped/>`; changed ones carry their
/// diff in `<system-out>`, and in check mode (drift detection) they are failures of type
/// `drift`, so a CI test view lists every drifted task.
pub fn junit(run: &RunSnapshot) -> String {
    let mut suites = String::new();
    let (mut all_tests, mut all_failures, mut all_skipped) = (0, 0, 0);
    for (host, _) in &run.stats {
        let mut cases = String::new();
        let (mut tests, mut failures, mut skipped, mut ms) = (0, 0, 0, 0u64);
        for r in run.results_of(host) {
            tests += 1;
            ms += r.duration_ms;
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" time=\"{:.3}\"",
                xml_escape(host),
                xml_escape(&r.task),
                xml_escape(&r.task_loc),
                r.duration_ms as f64 / 1000.0
            );
            let diff: String = r.diffs.iter().map(|d| d.unified()).collect();
            let body = match r.status {
                Status::Failed | Status::Unreachable => {
                    failures += 1;
                    let msg = r.msg.clone().unwrap_or_else(|| r.status.word().to_string());
                    format!(
                        "      <failure type=\"{}\" message=\"{}\">{}</failure>\n",
                        r.status.word(),
                        xml_escape(first_line(&msg)),
                        xml_escape(&msg)
                    )
                }
                Status::Skipped => {
                    skipped += 1;
                    "      <skipped/>\n".to_string()
                }
                Status::Changed if run.check => {
                    failures += 1;
                    format!(
                        "      <failure type=\"drift\" message=\"would change\">{}</failure>\n",
                        xml_escape(&diff)
                    )
                }
                Status::Changed => format!(
                    "      <system-out>changed\n{}</system-out>\n",
                    xml_escape(&diff)
                ),
                Status::Ok | Status::Ignored => String::new(),
            };
            if body.is_empty() {
                cases.push_str("/>\n");
            } else {
                let _ = write!(cases, ">\n{body}    </testcase>\n");
            }
        }
        all_tests += tests;
        all_failures += failures;
        all_skipped += skipped;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">\n{cases}  </testsuite>\n",
            xml_escape(host),
            ms as f64 / 1000.0
        );
    }
    let name = if run.check {
        "shipshape plan"
    } else {
        "shipshape playbook"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{name}: {}\" tests=\"{all_tests}\" failures=\"{all_failures}\" errors=\"0\" skipped=\"{all_skipped}\" time=\"{:.3}\">\n{suites}</testsuites>\n",
        xml_escape(&run.playbooks.join(", ")),
        run.duration_ms as f64 / 1000.0
    )
}

/// Escapes text for a Markdown table cell.
fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A fence that the text cannot close: one backtick more than its longest run.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(longest.max(2) + 1)
}

/// A Markdown summary for a pull-request comment: the verdict, one table row per host, then
/// per host the changed (or drifted) and failed tasks, each diff folded in `<details>`.
pub fn markdown(run: &RunSnapshot) -> String {
    let mut out = String::new();
    let changed = run.changed_hosts().len();
    let total = run.stats.len();
    let what = if run.check {
        "shipshape plan"
    } else {
        "shipshape playbook"
    };
    let verdict = match (run.interrupted, run.has_errors(), run.check, changed) {
        (true, _, _, _) => "interrupted".to_string(),
        (_, true, _, _) => "errors".to_string(),
        (_, _, true, 0) => "no drift".to_string(),
        (_, _, true, n) => format!("drift on {n} of {total} hosts"),
        (_, _, false, 0) => "no changes".to_string(),
        (_, _, false, n) => format!("changed {n} of {total} hosts"),
    };
    let _ = writeln!(out, "## {what}: {verdict}\n");
    let _ = writeln!(
        out,
        "Playbooks: {} · {:.1} s\n",
        run.playbooks
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
        run.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "| host | ok | changed | failed | unreachable | skipped |\n|---|---:|---:|---:|---:|---:|"
    );
    for (host, s) in &run.stats {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(host),
            s.ok,
            s.changed,
            s.failed,
            s.unreachable,
            s.skipped
        );
    }
    for (host, _) in &run.stats {
        let notable: Vec<&HostResult> = run
            .results_of(host)
            .filter(|r| r.status == Status::Changed || is_failure(r.status))
            .collect();
        if notable.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### {}\n", md_cell(host));
        for r in notable {
            let word = match (r.status, run.check) {
                (Status::Changed, true) => "would change",
                (s, _) => s.word(),
            };
            let title = format!("**{}** {word} <sub>{}</sub>", md_cell(&r.task), r.task_loc);
            let diff: String = r.diffs.iter().map(|d| d.unified()).collect();
            let msg = r.msg.as_deref().filter(|_| is_failure(r.status));
            if diff.is_empty() && msg.is_none() {
                let _ = writeln!(out, "- {title}");
                continue;
            }
            let _ = writeln!(out, "- <details><summary>{title}</summary>\n");
            if let Some(m) = msg {
                let f = fence_for(m);
                let _ = writeln!(out, "  {f}\n{m}\n  {f}\n");
            }
            if !diff.is_empty() {
                let f = fence_for(&diff);
                let _ = writeln!(out, "  {f}diff\n{}  {f}\n", diff);
            }
            let _ = writeln!(out, "  </details>");
        }
    }
    if !run.warnings.is_empty() {
        let _ = writeln!(out, "\n### Warnings\n");
        for (host, w) in &run.warnings {
            match host {
                Some(h) => {
                    let _ = writeln!(out, "- [{}] {}", md_cell(h), md_cell(w));
                }
                None => {
                    let _ = writeln!(out, "- {}", md_cell(w));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Diff;

    fn result(host: &str, task: &str, status: Status) -> HostResult {
        HostResult {
            host: host.into(),
            task: task.into(),
            task_loc: "site.yml:3:7".into(),
            status,
            item: None,
            msg: None,
            diffs: Vec::new(),
            assumed: false,
            handler: false,
            looped: false,
            result: serde_json::json!({}),
            duration_ms: 1500,
        }
    }

    fn run(check: bool) -> RunSnapshot {
        let mut log = RunLog::default();
        log.event(&Event::PlaybookStart {
            playbook: "site.yml".into(),
            check,
        });
        let mut changed = result("web1", "write <motd>", Status::Changed);
        changed
            .diffs
            .push(Diff::new("/etc/motd", "old\n", "new & `x`\n"));
        log.event(&Event::HostResult(Box::new(changed)));
        let mut item = result("web1", "loop", Status::Ok);
        item.item = Some("a".into());
        log.event(&Event::HostResult(Box::new(item)));
        log.event(&Event::HostResult(Box::new(result(
            "web2",
            "write <motd>",
            Status::Ok,
        ))));
        let mut failed = result("db1", "write <motd>", Status::Failed);
        failed.msg = Some("disk full\nsecond line".into());
        log.event(&Event::HostResult(Box::new(failed)));
        log.event(&Event::HostResult(Box::new(result(
            "db1",
            "skipped",
            Status::Skipped,
        ))));
        let stats = |changed, failed| HostStats {
            ok: 1,
            changed,
            failed,
            ..Default::default()
        };
        log.event(&Event::Recap {
            hosts: vec![
                ("web1".into(), stats(1, 0)),
                ("web2".into(), stats(0, 0)),
                ("db1".into(), stats(0, 1)),
            ],
            duration_ms: 2000,
            interrupted: false,
        });
        // A second playbook adds to the totals.
        log.event(&Event::Recap {
            hosts: vec![("web2".into(), stats(2, 0))],
            duration_ms: 500,
            interrupted: false,
        });
        log.snapshot()
    }

    #[test]
    fn log_folds_items_and_adds_recaps() {
        let r = run(true);
        assert_eq!(r.results.len(), 4, "loop items are not task outcomes");
        assert_eq!(
            r.stats[1],
            (
                "web2".to_string(),
                HostStats {
                    ok: 2,
                    changed: 2,
                    ..Default::default()
                }
            )
        );
        assert_eq!(r.duration_ms, 2500);
        assert_eq!(r.changed_hosts(), vec!["web1", "web2"]);
        assert!(r.has_errors());
    }

    #[test]
    fn drift_report_names_hosts_tasks_and_errors() {
        let text = drift_report(&run(true));
        assert!(text.contains("web1 : DRIFT (1 would change)"), "{text}");
        assert!(text.contains("    ~ write <motd> (site.yml:3:7)"), "{text}");
        assert!(text.contains("db1  : ERROR (1 failed)"), "{text}");
        assert!(
            text.contains("    ! write <motd> (site.yml:3:7): disk full\n"),
            "{text}"
        );
        assert!(
            text.contains("2 of 3 hosts would change; some hosts could not be checked"),
            "{text}"
        );
    }

    #[test]
    fn junit_is_escaped_and_counts_cases() {
        let xml = junit(&run(true));
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(xml.contains("name=\"write &lt;motd&gt;\""), "{xml}");
        assert!(
            xml.contains("<failure type=\"drift\" message=\"would change\">"),
            "{xml}"
        );
        assert!(xml.contains("+new &amp; `x`"), "{xml}");
        assert!(
            xml.contains("<failure type=\"failed\" message=\"disk full\">"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuite name=\"db1\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"1\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<testsuites name=\"shipshape plan: site.yml\" tests=\"4\" failures=\"2\""
            ),
            "{xml}"
        );
        // A real run reports changes as output, not failures.
        let xml = junit(&run(false));
        assert!(
            xml.contains("<system-out>changed\n--- before: /etc/motd"),
            "{xml}"
        );
        assert!(!xml.contains("type=\"drift\""), "{xml}");
        // Every element that opens closes.
        assert_eq!(xml.matches("<testcase").count(), 4);
        assert_eq!(
            xml.matches("</testcase>").count() + xml.matches("\"/>\n").count(),
            4,
            "{xml}"
        );
    }

    #[test]
    fn markdown_has_verdict_table_and_folded_diffs() {
        let md = markdown(&run(true));
        assert!(md.starts_with("## shipshape plan: errors\n"), "{md}");
        assert!(md.contains("| web1 | 1 | 1 | 0 | 0 | 0 |"), "{md}");
        assert!(md.contains("**write <motd>** would change"), "{md}");
        assert!(md.contains("```diff\n--- before: /etc/motd"), "{md}");
        assert!(md.contains("**write <motd>** failed"), "{md}");
        assert!(md.contains("disk full\nsecond line"), "{md}");
        assert_eq!(fence_for("a ```` b"), "`````");
    }
}
