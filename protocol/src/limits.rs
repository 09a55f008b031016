//! Field limits of http-api.md §2 and the send sanitiser of §7.3, as pure functions shared by
//! the daemon (validation at the edge) and the CLI (usage checks).
//!
//! Each check returns the cleaned value or a [`FieldError`] carrying the spec's error code.

use crate::config::check_branch_name;
use crate::error::ErrorCode;

/// `prompt` ≤ 16,384 bytes.
pub const PROMPT_MAX_BYTES: usize = 16_384;
/// `message` 1–16,384 bytes after sanitising.
pub const MESSAGE_MAX_BYTES: usize = 16_384;
/// `displayName` 1–128 chars after trimming.
pub const DISPLAY_NAME_MAX_CHARS: usize = 128;
/// `issueId` ≤ 128 chars.
pub const ISSUE_ID_MAX_CHARS: usize = 128;
/// `command` ≤ 4,096 bytes.
pub const COMMAND_MAX_BYTES: usize = 4096;
/// `agentSessionId` ≤ 256 chars.
pub const AGENT_SESSION_ID_MAX_CHARS: usize = 256;
/// `event` of an activity callback ≤ 64 chars.
pub const EVENT_MAX_CHARS: usize = 64;

/// A field that failed its check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: ErrorCode,
    pub message: String,
}

fn err(code: ErrorCode, message: impl Into<String>) -> FieldError {
    FieldError {
        code,
        message: message.into(),
    }
}

/// `prompt`: at most 16 KiB of UTF-8.
pub fn check_prompt(prompt: &str) -> Result<(), FieldError> {
    if prompt.len() > PROMPT_MAX_BYTES {
        return Err(err(
            ErrorCode::PromptTooLong,
            format!(
                "prompt is {} bytes; the limit is {PROMPT_MAX_BYTES}",
                prompt.len()
            ),
        ));
    }
    Ok(())
}

/// Removes every Unicode control character except `\n` and `\t`, turns `\r\n` and lone `\r`
/// into `\n`, and trims surrounding whitespace (http-api.md §7.3).
pub fn sanitize_message(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = normalised
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    kept.trim().to_string()
}

/// `message` of a send: sanitised, then 1–16 KiB.
pub fn check_message(text: &str) -> Result<String, FieldError> {
    let clean = sanitize_message(text);
    if clean.is_empty() {
        return Err(err(
            ErrorCode::MessageRequired,
            "message is empty after removing control characters and whitespace",
        ));
    }
    if clean.len() > MESSAGE_MAX_BYTES {
        return Err(err(
            ErrorCode::MessageTooLong,
            format!(
                "message is {} bytes; the limit is {MESSAGE_MAX_BYTES}",
                clean.len()
            ),
        ));
    }
    Ok(clean)
}

/// `displayName`: trimmed, then 1–128 chars.
pub fn check_display_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(err(
            ErrorCode::DisplayNameRequired,
            "displayName must not be blank",
        ));
    }
    if trimmed.chars().count() > DISPLAY_NAME_MAX_CHARS {
        return Err(err(
            ErrorCode::DisplayNameTooLong,
            format!("displayName is longer than {DISPLAY_NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

/// `issueId`: ≤ 128 chars, no control characters.
pub fn check_issue_id(id: &str) -> Result<(), FieldError> {
    if id.chars().count() > ISSUE_ID_MAX_CHARS || id.chars().any(char::is_control) {
        return Err(err(
            ErrorCode::InvalidIssueId,
            format!(
                "issueId must be at most {ISSUE_ID_MAX_CHARS} characters without control characters"
            ),
        ));
    }
    Ok(())
}

/// `command`: ≤ 4 KiB, no NUL.
pub fn check_command(cmd: &str) -> Result<(), FieldError> {
    if cmd.len() > COMMAND_MAX_BYTES || cmd.contains('\0') {
        return Err(err(
            ErrorCode::InvalidCommand,
            format!("command must be at most {COMMAND_MAX_BYTES} bytes without NUL"),
        ));
    }
    Ok(())
}

/// `branch`: a valid branch name of at most 255 bytes.
pub fn check_branch(branch: &str) -> Result<(), FieldError> {
    check_branch_name(branch).map_err(|why| {
        err(
            ErrorCode::InvalidBranch,
            format!("invalid branch {branch:?}: {why}"),
        )
    })
}

/// Whether `id` is a well-formed agent session id: 1–256 chars of `[A-Za-z0-9._:-]`.
pub fn is_valid_agent_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= AGENT_SESSION_ID_MAX_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

/// `agentSessionId` of an activity callback.
pub fn check_agent_session_id(id: &str) -> Result<(), FieldError> {
    if !is_valid_agent_session_id(id) {
        return Err(err(
            ErrorCode::InvalidAgentSessionId,
            "agentSessionId must be 1-256 characters of [A-Za-z0-9._:-]",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitiser_follows_7_3() {
        assert_eq!(
            sanitize_message("  hi\r\nthere\rx\t\u{1b}[31m\u{7}  "),
            "hi\nthere\nx\t[31m"
        );
        assert_eq!(sanitize_message("\u{0}\u{85}\u{9b}"), "");
        assert_eq!(sanitize_message("multi\nline"), "multi\nline");
    }

    #[test]
    fn limits_map_to_their_codes() {
        assert_eq!(
            check_prompt(&"x".repeat(16_385))
                .expect_err("too long")
                .code,
            ErrorCode::PromptTooLong
        );
        assert!(check_prompt(&"x".repeat(16_384)).is_ok());
        assert_eq!(
            check_message(" \u{7} ").expect_err("empty").code,
            ErrorCode::MessageRequired
        );
        assert_eq!(
            check_message(&"y".repeat(16_385)).expect_err("long").code,
            ErrorCode::MessageTooLong
        );
        assert_eq!(check_message(" ok ").expect("valid"), "ok");
        assert_eq!(
            check_display_name("   ").expect_err("blank").code,
            ErrorCode::DisplayNameRequired
        );
        assert_eq!(
            check_display_name(&"é".repeat(129)).expect_err("long").code,
            ErrorCode::DisplayNameTooLong
        );
        assert_eq!(
            check_display_name(&format!(" {} ", "é".repeat(128)))
                .expect("valid")
                .chars()
                .count(),
            128
        );
        assert_eq!(
            check_issue_id("a\nb").expect_err("control").code,
            ErrorCode::InvalidIssueId
        );
        assert_eq!(
            check_command("a\0b").expect_err("nul").code,
            ErrorCode::InvalidCommand
        );
        assert_eq!(
            check_branch("a..b").expect_err("bad").code,
            ErrorCode::InvalidBranch
        );
        assert!(check_agent_session_id("abc-123:x.y_z").is_ok());
        assert_eq!(
            check_agent_session_id("a b").expect_err("space").code,
            ErrorCode::InvalidAgentSessionId
        );
        assert!(!is_valid_agent_session_id(&"a".repeat(257)));
    }
}

#[cfg(test)]
mod proptests;
