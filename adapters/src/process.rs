//! Running child processes: the only place in `ao` that starts one (adapters.md §1).
//!
//! A [`Cmd`] is an argv vector plus working directory, environment changes, optional stdin bytes
//! and a timeout. [`run`] executes it and fails on a non-zero exit; [`run_unchecked`] returns the
//! [`Output`] whatever the exit status.
//!
//! Invariants:
//! * No shell is involved: the program is executed directly with its argument vector.
//! * Every run is bounded by [`Cmd::timeout`]; on expiry the child is killed (the tokio child
//!   is created with `kill_on_drop`) and [`ProcessError::Timeout`] is returned.
//! * stdout and stderr are each captured up to [`CAPTURE_LIMIT`] bytes; the rest is read and
//!   discarded so that a chatty child never blocks on a full pipe.
//! * Errors carry the program, the argv, the exit status and the last [`STDERR_TAIL`] bytes of
//!   stderr. A program that cannot be found is [`ProcessError::NotInstalled`].

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// At most this many bytes of stdout and of stderr are kept.
pub const CAPTURE_LIMIT: usize = 1 << 20;
/// Errors carry at most this many trailing bytes of stderr.
pub const STDERR_TAIL: usize = 4 << 10;
/// The timeout of a [`Cmd`] that did not set one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// glibc's cap on malloc arenas. The daemon runs with it set to 1 (see
/// `ao_daemon::main_entry`); children do not inherit that setting.
pub const MALLOC_ARENA_VAR: &str = "MALLOC_ARENA_MAX";
/// Set beside [`MALLOC_ARENA_VAR`] when the daemon set the cap itself (rather than the
/// operator): every child process then starts without either variable.
pub const MALLOC_ARENA_MARKER: &str = "AO_DAEMON_MALLOC_ARENA";

/// A command to run: program, argv and environment. Built with the chained methods below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up on `PATH` unless it contains a `/`.
    pub program: String,
    /// The arguments, without the program itself.
    pub args: Vec<OsString>,
    /// The working directory; the daemon's when `None`.
    pub cwd: Option<PathBuf>,
    /// Variables set (or overridden) in the child's environment.
    pub env: Vec<(String, String)>,
    /// Variables removed from the child's environment.
    pub env_remove: Vec<String>,
    /// Bytes written to the child's stdin, which is then closed. `None` gives `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// The whole run (spawn, I/O, exit) must finish within this.
    pub timeout: Duration,
}

impl Cmd {
    /// A command running `program` with no arguments and the [`DEFAULT_TIMEOUT`].
    pub fn new(program: impl Into<String>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Appends several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Feeds these bytes to the child's stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Bounds the whole run.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The arguments as (lossily decoded) strings, for errors and logs.
    pub fn argv_lossy(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }
}

/// What a finished child produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when the child was ended by a signal.
    pub status: Option<i32>,
    /// stdout (at most [`CAPTURE_LIMIT`] bytes, decoded lossily as UTF-8).
    pub stdout: String,
    /// stderr (at most [`CAPTURE_LIMIT`] bytes, decoded lossily as UTF-8).
    pub stderr: String,
}

impl Output {
    /// Whether the child exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The program is not on `PATH` (or the given path does not exist).
    #[error("{program} is not installed (not found on PATH)")]
    NotInstalled { program: String },
    /// The run did not finish within its timeout; the child was killed.
    #[error("{program} {} timed out after {after:?}", .argv.join(" "))]
    Timeout {
        program: String,
        argv: Vec<String>,
        after: Duration,
    },
    /// The child exited with a non-zero status (or was killed by a signal).
    #[error("{program} {} failed with {}: {}", .argv.join(" "), StatusWord(*.status), .stderr_tail.trim())]
    Failed {
        program: String,
        argv: Vec<String>,
        status: Option<i32>,
        /// The last 4 KiB of stderr.
        stderr_tail: String,
    },
    /// Spawning or talking to the child failed for another reason.
    #[error("{program}: {message}")]
    Io { program: String, message: String },
}

struct StatusWord(Option<i32>);

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, "exit status {code}"),
            None => f.write_str("a signal"),
        }
    }
}

