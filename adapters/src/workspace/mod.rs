//! The `Workspace` port: one git worktree per session under AO's managed root
//! (adapters.md §4, sessions.md §1).
//!
//! Main types:
//! * [`Workspace`]: the object-safe port (`Arc<dyn Workspace>`); [`GitWorktree`] implements it
//!   with `git worktree` (create §4.2, safe destroy §4.4, restore §4.5, dirty check).
//! * [`WorktreeRoot`]: the managed root `realpath(<AO_DATA_DIR>/worktrees)`, the path rules of
//!   sessions.md §1 ([`WorktreeRoot::worker_path`], [`WorktreeRoot::orchestrator_path`]) and the
//!   safety check every operation runs first ([`WorktreeRoot::check`]).
//! * [`CreateRequest`] → [`Created`]; failures are [`WorkspaceError`], whose
//!   [`WorkspaceError::code`] is the API error code.
//!
//! Invariants:
//! * No path outside the managed root is ever created or removed: every path must be absolute,
//!   clean, strictly inside the root, and must not pass through a symlink below the root.
//! * AO never removes a dirty worktree (`git worktree remove` without `--force`) and never
//!   deletes a branch.

mod git_worktree;
#[cfg(test)]
mod proptests;

use std::path::{Component, Path, PathBuf};

use ao_protocol::ErrorCode;

use crate::process::ProcessError;
use crate::runtime::BoxFuture;

pub use git_worktree::GitWorktree;

/// What to create (or restore): the session's branch in a worktree of `repo` at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    /// The project's repository (its registered `path`).
    pub repo: PathBuf,
    /// The branch the worktree checks out (`b`).
    pub branch: String,
    /// The worktree path, from [`WorktreeRoot::worker_path`] or
    /// [`WorktreeRoot::orchestrator_path`].
    pub path: PathBuf,
    /// The project's default branch (`d`), e.g. `main` or `origin/develop`.
    pub default_branch: String,
    /// The session's default branch (sessions.md §1), e.g. `ao/demo-3/root`: never fetched.
    pub session_default_branch: String,
    /// Whether the project has an `origin` remote (fetches are skipped without one).
    pub has_origin: bool,
    /// The head ref of a claimed PR, fetched into `refs/remotes/origin/<ref>`.
    pub pr_head_ref: Option<String>,
}

/// A worktree ready for the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub path: PathBuf,
    /// The path was already a registered worktree and was reused as is.
    pub reused: bool,
}

/// The outcome of a branch switch (adapters.md §4.3, the claim-PR checkout of scm.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checkout {
    /// The worktree now has the head ref checked out.
    Switched,
    /// HEAD already was the head ref (it was fast-forwarded when possible).
    AlreadyOnBranch,
    /// The worktree has uncommitted or untracked changes; nothing was touched.
    SkippedDirty,
    /// The head ref is checked out in another worktree; nothing was touched.
    SkippedBranchInUse,
    /// A git command failed; see [`Switch::error`].
    Failed,
}

impl Checkout {
    /// The API spelling (`switched`, `already_on_branch`, `skipped_dirty`,
    /// `skipped_branch_in_use`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Switched => "switched",
            Self::AlreadyOnBranch => "already_on_branch",
            Self::SkippedDirty => "skipped_dirty",
            Self::SkippedBranchInUse => "skipped_branch_in_use",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of [`Workspace::switch_branch`]: the outcome and, for [`Checkout::Failed`], the
/// failure (git's stderr tail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub checkout: Checkout,
    pub error: Option<String>,
}

impl Switch {
    pub(crate) fn ok(checkout: Checkout) -> Self {
        Self {
            checkout,
            error: None,
        }
    }

    pub(crate) fn failed(error: impl Into<String>) -> Self {
        Self {
            checkout: Checkout::Failed,
            error: Some(error.into()),
        }
    }
}

/// Why a workspace operation failed. Each variant maps to one API error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    /// `git check-ref-format --branch` rejected the name.
    #[error("{branch:?} is not a valid branch name")]
    InvalidBranch { branch: String },
    /// Neither the branch nor any base for it exists locally or on origin.
    #[error(
        "branch {branch} does not exist locally or on origin, and there is no base to create it from"
    )]
    BranchNotFetched { branch: String },
    /// The branch is checked out in another worktree.
    #[error("branch {branch} is already checked out at {}", .worktree_path.display())]
    BranchCheckedOutElsewhere {
        branch: String,
        worktree_path: PathBuf,
    },
    /// Restore found a non-empty directory that is not a registered worktree.
    #[error("{} exists and is not a worktree of this repository", .path.display())]
    PathOccupied { path: PathBuf },
    /// The worktree has uncommitted changes; it was kept.
    #[error("worktree {} has uncommitted changes", .path.display())]
    Dirty { path: PathBuf },
    /// The path (or an id it is built from) breaks the rules of adapters.md §4.1.
    #[error("unsafe path {path}: {reason}")]
    UnsafePath { path: String, reason: &'static str },
    /// The project's repository directory does not exist.
    #[error("repository {} does not exist", .repo.display())]
    RepoNotFound { repo: PathBuf },
    /// `git worktree remove` left the worktree registered although it is clean (e.g. locked).
    #[error("worktree {} could not be removed: {detail}", .path.display())]
    NotRemoved { path: PathBuf, detail: String },
    /// A filesystem operation failed.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    /// A git command failed, timed out, or git is not installed.
    #[error(transparent)]
    Git(#[from] ProcessError),
}

impl WorkspaceError {
    /// The API error code of this failure (http-api.md §3). `Dirty` has no code of its own:
    /// callers that tolerate it (kill, cleanup, rollback) match on the variant.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidBranch { .. } => ErrorCode::InvalidBranch,
            Self::BranchNotFetched { .. } => ErrorCode::BranchNotFetched,
            Self::BranchCheckedOutElsewhere { .. } => ErrorCode::BranchCheckedOutElsewhere,
            Self::PathOccupied { .. } => ErrorCode::WorkspacePathOccupied,
            Self::RepoNotFound { .. } => ErrorCode::ProjectNotResolvable,
            Self::Dirty { .. }
            | Self::UnsafePath { .. }
            | Self::NotRemoved { .. }
            | Self::Io { .. }
            | Self::Git(_) => ErrorCode::WorkspaceError,
        }
    }
}

