//! The `command` harness (adapters.md §6): any program, started as
//! `/bin/sh -c <launch command>`.
//!
//! It is hook-less (no activity signals), receives its prompt and system prompt through the
//! environment (`AO_PROMPT`, `AO_SYSTEM_PROMPT`, added by the session actor, sessions.md §11),
//! and a restore simply relaunches the command: permissions and model do not apply.

use ao_protocol::Harness;

use super::{Agent, AgentContext, AgentError, PromptDelivery};
use crate::runtime::BoxFuture;

/// The `command` harness.
#[derive(Debug, Clone, Copy, Default)]
pub struct Command;

impl Agent for Command {
    fn harness(&self) -> Harness {
        Harness::Command
    }

    fn prompt_delivery(&self) -> PromptDelivery {
        PromptDelivery::Env
    }

    fn can_resume(&self, _stored_agent_session_id: &str) -> bool {
        false
    }

    fn install_hooks<'a>(
        &'a self,
        _ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async { Ok(()) })
    }

    fn uninstall_hooks<'a>(
        &'a self,
        _ctx: &'a AgentContext<'_>,
    ) -> BoxFuture<'a, Result<(), AgentError>> {
        Box::pin(async { Ok(()) })
    }

    fn launch_argv(&self, ctx: &AgentContext<'_>) -> Vec<String> {
        vec![
            ctx.binary_word(),
            "-c".to_string(),
            ctx.command.unwrap_or_default().to_string(),
        ]
    }

    fn restore_argv(&self, ctx: &AgentContext<'_>, _agent_session_id: &str) -> Vec<String> {
        self.launch_argv(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::{Fixture, block_on_ok, strs};
    use ao_protocol::PermissionMode;

    #[test]
    fn launch_and_restore_are_sh_dash_c_whatever_the_config() {
        let mut f = Fixture::new("/bin/sh");
        f.command = Some("npm run agent -- --fast 'x y'".into());
        for perm in [None, Some(PermissionMode::BypassPermissions)] {
            for model in [None, Some("m")] {
                for prompt in [None, Some("p")] {
                    f.config.permissions = perm;
                    f.config.model = model.map(str::to_string);
                    f.prompt = prompt.map(str::to_string);
                    f.system_prompt = "SYS".into();
                    let want = strs(&["/bin/sh", "-c", "npm run agent -- --fast 'x y'"]);
                    assert_eq!(Command.launch_argv(&f.ctx()), want);
                    assert_eq!(Command.restore_argv(&f.ctx(), "anything"), want);
                    assert_eq!(Command.restore_argv(&f.ctx(), ""), want);
                }
            }
        }
    }

    #[test]
    fn no_hooks_and_no_files() {
        let f = Fixture::new("/bin/sh");
        block_on_ok(Command.install_hooks(&f.ctx()));
        Command.pre_launch(&f.ctx()).expect("no-op");
        block_on_ok(Command.uninstall_hooks(&f.ctx()));
        assert_eq!(std::fs::read_dir(&f.worktree).expect("dir").count(), 0);
        assert_eq!(std::fs::read_dir(&f.session_dir).expect("dir").count(), 0);
    }
}
