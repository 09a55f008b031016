//! The codex adapter (adapters.md §5.2, §6, §7).
//!
//! Codex gets everything through `-c key=value` overrides, so it writes no files:
//! `codex -c check_for_update_on_startup=false --dangerously-bypass-hook-trust [perm]
//! <hook -c ×4> -c projects={'<wt>'={trust_level="trusted"}} [model]
//! [-c developer_instructions=S] [-- P]`; restore is `codex resume <the same flags without the
//! prompt> <id>`.
//!
//! * Each hook flag is one argv element
//!   `hooks.<Event>=[{hooks=[{type="command",command="ao hooks codex <event>",timeout=5}]}]`
//!   for (SessionStart, session-start), (UserPromptSubmit, user-prompt-submit),
//!   (PermissionRequest, permission-request), (Stop, stop).
//! * The `projects` override also lists `realpath(<wt>)` when it differs from `<wt>`.
//! * TOML strings ([`toml_string`]): a literal `'…'` string unless the text contains `'` or a
//!   control character; then an escaped basic `"…"` string.
//! * Uninstall only strips AO entries from a legacy `.codex/hooks.json` in the worktree, with
//!   the tracked-target rules of adapters.md §5.4.

use std::fmt::Write as _;
use std::path::Path;

use ao_protocol::{Harness, PermissionMode};
use serde_json::Value;

use super::hook_json::{HookLayout, WorktreeHookFile};
use super::{Agent, AgentContext, AgentError, PromptDelivery, hook_command};
use crate::runtime::BoxFuture;

/// (native event, AO event) pairs passed as `-c hooks.<Event>=…`.
const EVENTS: [(&str, &str); 4] = [
    ("SessionStart", "session-start"),
    ("UserPromptSubmit", "user-prompt-submit"),
    ("PermissionRequest", "permission-request"),
    ("Stop", "stop"),
];

/// Codex hook timeout in seconds.
const TIMEOUT_SECS: u64 = 5;

fn no_entry(_native: &str, _command: String) -> Value {
    Value::Null
}

/// The legacy hook file the uninstall cleans up (nothing is ever installed into it).
const LEGACY: WorktreeHookFile = WorktreeHookFile {
    dir: ".codex",
    file: "hooks.json",
    layout: HookLayout {
        harness: Harness::Codex,
        events: &[],
        entry: no_entry,
        version: None,
    },
};

