//! The PR write operations (data-model.md §6, scm.md §6–§11) against a real database: every
//! PR trigger of data-model.md §5 fires exactly as documented from these ops, the owner guard,
//! hash acknowledgement, completion, claim takeover rules, nudge dedup state, and all-or-nothing
//! observations.

use ao_protocol::scm::{CheckFact, CommentFact, PrFacts, ScmHashes, ThreadFact, ThreadWrite};
use ao_protocol::{
    ChangeEvent, CheckStatus, CiState, EventType, Mergeability, NudgeKind, PrState, ReviewDecision,
    SessionId, SessionKind, TerminatedReason,
};
use serde_json::{Value, json};

use crate::test_support::{TestDb, URL, check, comment, facts, hashes, obs, sid, thread};
use crate::{NudgeAttempt, PrDetail, StoreError};

fn detail(db: &TestDb, url: &str) -> PrDetail {
    db.reader.pr_detail(url).expect("read").expect("stored PR")
}

fn types(rows: &[ChangeEvent]) -> Vec<&str> {
    rows.iter().map(|r| r.event_type.as_str()).collect()
}

fn payloads(rows: &[ChangeEvent], t: EventType) -> Vec<Value> {
    rows.iter()
        .filter(|r| r.event_type == t.as_str())
        .map(|r| r.payload.clone())
        .collect()
}

fn setup() -> (TestDb, SessionId, SessionId) {
    let mut db = TestDb::open();
    db.add_project("demo");
    let s1 = db.add_seed("demo", SessionKind::Worker).id;
    let s2 = db.add_seed("demo", SessionKind::Worker).id;
    (db, s1, s2)
}

