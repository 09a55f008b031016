//! Request and response bodies of the HTTP API (http-api.md), the run-file, and the change
//! event. Field names are camelCase on the wire; every documented field is always present
//! (`Option` fields serialise as `null`).
//!
//! Request bodies are decoded strictly (`deny_unknown_fields`): an unknown key is a client
//! error, never silently dropped.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::enums::{
    ActivityState, CheckStatus, CiState, DisplayStatus, EventType, GithubState, Harness,
    Mergeability, NudgeKind, PrState, ProjectHealth, ReviewDecision, RuntimeKind, SessionKind,
    TerminatedReason,
};
use crate::ids::{ProjectId, SessionId};

/// Route paths (http-api.md). Both the daemon's router and the CLI's client use these.
pub mod routes {
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const SHUTDOWN: &str = "/shutdown";
    pub const API_PREFIX: &str = "/api/v1";
    pub const STATUS: &str = "/api/v1/status";
    pub const OPENAPI: &str = "/api/v1/openapi.json";
    pub const PROJECTS: &str = "/api/v1/projects";
    pub const PROJECT: &str = "/api/v1/projects/{projectId}";
    pub const PROJECT_CONFIG: &str = "/api/v1/projects/{projectId}/config";
    pub const EVENTS: &str = "/api/v1/events";
    pub const EVENTS_LOG: &str = "/api/v1/events/log";
    pub const SESSIONS: &str = "/api/v1/sessions";
    pub const SESSIONS_CLEANUP: &str = "/api/v1/sessions/cleanup";
    pub const SESSION: &str = "/api/v1/sessions/{sessionId}";
    pub const SESSION_KILL: &str = "/api/v1/sessions/{sessionId}/kill";
    pub const SESSION_RESTORE: &str = "/api/v1/sessions/{sessionId}/restore";
    pub const SESSION_ROLLBACK: &str = "/api/v1/sessions/{sessionId}/rollback";
    pub const SESSION_SEND: &str = "/api/v1/sessions/{sessionId}/send";
    pub const SESSION_ACTIVITY: &str = "/api/v1/sessions/{sessionId}/activity";
    pub const SESSION_ATTACH: &str = "/api/v1/sessions/{sessionId}/attach";
    pub const SESSION_PR: &str = "/api/v1/sessions/{sessionId}/pr";
    pub const SESSION_PR_CLAIM: &str = "/api/v1/sessions/{sessionId}/pr/claim";
    pub const ORCHESTRATORS: &str = "/api/v1/orchestrators";
    pub const ORCHESTRATOR: &str = "/api/v1/orchestrators/{sessionId}";

    /// `path` with its single `{…}` parameter replaced by `value`.
    pub fn with_param(path: &str, value: &str) -> String {
        match (path.find('{'), path.find('}')) {
            (Some(a), Some(b)) if a < b => format!("{}{value}{}", &path[..a], &path[b + 1..]),
            _ => path.to_string(),
        }
    }
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub status: String,
    pub service: String,
    pub pid: u32,
    pub version: String,
    pub started_at: String,
}

/// `GET /readyz` (200 and 503 alike) and `POST /shutdown` (202).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    /// `ready`, `starting` or `shutting_down`.
    pub status: String,
    pub service: String,
    pub pid: u32,
}

/// One rate-limit window of the GitHub budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateWindow {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    pub reset_at: Option<String>,
}

/// `github` in `GET /api/v1/status` (scm.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GithubStatus {
    pub state: GithubState,
    /// `AO_GITHUB_TOKEN`, `GITHUB_TOKEN`, `gh`, or null without a token.
    pub token_source: Option<String>,
    pub poll_interval_seconds: u64,
    pub last_poll_at: Option<String>,
    pub backoff_until: Option<String>,
    pub last_error: Option<String>,
    pub rest: Option<RateWindow>,
    pub graphql: Option<RateWindow>,
}

/// Session counts in the status body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionCounts {
    pub live: u64,
    pub terminated: u64,
}

/// `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStatus {
    pub pid: u32,
    pub port: u16,
    pub version: String,
    pub started_at: String,
    pub uptime_seconds: u64,
    pub home: String,
    pub data_dir: String,
    pub runtime: RuntimeKind,
    pub tmux_socket: String,
    pub sessions: SessionCounts,
    pub projects: u64,
    pub head_seq: i64,
    pub github: GithubStatus,
}

/// A registered project (http-api.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[schema(value_type = String)]
    pub id: ProjectId,
    pub name: String,
    pub path: String,
    /// The origin URL, or null when the repo has no origin.
    pub repo: Option<String>,
    pub default_branch: String,
    pub session_prefix: String,
    pub runtime: RuntimeKind,
    pub registered_at: String,
    pub health: ProjectHealth,
    pub problem: Option<String>,
    /// The config as stored; `{}` when empty.
    #[schema(value_type = Object)]
    pub config: Value,
}

