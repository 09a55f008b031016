//! Project routes (http-api.md §6). Reads go to the store; add, config changes and removal are
//! one call each on the `ProjectsHandle` (which resolves paths, runs git and writes through the
//! reducer). Archived projects are invisible here: 404 `PROJECT_NOT_FOUND`.

use ao_protocol::{
    AddProjectRequest, ConfigRequest, ErrorBody, ErrorCode, ProjectConfig, ProjectEnvelope,
    ProjectId, ProjectList, RemoveProjectResponse,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::Value;

use super::read;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ProjectIdPath};
use crate::http::state::AppState;
use crate::http::views;
use ao_actors::{AddProject, ConfigChange};
use ao_store::ProjectRow;

/// The id of a path parameter; an id that cannot be valid cannot be registered either.
fn path_id(raw: &str) -> Result<ProjectId, ApiError> {
    ProjectId::new(raw).map_err(|_| ApiError::project_not_found(raw))
}

/// Checks a config with the protocol's validation; the error names the field.
fn validate_config(config: &Value) -> Result<(), ApiError> {
    ProjectConfig::validate_json(config)
        .map(|_| ())
        .map_err(|e| {
            ApiError::new(ErrorCode::InvalidProjectConfig, e.to_string())
                .with_details(serde_json::json!({ "field": e.field }))
        })
}

/// The view of a row (filesystem health check on the blocking pool).
async fn envelope(app: &AppState, row: ProjectRow) -> Result<ProjectEnvelope, ApiError> {
    let runtime = app.env.runtime;
    read(app, move |_| {
        Ok(ProjectEnvelope {
            project: views::project(&row, runtime),
        })
    })
    .await
}

/// Registered (non-archived) projects, sorted by id.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Non-archived projects sorted by id", body = ProjectList),
    ))]
pub async fn list(State(app): State<AppState>) -> Result<Json<ProjectList>, ApiError> {
    let runtime = app.env.runtime;
    let projects = read(&app, move |r| {
        Ok(r.list_projects(false)?
            .iter()
            .map(|row| views::project(row, runtime))
            .collect())
    })
    .await?;
    Ok(Json(ProjectList { projects }))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{projectId}", tag = "projects",
    security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = ProjectEnvelope),
        (status = 404, description = "`PROJECT_NOT_FOUND` (archived included)", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<AppState>,
    ProjectIdPath(raw): ProjectIdPath,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let id = path_id(&raw)?;
    let runtime = app.env.runtime;
    let found = read(&app, move |r| {
        Ok(r.get_project(&id)?
            .filter(|row| row.archived_at.is_none())
            .map(|row| views::project(&row, runtime)))
    })
    .await?;
    found
        .map(|project| Json(ProjectEnvelope { project }))
        .ok_or_else(|| ApiError::project_not_found(&raw))
}

/// Registers a git repository as a project.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects",
    security(("bearer" = [])),
    request_body = AddProjectRequest,
    responses(
        (status = 201, description = "Registered", body = ProjectEnvelope),
        (status = 400, description = "`PATH_REQUIRED`, `INVALID_PATH`, `NOT_A_GIT_REPO`, `INVALID_PROJECT_ID`, `INVALID_PROJECT_CONFIG`, `INVALID_JSON`", body = ErrorBody),
        (status = 409, description = "`PATH_ALREADY_REGISTERED`, `ID_ALREADY_REGISTERED` with `details: {existingProjectId, suggestedProjectId}`", body = ErrorBody),
        (status = 415, description = "Body without `Content-Type: application/json`", body = ErrorBody),
    ))]
pub async fn add(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<AddProjectRequest>,
) -> Result<(StatusCode, Json<ProjectEnvelope>), ApiError> {
    let path = req
        .path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::new(ErrorCode::PathRequired, "path is required"))?
        .to_string();
    let project_id = req
        .project_id
        .map(|raw| {
            ProjectId::new(raw)
                .map_err(|e| ApiError::new(ErrorCode::InvalidProjectId, e.to_string()))
        })
        .transpose()?;
    let name = req
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let config = match req.config {
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(config) => {
            validate_config(&config)?;
            config
        }
    };
    let handles = app.handles()?;
    let row = handles
        .projects
        .add_project(AddProject {
            path,
            project_id,
            name,
            config,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(envelope(&app, row).await?)))
}

/// Replaces the whole config (`{}` clears it).
#[utoipa::path(put, path = "/api/v1/projects/{projectId}/config", tag = "projects",
    security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id")),
    request_body = ConfigRequest,
    responses(
        (status = 200, description = "Updated", body = ProjectEnvelope),
        (status = 400, description = "`INVALID_PROJECT_CONFIG` with `details.field`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`PROJECT_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn put_config(
    State(app): State<AppState>,
    ProjectIdPath(raw): ProjectIdPath,
    ApiJson(req): ApiJson<ConfigRequest>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let id = path_id(&raw)?;
    let config = match req.config {
        Value::Null => Value::Object(serde_json::Map::new()),
        other => other,
    };
    validate_config(&config)?;
    let handles = app.handles()?;
    let row = handles
        .projects
        .set_config(id, ConfigChange::Replace(config))
        .await?;
    Ok(Json(envelope(&app, row).await?))
}

/// Applies an RFC 7386 merge patch; the merged config is validated.
#[utoipa::path(patch, path = "/api/v1/projects/{projectId}/config", tag = "projects",
    security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id")),
    request_body = ConfigRequest,
    responses(
        (status = 200, description = "Updated", body = ProjectEnvelope),
        (status = 400, description = "`INVALID_PROJECT_CONFIG` with `details.field`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`PROJECT_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn patch_config(
    State(app): State<AppState>,
    ProjectIdPath(raw): ProjectIdPath,
    ApiJson(req): ApiJson<ConfigRequest>,
) -> Result<Json<ProjectEnvelope>, ApiError> {
    let id = path_id(&raw)?;
    let handles = app.handles()?;
    let row = handles
        .projects
        .set_config(id, ConfigChange::Patch(req.config))
        .await?;
    Ok(Json(envelope(&app, row).await?))
}

/// Kills the project's live sessions, cleans up and archives it (rows are kept).
#[utoipa::path(delete, path = "/api/v1/projects/{projectId}", tag = "projects",
    security(("bearer" = [])),
    params(("projectId" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "Archived", body = RemoveProjectResponse),
        (status = 404, description = "`PROJECT_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn remove(
    State(app): State<AppState>,
    ProjectIdPath(raw): ProjectIdPath,
) -> Result<Json<RemoveProjectResponse>, ApiError> {
    let id = path_id(&raw)?;
    let handles = app.handles()?;
    let outcome = handles.projects.remove_project(id.clone()).await?;
    Ok(Json(RemoveProjectResponse {
        ok: true,
        project_id: id,
        killed: outcome.killed,
        skipped: outcome.skipped,
    }))
}
