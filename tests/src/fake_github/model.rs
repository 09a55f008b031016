//! The fake's state: repositories, pull requests, commits' checks, review threads, the two
//! rate-limit buckets, scripted faults, request statistics and the request log.
//!
//! Everything lives in one [`State`] behind a mutex in `Shared`; REST and GraphQL handlers
//! read it, the control API (Rust methods on `FakeGithub` and `/_control/...` routes) mutates
//! it through the `State::…` methods here, which return [`ControlError`] on misuse.
//!
//! GitHub enum values (PR mergeable state, check status, review decision, …) are kept as the
//! raw strings GitHub sends, so a test can inject values `ao` does not know.
//!
//! Timestamps come from a logical clock: every mutation that GitHub stamps (`updated_at`,
//! comment `createdAt`, …) takes `max(now, last + 1 s)`, so two quick pushes still give two
//! different `updated_at` values and two different list ETags.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Misuse of the control API (unknown repo/PR/thread, duplicate PR number, bad value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("unknown repository {0}")]
    UnknownRepo(String),
    #[error("unknown pull request {0}#{1}")]
    UnknownPr(String, u64),
    #[error("pull request {0}#{1} already exists")]
    PrExists(String, u64),
    #[error("unknown review thread {0}")]
    UnknownThread(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// Identifies one pull request of the fake (returned by `open_pr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PrRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
}

impl PrRef {
    /// `owner/repo`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }
}

/// The request kinds of adapters.md §8, used for statistics and fault scripting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// `GET /repos/{o}/{r}/pulls` with `per_page=1`.
    RepoGuard,
    /// `GET /repos/{o}/{r}/pulls` with any other `per_page`.
    Discovery,
    /// `GET /repos/{o}/{r}/commits/{sha}/check-runs`.
    CheckGuard,
    /// `GET /repos/{o}/{r}/branches/{branch}` (the observer's base guard).
    BaseGuard,
    /// `GET /repos/{o}/{r}/actions/jobs/{id}/logs` (the redirect).
    JobLog,
    /// `GET /_blobs/{id}` (the log text the job-log redirect points at; no auth, no
    /// rate-limit headers, like GitHub's signed blob URLs).
    LogBlob,
    /// `POST /api/graphql` whose query does not select `reviewThreads`.
    GraphqlFacts,
    /// `POST /api/graphql` whose query selects `reviewThreads`.
    GraphqlThreads,
    /// `GET /user`.
    User,
    /// Anything else under the API prefixes (answered 404).
    Other,
}

impl Route {
    pub const ALL: [Route; 10] = [
        Route::RepoGuard,
        Route::Discovery,
        Route::CheckGuard,
        Route::BaseGuard,
        Route::JobLog,
        Route::LogBlob,
        Route::GraphqlFacts,
        Route::GraphqlThreads,
        Route::User,
        Route::Other,
    ];
}

/// Which rate-limit bucket a request draws from (`X-RateLimit-Resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Core,
    Graphql,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Graphql => "graphql",
        }
    }
}

/// One rate-limit bucket as GitHub reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateBucket {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// Unix seconds at which the bucket refills.
    pub reset: i64,
}

impl RateBucket {
    fn fresh(now: i64) -> Self {
        Self {
            limit: 5000,
            remaining: 5000,
            used: 0,
            reset: now + 3600,
        }
    }

    /// Refills the bucket when its reset time has passed (GitHub's hourly window).
    pub(crate) fn roll(&mut self, now: i64) {
        if now >= self.reset {
            self.remaining = self.limit;
            self.used = 0;
            self.reset = now + 3600;
        }
    }

    pub(crate) fn spend(&mut self) {
        self.remaining = self.remaining.saturating_sub(1);
        self.used += 1;
    }
}

/// A scripted failure for the next request(s) of one [`Route`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// 500 `{"message":"Server Error"}` (counts against the budget).
    ServerError,
    /// 502 with an HTML body, like GitHub's front end when the backend is down.
    BadGateway,
    /// Holds the request for `ms` milliseconds (the client should give up first), then
    /// answers 504. Dropping the fake releases held requests.
    Hang { ms: u64 },
    /// 200 with a truncated JSON body (counts against the budget).
    MalformedJson,
    /// 403 rate limited. With `retry_after`: a secondary limit (`Retry-After: <s>`, budget
    /// headers unchanged). Without: a primary limit (`X-RateLimit-Remaining: 0`; the stored
    /// bucket itself is not changed).
    RateLimited { retry_after: Option<u64> },
    /// 429 Too Many Requests, with `Retry-After` when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 401 `Bad credentials`.
    Unauthorized,
    /// 403 without any rate-limit signal (`Resource not accessible by integration`).
    Forbidden,
    /// GraphQL routes: 200 `{"data":null,"errors":[{"type":<error_type>,…}]}`. On REST
    /// routes it is a 500.
    GraphqlError { error_type: String },
}

