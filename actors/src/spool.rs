//! Boot replay of the hook spool (sessions.md §12.1, README §4.2).
//!
//! While the daemon is down, `ao hooks` appends every signal it could not deliver to
//! `$AO_DATA_DIR/hooks.spool`: one JSON object per line ([`SpoolEntry`]), under an exclusive
//! `flock`. [`replay`] runs at boot, after the tree started and before reconcile, and again
//! from the Reaper's tick whenever the file is not empty ([`replay_pending`]): a hook that met
//! the daemon still `starting` after the boot replay (or a daemon that had just replaced the
//! one whose run-file it read) spools its signal too, and it must not wait for the next boot.
//! [`replay`] takes the
//! same lock, hands every line, in file order, to the LifecycleReducer
//! (`apply_spooled_activity`, one transaction per line, which applies a state only when the
//! line's `at` is later than the stored `activity_last_at`), logs and skips malformed lines,
//! then truncates the file and releases the lock. The SessionActor of every session whose row
//! changed is told to reload it.
//!
//! Types: [`SpoolReport`] (what the replay did), [`SPOOL_FILE`].
//!
//! Invariants:
//! * The reducer stays the only writer of SQLite; this module only reads and truncates the file.
//! * The file is truncated only after every line reached the reducer. When the reducer cannot
//!   be reached the file is kept whole for the next boot (replaying a line twice is harmless:
//!   the `at` rule makes the second application a no-op).
//! * A line is malformed when it is not UTF-8 JSON of a [`SpoolEntry`], or its session id,
//!   `at` or `agentSessionId` is invalid; it is logged and skipped, never fatal.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ao_protocol::hooks::SpoolEntry;
use ao_protocol::limits::is_valid_agent_session_id;
use ao_protocol::{ActivityState, SessionId, time};
use nix::fcntl::{Flock, FlockArg};

use crate::sessions::SessionServices;
use crate::sessions::actor::SessionMsg;

/// The spool's file name inside `$AO_DATA_DIR`.
pub const SPOOL_FILE: &str = "hooks.spool";

/// How long the replay waits for a hook process to release the spool lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// What a spool replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolReport {
    /// Non-empty lines read.
    pub lines: usize,
    /// Lines that changed a session.
    pub applied: usize,
    /// Well-formed lines that changed nothing (older than the stored activity, unknown or
    /// terminated session).
    pub ignored: usize,
    /// Lines logged and skipped.
    pub malformed: usize,
    /// The file was emptied.
    pub truncated: bool,
}

/// One well-formed spool line.
struct Signal {
    session: SessionId,
    state: Option<ActivityState>,
    agent_session_id: Option<String>,
    at: String,
}

/// Parses one line; the error is what the log says.
fn parse_line(line: &[u8]) -> Result<Signal, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let entry: SpoolEntry = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let session = SessionId::parse(&entry.session_id)
        .map_err(|e| format!("invalid sessionId {:?}: {e}", entry.session_id))?;
    if time::parse(&entry.at).is_none() {
        return Err(format!("invalid at {:?}", entry.at));
    }
    let agent_session_id = entry.agent_session_id.filter(|a| !a.is_empty());
    if let Some(a) = &agent_session_id
        && !is_valid_agent_session_id(a)
    {
        return Err(format!("invalid agentSessionId {a:?}"));
    }
    Ok(Signal {
        session,
        state: entry.state,
        agent_session_id,
        at: entry.at,
    })
}

/// Opens the spool and takes its exclusive lock, retrying until [`LOCK_WAIT`] has passed.
/// `None` when there is no spool.
fn lock(path: &Path) -> std::io::Result<Option<(Flock<File>, Vec<u8>)>> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let deadline = Instant::now() + LOCK_WAIT;
    let mut file = file;
    let mut locked = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => break locked,
            Err((f, errno)) => {
                if errno != nix::errno::Errno::EWOULDBLOCK || Instant::now() >= deadline {
                    return Err(std::io::Error::from(errno));
                }
                file = f;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let mut bytes = Vec::new();
    locked.read_to_end(&mut bytes)?;
    Ok(Some((locked, bytes)))
}

