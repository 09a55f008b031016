//! The `Agent` port: how each harness is launched, restored and wired to `ao hooks`
//! (adapters.md §5–7, sessions.md §1, §10–11).
//!
//! Main types:
//! * [`Agent`]: the object-safe port, one `&'static` implementation per harness, obtained with
//!   [`agent_for`]: [`ClaudeCode`], [`Codex`], [`Opencode`] and [`Command`] have code of their
//!   own; grok, cursor, qwen, copilot and kimi are data (a `CliAgent` constant each: fixed
//!   words, permission/model/prompt/resume flags, JSON hook file) run by one implementation.
//! * [`AgentContext`]: everything an adapter needs about one session (borrowed, built by the
//!   session actor for each spawn/restore/kill).
//! * [`PromptDelivery`]: how the first prompt reaches the agent (§5.3).
//! * [`BinaryResolver`]: the `PATH` + well-known-directories lookup of §5.4, cached.
//! * [`AgentError`]: install/uninstall/pre-launch failures; every one is reported as
//!   `PROVISION_FAILED` ([`AgentError::code`]).
//!
//! Pure helpers: [`claude_session_uuid`] (UUIDv5 of the session id), [`prefixed_prompt`] (the
//! system-prompt fallback of §5.2), [`merged_agent_config`] (§5.1), [`hook_command`].
//! JSON hook files are merged by one shared implementation (`hook_json`); every adapter passes
//! the same conformance suite (`conformance`, tests only).
//!
//! Invariants:
//! * `launch_argv`/`restore_argv` are pure (grok and kimi only log a warning when a model is
//!   configured, which they cannot pass): argv\[0\] is the resolved binary, and every other
//!   word is passed as one argv element (no shell except the `command` harness's `/bin/sh -c`).
//! * Hook commands are exactly `ao hooks <harness> <event>` with the AO event names of
//!   [`ao_protocol::hooks::events_of`].
//! * Installing hooks is idempotent and never leaves the worktree dirty (`git status
//!   --porcelain` unchanged); uninstalling removes AO's entries and files only.
//! * Permission `default` (or none) never produces a flag; an empty model never produces one.

mod claude_code;
mod claude_state;
mod cli_agent;
mod codex;
mod command;
mod copilot;
mod cursor;
mod files;
mod grok;
mod hook_json;
mod kimi;
mod opencode;
mod qwen;
mod resolve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ao_protocol::{AgentConfig, ErrorCode, Harness, PermissionMode, SessionId, SessionKind};
use sha1::{Digest, Sha1};

use crate::process::ProcessError;
use crate::runtime::BoxFuture;

pub use claude_code::{CLAUDE_SETTINGS_FILE, ClaudeCode};
pub use claude_state::claude_state_path;
pub use codex::{Codex, toml_string};
pub use command::Command;
pub use files::GITIGNORE_MARKER;
pub use opencode::{OPENCODE_PLUGIN_REL, OPENCODE_PLUGIN_SENTINEL, Opencode};
pub use resolve::{BinaryResolver, SYSTEM_BIN_DIRS};

/// The fixed namespace of Claude's native session ids (sessions.md §1).
pub const CLAUDE_UUID_NAMESPACE: [u8; 16] = [
    0x6f, 0x1c, 0x0a, 0x52, 0x5b, 0x1e, 0x4d, 0x0c, 0x9a, 0x7e, 0x3b, 0x2f, 0x4c, 0x8d, 0x9e, 0x10,
];

/// How the first prompt reaches the agent (adapters.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptDelivery {
    /// Part of the launch argv.
    InCommand,
    /// Pasted into the TUI once it has started (sessions.md §9.4).
    AfterStart,
    /// Given in the environment (`AO_PROMPT`, `AO_SYSTEM_PROMPT`): harness `command`.
    Env,
}

