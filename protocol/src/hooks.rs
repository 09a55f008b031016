//! Agent hook events → activity (adapters.md §7), shared by `ao hooks` (CLI) and the agent
//! adapters (which install hooks whose commands are `ao hooks <agent> <event>`).
//!
//! [`derive`] is a pure function of the agent, the AO event name and the native JSON payload.
//! Unknown agents or events derive nothing ([`Derived::known`] is false), and `ao hooks` then
//! exits 0 silently.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::enums::{ActivityState, Harness};
use crate::limits::is_valid_agent_session_id;

/// What one hook invocation reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    /// The agent and event are known to `ao`.
    pub known: bool,
    pub state: Option<ActivityState>,
    pub agent_session_id: Option<String>,
}

/// The AO event names each harness's hooks fire (the second argument of `ao hooks`).
pub fn events_of(agent: Harness) -> &'static [&'static str] {
    match agent {
        Harness::ClaudeCode | Harness::Grok => &[
            "session-start",
            "user-prompt-submit",
            "tool-use",
            "notification",
            "stop",
            "session-end",
        ],
        Harness::Codex | Harness::Qwen => &[
            "session-start",
            "user-prompt-submit",
            "permission-request",
            "stop",
        ],
        Harness::Opencode => &["session-start", "user-prompt-submit", "stop"],
        Harness::Cursor => &["session-start", "user-prompt-submit", "tool-use", "stop"],
        Harness::Copilot => &[
            "session-start",
            "user-prompt-submit",
            "tool-use",
            "stop",
            "session-end",
        ],
        Harness::Kimi | Harness::Command => &[],
    }
}

/// The agent's conversation id in a hook payload: the first non-empty string among the
/// top-level keys `session_id`, `sessionId`, `conversation_id`, `conversationId`, dropped when it
/// is not a valid `agentSessionId`.
pub fn agent_session_id(payload: &Value) -> Option<String> {
    [
        "session_id",
        "sessionId",
        "conversation_id",
        "conversationId",
    ]
    .iter()
    .find_map(|k| {
        payload
            .get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
    .filter(|s| is_valid_agent_session_id(s))
    .map(str::to_string)
}

/// Derives `(state?, agentSessionId?)` for `ao hooks <agent> <event>` with `payload` on stdin.
pub fn derive(agent: &str, event: &str, payload: &Value) -> Derived {
    let unknown = Derived {
        known: false,
        state: None,
        agent_session_id: None,
    };
    let Ok(harness) = agent.parse::<Harness>() else {
        return unknown;
    };
    if !events_of(harness).contains(&event) {
        return unknown;
    }
    let state = match event {
        "user-prompt-submit" | "tool-use" => Some(ActivityState::Active),
        "permission-request" => Some(ActivityState::WaitingInput),
        "stop" => Some(ActivityState::Idle),
        "notification" => (payload.get("notification_type").and_then(Value::as_str)
            == Some("permission_prompt"))
        .then_some(ActivityState::WaitingInput),
        "session-end" => match payload.get("reason").and_then(Value::as_str) {
            Some("clear" | "resume") => None,
            _ => Some(ActivityState::Exited),
        },
        _ => None,
    };
    Derived {
        known: true,
        state,
        agent_session_id: agent_session_id(payload),
    }
}

/// One line of `$AO_DATA_DIR/hooks.spool` (README §4.2): a signal `ao hooks` could not deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpoolEntry {
    pub session_id: String,
    pub agent: String,
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ActivityState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_session_id: Option<String>,
    /// When the hook fired (RFC 3339, ms).
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn st(agent: &str, event: &str, payload: Value) -> Option<ActivityState> {
        let d = derive(agent, event, &payload);
        assert!(d.known, "{agent} {event}");
        d.state
    }

    #[test]
    fn claude_code_table() {
        use ActivityState::*;
        assert_eq!(st("claude-code", "session-start", json!({})), None);
        assert_eq!(
            st("claude-code", "user-prompt-submit", json!({})),
            Some(Active)
        );
        assert_eq!(st("claude-code", "tool-use", json!({})), Some(Active));
        assert_eq!(
            st(
                "claude-code",
                "notification",
                json!({"notification_type": "permission_prompt"})
            ),
            Some(WaitingInput)
        );
        assert_eq!(
            st(
                "claude-code",
                "notification",
                json!({"notification_type": "idle_prompt"})
            ),
            None
        );
        assert_eq!(st("claude-code", "stop", json!({})), Some(Idle));
        assert_eq!(
            st("claude-code", "session-end", json!({"reason": "logout"})),
            Some(Exited)
        );
        assert_eq!(st("claude-code", "session-end", json!({})), Some(Exited));
        assert_eq!(
            st("claude-code", "session-end", json!({"reason": "clear"})),
            None
        );
        assert_eq!(
            st("claude-code", "session-end", json!({"reason": "resume"})),
            None
        );
        assert_eq!(
            st(
                "grok",
                "notification",
                json!({"notification_type": "permission_prompt"})
            ),
            Some(WaitingInput)
        );
    }

    #[test]
    fn other_agents_tables() {
        use ActivityState::*;
        assert_eq!(
            st("codex", "permission-request", json!({})),
            Some(WaitingInput)
        );
        assert_eq!(st("codex", "stop", json!({})), Some(Idle));
        assert_eq!(
            st("opencode", "user-prompt-submit", json!({})),
            Some(Active)
        );
        assert_eq!(st("cursor", "tool-use", json!({})), Some(Active));
        assert_eq!(
            st("qwen", "permission-request", json!({})),
            Some(WaitingInput)
        );
        assert_eq!(st("copilot", "session-end", json!({})), Some(Exited));
        assert!(!derive("codex", "tool-use", &json!({})).known);
        assert!(!derive("kimi", "stop", &json!({})).known);
        assert!(!derive("nope", "stop", &json!({})).known);
        assert!(!derive("opencode", "notification", &json!({})).known);
    }

    #[test]
    fn agent_session_id_extraction() {
        let d = derive(
            "claude-code",
            "session-start",
            &json!({"session_id": "abc-1", "sessionId": "zzz"}),
        );
        assert_eq!(d.agent_session_id.as_deref(), Some("abc-1"));
        assert_eq!(
            agent_session_id(&json!({"session_id": "", "conversationId": "c:1"})).as_deref(),
            Some("c:1")
        );
        assert_eq!(agent_session_id(&json!({"session_id": "bad id"})), None);
        assert_eq!(agent_session_id(&json!({"session_id": 5})), None);
        assert_eq!(agent_session_id(&json!("x")), None);
    }

    #[test]
    fn spool_entry_shape() {
        let e = SpoolEntry {
            session_id: "p-1".into(),
            agent: "codex".into(),
            event: "stop".into(),
            state: Some(ActivityState::Idle),
            agent_session_id: None,
            at: "2026-07-01T09:00:00.000Z".into(),
        };
        let v = serde_json::to_value(&e).expect("serialises");
        assert_eq!(
            v,
            json!({"sessionId": "p-1", "agent": "codex", "event": "stop", "state": "idle", "at": "2026-07-01T09:00:00.000Z"})
        );
    }
}

#[cfg(test)]
mod proptests;
