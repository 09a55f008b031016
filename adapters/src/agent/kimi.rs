//! The kimi adapter (adapters.md §5.3, §6, §7).
//!
//! kimi is hook-less: AO installs nothing, learns no activity and no agent session id from it
//! (the session never leaves `idle` by itself; sessions.md §9.4 paces deliveries instead).
//!
//! * Launch `kimi [perm]`, where `[perm]` is `--auto` for `accept-edits` and `auto`, `-y` for
//!   `bypass-permissions`. kimi takes no model flag from AO: a configured model is ignored
//!   with a warning.
//! * Restore `kimi [perm] --session <id>` exists for completeness but is never reached: the
//!   id is never learnt, so a restore is a fresh launch (sessions.md §5 step 2).
//! * Prompt delivery is `after_start`: the first prompt is pasted 3 s after launch.
//!
//! The contract is data: [`KIMI`], run by [`super::cli_agent::CliAgent`].

use ao_protocol::Harness;

use super::PromptDelivery;
use super::cli_agent::CliAgent;

/// The kimi harness (hook-less).
pub(crate) const KIMI: CliAgent = CliAgent {
    harness: Harness::Kimi,
    delivery: PromptDelivery::AfterStart,
    fixed: &[],
    permissions: [&["--auto"], &["--auto"], &["-y"]],
    model_flag: None,
    prompt_flag: None,
    resume_flag: "--session",
    hooks: None,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::Agent;
    use crate::agent::test_support::{Fixture, strs};
    use ao_protocol::PermissionMode;

    #[test]
    fn the_spec_argv_with_every_option_set() {
        // adapters.md §6; the model is ignored and the prompt is pasted.
        let f = Fixture::with_everything("kimi", PermissionMode::BypassPermissions);
        assert_eq!(KIMI.launch_argv(&f.ctx()), strs(&["/bin/kimi", "-y"]));
        assert_eq!(
            KIMI.restore_argv(&f.ctx(), "id-1"),
            strs(&["/bin/kimi", "-y", "--session", "id-1"])
        );
    }
}
