//! The SessionActor: one per non-terminated session, child of its ProjectActor (README §3.2).
//!
//! Messages ([`SessionMsg`]):
//! * `Spawn(plan, reply)`: the first operation of a freshly seeded session (sessions.md §3).
//! * `Command(cmd, reply)`: a per-session command. Lifecycle commands (kill, restore,
//!   rollback, cleanup, claim PR) join the FIFO of operations ([`MAX_QUEUED_OPS`] may wait; the next is
//!   `SESSION_BUSY`). `send` and `activity` are handled at once, except that an immediate send
//!   waits behind an in-flight spawn, restore or relaunch. Whatever is typed into the terminal
//!   (immediate sends, outbox deliveries, extra Enters) is serialised by one lock of the actor,
//!   so two deliveries never interleave their paste and Enter.
//! * `Observe { probe, at }`: a Reaper observation (§13.2).
//! * `CheckStop`: stop now if the session is terminated and nothing is pending (sent by the
//!   ProjectActor after starting an actor for a terminated session without a command).
//! * `Reload`: re-read the row (its state changed behind the actor's back: the boot replay of
//!   the hook spool); stop if it is over.
//! * `Command(Reconcile { probe })`: boot reconcile (sessions.md §17 b, d). It first cancels
//!   whatever the Reaper's missing streak had started (streak, scheduled relaunch) and makes
//!   older observations stale; then `alive`/`unknown` adopt, `exited` terminates
//!   (`agent_exited`, runtime and worktree kept), and `missing` queues a boot relaunch (a
//!   lifecycle operation that re-probes, then relaunches in place and counts against the
//!   relaunch budget). While it runs, Reaper observations are ignored, so the two never
//!   relaunch the same session twice.
//! * `Command(PrFactsChanged { complete })` (scm.md §7 step 2, §9, §10): re-evaluates the due
//!   nudge from stored facts and, with `complete`, queues the kill with reason `pr_merged`
//!   (a dirty worktree is kept). Replies once both are done, so the observer may ack.
//! * internal: `OpDone` (a lifecycle task finished), `Delivered` (a delivery task finished),
//!   `Timer` (confirmation, retry, hook-less gap, relaunch, first prompt; all via
//!   `send_after`, stale ones recognised by sequence numbers).
//!
//! Nudges (scm.md §9): the due nudge is re-evaluated (pure [`crate::nudge::evaluate`] over
//! `pr_details_of_session`) when the actor starts, on `PrFactsChanged` and on every idle edge;
//! review keys whose condition cleared are reset first (`reset_nudge_key`); a key over its
//! budget is warned about once per (key, scope) per daemon run. The outbox keeps at most one
//! due nudge, behind the human messages, and delivers it only while the agent is idle (never
//! `active` or `waiting_input`), on an idle edge or when it is recomputed while already idle.
//! After a successful `deliver` the actor asks the reducer for `record_nudge` and re-evaluates,
//! so the same signature is never sent again.
//!
//! Operations run in tracked tokio tasks ([`super::ops`]); their reply port stays in the actor,
//! so an actor that dies with an operation in flight reports it failed (`Unavailable`) to its
//! caller. The operation itself runs on to its end, and then tells the restarted actor (if
//! any) to `Reload`, so its cached row never stays stale. An operation that panics is reported
//! failed (`INTERNAL_ERROR`) instead of keeping the actor busy forever, and a spawn cut short
//! that way is undone like an interrupted one at boot (seed deleted, else killed with
//! `spawn_failed`). State (the row) is reloaded in `pre_start` and after every operation; the
//! outbox and the relaunch budget are memory only.
//!
//! The actor stops itself (after removing itself from the registry, before replying to its
//! last command) when the session is terminated or gone and no operation is in flight or
//! queued: after a kill, an `exited` signal, a failed spawn, or a command that a temporary
//! actor served for a terminated session.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_adapters::Probe;
use ao_protocol::{ActivityState, Delivery, ErrorCode, Harness, SessionId, TerminatedReason};
use ao_store::SessionRow;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::ops::{self, Launched};
use super::outbox::{ConfirmAction, Outbox};
use super::validate::SpawnPlan;
use super::{
    ActivityReply, CleanupResult, CmdReply, MAX_QUEUED_OPS, Reconciled, RollbackOutcome,
    SessionCmd, SessionServices,
};
use crate::error::CommandError;
use crate::nudge;
use crate::projects::Reply;

/// How long a stopping SessionActor waits for its tasks.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Messages of a SessionActor.
pub(crate) enum SessionMsg {
    /// Run the spawn of this (seed) session.
    Spawn(Box<SpawnPlan>, Reply<CmdReply>),
    /// A per-session command.
    Command(SessionCmd, Reply<CmdReply>),
    /// A runtime observation by the Reaper, probed at `at`.
    Observe { probe: Probe, at: Instant },
    /// Stop if there is nothing to do for a terminated session.
    CheckStop,
    /// Re-read the row (it was changed by someone else: the spool replay).
    Reload,
    /// Internal: a lifecycle task finished.
    OpDone(OpResult),
    /// Internal: a delivery task finished.
    Delivered {
        seq: u64,
        result: Result<(), CommandError>,
    },
    /// Internal: a timer fired.
    Timer(Timer),
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

/// Internal timers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Timer {
    Confirm { seq: u64, stage: u8 },
    Retry { seq: u64 },
    Hookless,
    Relaunch { generation: u64 },
    FirstPrompt { generation: u64 },
}

