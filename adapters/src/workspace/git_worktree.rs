//! The git-worktree implementation of [`Workspace`] (adapters.md §4.2–§4.5).
//!
//! Every git call is `git -C <repo> …` (or `-C <worktree>` for `status`) through
//! [`crate::git::git_cmd`] (`GIT_TERMINAL_PROMPT=0`, `LC_ALL=C`, 30 s); `worktree add` gets
//! 120 s and `status` also `GIT_OPTIONAL_LOCKS=0`.
//!
//! Invariants:
//! * Every operation first checks its path against the [`WorktreeRoot`].
//! * Fetches are best-effort (only with an origin; failures are logged), so offline use works.
//! * `worktree remove` is never forced; a dirty worktree is reported and kept.
//! * A registration whose directory vanished (`prunable`) and that stands in the way (same
//!   path, or holding the branch) is pruned with `git worktree prune` before deciding, so a
//!   deleted worktree directory can be re-added.
//! * Every command that writes or lists worktree registrations (`worktree add/remove/prune/
//!   list`, the branch switch) holds that repository's lock exclusively ([`lock_repo`], keyed
//!   by the canonical repository path and shared by every `GitWorktree` of the process),
//!   because concurrent ones race inside git: one reads another's half-written
//!   `.git/worktrees/<name>/` ("failed to read …/commondir"), and `prune` may drop a
//!   half-created one. Fetches hold it shared ([`share_repo`]): they may run together but
//!   never beside an add. Ref reads (`for-each-ref`, `rev-parse`) and `git branch <new>`
//!   need no lock.
//! * Create keeps the exclusive section short, because N concurrent spawns into one
//!   repository queue on it: the new branch is made first (`git branch <b> <base>`, what
//!   `worktree add -b` runs itself), then only `worktree add <path> <b>` runs under the lock.
//!   `worktree list` is consulted (and stale registrations pruned) only when git refuses the
//!   add, which gives the outcomes of adapters.md §4.2 steps 3–4 (reuse a registered path,
//!   `BRANCH_CHECKED_OUT_ELSEWHERE`) without a list on the common path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

use super::{Checkout, CreateRequest, Created, Switch, Workspace, WorkspaceError, WorktreeRoot};
use crate::git::git_cmd;
use crate::process::{self, Cmd, ProcessError};
use crate::runtime::BoxFuture;

/// The timeout of `git worktree add` (adapters.md §1).
pub const WORKTREE_ADD_TIMEOUT: Duration = Duration::from_secs(120);

/// Session worktrees made with `git worktree`, all inside one [`WorktreeRoot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitWorktree {
    root: WorktreeRoot,
}

/// One entry of `git worktree list --porcelain`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    path: PathBuf,
    /// The full ref checked out (`refs/heads/x`); `None` when detached or bare.
    branch: Option<String>,
    /// git says the directory is gone.
    prunable: bool,
}

/// One async lock per repository (canonical path), for the whole process: the daemon and the
/// actor tree's default may each hold a `GitWorktree`, and they must still exclude each other.
/// Entries are never removed; there is one per repository ever used.
static REPO_LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<RwLock<()>>>>> =
    LazyLock::new(Mutex::default);

/// The worktree lock of `repo` (see the module invariants). The key is the canonical path,
/// so two spellings of one repository share the lock.
fn repo_lock(repo: &Path) -> Arc<RwLock<()>> {
    let key = repo.canonicalize().unwrap_or_else(|_| repo.to_path_buf());
    // The map is only touched here, which cannot panic mid-update, so a poisoned map is
    // still consistent.
    let mut locks = REPO_LOCKS.lock().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(locks.entry(key).or_default())
}

/// Waits for the exclusive hold of `repo`'s lock: registrations are written or listed.
async fn lock_repo(repo: &Path) -> OwnedRwLockWriteGuard<()> {
    repo_lock(repo).write_owned().await
}

/// Waits for a shared hold of `repo`'s lock: fetches, which must not overlap an add.
async fn share_repo(repo: &Path) -> OwnedRwLockReadGuard<()> {
    repo_lock(repo).read_owned().await
}

fn git(repo: &Path) -> Cmd {
    git_cmd().arg("-C").arg(repo)
}

