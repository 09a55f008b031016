//! A local fake of the GitHub API subset `ao` uses (adapters.md §8, scm.md), with real
//! semantics: conditional requests, pagination, rate-limit headers, GraphQL aliases, errors and
//! connections — so the GitHub client, the PR observers and the e2e tests can run without
//! network.
//!
//! # Using it from a test
//!
//! ```no_run
//! use ao_tests::fake_github::{CheckSpec, CommentSpec, Fault, FakeGithub, PrSpec, Route, ThreadSpec};
//!
//! let gh = FakeGithub::start();                     // 127.0.0.1:<free port>, own runtime thread
//! let pr = gh.open_pr("acme", "widgets", PrSpec::new("ao-1/feat").title("Add feature"));
//! let sha = gh.push(&pr);                           // new head SHA, bumps updated_at
//! gh.set_checks("acme", "widgets", &sha, vec![
//!     CheckSpec::run("build").failure().log("error: boom\n"),
//!     CheckSpec::status_context("ci/lint", "SUCCESS"),
//! ]);
//! gh.set_review_decision(&pr, Some("CHANGES_REQUESTED"));
//! gh.add_thread(&pr, ThreadSpec::new("src/lib.rs", Some(3), CommentSpec::user("alice", "Fix this")));
//! gh.set_mergeable(&pr, "CONFLICTING", "DIRTY");
//! gh.fail_next(Route::GraphqlFacts, 1, Fault::ServerError);
//! // point ao at it:
//! for (k, v) in gh.env() { /* home.env(k, &v) */ let _ = (k, v); }
//! assert_eq!(gh.stats().graphql_facts.requests, 0);
//! ```
//!
//! * Addresses: [`FakeGithub::api_url`] (`http://127.0.0.1:<port>/api/v3`, a GitHub
//!   Enterprise-style base, so `ao` derives the GraphQL URL `http://127.0.0.1:<port>/api/graphql`
//!   and the web host `127.0.0.1:<port>` — README §4), [`FakeGithub::host`], and
//!   [`FakeGithub::env`] (`AO_GITHUB_API_URL`, `AO_GITHUB_HOST`, `AO_GITHUB_TOKEN`).
//! * Web URLs (PR `url`/`html_url`, comment URLs, project origins) are
//!   `https://<host>/<owner>/<repo>/…` — the normalised form of data-model.md §4.3 that claim
//!   references use (scm.md §11). See [`FakeGithub::pr_url`] and [`FakeGithub::clone_url`].
//!   The fake serves no web pages and no git.
//! * REST (`Authorization: Bearer <token>` or `token <token>` required):
//!   `GET /repos/{o}/{r}/pulls` (`state`, `head`, `base`, `sort`, `direction`, `per_page` ≤ 100,
//!   `page`; strong ETag of the body, `If-None-Match` → 304; `Link` with
//!   `prev`/`next`/`last`/`first`), `GET /repos/{o}/{r}/commits/{ref}/check-runs` (check runs
//!   only, newest first, `total_count`; ETag/304; an unknown SHA is 422),
//!   `GET /repos/{o}/{r}/branches/{branch}` (`{name, commit: {sha}, protected}`; the branch
//!   may contain `/`, raw or as `%2F`; ETag/304, the ETag changing exactly when the tip does;
//!   an unknown branch is 404),
//!   `GET /repos/{o}/{r}/actions/jobs/{id}/logs` (302 to `/_blobs/<id>`, which serves the text
//!   without auth or rate headers; 404 when the check has no log), `GET /user`
//!   (`X-OAuth-Scopes`). Unknown repositories and routes are GitHub's 404 JSON.
//! * GraphQL `POST /api/graphql`: see the [`graphql`] module — the facts batch and the
//!   review-thread query of the client contract, validated and executed against the state.
//! * Rate limits: buckets `core` (REST) and `graphql`, 5000/h each. Every API response (304s
//!   and errors included) carries `X-RateLimit-Limit/-Remaining/-Used/-Reset/-Resource`; each
//!   request costs 1 except 304s, 401s and rate-limit refusals. An empty bucket refuses with
//!   403 (REST) or a 200 `RATE_LIMITED` error (GraphQL) until its reset time, then refills.
//! * What bumps a PR's `updated_at` (and so the repo guard's ETag): open, push, title/draft/
//!   review-decision/base changes, new threads and replies, merge, close, reopen, `touch`. Not:
//!   checks, mergeability, diff stats, resolving threads, nor a move of the PR's base branch
//!   (a merge of another PR, `push_branch`) — as on GitHub. A merge moves its base branch
//!   only (the other PRs' `baseRefOid` and listing stay as they were, so the repo guard
//!   answers 304 and only the branch's ETag shows the move); `push_branch` also gives the
//!   open PRs on that branch the new `baseRefOid`.
//! * Check-runs ETag caveat (faithful to GitHub): the body of `per_page=1` shows only the
//!   newest run, so a status change of an older run on the same commit does not change it.
//! * Faults ([`FakeGithub::fail_next`]) replace the next N responses of one [`Route`]; see
//!   [`Fault`]. Statistics ([`FakeGithub::stats`]) count per route, with 304s and faults as
//!   subsets; [`FakeGithub::requests`] is the request log (tokens redacted).
//! * Control over HTTP: `/_control/...` (see the `control` module), used by the `fake-github`
//!   binary.
//!
//! Invariant: handlers never panic on any request; control-API misuse panics in the Rust
//! methods (a test bug) and is a 4xx over HTTP.

