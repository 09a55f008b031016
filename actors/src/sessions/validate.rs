//! Spawn validation (http-api.md §7.2 steps 5–9), run by the ProjectActor before any durable
//! write, producing the [`SpawnPlan`] the SessionActor executes.
//!
//! Order: `AGENT_REQUIRED` (no harness in the request nor in `config.<role>.agent`),
//! `UNKNOWN_HARNESS` (an unknown word in the config; every harness has an adapter),
//! `COMMAND_REQUIRED` (harness `command` without a command), `AGENT_BINARY_NOT_FOUND` (looked up
//! with the session's `PATH`),
//! `ORCHESTRATOR_ALREADY_RUNNING`, then with `claimPr` (step 10, scm.md §11) the kind must
//! be worker (`SESSION_NOT_CLAIMABLE`). The rest of step 10 needs GitHub, so it is not done
//! here but in [`super::claim::prepare_spawn`], which the ProjectActor runs in a tracked task:
//! the claim preconditions 5–12 with the PR facts fetched, and a requested `branch` must equal
//! the PR head ref (`INVALID_BRANCH`). The runtime is `config.runtime`, else the daemon's
//! `AO_RUNTIME`; whether it can run (installed, recent enough) is found out at runtime create
//! (sessions.md §3 step 8, `RUNTIME_ERROR` after rollback), as http-api.md §7.2 lists no
//! runtime check.

use std::path::PathBuf;

use ao_adapters::agent::{Agent, agent_for};
use ao_protocol::{ErrorCode, Harness, ProjectConfig, RoleConfig, RuntimeKind, SessionKind};
use ao_store::{ProjectRow, SessionFilter};
use serde_json::json;

use super::claim::PreparedClaim;
use super::naming::session_path;
use super::{ClaimSpec, SessionServices, SpawnCommand};
use crate::error::CommandError;
use crate::reducer::orchestrator_exists;

/// A validated spawn: everything the SessionActor needs for sessions.md §3 steps 2–9.
#[derive(Clone)]
pub(crate) struct SpawnPlan {
    pub(crate) project: ProjectRow,
    pub(crate) config: ProjectConfig,
    pub(crate) kind: SessionKind,
    pub(crate) harness: Harness,
    pub(crate) agent: &'static dyn Agent,
    pub(crate) runtime: RuntimeKind,
    /// The requested branch (`None`: the session's default branch).
    pub(crate) branch: Option<String>,
    pub(crate) prompt: Option<String>,
    /// Harness `command`: the launch command.
    pub(crate) command: Option<String>,
    pub(crate) issue_id: String,
    pub(crate) display_name: String,
    /// `claimPr`, validated and with the PR facts fetched: written at sessions.md §3 step 7.
    pub(crate) claim: Option<PreparedClaim>,
}

/// The role section of the config.
pub(crate) fn role_of(config: &ProjectConfig, kind: SessionKind) -> Option<&RoleConfig> {
    match kind {
        SessionKind::Worker => config.worker.as_ref(),
        SessionKind::Orchestrator => config.orchestrator.as_ref(),
    }
}

/// The stored config of a project, decoded (it was validated when stored).
pub(crate) fn project_config(project: &ProjectRow) -> Result<ProjectConfig, CommandError> {
    ProjectConfig::validate_json(&project.config).map_err(|e| {
        CommandError::Internal(format!(
            "the stored config of project {} is invalid: {e}",
            project.id
        ))
    })
}

/// `AGENT_BINARY_NOT_FOUND`.
pub(crate) fn binary_not_found(agent: &dyn Agent, harness: Harness) -> CommandError {
    CommandError::rejected_with(
        ErrorCode::AgentBinaryNotFound,
        format!(
            "the {harness} binary `{}` was not found on the session PATH or in the usual install directories",
            agent.binary_name()
        ),
        json!({ "harness": harness.as_str(), "binary": agent.binary_name() }),
    )
}

