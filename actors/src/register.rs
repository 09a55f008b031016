//! Project registration checks (http-api.md §6, "Add semantics"), run by the
//! ProjectSupervisor in a tracked task before it asks the reducer to insert the row.
//!
//! [`prepare`] turns an [`AddProject`] request into a [`NewProject`]:
//! 1. `~`-expand, make absolute, resolve symlinks; a missing path or a non-directory is
//!    `INVALID_PATH`;
//! 2. `git rev-parse --show-toplevel` must equal the resolved path, else `NOT_A_GIT_REPO`;
//! 3. the id is the given one or derived from the directory name (`INVALID_PROJECT_ID` when
//!    nothing valid remains);
//! 4. the config is validated (`INVALID_PROJECT_CONFIG` with `details.field`); when it has no
//!    `defaultBranch`, the discovered default branch is stored only if it is not `main`;
//! 5. the origin URL is read (`''` without an origin).
//!
//! Git runs through `ao_adapters::git`; this module is never called from the reducer.

use std::path::{Path, PathBuf};

use ao_adapters::{GitError, ProcessError, git};
use ao_protocol::config::check_branch_name;
use ao_protocol::{ConfigError, ErrorCode, ProjectConfig, ProjectId};
use ao_store::NewProject;
use serde_json::{Value, json};

use crate::error::CommandError;
use crate::handle::AddProject;

/// The branch that is never stored as `config.defaultBranch` (it is the default default).
const IMPLICIT_DEFAULT_BRANCH: &str = "main";

/// The `INVALID_PROJECT_CONFIG` rejection of a failed config check.
pub(crate) fn config_error(e: &ConfigError) -> CommandError {
    CommandError::rejected_with(
        ErrorCode::InvalidProjectConfig,
        e.to_string(),
        json!({"field": e.field}),
    )
}

/// Validates a config value and normalises `null` to `{}`.
pub(crate) fn checked_config(config: Value) -> Result<Value, CommandError> {
    let config = if config.is_null() { json!({}) } else { config };
    ProjectConfig::validate_json(&config).map_err(|e| config_error(&e))?;
    Ok(config)
}

/// `~` and `~/…` expand to `home`; anything else is returned as is.
pub(crate) fn expand_tilde(path: &str, home: Option<&Path>) -> PathBuf {
    match (path, home) {
        ("~", Some(home)) => home.to_path_buf(),
        (p, Some(home)) if p.starts_with("~/") => home.join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

fn invalid_path(message: String) -> CommandError {
    CommandError::rejected(ErrorCode::InvalidPath, message)
}

fn git_failure(e: GitError) -> CommandError {
    match e {
        GitError::Process(ProcessError::NotInstalled { .. }) => {
            CommandError::Internal("git is not installed".to_string())
        }
        other => CommandError::Internal(format!("git failed: {other}")),
    }
}

/// Resolves the request's path to the canonical repository top level.
async fn resolve_repo(given: &str) -> Result<PathBuf, CommandError> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let expanded = expand_tilde(given, home.as_deref());
    let absolute = if expanded.is_absolute() {
        expanded
    } else {
        std::env::current_dir()
            .map_err(|e| invalid_path(format!("cannot resolve relative path {given:?}: {e}")))?
            .join(expanded)
    };
    let canonical = tokio::fs::canonicalize(&absolute).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            invalid_path(format!("path {given} does not exist"))
        } else {
            invalid_path(format!("cannot resolve path {given}: {e}"))
        }
    })?;
    let meta = tokio::fs::metadata(&canonical)
        .await
        .map_err(|e| invalid_path(format!("cannot read path {given}: {e}")))?;
    if !meta.is_dir() {
        return Err(invalid_path(format!("path {given} is not a directory")));
    }
    if canonical.to_str().is_none() {
        return Err(invalid_path(format!(
            "path {} is not valid UTF-8",
            canonical.display()
        )));
    }

    let top = match git::toplevel(&canonical).await {
        Ok(top) => top,
        Err(GitError::NotARepo { .. }) => {
            return Err(CommandError::rejected(
                ErrorCode::NotAGitRepo,
                format!("{} is not a git repository", canonical.display()),
            ));
        }
        Err(e) => return Err(git_failure(e)),
    };
    let top = tokio::fs::canonicalize(&top).await.unwrap_or(top);
    if top != canonical {
        return Err(CommandError::rejected(
            ErrorCode::NotAGitRepo,
            format!(
                "{} is inside the git repository {} but is not its top level",
                canonical.display(),
                top.display()
            ),
        ));
    }
    Ok(canonical)
}

/// Runs every registration check; the result is ready for `insert_project`.
pub(crate) async fn prepare(req: AddProject) -> Result<NewProject, CommandError> {
    let repo = resolve_repo(&req.path).await?;
    let path = repo
        .to_str()
        .expect("resolve_repo only returns UTF-8 paths")
        .to_string();

    let id = if let Some(id) = req.project_id {
        id
    } else {
        let base = repo
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ProjectId::from_basename(&base).ok_or_else(|| {
            CommandError::rejected(
                ErrorCode::InvalidProjectId,
                format!(
                    "cannot derive a project id from the directory name {base:?}; pass projectId"
                ),
            )
        })?
    };

    let mut config = checked_config(req.config)?;
    if config.get("defaultBranch").is_none()
        && let Some(branch) = git::default_branch(&repo).await
        && branch != IMPLICIT_DEFAULT_BRANCH
        && check_branch_name(&branch).is_ok()
        && let Value::Object(map) = &mut config
    {
        map.insert("defaultBranch".to_string(), Value::String(branch));
    }

    let repo_origin_url = git::origin_url(&repo).await.unwrap_or_default();
    let display_name = req
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.to_string());

    Ok(NewProject {
        id,
        path,
        repo_origin_url,
        display_name,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expansion() {
        let home = Path::new("/home/u");
        assert_eq!(expand_tilde("~", Some(home)), PathBuf::from("/home/u"));
        assert_eq!(
            expand_tilde("~/src/x", Some(home)),
            PathBuf::from("/home/u/src/x")
        );
        assert_eq!(expand_tilde("~bob/x", Some(home)), PathBuf::from("~bob/x"));
        assert_eq!(expand_tilde("/abs", Some(home)), PathBuf::from("/abs"));
        assert_eq!(expand_tilde("~/x", None), PathBuf::from("~/x"));
    }

    #[test]
    fn config_errors_name_the_field() {
        let err = checked_config(json!({"env": {"AO_X": "1"}})).expect_err("invalid");
        assert_eq!(err.code(), ErrorCode::InvalidProjectConfig);
        assert_eq!(err.details(), Some(&json!({"field": "env.AO_X"})));
        assert_eq!(checked_config(Value::Null).expect("null is {}"), json!({}));
    }
}
