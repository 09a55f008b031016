//! The grok adapter (adapters.md §5.3, §6, §7).
//!
//! * Launch `grok --no-auto-update [perm]`; restore `grok --no-auto-update [perm] -r <id>`.
//!   `[perm]` is Claude's: `--permission-mode acceptEdits|auto|bypassPermissions`. grok takes
//!   no model flag from AO: a configured model is ignored with a warning.
//! * Prompt delivery is `after_start`: the TUI starts without a prompt and the first prompt
//!   (with the prefix-fallback system prompt, §5.2) is pasted by the session actor.
//! * Hooks: grok reads Claude-format hooks from `.claude/settings.local.json` in the worktree:
//!   the key `hooks`, one matcher group per native event exactly as claude-code's, with
//!   commands `ao hooks grok <event>`. The file is merged with the user's
//!   own, git-ignored, and handled as a tracked target when committed
//!   ([`super::hook_json::WorktreeHookFile`]).
//!
//! The contract is data: [`GROK`], run by [`super::cli_agent::CliAgent`].

use ao_protocol::Harness;

use super::claude_code::{CLAUDE_EVENTS, claude_group};
use super::cli_agent::CliAgent;
use super::hook_json::{HookLayout, WorktreeHookFile};
use super::{CLAUDE_PERMISSIONS, PromptDelivery};

const HOOKS: WorktreeHookFile = WorktreeHookFile {
    dir: ".claude",
    file: "settings.local.json",
    layout: HookLayout {
        harness: Harness::Grok,
        events: &CLAUDE_EVENTS,
        entry: claude_group,
        version: None,
    },
};

/// The grok harness.
pub(crate) const GROK: CliAgent = CliAgent {
    harness: Harness::Grok,
    delivery: PromptDelivery::AfterStart,
    fixed: &["--no-auto-update"],
    permissions: CLAUDE_PERMISSIONS,
    model_flag: None,
    prompt_flag: None,
    resume_flag: "-r",
    hooks: Some(HOOKS),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Agent;
    use crate::agent::test_support::{Fixture, init_repo, porcelain, strs};
    use ao_protocol::PermissionMode;
    use serde_json::{Value, json};

    #[test]
    fn the_spec_argv_with_every_option_set() {
        // adapters.md §6; the model is ignored and the prompt is pasted.
        let f = Fixture::with_everything("grok", PermissionMode::AcceptEdits);
        assert_eq!(
            GROK.launch_argv(&f.ctx()),
            strs(&[
                "/bin/grok",
                "--no-auto-update",
                "--permission-mode",
                "acceptEdits"
            ])
        );
        assert_eq!(
            GROK.restore_argv(&f.ctx(), "id-1"),
            strs(&[
                "/bin/grok",
                "--no-auto-update",
                "--permission-mode",
                "acceptEdits",
                "-r",
                "id-1"
            ])
        );
    }

    #[tokio::test]
    async fn hooks_are_claude_groups_in_settings_local_json() {
        let f = Fixture::new("grok");
        init_repo(&f.worktree, &[]).await;
        GROK.install_hooks(&f.ctx()).await.expect("install");
        let got: Value = serde_json::from_slice(
            &std::fs::read(f.worktree.join(HOOKS.rel())).expect("hook file"),
        )
        .expect("json");
        let group = |e: &str| json!([{"hooks": [{"type": "command", "command": format!("ao hooks grok {e}"), "timeout": 30}]}]);
        assert_eq!(
            got,
            json!({"hooks": {
                "SessionStart": group("session-start"),
                "UserPromptSubmit": group("user-prompt-submit"),
                "PostToolUse": group("tool-use"),
                "Notification": group("notification"),
                "Stop": group("stop"),
                "SessionEnd": group("session-end"),
            }})
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        GROK.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!f.worktree.join(".claude").exists());
    }
}
