//! The front middleware: security gates, request ids, CORS, error rendering and the completion
//! log line. It wraps every route, the 405 fallbacks and the 404 fallback, so it runs for every
//! request before any handler or routing outcome becomes visible.
//!
//! Gates, in the order of http-api.md §2 (the first failure answers):
//! 1. `Host` — host part `localhost`, `[::1]` or IPv4 in 127.0.0.0/8; a port must equal the bound
//!    port (403 `HOST_FORBIDDEN`).
//! 2. `Origin` — absent, or exactly one of the loopback origins of the bound port or
//!    `AO_ALLOWED_ORIGINS` (403 `ORIGIN_FORBIDDEN`; `null` is refused). A CORS preflight from an
//!    allowed origin is answered here with 204.
//! 3. Body ≤ 1 MiB (413 `PAYLOAD_TOO_LARGE`), also for bodies streamed without Content-Length:
//!    the body is buffered here, so handlers see at most 1 MiB.
//! 4. Bearer token for `/api/v1/*` and `POST /shutdown` (401 `UNAUTHORIZED` with
//!    `WWW-Authenticate`), compared in constant time. The token is never logged.
//! 5. Readiness for `/api/v1/*` (503 `DAEMON_STARTING` / `DAEMON_SHUTTING_DOWN`).
//!
//! Every response leaves with `X-Request-Id`; a [`PendingError`] becomes the JSON envelope here.

use std::net::Ipv4Addr;
use std::time::Instant;

use ao_protocol::{ErrorBody, ErrorCode, ReadinessState};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::sync::watch;

use super::error::{ApiError, PendingError};
use super::state::AppState;
use crate::request_id;

/// The request body limit (gate 3).
pub const BODY_LIMIT: usize = 1024 * 1024;

const X_REQUEST_ID: &str = "x-request-id";

/// `axum::middleware::from_fn_with_state` body of the front middleware.
pub async fn front(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(X_REQUEST_ID)
        .filter(|v| request_id::is_valid(v.as_bytes()))
        .and_then(|v| v.to_str().ok())
        .map_or_else(request_id::generate, str::to_owned);
    let method = req.method().clone();
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());

    let (response, cors_origin) = match admit(&app, req).await {
        Admission::Pass(req, origin) => (dispatch(&app, req, next).await, origin),
        Admission::Answer(response, origin) => (response, origin),
    };
    let response = finish(response, &request_id, cors_origin.as_deref());
    let status = response.status().as_u16();
    let duration_ms = started.elapsed().as_millis() as u64;
    let matched_path = matched.as_deref().unwrap_or("-");
    if status >= 500 {
        tracing::warn!(request_id, %method, matched_path, status, duration_ms, "request");
    } else {
        tracing::info!(request_id, %method, matched_path, status, duration_ms, "request");
    }
    response
}

/// The outcome of the gates: go on to the handler, or answer now. Both carry the allowed
/// `Origin` (for the CORS response headers), if any.
enum Admission {
    Pass(Request, Option<String>),
    Answer(Response, Option<String>),
}

async fn admit(app: &AppState, req: Request) -> Admission {
    // 1. Host.
    if let Err(e) = check_host(req.headers(), app.port) {
        return Admission::Answer(e.into_response(), None);
    }
    // 2. Origin.
    let origin = match check_origin(req.headers(), &app.allowed_origins) {
        Ok(origin) => origin,
        Err(e) => return Admission::Answer(e.into_response(), None),
    };
    if let Some(o) = &origin
        && req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return Admission::Answer(preflight(o), origin);
    }
    // 3. Body limit.
    let req = match buffer_body(req).await {
        Ok(req) => req,
        Err(e) => return Admission::Answer(e.into_response(), origin),
    };
    let path = req.uri().path();
    let is_api = path == "/api/v1" || path.starts_with("/api/v1/");
    // 4. Token.
    let needs_token = is_api || (req.method() == Method::POST && path == "/shutdown");
    if needs_token && !bearer_matches(req.headers(), app) {
        let e = ApiError::new(
            ErrorCode::Unauthorized,
            "a valid Authorization: Bearer <token> header is required (the token is in running.json)",
        );
        return Admission::Answer(e.into_response(), origin);
    }
    // 5. Readiness.
    if is_api {
        match app.readiness() {
            ReadinessState::Ready => {}
            ReadinessState::Starting => {
                let e = ApiError::new(
                    ErrorCode::DaemonStarting,
                    "the daemon is starting; retry shortly",
                );
                return Admission::Answer(e.into_response(), origin);
            }
            ReadinessState::ShuttingDown => {
                return Admission::Answer(shutting_down().into_response(), origin);
            }
        }
    }
    Admission::Pass(req, origin)
}

/// Runs the rest of the stack, unless the drain bound has passed during shutdown: then the
/// handler is abandoned (the operation itself keeps running in its actor) and the client gets
/// 503, so that no connection outlives the shutdown sequence.
async fn dispatch(app: &AppState, req: Request, next: Next) -> Response {
    let abort = app.watch_abort();
    tokio::select! {
        res = next.run(req) => res,
        () = until_true(abort) => shutting_down().into_response(),
    }
}

