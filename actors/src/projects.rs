//! The ProjectSupervisor and its ProjectActors.
//!
//! **ProjectSupervisor** (permanent child of Root). Messages ([`ProjectSupMsg`]):
//! * `Add(req, reply)`: registration. Path and git checks ([`crate::register`]) and the
//!   reducer's `insert_project` run in a tracked task, so the mailbox stays responsive; the task
//!   replies with the error itself, or casts `Added` back on success.
//! * `Added(row, reply)` (internal): the row is durable; start its ProjectActor, then reply.
//! * `SetConfig(id, change, reply)`: forwarded (with the reply port) to the project's actor.
//!   Unknown id → `PROJECT_NOT_FOUND`; an actor waiting for its restart → `Unavailable`.
//! * `Remove(id, reply)`: a tracked task kills every live session of the project (reason
//!   `project_removed`), runs cleanup for the project, asks the reducer to `archive_project`,
//!   then casts `Archived` back (http-api.md §6 delete semantics).
//! * `Archived(id, reply)` (internal): stop supervising the project, stop its actor, reply.
//! * `Restart(id)` (internal, sent with `send_after`): restart a failed ProjectActor.
//! * `Fault` (tests / `fault-injection` only): panics inside the handler.
//!
//! `pre_start` starts a ProjectActor for every non-archived project read from the read pool.
//! ProjectActors are transient: a clean stop (archive) is final, a failure is restarted within
//! the budget of [`crate::supervision`]; past the budget the supervisor fails, which escalates
//! to Root.
//!
//! **ProjectActor** (one per live project). Messages ([`ProjectMsg`]):
//! * `SetConfig(change, reply)`: re-reads the row, merges (RFC 7386) or replaces, validates
//!   (`INVALID_PROJECT_CONFIG` with `details.field`) and asks the reducer to store it. Changes of
//!   one project are serialised by this mailbox, so concurrent patches never lose an update.
//! * `Spawn(cmd, reply)`: spawn validation (http-api.md §7.2 steps 5–9), `insert_seed`, then a
//!   SessionActor is started and runs the rest of sessions.md §3; it replies itself. A spawn
//!   with `claimPr` needs GitHub (step 10): that part ([`crate::sessions::claim::prepare_spawn`])
//!   runs in a tracked task, which replies with its error itself or casts `ClaimPrepared`
//!   back, so a slow or hanging GitHub never blocks this mailbox.
//! * `ClaimPrepared(plan, reply)` (internal): a claiming spawn is ready: seed, start, hand over.
//! * `Reload`: re-read the project row (cast by the ScmSupervisor after it back-filled the
//!   origin, so the spawns that follow see it).
//! * `Session(id, cmd, reply)`: a per-session command for a session without an actor in the
//!   registry: starts one (a temporary one for a terminated session) and forwards the command.
//!   A session actor waiting for its restart → `Unavailable`; an unknown session →
//!   `SESSION_NOT_FOUND`.
//! * `EnsureSession(id)` (from the Reaper): start an actor for a live session that has none.
//! * `RestartSession(id)` (internal, sent with `send_after`): restart a failed SessionActor.
//! * `Fault` (tests / `fault-injection` only); `Stall` (unit tests only: a busy mailbox).
//!
//! Its state (the row) is reloaded in `pre_start`, which also starts a SessionActor for every
//! live session of the project; its tracked tasks are aborted in `post_stop` (their callers
//! see their reply port dropped, i.e. `Unavailable`). SessionActors are transient children: a
//! clean stop (the session ended) is final; a failure is restarted within the budget; past the
//! budget the ProjectActor stops restarting it and logs an error, and the next command or
//! Reaper tick starts a fresh actor with a fresh budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_protocol::config::merge_patch;
use ao_protocol::{ErrorCode, ProjectId, SessionId, TerminatedReason};
use ao_store::{NewSeed, ProjectRow, ReadPool, SessionFilter};
use ractor::SupervisionEvent;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, RpcReplyPort};
use tokio::task::JoinSet;

