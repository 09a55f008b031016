//! Every closed vocabulary of the spec as a string enum.
//!
//! Each enum has `as_str` (the exact wire / SQLite spelling), `FromStr` (the inverse; unknown
//! words are an [`UnknownVariant`] error), `Display`, `ALL` and serde in the same spelling. The
//! store maps enum columns through these, so a word is spelled in exactly one place.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A word that is not part of an enum's vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches derive macros wrapped in an
// invisible group, which utoipa's serde parser skips, so the OpenAPI enum would list the Rust
// variant names instead of the wire spelling.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling on the wire and in SQLite.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownVariant { kind: $kind, value: s.to_string() }),
                }
            }
        }
    };
}

string_enum! {
    /// `sessions.kind`.
    SessionKind, "session kind" {
        Worker => "worker",
        Orchestrator => "orchestrator",
    }
}

string_enum! {
    /// The agent adapter that runs in a session (README §2 "harness").
    Harness, "harness" {
        ClaudeCode => "claude-code",
        Codex => "codex",
        Opencode => "opencode",
        Grok => "grok",
        Cursor => "cursor",
        Qwen => "qwen",
        Copilot => "copilot",
        Kimi => "kimi",
        Command => "command",
    }
}

impl Harness {
    /// Whether the harness reports activity through hooks (every harness but `kimi` and
    /// `command`). Only signal-capable sessions can show `no_signal`.
    pub const fn signal_capable(self) -> bool {
        !matches!(self, Self::Kimi | Self::Command)
    }

    /// The binary the harness runs (adapters.md §6): a name looked up as §5.4 says, or the
    /// absolute `/bin/sh` for `command`.
    pub const fn binary_name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude",
            Self::Codex => "codex",
            Self::Opencode => "opencode",
            Self::Grok => "grok",
            Self::Cursor => "cursor-agent",
            Self::Qwen => "qwen",
            Self::Copilot => "copilot",
            Self::Kimi => "kimi",
            Self::Command => "/bin/sh",
        }
    }

    /// The harness's own install directory, relative to `$HOME`, searched after the common
    /// ones (adapters.md §6 "extra dirs").
    pub const fn home_bin_dir(self) -> Option<&'static str> {
        match self {
            Self::ClaudeCode => Some(".claude/local"),
            Self::Opencode => Some(".opencode/bin"),
            Self::Grok => Some(".grok/bin"),
            Self::Copilot => Some(".copilot/bin"),
            Self::Codex | Self::Cursor | Self::Qwen | Self::Kimi | Self::Command => None,
        }
    }
}

string_enum! {
    /// The terminal multiplexer hosting an agent.
    RuntimeKind, "runtime" {
        Tmux => "tmux",
        Zellij => "zellij",
    }
}

string_enum! {
    /// The stored activity fact of a session (sessions.md §12).
    ActivityState, "activity state" {
        Active => "active",
        Idle => "idle",
        WaitingInput => "waiting_input",
        Exited => "exited",
    }
}

string_enum! {
    /// Why a session ended.
    TerminatedReason, "terminated reason" {
        Killed => "killed",
        AgentExited => "agent_exited",
        RuntimeMissing => "runtime_missing",
        PrMerged => "pr_merged",
        SpawnFailed => "spawn_failed",
        ProjectRemoved => "project_removed",
    }
}

string_enum! {
    /// The display status derived at read time (sessions.md §15); never stored.
    DisplayStatus, "display status" {
        Working => "working",
        Idle => "idle",
        NeedsInput => "needs_input",
        NoSignal => "no_signal",
        CiFailed => "ci_failed",
        ChangesRequested => "changes_requested",
        Draft => "draft",
        ReviewPending => "review_pending",
        PrOpen => "pr_open",
        Approved => "approved",
        Mergeable => "mergeable",
        Merged => "merged",
        Terminated => "terminated",
    }
}

string_enum! {
    /// `pr.pr_state`.
    PrState, "PR state" {
        Draft => "draft",
        Open => "open",
        Merged => "merged",
        Closed => "closed",
    }
}

string_enum! {
    /// `pr.ci_state`.
    CiState, "CI state" {
        Unknown => "unknown",
        Pending => "pending",
        Passing => "passing",
        Failing => "failing",
    }
}

string_enum! {
    /// `pr.review_decision`.
    ReviewDecision, "review decision" {
        None => "none",
        Approved => "approved",
        ChangesRequested => "changes_requested",
        ReviewRequired => "review_required",
    }
}

string_enum! {
    /// `pr.mergeability`.
    Mergeability, "mergeability" {
        Unknown => "unknown",
        Mergeable => "mergeable",
        Conflicting => "conflicting",
        Blocked => "blocked",
        Unstable => "unstable",
    }
}

string_enum! {
    /// `pr_checks.kind`.
    CheckKind, "check kind" {
        CheckRun => "check_run",
        StatusContext => "status_context",
    }
}