/// What an adapter knows about one session. Built by the session actor.
#[derive(Debug, Clone, Copy)]
pub struct AgentContext<'a> {
    pub session_id: &'a SessionId,
    pub kind: SessionKind,
    /// The session's worktree.
    pub worktree: &'a Path,
    /// `<AO_DATA_DIR>/sessions/<id>` (created by the caller).
    pub session_dir: &'a Path,
    /// The resolved binary (from [`BinaryResolver`]); becomes argv\[0\].
    pub binary: &'a Path,
    /// Merged agent config ([`merged_agent_config`]).
    pub agent_config: &'a AgentConfig,
    pub system_prompt: &'a str,
    /// The user prompt; `None` or empty means none.
    pub prompt: Option<&'a str>,
    /// Harness `command` only: the launch command line.
    pub command: Option<&'a str>,
    /// The session environment of sessions.md §11 (pre-launch reads `CLAUDE_CONFIG_DIR`,
    /// `HOME` and `ANTHROPIC_API_KEY` from it).
    pub env: &'a BTreeMap<String, String>,
}

impl AgentContext<'_> {
    /// The user prompt when it is non-empty.
    pub fn user_prompt(&self) -> Option<&str> {
        self.prompt.filter(|p| !p.is_empty())
    }

    /// The model when it is set and non-empty.
    pub fn model(&self) -> Option<&str> {
        self.agent_config.model.as_deref().filter(|m| !m.is_empty())
    }

    /// The permission mode; absent means `default`.
    pub fn permissions(&self) -> PermissionMode {
        self.agent_config
            .permissions
            .unwrap_or(PermissionMode::Default)
    }

    /// The system prompt when it is non-empty.
    pub fn system(&self) -> Option<&str> {
        Some(self.system_prompt).filter(|s| !s.is_empty())
    }

    /// argv\[0\]: the resolved binary as a string.
    pub fn binary_word(&self) -> String {
        self.binary.to_string_lossy().into_owned()
    }
}

/// Why installing or removing hooks, or the pre-launch step, failed. Every variant is
/// reported as `PROVISION_FAILED` (`{step:"hooks"}`, sessions.md §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// A file or directory could not be read or written.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    /// The hook file AO would write exists and was not written by AO; it is left alone.
    #[error("{} exists and was not written by ao; refusing to overwrite it", .path.display())]
    NotAoFile { path: PathBuf },
    /// A JSON file AO must merge into is not a JSON object; it is left alone.
    #[error("{}: {message}", .path.display())]
    Json { path: PathBuf, message: String },
    /// Claude's state file cannot be located: neither `CLAUDE_CONFIG_DIR` nor `HOME` is set.
    #[error("cannot locate Claude's state file: neither CLAUDE_CONFIG_DIR nor HOME is set")]
    NoHome,
    /// A git command (tracked-target handling) failed.
    #[error(transparent)]
    Command(#[from] ProcessError),
}

impl AgentError {
    /// The API error code this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::ProvisionFailed
    }

    pub(crate) fn io(path: &Path, e: &std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}

/// An agent harness. Object safe: every implementation is a `&'static dyn Agent` from
/// [`agent_for`].
pub trait Agent: Send + Sync {
    /// Which harness this is.
    fn harness(&self) -> Harness;

    /// The binary looked up by [`BinaryResolver`] (`/bin/sh` for `command`).
    fn binary_name(&self) -> &'static str {
        self.harness().binary_name()
    }

    /// How the first prompt is delivered.
    fn prompt_delivery(&self) -> PromptDelivery;

    /// Whether a restore can resume the agent's conversation given the stored
    /// `agent_session_id` (claude-code: always, its id is derived; command: never, a restore
    /// relaunches the command; every other harness: a non-empty id, the default).
    fn can_resume(&self, stored_agent_session_id: &str) -> bool {
        !stored_agent_session_id.is_empty()
    }

    /// Writes AO's hook configuration (adapters.md §5.4, §7). Idempotent; never dirties the
    /// worktree.
    fn install_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>>;

    /// Removes AO's hook entries and files only (kill, cleanup, rollback). Idempotent.
    fn uninstall_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>>;

    /// The step run right before launch and restore (claude-code: the trust entry of
    /// adapters.md §6.1; a no-op elsewhere, the default). Blocking file I/O on small files only.
    fn pre_launch(&self, _ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        Ok(())
    }

    /// The argv that starts a new agent conversation (adapters.md §6).
    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String>;

    /// The argv that resumes conversation `agent_session_id` (adapters.md §6).
    fn restore_argv(&self, ctx: &AgentContext<'_>, agent_session_id: &str) -> Vec<String>;
}

