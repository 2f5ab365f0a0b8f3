//! Ansible-like terminal output: play and task headers, one line per host result, coloured
//! unified diffs with `--diff`, and the recap. On a TTY a spinner shows what is running;
//! otherwise plain lines only (no control codes).

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};

use super::Reporter;
use super::event::{Event, HostResult, HostStats, Status};

/// Colour choice from `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Whether to colour output going to a terminal (`is_tty`).
    pub fn enabled(self, is_tty: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Options of the human reporter.
#[derive(Clone, Debug)]
pub struct HumanOptions {
    /// Show diffs (`--diff`).
    pub diff: bool,
    /// Verbosity (`-v` count).
    pub verbosity: u8,
    /// Colours on.
    pub color: bool,
    /// Show a spinner (stdout is a TTY).
    pub progress: bool,
    /// Check mode (headers say so).
    pub check: bool,
    /// Prefix each line with the UTC time (`--timestamps`).
    pub timestamps: bool,
}

/// Prints events for people.
pub struct HumanReporter<W: Write + Send> {
    out: W,
    opts: HumanOptions,
    spinner: Option<ProgressBar>,
    last_task: Option<String>,
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// The current UTC time as `2026-11-23T14:05:09Z`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_time(secs)
}

/// `secs` since the Unix epoch as an RFC 3339 UTC time (days to civil date: Howard Hinnant's
/// algorithm).
fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn header(title: &str) -> String {
    let stars = 78usize.saturating_sub(title.len() + 1).max(3);
    format!("{title} {}", "*".repeat(stars))
}

impl<W: Write + Send> HumanReporter<W> {
    /// A reporter writing to `out`.
    pub fn new(out: W, opts: HumanOptions) -> Self {
        let spinner = opts.progress.then(|| {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            pb
        });
        HumanReporter {
            out,
            opts,
            spinner,
            last_task: None,
        }
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.opts.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn line(&mut self, text: &str) {
        let stamped;
        let text = if self.opts.timestamps && !text.is_empty() {
            stamped = text
                .split('\n')
                .map(|l| format!("{} {l}", utc_now()))
                .collect::<Vec<_>>()
                .join("\n");
            stamped.as_str()
        } else {
            text
        };
        match &self.spinner {
            Some(pb) => pb.suspend(|| {
                let _ = writeln!(self.out, "{text}");
            }),
            None => {
                let _ = writeln!(self.out, "{text}");
            }
        }
    }

    fn status_color(status: Status) -> &'static str {
        match status {
            Status::Ok => GREEN,
            Status::Changed => YELLOW,
            Status::Skipped => CYAN,
            Status::Failed | Status::Unreachable => RED,
            Status::Ignored => CYAN,
        }
    }

    fn result_lines(&self, r: &HostResult) -> Vec<String> {
        let mut lines = Vec::new();
        if self.opts.diff {
            for d in &r.diffs {
                for l in d.unified().lines() {
                    let colored = if l.starts_with("+++") || l.starts_with("---") {
                        self.paint(BOLD, l)
                    } else if l.starts_with('+') {
                        self.paint(GREEN, l)
                    } else if l.starts_with('-') {
                        self.paint(RED, l)
                    } else if l.starts_with("@@") {
                        self.paint(CYAN, l)
                    } else {
                        l.to_string()
                    };
                    lines.push(colored);
                }
            }
        }
        let mut head = format!("{}: [{}]", r.status.word(), r.host);
        if let Some(item) = &r.item {
            head.push_str(&format!(" => (item={item})"));
        }
        if r.assumed {
            head.push_str(" (assumed: depends on an earlier would-be change)");
        }
        if self.last_task.as_deref() != Some(&r.task) {
            head.push_str(&format!(" ({})", r.task));
        }
        let detail = match r.status {
            Status::Failed | Status::Unreachable | Status::Ignored => {
                r.msg.as_ref().map(|m| format!(" => {m}"))
            }
            _ if self.opts.verbosity > 0 => Some(format!(
                " => {}",
                serde_json::to_string(&r.result).unwrap_or_default()
            )),
            _ => r.msg.as_ref().map(|m| format!(" => {m}")),
        };
        if let Some(d) = detail {
            head.push_str(&d);
        }
        lines.push(self.paint(Self::status_color(r.status), &head));
        if matches!(r.status, Status::Failed | Status::Ignored) {
            for key in ["stdout", "stderr"] {
                if let Some(text) = r.result.get(key).and_then(|v| v.as_str())
                    && !text.trim().is_empty()
                {
                    for l in text.trim_end().lines().take(40) {
                        lines.push(self.paint(RED, &format!("  {key}: {l}")));
                    }
                }
            }
        }
        lines
    }

    fn recap(&mut self, hosts: &[(String, HostStats)], duration_ms: u64, interrupted: bool) {
        self.line("");
        if interrupted {
            let t = self.paint(RED, "INTERRUPTED: the run was stopped before it finished");
            self.line(&t);
        }
        self.line(&header("PLAY RECAP"));
        let width = hosts.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
        for (host, s) in hosts {
            let color = if s.failed > 0 || s.unreachable > 0 {
                RED
            } else if s.changed > 0 {
                YELLOW
            } else {
                GREEN
            };
            let name = self.paint(color, &format!("{host:<width$}"));
            let text = format!(
                "{name} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            );
            self.line(&text);
        }
        self.line(&format!(
            "\nfinished in {:.2} s",
            duration_ms as f64 / 1000.0
        ));
    }
}

impl<W: Write + Send> Reporter for HumanReporter<W> {
    fn event(&mut self, event: &Event) {
        match event {
            Event::PlaybookStart { .. } => {}
            Event::PlayStart { name, hosts } => {
                let title = if self.opts.check {
                    format!("PLAY [{name}] (check mode)")
                } else {
                    format!("PLAY [{name}]")
                };
                self.line("");
                self.line(&header(&title));
                if hosts.is_empty() {
                    self.line("skipping: no hosts matched");
                }
            }
            Event::TaskStart { name, handler, .. } => {
                let kind = if *handler { "RUNNING HANDLER" } else { "TASK" };
                self.line("");
                self.line(&header(&format!("{kind} [{name}]")));
                self.last_task = Some(name.clone());
                if let Some(pb) = &self.spinner {
                    pb.set_message(format!("{kind} [{name}]"));
                }
            }
            Event::HostResult(r) => {
                if r.status == Status::Skipped && self.opts.verbosity == 0 && r.item.is_some() {
                    return;
                }
                // Ansible prints the items of a loop, not a summary line (unless it failed).
                if r.looped && !matches!(r.status, Status::Failed | Status::Unreachable) {
                    return;
                }
                for l in self.result_lines(r) {
                    self.line(&l);
                }
            }
            Event::Warning { host, message } => {
                let text = match host {
                    Some(h) => format!("[WARNING]: [{h}] {message}"),
                    None => format!("[WARNING]: {message}"),
                };
                let t = self.paint(YELLOW, &text);
                self.line(&t);
            }
            Event::Recap {
                hosts,
                duration_ms,
                interrupted,
            } => self.recap(hosts, *duration_ms, *interrupted),
        }
    }

    fn finish(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_formats_known_instants() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(1_795_446_309), "2026-11-23T15:05:09Z");
    }

    #[test]
    fn timestamps_prefix_every_line_and_colour_stays_off() {
        let mut out = Vec::new();
        {
            let mut r = HumanReporter::new(
                &mut out,
                HumanOptions {
                    diff: false,
                    verbosity: 0,
                    color: false,
                    progress: false,
                    check: false,
                    timestamps: true,
                },
            );
            r.event(&Event::Warning {
                host: None,
                message: "careful".into(),
            });
            r.finish();
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.ends_with("Z [WARNING]: careful\n"), "{text}");
        assert!(text.starts_with("20"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
    }
}