/// A lifecycle operation.
enum Op {
    Spawn(Box<SpawnPlan>),
    Kill(TerminatedReason),
    Restore,
    Rollback,
    Cleanup,
    Relaunch,
    /// Boot reconcile's relaunch of a runtime the batch probe saw missing.
    BootRelaunch,
    /// Claim PR (scm.md §11).
    Claim {
        pr_ref: String,
        allow_takeover: bool,
    },
}

impl Op {
    /// How to report this operation as failed without running it to its end.
    fn failure(&self) -> fn(CommandError) -> OpResult {
        match self {
            Op::Spawn(_) => |e| OpResult::Spawned(Err(e)),
            Op::Kill(_) => |e| OpResult::Killed(Err(e)),
            Op::Restore => |e| OpResult::Restored(Err(e)),
            Op::Rollback => |e| OpResult::RolledBack(Err(e)),
            Op::Cleanup => |e| OpResult::Cleanup(Err(e)),
            Op::Relaunch => |e| OpResult::Relaunched(Err(e)),
            Op::BootRelaunch => |e| OpResult::BootRelaunched(Err(e)),
            Op::Claim { .. } => |e| OpResult::Claimed(Err(e)),
        }
    }

    /// Whether an immediate send must wait for this operation.
    fn holds_sends(&self) -> bool {
        matches!(
            self,
            Op::Spawn(_) | Op::Restore | Op::Relaunch | Op::BootRelaunch
        )
    }
}

/// The result of a lifecycle task.
pub(crate) enum OpResult {
    Spawned(Result<Launched, CommandError>),
    Killed(Result<bool, CommandError>),
    Restored(Result<Launched, CommandError>),
    RolledBack(Result<RollbackOutcome, CommandError>),
    Cleanup(Result<CleanupResult, CommandError>),
    Relaunched(Result<Option<Launched>, CommandError>),
    BootRelaunched(Result<ops::BootRelaunch, CommandError>),
    Claimed(Result<super::ClaimOutcome, CommandError>),
}

struct Pending {
    op: Op,
    reply: Option<Reply<CmdReply>>,
}

struct Running {
    holds_sends: bool,
    reply: Option<Reply<CmdReply>>,
}

/// An activity signal held back until the launch in flight is recorded.
struct HeldSignal {
    signal: Option<ActivityState>,
    agent_session_id: Option<String>,
}

pub(crate) struct SessionActor;

/// Arguments of a SessionActor.
pub(crate) struct SessionArgs {
    pub(crate) id: SessionId,
    pub(crate) svc: Arc<SessionServices>,
}

pub(crate) struct SessionState {
    id: SessionId,
    svc: Arc<SessionServices>,
    row: Option<SessionRow>,
    running: Option<Running>,
    queue: VecDeque<Pending>,
    waiting_sends: Vec<(String, Reply<CmdReply>)>,
    /// Activity signals that arrived while a launch (spawn, restore, relaunch) was in flight.
    held_signals: Vec<HeldSignal>,
    outbox: Outbox,
    last_delivery: Option<Instant>,
    hookless_timer: bool,
    first_prompt: Option<(u64, String)>,
    missing_since: Option<Instant>,
    relaunch_pending: bool,
    relaunches: VecDeque<Instant>,
    generation: u64,
    last_op_done: Instant,
    tasks: Vec<JoinHandle<()>>,
    stopping: bool,
    /// The `pr_merged` kill is queued (scm.md §10); no more nudges.
    completion_queued: bool,
    /// Held by every task that types into the session's terminal (immediate sends, outbox
    /// deliveries, extra Enters): each delivery is paste, settle, Enter, and two of them must
    /// never interleave (nor share tmux's per-session paste buffer).
    typing: Arc<tokio::sync::Mutex<()>>,
}

impl SessionState {
    fn harness(&self) -> Option<Harness> {
        self.row.as_ref().and_then(SessionRow::harness_kind)
    }

    fn signal_capable(&self) -> bool {
        self.harness().is_none_or(Harness::signal_capable)
    }

    fn is_live(&self) -> bool {
        self.row.as_ref().is_some_and(|r| !r.is_terminated)
    }

    fn track(&mut self, task: JoinHandle<()>) {
        self.tasks.retain(|t| !t.is_finished());
        self.tasks.push(task);
    }

    async fn reload(&mut self) {
        match self.svc.session(&self.id).await {
            Ok(row) => self.row = row,
            Err(e) => {
                tracing::warn!(session = %self.id, error = %e, "cannot reload the session row");
            }
        }
    }

