//! `ao hooks <agent> <event>` (hidden; sessions.md §12, §12.1, cli.md §7): the agent's hook
//! callback. It reports the activity an agent hook implies to the daemon.
//!
//! Steps: check `AO_SESSION_ID` (`^[A-Za-z0-9._-]+$`, else exit without reading stdin) → read
//! stdin (≤ 1 MiB; a TTY, empty or invalid JSON is `{}`) → derive `(state?, agentSessionId?)`
//! with [`ao_protocol::hooks::derive`] (unknown agent or event, or nothing derived: exit) →
//! `POST /api/v1/sessions/<id>/activity` with the run-file's token (2 s timeout). A 401 means
//! the daemon that wrote the run-file was replaced by a new one on the same port after the
//! file was read (a crash and a restart): the run-file is read again and the post retried with
//! the new token (or, when no new daemon shows up in time and the old pid is dead, spooled).
//!
//! On failure: one line on stderr, and `<RFC3339> session=<id> ao hooks <agent> <event>:
//! <error>` appended to `$AO_DATA_DIR/hooks.log` (emptied first once it exceeds 1 MiB). When
//! the daemon is unreachable (no run-file, dead pid, connection refused, timeout, or a daemon
//! that is starting or shutting down), the signal is also appended, stamped with the time it is
//! spooled, as a [`SpoolEntry`] line to
//! `$AO_DATA_DIR/hooks.spool` under an exclusive `flock`; the spool is capped at 10 MiB by
//! dropping its oldest lines.
//!
//! Invariants: stdout stays empty; the command always exits 0 (also with a bad environment);
//! everything, stdin included, is bounded so the command finishes within 3 s.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use ao_protocol::hooks::{SpoolEntry, derive};
use ao_protocol::{EnvConfig, ErrorBody, ErrorCode, RunFile};
use nix::fcntl::{Flock, FlockArg};
use serde_json::{Value, json};

use crate::client::{RunFileState, pid_alive, read_run_file};

/// Most stdin that is read (1 MiB).
pub const STDIN_MAX_BYTES: u64 = 1024 * 1024;
/// `hooks.log` is emptied before a write once it is larger than this (1 MiB).
pub const LOG_MAX_BYTES: u64 = 1024 * 1024;
/// `hooks.spool` never grows past this (10 MiB); the oldest lines are dropped.
pub const SPOOL_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The whole command's budget (sessions.md §12: "MUST finish within 3 s"), with a margin.
const TOTAL_BUDGET: Duration = Duration::from_millis(2800);
/// How long stdin may take to reach end of file.
const STDIN_BUDGET: Duration = Duration::from_millis(700);
/// The activity request's timeout.
const POST_TIMEOUT: Duration = Duration::from_secs(2);
/// Time kept in reserve for writing `hooks.log` and the spool.
const WRITE_RESERVE: Duration = Duration::from_millis(250);

/// Whether `id` may be a session id as far as `ao hooks` is concerned.
pub fn session_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The payload of a hook: `{}` for empty or invalid input.
pub fn parse_payload(bytes: &[u8]) -> Value {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return json!({});
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| json!({}))
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The daemon could not be reached: the signal is spooled.
    Unreachable(String),
    /// The daemon answered with an error (or something else went wrong): logged only.
    Failed(String),
}

impl Failure {
    fn message(&self) -> &str {
        match self {
            Failure::Unreachable(m) | Failure::Failed(m) => m,
        }
    }
}

