//! The life of one daemon: boot (sessions.md §17) and shutdown (§16).
//!
//! Boot order: validate config (including `AO_GITHUB_*`, which also builds the one GitHub
//! token provider) → create `AO_HOME` and the data dir (0700) → take `daemon.lock`
//! → open and migrate the store → bind `127.0.0.1:<AO_PORT>` (on `EADDRINUSE`, an ephemeral
//! loopback port) → generate the token → write `running.json` → serve with readiness
//! `starting` → prepare both runtimes (tmux writes `<AO_HOME>/tmux.conf`; zellij needs
//! nothing) → spawn the actor tree with the runtimes and the git-worktree
//! workspace → boot reconcile (`ActorTree::reconcile`,
//! which also replays the hook spool) → `ready`.
//!
//! While it runs, a task keeps `running.json` in place (rewritten within a second when it is
//! deleted or damaged under the daemon; see `files::keep_run_file`).
//!
//! Shutdown runs once, whatever triggered it (signal, `POST /shutdown`, [`RunningDaemon`],
//! actor-tree failure): readiness `shutting_down` (new API calls get 503, SSE streams end) →
//! drain HTTP bounded by `AO_SHUTDOWN_TIMEOUT` (then in-flight handlers are answered 503) → stop
//! the actor tree (10 s) → remove `running.json` if it still names this pid → release the lock.
//!
//! Invariants: the listener is only ever bound to 127.0.0.1; the token is never logged.

use std::future::{Future, IntoFuture};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ao_protocol::{EnvConfig, ReadinessState, RunFile, VERSION};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::files::{self, DaemonLock};
use crate::http::routes;
use crate::http::state::{AppState, Handles, ScmEnv, SharedTree, StateInit, Tuning};
use crate::{DaemonError, config};
use ao_actors::{ActorsConfig, ScmSetup};
use ao_adapters::scm::{ScmConfig, TokenProvider};
use ao_adapters::{GitWorktree, Runtime, Tmux, Workspace, Zellij};

/// Extra time given to connections after in-flight handlers were told to give up.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// A daemon running inside this process (tests, benchmarks, `ao daemon`).
pub struct RunningDaemon {
    port: u16,
    token: String,
    app: AppState,
    task: JoinHandle<Result<(), DaemonError>>,
    /// Test-only: asks the lifecycle task (which owns the tree) to inject an actor panic.
    #[cfg(test)]
    faults: tokio::sync::mpsc::UnboundedSender<ao_actors::FaultTarget>,
}

impl std::fmt::Debug for RunningDaemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningDaemon")
            .field("port", &self.port)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl RunningDaemon {
    /// The bound port (the real one after an `EADDRINUSE` fallback).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The API token of this run (also in `running.json`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the shutdown sequence without waiting for it.
    pub fn request_shutdown(&self) {
        self.app.request_shutdown();
    }

    /// Shuts the daemon down and waits until the sequence is complete. Errors (an actor-tree
    /// failure that happened before) are logged; use [`RunningDaemon::wait`] to observe them.
    pub async fn shutdown(self) {
        self.app.request_shutdown();
        if let Err(e) = self.wait().await {
            tracing::warn!(error = %e, "daemon ended with an error");
        }
    }

    /// Test-only: makes an actor of the tree panic.
    #[cfg(test)]
    pub(crate) fn inject_panic(&self, target: ao_actors::FaultTarget) {
        let _ = self.faults.send(target);
    }

    /// Test-only: a fault injector that outlives `wait(self)`.
    #[cfg(test)]
    pub(crate) fn fault_injector(&self) -> FaultInjector {
        FaultInjector(self.faults.clone())
    }

    /// Waits until the daemon has shut down (for whatever reason). `Err` after a root actor
    /// failure.
    pub async fn wait(self) -> Result<(), DaemonError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(DaemonError::Task(e.to_string())),
        }
    }
}

/// Test-only handle that makes actors of a running daemon panic.
#[cfg(test)]
#[derive(Clone)]
pub(crate) struct FaultInjector(tokio::sync::mpsc::UnboundedSender<ao_actors::FaultTarget>);

#[cfg(test)]
impl FaultInjector {
    pub(crate) fn inject_panic(&self, target: ao_actors::FaultTarget) {
        let _ = self.0.send(target);
    }
}

/// Boots a daemon in this process and returns once it is `ready`.
pub async fn start(env: EnvConfig) -> Result<RunningDaemon, DaemonError> {
    start_with(env, Tuning::default()).await
}

