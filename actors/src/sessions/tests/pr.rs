//! PR-loop tests of the session layer (scm.md §9–§11) with the real store, git and tmux:
//! nudge delivery on the idle edge only, `record_nudge` bookkeeping, the `pr_merged`
//! completion kill, and the claim preconditions that need no GitHub.

use ao_protocol::scm::{CheckFact, PrFacts, ScmHashes, ScmObservation, ThreadWrite};
use ao_protocol::{
    CheckKind, CheckStatus, CiState, Mergeability, NudgeKind, PrState, ReviewDecision,
};
use ao_store::PrDetail;

use super::*;
use crate::reducer::ReducerHandle;

const URL: &str = "https://github.com/o/demo/pull/7";
const CI_NEEDLE: &str = "[AO] CI is failing on your PR";

fn facts(head_sha: &str) -> PrFacts {
    PrFacts {
        url: URL.into(),
        number: 7,
        state: PrState::Open,
        review_decision: ReviewDecision::None,
        ci_state: CiState::Failing,
        mergeability: Mergeability::Mergeable,
        mergeability_reasons: vec![],
        host: "github.com".into(),
        repo: "o/demo".into(),
        head_repo: "o/demo".into(),
        source_branch: "ao/demo-1/root".into(),
        target_branch: "main".into(),
        head_sha: head_sha.into(),
        base_sha: "base000".into(),
        merge_commit_sha: String::new(),
        title: "Fix it".into(),
        author: "alice".into(),
        html_url: URL.into(),
        additions: 1,
        deletions: 1,
        changed_files: 1,
        is_draft: false,
        is_merged: false,
        is_closed: false,
        provider_state: "OPEN".into(),
        provider_mergeable: "MERGEABLE".into(),
        provider_merge_state_status: "CLEAN".into(),
        created_at_provider: None,
        updated_at_provider: None,
        merged_at_provider: None,
        closed_at_provider: None,
    }
}

fn failed_check(head_sha: &str) -> CheckFact {
    CheckFact {
        name: "build".into(),
        commit_sha: head_sha.into(),
        kind: CheckKind::CheckRun,
        status: CheckStatus::Failed,
        conclusion: "FAILURE".into(),
        url: "https://github.com/o/demo/actions/runs/1/job/2".into(),
        job_id: "2".into(),
        log_tail: format!("error: boom at {head_sha}"),
        log_hash: format!("log-{head_sha}"),
    }
}

fn observation(session: &SessionId, facts: PrFacts, checks: Vec<CheckFact>) -> ScmObservation {
    ScmObservation {
        session_id: session.to_string(),
        hashes: ScmHashes {
            metadata: format!("m-{}-{:?}", facts.head_sha, facts.state),
            ci: format!("c-{}", facts.head_sha),
            review: None,
            review_partial: false,
        },
        facts,
        checks,
        threads: ThreadWrite::Preserve,
    }
}

impl Fx {
    fn reducer(&self) -> ReducerHandle {
        ReducerHandle::new(Arc::clone(&self.tree.registry))
    }

    /// Applies an observation as a PR observer would; returns `complete`.
    async fn observe_pr(&self, obs: ScmObservation) -> bool {
        self.reducer()
            .apply_scm_observation(obs, Duration::from_secs(5))
            .await
            .expect("observation applied")
            .complete
    }

    async fn prs(&self, id: &SessionId) -> Vec<PrDetail> {
        let reader = self.reader.clone();
        let id = id.clone();
        tokio::task::spawn_blocking(move || reader.pr_details_of_session(&id))
            .await
            .expect("join")
            .expect("read")
    }

    async fn nudges_seen(&self, name: &str) -> usize {
        // The terminal echoes the paste; the fake agent's `got:` line counts each delivery once.
        self.history(name)
            .await
            .matches(&format!("got:{CI_NEEDLE}"))
            .count()
    }

    async fn signal(&self, id: &SessionId, state: ActivityState) {
        self.tree
            .sessions
            .activity(id.clone(), Some(state), None, None)
            .await
            .expect("activity");
    }
}

