//! The lifecycle operations of a session, as plain async functions. The SessionActor runs each
//! one in a tracked task and gets the result back by message, so its mailbox stays responsive.
//!
//! * [`spawn`]: sessions.md §3 steps 2–9, with the step-3 undo (`delete_seed`, else
//!   `mark_terminated(spawn_failed)`) and rollback T after step 4 (destroy the runtime,
//!   uninstall the hooks, safe-destroy the workspace, `mark_terminated(spawn_failed)`).
//! * [`kill`]: §4. [`restore`]: §5. [`rollback`]: §6. [`cleanup_one`]: one session of §7.
//! * [`relaunch`]: the in-place relaunch of §13.2 / §17 d (restore-like, without marking
//!   terminated first; `record_relaunch` instead of `mark_spawned`, written just before the
//!   runtime is created so that no crash leaves an unrecorded relaunched agent); boot
//!   reconcile reaches it through [`relaunch_if_missing`], which re-probes first.
//!
//! Invariants:
//! * A worktree is only ever removed with the workspace's safe destroy (never forced), and not
//!   when another live session uses the same path (an orchestrator reusing its predecessor's
//!   worktree): the older row then just forgets the path.
//! * Every durable change is one reducer call.
//! * `$AO_DATA_DIR/sessions/<id>/` is removed whenever the workspace is freed (cleanup, kill,
//!   rollback T), so nothing of a freed session is left on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ao_adapters::agent::{
    Agent, AgentContext, PromptDelivery, claude_session_uuid, merged_agent_config, prefixed_prompt,
};
use ao_adapters::process::{self, Cmd, ProcessError};
use ao_adapters::runtime::{CreateSpec, LaunchSpec, runtime_name};
use ao_adapters::workspace::{CreateRequest, WorkspaceError};
use ao_adapters::{Runtime, RuntimeError};
use ao_protocol::{
    AgentConfig, ErrorCode, Harness, ProjectConfig, SessionId, SessionKind, TerminatedReason,
};
use ao_store::{ProjectRow, SessionFilter, SessionRow};
use serde_json::json;

use super::naming::{
    EnvFacts, PromptFacts, default_branch, project_default_branch, session_env, session_prefix,
    system_prompt, worktree_path,
};
use super::validate::{SpawnPlan, project_config, resolve_binary, role_of};
use super::{
    CleanupResult, REASON_DIRTY, REASON_RUNTIME_FAILED, REASON_TEARDOWN_FAILED, RollbackOutcome,
    SessionServices,
};
use crate::error::CommandError;

/// What a successful launch leaves for the SessionActor to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Launched {
    /// An `after_start` adapter's first prompt, to be pasted once the agent is up (§9.4).
    pub(crate) first_prompt: Option<String>,
}

/// The maximum size of a postCreate `outputTail`.
const OUTPUT_TAIL: usize = 4 << 10;

fn not_found(id: &SessionId) -> CommandError {
    CommandError::rejected(
        ErrorCode::SessionNotFound,
        format!("session {id} not found"),
    )
}

/// Maps a workspace failure to its API error (with the spec's details).
pub(crate) fn workspace_error(e: &WorkspaceError) -> CommandError {
    match e {
        WorkspaceError::BranchCheckedOutElsewhere { worktree_path, .. } => {
            CommandError::rejected_with(
                e.code(),
                e.to_string(),
                json!({ "worktreePath": worktree_path.to_string_lossy() }),
            )
        }
        WorkspaceError::PathOccupied { path } => CommandError::rejected_with(
            e.code(),
            e.to_string(),
            json!({ "path": path.to_string_lossy() }),
        ),
        _ => CommandError::rejected(e.code(), e.to_string()),
    }
}

/// Maps a runtime failure of `create` to `AGENT_EXITED_EARLY {exitCode, outputTail}` or
/// `RUNTIME_ERROR`.
pub(crate) fn runtime_error(e: &RuntimeError) -> CommandError {
    match e {
        RuntimeError::AgentExitedEarly {
            exit_code,
            output_tail,
        } => CommandError::rejected_with(
            ErrorCode::AgentExitedEarly,
            e.to_string(),
            json!({ "exitCode": exit_code, "outputTail": output_tail }),
        ),
        _ => CommandError::rejected(ErrorCode::RuntimeError, e.to_string()),
    }
}