fn row_count(db: &TestDb, table: &str) -> i64 {
    db.raw()
        .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_first_observation_creates_the_pr_and_its_children_with_one_event_each() {
    let (mut db, s1, _) = setup();
    let o = obs(
        &s1,
        facts(URL, 7),
        vec![
            check("build", "abc1234567", CheckStatus::Failed),
            check("lint", "abc1234567", CheckStatus::Passed),
        ],
        ThreadWrite::Replace(vec![
            thread("T1", false, vec![comment("c1", "bob", "please fix")]),
            ThreadFact {
                is_bot: true,
                ..thread("T2", true, vec![])
            },
        ]),
    );
    let head = db.head();
    let w = db.writer.apply_scm_observation(&o).expect("apply");
    assert!(w.value.created);
    assert!(w.value.changed, "nothing acknowledged yet");
    assert!(!w.value.complete);
    assert_eq!(w.value.session_id, s1);
    let rows = db.changes_after(head);
    assert_eq!(w.events, 5);
    assert_eq!(
        types(&rows),
        [
            "pr_created",
            "pr_check_recorded",
            "pr_check_recorded",
            "pr_review_thread_added",
            "pr_review_thread_added"
        ]
    );
    assert_eq!(
        rows[0].payload,
        json!({"url": URL, "session": "demo-1", "number": 7, "state": "open", "ci": "pending",
               "review": "none", "mergeability": "unknown"})
    );
    assert_eq!(rows[0].session_id.as_deref(), Some("demo-1"));
    assert_eq!(rows[0].project_id, "demo");
    assert_eq!(
        payloads(&rows, EventType::PrCheckRecorded),
        [
            json!({"pr": URL, "name": "build", "commit": "abc1234567", "status": "failed"}),
            json!({"pr": URL, "name": "lint", "commit": "abc1234567", "status": "passed"}),
        ]
    );
    assert_eq!(
        payloads(&rows, EventType::PrReviewThreadAdded),
        [
            json!({"pr": URL, "thread": "T1", "path": "src/lib.rs", "line": 12,
                   "resolved": false, "isBot": false}),
            json!({"pr": URL, "thread": "T2", "path": "src/lib.rs", "line": 12,
                   "resolved": true, "isBot": true}),
        ]
    );

    let d = detail(&db, URL);
    assert_eq!(d.facts, o.facts, "every fact column round-trips");
    assert_eq!(d.session_id, s1);
    assert_eq!(d.provider, "github");
    assert_eq!(d.hashes, crate::AckedHashes::default(), "apply never acks");
    assert!(d.observed_at.is_some());
    assert_eq!(d.ci_observed_at, d.observed_at);
    assert_eq!(d.review_observed_at, d.observed_at);
    assert_eq!(d.updated_at, d.observed_at.clone().expect("observed"));
    assert_eq!(d.nudge_state, crate::NudgeState::default());
    assert_eq!(d.last_nudge, None);
    assert_eq!(d.checks.len(), 2);
    assert_eq!(d.checks[0].name, "build");
    assert_eq!(d.checks[0].log_tail, "error: boom");
    assert_eq!(d.checks[0].job_id, "42");
    assert_eq!(d.threads.len(), 2);
    assert_eq!(d.comments.len(), 1);
    let c = &d.comments[0];
    assert_eq!(
        (
            c.thread_id.as_str(),
            c.file.as_str(),
            c.line,
            c.resolved,
            c.author.as_str()
        ),
        ("T1", "src/lib.rs", Some(12), false, "bob")
    );
    assert_eq!(c.created_at, "2026-07-01T08:12:00.000Z");

    // The same observation again: no watched column changes, so no event at all.
    let head = db.head();
    let w = db.writer.apply_scm_observation(&o).expect("again");
    assert!(!w.value.created);
    assert!(w.value.changed, "still not acknowledged");
    assert_eq!(w.events, 0);
    assert!(db.changes_after(head).is_empty());
}

#[test]
fn pr_updated_fires_only_for_watched_columns() {
    let (mut db, s1, _) = setup();
    let mut f = facts(URL, 7);
    db.writer
        .apply_scm_observation(&obs(&s1, f.clone(), vec![], ThreadWrite::Preserve))
        .expect("first");

    // Metadata only: title, counts, raw provider values, timestamps.
    f.title = "Renamed".into();
    f.additions = 99;
    f.provider_merge_state_status = "CLEAN".into();
    f.updated_at_provider = Some("2026-07-01T09:00:00.000Z".into());
    f.head_sha = "def".into();
    let head = db.head();
    let w = db
        .writer
        .apply_scm_observation(&obs(&s1, f.clone(), vec![], ThreadWrite::Preserve))
        .expect("metadata");
    assert_eq!(w.events, 0);
    assert!(db.changes_after(head).is_empty());
    assert_eq!(detail(&db, URL).facts.title, "Renamed");

    for change in [
        &(|f: &mut PrFacts| f.state = PrState::Draft) as &dyn Fn(&mut PrFacts),
        &|f| f.ci_state = CiState::Failing,
        &|f| f.review_decision = ReviewDecision::ChangesRequested,
        &|f| f.mergeability = Mergeability::Conflicting,
    ] {
        change(&mut f);
        let head = db.head();
        let w = db
            .writer
            .apply_scm_observation(&obs(&s1, f.clone(), vec![], ThreadWrite::Preserve))
            .expect("watched");
        let rows = db.changes_after(head);
        assert_eq!(types(&rows), ["pr_updated"]);
        assert_eq!(w.events, 1);
        assert_eq!(rows[0].created_at, detail(&db, URL).updated_at);
    }
    let rows = db.changes_after(0);
    let last = rows.last().expect("rows");
    assert_eq!(
        last.payload,
        json!({"url": URL, "session": "demo-1", "number": 7, "state": "draft", "ci": "failing",
               "review": "changes_requested", "mergeability": "conflicting"})
    );
}

#[test]
fn check_events_fire_on_insert_and_status_change_only() {
    let (mut db, s1, _) = setup();
    let f = facts(URL, 7);
    let write = |db: &mut TestDb, checks: Vec<CheckFact>| {
        let head = db.head();
        let w = db
            .writer
            .apply_scm_observation(&obs(&s1, f.clone(), checks, ThreadWrite::Preserve))
            .expect("apply");
        let rows = db.changes_after(head);
        assert_eq!(w.events, rows.len() as u64);
        rows
    };
    write(
        &mut db,
        vec![check("build", "abc1234567", CheckStatus::InProgress)],
    );
    let created = detail(&db, URL).checks[0].clone();

    // Same status, other log/url: stored, no event.
    let mut c = check("build", "abc1234567", CheckStatus::InProgress);
    c.url = "https://elsewhere".into();
    c.log_tail = "partial".into();
    assert!(write(&mut db, vec![c]).is_empty());
    let after = detail(&db, URL).checks[0].clone();
    assert_eq!(after.url, "https://elsewhere");
    assert_eq!(after.created_at, created.created_at);

    // Status change → one pr_check_recorded (UPDATE).
    let rows = write(
        &mut db,
        vec![check("build", "abc1234567", CheckStatus::Failed)],
    );
    assert_eq!(types(&rows), ["pr_check_recorded"]);
    assert_eq!(
        rows[0].payload,
        json!({"pr": URL, "name": "build", "commit": "abc1234567", "status": "failed"})
    );
    assert_eq!(rows[0].created_at, detail(&db, URL).checks[0].updated_at);

    // Same check on a new commit → a new row (INSERT); the old commit's row is kept.
    let rows = write(
        &mut db,
        vec![check("build", "fff0000", CheckStatus::Queued)],
    );
    assert_eq!(types(&rows), ["pr_check_recorded"]);
    assert_eq!(row_count(&db, "pr_checks"), 2);
    // Only head-commit checks are read.
    assert_eq!(detail(&db, URL).checks.len(), 1);
    assert_eq!(detail(&db, URL).checks[0].commit_sha, "abc1234567");
}

#[test]
fn replace_flips_resolved_as_an_update_deletes_missing_threads_and_replaces_comments() {
    let (mut db, s1, _) = setup();
    let f = facts(URL, 7);
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            f.clone(),
            vec![],
            ThreadWrite::Replace(vec![
                thread(
                    "T1",
                    false,
                    vec![comment("c1", "bob", "fix"), comment("c2", "al", "x")],
                ),
                thread("T2", false, vec![comment("c3", "bob", "also")]),
            ]),
        ))
        .expect("first");
    let head = db.head();
    let w = db
        .writer
        .apply_scm_observation(&obs(
            &s1,
            f.clone(),
            vec![],
            ThreadWrite::Replace(vec![thread(
                "T1",
                true,
                vec![comment("c1", "bob", "fixed?")],
            )]),
        ))
        .expect("replace");
    let rows = db.changes_after(head);
    assert_eq!(types(&rows), ["pr_review_thread_resolved"], "{rows:#?}");
    assert_eq!(w.events, 1);
    assert_eq!(
        rows[0].payload,
        json!({"pr": URL, "thread": "T1", "path": "src/lib.rs", "line": 12, "resolved": true})
    );
    let d = detail(&db, URL);
    assert_eq!(
        d.threads
            .iter()
            .map(|t| t.thread_id.as_str())
            .collect::<Vec<_>>(),
        ["T1"]
    );
    assert_eq!(d.comments.len(), 1);
    assert_eq!(d.comments[0].body, "fixed?");
    assert!(d.comments[0].resolved, "resolved is copied from the thread");

    // An unchanged thread in a replace writes no event and keeps its updated_at.
    let before = d.threads[0].updated_at.clone();
    let head = db.head();
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            f,
            vec![],
            ThreadWrite::Replace(vec![thread(
                "T1",
                true,
                vec![comment("c1", "bob", "fixed?")],
            )]),
        ))
        .expect("same");
    assert!(db.changes_after(head).is_empty());
    assert_eq!(detail(&db, URL).threads[0].updated_at, before);
}