    fn not_found(&self) -> CommandError {
        CommandError::rejected(
            ErrorCode::SessionNotFound,
            format!("session {} not found", self.id),
        )
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<SessionMsg>,
        args: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let row = args
            .svc
            .session(&args.id)
            .await
            .map_err(|e| e.to_string())?;
        Ok(SessionState {
            id: args.id,
            svc: args.svc,
            row,
            running: None,
            queue: VecDeque::new(),
            waiting_sends: Vec::new(),
            held_signals: Vec::new(),
            outbox: Outbox::default(),
            last_delivery: None,
            hookless_timer: false,
            first_prompt: None,
            missing_since: None,
            relaunch_pending: false,
            relaunches: VecDeque::new(),
            generation: 0,
            last_op_done: Instant::now(),
            tasks: Vec::new(),
            stopping: false,
            completion_queued: false,
            typing: Arc::default(),
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        // A nudge lost in a crash before delivery is derived again (scm.md §9.1).
        if let Err(e) = evaluate_nudge(&myself, state).await {
            tracing::warn!(session = %state.id, error = %e, "cannot evaluate the due nudge at start");
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SessionMsg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let tasks = std::mem::take(&mut state.tasks);
        let _ = tokio::time::timeout(STOP_WAIT, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMsg>,
        msg: SessionMsg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SessionMsg::Spawn(plan, reply) => {
                enqueue(&myself, state, Op::Spawn(plan), Some(reply));
            }
            SessionMsg::Command(cmd, reply) => command(&myself, state, cmd, reply).await,
            SessionMsg::Observe { probe, at } => observe(&myself, state, probe, at).await,
            SessionMsg::CheckStop => {}
            SessionMsg::Reload => state.reload().await,
            SessionMsg::OpDone(result) => op_done(&myself, state, result).await,
            SessionMsg::Delivered { seq, result } => {
                delivered(&myself, state, seq, result).await;
            }
            SessionMsg::Timer(timer) => on_timer(&myself, state, timer),
            #[cfg(any(test, feature = "fault-injection"))]
            SessionMsg::Fault => panic!("injected fault in session actor {}", state.id),
        }
        maybe_stop(&myself, state);
        Ok(())
    }
}

/// Stops the actor when the session is over and nothing is pending.
fn maybe_stop(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    if state.stopping
        || state.running.is_some()
        || !state.queue.is_empty()
        || !state.waiting_sends.is_empty()
        || state.is_live()
    {
        return;
    }
    state.stopping = true;
    state.outbox.clear();
    let me = myself.get_id();
    state
        .svc
        .registry
        .sessions
        .remove_if(&state.id, |_, r| r.get_id() == me);
    myself.stop(Some("session ended".to_string()));
}

/// Queues a lifecycle operation (or refuses it with `SESSION_BUSY`), then starts the next one.
fn enqueue(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    op: Op,
    reply: Option<Reply<CmdReply>>,
) {
    if state.queue.len() >= MAX_QUEUED_OPS {
        if let Some(reply) = reply {
            let _ = reply.send(Err(CommandError::rejected(
                ErrorCode::SessionBusy,
                format!(
                    "session {} already has {MAX_QUEUED_OPS} operations waiting; retry later",
                    state.id
                ),
            )));
        }
        return;
    }
    state.queue.push_back(Pending { op, reply });
    start_next(myself, state);
}

/// Starts the next queued operation when none is running.
fn start_next(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    if state.running.is_some() {
        return;
    }
    let Some(Pending { op, reply }) = state.queue.pop_front() else {
        return;
    };
    state.running = Some(Running {
        holds_sends: op.holds_sends(),
        reply,
    });
    let svc = Arc::clone(&state.svc);
    let id = state.id.clone();
    let row = state.row.clone();
    let me = myself.clone();
    let failed = op.failure();
    let task = tokio::spawn(async move {
        // The operation runs in its own task so that a panic in it (a bug) is reported to the
        // caller as a failed operation instead of leaving this actor waiting forever.
        let work = tokio::spawn(run_op(Arc::clone(&svc), id.clone(), row, op));
        let result = match work.await {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(session = %id, error = %e, "a lifecycle operation panicked");
                failed(CommandError::Internal(format!(
                    "the operation on session {id} failed unexpectedly: {e}"
                )))
            }
        };
        if let Err(ractor::MessagingErr::SendErr(SessionMsg::OpDone(result))) =
            me.cast(SessionMsg::OpDone(result))
        {
            tracing::warn!(session = %id, "the session actor ended before its operation finished");
            drop(result);
            // A restarted actor serves the session now: it must see what the operation wrote.
            if let Some(current) = svc.registry.sessions.get(&id).map(|a| a.clone()) {
                let _ = current.cast(SessionMsg::Reload);
            }
        }
    });
    state.track(task);
}

/// Runs one lifecycle operation to its result.
async fn run_op(
    svc: Arc<SessionServices>,
    id: SessionId,
    row: Option<SessionRow>,
    op: Op,
) -> OpResult {
    match op {
        Op::Spawn(plan) => OpResult::Spawned(match row {
            Some(row) => ops::spawn(&svc, &row, &plan).await,
            None => Err(CommandError::Internal(format!("session {id} vanished"))),
        }),
        Op::Kill(reason) => OpResult::Killed(ops::kill(&svc, &id, reason).await),
        Op::Restore => OpResult::Restored(ops::restore(&svc, &id).await),
        Op::Rollback => OpResult::RolledBack(ops::rollback(&svc, &id).await),
        Op::Cleanup => OpResult::Cleanup(ops::cleanup_one(&svc, &id).await),
        Op::Relaunch => OpResult::Relaunched(ops::relaunch(&svc, &id).await),
        Op::BootRelaunch => OpResult::BootRelaunched(ops::relaunch_if_missing(&svc, &id).await),
        Op::Claim {
            pr_ref,
            allow_takeover,
        } => OpResult::Claimed(super::claim::claim(&svc, &id, &pr_ref, allow_takeover).await),
    }
}

async fn command(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    cmd: SessionCmd,
    reply: Reply<CmdReply>,
) {
    match cmd {
        SessionCmd::Kill { reason } => enqueue(myself, state, Op::Kill(reason), Some(reply)),
        SessionCmd::Restore => enqueue(myself, state, Op::Restore, Some(reply)),
        SessionCmd::Rollback => enqueue(myself, state, Op::Rollback, Some(reply)),
        SessionCmd::Cleanup => enqueue(myself, state, Op::Cleanup, Some(reply)),
        SessionCmd::Send {
            message,
            when_idle: false,
        } => send_now(myself, state, message, reply),
        SessionCmd::Send {
            message,
            when_idle: true,
        } => {
            let result = queue_message(state, message);
            let ok = result.is_ok();
            let _ = reply.send(result);
            if ok {
                try_deliver(myself, state);
            }
        }
        SessionCmd::Activity {
            state: signal,
            agent_session_id,
            event,
        } => activity(myself, state, signal, agent_session_id, event, reply).await,
        SessionCmd::Reconcile { probe } => reconcile(myself, state, probe, reply).await,
        SessionCmd::ClaimPr {
            pr_ref,
            allow_takeover,
        } => enqueue(
            myself,
            state,
            Op::Claim {
                pr_ref,
                allow_takeover,
            },
            Some(reply),
        ),
        SessionCmd::PrFactsChanged { complete } => {
            pr_facts_changed(myself, state, complete, reply).await;
        }
    }
}

/// `PrFactsChanged` (scm.md §7 step 2): re-evaluate the due nudge, queue the `pr_merged` kill
/// when the session is complete (§10), then reply. A failed evaluation is an error, so the
/// observer does not ack and delivers the facts again.
async fn pr_facts_changed(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    complete: bool,
    reply: Reply<CmdReply>,
) {
    state.reload().await;
    if !state.is_live() {
        let _ = reply.send(Ok(CmdReply::PrFactsHandled));
        return;
    }
    if let Err(e) = evaluate_nudge(myself, state).await {
        let _ = reply.send(Err(e));
        return;
    }
    if complete && !state.completion_queued {
        tracing::info!(session = %state.id, "every PR of the session is merged or closed; killing it");
        state.completion_queued = true;
        state.outbox.clear();
        enqueue(myself, state, Op::Kill(TerminatedReason::PrMerged), None);
    }
    let _ = reply.send(Ok(CmdReply::PrFactsHandled));
}

/// Re-evaluates the due nudge from stored facts (scm.md §9.1) into the outbox slot, resetting
/// review keys whose condition cleared first, then delivers when the agent is already idle.
async fn evaluate_nudge(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
) -> Result<(), CommandError> {
    let Some(row) = state.row.clone().filter(|r| !r.is_terminated) else {
        state.outbox.set_nudge(None);
        return Ok(());
    };
    if row.runtime_handle_id.is_empty() || state.completion_queued {
        state.outbox.set_nudge(None);
        return Ok(());
    }
    let svc = Arc::clone(&state.svc);
    let mut prs = svc.pr_details(&state.id).await?;
    let resets = nudge::review_keys_to_reset(&prs);
    if !resets.is_empty() {
        for r in resets {
            match svc
                .reducer
                .reset_nudge_key(
                    &state.id,
                    r.pr_url.clone(),
                    r.key.clone(),
                    svc.timeouts.short,
                )
                .await
            {
                Ok(_) => {
                    tracing::debug!(session = %state.id, key = r.key, "review condition cleared; nudge key reset");
                }
                Err(e) => {
                    tracing::warn!(session = %state.id, key = r.key, error = %e, "cannot reset a nudge key");
                }
            }
        }
        prs = svc.pr_details(&state.id).await?;
    }
    let evaluation = nudge::evaluate(&row, &prs);
    for hit in &evaluation.over_budget {
        if svc.first_budget_warning(&hit.key, &hit.scope) {
            tracing::warn!(
                session = %state.id,
                pr = hit.pr_url,
                key = hit.key,
                scope = hit.scope,
                budget = nudge::BUDGET,
                "nudge budget reached; not nudging this key again in this scope"
            );
        }
    }
    state.outbox.set_nudge(evaluation.nudge);
    try_deliver(myself, state);
    Ok(())
}

/// Boot reconcile of this session (sessions.md §17 b, d; see the module doc).
async fn reconcile(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    probe: Probe,
    reply: Reply<CmdReply>,
) {
    let done = |reply: Reply<CmdReply>, r: Reconciled| {
        let _ = reply.send(Ok(CmdReply::Reconciled(r)));
    };
    // Whatever the Reaper's streak started is superseded by this probe.
    state.missing_since = None;
    state.relaunch_pending = false;
    state.last_op_done = Instant::now();
    state.reload().await;
    if !state.is_live() {
        return done(reply, Reconciled::NotLive);
    }
    if state.running.is_some() {
        // An operation is already deciding this session's fate.
        return done(reply, Reconciled::Adopted);
    }
    match probe {
        Probe::Alive | Probe::Unknown => done(reply, Reconciled::Adopted),
        Probe::Exited(code) => {
            tracing::info!(session = %state.id, ?code, "the agent exited while the daemon was down");
            let svc = Arc::clone(&state.svc);
            let marked = svc
                .reducer
                .mark_terminated(
                    &state.id,
                    TerminatedReason::AgentExited,
                    code.map(i64::from),
                    svc.timeouts.short,
                )
                .await;
            state.reload().await;
            let _ = reply.send(marked.map(|_| {
                CmdReply::Reconciled(if state.is_live() {
                    Reconciled::Adopted
                } else {
                    Reconciled::Terminated
                })
            }));
        }
        Probe::Missing => enqueue(myself, state, Op::BootRelaunch, Some(reply)),
    }
}

/// `SESSION_TERMINATED` / `SESSION_NOT_FOUND` for a message to a session that cannot take it.
fn check_sendable(state: &SessionState) -> Result<&SessionRow, CommandError> {
    let row = state.row.as_ref().ok_or_else(|| state.not_found())?;
    if row.is_terminated {
        return Err(CommandError::rejected(
            ErrorCode::SessionTerminated,
            format!("session {} is terminated", state.id),
        ));
    }
    Ok(row)
}

/// Immediate send (§9.2).
fn send_now(
    _myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    message: String,
    reply: Reply<CmdReply>,
) {
    if state.running.as_ref().is_some_and(|r| r.holds_sends) {
        state.waiting_sends.push((message, reply));
        return;
    }
    let target = check_sendable(state).and_then(|row| {
        if row.runtime_handle_id.is_empty() {
            return Err(CommandError::rejected(
                ErrorCode::SessionIncompleteHandle,
                format!("session {} has no runtime yet", state.id),
            ));
        }
        let runtime = state.svc.runtime_or_err(row.runtime)?;
        Ok((runtime, row.runtime_handle_id.clone()))
    });
    match target {
        Err(e) => {
            let _ = reply.send(Err(e));
        }
        Ok((runtime, name)) => {
            let typing = Arc::clone(&state.typing);
            let task = tokio::spawn(async move {
                let _typing = typing.lock().await;
                let result = ops::deliver(runtime, name, message)
                    .await
                    .map(|()| CmdReply::Sent(Delivery::Sent));
                let _ = reply.send(result);
            });
            state.track(task);
        }
    }
}

/// `whenIdle` send (§9.3): queue it.
fn queue_message(state: &mut SessionState, message: String) -> Result<CmdReply, CommandError> {
    check_sendable(state)?;
    state.outbox.enqueue(message).map_err(|()| {
        CommandError::rejected(
            ErrorCode::SessionBusy,
            format!(
                "session {} already has {} queued messages",
                state.id,
                super::MAX_OUTBOX
            ),
        )
    })?;
    Ok(CmdReply::Sent(Delivery::Queued))
}

/// Starts the next outbox delivery when the rules of §9.3–9.4 allow it. Called on an idle
/// edge, on an enqueue, and when a hook-less gap has passed.
fn try_deliver(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    if state.running.is_some() || state.outbox.is_busy() || !state.outbox.has_pending() {
        return;
    }
    let Some(row) = state.row.as_ref().filter(|r| !r.is_terminated) else {
        return;
    };
    if row.runtime_handle_id.is_empty() {
        return;
    }
    if state.signal_capable() {
        if row.activity_state != ActivityState::Idle {
            return;
        }
    } else if let Some(last) = state.last_delivery {
        let gap = state.svc.timings.hookless_gap;
        let since = last.elapsed();
        if since < gap {
            if !state.hookless_timer {
                state.hookless_timer = true;
                myself.send_after(gap.saturating_sub(since), || {
                    SessionMsg::Timer(Timer::Hookless)
                });
            }
            return;
        }
    }
    start_delivery(myself, state);
}

/// Pops the next item and delivers it in a task.
fn start_delivery(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    let Some(row) = state.row.as_ref() else {
        return;
    };
    let Some(runtime) = state.svc.runtime(row.runtime) else {
        return;
    };
    let name = row.runtime_handle_id.clone();
    let Some((seq, text)) = state.outbox.start() else {
        return;
    };
    spawn_delivery(myself, state, runtime, name, seq, text);
}

fn spawn_delivery(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    runtime: Arc<dyn ao_adapters::Runtime>,
    name: String,
    seq: u64,
    text: String,
) {
    let me = myself.clone();
    let typing = Arc::clone(&state.typing);
    let task = tokio::spawn(async move {
        let result = {
            let _typing = typing.lock().await;
            ops::deliver(runtime, name, text).await
        };
        let _ = me.cast(SessionMsg::Delivered { seq, result });
    });
    state.track(task);
}

async fn delivered(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    seq: u64,
    result: Result<(), CommandError>,
) {
    match result {
        Ok(()) => {
            state.last_delivery = Some(Instant::now());
            if let Some(n) = state.outbox.inflight_nudge(seq).cloned() {
                record_nudge(myself, state, n).await;
            }
            let confirm = state.signal_capable();
            if state.outbox.delivered(seq, confirm) {
                let after = state.svc.timings.confirm_timeout;
                myself.send_after(after, move || {
                    SessionMsg::Timer(Timer::Confirm { seq, stage: 1 })
                });
            } else if !confirm {
                try_deliver(myself, state);
            }
        }
        Err(e) => {
            let retries = state.svc.timings.retry_delays.clone();
            match state.outbox.failed(seq, &retries) {
                Some(delay) => {
                    tracing::warn!(session = %state.id, error = %e, ?delay, "delivery failed; retrying");
                    myself.send_after(delay, move || SessionMsg::Timer(Timer::Retry { seq }));
                }
                None => {
                    tracing::warn!(session = %state.id, error = %e, "delivery failed after every retry; message dropped");
                }
            }
        }
    }
}

/// A nudge was delivered: `record_nudge` (scm.md §9.4), then re-evaluate so the slot never
/// holds the signature just sent.
async fn record_nudge(myself: &ActorRef<SessionMsg>, state: &mut SessionState, n: nudge::Nudge) {
    let svc = Arc::clone(&state.svc);
    tracing::info!(session = %state.id, kind = %n.kind, key = n.key, "nudge delivered");
    if let Err(e) = svc
        .reducer
        .record_nudge(
            &state.id,
            n.pr_url.clone(),
            n.kind,
            n.key.clone(),
            n.signature.clone(),
            n.scope.clone(),
            svc.timeouts.short,
        )
        .await
    {
        tracing::warn!(session = %state.id, key = n.key, error = %e, "cannot record the delivered nudge");
        return;
    }
    if let Err(e) = evaluate_nudge(myself, state).await {
        tracing::warn!(session = %state.id, error = %e, "cannot re-evaluate the due nudge");
    }
}

fn on_timer(myself: &ActorRef<SessionMsg>, state: &mut SessionState, timer: Timer) {
    match timer {
        Timer::Confirm { seq, stage } => match state.outbox.confirm_timer(seq, stage) {
            ConfirmAction::ExtraEnter => {
                if let Some(row) = state.row.clone() {
                    let svc = Arc::clone(&state.svc);
                    let id = state.id.clone();
                    let typing = Arc::clone(&state.typing);
                    let task = tokio::spawn(async move {
                        let _typing = typing.lock().await;
                        if let Err(e) =
                            ops::press_enter(&svc, row.runtime, &row.runtime_handle_id).await
                        {
                            tracing::warn!(session = %id, error = %e, "cannot send the extra Enter");
                        }
                    });
                    state.track(task);
                }
                let after = state.svc.timings.confirm_timeout;
                myself.send_after(after, move || {
                    SessionMsg::Timer(Timer::Confirm { seq, stage: 2 })
                });
            }
            ConfirmAction::GiveUp => {
                tracing::warn!(session = %state.id, "delivery unconfirmed");
            }
            ConfirmAction::Nothing => {}
        },
        Timer::Retry { seq } => {
            if !state.is_live() {
                state.outbox.clear();
                return;
            }
            if let Some(text) = state.outbox.retry(seq) {
                let target = state.row.as_ref().and_then(|row| {
                    state
                        .svc
                        .runtime(row.runtime)
                        .map(|rt| (rt, row.runtime_handle_id.clone()))
                });
                if let Some((rt, name)) = target {
                    spawn_delivery(myself, state, rt, name, seq, text);
                } else {
                    let retries = state.svc.timings.retry_delays.clone();
                    let _ = state.outbox.failed(seq, &retries);
                }
            }
        }
        Timer::Hookless => {
            state.hookless_timer = false;
            try_deliver(myself, state);
        }
        Timer::Relaunch { generation } => {
            if generation == state.generation && state.relaunch_pending {
                state.relaunch_pending = false;
                if state.is_live() {
                    state.relaunches.push_back(Instant::now());
                    enqueue(myself, state, Op::Relaunch, None);
                }
            }
        }
        Timer::FirstPrompt { generation } => {
            if generation == state.generation {
                deliver_first_prompt(myself, state);
            }
        }
    }
}

/// Queues the pending first prompt first in line and delivers it now (§9.4).
fn deliver_first_prompt(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    let Some((_, text)) = state.first_prompt.take() else {
        return;
    };
    if !state.is_live() {
        return;
    }
    state.outbox.push_front(text);
    if state.running.is_none() && !state.outbox.is_busy() {
        start_delivery(myself, state);
    }
}

/// Arms the first-prompt delivery of an `after_start` launch.
fn arm_first_prompt(myself: &ActorRef<SessionMsg>, state: &mut SessionState, launched: Launched) {
    let Some(text) = launched.first_prompt else {
        return;
    };
    state.generation += 1;
    let generation = state.generation;
    state.first_prompt = Some((generation, text));
    let delay = if state.signal_capable() {
        state.svc.timings.first_prompt_delay
    } else {
        state.svc.timings.first_prompt_delay_hookless
    };
    myself.send_after(delay, move || {
        SessionMsg::Timer(Timer::FirstPrompt { generation })
    });
}

async fn activity(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    signal: Option<ActivityState>,
    agent_session_id: Option<String>,
    event: Option<String>,
    reply: Reply<CmdReply>,
) {
    tracing::debug!(session = %state.id, ?signal, event = event.as_deref().unwrap_or(""), "activity signal");
    if state.running.as_ref().is_some_and(|r| r.holds_sends) {
        // A launch is in flight. The new agent may signal before the launch is recorded, and
        // `mark_spawned` / `record_relaunch` (which reset the activity facts of the previous
        // run) would then erase the signal — or, during a restore, the row is still terminated
        // and would refuse it. Hold it and apply it, in order, once the launch is recorded.
        let current = state
            .row
            .as_ref()
            .map_or(ActivityState::Idle, |r| r.activity_state);
        state.held_signals.push(HeldSignal {
            signal,
            agent_session_id,
        });
        let _ = reply.send(Ok(CmdReply::Activity(ActivityReply {
            state: current,
            changed: false,
        })));
        return;
    }
    let result = apply_signal(myself, state, signal, agent_session_id).await;
    let _ = reply.send(result.map(CmdReply::Activity));
}

/// Applies one activity signal through the reducer (§13.1) and reacts to it: reload, outbox
/// triggers on the idle edge, first-prompt delivery.
async fn apply_signal(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    signal: Option<ActivityState>,
    agent_session_id: Option<String>,
) -> Result<ActivityReply, CommandError> {
    let outcome = state
        .svc
        .reducer
        .apply_activity(
            &state.id,
            signal,
            agent_session_id,
            state.svc.timeouts.short,
        )
        .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            if e.code() == ErrorCode::SessionNotFound {
                state.row = None;
            }
            return Err(e);
        }
    };
    let reply = ActivityReply {
        state: outcome.new,
        changed: outcome.changed,
    };
    if outcome.changed {
        state.reload().await;
    }
    if !state.is_live() {
        state.outbox.clear();
        return Ok(reply);
    }
    if state.first_prompt.is_some() {
        deliver_first_prompt(myself, state);
    }
    if signal == Some(ActivityState::Active) {
        state.outbox.on_active();
    }
    if outcome.prev != ActivityState::Idle && outcome.new == ActivityState::Idle {
        // The idle edge: the due nudge is evaluated again (scm.md §9.1), then one item goes.
        if let Err(e) = evaluate_nudge(myself, state).await {
            tracing::warn!(session = %state.id, error = %e, "cannot evaluate the due nudge");
        }
        try_deliver(myself, state);
    }
    Ok(reply)
}

