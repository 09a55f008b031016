//! The trigger matrix of data-model.md §5: every event type is produced by a real write with
//! exactly one `change_log` row and the documented payload; writes that touch no watched
//! column produce nothing.

use std::collections::BTreeSet;

use ao_protocol::scm::{CheckFact, ThreadWrite};
use ao_protocol::{
    ActivityState, ChangeEvent, CheckStatus, CiState, EventType, NudgeKind, SessionKind,
    TerminatedReason,
};
use serde_json::{Value, json};

use crate::test_support::{self as scm, TestDb, new_project, pid};

/// Asserts that exactly one row was added since `head`, of `event_type` with `payload`, and
/// that the write reported it. Returns the row.
fn one(
    db: &TestDb,
    head: i64,
    reported: u64,
    event_type: EventType,
    payload: &Value,
    seen: &mut BTreeSet<&'static str>,
) -> ChangeEvent {
    let rows = db.changes_after(head);
    assert_eq!(
        rows.len(),
        1,
        "expected one {event_type} row, got {rows:#?}"
    );
    assert_eq!(reported, 1, "the write must report its one event");
    let row = rows.into_iter().next().expect("one row");
    assert_eq!(row.event_type, event_type.as_str());
    assert_eq!(&row.payload, payload, "{event_type} payload");
    seen.insert(event_type.as_str());
    row
}

fn none(db: &TestDb, head: i64, reported: u64, what: &str) {
    let rows = db.changes_after(head);
    assert!(rows.is_empty(), "{what} must not log, got {rows:#?}");
    assert_eq!(reported, 0, "{what} must report no events");
}

