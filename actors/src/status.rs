//! Display status derivation (sessions.md §15): a pure function of stored facts, run at read
//! time and never stored.
//!
//! [`derive()`] applies the session rules in order (first match wins):
//! 1. terminated → `merged` if any PR merged, else `terminated`;
//! 2. `waiting_input` → `needs_input`;
//! 3. any open PR (`open` or `draft`) → the worst-wins PR aggregate ([`aggregate`]);
//! 4. any merged PR → `merged`;
//! 5. `active` → `working`;
//! 6. signal-capable harness, no first signal, and idle for more than 90 s → `no_signal`;
//! 7. otherwise `idle`.
//!
//! [`pr_status`] gives one PR's status; [`aggregate`] combines the open PRs of a session,
//! letting a *blocked* (stacked) PR, whose target branch is another open PR's source branch,
//! contribute only `ci_failed`, `draft` or `changes_requested`.

use ao_protocol::{ActivityState, CiState, DisplayStatus, Mergeability, PrState, ReviewDecision};
use ao_store::{PrRow, SessionRow};
use chrono::{DateTime, Utc};

/// A session whose agent never reported is `no_signal` after this long (rule 6).
pub const NO_SIGNAL_AFTER_SECS: i64 = 90;

/// The display status of a session given every PR of it (any state) and the current time.
pub fn derive(s: &SessionRow, prs: &[PrRow], now: DateTime<Utc>) -> DisplayStatus {
    let any_merged = prs.iter().any(|p| p.pr_state == PrState::Merged);
    if s.is_terminated {
        return if any_merged {
            DisplayStatus::Merged
        } else {
            DisplayStatus::Terminated
        };
    }
    if s.activity_state == ActivityState::WaitingInput {
        return DisplayStatus::NeedsInput;
    }
    let open: Vec<&PrRow> = prs.iter().filter(|p| is_open(p)).collect();
    if let Some(status) = aggregate(&open) {
        return status;
    }
    if any_merged {
        return DisplayStatus::Merged;
    }
    if s.activity_state == ActivityState::Active {
        return DisplayStatus::Working;
    }
    // An unknown harness (written by a newer version) counts as signal-capable, as every
    // harness but `kimi` and `command` is.
    let signal_capable = s
        .harness_kind()
        .is_none_or(ao_protocol::Harness::signal_capable);
    if signal_capable
        && s.first_signal_at.is_none()
        && ao_protocol::time::parse(&s.activity_last_at)
            .is_some_and(|t| (now - t).num_seconds() > NO_SIGNAL_AFTER_SECS)
    {
        return DisplayStatus::NoSignal;
    }
    DisplayStatus::Idle
}

/// Whether a PR is open (`open` or `draft`).
pub fn is_open(pr: &PrRow) -> bool {
    matches!(pr.pr_state, PrState::Open | PrState::Draft)
}

/// The status of one PR (the per-PR rules; first match wins).
pub fn pr_status(pr: &PrRow) -> DisplayStatus {
    if pr.ci_state == CiState::Failing {
        DisplayStatus::CiFailed
    } else if pr.pr_state == PrState::Draft {
        DisplayStatus::Draft
    } else if pr.review_decision == ReviewDecision::ChangesRequested
        || pr.has_unresolved_human_comment
    {
        DisplayStatus::ChangesRequested
    } else if pr.mergeability == Mergeability::Mergeable {
        DisplayStatus::Mergeable
    } else if pr.review_decision == ReviewDecision::Approved {
        DisplayStatus::Approved
    } else if pr.review_decision == ReviewDecision::ReviewRequired {
        DisplayStatus::ReviewPending
    } else {
        DisplayStatus::PrOpen
    }
}

/// Severity rank of a PR status: lower is more severe. Non-PR statuses rank last.
pub fn severity(status: DisplayStatus) -> u8 {
    match status {
        DisplayStatus::CiFailed => 0,
        DisplayStatus::ChangesRequested => 1,
        DisplayStatus::Draft => 2,
        DisplayStatus::ReviewPending => 3,
        DisplayStatus::PrOpen => 4,
        DisplayStatus::Approved => 5,
        DisplayStatus::Mergeable => 6,
        _ => u8::MAX,
    }
}

