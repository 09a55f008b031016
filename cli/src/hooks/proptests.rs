//! Property tests of what `ao hooks` reads from the agent (sessions.md §12): the stdin payload
//! and the `AO_SESSION_ID` it was given. Both are untrusted; neither may make the hook fail.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::{parse_payload, session_id_ok};

fn json_object() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(any::<String>(), value, 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_stdin_gives_a_payload(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let payload = parse_payload(&bytes);
        let want = serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|_| json!({}));
        prop_assert_eq!(payload, want);
    }

    #[test]
    fn json_objects_are_read_as_sent_whatever_the_surrounding_blanks(
        v in json_object(),
        pretty in any::<bool>(),
        pad in "[ \t\r\n]{0,4}",
    ) {
        let text = if pretty {
            serde_json::to_string_pretty(&v).expect("serialises")
        } else {
            serde_json::to_string(&v).expect("serialises")
        };
        prop_assert_eq!(parse_payload(format!("{pad}{text}{pad}").as_bytes()), v);
    }

    #[test]
    fn blank_stdin_is_an_empty_object(pad in "[ \t\r\n]{0,16}") {
        prop_assert_eq!(parse_payload(pad.as_bytes()), json!({}));
    }

    #[test]
    fn session_ids_are_checked_before_anything_is_read(id in any::<String>()) {
        let want = !id.is_empty()
            && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        prop_assert_eq!(session_id_ok(&id), want);
        if let Ok(valid) = ao_protocol::SessionId::parse(id.clone()) {
            prop_assert!(session_id_ok(valid.as_str()));
        }
    }
}
