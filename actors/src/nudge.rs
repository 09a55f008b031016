//! The due nudge of a session (scm.md §9.1–§9.2): a pure function of stored facts, no I/O and
//! no actor code. The SessionActor evaluates it on `PrFactsChanged`, on every idle edge and
//! when it starts, delivers the result through its outbox while the agent is idle, then asks
//! the reducer to `record_nudge` (scm.md §9.3–§9.4).
//!
//! Rules ([`evaluate`] / [`due_nudge`]):
//! * Empty when the session is terminated, `waiting_input`, or has no runtime handle.
//! * Only PRs in `open`/`draft` nudge. Per PR, the candidate is the first kind — CI, then
//!   review, then conflict — whose condition holds and whose key is neither seen with the same
//!   signature nor over budget; a seen or over-budget kind falls through to the next kind.
//! * Across PRs the highest-priority kind wins; a tie goes to the lower PR number.
//! * CI (`ci_state = failing`): candidate checks are the head commit's `failed` checks
//!   (cancelled excluded) sorted by name; the first not seen and not over budget is chosen.
//!   Key `ci:<prUrl>:<check>`, signature `<headSha>:<logHash>`, scope the head SHA.
//! * Review (`changes_requested`, or an unresolved non-bot comment in an unresolved non-bot
//!   thread): key `review:<prUrl>`, signature the comma-joined sorted comment ids (or
//!   `changes_requested` when there are none), scope `''`.
//! * Conflict (`mergeability = conflicting`, the PR not stacked on another open PR of the
//!   session, sessions.md §15): key `conflict:<prUrl>`, signature `<headSha>:<baseSha>`, scope
//!   the head SHA.
//! * Budget: [`BUDGET`] deliveries per key within its scope (per head SHA for CI and conflict;
//!   for review the count resets when the condition clears — [`review_keys_to_reset`] names the
//!   keys the actor must reset with `reset_nudge_key`).
//!
//! Messages start with `[AO] `, are sanitised like a send (http-api.md §7.3) and cut to
//! 16 KiB. Decision where the spec is silent: a CI check with an empty stored log tail (no job
//! log) gets no `Failing output` block; review comment bodies are flattened to one line and a
//! body over 1,000 chars is cut to 999 chars plus `…`.

use std::collections::HashMap;
use std::fmt::Write as _;

use ao_protocol::limits::{MESSAGE_MAX_BYTES, sanitize_message};
use ao_protocol::{ActivityState, CheckStatus, CiState, Mergeability, NudgeKind, ReviewDecision};
use ao_store::{PrCheckRow, PrCommentRow, PrDetail, SessionRow};

/// Deliveries per key within one scope.
pub const BUDGET: u32 = 3;
/// Review comments listed in a review nudge before `(+N more)`.
pub const MAX_REVIEW_ITEMS: usize = 10;
/// Longest review comment body quoted, in chars.
pub const MAX_REVIEW_BODY_CHARS: usize = 1_000;
/// The review signature when changes are requested without any open comment.
pub const CHANGES_REQUESTED_SIGNATURE: &str = "changes_requested";

/// One nudge to deliver; after delivery the actor records `key`, `signature` and `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nudge {
    pub kind: NudgeKind,
    pub pr_url: String,
    pub pr_number: u64,
    pub key: String,
    pub signature: String,
    /// The head SHA for CI and conflict nudges, `''` for review nudges.
    pub scope: String,
    /// The message to paste (sanitised, at most 16 KiB).
    pub text: String,
}

/// A key skipped because it reached its budget (the actor warns once per key and scope).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BudgetHit {
    pub pr_url: String,
    pub key: String,
    pub scope: String,
}

/// A nudge key whose condition cleared and must be reset (`reset_nudge_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReset {
    pub pr_url: String,
    pub key: String,
}

/// The full result of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub nudge: Option<Nudge>,
    /// Keys whose condition holds but that were skipped at their budget, in evaluation order.
    pub over_budget: Vec<BudgetHit>,
}

/// `ci:<prUrl>:<checkName>`.
pub fn ci_key(pr_url: &str, check: &str) -> String {
    format!("ci:{pr_url}:{check}")
}

/// `review:<prUrl>`.
pub fn review_key(pr_url: &str) -> String {
    format!("review:{pr_url}")
}

/// `conflict:<prUrl>`.
pub fn conflict_key(pr_url: &str) -> String {
    format!("conflict:{pr_url}")
}

/// The nudge due for `session` given every PR of it, if any (see the module docs).
pub fn due_nudge(session: &SessionRow, prs: &[PrDetail]) -> Option<Nudge> {
    evaluate(session, prs).nudge
}