/// `GET /api/v1/projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// `{project}` responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProjectEnvelope {
    pub project: Project,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddProjectRequest {
    /// Required (a missing or blank path is 400 `PATH_REQUIRED`); optional here only so that
    /// the handler can answer that code.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub path: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// A `ProjectConfig`, validated strictly.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// `PUT` (whole config) and `PATCH` (RFC 7386 merge patch) of `/projects/{id}/config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigRequest {
    /// PUT: the whole `ProjectConfig`; PATCH: an RFC 7386 merge patch. `null` counts as `{}`
    /// (PUT clears the config; a `null` merge patch replaces the config with `null`, which
    /// clears it too).
    #[schema(value_type = Option<Object>, required = true)]
    pub config: Value,
}

/// A session that an operation left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSession {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub reason: String,
}

/// `DELETE /api/v1/projects/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoveProjectResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    #[schema(value_type = Vec<String>)]
    pub killed: Vec<SessionId>,
    pub skipped: Vec<SkippedSession>,
}

/// `Session.activity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionActivity {
    pub state: ActivityState,
    pub last_activity_at: String,
    pub first_signal_at: Option<String>,
}

/// `Session.runtime`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRuntime {
    pub kind: RuntimeKind,
    /// The multiplexer session name; null when none.
    pub handle_id: Option<String>,
}

/// The short PR view embedded in sessions (http-api.md §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrBrief {
    pub url: String,
    pub number: u64,
    pub title: String,
    pub state: PrState,
    pub ci: CiState,
    pub review: ReviewDecision,
    pub mergeability: Mergeability,
    /// An unresolved non-bot review comment exists.
    pub review_comments: bool,
    pub updated_at: String,
}

/// A session (http-api.md §7). The stored prompt and launch command are never serialised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[schema(value_type = String)]
    pub id: SessionId,
    #[schema(value_type = String)]
    pub project_id: ProjectId,
    pub num: u32,
    pub kind: SessionKind,
    /// Harness id; a string so that rows written by a newer version still read.
    pub harness: String,
    pub display_name: Option<String>,
    pub issue_id: Option<String>,
    pub branch: Option<String>,
    pub workspace_path: Option<String>,
    pub status: DisplayStatus,
    pub activity: SessionActivity,
    pub is_terminated: bool,
    pub terminated_at: Option<String>,
    pub terminated_reason: Option<TerminatedReason>,
    pub exit_code: Option<i64>,
    pub restarts: u32,
    pub runtime: SessionRuntime,
    pub agent_session_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub prs: Vec<PrBrief>,
}

impl Session {
    /// The harness as a known enum value, when it is one.
    pub fn harness_kind(&self) -> Option<Harness> {
        self.harness.parse().ok()
    }
}

/// `GET /api/v1/sessions`, `GET /api/v1/orchestrators`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// `{session}` responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionEnvelope {
    pub session: Session,
}

/// One `change_log` row: the SSE `data` object and the `/events/log` element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeEvent {
    pub seq: i64,
    pub project_id: String,
    /// Null for project events.
    pub session_id: Option<String>,
    /// The event type; see [`EventType`] for the vocabulary this version produces.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
}

impl ChangeEvent {
    /// The event type as a known enum value, when it is one.
    pub fn known_type(&self) -> Option<EventType> {
        self.event_type.parse().ok()
    }
}

/// `GET /api/v1/events/log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLog {
    pub events: Vec<ChangeEvent>,
    pub head_seq: i64,
}

/// The `data` of an SSE `resync` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resync {
    pub oldest_seq: i64,
    pub head_seq: i64,
}

/// `running.json` (README §4.1): the handshake between the daemon and its clients.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFile {
    pub pid: u32,
    pub port: u16,
    /// 64 lowercase hex chars; never logged (see the `Debug` impl).
    pub token: String,
    pub started_at: String,
    pub version: String,
    pub home: String,
    pub data_dir: String,
}

