//! Table tests of [`super::due_nudge`] and friends: every rule of scm.md §9.1–§9.2 (gates,
//! priority, tie-break, seen/budget fall-through, stacked conflicts) and the exact message
//! formats.

use ao_protocol::scm::PrFacts;
use ao_protocol::{
    ActivityState, CheckKind, CheckStatus, CiState, Mergeability, NudgeKind, PrState, ProjectId,
    ReviewDecision, RuntimeKind, SessionId, SessionKind, TerminatedReason,
};
use ao_store::{
    AckedHashes, NudgeAttempt, NudgeState, PrCheckRow, PrCommentRow, PrDetail, PrThreadRow,
    SessionRow,
};

use super::*;

const T: &str = "2026-07-01T09:00:00.000Z";
const HEAD: &str = "abcdef1234567890";

fn session() -> SessionRow {
    let project = ProjectId::new("demo").expect("valid id");
    SessionRow {
        id: SessionId::new(&project, 1),
        project_id: project,
        num: 1,
        kind: SessionKind::Worker,
        harness: "claude-code".into(),
        issue_id: String::new(),
        display_name: String::new(),
        branch: "ao/demo-1/root".into(),
        workspace_path: "/tmp/w".into(),
        runtime: RuntimeKind::Tmux,
        runtime_handle_id: "demo-1".into(),
        agent_session_id: String::new(),
        prompt: String::new(),
        launch_command: String::new(),
        activity_state: ActivityState::Idle,
        activity_last_at: T.into(),
        first_signal_at: Some(T.into()),
        is_terminated: false,
        terminated_at: None,
        terminated_reason: None,
        exit_code: None,
        restarts: 0,
        last_restart_at: None,
        created_at: T.into(),
        updated_at: T.into(),
    }
}

fn url(n: u64) -> String {
    format!("https://github.com/o/r/pull/{n}")
}

/// An open PR with nothing to nudge about.
fn pr(n: u64) -> PrDetail {
    PrDetail {
        session_id: session().id,
        facts: PrFacts {
            url: url(n),
            number: n,
            state: PrState::Open,
            review_decision: ReviewDecision::None,
            ci_state: CiState::Passing,
            mergeability: Mergeability::Mergeable,
            mergeability_reasons: vec![],
            host: "github.com".into(),
            repo: "o/r".into(),
            head_repo: "o/r".into(),
            source_branch: format!("ao/demo-1/f{n}"),
            target_branch: "main".into(),
            head_sha: HEAD.into(),
            base_sha: "base99".into(),
            merge_commit_sha: String::new(),
            title: format!("PR {n}"),
            author: "agent".into(),
            html_url: url(n),
            additions: 1,
            deletions: 1,
            changed_files: 1,
            is_draft: false,
            is_merged: false,
            is_closed: false,
            provider_state: "OPEN".into(),
            provider_mergeable: "MERGEABLE".into(),
            provider_merge_state_status: "CLEAN".into(),
            created_at_provider: Some(T.into()),
            updated_at_provider: Some(T.into()),
            merged_at_provider: None,
            closed_at_provider: None,
        },
        provider: "github".into(),
        hashes: AckedHashes::default(),
        observed_at: Some(T.into()),
        ci_observed_at: Some(T.into()),
        review_observed_at: Some(T.into()),
        nudge_state: NudgeState::default(),
        last_nudge: None,
        updated_at: T.into(),
        checks: vec![],
        threads: vec![],
        comments: vec![],
    }
}

fn check(name: &str, status: CheckStatus, log_hash: &str) -> PrCheckRow {
    PrCheckRow {
        name: name.into(),
        commit_sha: HEAD.into(),
        kind: CheckKind::CheckRun,
        status,
        conclusion: "FAILURE".into(),
        url: format!("https://github.com/o/r/actions/runs/1/job/{name}"),
        job_id: "7".into(),
        log_tail: format!("{name} line 1\n{name} line 2"),
        log_hash: log_hash.into(),
        created_at: T.into(),
        updated_at: T.into(),
    }
}

fn ci_failing(n: u64, checks: Vec<PrCheckRow>) -> PrDetail {
    let mut p = pr(n);
    p.facts.ci_state = CiState::Failing;
    p.checks = checks;
    p
}

fn thread(id: &str, resolved: bool, is_bot: bool) -> PrThreadRow {
    PrThreadRow {
        thread_id: id.into(),
        path: "src/lib.rs".into(),
        line: Some(12),
        resolved,
        is_bot,
        semantic_hash: String::new(),
        updated_at: T.into(),
    }
}