/// Applies the signals held during a launch, in arrival order, when the session is live after
/// it; drops them when the launch failed.
async fn apply_held_signals(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    let held = std::mem::take(&mut state.held_signals);
    if !state.is_live() {
        if !held.is_empty() {
            tracing::debug!(session = %state.id, count = held.len(), "dropping signals of a failed launch");
        }
        return;
    }
    for h in held {
        if let Err(e) = apply_signal(myself, state, h.signal, h.agent_session_id).await {
            tracing::warn!(session = %state.id, error = %e, "a held activity signal could not be applied");
        }
    }
}

/// A Reaper observation (§13.2).
async fn observe(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    probe: Probe,
    at: Instant,
) {
    if state.running.is_some() || at < state.last_op_done {
        return;
    }
    let Some(row) = state.row.clone().filter(|r| !r.is_terminated) else {
        return;
    };
    if row.runtime_handle_id.is_empty() {
        return;
    }
    let svc = Arc::clone(&state.svc);
    match probe {
        Probe::Unknown => {}
        Probe::Alive => {
            state.missing_since = None;
            if state.relaunch_pending {
                state.relaunch_pending = false;
                state.generation += 1;
            }
        }
        Probe::Exited(code) => {
            tracing::info!(session = %state.id, ?code, "the agent exited");
            match svc
                .reducer
                .mark_terminated(
                    &state.id,
                    TerminatedReason::AgentExited,
                    code.map(i64::from),
                    svc.timeouts.short,
                )
                .await
            {
                Ok(_) => state.reload().await,
                Err(e) => {
                    tracing::warn!(session = %state.id, error = %e, "cannot record the agent's exit");
                }
            }
        }
        Probe::Missing => {
            if state.relaunch_pending {
                return;
            }
            let Some(first) = state.missing_since else {
                state.missing_since = Some(at);
                return;
            };
            // "At least 5 s later" means the next 5 s tick: ticks come with jitter (two
            // probes on consecutive ticks can start 4.98 s apart), so a twentieth of the gap is
            // forgiven rather than waiting a third tick.
            let confirm = svc.timings.missing_confirm;
            if at.saturating_duration_since(first) + confirm / 20 < confirm {
                return;
            }
            state.missing_since = None;
            runtime_vanished(myself, state, &row).await;
        }
    }
}

