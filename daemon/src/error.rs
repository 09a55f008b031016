//! [`DaemonError`]: why a daemon could not start, or why it ended with a failure.
//!
//! Every variant is a startup failure (exit status 1) except [`DaemonError::ActorFailure`], which
//! ends a running daemon after its shutdown sequence (also exit status 1). Messages are one line
//! and never contain the API token.

use std::path::PathBuf;

/// A daemon startup or run failure.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// An `AO_*` variable is invalid.
    #[error(transparent)]
    Env(#[from] ao_protocol::EnvError),
    /// `AO_LOG` is not a valid `tracing` filter directive.
    #[error("invalid AO_LOG={value:?}: {reason}")]
    InvalidLog { value: String, reason: String },
    /// A directory or file of the daemon could not be created or written.
    #[error("{what} {path}: {message}")]
    Io {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    /// Another daemon holds `daemon.lock`.
    #[error("another ao daemon is already running for this data dir (lock {path} is held)")]
    AlreadyRunning { path: PathBuf },
    /// The store could not be opened or migrated (the store's message, e.g. a schema that is
    /// newer than this build).
    #[error("{0}")]
    Store(String),
    /// No loopback listener could be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {message}")]
    Bind { port: u16, message: String },
    /// The OS CSPRNG failed while generating the API token.
    #[error("cannot generate the API token: {0}")]
    Token(String),
    /// The actor tree could not be started.
    #[error("cannot start the actor tree: {0}")]
    Actors(String),
    /// The root actor gave up after an escalation; the daemon shut down.
    #[error("root actor failed: {0}")]
    ActorFailure(String),
    /// The daemon's supervising task ended abnormally.
    #[error("daemon task failed: {0}")]
    Task(String),
}

impl DaemonError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, err: &std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            message: err.to_string(),
        }
    }
}
