//! GitHub → stored facts, as pure functions (scm.md §5 and §6.2).
//!
//! Every input is a raw GitHub word (`SUCCESS`, `CONFLICTING`, …) compared case-insensitively;
//! unknown words map to the `unknown`/`none` value of the target vocabulary, never to a panic.

use ao_protocol::enums::{CheckStatus, CiState, Mergeability, PrState, ReviewDecision};
use sha2::{Digest, Sha256};

/// Lines kept of a failed job's log.
pub const LOG_TAIL_LINES: usize = 20;
/// Characters kept of each log line.
pub const LOG_LINE_CHARS: usize = 500;

/// `pr_state`: merged, then closed, then draft, else open.
pub fn pr_state(merged: bool, closed: bool, is_draft: bool) -> PrState {
    if merged {
        PrState::Merged
    } else if closed {
        PrState::Closed
    } else if is_draft {
        PrState::Draft
    } else {
        PrState::Open
    }
}

/// `ci_state` from the rollup state (`None` when the commit has no rollup).
pub fn ci_state(rollup: Option<&str>) -> CiState {
    match rollup.map(str::to_ascii_uppercase).as_deref() {
        Some("SUCCESS") => CiState::Passing,
        Some("FAILURE" | "ERROR") => CiState::Failing,
        Some("PENDING" | "EXPECTED") => CiState::Pending,
        _ => CiState::Unknown,
    }
}

/// Check status of a commit `StatusContext` from its `state`.
pub fn status_context_status(state: &str) -> CheckStatus {
    match state.to_ascii_uppercase().as_str() {
        "SUCCESS" => CheckStatus::Passed,
        "FAILURE" | "ERROR" => CheckStatus::Failed,
        "PENDING" | "EXPECTED" => CheckStatus::InProgress,
        _ => CheckStatus::Unknown,
    }
}

/// Check status of a `CheckRun`: by conclusion first, then by status.
pub fn check_run_status(status: &str, conclusion: Option<&str>) -> CheckStatus {
    match conclusion
        .filter(|c| !c.is_empty())
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("SUCCESS" | "NEUTRAL") => return CheckStatus::Passed,
        Some("FAILURE" | "TIMED_OUT" | "ACTION_REQUIRED" | "STARTUP_FAILURE") => {
            return CheckStatus::Failed;
        }
        Some("CANCELLED") => return CheckStatus::Cancelled,
        Some("SKIPPED" | "STALE") => return CheckStatus::Skipped,
        Some(_) => return CheckStatus::Unknown,
        None => {}
    }
    match status.to_ascii_uppercase().as_str() {
        "QUEUED" | "PENDING" | "REQUESTED" | "WAITING" => CheckStatus::Queued,
        "IN_PROGRESS" => CheckStatus::InProgress,
        _ => CheckStatus::Unknown,
    }
}

/// `review_decision` (`None`/unknown → `none`).
pub fn review_decision(raw: Option<&str>) -> ReviewDecision {
    match raw.map(str::to_ascii_uppercase).as_deref() {
        Some("APPROVED") => ReviewDecision::Approved,
        Some("CHANGES_REQUESTED") => ReviewDecision::ChangesRequested,
        Some("REVIEW_REQUIRED") => ReviewDecision::ReviewRequired,
        _ => ReviewDecision::None,
    }
}

/// The fixed order of mergeability reasons.
pub const REASON_ORDER: [&str; 7] = [
    "conflicts",
    "behind_base",
    "draft",
    "ci_failing",
    "changes_requested",
    "review_required",
    "blocked_by_provider",
];