/// The runtime vanished under a live agent: relaunch within the budget, else terminate.
async fn runtime_vanished(
    myself: &ActorRef<SessionMsg>,
    state: &mut SessionState,
    row: &SessionRow,
) {
    let timings = state.svc.timings.clone();
    let now = Instant::now();
    while state
        .relaunches
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= timings.relaunch_window)
    {
        state.relaunches.pop_front();
    }
    let within_budget = (state.relaunches.len() as u32) < timings.relaunch_budget;
    if !within_budget || !ops::can_relaunch(row) {
        let why = if within_budget {
            "it cannot resume and has no stored prompt"
        } else {
            "its relaunch budget is spent"
        };
        tracing::warn!(session = %state.id, "the runtime vanished and {why}; terminating");
        if let Err(e) = state
            .svc
            .reducer
            .mark_terminated(
                &state.id,
                TerminatedReason::RuntimeMissing,
                None,
                state.svc.timeouts.short,
            )
            .await
        {
            tracing::warn!(session = %state.id, error = %e, "cannot mark the session terminated");
        }
        state.reload().await;
        return;
    }
    let n = state.relaunches.len();
    let delay = timings
        .relaunch_spacing
        .get(n)
        .or(timings.relaunch_spacing.last())
        .copied()
        .unwrap_or_default();
    tracing::warn!(session = %state.id, ?delay, "the runtime vanished; relaunching in place");
    state.relaunch_pending = true;
    state.generation += 1;
    let generation = state.generation;
    myself.send_after(delay, move || {
        SessionMsg::Timer(Timer::Relaunch { generation })
    });
}

