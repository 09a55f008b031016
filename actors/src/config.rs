//! [`ActorsConfig`]: what the actor tree needs from the daemon's configuration.
//!
//! The defaults are the spec's: the restart budget of README §3.2 ([`SupervisionConfig`]),
//! call timeouts of 5 s / 10 min ([`CallTimeouts`], README §3.1 rule 5 and http-api.md §12),
//! a 1 s CdcPoller safety tick, an hourly change-log prune, and the session timings of
//! sessions.md §9 and §13–14 ([`SessionTimings`]). Tests shorten them.
//!
//! The session layer also needs the daemon's paths (`AO_HOME`, `AO_RUN_FILE`,
//! `AO_TMUX_SOCKET`, the running executable) and its adapters: the runtime(s) and the
//! workspace, passed as trait objects built by the daemon. When they are left `None`,
//! [`crate::spawn_tree`] builds the defaults (a [`ao_adapters::Tmux`] on `tmux_socket`, a
//! [`ao_adapters::Zellij`] for `home`, and a [`ao_adapters::GitWorktree`] under `data_dir`).
//!
//! GitHub (scm.md): [`ActorsConfig::scm`] is the endpoints and the shared token provider
//! ([`ScmSetup`]); `None` disables every GitHub feature (`github.state = "disabled"`, claim →
//! 503 `SCM_UNAVAILABLE`). [`ActorsConfig::scm_timings`] are the poll/budget timings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ao_adapters::scm::{ScmConfig, TokenProvider};
use ao_adapters::{Runtime, Workspace};
use ao_protocol::RuntimeKind;

pub use crate::scm::ScmTimings;
pub use crate::supervision::SupervisionConfig;

/// The GitHub setup of the tree: endpoints and the one shared token provider (scm.md §2).
#[derive(Clone)]
pub struct ScmSetup {
    pub config: ScmConfig,
    pub tokens: Arc<TokenProvider>,
}

impl std::fmt::Debug for ScmSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScmSetup")
            .field("config", &self.config)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// The bounds of actor calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTimeouts {
    /// Queries and short commands (5 s).
    pub short: Duration,
    /// Long commands: project add/remove, spawn, restore, claim, cleanup (10 min).
    pub long: Duration,
}

impl Default for CallTimeouts {
    fn default() -> Self {
        Self {
            short: Duration::from_secs(5),
            long: Duration::from_secs(600),
        }
    }
}

/// Timings and budgets of the session layer. [`Default`] is the spec's.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionTimings {
    /// The Reaper's probe period (5 s, sessions.md §14).
    pub reaper_tick: Duration,
    /// The minimum gap between the two `missing` observations that confirm a vanished
    /// runtime (5 s, sessions.md §13.2).
    pub missing_confirm: Duration,
    /// In-place relaunches allowed per session within [`Self::relaunch_window`] (3).
    pub relaunch_budget: u32,
    /// The window of the relaunch budget (1 h).
    pub relaunch_window: Duration,
    /// The delay before relaunch number n (1-based) within the window: 10 s, 60 s, 300 s. A
    /// relaunch beyond this list uses its last entry.
    pub relaunch_spacing: Vec<Duration>,
    /// How long a delivery waits for an `active` signal before one extra Enter, and again
    /// before it is given up as unconfirmed (10 s, sessions.md §9.4).
    pub confirm_timeout: Duration,
    /// The delays of the retries of a failed delivery (5 s, 15 s, 45 s).
    pub retry_delays: Vec<Duration>,
    /// The minimum gap between two deliveries to a hook-less harness (60 s).
    pub hookless_gap: Duration,
    /// When the first prompt of an `after_start` adapter is delivered without a hook signal
    /// (20 s), and for a hook-less harness (3 s).
    pub first_prompt_delay: Duration,
    pub first_prompt_delay_hookless: Duration,
    /// The timeout of each `postCreate` command (5 min, adapters.md §1).
    pub post_create_timeout: Duration,
}

impl Default for SessionTimings {
    fn default() -> Self {
        Self {
            reaper_tick: Duration::from_secs(5),
            missing_confirm: Duration::from_secs(5),
            relaunch_budget: 3,
            relaunch_window: Duration::from_secs(3600),
            relaunch_spacing: vec![
                Duration::from_secs(10),
                Duration::from_secs(60),
                Duration::from_secs(300),
            ],
            confirm_timeout: Duration::from_secs(10),
            retry_delays: vec![
                Duration::from_secs(5),
                Duration::from_secs(15),
                Duration::from_secs(45),
            ],
            hookless_gap: Duration::from_secs(60),
            first_prompt_delay: Duration::from_secs(20),
            first_prompt_delay_hookless: Duration::from_secs(3),
            post_create_timeout: Duration::from_secs(300),
        }
    }
}

