//! The axum facade (http-api.md): gates, routes, handlers, SSE and the OpenAPI document.
//!
//! Layout:
//! * [`routes`] — the route table and the router built from it (one place for every route).
//! * [`gates`] — the front middleware: Host → Origin → body limit → token → readiness, CORS,
//!   `X-Request-Id`, error rendering, the completion log line.
//! * [`error`] — [`error::ApiError`], the one error type; its status always comes from
//!   `ErrorCode::status()`.
//! * [`extract`] — strict JSON/query extractors that reject with `ApiError`.
//! * [`handlers`] — thin handlers: store reads or one actor call.
//! * [`sse`] — the change stream; [`views`] — row → DTO; [`pr_summary`] — the `PrSummary`
//!   read model of scm.md §12; [`openapi`] — the document.
//!
//! Invariants: handlers never run adapters (the pure `Runtime::attach` argv builder aside) or
//! write SQLite; every non-2xx body is the error
//! envelope (except the `/readyz` 503); the daemon only ever listens on 127.0.0.1.

pub mod error;
pub mod extract;
pub mod gates;
pub mod handlers;
pub mod openapi;
pub mod pr_summary;
pub mod routes;
pub mod sse;
pub mod state;
pub mod views;