use crate::cdc::blocking;
use crate::config::CallTimeouts;
use crate::error::CommandError;
use crate::handle::{AddProject, ConfigChange, RemoveOutcome};
use crate::reducer::ReducerHandle;
use crate::register;
use crate::registry::Registry;
use crate::sessions::actor::{SessionActor, SessionArgs, SessionMsg};
use crate::sessions::claim;
use crate::sessions::validate::{SpawnPlan, validate_spawn};
use crate::sessions::{CmdReply, SessionCmd, SessionServices, SessionsHandle, SpawnCommand};
use crate::supervision::{ChildSet, RestartPolicy, SupervisionConfig, Verdict};

/// A reply port carrying a command result.
pub(crate) type Reply<T> = RpcReplyPort<Result<T, CommandError>>;

/// How long a stopping supervisor waits for its children and tracked tasks.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// Messages of the ProjectSupervisor.
pub(crate) enum ProjectSupMsg {
    /// Register a project.
    Add(AddProject, Reply<ProjectRow>),
    /// Change a project's config (forwarded to its ProjectActor).
    SetConfig(ProjectId, ConfigChange, Reply<ProjectRow>),
    /// Archive a project.
    Remove(ProjectId, Reply<RemoveOutcome>),
    /// Internal: an `Add` task inserted the row.
    Added(ProjectRow, Reply<ProjectRow>),
    /// Internal: a `Remove` task archived the project.
    Archived(ProjectId, RemoveOutcome, Reply<RemoveOutcome>),
    /// Internal: restart this project's actor.
    Restart(ProjectId),
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
}

/// What project actors share.
#[derive(Clone)]
pub(crate) struct ProjectCtx {
    pub(crate) reader: ReadPool,
    pub(crate) reducer: ReducerHandle,
    pub(crate) registry: Arc<Registry>,
    pub(crate) timeouts: CallTimeouts,
    pub(crate) supervision: SupervisionConfig,
    pub(crate) svc: Arc<SessionServices>,
}

pub(crate) struct ProjectSupervisor;

pub(crate) struct ProjectSupState {
    ctx: ProjectCtx,
    children: ChildSet<ProjectId>,
    actors: HashMap<ProjectId, ActorRef<ProjectMsg>>,
    tasks: JoinSet<()>,
}

impl ProjectSupState {
    fn forget_actor(&mut self, id: &ProjectId) -> Option<ActorRef<ProjectMsg>> {
        let actor = self.actors.remove(id)?;
        let actor_id = actor.get_id();
        self.ctx
            .registry
            .projects
            .remove_if(id, |_, r| r.get_id() == actor_id);
        Some(actor)
    }

    fn reap_tasks(&mut self) {
        while self.tasks.try_join_next().is_some() {}
    }
}

/// Starts the actor of `id` and records it; a failure goes through the restart budget.
async fn start_project(
    myself: &ActorRef<ProjectSupMsg>,
    state: &mut ProjectSupState,
    id: ProjectId,
) -> Result<(), ActorProcessingErr> {
    let args = ProjectArgs {
        id: id.clone(),
        ctx: state.ctx.clone(),
    };
    match Actor::spawn_linked(None, ProjectActor, args, myself.get_cell()).await {
        Ok((actor, _join)) => {
            state
                .children
                .started(id.clone(), RestartPolicy::Transient, actor.get_id());
            state
                .ctx
                .registry
                .projects
                .insert(id.clone(), actor.clone());
            state.actors.insert(id, actor);
            Ok(())
        }
        Err(e) => {
            tracing::warn!(project = %id, error = %e, "project actor failed to start");
            let now = Instant::now();
            let reason = e.to_string();
            let verdict = if state.children.contains(&id) {
                state.children.on_spawn_failed(&id, &reason, now)
            } else {
                Some(state.children.on_first_spawn_failed(
                    id,
                    RestartPolicy::Transient,
                    &reason,
                    now,
                ))
            };
            apply_verdict(myself, state, verdict, None)
        }
    }
}

