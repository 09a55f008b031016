//! The invariants of a chaos run (issue #5 item 1), each a function that returns the list of
//! violations it found as one message.
//!
//! * [`structure`]: runtimes, rows and worktrees agree — no tmux session on AO's socket that no
//!   row holds (a terminated row may only hold the dead pane of an agent that exited), every
//!   live row has a handle, a workspace directory and a live pane (so no seed or half-created
//!   row survived reconcile), and no worktree directory under the managed root without a row.
//! * [`event_stream`]: the change log's seqs strictly increase, and the resuming SSE client
//!   received every event of the log exactly once, in order, with the same content; the only
//!   events it may have that the log has not are those of a seed session deleted with all its
//!   rows. Only what the log read covers is judged ([`LogRead::covered`]): the client keeps
//!   receiving while the log is read, and a frame above the read is checked next time.
//! * [`activity`]: the activity state of every live session is the one its agent last reported
//!   through its hooks (live, or spooled while the daemon was down).
//! * [`sends_logged`]: every acknowledged immediate send reached the agent.
//! * [`prs_observed`]: every open PR of a live session is observed with its CI state.
//! * [`Snapshot::idempotence_view`]: the part of the state a clean restart must not change.
//!
//! [`eventually`] polls a check until it holds, for the facts that settle asynchronously after
//! a boot (an agent exiting while the check runs, the PR observer's next poll).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lab::{Lab, Pane};
use super::model::{Fact, Model};
use super::sse::{Received, Recorder, Recording};
use crate::Api;

/// The daemon's and the machine's state at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub sessions: Vec<Value>,
    pub projects: Vec<Value>,
    pub panes: Vec<Pane>,
    pub worktrees: Vec<PathBuf>,
    pub head_seq: i64,
}

async fn get_json(api: &Api, path: &str) -> Result<Value, String> {
    let r = api.get(path).await;
    if r.status != 200 {
        return Err(format!("GET {path} answered {}: {}", r.status, r.text));
    }
    Ok(r.body)
}

impl Snapshot {
    pub async fn take(lab: &Lab) -> Result<Self, String> {
        let api = lab.api();
        let sessions = get_json(api, "/api/v1/sessions").await?["sessions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let projects = get_json(api, "/api/v1/projects").await?["projects"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let head_seq = get_json(api, "/api/v1/events/log?order=desc&limit=1").await?["headSeq"]
            .as_i64()
            .unwrap_or(0);
        Ok(Self {
            sessions,
            projects,
            panes: lab.panes(),
            worktrees: lab.worktree_dirs(),
            head_seq,
        })
    }

    pub fn session(&self, id: &str) -> Option<&Value> {
        self.sessions.iter().find(|s| s["id"] == id)
    }

    pub fn live_sessions(&self) -> impl Iterator<Item = &Value> {
        self.sessions.iter().filter(|s| s["isTerminated"] == false)
    }

    /// What a clean restart must leave exactly as it was: every session field except the
    /// time-derived display status, the panes (same processes), the worktrees and the head
    /// of the change log.
    pub fn idempotence_view(&self) -> Value {
        let sessions: Vec<Value> = self
            .sessions
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if let Some(o) = s.as_object_mut() {
                    o.remove("status");
                }
                s
            })
            .collect();
        json!({
            "sessions": sessions,
            "panes": self.panes.iter().map(|p| format!("{} pid={} dead={}", p.session, p.pid, p.dead)).collect::<Vec<_>>(),
            "worktrees": self.worktrees,
            "headSeq": self.head_seq,
        })
    }
}

