//! Errors of the actor layer.
//!
//! * [`CommandError`]: what a command sent through a handle (e.g. [`crate::ProjectsHandle`])
//!   can end with. The daemon maps it to the HTTP error envelope: `Rejected` carries its own
//!   [`ErrorCode`]; `Unavailable` is 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1` (the
//!   actor is restarting or gone); `Timeout` is 504 `REQUEST_TIMEOUT`; `Internal` is 500.
//! * [`ActorsError`]: the tree could not be started, or boot reconcile could not run at all.

use ao_protocol::ErrorCode;
use ao_store::StoreError;
use serde_json::{Value, json};

/// The outcome of a failed command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// The command was refused for a reason the caller can act on (400/404/409/…).
    #[error("{message}")]
    Rejected {
        code: ErrorCode,
        message: String,
        details: Option<Value>,
    },
    /// The actor that must handle the command is restarting or gone (503, `Retry-After: 1`).
    #[error("service unavailable: {message}")]
    Unavailable { message: String },
    /// No reply within the call's timeout (504). The operation may still complete.
    #[error("the command timed out")]
    Timeout,
    /// An unexpected failure (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl CommandError {
    /// A rejection without details.
    pub fn rejected(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// A rejection with structured details.
    pub fn rejected_with(code: ErrorCode, message: impl Into<String>, details: Value) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
            details: Some(details),
        }
    }

    /// An `Unavailable` error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable {
            message: message.into(),
        }
    }

    /// The error code the daemon sends for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rejected { code, .. } => *code,
            Self::Unavailable { .. } => ErrorCode::ServiceUnavailable,
            Self::Timeout => ErrorCode::RequestTimeout,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The details object of a rejection.
    pub fn details(&self) -> Option<&Value> {
        match self {
            Self::Rejected { details, .. } => details.as_ref(),
            _ => None,
        }
    }

    /// Maps a store failure of a project command. `NotFound` becomes `PROJECT_NOT_FOUND` for
    /// `project`; path/id conflicts become 409s with `{existingProjectId, suggestedProjectId}`.
    pub(crate) fn from_project_store(err: StoreError, project: &str) -> Self {
        match err {
            StoreError::NotFound => Self::rejected(
                ErrorCode::ProjectNotFound,
                format!("project {project} not found"),
            ),
            StoreError::PathTaken {
                existing,
                suggested,
            } => Self::rejected_with(
                ErrorCode::PathAlreadyRegistered,
                format!("this path is already registered as project {existing}"),
                json!({"existingProjectId": existing, "suggestedProjectId": suggested}),
            ),
            StoreError::IdTaken {
                existing,
                suggested,
            } => Self::rejected_with(
                ErrorCode::IdAlreadyRegistered,
                format!("project id {existing} is already registered; try {suggested}"),
                json!({"existingProjectId": existing, "suggestedProjectId": suggested}),
            ),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The actor tree could not be started (or boot reconcile could not run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorsError {
    /// An actor failed in `pre_start`.
    #[error("cannot start the actor tree: {0}")]
    Spawn(String),
    /// The store failed while loading the initial state.
    #[error("cannot start the actor tree: {0}")]
    Store(#[from] StoreError),
    /// Boot reconcile could not even read the sessions (per-session failures are only logged).
    #[error("boot reconcile failed: {0}")]
    Reconcile(String),
}
