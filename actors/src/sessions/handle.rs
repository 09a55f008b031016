//! [`SessionsHandle`]: the typed entry point for session commands (http-api.md §7–8).
//!
//! Routing: a per-session command goes straight to the session's actor when the registry has
//! one. Otherwise it goes to the session's ProjectActor, which starts an actor (a temporary
//! one for a terminated session, which stops after the command) and forwards it. A session of
//! an archived project has no ProjectActor: the handle starts an unsupervised temporary actor
//! itself. A ProjectActor that is restarting, or a session actor waiting for its restart,
//! gives `Unavailable` (503).
//!
//! Timeouts: spawn, orchestrator spawn, restore, cleanup, kill, rollback and send use the long
//! bound (10 min) — kill and an immediate send wait behind an in-flight spawn or restore, so a
//! short bound would time out spuriously; the daemon bounds send by `AO_REQUEST_TIMEOUT`
//! itself. Rename and activity use the short bound (5 s).

use std::sync::Arc;
use std::time::Duration;

use ao_protocol::{
    ActivityState, Delivery, ErrorCode, Harness, ProjectId, SessionId, SessionKind, SkippedSession,
    TerminatedReason,
};
use ao_store::SessionFilter;
use ractor::rpc::CallResult;
use ractor::{Actor, MessagingErr};

use super::actor::{SessionActor, SessionArgs, SessionMsg};
use super::{
    ActivityReply, ClaimOutcome, CleanupOutcome, CleanupResult, CmdReply, REASON_TEARDOWN_FAILED,
    Reconciled, RollbackOutcome, SessionCmd, SessionServices, SpawnCommand,
};
use crate::error::CommandError;
use crate::projects::ProjectMsg;
use crate::registry;

/// Sends session commands to the actor tree. Cheap to clone.
#[derive(Clone)]
pub struct SessionsHandle {
    svc: Arc<SessionServices>,
}

impl std::fmt::Debug for SessionsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionsHandle")
            .field("timeouts", &self.svc.timeouts)
            .finish_non_exhaustive()
    }
}

fn unexpected(reply: &CmdReply) -> CommandError {
    CommandError::Internal(format!(
        "unexpected reply from the session actor: {reply:?}"
    ))
}

fn project_not_found(id: &ProjectId) -> CommandError {
    CommandError::rejected(
        ErrorCode::ProjectNotFound,
        format!("project {id} not found"),
    )
}

impl SessionsHandle {
    pub(crate) fn new(svc: Arc<SessionServices>) -> Self {
        Self { svc }
    }

    fn long(&self) -> Duration {
        self.svc.timeouts.long
    }

    fn short(&self) -> Duration {
        self.svc.timeouts.short
    }

