//! The 404 and 405 fallbacks (http-api.md §11). Both answer with the JSON envelope; axum adds
//! the `Allow` header to 405 responses from the method router of the matched path.

use ao_protocol::ErrorCode;
use axum::http::{Method, Uri};

use crate::http::error::ApiError;

/// `404 ROUTE_NOT_FOUND`: `"<METHOD> <path> has no handler"`.
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("{method} {} has no handler", uri.path()),
    )
}

/// `405 METHOD_NOT_ALLOWED`.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not allowed on {}", uri.path()),
    )
}
