//! The cursor adapter (adapters.md §5.3, §6, §7).
//!
//! * Launch `cursor-agent [perm] [model]`; restore `cursor-agent [perm] [model] --resume <id>`.
//!   Only `auto` and `bypass-permissions` have a flag, both `--force`; the model is
//!   `--model M`.
//! * Prompt delivery is `after_start` (the first prompt, with the prefix-fallback system
//!   prompt, is pasted by the session actor).
//! * Hooks: `.cursor/hooks.json` in the worktree,
//!   `{version:1, hooks:{<event>:[{command}]}}` with flat entries: `sessionStart` →
//!   session-start, `beforeSubmitPrompt` → user-prompt-submit, `beforeShellExecution` and
//!   `beforeMCPExecution` → tool-use, `stop` → stop. Cursor's payloads carry the conversation
//!   id as `conversation_id`, which `ao hooks` reads as the agent session id.
//!
//! The contract is data: [`CURSOR`], run by [`super::cli_agent::CliAgent`].

use ao_protocol::Harness;
use serde_json::{Value, json};

use super::PromptDelivery;
use super::cli_agent::CliAgent;
use super::hook_json::{HookLayout, WorktreeHookFile};

/// (native event, AO event), in the order they are written.
const EVENTS: [(&str, &str); 5] = [
    ("sessionStart", "session-start"),
    ("beforeSubmitPrompt", "user-prompt-submit"),
    ("beforeShellExecution", "tool-use"),
    ("beforeMCPExecution", "tool-use"),
    ("stop", "stop"),
];

fn flat_entry(_native: &str, command: String) -> Value {
    json!({ "command": command })
}

const HOOKS: WorktreeHookFile = WorktreeHookFile {
    dir: ".cursor",
    file: "hooks.json",
    layout: HookLayout {
        harness: Harness::Cursor,
        events: &EVENTS,
        entry: flat_entry,
        version: Some(1),
    },
};

/// The cursor harness (binary `cursor-agent`).
pub(crate) const CURSOR: CliAgent = CliAgent {
    harness: Harness::Cursor,
    delivery: PromptDelivery::AfterStart,
    fixed: &[],
    permissions: [&[], &["--force"], &["--force"]],
    model_flag: Some("--model"),
    prompt_flag: None,
    resume_flag: "--resume",
    hooks: Some(HOOKS),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Agent;
    use crate::agent::test_support::{Fixture, init_repo, porcelain, strs};
    use ao_protocol::PermissionMode;

    #[test]
    fn the_spec_argv_with_every_option_set() {
        // adapters.md §6; the prompt is pasted.
        let f = Fixture::with_everything("cursor-agent", PermissionMode::Auto);
        assert_eq!(
            CURSOR.launch_argv(&f.ctx()),
            strs(&["/bin/cursor-agent", "--force", "--model", "m-1"])
        );
        assert_eq!(
            CURSOR.restore_argv(&f.ctx(), "id-1"),
            strs(&[
                "/bin/cursor-agent",
                "--force",
                "--model",
                "m-1",
                "--resume",
                "id-1"
            ])
        );
    }

    #[tokio::test]
    async fn hooks_json_has_version_1_and_flat_entries() {
        let f = Fixture::new("cursor-agent");
        init_repo(&f.worktree, &[]).await;
        CURSOR.install_hooks(&f.ctx()).await.expect("install");
        let got: Value = serde_json::from_slice(
            &std::fs::read(f.worktree.join(HOOKS.rel())).expect("hook file"),
        )
        .expect("json");
        let entry = |e: &str| json!([{"command": format!("ao hooks cursor {e}")}]);
        assert_eq!(
            got,
            json!({"version": 1, "hooks": {
                "sessionStart": entry("session-start"),
                "beforeSubmitPrompt": entry("user-prompt-submit"),
                "beforeShellExecution": entry("tool-use"),
                "beforeMCPExecution": entry("tool-use"),
                "stop": entry("stop"),
            }})
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        CURSOR.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!f.worktree.join(".cursor").exists());
    }
}
