//! Session routes (http-api.md §7, except the PR routes of the SCM milestone).
//!
//! Reads (`GET /sessions`, `GET /sessions/{id}`, `GET …/attach`) go to the store and build the
//! `Session` view ([`views::session`]) with the PRs of `prs_of_sessions`. Commands validate what
//! the HTTP layer owns (for spawn, steps 1–4 of §7.2: `PROJECT_ID_REQUIRED`,
//! `PROJECT_NOT_FOUND` with archived projects included, `INVALID_KIND`, the field limits of
//! `ao_protocol::limits`), make exactly one `SessionsHandle` call, and re-read the row for the
//! response. Harness, agent binary and orchestrator checks (§7.2 steps 5–9) happen in the
//! actor, before any durable write.
//!
//! A spawn with `claimPr` passes the claim to the actor (`SpawnCommand.claim`), which checks
//! the claim preconditions after its own (§7.2 step 10) and rolls the spawn back when the
//! claim fails; `claim` in the 201 body is then the `ClaimResult` (http-api.md §7.5). The PR
//! routes themselves live in [`super::prs`].
//!
//! A `{sessionId}` that can never be a session id answers 404 `SESSION_NOT_FOUND`.

use std::collections::HashMap;

use ao_protocol::limits::{
    EVENT_MAX_CHARS, check_agent_session_id, check_branch, check_command, check_display_name,
    check_issue_id, check_message, check_prompt,
};
use ao_protocol::{
    ActivityRequest, ActivityResponse, ActivityState, AttachResponse, ClaimCheckout, ClaimResult,
    CleanupResponse, ErrorBody, ErrorCode, Harness, KillResponse, ProjectId, RenameRequest,
    RenameResponse, RestoreResponse, RollbackResponse, SendRequest, SendResponse, Session,
    SessionEnvelope, SessionId, SessionKind, SessionList, SpawnRequest, SpawnResponse,
};
use ao_store::{PrRow, SessionFilter, SessionRow};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::{prs, read};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, NoBody, SessionIdPath};
use crate::http::state::AppState;
use crate::http::views;
use ao_actors::SpawnCommand;
use ao_actors::sessions::ClaimSpec;

/// A limit failure as an API error.
fn field(e: ao_protocol::limits::FieldError) -> ApiError {
    ApiError::new(e.code, e.message)
}

/// The session id of a path segment; one that cannot be valid names no session.
pub(super) fn path_id(raw: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(raw).map_err(|_| ApiError::session_not_found(raw))
}

/// Builds the views of `rows` (their PRs read in the same blocking task).
fn views_of(
    r: &ao_store::ReadPool,
    rows: &[SessionRow],
) -> Result<Vec<Session>, ao_store::StoreError> {
    let ids: Vec<SessionId> = rows.iter().map(|row| row.id.clone()).collect();
    let mut prs: HashMap<SessionId, Vec<PrRow>> = r.prs_of_sessions(&ids)?;
    let now = chrono::Utc::now();
    Ok(rows
        .iter()
        .map(|row| {
            let of = prs.remove(&row.id).unwrap_or_default();
            views::session(row, &of, now)
        })
        .collect())
}

/// The sessions matching `filter`, sorted by project id then num.
pub(super) async fn list_views(
    app: &AppState,
    filter: SessionFilter,
) -> Result<Vec<Session>, ApiError> {
    read(app, move |r| {
        let rows = r.list_sessions(&filter)?;
        views_of(r, &rows)
    })
    .await
}

/// One session's view, or `None` when it does not exist.
pub(super) async fn find_view(app: &AppState, id: &SessionId) -> Result<Option<Session>, ApiError> {
    let id = id.clone();
    read(app, move |r| match r.get_session(&id)? {
        None => Ok(None),
        Some(row) => Ok(views_of(r, std::slice::from_ref(&row))?.pop()),
    })
    .await
}

/// One session's view, or 404 `SESSION_NOT_FOUND`.
pub(super) async fn view(app: &AppState, id: &SessionId) -> Result<Session, ApiError> {
    find_view(app, id)
        .await?
        .ok_or_else(|| ApiError::session_not_found(id.as_str()))
}

