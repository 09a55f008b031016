//! `ao start` and `ao stop` (cli.md §2).
//!
//! `start` is idempotent (a ready daemon is simply reported), rotates the log above 10 MiB,
//! spawns `<current exe> daemon` detached and polls the run-file and `/readyz` every 100 ms.
//! `stop` is idempotent too: it sends `POST /shutdown` and waits for the pid to disappear. It
//! never signals a process that does not prove to be this daemon.

use std::fs::OpenOptions;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ao_protocol::env::format_duration;
use ao_protocol::{DaemonState, EnvConfig, RunFile};
use chrono::Utc;
use serde_json::Value;

use crate::client::{Daemon, RunFileState, Timeout, pid_alive, read_run_file, remove_run_file_if};
use crate::error::CliError;
use crate::output;
use crate::status::{self, StaleKind};

const POLL: Duration = Duration::from_millis(100);
const ROTATE_ABOVE: u64 = 10 * 1024 * 1024;
const TAIL_LINES: usize = 20;

/// `ao start`.
pub async fn start(
    env: &EnvConfig,
    timeout: Duration,
    log_file: Option<PathBuf>,
    json: bool,
) -> Result<(), CliError> {
    let log = log_file.unwrap_or_else(|| env.log_file());
    let p = status::probe(env, false).await;
    let run = match p.state {
        DaemonState::Ready => p.run.expect("a ready daemon has a run-file"),
        DaemonState::Unhealthy => {
            let pid = p.run.map_or(0, |r| r.pid);
            return Err(CliError::Failed(format!(
                "a process (pid {pid}) holds the run-file but does not answer; stop it first"
            )));
        }
        DaemonState::NotReady => {
            let pid = p.run.map_or(0, |r| r.pid);
            wait_ready(env, None, Some(pid), timeout, &log).await?
        }
        DaemonState::Stale | DaemonState::Stopped => {
            if p.state == DaemonState::Stale {
                remove_stale(&env.run_file)?;
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&env.home)
                .map_err(|e| {
                    CliError::Failed(format!("cannot create {}: {e}", env.home.display()))
                })?;
            if let Some(parent) = log.parent() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    CliError::Failed(format!("cannot create {}: {e}", parent.display()))
                })?;
            }
            rotate(&log)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&log)
                .map_err(|e| CliError::Failed(format!("cannot open {}: {e}", log.display())))?;
            let mut child = crate::probe::spawn_daemon(&file)?;
            wait_ready(env, Some(&mut child), None, timeout, &log).await?
        }
    };
    if json {
        let p = status::probe(env, true).await;
        output::json(&status::status_object(env, &p, Utc::now()))
    } else {
        output::line(&format!(
            "AO daemon ready (pid {}, port {})",
            run.pid, run.port
        ))
    }
}

fn remove_stale(path: &Path) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::Failed(format!(
            "cannot remove the stale run-file {}: {e}",
            path.display()
        ))),
    }
}

/// Renames `log` to `<log>.1` when it is larger than 10 MiB.
fn rotate(log: &Path) -> Result<(), CliError> {
    match std::fs::metadata(log) {
        Ok(m) if m.len() > ROTATE_ABOVE => {
            let mut rotated = log.as_os_str().to_owned();
            rotated.push(".1");
            std::fs::rename(log, &rotated)
                .map_err(|e| CliError::Failed(format!("cannot rotate {}: {e}", log.display())))
        }
        _ => Ok(()),
    }
}

/// The last `n` lines of a file (reads at most its last 64 KiB).
fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines[skip..].iter().map(|l| (*l).to_string()).collect()
}

/// A stderr spinner, drawn only when stderr is a TTY.
struct Spinner {
    on: bool,
    frame: usize,
}