fn io_error(path: &Path, e: &std::io::Error) -> WorkspaceError {
    WorkspaceError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

impl GitWorktree {
    pub fn new(root: WorktreeRoot) -> Self {
        Self { root }
    }

    /// The implementation rooted at `<data_dir>/worktrees` (created if missing).
    pub fn open(data_dir: &Path) -> Result<Self, WorkspaceError> {
        Ok(Self::new(WorktreeRoot::open(data_dir)?))
    }

    pub fn root(&self) -> &WorktreeRoot {
        &self.root
    }

    /// adapters.md §4.2 steps 1–6, with the short exclusive section of the module invariants:
    /// check the name, fetch (shared), resolve the refs, make a new branch, then add the
    /// worktree under the lock and consult `worktree list` only if git refuses.
    pub async fn create(&self, req: &CreateRequest) -> Result<Created, WorkspaceError> {
        self.root.check(&req.path)?;
        require_repo(&req.repo)?;
        check_branch(&req.repo, &req.branch).await?;
        if req.has_origin {
            let _shared = share_repo(&req.repo).await;
            fetch(req).await;
        }
        let plan = plan_add(req).await?;
        if let AddPlan::NewBranch(base) = &plan {
            create_branch(req, base).await?;
        }
        let _lock = lock_repo(&req.repo).await;
        let refused = match plan {
            AddPlan::NotFetched => None,
            AddPlan::Branch | AddPlan::NewBranch(_) => match add_on_branch(req).await {
                Ok(()) => {
                    return Ok(Created {
                        path: req.path.clone(),
                        reused: false,
                    });
                }
                Err(e) => Some(e),
            },
        };
        settle_refused_add(req, refused).await
    }

    /// adapters.md §4.5: reuse a registered worktree, refuse an occupied path, else Create
    /// steps 1, 2 and 4–6.
    pub async fn restore(&self, req: &CreateRequest) -> Result<Created, WorkspaceError> {
        self.root.check(&req.path)?;
        require_repo(&req.repo)?;
        let _lock = lock_repo(&req.repo).await;
        let (list, _) = worktrees_for(req).await?;
        if is_registered(&list, &req.path) {
            return Ok(Created {
                path: req.path.clone(),
                reused: true,
            });
        }
        if is_occupied(&req.path)? {
            return Err(WorkspaceError::PathOccupied {
                path: req.path.clone(),
            });
        }
        check_branch(&req.repo, &req.branch).await?;
        fetch(req).await;
        add(req, &list).await
    }

    /// Safe destroy (adapters.md §4.4).
    pub async fn destroy(&self, repo: &Path, path: &Path) -> Result<(), WorkspaceError> {
        self.root.check(path)?;
        require_repo(repo)?;
        let _lock = lock_repo(repo).await;
        let remove =
            process::run_unchecked(&git(repo).args(["worktree", "remove"]).arg(path)).await?;
        if let Err(e) = process::run(&git(repo).args(["worktree", "prune"])).await {
            tracing::warn!(repo = %repo.display(), error = %e, "git worktree prune failed");
        }
        let list = list_worktrees(repo).await?;
        if is_registered(&list, path) {
            return Err(match is_dirty_at(path).await {
                Ok(true) => WorkspaceError::Dirty {
                    path: path.to_path_buf(),
                },
                Ok(false) => WorkspaceError::NotRemoved {
                    path: path.to_path_buf(),
                    detail: non_empty(remove.stderr.trim(), "still registered after removal"),
                },
                Err(e) => WorkspaceError::NotRemoved {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                },
            });
        }
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(path, &e)),
            Ok(meta) if meta.is_dir() => {
                std::fs::remove_dir_all(path).map_err(|e| io_error(path, &e))
            }
            Ok(_) => std::fs::remove_file(path).map_err(|e| io_error(path, &e)),
        }
    }

    /// `git -C <path> status --porcelain` is non-empty.
    pub async fn is_dirty(&self, path: &Path) -> Result<bool, WorkspaceError> {
        self.root.check(path)?;
        is_dirty_at(path).await
    }

    /// Branch switch (adapters.md §4.3) of the worktree `path` to the PR head ref `head`:
    /// dirty → `skipped_dirty`; `head` checked out in another worktree →
    /// `skipped_branch_in_use`; then `fetch --no-tags origin
    /// refs/heads/<h>:refs/remotes/origin/<h>`; an existing local branch is checked out and
    /// fast-forwarded (`merge --ff-only origin/<h>`, a failure only logged), otherwise
    /// `checkout -b <h> --track origin/<h>`. `already_on_branch` when HEAD already was `<h>`.
    /// Any git failure → `failed` with its stderr tail. Holds the repository lock.
    pub async fn switch_branch(&self, repo: &Path, path: &Path, head: &str) -> Switch {
        if let Err(e) = self.root.check(path) {
            return Switch::failed(e.to_string());
        }
        if let Err(e) = require_repo(repo) {
            return Switch::failed(e.to_string());
        }
        if let Err(e) = check_branch(repo, head).await {
            return Switch::failed(e.to_string());
        }
        let _lock = lock_repo(repo).await;
        match switch_locked(repo, path, head).await {
            Ok(checkout) => Switch::ok(checkout),
            Err(e) => Switch::failed(switch_error(&e)),
        }
    }
}

