//! The CdcPoller: tails `change_log` and feeds the [`EventsHub`].
//!
//! Messages ([`CdcMsg`]):
//! * `Wake`: cast by the LifecycleReducer after every commit that inserted `change_log` rows.
//! * `Tick`: the 1 s safety poll (sent by `send_interval`), which also covers a lost `Wake`.
//! * `Fault` (tests / `fault-injection` only): panics inside the handler.
//!
//! On either, the poller reads `read_changes(after = cursor, asc, 512)` from the read pool
//! (on the blocking pool) until a batch comes back short, broadcasting every event in `seq`
//! order and advancing the cursor.
//!
//! State is reloaded in `pre_start`: the cursor starts at the current `head_seq` (README §3.2):
//! live subscribers miss what was written while the poller was down, and resume from the store
//! as they do after a lag. A failed read is logged and retried on the next tick, never
//! skipped.

use std::time::Duration;

use ao_protocol::LogOrder;
use ao_store::{ChangeQuery, ReadPool, StoreError};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use crate::events::EventsHub;

/// Rows read per batch.
const BATCH: u32 = 512;

/// Messages of the CdcPoller.
pub(crate) enum CdcMsg {
    /// New rows were committed.
    Wake,
    /// The safety poll.
    Tick,
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

pub(crate) struct CdcPoller;

pub(crate) struct CdcArgs {
    pub(crate) reader: ReadPool,
    pub(crate) hub: EventsHub,
    pub(crate) tick: Duration,
}

pub(crate) struct CdcState {
    cursor: i64,
    reader: ReadPool,
    hub: EventsHub,
    ticker: JoinHandle<()>,
}

impl Actor for CdcPoller {
    type Msg = CdcMsg;
    type State = CdcState;
    type Arguments = CdcArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<CdcMsg>,
        args: CdcArgs,
    ) -> Result<CdcState, ActorProcessingErr> {
        let reader = args.reader.clone();
        let cursor = blocking(move || reader.head_seq()).await??;
        let ticker = myself.send_interval(args.tick, || CdcMsg::Tick);
        Ok(CdcState {
            cursor,
            reader: args.reader,
            hub: args.hub,
            ticker,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<CdcMsg>,
        state: &mut CdcState,
    ) -> Result<(), ActorProcessingErr> {
        state.ticker.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<CdcMsg>,
        msg: CdcMsg,
        state: &mut CdcState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CdcMsg::Wake | CdcMsg::Tick => {
                if let Err(e) = drain(state).await {
                    tracing::warn!(error = %e, cursor = state.cursor, "change_log read failed; retrying on the next tick");
                }
                Ok(())
            }
            #[cfg(any(test, feature = "fault-injection"))]
            CdcMsg::Fault => panic!("injected fault in the CDC poller"),
        }
    }
}

/// Broadcasts everything after the cursor.
async fn drain(state: &mut CdcState) -> Result<(), String> {
    loop {
        let reader = state.reader.clone();
        let query = ChangeQuery {
            after: state.cursor,
            limit: BATCH,
            order: LogOrder::Asc,
            project: None,
            session: None,
        };
        let batch = blocking(move || reader.read_changes(&query))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let short = batch.len() < BATCH as usize;
        for event in batch {
            state.cursor = state.cursor.max(event.seq);
            state.hub.publish(event);
        }
        if short {
            return Ok(());
        }
    }
}

/// Runs a store read on the blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<Result<T, StoreError>, ActorProcessingErr>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ActorProcessingErr::from(format!("blocking store read failed: {e}")))
}
