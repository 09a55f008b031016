//! The `PrSummary` read model of `GET /sessions/{id}/pr` (scm.md §12), built from the store's
//! [`PrDetail`] rows.
//!
//! Rules:
//! * Open and draft PRs come first, then the newest by `created_at_provider` (then the highest
//!   number, so the order is total).
//! * `ci.failingChecks` is non-empty only for open PRs whose CI state is `failing`, and lists
//!   only `failed`/`cancelled` checks whose commit equals `headSha`.
//! * `review.unresolvedBy` covers open PRs only: unresolved comments by humans (neither the
//!   comment nor its thread by a bot), grouped by author and sorted by login.
//! * `mergeability.reasons` is non-empty only for open PRs that are `conflicting`, `blocked` or
//!   `unstable`.
//! * Log tails and comment bodies are never copied.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ao_protocol::{
    CheckStatus, CiState, FailingCheck, LastNudgeView, Mergeability, PrCiSummary,
    PrMergeabilitySummary, PrReviewSummary, PrSummary, ReviewLink, UnresolvedBy,
};
use ao_store::PrDetail;

/// The summaries of a session's PRs, in the order of scm.md §12.
pub fn summaries(details: &[PrDetail]) -> Vec<PrSummary> {
    let mut sorted: Vec<&PrDetail> = details.iter().collect();
    sorted.sort_by(|a, b| order(a, b));
    sorted.into_iter().map(summary).collect()
}

/// Open/draft first, then newest `created_at_provider`, then highest number.
fn order(a: &PrDetail, b: &PrDetail) -> Ordering {
    let created = |p: &PrDetail| {
        p.facts
            .created_at_provider
            .as_deref()
            .and_then(ao_protocol::time::parse)
    };
    b.is_open()
        .cmp(&a.is_open())
        .then_with(|| created(b).cmp(&created(a)))
        .then_with(|| b.facts.number.cmp(&a.facts.number))
}

/// One PR's summary.
pub fn summary(d: &PrDetail) -> PrSummary {
    let f = &d.facts;
    let open = d.is_open();
    let failing_checks = if open && f.ci_state == CiState::Failing {
        d.checks
            .iter()
            .filter(|c| {
                c.commit_sha == f.head_sha
                    && matches!(c.status, CheckStatus::Failed | CheckStatus::Cancelled)
            })
            .map(|c| FailingCheck {
                name: c.name.clone(),
                status: c.status,
                conclusion: c.conclusion.clone(),
                url: c.url.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let human_unresolved = |c: &&ao_store::PrCommentRow| {
        !c.resolved && !c.is_bot && !d.thread(&c.thread_id).is_some_and(|t| t.is_bot)
    };
    let has_unresolved_human_comments = d.comments.iter().any(|c| !c.resolved && !c.is_bot);
    let mut by: BTreeMap<&str, Vec<ReviewLink>> = BTreeMap::new();
    if open {
        for c in d.comments.iter().filter(human_unresolved) {
            by.entry(c.author.as_str()).or_default().push(ReviewLink {
                url: c.url.clone(),
                file: c.file.clone(),
                line: c.line,
            });
        }
    }
    let unresolved_by = by
        .into_iter()
        .map(|(reviewer, links)| UnresolvedBy {
            reviewer: reviewer.to_string(),
            count: links.len() as u64,
            links,
        })
        .collect();
    let reasons = if open
        && matches!(
            f.mergeability,
            Mergeability::Conflicting | Mergeability::Blocked | Mergeability::Unstable
        ) {
        f.mergeability_reasons.clone()
    } else {
        Vec::new()
    };
    PrSummary {
        url: f.url.clone(),
        html_url: f.html_url.clone(),
        number: f.number,
        title: f.title.clone(),
        state: f.state,
        provider: if d.provider.is_empty() {
            "github".to_string()
        } else {
            d.provider.clone()
        },
        repo: f.repo.clone(),
        author: f.author.clone(),
        source_branch: f.source_branch.clone(),
        target_branch: f.target_branch.clone(),
        head_sha: f.head_sha.clone(),
        additions: f.additions,
        deletions: f.deletions,
        changed_files: f.changed_files,
        ci: PrCiSummary {
            state: f.ci_state,
            failing_checks,
        },
        review: PrReviewSummary {
            decision: f.review_decision,
            has_unresolved_human_comments,
            unresolved_by,
        },
        mergeability: PrMergeabilitySummary {
            state: f.mergeability,
            reasons,
        },
        last_nudge: d.last_nudge.as_ref().map(|n| LastNudgeView {
            at: n.at.clone(),
            kind: n.kind,
            key: n.key.clone(),
        }),
        updated_at: d.updated_at.clone(),
        observed_at: d.observed_at.clone(),
        ci_observed_at: d.ci_observed_at.clone(),
        review_observed_at: d.review_observed_at.clone(),
    }
}