#[test]
fn every_event_type_has_exactly_one_row_with_its_payload() {
    let mut db = TestDb::open();
    let mut seen = BTreeSet::new();

    // ---- projects ----
    let head = db.head();
    let w = db
        .writer
        .insert_project(&new_project("demo"))
        .expect("insert");
    let row = one(
        &db,
        head,
        w.events,
        EventType::ProjectCreated,
        &json!({"id": "demo", "name": "demo", "path": "/repos/demo"}),
        &mut seen,
    );
    assert_eq!(row.project_id, "demo");
    assert_eq!(row.session_id, None);
    assert_eq!(row.created_at, w.value.registered_at);

    let head = db.head();
    let w = db
        .writer
        .set_project_config(&pid("demo"), &json!({"sessionPrefix": "d"}))
        .expect("config");
    let row = one(
        &db,
        head,
        w.events,
        EventType::ProjectUpdated,
        &json!({"id": "demo", "name": "demo", "path": "/repos/demo", "repo": null,
                "archived": false}),
        &mut seen,
    );
    assert_eq!(row.created_at, w.value.updated_at);
    assert_eq!(row.session_id, None);

    let head = db.head();
    let w = db
        .writer
        .backfill_origin(&pid("demo"), "git@github.com:o/demo.git")
        .expect("backfill");
    one(
        &db,
        head,
        w.events,
        EventType::ProjectUpdated,
        &json!({"id": "demo", "name": "demo", "path": "/repos/demo",
                "repo": "git@github.com:o/demo.git", "archived": false}),
        &mut seen,
    );

    // Same config again, and a backfill over a non-empty origin: nothing watched changes.
    let head = db.head();
    let w = db
        .writer
        .set_project_config(&pid("demo"), &json!({"sessionPrefix": "d"}))
        .expect("same config");
    none(&db, head, w.events, "an identical config");
    let w = db
        .writer
        .backfill_origin(&pid("demo"), "https://other")
        .expect("backfill again");
    none(&db, head, w.events, "a backfill over an existing origin");

    // ---- sessions ----
    let head = db.head();
    let w = db
        .writer
        .insert_seed(&crate::test_support::new_seed("demo", SessionKind::Worker))
        .expect("seed");
    let s = w.value.clone();
    let row = one(
        &db,
        head,
        w.events,
        EventType::SessionCreated,
        &json!({"id": "demo-1", "kind": "worker", "harness": "claude-code", "activity": "idle",
                "isTerminated": false}),
        &mut seen,
    );
    assert_eq!(row.project_id, "demo");
    assert_eq!(row.session_id.as_deref(), Some("demo-1"));
    assert_eq!(row.created_at, s.created_at);

    let head = db.head();
    let w = db
        .writer
        .set_workspace(&s.id, "ao/demo-1/root", "/wt/demo-1")
        .expect("workspace");
    let row = one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "ao/demo-1/root",
                "hasSignal": false}),
        &mut seen,
    );
    assert_eq!(row.created_at, w.value.updated_at);
    assert_eq!(row.session_id.as_deref(), Some("demo-1"));

    // Same branch, other path: workspace_path is not watched.
    let head = db.head();
    let w = db
        .writer
        .set_workspace(&s.id, "ao/demo-1/root", "/wt/elsewhere")
        .expect("same branch");
    none(&db, head, w.events, "set_workspace with the same branch");
    let w = db
        .writer
        .set_agent_session_id(&s.id, "agent-abc")
        .expect("agent id");
    assert!(w.value);
    none(&db, head, w.events, "set_agent_session_id");
    let w = db
        .writer
        .set_branch(&s.id, "ao/demo-1/root")
        .expect("branch");
    none(&db, head, w.events, "set_branch to the same branch");

    let head = db.head();
    let w = db.writer.mark_spawned(&s.id, "demo-1").expect("spawned");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "ao/demo-1/root",
                "hasSignal": false}),
        &mut seen,
    );

    let head = db.head();
    let w = db
        .writer
        .apply_activity(&s.id, Some(ActivityState::Active), None)
        .expect("active");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "active", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "ao/demo-1/root",
                "hasSignal": true}),
        &mut seen,
    );
    let head = db.head();
    let w = db
        .writer
        .apply_activity(&s.id, Some(ActivityState::Active), None)
        .expect("active again");
    assert!(!w.value.changed);
    none(&db, head, w.events, "re-applying the same activity");

    // Rename: session_renamed only, never session_updated.
    let head = db.head();
    let w = db.writer.rename(&s.id, "fix the bug").expect("rename");
    let row = one(
        &db,
        head,
        w.events,
        EventType::SessionRenamed,
        &json!({"id": "demo-1", "displayName": "fix the bug"}),
        &mut seen,
    );
    assert_eq!(row.created_at, w.value.updated_at);
    let head = db.head();
    let w = db.writer.rename(&s.id, "fix the bug").expect("same name");
    none(&db, head, w.events, "renaming to the same name");

    // ---- PRs: the SCM write ops (apply, ack, claim, record/reset nudge) ----
    let s2 = db.add_seed("demo", SessionKind::Worker);
    let url = scm::URL;
    let mut f = scm::facts(url, 7);
    f.ci_state = CiState::Unknown;
    let head = db.head();
    let w = db
        .writer
        .apply_scm_observation(&scm::obs(&s.id, f.clone(), vec![], ThreadWrite::Preserve))
        .expect("first observation");
    let row = one(
        &db,
        head,
        w.events,
        EventType::PrCreated,
        &json!({"url": url, "session": "demo-1", "number": 7, "state": "open", "ci": "unknown",
                "review": "none", "mergeability": "unknown"}),
        &mut seen,
    );
    assert_eq!(row.project_id, "demo");
    assert_eq!(row.session_id.as_deref(), Some("demo-1"));
    let pr = |db: &TestDb| db.reader.pr_detail(url).expect("read").expect("pr");
    assert_eq!(row.created_at, pr(&db).updated_at);

    let head = db.head();
    f.ci_state = CiState::Failing;
    let w = db
        .writer
        .apply_scm_observation(&scm::obs(&s.id, f.clone(), vec![], ThreadWrite::Preserve))
        .expect("ci failing");
    let row = one(
        &db,
        head,
        w.events,
        EventType::PrUpdated,
        &json!({"url": url, "session": "demo-1", "number": 7, "state": "open", "ci": "failing",
                "review": "none", "mergeability": "unknown"}),
        &mut seen,
    );
    assert_eq!(row.created_at, pr(&db).updated_at);

    let head = db.head();
    f.title = "T".into();
    f.additions = 5;
    let o = scm::obs(&s.id, f.clone(), vec![], ThreadWrite::Preserve);
    let w = db.writer.apply_scm_observation(&o).expect("metadata only");
    none(&db, head, w.events, "a PR metadata-only observation");
    let w = db
        .writer
        .ack_scm_hashes(&s.id, url, &o.hashes)
        .expect("ack");
    none(&db, head, w.events, "acknowledging hashes");

    let head = db.head();
    let w = db
        .writer
        .claim_pr(
            &scm::obs(&s2.id, f.clone(), vec![], ThreadWrite::Preserve),
            true,
        )
        .expect("claim");
    let row = one(
        &db,
        head,
        w.events,
        EventType::PrSessionChanged,
        &json!({"url": url, "fromSession": "demo-1", "toSession": "demo-2"}),
        &mut seen,
    );
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));
    assert_eq!(row.project_id, "demo");
    assert_eq!(row.created_at, pr(&db).updated_at);

    let head = db.head();
    let w = db
        .writer
        .record_nudge(&s2.id, url, NudgeKind::Ci, "ci:abc", "abc:h", "abc")
        .expect("nudge");
    let row = one(
        &db,
        head,
        w.events,
        EventType::NudgeDelivered,
        &json!({"url": url, "session": "demo-2", "kind": "ci", "key": "ci:abc"}),
        &mut seen,
    );
    assert_eq!(Some(row.created_at), pr(&db).last_nudge.map(|n| n.at));

    let head = db.head();
    let w = db
        .writer
        .reset_nudge_key(&s2.id, url, "ci:abc")
        .expect("reset");
    assert!(w.value);
    none(&db, head, w.events, "a nudge-key reset");

    let observe = |db: &mut TestDb, checks: Vec<CheckFact>, threads: ThreadWrite| {
        db.writer
            .apply_scm_observation(&scm::obs(&s2.id, f.clone(), checks, threads))
            .expect("observation")
            .events
    };
    let head = db.head();
    let events = observe(
        &mut db,
        vec![scm::check("build", "abc123", CheckStatus::InProgress)],
        ThreadWrite::Preserve,
    );
    let row = one(
        &db,
        head,
        events,
        EventType::PrCheckRecorded,
        &json!({"pr": url, "name": "build", "commit": "abc123", "status": "in_progress"}),
        &mut seen,
    );
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));
    assert_eq!(row.project_id, "demo");
    let stored: String = db
        .raw()
        .query_row("SELECT created_at FROM pr_checks", [], |r| r.get(0))
        .expect("check row");
    assert_eq!(row.created_at, stored);

    let head = db.head();
    let events = observe(
        &mut db,
        vec![scm::check("build", "abc123", CheckStatus::Failed)],
        ThreadWrite::Preserve,
    );
    let row = one(
        &db,
        head,
        events,
        EventType::PrCheckRecorded,
        &json!({"pr": url, "name": "build", "commit": "abc123", "status": "failed"}),
        &mut seen,
    );
    let stored: String = db
        .raw()
        .query_row("SELECT updated_at FROM pr_checks", [], |r| r.get(0))
        .expect("check row");
    assert_eq!(row.created_at, stored);

    let head = db.head();
    let mut failed = scm::check("build", "abc123", CheckStatus::Failed);
    failed.log_tail = "other tail".into();
    failed.log_hash = "ff".into();
    let events = observe(&mut db, vec![failed], ThreadWrite::Preserve);
    none(&db, head, events, "a check update without a status change");

    let head = db.head();
    let events = observe(
        &mut db,
        vec![],
        ThreadWrite::Replace(vec![scm::thread("T1", false, vec![])]),
    );
    let row = one(
        &db,
        head,
        events,
        EventType::PrReviewThreadAdded,
        &json!({"pr": url, "thread": "T1", "path": "src/lib.rs", "line": 12, "resolved": false,
                "isBot": false}),
        &mut seen,
    );
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));
    assert_eq!(
        Some(&row.created_at),
        pr(&db).threads.first().map(|t| &t.updated_at)
    );

    let head = db.head();
    let mut edited = scm::thread("T1", false, vec![scm::comment("C1", "alice", "please fix")]);
    edited.semantic_hash = "h2".into();
    let events = observe(&mut db, vec![], ThreadWrite::Replace(vec![edited]));
    none(
        &db,
        head,
        events,
        "a thread update without a resolved flip, plus a comment",
    );

    let head = db.head();
    let events = observe(
        &mut db,
        vec![],
        ThreadWrite::Replace(vec![scm::thread("T1", true, vec![])]),
    );
    let row = one(
        &db,
        head,
        events,
        EventType::PrReviewThreadResolved,
        &json!({"pr": url, "thread": "T1", "path": "src/lib.rs", "line": 12, "resolved": true}),
        &mut seen,
    );
    assert_eq!(
        Some(&row.created_at),
        pr(&db).threads.first().map(|t| &t.updated_at)
    );

    // ---- session termination and project archive ----
    let head = db.head();
    let w = db
        .writer
        .mark_terminated(&s.id, TerminatedReason::Killed, Some(137))
        .expect("terminate");
    assert!(w.value);
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "exited", "isTerminated": true,
                "terminatedReason": "killed", "exitCode": 137, "branch": "ao/demo-1/root",
                "hasSignal": true}),
        &mut seen,
    );

    let head = db.head();
    let w = db.writer.archive_project(&pid("demo")).expect("archive");
    let row = one(
        &db,
        head,
        w.events,
        EventType::ProjectArchived,
        &json!({"id": "demo"}),
        &mut seen,
    );
    assert_eq!(row.created_at, w.value.updated_at);
    assert_eq!(row.session_id, None);

    let all: BTreeSet<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(seen, all, "every event type of §5 is exercised");

    // Every stored event type belongs to the vocabulary.
    for row in db.changes_after(0) {
        assert!(
            row.known_type().is_some(),
            "unknown type {}",
            row.event_type
        );
    }
}