    /// Spawns a session: http-api.md §7.2 steps 5–9, then sessions.md §3 with every rollback
    /// step. Returns the new session's id once it runs.
    ///
    /// Errors: `PROJECT_NOT_FOUND`, `AGENT_REQUIRED`, `UNKNOWN_HARNESS`, `COMMAND_REQUIRED`,
    /// `AGENT_BINARY_NOT_FOUND`, `ORCHESTRATOR_ALREADY_RUNNING` (before any write); then
    /// `INVALID_BRANCH`, `BRANCH_NOT_FETCHED`, `PROJECT_NOT_RESOLVABLE`,
    /// `BRANCH_CHECKED_OUT_ELSEWHERE` (details `{worktreePath}`), `PROVISION_FAILED`
    /// (details `{step, exitCode?, outputTail?}`), `AGENT_EXITED_EARLY` (details
    /// `{exitCode, outputTail}`), `RUNTIME_ERROR`, `WORKSPACE_ERROR`.
    pub async fn spawn(&self, cmd: SpawnCommand) -> Result<SessionId, CommandError> {
        let project = cmd.project_id.clone();
        let actor = match self.svc.registry.projects.get(&project) {
            Some(a) => a.clone(),
            None => {
                return Err(match self.svc.project(&project).await? {
                    Some(p) if p.archived_at.is_none() => {
                        registry::restarting(&format!("actor of project {project}"))
                    }
                    _ => project_not_found(&project),
                });
            }
        };
        let reply = registry::call(
            &actor,
            "project actor",
            |reply| ProjectMsg::Spawn(Box::new(cmd), reply),
            self.long(),
        )
        .await?;
        match reply {
            CmdReply::Spawned(id) => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    /// `POST /orchestrators`: with `clean`, kills every live orchestrator of the project first
    /// (normal kill semantics); then spawns one (`ORCHESTRATOR_ALREADY_RUNNING` when a live
    /// one exists and `clean` is false).
    pub async fn spawn_orchestrator(
        &self,
        project: ProjectId,
        clean: bool,
        harness: Option<Harness>,
        prompt: Option<String>,
    ) -> Result<SessionId, CommandError> {
        if clean {
            let live = self
                .svc
                .sessions(SessionFilter {
                    project: Some(project.clone()),
                    kind: Some(SessionKind::Orchestrator),
                    active: Some(true),
                })
                .await?;
            for row in live {
                match self.kill(row.id.clone()).await {
                    Ok(_) => {}
                    Err(e) if e.code() == ErrorCode::SessionNotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.spawn(SpawnCommand {
            project_id: project,
            kind: SessionKind::Orchestrator,
            harness,
            branch: None,
            prompt,
            issue_id: None,
            display_name: None,
            command: None,
            claim: None,
        })
        .await
    }

    /// Kills a session (sessions.md §4); idempotent. Returns `freed` (`false`: the dirty
    /// worktree was kept).
    ///
    /// Errors: `SESSION_NOT_FOUND`, `RUNTIME_ERROR`, `WORKSPACE_ERROR`.
    pub async fn kill(&self, id: SessionId) -> Result<bool, CommandError> {
        self.kill_with(id, TerminatedReason::Killed).await
    }

    pub(crate) async fn kill_with(
        &self,
        id: SessionId,
        reason: TerminatedReason,
    ) -> Result<bool, CommandError> {
        match self
            .session_call(&id, SessionCmd::Kill { reason }, self.long())
            .await?
        {
            CmdReply::Killed { freed } => Ok(freed),
            other => Err(unexpected(&other)),
        }
    }

    /// Restores a terminated session (sessions.md §5).
    ///
    /// Errors: `SESSION_NOT_FOUND`, `SESSION_NOT_RESTORABLE`, `SESSION_INCOMPLETE_HANDLE`,
    /// `SESSION_NOT_RESUMABLE`, `ORCHESTRATOR_ALREADY_RUNNING`, `WORKSPACE_PATH_OCCUPIED`,
    /// `BRANCH_CHECKED_OUT_ELSEWHERE`, `RUNTIME_ERROR`, `AGENT_EXITED_EARLY`, ….
    pub async fn restore(&self, id: SessionId) -> Result<(), CommandError> {
        match self
            .session_call(&id, SessionCmd::Restore, self.long())
            .await?
        {
            CmdReply::Restored => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// Rolls a session back (sessions.md §6): deletes a seed, kills a live session; an absent
    /// or terminated one gives `{deleted:false, killed:false}`.
    pub async fn rollback(&self, id: SessionId) -> Result<RollbackOutcome, CommandError> {
        match self
            .session_call(&id, SessionCmd::Rollback, self.long())
            .await
        {
            Ok(CmdReply::RolledBack(outcome)) => Ok(outcome),
            Ok(other) => Err(unexpected(&other)),
            Err(e) if e.code() == ErrorCode::SessionNotFound => Ok(RollbackOutcome::default()),
            Err(e) => Err(e),
        }
    }

    /// Cleanup (sessions.md §7) of every terminated session (of `project`, when given) that
    /// still has a worktree or a runtime handle, in session order.
    ///
    /// Errors: `PROJECT_NOT_FOUND` for an unknown project.
    pub async fn cleanup(
        &self,
        project: Option<ProjectId>,
    ) -> Result<CleanupOutcome, CommandError> {
        if let Some(p) = &project
            && self.svc.project(p).await?.is_none()
        {
            return Err(project_not_found(p));
        }
        let rows = self
            .svc
            .sessions(SessionFilter {
                project,
                kind: None,
                active: Some(false),
            })
            .await?;
        let mut outcome = CleanupOutcome::default();
        for row in rows {
            if row.workspace_path.is_empty() && row.runtime_handle_id.is_empty() {
                continue;
            }
            let id = row.id.clone();
            match self
                .session_call(&id, SessionCmd::Cleanup, self.long())
                .await
            {
                Ok(CmdReply::Cleanup(CleanupResult::Cleaned)) => outcome.cleaned.push(id),
                Ok(CmdReply::Cleanup(CleanupResult::Skipped(reason))) => {
                    outcome.skipped.push(SkippedSession {
                        session_id: id,
                        reason,
                    });
                }
                Ok(CmdReply::Cleanup(CleanupResult::NotEligible)) => {}
                Ok(other) => return Err(unexpected(&other)),
                Err(e) if e.code() == ErrorCode::SessionNotFound => {}
                Err(e) => {
                    tracing::warn!(session = %id, error = %e, "cleanup failed");
                    outcome.skipped.push(SkippedSession {
                        session_id: id,
                        reason: REASON_TEARDOWN_FAILED.to_string(),
                    });
                }
            }
        }
        Ok(outcome)
    }

    /// Sets the display name (already trimmed and checked by the caller); terminated sessions
    /// can be renamed. One reducer write (`session_renamed`).
    ///
    /// Errors: `SESSION_NOT_FOUND`.
    pub async fn rename(&self, id: SessionId, display_name: String) -> Result<(), CommandError> {
        self.svc
            .reducer
            .rename(&id, display_name, self.short())
            .await
            .map(|_| ())
    }

    /// Sends a (sanitised) message (sessions.md §9): immediately (`sent`), or queued for the
    /// next idle edge with `when_idle` (`queued`).
    ///
    /// Errors: `SESSION_NOT_FOUND`, `SESSION_TERMINATED`, `SESSION_INCOMPLETE_HANDLE`,
    /// `SESSION_BUSY` (33rd queued message), `RUNTIME_ERROR`.
    pub async fn send(
        &self,
        id: SessionId,
        message: String,
        when_idle: bool,
    ) -> Result<Delivery, CommandError> {
        match self
            .session_call(&id, SessionCmd::Send { message, when_idle }, self.long())
            .await?
        {
            CmdReply::Sent(d) => Ok(d),
            other => Err(unexpected(&other)),
        }
    }

    /// An activity signal from a hook (sessions.md §13.1). A terminated session answers with
    /// `changed:false` and its current state.
    ///
    /// Errors: `SESSION_NOT_FOUND`.
    pub async fn activity(
        &self,
        id: SessionId,
        state: Option<ActivityState>,
        agent_session_id: Option<String>,
        event: Option<String>,
    ) -> Result<ActivityReply, CommandError> {
        let cmd = SessionCmd::Activity {
            state,
            agent_session_id,
            event,
        };
        match self.session_call(&id, cmd, self.short()).await? {
            CmdReply::Activity(r) => Ok(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Claim PR (scm.md §11): the session takes ownership of the PR `pr_ref` (URL,
    /// `<o>/<r>#<n>`, `#<n>` or `<n>`), then its worktree is switched to the PR head ref
    /// (adapters.md §4.3). Runs as a lifecycle operation of the session (after any queued
    /// one), bounded by the long timeout.
    ///
    /// Errors, in order: `SESSION_NOT_FOUND`, `SESSION_TERMINATED`, `SESSION_NOT_CLAIMABLE`,
    /// `SESSION_NO_WORKSPACE`, `PROJECT_NOT_RESOLVABLE`, `PR_REQUIRED`, `INVALID_PR_REF`,
    /// `PR_PROJECT_MISMATCH`, `SCM_UNAVAILABLE`, `PR_NOT_FOUND`, `PR_FROM_FORK`,
    /// `PR_NOT_OPEN`, then `PR_CLAIMED_BY_ACTIVE_SESSION` (details `{ownerSessionId}`). A failed
    /// checkout is not an error: it is reported in the outcome.
    pub async fn claim_pr(
        &self,
        id: SessionId,
        pr_ref: String,
        allow_takeover: bool,
    ) -> Result<ClaimOutcome, CommandError> {
        let cmd = SessionCmd::ClaimPr {
            pr_ref,
            allow_takeover,
        };
        match self.session_call(&id, cmd, self.long()).await? {
            CmdReply::Claimed(outcome) => Ok(outcome),
            other => Err(unexpected(&other)),
        }
    }

    /// The PR observer's reaction (scm.md §7 step 2): the session's actor re-evaluates its due
    /// nudge and, with `complete`, queues the kill with reason `pr_merged` (§10). Bounded by
    /// the short timeout (5 s). A terminated session needs nothing (`Ok`).
    ///
    /// Errors: `SESSION_NOT_FOUND`; `Unavailable` when the live session has no actor (the
    /// observer retries on its next poll); `Timeout`; a failed re-evaluation.
    pub async fn pr_facts_changed(
        &self,
        id: SessionId,
        complete: bool,
    ) -> Result<(), CommandError> {
        let timeout = self.short();
        if let Some(actor) = self.svc.registry.sessions.get(&id).map(|r| r.clone()) {
            let cmd = SessionCmd::PrFactsChanged { complete };
            match actor
                .call(|reply| SessionMsg::Command(cmd, reply), Some(timeout))
                .await
            {
                Ok(CallResult::Success(Ok(CmdReply::PrFactsHandled))) => return Ok(()),
                Ok(CallResult::Success(Ok(other))) => return Err(unexpected(&other)),
                Ok(CallResult::Success(Err(e))) => return Err(e),
                Ok(CallResult::Timeout) => return Err(CommandError::Timeout),
                Ok(CallResult::SenderError) | Err(_) => {}
            }
        }
        match self.svc.session(&id).await? {
            None => Err(CommandError::rejected(
                ErrorCode::SessionNotFound,
                format!("session {id} not found"),
            )),
            Some(row) if row.is_terminated => Ok(()),
            Some(_) => Err(CommandError::unavailable(format!(
                "session {id} has no running actor; retry shortly"
            ))),
        }
    }

    /// Boot reconcile of one live session (sessions.md §17 b, d) with what the batch probe
    /// saw; a relaunch is a lifecycle operation, so this uses the long bound.
    pub(crate) async fn reconcile_session(
        &self,
        id: SessionId,
        probe: ao_adapters::Probe,
    ) -> Result<Reconciled, CommandError> {
        match self
            .session_call(&id, SessionCmd::Reconcile { probe }, self.long())
            .await
        {
            Ok(CmdReply::Reconciled(r)) => Ok(r),
            Ok(other) => Err(unexpected(&other)),
            Err(e) if e.code() == ErrorCode::SessionNotFound => Ok(Reconciled::NotLive),
            Err(e) => Err(e),
        }
    }

    /// Routes one per-session command (see the module doc).
    pub(crate) async fn session_call(
        &self,
        id: &SessionId,
        cmd: SessionCmd,
        timeout: Duration,
    ) -> Result<CmdReply, CommandError> {
        let mut cmd = cmd;
        if let Some(actor) = self.svc.registry.sessions.get(id).map(|r| r.clone()) {
            match actor
                .call(|reply| SessionMsg::Command(cmd, reply), Some(timeout))
                .await
            {
                Ok(CallResult::Success(r)) => return r,
                Ok(CallResult::Timeout) => return Err(CommandError::Timeout),
                Ok(CallResult::SenderError) => {
                    return Err(CommandError::unavailable(format!(
                        "the actor of session {id} stopped before replying; retry shortly"
                    )));
                }
                Err(MessagingErr::SendErr(SessionMsg::Command(back, _))) => {
                    // The actor ended before it saw the command: route it again.
                    let gone = actor.get_id();
                    self.svc
                        .registry
                        .sessions
                        .remove_if(id, |_, r| r.get_id() == gone);
                    cmd = back;
                }
                Err(_) => {
                    return Err(CommandError::unavailable(format!(
                        "the actor of session {id} is restarting; retry shortly"
                    )));
                }
            }
        }
        let project = id.project_id();
        if let Some(pa) = self.svc.registry.projects.get(&project).map(|r| r.clone()) {
            return registry::call(
                &pa,
                "project actor",
                |reply| ProjectMsg::Session(id.clone(), cmd, reply),
                timeout,
            )
            .await;
        }
        // No ProjectActor: a restarting one (503), or an archived / unknown project.
        if self
            .svc
            .project(&project)
            .await?
            .is_some_and(|p| p.archived_at.is_none())
        {
            return Err(registry::restarting(&format!("actor of project {project}")));
        }
        if self.svc.session(id).await?.is_none() {
            return Err(CommandError::rejected(
                ErrorCode::SessionNotFound,
                format!("session {id} not found"),
            ));
        }
        let args = SessionArgs {
            id: id.clone(),
            svc: Arc::clone(&self.svc),
        };
        let (actor, _) = Actor::spawn(None, SessionActor, args)
            .await
            .map_err(|e| CommandError::unavailable(format!("cannot start a session actor: {e}")))?;
        self.svc.registry.sessions.insert(id.clone(), actor.clone());
        let result = registry::call(
            &actor,
            "session actor",
            |reply| SessionMsg::Command(cmd, reply),
            timeout,
        )
        .await;
        // A temporary actor stops by itself once the session is terminated; a restored one
        // lives on unsupervised until it ends.
        result
    }
}