string_enum! {
    /// `pr_checks.status`.
    CheckStatus, "check status" {
        Unknown => "unknown",
        Queued => "queued",
        InProgress => "in_progress",
        Passed => "passed",
        Failed => "failed",
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// `pr.last_nudge_kind` (empty string in SQLite when no nudge was sent).
    NudgeKind, "nudge kind" {
        Ci => "ci",
        Review => "review",
        Conflict => "conflict",
    }
}

string_enum! {
    /// `agentConfig.permissions`.
    PermissionMode, "permission mode" {
        Default => "default",
        AcceptEdits => "accept-edits",
        Auto => "auto",
        BypassPermissions => "bypass-permissions",
    }
}

string_enum! {
    /// `Project.health`.
    ProjectHealth, "project health" {
        Ok => "ok",
        Degraded => "degraded",
    }
}

string_enum! {
    /// `github.state` in `GET /api/v1/status`.
    GithubState, "github state" {
        Ok => "ok",
        Disabled => "disabled",
        AuthFailed => "auth_failed",
        Throttled => "throttled",
        Backoff => "backoff",
    }
}

string_enum! {
    /// `change_log.event_type` (data-model.md §5). The column is an open vocabulary in SQLite;
    /// this enum is the closed set the triggers of this version produce.
    EventType, "event type" {
        SessionCreated => "session_created",
        SessionUpdated => "session_updated",
        SessionRenamed => "session_renamed",
        PrCreated => "pr_created",
        PrUpdated => "pr_updated",
        PrSessionChanged => "pr_session_changed",
        NudgeDelivered => "nudge_delivered",
        PrCheckRecorded => "pr_check_recorded",
        PrReviewThreadAdded => "pr_review_thread_added",
        PrReviewThreadResolved => "pr_review_thread_resolved",
        ProjectCreated => "project_created",
        ProjectArchived => "project_archived",
        ProjectUpdated => "project_updated",
    }
}

string_enum! {
    /// Daemon readiness as reported by `/readyz`.
    ReadinessState, "readiness" {
        Starting => "starting",
        Ready => "ready",
        ShuttingDown => "shutting_down",
    }
}

string_enum! {
    /// The state of the daemon as seen by the CLI (cli.md §2.1).
    DaemonState, "daemon state" {
        Stopped => "stopped",
        Stale => "stale",
        Unhealthy => "unhealthy",
        NotReady => "not_ready",
        Ready => "ready",
    }
}

string_enum! {
    /// Ordering of `GET /events/log`.
    LogOrder, "order" {
        Asc => "asc",
        Desc => "desc",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + FromStr + Serialize + for<'de> Deserialize<'de>,
        T: fmt::Display,
    {
        for v in all {
            let s = v.to_string();
            assert_eq!(s.parse::<T>().ok(), Some(*v));
            let json = serde_json::to_string(v).expect("serialises");
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<T>(&json).expect("deserialises"), *v);
        }
    }

    #[test]
    fn every_enum_round_trips_through_str_and_json() {
        round_trip(SessionKind::ALL);
        round_trip(Harness::ALL);
        round_trip(RuntimeKind::ALL);
        round_trip(ActivityState::ALL);
        round_trip(TerminatedReason::ALL);
        round_trip(DisplayStatus::ALL);
        round_trip(PrState::ALL);
        round_trip(CiState::ALL);
        round_trip(ReviewDecision::ALL);
        round_trip(Mergeability::ALL);
        round_trip(CheckKind::ALL);
        round_trip(CheckStatus::ALL);
        round_trip(NudgeKind::ALL);
        round_trip(PermissionMode::ALL);
        round_trip(ProjectHealth::ALL);
        round_trip(GithubState::ALL);
        round_trip(EventType::ALL);
        round_trip(ReadinessState::ALL);
        round_trip(DaemonState::ALL);
        round_trip(LogOrder::ALL);
    }

    #[test]
    fn unknown_words_are_rejected_with_their_kind() {
        let err = "claude".parse::<Harness>().expect_err("not a harness");
        assert_eq!(err.to_string(), "unknown harness \"claude\"");
        assert!(serde_json::from_str::<ActivityState>("\"busy\"").is_err());
    }

    #[test]
    fn binaries_and_their_install_dirs() {
        let bins: Vec<_> = Harness::ALL.iter().map(|h| h.binary_name()).collect();
        assert_eq!(
            bins,
            [
                "claude",
                "codex",
                "opencode",
                "grok",
                "cursor-agent",
                "qwen",
                "copilot",
                "kimi",
                "/bin/sh"
            ]
        );
        assert_eq!(Harness::Grok.home_bin_dir(), Some(".grok/bin"));
        assert_eq!(Harness::Cursor.home_bin_dir(), None);
    }

    #[test]
    fn signal_capability() {
        let hookless: Vec<_> = Harness::ALL
            .iter()
            .filter(|h| !h.signal_capable())
            .collect();
        assert_eq!(hookless, [&Harness::Kimi, &Harness::Command]);
    }
}
