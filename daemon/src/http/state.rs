//! [`AppState`]: what every handler and the front middleware share.
//!
//! The state exists before the actor tree: the server starts serving (readiness `starting`)
//! first, and the actor handles are installed once with [`AppState::install`]. `/api/v1/*`
//! requests cannot reach a handler before that, because the readiness gate answers 503 until
//! boot is complete; a handler that still finds no handles answers 503 `DAEMON_STARTING`.
//!
//! The API token lives only here and in `running.json`; it has no `Debug` output.

use std::ops::Deref;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ao_protocol::{EnvConfig, ErrorCode, GithubStatus, ReadinessState};
use tokio::sync::watch;

use super::error::ApiError;
use ao_actors::{ActorTree, EventsHub, ProjectsHandle, SessionsHandle};
use ao_adapters::Runtime;
use ao_store::ReadPool;

/// Knobs that are fixed in production and shortened by tests.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Silence after which an SSE stream sends `: keep-alive` (15 s).
    pub sse_keep_alive: Duration,
    /// Replay batch size of the SSE handler (512).
    pub sse_batch: u32,
    /// Bound of the long commands of http-api.md §12 (10 min).
    pub long_timeout: Duration,
    /// Bound of stopping the actor tree at shutdown (10 s).
    pub actors_stop_timeout: Duration,
    /// Where the GitHub variables come from; `None`: the process environment and `gh`.
    pub scm_env: Option<ScmEnv>,
}

/// Reads one environment variable.
pub type VarLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A GitHub environment for tests: the variables `AO_GITHUB_API_URL`, `AO_GITHUB_HOST`,
/// `AO_GITHUB_TOKEN`, `GITHUB_TOKEN` are read through `lookup`, and `gh_program` stands in for
/// `gh`.
#[derive(Clone)]
pub struct ScmEnv {
    pub lookup: VarLookup,
    pub gh_program: String,
}

impl std::fmt::Debug for ScmEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScmEnv")
            .field("gh_program", &self.gh_program)
            .finish_non_exhaustive()
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            sse_keep_alive: Duration::from_secs(15),
            sse_batch: 512,
            long_timeout: Duration::from_secs(600),
            actors_stop_timeout: Duration::from_secs(10),
            scm_env: None,
        }
    }
}

/// The actor-tree handles a handler may call, plus the runtimes, whose only use here is the
/// pure `attach` (it builds an argv and starts nothing).
#[derive(Clone)]
pub struct Handles {
    pub projects: ProjectsHandle,
    pub sessions: SessionsHandle,
    pub events: EventsHub,
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// The tree itself, for its synchronous queries (`github_status`).
    pub tree: SharedTree,
}

/// The actor tree, shared by the lifecycle task (which takes it out to stop it) and handlers
/// that query it (`GET /status` reads `github_status()`, which only reads shared state).
#[derive(Clone)]
pub struct SharedTree(Arc<RwLock<Option<ActorTree>>>);

impl SharedTree {
    pub fn new(tree: ActorTree) -> Self {
        Self(Arc::new(RwLock::new(Some(tree))))
    }

    /// Runs `f` on the tree; `None` once shutdown has taken it.
    pub fn with<R>(&self, f: impl FnOnce(&ActorTree) -> R) -> Option<R> {
        let guard = self.0.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f)
    }

    /// Takes the tree out (shutdown); later [`Self::with`] calls get `None`.
    pub fn take(&self) -> Option<ActorTree> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The `github` block of `GET /status`; `None` once shutdown has taken the tree.
    pub fn github_status(&self) -> Option<GithubStatus> {
        self.with(ActorTree::github_status)
    }
}

/// The bearer token; compared in constant time, never printed.
pub struct Token(String);

impl Token {
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// Constant-time comparison (for equal lengths; the token length is public).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        let expected = self.0.as_bytes();
        if expected.len() != candidate.len() {
            return false;
        }
        expected
            .iter()
            .zip(candidate)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Shared daemon state (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
pub struct Shared {
    pub env: EnvConfig,
    pub port: u16,
    pub pid: u32,
    pub token: Token,
    pub started_at: String,
    pub started: Instant,
    pub reader: ReadPool,
    pub tuning: Tuning,
    /// Exact origins accepted by the Origin gate.
    pub allowed_origins: Vec<String>,
    handles: OnceLock<Handles>,
    readiness: watch::Sender<ReadinessState>,
    shutdown: watch::Sender<bool>,
    abort_in_flight: watch::Sender<bool>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Everything [`AppState::new`] needs.
pub struct StateInit {
    pub env: EnvConfig,
    pub port: u16,
    pub token: String,
    pub started_at: String,
    pub reader: ReadPool,
    pub tuning: Tuning,
}

impl AppState {
    pub fn new(init: StateInit) -> Self {
        let port = init.port;
        let mut allowed_origins = vec![
            format!("http://127.0.0.1:{port}"),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
        ];
        allowed_origins.extend(init.env.allowed_origins.iter().cloned());
        Self(Arc::new(Shared {
            env: init.env,
            port,
            pid: std::process::id(),
            token: Token::new(init.token),
            started_at: init.started_at,
            started: Instant::now(),
            reader: init.reader,
            tuning: init.tuning,
            allowed_origins,
            handles: OnceLock::new(),
            readiness: watch::channel(ReadinessState::Starting).0,
            shutdown: watch::channel(false).0,
            abort_in_flight: watch::channel(false).0,
        }))
    }

    /// Installs the actor handles (once).
    pub fn install(&self, handles: Handles) {
        let _ = self.handles.set(handles);
    }

    /// The actor handles, or 503 `DAEMON_STARTING` before they exist.
    pub fn handles(&self) -> Result<&Handles, ApiError> {
        self.handles.get().ok_or_else(|| {
            ApiError::new(
                ErrorCode::DaemonStarting,
                "the daemon is starting; retry shortly",
            )
        })
    }

    pub fn readiness(&self) -> ReadinessState {
        *self.readiness.borrow()
    }

    pub fn watch_readiness(&self) -> watch::Receiver<ReadinessState> {
        self.readiness.subscribe()
    }

    /// Moves readiness forward; `shutting_down` is final.
    pub fn set_readiness(&self, state: ReadinessState) {
        self.readiness.send_if_modified(|cur| {
            if *cur == ReadinessState::ShuttingDown || *cur == state {
                false
            } else {
                *cur = state;
                true
            }
        });
    }

    /// Asks the daemon to shut down (idempotent).
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn watch_shutdown(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Ends every in-flight handler with 503 (after the drain bound has passed).
    pub fn abort_in_flight(&self) {
        self.abort_in_flight.send_replace(true);
    }

    pub fn watch_abort(&self) -> watch::Receiver<bool> {
        self.abort_in_flight.subscribe()
    }

    /// Seconds since the daemon started.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::Token;

    #[test]
    fn token_compare_is_exact_and_debug_hides_it() {
        let t = Token::new("abc123".into());
        assert!(t.matches(b"abc123"));
        assert!(!t.matches(b"abc124"));
        assert!(!t.matches(b"abc12"));
        assert!(!t.matches(b""));
        assert!(!format!("{t:?}").contains("abc"));
    }
}