/// Request counts of one route kind. `requests` counts every request received (304s and
/// faults included); `not_modified` and `faults` are the subsets answered 304 / by a fault.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStats {
    pub requests: u64,
    pub not_modified: u64,
    pub faults: u64,
}

impl RouteStats {
    /// Requests answered with a full (non-304) response.
    pub fn full(&self) -> u64 {
        self.requests - self.not_modified
    }
}

/// Request statistics since start or the last reset (`FakeGithub::stats`, `GET
/// /_control/stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub repo_guard: RouteStats,
    pub discovery: RouteStats,
    pub check_guard: RouteStats,
    pub base_guard: RouteStats,
    pub job_log: RouteStats,
    pub log_blob: RouteStats,
    pub graphql_facts: RouteStats,
    pub graphql_threads: RouteStats,
    pub user: RouteStats,
    pub other: RouteStats,
    /// Sum over GraphQL facts queries of their top-level `repository` aliases (PRs asked for).
    pub pr_aliases: u64,
    /// Largest number of aliases seen in one facts query.
    pub max_batch: u64,
    /// Requests rejected with 401 because of a missing or wrong token (not scripted faults).
    pub unauthorized: u64,
}

impl Stats {
    pub fn get(&self, route: Route) -> RouteStats {
        match route {
            Route::RepoGuard => self.repo_guard,
            Route::Discovery => self.discovery,
            Route::CheckGuard => self.check_guard,
            Route::BaseGuard => self.base_guard,
            Route::JobLog => self.job_log,
            Route::LogBlob => self.log_blob,
            Route::GraphqlFacts => self.graphql_facts,
            Route::GraphqlThreads => self.graphql_threads,
            Route::User => self.user,
            Route::Other => self.other,
        }
    }

    pub(crate) fn get_mut(&mut self, route: Route) -> &mut RouteStats {
        match route {
            Route::RepoGuard => &mut self.repo_guard,
            Route::Discovery => &mut self.discovery,
            Route::CheckGuard => &mut self.check_guard,
            Route::BaseGuard => &mut self.base_guard,
            Route::JobLog => &mut self.job_log,
            Route::LogBlob => &mut self.log_blob,
            Route::GraphqlFacts => &mut self.graphql_facts,
            Route::GraphqlThreads => &mut self.graphql_threads,
            Route::User => &mut self.user,
            Route::Other => &mut self.other,
        }
    }

    /// Requests of all kinds (304s included).
    pub fn total_requests(&self) -> u64 {
        Route::ALL.iter().map(|r| self.get(*r).requests).sum()
    }
}

/// One request as the fake saw it (`FakeGithub::requests`, `GET /_control/requests`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub route: Route,
    pub method: String,
    /// Path and query, e.g. `/api/v3/repos/o/r/pulls?state=open&per_page=1`.
    pub path: String,
    pub status: u16,
    /// Request headers with lower-case names; `authorization` is reduced to its scheme
    /// (`Bearer`/`token`) so tokens never end up in test output.
    pub headers: BTreeMap<String, String>,
    /// The GraphQL query text (GraphQL requests only).
    pub query: Option<String>,
}

/// Kind of a check on a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A GitHub Checks API run (Actions job or app check): GraphQL `CheckRun`, listed by the
    /// REST check-runs endpoint.
    #[default]
    CheckRun,
    /// A commit status (`StatusContext`); not listed by the REST check-runs endpoint.
    StatusContext,
}

/// A check to put on a commit (`FakeGithub::set_checks`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckSpec {
    pub kind: CheckKind,
    /// Check-run name or status context.
    pub name: String,
    /// CheckRun status: `QUEUED`, `IN_PROGRESS`, `COMPLETED`, `WAITING`, `PENDING`,
    /// `REQUESTED`.
    pub status: String,
    /// CheckRun conclusion (`SUCCESS`, `FAILURE`, `CANCELLED`, …); `None` while not completed.
    pub conclusion: Option<String>,
    /// StatusContext state: `SUCCESS`, `FAILURE`, `ERROR`, `PENDING`, `EXPECTED`.
    pub state: String,
    /// `detailsUrl` (CheckRun) or `targetUrl` (StatusContext).
    pub url: Option<String>,
    /// CheckRun `databaseId` (= the Actions job id). `None`: keep the id of the same-named run
    /// on this commit, or allocate a new one. Give a new id to model a re-run.
    pub job_id: Option<u64>,
    /// Job log served by the job-log endpoint; `None` → 404 (not an Actions job / no log).
    pub log: Option<String>,
}

