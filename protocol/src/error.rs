//! The error envelope and the complete, stable error-code catalogue (http-api.md §3).
//!
//! [`ErrorCode::status`] is the single place where a code is bound to an HTTP status, and
//! [`kind_word`] the single place where a status gets its `error` word.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::enums::UnknownVariant;

// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches derive macros wrapped in an
// invisible group, which utoipa's serde parser skips, so the OpenAPI enum would list the Rust
// variant names instead of the wire spelling.
macro_rules! error_codes {
    ($($status:literal => [$($variant:ident => $text:tt),+ $(,)?]),+ $(,)?) => {
        /// Every error code of http-api.md §3. The spelling is stable API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum ErrorCode {
            $($(#[serde(rename = $text)] $variant,)+)+
        }

        impl ErrorCode {
            /// Every code, grouped by status in catalogue order.
            pub const ALL: &'static [ErrorCode] = &[$($(ErrorCode::$variant,)+)+];

            /// The UPPER_SNAKE spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($(ErrorCode::$variant => $text,)+)+ }
            }

            /// The HTTP status this code is always sent with.
            pub const fn status(self) -> u16 {
                match self { $($(ErrorCode::$variant => $status,)+)+ }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($($text => Ok(ErrorCode::$variant),)+)+
                    _ => Err(UnknownVariant { kind: "error code", value: s.to_string() }),
                }
            }
        }
    };
}

