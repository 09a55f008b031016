//! [`ActorsConfig`]: what the actor tree needs from the daemon's configuration.
//!
//! The defaults are the spec's: the restart budget of README §3.2 ([`SupervisionConfig`]),
//! call timeouts of 5 s / 10 min ([`CallTimeouts`], README §3.1 rule 5 and http-api.md §12),
//! a 1 s CdcPoller safety tick and an hourly change-log prune. Tests shorten them.

use std::path::PathBuf;
use std::time::Duration;

use ao_protocol::RuntimeKind;

pub use crate::supervision::SupervisionConfig;

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

/// Configuration of the actor tree. Build it with [`ActorsConfig::new`] (or a struct literal
/// ending in `..Default::default()`) and adjust fields as needed.
#[derive(Debug, Clone, PartialEq)]
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
        }
    }
}