/// `mergeability` and its reasons (sorted in [`REASON_ORDER`]) from the raw `mergeable`
/// (`MERGEABLE`/`CONFLICTING`/`UNKNOWN`) and `mergeStateStatus` values.
pub fn mergeability(
    mergeable: &str,
    merge_state: &str,
    is_draft: bool,
    ci: CiState,
    review: ReviewDecision,
) -> (Mergeability, Vec<String>) {
    let mergeable = mergeable.to_ascii_uppercase();
    let merge_state = merge_state.to_ascii_uppercase();
    let mut reasons: Vec<&str> = Vec::new();
    let state = if merge_state == "DIRTY" || mergeable == "CONFLICTING" {
        reasons.push("conflicts");
        Mergeability::Conflicting
    } else {
        let blockers = [
            (merge_state == "BLOCKED", "blocked_by_provider"),
            (is_draft, "draft"),
            (ci == CiState::Failing, "ci_failing"),
            (
                review == ReviewDecision::ChangesRequested,
                "changes_requested",
            ),
            (review == ReviewDecision::ReviewRequired, "review_required"),
        ];
        reasons.extend(blockers.iter().filter(|(on, _)| *on).map(|(_, r)| *r));
        if !reasons.is_empty() {
            Mergeability::Blocked
        } else if merge_state == "UNSTABLE" {
            Mergeability::Unstable
        } else if mergeable == "MERGEABLE"
            && matches!(merge_state.as_str(), "CLEAN" | "HAS_HOOKS" | "")
            && matches!(review, ReviewDecision::None | ReviewDecision::Approved)
        {
            Mergeability::Mergeable
        } else {
            Mergeability::Unknown
        }
    };
    if merge_state == "BEHIND" {
        reasons.push("behind_base");
    }
    let mut reasons: Vec<String> = REASON_ORDER
        .iter()
        .filter(|r| reasons.contains(r))
        .map(|r| (*r).to_string())
        .collect();
    reasons.dedup();
    (state, reasons)
}

/// Normalises a job log and keeps its tail (scm.md §6.2): BOM, ANSI escapes, leading
/// `2024-01-01T00:00:00.123Z ` timestamps and other control characters are removed (tabs are
/// kept as whitespace), trailing whitespace and trailing empty lines are trimmed, and the last
/// [`LOG_TAIL_LINES`] lines are kept, each cut to [`LOG_LINE_CHARS`] characters.
pub fn log_tail(raw: &str) -> String {
    let text = raw.strip_prefix('\u{feff}').unwrap_or(raw);
    let text = strip_ansi(text);
    let mut lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let line = strip_timestamp(line);
            let clean: String = line
                .chars()
                .filter(|c| *c == '\t' || !(c.is_control() || *c == '\u{feff}'))
                .collect();
            clean.trim_end().to_string()
        })
        .collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..]
        .iter()
        .map(|l| l.chars().take(LOG_LINE_CHARS).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Hex SHA-256 of a normalised tail; `''` for an empty tail.
pub fn log_hash(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(tail.as_bytes()))
    }
}

/// The stored tail of a log that could not be fetched.
pub fn log_unavailable(class: &str) -> String {
    format!("<log unavailable: {class}>")
}

/// Removes ANSI escape sequences: CSI (`ESC [ … final`), OSC (`ESC ] … BEL|ESC \`), other
/// `ESC <char>` pairs, and 8-bit CSI (`U+009B … final`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']') => {
                    // OSC: until BEL or ST (ESC \).
                    while let Some(x) = chars.next() {
                        if x == '\u{7}' {
                            break;
                        }
                        if x == '\u{1b}' {
                            if chars.peek() == Some(&'\\') {
                                chars.next();
                            }
                            break;
                        }
                    }
                }
                // `ESC <intermediates…> <final>`, e.g. `ESC ( B`.
                Some(x) if ('\u{20}'..='\u{2f}').contains(&x) => {
                    while chars
                        .peek()
                        .is_some_and(|y| ('\u{20}'..='\u{2f}').contains(y))
                    {
                        chars.next();
                    }
                    chars.next();
                }
                // Two-character sequence (or a lone ESC at the end).
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            _ => out.push(c),
        }
    }
    out
}

/// Skips CSI parameter/intermediate bytes up to and including the final byte (`@`–`~`).
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&x) = chars.peek() {
        if ('\u{30}'..='\u{3f}').contains(&x) || ('\u{20}'..='\u{2f}').contains(&x) {
            chars.next();
        } else {
            if ('\u{40}'..='\u{7e}').contains(&x) {
                chars.next();
            }
            break;
        }
    }
}