/// Runs `ao hooks <agent> <event>`. Never fails: every problem is reported on stderr (and in
/// `hooks.log`), and the caller exits 0.
pub fn run(agent: &str, event: &str) {
    let started = Instant::now();
    let at = ao_protocol::time::now();
    let session = std::env::var("AO_SESSION_ID").unwrap_or_default();
    if !session_id_ok(&session) {
        return;
    }
    let payload = read_stdin(STDIN_BUDGET);
    let derived = derive(agent, event, &payload);
    if !derived.known || (derived.state.is_none() && derived.agent_session_id.is_none()) {
        return;
    }
    let env = match EnvConfig::from_env() {
        Ok(env) => env,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: ao hooks {agent} {event}: invalid environment: {e}"
            );
            return;
        }
    };
    let entry = SpoolEntry {
        session_id: session.clone(),
        agent: agent.to_string(),
        event: event.to_string(),
        state: derived.state,
        agent_session_id: derived.agent_session_id,
        at,
    };
    let deadline = started + TOTAL_BUDGET;
    let Err(failure) = deliver(&env, &entry, deadline) else {
        return;
    };
    let _ = writeln!(
        std::io::stderr(),
        "error: ao hooks {agent} {event}: {}",
        failure.message()
    );
    let line = format!(
        "{} session={session} ao hooks {agent} {event}: {}",
        ao_protocol::time::now(),
        failure.message()
    );
    if let Err(e) = append_log(&env.hooks_log(), &line) {
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot write {}: {e}",
            env.hooks_log().display()
        );
    }
    if matches!(failure, Failure::Unreachable(_)) {
        // Stamped now, not when the hook started: whatever the unreachable daemon applied, it
        // applied before this moment (a signal it held during a spawn, for instance, is
        // stamped when it is applied), so the replay's `at` rule (sessions.md §12.1) never
        // ranks this signal behind a fact that it follows.
        let entry = SpoolEntry {
            at: ao_protocol::time::now(),
            ..entry
        };
        let spool = env.data_dir.join("hooks.spool");
        match append_spool(&spool, &entry, SPOOL_MAX_BYTES, deadline) {
            Ok(0) => {}
            Ok(dropped) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: {} exceeded 10 MiB; dropped its {dropped} oldest line(s)",
                    spool.display()
                );
            }
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "error: cannot append to {}: {e}",
                    spool.display()
                );
            }
        }
    }
}

/// Reads at most 1 MiB of stdin within `budget`, on a thread of its own so that an agent that
/// never closes stdin cannot hold the command (the thread dies with the process). A TTY, a
/// slow or unreadable stdin, and invalid JSON all give `{}`.
fn read_stdin(budget: Duration) -> Value {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return json!({});
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let ok = stdin
            .lock()
            .take(STDIN_MAX_BYTES)
            .read_to_end(&mut buf)
            .is_ok();
        let _ = tx.send(ok.then_some(buf));
    });
    match rx.recv_timeout(budget) {
        Ok(Some(bytes)) => parse_payload(&bytes),
        _ => json!({}),
    }
}

/// The request body of the activity callback.
pub fn activity_body(entry: &SpoolEntry) -> Value {
    let mut body = json!({ "event": entry.event });
    if let Some(state) = entry.state {
        body["state"] = json!(state);
    }
    if let Some(id) = &entry.agent_session_id {
        body["agentSessionId"] = json!(id);
    }
    body
}