impl CheckSpec {
    /// A queued check run.
    pub fn run(name: &str) -> Self {
        Self {
            kind: CheckKind::CheckRun,
            name: name.into(),
            status: "QUEUED".into(),
            ..Self::default()
        }
    }

    /// A commit status context with the given state (`SUCCESS`, `FAILURE`, `PENDING`, …).
    pub fn status_context(context: &str, state: &str) -> Self {
        Self {
            kind: CheckKind::StatusContext,
            name: context.into(),
            state: state.into(),
            ..Self::default()
        }
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }

    pub fn in_progress(self) -> Self {
        self.status("IN_PROGRESS")
    }

    /// `COMPLETED` with this conclusion.
    pub fn completed(mut self, conclusion: &str) -> Self {
        self.status = "COMPLETED".into();
        self.conclusion = Some(conclusion.into());
        self
    }

    pub fn success(self) -> Self {
        self.completed("SUCCESS")
    }

    pub fn failure(self) -> Self {
        self.completed("FAILURE")
    }

    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.into());
        self
    }

    pub fn job_id(mut self, id: u64) -> Self {
        self.job_id = Some(id);
        self
    }

    pub fn log(mut self, text: &str) -> Self {
        self.log = Some(text.into());
        self
    }
}

/// A check stored on a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    pub spec: CheckSpec,
    /// Database id (the job id for check runs).
    pub id: u64,
    pub created_at: i64,
}

/// What to open (`FakeGithub::open_pr`). Build with [`PrSpec::new`] and the setters, or
/// deserialize from the control route (camelCase, every field optional but `headRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrSpec {
    /// `None`: the repository's next number.
    pub number: Option<u64>,
    pub title: String,
    pub head_ref: String,
    pub base_ref: String,
    /// `owner/name` of the head repository for a fork PR; `None`: same as the base repo.
    pub head_repo: Option<String>,
    pub draft: bool,
    pub author: String,
    pub author_is_bot: bool,
    /// `None`: a generated SHA.
    pub head_sha: Option<String>,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
    /// `MERGEABLE`, `CONFLICTING` or `UNKNOWN`.
    pub mergeable: String,
    /// `None`: `DRAFT` for drafts, else `CLEAN`.
    pub merge_state_status: Option<String>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `REVIEW_REQUIRED` or `None` (GraphQL `null`).
    pub review_decision: Option<String>,
}

impl Default for PrSpec {
    fn default() -> Self {
        Self {
            number: None,
            title: String::new(),
            head_ref: String::new(),
            base_ref: "main".into(),
            head_repo: None,
            draft: false,
            author: "octocat".into(),
            author_is_bot: false,
            head_sha: None,
            additions: 10,
            deletions: 2,
            changed_files: 1,
            mergeable: "MERGEABLE".into(),
            merge_state_status: None,
            review_decision: None,
        }
    }
}

impl PrSpec {
    /// A ready PR from `head_ref` into `main`, titled after the branch.
    pub fn new(head_ref: &str) -> Self {
        Self {
            title: format!("Changes from {head_ref}"),
            head_ref: head_ref.into(),
            ..Self::default()
        }
    }

    pub fn number(mut self, n: u64) -> Self {
        self.number = Some(n);
        self
    }

    pub fn title(mut self, t: &str) -> Self {
        self.title = t.into();
        self
    }

    pub fn base(mut self, base_ref: &str) -> Self {
        self.base_ref = base_ref.into();
        self
    }

    /// A PR from a fork `owner/name`.
    pub fn fork(mut self, head_repo: &str) -> Self {
        self.head_repo = Some(head_repo.into());
        self
    }

    pub fn draft(mut self, draft: bool) -> Self {
        self.draft = draft;
        self
    }

    pub fn author(mut self, login: &str) -> Self {
        self.author = login.into();
        self
    }

    pub fn head_sha(mut self, sha: &str) -> Self {
        self.head_sha = Some(sha.into());
        self
    }
}

