//! The `Runtime` port: the terminal multiplexer that hosts each agent (adapters.md §2, §3).
//!
//! A runtime session is named by [`runtime_name`] (sessions.md §1) and runs one launch string
//! (built by [`launch_string`]) under `/bin/sh -c`. There is no keep-alive shell: the pane dies
//! with the agent, the multiplexer keeps the dead pane, and the exit status is recorded both by
//! the multiplexer and in `<AO_DATA_DIR>/sessions/<id>/exit-status` ([`exit_status_path`]).
//!
//! Main types:
//! * [`Runtime`]: the object-safe port (`Arc<dyn Runtime>`), implemented by [`Tmux`] and
//!   [`Zellij`]. Async methods return a [`BoxFuture`]. Both pass the same runtime conformance
//!   suite (`conformance`, tests only).
//! * [`CreateSpec`] / [`LaunchSpec`]: what to start, where, with which argv and environment.
//! * [`ProbeTarget`] → [`Probe`]: the Reaper's classification `alive | exited(code) | missing |
//!   unknown` (sessions.md §14). A failed probe is [`Probe::Unknown`], never death.
//! * [`RuntimeError`]: failures, with [`RuntimeError::code`] giving the API error code.
//!
//! Pure helpers shared by every runtime: [`shell_quote`], [`launch_string`],
//! [`sanitize_for_terminal`] (http-api.md §7.3), [`runtime_name`], [`exit_status_path`].
//!
//! Invariants:
//! * A launch string executes exactly the given argv with exactly the given environment,
//!   whatever bytes the words contain (every word is single-quoted; NUL is rejected).
//! * Runtime names match `^[A-Za-z0-9_-]+$`, so they are safe as tmux/zellij targets.
//! * Text sent to an agent never contains control characters other than `\n` and `\t`, so a
//!   bracketed paste cannot be ended early.

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod proptests;
pub mod tmux;
pub mod zellij;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use ao_protocol::{ErrorCode, RuntimeKind, SessionId};
use sha2::{Digest, Sha256};

use crate::process::{Cmd, Output, ProcessError};

pub use tmux::Tmux;
pub use zellij::Zellij;

/// A boxed, `Send` future borrowing from its receiver: what the object-safe ports return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How long `create` waits after starting the agent before its early-exit probe.
pub const EARLY_EXIT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
/// How many trailing lines of output an early exit reports.
pub const EARLY_EXIT_TAIL_LINES: usize = 40;
/// The pause between pasting a message and pressing Enter (adapters.md §2.3).
pub const PASTE_SETTLE: std::time::Duration = std::time::Duration::from_millis(200);

/// The agent process to start: argv (argv\[0\] is the program) and its full environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LaunchSpec {
    pub argv: Vec<String>,
    /// Exported before the agent starts; keys are shell identifiers. `PATH` is exported last.
    pub env: BTreeMap<String, String>,
}

/// A runtime session to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    /// The runtime name ([`runtime_name`] of the session id).
    pub name: String,
    /// The AO session; tagged on the runtime session and used for the exit-status file.
    pub session_id: SessionId,
    /// The working directory of the agent (its worktree).
    pub cwd: PathBuf,
    pub launch: LaunchSpec,
}

/// One session to probe: its runtime name and the AO session it belongs to (whose
/// exit-status file is consulted when the multiplexer lost the exit code).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProbeTarget {
    pub name: String,
    pub session_id: SessionId,
}

/// What a probe observed about one runtime session (sessions.md §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// At least one pane runs.
    Alive,
    /// Every pane is dead; the agent's exit code when it is known.
    Exited(Option<i32>),
    /// The runtime session does not exist (or the multiplexer server is not running).
    Missing,
    /// The probe itself failed; nothing may be concluded.
    Unknown,
}

/// How a client attaches to a runtime session: `exec` this argv with these variables set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachSpec {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
}

