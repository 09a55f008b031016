//! The LifecycleReducer: the only writer of SQLite (README §3.1 rule 1, data-model.md §6).
//!
//! Message ([`ReducerMsg`]):
//! * `Write { op, run }`: one store operation, i.e. one `BEGIN IMMEDIATE` transaction of
//!   [`ao_store::Writer`]. `run` executes the `Writer` method, sends the typed reply to the
//!   caller itself and returns how many `change_log` rows the transaction inserted. Callers
//!   build it through [`ReducerHandle::write`], which keeps the reply typed.
//! * `Fault` (tests and the `fault-injection` feature only): panics inside the handler.
//!
//! Session writes (data-model.md §6, sessions.md §13): [`ReducerHandle`] has one typed method
//! per session write operation of the `Writer` — `insert_seed`, `delete_seed`,
//! `set_workspace`, `mark_spawned`, `apply_activity`, `apply_spooled_activity` (the boot
//! replay of the hook spool), `set_agent_session_id`,
//! `mark_terminated`, `clear_runtime`, `clear_workspace`, `rename`, `set_branch`,
//! `record_relaunch` — each one `Write` message, i.e. one transaction, mapping the store's
//! answer to a [`CommandError`] (`NotFound` → `SESSION_NOT_FOUND`, a second live orchestrator
//! → `ORCHESTRATOR_ALREADY_RUNNING`, anything else → internal).
//!
//! PR writes (scm.md §6–§11, data-model.md §6): `apply_scm_observation`, `ack_scm_hashes`,
//! `claim_pr`, `record_nudge`, `reset_nudge_key`, and the project write `backfill_origin` —
//! one `Write` message each. Store errors map to [`CommandError`] by [`pr_store_error`]:
//! `NotFound` → `SESSION_NOT_FOUND` (or `PR_NOT_FOUND` for the owner-guarded writes of an
//! absent PR), `PrOwnedElsewhere` and `PrClaimedByActiveSession` → 409
//! `PR_CLAIMED_BY_ACTIVE_SESSION` with details `{ownerSessionId}` (the former also carries
//! `"ownedElsewhere": true`; test it with [`is_pr_owned_elsewhere`]), `InvalidInput` → 500
//! (the caller produced a bad observation), anything else → internal.
//!
//! `insert_seed` is the one write that only makes sense while its caller waits
//! ([`ReducerHandle::write_for_caller`]): when the ProjectActor gave up on it (call timeout on a
//! slow or locked database), it is skipped, or deleted again in the same reducer turn, so a
//! seed never outlives its spawn. Every other write runs when its turn comes, whatever its
//! caller did meanwhile.
//!
//! Every write: a database locked by another process (`StoreError::Busy`, once SQLite's 5 s
//! busy timeout is over; the transaction was never begun or was rolled back) is
//! [`CommandError::Unavailable`] — 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1` — rather than
//! an internal error: nothing was written and the same command may succeed later.
//!
//! After each operation that inserted `change_log` rows the reducer casts `Wake` to the
//! CdcPoller. It calls no other actor and no adapter (sessions.md §13.3).
//!
//! Blocking: the `Writer` is synchronous, so each operation runs on tokio's blocking pool. The
//! reducer moves its [`WriterLease`] into the blocking task and gets it back with the result,
//! so the runtime threads never block and operations stay strictly sequential.
//!
//! Ownership of the write connection across restarts: the `Writer` cannot be cloned or
//! reopened by the actor, so the tree keeps it in a [`WriterSlot`] (a mutex-protected
//! `Option<Writer>` plus a `Notify`). The reducer takes a [`WriterLease`] in `pre_start`; the
//! lease puts the writer back into the slot when it is dropped. Dropping is what happens in
//! every way a reducer can end (clean stop, panic in a handler, panic inside the blocking
//! operation, kill), whereas ractor skips `post_stop` after a panic; so a restarted reducer
//! always finds the writer again. `pre_start` waits (bounded) for the previous instance's lease
//! to come back, because ractor may notify the supervisor before the old state is dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_protocol::scm::{ScmHashes, ScmObservation};
use ao_protocol::{ActivityState, ErrorCode, NudgeKind, ProjectId, SessionId, TerminatedReason};
use ao_store::{
    ActivityOutcome, ClaimApplied, NewSeed, NudgeState, ScmApplied, SessionRow, StoreError, Writer,
    Written,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use tokio::sync::Notify;

use crate::cdc::CdcMsg;
use crate::error::CommandError;
use crate::registry::{self, Registry};

/// How long a starting reducer waits for the write connection to be returned.
const LEASE_WAIT: Duration = Duration::from_secs(5);

struct SlotInner {
    writer: Mutex<Option<Writer>>,
    returned: Notify,
}

/// The tree-owned home of the single write connection.
#[derive(Clone)]
pub(crate) struct WriterSlot {
    inner: Arc<SlotInner>,
}

impl WriterSlot {
    pub(crate) fn new(writer: Writer) -> Self {
        Self {
            inner: Arc::new(SlotInner {
                writer: Mutex::new(Some(writer)),
                returned: Notify::new(),
            }),
        }
    }

    fn try_take(&self) -> Option<Writer> {
        match self.inner.writer.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }

    /// Takes the writer, waiting up to `wait` for a previous lease to be dropped.
    pub(crate) async fn lease(&self, wait: Duration) -> Option<WriterLease> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(writer) = self.try_take() {
                return Some(WriterLease {
                    writer: Some(writer),
                    slot: Arc::clone(&self.inner),
                });
            }
            // `notify_one` stores a permit when nobody waits, so a return between `try_take`
            // and this await is not lost.
            if tokio::time::timeout_at(deadline, self.inner.returned.notified())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    /// Takes the writer out for good (the tree is shutting down and closes the database),
    /// waiting up to `wait` for the last lease to be dropped.
    pub(crate) async fn close(&self, wait: Duration) -> Option<Writer> {
        let mut lease = self.lease(wait).await?;
        lease.writer.take()
    }
}

/// Exclusive use of the write connection; returns it to its [`WriterSlot`] on drop.
pub(crate) struct WriterLease {
    writer: Option<Writer>,
    slot: Arc<SlotInner>,
}

impl WriterLease {
    fn writer(&mut self) -> &mut Writer {
        self.writer
            .as_mut()
            .expect("a lease holds its writer until it is dropped")
    }
}

impl Drop for WriterLease {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            match self.slot.writer.lock() {
                Ok(mut g) => *g = Some(writer),
                Err(poisoned) => *poisoned.into_inner() = Some(writer),
            }
            self.slot.returned.notify_one();
        }
    }
}