/// Carries out a supervision verdict about a project actor.
fn apply_verdict(
    myself: &ActorRef<ProjectSupMsg>,
    state: &mut ProjectSupState,
    verdict: Option<Verdict<ProjectId>>,
    ended: Option<ActorId>,
) -> Result<(), ActorProcessingErr> {
    let forget_ended = |state: &mut ProjectSupState, key: &ProjectId| {
        if let Some(ended) = ended
            && state.actors.get(key).is_some_and(|a| a.get_id() == ended)
        {
            state.forget_actor(key);
        }
    };
    match verdict {
        None => Ok(()),
        Some(Verdict::Restart {
            key,
            attempt,
            delay,
        }) => {
            forget_ended(state, &key);
            tracing::warn!(project = %key, attempt, ?delay, "restarting project actor");
            myself.send_after(delay, move || ProjectSupMsg::Restart(key));
            Ok(())
        }
        Some(Verdict::Done { key }) => {
            forget_ended(state, &key);
            Ok(())
        }
        Some(Verdict::Escalate { key, reason }) => {
            forget_ended(state, &key);
            tracing::error!(project = %key, %reason, "project actor exceeded its restart budget");
            Err(reason.into())
        }
    }
}

impl Actor for ProjectSupervisor {
    type Msg = ProjectSupMsg;
    type State = ProjectSupState;
    type Arguments = ProjectCtx;