#[tokio::test]
async fn ci_nudges_go_on_the_idle_edge_once_per_signature() {
    let fx = start().await;
    let id = claude_project(&fx).await;
    let s = &fx.tree.sessions;
    fx.signal(&id, ActivityState::Active).await;

    // Failing CI observed while the agent works: evaluated, not typed into it.
    assert!(
        !fx.observe_pr(observation(
            &id,
            facts("sha1aaaaaa"),
            vec![failed_check("sha1aaaaaa")]
        ))
        .await
    );
    s.pr_facts_changed(id.clone(), false)
        .await
        .expect("reaction");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fx.nudges_seen(id.as_str()).await, 0);
    // Nor into a permission prompt.
    fx.signal(&id, ActivityState::WaitingInput).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fx.nudges_seen(id.as_str()).await, 0);

    // The idle edge delivers it, and the delivery is recorded.
    fx.signal(&id, ActivityState::Idle).await;
    fx.wait_for_pane(id.as_str(), CI_NEEDLE).await;
    fx.wait_for_pane(id.as_str(), "error: boom at sha1aaaaaa")
        .await;
    let key = crate::nudge::ci_key(URL, "build");
    let pr = eventually("record_nudge", || async {
        fx.prs(&id)
            .await
            .into_iter()
            .next()
            .filter(|p| p.last_nudge.is_some())
    })
    .await;
    let last = pr.last_nudge.expect("last nudge");
    assert_eq!(
        (last.kind, last.key.as_str()),
        (NudgeKind::Ci, key.as_str())
    );
    assert!(pr.nudge_state.is_seen(&key, "sha1aaaaaa:log-sha1aaaaaa"));
    assert_eq!(pr.nudge_state.attempts_in(&key, "sha1aaaaaa"), 1);

    // The agent works and stops again; the same facts arrive again: no second nudge.
    fx.signal(&id, ActivityState::Active).await;
    fx.signal(&id, ActivityState::Idle).await;
    s.pr_facts_changed(id.clone(), false)
        .await
        .expect("reaction");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(fx.nudges_seen(id.as_str()).await, 1);

    // A new head SHA fails again: a new signature, delivered at once (already idle).
    fx.observe_pr(observation(
        &id,
        facts("sha2bbbbbb"),
        vec![failed_check("sha2bbbbbb")],
    ))
    .await;
    s.pr_facts_changed(id.clone(), false)
        .await
        .expect("reaction");
    fx.wait_for_pane(id.as_str(), "error: boom at sha2bbbbbb")
        .await;
    eventually("the second record_nudge", || async {
        fx.prs(&id)
            .await
            .into_iter()
            .next()
            .filter(|p| p.nudge_state.is_seen(&key, "sha2bbbbbb:log-sha2bbbbbb"))
    })
    .await;
    assert_eq!(fx.nudges_seen(id.as_str()).await, 2);
}

#[tokio::test]
async fn a_merged_pr_kills_the_session_with_pr_merged_and_keeps_a_dirty_worktree() {
    let fx = start().await;
    let id = claude_project(&fx).await;
    let s = &fx.tree.sessions;
    let wt = fx.worktree("demo", id.as_str());
    std::fs::write(wt.join("wip.txt"), "unsaved\n").expect("write");

    let mut open = facts("sha1aaaaaa");
    open.ci_state = CiState::Passing;
    fx.observe_pr(observation(&id, open.clone(), vec![])).await;
    s.pr_facts_changed(id.clone(), false)
        .await
        .expect("reaction");
    assert!(!fx.row(&id).await.expect("row").is_terminated);

    let mut merged = open;
    merged.state = PrState::Merged;
    merged.is_merged = true;
    merged.provider_state = "MERGED".into();
    let complete = fx.observe_pr(observation(&id, merged, vec![])).await;
    assert!(complete);
    s.pr_facts_changed(id.clone(), true)
        .await
        .expect("reaction");
    let row = fx
        .wait_row(&id, "the pr_merged kill", |r| r.is_terminated)
        .await;
    assert_eq!(row.terminated_reason, Some(TerminatedReason::PrMerged));
    eventually("the runtime to go", || async {
        (!fx.has_session(id.as_str()).await).then_some(())
    })
    .await;
    // The dirty worktree is kept.
    assert!(wt.join("wip.txt").is_file());
    eventually("the actor to stop", || async {
        (!fx.tree.registry.sessions.contains_key(&id)).then_some(())
    })
    .await;
    // A terminated session needs no reaction; an unknown one is not found.
    s.pr_facts_changed(id.clone(), true)
        .await
        .expect("nothing to do");
    assert_eq!(
        code_of(s.pr_facts_changed(sid("demo-42"), false).await).0,
        ErrorCode::SessionNotFound
    );
}

