//! End-to-end tests of the PR loop inside the actor tree: a tiny axum GitHub stand-in on
//! 127.0.0.1 (repo/check/base guards with ETags, discovery, job logs, GraphQL facts and review
//! threads, rate headers), real SQLite, real tmux sessions running `sleep`. Every wait is a
//! poll with a deadline.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_adapters::scm::{ScmConfig, TokenProvider};
use ao_adapters::{Runtime, Tmux, git, process};
use ao_protocol::{
    CiState, GithubState, Harness, Mergeability, PrState, ProjectId, ReviewDecision, RuntimeKind,
    SessionId, SessionKind, TerminatedReason,
};
use ao_store::{PrDetail, ReadPool};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::config::ScmSetup;
use crate::test_support::{TestTmux, eventually};
use crate::{ActorTree, ActorsConfig, AddProject, ScmTimings, SpawnCommand, spawn_tree};

// ---- the GitHub stand-in ----------------------------------------------------------------

#[derive(Debug, Clone)]
struct FakePr {
    number: u64,
    head_ref: String,
    head_repo: String,
    sha: String,
    merged: bool,
    /// Raw `mergeable`, reported once GitHub "has computed" it: the first `unknown_for` facts
    /// fetches answer `UNKNOWN`.
    mergeable: String,
    unknown_for: u64,
    /// `baseRefOid`: the `main` tip when the PR was opened (like GitHub, it is not updated
    /// the moment `main` moves).
    base_sha: String,
}

#[derive(Debug, Default)]
struct Gh {
    prs: Vec<FakePr>,
    /// Bumped on every PR change: the repo guard's ETag.
    version: u64,
    /// Answer every request with 429 + Retry-After.
    rate_limited: bool,
    guard_calls: u64,
    graphql_calls: u64,
    log_calls: u64,
    /// The tip of `main` (the only branch), served with ETag `"<tip>"`.
    main_sha: String,
    base_guard_calls: u64,
    base_guard_304s: u64,
    /// PR number → how many facts queries asked for it.
    fetched: HashMap<u64, u64>,
}

type Shared = Arc<Mutex<Gh>>;

fn gh(state: &Shared) -> std::sync::MutexGuard<'_, Gh> {
    state.lock().expect("fake GitHub lock")
}

fn with_rate(mut resp: Response, resource: &str) -> Response {
    let h = resp.headers_mut();
    let reset = (chrono::Utc::now().timestamp() + 3600).to_string();
    for (k, v) in [
        ("x-ratelimit-limit", "5000".to_string()),
        ("x-ratelimit-remaining", "4900".to_string()),
        ("x-ratelimit-used", "100".to_string()),
        ("x-ratelimit-reset", reset),
        ("x-ratelimit-resource", resource.to_string()),
    ] {
        h.insert(k, HeaderValue::from_str(&v).expect("header value"));
    }
    resp
}

fn limited() -> Response {
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from_static("120"));
    resp
}

fn pull_json(p: &FakePr) -> Value {
    json!({
        "number": p.number,
        "draft": false,
        "html_url": format!("http://example/o/r/pull/{}", p.number),
        "updated_at": "2026-01-01T00:00:00Z",
        "head": {"ref": p.head_ref, "repo": {"full_name": p.head_repo}},
        "base": {"ref": "main", "repo": {"full_name": "o/r"}},
    })
}

async fn pulls(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut g = gh(&state);
    if g.rate_limited {
        return limited();
    }
    let open: Vec<Value> = g.prs.iter().filter(|p| !p.merged).map(pull_json).collect();
    if q.get("per_page").map(String::as_str) == Some("1") {
        g.guard_calls += 1;
        let etag = format!("\"v{}\"", g.version);
        if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            return with_rate(StatusCode::NOT_MODIFIED.into_response(), "core");
        }
        let first: Vec<Value> = open.into_iter().take(1).collect();
        let mut resp = Json(first).into_response();
        resp.headers_mut()
            .insert("etag", HeaderValue::from_str(&etag).expect("etag"));
        return with_rate(resp, "core");
    }
    with_rate(Json(open).into_response(), "core")
}