/// Runs `cmd` and returns its output; a non-zero exit is [`ProcessError::Failed`].
pub async fn run(cmd: &Cmd) -> Result<Output, ProcessError> {
    let out = run_unchecked(cmd).await?;
    if out.success() {
        Ok(out)
    } else {
        Err(ProcessError::Failed {
            program: cmd.program.clone(),
            argv: cmd.argv_lossy(),
            status: out.status,
            stderr_tail: tail(&out.stderr, STDERR_TAIL).to_string(),
        })
    }
}

/// Runs `cmd` and returns its output whatever the exit status. Errors only when the child
/// could not be started, timed out, or its pipes failed.
pub async fn run_unchecked(cmd: &Cmd) -> Result<Output, ProcessError> {
    injected_fault(cmd).await?;
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .kill_on_drop(true)
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = &cmd.cwd {
        command.current_dir(cwd);
    }
    if std::env::var_os(MALLOC_ARENA_MARKER).is_some() {
        command
            .env_remove(MALLOC_ARENA_VAR)
            .env_remove(MALLOC_ARENA_MARKER);
    }
    for key in &cmd.env_remove {
        command.env_remove(key);
    }
    for (key, value) in &cmd.env {
        command.env(key, value);
    }
    tracing::debug!(program = %cmd.program, argv = ?cmd.argv_lossy(), "running");

    let mut child = command.spawn().map_err(|e| spawn_error(cmd, &e))?;
    let io_err = |e: std::io::Error| ProcessError::Io {
        program: cmd.program.clone(),
        message: e.to_string(),
    };

    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let input = cmd.stdin.as_deref();
    let work = async {
        let feed = async {
            if let (Some(mut pipe), Some(bytes)) = (stdin, input) {
                // A child that exits without reading its stdin is not an error.
                match pipe.write_all(bytes).await {
                    Ok(()) | Err(_) => {}
                }
                drop(pipe);
            }
        };
        let ((), out, err, status) = tokio::join!(
            feed,
            read_bounded(stdout),
            read_bounded(stderr),
            child.wait()
        );
        let status = status.map_err(io_err)?;
        Ok::<_, ProcessError>(Output {
            status: status.code(),
            stdout: String::from_utf8_lossy(&out.map_err(io_err)?).into_owned(),
            stderr: String::from_utf8_lossy(&err.map_err(io_err)?).into_owned(),
        })
    };
    match tokio::time::timeout(cmd.timeout, work).await {
        Ok(result) => result,
        // Dropping `work` and then `child` kills the process (kill_on_drop).
        Err(_) => Err(ProcessError::Timeout {
            program: cmd.program.clone(),
            argv: cmd.argv_lossy(),
            after: cmd.timeout,
        }),
    }
}

/// Fault-injection point `process.run` (`fault-injection` feature only, see
/// `ao_protocol::faults`; subject `<program> <argv…>`): `Hang` blocks for the command's timeout
/// (or the fault's) and then fails with [`ProcessError::Timeout`], as a child that never exits
/// does; `Busy` and `Io` fail with [`ProcessError::Io`], as a child that cannot be started does;
/// `Panic` panics in the caller.
#[cfg(feature = "fault-injection")]
async fn injected_fault(cmd: &Cmd) -> Result<(), ProcessError> {
    use ao_protocol::faults::{self, Fault, point};
    let subject = format!("{} {}", cmd.program, cmd.argv_lossy().join(" "));
    match faults::fire(point::PROCESS_RUN, &subject) {
        None => Ok(()),
        Some(Fault::Hang { timeout }) => {
            let after = timeout.unwrap_or(cmd.timeout);
            tokio::time::sleep(after).await;
            Err(ProcessError::Timeout {
                program: cmd.program.clone(),
                argv: cmd.argv_lossy(),
                after,
            })
        }
        Some(Fault::Busy | Fault::Io) => Err(ProcessError::Io {
            program: cmd.program.clone(),
            message: "injected I/O error".into(),
        }),
        Some(Fault::Panic) => panic!("injected panic running {subject}"),
    }
}

/// Without the `fault-injection` feature the point does nothing.
#[cfg(not(feature = "fault-injection"))]
#[allow(clippy::unused_async)]
async fn injected_fault(_: &Cmd) -> Result<(), ProcessError> {
    Ok(())
}

