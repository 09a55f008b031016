//! Tree-level tests of the GitHub loop's actor side: the reducer's PR messages (one
//! transaction each, error mapping, events) and `ActorTree::github_status()`. Real SQLite on a
//! tempdir, real actors; waiting is a poll with a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ao_adapters::scm::{ScmConfig, TokenProvider};
use ao_adapters::{git, process};
use ao_protocol::scm::{PrFacts, ScmHashes, ScmObservation, ThreadWrite};
use ao_protocol::{
    CiState, ErrorCode, GithubState, Harness, Mergeability, NudgeKind, PrState, ReviewDecision,
    RuntimeKind, SessionId, SessionKind,
};
use ao_store::{NewSeed, ReadPool};
use serde_json::json;
use tempfile::TempDir;

use crate::config::ScmSetup;
use crate::reducer::{ReducerHandle, is_pr_owned_elsewhere};
use crate::test_support::eventually;
use crate::{ActorTree, ActorsConfig, AddProject, ScmTimings, spawn_tree};

const T: Duration = Duration::from_secs(5);

struct Fixture {
    tree: ActorTree,
    reader: ReadPool,
    repos: TempDir,
    _data: TempDir,
}

async fn start_with(tweak: impl FnOnce(&mut ActorsConfig)) -> Fixture {
    let data = tempfile::tempdir().expect("tempdir");
    let repos = tempfile::tempdir().expect("tempdir");
    let opened = ao_store::open(data.path()).expect("store opens");
    let mut cfg = ActorsConfig::new(data.path(), RuntimeKind::Tmux);
    tweak(&mut cfg);
    let tree = spawn_tree(cfg, opened.reader.clone(), opened.writer)
        .await
        .expect("tree starts");
    Fixture {
        tree,
        reader: opened.reader,
        repos,
        _data: data,
    }
}

impl Fixture {
    async fn repo(&self, name: &str) -> PathBuf {
        let dir = self.repos.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        for args in [
            &["init", "-q", "-b", "main"][..],
            &["config", "user.email", "t@example.com"],
            &["config", "user.name", "t"],
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "init",
                "--no-gpg-sign",
            ],
        ] {
            process::run(&git::git_cmd().arg("-C").arg(&dir).args(args))
                .await
                .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
        }
        dir.canonicalize().expect("canonical")
    }

    fn reducer(&self) -> ReducerHandle {
        ReducerHandle::new(Arc::clone(&self.tree.registry))
    }

    async fn project(&self, name: &str) -> ao_store::ProjectRow {
        let path = self.repo(name).await;
        self.tree
            .projects
            .add_project(AddProject {
                path: path.to_str().expect("utf-8").to_string(),
                project_id: None,
                name: None,
                config: json!({}),
            })
            .await
            .expect("project added")
    }

    async fn seed(&self, project: &ao_store::ProjectRow) -> SessionId {
        let seed = NewSeed {
            project_id: project.id.clone(),
            kind: SessionKind::Worker,
            harness: Harness::ClaudeCode,
            issue_id: String::new(),
            display_name: String::new(),
            runtime: RuntimeKind::Tmux,
            prompt: String::new(),
            launch_command: String::new(),
        };
        self.reducer()
            .insert_seed(seed, T)
            .await
            .expect("seed inserted")
            .id
    }
}