async fn check_runs(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if gh(&state).rate_limited {
        return limited();
    }
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some("\"c1\"") {
        return with_rate(StatusCode::NOT_MODIFIED.into_response(), "core");
    }
    let mut resp = Json(json!({"total_count": 1, "check_runs": []})).into_response();
    resp.headers_mut()
        .insert("etag", HeaderValue::from_static("\"c1\""));
    with_rate(resp, "core")
}

async fn job_log(
    State(state): State<Shared>,
    UrlPath((_, _, job)): UrlPath<(String, String, String)>,
) -> Response {
    gh(&state).log_calls += 1;
    let body =
        format!("2024-01-01T00:00:00.000Z step 1\n2024-01-01T00:00:01.000Z boom in job {job}\n\n");
    with_rate(body.into_response(), "core")
}

fn pr_node(p: &FakePr, fetch: u64) -> Value {
    let mergeable = if fetch <= p.unknown_for {
        "UNKNOWN"
    } else {
        p.mergeable.as_str()
    };
    let check = json!({
        "__typename": "CheckRun", "name": "build", "status": "COMPLETED",
        "conclusion": "FAILURE", "detailsUrl": "http://example/run/1", "databaseId": 42
    });
    let contexts = json!({
        "pageInfo": {"hasNextPage": false, "endCursor": Value::Null},
        "nodes": [check]
    });
    let commits = json!({"nodes": [{"commit": {
        "oid": p.sha,
        "statusCheckRollup": {"state": "FAILURE", "contexts": contexts}
    }}]});
    let mut node = json!({
        "number": p.number,
        "url": format!("http://example/o/r/pull/{}", p.number),
        "state": if p.merged { "MERGED" } else { "OPEN" },
        "isDraft": false,
        "merged": p.merged,
        "closed": p.merged,
        "title": "Fix things",
        "additions": 3, "deletions": 1, "changedFiles": 1,
        "mergeable": mergeable,
        "mergeStateStatus": "BLOCKED",
        "reviewDecision": "CHANGES_REQUESTED",
        "headRefName": p.head_ref,
        "headRefOid": p.sha,
        "headRepository": {"nameWithOwner": p.head_repo},
        "baseRefName": "main",
        "baseRefOid": p.base_sha,
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
    });
    node["mergedAt"] = if p.merged {
        json!("2026-01-02T00:00:00Z")
    } else {
        Value::Null
    };
    node["closedAt"] = Value::Null;
    node["author"] = json!({"login": "me"});
    node["mergeCommit"] = Value::Null;
    node["commits"] = commits;
    node
}