/// The message of a failed switch: git's stderr tail when there is one.
fn switch_error(e: &WorkspaceError) -> String {
    match e {
        WorkspaceError::Git(ProcessError::Failed { stderr_tail, .. })
            if !stderr_tail.trim().is_empty() =>
        {
            stderr_tail.trim().to_string()
        }
        other => other.to_string(),
    }
}

/// adapters.md §4.3 steps 1–6 under the repository lock.
async fn switch_locked(repo: &Path, wt: &Path, head: &str) -> Result<Checkout, WorkspaceError> {
    let status = git(wt).env("GIT_OPTIONAL_LOCKS", "0").args([
        "status",
        "--porcelain",
        "--untracked-files=all",
    ]);
    if !process::run(&status).await?.stdout.trim().is_empty() {
        return Ok(Checkout::SkippedDirty);
    }
    let head_ref = format!("refs/heads/{head}");
    let list = list_worktrees(repo).await?;
    if list
        .iter()
        .any(|e| !e.prunable && e.branch.as_deref() == Some(&head_ref) && !same_path(&e.path, wt))
    {
        return Ok(Checkout::SkippedBranchInUse);
    }
    let fetch = git(wt)
        .args(["fetch", "--no-tags", "--quiet", "origin"])
        .arg(format!("{head_ref}:refs/remotes/origin/{head}"));
    process::run(&fetch).await?;
    let current = process::run_unchecked(&git(wt).args(["symbolic-ref", "-q", "HEAD"])).await?;
    let already = current.success() && current.stdout.trim() == head_ref;
    if verifies(wt, &head_ref).await? {
        if !already {
            process::run(&git(wt).args(["checkout", "--quiet"]).arg(head).arg("--")).await?;
        }
        let merge = git(wt)
            .args(["merge", "--ff-only", "--quiet"])
            .arg(format!("refs/remotes/origin/{head}"));
        if let Err(e) = process::run(&merge).await {
            tracing::warn!(worktree = %wt.display(), branch = head, error = %e, "fast-forward to origin failed; branch left as it is");
        }
    } else {
        let create = git(wt)
            .args(["checkout", "--quiet", "-b"])
            .arg(head)
            .arg("--track")
            .arg(format!("origin/{head}"));
        process::run(&create).await?;
    }
    Ok(if already {
        Checkout::AlreadyOnBranch
    } else {
        Checkout::Switched
    })
}

impl Workspace for GitWorktree {
    fn root(&self) -> &WorktreeRoot {
        &self.root
    }

    fn create<'a>(
        &'a self,
        req: &'a CreateRequest,
    ) -> BoxFuture<'a, Result<Created, WorkspaceError>> {
        Box::pin(GitWorktree::create(self, req))
    }

    fn restore<'a>(
        &'a self,
        req: &'a CreateRequest,
    ) -> BoxFuture<'a, Result<Created, WorkspaceError>> {
        Box::pin(GitWorktree::restore(self, req))
    }

    fn destroy<'a>(
        &'a self,
        repo: &'a Path,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), WorkspaceError>> {
        Box::pin(GitWorktree::destroy(self, repo, path))
    }

    fn is_dirty<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<bool, WorkspaceError>> {
        Box::pin(GitWorktree::is_dirty(self, path))
    }

    fn switch_branch<'a>(
        &'a self,
        repo: &'a Path,
        path: &'a Path,
        head_ref: &'a str,
    ) -> BoxFuture<'a, Switch> {
        Box::pin(GitWorktree::switch_branch(self, repo, path, head_ref))
    }
}

