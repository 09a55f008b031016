//! Read-only git queries used by project registration (http-api.md §6).
//!
//! Every call runs `git` through [`crate::process`] with `GIT_TERMINAL_PROMPT=0` and
//! `LC_ALL=C` (so git never prompts and its messages are stable) and a 30 s timeout.
//!
//! * [`toplevel`]: `git -C <path> rev-parse --show-toplevel`.
//! * [`origin_url`]: `git -C <repo> remote get-url origin`, `None` without an origin.
//! * [`default_branch`]: `symbolic-ref --short refs/remotes/origin/HEAD` minus `origin/`, else
//!   the current branch (`symbolic-ref --short HEAD`, which also works on an unborn branch).
//! * [`version`]: the version number printed by `git --version`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::process::{self, Cmd, ProcessError};

/// The timeout of every git call in this module (adapters.md §1).
pub const GIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a git query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// The path is not inside a git work tree (git said so, e.g. `not a git repository`).
    #[error("{} is not inside a git work tree: {detail}", .path.display())]
    NotARepo { path: PathBuf, detail: String },
    /// git printed something this module does not understand.
    #[error("unexpected git output: {0:?}")]
    UnexpectedOutput(String),
    /// git could not be run: not installed, timed out, or an I/O failure.
    #[error(transparent)]
    Process(#[from] ProcessError),
}

/// A `git` command with the environment every git call gets.
pub fn git_cmd() -> Cmd {
    Cmd::new("git")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .timeout(GIT_TIMEOUT)
}

fn git_in(dir: &Path) -> Cmd {
    git_cmd().arg("-C").arg(dir)
}

/// The top level of the work tree containing `path`, as git prints it (an absolute path with
/// symlinks resolved).
pub async fn toplevel(path: &Path) -> Result<PathBuf, GitError> {
    let cmd = git_in(path).args(["rev-parse", "--show-toplevel"]);
    match process::run(&cmd).await {
        Ok(out) => {
            let line = out.stdout.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                return Err(GitError::UnexpectedOutput(out.stdout));
            }
            Ok(PathBuf::from(line))
        }
        Err(ProcessError::Failed { stderr_tail, .. }) => Err(GitError::NotARepo {
            path: path.to_path_buf(),
            detail: stderr_tail.trim().to_string(),
        }),
        Err(e) => Err(GitError::Process(e)),
    }
}

/// The URL of the `origin` remote, or `None` when there is none (or git fails).
pub async fn origin_url(repo: &Path) -> Option<String> {
    let cmd = git_in(repo).args(["remote", "get-url", "origin"]);
    non_empty_line(process::run(&cmd).await.ok()?.stdout)
}

/// The repository's default branch: `origin/HEAD` without the `origin/` prefix when it is
/// set, else the current branch; `None` on a detached HEAD or when git fails.
pub async fn default_branch(repo: &Path) -> Option<String> {
    let remote_head = git_in(repo).args(["symbolic-ref", "--short", "refs/remotes/origin/HEAD"]);
    if let Ok(out) = process::run(&remote_head).await
        && let Some(line) = non_empty_line(out.stdout)
    {
        let branch = line.strip_prefix("origin/").unwrap_or(&line).to_string();
        if !branch.is_empty() {
            return Some(branch);
        }
    }
    let head = git_in(repo).args(["symbolic-ref", "--short", "-q", "HEAD"]);
    non_empty_line(process::run(&head).await.ok()?.stdout)
}

/// The installed git's version number, e.g. `2.43.0`.
pub async fn version() -> Result<String, GitError> {
    let out = process::run(&git_cmd().arg("--version")).await?;
    let line = out.stdout.trim();
    line.strip_prefix("git version ")
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| GitError::UnexpectedOutput(out.stdout.clone()))
}

fn non_empty_line(stdout: String) -> Option<String> {
    let line = stdout.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn git(dir: &Path, args: &[&str]) {
        process::run(&git_in(dir).args(args))
            .await
            .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    }

    async fn init_repo(dir: &Path, branch: &str) {
        git(dir, &["init", "-q", "-b", branch]).await;
        git(dir, &["config", "user.email", "t@example.com"]).await;
        git(dir, &["config", "user.name", "t"]).await;
        git(
            dir,
            &[
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "init",
                "--no-gpg-sign",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn version_is_a_number() {
        let v = version().await.expect("git is installed");
        assert!(v.starts_with(|c: char| c.is_ascii_digit()), "{v}");
    }

    #[tokio::test]
    async fn toplevel_of_a_repo_and_its_subdir() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical");
        init_repo(&root, "main").await;
        std::fs::create_dir(root.join("sub")).expect("mkdir");
        assert_eq!(toplevel(&root).await.expect("repo"), root);
        assert_eq!(toplevel(&root.join("sub")).await.expect("repo"), root);
    }

    #[tokio::test]
    async fn toplevel_of_a_plain_dir_is_not_a_repo() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let err = toplevel(tmp.path()).await.expect_err("not a repo");
        assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn origin_url_is_none_without_origin() {
        let tmp = tempfile::tempdir().expect("tempdir");
        init_repo(tmp.path(), "main").await;
        assert_eq!(origin_url(tmp.path()).await, None);
        git(
            tmp.path(),
            &["remote", "add", "origin", "https://github.com/o/r.git"],
        )
        .await;
        assert_eq!(
            origin_url(tmp.path()).await.as_deref(),
            Some("https://github.com/o/r.git")
        );
    }

    #[tokio::test]
    async fn default_branch_prefers_origin_head_then_current_branch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let upstream = tmp.path().join("up");
        std::fs::create_dir(&upstream).expect("mkdir");
        init_repo(&upstream, "trunk").await;

        // Without origin: the current branch.
        assert_eq!(default_branch(&upstream).await.as_deref(), Some("trunk"));

        // A clone has origin/HEAD -> origin/trunk, even when another branch is checked out.
        let clone = tmp.path().join("clone");
        git(
            tmp.path(),
            &[
                "clone",
                "-q",
                upstream.to_str().expect("utf-8"),
                clone.to_str().expect("utf-8"),
            ],
        )
        .await;
        git(&clone, &["checkout", "-q", "-b", "feature"]).await;
        assert_eq!(default_branch(&clone).await.as_deref(), Some("trunk"));
    }

    #[tokio::test]
    async fn default_branch_of_an_unborn_repo_is_its_initial_branch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        git(tmp.path(), &["init", "-q", "-b", "dev"]).await;
        assert_eq!(default_branch(tmp.path()).await.as_deref(), Some("dev"));
    }

    #[tokio::test]
    async fn default_branch_is_none_on_a_detached_head() {
        let tmp = tempfile::tempdir().expect("tempdir");
        init_repo(tmp.path(), "main").await;
        git(tmp.path(), &["checkout", "-q", "--detach"]).await;
        assert_eq!(default_branch(tmp.path()).await, None);
    }
}
