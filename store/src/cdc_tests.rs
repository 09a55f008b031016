//! The trigger matrix of data-model.md §5: every event type is produced by a real write with
//! exactly one `change_log` row and the documented payload; writes that touch no watched
//! column produce nothing.

use std::collections::BTreeSet;

use ao_protocol::{ActivityState, ChangeEvent, EventType, SessionKind, TerminatedReason};
use serde_json::{Value, json};

use crate::test_support::{TestDb, new_project, pid};

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

    // ---- PRs (no write ops yet: raw SQL through the writer) ----
    let s2 = db.add_seed("demo", SessionKind::Worker);
    let url = "https://github.com/o/demo/pull/7";
    let head = db.head();
    let events = db.sql(&format!(
        "INSERT INTO pr (url, session_id, number, pr_state, source_branch, target_branch, \
         updated_at) VALUES ('{url}', 'demo-1', 7, 'open', 'ao/demo-1/root', 'main', \
         '2026-07-01T09:00:00.000Z')"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrCreated,
        &json!({"url": url, "session": "demo-1", "number": 7, "state": "open", "ci": "unknown",
                "review": "none", "mergeability": "unknown"}),
        &mut seen,
    );
    assert_eq!(row.project_id, "demo");
    assert_eq!(row.session_id.as_deref(), Some("demo-1"));
    assert_eq!(row.created_at, "2026-07-01T09:00:00.000Z");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr SET ci_state = 'failing', updated_at = '2026-07-01T09:01:00.000Z' \
         WHERE url = '{url}'"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrUpdated,
        &json!({"url": url, "session": "demo-1", "number": 7, "state": "open", "ci": "failing",
                "review": "none", "mergeability": "unknown"}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:01:00.000Z");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr SET title = 'T', additions = 5, metadata_hash = 'h', \
         observed_at = '2026-07-01T09:02:00.000Z', updated_at = '2026-07-01T09:02:00.000Z' \
         WHERE url = '{url}'"
    ));
    none(&db, head, events, "a PR metadata-only update");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr SET session_id = '{}', updated_at = '2026-07-01T09:03:00.000Z' \
         WHERE url = '{url}'",
        s2.id
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrSessionChanged,
        &json!({"url": url, "fromSession": "demo-1", "toSession": "demo-2"}),
        &mut seen,
    );
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));
    assert_eq!(row.project_id, "demo");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr SET last_nudge_at = '2026-07-01T09:04:00.000Z', last_nudge_kind = 'ci', \
         last_nudge_key = 'ci:abc', nudge_state = '{{\"seen\":{{}},\"attempts\":{{}}}}', \
         updated_at = '2026-07-01T09:04:01.000Z' WHERE url = '{url}'"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::NudgeDelivered,
        &json!({"url": url, "session": "demo-2", "kind": "ci", "key": "ci:abc"}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:04:00.000Z");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr SET nudge_state = '{{\"seen\":{{}},\"attempts\":{{}}}}', \
         updated_at = '2026-07-01T09:05:00.000Z' WHERE url = '{url}'"
    ));
    none(&db, head, events, "a nudge-state reset");

    let head = db.head();
    let events = db.sql(&format!(
        "INSERT INTO pr_checks (pr_url, name, commit_sha, kind, status, created_at, updated_at) \
         VALUES ('{url}', 'build', 'abc123', 'check_run', 'in_progress', \
         '2026-07-01T09:06:00.000Z', '2026-07-01T09:06:00.000Z')"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrCheckRecorded,
        &json!({"pr": url, "name": "build", "commit": "abc123", "status": "in_progress"}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:06:00.000Z");
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));
    assert_eq!(row.project_id, "demo");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr_checks SET status = 'failed', conclusion = 'failure', \
         updated_at = '2026-07-01T09:07:00.000Z' WHERE pr_url = '{url}'"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrCheckRecorded,
        &json!({"pr": url, "name": "build", "commit": "abc123", "status": "failed"}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:07:00.000Z");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr_checks SET log_tail = 'boom', log_hash = 'ff', \
         updated_at = '2026-07-01T09:08:00.000Z' WHERE pr_url = '{url}'"
    ));
    none(&db, head, events, "a check update without a status change");

    let head = db.head();
    let events = db.sql(&format!(
        "INSERT INTO pr_review_threads (pr_url, thread_id, path, line, resolved, is_bot, \
         semantic_hash, updated_at) VALUES ('{url}', 'T1', 'src/lib.rs', 12, 0, 0, 'h1', \
         '2026-07-01T09:09:00.000Z')"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrReviewThreadAdded,
        &json!({"pr": url, "thread": "T1", "path": "src/lib.rs", "line": 12, "resolved": false,
                "isBot": false}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:09:00.000Z");
    assert_eq!(row.session_id.as_deref(), Some("demo-2"));

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr_review_threads SET semantic_hash = 'h2', \
         updated_at = '2026-07-01T09:10:00.000Z' WHERE pr_url = '{url}'"
    ));
    none(&db, head, events, "a thread update without a resolved flip");
    let events = db.sql(&format!(
        "INSERT INTO pr_comment (pr_url, comment_id, thread_id, author, body, created_at) \
         VALUES ('{url}', 'C1', 'T1', 'alice', 'please fix', '2026-07-01T09:10:00.000Z')"
    ));
    none(&db, head, events, "a pr_comment insert");

    let head = db.head();
    let events = db.sql(&format!(
        "UPDATE pr_review_threads SET resolved = 1, updated_at = '2026-07-01T09:11:00.000Z' \
         WHERE pr_url = '{url}' AND thread_id = 'T1'"
    ));
    let row = one(
        &db,
        head,
        events,
        EventType::PrReviewThreadResolved,
        &json!({"pr": url, "thread": "T1", "path": "src/lib.rs", "line": 12, "resolved": true}),
        &mut seen,
    );
    assert_eq!(row.created_at, "2026-07-01T09:11:00.000Z");

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
