//! Drives one running command for any transport: writes its stdin (after sudo is satisfied,
//! see `become`), collects stdout, stderr and the exit status. It owns no connection and no
//! process; a transport plugs in an output [`Source`] and an `AsyncWrite` for stdin.

use std::future::Future;

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
            Some(Event::Stderr(d)) => match watch.as_mut() {
                None => out.stderr.extend_from_slice(&d),
                Some(w) => {
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
            },
            Some(Event::Exit(code)) => out.status = Some(code),
            Some(Event::Refused) => return Err(PumpError::Refused),
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

    struct Script(VecDeque<Event>);

    impl Source for Script {
        async fn next(&mut self) -> Option<Event> {
            self.0.pop_front()
        }
    }

    #[tokio::test]
    async fn collects_output_and_writes_stdin() {
        let mut src = Script(VecDeque::from([
            Event::Stdout(b"a".to_vec()),
            Event::Stderr(b"e".to_vec()),
            Event::Stdout(b"b".to_vec()),
            Event::Exit(3),
        ]));
        let (w, mut r) = tokio::io::duplex(1 << 20);
        let out = pump(&mut src, w, b"input".to_vec(), None)
            .await
            .expect("pumped");
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, b"ab");
        assert_eq!(out.stderr, b"e");
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut r, &mut got)
            .await
            .expect("read");
        assert_eq!(got, b"input");
    }

    #[tokio::test]
    async fn sudo_failure_without_start_is_an_error() {
        let b = crate::core::Become {
            user: "root".into(),
            password: None,
        };
        let watch = crate::transport::r#become::wrap("true", Some(&b)).watch;
        let mut src = Script(VecDeque::from([
            Event::Stderr(b"sudo: a password is required\n".to_vec()),
            Event::Exit(1),
        ]));
        let (w, _r) = tokio::io::duplex(1024);
        let err = pump(&mut src, w, Vec::new(), watch)
            .await
            .expect_err("become error");
        assert!(matches!(err, PumpError::Become(m) if m.contains("needs a password")));
    }
}
