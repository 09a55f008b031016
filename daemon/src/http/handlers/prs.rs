//! The PR routes of a session (http-api.md §7.1, scm.md §11–12).
//!
//! * `GET /sessions/{id}/pr` reads `pr_details_of_session` and answers the `PrSummary` list of
//!   [`crate::http::pr_summary`]; an unknown session is 404 `SESSION_NOT_FOUND`.
//! * `POST /sessions/{id}/pr/claim {pr, allowTakeover?: true}` is one `SessionsHandle::claim_pr`
//!   call (the actor checks the preconditions of scm.md §11 in order, fetches the PR, writes the
//!   claim and checks the branch out). The `ClaimResult` (§7.5) re-reads the session's PRs from
//!   the store, the claimed PR first. A missing `pr` is passed on as an empty reference so that
//!   the actor reports `PR_REQUIRED` after the session checks that precede it.
//!
//! The claim is a long command (10 min, http-api.md §12).

use ao_protocol::{
    ClaimCheckout, ClaimRequest, ClaimResult, ErrorBody, PrBrief, PrSummaryList, SessionId,
};
use ao_store::PrRow;
use axum::Json;
use axum::extract::State;

use super::read;
use super::sessions::path_id;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, SessionIdPath};
use crate::http::state::AppState;
use crate::http::{pr_summary, views};

/// What a claim did, as the daemon reports it (from `ao_actors::ClaimOutcome`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub pr_url: String,
    pub taken_over_from: Vec<SessionId>,
    pub branch_changed: bool,
    pub checkout: ClaimCheckout,
    pub checkout_error: Option<String>,
}

/// The session's PRs as `PrBrief`s: `first_url` first, then active first and newest first
/// (the `Session.prs` order).
pub(super) async fn briefs_with_first(
    app: &AppState,
    id: &SessionId,
    first_url: &str,
) -> Result<Vec<PrBrief>, ApiError> {
    let lookup = id.clone();
    let mut rows: Vec<PrRow> = read(app, move |r| {
        Ok(r.prs_of_sessions(std::slice::from_ref(&lookup))?
            .remove(&lookup)
            .unwrap_or_default())
    })
    .await?;
    views::sort_prs(&mut rows);
    if let Some(pos) = rows.iter().position(|p| p.url == first_url) {
        let claimed = rows.remove(pos);
        rows.insert(0, claimed);
    }
    Ok(rows.iter().map(views::pr_brief).collect())
}

/// The `ClaimResult` of a finished claim.
pub(super) async fn claim_result(
    app: &AppState,
    id: SessionId,
    claimed: Claimed,
) -> Result<ClaimResult, ApiError> {
    let prs = briefs_with_first(app, &id, &claimed.pr_url).await?;
    Ok(ClaimResult {
        ok: true,
        session_id: id,
        prs,
        taken_over_from: claimed.taken_over_from,
        branch_changed: claimed.branch_changed,
        checkout: claimed.checkout,
        checkout_error: claimed.checkout_error,
    })
}

/// A session's PRs with CI, review and mergeability details.
#[utoipa::path(get, path = "/api/v1/sessions/{sessionId}/pr", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Open and draft PRs first, then the newest", body = PrSummaryList),
        (status = 404, description = "`SESSION_NOT_FOUND`", body = ErrorBody),
    ))]
pub async fn summary(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
) -> Result<Json<PrSummaryList>, ApiError> {
    let id = path_id(&raw)?;
    let lookup = id.clone();
    let details = read(&app, move |r| match r.get_session(&lookup)? {
        None => Ok(None),
        Some(_) => r.pr_details_of_session(&lookup).map(Some),
    })
    .await?
    .ok_or_else(|| ApiError::session_not_found(id.as_str()))?;
    Ok(Json(PrSummaryList {
        prs: pr_summary::summaries(&details),
        session_id: id,
    }))
}

/// Claims a PR for a session (and checks its branch out in the session's worktree).
#[utoipa::path(post, path = "/api/v1/sessions/{sessionId}/pr/claim", tag = "sessions",
    security(("bearer" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    request_body = ClaimRequest,
    responses(
        (status = 200, description = "Claimed; `prs` lists the claimed PR first", body = ClaimResult),
        (status = 400, description = "`PROJECT_NOT_RESOLVABLE`, `PR_REQUIRED`, `INVALID_PR_REF`, `INVALID_JSON`", body = ErrorBody),
        (status = 404, description = "`SESSION_NOT_FOUND`, `PR_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`SESSION_TERMINATED`, `PR_NOT_OPEN`, `PR_CLAIMED_BY_ACTIVE_SESSION` (`details: {ownerSessionId}`), `SESSION_BUSY`", body = ErrorBody),
        (status = 422, description = "`SESSION_NOT_CLAIMABLE`, `SESSION_NO_WORKSPACE`, `PR_PROJECT_MISMATCH`, `PR_FROM_FORK`", body = ErrorBody),
        (status = 503, description = "`SCM_UNAVAILABLE`: no GitHub token, or GitHub could not be reached", body = ErrorBody),
    ))]
pub async fn claim(
    State(app): State<AppState>,
    SessionIdPath(raw): SessionIdPath,
    ApiJson(req): ApiJson<ClaimRequest>,
) -> Result<Json<ClaimResult>, ApiError> {
    let id = path_id(&raw)?;
    // scm.md §11 precondition 1, before anything else (the actor checks it again).
    let lookup = id.clone();
    if read(&app, move |r| r.get_session(&lookup)).await?.is_none() {
        return Err(ApiError::session_not_found(id.as_str()));
    }
    let handles = app.handles()?;
    let pr_ref = req.pr.unwrap_or_default();
    let allow_takeover = req.allow_takeover.unwrap_or(true);
    let claimed = call_claim(handles, id.clone(), pr_ref, allow_takeover).await?;
    Ok(Json(claim_result(&app, id, claimed).await?))
}

/// The one actor call of a claim.
async fn call_claim(
    handles: &crate::http::state::Handles,
    id: SessionId,
    pr_ref: String,
    allow_takeover: bool,
) -> Result<Claimed, ApiError> {
    let o = handles
        .sessions
        .claim_pr(id, pr_ref, allow_takeover)
        .await?;
    Ok(claimed_of(o))
}

/// The daemon's view of the actor's claim outcome.
fn claimed_of(o: ao_actors::sessions::ClaimOutcome) -> Claimed {
    Claimed {
        pr_url: o.pr_url,
        taken_over_from: o.taken_over_from,
        branch_changed: o.branch_changed,
        checkout: checkout_word(o.checkout),
        checkout_error: o.checkout_error,
    }
}

/// The API word of a checkout outcome.
fn checkout_word(c: ao_adapters::Checkout) -> ClaimCheckout {
    use ao_adapters::Checkout;
    match c {
        Checkout::Switched => ClaimCheckout::Switched,
        Checkout::AlreadyOnBranch => ClaimCheckout::AlreadyOnBranch,
        Checkout::SkippedDirty => ClaimCheckout::SkippedDirty,
        Checkout::SkippedBranchInUse => ClaimCheckout::SkippedBranchInUse,
        Checkout::Failed => ClaimCheckout::Failed,
    }
}