#[tokio::test]
async fn claim_preconditions_that_need_no_github() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let s = &fx.tree.sessions;
    let claim = |id: &str, pr: &str| s.claim_pr(sid(id), pr.to_string(), true);

    // 1. Unknown session.
    assert_eq!(
        code_of(claim("demo-42", URL).await).0,
        ErrorCode::SessionNotFound
    );
    let worker = s.spawn(cmd_spawn("demo", "sleep 30")).await.expect("spawn");
    let mut orch = cmd_spawn("demo", "sleep 30");
    orch.kind = SessionKind::Orchestrator;
    let orchestrator = s.spawn(orch).await.expect("spawn orchestrator");
    // 3. Orchestrators cannot claim.
    assert_eq!(
        code_of(claim(orchestrator.as_str(), URL).await).0,
        ErrorCode::SessionNotClaimable
    );
    // 4. A seed has no workspace yet.
    let seed = fx
        .reducer()
        .insert_seed(
            ao_store::NewSeed {
                project_id: pid("demo"),
                kind: SessionKind::Worker,
                harness: Harness::Command,
                issue_id: String::new(),
                display_name: String::new(),
                runtime: RuntimeKind::Tmux,
                prompt: String::new(),
                launch_command: "sleep 30".into(),
            },
            Duration::from_secs(5),
        )
        .await
        .expect("seed");
    assert_eq!(
        code_of(claim(seed.id.as_str(), URL).await).0,
        ErrorCode::SessionNoWorkspace
    );

    // 6–7. References (the project has no origin yet).
    let w = worker.as_str();
    assert_eq!(code_of(claim(w, "  ").await).0, ErrorCode::PrRequired);
    for bad in [
        "nonsense",
        "https://example.com/o/demo/pull/7",
        "o/demo#0",
        "#7",
        "7",
    ] {
        assert_eq!(
            code_of(claim(w, bad).await).0,
            ErrorCode::InvalidPrRef,
            "{bad}"
        );
    }
    // 8. Without an origin, only a full URL skips the repository check.
    assert_eq!(
        code_of(claim(w, "o/demo#7").await).0,
        ErrorCode::PrProjectMismatch
    );
    // 9. A full URL passes the reference checks; GitHub is not configured.
    assert_eq!(code_of(claim(w, URL).await).0, ErrorCode::ScmUnavailable);
    // With an origin: short forms expand with it; another repository is a mismatch.
    fx.reducer()
        .backfill_origin(
            &pid("demo"),
            "git@github.com:o/demo.git".into(),
            Duration::from_secs(5),
        )
        .await
        .expect("origin");
    assert_eq!(
        code_of(claim(w, "other/repo#7").await).0,
        ErrorCode::PrProjectMismatch
    );
    assert_eq!(
        code_of(claim(w, "https://github.com/other/repo/pull/7").await).0,
        ErrorCode::PrProjectMismatch
    );
    for ok in ["#7", "7", "O/Demo#7", URL] {
        assert_eq!(
            code_of(claim(w, ok).await).0,
            ErrorCode::ScmUnavailable,
            "{ok}"
        );
    }

    // 2. Terminated.
    s.kill(worker.clone()).await.expect("kill");
    assert_eq!(code_of(claim(w, URL).await).0, ErrorCode::SessionTerminated);
    // Nothing was written.
    assert!(fx.prs(&worker).await.is_empty());
}