/// Resolves when the watched flag becomes true; never, if the sender is gone.
pub async fn until_true(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn shutting_down() -> ApiError {
    ApiError::new(ErrorCode::DaemonShuttingDown, "the daemon is shutting down")
}

fn check_host(headers: &HeaderMap, port: u16) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::HOST) else {
        return Err(ApiError::new(
            ErrorCode::HostForbidden,
            "the Host header is required",
        ));
    };
    let value = value.to_str().unwrap_or("");
    if host_allowed(value, port) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::HostForbidden,
            format!("Host {value:?} is not allowed; use 127.0.0.1:{port} or localhost:{port}"),
        ))
    }
}

/// Whether a `Host` value names this daemon: `localhost`, `[::1]` or 127.0.0.0/8, with no port
/// or exactly `port`.
pub fn host_allowed(value: &str, port: u16) -> bool {
    let (host_ok, port_part) = if let Some(rest) = value.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return false;
        };
        let port_part = if after.is_empty() {
            None
        } else if let Some(p) = after.strip_prefix(':') {
            Some(p)
        } else {
            return false;
        };
        (host == "::1", port_part)
    } else {
        let (host, port_part) = match value.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        };
        let ok = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<Ipv4Addr>()
                .is_ok_and(|ip| ip.octets()[0] == 127);
        (ok, port_part)
    };
    let port_ok = port_part.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>() == Ok(port)
    });
    host_ok && port_ok
}

fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(o) if allowed.iter().any(|a| a == o) => Ok(Some(o.to_string())),
        Ok(o) => Err(ApiError::new(
            ErrorCode::OriginForbidden,
            format!("Origin {o:?} is not allowed"),
        )),
        Err(_) => Err(ApiError::new(
            ErrorCode::OriginForbidden,
            "the Origin header is not allowed",
        )),
    }
}

fn preflight(origin: &str) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, Last-Event-ID, X-Request-Id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    res
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("the request body exceeds {BODY_LIMIT} bytes"),
    )
}

/// Reads the whole body (at most [`BODY_LIMIT`] bytes) so that the limit holds whatever the
/// framing; a declared Content-Length over the limit is refused without reading.
async fn buffer_body(req: Request) -> Result<Request, ApiError> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let mut buf = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the request body could not be read: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > BODY_LIMIT {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Request::from_parts(parts, Body::from(buf)))
}

fn bearer_matches(headers: &HeaderMap, app: &AppState) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return false;
    };
    let bytes = value.as_bytes();
    let Some(space) = bytes.iter().position(|b| *b == b' ') else {
        return false;
    };
    let (scheme, rest) = bytes.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return false;
    }
    let token = rest.trim_ascii();
    app.token.matches(token)
}

/// Renders a pending error as the envelope, and stamps `X-Request-Id` and the CORS headers.
fn finish(mut res: Response, request_id: &str, cors_origin: Option<&str>) -> Response {
    if let Some(PendingError(err)) = res.extensions_mut().remove::<PendingError>() {
        if err.code.status() >= 500 {
            tracing::error!(
                request_id,
                code = err.code.as_str(),
                error = err.internal.as_deref().unwrap_or(&err.message),
                "request failed"
            );
        }
        let mut body = ErrorBody::new(err.code, err.message, request_id);
        body.details = err.details;
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let headers = res.headers_mut();
        headers.remove(header::CONTENT_LENGTH);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        *res.body_mut() = Body::from(bytes);
    }
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert(X_REQUEST_ID, v);
    }
    if let Some(origin) = cors_origin
        && let Ok(v) = HeaderValue::from_str(origin)
    {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    res
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_render_as_the_envelope_without_internals() {
        let res = finish(
            ApiError::internal("sqlite: disk I/O error at /secret/path").into_response(),
            "req_test",
            Some("http://localhost:1"),
        );
        assert_eq!(res.status(), 500);
        assert_eq!(res.headers()["x-request-id"], "req_test");
        assert_eq!(res.headers()["content-type"], "application/json");
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "http://localhost:1"
        );
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
        assert!(!text.contains("secret"), "{text}");
        let body: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"error": "internal", "code": "INTERNAL_ERROR",
                "message": "Internal server error", "requestId": "req_test"})
        );

        let res = finish(
            ApiError::new(ErrorCode::IdAlreadyRegistered, "taken")
                .with_details(serde_json::json!({"existingProjectId": "a"}))
                .into_response(),
            "req_2",
            None,
        );
        assert_eq!(res.status(), 409);
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(body["error"], "conflict");
        assert_eq!(
            body["details"],
            serde_json::json!({"existingProjectId": "a"})
        );
    }

    #[test]
    fn host_gate_accepts_loopback_names_with_the_bound_port_only() {
        for ok in [
            "127.0.0.1:3001",
            "127.0.0.1",
            "localhost:3001",
            "LOCALHOST",
            "[::1]:3001",
            "[::1]",
            "127.255.0.9:3001",
        ] {
            assert!(host_allowed(ok, 3001), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:3001",
            "127.0.0.1:3002",
            "localhost:",
            "localhost:+3001",
            "128.0.0.1:3001",
            "127.0.0.1.evil.example",
            "::1",
            "[::2]:3001",
            "[::1]x",
            "0.0.0.0:3001",
            "localhost.:3001",
            "127.0.0.1:3001:3001",
        ] {
            assert!(!host_allowed(bad, 3001), "{bad}");
        }
    }
}