fn require_repo(repo: &Path) -> Result<(), WorkspaceError> {
    if repo.is_dir() {
        Ok(())
    } else {
        Err(WorkspaceError::RepoNotFound {
            repo: repo.to_path_buf(),
        })
    }
}

fn non_empty(s: &str, fallback: &str) -> String {
    if s.is_empty() { fallback } else { s }.to_string()
}

/// Step 1: `check-ref-format --branch <b>`; the name must also be its own expansion (no
/// `@{-N}` shorthands).
async fn check_branch(repo: &Path, branch: &str) -> Result<(), WorkspaceError> {
    let invalid = || WorkspaceError::InvalidBranch {
        branch: branch.to_string(),
    };
    if branch.is_empty() || branch.contains('\0') {
        return Err(invalid());
    }
    let out =
        process::run_unchecked(&git(repo).args(["check-ref-format", "--branch", branch])).await?;
    if out.success() && out.stdout.trim_end_matches('\n') == branch {
        Ok(())
    } else {
        Err(invalid())
    }
}

/// Step 2: best-effort fetches, only with an origin.
async fn fetch(req: &CreateRequest) {
    if !req.has_origin {
        return;
    }
    let mut refspecs = vec![req.default_branch.clone()];
    if req.branch != req.default_branch && req.branch != req.session_default_branch {
        refspecs.push(req.branch.clone());
    }
    if let Some(head) = &req.pr_head_ref {
        refspecs.push(format!("refs/heads/{head}:refs/remotes/origin/{head}"));
    }
    for refspec in refspecs {
        if refspec.is_empty() || refspec.starts_with('-') {
            tracing::warn!(refspec, "not fetching an unusable refspec");
            continue;
        }
        let cmd = git(&req.repo)
            .args(["fetch", "--no-tags", "--quiet", "origin"])
            .arg(&refspec);
        if let Err(e) = process::run(&cmd).await {
            tracing::warn!(repo = %req.repo.display(), refspec, error = %e, "fetch failed; continuing with local refs");
        }
    }
}

async fn list_worktrees(repo: &Path) -> Result<Vec<Entry>, WorkspaceError> {
    let out = process::run(&git(repo).args(["worktree", "list", "--porcelain"])).await?;
    Ok(parse_worktree_list(&out.stdout))
}

/// The worktree list, after pruning registrations whose directory is gone when they concern
/// this request (its path, or its branch); `true` when it pruned.
async fn worktrees_for(req: &CreateRequest) -> Result<(Vec<Entry>, bool), WorkspaceError> {
    let list = list_worktrees(&req.repo).await?;
    let branch_ref = format!("refs/heads/{}", req.branch);
    let stale = list.iter().any(|e| {
        e.prunable && (same_path(&e.path, &req.path) || e.branch.as_deref() == Some(&branch_ref))
    });
    if !stale {
        return Ok((list, false));
    }
    process::run(&git(&req.repo).args(["worktree", "prune"])).await?;
    Ok((list_worktrees(&req.repo).await?, true))
}

fn parse_worktree_list(stdout: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut current: Option<Entry> = None;
    for line in stdout.lines() {
        if let Some(path) = line.strip_prefix("worktree ") {
            entries.extend(current.take());
            current = Some(Entry {
                path: PathBuf::from(path),
                branch: None,
                prunable: false,
            });
        } else if let Some(entry) = current.as_mut() {
            if let Some(branch) = line.strip_prefix("branch ") {
                entry.branch = Some(branch.to_string());
            } else if line == "prunable" || line.starts_with("prunable ") {
                entry.prunable = true;
            }
        }
    }
    entries.extend(current);
    entries
}