#[tokio::test]
async fn a_spawn_with_a_claim_is_validated_before_any_write() {
    let fx = start().await;
    fx.project("demo", json!({})).await;
    let s = &fx.tree.sessions;
    let with_claim = |kind: SessionKind, pr: &str| {
        let mut cmd = cmd_spawn("demo", "sleep 30");
        cmd.kind = kind;
        cmd.claim = Some(super::super::ClaimSpec {
            pr_ref: pr.into(),
            allow_takeover: true,
        });
        cmd
    };
    let cases = [
        (
            SessionKind::Orchestrator,
            URL,
            ErrorCode::SessionNotClaimable,
        ),
        (SessionKind::Worker, "", ErrorCode::PrRequired),
        (SessionKind::Worker, "#7", ErrorCode::InvalidPrRef),
        (
            SessionKind::Worker,
            "o/demo#7",
            ErrorCode::PrProjectMismatch,
        ),
        (SessionKind::Worker, URL, ErrorCode::ScmUnavailable),
    ];
    for (kind, pr, code) in cases {
        assert_eq!(
            code_of(s.spawn(with_claim(kind, pr)).await).0,
            code,
            "{pr:?}"
        );
    }
    assert!(fx.rows("demo").await.is_empty(), "no seed was written");
}

// ---- claim against a GitHub stand-in --------------------------------------------------------