    async fn pre_start(
        &self,
        myself: ActorRef<ProjectSupMsg>,
        ctx: ProjectCtx,
    ) -> Result<ProjectSupState, ActorProcessingErr> {
        // A previous instance's actors died with it.
        ctx.registry.projects.clear();
        let reader = ctx.reader.clone();
        let rows = blocking(move || reader.list_projects(false)).await??;
        let mut state = ProjectSupState {
            children: ChildSet::new(ctx.supervision),
            ctx,
            actors: HashMap::new(),
            tasks: JoinSet::new(),
        };
        for row in rows {
            start_project(&myself, &mut state, row.id).await?;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ProjectSupMsg>,
        state: &mut ProjectSupState,
    ) -> Result<(), ActorProcessingErr> {
        // Let in-flight registrations finish while the reducer is still up, then stop.
        let _ = tokio::time::timeout(STOP_WAIT, async {
            while state.tasks.join_next().await.is_some() {}
        })
        .await;
        state.tasks.abort_all();
        myself.stop_children_and_wait(None, Some(STOP_WAIT)).await;
        state.ctx.registry.projects.clear();
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProjectSupMsg>,
        msg: ProjectSupMsg,
        state: &mut ProjectSupState,
    ) -> Result<(), ActorProcessingErr> {
        state.reap_tasks();
        match msg {
            ProjectSupMsg::Add(req, reply) => {
                let ctx = state.ctx.clone();
                let me = myself.clone();
                state.tasks.spawn(async move {
                    match add_task(&ctx, req).await {
                        Ok(row) => {
                            // The supervisor is gone; the row is durable, so still succeed.
                            if let Err(MessagingErr::SendErr(ProjectSupMsg::Added(row, reply))) =
                                me.cast(ProjectSupMsg::Added(row, reply))
                            {
                                let _ = reply.send(Ok(row));
                            }
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                });
            }
            ProjectSupMsg::Added(row, reply) => {
                let started = if state.children.contains(&row.id) {
                    Ok(())
                } else {
                    start_project(&myself, state, row.id.clone()).await
                };
                let _ = reply.send(Ok(row));
                started?;
            }
            ProjectSupMsg::SetConfig(id, change, reply) => {
                if let Some(actor) = state.actors.get(&id) {
                    if let Err(MessagingErr::SendErr(ProjectMsg::SetConfig(_, reply))) =
                        actor.cast(ProjectMsg::SetConfig(change, reply))
                    {
                        let _ = reply.send(Err(CommandError::unavailable(format!(
                            "the actor of project {id} is restarting; retry shortly"
                        ))));
                    }
                } else if state.children.contains(&id) {
                    let _ = reply.send(Err(CommandError::unavailable(format!(
                        "the actor of project {id} is restarting; retry shortly"
                    ))));
                } else {
                    let _ = reply.send(Err(not_found(&id)));
                }
            }
            ProjectSupMsg::Remove(id, reply) => {
                let ctx = state.ctx.clone();
                let me = myself.clone();
                state.tasks.spawn(async move {
                    let archived = remove_task(&ctx, id.clone()).await;
                    match archived {
                        Ok(outcome) => {
                            if let Err(MessagingErr::SendErr(ProjectSupMsg::Archived(
                                _,
                                _,
                                reply,
                            ))) = me.cast(ProjectSupMsg::Archived(id, outcome.clone(), reply))
                            {
                                let _ = reply.send(Ok(outcome));
                            }
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                });
            }
            ProjectSupMsg::Archived(id, outcome, reply) => {
                state.children.forget(&id);
                if let Some(actor) = state.forget_actor(&id) {
                    actor.stop(Some("project archived".to_string()));
                }
                let _ = reply.send(Ok(outcome));
            }
            ProjectSupMsg::Restart(id) => {
                if state.children.contains(&id) && !state.children.is_running(&id) {
                    start_project(&myself, state, id).await?;
                }
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ProjectSupMsg::Fault => panic!("injected fault in the project supervisor"),
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ProjectSupMsg>,
        event: SupervisionEvent,
        state: &mut ProjectSupState,
    ) -> Result<(), ActorProcessingErr> {
        let ended = event.actor_id();
        let verdict = state.children.on_event(&event, Instant::now());
        apply_verdict(&myself, state, verdict, ended)
    }
}

fn not_found(id: &ProjectId) -> CommandError {
    CommandError::rejected(
        ErrorCode::ProjectNotFound,
        format!("project {id} not found"),
    )
}

/// The body of an `Add`: checks, then one reducer write.
async fn add_task(ctx: &ProjectCtx, req: AddProject) -> Result<ProjectRow, CommandError> {
    let new = register::prepare(req).await?;
    let id = new.id.to_string();
    ctx.reducer
        .write(
            "insert_project",
            move |w| w.insert_project(&new),
            ctx.timeouts.short,
        )
        .await?
        .map_err(|e| CommandError::from_project_store(e, &id))
}

/// The body of a `Remove`: kill every live session, clean up, archive (http-api.md §6).
async fn remove_task(ctx: &ProjectCtx, id: ProjectId) -> Result<RemoveOutcome, CommandError> {
    let svc = &ctx.svc;
    if svc
        .project(&id)
        .await?
        .is_none_or(|p| p.archived_at.is_some())
    {
        return Err(not_found(&id));
    }
    let sessions = SessionsHandle::new(Arc::clone(svc));
    let live = svc
        .sessions(SessionFilter {
            project: Some(id.clone()),
            kind: None,
            active: Some(true),
        })
        .await?;
    let mut outcome = RemoveOutcome::default();
    for row in live {
        match sessions
            .kill_with(row.id.clone(), TerminatedReason::ProjectRemoved)
            .await
        {
            Ok(_) => outcome.killed.push(row.id),
            Err(e) if e.code() == ErrorCode::SessionNotFound => {}
            Err(e) => {
                tracing::warn!(session = %row.id, error = %e, "project removal: kill failed");
                outcome.skipped.push(ao_protocol::SkippedSession {
                    session_id: row.id,
                    reason: e.to_string(),
                });
            }
        }
    }
    let cleaned = sessions.cleanup(Some(id.clone())).await?;
    for skipped in cleaned.skipped {
        if !outcome
            .skipped
            .iter()
            .any(|s| s.session_id == skipped.session_id)
        {
            outcome.skipped.push(skipped);
        }
    }
    archive_task(ctx, id).await?;
    Ok(outcome)
}

/// One reducer write: `archive_project`.
async fn archive_task(ctx: &ProjectCtx, id: ProjectId) -> Result<(), CommandError> {
    let key = id.to_string();
    ctx.reducer
        .write(
            "archive_project",
            move |w| w.archive_project(&id),
            ctx.timeouts.short,
        )
        .await?
        .map(|_| ())
        .map_err(|e| CommandError::from_project_store(e, &key))
}

/// Messages of a ProjectActor.
pub(crate) enum ProjectMsg {
    /// Replace or patch the project's config.
    SetConfig(ConfigChange, Reply<ProjectRow>),
    /// Validate and seed a new session, then start its actor (which replies).
    Spawn(Box<SpawnCommand>, Reply<CmdReply>),
    /// Internal: the GitHub part of a claiming spawn succeeded; seed and start it.
    ClaimPrepared(Box<SpawnPlan>, Reply<CmdReply>),
    /// Re-read the project row (it changed behind the actor's back: origin back-fill).
    Reload,
    /// A command for a session that has no actor in the registry.
    Session(SessionId, SessionCmd, Reply<CmdReply>),
    /// The Reaper saw a live session without an actor.
    EnsureSession(SessionId),
    /// Internal: restart this session's actor.
    RestartSession(SessionId),
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
    /// Unit tests only: keep the mailbox busy for this long (to provoke call timeouts).
    #[cfg(test)]
    Stall(Duration),
    /// Unit tests only: the cached project row.
    #[cfg(test)]
    Row(RpcReplyPort<ProjectRow>),
}

pub(crate) struct ProjectActor;

pub(crate) struct ProjectArgs {
    id: ProjectId,
    ctx: ProjectCtx,
}

pub(crate) struct ProjectState {
    row: ProjectRow,
    ctx: ProjectCtx,
    /// Supervision of the SessionActors.
    children: ChildSet<SessionId>,
    /// The running SessionActors (also in the registry).
    sessions: HashMap<SessionId, ActorRef<SessionMsg>>,
    /// Slow I/O off the mailbox (a claiming spawn's GitHub fetch).
    tasks: JoinSet<()>,
}

impl ProjectState {
    fn forget_session(&mut self, id: &SessionId, ended: Option<ActorId>) {
        let Some(actor) = self.sessions.get(id) else {
            return;
        };
        if ended.is_some_and(|e| e != actor.get_id()) {
            return;
        }
        let actor_id = actor.get_id();
        self.sessions.remove(id);
        self.ctx
            .registry
            .sessions
            .remove_if(id, |_, r| r.get_id() == actor_id);
    }
}

/// Starts (and records) the SessionActor of `id`. A start failure counts against its budget.
async fn start_session(
    myself: &ActorRef<ProjectMsg>,
    state: &mut ProjectState,
    id: &SessionId,
) -> Result<ActorRef<SessionMsg>, CommandError> {
    let args = SessionArgs {
        id: id.clone(),
        svc: Arc::clone(&state.ctx.svc),
    };
    match Actor::spawn_linked(None, SessionActor, args, myself.get_cell()).await {
        Ok((actor, _join)) => {
            state
                .children
                .started(id.clone(), RestartPolicy::Transient, actor.get_id());
            state.sessions.insert(id.clone(), actor.clone());
            state
                .ctx
                .registry
                .sessions
                .insert(id.clone(), actor.clone());
            Ok(actor)
        }
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "session actor failed to start");
            let now = Instant::now();
            let reason = e.to_string();
            let verdict = if state.children.contains(id) {
                state.children.on_spawn_failed(id, &reason, now)
            } else {
                Some(state.children.on_first_spawn_failed(
                    id.clone(),
                    RestartPolicy::Transient,
                    &reason,
                    now,
                ))
            };
            apply_session_verdict(myself, state, verdict, None);
            Err(CommandError::unavailable(format!(
                "the actor of session {id} cannot start ({reason}); retry shortly"
            )))
        }
    }
}

/// Carries out a supervision verdict about a SessionActor. Past its budget, a session is no
/// longer restarted (README §3.2); the next command or Reaper tick starts a fresh one.
fn apply_session_verdict(
    myself: &ActorRef<ProjectMsg>,
    state: &mut ProjectState,
    verdict: Option<Verdict<SessionId>>,
    ended: Option<ActorId>,
) {
    match verdict {
        None => {}
        Some(Verdict::Restart {
            key,
            attempt,
            delay,
        }) => {
            state.forget_session(&key, ended);
            tracing::warn!(session = %key, attempt, ?delay, "restarting session actor");
            myself.send_after(delay, move || ProjectMsg::RestartSession(key));
        }
        Some(Verdict::Done { key }) => state.forget_session(&key, ended),
        Some(Verdict::Escalate { key, reason }) => {
            state.forget_session(&key, ended);
            state.children.forget(&key);
            tracing::error!(session = %key, %reason, "session actor exceeded its restart budget; not restarting it");
        }
    }
}

/// Finds or starts the actor of `id` and hands it `cmd` (when given).
async fn route_session(
    myself: &ActorRef<ProjectMsg>,
    state: &mut ProjectState,
    id: SessionId,
    cmd: Option<(SessionCmd, Reply<CmdReply>)>,
) {
    let reject = |cmd: Option<(SessionCmd, Reply<CmdReply>)>, e: CommandError| {
        if let Some((_, reply)) = cmd {
            let _ = reply.send(Err(e));
        }
    };
    if id.project_id() != state.row.id {
        return reject(
            cmd,
            CommandError::Internal(format!("session {id} is not of project {}", state.row.id)),
        );
    }
    let mut cmd = cmd;
    if let Some(actor) = state.ctx.registry.sessions.get(&id).map(|r| r.clone()) {
        let Some((c, reply)) = cmd else {
            return;
        };
        if let Err(MessagingErr::SendErr(SessionMsg::Command(c, reply))) =
            actor.cast(SessionMsg::Command(c, reply))
        {
            // It ended meanwhile: start a fresh one below.
            state.forget_session(&id, Some(actor.get_id()));
            cmd = Some((c, reply));
        } else {
            return;
        }
    }
    if state.children.contains(&id) && !state.children.is_running(&id) {
        return reject(
            cmd,
            CommandError::unavailable(format!(
                "the actor of session {id} is restarting; retry shortly"
            )),
        );
    }
    let row = match state.ctx.svc.session(&id).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return reject(
                cmd,
                CommandError::rejected(
                    ErrorCode::SessionNotFound,
                    format!("session {id} not found"),
                ),
            );
        }
        Err(e) => return reject(cmd, e),
    };
    if row.is_terminated && cmd.is_none() {
        return;
    }
    match start_session(myself, state, &id).await {
        Ok(actor) => match cmd {
            Some((c, reply)) => {
                if let Err(MessagingErr::SendErr(SessionMsg::Command(_, reply))) =
                    actor.cast(SessionMsg::Command(c, reply))
                {
                    let _ = reply.send(Err(CommandError::unavailable(format!(
                        "the actor of session {id} stopped; retry shortly"
                    ))));
                }
            }
            None => {
                let _ = actor.cast(SessionMsg::CheckStop);
            }
        },
        Err(e) => reject(cmd, e),
    }
}

/// `Spawn`: validation, then (after the claim's GitHub part, in a tracked task) seed and actor.
async fn spawn_session(
    myself: &ActorRef<ProjectMsg>,
    state: &mut ProjectState,
    cmd: SpawnCommand,
    reply: Reply<CmdReply>,
) {
    let svc = Arc::clone(&state.ctx.svc);
    let (plan, claim) = match validate_spawn(&svc, &state.row, cmd).await {
        Ok(validated) => validated,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let Some(spec) = claim else {
        return seed_session(myself, state, plan, reply).await;
    };
    let me = myself.clone();
    state.tasks.spawn(async move {
        match claim::prepare_spawn(&svc, plan, spec).await {
            Ok(plan) => {
                if let Err(MessagingErr::SendErr(ProjectMsg::ClaimPrepared(_, reply))) =
                    me.cast(ProjectMsg::ClaimPrepared(Box::new(plan), reply))
                {
                    let _ = reply.send(Err(CommandError::unavailable(
                        "the project actor stopped before the spawn; retry",
                    )));
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    });
}

/// `insert_seed`, then the SessionActor, which runs the spawn and replies.
async fn seed_session(
    myself: &ActorRef<ProjectMsg>,
    state: &mut ProjectState,
    plan: SpawnPlan,
    reply: Reply<CmdReply>,
) {
    let svc = Arc::clone(&state.ctx.svc);
    let seed = NewSeed {
        project_id: state.row.id.clone(),
        kind: plan.kind,
        harness: plan.harness,
        issue_id: plan.issue_id.clone(),
        display_name: plan.display_name.clone(),
        runtime: plan.runtime,
        prompt: plan.prompt.clone().unwrap_or_default(),
        launch_command: plan.command.clone().unwrap_or_default(),
    };
    let row = match svc.reducer.insert_seed(seed, svc.timeouts.short).await {
        Ok(row) => row,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    match start_session(myself, state, &row.id).await {
        Ok(actor) => {
            if let Err(MessagingErr::SendErr(SessionMsg::Spawn(_, reply))) =
                actor.cast(SessionMsg::Spawn(Box::new(plan), reply))
            {
                let _ = svc.reducer.delete_seed(&row.id, svc.timeouts.short).await;
                let _ = reply.send(Err(CommandError::unavailable(
                    "the session actor stopped before the spawn; retry",
                )));
            }
        }
        Err(e) => {
            if let Err(d) = svc.reducer.delete_seed(&row.id, svc.timeouts.short).await {
                tracing::error!(session = %row.id, error = %d, "cannot delete the seed of a spawn that did not start");
            }
            let _ = reply.send(Err(e));
        }
    }
}

impl Actor for ProjectActor {
    type Msg = ProjectMsg;
    type State = ProjectState;
    type Arguments = ProjectArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ProjectMsg>,
        args: ProjectArgs,
    ) -> Result<ProjectState, ActorProcessingErr> {
        let reader = args.ctx.reader.clone();
        let id = args.id.clone();
        let row = blocking(move || reader.get_project(&id))
            .await??
            .filter(|r| r.archived_at.is_none())
            .ok_or_else(|| format!("project {} is not registered", args.id))?;
        // A previous instance's session actors died with it.
        let project = row.id.clone();
        args.ctx
            .registry
            .sessions
            .retain(|sid, _| sid.project_id() != project);
        let live = args
            .ctx
            .svc
            .sessions(SessionFilter {
                project: Some(project),
                kind: None,
                active: Some(true),
            })
            .await
            .map_err(|e| e.to_string())?;
        let mut state = ProjectState {
            row,
            children: ChildSet::new(args.ctx.supervision),
            ctx: args.ctx,
            sessions: HashMap::new(),
            tasks: JoinSet::new(),
        };
        for session in live {
            if let Err(e) = start_session(&myself, &mut state, &session.id).await {
                tracing::warn!(session = %session.id, error = %e, "session actor not started");
            }
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<ProjectMsg>,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        state.tasks.abort_all();
        myself.stop_children_and_wait(None, Some(STOP_WAIT)).await;
        for (id, actor) in state.sessions.drain() {
            let actor_id = actor.get_id();
            state
                .ctx
                .registry
                .sessions
                .remove_if(&id, |_, r| r.get_id() == actor_id);
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProjectMsg>,
        msg: ProjectMsg,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        while state.tasks.try_join_next().is_some() {}
        match msg {
            ProjectMsg::SetConfig(change, reply) => {
                let result = set_config(state, change).await;
                let _ = reply.send(result);
            }
            ProjectMsg::Spawn(cmd, reply) => spawn_session(&myself, state, *cmd, reply).await,
            ProjectMsg::ClaimPrepared(plan, reply) => {
                seed_session(&myself, state, *plan, reply).await;
            }
            ProjectMsg::Reload => reload_row(state).await,
            ProjectMsg::Session(id, cmd, reply) => {
                route_session(&myself, state, id, Some((cmd, reply))).await;
            }
            ProjectMsg::EnsureSession(id) => route_session(&myself, state, id, None).await,
            ProjectMsg::RestartSession(id) => {
                if state.children.contains(&id) && !state.children.is_running(&id) {
                    match state.ctx.svc.session(&id).await {
                        Ok(Some(row)) if !row.is_terminated => {
                            let _ = start_session(&myself, state, &id).await;
                        }
                        Ok(_) => {
                            state.children.forget(&id);
                        }
                        Err(e) => {
                            tracing::warn!(session = %id, error = %e, "cannot read a session to restart");
                            let verdict =
                                state
                                    .children
                                    .on_spawn_failed(&id, &e.to_string(), Instant::now());
                            apply_session_verdict(&myself, state, verdict, None);
                        }
                    }
                }
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ProjectMsg::Fault => panic!("injected fault in project actor {}", state.row.id),
            #[cfg(test)]
            ProjectMsg::Stall(d) => tokio::time::sleep(d).await,
            #[cfg(test)]
            ProjectMsg::Row(reply) => {
                let _ = reply.send(state.row.clone());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ProjectMsg>,
        event: SupervisionEvent,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        let ended = event.actor_id();
        let verdict = state.children.on_event(&event, Instant::now());
        apply_session_verdict(&myself, state, verdict, ended);
        Ok(())
    }
}

/// `Reload`: the stored row replaces the cached one. An archived or vanished project keeps
/// the cache (its supervisor stops this actor).
async fn reload_row(state: &mut ProjectState) {
    let reader = state.ctx.reader.clone();
    let id = state.row.id.clone();
    let read = blocking(move || reader.get_project(&id))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    match read {
        Ok(Some(row)) if row.archived_at.is_none() => state.row = row,
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(project = %state.row.id, error = %e, "cannot reload the project row");
        }
    }
}

async fn set_config(
    state: &mut ProjectState,
    change: ConfigChange,
) -> Result<ProjectRow, CommandError> {
    let id = state.row.id.clone();
    let reader = state.ctx.reader.clone();
    let lookup = id.clone();
    let current = blocking(move || reader.get_project(&lookup))
        .await
        .map_err(|e| CommandError::Internal(e.to_string()))?
        .map_err(|e| CommandError::Internal(e.to_string()))?
        .filter(|r| r.archived_at.is_none())
        .ok_or_else(|| not_found(&id))?;
    let merged = match change {
        ConfigChange::Replace(config) => config,
        ConfigChange::Patch(patch) => merge_patch(&current.config, &patch),
    };
    let config = register::checked_config(merged)?;
    let key = id.to_string();
    let row = state
        .ctx
        .reducer
        .write(
            "set_project_config",
            move |w| w.set_project_config(&id, &config),
            state.ctx.timeouts.short,
        )
        .await?
        .map_err(|e| CommandError::from_project_store(e, &key))?;
    state.row = row.clone();
    Ok(row)
}