/// Drops a leading `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z ` from a line.
fn strip_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        range
            .clone()
            .all(|i| b.get(i).is_some_and(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return line;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return line;
        }
    }
    if b.get(i) == Some(&b'Z') && b.get(i + 1) == Some(&b' ') {
        &line[i + 2..]
    } else {
        line
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    #[test]
    fn pr_state_table() {
        let table = [
            ((true, true, true), PrState::Merged),
            ((false, true, true), PrState::Closed),
            ((false, false, true), PrState::Draft),
            ((false, false, false), PrState::Open),
        ];
        for ((m, c, d), want) in table {
            assert_eq!(pr_state(m, c, d), want, "{m} {c} {d}");
        }
    }

    #[test]
    fn ci_state_table() {
        let table = [
            (Some("SUCCESS"), CiState::Passing),
            (Some("FAILURE"), CiState::Failing),
            (Some("ERROR"), CiState::Failing),
            (Some("PENDING"), CiState::Pending),
            (Some("EXPECTED"), CiState::Pending),
            (Some("success"), CiState::Passing),
            (Some("WEIRD"), CiState::Unknown),
            (None, CiState::Unknown),
        ];
        for (raw, want) in table {
            assert_eq!(ci_state(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn status_context_table() {
        let table = [
            ("SUCCESS", CheckStatus::Passed),
            ("FAILURE", CheckStatus::Failed),
            ("ERROR", CheckStatus::Failed),
            ("PENDING", CheckStatus::InProgress),
            ("EXPECTED", CheckStatus::InProgress),
            ("", CheckStatus::Unknown),
        ];
        for (raw, want) in table {
            assert_eq!(status_context_status(raw), want, "{raw}");
        }
    }

    #[test]
    fn check_run_table() {
        let table = [
            ("COMPLETED", Some("SUCCESS"), CheckStatus::Passed),
            ("COMPLETED", Some("NEUTRAL"), CheckStatus::Passed),
            ("COMPLETED", Some("FAILURE"), CheckStatus::Failed),
            ("COMPLETED", Some("TIMED_OUT"), CheckStatus::Failed),
            ("COMPLETED", Some("ACTION_REQUIRED"), CheckStatus::Failed),
            ("COMPLETED", Some("STARTUP_FAILURE"), CheckStatus::Failed),
            ("COMPLETED", Some("CANCELLED"), CheckStatus::Cancelled),
            ("COMPLETED", Some("SKIPPED"), CheckStatus::Skipped),
            ("COMPLETED", Some("STALE"), CheckStatus::Skipped),
            ("COMPLETED", Some("NEW_THING"), CheckStatus::Unknown),
            ("QUEUED", None, CheckStatus::Queued),
            ("PENDING", None, CheckStatus::Queued),
            ("REQUESTED", None, CheckStatus::Queued),
            ("WAITING", Some(""), CheckStatus::Queued),
            ("IN_PROGRESS", None, CheckStatus::InProgress),
            ("COMPLETED", None, CheckStatus::Unknown),
            ("", None, CheckStatus::Unknown),
        ];
        for (status, conclusion, want) in table {
            assert_eq!(
                check_run_status(status, conclusion),
                want,
                "{status} {conclusion:?}"
            );
        }
    }

    #[test]
    fn review_decision_table() {
        let table = [
            (Some("APPROVED"), ReviewDecision::Approved),
            (Some("CHANGES_REQUESTED"), ReviewDecision::ChangesRequested),
            (Some("REVIEW_REQUIRED"), ReviewDecision::ReviewRequired),
            (Some("OTHER"), ReviewDecision::None),
            (None, ReviewDecision::None),
        ];
        for (raw, want) in table {
            assert_eq!(review_decision(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn mergeability_table() {
        use CiState as C;
        use Mergeability as M;
        use ReviewDecision as R;
        type Row<'a> = (
            &'a str,
            &'a str,
            bool,
            CiState,
            ReviewDecision,
            Mergeability,
            &'a [&'a str],
        );
        let table: &[Row] = &[
            (
                "CONFLICTING",
                "DIRTY",
                false,
                C::Passing,
                R::None,
                M::Conflicting,
                &["conflicts"],
            ),
            (
                "UNKNOWN",
                "DIRTY",
                true,
                C::Failing,
                R::ReviewRequired,
                M::Conflicting,
                &["conflicts"],
            ),
            (
                "CONFLICTING",
                "BEHIND",
                false,
                C::Passing,
                R::None,
                M::Conflicting,
                &["conflicts", "behind_base"],
            ),
            (
                "MERGEABLE",
                "BLOCKED",
                false,
                C::Passing,
                R::None,
                M::Blocked,
                &["blocked_by_provider"],
            ),
            (
                "MERGEABLE",
                "BLOCKED",
                true,
                C::Failing,
                R::ChangesRequested,
                M::Blocked,
                &[
                    "draft",
                    "ci_failing",
                    "changes_requested",
                    "blocked_by_provider",
                ],
            ),
            (
                "MERGEABLE",
                "CLEAN",
                false,
                C::Passing,
                R::ReviewRequired,
                M::Blocked,
                &["review_required"],
            ),
            (
                "MERGEABLE",
                "DRAFT",
                true,
                C::Pending,
                R::None,
                M::Blocked,
                &["draft"],
            ),
            (
                "MERGEABLE",
                "BEHIND",
                false,
                C::Failing,
                R::None,
                M::Blocked,
                &["behind_base", "ci_failing"],
            ),
            (
                "MERGEABLE",
                "UNSTABLE",
                false,
                C::Pending,
                R::Approved,
                M::Unstable,
                &[],
            ),
            (
                "MERGEABLE",
                "CLEAN",
                false,
                C::Passing,
                R::Approved,
                M::Mergeable,
                &[],
            ),
            (
                "MERGEABLE",
                "HAS_HOOKS",
                false,
                C::Passing,
                R::None,
                M::Mergeable,
                &[],
            ),
            (
                "MERGEABLE",
                "",
                false,
                C::Unknown,
                R::None,
                M::Mergeable,
                &[],
            ),
            (
                "mergeable",
                "clean",
                false,
                C::Passing,
                R::None,
                M::Mergeable,
                &[],
            ),
            (
                "MERGEABLE",
                "BEHIND",
                false,
                C::Passing,
                R::None,
                M::Unknown,
                &["behind_base"],
            ),
            (
                "UNKNOWN",
                "UNKNOWN",
                false,
                C::Passing,
                R::None,
                M::Unknown,
                &[],
            ),
            ("", "", false, C::Unknown, R::None, M::Unknown, &[]),
        ];
        for (mergeable, ms, draft, ci, review, want, reasons) in table {
            let (got, got_reasons) = mergeability(mergeable, ms, *draft, *ci, *review);
            assert_eq!(got, *want, "{mergeable} {ms} {draft} {ci} {review}");
            assert_eq!(
                got_reasons, *reasons,
                "{mergeable} {ms} {draft} {ci} {review}"
            );
        }
    }

    #[test]
    fn log_tail_normalisation() {
        let raw = "\u{feff}2024-05-01T10:00:00.1234567Z \u{1b}[36;1mRun cargo test\u{1b}[0m   \r\n\
                   2024-05-01T10:00:01Z error[E0308]: mismatched\ttypes\u{7}\n\
                   \u{1b}]0;title\u{7}plain \u{1b}(Bline\u{0}  \n\
                   1999-1-1T00:00:00Z not a timestamp\n\
                   2024-05-01T10:00:02.Z bad fraction\n\
                   \n   \n";
        assert_eq!(
            log_tail(raw),
            "Run cargo test\nerror[E0308]: mismatched\ttypes\nplain line\n\
             1999-1-1T00:00:00Z not a timestamp\n2024-05-01T10:00:02.Z bad fraction"
        );
    }

    #[test]
    fn log_tail_keeps_last_20_lines_of_500_chars() {
        let mut raw = String::new();
        for i in 0..30 {
            let _ = writeln!(raw, "2024-05-01T10:00:00Z line {i}");
        }
        raw.push_str(&"é".repeat(600));
        raw.push('\n');
        let tail = log_tail(&raw);
        let lines: Vec<&str> = tail.lines().collect();
        assert_eq!(lines.len(), 20);
        assert_eq!(lines[0], "line 11");
        assert_eq!(lines[18], "line 29");
        assert_eq!(lines[19].chars().count(), 500);
        assert_eq!(log_tail(""), "");
        assert_eq!(log_tail("\n\n \n"), "");
    }

    #[test]
    fn log_hash_ignores_timestamps_of_reruns() {
        let a = log_tail("2024-05-01T10:00:00Z boom\n2024-05-01T10:00:01Z exit 1\n");
        let b = log_tail("2024-06-02T11:22:33.5Z boom\n2024-06-02T11:22:34.5Z exit 1");
        assert_eq!(a, b);
        assert_eq!(log_hash(&a), log_hash(&b));
        assert_eq!(log_hash(&a).len(), 64);
        assert_eq!(log_hash(""), "");
        assert_ne!(log_hash(&a), log_hash("boom\nexit 2"));
        assert_eq!(log_unavailable("transient"), "<log unavailable: transient>");
    }
}