/// One PR the stand-in knows: `(number, head ref, head repo, GraphQL state)`.
type StandInPr = (u64, &'static str, &'static str, &'static str);

fn stand_in_node(pr: &StandInPr, url: &str) -> Value {
    let (number, head_ref, head_repo, pr_state) = *pr;
    let check = json!({
        "__typename": "CheckRun", "name": "build", "status": "COMPLETED",
        "conclusion": "SUCCESS", "detailsUrl": "http://example/run/1", "databaseId": 1
    });
    let contexts = json!({
        "pageInfo": {"hasNextPage": false, "endCursor": Value::Null},
        "nodes": [check]
    });
    let commits = json!({"nodes": [{"commit": {
        "oid": "headsha1",
        "statusCheckRollup": {"state": "SUCCESS", "contexts": contexts}
    }}]});
    let mut node = json!({
        "number": number, "url": url, "state": pr_state, "isDraft": false,
        "merged": pr_state == "MERGED", "closed": pr_state != "OPEN", "title": "Claim me",
        "additions": 1, "deletions": 0, "changedFiles": 1, "mergeable": "MERGEABLE",
        "mergeStateStatus": "CLEAN", "headRefName": head_ref, "headRefOid": "headsha1",
        "headRepository": {"nameWithOwner": head_repo},
        "baseRefName": "main", "baseRefOid": "basesha1",
    });
    for (k, v) in [
        ("reviewDecision", Value::Null),
        ("createdAt", json!("2026-01-01T00:00:00Z")),
        ("updatedAt", json!("2026-01-01T00:00:00Z")),
        ("mergedAt", Value::Null),
        ("closedAt", Value::Null),
        ("author", json!({"login": "me"})),
        ("mergeCommit", Value::Null),
        ("commits", commits),
    ] {
        node[k] = v;
    }
    node
}

/// A GraphQL-only GitHub stand-in on 127.0.0.1 serving `prs` of `o/demo`; returns its base.
async fn github_stand_in(prs: Vec<StandInPr>) -> String {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let host = base.clone();
    let handler = move |axum::Json(body): axum::Json<Value>| {
        let prs = prs.clone();
        let host = host.clone();
        async move {
            let query = body["query"].as_str().unwrap_or_default().to_string();
            if query.contains("reviewThreads") {
                return axum::Json(json!({"data": {"repository": {"pullRequest": {
                    "reviewThreads": {
                        "pageInfo": {"hasPreviousPage": false, "startCursor": Value::Null},
                        "nodes": []
                    }
                }}}}));
            }
            let number: u64 = query
                .split("pullRequest(number:")
                .nth(1)
                .map(|rest| {
                    rest.trim_start()
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|d| d.parse().ok())
                .unwrap_or_default();
            let url = format!("{host}/o/demo/pull/{number}");
            match prs.iter().find(|p| p.0 == number) {
                Some(p) => {
                    axum::Json(json!({"data": {"pr0": {"pullRequest": stand_in_node(p, &url)}}}))
                }
                None => axum::Json(json!({
                    "data": {"pr0": {"pullRequest": Value::Null}},
                    "errors": [{"type": "NOT_FOUND", "path": ["pr0"], "message": "no such PR"}]
                })),
            }
        }
    };
    let app = axum::Router::new().route("/graphql", post(handler));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

#[tokio::test]
async fn claim_writes_the_pr_switches_the_branch_and_takes_over() {
    let base = github_stand_in(vec![
        (7, "feat/pr", "o/demo", "OPEN"),
        (8, "feat/fork", "fork/demo", "OPEN"),
        (9, "feat/old", "o/demo", "MERGED"),
        (10, "feat/ten", "o/demo", "OPEN"),
    ])
    .await;
    let scm_base = base.clone();
    let fx = start_with(move |cfg| {
        cfg.scm = Some(crate::config::ScmSetup {
            config: ao_adapters::ScmConfig::for_base(&scm_base).expect("base"),
            tokens: Arc::new(ao_adapters::TokenProvider::fixed("t0k")),
        });
    })
    .await;
    let repo = fx.project("demo", json!({})).await;
    // The project's origin: a local upstream that has the PR branches.
    let upstream = fx.repos.path().join("upstream");
    run_git(
        fx.repos.path(),
        &["clone", "-q", repo.to_str().expect("utf-8"), "upstream"],
    )
    .await;
    for branch in ["feat/pr", "feat/ten"] {
        run_git(&upstream, &["checkout", "-q", "-b", branch, "main"]).await;
        run_git(
            &upstream,
            &[
                "-c",
                "user.email=t@example.com",
                "-c",
                "user.name=t",
                "commit",
                "-q",
                "--allow-empty",
                "--no-gpg-sign",
                "-m",
                branch,
            ],
        )
        .await;
    }
    let pr_sha = run_git(&upstream, &["rev-parse", "feat/pr"]).await;
    let ten_sha = run_git(&upstream, &["rev-parse", "feat/ten"]).await;
    let origin = upstream.to_string_lossy().into_owned();
    run_git(&repo, &["remote", "add", "origin", &origin]).await;
    fx.reducer()
        .backfill_origin(&pid("demo"), origin, Duration::from_secs(5))
        .await
        .expect("origin");
    let s = &fx.tree.sessions;
    // The stand-in's API is plain http; PR URLs (references and the stored key) are https.
    let web = base.replacen("http://", "https://", 1);
    let url = |n: u64| format!("{web}/o/demo/pull/{n}");
    let first = s.spawn(cmd_spawn("demo", "sleep 30")).await.expect("spawn");
    let second = s.spawn(cmd_spawn("demo", "sleep 30")).await.expect("spawn");

    // GitHub-side preconditions.
    let claim = |id: &SessionId, pr: String, takeover: bool| s.claim_pr(id.clone(), pr, takeover);
    assert_eq!(
        code_of(claim(&first, url(99), true).await).0,
        ErrorCode::PrNotFound
    );
    assert_eq!(
        code_of(claim(&first, url(8), true).await).0,
        ErrorCode::PrFromFork
    );
    assert_eq!(
        code_of(claim(&first, url(9), true).await).0,
        ErrorCode::PrNotOpen
    );

    // The claim: the PR is written, the worktree switched, the branch recorded.
    let out = claim(&first, url(7), false).await.expect("claimed");
    assert_eq!(out.pr_url, url(7));
    assert!(out.taken_over_from.is_empty());
    assert_eq!(
        (
            out.checkout,
            out.branch_changed,
            out.checkout_error.as_deref()
        ),
        (super::super::Checkout::Switched, true, None)
    );
    let wt = fx.worktree("demo", first.as_str());
    assert_eq!(run_git(&wt, &["rev-parse", "HEAD"]).await, pr_sha);
    assert_eq!(fx.row(&first).await.expect("row").branch, "feat/pr");
    let prs = fx.prs(&first).await;
    assert_eq!(prs.len(), 1);
    assert_eq!(prs[0].facts.source_branch, "feat/pr");
    assert_eq!(prs[0].checks.len(), 1);

    // Another live session: refused without takeover, taken over with it. The branch is
    // checked out in the first worktree, so the second one stays where it is.
    let (code, details) = code_of(claim(&second, url(7), false).await);
    assert_eq!(code, ErrorCode::PrClaimedByActiveSession);
    assert_eq!(
        details.expect("details")["ownerSessionId"],
        json!(first.as_str())
    );
    let out = claim(&second, url(7), true).await.expect("taken over");
    assert_eq!(out.taken_over_from, vec![first.clone()]);
    assert_eq!(
        (out.checkout, out.branch_changed),
        (super::super::Checkout::SkippedBranchInUse, false)
    );
    assert!(fx.prs(&first).await.is_empty());
    assert_eq!(fx.prs(&second).await.len(), 1);
    assert!(
        !fx.row(&first).await.expect("row").is_terminated,
        "the loser keeps running"
    );

    // A spawn with a claim: the worktree is created on the PR head ref; another branch is
    // refused before any write.
    let mut cmd = cmd_spawn("demo", "sleep 30");
    cmd.claim = Some(super::super::ClaimSpec {
        pr_ref: url(10),
        allow_takeover: true,
    });
    cmd.branch = Some("other".into());
    assert_eq!(
        code_of(s.spawn(cmd.clone()).await).0,
        ErrorCode::InvalidBranch
    );
    cmd.branch = None;
    let third = s.spawn(cmd).await.expect("spawn with claim");
    let row = fx.row(&third).await.expect("row");
    assert_eq!(row.branch, "feat/ten");
    let wt = fx.worktree("demo", third.as_str());
    assert_eq!(run_git(&wt, &["rev-parse", "HEAD"]).await, ten_sha);
    assert_eq!(fx.prs(&third).await[0].url(), url(10));
}

/// A GitHub that accepts connections and never answers; returns its base and a counter of the
/// connections it holds.
async fn hanging_github() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let held = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&held);
    tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (base, held)
}

#[tokio::test]
async fn a_claiming_spawn_waiting_on_github_leaves_the_project_actor_responsive() {
    let (base, held) = hanging_github().await;
    let scm_base = base.clone();
    let fx = start_with(move |cfg| {
        cfg.scm = Some(crate::config::ScmSetup {
            config: ao_adapters::ScmConfig::for_base(&scm_base).expect("base"),
            tokens: Arc::new(ao_adapters::TokenProvider::fixed("t0k")),
        });
    })
    .await;
    fx.project("demo", json!({})).await;
    let web = base.replacen("http://", "https://", 1);
    let mut claiming = cmd_spawn("demo", "sleep 30");
    claiming.claim = Some(super::super::ClaimSpec {
        pr_ref: format!("{web}/o/demo/pull/7"),
        allow_takeover: true,
    });
    let sessions = fx.tree.sessions.clone();
    let pending = tokio::spawn(async move { sessions.spawn(claiming).await });
    eventually("the claim's GitHub request to be in flight", || {
        let n = held.load(std::sync::atomic::Ordering::SeqCst);
        async move { (n > 0).then_some(()) }
    })
    .await;

    // The same ProjectActor serves a config change (a 5 s call) and a plain spawn meanwhile.
    fx.tree
        .projects
        .set_config(
            pid("demo"),
            crate::ConfigChange::Patch(json!({"worker": {"command": "sleep 30"}})),
        )
        .await
        .expect("config patched while GitHub hangs");
    let plain = fx
        .tree
        .sessions
        .spawn(cmd_spawn("demo", "sleep 30"))
        .await
        .expect("a plain spawn while GitHub hangs");
    assert!(
        !pending.is_finished(),
        "the claiming spawn is still waiting"
    );
    // Nothing of the claiming spawn is written before GitHub answers.
    let rows = fx.rows("demo").await;
    assert_eq!(
        rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![plain],
    );
    pending.abort();
}
