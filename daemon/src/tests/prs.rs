//! The PR routes of a session (http-api.md §7.1, scm.md §11–12): the `PrSummary` shape and its
//! rules over facts written to the daemon's database, and the validation of the claim route.
//!
//! The facts are written through a second store handle on the daemon's database (SQLite
//! serialises it with the daemon's own writer), as the PR observer's reducer messages would.

use ao_protocol::scm::{CheckFact, CommentFact, PrFacts, ScmHashes, ScmObservation, ThreadFact};
use ao_protocol::{
    CheckKind, CheckStatus, CiState, Harness, Mergeability, PrState, ProjectId, ReviewDecision,
    RuntimeKind, SessionKind,
};
use reqwest::Method;
use serde_json::{Value, json};

use super::harness::{Harness as Daemon, assert_envelope, boot, json};

const REPO: &str = "o/demo";

/// Asserts an error response: its status and the envelope with `code`.
async fn expect_error(res: reqwest::Response, status: u16, code: &str) {
    let (got, body) = json(res).await;
    assert_eq!(got, status, "{body}");
    assert_envelope(&body, status, code);
}

fn facts(number: u64, state: PrState, created: &str) -> PrFacts {
    let url = format!("https://github.com/{REPO}/pull/{number}");
    PrFacts {
        url: url.clone(),
        number,
        state,
        review_decision: ReviewDecision::ChangesRequested,
        ci_state: CiState::Failing,
        mergeability: Mergeability::Conflicting,
        mergeability_reasons: vec!["merge_conflicts".into()],
        host: "github.com".into(),
        repo: REPO.into(),
        head_repo: REPO.into(),
        source_branch: format!("feat-{number}"),
        target_branch: "main".into(),
        head_sha: format!("head{number}"),
        base_sha: "base".into(),
        merge_commit_sha: String::new(),
        title: format!("PR {number}"),
        author: "alice".into(),
        html_url: url,
        additions: 10,
        deletions: 2,
        changed_files: 3,
        is_draft: state == PrState::Draft,
        is_merged: state == PrState::Merged,
        is_closed: matches!(state, PrState::Merged | PrState::Closed),
        provider_state: "OPEN".into(),
        provider_mergeable: "CONFLICTING".into(),
        provider_merge_state_status: "DIRTY".into(),
        created_at_provider: Some(created.into()),
        updated_at_provider: Some(created.into()),
        merged_at_provider: None,
        closed_at_provider: None,
    }
}

fn check(name: &str, commit: &str, status: CheckStatus) -> CheckFact {
    CheckFact {
        name: name.into(),
        commit_sha: commit.into(),
        kind: CheckKind::CheckRun,
        status,
        conclusion: match status {
            CheckStatus::Failed => "FAILURE".into(),
            CheckStatus::Cancelled => "CANCELLED".into(),
            _ => "SUCCESS".into(),
        },
        url: format!("https://github.com/{REPO}/actions/runs/1/job/{name}"),
        job_id: "42".into(),
        log_tail: "SECRET LOG TAIL".into(),
        log_hash: "h".into(),
    }
}

fn comment(id: &str, author: &str, is_bot: bool) -> CommentFact {
    CommentFact {
        comment_id: id.into(),
        author: author.into(),
        is_bot,
        body: "SECRET COMMENT BODY".into(),
        url: format!("https://github.com/{REPO}/pull/1#discussion_r{id}"),
        created_at: Some("2026-07-01T08:10:00.000Z".into()),
    }
}

fn thread(id: &str, resolved: bool, line: i64, comments: Vec<CommentFact>) -> ThreadFact {
    ThreadFact {
        thread_id: id.into(),
        path: "src/lib.rs".into(),
        line: Some(line),
        resolved,
        is_bot: comments.first().is_some_and(|c| c.is_bot),
        semantic_hash: format!("th-{id}"),
        comments,
    }
}

