//! Property tests of the hook-payload deriver (adapters.md §7, sessions.md §12) and the spool
//! line format: whatever JSON an agent pipes into `ao hooks`, derivation is total, only known
//! (agent, event) pairs report anything, a reported agent session id is always well-formed,
//! and a spool entry survives its JSON round trip.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

const ID_KEYS: [&str; 4] = [
    "session_id",
    "sessionId",
    "conversation_id",
    "conversationId",
];

/// Payload-shaped JSON: the keys the deriver reads, with values of every type.
fn payload() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "session_id",
        "sessionId",
        "conversation_id",
        "conversationId",
        "notification_type",
        "reason",
        "other",
    ]);
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(json!("")),
        Just(json!("permission_prompt")),
        Just(json!("clear")),
        Just(json!("resume")),
        "[A-Za-z0-9._:-]{1,12}".prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        Just(json!({"nested": "x"})),
    ];
    prop_oneof![
        4 => prop::collection::btree_map(key, value, 0..6)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => any::<String>().prop_map(Value::from),
        1 => Just(json!([1, 2])),
        1 => Just(Value::Null),
    ]
}

fn agent_word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(Harness::ALL.to_vec()).prop_map(|h| h.as_str().to_string()),
        1 => any::<String>(),
    ]
}

fn event_word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "session-start", "user-prompt-submit", "tool-use", "notification", "stop",
            "session-end", "permission-request",
        ])
        .prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn derivation_is_total_and_reports_only_for_known_pairs(
        agent in agent_word(),
        event in event_word(),
        payload in payload(),
    ) {
        let d = derive(&agent, &event, &payload);
        let known = agent
            .parse::<Harness>()
            .is_ok_and(|h| events_of(h).contains(&event.as_str()));
        prop_assert_eq!(d.known, known);
        if !known {
            prop_assert_eq!(d.state, None);
            prop_assert_eq!(&d.agent_session_id, &None);
        }
        if let Some(id) = &d.agent_session_id {
            prop_assert!(is_valid_agent_session_id(id), "{id:?}");
        }
        if event == "session-start" {
            prop_assert_eq!(d.state, None);
        }
    }

    #[test]
    fn the_agent_session_id_is_the_first_non_empty_string_when_valid(payload in payload()) {
        let first = ID_KEYS.iter().find_map(|k| {
            payload.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty())
        });
        let want = first.filter(|s| is_valid_agent_session_id(s)).map(str::to_string);
        prop_assert_eq!(agent_session_id(&payload), want);
    }

    #[test]
    fn spool_entries_round_trip_through_one_json_line(
        session_id in "[A-Za-z0-9._-]{1,20}",
        agent in agent_word(),
        event in event_word(),
        state in prop::option::of(prop::sample::select(ActivityState::ALL.to_vec())),
        agent_session_id in prop::option::of("[A-Za-z0-9._:-]{1,30}"),
        at in "20[0-9]{2}-0[1-9]-1[0-9]T1[0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z",
    ) {
        let entry = SpoolEntry { session_id, agent, event, state, agent_session_id, at };
        let line = serde_json::to_string(&entry).expect("serialises");
        prop_assert!(!line.contains('\n'), "one line per entry: {line}");
        let back: SpoolEntry = serde_json::from_str(&line).expect("parses");
        prop_assert_eq!(back, entry);
    }
}

#[test]
fn non_object_payloads_derive_only_the_event_state() {
    for payload in [
        Value::Null,
        json!([1]),
        json!("session_id"),
        Value::Object(Map::new()),
    ] {
        let d = derive("claude-code", "stop", &payload);
        assert!(d.known);
        assert_eq!(d.state, Some(ActivityState::Idle));
        assert_eq!(d.agent_session_id, None, "{payload}");
    }
}