/// The numbers of `pullRequest(number: N)` in query order.
fn numbers(query: &str) -> Vec<u64> {
    query
        .split("pullRequest(number:")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

async fn graphql(State(state): State<Shared>, Json(body): Json<Value>) -> Response {
    let mut g = gh(&state);
    if g.rate_limited {
        return limited();
    }
    g.graphql_calls += 1;
    let query = body["query"].as_str().unwrap_or_default();
    if query.contains("reviewThreads") {
        let data = json!({"repository": {"pullRequest": {"reviewThreads": {
            "pageInfo": {"hasPreviousPage": false, "startCursor": Value::Null},
            "nodes": [{
                "id": "T1", "isResolved": false, "path": "src/lib.rs", "line": 3,
                "comments": {"nodes": [{
                    "id": "C1", "databaseId": 1, "body": "please fix", "url": "http://example/c1",
                    "createdAt": "2026-01-01T00:00:00Z",
                    "author": {"login": "rev", "__typename": "User"}
                }]}
            }]
        }}}});
        return with_rate(Json(json!({"data": data})).into_response(), "graphql");
    }
    let mut data = serde_json::Map::new();
    let mut errors = Vec::new();
    for (i, n) in numbers(query).into_iter().enumerate() {
        let fetch = {
            let count = g.fetched.entry(n).or_default();
            *count += 1;
            *count
        };
        let alias = format!("pr{i}");
        if let Some(p) = g.prs.iter().find(|p| p.number == n) {
            data.insert(alias, json!({"pullRequest": pr_node(p, fetch)}));
        } else {
            data.insert(alias.clone(), json!({"pullRequest": Value::Null}));
            errors.push(json!({"type": "NOT_FOUND", "path": [alias], "message": "nope"}));
        }
    }
    let mut out = json!({"data": data});
    if !errors.is_empty() {
        out["errors"] = Value::Array(errors);
    }
    with_rate(Json(out).into_response(), "graphql")
}

async fn branch(
    State(state): State<Shared>,
    UrlPath((_, _, name)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut g = gh(&state);
    if g.rate_limited {
        return limited();
    }
    g.base_guard_calls += 1;
    if name != "main" {
        return with_rate(StatusCode::NOT_FOUND.into_response(), "core");
    }
    let etag = format!("\"{}\"", g.main_sha);
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        g.base_guard_304s += 1;
        return with_rate(StatusCode::NOT_MODIFIED.into_response(), "core");
    }
    let mut resp = Json(json!({"name": "main", "commit": {"sha": g.main_sha}})).into_response();
    resp.headers_mut()
        .insert("etag", HeaderValue::from_str(&etag).expect("etag"));
    with_rate(resp, "core")
}

async fn serve(state: Shared) -> String {
    let app = Router::new()
        .route("/repos/{o}/{r}/pulls", get(pulls))
        .route("/repos/{o}/{r}/branches/{*name}", get(branch))
        .route("/repos/{o}/{r}/commits/{sha}/check-runs", get(check_runs))
        .route("/repos/{o}/{r}/actions/jobs/{id}/logs", get(job_log))
        .route("/graphql", post(graphql))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

// ---- the tree fixture -------------------------------------------------------------------

struct Fx {
    tree: ActorTree,
    reader: ReadPool,
    gh: Shared,
    base: String,
    repos: TempDir,
    _tmux: TestTmux,
    _dir: TempDir,
}

fn fast_scm() -> ScmTimings {
    ScmTimings {
        poll_ok: Duration::from_millis(150),
        poll_throttled: Duration::from_millis(300),
        rescan: Duration::from_millis(200),
        review_refresh: Duration::from_secs(600),
        ..ScmTimings::default()
    }
}

async fn start(prs: Vec<FakePr>) -> Fx {
    start_with(prs, fast_scm()).await
}

async fn start_with(prs: Vec<FakePr>, timings: ScmTimings) -> Fx {
    let state: Shared = Arc::new(Mutex::new(Gh {
        prs,
        version: 1,
        main_sha: "base0".to_string(),
        ..Gh::default()
    }));
    let base = serve(Arc::clone(&state)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let home = dir.path().join("home");
    let repos = tempfile::tempdir().expect("tempdir");
    let opened = ao_store::open(&data).expect("store opens");
    let server = TestTmux::new("scm", &home);
    let tmux = Tmux::new(&server.socket, &home, &data);
    tmux.write_conf().expect("tmux.conf");
    let runtime: Arc<dyn Runtime> = Arc::new(tmux);
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let mut cfg = ActorsConfig::new(&data, RuntimeKind::Tmux);
    cfg.home = home.clone();
    cfg.run_file = home.join("running.json");
    cfg.tmux_socket = server.socket.clone();
    cfg.daemon_env = Some(env);
    cfg.runtimes = vec![runtime];
    cfg.scm = Some(ScmSetup {
        config: ScmConfig::for_base(&base).expect("valid base"),
        tokens: Arc::new(TokenProvider::fixed("t0k")),
    });
    cfg.scm_timings = timings;
    let tree = spawn_tree(cfg, opened.reader.clone(), opened.writer)
        .await
        .expect("tree starts");
    Fx {
        tree,
        reader: opened.reader,
        gh: state,
        base,
        repos,
        _tmux: server,
        _dir: dir,
    }
}

async fn run_git(dir: &Path, args: &[&str]) {
    process::run(&git::git_cmd().arg("-C").arg(dir).args(args))
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
}

impl Fx {
    /// Project `app` whose origin points at the stand-in's `o/r`.
    async fn project(&self) {
        let dir = self.repos.path().join("app");
        std::fs::create_dir_all(&dir).expect("mkdir");
        run_git(&dir, &["init", "-q", "-b", "main"]).await;
        run_git(&dir, &["config", "user.email", "t@example.com"]).await;
        run_git(&dir, &["config", "user.name", "t"]).await;
        run_git(
            &dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "init",
                "--no-gpg-sign",
            ],
        )
        .await;
        let origin = format!("{}/o/r.git", self.base);
        run_git(&dir, &["remote", "add", "origin", &origin]).await;
        let dir = dir.canonicalize().expect("canonical");
        self.tree
            .projects
            .add_project(AddProject {
                path: dir.to_string_lossy().into_owned(),
                project_id: Some(ProjectId::new("app").expect("valid id")),
                name: None,
                config: json!({}),
            })
            .await
            .expect("project added");
    }

    async fn spawn(&self, branch: &str) -> SessionId {
        self.tree
            .sessions
            .spawn(SpawnCommand {
                project_id: ProjectId::new("app").expect("valid id"),
                kind: SessionKind::Worker,
                harness: Some(Harness::Command),
                branch: Some(branch.to_string()),
                prompt: None,
                issue_id: None,
                display_name: None,
                command: Some("sleep 600".to_string()),
                claim: None,
            })
            .await
            .expect("spawned")
    }

    fn url(&self, n: u64) -> String {
        // The API is plain http; the normalised PR URL is https all the same.
        let host = self.base.trim_start_matches("http://");
        format!("https://{host}/o/r/pull/{n}")
    }

    async fn pr(&self, n: u64) -> Option<PrDetail> {
        let reader = self.reader.clone();
        let url = self.url(n);
        tokio::task::spawn_blocking(move || reader.pr_detail(&url))
            .await
            .expect("join")
            .expect("read")
    }
}

fn fake(number: u64, head_ref: &str, head_repo: &str) -> FakePr {
    FakePr {
        number,
        head_ref: head_ref.to_string(),
        head_repo: head_repo.to_string(),
        sha: "sha1".to_string(),
        merged: false,
        mergeable: "MERGEABLE".to_string(),
        unknown_for: 0,
        base_sha: "base0".to_string(),
    }
}

#[tokio::test]
async fn observer_discovers_persists_reacts_and_acknowledges() {
    let fx = start(vec![fake(7, "feat/x", "o/r"), fake(8, "feat", "fork/r")]).await;
    fx.project().await;
    let session = fx.spawn("feat").await;

    // Discovered (owned via `feat/…`), refreshed, reacted to and acknowledged.
    let pr = eventually("PR #7 acknowledged", || async {
        fx.pr(7).await.filter(|p| !p.hashes.ci.is_empty())
    })
    .await;
    assert_eq!(pr.session_id, session);
    assert_eq!(pr.facts.state, PrState::Open);
    assert_eq!(pr.facts.ci_state, CiState::Failing);
    assert_eq!(pr.facts.review_decision, ReviewDecision::ChangesRequested);
    assert_eq!(pr.facts.head_sha, "sha1");
    assert_eq!(pr.checks.len(), 1);
    assert_eq!(pr.checks[0].log_tail, "step 1\nboom in job 42");
    assert!(!pr.hashes.review.is_empty(), "review threads were fetched");
    assert_eq!(pr.comments.len(), 1);
    assert_eq!(pr.comments[0].body, "please fix");
    // The fork PR is never adopted.
    assert!(fx.pr(8).await.is_none());

    // Steady state: guards answer 304, so no GraphQL, no logs, nothing written.
    let (graphql, logs) = {
        let g = gh(&fx.gh);
        (g.graphql_calls, g.log_calls)
    };
    let guards = gh(&fx.gh).guard_calls;
    eventually("three more polls", || async {
        (gh(&fx.gh).guard_calls >= guards + 3).then_some(())
    })
    .await;
    {
        let g = gh(&fx.gh);
        assert_eq!(g.graphql_calls, graphql);
        assert_eq!(g.log_calls, logs);
    }
    let again = fx.pr(7).await.expect("stored");
    assert_eq!(again.updated_at, pr.updated_at);

    // The budget saw both buckets.
    let status = fx.tree.github_status();
    assert_eq!(status.state, GithubState::Ok);
    assert_eq!(status.token_source.as_deref(), Some("AO_GITHUB_TOKEN"));
    assert!(status.last_poll_at.is_some());
    assert_eq!(status.rest.expect("rest window").remaining, 4900);
    assert_eq!(status.graphql.expect("graphql window").limit, 5000);

    // Merged: the repo guard changes, the observation is applied and the session completes.
    {
        let mut g = gh(&fx.gh);
        g.prs[0].merged = true;
        g.version += 1;
    }
    eventually("PR #7 merged", || async {
        fx.pr(7)
            .await
            .filter(|p| p.facts.state == PrState::Merged)
            .map(|_| ())
    })
    .await;
    let reader = fx.reader.clone();
    eventually("session terminated with pr_merged", || {
        let reader = reader.clone();
        let id = session.clone();
        async move {
            let row = tokio::task::spawn_blocking(move || reader.get_session(&id))
                .await
                .expect("join")
                .expect("read")?;
            row.is_terminated.then_some(row.terminated_reason)
        }
    })
    .await
    .map_or_else(
        || panic!("no termination reason"),
        |r| {
            assert_eq!(r, TerminatedReason::PrMerged);
        },
    );
    fx.tree.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn rate_limit_puts_the_budget_in_backoff() {
    let fx = start(vec![fake(7, "feat/x", "o/r")]).await;
    gh(&fx.gh).rate_limited = true;
    fx.project().await;
    let status = eventually("backoff", || async {
        let s = fx.tree.github_status();
        (s.state == GithubState::Backoff).then_some(s)
    })
    .await;
    assert!(status.backoff_until.is_some());
    assert!(status.last_error.is_some());
    // Nothing was stored while limited.
    assert!(fx.pr(7).await.is_none());
    fx.tree.shutdown(Duration::from_secs(10)).await;
}

/// Waits until session `id` is terminated and returns its reason.
async fn terminated_reason(fx: &Fx, id: &SessionId) -> Option<TerminatedReason> {
    let reader = fx.reader.clone();
    eventually("session terminated", || {
        let reader = reader.clone();
        let id = id.clone();
        async move {
            let row = tokio::task::spawn_blocking(move || reader.get_session(&id))
                .await
                .expect("join")
                .expect("read")?;
            row.is_terminated.then_some(row.terminated_reason)
        }
    })
    .await
}

#[tokio::test]
async fn full_refresh_sees_a_merge_hidden_behind_the_repo_guard() {
    // #7 is the most recently updated PR (first in the guard's page), #8 an older one.
    let timings = ScmTimings {
        full_refresh: Duration::from_millis(600),
        ..fast_scm()
    };
    let fx = start_with(vec![fake(7, "a/x", "o/r"), fake(8, "b/x", "o/r")], timings).await;
    fx.project().await;
    let a = fx.spawn("a").await;
    let b = fx.spawn("b").await;
    for n in [7, 8] {
        eventually("both PRs acknowledged", || async {
            fx.pr(n)
                .await
                .filter(|p| !p.hashes.ci.is_empty())
                .map(|_| ())
        })
        .await;
    }

    // The older PR is merged: the guard's first page (and so its ETag) is unchanged, the
    // check guard answers 304 too. Only the periodic full refresh can see it.
    let guards = {
        let mut g = gh(&fx.gh);
        g.prs[1].merged = true;
        g.guard_calls
    };
    let merged = eventually("PR #8 merged", || async {
        fx.pr(8).await.filter(|p| p.facts.state == PrState::Merged)
    })
    .await;
    assert_eq!(merged.session_id, b);
    assert_eq!(
        terminated_reason(&fx, &b).await,
        Some(TerminatedReason::PrMerged)
    );
    {
        let g = gh(&fx.gh);
        assert_eq!(g.version, 1, "the repo guard never changed");
        assert!(g.guard_calls > guards, "the guard kept being polled");
    }
    // The other session's PR stays open and its session alive.
    assert_eq!(fx.pr(7).await.expect("stored").facts.state, PrState::Open);
    let reader = fx.reader.clone();
    let row = tokio::task::spawn_blocking(move || reader.get_session(&a))
        .await
        .expect("join")
        .expect("read")
        .expect("session a exists");
    assert!(!row.is_terminated);
    fx.tree.shutdown(Duration::from_secs(10)).await;
}

/// Waits until the observer has made `n` more base-guard calls (i.e. run `n` more polls with a
/// subject).
async fn base_guard_polls(fx: &Fx, n: u64) {
    let start = gh(&fx.gh).base_guard_calls;
    eventually("more base-guard polls", || async {
        (gh(&fx.gh).base_guard_calls >= start + n).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_moved_base_shows_a_conflict_long_before_the_full_refresh() {
    // The full refresh stays at its default 5 min: only the base guard can see the change.
    let fx = start(vec![fake(2, "feat", "o/r")]).await;
    fx.project().await;
    fx.spawn("feat").await;
    let pr = eventually("PR #2 acknowledged", || async {
        fx.pr(2).await.filter(|p| !p.hashes.ci.is_empty())
    })
    .await;
    assert_ne!(pr.facts.mergeability, Mergeability::Conflicting);
    assert_eq!(pr.facts.target_branch, "main");

    // Nothing moves: each poll asks for `main` with its ETag (304) and fetches no facts.
    eventually("the base guard answering 304", || async {
        (gh(&fx.gh).base_guard_304s > 0).then_some(())
    })
    .await;
    let (facts, calls, not_modified) = {
        let g = gh(&fx.gh);
        (g.fetched[&2], g.base_guard_calls, g.base_guard_304s)
    };
    base_guard_polls(&fx, 3).await;
    {
        let g = gh(&fx.gh);
        assert_eq!(g.fetched[&2], facts, "no facts fetched without a change");
        assert_eq!(
            g.base_guard_304s - not_modified,
            g.base_guard_calls - calls,
            "every base-guard call was a 304"
        );
    }

    // Another PR merged into `main`: GitHub reports #2 CONFLICTING without touching it, so
    // the repo guard (and the check guard) still answer 304.
    {
        let mut g = gh(&fx.gh);
        g.main_sha = "base1".to_string();
        g.prs[0].mergeable = "CONFLICTING".to_string();
    }
    let conflicting = eventually("PR #2 conflicting", || async {
        fx.pr(2)
            .await
            .filter(|p| p.facts.mergeability == Mergeability::Conflicting)
    })
    .await;
    assert_eq!(conflicting.facts.mergeability_reasons, ["conflicts"]);
    assert_eq!(gh(&fx.gh).version, 1, "the repo guard never changed");

    // Settled again: the new ETag was kept, so the following polls are 304s without facts.
    let facts = eventually("the base guard answering 304 again", || async {
        let g = gh(&fx.gh);
        (g.base_guard_304s > not_modified).then(|| g.fetched[&2])
    })
    .await;
    base_guard_polls(&fx, 3).await;
    assert_eq!(gh(&fx.gh).fetched[&2], facts);
    fx.tree.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test]
async fn unknown_mergeability_is_refetched_until_answered_and_only_a_few_times() {
    // GitHub answers #3's mergeability on the fifth fetch; #4's never. (Without the retries
    // a new PR is fetched at most three times: discovery, the first check-guard answer and
    // the first base-guard answer.)
    let fx = start(vec![
        FakePr {
            mergeable: "CONFLICTING".to_string(),
            unknown_for: 4,
            ..fake(3, "a/x", "o/r")
        },
        FakePr {
            mergeable: "UNKNOWN".to_string(),
            ..fake(4, "b/x", "o/r")
        },
    ])
    .await;
    fx.project().await;
    fx.spawn("a").await;
    fx.spawn("b").await;

    // Nothing else changes (no base move, no updated_at bump, 304 guards), yet the answer is
    // picked up by the retries.
    let pr = eventually("PR #3 conflicting", || async {
        fx.pr(3)
            .await
            .filter(|p| p.facts.mergeability == Mergeability::Conflicting)
    })
    .await;
    assert_eq!(pr.facts.provider_mergeable, "CONFLICTING");

    // #4: one fetch plus MERGEABLE_RETRIES retries, then only a guard brings it back.
    let bound = 1 + u64::from(crate::scm::select::MERGEABLE_RETRIES);
    eventually("#4's retries", || async {
        (gh(&fx.gh).fetched.get(&4).copied().unwrap_or(0) >= bound).then_some(())
    })
    .await;
    let settled_3 = gh(&fx.gh).fetched[&3];
    base_guard_polls(&fx, 4).await;
    {
        let g = gh(&fx.gh);
        assert_eq!(g.fetched[&4], bound, "the UNKNOWN retries are bounded");
        assert_eq!(g.fetched[&3], settled_3, "an answered PR is not refetched");
        assert_eq!(g.version, 1);
    }
    fx.tree.shutdown(Duration::from_secs(10)).await;
}