fn provision_failed(step: &str, message: String, extra: serde_json::Value) -> CommandError {
    let mut details = json!({ "step": step });
    if let (Some(d), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    CommandError::rejected_with(ErrorCode::ProvisionFailed, message, details)
}

/// Everything an agent adapter is called with, owned.
pub(crate) struct AgentSetup {
    pub(crate) id: SessionId,
    pub(crate) kind: SessionKind,
    pub(crate) worktree: PathBuf,
    pub(crate) session_dir: PathBuf,
    pub(crate) binary: PathBuf,
    pub(crate) agent_config: AgentConfig,
    pub(crate) system_prompt: String,
    pub(crate) prompt: Option<String>,
    pub(crate) command: Option<String>,
    pub(crate) env: BTreeMap<String, String>,
}

impl AgentSetup {
    pub(crate) fn ctx(&self) -> AgentContext<'_> {
        AgentContext {
            session_id: &self.id,
            kind: self.kind,
            worktree: &self.worktree,
            session_dir: &self.session_dir,
            binary: &self.binary,
            agent_config: &self.agent_config,
            system_prompt: &self.system_prompt,
            prompt: self.prompt.as_deref(),
            command: self.command.as_deref(),
            env: &self.env,
        }
    }
}

/// The inputs of [`agent_setup`].
struct SetupInput<'a> {
    row: &'a SessionRow,
    config: &'a ProjectConfig,
    harness: Harness,
    branch: &'a str,
    worktree: &'a Path,
    binary: PathBuf,
    prompt: Option<String>,
    command: Option<String>,
}

/// The live orchestrator of the project other than `me`.
async fn live_orchestrator(
    svc: &SessionServices,
    me: &SessionId,
) -> Result<Option<SessionId>, CommandError> {
    let live = svc
        .sessions(SessionFilter {
            project: Some(me.project_id()),
            kind: Some(SessionKind::Orchestrator),
            active: Some(true),
        })
        .await?;
    Ok(live.into_iter().map(|r| r.id).find(|id| id != me))
}

/// Builds the system prompt (§10), the environment (§11) and the adapter context.
async fn agent_setup(
    svc: &SessionServices,
    input: SetupInput<'_>,
) -> Result<AgentSetup, CommandError> {
    let row = input.row;
    let orchestrator = match row.kind {
        SessionKind::Worker => live_orchestrator(svc, &row.id).await?,
        SessionKind::Orchestrator => None,
    };
    let system = system_prompt(&PromptFacts {
        session_id: &row.id,
        project_id: &row.project_id,
        kind: row.kind,
        branch: input.branch,
        worktree: input.worktree,
        orchestrator: orchestrator.as_ref(),
    });
    let env = session_env(
        &EnvFacts {
            session_id: &row.id,
            kind: row.kind,
            issue_id: &row.issue_id,
            harness: input.harness,
            home: &svc.home,
            data_dir: &svc.data_dir,
            run_file: &svc.run_file,
            tmux_socket: &svc.tmux_socket,
            ao_exe: svc.ao_exe.as_deref(),
            prompts: Some((input.prompt.as_deref().unwrap_or(""), system.as_str())),
        },
        input.config,
        &svc.daemon_env,
    );
    let role = role_of(input.config, row.kind);
    Ok(AgentSetup {
        id: row.id.clone(),
        kind: row.kind,
        worktree: input.worktree.to_path_buf(),
        session_dir: svc.session_dir(&row.id),
        binary: input.binary,
        agent_config: merged_agent_config(
            input.config.agent_config.as_ref(),
            role.and_then(|r| r.agent_config.as_ref()),
        ),
        system_prompt: system,
        prompt: input.prompt,
        command: input.command,
        env,
    })
}

/// Creates `<AO_DATA_DIR>/sessions/<id>` (mode 0700).
fn make_session_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Removes `<AO_DATA_DIR>/sessions/<id>` (best-effort).
fn remove_session_dir(svc: &SessionServices, id: &SessionId) {
    let dir = svc.session_dir(id);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(session = %id, dir = %dir.display(), error = %e, "cannot remove the session directory");
        }
    }
}

/// Install hooks and run pre-launch (§3 step 6, §5 step 5).
async fn install_hooks(agent: &dyn Agent, setup: &AgentSetup) -> Result<(), CommandError> {
    make_session_dir(&setup.session_dir).map_err(|m| provision_failed("hooks", m, json!({})))?;
    let ctx = setup.ctx();
    agent
        .install_hooks(&ctx)
        .await
        .map_err(|e| provision_failed("hooks", e.to_string(), json!({})))?;
    agent
        .pre_launch(&ctx)
        .map_err(|e| provision_failed("hooks", e.to_string(), json!({})))
}

