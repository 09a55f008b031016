//! Claim PR (scm.md §11): a session takes ownership of an existing GitHub PR.
//!
//! * [`prepare`]: preconditions 5–12 in order (`PROJECT_NOT_RESOLVABLE`, `PR_REQUIRED`,
//!   `INVALID_PR_REF`, `PR_PROJECT_MISMATCH`, `SCM_UNAVAILABLE`, `PR_NOT_FOUND`,
//!   `PR_FROM_FORK`, `PR_NOT_OPEN`), the facts (a GraphQL batch of one) and the review threads
//!   (a partial window is written in merge mode), with the semantic hashes of §7. Nothing is
//!   written.
//! * [`prepare_spawn`]: the GitHub part of a spawn's `claimPr` (http-api.md §7.2 step 10):
//!   [`prepare`] against the stored project row (not the ProjectActor's copy, which may lag a
//!   just back-filled origin), then a requested `branch` must equal the PR head ref
//!   (`INVALID_BRANCH`). The ProjectActor runs it in a tracked task, so a slow or hanging
//!   GitHub never blocks its mailbox.
//! * [`claim`]: `POST /sessions/{id}/pr/claim` as a lifecycle operation of the session's
//!   actor: preconditions 1–4 (`SESSION_NOT_FOUND`, `SESSION_TERMINATED`,
//!   `SESSION_NOT_CLAIMABLE`, `SESSION_NO_WORKSPACE`), [`prepare`], the reducer's `claim_pr`
//!   (409 `PR_CLAIMED_BY_ACTIVE_SESSION {ownerSessionId}`), then the checkout (adapters.md
//!   §4.3): `switched` → `set_branch(headRef)`; any other outcome is reported as is. A failed
//!   checkout never undoes the claim.
//!
//! Decisions where the spec is silent: without an `ActorsConfig.scm` the reference is still
//! parsed against the default GitHub endpoints, so reference errors keep their order before
//! `SCM_UNAVAILABLE`; a short reference `<o>/<r>#<n>` on a project without a GitHub origin is
//! `PR_PROJECT_MISMATCH` (only a full URL skips that check); a failed review-thread fetch is
//! `SCM_UNAVAILABLE`; job logs are not fetched (the next observer poll fills the log tails,
//! since the claim clears the acknowledged hashes).

use std::path::Path;

use ao_adapters::scm::{
    GithubClient, PrKey, RepoRef, ScmConfig, ScmError, hashes, parse_origin, parse_pr_ref,
};
use ao_adapters::{Checkout, Switch};
use ao_protocol::scm::{ScmHashes, ScmObservation, ThreadWrite};
use ao_protocol::{ErrorCode, PrState, SessionId, SessionKind};
use ao_store::ProjectRow;
use serde_json::json;

use super::validate::SpawnPlan;
use super::{ClaimOutcome, ClaimSpec, SessionServices};
use crate::error::CommandError;

/// A claim whose preconditions passed: the observation to write and the PR head ref.
#[derive(Debug, Clone)]
pub(crate) struct PreparedClaim {
    /// `session_id` is filled in by the caller (a spawn knows it only after the seed).
    pub(crate) obs: ScmObservation,
    pub(crate) allow_takeover: bool,
}

impl PreparedClaim {
    /// The PR's head ref (`source_branch`).
    pub(crate) fn head_ref(&self) -> &str {
        &self.obs.facts.source_branch
    }
}

fn scm_unavailable(message: impl Into<String>) -> CommandError {
    CommandError::rejected(ErrorCode::ScmUnavailable, message)
}

/// The endpoints references are parsed with: the configured ones, else GitHub's defaults.
fn endpoints(svc: &SessionServices) -> Result<ScmConfig, CommandError> {
    match &svc.scm {
        Some(setup) => Ok(setup.config.clone()),
        None => ScmConfig::from_lookup(|_| None)
            .map_err(|e| CommandError::Internal(format!("default GitHub endpoints: {e}"))),
    }
}

/// Precondition 5: the project exists, is not archived, and its repository is there.
pub(crate) fn resolvable(project: Option<ProjectRow>) -> Result<ProjectRow, CommandError> {
    match project {
        Some(p) if p.archived_at.is_none() && Path::new(&p.path).is_dir() => Ok(p),
        Some(p) => Err(CommandError::rejected(
            ErrorCode::ProjectNotResolvable,
            format!("project {} cannot be resolved (archived or missing)", p.id),
        )),
        None => Err(CommandError::rejected(
            ErrorCode::ProjectNotResolvable,
            "the session's project no longer exists",
        )),
    }
}