/// A store operation run by the reducer: executes, replies, returns the event count.
pub(crate) type WriteFn = Box<dyn FnOnce(&mut Writer) -> u64 + Send>;

/// Messages of the LifecycleReducer.
pub(crate) enum ReducerMsg {
    /// One write operation (one transaction); `op` names it in logs.
    Write { op: &'static str, run: WriteFn },
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

pub(crate) struct LifecycleReducer;

pub(crate) struct ReducerArgs {
    pub(crate) slot: WriterSlot,
    pub(crate) registry: Arc<Registry>,
}

pub(crate) struct ReducerState {
    lease: Option<WriterLease>,
    registry: Arc<Registry>,
}

impl Actor for LifecycleReducer {
    type Msg = ReducerMsg;
    type State = ReducerState;
    type Arguments = ReducerArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ReducerMsg>,
        args: ReducerArgs,
    ) -> Result<ReducerState, ActorProcessingErr> {
        let lease = args
            .slot
            .lease(LEASE_WAIT)
            .await
            .ok_or("the write connection was not returned by the previous reducer")?;
        Ok(ReducerState {
            lease: Some(lease),
            registry: args.registry,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ReducerMsg>,
        msg: ReducerMsg,
        state: &mut ReducerState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ReducerMsg::Write { op, run } => {
                let mut lease = state
                    .lease
                    .take()
                    .ok_or("the reducer lost its write connection")?;
                let result = tokio::task::spawn_blocking(move || {
                    let events = run(lease.writer());
                    (lease, events)
                })
                .await;
                match result {
                    Ok((lease, events)) => {
                        state.lease = Some(lease);
                        tracing::trace!(op, events, "store write");
                        if events > 0
                            && let Some(cdc) = state.registry.cdc.get()
                        {
                            // A restarting poller re-reads from head_seq; nothing to do then.
                            let _ = cdc.cast(CdcMsg::Wake);
                        }
                        Ok(())
                    }
                    // The lease went back to the slot while the blocking task unwound; fail
                    // so that the supervisor restarts a reducer that re-takes it.
                    Err(e) => Err(format!("store operation {op} panicked: {e}").into()),
                }
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ReducerMsg::Fault => panic!("injected fault in the lifecycle reducer"),
        }
    }
}

/// The typed way to ask the reducer for a write.
#[derive(Clone)]
pub(crate) struct ReducerHandle {
    registry: Arc<Registry>,
}

impl ReducerHandle {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// Runs `f` as one reducer operation. The outer error is the transport (reducer
    /// restarting, timeout) or a database locked by another process (`Unavailable`: nothing
    /// was written, a retry may succeed); the inner one is the store's answer. A caller that
    /// gave up (timeout) does not cancel the write: it still runs when its turn comes.
    pub(crate) async fn write<T, F>(
        &self,
        op: &'static str,
        f: F,
        timeout: Duration,
    ) -> Result<Result<T, StoreError>, CommandError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<Written<T>, StoreError> + Send + 'static,
    {
        self.run(op, f, None, timeout).await
    }

    /// [`Self::write`] for a write that is only meaningful while its caller waits for the
    /// answer: it is skipped when the caller gave up before its turn, and reverted with `undo`
    /// (in the same reducer turn, so nothing can come in between) when the caller gave up
    /// while it ran.
    async fn write_for_caller<T, F>(
        &self,
        op: &'static str,
        f: F,
        undo: Undo<T>,
        timeout: Duration,
    ) -> Result<Result<T, StoreError>, CommandError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<Written<T>, StoreError> + Send + 'static,
    {
        self.run(op, f, Some(undo), timeout).await
    }

    async fn run<T, F>(
        &self,
        op: &'static str,
        f: F,
        undo: Option<Undo<T>>,
        timeout: Duration,
    ) -> Result<Result<T, StoreError>, CommandError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<Written<T>, StoreError> + Send + 'static,
    {
        let reducer = self
            .registry
            .reducer
            .get()
            .ok_or_else(|| registry::restarting("lifecycle reducer"))?;
        let answer = registry::call(
            &reducer,
            "lifecycle reducer",
            move |reply: RpcReplyPort<Result<Result<T, StoreError>, CommandError>>| {
                ReducerMsg::Write {
                    op,
                    run: Box::new(move |writer| {
                        if undo.is_some() && reply.is_closed() {
                            tracing::info!(op, "the caller gave up before its write ran; skipped");
                            return 0;
                        }
                        match f(writer) {
                            Ok(Written { value, events }) => match reply.send(Ok(Ok(value))) {
                                Err(MessagingErr::SendErr(Ok(Ok(value)))) if undo.is_some() => {
                                    tracing::warn!(
                                        op,
                                        "the caller gave up while its write ran; reverting it"
                                    );
                                    events + undo.map_or(0, |undo| undo(writer, &value))
                                }
                                _ => events,
                            },
                            Err(e) => {
                                let _ = reply.send(Ok(Err(e)));
                                0
                            }
                        }
                    }),
                }
            },
            timeout,
        )
        .await?;
        match answer {
            Err(StoreError::Busy(detail)) => {
                tracing::warn!(op, %detail, "store write refused: the database is locked");
                Err(CommandError::unavailable(
                    "the database is locked by another process; nothing was written, retry",
                ))
            }
            other => Ok(other),
        }
    }
}

/// Reverts a write whose caller is gone (see [`ReducerHandle::write_for_caller`]); returns the
/// change-log rows it produced.
type Undo<T> = Box<dyn FnOnce(&mut Writer, &T) -> u64 + Send>;

/// Maps a store error of a session write: `NotFound` → `SESSION_NOT_FOUND`.
fn session_store_error(err: StoreError, id: &SessionId) -> CommandError {
    match err {
        StoreError::NotFound => CommandError::rejected(
            ErrorCode::SessionNotFound,
            format!("session {id} not found"),
        ),
        StoreError::OrchestratorExists { session_id } => orchestrator_exists(&session_id),
        other => CommandError::Internal(other.to_string()),
    }
}

/// `409 ORCHESTRATOR_ALREADY_RUNNING` naming the live orchestrator.
pub(crate) fn orchestrator_exists(existing: &SessionId) -> CommandError {
    CommandError::rejected_with(
        ErrorCode::OrchestratorAlreadyRunning,
        format!("an orchestrator is already running for this project: {existing}"),
        serde_json::json!({ "sessionId": existing }),
    )
}

/// The typed session writes: one method per `Writer` operation, one transaction each.
impl ReducerHandle {
    async fn session_write<T, F>(
        &self,
        op: &'static str,
        id: &SessionId,
        timeout: Duration,
        f: F,
    ) -> Result<T, CommandError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Writer) -> Result<Written<T>, StoreError> + Send + 'static,
    {
        self.write(op, f, timeout)
            .await?
            .map_err(|e| session_store_error(e, id))
    }

    /// `insert_seed`: the new session row (fires `session_created`). An absent or archived
    /// project → `PROJECT_NOT_FOUND`; a second live orchestrator →
    /// `ORCHESTRATOR_ALREADY_RUNNING`. Skipped, or deleted again at once, when the caller gave
    /// up waiting for it (a slow or locked database), so no seed outlives its spawn.
    pub(crate) async fn insert_seed(
        &self,
        seed: NewSeed,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let project = seed.project_id.clone();
        // A seed whose spawn gave up would be a live session that never starts (and, for an
        // orchestrator, would block the project's orchestrator slot) until the next boot.
        let undo: Undo<SessionRow> = Box::new(|w, row| match w.delete_seed(&row.id) {
            Ok(written) => written.events,
            Err(e) => {
                tracing::error!(session = %row.id, error = %e, "cannot delete an abandoned seed");
                0
            }
        });
        self.write_for_caller("insert_seed", move |w| w.insert_seed(&seed), undo, timeout)
            .await?
            .map_err(|e| match e {
                StoreError::NotFound => CommandError::rejected(
                    ErrorCode::ProjectNotFound,
                    format!("project {project} not found"),
                ),
                StoreError::OrchestratorExists { session_id } => orchestrator_exists(&session_id),
                other => CommandError::Internal(other.to_string()),
            })
    }

    /// `delete_seed`: `true` when the seed row (and its change-log rows) was deleted.
    pub(crate) async fn delete_seed(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<bool, CommandError> {
        let key = id.clone();
        self.session_write("delete_seed", id, timeout, move |w| w.delete_seed(&key))
            .await
    }

    pub(crate) async fn set_workspace(
        &self,
        id: &SessionId,
        branch: String,
        workspace_path: String,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("set_workspace", id, timeout, move |w| {
            w.set_workspace(&key, &branch, &workspace_path)
        })
        .await
    }

    pub(crate) async fn mark_spawned(
        &self,
        id: &SessionId,
        handle: String,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("mark_spawned", id, timeout, move |w| {
            w.mark_spawned(&key, &handle)
        })
        .await
    }

    pub(crate) async fn apply_activity(
        &self,
        id: &SessionId,
        state: Option<ActivityState>,
        agent_session_id: Option<String>,
        timeout: Duration,
    ) -> Result<ActivityOutcome, CommandError> {
        let key = id.clone();
        self.session_write("apply_activity", id, timeout, move |w| {
            w.apply_activity(&key, state, agent_session_id.as_deref())
        })
        .await
    }

    /// `apply_spooled_activity`: one line of the hook spool replayed at boot (sessions.md
    /// §12.1). `true` when anything was written; an unknown or terminated session, or a
    /// signal older than the stored `activity_last_at`, writes nothing and is not an error.
    pub(crate) async fn apply_spooled_activity(
        &self,
        id: &SessionId,
        state: Option<ActivityState>,
        agent_session_id: Option<String>,
        at: String,
        timeout: Duration,
    ) -> Result<bool, CommandError> {
        let key = id.clone();
        self.session_write("apply_spooled_activity", id, timeout, move |w| {
            w.apply_spooled_activity(&key, state, agent_session_id.as_deref(), &at)
        })
        .await
    }

    /// `set_agent_session_id` (activity signals carry it through `apply_activity`, spooled
    /// ones through `apply_spooled_activity`).
    #[allow(dead_code)]
    pub(crate) async fn set_agent_session_id(
        &self,
        id: &SessionId,
        agent_session_id: String,
        timeout: Duration,
    ) -> Result<bool, CommandError> {
        let key = id.clone();
        self.session_write("set_agent_session_id", id, timeout, move |w| {
            w.set_agent_session_id(&key, &agent_session_id)
        })
        .await
    }

    /// `mark_terminated`: `false` when the session already was terminated (the first reason
    /// wins).
    pub(crate) async fn mark_terminated(
        &self,
        id: &SessionId,
        reason: TerminatedReason,
        exit_code: Option<i64>,
        timeout: Duration,
    ) -> Result<bool, CommandError> {
        let key = id.clone();
        self.session_write("mark_terminated", id, timeout, move |w| {
            w.mark_terminated(&key, reason, exit_code)
        })
        .await
    }

    pub(crate) async fn clear_runtime(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("clear_runtime", id, timeout, move |w| w.clear_runtime(&key))
            .await
    }

    pub(crate) async fn clear_workspace(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("clear_workspace", id, timeout, move |w| {
            w.clear_workspace(&key)
        })
        .await
    }

    pub(crate) async fn rename(
        &self,
        id: &SessionId,
        display_name: String,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("rename", id, timeout, move |w| {
            w.rename(&key, &display_name)
        })
        .await
    }

    /// `set_branch` (the claim-PR checkout of the next milestone uses it).
    #[allow(dead_code)]
    pub(crate) async fn set_branch(
        &self,
        id: &SessionId,
        branch: String,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("set_branch", id, timeout, move |w| {
            w.set_branch(&key, &branch)
        })
        .await
    }

    pub(crate) async fn record_relaunch(
        &self,
        id: &SessionId,
        handle: String,
        timeout: Duration,
    ) -> Result<SessionRow, CommandError> {
        let key = id.clone();
        self.session_write("record_relaunch", id, timeout, move |w| {
            w.record_relaunch(&key, &handle)
        })
        .await
    }
}

/// Whether a PR write failed because the PR belongs to another session (the store's
/// `PrOwnedElsewhere`, see [`pr_store_error`]).
pub(crate) fn is_pr_owned_elsewhere(err: &CommandError) -> bool {
    matches!(
        err,
        CommandError::Rejected { code: ErrorCode::PrClaimedByActiveSession, details: Some(d), .. }
            if d.get("ownedElsewhere").and_then(serde_json::Value::as_bool) == Some(true)
    )
}

/// Maps a store error of a PR write (see the module docs). `absent` is the code for
/// `NotFound`: `SESSION_NOT_FOUND` for the writes that name a session which must exist,
/// `PR_NOT_FOUND` for the owner-guarded writes of a stored PR.
pub(crate) fn pr_store_error(err: StoreError, absent: ErrorCode, what: &str) -> CommandError {
    match err {
        StoreError::NotFound => CommandError::rejected(absent, format!("{what} not found")),
        StoreError::PrOwnedElsewhere { owner } => CommandError::rejected_with(
            ErrorCode::PrClaimedByActiveSession,
            format!("{what} is owned by session {owner}"),
            serde_json::json!({ "ownerSessionId": owner, "ownedElsewhere": true }),
        ),
        StoreError::PrClaimedByActiveSession { owner } => CommandError::rejected_with(
            ErrorCode::PrClaimedByActiveSession,
            format!("{what} is owned by the active session {owner}"),
            serde_json::json!({ "ownerSessionId": owner }),
        ),
        other => CommandError::Internal(other.to_string()),
    }
}

/// The typed PR writes (scm.md §6–§11): one method per `Writer` operation, one transaction
/// each. Callers: the PR observers (observation, ack, origin back-fill), the SessionActors
/// (nudge state) and claim.
impl ReducerHandle {
    /// `apply_scm_observation`: the facts of one observation (never the acknowledged hashes).
    /// An absent session → `SESSION_NOT_FOUND`; a PR owned by another session → 409 (see
    /// [`is_pr_owned_elsewhere`]).
    pub(crate) async fn apply_scm_observation(
        &self,
        obs: ScmObservation,
        timeout: Duration,
    ) -> Result<ScmApplied, CommandError> {
        let what = format!("PR {}", obs.facts.url);
        self.write(
            "apply_scm_observation",
            move |w| w.apply_scm_observation(&obs),
            timeout,
        )
        .await?
        .map_err(|e| pr_store_error(e, ErrorCode::SessionNotFound, &what))
    }

    /// `ack_scm_hashes`: stores the acknowledged hashes after the reaction succeeded. An absent
    /// PR → `PR_NOT_FOUND`; owned by another session → 409.
    pub(crate) async fn ack_scm_hashes(
        &self,
        session: &SessionId,
        url: String,
        hashes: ScmHashes,
        timeout: Duration,
    ) -> Result<(), CommandError> {
        let key = session.clone();
        let what = format!("PR {url}");
        self.write(
            "ack_scm_hashes",
            move |w| w.ack_scm_hashes(&key, &url, &hashes),
            timeout,
        )
        .await?
        .map_err(|e| pr_store_error(e, ErrorCode::PrNotFound, &what))
    }

    /// `claim_pr`: the claim transaction (scm.md §11). An absent claimer →
    /// `SESSION_NOT_FOUND`; a live other owner without takeover → 409
    /// `PR_CLAIMED_BY_ACTIVE_SESSION` with `{ownerSessionId}`.
    pub(crate) async fn claim_pr(
        &self,
        obs: ScmObservation,
        allow_takeover: bool,
        timeout: Duration,
    ) -> Result<ClaimApplied, CommandError> {
        let what = format!("PR {}", obs.facts.url);
        self.write(
            "claim_pr",
            move |w| w.claim_pr(&obs, allow_takeover),
            timeout,
        )
        .await?
        .map_err(|e| pr_store_error(e, ErrorCode::SessionNotFound, &what))
    }

    /// `record_nudge`: a delivered nudge (scm.md §9.4); returns the new state. An absent PR →
    /// `PR_NOT_FOUND`; owned by another session → 409.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_nudge(
        &self,
        session: &SessionId,
        url: String,
        kind: NudgeKind,
        key: String,
        signature: String,
        scope: String,
        timeout: Duration,
    ) -> Result<NudgeState, CommandError> {
        let id = session.clone();
        let what = format!("PR {url}");
        self.write(
            "record_nudge",
            move |w| w.record_nudge(&id, &url, kind, &key, &signature, &scope),
            timeout,
        )
        .await?
        .map_err(|e| pr_store_error(e, ErrorCode::PrNotFound, &what))
    }

    /// `reset_nudge_key`: forgets one nudge key; `true` when it was present. An absent PR →
    /// `PR_NOT_FOUND`; owned by another session → 409.
    pub(crate) async fn reset_nudge_key(
        &self,
        session: &SessionId,
        url: String,
        key: String,
        timeout: Duration,
    ) -> Result<bool, CommandError> {
        let id = session.clone();
        let what = format!("PR {url}");
        self.write(
            "reset_nudge_key",
            move |w| w.reset_nudge_key(&id, &url, &key),
            timeout,
        )
        .await?
        .map_err(|e| pr_store_error(e, ErrorCode::PrNotFound, &what))
    }

    /// `backfill_origin`: fills a project's empty `repo_origin_url` (a non-empty one is kept).
    /// An absent project → `PROJECT_NOT_FOUND`.
    pub(crate) async fn backfill_origin(
        &self,
        project: &ProjectId,
        origin_url: String,
        timeout: Duration,
    ) -> Result<(), CommandError> {
        let id = project.clone();
        self.write(
            "backfill_origin",
            move |w| w.backfill_origin(&id, &origin_url),
            timeout,
        )
        .await?
        .map_err(|e| match e {
            StoreError::NotFound => CommandError::rejected(
                ErrorCode::ProjectNotFound,
                format!("project {project} not found"),
            ),
            other => CommandError::Internal(other.to_string()),
        })
    }
}
