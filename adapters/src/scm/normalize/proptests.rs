//! Property tests of the GitHub word and log normalisation (scm.md §5, §6.2): every function
//! is total over arbitrary strings, compares GitHub's words case-insensitively, and the log
//! tail is bounded, free of control sequences, and blind to what changes between two runs of
//! the same failing job (timestamps, colours).

use proptest::prelude::*;

use super::*;

/// A GitHub word in random case, or anything at all.
fn word(vocabulary: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (prop::sample::select(vocabulary), any::<u64>()).prop_map(|(w, mask)| {
            w.chars()
                .enumerate()
                .map(|(i, c)| if mask >> (i % 64) & 1 == 1 { c.to_ascii_lowercase() } else { c })
                .collect()
        }),
        1 => any::<String>(),
    ]
}

const WORDS: &[&str] = &[
    "SUCCESS",
    "FAILURE",
    "ERROR",
    "PENDING",
    "EXPECTED",
    "NEUTRAL",
    "TIMED_OUT",
    "ACTION_REQUIRED",
    "STARTUP_FAILURE",
    "CANCELLED",
    "SKIPPED",
    "STALE",
    "QUEUED",
    "REQUESTED",
    "WAITING",
    "IN_PROGRESS",
    "COMPLETED",
    "APPROVED",
    "CHANGES_REQUESTED",
    "REVIEW_REQUIRED",
    "MERGEABLE",
    "CONFLICTING",
    "UNKNOWN",
    "DIRTY",
    "BLOCKED",
    "BEHIND",
    "UNSTABLE",
    "CLEAN",
    "HAS_HOOKS",
    "",
];

fn log_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,80}",
        any::<String>(),
        Just("\u{1b}[31merror\u{1b}[0m: boom".to_string()),
        Just("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\".to_string()),
        Just("x".repeat(700)),
        Just("   ".to_string()),
    ]
}

fn timestamp() -> impl Strategy<Value = String> {
    (
        2000u32..2100,
        1u32..13,
        1u32..29,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of(0u32..10_000_000),
    )
        .prop_map(|(y, mo, d, h, mi, s, frac)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z ")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn words_are_compared_case_insensitively(a in word(WORDS), b in word(WORDS), draft: bool) {
        let up = |s: &str| s.to_ascii_uppercase();
        prop_assert_eq!(ci_state(Some(&a)), ci_state(Some(&up(&a))));
        prop_assert_eq!(status_context_status(&a), status_context_status(&up(&a)));
        prop_assert_eq!(check_run_status(&a, Some(&b)), check_run_status(&up(&a), Some(&up(&b))));
        prop_assert_eq!(review_decision(Some(&a)), review_decision(Some(&up(&a))));
        let ci = ci_state(Some(&a));
        let review = review_decision(Some(&b));
        prop_assert_eq!(
            mergeability(&a, &b, draft, ci, review),
            mergeability(&up(&a), &up(&b), draft, ci, review)
        );
    }

    #[test]
    fn mergeability_reasons_are_ordered_unique_and_consistent(
        mergeable in word(WORDS),
        merge_state in word(WORDS),
        draft: bool,
        ci in prop::sample::select(CiState::ALL.to_vec()),
        review in prop::sample::select(ReviewDecision::ALL.to_vec()),
    ) {
        let (state, reasons) = mergeability(&mergeable, &merge_state, draft, ci, review);
        let order: Vec<usize> = reasons
            .iter()
            .map(|r| REASON_ORDER.iter().position(|o| o == r).expect("a known reason"))
            .collect();
        prop_assert!(order.windows(2).all(|w| w[0] < w[1]), "{reasons:?}");
        prop_assert_eq!(state == Mergeability::Conflicting, reasons.contains(&"conflicts".to_string()));
        if state == Mergeability::Mergeable {
            prop_assert!(reasons.iter().all(|r| r == "behind_base"), "{reasons:?}");
            prop_assert!(!draft && ci != CiState::Failing);
        }
        if draft && state != Mergeability::Conflicting {
            prop_assert_eq!(state, Mergeability::Blocked);
        }
    }

    #[test]
    fn log_tails_are_bounded_and_clean(lines in prop::collection::vec(log_line(), 0..40)) {
        let tail = log_tail(&lines.join("\n"));
        let kept: Vec<&str> = if tail.is_empty() { Vec::new() } else { tail.split('\n').collect() };
        prop_assert!(kept.len() <= LOG_TAIL_LINES);
        for line in &kept {
            prop_assert!(line.chars().count() <= LOG_LINE_CHARS);
            prop_assert!(line.chars().all(|c| c == '\t' || !c.is_control()), "{line:?}");
            prop_assert!(!line.contains('\u{feff}'), "{:?}", line);
        }
        prop_assert!(kept.last().is_none_or(|l| !l.is_empty()));
        prop_assert_eq!(log_hash(&tail).is_empty(), tail.is_empty());
    }

    #[test]
    fn reruns_with_other_timestamps_and_colours_hash_the_same(
        lines in prop::collection::vec("[ -~]{0,60}", 1..30),
        stamps in prop::collection::vec(timestamp(), 30),
        other_stamps in prop::collection::vec(timestamp(), 30),
        colour in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let run = |stamps: &[String], colour: bool, bom: bool| {
            let body: Vec<String> = lines
                .iter()
                .zip(stamps)
                .map(|(l, t)| if colour { format!("{t}\u{1b}[1;31m{l}\u{1b}[0m") } else { format!("{t}{l}") })
                .collect();
            let text = body.join("\r\n");
            log_tail(&if bom { format!("\u{feff}{text}") } else { text })
        };
        let first = run(&stamps, false, false);
        prop_assert_eq!(log_hash(&run(&other_stamps, colour, bom)), log_hash(&first));
    }
}
