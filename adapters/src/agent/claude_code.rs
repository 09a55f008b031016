//! The claude-code adapter (adapters.md §6, §7; sessions.md §1).
//!
//! * Hooks live in `<session_dir>/claude-settings.json` ([`CLAUDE_SETTINGS_FILE`]), passed with
//!   `--settings`; Claude merges it with the user's and the project's settings. Nothing is
//!   written into the worktree.
//! * The file holds `hooks` in Claude's matcher-group layout, one group per native event
//!   (`SessionStart` has no matcher so it also fires on resume/clear/compact), each entry
//!   `{type:"command", command:"ao hooks claude-code <event>", timeout:30}`; with permission
//!   `bypass-permissions` also `skipDangerousModePermissionPrompt: true`.
//! * Launch: `claude --session-id <uuid> --settings <file> [perm] [model]
//!   [--append-system-prompt S] [-- P]`; restore: `claude --settings <file> [perm] [model]
//!   [--append-system-prompt S] --resume <id or uuid>`.
//! * Pre-launch: the trust entry of adapters.md §6.1 ([`super::claude_state`]).
//!
//! Invariant: the settings file is AO's (it lives in the session directory), but it is still
//! merged rather than overwritten, so anything else in it survives install and uninstall.

use ao_protocol::{Harness, PermissionMode};
use serde_json::{Value, json};

use super::cli_agent::permission_words;
use super::files::{OWNER_ONLY, read_json_object, remove_file_if_exists, write_json_if_changed};
use super::hook_json::HookLayout;
use super::{
    Agent, AgentContext, AgentError, CLAUDE_PERMISSIONS, PromptDelivery, claude_session_uuid,
};
use crate::runtime::BoxFuture;

/// The settings file in the session directory.
pub const CLAUDE_SETTINGS_FILE: &str = "claude-settings.json";

/// The key that suppresses Claude's bypass-permissions confirmation screen.
const SKIP_BYPASS_PROMPT: &str = "skipDangerousModePermissionPrompt";

/// (native event, AO event), in the order they are written; grok reads the same layout.
pub(crate) const CLAUDE_EVENTS: [(&str, &str); 6] = [
    ("SessionStart", "session-start"),
    ("UserPromptSubmit", "user-prompt-submit"),
    ("PostToolUse", "tool-use"),
    ("Notification", "notification"),
    ("Stop", "stop"),
    ("SessionEnd", "session-end"),
];

/// Hook timeout in seconds.
const TIMEOUT_SECS: u64 = 30;

/// One matcher group without a matcher (it fires for every source, tool and notification):
/// `{hooks:[{type:"command", command, timeout:30}]}`. Shared with grok.
pub(crate) fn claude_group(_native: &str, command: String) -> Value {
    json!({"hooks": [{"type": "command", "command": command, "timeout": TIMEOUT_SECS}]})
}

/// claude-code's hooks in its settings file.
const LAYOUT: HookLayout = HookLayout {
    harness: Harness::ClaudeCode,
    events: &CLAUDE_EVENTS,
    entry: claude_group,
    version: None,
};

/// The claude-code harness.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeCode;

impl ClaudeCode {
    fn settings_path(ctx: &AgentContext<'_>) -> std::path::PathBuf {
        ctx.session_dir.join(CLAUDE_SETTINGS_FILE)
    }

    /// `--settings <file> [perm] [model] [--append-system-prompt S]`: the words shared by
    /// launch and restore.
    fn common_flags(ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = vec![
            "--settings".to_string(),
            Self::settings_path(ctx).to_string_lossy().into_owned(),
        ];
        argv.extend(
            permission_words(&CLAUDE_PERMISSIONS, ctx.permissions())
                .iter()
                .map(|s| (*s).to_string()),
        );
        if let Some(model) = ctx.model() {
            argv.extend(["--model".to_string(), model.to_string()]);
        }
        if let Some(system) = ctx.system() {
            argv.extend(["--append-system-prompt".to_string(), system.to_string()]);
        }
        argv
    }

    fn install(ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        let path = Self::settings_path(ctx);
        let mut root = read_json_object(&path)?;
        LAYOUT.merge(&path, &mut root)?;
        if ctx.permissions() == PermissionMode::BypassPermissions {
            root.insert(SKIP_BYPASS_PROMPT.into(), Value::Bool(true));
        } else {
            root.remove(SKIP_BYPASS_PROMPT);
        }
        write_json_if_changed(&path, &root, OWNER_ONLY)?;
        Ok(())
    }

