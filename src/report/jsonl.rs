//! `--output jsonl`: one JSON object per event per line, for machines.

use std::io::Write;

use super::Reporter;
use super::event::Event;

/// Writes every event as one JSON line.
pub struct JsonlReporter<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonlReporter<W> {
    /// A reporter writing to `out`.
    pub fn new(out: W) -> Self {
        JsonlReporter { out }
    }
}

impl<W: Write + Send> Reporter for JsonlReporter<W> {
    fn event(&mut self, event: &Event) {
        if let Ok(line) = serde_json::to_string(event) {
            let _ = writeln!(self.out, "{line}");
        }
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}