/// Replays `$AO_DATA_DIR/hooks.spool` (see the module doc).
pub(crate) async fn replay(svc: &SessionServices) -> std::io::Result<SpoolReport> {
    let path: PathBuf = svc.data_dir.join(SPOOL_FILE);
    let opened = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || lock(&path))
            .await
            .map_err(std::io::Error::other)??
    };
    let mut report = SpoolReport::default();
    let Some((locked, bytes)) = opened else {
        return Ok(report);
    };
    let mut changed = BTreeSet::new();
    let mut complete = true;
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        report.lines += 1;
        let signal = match parse_line(line) {
            Ok(s) => s,
            Err(why) => {
                report.malformed += 1;
                tracing::warn!(path = %path.display(), line = n + 1, "hook spool: malformed line skipped: {why}");
                continue;
            }
        };
        match svc
            .reducer
            .apply_spooled_activity(
                &signal.session,
                signal.state,
                signal.agent_session_id,
                signal.at,
                svc.timeouts.short,
            )
            .await
        {
            Ok(true) => {
                report.applied += 1;
                changed.insert(signal.session);
            }
            Ok(false) => report.ignored += 1,
            Err(e) => {
                tracing::warn!(error = %e, "hook spool: the reducer is not available; the spool is kept for the next boot");
                complete = false;
                break;
            }
        }
    }
    if complete {
        report.truncated = tokio::task::spawn_blocking(move || {
            let truncated = locked.set_len(0);
            drop(locked);
            truncated
        })
        .await
        .map_err(std::io::Error::other)?
        .map(|()| true)?;
    }
    for id in changed {
        if let Some(actor) = svc.registry.sessions.get(&id).map(|a| a.clone()) {
            let _ = actor.cast(SessionMsg::Reload);
        }
    }
    if report.lines > 0 {
        tracing::info!(?report, "hook spool replayed");
    }
    Ok(report)
}

/// [`replay`] when the spool holds anything and boot reconcile (which replays it first) is
/// not running; the Reaper calls this on every tick. Problems are logged.
pub(crate) async fn replay_pending(svc: &SessionServices) {
    if svc.reconciling.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let path = svc.data_dir.join(SPOOL_FILE);
    if std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
        return;
    }
    if let Err(e) = replay(svc).await {
        tracing::warn!(path = %path.display(), error = %e, "hook spool not replayed; next tick retries");
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked_field_by_field() {
        let ok = br#"{"sessionId":"demo-1","agent":"codex","event":"stop","state":"idle","agentSessionId":"c-1","at":"2026-07-01T09:00:00.000Z"}"#;
        let s = parse_line(ok).expect("well-formed");
        assert_eq!(s.session.as_str(), "demo-1");
        assert_eq!(s.state, Some(ActivityState::Idle));
        assert_eq!(s.agent_session_id.as_deref(), Some("c-1"));
        let empty_id = br#"{"sessionId":"demo-1","agent":"codex","event":"x","agentSessionId":"","at":"2026-07-01T09:00:00Z"}"#;
        assert_eq!(
            parse_line(empty_id)
                .expect("an empty id is no id")
                .agent_session_id,
            None
        );
        for bad in [
            &b"not json"[..],
            &b"\xff\xfe"[..],
            br#"{"sessionId":"demo-1","agent":"codex","event":"stop"}"#,
            br#"{"sessionId":"no id","agent":"codex","event":"stop","at":"2026-07-01T09:00:00Z"}"#,
            br#"{"sessionId":"demo-1","agent":"codex","event":"stop","at":"later"}"#,
            br#"{"sessionId":"demo-1","agent":"codex","event":"stop","state":"sleepy","at":"2026-07-01T09:00:00Z"}"#,
            br#"{"sessionId":"demo-1","agent":"codex","event":"stop","agentSessionId":"a b","at":"2026-07-01T09:00:00Z"}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