fn same_path(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_registered(list: &[Entry], path: &Path) -> bool {
    list.iter().any(|e| same_path(&e.path, path))
}

/// A non-directory, or a directory with at least one entry.
fn is_occupied(path: &Path) -> Result<bool, WorkspaceError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path, &e)),
        Ok(meta) if !meta.is_dir() => Ok(true),
        Ok(_) => {
            let mut entries = std::fs::read_dir(path).map_err(|e| io_error(path, &e))?;
            Ok(entries.next().is_some())
        }
    }
}

async fn verifies(repo: &Path, rev: &str) -> Result<bool, WorkspaceError> {
    if rev.is_empty() || rev.starts_with('-') {
        return Ok(false);
    }
    let out =
        process::run_unchecked(&git(repo).args(["rev-parse", "--verify", "--quiet", rev])).await?;
    Ok(out.success())
}

/// What create will add, decided from the refs before the exclusive section (steps 5–6).
#[derive(Debug, Clone, PartialEq, Eq)]
enum AddPlan {
    /// `refs/heads/<b>` exists: `worktree add <path> <b>`.
    Branch,
    /// `git branch <b> <base>` first, then as [`AddPlan::Branch`].
    NewBranch(String),
    /// No base verifies: `BRANCH_NOT_FETCHED`, unless the path is already registered.
    NotFetched,
}

/// Steps 5–6 without the worktree list: one `for-each-ref` for the full refs, `rev-parse` for
/// the others.
async fn plan_add(req: &CreateRequest) -> Result<AddPlan, WorkspaceError> {
    let existing = existing_refs(&req.repo, &candidate_refs(req)).await?;
    if existing.contains(&format!("refs/heads/{}", req.branch)) {
        return Ok(AddPlan::Branch);
    }
    Ok(match base_for(req, &existing).await? {
        Some(base) => AddPlan::NewBranch(base),
        None => AddPlan::NotFetched,
    })
}

/// `git branch <b> <base>`, the first half of `worktree add -b` (with the same upstream
/// set-up). A branch that appeared meanwhile (a concurrent create) is used as it is.
async fn create_branch(req: &CreateRequest, base: &str) -> Result<(), WorkspaceError> {
    let cmd = git(&req.repo)
        .arg("branch")
        .arg("--")
        .arg(&req.branch)
        .arg(base);
    match process::run(&cmd).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let branch_ref = format!("refs/heads/{}", req.branch);
            if verifies(&req.repo, &branch_ref).await? {
                Ok(())
            } else {
                Err(e.into())
            }
        }
    }
}

/// `worktree add <path> <b>` (under the exclusive lock).
async fn add_on_branch(req: &CreateRequest) -> Result<(), WorkspaceError> {
    let cmd = git(&req.repo)
        .args(["worktree", "add"])
        .arg(&req.path)
        .arg(&req.branch)
        .timeout(WORKTREE_ADD_TIMEOUT);
    process::run(&cmd).await?;
    Ok(())
}

/// Git refused the add (`Some`), or there was no base to add from (`None`): steps 3–4 from the
/// worktree list, under the exclusive lock. A registered path is reused; a branch held by
/// another worktree is `BRANCH_CHECKED_OUT_ELSEWHERE`; when a stale registration was pruned the
/// add is tried once more; otherwise git's own refusal (or `BRANCH_NOT_FETCHED`) stands.
async fn settle_refused_add(
    req: &CreateRequest,
    refused: Option<WorkspaceError>,
) -> Result<Created, WorkspaceError> {
    let (list, pruned) = worktrees_for(req).await?;
    if is_registered(&list, &req.path) {
        return Ok(Created {
            path: req.path.clone(),
            reused: true,
        });
    }
    let branch_ref = format!("refs/heads/{}", req.branch);
    if let Some(holder) = list
        .iter()
        .find(|e| e.branch.as_deref() == Some(&branch_ref) && !same_path(&e.path, &req.path))
    {
        return Err(WorkspaceError::BranchCheckedOutElsewhere {
            branch: req.branch.clone(),
            worktree_path: holder.path.clone(),
        });
    }
    match refused {
        None => Err(WorkspaceError::BranchNotFetched {
            branch: req.branch.clone(),
        }),
        Some(_) if pruned => {
            add_on_branch(req).await?;
            Ok(Created {
                path: req.path.clone(),
                reused: false,
            })
        }
        Some(e) => Err(e),
    }
}

