//! [`ApiError`]: the one error type of the HTTP facade.
//!
//! Every error response is built from an [`ErrorCode`]; its HTTP status is always
//! [`ErrorCode::status`], never chosen by hand. Rendering is two-step: [`ApiError`]'s
//! `IntoResponse` yields a bodiless response carrying a [`PendingError`] extension, and the
//! front middleware ([`super::gates`]), which knows the request id, turns it into the JSON
//! envelope of http-api.md §3. Internal details (the error chain of a 5xx) are logged there and
//! never sent to the client.

use ao_protocol::ErrorCode;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use ao_actors::CommandError;

/// The fixed message of every `INTERNAL_ERROR`.
pub const INTERNAL_MESSAGE: &str = "Internal server error";

/// An error response, before the request id is known.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    /// What went wrong inside (logged for 5xx, never sent).
    pub internal: Option<String>,
}

/// The response extension that carries an [`ApiError`] to the renderer.
#[derive(Debug, Clone)]
pub struct PendingError(pub ApiError);

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            internal: None,
        }
    }

    #[must_use]
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// A 500 `INTERNAL_ERROR`; `internal` is logged with the request id.
    pub fn internal(internal: impl std::fmt::Display) -> Self {
        Self {
            code: ErrorCode::InternalError,
            message: INTERNAL_MESSAGE.to_string(),
            details: None,
            internal: Some(internal.to_string()),
        }
    }

    /// The HTTP status, taken from the code.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `PROJECT_NOT_FOUND` for an id (valid or not).
    pub fn project_not_found(id: &str) -> Self {
        Self::new(
            ErrorCode::ProjectNotFound,
            format!("project {id} is not registered"),
        )
    }

    /// `SESSION_NOT_FOUND` for an id (valid or not).
    pub fn session_not_found(id: &str) -> Self {
        Self::new(
            ErrorCode::SessionNotFound,
            format!("session {id} does not exist"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        match self.code.status() {
            401 => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"ao\""),
                );
            }
            503 => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        res.extensions_mut().insert(PendingError(self));
        res
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Rejected {
                code: ErrorCode::InternalError,
                message,
                ..
            } => Self::internal(message),
            CommandError::Rejected {
                code,
                message,
                details,
            } => Self {
                code,
                message,
                details,
                internal: None,
            },
            CommandError::Unavailable { message } => {
                let mut e = Self::new(ErrorCode::ServiceUnavailable, message.clone());
                e.internal = Some(message);
                e
            }
            CommandError::Timeout => Self::new(
                ErrorCode::RequestTimeout,
                "the operation did not answer in time; it may still complete",
            ),
            CommandError::Internal(chain) => Self::internal(chain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_headers_come_from_the_code() {
        let r = ApiError::new(ErrorCode::Unauthorized, "x").into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"ao\"");
        let r = ApiError::new(ErrorCode::DaemonStarting, "x").into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = ApiError::new(ErrorCode::PathAlreadyRegistered, "x").into_response();
        assert_eq!(r.status(), 409);
        assert!(r.extensions().get::<PendingError>().is_some());
    }

    #[test]
    fn command_errors_map_to_their_codes() {
        let e: ApiError = CommandError::Unavailable {
            message: "restarting".into(),
        }
        .into();
        assert_eq!(e.code, ErrorCode::ServiceUnavailable);
        let e: ApiError = CommandError::Timeout.into();
        assert_eq!(e.status(), 504);
        let e: ApiError = CommandError::Internal("db exploded".into()).into();
        assert_eq!(e.message, INTERNAL_MESSAGE);
        assert_eq!(e.internal.as_deref(), Some("db exploded"));
        let e: ApiError = CommandError::Rejected {
            code: ErrorCode::IdAlreadyRegistered,
            message: "taken".into(),
            details: Some(serde_json::json!({"suggestedProjectId": "a-2"})),
        }
        .into();
        assert_eq!(e.status(), 409);
        assert_eq!(e.details.expect("details")["suggestedProjectId"], "a-2");
    }
}