fn observation(
    session: &str,
    facts: PrFacts,
    checks: Vec<CheckFact>,
    threads: Vec<ThreadFact>,
) -> ScmObservation {
    ScmObservation {
        session_id: session.into(),
        facts,
        checks,
        threads: ao_protocol::scm::ThreadWrite::Replace(threads),
        hashes: ScmHashes {
            metadata: "m".into(),
            ci: "c".into(),
            review: Some("r".into()),
            review_partial: false,
        },
    }
}

/// A project and a seeded worker session with three PRs, written behind the daemon's back.
fn seed_prs(h: &Daemon) -> String {
    let mut store = ao_store::open(&h.env.data_dir).expect("second store handle");
    let w = &mut store.writer;
    w.insert_project(&ao_store::NewProject {
        id: ProjectId::new("demo").expect("valid"),
        path: h.tmp.path().join("demo").to_string_lossy().into_owned(),
        repo_origin_url: format!("https://github.com/{REPO}.git"),
        display_name: "demo".into(),
        config: json!({}),
    })
    .expect("insert project");
    let session = w
        .insert_seed(&ao_store::NewSeed {
            project_id: ProjectId::new("demo").expect("valid"),
            kind: SessionKind::Worker,
            harness: Harness::ClaudeCode,
            issue_id: String::new(),
            display_name: String::new(),
            runtime: RuntimeKind::Tmux,
            prompt: "SECRET PROMPT".into(),
            launch_command: "claude".into(),
        })
        .expect("insert seed")
        .value
        .id
        .to_string();
    // #1: open, failing CI on its head (one failed, one cancelled, one passed, one failed on
    // an older commit), conflicting, threads by humans and a bot.
    let open = observation(
        &session,
        facts(1, PrState::Open, "2026-07-01T08:00:00.000Z"),
        vec![
            check("lint", "head1", CheckStatus::Failed),
            check("e2e", "head1", CheckStatus::Cancelled),
            check("unit", "head1", CheckStatus::Passed),
            check("old", "stale0", CheckStatus::Failed),
        ],
        vec![
            thread("t1", false, 12, vec![comment("11", "zed", false)]),
            thread(
                "t2",
                false,
                30,
                vec![comment("21", "bob", false), comment("22", "zed", false)],
            ),
            thread("t3", true, 40, vec![comment("31", "carol", false)]),
            thread("t4", false, 50, vec![comment("41", "ci-bot[bot]", true)]),
        ],
    );
    // #2: merged, newest — failing facts stay out of its summary.
    let merged = observation(
        &session,
        facts(2, PrState::Merged, "2026-07-02T08:00:00.000Z"),
        vec![check("lint", "head2", CheckStatus::Failed)],
        vec![thread("t9", false, 1, vec![comment("91", "dave", false)])],
    );
    // #3: closed, oldest.
    let closed = observation(
        &session,
        facts(3, PrState::Closed, "2026-06-01T08:00:00.000Z"),
        vec![],
        vec![],
    );
    for obs in [&open, &merged, &closed] {
        w.apply_scm_observation(obs).expect("apply observation");
    }
    session
}