fn comment(id: &str, thread: &str, author: &str, body: &str) -> PrCommentRow {
    PrCommentRow {
        comment_id: id.into(),
        thread_id: thread.into(),
        author: author.into(),
        is_bot: false,
        file: "src/lib.rs".into(),
        line: Some(12),
        body: body.into(),
        url: format!("https://github.com/o/r/pull/1#discussion_{id}"),
        resolved: false,
        created_at: T.into(),
    }
}

fn conflicting(n: u64) -> PrDetail {
    let mut p = pr(n);
    p.facts.mergeability = Mergeability::Conflicting;
    p
}

fn seen(p: &mut PrDetail, key: &str, sig: &str) {
    p.nudge_state.seen.insert(key.into(), sig.into());
}

fn attempts(p: &mut PrDetail, key: &str, count: u32, scope: &str) {
    p.nudge_state.attempts.insert(
        key.into(),
        NudgeAttempt {
            count,
            scope: scope.into(),
        },
    );
}

fn due(prs: &[PrDetail]) -> Option<Nudge> {
    due_nudge(&session(), prs)
}

fn kind_and_key(n: Option<Nudge>) -> Option<(NudgeKind, String)> {
    n.map(|n| (n.kind, n.key))
}

#[test]
fn nothing_is_due_for_terminated_waiting_or_handle_less_sessions() {
    let prs = [ci_failing(
        1,
        vec![check("build", CheckStatus::Failed, "h")],
    )];
    assert!(due(&prs).is_some());
    let gated = [
        SessionRow {
            is_terminated: true,
            activity_state: ActivityState::Exited,
            terminated_reason: Some(TerminatedReason::Killed),
            ..session()
        },
        SessionRow {
            activity_state: ActivityState::WaitingInput,
            ..session()
        },
        SessionRow {
            runtime_handle_id: String::new(),
            ..session()
        },
    ];
    for s in &gated {
        assert_eq!(due_nudge(s, &prs), None, "{s:?}");
    }
    // A working agent still has its nudge derived (delivery waits for idle).
    let active = SessionRow {
        activity_state: ActivityState::Active,
        ..session()
    };
    assert!(due_nudge(&active, &prs).is_some());
    assert_eq!(due(&[]), None);
    assert_eq!(due(&[pr(1)]), None, "nothing to nudge about");
}

#[test]
fn merged_and_closed_prs_never_nudge() {
    for state in [PrState::Merged, PrState::Closed] {
        let mut p = ci_failing(1, vec![check("build", CheckStatus::Failed, "h")]);
        p.facts.state = state;
        p.facts.review_decision = ReviewDecision::ChangesRequested;
        p.facts.mergeability = Mergeability::Conflicting;
        assert_eq!(due(&[p]), None, "{state}");
    }
    let mut draft = ci_failing(1, vec![check("build", CheckStatus::Failed, "h")]);
    draft.facts.state = PrState::Draft;
    assert!(due(&[draft]).is_some(), "drafts are open");
}

#[test]
fn ci_message_names_the_check_the_others_the_details_and_the_tail() {
    let p = ci_failing(
        4,
        vec![
            check("test", CheckStatus::Failed, "h-test"),
            check("build", CheckStatus::Failed, "h-build"),
            check("lint", CheckStatus::Cancelled, "h-lint"),
            check("docs", CheckStatus::Passed, ""),
        ],
    );
    let n = due(&[p]).expect("due");
    assert_eq!(n.kind, NudgeKind::Ci);
    assert_eq!(n.pr_url, url(4));
    assert_eq!(n.pr_number, 4);
    assert_eq!(n.key, format!("ci:{}:build", url(4)));
    assert_eq!(n.signature, format!("{HEAD}:h-build"));
    assert_eq!(n.scope, HEAD);
    assert_eq!(
        n.text,
        format!(
            "[AO] CI is failing on your PR {} (check \"build\" on abcdef1). Read the output \
             below, fix the cause and push.\n\
             Other failing checks: test\n\
             Details: https://github.com/o/r/actions/runs/1/job/build\n\
             \n\
             Failing output (last 20 lines):\n\
             build line 1\n\
             build line 2",
            url(4)
        )
    );

    // A single failing check without URL or log: no optional lines at all.
    let mut only = check("build", CheckStatus::Failed, "");
    only.url = String::new();
    only.log_tail = String::new();
    let n = due(&[ci_failing(4, vec![only])]).expect("due");
    assert_eq!(
        n.text,
        format!(
            "[AO] CI is failing on your PR {} (check \"build\" on abcdef1). Read the output \
             below, fix the cause and push.",
            url(4)
        )
    );
    assert_eq!(n.signature, format!("{HEAD}:"));
}