/// Uninstalls the hooks of a session, best-effort (logged).
async fn uninstall_hooks_of(
    svc: &SessionServices,
    row: &SessionRow,
    project: Option<&ProjectRow>,
    worktree: &Path,
) {
    let Some(agent) = row.harness_kind().map(ao_adapters::agent::agent_for) else {
        return;
    };
    if !worktree.is_dir() {
        return;
    }
    let config = project
        .and_then(|p| project_config(p).ok())
        .unwrap_or_default();
    let setup = AgentSetup {
        id: row.id.clone(),
        kind: row.kind,
        worktree: worktree.to_path_buf(),
        session_dir: svc.session_dir(&row.id),
        binary: PathBuf::from(agent.binary_name()),
        agent_config: AgentConfig::default(),
        system_prompt: String::new(),
        prompt: None,
        command: None,
        env: session_env(
            &EnvFacts {
                session_id: &row.id,
                kind: row.kind,
                issue_id: &row.issue_id,
                harness: agent.harness(),
                home: &svc.home,
                data_dir: &svc.data_dir,
                run_file: &svc.run_file,
                tmux_socket: &svc.tmux_socket,
                ao_exe: None,
                prompts: None,
            },
            &config,
            &svc.daemon_env,
        ),
    };
    if let Err(e) = agent.uninstall_hooks(&setup.ctx()).await {
        tracing::warn!(session = %row.id, error = %e, "cannot uninstall the hooks");
    }
}

/// Provision (§3 step 5): the `config.symlinks` links, then each `config.postCreate` entry.
async fn provision(
    svc: &SessionServices,
    project_path: &Path,
    worktree: &Path,
    config: &ProjectConfig,
    env: &BTreeMap<String, String>,
) -> Result<(), CommandError> {
    for (i, rel) in config.symlinks.iter().flatten().enumerate() {
        let source = project_path.join(rel);
        let target = worktree.join(rel);
        if std::fs::symlink_metadata(&source).is_err() {
            tracing::debug!(source = %source.display(), "symlink source missing; skipped");
            continue;
        }
        if std::fs::symlink_metadata(&target).is_ok() {
            continue;
        }
        let made = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::os::unix::fs::symlink(&source, &target));
        if let Err(e) = made {
            return Err(provision_failed(
                &format!("symlinks[{i}]"),
                format!("cannot link {}: {e}", target.display()),
                json!({}),
            ));
        }
    }
    for (i, command) in config.post_create.iter().flatten().enumerate() {
        let step = format!("postCreate[{i}]");
        let mut cmd = Cmd::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .cwd(worktree)
            .timeout(svc.timings.post_create_timeout);
        // Exactly the session environment: remove what the daemon has and the session has not.
        for (key, _) in std::env::vars_os() {
            if let Some(key) = key.to_str()
                && !env.contains_key(key)
            {
                cmd = cmd.env_remove(key);
            }
        }
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        match process::run_unchecked(&cmd).await {
            Ok(out) if out.success() => {}
            Ok(out) => {
                let all = format!("{}{}", out.stdout, out.stderr);
                let tail = process::tail(&all, OUTPUT_TAIL).to_string();
                return Err(provision_failed(
                    &step,
                    format!("{step} failed with exit code {:?}", out.status),
                    json!({ "exitCode": out.status, "outputTail": tail }),
                ));
            }
            Err(e) => {
                let tail = match &e {
                    ProcessError::Timeout { after, .. } => format!("timed out after {after:?}"),
                    other => other.to_string(),
                };
                return Err(provision_failed(
                    &step,
                    format!("{step} failed: {e}"),
                    json!({ "exitCode": null, "outputTail": tail }),
                ));
            }
        }
    }
    Ok(())
}

/// Whether another live session records `path` as its workspace.
async fn path_used_by_other(
    svc: &SessionServices,
    me: &SessionId,
    path: &str,
) -> Result<bool, CommandError> {
    let live = svc
        .sessions(SessionFilter {
            project: Some(me.project_id()),
            kind: None,
            active: Some(true),
        })
        .await?;
    Ok(live.iter().any(|r| &r.id != me && r.workspace_path == path))
}

/// The outcome of a workspace teardown.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Freed {
    Yes,
    Dirty,
    Failed(String),
}