/// A partial update of a PR (`FakeGithub::patch_pr`, `PATCH /_control/…/pulls/{n}`). Absent
/// fields are left alone; `reviewDecision: null` clears the decision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrPatch {
    pub title: Option<String>,
    /// Draft ↔ ready; a `DRAFT`/`CLEAN` merge state follows unless `mergeStateStatus` is given.
    pub draft: Option<bool>,
    #[serde(deserialize_with = "present")]
    #[allow(clippy::option_option, reason = "absent vs. explicit null")]
    pub review_decision: Option<Option<String>>,
    pub mergeable: Option<String>,
    pub merge_state_status: Option<String>,
    pub additions: Option<u64>,
    pub deletions: Option<u64>,
    pub changed_files: Option<u64>,
    pub base_ref: Option<String>,
    /// Bump `updated_at` even when nothing that GitHub stamps changed.
    pub touch: bool,
}

/// `Some(value)` for a present field, even when the value is `null`.
#[allow(clippy::option_option, reason = "absent vs. explicit null")]
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A change to a rate-limit bucket (`FakeGithub::set_rate`, `PUT /_control/rate/{resource}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RatePatch {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub used: Option<u64>,
    /// Unix seconds.
    pub reset: Option<i64>,
    /// Seconds from now (wins over `reset`).
    pub reset_in: Option<i64>,
}

/// Open, closed (not merged) or merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrStatus {
    Open,
    Closed,
    Merged,
}

/// One stored pull request. Public so tests can edit anything through
/// `FakeGithub::update_pr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pull {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub author: String,
    pub author_is_bot: bool,
    pub head_ref: String,
    /// `owner/name` of the head repository (= base repo unless a fork).
    pub head_repo: String,
    pub head_sha: String,
    /// Head SHAs in push order (GraphQL `commits`).
    pub commits: Vec<String>,
    pub base_ref: String,
    pub base_sha: String,
    pub draft: bool,
    pub status: PrStatus,
    pub mergeable: String,
    pub merge_state_status: String,
    pub review_decision: Option<String>,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub merged_at: Option<i64>,
    pub merge_commit_sha: Option<String>,
    /// Oldest first.
    pub threads: Vec<Thread>,
}

/// One review thread (oldest comment first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// GraphQL node id (`PRRT_…`).
    pub id: String,
    pub resolved: bool,
    pub path: String,
    pub line: Option<u64>,
    pub comments: Vec<Comment>,
}

/// One review comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    /// GraphQL node id (`PRRC_…`).
    pub id: String,
    pub database_id: u64,
    pub author: String,
    pub bot: bool,
    pub body: String,
    pub created_at: i64,
}

/// A comment to add (`FakeGithub::add_thread`, `FakeGithub::reply`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CommentSpec {
    pub author: String,
    /// The author is a GitHub App bot (`__typename: "Bot"`).
    pub bot: bool,
    pub body: String,
}

impl CommentSpec {
    /// A comment by a human user.
    pub fn user(login: &str, body: &str) -> Self {
        Self {
            author: login.into(),
            bot: false,
            body: body.into(),
        }
    }

    /// A comment by a bot (login conventionally ends in `[bot]`; GraphQL shows it without).
    pub fn bot(login: &str, body: &str) -> Self {
        Self {
            author: login.into(),
            bot: true,
            body: body.into(),
        }
    }
}

/// A review thread to add.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ThreadSpec {
    pub path: String,
    pub line: Option<u64>,
    pub resolved: bool,
    pub comments: Vec<CommentSpec>,
}

impl ThreadSpec {
    /// An unresolved thread on `path:line` with its first comment.
    pub fn new(path: &str, line: Option<u64>, first: CommentSpec) -> Self {
        Self {
            path: path.into(),
            line,
            resolved: false,
            comments: vec![first],
        }
    }

    /// Adds a reply.
    pub fn reply(mut self, c: CommentSpec) -> Self {
        self.comments.push(c);
        self
    }

    pub fn resolved(mut self, resolved: bool) -> Self {
        self.resolved = resolved;
        self
    }
}

/// Ids of an added thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadIds {
    pub thread_id: String,
    /// Node ids of its comments, in order.
    pub comment_ids: Vec<String>,
    pub comment_database_ids: Vec<u64>,
}

/// One repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub default_branch: String,
    /// Branch name → tip SHA.
    pub branches: BTreeMap<String, String>,
    pub pulls: BTreeMap<u64, Pull>,
    /// Commit SHA → checks, in the order they were set.
    pub checks: HashMap<String, Vec<Check>>,
    /// Commit SHA → a forced `statusCheckRollup.state` (instead of the derived one).
    pub rollup_override: HashMap<String, String>,
    /// Every SHA the repository knows (heads, bases, merge commits, checked commits).
    pub commits: std::collections::HashSet<String>,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn next_number(&self) -> u64 {
        self.pulls.keys().next_back().map_or(1, |n| n + 1)
    }

    /// The check with this database id on any commit.
    pub fn check_by_id(&self, id: u64) -> Option<&Check> {
        self.checks.values().flatten().find(|c| c.id == id)
    }
}