#[test]
fn ci_candidates_are_failed_head_checks_sorted_by_name() {
    let mut old = check("a-old", CheckStatus::Failed, "h");
    old.commit_sha = "oldsha".into();
    let base = ci_failing(
        1,
        vec![
            old,
            check("b-cancelled", CheckStatus::Cancelled, "h"),
            check("d", CheckStatus::Failed, "h"),
            check("c", CheckStatus::Failed, "h"),
        ],
    );
    let first = due(std::slice::from_ref(&base)).expect("due");
    assert_eq!(first.key, format!("ci:{}:c", url(1)));
    assert!(
        first.text.contains("Other failing checks: d\n"),
        "{}",
        first.text
    );

    // `c` seen with this signature → `d`.
    let mut seen_c = base.clone();
    seen(
        &mut seen_c,
        &format!("ci:{}:c", url(1)),
        &format!("{HEAD}:h"),
    );
    assert_eq!(due(&[seen_c]).expect("due").key, format!("ci:{}:d", url(1)));
    // `c` seen with another log hash → `c` again (a new failure).
    let mut other_log = base.clone();
    seen(
        &mut other_log,
        &format!("ci:{}:c", url(1)),
        &format!("{HEAD}:other"),
    );
    assert_eq!(
        due(&[other_log]).expect("due").key,
        format!("ci:{}:c", url(1))
    );
    // `c` at its budget for this head SHA → `d`; the hit is reported.
    let mut spent = base.clone();
    attempts(&mut spent, &format!("ci:{}:c", url(1)), BUDGET, HEAD);
    let eval = evaluate(&session(), &[spent]);
    assert_eq!(eval.nudge.expect("due").key, format!("ci:{}:d", url(1)));
    assert_eq!(
        eval.over_budget,
        [BudgetHit {
            pr_url: url(1),
            key: format!("ci:{}:c", url(1)),
            scope: HEAD.into()
        }]
    );
    // The budget is per head SHA: attempts on an older head do not count.
    let mut old_head = base;
    attempts(&mut old_head, &format!("ci:{}:c", url(1)), BUDGET, "oldsha");
    attempts(&mut old_head, &format!("ci:{}:d", url(1)), BUDGET - 1, HEAD);
    assert_eq!(
        due(&[old_head]).expect("due").key,
        format!("ci:{}:c", url(1))
    );
}

#[test]
fn a_seen_or_exhausted_kind_falls_through_to_the_next_kind() {
    let ci = check("build", CheckStatus::Failed, "h");
    let ci_key_1 = format!("ci:{}:build", url(1));
    let mut p = ci_failing(1, vec![ci]);
    p.facts.review_decision = ReviewDecision::ChangesRequested;
    p.facts.mergeability = Mergeability::Conflicting;
    assert_eq!(
        kind_and_key(due(&[p.clone()])),
        Some((NudgeKind::Ci, ci_key_1.clone()))
    );

    seen(&mut p, &ci_key_1, &format!("{HEAD}:h"));
    assert_eq!(
        kind_and_key(due(&[p.clone()])),
        Some((NudgeKind::Review, format!("review:{}", url(1))))
    );
    attempts(&mut p, &format!("review:{}", url(1)), BUDGET, "");
    let e = evaluate(&session(), &[p.clone()]);
    assert_eq!(
        kind_and_key(e.nudge),
        Some((NudgeKind::Conflict, format!("conflict:{}", url(1))))
    );
    assert_eq!(e.over_budget.len(), 1);
    seen(
        &mut p,
        &format!("conflict:{}", url(1)),
        &format!("{HEAD}:base99"),
    );
    assert_eq!(due(&[p.clone()]), None);

    // CI failing with no failed check on the head commit: nothing CI, so review.
    let mut q = ci_failing(2, vec![check("x", CheckStatus::Cancelled, "h")]);
    q.facts.review_decision = ReviewDecision::ChangesRequested;
    assert_eq!(due(&[q]).expect("due").kind, NudgeKind::Review);
}