mod control;
mod gql_parse;
pub mod graphql;
mod model;
mod server;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use model::{
    Check, CheckKind, CheckSpec, Comment, CommentSpec, ControlError, Fault, PrPatch, PrRef, PrSpec,
    PrStatus, Pull, RateBucket, RatePatch, RecordedRequest, Repo, Resource, Route, RouteStats,
    Stats, Thread, ThreadIds, ThreadSpec, UserInfo,
};

use model::State;
use server::Shared;

/// A running fake GitHub. Stops (dropping held requests) when dropped.
pub struct FakeGithub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeGithub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGithub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn new_token() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{}-{nanos}-{n}", std::process::id());
    format!("ghp_{}", &model::sha256_hex(seed.as_bytes())[..36])
}

impl FakeGithub {
    /// Starts on a free loopback port.
    pub fn start() -> Self {
        Self::try_start(0).expect("bind the fake GitHub on a free loopback port")
    }

    /// Starts on `127.0.0.1:<port>` (0: any free port).
    pub fn try_start(port: u16) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(new_token())),
            origin: format!("http://{addr}"),
            urls: graphql::Urls {
                host: addr.to_string(),
            },
        });
        let app = server::router(Arc::clone(&shared));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("fake-github-{}", addr.port()))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime cancels in-flight (e.g. hanging) requests.
                drop(rt);
            })?;
        ready_rx
            .recv()
            .map_err(|_| std::io::Error::other("the fake GitHub thread exited early"))??;
        Ok(Self {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.lock()
    }

    #[track_caller]
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T, ControlError>) -> T {
        let r = f(&mut self.state());
        r.unwrap_or_else(|e| panic!("fake GitHub: {e}"))
    }

    // ----- addresses -------------------------------------------------------------------------

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        self.shared.origin.clone()
    }

    /// REST base for `AO_GITHUB_API_URL`: `http://127.0.0.1:<port>/api/v3`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.shared.origin)
    }

    /// `http://127.0.0.1:<port>/api/graphql` (what `ao` derives from [`Self::api_url`]).
    pub fn graphql_url(&self) -> String {
        format!("{}/api/graphql", self.shared.origin)
    }

    /// Web host (`AO_GITHUB_HOST`, and `ao`'s default for this API URL): `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.shared.urls.host.clone()
    }

    /// The token the API accepts.
    pub fn token(&self) -> String {
        self.state().token.clone()
    }

    /// `AO_GITHUB_API_URL`, `AO_GITHUB_HOST` and `AO_GITHUB_TOKEN` for `ao`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AO_GITHUB_API_URL", self.api_url()),
            ("AO_GITHUB_HOST", self.host()),
            ("AO_GITHUB_TOKEN", self.token()),
        ]
    }

    /// `https://<host>/<owner>/<repo>/pull/<n>` — the PR's `url`/`html_url` here.
    pub fn pr_url(&self, pr: &PrRef) -> String {
        self.shared
            .urls
            .web_url(&format!("{}/{}/pull/{}", pr.owner, pr.repo, pr.number))
    }

    /// `https://<host>/<owner>/<repo>.git` — a project origin `ao` maps to this repository.
    pub fn clone_url(&self, owner: &str, repo: &str) -> String {
        self.shared.urls.web_url(&format!("{owner}/{repo}.git"))
    }

    // ----- repositories and pull requests ---------------------------------------------------

    /// Creates a repository with a `main` branch (idempotent).
    #[track_caller]
    pub fn create_repo(&self, owner: &str, repo: &str) {
        self.with(|st| st.create_repo(owner, repo));
    }

    /// Opens a PR (creating the repository if needed).
    #[track_caller]
    pub fn open_pr(&self, owner: &str, repo: &str, spec: PrSpec) -> PrRef {
        self.with(|st| st.open_pr(owner, repo, spec))
    }

    /// A snapshot of a PR.
    #[track_caller]
    pub fn pr(&self, pr: &PrRef) -> Pull {
        self.with(|st| st.pull(pr).cloned())
    }

    /// Pushes a generated commit to the PR's head; returns its SHA.
    #[track_caller]
    pub fn push(&self, pr: &PrRef) -> String {
        self.with(|st| st.push(pr, None))
    }

    /// Pushes the given SHA to the PR's head.
    #[track_caller]
    pub fn push_sha(&self, pr: &PrRef, sha: &str) {
        self.with(|st| st.push(pr, Some(sha.into())));
    }

    /// Moves (or creates) a branch to a generated commit; open PRs based on it get the new
    /// `baseRefOid`. Returns the SHA.
    #[track_caller]
    pub fn push_branch(&self, owner: &str, repo: &str, branch: &str) -> String {
        self.with(|st| st.push_branch(owner, repo, branch, None))
    }

    /// Applies a partial update (see [`PrPatch`] for what bumps `updated_at`).
    #[track_caller]
    pub fn patch_pr(&self, pr: &PrRef, patch: PrPatch) {
        self.with(|st| st.patch_pr(pr, patch));
    }

    /// `APPROVED`, `CHANGES_REQUESTED`, `REVIEW_REQUIRED`, any other string, or `None`
    /// (GraphQL `null`). Bumps `updated_at` when it changes.
    #[track_caller]
    pub fn set_review_decision(&self, pr: &PrRef, decision: Option<&str>) {
        self.patch_pr(
            pr,
            PrPatch {
                review_decision: Some(decision.map(str::to_string)),
                ..PrPatch::default()
            },
        );
    }

    /// Sets `mergeable` (`MERGEABLE`, `CONFLICTING`, `UNKNOWN`) and `mergeStateStatus`
    /// (`CLEAN`, `DIRTY`, `BEHIND`, `BLOCKED`, `UNSTABLE`, `HAS_HOOKS`, `DRAFT`, `UNKNOWN`).
    #[track_caller]
    pub fn set_mergeable(&self, pr: &PrRef, mergeable: &str, merge_state_status: &str) {
        self.patch_pr(
            pr,
            PrPatch {
                mergeable: Some(mergeable.into()),
                merge_state_status: Some(merge_state_status.into()),
                ..PrPatch::default()
            },
        );
    }

    /// Marks the PR draft or ready for review.
    #[track_caller]
    pub fn set_draft(&self, pr: &PrRef, draft: bool) {
        self.patch_pr(
            pr,
            PrPatch {
                draft: Some(draft),
                ..PrPatch::default()
            },
        );
    }

    /// Changes the title.
    #[track_caller]
    pub fn set_title(&self, pr: &PrRef, title: &str) {
        self.patch_pr(
            pr,
            PrPatch {
                title: Some(title.into()),
                ..PrPatch::default()
            },
        );
    }

    /// Bumps `updated_at`.
    #[track_caller]
    pub fn touch(&self, pr: &PrRef) {
        self.patch_pr(
            pr,
            PrPatch {
                touch: true,
                ..PrPatch::default()
            },
        );
    }

    /// Edits the stored PR directly (anything, including invalid values; nothing is bumped).
    #[track_caller]
    pub fn update_pr(&self, pr: &PrRef, f: impl FnOnce(&mut Pull)) {
        self.with(|st| st.pull_mut(pr).map(f));
    }

    /// Merges: `MERGED`, merge commit on the base branch (returned), timestamps.
    #[track_caller]
    pub fn merge(&self, pr: &PrRef) -> String {
        self.with(|st| st.merge(pr))
    }

    /// Closes without merging.
    #[track_caller]
    pub fn close(&self, pr: &PrRef) {
        self.with(|st| st.close(pr));
    }

    /// Reopens a closed PR.
    #[track_caller]
    pub fn reopen(&self, pr: &PrRef) {
        self.with(|st| st.reopen(pr));
    }

    // ----- checks --------------------------------------------------------------------------

    /// Replaces the checks (check runs and status contexts, in rollup order) of a commit.
    #[track_caller]
    pub fn set_checks(&self, owner: &str, repo: &str, sha: &str, checks: Vec<CheckSpec>) {
        self.with(|st| st.set_checks(owner, repo, sha, checks));
    }

    /// Replaces the checks of the PR's current head commit; returns that SHA.
    #[track_caller]
    pub fn set_head_checks(&self, pr: &PrRef, checks: Vec<CheckSpec>) -> String {
        self.with(|st| {
            let sha = st.pull(pr)?.head_sha.clone();
            st.set_checks(&pr.owner, &pr.repo, &sha, checks)?;
            Ok(sha)
        })
    }

    /// Forces the `statusCheckRollup.state` of a commit (`None`: derive it again).
    #[track_caller]
    pub fn set_rollup_state(&self, owner: &str, repo: &str, sha: &str, state: Option<&str>) {
        self.with(|st| st.set_rollup_state(owner, repo, sha, state.map(str::to_string)));
    }

    // ----- review threads ------------------------------------------------------------------

    /// Adds a review thread (bumps `updated_at`).
    #[track_caller]
    pub fn add_thread(&self, pr: &PrRef, spec: ThreadSpec) -> ThreadIds {
        self.with(|st| st.add_thread(pr, spec))
    }

    /// Adds a reply to a thread; returns the comment's (node id, database id).
    #[track_caller]
    pub fn reply(&self, pr: &PrRef, thread_id: &str, comment: CommentSpec) -> (String, u64) {
        self.with(|st| st.reply(pr, thread_id, comment))
    }

    /// Resolves or unresolves a thread.
    #[track_caller]
    pub fn resolve_thread(&self, pr: &PrRef, thread_id: &str, resolved: bool) {
        self.with(|st| st.resolve(pr, thread_id, resolved));
    }

    // ----- faults, budget, identity --------------------------------------------------------

    /// Answers the next `count` requests of `route` with `fault` (queued after earlier ones).
    pub fn fail_next(&self, route: Route, count: usize, fault: Fault) {
        let mut st = self.state();
        let q = st.faults.entry(route).or_default();
        for _ in 0..count {
            q.push_back(fault.clone());
        }
    }

    /// Drops all queued faults.
    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    /// The current bucket (as of the last request; an expired bucket refills on the next one).
    pub fn rate(&self, resource: Resource) -> RateBucket {
        *self.state().bucket(resource)
    }

    /// Changes a bucket; returns it.
    pub fn set_rate(&self, resource: Resource, patch: RatePatch) -> RateBucket {
        self.state().set_rate(resource, patch)
    }

    /// Sets `remaining` (and `used = limit - remaining`).
    pub fn set_remaining(&self, resource: Resource, remaining: u64) {
        self.set_rate(
            resource,
            RatePatch {
                remaining: Some(remaining),
                ..RatePatch::default()
            },
        );
    }

    /// Sets the reset time (unix seconds). A time in the past refills the bucket on the next
    /// request.
    pub fn set_reset(&self, resource: Resource, reset: i64) {
        self.set_rate(
            resource,
            RatePatch {
                reset: Some(reset),
                ..RatePatch::default()
            },
        );
    }

    /// Replaces the accepted token (the old one then gets 401 `Bad credentials`).
    pub fn set_token(&self, token: &str) {
        self.state().token = token.into();
    }

    /// The identity `GET /user` reports.
    pub fn set_user(&self, login: &str, scopes: &str) {
        self.state().user = UserInfo {
            login: login.into(),
            scopes: scopes.into(),
        };
    }

    // ----- observation ---------------------------------------------------------------------

    /// Request counts since start or [`Self::reset_stats`].
    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    pub fn reset_stats(&self) {
        self.state().stats = Stats::default();
    }

    /// The request log (oldest first, at most 10 000).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().log.clone()
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