/// Posts the signal to the daemon, retrying a starting daemon until the deadline.
fn deliver(env: &EnvConfig, entry: &SpoolEntry, deadline: Instant) -> Result<(), Failure> {
    let run = match read_run_file(&env.run_file) {
        RunFileState::Missing => {
            return Err(Failure::Unreachable(
                "AO daemon is not running (no run-file)".into(),
            ));
        }
        RunFileState::Unreadable(why) => {
            return Err(Failure::Unreachable(format!(
                "cannot read the run-file {}: {why}",
                env.run_file.display()
            )));
        }
        RunFileState::Present(rf) if !pid_alive(rf.pid) => {
            return Err(Failure::Unreachable(format!(
                "AO daemon is not running (stale run-file at {})",
                env.run_file.display()
            )));
        }
        RunFileState::Present(rf) => rf,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(post(&env.run_file, run, entry, deadline))
}

/// After a 401: the daemon that wrote the run-file we read may have been replaced since (it
/// was killed and a new one took the same port with a new token, sessions.md §16–17). Waits
/// for a run-file with another token and a live pid until `deadline`; `None` when none came.
async fn replacement(run_file: &Path, used: &RunFile, deadline: Instant) -> Option<RunFile> {
    loop {
        if let RunFileState::Present(rf) = read_run_file(run_file)
            && rf.token != used.token
            && pid_alive(rf.pid)
        {
            return Some(rf);
        }
        let pause = Duration::from_millis(50);
        if Instant::now() + pause + WRITE_RESERVE >= deadline {
            return None;
        }
        tokio::time::sleep(pause).await;
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}

async fn post(
    run_file: &Path,
    mut run: RunFile,
    entry: &SpoolEntry,
    deadline: Instant,
) -> Result<(), Failure> {
    ao_daemon::install_crypto_provider();
    let http = reqwest::Client::builder()
        .connect_timeout(POST_TIMEOUT)
        .no_proxy()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot build the HTTP client: {}", describe(&e))))?;
    let body = activity_body(entry);
    loop {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/sessions/{}/activity",
            run.port, entry.session_id
        );
        let left = deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(WRITE_RESERVE);
        let timeout = left.min(POST_TIMEOUT);
        if timeout.is_zero() {
            return Err(Failure::Unreachable(
                "the AO daemon did not answer in time".into(),
            ));
        }
        let sent = http
            .post(&url)
            .bearer_auth(&run.token)
            .timeout(timeout)
            .json(&body)
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if e.is_timeout() => {
                return Err(Failure::Unreachable(format!(
                    "request to the AO daemon timed out after {}",
                    ao_protocol::env::format_duration(timeout)
                )));
            }
            Err(e) => {
                return Err(Failure::Unreachable(format!(
                    "cannot reach the AO daemon at 127.0.0.1:{}: {}",
                    run.port,
                    describe(&e)
                )));
            }
        };
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let error: Option<ErrorBody> = resp.json().await.ok();
        let code = error.as_ref().map(|b| b.code.clone()).unwrap_or_default();
        let text = match &error {
            Some(b) => format!("{} ({})", b.message, b.code),
            None => format!("daemon returned HTTP {status}"),
        };
        if code == ErrorCode::DaemonStarting.as_str() {
            let pause = Duration::from_millis(250);
            if Instant::now() + pause + WRITE_RESERVE < deadline {
                tokio::time::sleep(pause).await;
                continue;
            }
            return Err(Failure::Unreachable(text));
        }
        // Shutting down, or the database locked by another process (nothing was written):
        // the signal is spooled, and the next daemon — or this one's next Reaper tick — replays it.
        if code == ErrorCode::DaemonShuttingDown.as_str()
            || code == ErrorCode::ServiceUnavailable.as_str()
        {
            return Err(Failure::Unreachable(text));
        }
        if code == ErrorCode::Unauthorized.as_str() {
            // A new daemon answered with the old daemon's token: retry with the new run-file.
            // If none appears, the daemon we meant is gone: spool (a dead pid) or give up.
            match replacement(run_file, &run, deadline).await {
                Some(newer) => {
                    run = newer;
                    continue;
                }
                None if !pid_alive(run.pid) => return Err(Failure::Unreachable(text)),
                None => return Err(Failure::Failed(text)),
            }
        }
        return Err(Failure::Failed(text));
    }
}

