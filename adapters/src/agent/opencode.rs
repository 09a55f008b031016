//! The opencode adapter (adapters.md §5.2, §5.4, §6, §7).
//!
//! * opencode has no system-prompt channel: the first prompt is the prefix fallback
//!   ([`super::prefixed_prompt`]). Launch `opencode [perm] [model] [--prompt P]`; restore
//!   `opencode [perm] [model] --session <id>`. Only `bypass-permissions` has a flag
//!   (`--dangerously-skip-permissions`); the model is `-m M`.
//! * Hooks are an AO-owned plugin at [`OPENCODE_PLUGIN_REL`] in the worktree, whose first line
//!   is [`OPENCODE_PLUGIN_SENTINEL`]. A file there without the sentinel is the user's: install
//!   refuses with [`AgentError::NotAoFile`] and uninstall leaves it alone.
//! * The plugin directory gets AO's `.gitignore` (`/.gitignore`, `/ao-activity.ts`); a tracked
//!   plugin file (an AO plugin someone committed) follows the tracked-target rules: original
//!   saved under `<git-dir>/ao/hook-originals/`, `--skip-worktree` while installed, restored
//!   byte for byte on uninstall. Either way `git status` stays unchanged.
//!
//! The plugin source (`opencode_plugin.ts`) is written against opencode's plugin API
//! (`@opencode-ai/plugin`, Bun runtime: `Bun.spawnSync`, `client.app.log`) but has never run
//! inside opencode: opencode is not available in AO's build environment. During development it
//! was transpiled with TypeScript 5 and its event mapping exercised under Node with a stubbed
//! `Bun.spawnSync`; the tests here check its installation and its event/command strings.

use ao_protocol::{Harness, PermissionMode};

use super::files::{
    self, OWNER_ONLY, ensure_gitignore, first_line, read_optional, remove_empty_dirs,
    remove_file_if_exists, write_atomic,
};
use super::{Agent, AgentContext, AgentError, PromptDelivery, prefixed_prompt};
use crate::runtime::BoxFuture;

/// The plugin directory, relative to the worktree.
const PLUGIN_DIR: &str = ".opencode/plugins";
/// The plugin file name.
const PLUGIN_FILE: &str = "ao-activity.ts";
/// The plugin path, relative to the worktree.
pub const OPENCODE_PLUGIN_REL: &str = ".opencode/plugins/ao-activity.ts";
/// The first line of AO's plugin.
pub const OPENCODE_PLUGIN_SENTINEL: &str = "// managed by ao: activity hooks (do not edit)";
/// The plugin AO writes.
const PLUGIN_SOURCE: &str = include_str!("opencode_plugin.ts");

/// The opencode harness.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opencode;

fn is_ao_plugin(bytes: &[u8]) -> bool {
    first_line(bytes) == OPENCODE_PLUGIN_SENTINEL.as_bytes()
}

impl Opencode {
    fn common_flags(ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = Vec::new();
        if ctx.permissions() == PermissionMode::BypassPermissions {
            argv.push("--dangerously-skip-permissions".to_string());
        }
        if let Some(model) = ctx.model() {
            argv.extend(["-m".to_string(), model.to_string()]);
        }
        argv
    }

    async fn install(ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        let path = ctx.worktree.join(OPENCODE_PLUGIN_REL);
        let current = read_optional(&path)?;
        if let Some(bytes) = &current
            && !is_ao_plugin(bytes)
        {
            return Err(AgentError::NotAoFile { path });
        }
        let dir = ctx.worktree.join(PLUGIN_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::io(&dir, &e))?;
        // The .gitignore first, so the plugin is never visible as untracked.
        ensure_gitignore(&dir, PLUGIN_FILE)?;
        let tracked = files::is_tracked(ctx.worktree, OPENCODE_PLUGIN_REL).await?;
        if current.as_deref() != Some(PLUGIN_SOURCE.as_bytes()) {
            if tracked {
                files::save_original(ctx.worktree, OPENCODE_PLUGIN_REL).await?;
            }
            write_atomic(&path, PLUGIN_SOURCE.as_bytes(), OWNER_ONLY)?;
        }
        if tracked {
            files::skip_worktree(ctx.worktree, OPENCODE_PLUGIN_REL, true).await?;
        }
        Ok(())
    }

    async fn uninstall(ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        if !ctx.worktree.is_dir() {
            return Ok(());
        }
        let path = ctx.worktree.join(OPENCODE_PLUGIN_REL);
        if let Some(bytes) = read_optional(&path)?
            && is_ao_plugin(&bytes)
        {
            if files::is_tracked(ctx.worktree, OPENCODE_PLUGIN_REL).await? {
                // Restore the committed bytes (when AO replaced them), stop hiding the file.
                let saved = files::saved_original(ctx.worktree, OPENCODE_PLUGIN_REL).await?;
                let (store, original) = match &saved {
                    Some((store, original)) => (Some(store.as_path()), Some(original.as_slice())),
                    None => (None, None),
                };
                files::finish_tracked_uninstall(ctx.worktree, OPENCODE_PLUGIN_REL, original, store)
                    .await?;
            } else {
                remove_file_if_exists(&path)?;
            }
        }
        files::remove_gitignore(ctx.worktree, PLUGIN_DIR).await?;
        remove_empty_dirs(ctx.worktree, PLUGIN_DIR);
        Ok(())
    }
}