/// Restore's steps 4–6: refuse a branch checked out elsewhere, then add the worktree on the
/// existing branch or on a new branch from the first base that verifies.
async fn add(req: &CreateRequest, list: &[Entry]) -> Result<Created, WorkspaceError> {
    let (repo, branch, path) = (&req.repo, &req.branch, &req.path);
    let branch_ref = format!("refs/heads/{branch}");
    if let Some(holder) = list
        .iter()
        .find(|e| e.branch.as_deref() == Some(&branch_ref) && !same_path(&e.path, path))
    {
        return Err(WorkspaceError::BranchCheckedOutElsewhere {
            branch: branch.clone(),
            worktree_path: holder.path.clone(),
        });
    }

    let add = git(repo)
        .args(["worktree", "add"])
        .timeout(WORKTREE_ADD_TIMEOUT);
    // One `for-each-ref` answers which of the full refs of steps 5–6 exist (instead of one
    // `rev-parse --verify` each); only non-ref candidates still need `rev-parse`.
    let existing = existing_refs(repo, &candidate_refs(req)).await?;
    let cmd = if existing.contains(&branch_ref) {
        add.arg(path).arg(branch)
    } else {
        let Some(base) = base_for(req, &existing).await? else {
            return Err(WorkspaceError::BranchNotFetched {
                branch: branch.clone(),
            });
        };
        add.arg("-b").arg(branch).arg(path).arg(base)
    };
    process::run(&cmd).await?;
    Ok(Created {
        path: path.clone(),
        reused: false,
    })
}

/// Step 6's candidates, in order: `refs/remotes/origin/<b>`; `<d>` verbatim when it contains
/// `/`, else `refs/remotes/origin/<d>` then `refs/heads/<d>`; `<b>` as any rev; `refs/tags/<b>`.
fn base_candidates(req: &CreateRequest) -> Vec<String> {
    let (b, d) = (&req.branch, &req.default_branch);
    let mut candidates = vec![format!("refs/remotes/origin/{b}")];
    if d.contains('/') {
        candidates.push(d.clone());
    } else {
        candidates.push(format!("refs/remotes/origin/{d}"));
        candidates.push(format!("refs/heads/{d}"));
    }
    candidates.push(b.clone());
    candidates.push(format!("refs/tags/{b}"));
    candidates
}

/// Every full ref name (`refs/…`) that steps 5–6 may ask about.
fn candidate_refs(req: &CreateRequest) -> Vec<String> {
    let mut refs = vec![format!("refs/heads/{}", req.branch)];
    refs.extend(
        base_candidates(req)
            .into_iter()
            .filter(|c| c.starts_with("refs/")),
    );
    refs
}

/// Which of `refs` exist, with one `git for-each-ref` (a pattern also matches refs below it,
/// so the answer is filtered to exact names; branch names cannot hold glob characters).
async fn existing_refs(
    repo: &Path,
    refs: &[String],
) -> Result<std::collections::HashSet<String>, WorkspaceError> {
    let out = process::run(
        &git(repo)
            .args(["for-each-ref", "--format=%(refname)", "--"])
            .args(refs),
    )
    .await?;
    Ok(out
        .stdout
        .lines()
        .map(str::trim)
        .filter(|r| refs.iter().any(|w| w == r))
        .map(str::to_string)
        .collect())
}

/// Step 6: the first base that exists (full refs, from `existing`) or verifies (other revs).
async fn base_for(
    req: &CreateRequest,
    existing: &std::collections::HashSet<String>,
) -> Result<Option<String>, WorkspaceError> {
    for candidate in base_candidates(req) {
        let found = if candidate.starts_with("refs/") {
            existing.contains(&candidate)
        } else {
            verifies(&req.repo, &candidate).await?
        };
        if found {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

async fn is_dirty_at(path: &Path) -> Result<bool, WorkspaceError> {
    let cmd = git(path)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .args(["status", "--porcelain"]);
    let out = process::run(&cmd).await?;
    Ok(!out.stdout.trim().is_empty())
}

#[cfg(test)]
mod tests;
