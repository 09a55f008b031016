//! [`spawn_tree`] and [`ActorTree`]: starting, observing and stopping the actor tree.
//!
//! The tree owns the store's single [`Writer`] (in the reducer's writer slot) for its whole
//! life; [`ActorTree::shutdown`] stops every actor with `stop_and_wait` and then closes the
//! write connection. A watcher task turns an unexpected end of Root (a panic, or giving up
//! after an escalation) into `Some(reason)` on [`ActorTree::failure`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ao_store::{ReadPool, Writer};
use ractor::{Actor, ActorRef, ActorStatus};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ActorsConfig;
use crate::error::ActorsError;
use crate::events::EventsHub;
use crate::handle::ProjectsHandle;
use crate::reconcile::ReconcileReport;
use crate::reducer::WriterSlot;
use crate::registry::Registry;
use crate::root::{Root, RootMsg, TreeCtx};
use crate::scm::ScmShared;
use crate::sessions::{SessionServices, SessionsHandle};

/// The running actor tree and its handles.
pub struct ActorTree {
    /// Project commands.
    pub projects: ProjectsHandle,
    /// Session and orchestrator commands.
    pub sessions: SessionsHandle,
    /// The live change feed.
    pub events: EventsHub,
    pub(crate) root: ActorRef<RootMsg>,
    pub(crate) registry: Arc<Registry>,
    pub(crate) ctx: Arc<TreeCtx>,
    failure: watch::Receiver<Option<String>>,
    stopping: Arc<AtomicBool>,
    watcher: JoinHandle<()>,
}

impl std::fmt::Debug for ActorTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorTree")
            .field("root", &self.root.get_id())
            .field("failure", &*self.failure.borrow())
            .finish_non_exhaustive()
    }
}

/// Starts Root and, under it, the LifecycleReducer (which takes `writer`), the CdcPoller, the
/// Reaper, the ProjectSupervisor (which starts a ProjectActor per live project) and the
/// ScmSupervisor (a PrObserver per GitHub repo; idle when GitHub is disabled). Returns
/// once every actor has run its `pre_start`.
pub async fn spawn_tree(
    cfg: ActorsConfig,
    reader: ReadPool,
    writer: Writer,
) -> Result<ActorTree, ActorsError> {
    let registry = Arc::new(Registry::default());
    let hub = EventsHub::new();
    let (failure_tx, failure_rx) = watch::channel(None);
    let timeouts = cfg.timeouts;
    let svc = Arc::new(SessionServices::build(
        &cfg,
        reader.clone(),
        Arc::clone(&registry),
    )?);
    let scm = Arc::new(ScmShared::build(&cfg));
    let ctx = Arc::new(TreeCtx {
        scm,
        scm_sup: std::sync::Mutex::new(None),
        cfg,
        reader,
        slot: WriterSlot::new(writer),
        hub: hub.clone(),
        registry: Arc::clone(&registry),
        failure: Arc::new(failure_tx),
        svc: Arc::clone(&svc),
    });
    let (root, join) = Actor::spawn(None, Root, Arc::clone(&ctx))
        .await
        .map_err(|e| ActorsError::Spawn(e.to_string()))?;

    let stopping = Arc::new(AtomicBool::new(false));
    let watcher = {
        let ctx = Arc::clone(&ctx);
        let stopping = Arc::clone(&stopping);
        tokio::spawn(async move {
            let _ = join.await;
            if !stopping.load(Ordering::SeqCst) {
                ctx.fail("the root actor stopped unexpectedly");
            }
            ctx.registry.clear();
        })
    };

    Ok(ActorTree {
        projects: ProjectsHandle::new(Arc::clone(&registry), timeouts),
        sessions: SessionsHandle::new(svc),
        events: hub,
        root,
        registry,
        ctx,
        failure: failure_rx,
        stopping,
        watcher,
    })
}

impl ActorTree {
    /// Boot reconcile: the hook-spool replay (sessions.md §12.1), then §17 a–f (see
    /// [`crate::reconcile`]). The daemon calls it after starting the tree and before readiness
    /// becomes `ready`. Best-effort: per-session failures are logged and listed in the report;
    /// only an unreadable session table is an error. Running it twice in a row changes
    /// nothing the second time.
    pub async fn reconcile(&self) -> Result<ReconcileReport, ActorsError> {
        crate::reconcile::run(&self.ctx.svc, &self.sessions).await
    }

    /// The `github` block of `GET /api/v1/status` (scm.md §8): the shared rate budget's
    /// state, token source, poll interval, last poll/error, backoff and both rate windows.
    /// `disabled` without a GitHub setup or a token.
    pub fn github_status(&self) -> ao_protocol::GithubStatus {
        self.ctx.scm.status()
    }

    /// Becomes `Some(reason)` when the tree gave up (a child of Root exceeded its restart
    /// budget, or Root itself died). The daemon then shuts down and exits 1.
    pub fn failure(&self) -> watch::Receiver<Option<String>> {
        self.failure.clone()
    }

    /// Whether Root is still running.
    pub fn is_running(&self) -> bool {
        matches!(
            self.root.get_status(),
            ActorStatus::Starting | ActorStatus::Running
        )
    }

    /// Stops the whole tree (`stop_and_wait`, children before the reducer) within `timeout`,
    /// killing what is left after it, and closes the write connection. Commands sent after
    /// this get `Unavailable`.
    pub async fn shutdown(self, timeout: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        if self
            .root
            .stop_and_wait(Some("shutdown".to_string()), Some(timeout))
            .await
            .is_err()
            && self.is_running()
        {
            tracing::warn!("actor tree did not stop in time; killing it");
            self.root.kill();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.watcher).await;
        self.registry.clear();
        // The reducer's lease returns the writer when its state is dropped; wait briefly.
        if let Some(writer) = self.ctx.slot.close(Duration::from_secs(2)).await {
            drop(writer);
        } else {
            tracing::warn!("the write connection was not returned; it closes with the process");
        }
    }
}
