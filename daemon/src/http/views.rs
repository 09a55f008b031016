//! Read models: turning store rows into the wire DTOs of http-api.md.
//!
//! [`project`] derives the computed fields of `Project` (§6) from a `ProjectRow`: defaults for
//! `defaultBranch`, `sessionPrefix` and `runtime`, and `health` from a filesystem check (the
//! path exists and has a `.git` entry). It never runs git or any other adapter; it touches the
//! filesystem, so callers run it on the blocking pool.

use std::path::Path;

use ao_protocol::{Project, ProjectHealth, RuntimeKind};
use serde_json::Value;

use ao_store::ProjectRow;

/// The `Project` view of a row.
pub fn project(row: &ProjectRow, default_runtime: RuntimeKind) -> Project {
    let cfg_str = |key: &str| row.config.get(key).and_then(Value::as_str);
    let id = row.id.as_str();
    let (health, problem) = health(Path::new(&row.path));
    Project {
        id: row.id.clone(),
        name: if row.display_name.is_empty() {
            id.to_string()
        } else {
            row.display_name.clone()
        },
        path: row.path.clone(),
        repo: Some(row.repo_origin_url.clone()).filter(|r| !r.is_empty()),
        default_branch: cfg_str("defaultBranch").unwrap_or("main").to_string(),
        session_prefix: cfg_str("sessionPrefix")
            .map_or_else(|| id.chars().take(12).collect(), str::to_string),
        runtime: cfg_str("runtime")
            .and_then(|r| r.parse().ok())
            .unwrap_or(default_runtime),
        registered_at: row.registered_at.clone(),
        health,
        problem,
        config: match &row.config {
            Value::Null => Value::Object(serde_json::Map::new()),
            other => other.clone(),
        },
    }
}

/// `ok`, or `degraded` with the sentence that says why.
fn health(path: &Path) -> (ProjectHealth, Option<String>) {
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(_) => (
            ProjectHealth::Degraded,
            Some(format!("path {shown} no longer exists")),
        ),
        Ok(m) if !m.is_dir() => (
            ProjectHealth::Degraded,
            Some(format!("path {shown} is not a directory")),
        ),
        Ok(_) if std::fs::symlink_metadata(path.join(".git")).is_err() => (
            ProjectHealth::Degraded,
            Some(format!(
                "path {shown} is no longer a git repository (no .git entry)"
            )),
        ),
        Ok(_) => (ProjectHealth::Ok, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_protocol::ProjectId;
    use serde_json::json;

    fn row(path: &Path, config: Value) -> ProjectRow {
        ProjectRow {
            id: ProjectId::new("a-very-long-project-id").expect("valid"),
            path: path.to_string_lossy().into_owned(),
            repo_origin_url: String::new(),
            display_name: String::new(),
            config,
            registered_at: "2026-07-01T09:00:00.000Z".into(),
            updated_at: "2026-07-01T09:00:00.000Z".into(),
            archived_at: None,
        }
    }

    #[test]
    fn defaults_and_health() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join(".git")).expect("mkdir");
        let p = project(&row(tmp.path(), json!({})), RuntimeKind::Tmux);
        assert_eq!(p.name, "a-very-long-project-id");
        assert_eq!(p.repo, None);
        assert_eq!(p.default_branch, "main");
        assert_eq!(p.session_prefix, "a-very-long-");
        assert_eq!(p.runtime, RuntimeKind::Tmux);
        assert_eq!(p.health, ProjectHealth::Ok);
        assert_eq!(p.problem, None);
        assert_eq!(p.config, json!({}));
    }

    #[test]
    fn config_overrides_and_degraded_paths() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut r = row(
            tmp.path(),
            json!({"defaultBranch": "trunk", "sessionPrefix": "ap", "runtime": "zellij"}),
        );
        r.display_name = "Pretty".into();
        r.repo_origin_url = "git@github.com:o/r.git".into();
        let p = project(&r, RuntimeKind::Tmux);
        assert_eq!(p.name, "Pretty");
        assert_eq!(p.repo.as_deref(), Some("git@github.com:o/r.git"));
        assert_eq!(
            (p.default_branch.as_str(), p.session_prefix.as_str()),
            ("trunk", "ap")
        );
        assert_eq!(p.runtime, RuntimeKind::Zellij);
        assert_eq!(p.health, ProjectHealth::Degraded);
        assert!(p.problem.expect("problem").contains("no .git entry"));

        let gone = project(&row(&tmp.path().join("gone"), json!({})), RuntimeKind::Tmux);
        assert_eq!(gone.health, ProjectHealth::Degraded);
        assert!(gone.problem.expect("problem").contains("no longer exists"));
    }
}