#[tokio::test]
async fn pr_summary_shape_order_and_rules() {
    let h = boot().await;
    let session = seed_prs(&h);
    let (status, body) = json(
        h.get(&format!("/api/v1/sessions/{session}/pr"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessionId"], session.as_str());
    let prs = body["prs"].as_array().expect("prs");
    let order: Vec<u64> = prs.iter().filter_map(|p| p["number"].as_u64()).collect();
    assert_eq!(
        order,
        [1, 2, 3],
        "open first, then newest by created_at_provider"
    );

    let open = &prs[0];
    for (key, want) in [
        ("url", json!("https://github.com/o/demo/pull/1")),
        ("htmlUrl", json!("https://github.com/o/demo/pull/1")),
        ("title", json!("PR 1")),
        ("state", json!("open")),
        ("provider", json!("github")),
        ("repo", json!(REPO)),
        ("author", json!("alice")),
        ("sourceBranch", json!("feat-1")),
        ("targetBranch", json!("main")),
        ("headSha", json!("head1")),
        ("additions", json!(10)),
        ("deletions", json!(2)),
        ("changedFiles", json!(3)),
        ("lastNudge", Value::Null),
    ] {
        assert_eq!(open[key], want, "{key}");
    }
    assert_eq!(
        open["ci"],
        json!({"state": "failing", "failingChecks": [
            {"name": "e2e", "status": "cancelled", "conclusion": "CANCELLED",
             "url": "https://github.com/o/demo/actions/runs/1/job/e2e"},
            {"name": "lint", "status": "failed", "conclusion": "FAILURE",
             "url": "https://github.com/o/demo/actions/runs/1/job/lint"}]})
    );
    let link = |id: &str, line: i64| {
        json!({"url": format!("https://github.com/o/demo/pull/1#discussion_r{id}"),
               "file": "src/lib.rs", "line": line})
    };
    assert_eq!(
        open["review"],
        json!({"decision": "changes_requested", "hasUnresolvedHumanComments": true,
               "unresolvedBy": [
                   {"reviewer": "bob", "count": 1, "links": [link("21", 30)]},
                   {"reviewer": "zed", "count": 2, "links": [link("11", 12), link("22", 30)]}]})
    );
    assert_eq!(
        open["mergeability"],
        json!({"state": "conflicting", "reasons": ["merge_conflicts"]})
    );
    for key in [
        "updatedAt",
        "observedAt",
        "ciObservedAt",
        "reviewObservedAt",
    ] {
        assert!(
            open[key].as_str().is_some_and(|t| t.ends_with('Z')),
            "{key}: {open}"
        );
    }

    let merged = &prs[1];
    assert_eq!(merged["state"], "merged");
    assert_eq!(merged["ci"]["failingChecks"], json!([]));
    assert_eq!(merged["review"]["unresolvedBy"], json!([]));
    assert_eq!(merged["mergeability"]["reasons"], json!([]));

    let text = body.to_string();
    for secret in ["SECRET LOG TAIL", "SECRET COMMENT BODY", "SECRET PROMPT"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn pr_routes_answer_404_for_unknown_sessions_and_validate_claims() {
    let h = boot().await;
    for path in ["/api/v1/sessions/demo-9/pr", "/api/v1/sessions/..bad../pr"] {
        let res = h.get(path).send().await.expect("req");
        expect_error(res, 404, "SESSION_NOT_FOUND").await;
    }
    let session = seed_prs(&h);
    let claim = format!("/api/v1/sessions/{session}/pr/claim");
    let res = h
        .send_json(Method::POST, &claim, &json!({"pr": "1", "bogus": true}))
        .send()
        .await
        .expect("req");
    expect_error(res, 400, "INVALID_JSON").await;
    let res = h
        .request(Method::POST, &claim)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("req");
    expect_error(res, 400, "INVALID_JSON").await;
    let res = h
        .send_json(
            Method::POST,
            "/api/v1/sessions/demo-9/pr/claim",
            &json!({"pr": "1"}),
        )
        .send()
        .await
        .expect("req");
    expect_error(res, 404, "SESSION_NOT_FOUND").await;
    let res = h.request(Method::GET, &claim).send().await.expect("req");
    expect_error(res, 405, "METHOD_NOT_ALLOWED").await;
    h.stop().await;
}

#[tokio::test]
async fn invalid_github_variables_are_a_startup_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let extra = [("AO_GITHUB_API_URL", "ftp://example.com")];
    let env = super::harness::env_for(tmp.path(), 1, &extra);
    let tuning = crate::http::state::Tuning {
        scm_env: Some(super::harness::scm_env(&extra)),
        ..crate::http::state::Tuning::default()
    };
    let err = crate::daemon::start_with(env.clone(), tuning)
        .await
        .expect_err("a bad AO_GITHUB_API_URL refuses to start");
    assert!(
        matches!(&err, crate::DaemonError::Env(e) if e.var == "AO_GITHUB_API_URL"),
        "{err}"
    );
    assert!(err.to_string().contains("AO_GITHUB_API_URL"), "{err}");
    assert!(!env.run_file.exists(), "nothing was started");
}
