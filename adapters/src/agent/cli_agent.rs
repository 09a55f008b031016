//! [`CliAgent`]: one implementation of the [`Agent`] port for every harness whose contract is
//! pure data (adapters.md §6, §7) — grok, cursor, qwen, copilot and kimi. Each of those modules
//! only declares its constant: fixed words, permission flags, model flag, prompt flag, resume
//! flag and hook file.
//!
//! * Launch: `<bin> [fixed…] [perm] [<model flag> M] [<prompt flag> P]`, where `P` is the first
//!   prompt after the prefix-fallback system prompt (§5.2) and only an `in_command` harness has
//!   a prompt flag; an `after_start` harness gets its prompt pasted by the session actor.
//! * Restore: `<bin> [fixed…] [perm] [<model flag> M] <resume flag> <id>`; resumable with a
//!   non-empty stored id.
//! * A harness without a model flag ignores a configured model with a warning (§5.1).
//! * Hooks: the harness's JSON hook file in the worktree
//!   ([`super::hook_json::WorktreeHookFile`]), or none (hook-less); there is no pre-launch step.

use ao_protocol::{Harness, PermissionMode};

use super::hook_json::WorktreeHookFile;
use super::{Agent, AgentContext, AgentError, PromptDelivery, prefixed_prompt, warn_model_ignored};
use crate::runtime::BoxFuture;

/// The flags of `accept-edits`, `auto` and `bypass-permissions`, in that order.
pub(crate) type PermissionFlags = [&'static [&'static str]; 3];

/// The words of `mode` in `table`; none for `default`.
pub(crate) fn permission_words(
    table: &PermissionFlags,
    mode: PermissionMode,
) -> &'static [&'static str] {
    match mode {
        PermissionMode::Default => &[],
        PermissionMode::AcceptEdits => table[0],
        PermissionMode::Auto => table[1],
        PermissionMode::BypassPermissions => table[2],
    }
}

/// A harness described by data (see the module docs).
#[derive(Debug)]
pub(crate) struct CliAgent {
    pub harness: Harness,
    pub delivery: PromptDelivery,
    /// Words right after argv\[0\], on launch and restore.
    pub fixed: &'static [&'static str],
    pub permissions: PermissionFlags,
    /// `None`: the harness takes no model from AO.
    pub model_flag: Option<&'static str>,
    /// The flag before the first prompt (`in_command` harnesses only).
    pub prompt_flag: Option<&'static str>,
    /// The flag before the stored id on restore.
    pub resume_flag: &'static str,
    /// `None`: hook-less.
    pub hooks: Option<WorktreeHookFile>,
}

impl CliAgent {
    /// `<bin> [fixed…] [perm] [model]`: the words shared by launch and restore.
    fn common(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = vec![ctx.binary_word()];
        argv.extend(self.fixed.iter().map(|w| (*w).to_string()));
        argv.extend(
            permission_words(&self.permissions, ctx.permissions())
                .iter()
                .map(|w| (*w).to_string()),
        );
        match (self.model_flag, ctx.model()) {
            (Some(flag), Some(model)) => argv.extend([flag.to_string(), model.to_string()]),
            (None, Some(_)) => warn_model_ignored(ctx, self.harness),
            (_, None) => {}
        }
        argv
    }
}

impl Agent for CliAgent {
    fn harness(&self) -> Harness {
        self.harness
    }

    fn prompt_delivery(&self) -> PromptDelivery {
        self.delivery
    }

    fn install_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async move {
            match &self.hooks {
                Some(file) => file.install(ctx).await,
                None => Ok(()),
            }
        })
    }

    fn uninstall_hooks<'a>(
        &'a self,
        ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async move {
            match &self.hooks {
                Some(file) => file.uninstall(ctx).await,
                None => Ok(()),
            }
        })
    }

    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        let mut argv = self.common(ctx);
        if let Some(flag) = self.prompt_flag
            && let Some(prompt) = prefixed_prompt(ctx.system_prompt, ctx.prompt)
        {
            argv.extend([flag.to_string(), prompt]);
        }
        argv
    }

    fn restore_argv(&self, ctx: &AgentContext<'_>, agent_session_id: &str) -> Vec<String> {
        let mut argv = self.common(ctx);
        argv.extend([self.resume_flag.to_string(), agent_session_id.to_string()]);
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::{Fixture, strs};

    const PLAIN: CliAgent = CliAgent {
        harness: Harness::Qwen,
        delivery: PromptDelivery::InCommand,
        fixed: &["--quiet"],
        permissions: [&["--edits"], &["--auto"], &["--yolo", "now"]],
        model_flag: Some("--model"),
        prompt_flag: Some("-i"),
        resume_flag: "--resume",
        hooks: None,
    };

    #[test]
    fn argv_is_fixed_words_then_permission_model_and_prompt() {
        let mut f = Fixture::new("qwen");
        f.config.permissions = Some(PermissionMode::BypassPermissions);
        f.config.model = Some("m".into());
        f.system_prompt = "S".into();
        f.prompt = Some("P".into());
        assert_eq!(
            PLAIN.launch_argv(&f.ctx()),
            strs(&[
                "/bin/qwen",
                "--quiet",
                "--yolo",
                "now",
                "--model",
                "m",
                "-i",
                "S\n\n---\n\nP"
            ])
        );
        assert_eq!(
            PLAIN.restore_argv(&f.ctx(), "id-1"),
            strs(&[
                "/bin/qwen",
                "--quiet",
                "--yolo",
                "now",
                "--model",
                "m",
                "--resume",
                "id-1"
            ])
        );
        let pasted = CliAgent {
            delivery: PromptDelivery::AfterStart,
            prompt_flag: None,
            model_flag: None,
            ..PLAIN
        };
        assert_eq!(
            pasted.launch_argv(&f.ctx()),
            strs(&["/bin/qwen", "--quiet", "--yolo", "now"])
        );
    }

    #[test]
    fn permission_words_follow_the_table_and_default_is_none() {
        let table: PermissionFlags = [&["a"], &["b"], &["c", "d"]];
        assert!(permission_words(&table, PermissionMode::Default).is_empty());
        assert_eq!(permission_words(&table, PermissionMode::AcceptEdits), ["a"]);
        assert_eq!(permission_words(&table, PermissionMode::Auto), ["b"]);
        assert_eq!(
            permission_words(&table, PermissionMode::BypassPermissions),
            ["c", "d"]
        );
    }
}