/// A runtime session tagged with this daemon's `AO_HOME` (a candidate orphan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedSession {
    /// The runtime name.
    pub name: String,
    /// The `@ao_session` tag as stored (may be empty if tagging was interrupted).
    pub session_id: String,
}

/// Why a runtime operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The agent died during the early-exit window of `create`; the session was destroyed.
    #[error("the agent exited during startup ({})", exit_word(*.exit_code))]
    AgentExitedEarly {
        exit_code: Option<i32>,
        /// The last lines the pane showed (at most [`EARLY_EXIT_TAIL_LINES`]).
        output_tail: String,
    },
    /// The runtime session vanished during the early-exit window of `create`.
    #[error("runtime session {name} exited before ready")]
    ExitedBeforeReady { name: String },
    /// The launch could not be expressed (empty argv, NUL byte, bad variable name, …).
    #[error("invalid launch: {0}")]
    InvalidLaunch(String),
    /// Nothing remains to send once the text is sanitised.
    #[error("nothing to send: the text is empty once control characters are removed")]
    EmptyText,
    /// A file the runtime manages could not be written.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    /// The installed multiplexer cannot be used (too old, or its version is unreadable).
    #[error("{0}")]
    Unsupported(String),
    /// The session runs but has no agent pane (zellij: no terminal pane titled `agent`).
    #[error("runtime session {name} has no agent pane")]
    NoAgentPane { name: String },
    /// The multiplexer answered something AO cannot use.
    #[error("{0}")]
    Unexpected(String),
    /// A multiplexer command failed, timed out, or is not installed.
    #[error(transparent)]
    Command(#[from] ProcessError),
}

fn exit_word(code: Option<i32>) -> String {
    match code {
        Some(c) => format!("exit code {c}"),
        None => "exit code unknown".to_string(),
    }
}

impl RuntimeError {
    /// The API error code this failure is reported with (http-api.md §3).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::AgentExitedEarly { .. } => ErrorCode::AgentExitedEarly,
            _ => ErrorCode::RuntimeError,
        }
    }
}

/// A terminal multiplexer hosting agents. Object safe: hold it as `Arc<dyn Runtime>`.
///
/// Handles are runtime names; every method is idempotent where the spec says so (`destroy`).
pub trait Runtime: Send + Sync {
    /// Which multiplexer this is.
    fn kind(&self) -> RuntimeKind;

    /// Once per daemon boot: write configuration and fix up a running server.
    fn prepare(&self) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Starts the agent and runs the early-exit check (adapters.md §2.2).
    fn create<'a>(&'a self, spec: &'a CreateSpec) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Classifies every target with one batch probe; the map is keyed by runtime name and has
    /// an entry for every target.
    fn probe_all<'a>(&'a self, targets: &'a [ProbeTarget])
    -> BoxFuture<'a, HashMap<String, Probe>>;

    /// Classifies one session.
    fn probe_one<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Probe>;

    /// Ends the runtime session; an absent session (or server) counts as success.
    fn destroy<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// The last `lines` lines of the session's output, trailing blank lines removed.
    fn capture<'a>(
        &'a self,
        name: &'a str,
        lines: usize,
    ) -> BoxFuture<'a, Result<String, RuntimeError>>;

    /// Delivers `text` as one (bracketed) paste followed by one Enter (sessions.md §9.1). The
    /// text is sanitised with [`sanitize_for_terminal`] first.
    fn send<'a>(&'a self, name: &'a str, text: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Presses Enter once in the session, sending no text: the extra Enter of an unconfirmed
    /// delivery (sessions.md §9.4). `send` ends with the same key press.
    fn send_enter<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// The command a client `exec`s to attach to the session.
    fn attach(&self, name: &str) -> AttachSpec;

    /// Every runtime session tagged with this daemon's `AO_HOME`; the caller decides which are
    /// orphans (no live row). A server that is not running has none.
    fn list_orphans(&self) -> BoxFuture<'_, Result<Vec<TaggedSession>, RuntimeError>>;
}