/// [`start`] with explicit tuning (tests shorten intervals).
pub(crate) async fn start_with(
    env: EnvConfig,
    tuning: Tuning,
) -> Result<RunningDaemon, DaemonError> {
    crate::install_crypto_provider();
    config::log_filter(&env)?;
    // Invalid AO_GITHUB_* variables are a startup error, like every other AO_* variable.
    let scm = scm_setup(tuning.scm_env.as_ref())?;
    files::create_private_dir(&env.home)?;
    files::create_private_dir(&env.data_dir)?;
    let lock = DaemonLock::acquire(&env.lock_path())?;

    let data_dir = env.data_dir.clone();
    let opened = tokio::task::spawn_blocking(move || ao_store::open(&data_dir))
        .await
        .map_err(|e| DaemonError::Task(e.to_string()))?
        .map_err(|e| DaemonError::Store(e.to_string()))?;

    let workspace: Arc<dyn Workspace> = Arc::new(GitWorktree::open(&env.data_dir).map_err(
        |e| DaemonError::Io {
            what: "cannot create the worktree root under",
            path: env.data_dir.clone(),
            message: e.to_string(),
        },
    )?);

    let listener = bind(env.port).await?;
    let port = listener
        .local_addr()
        .map_err(|e| DaemonError::Bind {
            port: env.port,
            message: e.to_string(),
        })?
        .port();
    let token = files::generate_token()?;
    let started_at = ao_protocol::time::now();
    let pid = std::process::id();
    let run_file = RunFile {
        pid,
        port,
        token: token.clone(),
        started_at: started_at.clone(),
        version: VERSION.into(),
        home: env.home.to_string_lossy().into_owned(),
        data_dir: env.data_dir.to_string_lossy().into_owned(),
    };
    files::write_run_file(&env.run_file, &run_file)?;
    let run_file_keeper = tokio::spawn(files::keep_run_file(env.run_file.clone(), run_file));

    let app = AppState::new(StateInit {
        env: env.clone(),
        port,
        token: token.clone(),
        started_at,
        reader: opened.reader.clone(),
        tuning,
    });
    let (drain_tx, drain_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, routes::router(app.clone()))
            .with_graceful_shutdown(async move {
                let _ = drain_rx.await;
            })
            .into_future(),
    );
    tracing::info!(pid, port, version = VERSION, "ao daemon serving (starting)");

    // Both runtimes, always: each session row names its own (a project's `config.runtime`
    // overrides `AO_RUNTIME`), and the Reaper probes each kind that has live sessions.
    let runtimes: Vec<Arc<dyn Runtime>> = vec![
        Arc::new(Tmux::from_env(&env)),
        Arc::new(Zellij::from_env(&env)),
    ];
    for runtime in &runtimes {
        if let Err(e) = runtime.prepare().await {
            // Not fatal: the daemon still serves projects, and spawns report the runtime error.
            tracing::warn!(error = %e, runtime = %runtime.kind(), "cannot prepare the runtime");
        }
    }
    let mut actors = ActorsConfig::new(env.data_dir.clone(), env.runtime);
    actors.home = env.home.clone();
    actors.run_file = env.run_file.clone();
    actors.tmux_socket = env.tmux_socket.clone();
    actors.ao_exe = std::env::current_exe().ok();
    actors.runtimes = runtimes.clone();
    actors.workspace = Some(workspace);
    actors.scm = Some(scm);
    actors.scm_timings = ao_actors::ScmTimings::with_poll_interval(env.github_poll_interval);
    let tree = ao_actors::spawn_tree(actors, opened.reader, opened.writer).await;
    let tree = match tree {
        Ok(tree) => tree,
        Err(e) => {
            let err = DaemonError::Actors(e.to_string());
            run_file_keeper.abort();
            app.set_readiness(ReadinessState::ShuttingDown);
            let _ = drain_tx.send(());
            drain(&app, server).await;
            files::remove_run_file_if_ours(&env.run_file, pid);
            return Err(err);
        }
    };
    // Boot reconcile (sessions.md §17) is best-effort: it never blocks readiness.
    match tree.reconcile().await {
        Ok(report) => tracing::info!(?report, "boot reconcile done"),
        Err(e) => tracing::warn!(error = %e, "boot reconcile failed"),
    }
    let failure = tree.failure();
    let handles = Handles {
        projects: tree.projects.clone(),
        sessions: tree.sessions.clone(),
        events: tree.events.clone(),
        runtimes,
        tree: SharedTree::new(tree),
    };
    let tree = handles.tree.clone();
    app.install(handles);
    app.set_readiness(ReadinessState::Ready);
    tracing::info!(pid, port, "ao daemon ready");

    #[cfg(test)]
    let (faults, fault_rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(lifecycle(Lifecycle {
        app: app.clone(),
        tree,
        failure,
        server,
        drain: drain_tx,
        run_file_keeper,
        lock,
        env,
        #[cfg(test)]
        faults: fault_rx,
    }));
    Ok(RunningDaemon {
        port,
        token,
        app,
        task,
        #[cfg(test)]
        faults,
    })
}

/// The GitHub endpoints and the daemon's one token provider (scm.md §2): from the process
/// environment (and `gh auth token`), or from a test environment.
fn scm_setup(test_env: Option<&ScmEnv>) -> Result<ScmSetup, DaemonError> {
    let Some(test_env) = test_env else {
        let config = ScmConfig::from_env()?;
        let tokens = Arc::new(TokenProvider::new(config.host.clone()));
        return Ok(ScmSetup { config, tokens });
    };
    let config = ScmConfig::from_lookup(|k| (test_env.lookup)(k))?;
    let lookup = Arc::clone(&test_env.lookup);
    let tokens = TokenProvider::with_lookup(config.host.clone(), move |k| lookup(k))
        .gh_program(test_env.gh_program.clone());
    Ok(ScmSetup {
        config,
        tokens: Arc::new(tokens),
    })
}