/// §7.2 steps 1–2: the project id is present and names a registered, non-archived project.
pub(super) async fn required_project(
    app: &AppState,
    raw: Option<&str>,
) -> Result<ProjectId, ApiError> {
    let raw = raw
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::ProjectIdRequired, "projectId is required"))?;
    let id = ProjectId::new(raw).map_err(|_| ApiError::project_not_found(raw))?;
    let lookup = id.clone();
    let live = read(app, move |r| {
        Ok(r.get_project(&lookup)?
            .is_some_and(|row| row.archived_at.is_none()))
    })
    .await?;
    if live {
        Ok(id)
    } else {
        Err(ApiError::project_not_found(raw))
    }
}

/// A harness word; an unknown word is 400 `UNKNOWN_HARNESS`.
pub(super) fn parse_harness(raw: Option<&str>) -> Result<Option<Harness>, ApiError> {
    raw.map(|h| {
        h.parse::<Harness>()
            .map_err(|_| ApiError::new(ErrorCode::UnknownHarness, format!("unknown harness {h:?}")))
    })
    .transpose()
}

/// An optional text field: absent and empty are the same.
fn given(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// `prompt` ≤ 16 KiB; empty means none.
pub(super) fn checked_prompt(prompt: Option<String>) -> Result<Option<String>, ApiError> {
    let prompt = given(prompt);
    if let Some(p) = &prompt {
        check_prompt(p).map_err(field)?;
    }
    Ok(prompt)
}

/// Query of `GET /sessions`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    project: Option<String>,
    kind: Option<String>,
    active: Option<String>,
}

fn invalid_query(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery, message)
}

/// A `project` filter value: it must be a valid project id.
pub(super) fn project_filter(raw: Option<&str>) -> Result<Option<ProjectId>, ApiError> {
    raw.map(|p| {
        ProjectId::new(p).map_err(|_| invalid_query(format!("project {p:?} is not a project id")))
    })
    .transpose()
}

impl ListQuery {
    fn filter(&self) -> Result<SessionFilter, ApiError> {
        let kind = self
            .kind
            .as_deref()
            .map(|k| {
                k.parse::<SessionKind>().map_err(|_| {
                    invalid_query(format!("kind must be worker or orchestrator, not {k:?}"))
                })
            })
            .transpose()?;
        let active = match self.active.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(invalid_query(format!(
                    "active must be true or false, not {other:?}"
                )));
            }
        };
        Ok(SessionFilter {
            project: project_filter(self.project.as_deref())?,
            kind,
            active,
        })
    }
}

/// Sessions, sorted by project id then num.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions",
    security(("bearer" = [])),
    params(
        ("project" = Option<String>, Query, description = "Only sessions of this project (a project id)", pattern = r"^[A-Za-z0-9](\.?[A-Za-z0-9_-])*\.?$", max_length = 64),
        ("kind" = Option<SessionKind>, Query, description = "`worker` or `orchestrator`"),
        ("active" = Option<bool>, Query, description = "`true`: live only; `false`: terminated only; absent: all"),
    ),
    responses(
        (status = 200, description = "Sessions sorted by projectId then num", body = SessionList),
        (status = 400, description = "`INVALID_QUERY`", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let filter = q.filter()?;
    Ok(Json(SessionList {
        sessions: list_views(&app, filter).await?,
    }))
}

/// One session.
#[utoipa::path(get, path = "/api/v1/sessions/{sessionId}", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionEnvelope),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
) -> Result<Json<SessionEnvelope>, ApiError> {
    let id = path_id(&raw)?;
    Ok(Json(SessionEnvelope {
        session: view(&app, &id).await?,
    }))
}