/// Safe-destroys the session's workspace at `path`; on success `clear_workspace` and removes
/// the session directory.
async fn free_workspace(
    svc: &SessionServices,
    id: &SessionId,
    project: Option<&ProjectRow>,
    path: &str,
) -> Freed {
    let short = svc.timeouts.short;
    match path_used_by_other(svc, id, path).await {
        Ok(true) => {
            // The worktree now belongs to a newer live session; this row just forgets it.
            return match svc.reducer.clear_workspace(id, short).await {
                Ok(_) => Freed::Yes,
                Err(e) => Freed::Failed(e.to_string()),
            };
        }
        Ok(false) => {}
        Err(e) => return Freed::Failed(e.to_string()),
    }
    let Some(project) = project else {
        return Freed::Failed(format!("project of session {id} not found"));
    };
    let repo = PathBuf::from(&project.path);
    match svc.workspace.destroy(&repo, Path::new(path)).await {
        Ok(()) => match svc.reducer.clear_workspace(id, short).await {
            Ok(_) => {
                remove_session_dir(svc, id);
                Freed::Yes
            }
            Err(e) => Freed::Failed(e.to_string()),
        },
        Err(WorkspaceError::Dirty { .. }) => Freed::Dirty,
        Err(e) => Freed::Failed(e.to_string()),
    }
}

/// Destroys a runtime session by name; on success `clear_runtime` when `clear`.
pub(crate) async fn destroy_runtime(
    svc: &SessionServices,
    id: &SessionId,
    runtime: &dyn Runtime,
    name: &str,
    clear: bool,
) -> Result<(), CommandError> {
    runtime
        .destroy(name)
        .await
        .map_err(|e| CommandError::rejected(ErrorCode::RuntimeError, e.to_string()))?;
    if clear {
        svc.reducer.clear_runtime(id, svc.timeouts.short).await?;
    }
    Ok(())
}

/// Rollback T (§3): runtime, hooks, workspace, `mark_terminated(spawn_failed)`.
async fn rollback_t(
    svc: &SessionServices,
    row: &SessionRow,
    project: &ProjectRow,
    path: &Path,
    runtime: Option<(&dyn Runtime, &str)>,
    hooks: Option<(&dyn Agent, &AgentSetup)>,
) {
    let id = &row.id;
    if let Some((rt, name)) = runtime
        && let Err(e) = rt.destroy(name).await
    {
        tracing::warn!(session = %id, error = %e, "rollback: cannot destroy the runtime session");
    }
    if let Some((agent, setup)) = hooks
        && let Err(e) = agent.uninstall_hooks(&setup.ctx()).await
    {
        tracing::warn!(session = %id, error = %e, "rollback: cannot uninstall the hooks");
    }
    match free_workspace(svc, id, Some(project), &path.to_string_lossy()).await {
        Freed::Yes => {}
        Freed::Dirty => {
            tracing::warn!(session = %id, path = %path.display(), "rollback: the worktree has uncommitted changes; kept");
        }
        Freed::Failed(e) => {
            tracing::warn!(session = %id, error = %e, "rollback: cannot remove the worktree");
        }
    }
    if let Err(e) = svc
        .reducer
        .mark_terminated(id, TerminatedReason::SpawnFailed, None, svc.timeouts.short)
        .await
    {
        tracing::error!(session = %id, error = %e, "rollback: cannot mark the session terminated");
    }
}

/// The step-3 undo: `delete_seed`, else `mark_terminated(spawn_failed)`.
async fn undo_seed(svc: &SessionServices, id: &SessionId) {
    let short = svc.timeouts.short;
    match svc.reducer.delete_seed(id, short).await {
        Ok(true) => {}
        Ok(false) => {
            if let Err(e) = svc
                .reducer
                .mark_terminated(id, TerminatedReason::SpawnFailed, None, short)
                .await
            {
                tracing::error!(session = %id, error = %e, "cannot mark a failed spawn terminated");
            }
        }
        Err(e) => {
            tracing::error!(session = %id, error = %e, "cannot delete the seed of a failed spawn");
        }
    }
}

/// The first prompt an `after_start` adapter still needs.
fn first_prompt(agent: &dyn Agent, setup: &AgentSetup) -> Option<String> {
    (agent.prompt_delivery() == PromptDelivery::AfterStart)
        .then(|| prefixed_prompt(&setup.system_prompt, setup.prompt.as_deref()))
        .flatten()
}