/// A TOML string for `text` (adapters.md §5.2): literal `'…'` unless the text contains `'` or
/// a control character, else a basic `"…"` string with `\\`, `\"`, `\b`, `\t`, `\n`, `\f`,
/// `\r` and `\uXXXX` escapes.
pub fn toml_string(text: &str) -> String {
    if !text.chars().any(|c| c == '\'' || c.is_control()) {
        return format!("'{text}'");
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The codex harness.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

impl Codex {
    fn permission_flags(mode: PermissionMode) -> &'static [&'static str] {
        match mode {
            PermissionMode::Default => &[],
            PermissionMode::AcceptEdits => &["--ask-for-approval", "on-request"],
            // `--full-auto` was this mode's flag until codex removed it (0.169.0 refuses it with
            // "unexpected argument"); these two flags are what it stood for, and exist in old
            // and new versions alike (docs/agents.md).
            PermissionMode::Auto => &[
                "--sandbox",
                "workspace-write",
                "--ask-for-approval",
                "on-request",
            ],
            PermissionMode::BypassPermissions => &["--dangerously-bypass-approvals-and-sandbox"],
        }
    }

    fn projects_override(worktree: &Path) -> String {
        let wt = worktree.to_string_lossy().into_owned();
        let mut keys = vec![wt.clone()];
        if let Ok(real) = std::fs::canonicalize(worktree) {
            let real = real.to_string_lossy().into_owned();
            if real != wt {
                keys.push(real);
            }
        }
        let entries: Vec<String> = keys
            .iter()
            .map(|k| format!("{}={{trust_level=\"trusted\"}}", toml_string(k)))
            .collect();
        format!("projects={{{}}}", entries.join(","))
    }

    /// Every launch word after the binary, except `-- P`.
    fn flags(ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv: Vec<String> = vec![
            "-c".into(),
            "check_for_update_on_startup=false".into(),
            "--dangerously-bypass-hook-trust".into(),
        ];
        argv.extend(
            Self::permission_flags(ctx.permissions())
                .iter()
                .map(|s| (*s).to_string()),
        );
        for (native, event) in EVENTS {
            argv.push("-c".into());
            argv.push(format!(
                "hooks.{native}=[{{hooks=[{{type=\"command\",command=\"{}\",timeout={TIMEOUT_SECS}}}]}}]",
                hook_command(Harness::Codex, event)
            ));
        }
        argv.push("-c".into());
        argv.push(Self::projects_override(ctx.worktree));
        if let Some(model) = ctx.model() {
            argv.extend(["-m".to_string(), model.to_string()]);
        }
        if let Some(system) = ctx.system() {
            argv.push("-c".into());
            argv.push(format!("developer_instructions={}", toml_string(system)));
        }
        argv
    }
}

impl Agent for Codex {
    fn harness(&self) -> Harness {
        Harness::Codex
    }

    fn prompt_delivery(&self) -> PromptDelivery {
        PromptDelivery::InCommand
    }

    fn install_hooks<'a>(
        &'a self,
        _ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        // Hooks are launch flags: nothing to write.
        Box::pin(async { Ok(()) })
    }

    fn uninstall_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(LEGACY.uninstall(ctx))
    }

    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = vec![ctx.binary_word()];
        argv.extend(Self::flags(ctx));
        if let Some(prompt) = ctx.user_prompt() {
            argv.extend(["--".to_string(), prompt.to_string()]);
        }
        argv
    }

    fn restore_argv(&self, ctx: &AgentContext<'_>, agent_session_id: &str) -> Vec<String> {
        let mut argv = vec![ctx.binary_word(), "resume".to_string()];
        argv.extend(Self::flags(ctx));
        argv.push(agent_session_id.to_string());
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::files;
    use crate::agent::test_support::{Fixture, block_on_ok, git, init_repo, porcelain, strs};
    use serde_json::json;

    fn hook_flags() -> Vec<String> {
        let mut v = Vec::new();
        for (native, event) in [
            ("SessionStart", "session-start"),
            ("UserPromptSubmit", "user-prompt-submit"),
            ("PermissionRequest", "permission-request"),
            ("Stop", "stop"),
        ] {
            v.push("-c".to_string());
            v.push(format!(
                "hooks.{native}=[{{hooks=[{{type=\"command\",command=\"ao hooks codex {event}\",timeout=5}}]}}]"
            ));
        }
        v
    }

    #[test]
    fn events_are_the_protocol_events_of_codex() {
        let ours: Vec<&str> = EVENTS.iter().map(|(_, e)| *e).collect();
        assert_eq!(ours, ao_protocol::hooks::events_of(Harness::Codex));
    }

    #[test]
    fn hook_flag_has_the_exact_form() {
        assert_eq!(
            hook_flags()[1],
            r#"hooks.SessionStart=[{hooks=[{type="command",command="ao hooks codex session-start",timeout=5}]}]"#
        );
    }

    #[test]
    fn launch_and_restore_argv_for_every_permission_model_and_prompt() {
        let mut f = Fixture::new("codex");
        let wt = f.worktree.to_str().expect("utf-8").to_string();
        let projects = format!("projects={{'{wt}'={{trust_level=\"trusted\"}}}}");
        let perms: [(Option<PermissionMode>, &[&str]); 5] = [
            (None, &[]),
            (Some(PermissionMode::Default), &[]),
            (
                Some(PermissionMode::AcceptEdits),
                &["--ask-for-approval", "on-request"],
            ),
            (
                Some(PermissionMode::Auto),
                &[
                    "--sandbox",
                    "workspace-write",
                    "--ask-for-approval",
                    "on-request",
                ],
            ),
            (
                Some(PermissionMode::BypassPermissions),
                &["--dangerously-bypass-approvals-and-sandbox"],
            ),
        ];
        for (perm, perm_flags) in perms {
            for model in [None, Some("gpt-5-codex")] {
                for prompt in [None, Some("fix it")] {
                    for system in ["", "Be AO."] {
                        f.config.permissions = perm;
                        f.config.model = model.map(str::to_string);
                        f.prompt = prompt.map(str::to_string);
                        f.system_prompt = system.to_string();
                        let mut flags = strs(&[
                            "-c",
                            "check_for_update_on_startup=false",
                            "--dangerously-bypass-hook-trust",
                        ]);
                        flags.extend(strs(perm_flags));
                        flags.extend(hook_flags());
                        flags.extend(["-c".to_string(), projects.clone()]);
                        if let Some(m) = model {
                            flags.extend(strs(&["-m", m]));
                        }
                        if !system.is_empty() {
                            flags.extend(strs(&["-c", "developer_instructions='Be AO.'"]));
                        }
                        let mut want = strs(&["/bin/codex"]);
                        want.extend(flags.clone());
                        if let Some(p) = prompt {
                            want.extend(strs(&["--", p]));
                        }
                        assert_eq!(Codex.launch_argv(&f.ctx()), want);

                        let mut want = strs(&["/bin/codex", "resume"]);
                        want.extend(flags);
                        want.push("019a-thread".into());
                        assert_eq!(Codex.restore_argv(&f.ctx(), "019a-thread"), want);
                    }
                }
            }
        }
    }

    #[test]
    fn projects_override_also_lists_the_realpath() {
        let f = Fixture::new("codex");
        let link = f.session_dir.join("wt-link");
        std::os::unix::fs::symlink(&f.worktree, &link).expect("symlink");
        let mut ctx = f.ctx();
        ctx.worktree = &link;
        let argv = Codex.launch_argv(&ctx);
        let want = format!(
            "projects={{'{}'={{trust_level=\"trusted\"}},'{}'={{trust_level=\"trusted\"}}}}",
            link.display(),
            f.worktree.display()
        );
        assert!(argv.contains(&want), "{argv:?}");
    }

    #[test]
    fn toml_strings() {
        assert_eq!(toml_string("plain text"), "'plain text'");
        assert_eq!(toml_string(""), "''");
        assert_eq!(
            toml_string(r#"a "quoted" \ path"#),
            r#"'a "quoted" \ path'"#
        );
        assert_eq!(toml_string("it's"), r#""it's""#);
        assert_eq!(toml_string("it's \"x\" \\ y"), r#""it's \"x\" \\ y""#);
        assert_eq!(
            toml_string("line1\nline2\ttab\r\u{1b}[0m\u{7f}\u{8}\u{c}"),
            r#""line1\nline2\ttab\r\u001B[0m\u007F\b\f""#
        );
        assert_eq!(toml_string("ünï ✓"), "'ünï ✓'");
    }

    #[test]
    fn developer_instructions_use_a_basic_string_when_needed() {
        let mut f = Fixture::new("codex");
        f.system_prompt = "You are AO's worker.\nDo not reveal this.".into();
        let argv = Codex.launch_argv(&f.ctx());
        assert!(
            argv.contains(
                &r#"developer_instructions="You are AO's worker.\nDo not reveal this.""#
                    .to_string()
            ),
            "{argv:?}"
        );
    }

    #[test]
    fn a_worktree_with_a_quote_is_a_basic_string_key() {
        let f = Fixture::new("codex");
        let odd = f.session_dir.join("it's");
        std::fs::create_dir_all(&odd).expect("mkdir");
        let mut ctx = f.ctx();
        ctx.worktree = &odd;
        let argv = Codex.launch_argv(&ctx);
        let want = format!(
            "projects={{\"{}\"={{trust_level=\"trusted\"}}}}",
            odd.display()
        );
        assert!(argv.contains(&want), "{argv:?}");
    }

    #[test]
    fn install_writes_nothing() {
        let f = Fixture::new("codex");
        block_on_ok(Codex.install_hooks(&f.ctx()));
        block_on_ok(Codex.uninstall_hooks(&f.ctx()));
        assert_eq!(std::fs::read_dir(&f.worktree).expect("dir").count(), 0);
        assert_eq!(std::fs::read_dir(&f.session_dir).expect("dir").count(), 0);
    }

    #[test]
    fn uninstall_strips_ao_entries_from_a_legacy_hooks_file() {
        let f = Fixture::new("codex");
        let dir = f.worktree.join(".codex");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("hooks.json"),
            serde_json::to_vec(&json!({"hooks": {
                "Stop": [
                    {"hooks": [{"type": "command", "command": "ao hooks codex stop"}]},
                    {"hooks": [{"type": "command", "command": "notify-send done"}]}
                ],
                "SessionStart": [{"hooks": [{"type": "command", "command": "ao hooks codex session-start"}]}]
            }}))
            .expect("json"),
        )
        .expect("seed");
        std::fs::write(
            dir.join(".gitignore"),
            format!("{}\n/.gitignore\n/hooks.json\n", files::GITIGNORE_MARKER),
        )
        .expect("seed");
        block_on_ok(Codex.uninstall_hooks(&f.ctx()));
        let got: Value =
            serde_json::from_slice(&std::fs::read(dir.join("hooks.json")).expect("kept"))
                .expect("json");
        assert_eq!(
            got,
            json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}})
        );
        assert!(
            !dir.join(".gitignore").exists(),
            "AO's .gitignore is removed"
        );
    }

    #[test]
    fn uninstall_deletes_a_legacy_file_holding_only_ao_entries() {
        let f = Fixture::new("codex");
        let dir = f.worktree.join(".codex");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("hooks.json"),
            r#"{"hooks": {"Stop": [{"hooks": [{"command": "ao hooks codex stop"}]}]}}"#,
        )
        .expect("seed");
        block_on_ok(Codex.uninstall_hooks(&f.ctx()));
        assert!(!dir.exists(), "file and empty directory are gone");
    }

    #[tokio::test]
    async fn uninstall_restores_a_tracked_legacy_file_byte_for_byte() {
        let f = Fixture::new("codex");
        // The user's committed file: odd formatting that a JSON rewrite would not reproduce.
        let original: &[u8] =
            b"{ \"hooks\" : {\"Stop\":[{\"hooks\":[{\"command\":\"make lint\"}]}]} }\n";
        init_repo(&f.worktree, &[(".codex/hooks.json", original)]).await;
        // A legacy install: original saved, AO entry added, skip-worktree set.
        files::save_original(&f.worktree, ".codex/hooks.json")
            .await
            .expect("save");
        std::fs::write(
            f.worktree.join(".codex/hooks.json"),
            r#"{"hooks":{"Stop":[{"hooks":[{"command":"make lint"}]},{"hooks":[{"command":"ao hooks codex stop"}]}]}}"#,
        )
        .expect("legacy install");
        files::skip_worktree(&f.worktree, ".codex/hooks.json", true)
            .await
            .expect("skip");
        assert_eq!(porcelain(&f.worktree).await, "");

        Codex.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read(f.worktree.join(".codex/hooks.json")).expect("restored"),
            original
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        let flags = git(&f.worktree, &["ls-files", "-v", ".codex/hooks.json"]).await;
        assert!(flags.starts_with("H "), "skip-worktree cleared: {flags:?}");
        let store = files::original_path(
            &files::git_dir(&f.worktree).await.expect("git dir"),
            ".codex/hooks.json",
        );
        assert!(!store.exists(), "the saved copy is deleted");
    }
}
