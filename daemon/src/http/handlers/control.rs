//! `GET /healthz`, `GET /readyz`, `POST /shutdown` (http-api.md §4). No `/api/v1` prefix; the
//! `/readyz` 503 bodies are deliberately not the error envelope.

use ao_protocol::{Health, Readiness, ReadinessState, SERVICE_NAME, VERSION};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::extract::NoBody;
use crate::http::state::AppState;

/// Liveness; no dependency checks.
#[utoipa::path(get, path = "/healthz", tag = "control",
    responses((status = 200, description = "The daemon process is alive", body = Health)))]
pub async fn healthz(State(app): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: SERVICE_NAME.into(),
        pid: app.pid,
        version: VERSION.into(),
        started_at: app.started_at.clone(),
    })
}

/// Readiness: 200 once boot reconcile is done, 503 while starting or shutting down.
#[utoipa::path(get, path = "/readyz", tag = "control",
    responses(
        (status = 200, description = "Ready to serve the API", body = Readiness),
        (status = 503, description = "`starting` or `shutting_down` (not the error envelope)", body = Readiness),
    ))]
pub async fn readyz(State(app): State<AppState>) -> Response {
    let state = app.readiness();
    let body = Json(Readiness {
        status: state.as_str().into(),
        service: SERVICE_NAME.into(),
        pid: app.pid,
    });
    let status = if state == ReadinessState::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// Starts the shutdown sequence (sessions.md §16). Idempotent.
#[utoipa::path(post, path = "/shutdown", tag = "control",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Shutdown has begun", body = Readiness),
    ))]
pub async fn shutdown(State(app): State<AppState>, _body: NoBody) -> (StatusCode, Json<Readiness>) {
    tracing::info!("shutdown requested over HTTP");
    app.request_shutdown();
    (
        StatusCode::ACCEPTED,
        Json(Readiness {
            status: ReadinessState::ShuttingDown.as_str().into(),
            service: SERVICE_NAME.into(),
            pid: app.pid,
        }),
    )
}