    fn uninstall(ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        let path = Self::settings_path(ctx);
        if !path.exists() {
            return Ok(());
        }
        let mut root = read_json_object(&path)?;
        let stripped = LAYOUT.strip(&mut root);
        let skipped = root.remove(SKIP_BYPASS_PROMPT).is_some();
        if root.is_empty() {
            remove_file_if_exists(&path)
        } else if stripped || skipped {
            write_json_if_changed(&path, &root, OWNER_ONLY).map(|_| ())
        } else {
            Ok(())
        }
    }
}

impl Agent for ClaudeCode {
    fn harness(&self) -> Harness {
        Harness::ClaudeCode
    }

    fn prompt_delivery(&self) -> PromptDelivery {
        PromptDelivery::InCommand
    }

    fn can_resume(&self, _stored_agent_session_id: &str) -> bool {
        true
    }

    fn install_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async move { Self::install(ctx) })
    }

    fn uninstall_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async move { Self::uninstall(ctx) })
    }

    fn pre_launch(&self, ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        super::claude_state::ensure_trusted(ctx).map(|_| ())
    }

    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = vec![
            ctx.binary_word(),
            "--session-id".to_string(),
            claude_session_uuid(ctx.session_id),
        ];
        argv.extend(Self::common_flags(ctx));
        if let Some(prompt) = ctx.user_prompt() {
            argv.extend(["--".to_string(), prompt.to_string()]);
        }
        argv
    }

    fn restore_argv(&self, ctx: &AgentContext<'_>, agent_session_id: &str) -> Vec<String> {
        let mut argv = vec![ctx.binary_word()];
        argv.extend(Self::common_flags(ctx));
        let id = if agent_session_id.is_empty() {
            claude_session_uuid(ctx.session_id)
        } else {
            agent_session_id.to_string()
        };
        argv.extend(["--resume".to_string(), id]);
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::{Fixture, block_on_ok, strs};
    use std::path::Path;

    const UUID: &str = "d140265d-7ade-549b-a87c-a6e5f3881f9a"; // demo-1

    fn expected_hooks() -> Value {
        let entry = |e: &str| json!([{"hooks": [{"type": "command", "command": format!("ao hooks claude-code {e}"), "timeout": 30}]}]);
        json!({
            "SessionStart": entry("session-start"),
            "UserPromptSubmit": entry("user-prompt-submit"),
            "PostToolUse": entry("tool-use"),
            "Notification": entry("notification"),
            "Stop": entry("stop"),
            "SessionEnd": entry("session-end"),
        })
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("settings file")).expect("json")
    }

    #[test]
    fn events_are_the_protocol_events_of_claude_code() {
        assert_eq!(
            LAYOUT.ao_events(),
            ao_protocol::hooks::events_of(Harness::ClaudeCode)
        );
    }

    #[test]
    fn launch_argv_for_every_permission_model_and_prompt() {
        let mut f = Fixture::new("claude");
        let settings = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        let settings = settings.to_str().expect("utf-8").to_string();
        let perms: [(Option<PermissionMode>, &[&str]); 5] = [
            (None, &[]),
            (Some(PermissionMode::Default), &[]),
            (
                Some(PermissionMode::AcceptEdits),
                &["--permission-mode", "acceptEdits"],
            ),
            (Some(PermissionMode::Auto), &["--permission-mode", "auto"]),
            (
                Some(PermissionMode::BypassPermissions),
                &["--permission-mode", "bypassPermissions"],
            ),
        ];
        for (perm, perm_flags) in perms {
            for model in [None, Some("opus")] {
                for prompt in [None, Some("fix the bug")] {
                    for system in ["", "You are AO."] {
                        f.config.permissions = perm;
                        f.config.model = model.map(str::to_string);
                        f.prompt = prompt.map(str::to_string);
                        f.system_prompt = system.to_string();
                        let mut want = strs(&["/bin/claude", "--session-id", UUID, "--settings"]);
                        want.push(settings.clone());
                        want.extend(strs(perm_flags));
                        if let Some(m) = model {
                            want.extend(strs(&["--model", m]));
                        }
                        if !system.is_empty() {
                            want.extend(strs(&["--append-system-prompt", system]));
                        }
                        if let Some(p) = prompt {
                            want.extend(strs(&["--", p]));
                        }
                        assert_eq!(ClaudeCode.launch_argv(&f.ctx()), want);

                        let mut want = strs(&["/bin/claude", "--settings"]);
                        want.push(settings.clone());
                        want.extend(strs(perm_flags));
                        if let Some(m) = model {
                            want.extend(strs(&["--model", m]));
                        }
                        if !system.is_empty() {
                            want.extend(strs(&["--append-system-prompt", system]));
                        }
                        let mut with_id = want.clone();
                        with_id.extend(strs(&["--resume", "abc-123"]));
                        assert_eq!(ClaudeCode.restore_argv(&f.ctx(), "abc-123"), with_id);
                        want.extend(strs(&["--resume", UUID]));
                        assert_eq!(ClaudeCode.restore_argv(&f.ctx(), ""), want);
                    }
                }
            }
        }
    }

    #[test]
    fn empty_prompt_and_model_give_no_flags() {
        let mut f = Fixture::new("claude");
        f.prompt = Some(String::new());
        f.config.model = Some(String::new());
        let argv = ClaudeCode.launch_argv(&f.ctx());
        assert!(!argv.contains(&"--".to_string()), "{argv:?}");
        assert!(!argv.contains(&"--model".to_string()), "{argv:?}");
    }

    #[test]
    fn a_prompt_starting_with_a_dash_stays_a_prompt() {
        let mut f = Fixture::new("claude");
        f.prompt = Some("--help me".into());
        let argv = ClaudeCode.launch_argv(&f.ctx());
        assert_eq!(&argv[argv.len() - 2..], strs(&["--", "--help me"]));
    }

    #[test]
    fn settings_file_has_the_exact_content_and_nothing_goes_into_the_worktree() {
        let f = Fixture::new("claude");
        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        let path = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        assert_eq!(read(&path), json!({"hooks": expected_hooks()}));
        assert_eq!(
            std::fs::read_dir(&f.worktree).expect("worktree").count(),
            0,
            "nothing is written into the worktree"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn bypass_permissions_adds_the_skip_prompt_key() {
        let mut f = Fixture::new("claude");
        f.config.permissions = Some(PermissionMode::BypassPermissions);
        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        let path = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        assert_eq!(
            read(&path),
            json!({"hooks": expected_hooks(), "skipDangerousModePermissionPrompt": true})
        );
        // A restore with another mode drops it again.
        f.config.permissions = Some(PermissionMode::Auto);
        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        assert_eq!(read(&path), json!({"hooks": expected_hooks()}));
    }

    #[test]
    fn install_is_idempotent_and_uninstall_keeps_user_entries() {
        let f = Fixture::new("claude");
        let path = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        let user_group =
            json!({"matcher": "Bash", "hooks": [{"type": "command", "command": "echo user"}]});
        std::fs::write(
            &path,
            serde_json::to_vec(&json!({
                "env": {"A": "1"},
                "hooks": {"Stop": [user_group.clone()], "PreToolUse": [user_group.clone()]}
            }))
            .expect("json"),
        )
        .expect("seed");

        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        let once = read(&path);
        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        assert_eq!(read(&path), once, "a second install changes nothing");
        let stop = once["hooks"]["Stop"].as_array().expect("array");
        assert_eq!(stop.len(), 2, "user group + one AO group: {stop:?}");
        assert_eq!(stop[0], user_group);
        assert_eq!(once["hooks"]["PreToolUse"], json!([user_group.clone()]));
        assert_eq!(once["env"], json!({"A": "1"}));

        block_on_ok(ClaudeCode.uninstall_hooks(&f.ctx()));
        assert_eq!(
            read(&path),
            json!({
                "env": {"A": "1"},
                "hooks": {"Stop": [user_group.clone()], "PreToolUse": [user_group]}
            })
        );
        block_on_ok(ClaudeCode.uninstall_hooks(&f.ctx()));
    }

    #[test]
    fn uninstall_deletes_a_file_left_empty_and_tolerates_a_missing_one() {
        let mut f = Fixture::new("claude");
        f.config.permissions = Some(PermissionMode::BypassPermissions);
        let path = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        block_on_ok(ClaudeCode.uninstall_hooks(&f.ctx()));
        block_on_ok(ClaudeCode.install_hooks(&f.ctx()));
        assert!(path.exists());
        block_on_ok(ClaudeCode.uninstall_hooks(&f.ctx()));
        assert!(!path.exists());
    }

    #[test]
    fn a_corrupt_settings_file_is_an_error_and_left_alone() {
        let f = Fixture::new("claude");
        let path = f.session_dir.join(CLAUDE_SETTINGS_FILE);
        std::fs::write(&path, "{not json").expect("seed");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let err = rt
            .block_on(ClaudeCode.install_hooks(&f.ctx()))
            .expect_err("corrupt");
        assert!(matches!(err, AgentError::Json { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "{not json");
    }
}
