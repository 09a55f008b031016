//! `ao-actors` — the daemon's actor tree (README §3), built on ractor.
//!
//! ```text
//! Root ── LifecycleReducer   the only writer of SQLite; casts Wake to the CdcPoller
//!      ├─ CdcPoller          tails change_log into the EventsHub broadcast (1024)
//!      ├─ Reaper             every 5 s one batch runtime probe per kind; hourly prune
//!      ├─ ProjectSupervisor ── ProjectActor (one per live project)
//!      │                          └─ SessionActor (one per live session; outbox, lifecycle)
//!      └─ ScmSupervisor ── PrObserver (one per GitHub repo; scm.md §1–§8, [`scm`])
//! ```
//!
//! Entry points: [`spawn_tree`] returns an [`ActorTree`] with the typed [`ProjectsHandle`]
//! (project commands), the typed [`SessionsHandle`] (session commands; [`sessions`]), each a
//! single call with a timeout, and the [`EventsHub`] (live events).
//! [`status::derive`] is the pure display-status function of sessions.md §15;
//! [`nudge::due_nudge`] the pure due-nudge evaluation of scm.md §9.
//! [`ActorTree::reconcile`] is boot reconcile ([`reconcile`]: the hook-spool replay of
//! [`spool`], then sessions.md §17 a–f), run by the daemon before it is `ready`.
//!
//! Invariants:
//! * The LifecycleReducer is the only writer: it owns the store's `Writer`; every durable
//!   change is one message to it, i.e. one transaction. It calls no actor and no adapter.
//! * `call`s form an acyclic graph (handles → supervisors → their children → reducer); every
//!   call has a timeout (5 s short, 10 min long), and a call to an actor that is restarting or
//!   gone fails fast with [`CommandError::Unavailable`].
//! * SQLite is the truth, actor state a cache: every actor reloads its state in `pre_start`.
//! * Slow I/O (git) runs in tracked tasks that reply or report back by message; handlers never
//!   sleep, and restarts are scheduled with `send_after` ([`supervision`]).
//! * Test-only fault injection (`FaultTarget`, `ActorTree::inject_panic`) exists under
//!   `cfg(test)` or the `fault-injection` feature, never in a default build.

mod cdc;
pub mod config;
pub mod error;
pub mod events;
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault;
pub mod handle;
pub mod nudge;
mod projects;
mod reaper;
pub mod reconcile;
mod reducer;
mod register;
mod registry;
mod root;
pub mod scm;
pub mod sessions;
pub mod spool;
pub mod status;
pub mod supervision;
mod tree;

pub use config::{ActorsConfig, CallTimeouts, ScmSetup, ScmTimings, SessionTimings};
pub use error::{ActorsError, CommandError};
pub use events::EventsHub;
#[cfg(any(test, feature = "fault-injection"))]
pub use fault::FaultTarget;
pub use handle::{AddProject, ConfigChange, ProjectsHandle, RemoveOutcome};
pub use reconcile::ReconcileReport;
pub use sessions::{ActivityReply, CleanupOutcome, RollbackOutcome, SessionsHandle, SpawnCommand};
pub use spool::SpoolReport;
pub use supervision::SupervisionConfig;
pub use tree::{ActorTree, spawn_tree};

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
