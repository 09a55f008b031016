//! The pure decisions of one PR-observer poll (scm.md §4): branch ownership of discovered
//! PRs (step 3), refresh candidates (step 4, plus the periodic full refresh of
//! [`full_refresh_due`] and the base-guard triggers of [`base_triggered`]) and when review
//! threads are due (step 7).
//!
//! No I/O and no clock: the observer passes `now` in, so every rule is unit-tested.

use std::collections::BTreeSet;
use std::time::Duration;

use ao_protocol::{PrState, ReviewDecision, SessionId};
use ao_store::PrObserved;
use chrono::{DateTime, Utc};

use super::budget::ReviewPolicy;

/// A live observed session's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBranch {
    pub session: SessionId,
    pub num: u32,
    pub branch: String,
}

/// How specifically branch `b` owns head ref `head` (the length of the matched prefix), or
/// `None` when it does not: `head == b`, `head` starts with `b/`, or `b` ends in `/root` and
/// `head` starts with `<b without "/root">/`.
pub fn owns(b: &str, head: &str) -> Option<usize> {
    if b.is_empty() {
        return None;
    }
    if head == b
        || head
            .strip_prefix(b)
            .is_some_and(|rest| rest.starts_with('/'))
    {
        return Some(b.len());
    }
    let base = b.strip_suffix("/root").filter(|base| !base.is_empty())?;
    head.strip_prefix(base)
        .is_some_and(|rest| rest.starts_with('/'))
        .then_some(base.len())
}

/// The owner of a discovered PR's head ref: the longest owning branch wins, a tie goes to
/// the lowest session number.
pub fn owner_of<'a>(head: &str, branches: &'a [SessionBranch]) -> Option<&'a SessionBranch> {
    branches
        .iter()
        .filter_map(|s| owns(&s.branch, head).map(|len| (len, s)))
        .min_by(|(la, a), (lb, b)| lb.cmp(la).then(a.num.cmp(&b.num)))
        .map(|(_, s)| s)
}

/// Whether a stored PR is a refresh subject: `open`/`draft` and owned by a live observed
/// session.
pub fn is_subject(pr: &PrObserved, live: &[SessionBranch]) -> bool {
    matches!(pr.state, PrState::Open | PrState::Draft)
        && live.iter().any(|s| s.session == pr.session_id)
}

/// What the observer remembers about a PR's last review-thread fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewMemo {
    pub at: DateTime<Utc>,
    pub failed: bool,
}

/// Step 7: are review threads due? `new_decision` is `None` before the facts are fetched (the
/// candidate check) and the fetched decision after. `last` is the observer's memo, else the
/// stored `review_observed_at`.
pub fn review_due(
    pr: &PrObserved,
    memo: Option<&ReviewMemo>,
    new_decision: Option<ReviewDecision>,
    now: DateTime<Utc>,
    refresh: Duration,
    policy: ReviewPolicy,
) -> bool {
    let decision = new_decision.unwrap_or(pr.review_decision);
    if policy == ReviewPolicy::ChangesRequestedOnly && decision != ReviewDecision::ChangesRequested
    {
        return false;
    }
    let failed_before = memo.is_some_and(|m| m.failed);
    let last = memo.map(|m| m.at).or_else(|| {
        pr.review_observed_at
            .as_deref()
            .and_then(ao_protocol::time::parse)
    });
    let stale = last.is_none_or(|at| {
        chrono::Duration::from_std(refresh).is_ok_and(|refresh| now - at >= refresh)
    });
    failed_before
        || pr.hashes.review.is_empty()
        || new_decision.is_some_and(|d| d != pr.review_decision)
        || (decision == ReviewDecision::ChangesRequested && stale)
}

/// Is the periodic full refresh of a repo due? `last` is the start of the repo's last fully
/// successful full refresh (`None` before the first one: the first poll of an observer is
/// always full). The guards only see the first page of a listing, so a change to an older PR
/// or check run can hide behind a 304; every `period` all subjects are refreshed anyway.
pub fn full_refresh_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, period: Duration) -> bool {
    last.is_none_or(|at| chrono::Duration::from_std(period).is_ok_and(|p| now - at >= p))
}

