//! [`SessionServices`]: what every session-layer component shares, built once per tree.
//!
//! It holds the read pool, the typed reducer handle, the registry, the adapters (runtimes by
//! kind, the workspace, the agent binary resolver), the daemon's paths and environment, and
//! the timings. Actors, tasks and handles keep an `Arc` of it; nothing in it is mutable except
//! the resolver's cache, the `reconciling` flag (set while boot reconcile runs) and the set of
//! nudge budget warnings already logged in this daemon run.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

use ao_adapters::agent::BinaryResolver;
use ao_adapters::process;
use ao_adapters::scm::{ClientOptions, GithubClient};
use ao_adapters::{GitWorktree, Runtime, Tmux, Workspace, Zellij};
use ao_protocol::{ProjectId, RuntimeKind, SessionId};
use ao_store::{PrDetail, ProjectRow, ReadPool, SessionRow, StoreError};

use crate::cdc::blocking;
use crate::config::{ActorsConfig, CallTimeouts, ScmSetup, SessionTimings};
use crate::error::{ActorsError, CommandError};
use crate::reducer::ReducerHandle;
use crate::registry::Registry;

/// Everything the session layer shares.
pub(crate) struct SessionServices {
    pub(crate) reader: ReadPool,
    pub(crate) reducer: ReducerHandle,
    pub(crate) registry: Arc<Registry>,
    pub(crate) timeouts: CallTimeouts,
    pub(crate) timings: SessionTimings,
    pub(crate) data_dir: PathBuf,
    pub(crate) home: PathBuf,
    pub(crate) run_file: PathBuf,
    pub(crate) tmux_socket: String,
    pub(crate) ao_exe: Option<PathBuf>,
    pub(crate) daemon_env: BTreeMap<String, String>,
    pub(crate) default_runtime: RuntimeKind,
    pub(crate) runtimes: Vec<Arc<dyn Runtime>>,
    pub(crate) workspace: Arc<dyn Workspace>,
    pub(crate) binaries: Arc<BinaryResolver>,
    /// Boot reconcile is running: the Reaper skips its probes meanwhile (sessions.md §17 runs
    /// before the Reaper may act on what it sees).
    pub(crate) reconciling: AtomicBool,
    /// (key, scope) pairs whose over-budget warning was logged (scm.md §9.4: once per daemon
    /// run).
    budget_warned: Mutex<HashSet<(String, String)>>,
    /// The GitHub endpoints and tokens (`None`: GitHub disabled, claim → `SCM_UNAVAILABLE`).
    pub(crate) scm: Option<ScmSetup>,
    /// The claim's GitHub client, built once from [`Self::scm`]; `Err` holds why it could not
    /// be built (e.g. an https API without the `tls` feature).
    pub(crate) github: Option<Result<GithubClient, String>>,
}

impl SessionServices {
    /// Builds the services from the tree's configuration (default adapters when absent).
    pub(crate) fn build(
        cfg: &ActorsConfig,
        reader: ReadPool,
        registry: Arc<Registry>,
    ) -> Result<Self, ActorsError> {
        let runtimes = if cfg.runtimes.is_empty() {
            let tmux: Arc<dyn Runtime> =
                Arc::new(Tmux::new(&cfg.tmux_socket, &cfg.home, &cfg.data_dir));
            let zellij: Arc<dyn Runtime> = Arc::new(Zellij::new(&cfg.home, &cfg.data_dir));
            vec![tmux, zellij]
        } else {
            cfg.runtimes.clone()
        };
        let workspace = if let Some(w) = &cfg.workspace {
            Arc::clone(w)
        } else {
            let w: Arc<dyn Workspace> = Arc::new(
                GitWorktree::open(&cfg.data_dir)
                    .map_err(|e| ActorsError::Spawn(format!("worktree root: {e}")))?,
            );
            w
        };
        let daemon_env = cfg.daemon_env.clone().unwrap_or_else(|| {
            let mut env: BTreeMap<String, String> = std::env::vars().collect();
            // The daemon's own malloc-arena cap is not the agents' (ao_daemon's
            // `cap_malloc_arenas`); an operator's own setting is kept.
            if env.remove(process::MALLOC_ARENA_MARKER).is_some() {
                env.remove(process::MALLOC_ARENA_VAR);
            }
            env
        });
        let user_home = daemon_env.get("HOME").map(PathBuf::from);
        let github = cfg.scm.as_ref().map(|setup| {
            GithubClient::new(
                setup.config.clone(),
                Arc::clone(&setup.tokens),
                ClientOptions {
                    timeout: cfg.scm_timings.request_timeout,
                    ..ClientOptions::default()
                },
            )
            .map_err(|e| e.to_string())
        });
        Ok(Self {
            reader,
            reducer: ReducerHandle::new(Arc::clone(&registry)),
            registry,
            timeouts: cfg.timeouts,
            timings: cfg.sessions.clone(),
            data_dir: cfg.data_dir.clone(),
            home: cfg.home.clone(),
            run_file: cfg.run_file.clone(),
            tmux_socket: cfg.tmux_socket.clone(),
            ao_exe: cfg.ao_exe.clone(),
            daemon_env,
            default_runtime: cfg.default_runtime,
            runtimes,
            workspace,
            binaries: Arc::new(BinaryResolver::new(user_home)),
            reconciling: AtomicBool::new(false),
            budget_warned: Mutex::default(),
            scm: cfg.scm.clone(),
            github,
        })
    }