/// Spawns a session (a worker by default).
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    security(("bearer" = [])),
    request_body = SpawnRequest,
    responses(
        (status = 201, description = "Spawned; `claim` is null unless `claimPr` was given", body = SpawnResponse),
        (status = 400, description = "`PROJECT_ID_REQUIRED`, `INVALID_KIND`, `PROMPT_TOO_LONG`, `INVALID_ISSUE_ID`, `DISPLAY_NAME_REQUIRED`, `DISPLAY_NAME_TOO_LONG`, `INVALID_COMMAND`, `INVALID_BRANCH`, `AGENT_REQUIRED`, `UNKNOWN_HARNESS`, `COMMAND_REQUIRED`, `AGENT_BINARY_NOT_FOUND`, `BRANCH_NOT_FETCHED`, `PROJECT_NOT_RESOLVABLE`, `INVALID_JSON`; with `claimPr`: `PR_REQUIRED`, `INVALID_PR_REF`, `INVALID_BRANCH` (branch differs from the PR head ref)", body = ErrorBody),
        (status = 404, description = "`PROJECT_NOT_FOUND` (archived included); with `claimPr`: `PR_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`ORCHESTRATOR_ALREADY_RUNNING` (`details: {sessionId}`), `BRANCH_CHECKED_OUT_ELSEWHERE` (`details: {worktreePath}`); with `claimPr`: `PR_NOT_OPEN`, `PR_CLAIMED_BY_ACTIVE_SESSION` (`details: {ownerSessionId}`)", body = ErrorBody),
        (status = 422, description = "With `claimPr`: `SESSION_NOT_CLAIMABLE` (not a worker), `PR_PROJECT_MISMATCH`, `PR_FROM_FORK`", body = ErrorBody),
        (status = 500, description = "`PROVISION_FAILED`, `AGENT_EXITED_EARLY`, `RUNTIME_ERROR`, `WORKSPACE_ERROR`; the spawn was rolled back", body = ErrorBody),
        (status = 503, description = "With `claimPr`: `SCM_UNAVAILABLE` (no GitHub token, or GitHub could not be reached)", body = ErrorBody),
    ))]
pub async fn spawn(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<SpawnRequest>,
) -> Result<(StatusCode, Json<SpawnResponse>), ApiError> {
    let project_id = required_project(&app, req.project_id.as_deref()).await?;
    let kind = match req.kind.as_deref() {
        None => SessionKind::Worker,
        Some(k) => k.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidKind,
                format!("kind must be worker or orchestrator, not {k:?}"),
            )
        })?,
    };
    let prompt = checked_prompt(req.prompt)?;
    let issue_id = given(req.issue_id);
    if let Some(issue) = &issue_id {
        check_issue_id(issue).map_err(field)?;
    }
    let display_name = req
        .display_name
        .map(|n| check_display_name(&n).map_err(field))
        .transpose()?;
    let command = given(req.command);
    if let Some(c) = &command {
        check_command(c).map_err(field)?;
    }
    if let Some(b) = &req.branch {
        check_branch(b).map_err(field)?;
    }
    let harness = parse_harness(req.harness.as_deref())?;
    // The claim preconditions (scm.md §11) come last (§7.2 step 10): the actor checks them.
    let claim = req.claim_pr.map(|c| ClaimSpec {
        pr_ref: c.pr.unwrap_or_default(),
        allow_takeover: c.allow_takeover.unwrap_or(true),
    });
    let claimed = claim.is_some();
    let handles = app.handles()?;
    let id = handles
        .sessions
        .spawn(SpawnCommand {
            project_id,
            kind,
            harness,
            branch: req.branch,
            prompt,
            issue_id,
            display_name,
            command,
            claim,
        })
        .await?;
    let claim = if claimed {
        Some(spawn_claim_result(&app, id.clone()).await?)
    } else {
        None
    };
    Ok((
        StatusCode::CREATED,
        Json(SpawnResponse {
            session: view(&app, &id).await?,
            claim,
        }),
    ))
}

/// The `claim` of a spawn that claimed a PR. The new session owns only that PR (first in
/// `prs`); its worktree was created on the head ref (`already_on_branch`). `takenOverFrom` is
/// the `fromSession` of the session's `pr_session_changed` event (a PR that had no owner, or
/// whose owner row was gone, has none).
async fn spawn_claim_result(app: &AppState, id: SessionId) -> Result<ClaimResult, ApiError> {
    let prs = prs::briefs_with_first(app, &id, "").await?;
    let lookup = id.clone();
    let taken_over_from = read(app, move |r| {
        let events = r.read_changes(&ao_store::ChangeQuery {
            session: Some(lookup.to_string()),
            limit: 1000,
            ..ao_store::ChangeQuery::default()
        })?;
        Ok(events
            .iter()
            .filter(|e| e.event_type == "pr_session_changed")
            .filter_map(|e| e.payload.get("fromSession")?.as_str())
            .filter(|from| *from != lookup.as_str())
            .filter_map(|from| SessionId::parse(from).ok())
            .collect::<Vec<SessionId>>())
    })
    .await?;
    Ok(ClaimResult {
        ok: true,
        session_id: id,
        prs,
        taken_over_from,
        branch_changed: false,
        checkout: ClaimCheckout::AlreadyOnBranch,
        checkout_error: None,
    })
}