/// Where the launch string records the agent's exit status:
/// `<data_dir>/sessions/<id>/exit-status`.
pub fn exit_status_path(data_dir: &Path, session_id: &SessionId) -> PathBuf {
    data_dir
        .join("sessions")
        .join(session_id.as_str())
        .join("exit-status")
}

/// Reads an exit-status file written by a launch string; `None` when absent or unparsable.
pub fn read_exit_status(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The runtime name of a session (sessions.md §1): the id itself when it matches
/// `^[A-Za-z0-9_-]{1,48}$`; otherwise each run of other characters becomes `-`, `-` is trimmed,
/// the result is cut to 32 characters, and `-` plus the first 8 hex chars of SHA-256(id) is
/// appended.
pub fn runtime_name(session_id: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !session_id.is_empty() && session_id.len() <= 48 && session_id.chars().all(plain) {
        return session_id.to_string();
    }
    let mut replaced = String::with_capacity(session_id.len());
    let mut in_run = false;
    for c in session_id.chars() {
        if plain(c) {
            replaced.push(c);
            in_run = false;
        } else if !in_run {
            replaced.push('-');
            in_run = true;
        }
    }
    let cut: String = replaced.trim_matches('-').chars().take(32).collect();
    let digest = hex::encode(Sha256::digest(session_id.as_bytes()));
    format!("{cut}-{}", &digest[..8])
}

/// Quotes one word for `/bin/sh` (adapters.md §1): wrapped in single quotes, each embedded
/// `'` written as `'\''`.
pub fn shell_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn is_shell_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `/bin/sh -c` script that starts an agent (adapters.md §2.2):
/// `export K1='v1'; …; 'argv0' 'argv1' …; s=$?; printf '%s' "$s" > '<file>'; exit "$s"`.
///
/// Keys are exported in sorted order with `PATH` last; the agent is a child of the shell (not
/// `exec`ed) so its exit status is always written to `exit_status_file`.
pub fn launch_string(
    env: &BTreeMap<String, String>,
    argv: &[String],
    exit_status_file: &Path,
) -> Result<String, RuntimeError> {
    if argv.is_empty() {
        return Err(RuntimeError::InvalidLaunch("the argv is empty".into()));
    }
    let no_nul = |what: &str, s: &str| {
        if s.contains('\0') {
            Err(RuntimeError::InvalidLaunch(format!(
                "{what} contains a NUL byte"
            )))
        } else {
            Ok(())
        }
    };
    let status_file = exit_status_file.to_str().ok_or_else(|| {
        RuntimeError::InvalidLaunch(format!(
            "exit-status path {} is not UTF-8",
            exit_status_file.display()
        ))
    })?;
    no_nul("the exit-status path", status_file)?;

    let mut parts = Vec::with_capacity(env.len() + 4);
    let ordered = env
        .iter()
        .filter(|(k, _)| k.as_str() != "PATH")
        .chain(env.get_key_value("PATH"));
    for (key, value) in ordered {
        if !is_shell_identifier(key) {
            return Err(RuntimeError::InvalidLaunch(format!(
                "environment variable name {key:?} is not a shell identifier"
            )));
        }
        no_nul(&format!("the value of {key}"), value)?;
        parts.push(format!("export {key}={}", shell_quote(value)));
    }
    for word in argv {
        no_nul("an argv word", word)?;
    }
    parts.push(
        argv.iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    );
    parts.push("s=$?".into());
    parts.push(format!("printf '%s' \"$s\" > {}", shell_quote(status_file)));
    parts.push("exit \"$s\"".into());
    Ok(parts.join("; "))
}

/// Makes sure the exit-status file can be written and holds no status of an earlier run.
pub(crate) fn prepare_status_file(path: &Path) -> Result<(), RuntimeError> {
    let io = |p: &Path, e: std::io::Error| RuntimeError::Io {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

/// The error of a multiplexer command that ran and exited unsuccessfully.
pub(crate) fn command_failed(cmd: &Cmd, out: &Output) -> ProcessError {
    ProcessError::Failed {
        program: cmd.program.clone(),
        argv: cmd.argv_lossy(),
        status: out.status,
        stderr_tail: crate::process::tail(&out.stderr, crate::process::STDERR_TAIL).to_string(),
    }
}

/// The lines of `screen` without its trailing blank lines.
pub(crate) fn trimmed_lines(screen: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = screen.lines().collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    lines
}

/// Send sanitising (http-api.md §7.3): `\r\n` and lone `\r` become `\n`, every other control
/// character except `\n` and `\t` is removed, and the result is trimmed.
pub fn sanitize_for_terminal(text: &str) -> String {
    ao_protocol::limits::sanitize_message(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{Cmd, run_unchecked};

    #[test]
    fn runtime_name_keeps_plain_ids() {
        assert_eq!(runtime_name("demo-3"), "demo-3");
        assert_eq!(runtime_name("My_Proj-12"), "My_Proj-12");
        let max = "a".repeat(48);
        assert_eq!(runtime_name(&max), max);
    }

    #[test]
    fn runtime_name_hashes_other_ids() {
        let digest = |s: &str| hex::encode(Sha256::digest(s.as_bytes()))[..8].to_string();
        assert_eq!(
            runtime_name("my.proj-1"),
            format!("my-proj-1-{}", digest("my.proj-1"))
        );
        // Runs of other characters become one '-', and '-' is trimmed at both ends.
        assert_eq!(
            runtime_name("..a.:.b..-2"),
            format!("a-b--2-{}", digest("..a.:.b..-2"))
        );
        // Too long: cut to 32 characters before the hash.
        let long = "a".repeat(49);
        assert_eq!(
            runtime_name(&long),
            format!("{}-{}", "a".repeat(32), digest(&long))
        );
        let dotted = format!("{}.x-1", "b".repeat(40));
        let name = runtime_name(&dotted);
        assert_eq!(name, format!("{}-{}", "b".repeat(32), digest(&dotted)));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn shell_quote_wraps_and_escapes_single_quotes() {
        assert_eq!(shell_quote("abc"), "'abc'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$x `y`"), "'$x `y`'");
    }

    #[test]
    fn launch_string_has_the_exact_shape() {
        let env = BTreeMap::from([
            ("PATH".to_string(), "/bin:/usr/bin".to_string()),
            ("ZED".to_string(), "z".to_string()),
            ("AO_SESSION_ID".to_string(), "demo-1".to_string()),
        ]);
        let argv = vec![
            "claude".to_string(),
            "--flag".to_string(),
            "it's".to_string(),
        ];
        let s = launch_string(&env, &argv, Path::new("/d/sessions/demo-1/exit-status"))
            .expect("valid launch");
        assert_eq!(
            s,
            "export AO_SESSION_ID='demo-1'; export ZED='z'; export PATH='/bin:/usr/bin'; \
             'claude' '--flag' 'it'\\''s'; s=$?; printf '%s' \"$s\" > \
             '/d/sessions/demo-1/exit-status'; exit \"$s\""
        );
        let bare =
            launch_string(&BTreeMap::new(), &["a".into()], Path::new("/f")).expect("valid launch");
        assert_eq!(bare, "'a'; s=$?; printf '%s' \"$s\" > '/f'; exit \"$s\"");
    }

    #[test]
    fn launch_string_rejects_what_it_cannot_express() {
        let f = Path::new("/f");
        let bad = |env: BTreeMap<String, String>, argv: Vec<String>| {
            matches!(
                launch_string(&env, &argv, f),
                Err(RuntimeError::InvalidLaunch(_))
            )
        };
        assert!(bad(BTreeMap::new(), vec![]));
        assert!(bad(BTreeMap::new(), vec!["a\0b".into()]));
        assert!(bad(
            BTreeMap::from([("A B".into(), "v".into())]),
            vec!["x".into()]
        ));
        assert!(bad(
            BTreeMap::from([("A;rm".into(), "v".into())]),
            vec!["x".into()]
        ));
        assert!(bad(
            BTreeMap::from([("A".into(), "v\0".into())]),
            vec!["x".into()]
        ));
    }

    #[tokio::test]
    async fn launch_string_runs_the_exact_argv_and_env_through_sh() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let status = tmp.path().join("exit-status");
        let hostile = [
            "plain",
            "",
            "it's a 'quote'",
            "double \" quote",
            "$HOME ${PATH} $(echo pwned)",
            "`echo pwned`",
            "line1\nline2\n",
            "back\\slash \\' mix",
            "; exit 9; #",
            "tab\there * ? [a]",
            "ünïcødé ✓",
        ];
        let mut argv: Vec<String> = vec![
            "/bin/sh".into(),
            "-c".into(),
            // Print every argument NUL-terminated, then the env values, then exit 5.
            r#"for a in "$@"; do printf '%s\0' "$a"; done; printf '%s\0' "$V1" "$V2" "$PATH"; exit 5"#
                .into(),
            "sh".into(),
        ];
        argv.extend(hostile.iter().map(|s| (*s).to_string()));
        let env = BTreeMap::from([
            ("V1".to_string(), "va'l $(x) `y`\nz".to_string()),
            ("V2".to_string(), "\"\\".to_string()),
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            ),
        ]);
        let launch = launch_string(&env, &argv, &status).expect("valid launch");
        let out = run_unchecked(&Cmd::new("/bin/sh").arg("-c").arg(&launch))
            .await
            .expect("sh runs");
        assert_eq!(out.status, Some(5), "stderr: {}", out.stderr);
        let mut got: Vec<&str> = out.stdout.split('\0').collect();
        assert_eq!(got.pop(), Some(""), "output ends with a NUL");
        let mut want: Vec<&str> = hostile.to_vec();
        want.push(&env["V1"]);
        want.push(&env["V2"]);
        want.push(&env["PATH"]);
        assert_eq!(got, want);
        assert_eq!(read_exit_status(&status), Some(5));
        assert_eq!(std::fs::read_to_string(&status).expect("status file"), "5");
    }

    #[test]
    fn sanitize_strips_controls_and_normalises_newlines() {
        assert_eq!(
            sanitize_for_terminal("  hi\r\nthere\rok\n "),
            "hi\nthere\nok"
        );
        assert_eq!(
            sanitize_for_terminal("a\u{1b}[201~b\u{7}c\u{0}d\u{9b}e\tf"),
            "a[201~bcde\tf"
        );
        assert_eq!(sanitize_for_terminal("\u{1b}\r\n\t "), "");
        assert_eq!(sanitize_for_terminal("ünï ✓"), "ünï ✓");
        // Idempotent.
        let once = sanitize_for_terminal(" x\r\r\ny\u{1b} ");
        assert_eq!(sanitize_for_terminal(&once), once);
        assert_eq!(once, "x\n\ny");
    }

    #[test]
    fn error_codes() {
        let early = RuntimeError::AgentExitedEarly {
            exit_code: Some(2),
            output_tail: String::new(),
        };
        assert_eq!(early.code(), ErrorCode::AgentExitedEarly);
        assert_eq!(
            early.to_string(),
            "the agent exited during startup (exit code 2)"
        );
        assert_eq!(
            RuntimeError::ExitedBeforeReady { name: "x".into() }.code(),
            ErrorCode::RuntimeError
        );
    }

    #[test]
    fn exit_status_path_is_under_the_session_dir() {
        let id = SessionId::parse("demo-4").expect("valid id");
        assert_eq!(
            exit_status_path(Path::new("/d"), &id),
            Path::new("/d/sessions/demo-4/exit-status")
        );
    }
}