/// Per-session worktrees. Object safe: hold it as `Arc<dyn Workspace>`.
pub trait Workspace: Send + Sync {
    /// The managed root every worktree lives in.
    fn root(&self) -> &WorktreeRoot;

    /// Create (adapters.md §4.2): reuses a registered worktree at the path.
    fn create<'a>(
        &'a self,
        req: &'a CreateRequest,
    ) -> BoxFuture<'a, Result<Created, WorkspaceError>>;

    /// Restore (adapters.md §4.5): reuses a registered worktree, refuses an occupied path,
    /// otherwise re-adds the worktree for the stored branch.
    fn restore<'a>(
        &'a self,
        req: &'a CreateRequest,
    ) -> BoxFuture<'a, Result<Created, WorkspaceError>>;

    /// Safe destroy (adapters.md §4.4): never forces; a dirty worktree gives
    /// [`WorkspaceError::Dirty`] and is kept; an absent path is success.
    fn destroy<'a>(
        &'a self,
        repo: &'a Path,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), WorkspaceError>>;

    /// Whether the worktree has uncommitted changes (tracked or untracked).
    fn is_dirty<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<bool, WorkspaceError>>;

    /// Branch switch (adapters.md §4.3): checks out the PR head ref `head_ref` in the worktree
    /// `path` of `repo`. Never fails as a call: every problem is a [`Checkout`] outcome.
    fn switch_branch<'a>(
        &'a self,
        repo: &'a Path,
        path: &'a Path,
        head_ref: &'a str,
    ) -> BoxFuture<'a, Switch>;
}

/// The managed root `realpath(<AO_DATA_DIR>/worktrees)` and the path rules of adapters.md §4.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeRoot {
    root: PathBuf,
}

impl WorktreeRoot {
    /// Creates `<data_dir>/worktrees` if needed and resolves it.
    pub fn open(data_dir: &Path) -> Result<Self, WorkspaceError> {
        let dir = data_dir.join("worktrees");
        let io = |e: std::io::Error| WorkspaceError::Io {
            path: dir.clone(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let root = dir.canonicalize().map_err(io)?;
        Ok(Self { root })
    }

    /// The resolved root.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// A worker's worktree: `<root>/<projectId>/<sessionId>`.
    pub fn worker_path(
        &self,
        project_id: &str,
        session_id: &str,
    ) -> Result<PathBuf, WorkspaceError> {
        check_segment(project_id)?;
        check_segment(session_id)?;
        let path = self.root.join(project_id).join(session_id);
        self.check(&path)?;
        Ok(path)
    }

    /// An orchestrator's worktree: `<root>/<projectId>/orchestrator/<prefix>-orchestrator`.
    pub fn orchestrator_path(
        &self,
        project_id: &str,
        prefix: &str,
    ) -> Result<PathBuf, WorkspaceError> {
        check_segment(project_id)?;
        check_segment(prefix)?;
        let path = self
            .root
            .join(project_id)
            .join("orchestrator")
            .join(format!("{prefix}-orchestrator"));
        self.check(&path)?;
        Ok(path)
    }

    /// Checks that `path` is absolute, clean, strictly inside the root, and that no existing
    /// directory between the root and it is a symlink.
    pub fn check(&self, path: &Path) -> Result<(), WorkspaceError> {
        let unsafe_path = |reason| WorkspaceError::UnsafePath {
            path: path.display().to_string(),
            reason,
        };
        if !path.is_absolute() {
            return Err(unsafe_path("not absolute"));
        }
        if path
            .components()
            .any(|c| !matches!(c, Component::RootDir | Component::Normal(_)))
        {
            return Err(unsafe_path("not a clean path"));
        }
        let rebuilt: PathBuf = path.components().collect();
        if rebuilt.as_os_str() != path.as_os_str() {
            return Err(unsafe_path("not a clean path"));
        }
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return Err(unsafe_path("outside the worktree root"));
        };
        if rel.as_os_str().is_empty() {
            return Err(unsafe_path("is the worktree root itself"));
        }
        let mut current = self.root.clone();
        for part in rel.components() {
            current.push(part);
            match std::fs::symlink_metadata(&current) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(unsafe_path("passes through a symlink"));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// An id or prefix used as one path segment: non-empty, no `/` or `\`, not `.` or `..`.
fn check_segment(segment: &str) -> Result<(), WorkspaceError> {
    let reason = if segment.is_empty() {
        Some("empty path segment")
    } else if segment.contains(['/', '\\']) {
        Some("a segment contains a path separator")
    } else if segment == "." || segment == ".." {
        Some("a segment is . or ..")
    } else if segment.contains('\0') {
        Some("a segment contains a NUL byte")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(WorkspaceError::UnsafePath {
            path: segment.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}