#[test]
fn merge_touches_only_the_given_threads_and_preserve_touches_none() {
    let (mut db, s1, _) = setup();
    let f = facts(URL, 7);
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            f.clone(),
            vec![],
            ThreadWrite::Replace(vec![
                thread("T1", false, vec![comment("c1", "bob", "one")]),
                thread("T2", false, vec![comment("c2", "bob", "two")]),
            ]),
        ))
        .expect("first");
    let review_at = detail(&db, URL).review_observed_at;

    let head = db.head();
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            f.clone(),
            vec![],
            ThreadWrite::Merge(vec![
                thread("T2", false, vec![comment("c2", "bob", "two, edited")]),
                thread("T3", false, vec![comment("c9", "eve", "new")]),
            ]),
        ))
        .expect("merge");
    assert_eq!(types(&db.changes_after(head)), ["pr_review_thread_added"]);
    let d = detail(&db, URL);
    assert_eq!(d.threads.len(), 3, "merge never deletes threads");
    let bodies: Vec<(&str, &str)> = d
        .comments
        .iter()
        .map(|c| (c.comment_id.as_str(), c.body.as_str()))
        .collect();
    assert_eq!(
        bodies,
        [("c1", "one"), ("c2", "two, edited"), ("c9", "new")]
    );
    assert!(d.review_observed_at >= review_at);

    // Preserve: threads and comments untouched, review_observed_at kept.
    let review_at = d.review_observed_at.clone();
    let head = db.head();
    db.writer
        .apply_scm_observation(&obs(&s1, f, vec![], ThreadWrite::Preserve))
        .expect("preserve");
    assert!(db.changes_after(head).is_empty());
    let d2 = detail(&db, URL);
    assert_eq!(d2.threads, d.threads);
    assert_eq!(d2.comments, d.comments);
    assert_eq!(d2.review_observed_at, review_at);
}

