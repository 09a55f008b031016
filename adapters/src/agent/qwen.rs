//! The qwen adapter (adapters.md §5.2, §5.3, §6, §7).
//!
//! * Launch `qwen [perm] [model] [-i P]`, where `P` is the first prompt after the
//!   prefix-fallback system prompt (§5.2) and `-i` keeps the session interactive; restore
//!   `qwen [perm] [model] -r <id>`. `[perm]` is `--approval-mode auto-edit|auto|yolo`; the
//!   model is `-m M`.
//! * Hooks: `.qwen/settings.json` in the worktree, key `hooks`, matcher
//!   groups whose entries are `{type:"command", command, timeout:30000}` (milliseconds):
//!   `SessionStart` (matcher `startup`) → session-start, `UserPromptSubmit` →
//!   user-prompt-submit, `PermissionRequest` → permission-request, `Stop` → stop. The file is
//!   usually the project's own (committed) settings: it is merged, and handled as a tracked
//!   target ([`super::hook_json::WorktreeHookFile`]).
//!
//! The contract is data: [`QWEN`], run by [`super::cli_agent::CliAgent`].

use ao_protocol::Harness;
use serde_json::{Value, json};

use super::PromptDelivery;
use super::cli_agent::CliAgent;
use super::hook_json::{HookLayout, WorktreeHookFile};

/// (native event, AO event), in the order they are written.
const EVENTS: [(&str, &str); 4] = [
    ("SessionStart", "session-start"),
    ("UserPromptSubmit", "user-prompt-submit"),
    ("PermissionRequest", "permission-request"),
    ("Stop", "stop"),
];

/// Hook timeout in milliseconds (adapters.md §7).
const TIMEOUT_MS: u64 = 30_000;

/// A matcher group; `SessionStart` only matches the `startup` source.
fn group(native: &str, command: String) -> Value {
    let hooks = json!([{"type": "command", "command": command, "timeout": TIMEOUT_MS}]);
    if native == "SessionStart" {
        json!({"matcher": "startup", "hooks": hooks})
    } else {
        json!({ "hooks": hooks })
    }
}

const HOOKS: WorktreeHookFile = WorktreeHookFile {
    dir: ".qwen",
    file: "settings.json",
    layout: HookLayout {
        harness: Harness::Qwen,
        events: &EVENTS,
        entry: group,
        version: None,
    },
};

/// The qwen harness.
pub(crate) const QWEN: CliAgent = CliAgent {
    harness: Harness::Qwen,
    delivery: PromptDelivery::InCommand,
    fixed: &[],
    permissions: [
        &["--approval-mode", "auto-edit"],
        &["--approval-mode", "auto"],
        &["--approval-mode", "yolo"],
    ],
    model_flag: Some("-m"),
    prompt_flag: Some("-i"),
    resume_flag: "-r",
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
        // adapters.md §6; the prompt carries the system prompt.
        let f = Fixture::with_everything("qwen", PermissionMode::AcceptEdits);
        assert_eq!(
            QWEN.launch_argv(&f.ctx()),
            strs(&[
                "/bin/qwen",
                "--approval-mode",
                "auto-edit",
                "-m",
                "m-1",
                "-i",
                "S\n\n---\n\nP"
            ])
        );
        assert_eq!(
            QWEN.restore_argv(&f.ctx(), "id-1"),
            strs(&[
                "/bin/qwen",
                "--approval-mode",
                "auto-edit",
                "-m",
                "m-1",
                "-r",
                "id-1"
            ])
        );
    }

    #[tokio::test]
    async fn settings_hooks_are_groups_with_millisecond_timeouts() {
        let f = Fixture::new("qwen");
        init_repo(&f.worktree, &[]).await;
        QWEN.install_hooks(&f.ctx()).await.expect("install");
        let got: Value =
            serde_json::from_slice(&std::fs::read(f.worktree.join(HOOKS.rel())).expect("settings"))
                .expect("json");
        let entry = |e: &str| json!([{"type": "command", "command": format!("ao hooks qwen {e}"), "timeout": 30000}]);
        assert_eq!(
            got,
            json!({"hooks": {
                "SessionStart": [{"matcher": "startup", "hooks": entry("session-start")}],
                "UserPromptSubmit": [{"hooks": entry("user-prompt-submit")}],
                "PermissionRequest": [{"hooks": entry("permission-request")}],
                "Stop": [{"hooks": entry("stop")}],
            }})
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        QWEN.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!f.worktree.join(".qwen").exists());
    }
}