/// Renames a session (terminated sessions included).
#[utoipa::path(patch, path = "/api/v1/sessions/{sessionId}", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Renamed; `displayName` is the trimmed name", body = RenameResponse),
        (status = 400, description = "`DISPLAY_NAME_REQUIRED`, `DISPLAY_NAME_TOO_LONG`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn rename(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    ApiJson(req): ApiJson<RenameRequest>,
) -> Result<Json<RenameResponse>, ApiError> {
    let id = path_id(&raw)?;
    let name = check_display_name(req.display_name.as_deref().unwrap_or("")).map_err(field)?;
    let handles = app.handles()?;
    handles.sessions.rename(id.clone(), name.clone()).await?;
    Ok(Json(RenameResponse {
        ok: true,
        session_id: id,
        display_name: name,
    }))
}

/// Kills a session (idempotent: a terminated session is torn down again).
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/kill", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Killed; `freed:false` means the dirty workspace was kept", body = KillResponse),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`SESSION_BUSY`", body = ErrorBody),
        (status = 500, description = "`RUNTIME_ERROR`, `WORKSPACE_ERROR`", body = ErrorBody),
    ))]
pub async fn kill(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    _body: NoBody,
) -> Result<Json<KillResponse>, ApiError> {
    let id = path_id(&raw)?;
    let handles = app.handles()?;
    let freed = handles.sessions.kill(id.clone()).await?;
    Ok(Json(KillResponse {
        ok: true,
        session_id: id,
        freed,
    }))
}

/// Restores a terminated session in its (recreated) worktree.
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/restore", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Restored", body = RestoreResponse),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`SESSION_NOT_RESTORABLE`, `SESSION_INCOMPLETE_HANDLE`, `SESSION_NOT_RESUMABLE`, `WORKSPACE_PATH_OCCUPIED`, `BRANCH_CHECKED_OUT_ELSEWHERE`, `ORCHESTRATOR_ALREADY_RUNNING`, `SESSION_BUSY`", body = ErrorBody),
        (status = 500, description = "`RUNTIME_ERROR`, `WORKSPACE_ERROR`, `PROVISION_FAILED`, `AGENT_EXITED_EARLY`", body = ErrorBody),
    ))]
pub async fn restore(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    _body: NoBody,
) -> Result<Json<RestoreResponse>, ApiError> {
    let id = path_id(&raw)?;
    let handles = app.handles()?;
    handles.sessions.restore(id.clone()).await?;
    Ok(Json(RestoreResponse {
        ok: true,
        session: view(&app, &id).await?,
        session_id: id,
    }))
}

/// Rolls back a spawn: deletes a seed row, or kills a live session.
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/rollback", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "`deleted` and `killed` are both false when the session is absent or already terminated", body = RollbackResponse),
        (status = 404, description = "`SESSION_NOT_FOUND` for an id that can never be a session id", body = ErrorBody),
        (status = 500, description = "`RUNTIME_ERROR`, `WORKSPACE_ERROR`", body = ErrorBody),
    ))]
pub async fn rollback(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    _body: NoBody,
) -> Result<Json<RollbackResponse>, ApiError> {
    let id = path_id(&raw)?;
    let handles = app.handles()?;
    let outcome = handles.sessions.rollback(id.clone()).await?;
    Ok(Json(RollbackResponse {
        ok: true,
        session_id: id,
        deleted: outcome.deleted,
        killed: outcome.killed,
    }))
}

/// Query of `POST /sessions/cleanup`.
#[derive(Debug, Default, Deserialize)]
pub struct CleanupQuery {
    project: Option<String>,
}

/// Removes what terminated sessions left behind (runtime sessions, clean worktrees).
#[utoipa::path(post, path = "/api/v1/sessions/cleanup", tag = "sessions",
    security(("bearer" = [])),
    params(("project" = Option<String>, Query, description = "Only sessions of this project")),
    responses(
        (status = 200, description = "Cleaned and skipped sessions", body = CleanupResponse),
        (status = 404, description = "`PROJECT_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn cleanup(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<CleanupQuery>,
    _body: NoBody,
) -> Result<Json<CleanupResponse>, ApiError> {
    let project = q
        .project
        .as_deref()
        .map(|p| ProjectId::new(p).map_err(|_| ApiError::project_not_found(p)))
        .transpose()?;
    let handles = app.handles()?;
    let outcome = handles.sessions.cleanup(project).await?;
    Ok(Json(CleanupResponse {
        ok: true,
        cleaned: outcome.cleaned,
        skipped: outcome.skipped,
    }))
}

/// Sends a message to the agent now, or when it is next idle.
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/send", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    request_body = SendRequest,
    responses(
        (status = 200, description = "Sent or queued; `message` is the sanitised text", body = SendResponse),
        (status = 400, description = "`MESSAGE_REQUIRED`, `MESSAGE_TOO_LONG`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`SESSION_TERMINATED`, `SESSION_INCOMPLETE_HANDLE`, `SESSION_BUSY`", body = ErrorBody),
        (status = 500, description = "`RUNTIME_ERROR`", body = ErrorBody),
    ))]
