//! Property tests of the spool line parser (sessions.md §12.1): a spool line is untrusted
//! (any process of the user can append to the file), so [`parse_line`] must be total, accept
//! exactly the well-formed entries `ao hooks` writes, and reject the rest with a reason.

use ao_protocol::hooks::SpoolEntry;
use ao_protocol::limits::is_valid_agent_session_id;
use ao_protocol::{ActivityState, SessionId, time};
use proptest::prelude::*;

use super::parse_line;

fn rfc3339() -> impl Strategy<Value = String> {
    "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z"
}

fn entry() -> impl Strategy<Value = SpoolEntry> {
    (
        "[a-z][a-z0-9._-]{0,12}-[1-9][0-9]{0,4}",
        prop::option::of(prop::sample::select(ActivityState::ALL.to_vec())),
        prop::option::of("[A-Za-z0-9._:-]{1,40}"),
        rfc3339(),
    )
        .prop_map(|(session_id, state, agent_session_id, at)| SpoolEntry {
            session_id,
            agent: "claude-code".into(),
            event: "stop".into(),
            state,
            agent_session_id,
            at,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_parse_or_are_refused_with_a_reason(line in prop::collection::vec(any::<u8>(), 0..200)) {
        match parse_line(&line) {
            Ok(signal) => {
                prop_assert!(time::parse(&signal.at).is_some());
                prop_assert!(signal.agent_session_id.as_deref().is_none_or(is_valid_agent_session_id));
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn well_formed_entries_are_read_back_exactly(e in entry()) {
        prop_assume!(SessionId::parse(&e.session_id).is_ok());
        let line = serde_json::to_vec(&e).expect("serialises");
        let signal = parse_line(&line).map_err(TestCaseError::fail)?;
        prop_assert_eq!(signal.session.as_str(), e.session_id.as_str());
        prop_assert_eq!(signal.state, e.state);
        prop_assert_eq!(signal.agent_session_id, e.agent_session_id);
        prop_assert_eq!(signal.at, e.at);
    }

    #[test]
    fn a_corrupted_field_makes_the_line_malformed(
        e in entry(),
        which in 0..4u8,
        junk in "[^A-Za-z0-9._:-]{1,4}",
    ) {
        let mut e = e;
        match which {
            0 => e.session_id = format!("{}{junk}", e.session_id),
            1 => e.at = format!("{junk}{}", e.at),
            2 => e.agent_session_id = Some(format!("x{junk}")),
            _ => {
                // Truncated JSON: a line cut short by a crash mid-append.
                let line = serde_json::to_vec(&e).expect("serialises");
                prop_assert!(parse_line(&line[..line.len() - 1]).is_err());
                return Ok(());
            }
        }
        let line = serde_json::to_vec(&e).expect("serialises");
        prop_assert!(parse_line(&line).is_err(), "{}", String::from_utf8_lossy(&line));
    }
}