impl Spinner {
    fn new() -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            frame: 0,
        }
    }

    fn tick(&mut self) {
        if !self.on {
            return;
        }
        const FRAMES: [char; 4] = ['|', '/', '-', '\\'];
        let c = FRAMES[self.frame % FRAMES.len()];
        self.frame += 1;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{c} waiting for the AO daemon to become ready…");
        let _ = err.flush();
    }

    fn clear(&mut self) {
        if self.on && self.frame > 0 {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Step 3 of `ao start`: polls every 100 ms until the run-file names a ready daemon. With a
/// `child`, only a run-file with the child's pid counts and the child's exit fails the start;
/// without one, the daemon `pid` must stay alive.
async fn wait_ready(
    env: &EnvConfig,
    mut child: Option<&mut std::process::Child>,
    pid: Option<u32>,
    timeout: Duration,
    log: &Path,
) -> Result<RunFile, CliError> {
    let deadline = Instant::now() + timeout;
    let mut spinner = Spinner::new();
    let expected = child.as_ref().map(|c| c.id()).or(pid);
    loop {
        if let Some(c) = child.as_deref_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            spinner.clear();
            let how = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| c.to_string());
            let mut msg = format!("daemon exited with status {how}; last log lines:");
            for l in tail(log, TAIL_LINES) {
                msg.push('\n');
                msg.push_str(&l);
            }
            return Err(CliError::Failed(msg));
        }
        if child.is_none()
            && let Some(p) = pid
            && !pid_alive(p)
        {
            return Err(CliError::Failed(format!(
                "daemon (pid {p}) exited before it became ready; see {}",
                log.display()
            )));
        }
        if let RunFileState::Present(rf) = read_run_file(&env.run_file)
            && expected.is_none_or(|p| p == rf.pid)
            && let Ok(d) = Daemon::new(rf.clone())
            && d.readyz().await == Ok(true)
        {
            return Ok(rf);
        }
        if Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "daemon did not become ready within {}; see {}",
                format_duration(timeout),
                log.display()
            )));
        }
        spinner.tick();
        tokio::time::sleep(POLL).await;
    }
}

/// `ao stop`.
pub async fn stop(env: &EnvConfig, timeout: Duration, json: bool) -> Result<(), CliError> {
    let p = status::probe(env, false).await;
    let message = match (p.state, p.stale) {
        (DaemonState::Stopped, _) => "AO daemon already stopped".to_string(),
        (DaemonState::Stale, Some(StaleKind::Foreign)) => {
            let pid = p.run.map_or(0, |r| r.pid);
            return Err(CliError::Failed(format!(
                "run-file points to a process (pid {pid}) that is not this ao daemon; not stopping it"
            )));
        }
        (DaemonState::Stale, _) => {
            remove_stale(&env.run_file)?;
            "AO daemon already stopped (removed stale run-file)".to_string()
        }
        (DaemonState::Unhealthy, _) => {
            let pid = p.run.map_or(0, |r| r.pid);
            return Err(CliError::Failed(format!(
                "the AO daemon (pid {pid}) does not answer /healthz; not stopping it"
            )));
        }
        (DaemonState::Ready | DaemonState::NotReady, _) => {
            let d = p.client.expect("a live daemon has a client");
            let pid = d.run.pid;
            let live = d
                .call(reqwest::Method::GET, &["status"], &[], None, Timeout::Quick)
                .await
                .ok()
                .and_then(|s| s.value().pointer("/sessions/live").and_then(Value::as_u64));
            if let Err(e) = d.shutdown().await
                && pid_alive(pid)
            {
                return Err(e);
            }
            let deadline = Instant::now() + timeout;
            while pid_alive(pid) {
                if Instant::now() >= deadline {
                    return Err(CliError::Failed(format!(
                        "daemon (pid {pid}) did not stop within {}",
                        format_duration(timeout)
                    )));
                }
                tokio::time::sleep(POLL).await;
            }
            remove_run_file_if(&env.run_file, pid);
            match live {
                Some(n) => format!(
                    "AO daemon stopped ({n} live sessions keep running; `ao start` adopts them)"
                ),
                None => "AO daemon stopped".to_string(),
            }
        }
    };
    if json {
        let p = status::probe(env, false).await;
        output::json(&status::status_object(env, &p, Utc::now()))
    } else {
        output::line(&message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("daemon.log");
        let text = (1..=30).fold(String::new(), |mut acc, i| {
            acc.push_str("line ");
            acc.push_str(&i.to_string());
            acc.push('\n');
            acc
        });
        std::fs::write(&p, text).expect("write");
        let t = tail(&p, 20);
        assert_eq!(t.len(), 20);
        assert_eq!(t[0], "line 11");
        assert_eq!(t[19], "line 30");
        assert!(tail(&dir.path().join("missing"), 20).is_empty());
    }

    #[test]
    fn rotation_only_above_ten_mib() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("daemon.log");
        std::fs::write(&p, "small").expect("write");
        rotate(&p).expect("rotate");
        assert!(p.exists());
        let f = std::fs::File::create(&p).expect("create");
        f.set_len(ROTATE_ABOVE + 1).expect("grow");
        rotate(&p).expect("rotate");
        assert!(!p.exists());
        assert!(dir.path().join("daemon.log.1").exists());
        rotate(&dir.path().join("missing.log")).expect("missing is fine");
    }
}
