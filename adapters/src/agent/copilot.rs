//! The copilot adapter (adapters.md §5.3, §6, §7).
//!
//! * Launch `copilot [perm] [model]`; restore `copilot [perm] [model] --resume <id>`.
//!   `[perm]` is `--allow-tool write` / `--allow-all-tools` / `--allow-all`; the model is
//!   `--model M`.
//! * Prompt delivery is `after_start` (the first prompt, with the prefix-fallback system
//!   prompt, is pasted by the session actor).
//! * Hooks: AO's own file `.github/hooks/ao.json` in the worktree (copilot loads every
//!   `.github/hooks/*.json`), `{version:1, hooks:{<event>:[{type:"command",
//!   bash, powershell, timeoutSec:30}]}}` where `bash` and `powershell` both hold the command:
//!   `sessionStart` → session-start, `userPromptSubmitted` → user-prompt-submit, `preToolUse` →
//!   tool-use, `agentStop` → stop, `sessionEnd` → session-end. A file already there is merged
//!   like every other hook file, never overwritten. Copilot's payloads carry its session id as
//!   `sessionId`.
//!
//! The contract is data: [`COPILOT`], run by [`super::cli_agent::CliAgent`].

use ao_protocol::Harness;
use serde_json::{Value, json};

use super::PromptDelivery;
use super::cli_agent::CliAgent;
use super::hook_json::{HookLayout, WorktreeHookFile};

/// (native event, AO event), in the order they are written.
const EVENTS: [(&str, &str); 5] = [
    ("sessionStart", "session-start"),
    ("userPromptSubmitted", "user-prompt-submit"),
    ("preToolUse", "tool-use"),
    ("agentStop", "stop"),
    ("sessionEnd", "session-end"),
];

/// Hook timeout in seconds.
const TIMEOUT_SECS: u64 = 30;

fn entry(_native: &str, command: String) -> Value {
    json!({
        "type": "command",
        "bash": command,
        "powershell": command,
        "timeoutSec": TIMEOUT_SECS,
    })
}

const HOOKS: WorktreeHookFile = WorktreeHookFile {
    dir: ".github/hooks",
    file: "ao.json",
    layout: HookLayout {
        harness: Harness::Copilot,
        events: &EVENTS,
        entry,
        version: Some(1),
    },
};

/// The copilot harness.
pub(crate) const COPILOT: CliAgent = CliAgent {
    harness: Harness::Copilot,
    delivery: PromptDelivery::AfterStart,
    fixed: &[],
    permissions: [
        &["--allow-tool", "write"],
        &["--allow-all-tools"],
        &["--allow-all"],
    ],
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
        let f = Fixture::with_everything("copilot", PermissionMode::AcceptEdits);
        assert_eq!(
            COPILOT.launch_argv(&f.ctx()),
            strs(&["/bin/copilot", "--allow-tool", "write", "--model", "m-1"])
        );
        assert_eq!(
            COPILOT.restore_argv(&f.ctx(), "id-1"),
            strs(&[
                "/bin/copilot",
                "--allow-tool",
                "write",
                "--model",
                "m-1",
                "--resume",
                "id-1"
            ])
        );
    }

    #[tokio::test]
    async fn ao_json_holds_both_shells_and_keeps_the_users_hooks_dir() {
        let f = Fixture::new("copilot");
        init_repo(
            &f.worktree,
            &[(".github/hooks/lint.json", b"{\"version\":1,\"hooks\":{}}")],
        )
        .await;
        COPILOT.install_hooks(&f.ctx()).await.expect("install");
        let got: Value = serde_json::from_slice(
            &std::fs::read(f.worktree.join(HOOKS.rel())).expect("hook file"),
        )
        .expect("json");
        let e = |ev: &str| {
            let c = format!("ao hooks copilot {ev}");
            json!([{"type": "command", "bash": c, "powershell": c, "timeoutSec": 30}])
        };
        assert_eq!(
            got,
            json!({"version": 1, "hooks": {
                "sessionStart": e("session-start"),
                "userPromptSubmitted": e("user-prompt-submit"),
                "preToolUse": e("tool-use"),
                "agentStop": e("stop"),
                "sessionEnd": e("session-end"),
            }})
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        COPILOT.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!f.worktree.join(HOOKS.rel()).exists());
        assert!(!f.worktree.join(".github/hooks/.gitignore").exists());
        assert!(f.worktree.join(".github/hooks/lint.json").exists());
        assert_eq!(porcelain(&f.worktree).await, "");
    }
}