/// The authenticated user `GET /user` and GraphQL `viewer` return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    pub login: String,
    /// `X-OAuth-Scopes` value, e.g. `repo, read:org`.
    pub scopes: String,
}

/// The whole fake state.
#[derive(Debug)]
pub struct State {
    pub token: String,
    pub user: UserInfo,
    /// Keyed by lower-case `owner/name` (GitHub names are case-insensitive).
    pub repos: BTreeMap<String, Repo>,
    pub core: RateBucket,
    pub graphql: RateBucket,
    pub faults: HashMap<Route, VecDeque<Fault>>,
    pub stats: Stats,
    pub log: Vec<RecordedRequest>,
    /// Blob id → log text (what job-log redirects point at).
    pub blobs: HashMap<String, String>,
    last_ts: i64,
    next_id: u64,
}

/// Requests kept in the log (oldest dropped first).
pub const REQUEST_LOG_CAP: usize = 10_000;

/// Unix seconds now.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// ISO-8601 UTC (`2026-07-01T09:00:00Z`), as GitHub formats timestamps.
pub fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn key(owner: &str, name: &str) -> String {
    format!(
        "{}/{}",
        owner.to_ascii_lowercase(),
        name.to_ascii_lowercase()
    )
}

impl State {
    pub fn new(token: String) -> Self {
        let now = unix_now();
        Self {
            token,
            user: UserInfo {
                login: "fake-user".into(),
                scopes: "repo, read:org".into(),
            },
            repos: BTreeMap::new(),
            core: RateBucket::fresh(now),
            graphql: RateBucket::fresh(now),
            faults: HashMap::new(),
            stats: Stats::default(),
            log: Vec::new(),
            blobs: HashMap::new(),
            last_ts: now,
            next_id: 1000,
        }
    }

    /// A strictly increasing timestamp for a mutation.
    pub fn tick(&mut self) -> i64 {
        self.last_ts = unix_now().max(self.last_ts + 1);
        self.last_ts
    }

    /// A fresh database id.
    pub fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh 40-hex commit SHA.
    pub fn sha(&mut self) -> String {
        let n = self.id();
        sha256_hex(format!("fake-github-commit-{n}").as_bytes())[..40].to_string()
    }