    /// The runtime adapter of `kind`, when this build has one.
    pub(crate) fn runtime(&self, kind: RuntimeKind) -> Option<Arc<dyn Runtime>> {
        self.runtimes.iter().find(|r| r.kind() == kind).cloned()
    }

    /// The runtime adapter of `kind`, or `RUNTIME_ERROR` when the tree was built without one
    /// (a test tree given only some runtimes).
    pub(crate) fn runtime_or_err(
        &self,
        kind: RuntimeKind,
    ) -> Result<Arc<dyn Runtime>, CommandError> {
        self.runtime(kind).ok_or_else(|| {
            CommandError::rejected(
                ao_protocol::ErrorCode::RuntimeError,
                format!("runtime {kind} is not available in this daemon"),
            )
        })
    }

    /// `<AO_DATA_DIR>/sessions/<id>`.
    pub(crate) fn session_dir(&self, id: &SessionId) -> PathBuf {
        self.data_dir.join("sessions").join(id.as_str())
    }

    /// One session row from the read pool.
    pub(crate) async fn session(&self, id: &SessionId) -> Result<Option<SessionRow>, CommandError> {
        let reader = self.reader.clone();
        let key = id.clone();
        internal(blocking(move || reader.get_session(&key)).await)
    }

    /// One project row (archived included).
    pub(crate) async fn project(&self, id: &ProjectId) -> Result<Option<ProjectRow>, CommandError> {
        let reader = self.reader.clone();
        let key = id.clone();
        internal(blocking(move || reader.get_project(&key)).await)
    }

    /// Every PR of a session with its children and nudge state (for the nudge evaluation).
    pub(crate) async fn pr_details(&self, id: &SessionId) -> Result<Vec<PrDetail>, CommandError> {
        let reader = self.reader.clone();
        let key = id.clone();
        internal(blocking(move || reader.pr_details_of_session(&key)).await)
    }

    /// `true` the first time (key, scope) reaches its nudge budget in this daemon run.
    pub(crate) fn first_budget_warning(&self, key: &str, scope: &str) -> bool {
        // Only inserts happen under the lock, so a poisoned set is still consistent.
        self.budget_warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((key.to_owned(), scope.to_owned()))
    }

    /// Sessions matching `filter`.
    pub(crate) async fn sessions(
        &self,
        filter: ao_store::SessionFilter,
    ) -> Result<Vec<SessionRow>, CommandError> {
        let reader = self.reader.clone();
        internal(blocking(move || reader.list_sessions(&filter)).await)
    }
}

/// Flattens a blocking read into a command result.
pub(crate) fn internal<T, E: std::fmt::Display>(
    r: Result<Result<T, StoreError>, E>,
) -> Result<T, CommandError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(CommandError::Internal(e.to_string())),
        Err(e) => Err(CommandError::Internal(e.to_string())),
    }
}
