//! The CLI's own child processes: spawning the detached `ao daemon` for `ao start`, and the
//! bounded `--version` probes of `ao doctor`. Nothing else in the CLI starts a process.
//!
//! Binary lookup follows adapters.md §5.4: `PATH`, then `/usr/local/bin`, `/opt/homebrew/bin`,
//! `~/.local/bin`, `~/.npm-global/bin`, `~/.npm/bin`, `~/.cargo/bin`, then the harness's own
//! extra directories.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::error::CliError;

/// Spawns `<current exe> daemon` in its own process group, stdin `/dev/null`, stdout and
/// stderr appended to `log` (already opened for appending by the caller).
pub fn spawn_daemon(log: &std::fs::File) -> Result<std::process::Child, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Failed(format!("cannot locate the ao executable: {e}")))?;
    let out = log
        .try_clone()
        .map_err(|e| CliError::Failed(format!("cannot use the log file: {e}")))?;
    let err = log
        .try_clone()
        .map_err(|e| CliError::Failed(format!("cannot use the log file: {e}")))?;
    std::process::Command::new(&exe)
        .arg("daemon")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| CliError::Failed(format!("cannot start {} daemon: {e}", exe.display())))
}

/// The result of a bounded probe such as `git --version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The program does not exist.
    NotFound,
    /// It did not finish in time (it was killed).
    TimedOut,
    /// It could not be started for another reason.
    Failed(String),
    /// It exited (`code` is `None` when killed by a signal).
    Exited {
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
}

impl ProbeOutcome {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, ProbeOutcome::Exited { code: Some(0), .. })
    }

    /// The first non-empty line of stdout, else of stderr.
    pub fn first_line(&self) -> String {
        match self {
            ProbeOutcome::Exited { stdout, stderr, .. } => stdout
                .lines()
                .chain(stderr.lines())
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        }
    }

    /// A short description of a failed probe.
    pub fn failure(&self) -> String {
        match self {
            ProbeOutcome::NotFound => "not installed".into(),
            ProbeOutcome::TimedOut => "timed out".into(),
            ProbeOutcome::Failed(e) => e.clone(),
            ProbeOutcome::Exited { code, .. } => {
                let status = code.map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
                let line = self.first_line();
                if line.is_empty() {
                    format!("exited with {status}")
                } else {
                    format!("exited with {status}: {line}")
                }
            }
        }
    }
}

/// Runs `program args…` with stdin `/dev/null`, capturing its output, killed after `timeout`.
pub async fn run(program: &Path, args: &[&str], timeout: Duration) -> ProbeOutcome {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .env("GIT_TERMINAL_PROMPT", "0")
        .kill_on_drop(true);
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ProbeOutcome::NotFound,
        Err(e) => return ProbeOutcome::Failed(e.to_string()),
    };
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => ProbeOutcome::TimedOut,
        Ok(Err(e)) => ProbeOutcome::Failed(e.to_string()),
        Ok(Ok(out)) => ProbeOutcome::Exited {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
    }
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `name` in `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

/// Binary resolution of adapters.md §5.4: `PATH`, the common install directories, then
/// `extra` (paths relative to `$HOME` when they start with `~/`).
pub fn find_binary(name: &str, extra: &[&str]) -> Option<PathBuf> {
    if let Some(p) = find_on_path(name) {
        return Some(p);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let dirs = [
        "/usr/local/bin",
        "/opt/homebrew/bin",
        "~/.local/bin",
        "~/.npm-global/bin",
        "~/.npm/bin",
        "~/.cargo/bin",
    ];
    dirs.iter()
        .chain(extra)
        .filter_map(|d| match d.strip_prefix("~/") {
            Some(rest) => home.as_ref().map(|h| h.join(rest)),
            None => Some(PathBuf::from(d)),
        })
        .map(|d| d.join(name))
        .find(|p| is_executable_file(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn probes_report_exit_output_and_absence() {
        let sh = Path::new("/bin/sh");
        let out = run(
            sh,
            &["-c", "echo; echo hello; echo err >&2"],
            Duration::from_secs(5),
        )
        .await;
        assert!(out.success());
        assert_eq!(out.first_line(), "hello");
        let out = run(sh, &["-c", "echo oops >&2; exit 3"], Duration::from_secs(5)).await;
        assert!(!out.success());
        assert_eq!(out.failure(), "exited with status 3: oops");
        let out = run(sh, &["-c", "sleep 5"], Duration::from_millis(100)).await;
        assert_eq!(out, ProbeOutcome::TimedOut);
        let out = run(
            Path::new("/nonexistent/ao-probe"),
            &[],
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(out, ProbeOutcome::NotFound);
        assert_eq!(out.failure(), "not installed");
    }

    #[test]
    fn lookup_finds_sh_and_not_nonsense() {
        assert!(find_binary("sh", &[]).is_some());
        assert!(find_binary("ao-no-such-binary-xyz", &["/nonexistent"]).is_none());
    }
}
