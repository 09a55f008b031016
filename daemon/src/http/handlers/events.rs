//! `GET /api/v1/events` (SSE, §9.1) and `GET /api/v1/events/log` (§9.2).

use ao_protocol::{ErrorBody, ErrorCode, EventLog, LogOrder};
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use super::read;
use crate::http::error::ApiError;
use crate::http::extract::ApiQuery;
use crate::http::sse::{self, StreamSpec};
use crate::http::state::AppState;
use ao_store::ChangeQuery;

/// Query of `GET /api/v1/events`. Values are parsed by hand so that each bad value gets the
/// documented code.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Deliver events with `seq > after` (non-negative integer; takes precedence over
    /// `Last-Event-ID`; default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// Only events of this project id (exact match).
    pub project: Option<String>,
    /// Only events of this session id (exact match).
    pub session: Option<String>,
}

/// Query of `GET /api/v1/events/log`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Exclude `seq <= after` (default 0).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// 1–1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `asc` (default) or `desc`.
    #[param(value_type = Option<LogOrder>)]
    pub order: Option<String>,
    /// Only events of this project id.
    pub project: Option<String>,
    /// Only events of this session id.
    pub session: Option<String>,
}

/// One frame of the `GET /api/v1/events` stream as an SSE client parses it (documentation
/// only: the stream is written as text). Frames without `data` (`retry: 3000`,
/// `: keep-alive`) carry no event.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: never built
pub struct SseFrame {
    /// The event's seq; absent on `resync`.
    id: Option<String>,
    /// The event type (`ChangeEvent.type`), or `resync`.
    event: String,
    /// JSON: a `ChangeEvent`, or a `Resync` for `event: resync`.
    #[schema(content_media_type = "application/json")]
    data: String,
}

fn non_negative(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The live change stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    security(("bearer" = [])),
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume cursor (ignored when `after` is given)"),
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `retry: 3000`, then `id/event/data` frames whose data is a ChangeEvent, `resync` events and `: keep-alive` comments", content_type = "text/event-stream", body = SseFrame),
        (status = 400, description = "`INVALID_AFTER`", body = ErrorBody),
    ))]
pub async fn events(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let invalid_after = |v: &str| {
        ApiError::new(
            ErrorCode::InvalidAfter,
            format!("after must be a non-negative integer, got {v:?}"),
        )
    };
    let cursor = if let Some(after) = &q.after {
        non_negative(after).ok_or_else(|| invalid_after(after))?
    } else if let Some(last) = headers.get("last-event-id") {
        let text = last.to_str().unwrap_or("").trim();
        non_negative(text).ok_or_else(|| invalid_after(text))?
    } else {
        0
    };
    let handles = app.handles()?;
    // Subscribe first: everything committed from now on reaches this receiver.
    let live = handles.events.subscribe();
    let rx = sse::spawn(
        app.reader.clone(),
        live,
        app.watch_readiness(),
        StreamSpec {
            cursor,
            project: q.project,
            session: q.session,
            keep_alive: app.tuning.sse_keep_alive,
            batch: app.tuning.sse_batch,
        },
    );
    Ok(sse::response(rx))
}

/// A page of the change log.
#[utoipa::path(get, path = "/api/v1/events/log", tag = "events",
    security(("bearer" = [])),
    params(LogQuery),
    responses(
        (status = 200, description = "Events and the current head seq", body = EventLog),
        (status = 400, description = "`INVALID_QUERY`", body = ErrorBody),
    ))]
pub async fn log(
    State(app): State<AppState>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<EventLog>, ApiError> {
    let bad = |name: &str, v: &str, want: &str| {
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!("{name} must be {want}, got {v:?}"),
        )
    };
    let after = match &q.after {
        None => 0,
        Some(v) => non_negative(v).ok_or_else(|| bad("after", v, "a non-negative integer"))?,
    };
    let limit = match &q.limit {
        None => 100,
        Some(v) => non_negative(v)
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| bad("limit", v, "an integer from 1 to 1000"))?,
    };
    let order = match &q.order {
        None => LogOrder::Asc,
        Some(v) => v
            .parse::<LogOrder>()
            .map_err(|_| bad("order", v, "asc or desc"))?,
    };
    let query = ChangeQuery {
        after,
        limit: limit as u32,
        order,
        project: q.project,
        session: q.session,
    };
    let (events, head_seq) =
        read(&app, move |r| Ok((r.read_changes(&query)?, r.head_seq()?))).await?;
    Ok(Json(EventLog { events, head_seq }))
}
