//! [`StoreError`]: every failure of the store, with no rusqlite or r2d2 type in it.
//!
//! Domain outcomes (`NotFound`, `PathTaken`, `IdTaken`, `OrchestratorExists`, `SchemaTooNew`,
//! `PrOwnedElsewhere`, `PrClaimedByActiveSession`) are their own variants so callers can map them
//! to HTTP codes; a database locked by another process is `Busy` (retryable); everything else is
//! an internal error carrying a message string.

use ao_protocol::{ProjectId, SessionId};

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database was written by a newer `ao`; the daemon must refuse to start.
    #[error("database schema version {found} is newer than this ao (max {max})")]
    SchemaTooNew { found: i64, max: i64 },
    /// The addressed row does not exist (or, for project writes, is archived).
    #[error("not found")]
    NotFound,
    /// A live project is already registered at this path.
    #[error("path is already registered as project {existing} (suggested id: {suggested})")]
    PathTaken {
        existing: ProjectId,
        suggested: ProjectId,
    },
    /// A live project already has this id.
    #[error("project id {existing} is already registered (suggested id: {suggested})")]
    IdTaken {
        existing: ProjectId,
        suggested: ProjectId,
    },
    /// The project already has a live orchestrator.
    #[error("an orchestrator is already running for this project: {session_id}")]
    OrchestratorExists { session_id: SessionId },
    /// The PR is owned by another session: a guarded PR write (everything but claim) never
    /// moves a PR, and nothing was written.
    #[error("pull request is owned by session {owner}")]
    PrOwnedElsewhere { owner: SessionId },
    /// Claim without takeover of a PR whose owner is another live session (scm.md §11).
    #[error("pull request is claimed by the active session {owner}")]
    PrClaimedByActiveSession { owner: SessionId },
    /// A write input cannot be stored (e.g. a number beyond SQLite's integer range, an invalid
    /// session id); nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database is locked by another connection (`SQLITE_BUSY` / `SQLITE_LOCKED` after
    /// the busy timeout): nothing was written; the same write may succeed later.
    #[error("the database is locked by another process: {0}")]
    Busy(String),
    /// SQLite reported an error.
    #[error("sqlite error: {0}")]
    Sqlite(String),
    /// The read pool could not hand out a connection.
    #[error("connection pool error: {0}")]
    Pool(String),
    /// A filesystem operation failed.
    #[error("io error: {0}")]
    Io(String),
    /// A stored value cannot be read back (unknown enum word, invalid id or JSON).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether this is an internal failure (as opposed to a domain outcome).
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Busy(_)
                | Self::Sqlite(_)
                | Self::Pool(_)
                | Self::Io(_)
                | Self::Corrupt(_)
                | Self::InvalidInput(_)
        )
    }
}

/// Crate-private conversion of rusqlite results, so no `From<rusqlite::Error>` impl leaks into
/// the public API.
pub(crate) trait DbResult<T> {
    fn db(self) -> Result<T, StoreError>;
}

impl<T> DbResult<T> for Result<T, rusqlite::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(|e| sqlite_error(&e))
    }
}

/// A rusqlite error as a [`StoreError`]: a locked database is [`StoreError::Busy`], anything
/// else [`StoreError::Sqlite`].
pub(crate) fn sqlite_error(e: &rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Busy(e.to_string())
        }
        _ => StoreError::Sqlite(e.to_string()),
    }
}