error_codes! {
    400 => [
        InvalidJson => "INVALID_JSON",
        InvalidQuery => "INVALID_QUERY",
        InvalidAfter => "INVALID_AFTER",
        PathRequired => "PATH_REQUIRED",
        InvalidPath => "INVALID_PATH",
        NotAGitRepo => "NOT_A_GIT_REPO",
        InvalidProjectId => "INVALID_PROJECT_ID",
        InvalidProjectConfig => "INVALID_PROJECT_CONFIG",
        ProjectIdRequired => "PROJECT_ID_REQUIRED",
        ProjectNotResolvable => "PROJECT_NOT_RESOLVABLE",
        InvalidKind => "INVALID_KIND",
        AgentRequired => "AGENT_REQUIRED",
        UnknownHarness => "UNKNOWN_HARNESS",
        AgentBinaryNotFound => "AGENT_BINARY_NOT_FOUND",
        CommandRequired => "COMMAND_REQUIRED",
        InvalidCommand => "INVALID_COMMAND",
        InvalidIssueId => "INVALID_ISSUE_ID",
        PromptTooLong => "PROMPT_TOO_LONG",
        InvalidBranch => "INVALID_BRANCH",
        BranchNotFetched => "BRANCH_NOT_FETCHED",
        DisplayNameRequired => "DISPLAY_NAME_REQUIRED",
        DisplayNameTooLong => "DISPLAY_NAME_TOO_LONG",
        MessageRequired => "MESSAGE_REQUIRED",
        MessageTooLong => "MESSAGE_TOO_LONG",
        InvalidActivityState => "INVALID_ACTIVITY_STATE",
        ActivityEmpty => "ACTIVITY_EMPTY",
        InvalidAgentSessionId => "INVALID_AGENT_SESSION_ID",
        PrRequired => "PR_REQUIRED",
        InvalidPrRef => "INVALID_PR_REF",
    ],
    401 => [Unauthorized => "UNAUTHORIZED"],
    403 => [HostForbidden => "HOST_FORBIDDEN", OriginForbidden => "ORIGIN_FORBIDDEN"],
    404 => [
        RouteNotFound => "ROUTE_NOT_FOUND",
        ProjectNotFound => "PROJECT_NOT_FOUND",
        SessionNotFound => "SESSION_NOT_FOUND",
        PrNotFound => "PR_NOT_FOUND",
    ],
    405 => [MethodNotAllowed => "METHOD_NOT_ALLOWED"],
    409 => [
        PathAlreadyRegistered => "PATH_ALREADY_REGISTERED",
        IdAlreadyRegistered => "ID_ALREADY_REGISTERED",
        BranchCheckedOutElsewhere => "BRANCH_CHECKED_OUT_ELSEWHERE",
        WorkspacePathOccupied => "WORKSPACE_PATH_OCCUPIED",
        OrchestratorAlreadyRunning => "ORCHESTRATOR_ALREADY_RUNNING",
        SessionNotRestorable => "SESSION_NOT_RESTORABLE",
        SessionIncompleteHandle => "SESSION_INCOMPLETE_HANDLE",
        SessionNotResumable => "SESSION_NOT_RESUMABLE",
        SessionTerminated => "SESSION_TERMINATED",
        SessionNoRuntime => "SESSION_NO_RUNTIME",
        SessionBusy => "SESSION_BUSY",
        PrNotOpen => "PR_NOT_OPEN",
        PrClaimedByActiveSession => "PR_CLAIMED_BY_ACTIVE_SESSION",
    ],
    413 => [PayloadTooLarge => "PAYLOAD_TOO_LARGE"],
    415 => [UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE"],
    422 => [
        SessionNotClaimable => "SESSION_NOT_CLAIMABLE",
        SessionNoWorkspace => "SESSION_NO_WORKSPACE",
        PrProjectMismatch => "PR_PROJECT_MISMATCH",
        PrFromFork => "PR_FROM_FORK",
    ],
    500 => [
        InternalError => "INTERNAL_ERROR",
        AgentExitedEarly => "AGENT_EXITED_EARLY",
        RuntimeError => "RUNTIME_ERROR",
        WorkspaceError => "WORKSPACE_ERROR",
        ProvisionFailed => "PROVISION_FAILED",
    ],
    503 => [
        ServiceUnavailable => "SERVICE_UNAVAILABLE",
        DaemonStarting => "DAEMON_STARTING",
        DaemonShuttingDown => "DAEMON_SHUTTING_DOWN",
        ScmUnavailable => "SCM_UNAVAILABLE",
    ],
    504 => [RequestTimeout => "REQUEST_TIMEOUT"],
}

impl ErrorCode {
    /// The `error` kind word of this code's status.
    pub fn kind(self) -> &'static str {
        kind_word(self.status())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` kind word for an HTTP status (http-api.md §3).
pub fn kind_word(status: u16) -> &'static str {
    match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "unprocessable",
        503 => "unavailable",
        504 => "timeout",
        _ => "internal",
    }
}

/// The body of every non-2xx response (except the `/readyz` 503).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Kind word of the status, e.g. `conflict`.
    pub error: String,
    /// Stable UPPER_SNAKE code. Kept as a string so that a client can read codes added by a
    /// newer daemon.
    pub code: String,
    /// One human-readable sentence.
    pub message: String,
    pub request_id: String,
    /// Structured details; omitted when there are none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>, request_id: impl Into<String>) -> Self {
        Self {
            error: code.kind().to_string(),
            code: code.as_str().to_string(),
            message: message.into(),
            request_id: request_id.into(),
            details: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_carry_their_status() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>().ok(), Some(*code));
            let json = serde_json::to_string(code).expect("serialises");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_ne!(code.kind(), "", "{code}");
        }
        assert_eq!(ErrorCode::NotAGitRepo.status(), 400);
        assert_eq!(ErrorCode::PathAlreadyRegistered.status(), 409);
        assert_eq!(ErrorCode::RouteNotFound.kind(), "not_found");
        assert_eq!(ErrorCode::InternalError.kind(), "internal");
        assert_eq!(ErrorCode::RequestTimeout.kind(), "timeout");
        assert_eq!(ErrorCode::ALL.len(), 66);
    }

    #[test]
    fn envelope_omits_empty_details() {
        let body = ErrorBody::new(
            ErrorCode::SessionNotRestorable,
            "session demo-3 is not terminated",
            "req_1",
        );
        let v = serde_json::to_value(&body).expect("serialises");
        assert_eq!(
            v,
            serde_json::json!({"error":"conflict","code":"SESSION_NOT_RESTORABLE",
                "message":"session demo-3 is not terminated","requestId":"req_1"})
        );
    }
}