#[test]
fn review_nudges_list_open_human_comments() {
    let mut p = pr(3);
    p.threads = vec![
        thread("T1", false, false),
        thread("T2", true, false),
        thread("T3", false, true),
        thread("T4", false, false),
    ];
    let mut bot = comment("c5", "T1", "ci-bot", "bot says");
    bot.is_bot = true;
    let mut resolved = comment("c6", "T4", "carol", "resolved comment");
    resolved.resolved = true;
    let mut no_line = comment("c1", "T4", "dave", "multi\n  line\tbody");
    no_line.line = None;
    p.comments = vec![
        comment("c9", "T1", "bob", "please rename"),
        bot,
        comment("c7", "T2", "bob", "in a resolved thread"),
        comment("c8", "T3", "bob", "in a bot thread"),
        resolved,
        no_line,
        comment("c2", "T-missing", "bob", "orphan"),
    ];
    let n = due(&[p]).expect("due");
    assert_eq!(n.kind, NudgeKind::Review);
    assert_eq!(n.key, format!("review:{}", url(3)));
    assert_eq!(n.signature, "c1,c9");
    assert_eq!(n.scope, "");
    assert_eq!(
        n.text,
        format!(
            "[AO] A reviewer left feedback on your PR {}. Address it, push, and reply on the \
             threads.\n\
             - src/lib.rs:12 (@bob): please rename\n  \
             https://github.com/o/r/pull/1#discussion_c9\n\
             - src/lib.rs (@dave): multi line body\n  \
             https://github.com/o/r/pull/1#discussion_c1",
            url(3)
        )
    );
}

#[test]
fn review_lists_ten_items_then_more_and_cuts_long_bodies() {
    let mut p = pr(3);
    p.threads = vec![thread("T1", false, false)];
    p.comments = (0..12)
        .map(|i| comment(&format!("c{i:02}"), "T1", "bob", &format!("item {i}")))
        .collect();
    p.comments[0].body = "x".repeat(1_500);
    let n = due(&[p]).expect("due");
    let items = n.text.lines().filter(|l| l.starts_with("- ")).count();
    assert_eq!(items, MAX_REVIEW_ITEMS);
    assert!(n.text.ends_with("\n(+2 more)"), "{}", n.text);
    let first = n.text.lines().nth(1).expect("first item");
    let body = first
        .strip_prefix("- src/lib.rs:12 (@bob): ")
        .expect("item prefix");
    assert_eq!(body.chars().count(), MAX_REVIEW_BODY_CHARS);
    assert!(body.ends_with('…'));
    assert_eq!(
        n.signature.split(',').count(),
        12,
        "the signature covers every comment"
    );
}

#[test]
fn review_changes_requested_without_comments_and_its_dedup() {
    let mut p = pr(3);
    p.facts.review_decision = ReviewDecision::ChangesRequested;
    let n = due(&[p.clone()]).expect("due");
    assert_eq!(n.signature, CHANGES_REQUESTED_SIGNATURE);
    assert_eq!(
        n.text,
        format!(
            "[AO] A reviewer left feedback on your PR {}. Address it, push, and reply on the \
             threads.",
            url(3)
        )
    );
    let key = review_key(&url(3));
    seen(&mut p, &key, CHANGES_REQUESTED_SIGNATURE);
    assert_eq!(
        due(&[p.clone()]),
        None,
        "same signature is never sent again"
    );
    // A new comment changes the signature: due again, until the budget is used.
    p.threads = vec![thread("T1", false, false)];
    p.comments = vec![comment("c1", "T1", "bob", "one more thing")];
    attempts(&mut p, &key, BUDGET - 1, "");
    assert_eq!(due(&[p.clone()]).expect("due").signature, "c1");
    attempts(&mut p, &key, BUDGET, "");
    assert_eq!(due(&[p]), None);
}

#[test]
fn review_keys_reset_when_their_condition_clears() {
    let mut cleared = pr(1);
    attempts(&mut cleared, &review_key(&url(1)), BUDGET, "");
    seen(&mut cleared, &review_key(&url(1)), "c1");
    // An approved PR whose comments were all resolved.
    cleared.facts.review_decision = ReviewDecision::Approved;
    cleared.threads = vec![thread("T1", true, false)];
    cleared.comments = vec![PrCommentRow {
        resolved: true,
        ..comment("c1", "T1", "bob", "done")
    }];
    let mut still = pr(2);
    still.facts.review_decision = ReviewDecision::ChangesRequested;
    attempts(&mut still, &review_key(&url(2)), 1, "");
    let mut untouched = pr(3);
    seen(&mut untouched, &ci_key(&url(3), "build"), "x");
    assert_eq!(
        review_keys_to_reset(&[cleared, still, untouched]),
        [KeyReset {
            pr_url: url(1),
            key: review_key(&url(1))
        }]
    );
}