#[test]
fn at_most_five_comments_per_thread_are_stored() {
    let (mut db, s1, _) = setup();
    let comments: Vec<CommentFact> = (1..=8)
        .map(|i| comment(&format!("c{i}"), "bob", &format!("n{i}")))
        .collect();
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            facts(URL, 7),
            vec![],
            ThreadWrite::Replace(vec![thread("T1", false, comments)]),
        ))
        .expect("apply");
    let mut ids: Vec<String> = detail(&db, URL)
        .comments
        .into_iter()
        .map(|c| c.comment_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["c1", "c2", "c3", "c4", "c5"]);
}

#[test]
fn an_observation_for_a_pr_owned_by_another_session_writes_nothing() {
    let (mut db, s1, s2) = setup();
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            facts(URL, 7),
            vec![check("build", "abc1234567", CheckStatus::Passed)],
            ThreadWrite::Preserve,
        ))
        .expect("owner");
    let before = detail(&db, URL);
    let head = db.head();
    let mut f = facts(URL, 7);
    f.ci_state = CiState::Failing;
    f.title = "stolen".into();
    let err = db
        .writer
        .apply_scm_observation(&obs(
            &s2,
            f,
            vec![check("build", "abc1234567", CheckStatus::Failed)],
            ThreadWrite::Replace(vec![thread("T1", false, vec![])]),
        ))
        .expect_err("guarded");
    assert_eq!(err, StoreError::PrOwnedElsewhere { owner: s1.clone() });
    assert!(!err.is_internal());
    assert!(db.changes_after(head).is_empty());
    assert_eq!(detail(&db, URL), before);

    // Unknown session and invalid input write nothing either.
    let err = db
        .writer
        .apply_scm_observation(&obs(
            &sid("demo-9"),
            facts("https://github.com/o/demo/pull/8", 8),
            vec![],
            ThreadWrite::Preserve,
        ))
        .expect_err("no session");
    assert_eq!(err, StoreError::NotFound);
    let mut bad = obs(
        &s1,
        facts("https://github.com/o/demo/pull/9", 9),
        vec![],
        ThreadWrite::Preserve,
    );
    bad.facts.number = u64::MAX;
    assert!(matches!(
        db.writer.apply_scm_observation(&bad),
        Err(StoreError::InvalidInput(_))
    ));
    bad.facts.number = 9;
    bad.session_id = "not a session".into();
    assert!(matches!(
        db.writer.apply_scm_observation(&bad),
        Err(StoreError::InvalidInput(_))
    ));
    assert!(db.changes_after(head).is_empty());
    assert_eq!(row_count(&db, "pr"), 1);
}

