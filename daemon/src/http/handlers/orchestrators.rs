//! Orchestrator routes (http-api.md §8): orchestrators are sessions of kind `orchestrator`, so
//! the reads reuse the session views; `POST /orchestrators` validates like a spawn (§7.2 steps
//! 1, 2 and 4) and makes one `SessionsHandle::spawn_orchestrator` call (`clean:true` kills the
//! project's live orchestrators first).

use ao_protocol::{ErrorBody, OrchestratorRequest, SessionEnvelope, SessionKind, SessionList};
use ao_store::SessionFilter;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::sessions::{
    checked_prompt, find_view, list_views, parse_harness, path_id, project_filter, required_project,
};
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery, SessionIdPath};
use crate::http::state::AppState;

/// Query of `GET /orchestrators`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    project: Option<String>,
}

/// Orchestrators (terminated included), sorted by project id then num.
#[utoipa::path(get, path = "/api/v1/orchestrators", tag = "orchestrators",
    security(("bearer" = [])),
    params(("project" = Option<String>, Query, description = "Only orchestrators of this project (a project id)", pattern = r"^[A-Za-z0-9](\.?[A-Za-z0-9_-])*\.?$", max_length = 64)),
    responses(
        (status = 200, description = "Orchestrator sessions, terminated included", body = SessionList),
        (status = 400, description = "`INVALID_QUERY` (a `project` that is not a project id)", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<SessionList>, ApiError> {
    let filter = SessionFilter {
        project: project_filter(q.project.as_deref())?,
        kind: Some(SessionKind::Orchestrator),
        active: None,
    };
    Ok(Json(SessionList {
        sessions: list_views(&app, filter).await?,
    }))
}

/// One orchestrator.
#[utoipa::path(get, path = "/api/v1/orchestrators/{sessionId}", tag = "orchestrators",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id of the orchestrator")),
    responses(
        (status = 200, description = "The orchestrator", body = SessionEnvelope),
        (status = 404, description = "`SESSION_NOT_FOUND` (also when the id is a worker)", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
) -> Result<Json<SessionEnvelope>, ApiError> {
    let id = path_id(&raw)?;
    find_view(&app, &id)
        .await?
        .filter(|s| s.kind == SessionKind::Orchestrator)
        .map(|session| Json(SessionEnvelope { session }))
        .ok_or_else(|| ApiError::session_not_found(&raw))
}

/// Starts the project's orchestrator.
#[utoipa::path(post, path = "/api/v1/orchestrators", tag = "orchestrators",
    security(("bearer" = [])),
    request_body = OrchestratorRequest,
    responses(
        (status = 201, description = "Started", body = SessionEnvelope),
        (status = 400, description = "`PROJECT_ID_REQUIRED`, `PROMPT_TOO_LONG`, `AGENT_REQUIRED`, `UNKNOWN_HARNESS`, `COMMAND_REQUIRED`, `AGENT_BINARY_NOT_FOUND`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`PROJECT_NOT_FOUND` (archived included)", body = ErrorBody),
        (status = 409, description = "`ORCHESTRATOR_ALREADY_RUNNING` (`details: {sessionId}`) when a live one exists and `clean` is false", body = ErrorBody),
        (status = 500, description = "`PROVISION_FAILED`, `AGENT_EXITED_EARLY`, `RUNTIME_ERROR`, `WORKSPACE_ERROR`", body = ErrorBody),
    ))]
pub async fn start(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<OrchestratorRequest>,
) -> Result<(StatusCode, Json<SessionEnvelope>), ApiError> {
    let project = required_project(&app, req.project_id.as_deref()).await?;
    let prompt = checked_prompt(req.prompt)?;
    let harness = parse_harness(req.harness.as_deref())?;
    let handles = app.handles()?;
    let id = handles
        .sessions
        .spawn_orchestrator(project, req.clean.unwrap_or(false), harness, prompt)
        .await?;
    let session = super::sessions::view(&app, &id).await?;
    Ok((StatusCode::CREATED, Json(SessionEnvelope { session })))
}