/// [`due_nudge`] plus the keys skipped at their budget.
pub fn evaluate(session: &SessionRow, prs: &[PrDetail]) -> Evaluation {
    let mut out = Evaluation::default();
    if session.is_terminated
        || session.activity_state == ActivityState::WaitingInput
        || session.runtime_handle_id.is_empty()
    {
        return out;
    }
    let mut best: Option<Nudge> = None;
    for pr in prs.iter().filter(|p| p.is_open()) {
        let Some(candidate) = pr_candidate(pr, prs, &mut out.over_budget) else {
            continue;
        };
        let better = best.as_ref().is_none_or(|b| {
            (rank(candidate.kind), candidate.pr_number, &candidate.pr_url)
                < (rank(b.kind), b.pr_number, &b.pr_url)
        });
        if better {
            best = Some(candidate);
        }
    }
    out.nudge = best;
    out
}

/// Review keys (one per PR) whose condition no longer holds but that still carry dedup
/// state: the actor resets each with `reset_nudge_key`, so the review budget restarts.
pub fn review_keys_to_reset(prs: &[PrDetail]) -> Vec<KeyReset> {
    prs.iter()
        .filter_map(|pr| {
            let key = review_key(pr.url());
            (pr.nudge_state.has_key(&key) && !review_condition(pr)).then(|| KeyReset {
                pr_url: pr.url().to_owned(),
                key,
            })
        })
        .collect()
}

fn rank(kind: NudgeKind) -> u8 {
    match kind {
        NudgeKind::Ci => 0,
        NudgeKind::Review => 1,
        NudgeKind::Conflict => 2,
    }
}

/// Whether `key` may be delivered with `signature` in `scope`; records a budget hit.
fn deliverable(
    pr: &PrDetail,
    key: &str,
    signature: &str,
    scope: &str,
    hits: &mut Vec<BudgetHit>,
) -> bool {
    let state = &pr.nudge_state;
    if state.is_seen(key, signature) {
        return false;
    }
    if state.attempts_in(key, scope) >= BUDGET {
        hits.push(BudgetHit {
            pr_url: pr.url().to_owned(),
            key: key.to_owned(),
            scope: scope.to_owned(),
        });
        return false;
    }
    true
}

/// The first deliverable kind of one open PR.
fn pr_candidate(pr: &PrDetail, all: &[PrDetail], hits: &mut Vec<BudgetHit>) -> Option<Nudge> {
    ci_candidate(pr, hits)
        .or_else(|| review_candidate(pr, hits))
        .or_else(|| conflict_candidate(pr, all, hits))
}

fn nudge(
    pr: &PrDetail,
    kind: NudgeKind,
    key: String,
    signature: String,
    scope: &str,
    text: &str,
) -> Nudge {
    Nudge {
        kind,
        pr_url: pr.url().to_owned(),
        pr_number: pr.facts.number,
        key,
        signature,
        scope: scope.to_owned(),
        text: finish(text),
    }
}

/// The head commit's failed checks, sorted by name.
fn failed_head_checks(pr: &PrDetail) -> Vec<&PrCheckRow> {
    let mut checks: Vec<&PrCheckRow> = pr
        .checks
        .iter()
        .filter(|c| c.commit_sha == pr.facts.head_sha && c.status == CheckStatus::Failed)
        .collect();
    checks.sort_by(|a, b| a.name.cmp(&b.name));
    checks
}

fn ci_candidate(pr: &PrDetail, hits: &mut Vec<BudgetHit>) -> Option<Nudge> {
    if pr.facts.ci_state != CiState::Failing {
        return None;
    }
    let head = pr.facts.head_sha.as_str();
    let failed = failed_head_checks(pr);
    let check = failed.iter().copied().find(|c| {
        let key = ci_key(pr.url(), &c.name);
        let signature = format!("{head}:{}", c.log_hash);
        deliverable(pr, &key, &signature, head, hits)
    })?;
    let sha7: String = head.chars().take(7).collect();
    let mut text = format!(
        "[AO] CI is failing on your PR {} (check \"{}\" on {sha7}). Read the output below, fix \
         the cause and push.",
        pr.url(),
        check.name
    );
    let others: Vec<&str> = failed
        .iter()
        .filter(|c| c.name != check.name)
        .map(|c| c.name.as_str())
        .collect();
    if !others.is_empty() {
        text.push_str("\nOther failing checks: ");
        text.push_str(&others.join(", "));
    }
    if !check.url.is_empty() {
        text.push_str("\nDetails: ");
        text.push_str(&check.url);
    }
    if !check.log_tail.is_empty() {
        text.push_str("\n\nFailing output (last 20 lines):\n");
        text.push_str(&check.log_tail);
    }
    Some(nudge(
        pr,
        NudgeKind::Ci,
        ci_key(pr.url(), &check.name),
        format!("{head}:{}", check.log_hash),
        head,
        &text,
    ))
}