/// Spawn, sessions.md §3 steps 2–9, for the seed `row`.
pub(crate) async fn spawn(
    svc: &SessionServices,
    row: &SessionRow,
    plan: &SpawnPlan,
) -> Result<Launched, CommandError> {
    let id = &row.id;
    let short = svc.timeouts.short;
    let project = &plan.project;
    let prefix = session_prefix(&project.id, &plan.config);
    // 2. Branch.
    let session_branch = default_branch(plan.kind, id, &prefix);
    let branch = plan
        .branch
        .clone()
        .unwrap_or_else(|| session_branch.clone());
    let runtime = svc.runtime_or_err(plan.runtime);
    // 3. Workspace create.
    let created = async {
        let runtime = runtime?;
        let path = worktree_path(svc.workspace.root(), plan.kind, id, &prefix)
            .map_err(|e| workspace_error(&e))?;
        let req = CreateRequest {
            repo: PathBuf::from(&project.path),
            branch: branch.clone(),
            path,
            default_branch: project_default_branch(&plan.config),
            session_default_branch: session_branch.clone(),
            has_origin: !project.repo_origin_url.is_empty(),
            pr_head_ref: plan.claim.as_ref().map(|c| c.head_ref().to_owned()),
        };
        let created = svc
            .workspace
            .create(&req)
            .await
            .map_err(|e| workspace_error(&e))?;
        Ok::<_, CommandError>((runtime, created.path))
    }
    .await;
    let (runtime, path) = match created {
        Ok(v) => v,
        Err(e) => {
            undo_seed(svc, id).await;
            return Err(e);
        }
    };
    // 4. set_workspace.
    if let Err(e) = svc
        .reducer
        .set_workspace(
            id,
            branch.clone(),
            path.to_string_lossy().into_owned(),
            short,
        )
        .await
    {
        rollback_t(svc, row, project, &path, None, None).await;
        return Err(e);
    }
    // 5–6. Provision, hooks, pre-launch.
    let binary = match resolve_binary(svc, &plan.config, plan.harness, plan.agent) {
        Ok(b) => b,
        Err(e) => {
            rollback_t(svc, row, project, &path, None, None).await;
            return Err(e);
        }
    };
    let setup = match agent_setup(
        svc,
        SetupInput {
            row,
            config: &plan.config,
            harness: plan.harness,
            branch: &branch,
            worktree: &path,
            binary,
            prompt: plan.prompt.clone(),
            command: plan.command.clone(),
        },
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            rollback_t(svc, row, project, &path, None, None).await;
            return Err(e);
        }
    };
    if let Err(e) = provision(
        svc,
        Path::new(&project.path),
        &path,
        &plan.config,
        &setup.env,
    )
    .await
    {
        rollback_t(svc, row, project, &path, None, None).await;
        return Err(e);
    }
    if let Err(e) = install_hooks(plan.agent, &setup).await {
        rollback_t(svc, row, project, &path, None, Some((plan.agent, &setup))).await;
        return Err(e);
    }
    // 7. Claim PR (scm.md §11); the worktree is already on the PR head ref.
    if let Some(prepared) = &plan.claim
        && let Err(e) = super::claim::write_claim(svc, id, prepared).await
    {
        rollback_t(svc, row, project, &path, None, Some((plan.agent, &setup))).await;
        return Err(e);
    }
    // 8. Launch.
    let name = runtime_name(id.as_str());
    let spec = CreateSpec {
        name: name.clone(),
        session_id: id.clone(),
        cwd: path.clone(),
        launch: LaunchSpec {
            argv: plan.agent.launch_argv(&setup.ctx()),
            env: setup.env.clone(),
        },
    };
    let hooks = Some((plan.agent, &setup));
    if let Err(e) = runtime.create(&spec).await {
        rollback_t(svc, row, project, &path, Some((&*runtime, &name)), hooks).await;
        return Err(runtime_error(&e));
    }
    // 9. mark_spawned.
    if let Err(e) = svc.reducer.mark_spawned(id, name.clone(), short).await {
        rollback_t(svc, row, project, &path, Some((&*runtime, &name)), hooks).await;
        return Err(e);
    }
    Ok(Launched {
        first_prompt: first_prompt(plan.agent, &setup),
    })
}

/// Kill, sessions.md §4 steps 2–5. Returns `freed`.
pub(crate) async fn kill(
    svc: &SessionServices,
    id: &SessionId,
    reason: TerminatedReason,
) -> Result<bool, CommandError> {
    let short = svc.timeouts.short;
    svc.reducer.mark_terminated(id, reason, None, short).await?;
    let row = svc.session(id).await?.ok_or_else(|| not_found(id))?;
    let project = svc.project(&row.project_id).await?;
    if !row.runtime_handle_id.is_empty() {
        let runtime = svc.runtime_or_err(row.runtime)?;
        destroy_runtime(svc, id, &*runtime, &row.runtime_handle_id, true).await?;
    }
    if row.workspace_path.is_empty() {
        return Ok(true);
    }
    uninstall_hooks_of(svc, &row, project.as_ref(), Path::new(&row.workspace_path)).await;
    match free_workspace(svc, id, project.as_ref(), &row.workspace_path).await {
        Freed::Yes => Ok(true),
        Freed::Dirty => Ok(false),
        Freed::Failed(e) => Err(CommandError::rejected(ErrorCode::WorkspaceError, e)),
    }
}