#[test]
fn conflict_message_and_stacked_exclusion() {
    let mut p = conflicting(5);
    p.facts.target_branch = "develop".into();
    let n = due(&[p.clone()]).expect("due");
    assert_eq!(n.kind, NudgeKind::Conflict);
    assert_eq!(n.key, format!("conflict:{}", url(5)));
    assert_eq!(n.signature, format!("{HEAD}:base99"));
    assert_eq!(n.scope, HEAD);
    assert_eq!(
        n.text,
        format!(
            "[AO] Your PR {} has merge conflicts with develop. Update your branch with the \
             latest develop, resolve the conflicts and push.",
            url(5)
        )
    );

    // Stacked on another open PR of the session: no conflict nudge.
    let mut base = pr(4);
    base.facts.source_branch = "ao/demo-1/base".into();
    let mut stacked = conflicting(5);
    stacked.facts.target_branch = "ao/demo-1/base".into();
    assert_eq!(due(&[base.clone(), stacked.clone()]), None);
    // …but a stacked PR still gets CI and review nudges.
    let mut stacked_review = stacked.clone();
    stacked_review.facts.review_decision = ReviewDecision::ChangesRequested;
    assert_eq!(
        due(&[base.clone(), stacked_review]).expect("due").kind,
        NudgeKind::Review
    );
    // The base PR merged: no longer stacked.
    base.facts.state = PrState::Merged;
    assert_eq!(
        due(&[base, stacked.clone()]).expect("due").kind,
        NudgeKind::Conflict
    );

    // Budget per head SHA.
    let key = conflict_key(&url(5));
    let mut q = conflicting(5);
    attempts(&mut q, &key, BUDGET, HEAD);
    assert_eq!(due(&[q.clone()]), None);
    attempts(&mut q, &key, BUDGET, "previous-head");
    assert!(due(&[q]).is_some());
}

#[test]
fn the_highest_kind_wins_across_prs_and_ties_go_to_the_lower_number() {
    let c9 = ci_failing(9, vec![check("build", CheckStatus::Failed, "h")]);
    let c7 = ci_failing(7, vec![check("build", CheckStatus::Failed, "h")]);
    let mut r2 = pr(2);
    r2.facts.review_decision = ReviewDecision::ChangesRequested;
    let k1 = conflicting(1);
    let pick = |prs: &[PrDetail]| due(prs).map(|n| (n.kind, n.pr_number));
    assert_eq!(
        pick(&[k1.clone(), r2.clone(), c9.clone()]),
        Some((NudgeKind::Ci, 9))
    );
    assert_eq!(
        pick(&[c9.clone(), k1.clone(), c7.clone(), r2.clone()]),
        Some((NudgeKind::Ci, 7))
    );
    assert_eq!(
        pick(&[k1.clone(), r2.clone()]),
        Some((NudgeKind::Review, 2))
    );
    assert_eq!(
        pick(&[conflicting(8), k1.clone()]),
        Some((NudgeKind::Conflict, 1))
    );
    // A PR whose best kind is exhausted yields to another PR's lower kind.
    let mut c9_seen = c9.clone();
    seen(
        &mut c9_seen,
        &ci_key(&url(9), "build"),
        &format!("{HEAD}:h"),
    );
    assert_eq!(pick(&[c9_seen, k1]), Some((NudgeKind::Conflict, 1)));
}

#[test]
fn messages_are_sanitised_and_cut_to_16_kib() {
    let mut c = check("build", CheckStatus::Failed, "h");
    c.log_tail = "bad\u{1b}[31m red\r\nnext\u{7}".into();
    let n = due(&[ci_failing(1, vec![c])]).expect("due");
    assert!(n.text.ends_with("bad[31m red\nnext"), "{:?}", n.text);

    let mut big = check("build", CheckStatus::Failed, "h");
    big.log_tail = "é".repeat(20_000);
    let n = due(&[ci_failing(1, vec![big])]).expect("due");
    assert!(n.text.len() <= ao_protocol::limits::MESSAGE_MAX_BYTES);
    assert!(n.text.len() > ao_protocol::limits::MESSAGE_MAX_BYTES - 2);
    assert!(n.text.starts_with("[AO] CI is failing"));
}
