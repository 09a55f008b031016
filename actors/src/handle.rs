//! [`ProjectsHandle`]: the typed entry point for project commands (http-api.md §6).
//!
//! Each method makes exactly one call to the ProjectSupervisor, bounded by a timeout (session
//! commands have their own handle, [`crate::SessionsHandle`]):
//! `add_project` and `remove_project` are long commands (10 min, http-api.md §12),
//! `set_config` is short (5 s). A supervisor that is restarting or gone gives
//! [`CommandError::Unavailable`] at once; an expired timeout gives [`CommandError::Timeout`]
//! (the operation itself still completes in the actor).

use std::sync::Arc;

use ao_protocol::{ProjectId, SessionId, SkippedSession};
use ao_store::ProjectRow;
use serde_json::Value;

use crate::config::CallTimeouts;
use crate::error::CommandError;
use crate::projects::ProjectSupMsg;
use crate::registry::{self, Registry};

/// `POST /api/v1/projects`, after the daemon decoded the body.
#[derive(Debug, Clone, PartialEq)]
pub struct AddProject {
    /// The path as given, already trimmed and non-empty; `~`-expansion, absolutisation and
    /// symlink resolution happen in the actor.
    pub path: String,
    /// The explicit id; derived from the directory name when `None`.
    pub project_id: Option<ProjectId>,
    /// The display name; the project id when `None`.
    pub name: Option<String>,
    /// The `ProjectConfig` JSON (`{}` when absent); validated again by the actor.
    pub config: Value,
}

/// `PUT` or `PATCH` of `/projects/{id}/config`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigChange {
    /// Replace the whole config (`{}` clears it).
    Replace(Value),
    /// An RFC 7386 merge patch applied to the stored config.
    Patch(Value),
}

/// The result of removing a project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemoveOutcome {
    /// Sessions that were killed.
    pub killed: Vec<SessionId>,
    /// Sessions left alone, with the reason.
    pub skipped: Vec<SkippedSession>,
}

/// Sends project commands to the ProjectSupervisor. Cheap to clone.
#[derive(Clone)]
pub struct ProjectsHandle {
    registry: Arc<Registry>,
    timeouts: CallTimeouts,
}

impl std::fmt::Debug for ProjectsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectsHandle")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

const WHAT: &str = "project supervisor";

impl ProjectsHandle {
    pub(crate) fn new(registry: Arc<Registry>, timeouts: CallTimeouts) -> Self {
        Self { registry, timeouts }
    }

    fn supervisor(&self) -> Result<ractor::ActorRef<ProjectSupMsg>, CommandError> {
        self.registry
            .project_sup
            .get()
            .ok_or_else(|| registry::restarting(WHAT))
    }

    /// Registers a repository as a project (or re-registers an archived id).
    ///
    /// Errors: `INVALID_PATH`, `NOT_A_GIT_REPO`, `INVALID_PROJECT_ID`,
    /// `INVALID_PROJECT_CONFIG` (details `{field}`), `PATH_ALREADY_REGISTERED` /
    /// `ID_ALREADY_REGISTERED` (details `{existingProjectId, suggestedProjectId}`).
    pub async fn add_project(&self, req: AddProject) -> Result<ProjectRow, CommandError> {
        let sup = self.supervisor()?;
        registry::call(
            &sup,
            WHAT,
            |reply| ProjectSupMsg::Add(req, reply),
            self.timeouts.long,
        )
        .await
    }

    /// Replaces or merge-patches a live project's config.
    ///
    /// Errors: `PROJECT_NOT_FOUND` (absent or archived), `INVALID_PROJECT_CONFIG` (details
    /// `{field}`).
    pub async fn set_config(
        &self,
        id: ProjectId,
        change: ConfigChange,
    ) -> Result<ProjectRow, CommandError> {
        let sup = self.supervisor()?;
        registry::call(
            &sup,
            WHAT,
            |reply| ProjectSupMsg::SetConfig(id, change, reply),
            self.timeouts.short,
        )
        .await
    }

    /// Removes a live project (http-api.md §6): kills every live session (reason
    /// `project_removed`), runs cleanup for the project, archives it and stops its actor. Dirty
    /// worktrees are kept and reported in `skipped` (`workspace has uncommitted changes`).
    ///
    /// Errors: `PROJECT_NOT_FOUND` (absent or already archived).
    pub async fn remove_project(&self, id: ProjectId) -> Result<RemoveOutcome, CommandError> {
        let sup = self.supervisor()?;
        registry::call(
            &sup,
            WHAT,
            |reply| ProjectSupMsg::Remove(id, reply),
            self.timeouts.long,
        )
        .await
    }
}