#[test]
fn a_failure_mid_write_rolls_back_the_whole_observation() {
    let (mut db, s1, _) = setup();
    db.writer
        .apply_scm_observation(&obs(&s1, facts(URL, 7), vec![], ThreadWrite::Preserve))
        .expect("first");
    let before = detail(&db, URL);
    // A constraint failure raised by SQLite while the threads are written (after the pr row
    // and the checks were already written in the same transaction).
    db.sql(
        "CREATE TEMP TRIGGER fail_bad_thread BEFORE INSERT ON pr_review_threads \
         WHEN NEW.thread_id = 'T-bad' BEGIN \
         SELECT RAISE(ABORT, 'CHECK constraint failed: injected'); END;",
    );
    let head = db.head();
    let mut f = facts(URL, 7);
    f.ci_state = CiState::Failing;
    f.title = "half written?".into();
    let err = db
        .writer
        .apply_scm_observation(&obs(
            &s1,
            f,
            vec![check("build", "abc1234567", CheckStatus::Failed)],
            ThreadWrite::Replace(vec![
                thread("T-good", false, vec![comment("c1", "bob", "x")]),
                thread("T-bad", false, vec![]),
            ]),
        ))
        .expect_err("injected failure");
    assert!(
        matches!(err, StoreError::Sqlite(ref m) if m.contains("injected")),
        "{err:?}"
    );
    assert!(db.changes_after(head).is_empty(), "no event survives");
    assert_eq!(detail(&db, URL), before, "no fact survives");
    assert_eq!(row_count(&db, "pr_checks"), 0);
    assert_eq!(row_count(&db, "pr_review_threads"), 0);
    assert_eq!(row_count(&db, "pr_comment"), 0);

    // A new PR failing mid-write leaves no row at all.
    let other = "https://github.com/o/demo/pull/8";
    db.writer
        .apply_scm_observation(&obs(
            &s1,
            facts(other, 8),
            vec![],
            ThreadWrite::Merge(vec![thread("T-bad", false, vec![])]),
        ))
        .expect_err("injected failure");
    assert_eq!(db.reader.pr_detail(other).expect("read"), None);
    assert!(db.changes_after(head).is_empty());
}

#[test]
fn apply_leaves_hashes_alone_and_ack_sets_them() {
    let (mut db, s1, s2) = setup();
    let mut o = obs(&s1, facts(URL, 7), vec![], ThreadWrite::Preserve);
    assert!(
        db.writer
            .apply_scm_observation(&o)
            .expect("apply")
            .value
            .changed
    );
    assert_eq!(detail(&db, URL).hashes, crate::AckedHashes::default());

    let head = db.head();
    let w = db.writer.ack_scm_hashes(&s1, URL, &o.hashes).expect("ack");
    assert_eq!(w.events, 0);
    assert!(db.changes_after(head).is_empty(), "hashes are not watched");
    let acked = detail(&db, URL).hashes;
    assert_eq!(
        acked,
        crate::AckedHashes {
            metadata: "m-1".into(),
            ci: "c-1".into(),
            review: "r-1".into(),
            review_partial: false
        }
    );
    // Same hashes: unchanged. Any hash differing: changed; apply still does not store it.
    assert!(
        !db.writer
            .apply_scm_observation(&o)
            .expect("same")
            .value
            .changed
    );
    o.hashes.ci = "c-2".into();
    assert!(
        db.writer
            .apply_scm_observation(&o)
            .expect("ci")
            .value
            .changed
    );
    assert_eq!(detail(&db, URL).hashes, acked);
    o.hashes = hashes("1");
    o.hashes.review = None;
    assert!(
        !db.writer
            .apply_scm_observation(&o)
            .expect("no review")
            .value
            .changed,
        "an observation without a review hash compares metadata and CI only"
    );
    o.hashes.review = Some("r-2".into());
    assert!(
        db.writer
            .apply_scm_observation(&o)
            .expect("review")
            .value
            .changed
    );

    // Ack without a review hash keeps the stored review hash and partial flag.
    db.writer
        .ack_scm_hashes(
            &s1,
            URL,
            &ScmHashes {
                metadata: "m-3".into(),
                ci: "c-3".into(),
                review: Some("r-3".into()),
                review_partial: true,
            },
        )
        .expect("ack partial");
    db.writer
        .ack_scm_hashes(
            &s1,
            URL,
            &ScmHashes {
                metadata: "m-4".into(),
                ci: "c-4".into(),
                review: None,
                review_partial: false,
            },
        )
        .expect("ack without review");
    assert_eq!(
        detail(&db, URL).hashes,
        crate::AckedHashes {
            metadata: "m-4".into(),
            ci: "c-4".into(),
            review: "r-3".into(),
            review_partial: true
        }
    );

    // Guarded by owner; an unknown PR is NotFound.
    assert_eq!(
        db.writer.ack_scm_hashes(&s2, URL, &hashes("x")),
        Err(StoreError::PrOwnedElsewhere { owner: s1.clone() })
    );
    assert_eq!(
        db.writer
            .ack_scm_hashes(&s1, "https://github.com/o/demo/pull/404", &hashes("x")),
        Err(StoreError::NotFound)
    );
    assert_eq!(detail(&db, URL).hashes.metadata, "m-4");
}