/// Step 4: is a subject a refresh candidate? `full_refresh` is [`full_refresh_due`].
// Five independent triggers of one rule; a struct of bools would only move the lint.
#[allow(clippy::fn_params_excessive_bools)]
pub fn is_candidate(
    pr: &PrObserved,
    guard_changed: bool,
    check_changed: bool,
    review_due: bool,
    full_refresh: bool,
) -> bool {
    pr.head_sha.is_empty()
        || pr.hashes.metadata.is_empty()
        || pr.hashes.ci.is_empty()
        || guard_changed
        || check_changed
        || review_due
        || full_refresh
}

/// Extra refreshes granted to a PR whose raw `mergeable` stays `UNKNOWN` for one head/base
/// pair (GitHub computes mergeability lazily, after being asked).
pub const MERGEABLE_RETRIES: u32 = 5;

/// The facts [`BaseMemo::observe`] reads (`target_branch`, `head_sha`, `base_sha`,
/// `provider_mergeable` of a fetched `PrFacts`).
#[derive(Debug, Clone, Copy)]
pub struct Fetched<'a> {
    pub base_ref: &'a str,
    pub head_sha: &'a str,
    pub base_sha: &'a str,
    pub mergeable: &'a str,
}

/// What the observer remembers of a subject's last fetched facts, for the base guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseMemo {
    /// The base branch (`baseRefName`).
    pub base_ref: String,
    pub head_sha: String,
    /// `baseRefOid` as GitHub reported it.
    pub base_sha: String,
    /// Consecutive fetches that found `mergeable = UNKNOWN` for this head/base pair (0: GitHub
    /// has an answer).
    pub unknown_streak: u32,
}

impl BaseMemo {
    /// The memo after fetching facts (`fetched.mergeable` is the raw `mergeable`);
    /// `previous` is the memo before. The `UNKNOWN` streak restarts when the head or the base
    /// commit changed.
    pub fn observe(previous: Option<&BaseMemo>, fetched: Fetched<'_>) -> Self {
        let same_pair = previous
            .is_some_and(|m| m.head_sha == fetched.head_sha && m.base_sha == fetched.base_sha);
        let unknown_streak = if fetched.mergeable == "UNKNOWN" {
            previous
                .filter(|_| same_pair)
                .map_or(1, |m| m.unknown_streak.saturating_add(1))
        } else {
            0
        };
        Self {
            base_ref: fetched.base_ref.to_string(),
            head_sha: fetched.head_sha.to_string(),
            base_sha: fetched.base_sha.to_string(),
            unknown_streak,
        }
    }

    /// GitHub was still computing the mergeability at the last fetch, and the pair has
    /// refreshes left.
    pub fn mergeable_pending(&self) -> bool {
        (1..=MERGEABLE_RETRIES).contains(&self.unknown_streak)
    }
}

/// Base-guard triggers (not in the spec; see the observer's "Base guard"): is a subject a
/// refresh candidate because of its base? `memo` is the observer's memo of the subject
/// (`None`: never fetched by this observer, so its base is unknown); `moved_bases` are the
/// bases whose guard answered "changed" in this poll.
pub fn base_triggered(memo: Option<&BaseMemo>, moved_bases: &BTreeSet<String>) -> bool {
    memo.is_none_or(|m| m.mergeable_pending() || moved_bases.contains(&m.base_ref))
}

#[cfg(test)]
mod tests {
    use ao_store::AckedHashes;

    use super::*;

    fn sb(num: u32, branch: &str) -> SessionBranch {
        SessionBranch {
            session: SessionId::parse(format!("app-{num}")).expect("valid id"),
            num,
            branch: branch.to_string(),
        }
    }

