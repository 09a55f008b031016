//! The Reaper (sessions.md §14): runtime probing and change-log retention.
//!
//! Messages ([`ReaperMsg`]):
//! * `Probe`: sent every `reaper_tick` (5 s) by `send_interval`. A tracked task reads the live
//!   sessions that have a runtime handle, runs **one** `probe_all` per runtime kind, and casts
//!   each result to the session's SessionActor (`Observe`, stamped with the time the probe
//!   started so an actor can ignore an observation older than its last operation). For a live
//!   session without an actor it drops the result and casts `EnsureSession(id)` to the
//!   session's ProjectActor. A probe still running makes the tick a no-op, and so does a boot
//!   reconcile in progress (it probes and decides every live session itself first). Before
//!   probing, the task replays the hook spool if a hook appended to it since the boot replay
//!   ([`crate::spool::replay_pending`]).
//! * `Prune`: sent every `prune_interval` (1 h); asks the LifecycleReducer to run
//!   `prune_change_log` (data-model.md §7) in a tracked task.
//! * `Fault` (tests / `fault-injection` only): panics inside the handler.
//!
//! Stateless across restarts (README §3.2): the missing-streak counters live in the
//! SessionActors. The Reaper never writes SQLite itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ao_adapters::{Probe, ProbeTarget};
use ao_protocol::RuntimeKind;
use ao_store::{SessionFilter, SessionRow, Writer};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use crate::projects::ProjectMsg;
use crate::reducer::ReducerHandle;
use crate::sessions::SessionServices;
use crate::sessions::actor::SessionMsg;

/// Messages of the Reaper.
pub(crate) enum ReaperMsg {
    /// Time to probe the runtimes.
    Probe,
    /// Time to prune `change_log`.
    Prune,
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

pub(crate) struct Reaper;

pub(crate) struct ReaperArgs {
    pub(crate) reducer: ReducerHandle,
    pub(crate) prune_interval: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) svc: Arc<SessionServices>,
}

pub(crate) struct ReaperState {
    reducer: ReducerHandle,
    call_timeout: Duration,
    svc: Arc<SessionServices>,
    tickers: Vec<JoinHandle<()>>,
    pruning: Option<JoinHandle<()>>,
    probing: Option<JoinHandle<()>>,
}

fn running(task: Option<&JoinHandle<()>>) -> bool {
    task.is_some_and(|t| !t.is_finished())
}

impl Actor for Reaper {
    type Msg = ReaperMsg;
    type State = ReaperState;
    type Arguments = ReaperArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ReaperMsg>,
        args: ReaperArgs,
    ) -> Result<ReaperState, ActorProcessingErr> {
        let tickers = vec![
            myself.send_interval(args.prune_interval, || ReaperMsg::Prune),
            myself.send_interval(args.svc.timings.reaper_tick, || ReaperMsg::Probe),
        ];
        Ok(ReaperState {
            reducer: args.reducer,
            call_timeout: args.call_timeout,
            svc: args.svc,
            tickers,
            pruning: None,
            probing: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ReaperMsg>,
        state: &mut ReaperState,
    ) -> Result<(), ActorProcessingErr> {
        for t in state.tickers.drain(..) {
            t.abort();
        }
        for task in [state.pruning.take(), state.probing.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<ReaperMsg>,
        msg: ReaperMsg,
        state: &mut ReaperState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReaperMsg::Probe => {
                if running(state.probing.as_ref()) {
                    tracing::debug!("reaper: the previous probe still runs; tick skipped");
                } else {
                    let svc = Arc::clone(&state.svc);
                    state.probing = Some(tokio::spawn(async move {
                        crate::spool::replay_pending(&svc).await;
                        probe_sessions(&svc).await;
                    }));
                }
                Ok(())
            }
            ReaperMsg::Prune => {
                if running(state.pruning.as_ref()) {
                    return Ok(());
                }
                let reducer = state.reducer.clone();
                let timeout = state.call_timeout;
                state.pruning = Some(tokio::spawn(async move {
                    match reducer
                        .write("prune_change_log", Writer::prune_change_log, timeout)
                        .await
                    {
                        Ok(Ok(deleted)) => tracing::debug!(deleted, "pruned change_log"),
                        Ok(Err(e)) => tracing::warn!(error = %e, "change_log prune failed"),
                        Err(e) => tracing::warn!(error = %e, "change_log prune not run"),
                    }
                }));
                Ok(())
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ReaperMsg::Fault => panic!("injected fault in the reaper"),
        }
    }
}

/// One probe round (sessions.md §14 steps 1–4). Skipped while boot reconcile runs: reconcile
/// probes and decides every live session itself first.
pub(crate) async fn probe_sessions(svc: &SessionServices) {
    if svc.reconciling.load(Ordering::SeqCst) {
        tracing::debug!("reaper: boot reconcile is running; probe skipped");
        return;
    }
    let at = Instant::now();
    let rows = match svc
        .sessions(SessionFilter {
            project: None,
            kind: None,
            active: Some(true),
        })
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "reaper: cannot read the live sessions");
            return;
        }
    };
    tracing::debug!(live = rows.len(), "reaper: probe round");
    let mut by_kind: BTreeMap<&'static str, (RuntimeKind, Vec<SessionRow>)> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| !r.runtime_handle_id.is_empty()) {
        by_kind
            .entry(row.runtime.as_str())
            .or_insert_with(|| (row.runtime, Vec::new()))
            .1
            .push(row);
    }
    for (kind, group) in by_kind.into_values() {
        let Some(runtime) = svc.runtime(kind) else {
            tracing::debug!(%kind, "reaper: no adapter for this runtime; not probed");
            continue;
        };
        let targets: Vec<ProbeTarget> = group
            .iter()
            .map(|r| ProbeTarget {
                name: r.runtime_handle_id.clone(),
                session_id: r.id.clone(),
            })
            .collect();
        let results = runtime.probe_all(&targets).await;
        for row in group {
            let probe = results
                .get(&row.runtime_handle_id)
                .copied()
                .unwrap_or(Probe::Unknown);
            let actor = svc.registry.sessions.get(&row.id).map(|a| a.clone());
            if let Some(actor) = actor {
                let _ = actor.cast(SessionMsg::Observe { probe, at });
            } else if let Some(pa) = svc
                .registry
                .projects
                .get(&row.project_id)
                .map(|a| a.clone())
            {
                let _ = pa.cast(ProjectMsg::EnsureSession(row.id));
            }
        }
    }
}