/// Configuration of the actor tree. Build it with [`ActorsConfig::new`] (or a struct literal
/// ending in `..Default::default()`) and adjust fields as needed.
#[derive(Clone)]
pub struct ActorsConfig {
    /// `$AO_DATA_DIR` (worktrees, spool, … live under it).
    pub data_dir: PathBuf,
    /// `AO_RUNTIME`: the runtime of projects that do not configure one.
    pub default_runtime: RuntimeKind,
    /// Restart budget and delays of every supervisor.
    pub supervision: SupervisionConfig,
    /// Timeouts of handle calls and actor-to-actor calls.
    pub timeouts: CallTimeouts,
    /// The CdcPoller's safety poll period (1 s).
    pub cdc_safety_tick: Duration,
    /// How often the Reaper asks the reducer to prune `change_log` (1 h).
    pub prune_interval: Duration,
    /// `$AO_HOME` (exported to agents as `AO_HOME`, sessions.md §11).
    pub home: PathBuf,
    /// `$AO_RUN_FILE`, absolute (exported as `AO_RUN_FILE`).
    pub run_file: PathBuf,
    /// `$AO_TMUX_SOCKET` (exported as `AO_TMUX_SOCKET`; the default tmux runtime uses it).
    pub tmux_socket: String,
    /// The running `ao` executable: its directory is put first on the agents' `PATH` so that
    /// `ao hooks …` resolves to this build (sessions.md §11). `None` skips the prefix.
    pub ao_exe: Option<PathBuf>,
    /// The daemon environment agents inherit (sessions.md §11 step 1). `None` reads the
    /// process environment once when the tree starts.
    pub daemon_env: Option<BTreeMap<String, String>>,
    /// The runtimes, at most one per [`RuntimeKind`]. Empty: a `Tmux` on `tmux_socket` and a
    /// `Zellij` on this `home`'s socket directory.
    pub runtimes: Vec<Arc<dyn Runtime>>,
    /// The workspace adapter. `None`: a `GitWorktree` under `data_dir`.
    pub workspace: Option<Arc<dyn Workspace>>,
    /// Session timings and budgets.
    pub sessions: SessionTimings,
    /// GitHub endpoints and token provider; `None` = GitHub disabled.
    pub scm: Option<ScmSetup>,
    /// Poll intervals and rate-limit budget timings of the PR loop (scm.md §4, §8).
    pub scm_timings: ScmTimings,
}

impl std::fmt::Debug for ActorsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorsConfig")
            .field("data_dir", &self.data_dir)
            .field("default_runtime", &self.default_runtime)
            .field("supervision", &self.supervision)
            .field("timeouts", &self.timeouts)
            .field("cdc_safety_tick", &self.cdc_safety_tick)
            .field("prune_interval", &self.prune_interval)
            .field("home", &self.home)
            .field("run_file", &self.run_file)
            .field("tmux_socket", &self.tmux_socket)
            .field("ao_exe", &self.ao_exe)
            .field(
                "runtimes",
                &self.runtimes.iter().map(|r| r.kind()).collect::<Vec<_>>(),
            )
            .field("workspace", &self.workspace.is_some())
            .field("sessions", &self.sessions)
            .field("scm", &self.scm)
            .field("scm_timings", &self.scm_timings)
            .finish_non_exhaustive()
    }
}

impl ActorsConfig {
    /// The spec defaults for this data directory and default runtime.
    pub fn new(data_dir: impl Into<PathBuf>, default_runtime: RuntimeKind) -> Self {
        Self {
            data_dir: data_dir.into(),
            default_runtime,
            ..Self::default()
        }
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::new(),
            default_runtime: RuntimeKind::Tmux,
            supervision: SupervisionConfig::default(),
            timeouts: CallTimeouts::default(),
            cdc_safety_tick: Duration::from_secs(1),
            prune_interval: Duration::from_secs(3600),
            home: PathBuf::new(),
            run_file: PathBuf::new(),
            tmux_socket: "ao".to_string(),
            ao_exe: None,
            daemon_env: None,
            runtimes: Vec::new(),
            workspace: None,
            sessions: SessionTimings::default(),
            scm: None,
            scm_timings: ScmTimings::default(),
        }
    }
}