static CLAUDE_CODE: ClaudeCode = ClaudeCode;
static CODEX: Codex = Codex;
static OPENCODE: Opencode = Opencode;
static GROK: cli_agent::CliAgent = grok::GROK;
static CURSOR: cli_agent::CliAgent = cursor::CURSOR;
static QWEN: cli_agent::CliAgent = qwen::QWEN;
static COPILOT: cli_agent::CliAgent = copilot::COPILOT;
static KIMI: cli_agent::CliAgent = kimi::KIMI;
static COMMAND: Command = Command;

/// The adapter of a harness (every harness has one).
pub fn agent_for(harness: Harness) -> &'static dyn Agent {
    match harness {
        Harness::ClaudeCode => &CLAUDE_CODE,
        Harness::Codex => &CODEX,
        Harness::Opencode => &OPENCODE,
        Harness::Grok => &GROK,
        Harness::Cursor => &CURSOR,
        Harness::Qwen => &QWEN,
        Harness::Copilot => &COPILOT,
        Harness::Kimi => &KIMI,
        Harness::Command => &COMMAND,
    }
}

/// Claude's native session id: the UUIDv5 of the session id under
/// [`CLAUDE_UUID_NAMESPACE`] (sessions.md §1), lowercase hyphenated.
pub fn claude_session_uuid(session_id: &SessionId) -> String {
    uuid_v5(&CLAUDE_UUID_NAMESPACE, session_id.as_str().as_bytes())
}

