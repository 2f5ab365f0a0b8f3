//! Drives one running command for any transport: writes its stdin (after sudo is satisfied,
//! see `become`), collects stdout, stderr and the exit status. It owns no connection and no
//! process; a transport plugs in an output [`Source`] and an `AsyncWrite` for stdin.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::r#become::{BecomeStep, BecomeWatch};

/// One thing a running command produced.
#[derive(Debug)]
pub(crate) enum Event {
    /// Bytes on stdout.
    Stdout(Vec<u8>),
    /// Bytes on stderr.
    Stderr(Vec<u8>),
    /// The exit status (`-1` for a signal).
    Exit(i32),
    /// The remote side refused to start the command.
    Refused,
}

/// Where a command's output comes from. `next` must be cancel-safe (it is raced against
/// the stdin writer); `None` means the command is gone.
pub(crate) trait Source: Send {
    /// The next event, or `None` at the end.
    fn next(&mut self) -> impl Future<Output = Option<Event>> + Send;
}

/// What a finished command produced.
#[derive(Debug, Default)]
pub(crate) struct Pumped {
    /// The exit status, if one was reported.
    pub(crate) status: Option<i32>,
    /// All of stdout.
    pub(crate) stdout: Vec<u8>,
    /// All of stderr, sudo markers removed.
    pub(crate) stderr: Vec<u8>,
}

/// Why a command did not run to completion.
#[derive(Debug)]
pub(crate) enum PumpError {
    /// sudo refused; the message says why.
    Become(String),
    /// The server refused the exec request.
    Refused,
}

/// Finds the remote shell's pid, which the command prints on stderr as its first act
/// (`echo MARKER$$ >&2`), and removes that line from stderr. The pid is published through a
/// shared cell because a timed-out pump is dropped before anyone could ask it.
pub(crate) struct PidMarker {
    marker: Vec<u8>,
    pending: Vec<u8>,
    found: bool,
    pid: Arc<AtomicU32>,
}