/// Rollback, sessions.md §6.
pub(crate) async fn rollback(
    svc: &SessionServices,
    id: &SessionId,
) -> Result<RollbackOutcome, CommandError> {
    let Some(row) = svc.session(id).await? else {
        return Ok(RollbackOutcome::default());
    };
    if row.is_seed() && svc.reducer.delete_seed(id, svc.timeouts.short).await? {
        return Ok(RollbackOutcome {
            deleted: true,
            killed: false,
        });
    }
    if row.is_terminated {
        return Ok(RollbackOutcome::default());
    }
    kill(svc, id, TerminatedReason::Killed).await?;
    Ok(RollbackOutcome {
        deleted: false,
        killed: true,
    })
}

/// One session of cleanup, sessions.md §7.
pub(crate) async fn cleanup_one(
    svc: &SessionServices,
    id: &SessionId,
) -> Result<CleanupResult, CommandError> {
    let Some(row) = svc.session(id).await? else {
        return Ok(CleanupResult::NotEligible);
    };
    if !row.is_terminated || (row.workspace_path.is_empty() && row.runtime_handle_id.is_empty()) {
        return Ok(CleanupResult::NotEligible);
    }
    let project = svc.project(&row.project_id).await?;
    let mut runtime_ok = true;
    if !row.runtime_handle_id.is_empty() {
        let destroyed = match svc.runtime_or_err(row.runtime) {
            Ok(rt) => destroy_runtime(svc, id, &*rt, &row.runtime_handle_id, true).await,
            Err(e) => Err(e),
        };
        if let Err(e) = destroyed {
            tracing::warn!(session = %id, error = %e, "cleanup: cannot destroy the runtime session");
            runtime_ok = false;
        }
    }
    if !row.workspace_path.is_empty() {
        uninstall_hooks_of(svc, &row, project.as_ref(), Path::new(&row.workspace_path)).await;
        match free_workspace(svc, id, project.as_ref(), &row.workspace_path).await {
            Freed::Yes => {}
            Freed::Dirty => return Ok(CleanupResult::Skipped(REASON_DIRTY.to_string())),
            Freed::Failed(e) => {
                tracing::warn!(session = %id, error = %e, "cleanup: workspace teardown failed");
                return Ok(CleanupResult::Skipped(REASON_TEARDOWN_FAILED.to_string()));
            }
        }
    } else if runtime_ok {
        remove_session_dir(svc, id);
    }
    Ok(if runtime_ok {
        CleanupResult::Cleaned
    } else {
        CleanupResult::Skipped(REASON_RUNTIME_FAILED.to_string())
    })
}

/// How a restore or relaunch starts the agent (§5 step 2).
enum LaunchMode {
    /// The adapter's restore argv with this conversation id.
    Resume(String),
    /// A fresh launch with the stored prompt / command.
    Fresh,
}

/// §5 step 2. `orchestrator_fresh`: an orchestrator without a prompt may start fresh (restore);
/// a relaunch does not allow that (§13.2: "cannot resume and has no stored prompt").
fn launch_mode(
    agent: &dyn Agent,
    row: &SessionRow,
    orchestrator_fresh: bool,
) -> Option<LaunchMode> {
    if agent.can_resume(&row.agent_session_id) {
        let conversation = if row.agent_session_id.is_empty() {
            claude_session_uuid(&row.id)
        } else {
            row.agent_session_id.clone()
        };
        return Some(LaunchMode::Resume(conversation));
    }
    if !row.prompt.is_empty() || agent.harness() == Harness::Command {
        return Some(LaunchMode::Fresh);
    }
    (orchestrator_fresh && row.kind == SessionKind::Orchestrator).then_some(LaunchMode::Fresh)
}

/// Whether a vanished runtime can be relaunched in place (§13.2).
pub(crate) fn can_relaunch(row: &SessionRow) -> bool {
    row.harness_kind()
        .map(ao_adapters::agent::agent_for)
        .is_some_and(|agent| launch_mode(agent, row, false).is_some())
}