#[test]
fn hook_signal_without_state_fires_session_updated_with_has_signal() {
    let mut db = TestDb::open();
    db.add_project("demo");
    let s = db.add_seed("demo", SessionKind::Worker);
    let mut seen = BTreeSet::new();
    let head = db.head();
    let w = db
        .writer
        .apply_activity(&s.id, None, None)
        .expect("first signal");
    assert!(w.value.changed);
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "", "hasSignal": true}),
        &mut seen,
    );
    // A second signal without a state has nothing left to stamp.
    let head = db.head();
    let w = db
        .writer
        .apply_activity(&s.id, None, None)
        .expect("second signal");
    assert!(!w.value.changed);
    none(&db, head, w.events, "a repeated stateless signal");
}

#[test]
fn agent_exit_fires_one_session_updated() {
    let mut db = TestDb::open();
    db.add_project("demo");
    let s = db.add_seed("demo", SessionKind::Orchestrator);
    let mut seen = BTreeSet::new();
    let head = db.head();
    let w = db
        .writer
        .apply_activity(&s.id, Some(ActivityState::Exited), Some("conv-1"))
        .expect("exit");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "exited", "isTerminated": true,
                "terminatedReason": "agent_exited", "exitCode": null, "branch": "",
                "hasSignal": true}),
        &mut seen,
    );
}