/// Creates `dir` (and its parents) with mode 0700 when it is missing.
fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn open_private(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        ensure_dir(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Appends one line to `hooks.log`, emptying the file first when it exceeds 1 MiB.
pub fn append_log(path: &Path, line: &str) -> std::io::Result<()> {
    let file = open_private(path)?;
    if file.metadata()?.len() > LOG_MAX_BYTES {
        file.set_len(0)?;
    }
    let mut file = file;
    file.write_all(format!("{line}\n").as_bytes())
}

/// Takes the exclusive lock on `file`, retrying until `deadline`.
fn lock(file: File, deadline: Instant) -> std::io::Result<Flock<File>> {
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((f, errno)) => {
                if errno != nix::errno::Errno::EWOULDBLOCK || Instant::now() >= deadline {
                    return Err(std::io::Error::from(errno));
                }
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Appends `entry` as one JSON line to the spool under an exclusive `flock`. When the spool
/// would grow past `max` bytes, its oldest lines are dropped first; returns how many.
pub fn append_spool(
    path: &Path,
    entry: &SpoolEntry,
    max: u64,
    deadline: Instant,
) -> std::io::Result<usize> {
    let mut line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut file = lock(open_private(path)?, deadline)?;
    let len = file.metadata()?.len();
    let mut dropped = 0;
    if len + line.len() as u64 > max {
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_end(&mut text)?;
        let budget = (max as usize).saturating_sub(line.len());
        let mut start = 0;
        while text.len() - start > budget {
            match text[start..].iter().position(|b| *b == b'\n') {
                Some(i) => start += i + 1,
                None => start = text.len(),
            }
            dropped += 1;
        }
        file.set_len(0)?;
        file.write_all(&text[start..])?;
    }
    file.write_all(line.as_bytes())?;
    file.flush()?;
    Ok(dropped)
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use ao_protocol::ActivityState;

    fn entry(n: usize) -> SpoolEntry {
        SpoolEntry {
            session_id: format!("demo-{n}"),
            agent: "codex".into(),
            event: "stop".into(),
            state: Some(ActivityState::Idle),
            agent_session_id: None,
            at: "2026-07-01T09:00:00.000Z".into(),
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    #[test]
    fn session_id_format() {
        for ok in ["demo-1", "a.b_c-2", "X"] {
            assert!(session_id_ok(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "a;b", "é-1"] {
            assert!(!session_id_ok(bad), "{bad}");
        }
    }

    #[test]
    fn payloads_default_to_an_empty_object() {
        assert_eq!(parse_payload(b""), json!({}));
        assert_eq!(parse_payload(b" \n"), json!({}));
        assert_eq!(parse_payload(b"{not json"), json!({}));
        assert_eq!(
            parse_payload(br#"{"session_id":"x"}"#),
            json!({"session_id": "x"})
        );
    }

    #[test]
    fn activity_body_carries_what_was_derived() {
        let mut e = entry(1);
        assert_eq!(activity_body(&e), json!({"event": "stop", "state": "idle"}));
        e.state = None;
        e.agent_session_id = Some("abc".into());
        assert_eq!(
            activity_body(&e),
            json!({"event": "stop", "agentSessionId": "abc"})
        );
    }

    #[test]
    fn log_is_created_private_and_emptied_past_1_mib() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("data").join("hooks.log");
        append_log(&log, "first").expect("append");
        append_log(&log, "second").expect("append");
        assert_eq!(
            std::fs::read_to_string(&log).expect("read"),
            "first\nsecond\n"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&log, vec![b'x'; (LOG_MAX_BYTES + 1) as usize]).expect("fill");
        append_log(&log, "fresh").expect("append");
        assert_eq!(std::fs::read_to_string(&log).expect("read"), "fresh\n");
    }

    #[test]
    fn spool_appends_json_lines_and_drops_the_oldest_past_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = dir.path().join("hooks.spool");
        for n in 1..=3 {
            assert_eq!(
                append_spool(&spool, &entry(n), SPOOL_MAX_BYTES, later()).expect("append"),
                0
            );
        }
        let text = std::fs::read_to_string(&spool).expect("read");
        let lines: Vec<SpoolEntry> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("spool line"))
            .collect();
        assert_eq!(lines, vec![entry(1), entry(2), entry(3)]);

        // A cap that fits two lines: each append beyond drops the oldest.
        let one = serde_json::to_string(&entry(1)).expect("json").len() as u64 + 1;
        let dropped = append_spool(&spool, &entry(4), 2 * one, later()).expect("append");
        assert_eq!(dropped, 2);
        let text = std::fs::read_to_string(&spool).expect("read");
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<SpoolEntry>(l)
                    .expect("line")
                    .session_id
            })
            .collect();
        assert_eq!(ids, ["demo-3", "demo-4"]);
    }

    #[test]
    fn spool_lock_is_exclusive_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = dir.path().join("hooks.spool");
        let held = Flock::lock(open_private(&spool).expect("open"), FlockArg::LockExclusive)
            .expect("lock");
        let err = append_spool(
            &spool,
            &entry(1),
            SPOOL_MAX_BYTES,
            Instant::now() + Duration::from_millis(100),
        )
        .expect_err("locked");
        assert_eq!(
            err.raw_os_error(),
            Some(nix::errno::Errno::EWOULDBLOCK as i32)
        );
        drop(held);
        append_spool(&spool, &entry(1), SPOOL_MAX_BYTES, later()).expect("append");
    }
}