/// Whether `pr` is stacked on another open PR of the same session.
fn is_blocked(pr: &PrRow, open: &[&PrRow]) -> bool {
    !pr.target_branch.is_empty()
        && open
            .iter()
            .any(|o| o.url != pr.url && o.source_branch == pr.target_branch)
}

/// The worst-wins aggregate of a session's open PRs; `None` when there are none.
pub fn aggregate(open: &[&PrRow]) -> Option<DisplayStatus> {
    let all: Vec<(DisplayStatus, bool)> = open
        .iter()
        .map(|p| (pr_status(p), is_blocked(p, open)))
        .collect();
    let contributing = all.iter().filter(|(status, blocked)| {
        !blocked
            || matches!(
                status,
                DisplayStatus::CiFailed | DisplayStatus::Draft | DisplayStatus::ChangesRequested
            )
    });
    let worst = contributing.map(|(s, _)| *s).min_by_key(|s| severity(*s));
    worst.or_else(|| all.iter().map(|(s, _)| *s).min_by_key(|s| severity(*s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_protocol::{ProjectId, RuntimeKind, SessionId, SessionKind};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    fn ago(secs: i64) -> String {
        ao_protocol::time::format(now() - chrono::Duration::seconds(secs))
    }

    fn session() -> SessionRow {
        let project = ProjectId::new("demo").expect("valid id");
        SessionRow {
            id: SessionId::new(&project, 1),
            project_id: project,
            num: 1,
            kind: SessionKind::Worker,
            harness: "claude-code".into(),
            issue_id: String::new(),
            display_name: String::new(),
            branch: "ao/demo-1".into(),
            workspace_path: "/tmp/w".into(),
            runtime: RuntimeKind::Tmux,
            runtime_handle_id: "ao-demo-1".into(),
            agent_session_id: String::new(),
            prompt: String::new(),
            launch_command: String::new(),
            activity_state: ActivityState::Idle,
            activity_last_at: ago(10),
            first_signal_at: Some(ago(5)),
            is_terminated: false,
            terminated_at: None,
            terminated_reason: None,
            exit_code: None,
            restarts: 0,
            last_restart_at: None,
            created_at: ago(100),
            updated_at: ago(10),
        }
    }

    fn pr(n: u64) -> PrRow {
        PrRow {
            url: format!("https://github.com/o/r/pull/{n}"),
            session_id: session().id,
            number: n,
            title: format!("PR {n}"),
            pr_state: PrState::Open,
            ci_state: CiState::Passing,
            review_decision: ReviewDecision::None,
            mergeability: Mergeability::Unknown,
            source_branch: format!("feature-{n}"),
            target_branch: "main".into(),
            updated_at: ago(1),
            has_unresolved_human_comment: false,
        }
    }

    fn with(f: impl FnOnce(&mut PrRow), n: u64) -> PrRow {
        let mut p = pr(n);
        f(&mut p);
        p
    }

    #[test]
    fn session_rules_in_order() {
        use DisplayStatus as D;
        let merged = with(|p| p.pr_state = PrState::Merged, 1);
        let closed = with(|p| p.pr_state = PrState::Closed, 2);
        let open = pr(3);

        let terminated = SessionRow {
            is_terminated: true,
            ..session()
        };
        let waiting = SessionRow {
            activity_state: ActivityState::WaitingInput,
            ..session()
        };
        let active = SessionRow {
            activity_state: ActivityState::Active,
            ..session()
        };
        let silent = SessionRow {
            first_signal_at: None,
            activity_last_at: ago(91),
            ..session()
        };

        let cases: Vec<(&str, SessionRow, Vec<PrRow>, D)> = vec![
            (
                "1 terminated with a merged PR",
                terminated.clone(),
                vec![merged.clone(), open.clone()],
                D::Merged,
            ),
            (
                "1 terminated",
                terminated.clone(),
                vec![closed.clone(), open.clone()],
                D::Terminated,
            ),
            (
                "2 waiting input beats PRs",
                waiting.clone(),
                vec![open.clone()],
                D::NeedsInput,
            ),
            (
                "3 open PR beats merged PR",
                active.clone(),
                vec![merged.clone(), open.clone()],
                D::PrOpen,
            ),
            (
                "3 open PR beats no_signal",
                silent.clone(),
                vec![open.clone()],
                D::PrOpen,
            ),
            (
                "4 merged PR",
                active.clone(),
                vec![merged.clone(), closed.clone()],
                D::Merged,
            ),
            ("5 active", active.clone(), vec![closed.clone()], D::Working),
            (
                "6 no signal for > 90 s",
                silent.clone(),
                vec![],
                D::NoSignal,
            ),
            (
                "6 exactly 90 s is not yet no_signal",
                SessionRow {
                    activity_last_at: ago(90),
                    ..silent.clone()
                },
                vec![],
                D::Idle,
            ),
            (
                "6 a signal was seen",
                SessionRow {
                    first_signal_at: Some(ago(1)),
                    ..silent.clone()
                },
                vec![],
                D::Idle,
            ),
            (
                "6 hook-less harness never shows no_signal",
                SessionRow {
                    harness: "kimi".into(),
                    ..silent.clone()
                },
                vec![],
                D::Idle,
            ),
            (
                "6 command harness never shows no_signal",
                SessionRow {
                    harness: "command".into(),
                    ..silent.clone()
                },
                vec![],
                D::Idle,
            ),
            (
                "6 unknown harness counts as signal-capable",
                SessionRow {
                    harness: "future-agent".into(),
                    ..silent.clone()
                },
                vec![],
                D::NoSignal,
            ),
            (
                "6 unreadable timestamp",
                SessionRow {
                    activity_last_at: "garbage".into(),
                    ..silent.clone()
                },
                vec![],
                D::Idle,
            ),
            ("7 idle", session(), vec![], D::Idle),
            ("7 closed PRs are ignored", session(), vec![closed], D::Idle),
        ];
        for (name, s, prs, want) in cases {
            assert_eq!(derive(&s, &prs, now()), want, "{name}");
        }
    }

    #[test]
    fn per_pr_rules_in_order() {
        use DisplayStatus as D;
        let cases: Vec<(&str, PrRow, D)> = vec![
            (
                "ci failing beats everything",
                with(
                    |p| {
                        p.ci_state = CiState::Failing;
                        p.pr_state = PrState::Draft;
                        p.review_decision = ReviewDecision::ChangesRequested;
                    },
                    1,
                ),
                D::CiFailed,
            ),
            (
                "draft",
                with(
                    |p| {
                        p.pr_state = PrState::Draft;
                        p.review_decision = ReviewDecision::ChangesRequested;
                    },
                    1,
                ),
                D::Draft,
            ),
            (
                "changes requested",
                with(
                    |p| {
                        p.review_decision = ReviewDecision::ChangesRequested;
                        p.mergeability = Mergeability::Mergeable;
                    },
                    1,
                ),
                D::ChangesRequested,
            ),
            (
                "unresolved non-bot comment",
                with(
                    |p| {
                        p.has_unresolved_human_comment = true;
                        p.review_decision = ReviewDecision::Approved;
                    },
                    1,
                ),
                D::ChangesRequested,
            ),
            (
                "mergeable beats approved",
                with(
                    |p| {
                        p.mergeability = Mergeability::Mergeable;
                        p.review_decision = ReviewDecision::Approved;
                    },
                    1,
                ),
                D::Mergeable,
            ),
            (
                "approved",
                with(
                    |p| {
                        p.review_decision = ReviewDecision::Approved;
                        p.mergeability = Mergeability::Blocked;
                    },
                    1,
                ),
                D::Approved,
            ),
            (
                "review required",
                with(|p| p.review_decision = ReviewDecision::ReviewRequired, 1),
                D::ReviewPending,
            ),
            (
                "otherwise pr_open",
                with(|p| p.ci_state = CiState::Pending, 1),
                D::PrOpen,
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(pr_status(&p), want, "{name}");
        }
    }

    #[test]
    fn aggregate_worst_wins_in_severity_order() {
        use DisplayStatus as D;
        let order = [
            D::CiFailed,
            D::ChangesRequested,
            D::Draft,
            D::ReviewPending,
            D::PrOpen,
            D::Approved,
            D::Mergeable,
        ];
        for pair in order.windows(2) {
            assert!(severity(pair[0]) < severity(pair[1]), "{pair:?}");
        }
        let mergeable = with(|p| p.mergeability = Mergeability::Mergeable, 1);
        let approved = with(|p| p.review_decision = ReviewDecision::Approved, 2);
        let pending = with(|p| p.review_decision = ReviewDecision::ReviewRequired, 3);
        let draft = with(|p| p.pr_state = PrState::Draft, 4);
        let commented = with(|p| p.has_unresolved_human_comment = true, 5);
        let failing = with(|p| p.ci_state = CiState::Failing, 6);
        let s = session();
        let status = |prs: Vec<PrRow>| derive(&s, &prs, now());
        assert_eq!(
            status(vec![mergeable.clone(), approved.clone()]),
            D::Approved
        );
        assert_eq!(status(vec![mergeable.clone(), pr(9)]), D::PrOpen);
        assert_eq!(
            status(vec![approved.clone(), pending.clone()]),
            D::ReviewPending
        );
        assert_eq!(status(vec![pending.clone(), draft.clone()]), D::Draft);
        assert_eq!(
            status(vec![draft.clone(), commented.clone()]),
            D::ChangesRequested
        );
        assert_eq!(status(vec![commented, failing, mergeable]), D::CiFailed);
    }

    #[test]
    fn blocked_prs_contribute_only_failures_drafts_and_change_requests() {
        use DisplayStatus as D;
        let s = session();
        // Base PR feature-1 -> main is mergeable; PR 2 is stacked on it (targets feature-1).
        let base = with(|p| p.mergeability = Mergeability::Mergeable, 1);
        let stacked_pending = with(
            |p| {
                p.target_branch = "feature-1".into();
                p.review_decision = ReviewDecision::ReviewRequired;
            },
            2,
        );
        assert_eq!(
            derive(&s, &[base.clone(), stacked_pending], now()),
            D::Mergeable,
            "a blocked review_pending does not contribute"
        );
        let stacked_failing = with(
            |p| {
                p.target_branch = "feature-1".into();
                p.ci_state = CiState::Failing;
            },
            2,
        );
        assert_eq!(
            derive(&s, &[base.clone(), stacked_failing], now()),
            D::CiFailed
        );
        let stacked_draft = with(
            |p| {
                p.target_branch = "feature-1".into();
                p.pr_state = PrState::Draft;
            },
            2,
        );
        assert_eq!(derive(&s, &[base.clone(), stacked_draft], now()), D::Draft);
        let stacked_commented = with(
            |p| {
                p.target_branch = "feature-1".into();
                p.has_unresolved_human_comment = true;
            },
            2,
        );
        assert_eq!(
            derive(&s, &[base.clone(), stacked_commented], now()),
            D::ChangesRequested
        );

        // A merged base no longer blocks: only open PRs stack.
        let merged_base = with(|p| p.pr_state = PrState::Merged, 1);
        let stacked_approved = with(
            |p| {
                p.target_branch = "feature-1".into();
                p.review_decision = ReviewDecision::Approved;
            },
            2,
        );
        assert_eq!(
            derive(&s, &[merged_base, stacked_approved.clone()], now()),
            D::Approved
        );

        // Every open PR blocked (a cycle) and none contributes: all open PRs contribute.
        let a = with(
            |p| {
                p.source_branch = "x".into();
                p.target_branch = "y".into();
                p.review_decision = ReviewDecision::Approved;
            },
            1,
        );
        let b = with(
            |p| {
                p.source_branch = "y".into();
                p.target_branch = "x".into();
                p.review_decision = ReviewDecision::ReviewRequired;
            },
            2,
        );
        assert_eq!(derive(&s, &[a, b], now()), D::ReviewPending);
        assert_eq!(aggregate(&[]), None);
    }
}