#[test]
fn complete_means_no_open_pr_and_at_least_one_merged() {
    let (mut db, s1, _) = setup();
    let a = "https://github.com/o/demo/pull/1";
    let b = "https://github.com/o/demo/pull/2";
    let apply = |db: &mut TestDb, url: &str, n: u64, state: PrState| {
        let mut f = facts(url, n);
        f.state = state;
        f.is_merged = state == PrState::Merged;
        f.is_closed = matches!(state, PrState::Merged | PrState::Closed);
        db.writer
            .apply_scm_observation(&obs(&s1, f, vec![], ThreadWrite::Preserve))
            .expect("apply")
            .value
            .complete
    };
    assert!(!apply(&mut db, a, 1, PrState::Open));
    assert!(!apply(&mut db, b, 2, PrState::Draft));
    assert!(!apply(&mut db, a, 1, PrState::Merged), "b is still a draft");
    assert!(apply(&mut db, b, 2, PrState::Closed), "a merged, b closed");

    let (mut db, s1, _) = setup();
    let mut f = facts(a, 1);
    f.state = PrState::Closed;
    f.is_closed = true;
    let w = db
        .writer
        .apply_scm_observation(&obs(&s1, f, vec![], ThreadWrite::Preserve))
        .expect("closed");
    assert!(!w.value.complete, "closed without merge never completes");
    let mut f = facts(b, 2);
    f.state = PrState::Merged;
    f.is_merged = true;
    let w = db
        .writer
        .apply_scm_observation(&obs(&s1, f, vec![], ThreadWrite::Preserve))
        .expect("merged");
    assert!(w.value.complete);
}