/// RFC 4122 §4.3 name-based UUID with SHA-1.
fn uuid_v5(namespace: &[u8; 16], name: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(namespace);
    hasher.update(name);
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The hook command string `ao hooks <harness> <event>`.
pub fn hook_command(harness: Harness, event: &str) -> String {
    format!("ao hooks {} {event}", harness.as_str())
}

/// The prefix by which AO's hook entries are recognised: `ao hooks <harness> `.
pub(crate) fn hook_prefix(harness: Harness) -> String {
    format!("ao hooks {} ", harness.as_str())
}

/// The system-prompt fallback of adapters.md §5.2 for agents without a system-prompt channel:
/// `<system>\n\n---\n\n<user>`, the system prompt alone without a user prompt, the user prompt
/// alone without a system prompt, `None` when both are empty.
pub fn prefixed_prompt(system_prompt: &str, user_prompt: Option<&str>) -> Option<String> {
    let user = user_prompt.filter(|p| !p.is_empty());
    match (system_prompt.is_empty(), user) {
        (false, Some(u)) => Some(format!("{system_prompt}\n\n---\n\n{u}")),
        (false, None) => Some(system_prompt.to_string()),
        (true, Some(u)) => Some(u.to_string()),
        (true, None) => None,
    }
}

/// adapters.md §5.1: the project's `agentConfig` overlaid by the role's, where non-empty
/// fields win (an empty model string counts as unset).
pub fn merged_agent_config(
    project: Option<&AgentConfig>,
    role: Option<&AgentConfig>,
) -> AgentConfig {
    let non_empty = |c: Option<&AgentConfig>| {
        c.and_then(|c| c.model.clone())
            .filter(|m| !m.trim().is_empty())
    };
    AgentConfig {
        model: non_empty(role).or_else(|| non_empty(project)),
        permissions: role
            .and_then(|c| c.permissions)
            .or_else(|| project.and_then(|c| c.permissions)),
    }
}

/// adapters.md §5.1: a model the harness cannot pass is ignored with a warning.
pub(crate) fn warn_model_ignored(ctx: &AgentContext<'_>, harness: Harness) {
    if let Some(model) = ctx.model() {
        tracing::warn!(
            session = %ctx.session_id,
            harness = %harness,
            model,
            "{harness} takes no model flag; the configured model is ignored"
        );
    }
}

/// claude-code's (and grok's) `--permission-mode` flags for `accept-edits`, `auto` and
/// `bypass-permissions`.
pub(crate) const CLAUDE_PERMISSIONS: cli_agent::PermissionFlags = [
    &["--permission-mode", "acceptEdits"],
    &["--permission-mode", "auto"],
    &["--permission-mode", "bypassPermissions"],
];

#[cfg(test)]
mod conformance;
#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_uuid_matches_independently_computed_vectors() {
        // Pinned with python3: uuid.uuid5(UUID('6f1c0a52-5b1e-4d0c-9a7e-3b2f4c8d9e10'), name).
        let id = SessionId::parse("demo-1").expect("valid id");
        assert_eq!(
            claude_session_uuid(&id),
            "d140265d-7ade-549b-a87c-a6e5f3881f9a"
        );
        let id = SessionId::parse("my-project-42").expect("valid id");
        assert_eq!(
            claude_session_uuid(&id),
            "944a7032-b382-54c2-9522-1f7fb13a5351"
        );
    }

    #[test]
    fn uuid_v5_matches_the_rfc_dns_example() {
        // RFC 4122 namespace DNS, "www.example.com" (python3 uuid.uuid5(NAMESPACE_DNS, ...)).
        let dns = [
            0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4,
            0x30, 0xc8,
        ];
        assert_eq!(
            uuid_v5(&dns, b"www.example.com"),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
    }

    #[test]
    fn agent_for_covers_every_harness() {
        for h in Harness::ALL {
            let agent = agent_for(*h);
            assert_eq!(agent.harness(), *h);
            assert_eq!(agent.binary_name(), h.binary_name());
        }
    }

    #[test]
    fn prefix_fallback() {
        assert_eq!(
            prefixed_prompt("SYS", Some("do it")).as_deref(),
            Some("SYS\n\n---\n\ndo it")
        );
        assert_eq!(prefixed_prompt("SYS", None).as_deref(), Some("SYS"));
        assert_eq!(prefixed_prompt("SYS", Some("")).as_deref(), Some("SYS"));
        assert_eq!(prefixed_prompt("", Some("u")).as_deref(), Some("u"));
        assert_eq!(prefixed_prompt("", None), None);
    }

    #[test]
    fn merged_config_non_empty_role_fields_win() {
        let project = AgentConfig {
            model: Some("p-model".into()),
            permissions: Some(PermissionMode::Auto),
        };
        let role = AgentConfig {
            model: Some(String::new()),
            permissions: Some(PermissionMode::BypassPermissions),
        };
        assert_eq!(
            merged_agent_config(Some(&project), Some(&role)),
            AgentConfig {
                model: Some("p-model".into()),
                permissions: Some(PermissionMode::BypassPermissions),
            }
        );
        let role = AgentConfig {
            model: Some("r-model".into()),
            permissions: None,
        };
        assert_eq!(
            merged_agent_config(Some(&project), Some(&role)),
            AgentConfig {
                model: Some("r-model".into()),
                permissions: Some(PermissionMode::Auto),
            }
        );
        assert_eq!(merged_agent_config(None, None), AgentConfig::default());
    }

    #[test]
    fn hook_commands_use_the_protocol_event_names() {
        assert_eq!(
            hook_command(Harness::ClaudeCode, "stop"),
            "ao hooks claude-code stop"
        );
        assert_eq!(hook_prefix(Harness::Codex), "ao hooks codex ");
    }

    #[test]
    fn errors_are_provision_failures() {
        let e = AgentError::NotAoFile {
            path: PathBuf::from("/w/.opencode/plugins/ao-activity.ts"),
        };
        assert_eq!(e.code(), ErrorCode::ProvisionFailed);
        assert!(e.to_string().contains("not written by ao"), "{e}");
    }
}