fn spawn_error(cmd: &Cmd, e: &std::io::Error) -> ProcessError {
    if e.kind() == std::io::ErrorKind::NotFound {
        if let Some(cwd) = &cmd.cwd
            && !cwd.is_dir()
        {
            return ProcessError::Io {
                program: cmd.program.clone(),
                message: format!("working directory {} does not exist", cwd.display()),
            };
        }
        return ProcessError::NotInstalled {
            program: cmd.program.clone(),
        };
    }
    ProcessError::Io {
        program: cmd.program.clone(),
        message: format!("cannot start: {e}"),
    }
}

/// Reads a pipe to its end, keeping at most [`CAPTURE_LIMIT`] bytes.
async fn read_bounded<R: AsyncRead + Unpin>(pipe: Option<R>) -> std::io::Result<Vec<u8>> {
    let Some(mut pipe) = pipe else {
        return Ok(Vec::new());
    };
    let mut kept = Vec::new();
    let mut chunk = vec![0u8; 16 << 10];
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = CAPTURE_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..n.min(room)]);
    }
}

/// The last `max` bytes of `s`, starting on a character boundary.
pub fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_stdout_stderr_and_status() {
        let out = run_unchecked(&Cmd::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]))
            .await
            .expect("sh runs");
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.success());
    }

    #[tokio::test]
    async fn run_fails_on_non_zero_exit_with_the_stderr_tail() {
        let err = run(&Cmd::new("sh").args(["-c", "echo boom >&2; exit 2"]))
            .await
            .expect_err("non-zero exit");
        match &err {
            ProcessError::Failed {
                program,
                argv,
                status,
                stderr_tail,
            } => {
                assert_eq!(program, "sh");
                assert_eq!(argv, &["-c", "echo boom >&2; exit 2"]);
                assert_eq!(*status, Some(2));
                assert_eq!(stderr_tail, "boom\n");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("exit status 2: boom"), "{err}");
    }

    #[tokio::test]
    async fn stderr_tail_is_bounded_to_4_kib() {
        let err = run(&Cmd::new("sh").args([
            "-c",
            "head -c 10000 /dev/zero | tr '\\0' x >&2; echo END >&2; exit 1",
        ]))
        .await
        .expect_err("non-zero exit");
        let ProcessError::Failed { stderr_tail, .. } = err else {
            panic!("expected Failed");
        };
        assert_eq!(stderr_tail.len(), STDERR_TAIL);
        assert!(stderr_tail.ends_with("END\n"));
    }

    #[tokio::test]
    async fn capture_is_bounded_and_the_child_is_drained() {
        // 3 MiB on stdout: more than the pipe buffer and the capture limit.
        let out = run(&Cmd::new("sh").args(["-c", "head -c 3145728 /dev/zero"]))
            .await
            .expect("child finishes although its output exceeds the limit");
        assert_eq!(out.stdout.len(), CAPTURE_LIMIT);
    }

    #[tokio::test]
    async fn missing_program_is_not_installed() {
        let err = run(&Cmd::new("ao-definitely-not-a-program-xyz"))
            .await
            .expect_err("missing");
        assert_eq!(
            err,
            ProcessError::NotInstalled {
                program: "ao-definitely-not-a-program-xyz".into()
            }
        );
    }

    #[tokio::test]
    async fn missing_cwd_is_an_io_error_not_a_missing_program() {
        let err = run(&Cmd::new("sh").cwd("/nonexistent/ao/dir"))
            .await
            .expect_err("bad cwd");
        assert!(
            matches!(&err, ProcessError::Io { message, .. } if message.contains("does not exist")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_child() {
        let started = std::time::Instant::now();
        let err = run(&Cmd::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(200)))
        .await
        .expect_err("times out");
        assert!(matches!(err, ProcessError::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn stdin_env_and_cwd_are_applied() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = run(&Cmd::new("sh")
            .args([
                "-c",
                "cat; printf ' %s %s' \"$AO_T\" \"${HOME:-unset}\"; pwd -P",
            ])
            .stdin("hello")
            .env("AO_T", "v1")
            .env_remove("HOME")
            .cwd(dir.path()))
        .await
        .expect("runs");
        let canonical = dir.path().canonicalize().expect("canonical");
        assert_eq!(
            out.stdout,
            format!("hello v1 unset{}\n", canonical.display())
        );
    }

    #[test]
    fn tail_respects_char_boundaries() {
        assert_eq!(tail("abc", 10), "abc");
        assert_eq!(tail("abcdef", 3), "def");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }
}