/// Runs a daemon until `shutdown` resolves (or another trigger fires), then shuts it down.
pub async fn run(
    env: EnvConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    let daemon = start(env).await?;
    let app = daemon.app.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutdown signal received");
        app.request_shutdown();
    });
    let result = daemon.wait().await;
    watcher.abort();
    result
}

/// Binds 127.0.0.1:`port`, or an ephemeral loopback port when `port` is taken. Never any other
/// address.
async fn bind(port: u16) -> Result<TcpListener, DaemonError> {
    let wanted = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match TcpListener::bind(wanted).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
                .await
                .map_err(|e| DaemonError::Bind {
                    port: 0,
                    message: e.to_string(),
                })?;
            let actual = listener.local_addr().map_or(0, |a| a.port());
            tracing::warn!(
                wanted = port,
                port = actual,
                "port {port} is in use; listening on 127.0.0.1:{actual} instead (recorded in running.json)"
            );
            Ok(listener)
        }
        Err(e) => Err(DaemonError::Bind {
            port,
            message: e.to_string(),
        }),
    }
}

/// What the shutdown sequence owns.
struct Lifecycle {
    app: AppState,
    tree: SharedTree,
    /// The tree's failure signal (taken before the tree was shared).
    failure: watch::Receiver<Option<String>>,
    server: JoinHandle<std::io::Result<()>>,
    drain: oneshot::Sender<()>,
    /// [`files::keep_run_file`]; aborted when shutdown begins, so the run-file can go.
    run_file_keeper: JoinHandle<()>,
    lock: DaemonLock,
    env: EnvConfig,
    #[cfg(test)]
    faults: tokio::sync::mpsc::UnboundedReceiver<ao_actors::FaultTarget>,
}

/// Waits for a trigger, then runs the shutdown sequence once.
async fn lifecycle(l: Lifecycle) -> Result<(), DaemonError> {
    #[cfg(not(test))]
    let failure = trigger(&l.app, &l.failure).await;
    #[cfg(test)]
    let failure = {
        let mut faults = l.faults;
        loop {
            tokio::select! {
                failure = trigger(&l.app, &l.failure) => break failure,
                Some(target) = faults.recv() => {
                    let _ = l.tree.with(|tree| tree.inject_panic(target));
                }
            }
        }
    };
    l.run_file_keeper.abort();
    if let Some(reason) = &failure {
        tracing::error!(reason, "root actor failed; shutting down");
    }
    tracing::info!("shutdown: draining HTTP");
    l.app.set_readiness(ReadinessState::ShuttingDown);
    let _ = l.drain.send(());
    drain(&l.app, l.server).await;
    tracing::info!("shutdown: stopping the actor tree");
    if let Some(tree) = l.tree.take() {
        tree.shutdown(l.app.tuning.actors_stop_timeout).await;
    }
    if files::remove_run_file_if_ours(&l.env.run_file, l.app.pid) {
        tracing::debug!(path = %l.env.run_file.display(), "run-file removed");
    }
    tracing::info!(lock = %l.lock.path().display(), "ao daemon stopped");
    drop(l.lock);
    match failure {
        Some(reason) => Err(DaemonError::ActorFailure(reason)),
        None => Ok(()),
    }
}

/// Resolves when shutdown is requested (`None`) or the actor tree failed (`Some(reason)`).
async fn trigger(app: &AppState, failure: &watch::Receiver<Option<String>>) -> Option<String> {
    let mut requested = app.watch_shutdown();
    tokio::select! {
        _ = requested.wait_for(|v| *v) => None,
        reason = root_failure(failure.clone()) => Some(reason),
    }
}

/// Resolves with the reason once the root actor reports a failure; never if it cannot.
async fn root_failure(mut rx: watch::Receiver<Option<String>>) -> String {
    let reason = rx
        .wait_for(Option::is_some)
        .await
        .map(|r| r.clone().unwrap_or_default());
    match reason {
        Ok(reason) => reason,
        Err(_) => std::future::pending().await,
    }
}

/// Waits for the server's graceful shutdown, bounded by `AO_SHUTDOWN_TIMEOUT`; past the bound,
/// in-flight handlers are answered 503 and connections get a short grace before being dropped.
async fn drain(app: &AppState, mut server: JoinHandle<std::io::Result<()>>) {
    if tokio::time::timeout(app.env.shutdown_timeout, &mut server)
        .await
        .is_ok()
    {
        return;
    }
    tracing::warn!(
        "HTTP drain did not finish within {}; answering in-flight requests with 503",
        ao_protocol::env::format_duration(app.env.shutdown_timeout)
    );
    app.abort_in_flight();
    if tokio::time::timeout(ABANDON_GRACE, &mut server)
        .await
        .is_err()
    {
        server.abort();
    }
}