/// Unresolved non-bot comments in unresolved non-bot threads, in stored order.
fn open_review_comments(pr: &PrDetail) -> Vec<&PrCommentRow> {
    let threads: HashMap<&str, (bool, bool)> = pr
        .threads
        .iter()
        .map(|t| (t.thread_id.as_str(), (t.resolved, t.is_bot)))
        .collect();
    pr.comments
        .iter()
        .filter(|c| !c.resolved && !c.is_bot)
        .filter(|c| threads.get(c.thread_id.as_str()) == Some(&(false, false)))
        .collect()
}

fn review_condition(pr: &PrDetail) -> bool {
    pr.facts.review_decision == ReviewDecision::ChangesRequested
        || !open_review_comments(pr).is_empty()
}

fn review_candidate(pr: &PrDetail, hits: &mut Vec<BudgetHit>) -> Option<Nudge> {
    if !review_condition(pr) {
        return None;
    }
    let comments = open_review_comments(pr);
    let signature = if comments.is_empty() {
        CHANGES_REQUESTED_SIGNATURE.to_owned()
    } else {
        let mut ids: Vec<&str> = comments.iter().map(|c| c.comment_id.as_str()).collect();
        ids.sort_unstable();
        ids.join(",")
    };
    let key = review_key(pr.url());
    if !deliverable(pr, &key, &signature, "", hits) {
        return None;
    }
    let mut text = format!(
        "[AO] A reviewer left feedback on your PR {}. Address it, push, and reply on the threads.",
        pr.url()
    );
    for c in comments.iter().take(MAX_REVIEW_ITEMS) {
        let mut location = c.file.clone();
        if let Some(line) = c.line {
            let _ = write!(location, ":{line}");
        }
        text.push_str("\n- ");
        if !location.is_empty() {
            text.push_str(&location);
            text.push(' ');
        }
        let _ = write!(text, "(@{}): {}", c.author, one_line_body(&c.body));
        if !c.url.is_empty() {
            text.push_str("\n  ");
            text.push_str(&c.url);
        }
    }
    if comments.len() > MAX_REVIEW_ITEMS {
        let _ = write!(text, "\n(+{} more)", comments.len() - MAX_REVIEW_ITEMS);
    }
    Some(nudge(pr, NudgeKind::Review, key, signature, "", &text))
}

/// A comment body on one line (whitespace runs collapsed), at most
/// [`MAX_REVIEW_BODY_CHARS`] chars.
fn one_line_body(body: &str) -> String {
    let flat = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= MAX_REVIEW_BODY_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_REVIEW_BODY_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// sessions.md §15: an open PR whose target branch is another open PR's source branch.
fn is_stacked(pr: &PrDetail, all: &[PrDetail]) -> bool {
    all.iter().any(|other| {
        other.is_open()
            && other.url() != pr.url()
            && !other.facts.source_branch.is_empty()
            && other.facts.source_branch == pr.facts.target_branch
    })
}

fn conflict_candidate(pr: &PrDetail, all: &[PrDetail], hits: &mut Vec<BudgetHit>) -> Option<Nudge> {
    if pr.facts.mergeability != Mergeability::Conflicting || is_stacked(pr, all) {
        return None;
    }
    let head = pr.facts.head_sha.as_str();
    let key = conflict_key(pr.url());
    let signature = format!("{head}:{}", pr.facts.base_sha);
    if !deliverable(pr, &key, &signature, head, hits) {
        return None;
    }
    let target = &pr.facts.target_branch;
    let text = format!(
        "[AO] Your PR {} has merge conflicts with {target}. Update your branch with the latest \
         {target}, resolve the conflicts and push.",
        pr.url()
    );
    Some(nudge(pr, NudgeKind::Conflict, key, signature, head, &text))
}

/// Sanitises like a send and cuts to [`MESSAGE_MAX_BYTES`] on a char boundary.
fn finish(text: &str) -> String {
    let clean = sanitize_message(text);
    if clean.len() <= MESSAGE_MAX_BYTES {
        return clean;
    }
    let mut end = MESSAGE_MAX_BYTES;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].trim_end().to_owned()
}

#[cfg(test)]
mod tests;
