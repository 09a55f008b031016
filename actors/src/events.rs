//! [`EventsHub`]: the live change feed.
//!
//! The CdcPoller is the only sender: it tails `change_log` and broadcasts every
//! [`ChangeEvent`] in `seq` order on a tokio broadcast channel of capacity
//! [`EventsHub::CAPACITY`]. Subscribers (the SSE route) that fall more than that far behind get
//! `RecvError::Lagged` and must resume from the store (`GET /events/log`), which is always the
//! truth; the hub itself keeps no history.

use ao_protocol::ChangeEvent;
use tokio::sync::broadcast;

/// The broadcast side of the change feed. Cloning is cheap; every clone feeds the same
/// subscribers.
#[derive(Clone, Debug)]
pub struct EventsHub {
    tx: broadcast::Sender<ChangeEvent>,
}

impl EventsHub {
    /// Events buffered per subscriber before it lags.
    pub const CAPACITY: usize = 1024;

    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(Self::CAPACITY);
        Self { tx }
    }

    /// A receiver of every event broadcast from now on, in `seq` order.
    pub fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.tx.subscribe()
    }

    /// How many subscribers are attached.
    pub fn receiver_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Broadcasts one event (the CdcPoller's job). Having no subscriber is not an error.
    pub(crate) fn publish(&self, event: ChangeEvent) {
        // `send` only fails when nobody listens, which is fine: the store keeps the history.
        let _ = self.tx.send(event);
    }
}