impl std::fmt::Debug for RunFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunFile")
            .field("pid", &self.pid)
            .field("port", &self.port)
            .field("token", &"<redacted>")
            .field("started_at", &self.started_at)
            .field("version", &self.version)
            .field("home", &self.home)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_values_are_null_not_omitted() {
        let p = Project {
            id: ProjectId::new("demo").expect("valid"),
            name: "demo".into(),
            path: "/r".into(),
            repo: None,
            default_branch: "main".into(),
            session_prefix: "demo".into(),
            runtime: RuntimeKind::Tmux,
            registered_at: "2026-07-01T09:00:00.000Z".into(),
            health: ProjectHealth::Ok,
            problem: None,
            config: json!({}),
        };
        let v = serde_json::to_value(&p).expect("serialises");
        assert_eq!(v["repo"], Value::Null);
        assert_eq!(v["problem"], Value::Null);
        assert_eq!(v["defaultBranch"], "main");
        assert_eq!(v["registeredAt"], "2026-07-01T09:00:00.000Z");
    }

    #[test]
    fn requests_reject_unknown_fields() {
        assert!(
            serde_json::from_value::<AddProjectRequest>(json!({"path": "/x", "bogus": 1})).is_err()
        );
        let ok: AddProjectRequest =
            serde_json::from_value(json!({"path": "/x", "projectId": "p"})).expect("valid");
        assert_eq!(ok.project_id.as_deref(), Some("p"));
        assert!(serde_json::from_value::<ConfigRequest>(json!({"config": {}, "x": 1})).is_err());
    }

    #[test]
    fn change_event_uses_type_on_the_wire() {
        let e = ChangeEvent {
            seq: 7,
            project_id: "demo".into(),
            session_id: None,
            event_type: "project_created".into(),
            payload: json!({"id": "demo"}),
            created_at: "2026-07-01T09:00:00.000Z".into(),
        };
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(
            v,
            json!({"seq": 7, "projectId": "demo", "sessionId": null, "type": "project_created",
            "payload": {"id": "demo"}, "createdAt": "2026-07-01T09:00:00.000Z"})
        );
        assert_eq!(e.known_type(), Some(EventType::ProjectCreated));
    }

    #[test]
    fn run_file_debug_hides_the_token() {
        let r = RunFile {
            pid: 1,
            port: 2,
            token: "secret".into(),
            started_at: String::new(),
            version: String::new(),
            home: String::new(),
            data_dir: String::new(),
        };
        assert!(!format!("{r:?}").contains("secret"));
    }
}

/// `claimPr` of a spawn request (scm.md §11; honoured by the SCM milestone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimPrRequest {
    #[serde(default)]
    pub pr: Option<String>,
    #[serde(default)]
    pub allow_takeover: Option<bool>,
}

/// `POST /api/v1/sessions` (http-api.md §7.2). Enumerated fields are strings so that a bad word
/// gets its own error code (`INVALID_KIND`, `UNKNOWN_HARNESS`) rather than `INVALID_JSON`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpawnRequest {
    /// Required (missing or blank is 400 `PROJECT_ID_REQUIRED`); optional here only so that
    /// the handler can answer that code.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub project_id: Option<String>,
    /// `worker` (default) or `orchestrator`.
    #[serde(default)]
    #[schema(value_type = Option<SessionKind>)]
    pub kind: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Harness>)]
    pub harness: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub issue_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub claim_pr: Option<ClaimPrRequest>,
}

/// `201` of `POST /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SpawnResponse {
    pub session: Session,
    /// The claim result when `claimPr` was given, else null.
    pub claim: Option<ClaimResult>,
}

/// `POST /api/v1/sessions/{id}/pr/claim` (scm.md §11). `pr` is a PR reference: a PR URL,
/// `owner/repo#n`, `#n` or `n`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRequest {
    #[serde(default)]
    pub pr: Option<String>,
    /// Take the PR over from another live session (default true).
    #[serde(default)]
    pub allow_takeover: Option<bool>,
}

/// What the claim did to the session's worktree (scm.md §11 "Checkout").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimCheckout {
    Switched,
    AlreadyOnBranch,
    SkippedDirty,
    SkippedBranchInUse,
    Failed,
}

/// `ClaimResult` (http-api.md §7.5): the `200` of a claim and `claim` of a spawn with `claimPr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResult {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    /// The session's PRs, the claimed PR first.
    pub prs: Vec<PrBrief>,
    /// The previous owner when it was another session (live or not).
    #[schema(value_type = Vec<String>)]
    pub taken_over_from: Vec<SessionId>,
    pub branch_changed: bool,
    pub checkout: ClaimCheckout,
    pub checkout_error: Option<String>,
}

/// A failing check of an open PR's head commit (`PrSummary.ci.failingChecks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailingCheck {
    pub name: String,
    /// `failed` or `cancelled`.
    pub status: CheckStatus,
    /// The raw provider conclusion, e.g. `FAILURE`.
    pub conclusion: String,
    pub url: String,
}

/// `PrSummary.ci`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrCiSummary {
    pub state: CiState,
    pub failing_checks: Vec<FailingCheck>,
}

/// One unresolved review comment's location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReviewLink {
    pub url: String,
    pub file: String,
    pub line: Option<i64>,
}

/// Unresolved review comments of one (human) reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnresolvedBy {
    pub reviewer: String,
    pub count: u64,
    pub links: Vec<ReviewLink>,
}