/// A failed spawn normally undoes itself (sessions.md §3). One that was cut short (its task
/// panicked) leaves a live row that would never start: it is undone as boot reconcile would
/// (§17 c), a seed deleted, anything further killed with reason `spawn_failed`.
fn undo_cut_spawn(myself: &ActorRef<SessionMsg>, state: &mut SessionState) {
    let Some(row) = state.row.as_ref().filter(|r| !r.is_terminated) else {
        return;
    };
    if !row.runtime_handle_id.is_empty() && !row.workspace_path.is_empty() {
        return;
    }
    tracing::warn!(session = %state.id, "a spawn was cut short; undoing it");
    let undo = if row.is_seed() {
        Op::Rollback
    } else {
        Op::Kill(TerminatedReason::SpawnFailed)
    };
    enqueue(myself, state, undo, None);
}

async fn op_done(myself: &ActorRef<SessionMsg>, state: &mut SessionState, result: OpResult) {
    let running = state.running.take();
    state.last_op_done = Instant::now();
    state.reload().await;
    let reply_with = |reply: Option<Reply<CmdReply>>, r: Result<CmdReply, CommandError>| {
        if let Some(reply) = reply {
            let _ = reply.send(r);
        }
    };
    let reply = running.and_then(|r| r.reply);
    let id = state.id.clone();
    let mut launched = None;
    // The actor may stop right after: leave the registry before the caller hears back.
    let ends = !state.is_live() && state.queue.is_empty() && state.waiting_sends.is_empty();
    if ends {
        let me = myself.get_id();
        state
            .svc
            .registry
            .sessions
            .remove_if(&id, |_, r| r.get_id() == me);
    }
    match result {
        OpResult::Spawned(r) => {
            if let Err(e) = &r {
                tracing::warn!(session = %id, error = %e, "spawn failed");
                undo_cut_spawn(myself, state);
            }
            reply_with(
                reply,
                r.map(|l| {
                    launched = Some(l);
                    CmdReply::Spawned(id.clone())
                }),
            );
        }
        OpResult::Killed(r) => {
            state.outbox.clear();
            if reply.is_none()
                && let Err(e) = &r
            {
                tracing::warn!(session = %id, error = %e, "kill failed");
            }
            reply_with(reply, r.map(|freed| CmdReply::Killed { freed }));
        }
        OpResult::Restored(r) => {
            state.missing_since = None;
            state.relaunches.clear();
            reply_with(
                reply,
                r.map(|l| {
                    launched = Some(l);
                    CmdReply::Restored
                }),
            );
        }
        OpResult::RolledBack(r) => reply_with(reply, r.map(CmdReply::RolledBack)),
        OpResult::Claimed(r) => {
            let claimed = r.is_ok();
            reply_with(reply, r.map(CmdReply::Claimed));
            // The session owns new facts (and a reset nudge state).
            if claimed && let Err(e) = evaluate_nudge(myself, state).await {
                tracing::warn!(session = %id, error = %e, "cannot evaluate the due nudge after a claim");
            }
        }
        OpResult::Cleanup(r) => reply_with(reply, r.map(CmdReply::Cleanup)),
        OpResult::Relaunched(r) => {
            state.missing_since = None;
            match r {
                Ok(l) => launched = l,
                Err(e) => tracing::warn!(session = %id, error = %e, "relaunch failed"),
            }
        }
        OpResult::BootRelaunched(r) => {
            state.missing_since = None;
            if let Err(e) = &r {
                tracing::warn!(session = %id, error = %e, "boot relaunch failed");
            }
            let r = r.map(|outcome| {
                CmdReply::Reconciled(match outcome {
                    ops::BootRelaunch::Present => Reconciled::Adopted,
                    ops::BootRelaunch::Relaunched(l) => {
                        state.relaunches.push_back(Instant::now());
                        launched = Some(l);
                        Reconciled::Relaunched
                    }
                    ops::BootRelaunch::Terminated => Reconciled::Terminated,
                    ops::BootRelaunch::NotLive => Reconciled::NotLive,
                })
            });
            reply_with(reply, r);
        }
    }
    if let Some(l) = launched {
        arm_first_prompt(myself, state, l);
    }
    apply_held_signals(myself, state).await;
    start_next(myself, state);
    if !state.running.as_ref().is_some_and(|r| r.holds_sends) {
        for (message, reply) in std::mem::take(&mut state.waiting_sends) {
            send_now(myself, state, message, reply);
        }
    }
    // A hook-less agent has no edges: what was queued during the operation goes now.
    if !state.signal_capable() {
        try_deliver(myself, state);
    }
}
