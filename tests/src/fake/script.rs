//! The fake agent's script: what a submitted message (or the first prompt) makes it do.
//!
//! | Text (trimmed) | Turn |
//! |---|---|
//! | `ask` | UserPromptSubmit, a permission request (Claude `Notification` / codex `PermissionRequest`), then wait for the next message (the answer), then Stop |
//! | `exit <n>` | UserPromptSubmit, SessionEnd, exit with status n |
//! | `crash <n>` | UserPromptSubmit, then exit with status n at once (no SessionEnd) |
//! | `work <ms>` | like any text, but works for `ms` milliseconds |
//! | `silent` | no hook ever again (not even for this message) |
//! | anything else | UserPromptSubmit, PostToolUse, work `FAKE_AGENT_WORK_MS` (default 300), Stop |
//!
//! When the text carries a prefix-fallback system prompt (`<system>\n\n---\n\n<prompt>`,
//! adapters.md §5.2), the command is read from the part after the last separator.

/// What a message asks the fake agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Ask,
    Exit(i32),
    Crash(i32),
    Work(u64),
    Silent,
    /// An ordinary prompt.
    Turn,
}

/// The separator of the prefix fallback (adapters.md §5.2).
pub const PREFIX_SEPARATOR: &str = "\n\n---\n\n";

impl Script {
    pub fn of(text: &str) -> Self {
        let text = text
            .rsplit_once(PREFIX_SEPARATOR)
            .map_or(text, |(_, user)| user)
            .trim();
        let mut words = text.split_whitespace();
        let (Some(first), arg, None) = (words.next(), words.next(), words.next()) else {
            return Self::Turn;
        };
        let code = || arg.map_or(Some(0), |a| a.parse::<i32>().ok());
        match first {
            "ask" if arg.is_none() => Self::Ask,
            "silent" if arg.is_none() => Self::Silent,
            "exit" => code().map_or(Self::Turn, Self::Exit),
            "crash" => code().map_or(Self::Turn, Self::Crash),
            "work" => arg
                .and_then(|a| a.parse::<u64>().ok())
                .map_or(Self::Turn, Self::Work),
            _ => Self::Turn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(Script::of("ask"), Script::Ask);
        assert_eq!(Script::of("  exit 3\n"), Script::Exit(3));
        assert_eq!(Script::of("exit"), Script::Exit(0));
        assert_eq!(Script::of("crash 7"), Script::Crash(7));
        assert_eq!(Script::of("work 2500"), Script::Work(2500));
        assert_eq!(Script::of("silent"), Script::Silent);
        assert_eq!(Script::of("work"), Script::Turn);
        assert_eq!(Script::of("exit now"), Script::Turn);
        assert_eq!(Script::of("ask me something"), Script::Turn);
        assert_eq!(Script::of("please exit 3"), Script::Turn);
        assert_eq!(Script::of(""), Script::Turn);
        assert_eq!(
            Script::of("You are AO session p-1.\n\n---\n\nexit 4"),
            Script::Exit(4)
        );
    }
}
