//! Property tests of the field limits and the send sanitiser (http-api.md §2, §7.3): every
//! check is total (never panics), an accepted value is already clean, and a rejection carries
//! the code the spec gives for exactly that reason.

use proptest::prelude::*;

use super::*;

/// Text built from pieces that break naive sanitisers: CR/LF in every combination, C0 and C1
/// controls (ESC, CSI, BEL, NUL, NEL), a bracketed-paste end marker, Unicode whitespace and
/// multi-byte characters, plus arbitrary strings.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\r\n".to_string()),
        Just("\r".to_string()),
        Just("\n".to_string()),
        Just("\t".to_string()),
        Just(" ".to_string()),
        Just("\u{1b}[201~".to_string()),
        Just("\u{9b}31m".to_string()),
        Just("\u{7}".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{2028}".to_string()),
        Just("\u{a0}".to_string()),
        Just("é✓".to_string()),
        "[a-z]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

/// What a person can read: every character that is neither a control nor whitespace.
fn visible(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sanitised_text_is_clean_keeps_what_is_visible_and_is_idempotent(text in hostile_text()) {
        let clean = sanitize_message(&text);
        prop_assert!(
            clean.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
            "control character left in {clean:?}"
        );
        prop_assert_eq!(clean.trim(), clean.as_str());
        prop_assert_eq!(visible(&clean), visible(&text));
        prop_assert_eq!(sanitize_message(&clean), clean);
    }

    #[test]
    fn a_message_is_accepted_clean_or_refused_with_its_code(text in hostile_text()) {
        let clean = sanitize_message(&text);
        match check_message(&text) {
            Ok(sent) => {
                prop_assert_eq!(&sent, &clean);
                prop_assert!(!sent.is_empty() && sent.len() <= MESSAGE_MAX_BYTES);
            }
            Err(e) if clean.is_empty() => prop_assert_eq!(e.code, ErrorCode::MessageRequired),
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::MessageTooLong);
                prop_assert!(clean.len() > MESSAGE_MAX_BYTES);
            }
        }
    }

    #[test]
    fn long_messages_are_measured_after_sanitising(n in 16_000usize..16_800, pad in 0usize..600) {
        // Control characters and surrounding blanks do not count against the limit.
        let text = format!("{}{}{}", " \u{7}".repeat(pad), "x".repeat(n), "\r\n".repeat(pad));
        let result = check_message(&text);
        if n <= MESSAGE_MAX_BYTES {
            prop_assert_eq!(result.expect("within the limit").len(), n);
        } else {
            prop_assert_eq!(result.expect_err("over the limit").code, ErrorCode::MessageTooLong);
        }
    }

    #[test]
    fn display_names_are_trimmed_then_counted_in_characters(name in hostile_text()) {
        let trimmed = name.trim();
        match check_display_name(&name) {
            Ok(kept) => {
                prop_assert_eq!(kept.as_str(), trimmed);
                prop_assert!((1..=DISPLAY_NAME_MAX_CHARS).contains(&kept.chars().count()));
                prop_assert_eq!(check_display_name(&kept).expect("idempotent"), kept);
            }
            Err(e) if trimmed.is_empty() => {
                prop_assert_eq!(e.code, ErrorCode::DisplayNameRequired);
            }
            Err(e) => {
                prop_assert_eq!(e.code, ErrorCode::DisplayNameTooLong);
                prop_assert!(trimmed.chars().count() > DISPLAY_NAME_MAX_CHARS);
            }
        }
    }

    #[test]
    fn issue_ids_commands_and_prompts_get_their_codes(text in hostile_text(), n in 0usize..5000) {
        let long = "é".repeat(n);
        for candidate in [text.as_str(), long.as_str()] {
            let issue_ok = candidate.chars().count() <= ISSUE_ID_MAX_CHARS
                && !candidate.chars().any(char::is_control);
            match check_issue_id(candidate) {
                Ok(()) => prop_assert!(issue_ok),
                Err(e) => {
                    prop_assert!(!issue_ok);
                    prop_assert_eq!(e.code, ErrorCode::InvalidIssueId);
                }
            }
            let command_ok = candidate.len() <= COMMAND_MAX_BYTES && !candidate.contains('\0');
            match check_command(candidate) {
                Ok(()) => prop_assert!(command_ok),
                Err(e) => {
                    prop_assert!(!command_ok);
                    prop_assert_eq!(e.code, ErrorCode::InvalidCommand);
                }
            }
            match check_prompt(candidate) {
                Ok(()) => prop_assert!(candidate.len() <= PROMPT_MAX_BYTES),
                Err(e) => prop_assert_eq!(e.code, ErrorCode::PromptTooLong),
            }
        }
    }

    #[test]
    fn agent_session_ids_in_the_alphabet_pass(id in "[A-Za-z0-9._:-]{1,256}") {
        prop_assert!(check_agent_session_id(&id).is_ok());
    }

    #[test]
    fn agent_session_ids_outside_the_alphabet_or_too_long_fail(
        good in "[A-Za-z0-9._:-]{0,40}",
        bad in any::<char>().prop_filter("outside the alphabet", |c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        }),
        at in any::<prop::sample::Index>(),
    ) {
        let mut chars: Vec<char> = good.chars().collect();
        chars.insert(at.index(chars.len() + 1), bad);
        let id: String = chars.into_iter().collect();
        prop_assert_eq!(
            check_agent_session_id(&id).expect_err("bad char").code,
            ErrorCode::InvalidAgentSessionId
        );
        let long = "a".repeat(AGENT_SESSION_ID_MAX_CHARS + 1 + good.len());
        prop_assert!(!is_valid_agent_session_id(&long));
    }
}
