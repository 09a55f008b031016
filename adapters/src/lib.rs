//! `ao-adapters` — the ports through which `ao` touches the outside world.
//!
//! Modules:
//! * [`process`]: the **only** place in the workspace that starts child processes. Every run is
//!   an argv vector (no shell), has a timeout, captures at most 1 MiB of stdout and of stderr,
//!   and kills the child when the future is dropped (adapters.md §1).
//! * [`git`]: the read-only git queries project registration needs (`rev-parse
//!   --show-toplevel`, the origin URL, default-branch discovery, `git --version`).
//! * [`runtime`]: the `Runtime` port and its tmux and zellij implementations (adapters.md §2,
//!   §3).
//! * [`workspace`]: the `Workspace` port and its git-worktree implementation (adapters.md §4);
//!   nothing calls it yet.
//! * [`agent`]: the `Agent` port and the adapters of all nine harnesses (adapters.md §5–7):
//!   launch/restore argv, hook installation, Claude's pre-launch trust entry, binary
//!   resolution.
//! * [`scm`]: GitHub — configuration, token provider, the HTTP/GraphQL client and the pure
//!   normalisation and hash functions of scm.md §5–7 (adapters.md §8).
//!
//! Later issues add zellij and the `Scm` port next to these modules, each
//! built on [`process`]; nothing here depends on actors or the store, so they can be added
//! without touching the callers of this API.
//!
//! Invariants:
//! * No function here panics on input or on the output of a child process.
//! * Errors carry the program, argv, exit status and the last 4 KiB of stderr; a missing
//!   program is reported as [`process::ProcessError::NotInstalled`].

pub mod agent;
pub mod git;
pub mod process;
pub mod runtime;
pub mod scm;
pub mod workspace;

pub use agent::{
    Agent, AgentContext, AgentError, BinaryResolver, PromptDelivery, agent_for, claude_session_uuid,
};
pub use git::GitError;
pub use process::{Cmd, Output, ProcessError};
pub use runtime::{
    AttachSpec, CreateSpec, LaunchSpec, Probe, ProbeTarget, Runtime, RuntimeError, TaggedSession,
    Tmux, Zellij,
};
pub use scm::{GithubClient, ScmConfig, ScmError, TokenProvider};
pub use workspace::{
    Checkout, CreateRequest, Created, GitWorktree, Switch, Workspace, WorkspaceError, WorktreeRoot,
};