/// Resolves the agent binary with the session `PATH` of `config`.
pub(crate) fn resolve_binary(
    svc: &SessionServices,
    config: &ProjectConfig,
    harness: Harness,
    agent: &dyn Agent,
) -> Result<PathBuf, CommandError> {
    let path = session_path(svc.ao_exe.as_deref(), config, &svc.daemon_env);
    svc.binaries
        .resolve(harness, &path)
        .ok_or_else(|| binary_not_found(agent, harness))
}

/// Steps 5–9 of http-api.md §7.2 for a live project, and the local part of step 10 (the kind
/// of a claiming spawn). Returns the plan without its claim, and the `claimPr` still to be
/// prepared against GitHub ([`super::claim::prepare_spawn`]), when there is one.
pub(crate) async fn validate_spawn(
    svc: &SessionServices,
    project: &ProjectRow,
    cmd: SpawnCommand,
) -> Result<(SpawnPlan, Option<ClaimSpec>), CommandError> {
    let config = project_config(project)?;
    let role = role_of(&config, cmd.kind);
    // 5. AGENT_REQUIRED / 6. UNKNOWN_HARNESS.
    let harness = if let Some(h) = cmd.harness {
        h
    } else {
        {
            let word = role
                .and_then(|r| r.agent.as_deref())
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    CommandError::rejected(
                        ErrorCode::AgentRequired,
                        format!(
                            "no harness given and project {} sets no {}.agent",
                            project.id, cmd.kind
                        ),
                    )
                })?;
            word.parse::<Harness>().map_err(|_| {
                CommandError::rejected(
                    ErrorCode::UnknownHarness,
                    format!("unknown harness {word:?}"),
                )
            })?
        }
    };
    let agent = agent_for(harness);
    // 7. COMMAND_REQUIRED.
    let command = if harness == Harness::Command {
        let given = cmd
            .command
            .clone()
            .filter(|c| !c.trim().is_empty())
            .or_else(|| {
                role.and_then(|r| r.command.clone())
                    .filter(|c| !c.trim().is_empty())
            });
        Some(given.ok_or_else(|| {
            CommandError::rejected(
                ErrorCode::CommandRequired,
                format!(
                    "harness command needs a command (the request's `command` or {}.command)",
                    cmd.kind
                ),
            )
        })?)
    } else {
        None
    };
    // 8. AGENT_BINARY_NOT_FOUND.
    resolve_binary(svc, &config, harness, agent)?;
    // The project's runtime, else the daemon's (fixed on the row at spawn).
    let runtime = config.runtime.unwrap_or(svc.default_runtime);
    // 9. ORCHESTRATOR_ALREADY_RUNNING.
    if cmd.kind == SessionKind::Orchestrator {
        let live = svc
            .sessions(SessionFilter {
                project: Some(project.id.clone()),
                kind: Some(SessionKind::Orchestrator),
                active: Some(true),
            })
            .await?;
        if let Some(existing) = live.first() {
            return Err(orchestrator_exists(&existing.id));
        }
    }
    // 10. Claim PR: only the local check here; the GitHub part runs off the ProjectActor's
    // mailbox ([`super::claim::prepare_spawn`]).
    let claim = cmd.claim;
    if claim.is_some() && cmd.kind != SessionKind::Worker {
        return Err(CommandError::rejected(
            ErrorCode::SessionNotClaimable,
            "only workers can claim a PR",
        ));
    }
    let plan = SpawnPlan {
        project: project.clone(),
        config,
        kind: cmd.kind,
        harness,
        agent,
        runtime,
        branch: cmd.branch.filter(|b| !b.is_empty()),
        prompt: cmd.prompt.filter(|p| !p.is_empty()),
        command,
        issue_id: cmd.issue_id.unwrap_or_default(),
        display_name: cmd.display_name.unwrap_or_default(),
        claim: None,
    };
    Ok((plan, claim))
}