impl PidMarker {
    /// A fresh marker, the shell line that prints it, and the cell that receives the pid.
    pub(crate) fn new() -> (PidMarker, String, Arc<AtomicU32>) {
        let marker = format!("SHIPSHAPE-PID-{}:", super::r#become::unique_token());
        let line = format!("echo {marker}$$ >&2");
        let pid = Arc::new(AtomicU32::new(0));
        (
            PidMarker {
                marker: marker.into_bytes(),
                pending: Vec::new(),
                found: false,
                pid: pid.clone(),
            },
            line,
            pid,
        )
    }

    /// Passes a stderr chunk through, holding bytes back until the marker line was seen.
    fn filter(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.found {
            return chunk.to_vec();
        }
        self.pending.extend_from_slice(chunk);
        let Some(start) = self
            .pending
            .windows(self.marker.len())
            .position(|w| w == self.marker.as_slice())
        else {
            return Vec::new();
        };
        let digits_at = start + self.marker.len();
        let Some(nl) = self.pending[digits_at..].iter().position(|&b| b == b'\n') else {
            return Vec::new();
        };
        let pid = std::str::from_utf8(&self.pending[digits_at..digits_at + nl])
            .ok()
            .and_then(|d| d.trim().parse::<u32>().ok())
            .unwrap_or(0);
        self.pid.store(pid, Ordering::Relaxed);
        self.found = true;
        let mut out = self.pending[..start].to_vec();
        out.extend_from_slice(&self.pending[digits_at + nl + 1..]);
        self.pending = Vec::new();
        out
    }

    /// What is still held back when the command ends (it never printed the marker).
    fn flush(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

enum Write {
    Data(Vec<u8>),
    Eof,
}

/// Runs the dialogue: releases `stdin` into `writer` when allowed, gathers output from
/// `source` until it ends.
pub(crate) async fn pump<S, W>(
    source: &mut S,
    writer: W,
    stdin: Vec<u8>,
    mut watch: Option<BecomeWatch>,
    mut pid_marker: Option<PidMarker>,
) -> Result<Pumped, PumpError>
where
    S: Source,
    W: AsyncWrite + Unpin + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
    let writer_task = async move {
        let mut w = writer;
        while let Some(cmd) = rx.recv().await {
            match cmd {
                Write::Data(d) => {
                    if w.write_all(&d).await.is_err() {
                        return;
                    }
                }
                Write::Eof => {
                    let _ = w.flush().await;
                    let _ = w.shutdown().await;
                    return;
                }
            }
        }
    };
    tokio::pin!(writer_task);

    let mut stdin = Some(stdin);
    let mut release = |tx: &mpsc::UnboundedSender<Write>| {
        if let Some(data) = stdin.take() {
            if !data.is_empty() {
                let _ = tx.send(Write::Data(data));
            }
            let _ = tx.send(Write::Eof);
        }
    };
    let initial = match &watch {
        None => Some(BecomeStep::Release),
        Some(w) => w.initial(),
    };
    if initial == Some(BecomeStep::Release) {
        release(&tx);
    }

    let mut out = Pumped::default();
    let mut writer_done = false;
    loop {
        let event = tokio::select! {
            _ = &mut writer_task, if !writer_done => {
                writer_done = true;
                continue;
            }
            ev = source.next() => ev,
        };
        match event {
            None => break,
            Some(Event::Stdout(d)) => out.stdout.extend_from_slice(&d),
            Some(Event::Stderr(d)) => {
                let d = match pid_marker.as_mut() {
                    Some(m) => m.filter(&d),
                    None => d,
                };
                let Some(w) = watch.as_mut() else {
                    out.stderr.extend_from_slice(&d);
                    continue;
                };
                for step in w.on_stderr(&d, &mut out.stderr) {
                    match step {
                        BecomeStep::SendPassword(line) => {
                            let _ = tx.send(Write::Data(line));
                        }
                        BecomeStep::Release => release(&tx),
                        BecomeStep::Fail(msg) => return Err(PumpError::Become(msg)),
                    }
                }
            }
            Some(Event::Exit(code)) => out.status = Some(code),
            Some(Event::Refused) => return Err(PumpError::Refused),
        }
    }
    if let Some(m) = pid_marker.as_mut() {
        let rest = m.flush();
        match watch.as_mut() {
            Some(w) => {
                w.on_stderr(&rest, &mut out.stderr);
            }
            None => out.stderr.extend_from_slice(&rest),
        }
    }
    if let Some(w) = &watch {
        w.finish(out.status).map_err(PumpError::Become)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[tokio::test]
    async fn pid_marker_is_found_across_chunks_and_removed() {
        let (marker, line, pid) = PidMarker::new();
        let m = line
            .strip_prefix("echo ")
            .and_then(|l| l.strip_suffix("$$ >&2"))
            .expect("echo line")
            .to_string();
        let text = format!("noise\n{m}4242\nreal\n");
        let (a, b) = text.as_bytes().split_at(12);
        let mut src = Script(
            VecDeque::from([
                Event::Stderr(a.to_vec()),
                Event::Stderr(b.to_vec()),
                Event::Stderr(b"more".to_vec()),
                Event::Exit(0),
            ]),
            None,
        );
        let (w, _r) = tokio::io::duplex(1024);
        let out = pump(&mut src, w, Vec::new(), None, Some(marker))
            .await
            .expect("pumped");
        assert_eq!(pid.load(Ordering::Relaxed), 4242);
        assert_eq!(out.stderr, b"noise\nreal\nmore");
    }

    #[tokio::test]
    async fn missing_pid_marker_keeps_stderr() {
        let (marker, _, pid) = PidMarker::new();
        let mut src = Script(
            VecDeque::from([
                Event::Stderr(b"sh: cannot run\n".to_vec()),
                Event::Exit(126),
            ]),
            None,
        );
        let (w, _r) = tokio::io::duplex(1024);
        let out = pump(&mut src, w, Vec::new(), None, Some(marker))
            .await
            .expect("pumped");
        assert_eq!(pid.load(Ordering::Relaxed), 0);
        assert_eq!(out.stderr, b"sh: cannot run\n");
        assert_eq!(out.status, Some(126));
    }

    struct Script(VecDeque<Event>, Option<tokio::sync::oneshot::Receiver<()>>);

    impl Source for Script {
        async fn next(&mut self) -> Option<Event> {
            // Like a real command that reads all its stdin before it prints and exits.
            if let Some(gate) = self.1.take() {
                let _ = gate.await;
            }
            self.0.pop_front()
        }
    }

    #[tokio::test]
    async fn collects_output_and_writes_stdin() {
        let (gate_tx, gate_rx) = tokio::sync::oneshot::channel();
        let mut src = Script(
            VecDeque::from([
                Event::Stdout(b"a".to_vec()),
                Event::Stderr(b"e".to_vec()),
                Event::Stdout(b"b".to_vec()),
                Event::Exit(3),
            ]),
            Some(gate_rx),
        );
        let (w, mut r) = tokio::io::duplex(16);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            // Ends only at EOF: the writer must shut down after the data.
            tokio::io::AsyncReadExt::read_to_end(&mut r, &mut got)
                .await
                .expect("read");
            let _ = gate_tx.send(());
            got
        });
        let stdin = b"input longer than the 16-byte pipe".to_vec();
        let out = pump(&mut src, w, stdin.clone(), None, None)
            .await
            .expect("pumped");
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, b"ab");
        assert_eq!(out.stderr, b"e");
        assert_eq!(reader.await.expect("reader"), stdin);
    }

    #[tokio::test]
    async fn sudo_failure_without_start_is_an_error() {
        let b = crate::core::Become {
            user: "root".into(),
            password: None,
        };
        let watch = crate::transport::r#become::wrap("true", Some(&b)).watch;
        let mut src = Script(
            VecDeque::from([
                Event::Stderr(b"sudo: a password is required\n".to_vec()),
                Event::Exit(1),
            ]),
            None,
        );
        let (w, _r) = tokio::io::duplex(1024);
        let err = pump(&mut src, w, Vec::new(), watch, None)
            .await
            .expect_err("become error");
        assert!(matches!(err, PumpError::Become(m) if m.contains("needs a password")));
    }
}