impl Agent for Opencode {
    fn harness(&self) -> Harness {
        Harness::Opencode
    }

    fn prompt_delivery(&self) -> PromptDelivery {
        PromptDelivery::InCommand
    }

    fn install_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(Self::install(ctx))
    }

    fn uninstall_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(Self::uninstall(ctx))
    }

    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = vec![ctx.binary_word()];
        argv.extend(Self::common_flags(ctx));
        if let Some(prompt) = prefixed_prompt(ctx.system_prompt, ctx.prompt) {
            argv.extend(["--prompt".to_string(), prompt]);
        }
        argv
    }

    fn restore_argv(&self, ctx: &AgentContext<'_>, agent_session_id: &str) -> Vec<String> {
        let mut argv = vec![ctx.binary_word()];
        argv.extend(Self::common_flags(ctx));
        argv.extend(["--session".to_string(), agent_session_id.to_string()]);
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::files::GITIGNORE_MARKER;
    use crate::agent::test_support::{Fixture, git, init_repo, porcelain, strs};

    #[test]
    fn the_plugin_starts_with_the_sentinel_and_covers_the_three_events() {
        assert!(PLUGIN_SOURCE.starts_with(&format!("{OPENCODE_PLUGIN_SENTINEL}\n")));
        for needle in [
            "\"session.created\"",
            "\"session-start\"",
            "\"message.updated\"",
            "\"user-prompt-submit\"",
            "\"session.status\"",
            "\"idle\"",
            "\"stop\"",
            "command -v ao",
            "exec ao hooks opencode",
            "30_000",
            "client.app.log",
            "session_id",
        ] {
            assert!(PLUGIN_SOURCE.contains(needle), "plugin lacks {needle}");
        }
        for event in ao_protocol::hooks::events_of(Harness::Opencode) {
            assert!(
                PLUGIN_SOURCE.contains(&format!("\"{event}\"")),
                "plugin never fires {event}"
            );
        }
    }

    #[test]
    fn launch_and_restore_argv_for_every_permission_model_and_prompt() {
        let mut f = Fixture::new("opencode");
        let perms: [(Option<PermissionMode>, &[&str]); 5] = [
            (None, &[]),
            (Some(PermissionMode::Default), &[]),
            (Some(PermissionMode::AcceptEdits), &[]),
            (Some(PermissionMode::Auto), &[]),
            (
                Some(PermissionMode::BypassPermissions),
                &["--dangerously-skip-permissions"],
            ),
        ];
        for (perm, perm_flags) in perms {
            for model in [None, Some("anthropic/claude-sonnet-4")] {
                for (system, prompt, p) in [
                    ("", None, None),
                    ("", Some("fix"), Some("fix")),
                    ("SYS", None, Some("SYS")),
                    ("SYS", Some("fix"), Some("SYS\n\n---\n\nfix")),
                ] {
                    f.config.permissions = perm;
                    f.config.model = model.map(str::to_string);
                    f.system_prompt = system.to_string();
                    f.prompt = prompt.map(str::to_string);
                    let mut common = strs(perm_flags);
                    if let Some(m) = model {
                        common.extend(strs(&["-m", m]));
                    }
                    let mut want = strs(&["/bin/opencode"]);
                    want.extend(common.clone());
                    if let Some(p) = p {
                        want.extend(strs(&["--prompt", p]));
                    }
                    assert_eq!(Opencode.launch_argv(&f.ctx()), want);
                    let mut want = strs(&["/bin/opencode"]);
                    want.extend(common);
                    want.extend(strs(&["--session", "ses_abc"]));
                    assert_eq!(Opencode.restore_argv(&f.ctx(), "ses_abc"), want);
                }
            }
        }
    }

    #[tokio::test]
    async fn install_and_uninstall_keep_an_untracked_target_out_of_git_status() {
        let f = Fixture::new("opencode");
        init_repo(&f.worktree, &[]).await;
        Opencode.install_hooks(&f.ctx()).await.expect("install");
        Opencode.install_hooks(&f.ctx()).await.expect("idempotent");
        let plugin = f.worktree.join(OPENCODE_PLUGIN_REL);
        assert_eq!(
            std::fs::read_to_string(&plugin).expect("plugin"),
            PLUGIN_SOURCE
        );
        assert_eq!(
            std::fs::read_to_string(f.worktree.join(".opencode/plugins/.gitignore"))
                .expect("gitignore"),
            format!("{GITIGNORE_MARKER}\n/.gitignore\n/ao-activity.ts\n")
        );
        assert_eq!(porcelain(&f.worktree).await, "", "install leaves git clean");

        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!plugin.exists());
        assert!(!f.worktree.join(".opencode").exists(), "empty dirs removed");
        assert_eq!(porcelain(&f.worktree).await, "");
        Opencode
            .uninstall_hooks(&f.ctx())
            .await
            .expect("uninstall is idempotent");
    }

    #[tokio::test]
    async fn a_tracked_ao_plugin_is_hidden_and_restored_byte_for_byte() {
        let f = Fixture::new("opencode");
        // An older AO plugin someone committed (same sentinel, other content).
        let committed = format!("{OPENCODE_PLUGIN_SENTINEL}\r\n// old version\r\nexport {{}}\r\n");
        init_repo(&f.worktree, &[(OPENCODE_PLUGIN_REL, committed.as_bytes())]).await;
        Opencode.install_hooks(&f.ctx()).await.expect("install");
        let plugin = f.worktree.join(OPENCODE_PLUGIN_REL);
        assert_eq!(
            std::fs::read_to_string(&plugin).expect("plugin"),
            PLUGIN_SOURCE
        );
        assert_eq!(porcelain(&f.worktree).await, "", "install leaves git clean");
        let flags = git(&f.worktree, &["ls-files", "-v", OPENCODE_PLUGIN_REL]).await;
        assert!(flags.starts_with("S "), "skip-worktree set: {flags:?}");
        // A second install (restore) keeps the first saved original.
        Opencode
            .install_hooks(&f.ctx())
            .await
            .expect("install again");

        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read(&plugin).expect("restored"),
            committed.as_bytes()
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        let flags = git(&f.worktree, &["ls-files", "-v", OPENCODE_PLUGIN_REL]).await;
        assert!(flags.starts_with("H "), "skip-worktree cleared: {flags:?}");
        let store = files::original_path(
            &files::git_dir(&f.worktree).await.expect("git dir"),
            OPENCODE_PLUGIN_REL,
        );
        assert!(!store.exists(), "saved copy deleted");
    }

    #[tokio::test]
    async fn a_tracked_plugin_identical_to_ours_is_kept_on_uninstall() {
        let f = Fixture::new("opencode");
        init_repo(
            &f.worktree,
            &[(OPENCODE_PLUGIN_REL, PLUGIN_SOURCE.as_bytes())],
        )
        .await;
        Opencode.install_hooks(&f.ctx()).await.expect("install");
        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read_to_string(f.worktree.join(OPENCODE_PLUGIN_REL)).expect("kept"),
            PLUGIN_SOURCE
        );
        assert_eq!(porcelain(&f.worktree).await, "");
    }

    #[tokio::test]
    async fn a_foreign_plugin_file_is_refused_and_left_alone() {
        let f = Fixture::new("opencode");
        let foreign = b"export const Mine = async () => ({})\n";
        init_repo(&f.worktree, &[(OPENCODE_PLUGIN_REL, foreign)]).await;
        let err = Opencode
            .install_hooks(&f.ctx())
            .await
            .expect_err("refuses a non-AO file");
        assert!(matches!(err, AgentError::NotAoFile { .. }), "{err:?}");
        assert_eq!(err.code(), ao_protocol::ErrorCode::ProvisionFailed);
        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read(f.worktree.join(OPENCODE_PLUGIN_REL)).expect("kept"),
            foreign
        );
        assert_eq!(porcelain(&f.worktree).await, "");
    }

    #[tokio::test]
    async fn a_users_gitignore_in_the_plugin_dir_is_left_untouched() {
        let f = Fixture::new("opencode");
        init_repo(
            &f.worktree,
            &[(".opencode/plugins/.gitignore", b"ao-activity.ts\n")],
        )
        .await;
        Opencode.install_hooks(&f.ctx()).await.expect("install");
        assert_eq!(
            std::fs::read_to_string(f.worktree.join(".opencode/plugins/.gitignore")).expect("kept"),
            "ao-activity.ts\n"
        );
        assert_eq!(porcelain(&f.worktree).await, "");
        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert!(!f.worktree.join(OPENCODE_PLUGIN_REL).exists());
        assert_eq!(
            std::fs::read_to_string(f.worktree.join(".opencode/plugins/.gitignore")).expect("kept"),
            "ao-activity.ts\n"
        );
        assert_eq!(porcelain(&f.worktree).await, "");
    }

    #[tokio::test]
    async fn install_works_outside_a_git_repository() {
        let f = Fixture::new("opencode");
        Opencode.install_hooks(&f.ctx()).await.expect("install");
        assert!(f.worktree.join(OPENCODE_PLUGIN_REL).exists());
        Opencode.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(std::fs::read_dir(&f.worktree).expect("dir").count(), 0);
    }
}