    fn pr(decision: ReviewDecision, review_hash: &str, observed: Option<&str>) -> PrObserved {
        PrObserved {
            url: "https://github.com/o/r/pull/1".into(),
            session_id: SessionId::parse("app-1").expect("valid id"),
            number: 1,
            state: PrState::Open,
            source_branch: "feat".into(),
            head_sha: "abc".into(),
            review_decision: decision,
            hashes: AckedHashes {
                metadata: "m".into(),
                ci: "c".into(),
                review: review_hash.into(),
                review_partial: false,
            },
            observed_at: None,
            ci_observed_at: None,
            review_observed_at: observed.map(str::to_string),
        }
    }

    #[test]
    fn ownership_rules() {
        assert_eq!(owns("feat", "feat"), Some(4));
        assert_eq!(owns("feat", "feat/x"), Some(4));
        assert_eq!(owns("feat", "feature"), None);
        assert_eq!(owns("feat", "fea"), None);
        assert_eq!(owns("a/root", "a/x"), Some(1));
        assert_eq!(owns("a/root", "a/root"), Some(6));
        assert_eq!(owns("a/root", "a"), None);
        assert_eq!(owns("a/root", "ab/x"), None);
        assert_eq!(owns("/root", "x"), None);
        assert_eq!(owns("", "x"), None);
    }

    #[test]
    fn longest_owner_wins_and_ties_go_to_lowest_num() {
        let branches = vec![sb(3, "feat"), sb(2, "feat/x"), sb(1, "feat/root")];
        assert_eq!(owner_of("feat/x/y", &branches).map(|s| s.num), Some(2));
        // `feat` (exact prefix, 4) and `feat/root` (root rule, 4) tie: lowest num.
        assert_eq!(owner_of("feat/z", &branches).map(|s| s.num), Some(1));
        assert_eq!(owner_of("feat", &branches).map(|s| s.num), Some(3));
        assert_eq!(owner_of("main", &branches), None);
        let tie = vec![sb(7, "fix"), sb(4, "fix")];
        assert_eq!(owner_of("fix/1", &tie).map(|s| s.num), Some(4));
    }

    #[test]
    fn candidates() {
        let p = pr(ReviewDecision::None, "r", None);
        assert!(!is_candidate(&p, false, false, false, false));
        assert!(is_candidate(&p, true, false, false, false));
        assert!(is_candidate(&p, false, true, false, false));
        assert!(is_candidate(&p, false, false, true, false));
        assert!(is_candidate(&p, false, false, false, true));
        let mut missing = p.clone();
        missing.head_sha.clear();
        assert!(is_candidate(&missing, false, false, false, false));
        let mut unacked = p.clone();
        unacked.hashes.ci.clear();
        assert!(is_candidate(&unacked, false, false, false, false));
        let mut closed = p.clone();
        closed.state = PrState::Merged;
        assert!(!is_subject(&closed, &[sb(1, "feat")]));
        assert!(is_subject(&p, &[sb(1, "feat")]));
        assert!(!is_subject(&p, &[sb(2, "feat")]));
    }

    #[test]
    fn full_refresh_makes_every_subject_a_candidate_after_the_period() {
        let five_min = Duration::from_secs(300);
        let last = ao_protocol::time::parse("2026-01-01T00:00:00.000Z").expect("valid time");
        let at = |s: &str| ao_protocol::time::parse(s).expect("valid time");
        // The first poll of an observer is a full refresh.
        assert!(full_refresh_due(None, last, five_min));
        // Within the period: a settled subject with unchanged guards is not refreshed.
        let early = at("2026-01-01T00:04:59.999Z");
        let p = pr(ReviewDecision::None, "r", None);
        let due = full_refresh_due(Some(last), early, five_min);
        assert!(!due);
        assert!(!is_candidate(&p, false, false, false, due));
        // Once the period has passed it is, although no guard changed.
        let late = at("2026-01-01T00:05:00.000Z");
        let due = full_refresh_due(Some(last), late, five_min);
        assert!(due);
        assert!(is_candidate(&p, false, false, false, due));
    }

