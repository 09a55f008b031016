//! The Reaper (sessions.md §14), in this issue a stub that only does retention.
//!
//! Messages ([`ReaperMsg`]):
//! * `Prune`: sent every `prune_interval` (1 h) by `send_interval`; asks the LifecycleReducer to
//!   run `prune_change_log` (data-model.md §7) in a tracked task, so the mailbox stays free for
//!   the session probing a later issue adds here. A prune still running makes the tick a no-op.
//! * `Fault` (tests / `fault-injection` only): panics inside the handler.
//!
//! Stateless across restarts (README §3.2). The Reaper never writes SQLite itself.

use std::time::Duration;

use ao_store::Writer;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use crate::reducer::ReducerHandle;

/// Messages of the Reaper.
pub(crate) enum ReaperMsg {
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
}

pub(crate) struct ReaperState {
    reducer: ReducerHandle,
    call_timeout: Duration,
    ticker: JoinHandle<()>,
    pruning: Option<JoinHandle<()>>,
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
        let ticker = myself.send_interval(args.prune_interval, || ReaperMsg::Prune);
        Ok(ReaperState {
            reducer: args.reducer,
            call_timeout: args.call_timeout,
            ticker,
            pruning: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ReaperMsg>,
        state: &mut ReaperState,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        if let Some(task) = state.pruning.take() {
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
            ReaperMsg::Prune => {
                if state.pruning.as_ref().is_some_and(|t| !t.is_finished()) {
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
