//! Fault injection (tests and the `fault-injection` feature only).
//!
//! [`ActorTree::inject_panic`] casts a `Fault` message to the chosen actor; its handler panics,
//! which ractor reports to the actor's supervisor as `ActorFailed`, exactly like a real bug.
//! The daemon's tests and the actor tests use it to check restarts, escalation and
//! `Unavailable`. The failures of calls below the actors (a store write, a child process, a
//! GitHub request) are injected through `ao_protocol::faults` instead.

use ao_protocol::{ProjectId, SessionId};

use crate::cdc::CdcMsg;
use crate::error::CommandError;
use crate::projects::{ProjectMsg, ProjectSupMsg};
use crate::reaper::ReaperMsg;
use crate::reducer::ReducerMsg;
use crate::root::RootMsg;
use crate::scm::supervisor::ScmSupMsg;
use crate::sessions::actor::SessionMsg;
use crate::tree::ActorTree;

/// An actor of the tree that can be made to panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// Root itself: the tree dies and `failure()` becomes `Some`.
    Root,
    LifecycleReducer,
    CdcPoller,
    Reaper,
    ProjectSupervisor,
    /// The ProjectActor of this project.
    Project(ProjectId),
    /// The SessionActor of this session.
    Session(SessionId),
    ScmSupervisor,
    /// The PrObserver of this GitHub repository (`owner/repo`, any case).
    PrObserver(String),
}

impl ActorTree {
    /// Makes `target` panic inside its next handled message. `Unavailable` when the target is
    /// not running right now (e.g. restarting).
    pub fn inject_panic(&self, target: FaultTarget) -> Result<(), CommandError> {
        let reg = &self.registry;
        let sent = match &target {
            FaultTarget::Root => self.root.cast(RootMsg::Fault).is_ok(),
            FaultTarget::LifecycleReducer => reg
                .reducer
                .get()
                .is_some_and(|a| a.cast(ReducerMsg::Fault).is_ok()),
            FaultTarget::CdcPoller => reg.cdc.get().is_some_and(|a| a.cast(CdcMsg::Fault).is_ok()),
            FaultTarget::Reaper => reg
                .reaper
                .get()
                .is_some_and(|a| a.cast(ReaperMsg::Fault).is_ok()),
            FaultTarget::ProjectSupervisor => reg
                .project_sup
                .get()
                .is_some_and(|a| a.cast(ProjectSupMsg::Fault).is_ok()),
            FaultTarget::Project(id) => reg
                .projects
                .get(id)
                .map(|a| a.value().clone())
                .is_some_and(|a| a.cast(ProjectMsg::Fault).is_ok()),
            FaultTarget::Session(id) => reg
                .sessions
                .get(id)
                .map(|a| a.value().clone())
                .is_some_and(|a| a.cast(SessionMsg::Fault).is_ok()),
            FaultTarget::ScmSupervisor => self
                .ctx
                .scm_sup()
                .as_ref()
                .is_some_and(|a| a.cast(ScmSupMsg::Fault).is_ok()),
            FaultTarget::PrObserver(repo) => self
                .ctx
                .scm_sup()
                .as_ref()
                .is_some_and(|a| a.cast(ScmSupMsg::FaultObserver(repo.clone())).is_ok()),
        };
        if sent {
            Ok(())
        } else {
            Err(CommandError::unavailable(format!(
                "{target:?} is not running"
            )))
        }
    }
}