/// Polls `check` until it returns `Ok`, for at most `timeout`; the last error otherwise.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!("still failing after {timeout:?}: {e}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn join(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Runtimes, rows and worktrees agree (see the module doc).
pub fn structure(snap: &Snapshot) -> Result<(), String> {
    let mut errors = Vec::new();
    let holders: BTreeMap<&str, &Value> = snap
        .sessions
        .iter()
        .filter_map(|s| Some((s["runtime"]["handleId"].as_str()?, s)))
        .collect();
    for pane in &snap.panes {
        match holders.get(pane.session.as_str()) {
            None => errors.push(format!(
                "tmux session {} (pane pid {}) is held by no row",
                pane.session, pane.pid
            )),
            Some(row) if row["isTerminated"] == true => {
                let exited = row["terminatedReason"] == "agent_exited";
                if !exited || !pane.dead {
                    errors.push(format!(
                        "tmux session {} ({}) belongs to terminated session {} (reason {})",
                        pane.session,
                        if pane.dead { "dead pane" } else { "live pane" },
                        row["id"],
                        row["terminatedReason"]
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for row in snap.live_sessions() {
        let id = row["id"].as_str().unwrap_or("?");
        let Some(handle) = row["runtime"]["handleId"].as_str() else {
            errors.push(format!(
                "live session {id} has no runtime handle (a half-created row)"
            ));
            continue;
        };
        let Some(ws) = row["workspacePath"].as_str() else {
            errors.push(format!(
                "live session {id} has no workspace (a half-created row)"
            ));
            continue;
        };
        match snap.panes.iter().find(|p| p.session == handle) {
            None => errors.push(format!(
                "live session {id}: its tmux session {handle} is gone"
            )),
            Some(p) if p.dead => {
                errors.push(format!("live session {id}: its pane in {handle} is dead"));
            }
            Some(_) => {}
        }
        if !std::path::Path::new(ws).is_dir() {
            errors.push(format!(
                "live session {id}: its worktree {ws} does not exist"
            ));
        }
    }
    let held: BTreeSet<&str> = snap
        .sessions
        .iter()
        .filter_map(|s| s["workspacePath"].as_str())
        .collect();
    for dir in &snap.worktrees {
        if !held.contains(dir.to_string_lossy().as_ref()) {
            errors.push(format!(
                "worktree directory {} is held by no row",
                dir.display()
            ));
        }
    }
    join(errors)
}

/// The change log as one ascending read through `/events/log` saw it.
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    /// Every row, in the order the pages returned them.
    pub events: Vec<Value>,
    /// Up to which seq the read proves what the log holds: the pages were read in ascending
    /// order until one came back empty after `covered`, and the single writer commits rows in
    /// seq order, so a seq at or below `covered` that is not in `events` was not in the log
    /// when its page was read. A row above it was committed after the read.
    pub covered: i64,
    /// `headSeq` of the last page: the last seq ever issued, deleted rows included. The daemon
    /// reads it apart from the page, so it may be above `covered` (a row committed in between,
    /// or a deleted seed's row).
    pub head: i64,
}

/// Reads the whole change log through `/events/log`, in ascending pages.
async fn whole_log(api: &Api) -> Result<LogRead, String> {
    let mut read = LogRead::default();
    loop {
        let page = get_json(
            api,
            &format!("/api/v1/events/log?after={}&limit=1000", read.covered),
        )
        .await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let Some(last) = events.last().and_then(|e| e["seq"].as_i64()) else {
            read.head = page["headSeq"].as_i64().unwrap_or(0);
            return Ok(read);
        };
        read.covered = last;
        read.events.extend(events);
    }
}

/// The change log and the resuming SSE client agree (see the module doc). Waits up to
/// `timeout` for the client to catch up with the last row of the log.
pub async fn event_stream(api: &Api, recorder: &Recorder, timeout: Duration) -> Result<(), String> {
    let log = whole_log(api).await?;
    // Not `head`: a seed deleted with its rows may have issued the last seq, and a client
    // that never received those rows never reaches it.
    let deadline = Instant::now() + timeout;
    while recorder.last_seq() < log.covered && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Taken after the wait: it may hold frames above `log.covered` (events committed after
    // the log was read); `compare_stream` judges only what the read covers.
    let rec = recorder.recording();
    let mut errors = Vec::new();
    if rec.last_seq() < log.covered {
        errors.push(format!(
            "the SSE client is at seq {} but the log goes up to seq {} after {timeout:?}",
            rec.last_seq(),
            log.covered
        ));
    }
    if let Err(e) = compare_stream(&log, &rec) {
        errors.push(e);
    }
    join(errors)
}

/// The comparison of [`event_stream`]: the log's seqs strictly increase; every row up to the
/// client's last seq was received exactly once with the same content; every received frame
/// the read covers is in the log, unless it belongs to a deleted seed ([`deleted_seed`]).
pub fn compare_stream(log: &LogRead, rec: &Recording) -> Result<(), String> {
    let mut errors = rec.violations.clone();
    let seqs: Vec<i64> = log
        .events
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    if let Some(w) = seqs.windows(2).find(|w| w[0] >= w[1]) {
        errors.push(format!(
            "the change log's seq is not strictly increasing: {w:?}"
        ));
    }
    let by_seq: BTreeMap<i64, &Received> = rec.frames.iter().map(|r| (r.seq, r)).collect();
    for event in &log.events {
        let seq = event["seq"].as_i64().unwrap_or(0);
        if seq > rec.last_seq() {
            continue;
        }
        match by_seq.get(&seq) {
            None => errors.push(format!(
                "seq {seq} ({}) is in the log but the SSE client never received it{}",
                event["type"],
                context(log, rec, seq)
            )),
            Some(r) if r.data != *event || r.event != event["type"].as_str().unwrap_or("") => {
                errors.push(format!(
                    "seq {seq}: the SSE client received {} but the log has {event}",
                    r.data
                ));
            }
            Some(_) => {}
        }
    }
    let in_log: BTreeSet<i64> = seqs.iter().copied().collect();
    for r in rec.frames.iter().filter(|r| r.seq <= log.covered) {
        if !in_log.contains(&r.seq) && !deleted_seed(log, rec, &in_log, r) {
            errors.push(format!(
                "seq {} ({} of {}) was streamed but is not in the log (only the events of a \
                 deleted seed session may vanish){}",
                r.seq,
                r.event,
                r.data["sessionId"],
                context(log, rec, r.seq)
            ));
        }
    }
    join(errors)
}

/// Whether `r`, a streamed frame that is not in the log, is an event of a seed session that
/// was deleted with all its change-log rows (spawn undo, rollback, boot reconcile;
/// data-model.md §4.2, §4.7). Such a deletion removes a whole lifetime of the session id at
/// once: the `session_created` that opened it (streamed, and gone too) and every later row of
/// that id up to the id's next `session_created` (a deleted seed frees its id for reuse). A
/// lifetime with any row left in the log was not deleted, so its missing row is a violation.
fn deleted_seed(log: &LogRead, rec: &Recording, in_log: &BTreeSet<i64>, r: &Received) -> bool {
    let Some(session) = r.data["sessionId"].as_str() else {
        return false;
    };
    let created: Vec<i64> = rec
        .frames
        .iter()
        .filter(|f| f.event == "session_created" && f.data["sessionId"] == session)
        .map(|f| f.seq)
        .collect();
    let Some(start) = created.iter().copied().filter(|&c| c <= r.seq).max() else {
        return false;
    };
    let end = created
        .iter()
        .copied()
        .filter(|&c| c > r.seq)
        .min()
        .unwrap_or(i64::MAX);
    !in_log.contains(&start)
        && !log.events.iter().any(|e| {
            e["sessionId"] == session
                && e["seq"].as_i64().is_some_and(|s| (start..end).contains(&s))
        })
}

/// What a stream violation at `seq` needs to be diagnosed: the neighbouring rows of the log
/// and frames of the client, how far the read went, the oldest retained seq, and the client's
/// connections around it.
fn context(log: &LogRead, rec: &Recording, seq: i64) -> String {
    const AROUND: usize = 4;
    let line = |v: &Value| format!("{} {} {}", v["seq"], v["type"], v["sessionId"]);
    let split = log
        .events
        .partition_point(|e| e["seq"].as_i64().unwrap_or(0) < seq);
    let below = &log.events[split.saturating_sub(AROUND)..split];
    let above = &log.events[split..(split + AROUND).min(log.events.len())];
    let at = rec.frames.partition_point(|f| f.seq < seq);
    let frames = &rec.frames[at.saturating_sub(AROUND)..(at + AROUND + 1).min(rec.frames.len())];
    let connection = |i: usize| {
        rec.connections.get(i).map_or_else(
            || format!("#{i} ?"),
            |c| {
                format!(
                    "#{i} opened at {:.2} s after seq {}",
                    c.at.as_secs_f64(),
                    c.after.map_or_else(|| "-".into(), |a| a.to_string())
                )
            },
        )
    };
    let first = frames.first().map_or(0, |f| f.connection);
    let last = frames
        .last()
        .map_or(rec.connections.len(), |f| f.connection + 1);
    format!(
        "\n  the log around it: [{}] | [{}]\n  \
         the log read covered seq <= {} (headSeq {}), oldest retained seq {}\n  \
         the client around it: [{}] (last seq {})\n  \
         its connections: {}",
        below.iter().map(line).collect::<Vec<_>>().join(", "),
        above.iter().map(line).collect::<Vec<_>>().join(", "),
        log.covered,
        log.head,
        log.events
            .first()
            .map_or_else(|| "-".into(), |e| e["seq"].to_string()),
        frames
            .iter()
            .map(|f| format!(
                "{} {} {} (conn #{})",
                f.seq, f.event, f.data["sessionId"], f.connection
            ))
            .collect::<Vec<_>>()
            .join(", "),
        rec.last_seq(),
        (first..last.max(first + 1))
            .map(connection)
            .collect::<Vec<_>>()
            .join("; ")
    )
}

/// The state an agent's hook events report, from the fake agent's log of one session: the
/// last state-bearing hook since the agent's last start (none since the start → `idle`, what
/// spawn, restore and relaunch store). `None` when a hook since that start failed or timed
/// out (what it reported is unknown).
pub fn reported_state(log: &[Value]) -> Option<&'static str> {
    let start = log.iter().rposition(|e| e.get("started").is_some())?;
    let mut state = "idle";
    for e in &log[start..] {
        let Some(hook) = e.get("hook") else {
            continue;
        };
        if hook["timed_out"] == true || hook["status"] != 0 {
            return None;
        }
        state = match hook["event"].as_str() {
            Some("UserPromptSubmit" | "PostToolUse") => "active",
            Some("Notification") => "waiting_input",
            Some("Stop") => "idle",
            Some("SessionEnd") => "exited",
            _ => state,
        };
    }
    Some(state)
}

/// Every live session's stored activity is what its agent last reported; an agent that
/// ended its session (SessionEnd) has a terminated row.
pub fn activity(lab: &Lab, snap: &Snapshot) -> Result<(), String> {
    let mut errors = Vec::new();
    for row in snap.live_sessions() {
        let id = row["id"].as_str().unwrap_or("?");
        let Some(expected) = reported_state(&lab.agent_log(id)) else {
            continue;
        };
        let stored = row["activity"]["state"].as_str().unwrap_or("");
        if stored != expected {
            errors.push(format!(
                "session {id}: stored activity {stored:?}, the agent last reported {expected:?}"
            ));
        }
    }
    join(errors)
}

/// Every acknowledged immediate send of the model appears in its agent's log (multiset
/// inclusion; the log keeps every message the agent read). A message may arrive behind the
/// text of a delivery that a SIGKILL interrupted between its paste and its Enter (that text
/// stays in the agent's input line, and the next Enter submits both), so a logged message
/// that ends with the sent one also counts.
pub fn sends_logged(lab: &Lab, model: &Model) -> Result<(), String> {
    let mut errors = Vec::new();
    for (id, fact) in &model.sessions {
        if fact.sends.is_empty() {
            continue;
        }
        let mut logged: Vec<String> = lab
            .agent_log(id)
            .iter()
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect();
        let mut missing = Vec::new();
        for m in &fact.sends {
            if let Some(i) = logged.iter().position(|l| l == m) {
                logged.swap_remove(i);
            } else {
                missing.push(m);
            }
        }
        for m in missing {
            if let Some(i) = logged.iter().position(|l| l.ends_with(m.as_str())) {
                logged.swap_remove(i);
            } else {
                errors.push(format!(
                    "session {id}: the acknowledged send {m:?} never reached the agent"
                ));
            }
        }
    }
    join(errors)
}

/// Every open PR the harness opened for a session that is live (and certainly so) is
/// observed on that session with the CI state its checks were last set to.
pub fn prs_observed(model: &Model, snap: &Snapshot) -> Result<(), String> {
    let mut errors = Vec::new();
    for pr in model.prs.iter().filter(|p| !p.merged) {
        let Some(row) = snap.session(&pr.session) else {
            continue;
        };
        let certain = model
            .sessions
            .get(&pr.session)
            .is_some_and(|s| s.live == Fact::Yes);
        if row["isTerminated"] == true || !certain || row["branch"] != pr.branch.as_str() {
            continue;
        }
        let seen = row["prs"]
            .as_array()
            .and_then(|prs| prs.iter().find(|p| p["number"] == pr.pr.number));
        match seen {
            None => errors.push(format!(
                "session {}: open PR #{} of {} is not observed",
                pr.session,
                pr.pr.number,
                pr.pr.full_name()
            )),
            Some(p) => {
                if let Some(ci) = pr.ci
                    && p["ci"] != ci
                {
                    errors.push(format!(
                        "session {}: PR #{} shows CI {} instead of {ci}",
                        pr.session, pr.pr.number, p["ci"]
                    ));
                }
            }
        }
    }
    join(errors)
}

#[cfg(test)]
mod tests {
    use super::super::sse::Connection;
    use super::*;

    fn hook(event: &str) -> Value {
        json!({"hook": {"event": event, "status": 0, "timed_out": false}})
    }

    #[test]
    fn the_reported_state_is_the_last_hook_since_the_last_start() {
        let start = json!({"started": {}});
        assert_eq!(reported_state(&[]), None);
        assert_eq!(reported_state(std::slice::from_ref(&start)), Some("idle"));
        let log = [
            start.clone(),
            hook("SessionStart"),
            hook("UserPromptSubmit"),
            hook("PostToolUse"),
        ];
        assert_eq!(reported_state(&log), Some("active"));
        let log = [
            start.clone(),
            hook("UserPromptSubmit"),
            hook("Notification"),
            start.clone(),
            hook("SessionStart"),
        ];
        assert_eq!(reported_state(&log), Some("idle"), "a relaunch starts idle");
        let log = [start.clone(), hook("UserPromptSubmit"), hook("SessionEnd")];
        assert_eq!(reported_state(&log), Some("exited"));
        let failed = json!({"hook": {"event": "Stop", "status": 0, "timed_out": true}});
        assert_eq!(reported_state(&[start, failed]), None);
    }

    fn event(seq: i64, kind: &str, session: Option<&str>) -> Value {
        json!({"seq": seq, "projectId": "c0", "sessionId": session, "type": kind,
               "payload": {}, "createdAt": "2026-01-01T00:00:00Z"})
    }

    fn received(events: &[Value]) -> Recording {
        Recording {
            frames: events
                .iter()
                .map(|e| Received {
                    seq: e["seq"].as_i64().expect("seq"),
                    event: e["type"].as_str().expect("type").to_string(),
                    data: e.clone(),
                    connection: 0,
                })
                .collect(),
            violations: Vec::new(),
            connections: vec![Connection {
                at: Duration::ZERO,
                after: None,
            }],
        }
    }

    fn log_of(events: &[Value], covered: i64) -> LogRead {
        LogRead {
            events: events.to_vec(),
            covered,
            head: covered,
        }
    }

    #[test]
    fn a_frame_received_after_the_log_read_is_judged_by_the_next_read() {
        let log = [
            event(1, "project_created", None),
            event(2, "session_created", Some("c0-1")),
            event(3, "session_updated", Some("c0-1")),
        ];
        // The client kept receiving while the log was read: seq 4 was committed after it.
        let mut streamed = log.to_vec();
        streamed.push(event(4, "session_updated", Some("c0-1")));
        let rec = received(&streamed);
        assert_eq!(compare_stream(&log_of(&log, 3), &rec), Ok(()));
        // The daemon's headSeq, read apart from the page, may already count it.
        let mut read = log_of(&log, 3);
        read.head = 4;
        assert_eq!(compare_stream(&read, &rec), Ok(()));
        // Once a read covers seq 4, it must be there.
        let err = compare_stream(&log_of(&log, 4), &rec).expect_err("seq 4 vanished");
        assert!(
            err.contains("seq 4 (session_updated of \"c0-1\") was streamed but is not in the log"),
            "{err}"
        );
        assert!(err.contains("the log around it: [1 \"project_created\" null, 2 \"session_created\" \"c0-1\", 3 \"session_updated\" \"c0-1\"] | []"), "{err}");
        assert!(
            err.contains("the log read covered seq <= 4 (headSeq 4), oldest retained seq 1"),
            "{err}"
        );
        assert!(
            err.contains("its connections: #0 opened at 0.00 s after seq -"),
            "{err}"
        );
    }

    #[test]
    fn only_a_whole_lifetime_of_a_deleted_seed_may_vanish() {
        let streamed = [
            event(1, "project_created", None),
            // c0-1: a seed whose workspace was recorded and cleared, then deleted at boot.
            event(2, "session_created", Some("c0-1")),
            event(3, "session_updated", Some("c0-1")),
            event(4, "session_updated", Some("c0-1")),
            // The freed id is reused by a spawn that succeeds.
            event(5, "session_created", Some("c0-1")),
            event(6, "session_updated", Some("c0-1")),
            event(7, "session_created", Some("c0-2")),
            event(8, "session_updated", Some("c0-2")),
        ];
        let rec = received(&streamed);
        let kept = |seqs: &[i64]| -> Vec<Value> {
            streamed
                .iter()
                .filter(|e| seqs.contains(&e["seq"].as_i64().expect("seq")))
                .cloned()
                .collect()
        };
        let log = kept(&[1, 5, 6, 7, 8]);
        assert_eq!(compare_stream(&log_of(&log, 8), &rec), Ok(()));

        // A row of a session whose lifetime still has rows in the log did not go with a seed.
        let err = compare_stream(&log_of(&kept(&[1, 5, 6, 7]), 8), &rec).expect_err("8 vanished");
        assert!(
            err.contains("seq 8 (session_updated of \"c0-2\") was streamed"),
            "{err}"
        );
        let err = compare_stream(&log_of(&kept(&[1, 4, 5, 6, 7, 8]), 8), &rec)
            .expect_err("part of a lifetime vanished");
        assert!(err.contains("seq 2 (session_created"), "{err}");
        assert!(err.contains("seq 3 (session_updated"), "{err}");
        // Not even a session_created vanishes while its session's later rows stay.
        let err = compare_stream(&log_of(&kept(&[1, 5, 6, 8]), 8), &rec).expect_err("7 vanished");
        assert!(err.contains("seq 7 (session_created of \"c0-2\")"), "{err}");
        // A project event never vanishes.
        let err = compare_stream(&log_of(&kept(&[5, 6, 7, 8]), 8), &rec).expect_err("1 vanished");
        assert!(err.contains("seq 1 (project_created of null)"), "{err}");
    }

    #[test]
    fn every_covered_log_row_is_received_once_with_its_content() {
        let log = [
            event(1, "project_created", None),
            event(2, "session_created", Some("c0-1")),
            event(3, "session_updated", Some("c0-1")),
        ];
        let mut rec = received(&[log[0].clone(), log[2].clone()]);
        let err = compare_stream(&log_of(&log, 3), &rec).expect_err("2 missing");
        assert!(
            err.contains(
                "seq 2 (\"session_created\") is in the log but the SSE client never received it"
            ),
            "{err}"
        );
        rec = received(&log);
        rec.frames[2].data["payload"] = json!({"activity": "active"});
        let err = compare_stream(&log_of(&log, 3), &rec).expect_err("content differs");
        assert!(err.contains("seq 3: the SSE client received"), "{err}");
        rec = received(&log[..2]);
        rec.violations
            .push("seq 2 (session_created) received after seq 2".into());
        let err = compare_stream(&log_of(&log, 3), &rec).expect_err("a violation");
        assert!(err.contains("received after seq 2"), "{err}");
        // Seq 3 is above what the client has so far; waiting for it is event_stream's job.
        assert!(!err.contains("seq 3"), "{err}");
    }

    fn pane(session: &str, dead: bool) -> Pane {
        Pane {
            session: session.into(),
            pid: 1,
            dead,
        }
    }

    #[test]
    fn structure_finds_orphan_panes_half_created_rows_and_stray_worktrees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wt = dir.path().join("c0-1");
        std::fs::create_dir_all(&wt).expect("mkdir");
        let live = json!({"id": "c0-1", "isTerminated": false, "workspacePath": wt,
                          "runtime": {"handleId": "c0-1"}});
        let exited = json!({"id": "c0-2", "isTerminated": true, "terminatedReason": "agent_exited",
                            "workspacePath": null, "runtime": {"handleId": "c0-2"}});
        let mut snap = Snapshot {
            sessions: vec![live, exited],
            projects: Vec::new(),
            panes: vec![pane("c0-1", false), pane("c0-2", true)],
            worktrees: vec![wt.clone()],
            head_seq: 0,
        };
        assert_eq!(structure(&snap), Ok(()));

        snap.panes.push(pane("c0-9", false));
        snap.panes[1].dead = false;
        snap.worktrees.push(dir.path().join("c0-7"));
        snap.sessions.push(
            json!({"id": "c0-3", "isTerminated": false, "workspacePath": null,
                         "runtime": {"handleId": null}}),
        );
        let err = structure(&snap).expect_err("violations");
        assert!(
            err.contains("tmux session c0-9 (pane pid 1) is held by no row"),
            "{err}"
        );
        assert!(
            err.contains("tmux session c0-2 (live pane) belongs to terminated"),
            "{err}"
        );
        assert!(
            err.contains("live session c0-3 has no runtime handle"),
            "{err}"
        );
        assert!(err.contains("c0-7 is held by no row"), "{err}");
    }
}