    pub fn bucket(&mut self, r: Resource) -> &mut RateBucket {
        match r {
            Resource::Core => &mut self.core,
            Resource::Graphql => &mut self.graphql,
        }
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&key(owner, name))
    }

    fn repo_mut(&mut self, owner: &str, name: &str) -> Result<&mut Repo, ControlError> {
        self.repos
            .get_mut(&key(owner, name))
            .ok_or_else(|| ControlError::UnknownRepo(format!("{owner}/{name}")))
    }

    /// Creates the repository (idempotent) with a `main` branch at a generated SHA.
    pub fn create_repo(&mut self, owner: &str, name: &str) -> Result<(), ControlError> {
        valid_name(owner)?;
        valid_name(name)?;
        if self.repo(owner, name).is_some() {
            return Ok(());
        }
        let id = self.id();
        let sha = self.sha();
        let mut repo = Repo {
            owner: owner.into(),
            name: name.into(),
            id,
            default_branch: "main".into(),
            branches: BTreeMap::new(),
            pulls: BTreeMap::new(),
            checks: HashMap::new(),
            rollup_override: HashMap::new(),
            commits: std::collections::HashSet::new(),
        };
        repo.commits.insert(sha.clone());
        repo.branches.insert("main".into(), sha);
        self.repos.insert(key(owner, name), repo);
        Ok(())
    }

    pub fn pull(&self, pr: &PrRef) -> Result<&Pull, ControlError> {
        self.repo(&pr.owner, &pr.repo)
            .ok_or_else(|| ControlError::UnknownRepo(pr.full_name()))?
            .pulls
            .get(&pr.number)
            .ok_or_else(|| ControlError::UnknownPr(pr.full_name(), pr.number))
    }

    pub fn pull_mut(&mut self, pr: &PrRef) -> Result<&mut Pull, ControlError> {
        self.repo_mut(&pr.owner, &pr.repo)?
            .pulls
            .get_mut(&pr.number)
            .ok_or_else(|| ControlError::UnknownPr(pr.full_name(), pr.number))
    }

    /// Opens a PR (creating the repository when needed).
    pub fn open_pr(
        &mut self,
        owner: &str,
        name: &str,
        spec: PrSpec,
    ) -> Result<PrRef, ControlError> {
        if spec.head_ref.is_empty() {
            return Err(ControlError::Invalid("headRef must not be empty".into()));
        }
        self.create_repo(owner, name)?;
        let now = self.tick();
        let id = self.id();
        let head_sha = match spec.head_sha {
            Some(s) => s,
            None => self.sha(),
        };
        let new_base = self.sha();
        let repo = self.repo_mut(owner, name)?;
        let number = spec.number.unwrap_or_else(|| repo.next_number());
        if number == 0 {
            return Err(ControlError::Invalid("PR numbers start at 1".into()));
        }
        if repo.pulls.contains_key(&number) {
            return Err(ControlError::PrExists(repo.full_name(), number));
        }
        let base_sha = repo
            .branches
            .entry(spec.base_ref.clone())
            .or_insert(new_base)
            .clone();
        repo.commits.insert(base_sha.clone());
        repo.commits.insert(head_sha.clone());
        let merge_state_status = spec.merge_state_status.unwrap_or_else(|| {
            if spec.draft {
                "DRAFT".into()
            } else {
                "CLEAN".into()
            }
        });
        let title = if spec.title.is_empty() {
            format!("Changes from {}", spec.head_ref)
        } else {
            spec.title
        };
        let pull = Pull {
            number,
            id,
            title,
            author: spec.author,
            author_is_bot: spec.author_is_bot,
            head_ref: spec.head_ref,
            head_repo: spec.head_repo.unwrap_or_else(|| repo.full_name()),
            head_sha: head_sha.clone(),
            commits: vec![head_sha],
            base_ref: spec.base_ref,
            base_sha,
            draft: spec.draft,
            status: PrStatus::Open,
            mergeable: spec.mergeable,
            merge_state_status,
            review_decision: spec.review_decision,
            additions: spec.additions,
            deletions: spec.deletions,
            changed_files: spec.changed_files,
            created_at: now,
            updated_at: now,
            closed_at: None,
            merged_at: None,
            merge_commit_sha: None,
            threads: Vec::new(),
        };
        repo.pulls.insert(number, pull);
        Ok(PrRef {
            owner: repo.owner.clone(),
            repo: repo.name.clone(),
            number,
        })
    }

    /// Pushes `sha` (or a generated one) to the PR's head; returns the new head SHA.
    pub fn push(&mut self, pr: &PrRef, sha: Option<String>) -> Result<String, ControlError> {
        self.pull(pr)?;
        let sha = match sha {
            Some(s) => s,
            None => self.sha(),
        };
        let now = self.tick();
        let repo = self.repo_mut(&pr.owner, &pr.repo)?;
        repo.commits.insert(sha.clone());
        let pull = repo
            .pulls
            .get_mut(&pr.number)
            .ok_or_else(|| ControlError::UnknownPr(pr.full_name(), pr.number))?;
        pull.head_sha.clone_from(&sha);
        pull.commits.push(sha.clone());
        pull.updated_at = now;
        Ok(sha)
    }

    /// Moves a branch tip (or creates it); open PRs based on it get the new `baseRefOid`.
    pub fn push_branch(
        &mut self,
        owner: &str,
        name: &str,
        branch: &str,
        sha: Option<String>,
    ) -> Result<String, ControlError> {
        self.repo_mut(owner, name)?;
        let sha = match sha {
            Some(s) => s,
            None => self.sha(),
        };
        let repo = self.repo_mut(owner, name)?;
        repo.commits.insert(sha.clone());
        repo.branches.insert(branch.into(), sha.clone());
        for p in repo.pulls.values_mut() {
            if p.status == PrStatus::Open && p.base_ref == branch {
                p.base_sha.clone_from(&sha);
            }
        }
        Ok(sha)
    }

    /// Replaces the checks of a commit. A check run keeps the database id of the same-named
    /// run already on the commit unless its spec names a `job_id`.
    pub fn set_checks(
        &mut self,
        owner: &str,
        name: &str,
        sha: &str,
        specs: Vec<CheckSpec>,
    ) -> Result<(), ControlError> {
        for s in &specs {
            if s.name.is_empty() {
                return Err(ControlError::Invalid("a check needs a name".into()));
            }
        }
        let now = self.tick();
        let old = self
            .repo_mut(owner, name)?
            .checks
            .get(sha)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let prev = old
                .iter()
                .find(|c| c.spec.kind == spec.kind && c.spec.name == spec.name);
            let id = match (spec.job_id, prev) {
                (Some(id), _) => id,
                (None, Some(p)) => p.id,
                (None, None) => self.id(),
            };
            let created_at = prev.filter(|p| p.id == id).map_or(now, |p| p.created_at);
            out.push(Check {
                spec,
                id,
                created_at,
            });
        }
        let repo = self.repo_mut(owner, name)?;
        repo.commits.insert(sha.into());
        repo.checks.insert(sha.into(), out);
        Ok(())
    }

    /// Adds a review thread; bumps `updated_at`.
    pub fn add_thread(&mut self, pr: &PrRef, spec: ThreadSpec) -> Result<ThreadIds, ControlError> {
        self.pull(pr)?;
        if spec.comments.is_empty() {
            return Err(ControlError::Invalid("a thread needs a comment".into()));
        }
        let tid = self.id();
        let mut comments = Vec::new();
        for c in spec.comments {
            comments.push(self.comment(c));
        }
        let now = self.tick();
        let ids = ThreadIds {
            thread_id: format!("PRRT_kwDOfake{tid}"),
            comment_ids: comments.iter().map(|c| c.id.clone()).collect(),
            comment_database_ids: comments.iter().map(|c| c.database_id).collect(),
        };
        let pull = self.pull_mut(pr)?;
        pull.threads.push(Thread {
            id: ids.thread_id.clone(),
            resolved: spec.resolved,
            path: spec.path,
            line: spec.line,
            comments,
        });
        pull.updated_at = now;
        Ok(ids)
    }

    fn comment(&mut self, c: CommentSpec) -> Comment {
        let id = self.id();
        let at = self.tick();
        Comment {
            id: format!("PRRC_kwDOfake{id}"),
            database_id: id,
            author: c.author,
            bot: c.bot,
            body: c.body,
            created_at: at,
        }
    }

    fn thread_mut(&mut self, pr: &PrRef, thread_id: &str) -> Result<&mut Thread, ControlError> {
        self.pull_mut(pr)?
            .threads
            .iter_mut()
            .find(|t| t.id == thread_id)
            .ok_or_else(|| ControlError::UnknownThread(thread_id.into()))
    }

    /// Adds a reply to a thread; returns the comment's (node id, database id).
    pub fn reply(
        &mut self,
        pr: &PrRef,
        thread_id: &str,
        c: CommentSpec,
    ) -> Result<(String, u64), ControlError> {
        self.thread_mut(pr, thread_id)?;
        let comment = self.comment(c);
        let ids = (comment.id.clone(), comment.database_id);
        let now = self.tick();
        self.thread_mut(pr, thread_id)?.comments.push(comment);
        self.pull_mut(pr)?.updated_at = now;
        Ok(ids)
    }

    /// Resolves or unresolves a thread (does not bump `updated_at`).
    pub fn resolve(
        &mut self,
        pr: &PrRef,
        thread_id: &str,
        resolved: bool,
    ) -> Result<(), ControlError> {
        self.thread_mut(pr, thread_id)?.resolved = resolved;
        Ok(())
    }

    /// Merges an open PR: merge commit on the base branch, `MERGED`, timestamps.
    pub fn merge(&mut self, pr: &PrRef) -> Result<String, ControlError> {
        if self.pull(pr)?.status != PrStatus::Open {
            return Err(ControlError::Invalid(format!(
                "{}#{} is not open",
                pr.full_name(),
                pr.number
            )));
        }
        let sha = self.sha();
        let now = self.tick();
        let repo = self.repo_mut(&pr.owner, &pr.repo)?;
        repo.commits.insert(sha.clone());
        let base = {
            let p = repo
                .pulls
                .get_mut(&pr.number)
                .ok_or_else(|| ControlError::UnknownPr(pr.full_name(), pr.number))?;
            p.status = PrStatus::Merged;
            p.draft = false;
            p.merged_at = Some(now);
            p.closed_at = Some(now);
            p.updated_at = now;
            p.merge_commit_sha = Some(sha.clone());
            p.mergeable = "UNKNOWN".into();
            p.merge_state_status = "UNKNOWN".into();
            p.base_ref.clone()
        };
        repo.branches.insert(base, sha.clone());
        Ok(sha)
    }

    /// Closes an open PR without merging.
    pub fn close(&mut self, pr: &PrRef) -> Result<(), ControlError> {
        let now = self.tick();
        let p = self.pull_mut(pr)?;
        if p.status == PrStatus::Merged {
            return Err(ControlError::Invalid("a merged PR cannot be closed".into()));
        }
        p.status = PrStatus::Closed;
        p.closed_at = Some(now);
        p.updated_at = now;
        Ok(())
    }

    /// Reopens a closed (not merged) PR.
    pub fn reopen(&mut self, pr: &PrRef) -> Result<(), ControlError> {
        let now = self.tick();
        let p = self.pull_mut(pr)?;
        if p.status != PrStatus::Closed {
            return Err(ControlError::Invalid(
                "only a closed PR can be reopened".into(),
            ));
        }
        p.status = PrStatus::Open;
        p.closed_at = None;
        p.updated_at = now;
        Ok(())
    }

    /// Applies a [`PrPatch`]. Title, draft and review-decision changes bump `updated_at`
    /// (like the corresponding GitHub events); mergeability and diff stats do not.
    pub fn patch_pr(&mut self, pr: &PrRef, patch: PrPatch) -> Result<(), ControlError> {
        self.pull(pr)?;
        let now = self.tick();
        let tip = patch.base_ref.as_ref().and_then(|b| {
            self.repo(&pr.owner, &pr.repo)
                .and_then(|r| r.branches.get(b).cloned())
        });
        let p = self.pull_mut(pr)?;
        let mut stamped = patch.touch;
        if let Some(t) = patch.title {
            stamped |= t != p.title;
            p.title = t;
        }
        if let Some(d) = patch.draft {
            if d != p.draft && patch.merge_state_status.is_none() {
                if d && p.merge_state_status == "CLEAN" {
                    p.merge_state_status = "DRAFT".into();
                } else if !d && p.merge_state_status == "DRAFT" {
                    p.merge_state_status = "CLEAN".into();
                }
            }
            stamped |= d != p.draft;
            p.draft = d;
        }
        if let Some(rd) = patch.review_decision {
            stamped |= rd != p.review_decision;
            p.review_decision = rd;
        }
        if let Some(m) = patch.mergeable {
            p.mergeable = m;
        }
        if let Some(m) = patch.merge_state_status {
            p.merge_state_status = m;
        }
        if let Some(b) = patch.base_ref {
            stamped |= b != p.base_ref;
            p.base_ref = b;
            if let Some(t) = tip {
                p.base_sha = t;
            }
        }
        p.additions = patch.additions.unwrap_or(p.additions);
        p.deletions = patch.deletions.unwrap_or(p.deletions);
        p.changed_files = patch.changed_files.unwrap_or(p.changed_files);
        if stamped {
            p.updated_at = now;
        }
        Ok(())
    }

    /// Applies a [`RatePatch`] and returns the bucket.
    pub fn set_rate(&mut self, r: Resource, patch: RatePatch) -> RateBucket {
        let now = unix_now();
        let b = self.bucket(r);
        if let Some(l) = patch.limit {
            b.limit = l;
        }
        if let Some(x) = patch.remaining {
            b.remaining = x;
            if patch.used.is_none() {
                b.used = b.limit.saturating_sub(x);
            }
        }
        if let Some(u) = patch.used {
            b.used = u;
        }
        if let Some(t) = patch.reset {
            b.reset = t;
        }
        if let Some(s) = patch.reset_in {
            b.reset = now + s;
        }
        *b
    }

    /// Forces (`Some`) or un-forces (`None`) the `statusCheckRollup.state` of a commit.
    pub fn set_rollup_state(
        &mut self,
        owner: &str,
        name: &str,
        sha: &str,
        state: Option<String>,
    ) -> Result<(), ControlError> {
        let repo = self.repo_mut(owner, name)?;
        match state {
            Some(s) => {
                repo.rollup_override.insert(sha.into(), s);
            }
            None => {
                repo.rollup_override.remove(sha);
            }
        }
        Ok(())
    }

    /// Pops the next scripted fault of a route.
    pub fn take_fault(&mut self, route: Route) -> Option<Fault> {
        let q = self.faults.get_mut(&route)?;
        let f = q.pop_front();
        if q.is_empty() {
            self.faults.remove(&route);
        }
        f
    }

    pub fn record(&mut self, r: RecordedRequest) {
        if self.log.len() >= REQUEST_LOG_CAP {
            self.log.remove(0);
        }
        self.log.push(r);
    }
}

fn valid_name(s: &str) -> Result<(), ControlError> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "bad owner or repository name {s:?}"
        )))
    }
}