/// Restore steps 3–7 (shared with the in-place relaunch): returns the runtime handle. With
/// `in_place` (§13.2, §17 d) it runs `record_relaunch` right before the runtime is created:
/// a daemon killed in between then finds the runtime missing and relaunches again, whereas
/// the reverse order would leave a new, unrecorded agent that the next boot adopts under the
/// previous agent's activity facts and restart count.
async fn relaunch_core(
    svc: &SessionServices,
    row: &SessionRow,
    project: &ProjectRow,
    agent: &'static dyn Agent,
    mode: LaunchMode,
    in_place: bool,
) -> Result<(String, Launched), CommandError> {
    let config = project_config(project)?;
    let harness = agent.harness();
    let binary = resolve_binary(svc, &config, harness, agent)?;
    let runtime = svc.runtime_or_err(row.runtime)?;
    // 3. Destroy any leftover runtime session with the same name. A restored row that held
    // it (the dead pane of an agent that exited) forgets it now: should the daemon die after
    // the new runtime exists and before `mark_spawned`, that runtime is then an orphan for boot
    // reconcile, not a live agent under a terminated row.
    let name = runtime_name(row.id.as_str());
    runtime
        .destroy(&name)
        .await
        .map_err(|e| CommandError::rejected(ErrorCode::RuntimeError, e.to_string()))?;
    if !in_place && !row.runtime_handle_id.is_empty() {
        svc.reducer
            .clear_runtime(&row.id, svc.timeouts.short)
            .await?;
    }
    // 4. Workspace restore at the computed path.
    let prefix = session_prefix(&project.id, &config);
    let path = worktree_path(svc.workspace.root(), row.kind, &row.id, &prefix)
        .map_err(|e| workspace_error(&e))?;
    let req = CreateRequest {
        repo: PathBuf::from(&project.path),
        branch: row.branch.clone(),
        path,
        default_branch: project_default_branch(&config),
        session_default_branch: default_branch(row.kind, &row.id, &prefix),
        has_origin: !project.repo_origin_url.is_empty(),
        pr_head_ref: None,
    };
    let path = svc
        .workspace
        .restore(&req)
        .await
        .map_err(|e| workspace_error(&e))?
        .path;
    // 5. Hooks, pre-launch, the current system prompt.
    let prompt = Some(row.prompt.clone()).filter(|p| !p.is_empty());
    let command = (harness == Harness::Command)
        .then(|| row.launch_command.clone())
        .filter(|c| !c.is_empty());
    let setup = agent_setup(
        svc,
        SetupInput {
            row,
            config: &config,
            harness,
            branch: &row.branch,
            worktree: &path,
            binary,
            prompt,
            command,
        },
    )
    .await?;
    install_hooks(agent, &setup).await?;
    // 6. Runtime create.
    let (argv, launched) = match mode {
        LaunchMode::Resume(conversation) => (
            agent.restore_argv(&setup.ctx(), &conversation),
            Launched::default(),
        ),
        LaunchMode::Fresh => (
            agent.launch_argv(&setup.ctx()),
            Launched {
                first_prompt: first_prompt(agent, &setup),
            },
        ),
    };
    let spec = CreateSpec {
        name: name.clone(),
        session_id: row.id.clone(),
        cwd: path.clone(),
        launch: LaunchSpec {
            argv,
            env: setup.env.clone(),
        },
    };
    if in_place {
        svc.reducer
            .record_relaunch(&row.id, name.clone(), svc.timeouts.short)
            .await?;
    }
    if let Err(e) = runtime.create(&spec).await {
        if let Err(d) = runtime.destroy(&name).await {
            tracing::warn!(session = %row.id, error = %d, "cannot destroy a failed launch");
        }
        return Err(runtime_error(&e));
    }
    // 7. set_workspace when the stored path differs.
    let path_str = path.to_string_lossy().into_owned();
    if path_str != row.workspace_path
        && let Err(e) = svc
            .reducer
            .set_workspace(&row.id, row.branch.clone(), path_str, svc.timeouts.short)
            .await
    {
        if let Err(d) = runtime.destroy(&name).await {
            tracing::warn!(session = %row.id, error = %d, "cannot destroy a failed launch");
        }
        return Err(e);
    }
    Ok((name, launched))
}

/// The checks of §5 step 1 that need more than the row.
async fn live_project(svc: &SessionServices, row: &SessionRow) -> Result<ProjectRow, CommandError> {
    svc.project(&row.project_id)
        .await?
        .filter(|p| p.archived_at.is_none())
        .ok_or_else(|| {
            CommandError::rejected(
                ErrorCode::ProjectNotResolvable,
                format!("project {} is not registered", row.project_id),
            )
        })
}