    fn facts<'a>(head: &'a str, base: &'a str, mergeable: &'a str) -> Fetched<'a> {
        Fetched {
            base_ref: "main",
            head_sha: head,
            base_sha: base,
            mergeable,
        }
    }

    #[test]
    fn unknown_mergeability_is_retried_a_bounded_number_of_times_per_pair() {
        let mut memo = BaseMemo::observe(None, facts("h1", "b1", "UNKNOWN"));
        assert_eq!(memo.base_ref, "main");
        let mut retries = 0;
        while memo.mergeable_pending() {
            retries += 1;
            memo = BaseMemo::observe(Some(&memo), facts("h1", "b1", "UNKNOWN"));
        }
        assert_eq!(retries, MERGEABLE_RETRIES);
        assert!(!base_triggered(Some(&memo), &BTreeSet::new()));
        // A new base (or head) commit restarts the budget; an answer ends the streak.
        let moved = BaseMemo::observe(Some(&memo), facts("h1", "b2", "UNKNOWN"));
        assert_eq!(moved.unknown_streak, 1);
        assert!(base_triggered(Some(&moved), &BTreeSet::new()));
        let pushed = BaseMemo::observe(Some(&memo), facts("h2", "b1", "UNKNOWN"));
        assert_eq!(pushed.unknown_streak, 1);
        let known = BaseMemo::observe(Some(&moved), facts("h1", "b2", "CONFLICTING"));
        assert_eq!(known.unknown_streak, 0);
        assert!(!known.mergeable_pending());
    }

    #[test]
    fn a_moved_base_or_an_unknown_one_makes_a_candidate() {
        let memo = BaseMemo::observe(None, facts("h", "b", "MERGEABLE"));
        let none = BTreeSet::new();
        assert!(!base_triggered(Some(&memo), &none));
        assert!(base_triggered(
            Some(&memo),
            &BTreeSet::from(["main".to_string()])
        ));
        assert!(!base_triggered(
            Some(&memo),
            &BTreeSet::from(["release".to_string()])
        ));
        assert!(base_triggered(None, &none), "never fetched: base unknown");
    }

    #[test]
    fn review_schedule() {
        let now = ao_protocol::time::parse("2026-01-01T00:10:00.000Z").expect("valid time");
        let two_min = Duration::from_secs(120);
        let all = ReviewPolicy::All;
        // No review hash stored → due.
        let p = pr(ReviewDecision::None, "", None);
        assert!(review_due(&p, None, None, now, two_min, all));
        // Stored hash, no decision change → not due.
        let p = pr(
            ReviewDecision::Approved,
            "r",
            Some("2026-01-01T00:00:00.000Z"),
        );
        assert!(!review_due(&p, None, None, now, two_min, all));
        // Decision changed (including leaving changes_requested) → due.
        assert!(review_due(
            &p,
            None,
            Some(ReviewDecision::ChangesRequested),
            now,
            two_min,
            all
        ));
        let cr = pr(
            ReviewDecision::ChangesRequested,
            "r",
            Some("2026-01-01T00:09:00.000Z"),
        );
        assert!(review_due(
            &cr,
            None,
            Some(ReviewDecision::Approved),
            now,
            two_min,
            all
        ));
        // changes_requested: every 2 min since the last fetch.
        assert!(!review_due(&cr, None, None, now, two_min, all));
        let old = pr(
            ReviewDecision::ChangesRequested,
            "r",
            Some("2026-01-01T00:07:59.000Z"),
        );
        assert!(review_due(&old, None, None, now, two_min, all));
        // The memo wins over the stored time; a failed fetch is retried.
        let memo = ReviewMemo {
            at: now,
            failed: false,
        };
        assert!(!review_due(&old, Some(&memo), None, now, two_min, all));
        let failed = ReviewMemo {
            at: now,
            failed: true,
        };
        assert!(review_due(&p, Some(&failed), None, now, two_min, all));
        // Throttled: only changes_requested PRs.
        let only = ReviewPolicy::ChangesRequestedOnly;
        let fresh = pr(ReviewDecision::None, "", None);
        assert!(!review_due(&fresh, None, None, now, two_min, only));
        assert!(review_due(&old, None, None, now, two_min, only));
    }
}
