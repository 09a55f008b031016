//! The session layer (sessions.md §1–14): SessionActors, their commands, and the typed
//! [`SessionsHandle`] the daemon calls.
//!
//! Modules:
//! * [`handle`]: [`SessionsHandle`] — one call per HTTP command, each bounded by a timeout;
//!   routes a per-session command to the session's actor (registry) or, when it has none, to
//!   its ProjectActor, which starts one (a temporary one for a terminated session).
//! * `services`: `SessionServices` — everything sessions share (read pool, reducer,
//!   registry, adapters, paths, daemon environment, timings).
//! * `naming`: ids, branches, worktree paths, the system prompt (§10) and the agent
//!   environment (§11). Pure.
//! * `validate`: spawn validation (http-api.md §7.2 steps 5–9), run by the ProjectActor
//!   before any durable write.
//! * `ops`: the lifecycle operations (spawn §3 with rollback T, kill §4, restore §5,
//!   rollback §6, per-session cleanup §7, in-place relaunch §13.2 / §17 d) as plain async
//!   functions run in tracked tasks.
//! * `actor`: the SessionActor (FIFO of lifecycle operations, outbox and delivery §9,
//!   activity §13.1, runtime observations §13.2).
//! * `outbox`: the pure outbox bookkeeping.
//! * `claim`: claim PR (scm.md §11): preconditions, facts, the `claim_pr` write, the checkout.
//!
//! Invariants:
//! * One lifecycle operation at a time per session; at most [`MAX_QUEUED_OPS`] wait; the next
//!   one gets `SESSION_BUSY`.
//! * Every durable change is one reducer message (one transaction).
//! * No failed spawn leaves a worktree or a runtime session behind; the row is deleted when the
//!   failure happens before `set_workspace`, and left terminated `spawn_failed` after it.

pub(crate) mod actor;
pub(crate) mod claim;
pub mod handle;
pub(crate) mod naming;
pub(crate) mod ops;
pub(crate) mod outbox;
pub(crate) mod services;
pub(crate) mod validate;

#[cfg(test)]
mod tests;

use ao_protocol::{
    ActivityState, Delivery, Harness, ProjectId, SessionId, SessionKind, SkippedSession,
};

pub use ao_adapters::Checkout;

pub use handle::SessionsHandle;
pub(crate) use services::SessionServices;

/// Lifecycle operations that may wait behind the one in flight (sessions.md §2).
pub const MAX_QUEUED_OPS: usize = 16;
/// Queued human messages per session (sessions.md §9.3).
pub const MAX_OUTBOX: usize = 32;

/// `POST /api/v1/sessions` after the daemon's own checks (http-api.md §7.2 steps 1–4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnCommand {
    pub project_id: ProjectId,
    pub kind: SessionKind,
    /// The requested harness; the role's `config.<role>.agent` when `None`.
    pub harness: Option<Harness>,
    /// The branch; the session's default branch (sessions.md §1) when `None`.
    pub branch: Option<String>,
    pub prompt: Option<String>,
    pub issue_id: Option<String>,
    pub display_name: Option<String>,
    /// Harness `command` only: the launch command; `config.<role>.command` when `None`.
    pub command: Option<String>,
    /// `claimPr` (scm.md §11): claim this PR at spawn (workers only); the worktree is created
    /// on its head ref.
    pub claim: Option<ClaimSpec>,
}

/// `claimPr` of a spawn (scm.md §11): the PR reference as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimSpec {
    pub pr_ref: String,
    /// Take the PR over from another live session (the API default is `true`).
    pub allow_takeover: bool,
}

/// The result of a claim (http-api.md §7.5 without `prs`, which the caller re-reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// The claimed PR's normalised URL.
    pub pr_url: String,
    /// The previous owner when it was a different session (live or not).
    pub taken_over_from: Vec<SessionId>,
    /// The checkout switched the worktree and `set_branch` recorded the head ref.
    pub branch_changed: bool,
    pub checkout: Checkout,
    /// git's stderr tail for [`Checkout::Failed`].
    pub checkout_error: Option<String>,
}

/// The result of a rollback (sessions.md §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The seed row was deleted.
    pub deleted: bool,
    /// The live session was killed.
    pub killed: bool,
}

/// The result of a cleanup (sessions.md §7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupOutcome {
    pub cleaned: Vec<SessionId>,
    pub skipped: Vec<SkippedSession>,
}

/// The reply to an activity signal (http-api.md §7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityReply {
    /// The session's state after the signal.
    pub state: ActivityState,
    /// The reducer wrote anything.
    pub changed: bool,
}

/// The reason a skipped cleanup gives for a dirty worktree.
pub const REASON_DIRTY: &str = "workspace has uncommitted changes";
/// The reason a skipped cleanup gives for any other workspace failure.
pub const REASON_TEARDOWN_FAILED: &str = "workspace teardown failed";
/// The reason a skipped cleanup gives when the runtime could not be destroyed.
pub const REASON_RUNTIME_FAILED: &str = "runtime teardown failed";

/// A per-session command, routed to the session's actor.
#[derive(Debug, Clone)]
pub(crate) enum SessionCmd {
    /// §4; `reason` is `killed`, or `project_removed` when the project is being removed.
    Kill {
        reason: ao_protocol::TerminatedReason,
    },
    Restore,
    Rollback,
    /// One session's part of §7.
    Cleanup,
    Send {
        message: String,
        when_idle: bool,
    },
    Activity {
        state: Option<ActivityState>,
        agent_session_id: Option<String>,
        event: Option<String>,
    },
    /// Boot reconcile of a live session (sessions.md §17 b, d) with what the batch probe saw:
    /// `alive`/`unknown` adopt, `exited` terminates (`agent_exited`), `missing` relaunches in
    /// place (a lifecycle operation, after re-checking that the runtime is still missing).
    Reconcile {
        probe: ao_adapters::Probe,
    },
    /// The PR observer applied new facts of this session's PRs (scm.md §7 step 2): re-evaluate
    /// the due nudge; with `complete`, queue the kill with reason `pr_merged` (§10).
    PrFactsChanged {
        complete: bool,
    },
    /// Claim PR (scm.md §11), a lifecycle operation.
    ClaimPr {
        pr_ref: String,
        allow_takeover: bool,
    },
}

/// What boot reconcile did with one session (sessions.md §17 b, d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconciled {
    /// Left running as it is.
    Adopted,
    /// The runtime had vanished; relaunched in place.
    Relaunched,
    /// Terminated: the agent had exited, or it could not be relaunched (`runtime_missing`).
    Terminated,
    /// The session was no longer live (or no longer exists).
    NotLive,
}

/// What one session's cleanup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CleanupResult {
    Cleaned,
    Skipped(String),
    /// Not terminated, or nothing left to tear down.
    NotEligible,
}

/// The reply to a [`SessionCmd`] (or a spawn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CmdReply {
    Spawned(SessionId),
    Killed {
        freed: bool,
    },
    Restored,
    RolledBack(RollbackOutcome),
    Cleanup(CleanupResult),
    Sent(Delivery),
    Activity(ActivityReply),
    Reconciled(Reconciled),
    /// `PrFactsChanged` was handled.
    PrFactsHandled,
    Claimed(ClaimOutcome),
}
