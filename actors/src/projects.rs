//! The ProjectSupervisor and its ProjectActors.
//!
//! **ProjectSupervisor** (permanent child of Root). Messages ([`ProjectSupMsg`]):
//! * `Add(req, reply)`: registration. Path and git checks ([`crate::register`]) and the
//!   reducer's `insert_project` run in a tracked task, so the mailbox stays responsive; the task
//!   replies with the error itself, or casts `Added` back on success.
//! * `Added(row, reply)` (internal): the row is durable; start its ProjectActor, then reply.
//! * `SetConfig(id, change, reply)`: forwarded (with the reply port) to the project's actor.
//!   Unknown id → `PROJECT_NOT_FOUND`; an actor waiting for its restart → `Unavailable`.
//! * `Remove(id, reply)`: a tracked task asks the reducer to `archive_project`, then casts
//!   `Archived` back. (Killing the project's sessions first arrives with sessions.)
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
//! * `Fault` (tests / `fault-injection` only); `Stall` (unit tests only: a busy mailbox).
//!
//! Its state (the row) is reloaded in `pre_start`. Later issues add its SessionActors here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_protocol::config::merge_patch;
use ao_protocol::{ErrorCode, ProjectId};
use ao_store::{ProjectRow, ReadPool};
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
    Archived(ProjectId, Reply<RemoveOutcome>),
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
                    let archived = archive_task(&ctx, id.clone()).await;
                    match archived {
                        Ok(()) => {
                            if let Err(MessagingErr::SendErr(ProjectSupMsg::Archived(_, reply))) =
                                me.cast(ProjectSupMsg::Archived(id, reply))
                            {
                                let _ = reply.send(Ok(RemoveOutcome::default()));
                            }
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                });
            }
            ProjectSupMsg::Archived(id, reply) => {
                state.children.forget(&id);
                if let Some(actor) = state.forget_actor(&id) {
                    actor.stop(Some("project archived".to_string()));
                }
                let _ = reply.send(Ok(RemoveOutcome::default()));
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

/// The body of a `Remove`: one reducer write.
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
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
    /// Unit tests only: keep the mailbox busy for this long (to provoke call timeouts).
    #[cfg(test)]
    Stall(Duration),
}

pub(crate) struct ProjectActor;

pub(crate) struct ProjectArgs {
    id: ProjectId,
    ctx: ProjectCtx,
}

pub(crate) struct ProjectState {
    row: ProjectRow,
    ctx: ProjectCtx,
}

impl Actor for ProjectActor {
    type Msg = ProjectMsg;
    type State = ProjectState;
    type Arguments = ProjectArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ProjectMsg>,
        args: ProjectArgs,
    ) -> Result<ProjectState, ActorProcessingErr> {
        let reader = args.ctx.reader.clone();
        let id = args.id.clone();
        let row = blocking(move || reader.get_project(&id))
            .await??
            .filter(|r| r.archived_at.is_none())
            .ok_or_else(|| format!("project {} is not registered", args.id))?;
        Ok(ProjectState { row, ctx: args.ctx })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ProjectMsg>,
        msg: ProjectMsg,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProjectMsg::SetConfig(change, reply) => {
                let result = set_config(state, change).await;
                let _ = reply.send(result);
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ProjectMsg::Fault => panic!("injected fault in project actor {}", state.row.id),
            #[cfg(test)]
            ProjectMsg::Stall(d) => tokio::time::sleep(d).await,
        }
        Ok(())
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