fn facts(number: u64) -> PrFacts {
    PrFacts {
        url: format!("https://github.com/o/r/pull/{number}"),
        number,
        state: PrState::Open,
        review_decision: ReviewDecision::None,
        ci_state: CiState::Pending,
        mergeability: Mergeability::Unknown,
        mergeability_reasons: Vec::new(),
        host: "github.com".into(),
        repo: "o/r".into(),
        head_repo: "o/r".into(),
        source_branch: "feat".into(),
        target_branch: "main".into(),
        head_sha: "abc".into(),
        base_sha: "def".into(),
        merge_commit_sha: String::new(),
        title: "t".into(),
        author: "me".into(),
        html_url: format!("https://github.com/o/r/pull/{number}"),
        additions: 1,
        deletions: 0,
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

fn hashes(tag: &str) -> ScmHashes {
    ScmHashes {
        metadata: format!("m-{tag}"),
        ci: format!("c-{tag}"),
        review: None,
        review_partial: false,
    }
}

fn obs(session: &SessionId, number: u64, tag: &str) -> ScmObservation {
    ScmObservation {
        session_id: session.to_string(),
        facts: facts(number),
        checks: Vec::new(),
        threads: ThreadWrite::Preserve,
        hashes: hashes(tag),
    }
}

#[tokio::test]
async fn reducer_pr_messages_write_and_map_errors() {
    let fx = start_with(|_| {}).await;
    let project = fx.project("svc").await;
    let a = fx.seed(&project).await;
    let b = fx.seed(&project).await;
    let reducer = fx.reducer();
    let mut events = fx.tree.events.subscribe();
    let url = facts(1).url;

    // First observation: created, changed (nothing acknowledged yet); fires pr_created.
    let applied = reducer
        .apply_scm_observation(obs(&a, 1, "1"), T)
        .await
        .expect("applied");
    assert!(applied.created && applied.changed && !applied.complete);
    assert_eq!(applied.session_id, a);
    eventually("pr_created event", || {
        let got = loop {
            match events.try_recv() {
                Ok(ev) if ev.event_type == "pr_created" => break Some(()),
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        async move { got }
    })
    .await;

    // An observation naming another session never moves the PR.
    let err = reducer
        .apply_scm_observation(obs(&b, 1, "1"), T)
        .await
        .expect_err("owned elsewhere");
    assert!(is_pr_owned_elsewhere(&err));
    assert_eq!(err.code(), ErrorCode::PrClaimedByActiveSession);
    assert_eq!(
        err.details().and_then(|d| d.get("ownerSessionId")).cloned(),
        Some(json!(a.as_str()))
    );

    // Ack, then the same observation is no change.
    reducer
        .ack_scm_hashes(&a, url.clone(), hashes("1"), T)
        .await
        .expect("acked");
    let again = reducer
        .apply_scm_observation(obs(&a, 1, "1"), T)
        .await
        .expect("applied");
    assert!(!again.changed && !again.created);
    let absent = reducer
        .ack_scm_hashes(&a, "https://github.com/o/r/pull/9".into(), hashes("1"), T)
        .await
        .expect_err("absent PR");
    assert_eq!(absent.code(), ErrorCode::PrNotFound);
    let ghost = SessionId::parse("ghost-1").expect("valid id");
    let missing = reducer
        .apply_scm_observation(obs(&ghost, 2, "1"), T)
        .await
        .expect_err("absent session");
    assert_eq!(missing.code(), ErrorCode::SessionNotFound);

    // Claim without takeover of a live owner's PR → 409 {ownerSessionId}; with takeover, moves.
    let refused = reducer
        .claim_pr(obs(&b, 1, "2"), false, T)
        .await
        .expect_err("claimed by active session");
    assert_eq!(refused.code(), ErrorCode::PrClaimedByActiveSession);
    assert_eq!(
        refused.details(),
        Some(&json!({ "ownerSessionId": a.as_str() }))
    );
    assert!(!is_pr_owned_elsewhere(&refused));
    let claimed = reducer
        .claim_pr(obs(&b, 1, "2"), true, T)
        .await
        .expect("claimed");
    assert_eq!(claimed.taken_over_from, Some(a.clone()));
    assert!(claimed.previous_owner_live);

    // Nudge dedup state.
    let state = reducer
        .record_nudge(
            &b,
            url.clone(),
            NudgeKind::Review,
            format!("review:{url}"),
            "c1".into(),
            String::new(),
            T,
        )
        .await
        .expect("recorded");
    assert!(state.is_seen(&format!("review:{url}"), "c1"));
    assert!(
        reducer
            .reset_nudge_key(&b, url.clone(), format!("review:{url}"), T)
            .await
            .expect("reset")
    );
    assert!(
        !reducer
            .reset_nudge_key(&b, url.clone(), format!("review:{url}"), T)
            .await
            .expect("reset")
    );
    let lost = reducer
        .record_nudge(
            &a,
            url,
            NudgeKind::Ci,
            "k".into(),
            "s".into(),
            "x".into(),
            T,
        )
        .await
        .expect_err("the old owner lost the PR");
    assert!(is_pr_owned_elsewhere(&lost));

    // Origin back-fill.
    reducer
        .backfill_origin(&project.id, "git@github.com:o/r.git".into(), T)
        .await
        .expect("back-filled");
    let id = project.id.clone();
    let reader = fx.reader.clone();
    let row = tokio::task::spawn_blocking(move || reader.get_project(&id))
        .await
        .expect("join")
        .expect("read")
        .expect("project");
    assert_eq!(row.repo_origin_url, "git@github.com:o/r.git");
    let unknown = ao_protocol::ProjectId::new("nope").expect("valid id");
    let err = reducer
        .backfill_origin(&unknown, "x".into(), T)
        .await
        .expect_err("absent project");
    assert_eq!(err.code(), ErrorCode::ProjectNotFound);

    fx.tree.shutdown(T).await;
}

#[tokio::test]
async fn github_status_is_disabled_without_setup() {
    let fx = start_with(|_| {}).await;
    let status = fx.tree.github_status();
    assert_eq!(status.state, GithubState::Disabled);
    assert_eq!(status.token_source, None);
    assert_eq!(status.rest, None);
    fx.tree.shutdown(T).await;
}

fn setup(tokens: TokenProvider) -> ScmSetup {
    ScmSetup {
        // Nothing listens there: no project points at it anyway.
        config: ScmConfig::for_base("http://127.0.0.1:9").expect("valid base"),
        tokens: Arc::new(tokens),
    }
}

#[tokio::test]
async fn github_status_reports_the_token_source_and_a_missing_token() {
    let fx = start_with(|cfg| {
        cfg.scm = Some(setup(TokenProvider::fixed("t0k")));
        cfg.scm_timings = ScmTimings::default();
    })
    .await;
    let status = eventually("token source", || {
        let s = fx.tree.github_status();
        async move { s.token_source.is_some().then_some(s) }
    })
    .await;
    assert_eq!(status.state, GithubState::Ok);
    assert_eq!(status.token_source.as_deref(), Some("AO_GITHUB_TOKEN"));
    assert_eq!(status.poll_interval_seconds, 30);
    fx.tree.shutdown(T).await;

    let fx = start_with(|cfg| {
        let none = TokenProvider::with_lookup("github.com", |_| None).gh_program("/nonexistent/gh");
        cfg.scm = Some(setup(none));
    })
    .await;
    // Starts enabled (not resolved yet), then `disabled` once the rescan finds no token.
    let status = eventually("disabled", || {
        let s = fx.tree.github_status();
        async move { (s.state == GithubState::Disabled).then_some(s) }
    })
    .await;
    assert_eq!(status.token_source, None);
    fx.tree.shutdown(T).await;
}

/// The cached row of a project's ProjectActor.
async fn actor_row(fx: &Fixture, id: &ao_protocol::ProjectId) -> Option<ao_store::ProjectRow> {
    let actor = fx.tree.registry.projects.get(id).map(|r| r.clone())?;
    match actor
        .call(crate::projects::ProjectMsg::Row, Some(T))
        .await
        .ok()?
    {
        ractor::rpc::CallResult::Success(row) => Some(row),
        _ => None,
    }
}

#[tokio::test]
async fn an_origin_back_filled_later_reaches_the_project_actor() {
    let fx = start_with(|cfg| {
        cfg.scm = Some(setup(TokenProvider::fixed("t0k")));
        // Rescans every 100 ms.
        cfg.scm_timings = ScmTimings::with_poll_interval(Duration::from_millis(50));
    })
    .await;
    // Registered without an origin: the actor caches the empty one.
    let project = fx.project("late").await;
    assert_eq!(project.repo_origin_url, "");
    let cached = actor_row(&fx, &project.id).await.expect("actor row");
    assert_eq!(cached.repo_origin_url, "");

    // The origin appears later; the ScmSupervisor's rescan back-fills it, and the actor
    // (which spawns use) follows without a restart.
    let origin = "git@github.com:o/late.git";
    process::run(
        &git::git_cmd()
            .arg("-C")
            .arg(&project.path)
            .args(["remote", "add", "origin", origin]),
    )
    .await
    .expect("git remote add");
    let id = project.id.clone();
    let row = eventually("the actor's row to carry the origin", || {
        let id = id.clone();
        let fx = &fx;
        async move {
            actor_row(fx, &id)
                .await
                .filter(|r| r.repo_origin_url == origin)
        }
    })
    .await;
    assert_eq!(row.id, project.id);
    fx.tree.shutdown(T).await;
}
