//! A `hls-ladder worker` process for the integration tests: the real binary pointed at a
//! coordinator, its storage and log in a temp dir, and the `transcode` children it runs.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the process is ended when the test drops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrop {
    /// SIGKILL at once (its children notice the closed pipe and stop on their own).
    Kill,
    /// SIGTERM first, so the worker stops its children before it goes; SIGKILL after 5 s.
    Terminate,
}

/// A worker with its storage in a temp dir and its stderr kept for assertions.
pub struct Worker {
    pub child: Child,
    pub dir: tempfile::TempDir,
    on_drop: OnDrop,
}

impl Worker {
    /// Starts a worker registered with `base_url` under `secret`, with one-second segments,
    /// a 10 s source timeout and ORIGINAL encoded (`HLS_ORIGINAL_MODE=encode`, the default
    /// these tests were written for; see `util::PINNED_ORIGINAL_MODE`); `env` is applied
    /// after those and can override them; an empty value unsets the variable (a test of the
    /// shipped default passes `("HLS_ORIGINAL_MODE", "")`).
    pub fn start(base_url: &str, secret: &str, env: &[(&str, &str)], on_drop: OnDrop) -> Worker {
        Worker::start_program(
            Command::new(PathBuf::from(env!("CARGO_BIN_EXE_hls-ladder"))),
            base_url,
            secret,
            env,
            on_drop,
        )
    }

    /// [`Worker::start`] with another program: `program` is the command line up to the
    /// `worker` subcommand (an emulator and a cross-built binary, for tests/cross.rs).
    pub fn start_program(
        mut cmd: Command,
        base_url: &str,
        secret: &str,
        env: &[(&str, &str)],
        on_drop: OnDrop,
    ) -> Worker {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("storage")).unwrap();
        let log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
        cmd.arg("worker")
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("CONTROL_BASE_URL", base_url)
            .env("CONTROL_SECRET", secret)
            .env("HLS_FILESYSTEM_PATH", dir.path().join("storage"))
            .env("HLS_TIME_SECONDS", "1")
            .env("HLS_SOURCE_TIMEOUT_SECONDS", "10")
            .env("HLS_ORIGINAL_MODE", "encode")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            if v.is_empty() {
                cmd.env_remove(k);
            } else {
                cmd.env(k, v);
            }
        }
        let child = cmd.spawn().expect("the worker starts");
        Worker { child, dir, on_drop }
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    /// The worker's `transcode` children (their parent is the worker).
    pub fn transcode_pids(&self) -> Vec<i32> {
        let me = self.child.id() as i32;
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // Fields after the command name, which is in parentheses: state, ppid, ...
            let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
            if after.split(' ').nth(1).and_then(|p| p.parse::<i32>().ok()) == Some(me) {
                pids.push(pid);
            }
        }
        pids
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sends a signal to our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the process to exit; `None` if it did not within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.on_drop == OnDrop::Terminate {
            self.signal(libc::SIGTERM);
            let _ = self.wait_exit(Duration::from_secs(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process, kB (0 once it is gone).
pub fn rss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