pub async fn send(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    ApiJson(req): ApiJson<SendRequest>,
) -> Result<Json<SendResponse>, ApiError> {
    let id = path_id(&raw)?;
    let message = check_message(req.message.as_deref().unwrap_or("")).map_err(field)?;
    let when_idle = req.when_idle.unwrap_or(false);
    let handles = app.handles()?;
    let delivery = handles
        .sessions
        .send(id.clone(), message.clone(), when_idle)
        .await?;
    Ok(Json(SendResponse {
        ok: true,
        session_id: id,
        message,
        delivery,
    }))
}

/// The agent's hook callback (`ao hooks`): an activity state and/or the agent's session id.
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/activity", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    request_body = ActivityRequest,
    responses(
        (status = 200, description = "Applied; `changed` says whether anything was written. A terminated session answers `changed:false` and its current state", body = ActivityResponse),
        (status = 400, description = "`INVALID_ACTIVITY_STATE`, `ACTIVITY_EMPTY`, `INVALID_AGENT_SESSION_ID`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn activity(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    ApiJson(req): ApiJson<ActivityRequest>,
) -> Result<Json<ActivityResponse>, ApiError> {
    let id = path_id(&raw)?;
    let state = req
        .state
        .as_deref()
        .map(|s| {
            s.parse::<ActivityState>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidActivityState,
                    format!("state must be active, idle, waiting_input or exited, not {s:?}"),
                )
            })
        })
        .transpose()?;
    if let Some(agent_id) = &req.agent_session_id {
        check_agent_session_id(agent_id).map_err(field)?;
    }
    if state.is_none() && req.agent_session_id.is_none() {
        return Err(ApiError::new(
            ErrorCode::ActivityEmpty,
            "at least one of state and agentSessionId is required",
        ));
    }
    // `event` is informational: logged (cut to 64 chars), never rejected.
    let event = req
        .event
        .map(|e| e.chars().take(EVENT_MAX_CHARS).collect::<String>());
    tracing::debug!(
        session = %id,
        event = event.as_deref().unwrap_or(""),
        state = state.map_or("", ActivityState::as_str),
        "activity signal"
    );
    let handles = app.handles()?;
    let reply = handles
        .sessions
        .activity(id.clone(), state, req.agent_session_id, event)
        .await?;
    Ok(Json(ActivityResponse {
        ok: true,
        session_id: id,
        state: reply.state,
        changed: reply.changed,
    }))
}

/// How to attach a terminal to the session's runtime session (the CLI `exec`s `argv`).
#[utoipa::path(get, path = "/api/v1/sessions/{sessionId}/attach", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The argv to exec and the variables to set", body = AttachResponse),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`SESSION_NO_RUNTIME`: the session has no runtime session", body = ErrorBody),
    ))]
pub async fn attach(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
) -> Result<Json<AttachResponse>, ApiError> {
    let id = path_id(&raw)?;
    let lookup = id.clone();
    let row = read(&app, move |r| r.get_session(&lookup))
        .await?
        .ok_or_else(|| ApiError::session_not_found(id.as_str()))?;
    if row.runtime_handle_id.is_empty() {
        return Err(ApiError::new(
            ErrorCode::SessionNoRuntime,
            format!("session {id} has no runtime session"),
        ));
    }
    let handles = app.handles()?;
    let runtime = handles
        .runtimes
        .iter()
        .find(|rt| rt.kind() == row.runtime)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::SessionNoRuntime,
                format!(
                    "session {id} runs in {}, which this daemon does not support yet",
                    row.runtime
                ),
            )
        })?;
    // Pure: builds the argv, starts nothing.
    let spec = runtime.attach(&row.runtime_handle_id);
    Ok(Json(AttachResponse {
        session_id: id,
        runtime: row.runtime,
        argv: spec.argv,
        env: spec.env,
    }))
}