/// Preconditions 6–12, then the facts and the review threads (see the module docs).
pub(crate) async fn prepare(
    svc: &SessionServices,
    project: &ProjectRow,
    pr_ref: &str,
    allow_takeover: bool,
) -> Result<PreparedClaim, CommandError> {
    let config = endpoints(svc)?;
    let origin: Option<RepoRef> = if project.repo_origin_url.is_empty() {
        None
    } else {
        parse_origin(&project.repo_origin_url, &config.host)
    };
    // 6. PR_REQUIRED, 7. INVALID_PR_REF.
    let parsed = parse_pr_ref(pr_ref, &config, origin.as_ref())
        .map_err(|e| CommandError::rejected(e.code, e.message))?;
    // 8. PR_PROJECT_MISMATCH.
    match &origin {
        Some(o) if !o.same_repo(&parsed.repo) => {
            return Err(CommandError::rejected(
                ErrorCode::PrProjectMismatch,
                format!(
                    "PR {}/{}#{} is not in the project's repository {}/{}",
                    parsed.repo.owner, parsed.repo.repo, parsed.number, o.owner, o.repo
                ),
            ));
        }
        None if !parsed.full_url => {
            return Err(CommandError::rejected(
                ErrorCode::PrProjectMismatch,
                format!(
                    "project {} has no GitHub origin to compare {}/{} with; pass the full PR URL",
                    project.id, parsed.repo.owner, parsed.repo.repo
                ),
            ));
        }
        _ => {}
    }
    // 9. SCM_UNAVAILABLE: GitHub disabled, or a client that cannot be built.
    let client = github(svc)?;
    let key = PrKey::new(parsed.repo.clone(), parsed.number);
    // 10. The facts; NotFound → PR_NOT_FOUND, any other failure → SCM_UNAVAILABLE.
    let snapshot = client
        .pr_facts(std::slice::from_ref(&key))
        .await
        .into_iter()
        .next()
        .unwrap_or_else(|| Err(ScmError::Malformed("no answer for the PR".into())));
    let snapshot = match snapshot {
        Ok(s) => s,
        Err(ScmError::NotFound) => {
            return Err(CommandError::rejected(
                ErrorCode::PrNotFound,
                format!(
                    "PR {}/{}#{} was not found",
                    parsed.repo.owner, parsed.repo.repo, parsed.number
                ),
            ));
        }
        Err(e) => return Err(scm_unavailable(format!("cannot fetch the PR: {e}"))),
    };
    let facts = snapshot.facts;
    // 11. PR_FROM_FORK.
    if !facts.head_repo.eq_ignore_ascii_case(&facts.repo) {
        return Err(CommandError::rejected(
            ErrorCode::PrFromFork,
            format!(
                "PR {} comes from the fork {:?}; only PRs from the project's repository can be claimed",
                facts.url, facts.head_repo
            ),
        ));
    }
    // 12. PR_NOT_OPEN.
    if facts.state != PrState::Open {
        return Err(CommandError::rejected(
            ErrorCode::PrNotOpen,
            format!("PR {} is {}, not open", facts.url, facts.state),
        ));
    }
    let threads = client
        .review_threads(&parsed.repo, parsed.number)
        .await
        .map_err(|e| scm_unavailable(format!("cannot fetch the review threads: {e}")))?;
    let hashes = ScmHashes {
        metadata: hashes::metadata_hash(&facts),
        ci: hashes::ci_hash(&snapshot.checks),
        review: Some(hashes::review_hash(
            facts.review_decision,
            threads.partial,
            &threads.threads,
        )),
        review_partial: threads.partial,
    };
    let write = if threads.partial {
        ThreadWrite::Merge(threads.threads)
    } else {
        ThreadWrite::Replace(threads.threads)
    };
    Ok(PreparedClaim {
        obs: ScmObservation {
            session_id: String::new(),
            facts,
            checks: snapshot.checks,
            threads: write,
            hashes,
        },
        allow_takeover,
    })
}

