//! `GET /api/v1/status` (http-api.md §5). The `github` block is the actor tree's
//! `github_status()` (scm.md §8).

use ao_protocol::{DaemonStatus, GithubState, GithubStatus, VERSION};
use axum::Json;
use axum::extract::State;

use super::read;
use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The GitHub part of the status without an actor tree (before boot, after shutdown).
fn github_disabled() -> GithubStatus {
    GithubStatus {
        state: GithubState::Disabled,
        token_source: None,
        poll_interval_seconds: 30,
        last_poll_at: None,
        backoff_until: None,
        last_error: None,
        rest: None,
        graphql: None,
    }
}

/// Daemon identity, counts and the change-log head.
#[utoipa::path(get, path = "/api/v1/status", tag = "daemon",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Daemon status", body = DaemonStatus),
    ))]
pub async fn status(State(app): State<AppState>) -> Result<Json<DaemonStatus>, ApiError> {
    let (sessions, projects, head_seq) = read(&app, |r| {
        Ok((r.session_counts()?, r.project_count()?, r.head_seq()?))
    })
    .await?;
    let github = app
        .handles()
        .ok()
        .and_then(|h| h.tree.github_status())
        .unwrap_or_else(github_disabled);
    Ok(Json(DaemonStatus {
        pid: app.pid,
        port: app.port,
        version: VERSION.into(),
        started_at: app.started_at.clone(),
        uptime_seconds: app.uptime_seconds(),
        home: app.env.home.to_string_lossy().into_owned(),
        data_dir: app.env.data_dir.to_string_lossy().into_owned(),
        runtime: app.env.runtime,
        tmux_socket: app.env.tmux_socket.clone(),
        sessions,
        projects,
        head_seq,
        github,
    }))
}
