//! The registry of live actor references, and the typed `call` helper.
//!
//! Supervisors write here whenever a child starts or ends; handles and other actors read here
//! to find their target. A slot is `None` while its actor is restarting, so a command that
//! arrives then fails fast with [`CommandError::Unavailable`] instead of waiting. A reference
//! can briefly outlive its actor (between its death and the supervisor's bookkeeping): calls to
//! it fail to send or lose their reply port, which [`call`] also maps to `Unavailable`.
//!
//! Invariants: locks are held only to clone or swap a reference, never across an `.await`.

use std::sync::RwLock;
use std::time::Duration;

use ao_protocol::{ProjectId, SessionId};
use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{ActorRef, RpcReplyPort};

use crate::cdc::CdcMsg;
use crate::error::CommandError;
use crate::projects::{ProjectMsg, ProjectSupMsg};
use crate::reaper::ReaperMsg;
use crate::reducer::ReducerMsg;
use crate::sessions::actor::SessionMsg;

/// One replaceable actor reference.
pub(crate) struct Slot<M: ractor::Message>(RwLock<Option<ActorRef<M>>>);

impl<M: ractor::Message> Default for Slot<M> {
    fn default() -> Self {
        Self(RwLock::new(None))
    }
}

impl<M: ractor::Message> Slot<M> {
    pub(crate) fn get(&self) -> Option<ActorRef<M>> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn set(&self, value: Option<ActorRef<M>>) {
        match self.0.write() {
            Ok(mut g) => *g = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }

    /// Clears the slot only if it still holds the actor `id` (a newer instance stays).
    pub(crate) fn clear_if(&self, id: ractor::ActorId) {
        let mut g = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if g.as_ref().is_some_and(|r| r.get_id() == id) {
            *g = None;
        }
    }
}

/// Every addressable actor of the tree.
#[derive(Default)]
pub(crate) struct Registry {
    pub(crate) reducer: Slot<ReducerMsg>,
    pub(crate) cdc: Slot<CdcMsg>,
    pub(crate) reaper: Slot<ReaperMsg>,
    pub(crate) project_sup: Slot<ProjectSupMsg>,
    pub(crate) projects: DashMap<ProjectId, ActorRef<ProjectMsg>>,
    /// The SessionActor of every session that has one (live sessions, and temporary actors of
    /// terminated ones while they serve a command).
    pub(crate) sessions: DashMap<SessionId, ActorRef<SessionMsg>>,
}

impl Registry {
    /// Clears every reference (the tree is gone).
    pub(crate) fn clear(&self) {
        self.reducer.set(None);
        self.cdc.set(None);
        self.reaper.set(None);
        self.project_sup.set(None);
        self.projects.clear();
        self.sessions.clear();
    }
}

/// Calls `actor` with a reply port whose reply is a `Result<T, CommandError>`, bounded by
/// `timeout`. A dead actor, or one that dies before replying, gives `Unavailable`.
pub(crate) async fn call<M, T, F>(
    actor: &ActorRef<M>,
    what: &str,
    build: F,
    timeout: Duration,
) -> Result<T, CommandError>
where
    M: ractor::Message,
    T: Send + 'static,
    F: FnOnce(RpcReplyPort<Result<T, CommandError>>) -> M,
{
    match actor.call(build, Some(timeout)).await {
        Ok(CallResult::Success(result)) => result,
        Ok(CallResult::Timeout) => Err(CommandError::Timeout),
        Ok(CallResult::SenderError) => Err(CommandError::unavailable(format!(
            "the {what} stopped before replying; retry shortly"
        ))),
        Err(_) => Err(CommandError::unavailable(format!(
            "the {what} is restarting; retry shortly"
        ))),
    }
}

/// The `Unavailable` error of an empty slot.
pub(crate) fn restarting(what: &str) -> CommandError {
    CommandError::unavailable(format!("the {what} is restarting; retry shortly"))
}