/// `PrSummary.review`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrReviewSummary {
    pub decision: ReviewDecision,
    pub has_unresolved_human_comments: bool,
    pub unresolved_by: Vec<UnresolvedBy>,
}

/// `PrSummary.mergeability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrMergeabilitySummary {
    pub state: Mergeability,
    pub reasons: Vec<String>,
}

/// The last nudge sent about a PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastNudgeView {
    pub at: String,
    pub kind: NudgeKind,
    pub key: String,
}

/// One PR of `GET /sessions/{id}/pr` (scm.md §12). Log tails and comment bodies are never
/// included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrSummary {
    pub url: String,
    pub html_url: String,
    pub number: u64,
    pub title: String,
    pub state: PrState,
    /// `github`.
    pub provider: String,
    /// Base repository `owner/name`.
    pub repo: String,
    pub author: String,
    pub source_branch: String,
    pub target_branch: String,
    pub head_sha: String,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
    pub ci: PrCiSummary,
    pub review: PrReviewSummary,
    pub mergeability: PrMergeabilitySummary,
    /// Null when the PR was never nudged.
    pub last_nudge: Option<LastNudgeView>,
    pub updated_at: String,
    pub observed_at: Option<String>,
    pub ci_observed_at: Option<String>,
    pub review_observed_at: Option<String>,
}

/// `GET /api/v1/sessions/{id}/pr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrSummaryList {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub prs: Vec<PrSummary>,
}

/// `POST /api/v1/orchestrators`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrchestratorRequest {
    /// Required (missing or blank is 400 `PROJECT_ID_REQUIRED`); optional here only so that
    /// the handler can answer that code.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub clean: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Harness>)]
    pub harness: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
}

/// `PATCH /api/v1/sessions/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenameRequest {
    #[serde(default)]
    pub display_name: Option<String>,
}

/// `200` of a rename.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenameResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub display_name: String,
}

/// `200` of `POST /sessions/{id}/kill`; `freed:false` means the dirty workspace was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KillResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub freed: bool,
}

/// `200` of `POST /sessions/{id}/restore`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestoreResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub session: Session,
}

/// `200` of `POST /sessions/{id}/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub deleted: bool,
    pub killed: bool,
}

/// `200` of `POST /sessions/cleanup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CleanupResponse {
    pub ok: bool,
    #[schema(value_type = Vec<String>)]
    pub cleaned: Vec<SessionId>,
    pub skipped: Vec<SkippedSession>,
}

/// `POST /sessions/{id}/send`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendRequest {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub when_idle: Option<bool>,
}

/// How a sent message was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Sent,
    Queued,
}

/// `200` of a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    /// The sanitised message.
    pub message: String,
    pub delivery: Delivery,
}

/// `POST /sessions/{id}/activity` (the hook callback, http-api.md §7.4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivityRequest {
    /// An `ActivityState` word (a string so a bad word is `INVALID_ACTIVITY_STATE`).
    #[serde(default)]
    #[schema(value_type = Option<ActivityState>)]
    pub state: Option<String>,
    #[serde(default)]
    pub agent_session_id: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
}

/// `200` of an activity callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityResponse {
    pub ok: bool,
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub state: ActivityState,
    pub changed: bool,
}

/// `GET /sessions/{id}/attach`: the argv the CLI execs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachResponse {
    #[schema(value_type = String)]
    pub session_id: SessionId,
    pub runtime: RuntimeKind,
    pub argv: Vec<String>,
    pub env: std::collections::BTreeMap<String, String>,
}

/// `ao session ls --json`: the API list plus the count of hidden terminated sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionListing {
    pub sessions: Vec<Session>,
    pub hidden_terminated_count: u64,
}

#[cfg(test)]
mod session_dto_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spawn_request_is_strict_and_camel_case() {
        let r: SpawnRequest = serde_json::from_value(json!({"projectId": "p", "kind": "worker",
            "harness": "claude-code", "issueId": "I-1", "displayName": "x", "claimPr": {"pr": "1"}}))
            .expect("valid");
        assert_eq!(r.issue_id.as_deref(), Some("I-1"));
        assert!(
            serde_json::from_value::<SpawnRequest>(json!({"projectId": "p", "agent": "x"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<SendRequest>(
                json!({"message": "m", "whenIdle": true, "x": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn delivery_words() {
        assert_eq!(
            serde_json::to_value(Delivery::Queued).expect("serialises"),
            json!("queued")
        );
    }

    #[test]
    fn route_params() {
        assert_eq!(
            routes::with_param(routes::SESSION_KILL, "p-1"),
            "/api/v1/sessions/p-1/kill"
        );
        assert_eq!(
            routes::with_param(routes::SESSIONS, "x"),
            "/api/v1/sessions"
        );
    }
}