#[test]
fn claim_moves_prs_with_the_takeover_rules() {
    let (mut db, s1, s2) = setup();
    // Claiming an unknown PR creates it.
    let o1 = obs(
        &s1,
        facts(URL, 7),
        vec![check("build", "abc1234567", CheckStatus::Failed)],
        ThreadWrite::Replace(vec![]),
    );
    let head = db.head();
    let w = db.writer.claim_pr(&o1, false).expect("claim new");
    assert_eq!(
        w.value,
        crate::ClaimApplied {
            session_id: s1.clone(),
            taken_over_from: None,
            previous_owner_live: false,
            created: true,
        }
    );
    assert_eq!(
        types(&db.changes_after(head)),
        ["pr_created", "pr_check_recorded"]
    );
    db.writer.ack_scm_hashes(&s1, URL, &o1.hashes).expect("ack");
    db.writer
        .record_nudge(&s1, URL, NudgeKind::Ci, "ci:x:build", "abc:h", "abc")
        .expect("nudge");

    // Another live session without takeover → 409, nothing written.
    let o2 = obs(&s2, facts(URL, 7), vec![], ThreadWrite::Replace(vec![]));
    let before = detail(&db, URL);
    let head = db.head();
    assert_eq!(
        db.writer.claim_pr(&o2, false),
        Err(StoreError::PrClaimedByActiveSession { owner: s1.clone() })
    );
    assert!(db.changes_after(head).is_empty());
    assert_eq!(detail(&db, URL), before);

    // With takeover: pr_session_changed, nudge state and acknowledged hashes reset.
    let w = db.writer.claim_pr(&o2, true).expect("takeover");
    assert_eq!(w.value.taken_over_from, Some(s1.clone()));
    assert!(w.value.previous_owner_live);
    assert!(!w.value.created);
    let rows = db.changes_after(head);
    assert_eq!(types(&rows), ["pr_session_changed"]);
    assert_eq!(w.events, 1);
    assert_eq!(
        rows[0].payload,
        json!({"url": URL, "fromSession": "demo-1", "toSession": "demo-2"})
    );
    assert_eq!(rows[0].session_id.as_deref(), Some("demo-2"));
    let d = detail(&db, URL);
    assert_eq!(d.session_id, s2);
    assert_eq!(d.nudge_state, crate::NudgeState::default());
    assert_eq!(d.hashes, crate::AckedHashes::default());
    assert!(
        d.last_nudge.is_some(),
        "the last nudge stays for the summary"
    );
    // The old owner's observations are now rejected.
    assert_eq!(
        db.writer.apply_scm_observation(&o1).map(|w| w.value),
        Err(StoreError::PrOwnedElsewhere { owner: s2.clone() })
    );

    // A terminated owner loses the PR without takeover; it is still reported.
    db.writer
        .mark_terminated(&s2, TerminatedReason::Killed, None)
        .expect("terminate");
    let w = db
        .writer
        .claim_pr(&o1, false)
        .expect("claim from terminated");
    assert_eq!(w.value.taken_over_from, Some(s2.clone()));
    assert!(!w.value.previous_owner_live);

    // Re-claiming one's own PR is no takeover, but still resets the nudge state.
    db.writer
        .record_nudge(&s1, URL, NudgeKind::Ci, "ci:x:build", "abc:h", "abc")
        .expect("nudge");
    let head = db.head();
    let w = db.writer.claim_pr(&o1, false).expect("re-claim");
    assert_eq!(w.value.taken_over_from, None);
    assert!(db.changes_after(head).is_empty());
    assert_eq!(detail(&db, URL).nudge_state, crate::NudgeState::default());

    // An unknown claimer is NotFound.
    let o9 = obs(&sid("demo-9"), facts(URL, 7), vec![], ThreadWrite::Preserve);
    assert_eq!(db.writer.claim_pr(&o9, true), Err(StoreError::NotFound));
}