#[test]
fn reregistering_an_archived_project_fires_one_project_updated() {
    let mut db = TestDb::open();
    db.add_project("demo");
    db.writer.archive_project(&pid("demo")).expect("archive");
    let mut seen = BTreeSet::new();
    let head = db.head();
    let mut again = new_project("demo");
    again.path = "/repos/moved".into();
    again.display_name = "Demo".into();
    let w = db.writer.insert_project(&again).expect("re-register");
    let row = one(
        &db,
        head,
        w.events,
        EventType::ProjectUpdated,
        &json!({"id": "demo", "name": "Demo", "path": "/repos/moved", "repo": null,
                "archived": false}),
        &mut seen,
    );
    assert_eq!(row.created_at, w.value.updated_at);
}

#[test]
fn runtime_handle_changes_and_relaunches_fire_session_updated() {
    let mut db = TestDb::open();
    db.add_project("demo");
    let s = db.add_seed("demo", SessionKind::Worker);
    db.writer.mark_spawned(&s.id, "demo-1").expect("spawned");
    let mut seen = BTreeSet::new();

    let head = db.head();
    let w = db.writer.clear_runtime(&s.id).expect("clear runtime");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "", "hasSignal": false}),
        &mut seen,
    );

    let head = db.head();
    let w = db
        .writer
        .record_relaunch(&s.id, "demo-1")
        .expect("relaunch");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "", "hasSignal": false}),
        &mut seen,
    );

    // A relaunch that keeps the same runtime name (names derive from the session id) while
    // idle still records a `session_updated`: `restarts` is watched too.
    let head = db.head();
    let w = db
        .writer
        .record_relaunch(&s.id, "demo-1")
        .expect("second relaunch with the same handle");
    one(
        &db,
        head,
        w.events,
        EventType::SessionUpdated,
        &json!({"id": "demo-1", "activity": "idle", "isTerminated": false,
                "terminatedReason": null, "exitCode": null, "branch": "", "hasSignal": false}),
        &mut seen,
    );

    let head = db.head();
    let w = db.writer.clear_workspace(&s.id).expect("clear workspace");
    none(&db, head, w.events, "clear_workspace");
}
