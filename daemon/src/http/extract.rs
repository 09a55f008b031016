//! Extractors whose rejections are [`ApiError`]s (axum's own rejections are never sent).
//!
//! * [`ApiJson`] — strict JSON body: a non-empty body needs `Content-Type: application/json`
//!   (415 `UNSUPPORTED_MEDIA_TYPE`); an empty body decodes as `{}` (so it is accepted where every
//!   field is optional); malformed JSON or an unknown field is 400 `INVALID_JSON`.
//! * [`NoBody`] — for POST routes that take no body: an empty or JSON body is accepted and
//!   ignored; any other non-empty body is 415.
//! * [`ApiQuery`] — query string; a decoding failure is 400 `INVALID_QUERY`.

use ao_protocol::ErrorCode;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::{HeaderMap, header, request::Parts};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Whether the request says its body is JSON (`application/json` or `application/*+json`,
/// parameters such as `charset` allowed).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<(bool, Bytes), ApiError> {
    let json = is_json(req.headers());
    let bytes = Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == 413 {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        } else {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the request body could not be read: {}", r.body_text()),
            )
        }
    })?;
    Ok((json, bytes))
}

fn unsupported() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "a request body must be sent with Content-Type: application/json",
    )
}

/// A strictly decoded JSON request body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (json, bytes) = body_bytes(req, state).await?;
        let text: &[u8] = if bytes.trim_ascii().is_empty() {
            b"{}"
        } else if json {
            &bytes
        } else {
            return Err(unsupported());
        };
        serde_json::from_slice(text)
            .map(ApiJson)
            .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("invalid JSON body: {e}")))
    }
}

/// Accepts (and discards) an empty or JSON body.
#[derive(Debug)]
pub struct NoBody;

impl<S> FromRequest<S> for NoBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (json, bytes) = body_bytes(req, state).await?;
        if bytes.is_empty() || json {
            Ok(NoBody)
        } else {
            Err(unsupported())
        }
    }
}

/// A decoded query string.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|r| {
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("invalid query string: {}", r.body_text()),
                )
            })
    }
}

/// The raw `{projectId}` path segment. A segment that does not even decode cannot name a
/// project: 404 `PROJECT_NOT_FOUND`.
#[derive(Debug)]
pub struct ProjectIdPath(pub String);

impl<S> FromRequestParts<S> for ProjectIdPath
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| ProjectIdPath(id))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::ProjectNotFound,
                    "the project id in the path is not valid UTF-8",
                )
            })
    }
}

/// The raw `{sessionId}` path segment. A segment that does not even decode cannot name a
/// session: 404 `SESSION_NOT_FOUND`.
#[derive(Debug)]
pub struct SessionIdPath(pub String);

impl<S> FromRequestParts<S> for SessionIdPath
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| SessionIdPath(id))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::SessionNotFound,
                    "the session id in the path is not valid UTF-8",
                )
            })
    }
}
