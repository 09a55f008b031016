//! Root: the top supervisor of the actor tree (README §3.1–3.2).
//!
//! Children (all permanent, started in this order in `pre_start`): LifecycleReducer,
//! CdcPoller, Reaper, ProjectSupervisor, ScmSupervisor (the GitHub PR loop, [`crate::scm`];
//! idle when GitHub is disabled).
//!
//! Messages ([`RootMsg`]):
//! * `Restart(child)` (internal, sent with `send_after`): start a child again.
//! * `Fault` (tests / `fault-injection` only): panics inside the handler.
//!
//! Supervision: a child that ends is restarted after the budgeted delay of
//! [`crate::supervision`]; its registry slot is empty meanwhile, so commands that need it get
//! `Unavailable`. A child that exceeds its budget makes Root give up: it publishes the reason on
//! the tree's failure channel (`ActorTree::failure()`) and stops, and the daemon then runs its
//! shutdown and exits 1.
//!
//! `post_stop` stops the children in reverse dependency order (ScmSupervisor,
//! ProjectSupervisor, Reaper, CdcPoller, then the reducer, so in-flight writes finish) and
//! clears the registry.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ao_store::ReadPool;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SpawnErr, SupervisionEvent};
use tokio::sync::watch;

use crate::cdc::{CdcArgs, CdcPoller};
use crate::config::ActorsConfig;
use crate::events::EventsHub;
use crate::projects::{ProjectCtx, ProjectSupervisor};
use crate::reaper::{Reaper, ReaperArgs};
use crate::reducer::{LifecycleReducer, ReducerArgs, ReducerHandle, WriterSlot};
use crate::registry::Registry;
use crate::scm::ScmShared;
use crate::scm::supervisor::{ScmSupArgs, ScmSupMsg, ScmSupervisor};
use crate::sessions::{SessionServices, SessionsHandle};
use crate::supervision::{ChildSet, RestartPolicy, Verdict};

/// How long Root waits for each child to stop.
const CHILD_STOP_WAIT: Duration = Duration::from_secs(5);

/// The children of Root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RootChild {
    Reducer,
    CdcPoller,
    Reaper,
    ProjectSupervisor,
    ScmSupervisor,
}

impl RootChild {
    const START_ORDER: [RootChild; 5] = [
        RootChild::Reducer,
        RootChild::CdcPoller,
        RootChild::Reaper,
        RootChild::ProjectSupervisor,
        RootChild::ScmSupervisor,
    ];
}

/// Messages of Root.
pub(crate) enum RootMsg {
    /// Start this child again.
    Restart(RootChild),
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

/// Everything the tree's actors are built from.
pub(crate) struct TreeCtx {
    pub(crate) cfg: ActorsConfig,
    pub(crate) reader: ReadPool,
    pub(crate) slot: WriterSlot,
    pub(crate) hub: EventsHub,
    pub(crate) registry: Arc<Registry>,
    pub(crate) failure: Arc<watch::Sender<Option<String>>>,
    pub(crate) svc: Arc<SessionServices>,
    /// The GitHub client and rate budget ([`crate::scm`]).
    pub(crate) scm: Arc<ScmShared>,
    /// The running ScmSupervisor (not in the registry: nothing calls it).
    pub(crate) scm_sup: Mutex<Option<ActorRef<ScmSupMsg>>>,
}

impl TreeCtx {
    pub(crate) fn scm_sup(&self) -> std::sync::MutexGuard<'_, Option<ActorRef<ScmSupMsg>>> {
        self.scm_sup.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the tree's fatal failure (the first reason wins).
    pub(crate) fn fail(&self, reason: &str) {
        self.failure.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason.to_string());
                true
            } else {
                false
            }
        });
    }
}

pub(crate) struct Root;

pub(crate) struct RootState {
    ctx: Arc<TreeCtx>,
    children: ChildSet<RootChild>,
}

async fn spawn_child(
    myself: &ActorRef<RootMsg>,
    ctx: &TreeCtx,
    child: RootChild,
) -> Result<ActorId, SpawnErr> {
    let sup = myself.get_cell();
    let registry = &ctx.registry;
    let id = match child {
        RootChild::Reducer => {
            let args = ReducerArgs {
                slot: ctx.slot.clone(),
                registry: Arc::clone(registry),
            };
            let (actor, _) = Actor::spawn_linked(None, LifecycleReducer, args, sup).await?;
            registry.reducer.set(Some(actor.clone()));
            actor.get_id()
        }
        RootChild::CdcPoller => {
            let args = CdcArgs {
                reader: ctx.reader.clone(),
                hub: ctx.hub.clone(),
                tick: ctx.cfg.cdc_safety_tick,
            };
            let (actor, _) = Actor::spawn_linked(None, CdcPoller, args, sup).await?;
            registry.cdc.set(Some(actor.clone()));
            actor.get_id()
        }
        RootChild::Reaper => {
            let args = ReaperArgs {
                reducer: ReducerHandle::new(Arc::clone(registry)),
                prune_interval: ctx.cfg.prune_interval,
                call_timeout: ctx.cfg.timeouts.long,
                svc: Arc::clone(&ctx.svc),
            };
            let (actor, _) = Actor::spawn_linked(None, Reaper, args, sup).await?;
            registry.reaper.set(Some(actor.clone()));
            actor.get_id()
        }
        RootChild::ProjectSupervisor => {
            let args = ProjectCtx {
                reader: ctx.reader.clone(),
                reducer: ReducerHandle::new(Arc::clone(registry)),
                registry: Arc::clone(registry),
                timeouts: ctx.cfg.timeouts,
                supervision: ctx.cfg.supervision,
                svc: Arc::clone(&ctx.svc),
            };
            let (actor, _) = Actor::spawn_linked(None, ProjectSupervisor, args, sup).await?;
            registry.project_sup.set(Some(actor.clone()));
            actor.get_id()
        }
        RootChild::ScmSupervisor => {
            let args = ScmSupArgs {
                shared: Arc::clone(&ctx.scm),
                reader: ctx.reader.clone(),
                reducer: ReducerHandle::new(Arc::clone(registry)),
                sessions: SessionsHandle::new(Arc::clone(&ctx.svc)),
                hub: ctx.hub.clone(),
                registry: Arc::clone(registry),
                write_timeout: ctx.cfg.timeouts.short,
                supervision: ctx.cfg.supervision,
            };
            let (actor, _) = Actor::spawn_linked(None, ScmSupervisor, args, sup).await?;
            *ctx.scm_sup() = Some(actor.clone());
            actor.get_id()
        }
    };
    Ok(id)
}

