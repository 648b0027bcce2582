//! The child-process adapter: one `hls-ladder transcode --job - --events jsonl` process per run
//! of a job. It executes [`Action::Spawn`], [`Action::StopGracefully`] and [`Action::Kill`] and
//! reports what the child does as [`ChildReport`]s; it decides nothing.
//!
//! The child is in its own process group, so a Ctrl-C meant for the worker reaches the worker
//! only (the worker then drains its jobs). Its stdin stays open for the life of the run: a
//! `stop` line asks it to finish, and EOF (the worker is gone) does the same.
//!
//! [`Action::Spawn`]: super::Action::Spawn
//! [`Action::StopGracefully`]: super::Action::StopGracefully
//! [`Action::Kill`]: super::Action::Kill

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{mpsc, oneshot, watch};

use super::table::interface::JobId;
use super::ChildConfig;
use crate::child_protocol::{ChildCommand, ChildJob, Event};

/// Lines of the child's stderr kept for the report of an abnormal exit.
const STDERR_TAIL: usize = 20;

/// What a child did, in the order it did it; `Exited` is the last report of a run.
#[derive(Debug)]
pub enum ChildReport {
    Event(JobId, Event),
    Exited {
        job: JobId,
        /// Killed by a signal, or exited without its `closed` event.
        crashed: bool,
        status: String,
        /// The last lines the child wrote to stderr, for the operator.
        stderr_tail: Vec<String>,
    },
}

/// The worker's hold on one running child.
pub struct ChildHandle {
    /// The process id while it runs (for /proc measurements).
    pid: Option<u32>,
    /// When to send `stop`; a later value replaces an earlier one.
    stop_at: watch::Sender<Option<Instant>>,
    /// Other commands (`shed`), sent in order.
    commands: mpsc::UnboundedSender<ChildCommand>,
    kill: Option<oneshot::Sender<()>>,
}

impl ChildHandle {
    /// The child stops reading its source at `deadline`, then finishes and reports `closed`.
    pub fn stop_at(&self, deadline: Instant) {
        self.stop_at.send_replace(Some(deadline));
    }

    /// Overload: the child stops encoding `rendition` from its next segment boundary.
    pub fn shed(&self, rendition: &str) {
        let _ = self.commands.send(ChildCommand::Shed(rendition.to_string()));
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// SIGKILL now; the `Exited` report still follows.
    pub fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// Starts a run of `job`: its document goes to the child's stdin, nothing but the mode to its
/// command line. Every run that starts ends with exactly one [`ChildReport::Exited`].
pub fn spawn(
    config: &ChildConfig,
    id: JobId,
    job: &ChildJob,
    reports: mpsc::Sender<ChildReport>,
) -> std::io::Result<ChildHandle> {
    let (program, first_args) = config.program();
    let mut command = Command::new(program);
    command
        .args(first_args)
        .args(["transcode", "--job", "-", "--events", "jsonl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = command.spawn()?;
    let pid = child.id();
    let line = job.to_line();
    let stdin = child.stdin.take().expect("stdin is piped");
    let (stop_tx, stop_rx) = watch::channel(None);
    let (kill_tx, kill_rx) = oneshot::channel();
    // Unbounded, and it cannot grow: the only command is `shed`, which the overload governor
    // sends at most once per rendition of the run (a shed rendition stays shed), and the link
    // writes each to the child's stdin as it comes.
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    tokio::spawn(command_link(stdin, line, stop_rx, commands_rx));
    tokio::spawn(watch_child(id, child, kill_rx, reports));
    Ok(ChildHandle { pid, stop_at: stop_tx, commands: commands_tx, kill: Some(kill_tx) })
}

/// Owns the child's stdin: the job line first, `stop` at the deadline. Returns (closing stdin)
/// only when the handle is dropped, i.e. after the child exited or when the worker goes away.
async fn command_link(
    mut stdin: ChildStdin,
    job_line: String,
    mut stop_at: watch::Receiver<Option<Instant>>,
    mut commands: mpsc::UnboundedReceiver<ChildCommand>,
) {
    if let Err(e) = stdin.write_all(job_line.as_bytes()).await {
        // The child died at once; its exit is reported by `watch_child`.
        tracing::debug!("cannot hand the job to the child: {e}");
        return;
    }
    let mut stop_sent = false;
    loop {
        let deadline = *stop_at.borrow_and_update();
        let sleep = async {
            match deadline {
                Some(at) if !stop_sent => tokio::time::sleep_until(at.into()).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = stop_at.changed() => if changed.is_err() { return },
            Some(command) = commands.recv() => {
                if stdin.write_all(command.to_line().as_bytes()).await.is_err() {
                    return;
                }
            }
            () = sleep => {
                stop_sent = true;
                if stdin.write_all(ChildCommand::Stop.to_line().as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads the child's events and stderr until it exits, then reports the exit.
async fn watch_child(id: JobId, mut child: Child, mut kill: oneshot::Receiver<()>, reports: mpsc::Sender<ChildReport>) {
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let mut tail = VecDeque::with_capacity(STDERR_TAIL);
    let (mut stdout_open, mut stderr_open, mut kill_open) = (true, true, true);
    let mut closed = false;
    while stdout_open || stderr_open {
        tokio::select! {
            line = stdout.next_line(), if stdout_open => match line {
                Ok(Some(line)) => match Event::from_line(&line) {
                    Ok(event) => {
                        closed |= matches!(event, Event::Closed { .. });
                        // The supervisor gone means the worker is exiting; the child still
                        // needs its pipes drained to finish.
                        let _ = reports.send(ChildReport::Event(id, event)).await;
                    }
                    Err(e) => tracing::warn!(job = id, "unreadable event from transcode ({e}): {line:?}"),
                },
                Ok(None) | Err(_) => stdout_open = false,
            },
            line = stderr.next_line(), if stderr_open => match line {
                Ok(Some(line)) => {
                    // The child's log lines carry its own level, time and stream span: pass them on.
                    eprintln!("{line}");
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                Ok(None) | Err(_) => stderr_open = false,
            },
            killed = &mut kill, if kill_open => {
                kill_open = false;
                if killed.is_ok() {
                    if let Err(e) = child.start_kill() {
                        tracing::warn!(job = id, "cannot kill transcode: {e}");
                    }
                }
            }
        }
    }
    // Pipes closed; a child that still does not exit can still be killed.
    let status = tokio::select! {
        status = child.wait() => status,
        killed = &mut kill, if kill_open => {
            if killed.is_ok() {
                let _ = child.start_kill();
            }
            child.wait().await
        }
    };
    let crashed = !closed || status.as_ref().map_or(true, killed_by_signal);
    let status = match status {
        Ok(s) => s.to_string(),
        Err(e) => format!("unknown ({e})"),
    };
    let report = ChildReport::Exited { job: id, crashed, status, stderr_tail: tail.into() };
    let _ = reports.send(report).await;
}

fn killed_by_signal(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal().is_some()
}