/// Completes a validated spawn `plan` with its `claimPr` (see the module docs).
pub(crate) async fn prepare_spawn(
    svc: &SessionServices,
    mut plan: SpawnPlan,
    spec: ClaimSpec,
) -> Result<SpawnPlan, CommandError> {
    let fresh = resolvable(svc.project(&plan.project.id).await?)?;
    let prepared = prepare(svc, &fresh, &spec.pr_ref, spec.allow_takeover).await?;
    let head = prepared.head_ref();
    if let Some(b) = plan.branch.as_deref().filter(|b| *b != head) {
        return Err(CommandError::rejected_with(
            ErrorCode::InvalidBranch,
            format!("branch {b:?} differs from the claimed PR's head ref {head:?}"),
            json!({ "branch": b, "headRef": head }),
        ));
    }
    plan.branch = Some(head.to_owned());
    plan.project = fresh;
    plan.claim = Some(prepared);
    Ok(plan)
}

/// The GitHub client, or `SCM_UNAVAILABLE`.
fn github(svc: &SessionServices) -> Result<GithubClient, CommandError> {
    match &svc.github {
        Some(Ok(client)) => Ok(client.clone()),
        Some(Err(e)) => Err(scm_unavailable(format!("GitHub is unavailable: {e}"))),
        None => Err(scm_unavailable(
            "GitHub is not configured in this daemon (no SCM setup)",
        )),
    }
}

/// The reducer's `claim_pr` for `id`; returns `takenOverFrom`.
pub(crate) async fn write_claim(
    svc: &SessionServices,
    id: &SessionId,
    prepared: &PreparedClaim,
) -> Result<Vec<SessionId>, CommandError> {
    let mut obs = prepared.obs.clone();
    obs.session_id = id.to_string();
    let applied = svc
        .reducer
        .claim_pr(obs, prepared.allow_takeover, svc.timeouts.short)
        .await?;
    if let Some(previous) = &applied.taken_over_from {
        tracing::info!(session = %id, previous = %previous, live = applied.previous_owner_live, pr = prepared.obs.facts.url, "PR taken over");
    }
    Ok(applied.taken_over_from.into_iter().collect())
}

/// `POST /sessions/{id}/pr/claim` (scm.md §11), run as a lifecycle operation.
pub(crate) async fn claim(
    svc: &SessionServices,
    id: &SessionId,
    pr_ref: &str,
    allow_takeover: bool,
) -> Result<ClaimOutcome, CommandError> {
    // 1–4.
    let row = svc.session(id).await?.ok_or_else(|| {
        CommandError::rejected(
            ErrorCode::SessionNotFound,
            format!("session {id} not found"),
        )
    })?;
    if row.is_terminated {
        return Err(CommandError::rejected(
            ErrorCode::SessionTerminated,
            format!("session {id} is terminated"),
        ));
    }
    if row.kind == SessionKind::Orchestrator {
        return Err(CommandError::rejected(
            ErrorCode::SessionNotClaimable,
            format!("session {id} is an orchestrator; only workers can claim a PR"),
        ));
    }
    if row.workspace_path.is_empty() {
        return Err(CommandError::rejected(
            ErrorCode::SessionNoWorkspace,
            format!("session {id} has no workspace"),
        ));
    }
    // 5–12.
    let project = resolvable(svc.project(&row.project_id).await?)?;
    let prepared = prepare(svc, &project, pr_ref, allow_takeover).await?;
    // The transaction.
    let taken_over_from = write_claim(svc, id, &prepared).await?;
    // The checkout (adapters.md §4.3), after the commit.
    let head = prepared.head_ref().to_owned();
    let Switch { checkout, error } = svc
        .workspace
        .switch_branch(
            Path::new(&project.path),
            Path::new(&row.workspace_path),
            &head,
        )
        .await;
    let mut branch_changed = false;
    match checkout {
        Checkout::Switched => {
            match svc
                .reducer
                .set_branch(id, head.clone(), svc.timeouts.short)
                .await
            {
                Ok(_) => branch_changed = true,
                Err(e) => {
                    tracing::warn!(session = %id, branch = head, error = %e, "the worktree switched but the branch could not be recorded");
                }
            }
        }
        Checkout::Failed => {
            tracing::warn!(session = %id, branch = head, error = error.as_deref().unwrap_or(""), "claim checkout failed; the claim stands");
        }
        other => tracing::info!(session = %id, branch = head, checkout = %other, "claim checkout"),
    }
    Ok(ClaimOutcome {
        pr_url: prepared.obs.facts.url.clone(),
        taken_over_from,
        branch_changed,
        checkout,
        checkout_error: error,
    })
}