/// Empties the registry slot of `child` if it still names `actor`.
fn clear_slot(ctx: &TreeCtx, child: RootChild, actor: ActorId) {
    let registry = &ctx.registry;
    match child {
        RootChild::ScmSupervisor => {
            let mut slot = ctx.scm_sup();
            if slot.as_ref().is_some_and(|a| a.get_id() == actor) {
                *slot = None;
            }
        }
        RootChild::Reducer => registry.reducer.clear_if(actor),
        RootChild::CdcPoller => registry.cdc.clear_if(actor),
        RootChild::Reaper => registry.reaper.clear_if(actor),
        RootChild::ProjectSupervisor => {
            registry.project_sup.clear_if(actor);
            // Its ProjectActors (and their SessionActors) were killed with it.
            registry.projects.clear();
            registry.sessions.clear();
        }
    }
}

impl Root {
    fn apply(myself: &ActorRef<RootMsg>, state: &RootState, verdict: Option<Verdict<RootChild>>) {
        match verdict {
            None | Some(Verdict::Done { .. }) => {}
            Some(Verdict::Restart {
                key,
                attempt,
                delay,
            }) => {
                tracing::warn!(child = ?key, attempt, ?delay, "restarting actor");
                myself.send_after(delay, move || RootMsg::Restart(key));
            }
            Some(Verdict::Escalate { key, reason }) => {
                tracing::error!(child = ?key, %reason, "actor tree failed; stopping");
                state.ctx.fail(&reason);
                myself.stop(Some(reason));
            }
        }
    }
}

impl Actor for Root {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = Arc<TreeCtx>;

    async fn pre_start(
        &self,
        myself: ActorRef<RootMsg>,
        ctx: Arc<TreeCtx>,
    ) -> Result<RootState, ActorProcessingErr> {
        let mut children = ChildSet::new(ctx.cfg.supervision);
        for child in RootChild::START_ORDER {
            let id = spawn_child(&myself, &ctx, child)
                .await
                .map_err(|e| format!("starting {child:?}: {e}"))?;
            children.started(child, RestartPolicy::Permanent, id);
        }
        Ok(RootState { ctx, children })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<RootMsg>,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let registry = &state.ctx.registry;
        let scm_sup = state.ctx.scm_sup().take();
        if let Some(a) = scm_sup {
            let _ = a.stop_and_wait(None, Some(CHILD_STOP_WAIT * 2)).await;
        }
        if let Some(a) = registry.project_sup.get() {
            let _ = a.stop_and_wait(None, Some(CHILD_STOP_WAIT * 3)).await;
        }
        if let Some(a) = registry.reaper.get() {
            let _ = a.stop_and_wait(None, Some(CHILD_STOP_WAIT)).await;
        }
        if let Some(a) = registry.cdc.get() {
            let _ = a.stop_and_wait(None, Some(CHILD_STOP_WAIT)).await;
        }
        if let Some(a) = registry.reducer.get() {
            let _ = a.stop_and_wait(None, Some(CHILD_STOP_WAIT)).await;
        }
        registry.clear();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<RootMsg>,
        msg: RootMsg,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RootMsg::Restart(child) => {
                if state.children.is_running(&child) {
                    return Ok(());
                }
                match spawn_child(&myself, &state.ctx, child).await {
                    Ok(id) => {
                        state.children.started(child, RestartPolicy::Permanent, id);
                        tracing::info!(child = ?child, "actor restarted");
                    }
                    Err(e) => {
                        tracing::warn!(child = ?child, error = %e, "actor restart failed");
                        let verdict =
                            state
                                .children
                                .on_spawn_failed(&child, &e.to_string(), Instant::now());
                        Self::apply(&myself, state, verdict);
                    }
                }
            }
            #[cfg(any(test, feature = "fault-injection"))]
            RootMsg::Fault => panic!("injected fault in the root supervisor"),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<RootMsg>,
        event: SupervisionEvent,
        state: &mut RootState,
    ) -> Result<(), ActorProcessingErr> {
        let Some(actor) = event.actor_id() else {
            return Ok(());
        };
        let child = state.children.key_of(actor).copied();
        let verdict = state.children.on_event(&event, Instant::now());
        if let Some(child) = child
            && verdict.is_some()
        {
            tracing::warn!(child = ?child, %event, "actor ended");
            clear_slot(&state.ctx, child, actor);
        }
        Self::apply(&myself, state, verdict);
        Ok(())
    }
}