#[test]
fn record_nudge_counts_per_scope_and_fires_nudge_delivered() {
    let (mut db, s1, s2) = setup();
    db.writer
        .apply_scm_observation(&obs(&s1, facts(URL, 7), vec![], ThreadWrite::Preserve))
        .expect("apply");
    let key = "ci:https://github.com/o/demo/pull/7:build";
    let mut last_at = String::new();
    for (i, (sig, scope, count)) in [
        ("a:1", "a", 1),
        ("a:2", "a", 2),
        ("b:1", "b", 1),
        ("b:1", "b", 2),
    ]
    .into_iter()
    .enumerate()
    {
        let head = db.head();
        let w = db
            .writer
            .record_nudge(&s1, URL, NudgeKind::Ci, key, sig, scope)
            .expect("record");
        let rows = db.changes_after(head);
        assert_eq!(types(&rows), ["nudge_delivered"], "delivery {i}");
        assert_eq!(w.events, 1);
        assert_eq!(
            rows[0].payload,
            json!({"url": URL, "session": "demo-1", "kind": "ci", "key": key})
        );
        assert_eq!(w.value.seen[key], sig);
        assert_eq!(
            w.value.attempts[key],
            NudgeAttempt {
                count,
                scope: scope.into()
            }
        );
        let d = detail(&db, URL);
        assert_eq!(d.nudge_state, w.value);
        let last = d.last_nudge.expect("last nudge");
        assert_eq!(last.kind, NudgeKind::Ci);
        assert_eq!(last.key, key);
        assert_eq!(rows[0].created_at, last.at);
        assert!(last.at > last_at, "last_nudge_at strictly increases");
        last_at = last.at;
    }

    // A second key on the same PR; review keys use the empty scope.
    db.writer
        .record_nudge(&s1, URL, NudgeKind::Review, "review:u", "c1", "")
        .expect("review");
    let st = detail(&db, URL).nudge_state;
    assert_eq!(st.attempts_in("review:u", ""), 1);
    assert_eq!(st.attempts_in(key, "b"), 2);

    // reset_nudge_key removes one key, writes no event; an absent key writes nothing.
    let head = db.head();
    let before = detail(&db, URL).updated_at;
    assert!(
        db.writer
            .reset_nudge_key(&s1, URL, "review:u")
            .expect("reset")
            .value
    );
    assert!(db.changes_after(head).is_empty());
    let st = detail(&db, URL).nudge_state;
    assert!(!st.has_key("review:u"));
    assert!(st.has_key(key));
    let updated = detail(&db, URL).updated_at;
    assert!(updated >= before);
    assert!(
        !db.writer
            .reset_nudge_key(&s1, URL, "review:u")
            .expect("again")
            .value
    );
    assert_eq!(detail(&db, URL).updated_at, updated);

    // Guarded by owner.
    assert_eq!(
        db.writer
            .record_nudge(&s2, URL, NudgeKind::Ci, key, "x", "x")
            .map(|w| w.value),
        Err(StoreError::PrOwnedElsewhere { owner: s1.clone() })
    );
    assert_eq!(
        db.writer.reset_nudge_key(&s2, URL, key).map(|w| w.value),
        Err(StoreError::PrOwnedElsewhere { owner: s1 })
    );
    assert_eq!(
        db.writer
            .reset_nudge_key(&s2, "https://github.com/o/demo/pull/404", key)
            .map(|w| w.value),
        Err(StoreError::NotFound)
    );
}

#[test]
fn reads_for_sessions_and_repos() {
    let (mut db, s1, s2) = setup();
    let u9 = "https://github.com/o/demo/pull/9";
    let u3 = "https://github.com/o/demo/pull/3";
    let other = "https://github.com/o/other/pull/1";
    for (s, url, n) in [(&s1, u9, 9), (&s1, u3, 3), (&s2, URL, 7)] {
        db.writer
            .apply_scm_observation(&obs(s, facts(url, n), vec![], ThreadWrite::Preserve))
            .expect("apply");
    }
    let mut f = facts(other, 1);
    f.repo = "o/other".into();
    db.writer
        .apply_scm_observation(&obs(&s2, f, vec![], ThreadWrite::Merge(vec![])))
        .expect("other repo");
    db.writer
        .ack_scm_hashes(&s1, u3, &hashes("3"))
        .expect("ack");

    let mine = db.reader.pr_details_of_session(&s1).expect("details");
    assert_eq!(
        mine.iter().map(|p| p.facts.number).collect::<Vec<_>>(),
        [3, 9]
    );
    assert!(
        db.reader
            .pr_details_of_session(&sid("demo-9"))
            .expect("none")
            .is_empty()
    );
    assert_eq!(db.reader.pr_detail("nope").expect("none"), None);

    let repo = db.reader.prs_of_repo("GitHub.com", "O/Demo").expect("repo");
    assert_eq!(repo.iter().map(|p| p.number).collect::<Vec<_>>(), [3, 7, 9]);
    let p3 = &repo[0];
    assert_eq!(p3.url, u3);
    assert_eq!(p3.session_id, s1);
    assert_eq!(p3.state, PrState::Open);
    assert_eq!(p3.head_sha, "abc1234567");
    assert_eq!(p3.source_branch, "ao/demo-1/root");
    assert_eq!(p3.review_decision, ReviewDecision::None);
    assert_eq!(p3.hashes.metadata, "m-3");
    assert!(p3.observed_at.is_some());
    assert_eq!(
        p3.review_observed_at, None,
        "preserve never fetched threads"
    );
    assert_eq!(repo[1].session_id, s2);
    let others = db
        .reader
        .prs_of_repo("github.com", "o/other")
        .expect("other");
    assert_eq!(others.len(), 1);
    assert!(others[0].review_observed_at.is_some());
}