/// Restore, sessions.md §5.
pub(crate) async fn restore(
    svc: &SessionServices,
    id: &SessionId,
) -> Result<Launched, CommandError> {
    // 1. Checks.
    let row = svc.session(id).await?.ok_or_else(|| not_found(id))?;
    if !row.is_terminated {
        return Err(CommandError::rejected(
            ErrorCode::SessionNotRestorable,
            format!("session {id} is not terminated"),
        ));
    }
    if row.branch.is_empty() {
        return Err(CommandError::rejected(
            ErrorCode::SessionIncompleteHandle,
            format!("session {id} has no branch to restore"),
        ));
    }
    if row.kind == SessionKind::Orchestrator
        && let Some(other) = live_orchestrator(svc, id).await?
    {
        return Err(crate::reducer::orchestrator_exists(&other));
    }
    let project = live_project(svc, &row).await?;
    let harness = row.harness_kind().ok_or_else(|| {
        CommandError::rejected(
            ErrorCode::UnknownHarness,
            format!("unknown harness {:?}", row.harness),
        )
    })?;
    let agent = ao_adapters::agent::agent_for(harness);
    // 2. Launch mode.
    let mode = launch_mode(agent, &row, true).ok_or_else(|| {
        CommandError::rejected(
            ErrorCode::SessionNotResumable,
            format!("session {id} has no agent conversation to resume and no stored prompt"),
        )
    })?;
    // 3–7.
    let (name, launched) = relaunch_core(svc, &row, &project, agent, mode, false).await?;
    // 8. mark_spawned.
    let runtime = svc.runtime_or_err(row.runtime)?;
    if let Err(e) = svc
        .reducer
        .mark_spawned(id, name.clone(), svc.timeouts.short)
        .await
    {
        if let Err(d) = runtime.destroy(&name).await {
            tracing::warn!(session = %id, error = %d, "cannot destroy a failed restore");
        }
        return Err(e);
    }
    Ok(launched)
}

/// Relaunch in place after the runtime vanished under a live session (§13.2, §17 d).
/// `Ok(None)`: the session cannot resume and has no prompt; it was terminated
/// (`runtime_missing`).
pub(crate) async fn relaunch(
    svc: &SessionServices,
    id: &SessionId,
) -> Result<Option<Launched>, CommandError> {
    let row = svc.session(id).await?.ok_or_else(|| not_found(id))?;
    if row.is_terminated {
        return Ok(None);
    }
    let agent = row.harness_kind().map(ao_adapters::agent::agent_for);
    let mode = agent.and_then(|a| launch_mode(a, &row, false));
    let (Some(agent), Some(mode)) = (agent, mode) else {
        svc.reducer
            .mark_terminated(
                id,
                TerminatedReason::RuntimeMissing,
                None,
                svc.timeouts.short,
            )
            .await?;
        return Ok(None);
    };
    let project = live_project(svc, &row).await?;
    let (_, launched) = relaunch_core(svc, &row, &project, agent, mode, true).await?;
    Ok(Some(launched))
}

/// What the boot relaunch of a session found and did (sessions.md §17 d).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BootRelaunch {
    /// The runtime is there after all (or cannot be probed): nothing was done.
    Present,
    /// Relaunched in place (`record_relaunch`).
    Relaunched(Launched),
    /// It could not resume and had no stored prompt: `runtime_missing`.
    Terminated,
    /// The session is terminated (or gone) by now.
    NotLive,
}

/// Boot reconcile's relaunch of a session the batch probe saw `missing` (§17 d): probes the
/// runtime once more (so a relaunch that raced this one is never repeated), then runs the
/// in-place [`relaunch`].
pub(crate) async fn relaunch_if_missing(
    svc: &SessionServices,
    id: &SessionId,
) -> Result<BootRelaunch, CommandError> {
    let Some(row) = svc.session(id).await?.filter(|r| !r.is_terminated) else {
        return Ok(BootRelaunch::NotLive);
    };
    if !row.runtime_handle_id.is_empty()
        && let Some(runtime) = svc.runtime(row.runtime)
    {
        let probe = runtime
            .probe_one(&ao_adapters::ProbeTarget {
                name: row.runtime_handle_id.clone(),
                session_id: row.id.clone(),
            })
            .await;
        if probe != ao_adapters::Probe::Missing {
            return Ok(BootRelaunch::Present);
        }
    }
    Ok(match relaunch(svc, id).await? {
        Some(launched) => BootRelaunch::Relaunched(launched),
        None => BootRelaunch::Terminated,
    })
}

/// One extra `Enter` key for an unconfirmed delivery (§9.4), through the session's runtime.
pub(crate) async fn press_enter(
    svc: &SessionServices,
    kind: ao_protocol::RuntimeKind,
    name: &str,
) -> Result<(), String> {
    let runtime = svc.runtime_or_err(kind).map_err(|e| e.to_string())?;
    runtime.send_enter(name).await.map_err(|e| e.to_string())
}

/// Delivers `text` to the session's runtime (sessions.md §9.1).
pub(crate) async fn deliver(
    runtime: Arc<dyn Runtime>,
    name: String,
    text: String,
) -> Result<(), CommandError> {
    runtime
        .send(&name, &text)
        .await
        .map_err(|e| CommandError::rejected(ErrorCode::RuntimeError, e.to_string()))
}
