//! `ao project …` (cli.md §3): ls, get, add, set-config, rm.
//!
//! [`SetConfigFlags::request`] is the pure translation of `set-config` flags into the HTTP
//! method and `config` body, including the usage rules marked (2) in the spec: by default an
//! RFC 7386 merge patch (`PATCH`, `--unset-env K` → `env.K: null`), `--replace` a whole config
//! (`PUT`, `--config-json` overlaid by the field flags), `--clear` `PUT {config:{}}`.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use ao_protocol::config::{is_valid_env_key, merge_patch};
use ao_protocol::{EnvConfig, Project, ProjectEnvelope, ProjectList, RemoveProjectResponse};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{Body, Daemon, Timeout};
use crate::error::CliError;
use crate::output;

fn project_of(body: &Body) -> Result<Project, CliError> {
    body.decode::<ProjectEnvelope>("project").map(|e| e.project)
}

/// `ao project ls`.
pub async fn list(env: &EnvConfig, json: bool) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let body = d.get(&["projects"], &[]).await?;
    if json {
        return body.print();
    }
    let list: ProjectList = body.decode("project list")?;
    output::raw(&render_list(&list.projects))
}

/// The `project ls` table, or the hint when there are no projects.
pub fn render_list(projects: &[Project]) -> String {
    if projects.is_empty() {
        return "No projects registered.\nAdd one with: ao project add --path <repo>\n".into();
    }
    let rows: Vec<Vec<String>> = projects
        .iter()
        .map(|p| {
            vec![
                p.id.to_string(),
                p.name.clone(),
                p.path.clone(),
                p.default_branch.clone(),
                p.runtime.to_string(),
                p.health.to_string(),
            ]
        })
        .collect();
    output::table(
        &["ID", "NAME", "PATH", "DEFAULT-BRANCH", "RUNTIME", "HEALTH"],
        &rows,
    )
}

/// The `project get` lines.
pub fn render_project(p: &Project) -> String {
    let health = match &p.problem {
        Some(problem) => format!("{} ({problem})", p.health),
        None => p.health.to_string(),
    };
    output::key_values(&[
        ("id", p.id.to_string()),
        ("name", p.name.clone()),
        ("path", p.path.clone()),
        ("repo", p.repo.clone().unwrap_or_else(|| "-".into())),
        ("default branch", p.default_branch.clone()),
        ("session prefix", p.session_prefix.clone()),
        ("runtime", p.runtime.to_string()),
        ("registered", output::local_datetime(&p.registered_at)),
        ("health", health),
        ("config", output::compact(&p.config)),
    ])
}

/// `ao project get <id>`.
pub async fn get(env: &EnvConfig, id: &str, json: bool) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let body = d.get(&["projects", id], &[]).await?;
    if json {
        return body.print();
    }
    output::raw(&render_project(&project_of(&body)?))
}

/// The flags of `ao project add`.
#[derive(Debug, Clone, Default)]
pub struct AddFlags {
    pub path: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub worker_agent: Option<String>,
    pub orchestrator_agent: Option<String>,
}

/// Makes a user-given path absolute against the CLI's working directory (the daemon's cwd is
/// not the user's). `~` expands to `HOME`; the daemon resolves symlinks and validates.
fn absolutise(path: &str) -> String {
    let p = path.trim();
    if p.is_empty() {
        return String::new();
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let expanded = match (p, &home) {
        ("~", Some(h)) => PathBuf::from(h),
        (_, Some(h)) if p.starts_with("~/") => PathBuf::from(h).join(&p[2..]),
        _ => PathBuf::from(p),
    };
    if expanded.is_absolute() {
        return expanded.display().to_string();
    }
    std::env::current_dir().map_or_else(
        |_| p.to_string(),
        |cwd| cwd.join(&expanded).display().to_string(),
    )
}

impl AddFlags {
    /// The `POST /projects` body.
    pub fn body(&self) -> Value {
        let mut body = json!({ "path": absolutise(&self.path) });
        if let Some(id) = &self.id {
            body["projectId"] = json!(id);
        }
        if let Some(n) = &self.name {
            body["name"] = json!(n);
        }
        let mut config = Map::new();
        if let Some(a) = &self.worker_agent {
            config.insert("worker".into(), json!({ "agent": a }));
        }
        if let Some(a) = &self.orchestrator_agent {
            config.insert("orchestrator".into(), json!({ "agent": a }));
        }
        if !config.is_empty() {
            body["config"] = Value::Object(config);
        }
        body
    }
}

/// `ao project add`.
pub async fn add(env: &EnvConfig, flags: &AddFlags, json: bool) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let body = d
        .call(
            Method::POST,
            &["projects"],
            &[],
            Some(&flags.body()),
            Timeout::Short,
        )
        .await?;
    if json {
        return body.print();
    }
    let p = project_of(&body)?;
    output::line(&format!("registered project {} at {}", p.id, p.path))
}

/// The flags of `ao project set-config`.
#[derive(Debug, Clone, Default)]
pub struct SetConfigFlags {
    pub default_branch: Option<String>,
    pub session_prefix: Option<String>,
    pub runtime: Option<String>,
    pub model: Option<String>,
    pub permission: Option<String>,
    pub worker_agent: Option<String>,
    pub orchestrator_agent: Option<String>,
    pub worker_command: Option<String>,
    pub orchestrator_command: Option<String>,
    pub env: Vec<String>,
    pub unset_env: Vec<String>,
    pub symlink: Vec<String>,
    pub post_create: Vec<String>,
    pub config_json: Option<String>,
    pub replace: bool,
    pub clear: bool,
}

/// Sets `obj.a.b… = v`, creating objects on the way.
fn set_path(obj: &mut Map<String, Value>, path: &[&str], v: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        cur = entry
            .as_object_mut()
            .expect("the entry was just made an object");
    }
    cur.insert((*last).to_string(), v);
}

/// Deep overlay that keeps `null`s (they are deletions in a merge patch).
fn overlay(base: &mut Value, top: Value) {
    match (base, top) {
        (Value::Object(b), Value::Object(t)) => {
            for (k, v) in t {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        overlay(existing, v);
                    }
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, t) => *b = t,
    }
}

impl SetConfigFlags {
    fn has_field_flags(&self) -> bool {
        [
            &self.default_branch,
            &self.session_prefix,
            &self.runtime,
            &self.model,
            &self.permission,
            &self.worker_agent,
            &self.orchestrator_agent,
            &self.worker_command,
            &self.orchestrator_command,
        ]
        .iter()
        .any(|f| f.is_some())
            || !self.env.is_empty()
            || !self.unset_env.is_empty()
            || !self.symlink.is_empty()
            || !self.post_create.is_empty()
    }

    /// The field flags as a merge patch (`null` for `--unset-env`).
    fn field_patch(&self) -> Result<Value, CliError> {
        let mut m = Map::new();
        let scalars: [(&Option<String>, &[&str]); 9] = [
            (&self.default_branch, &["defaultBranch"]),
            (&self.session_prefix, &["sessionPrefix"]),
            (&self.runtime, &["runtime"]),
            (&self.model, &["agentConfig", "model"]),
            (&self.permission, &["agentConfig", "permissions"]),
            (&self.worker_agent, &["worker", "agent"]),
            (&self.orchestrator_agent, &["orchestrator", "agent"]),
            (&self.worker_command, &["worker", "command"]),
            (&self.orchestrator_command, &["orchestrator", "command"]),
        ];
        for (value, path) in scalars {
            if let Some(v) = value {
                set_path(&mut m, path, json!(v));
            }
        }
        for kv in &self.env {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(CliError::Usage(format!(
                    "--env {kv:?} must have the form KEY=VALUE"
                )));
            };
            if !is_valid_env_key(k) {
                return Err(CliError::Usage(format!(
                    "--env key {k:?} must match ^[A-Za-z_][A-Za-z0-9_]*$ and must not start with AO_"
                )));
            }
            set_path(&mut m, &["env", k], json!(v));
        }
        for k in &self.unset_env {
            set_path(&mut m, &["env", k], Value::Null);
        }
        if !self.symlink.is_empty() {
            m.insert("symlinks".into(), json!(self.symlink));
        }
        if !self.post_create.is_empty() {
            m.insert("postCreate".into(), json!(self.post_create));
        }
        Ok(Value::Object(m))
    }

    /// The HTTP method and the `config` value to send, or a usage error (exit 2).
    pub fn request(&self) -> Result<(Method, Value), CliError> {
        let fields = self.has_field_flags();
        if !fields && self.config_json.is_none() && !self.replace && !self.clear {
            return Err(CliError::Usage(
                "set-config needs at least one config flag (see `ao project set-config --help`)"
                    .into(),
            ));
        }
        if self.clear {
            if fields || self.config_json.is_some() || self.replace {
                return Err(CliError::Usage(
                    "--clear cannot be combined with any other config flag".into(),
                ));
            }
            return Ok((Method::PUT, json!({})));
        }
        if self.replace && self.config_json.is_none() {
            return Err(CliError::Usage("--replace requires --config-json".into()));
        }
        let base = match &self.config_json {
            None => Value::Object(Map::new()),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Err(CliError::Usage(
                        "--config-json must be a JSON object".into(),
                    ));
                }
            },
        };
        let patch = self.field_patch()?;
        if self.replace {
            // A whole config has no deletion markers: apply the flags as a merge patch.
            Ok((
                Method::PUT,
                merge_patch(&merge_patch(&json!({}), &base), &patch),
            ))
        } else {
            let mut body = base;
            overlay(&mut body, patch);
            Ok((Method::PATCH, body))
        }
    }
}

/// `ao project set-config <id>` with the request built by [`SetConfigFlags::request`].
pub async fn set_config(
    env: &EnvConfig,
    id: &str,
    method: Method,
    config: Value,
    json: bool,
) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    let body = d
        .call(
            method,
            &["projects", id, "config"],
            &[],
            Some(&json!({ "config": config })),
            Timeout::Short,
        )
        .await?;
    if json {
        return body.print();
    }
    let p = project_of(&body)?;
    output::line(&format!("updated config for project {}", p.id))
}

/// Whether an answer to a y/N prompt is a yes.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The `project rm` output lines.
pub fn render_removed(r: &RemoveProjectResponse) -> String {
    let mut out = format!("removed project {}\n", r.project_id);
    for s in &r.skipped {
        let _ = writeln!(out, "  skipped {}: {}", s.session_id, s.reason);
    }
    out
}

/// `ao project rm <id>`.
pub async fn remove(env: &EnvConfig, id: &str, yes: bool, json: bool) -> Result<(), CliError> {
    let d = Daemon::connect(env)?;
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(CliError::Failed("confirmation required; pass -y".into()));
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "Remove project {id}? Its live sessions will be killed. [y/N] "
        );
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        let _ = stdin.lock().read_line(&mut answer);
        if !is_yes(&answer) {
            return Err(CliError::Aborted);
        }
    }
    let body = d
        .call(Method::DELETE, &["projects", id], &[], None, Timeout::Long)
        .await?;
    if json {
        return body.print();
    }
    let r: RemoveProjectResponse = body.decode("remove")?;
    output::raw(&render_removed(&r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> SetConfigFlags {
        SetConfigFlags::default()
    }

    fn usage(f: &SetConfigFlags) -> String {
        match f.request() {
            Err(e @ CliError::Usage(_)) => {
                assert_eq!(e.exit_code(), 2);
                e.to_string()
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn field_flags_form_a_merge_patch() {
        let f = SetConfigFlags {
            default_branch: Some("develop".into()),
            runtime: Some("zellij".into()),
            model: Some("opus".into()),
            permission: Some("auto".into()),
            worker_agent: Some("codex".into()),
            orchestrator_command: Some("bash".into()),
            env: vec!["FOO=a=b".into(), "EMPTY=".into()],
            unset_env: vec!["OLD".into()],
            symlink: vec![".env".into(), "a/b".into()],
            post_create: vec!["npm ci".into()],
            ..flags()
        };
        let (m, body) = f.request().expect("valid");
        assert_eq!(m, Method::PATCH);
        assert_eq!(
            body,
            json!({
                "defaultBranch": "develop", "runtime": "zellij",
                "agentConfig": {"model": "opus", "permissions": "auto"},
                "worker": {"agent": "codex"}, "orchestrator": {"command": "bash"},
                "env": {"FOO": "a=b", "EMPTY": "", "OLD": null},
                "symlinks": [".env", "a/b"], "postCreate": ["npm ci"]
            })
        );
    }

    #[test]
    fn config_json_is_merged_and_flags_win() {
        let f = SetConfigFlags {
            config_json: Some(
                r#"{"runtime":"tmux","env":{"A":"1","B":null},"worker":{"command":"x"}}"#.into(),
            ),
            runtime: Some("zellij".into()),
            worker_agent: Some("codex".into()),
            ..flags()
        };
        let (m, body) = f.request().expect("valid");
        assert_eq!(m, Method::PATCH);
        assert_eq!(
            body,
            json!({"runtime": "zellij", "env": {"A": "1", "B": null},
                "worker": {"command": "x", "agent": "codex"}})
        );
    }

    #[test]
    fn replace_puts_config_json_overlaid_by_flags() {
        let f = SetConfigFlags {
            replace: true,
            config_json: Some(r#"{"env":{"A":"1","B":"2"},"symlinks":["x"]}"#.into()),
            unset_env: vec!["B".into()],
            symlink: vec!["y".into()],
            session_prefix: Some("p".into()),
            ..flags()
        };
        let (m, body) = f.request().expect("valid");
        assert_eq!(m, Method::PUT);
        assert_eq!(
            body,
            json!({"env": {"A": "1"}, "symlinks": ["y"], "sessionPrefix": "p"})
        );
    }

    #[test]
    fn clear_puts_an_empty_config() {
        let f = SetConfigFlags {
            clear: true,
            ..flags()
        };
        assert_eq!(f.request().expect("valid"), (Method::PUT, json!({})));
    }

    #[test]
    fn usage_rules_exit_2() {
        assert!(usage(&flags()).contains("at least one config flag"));
        let bad_env = SetConfigFlags {
            env: vec!["NOEQUALS".into()],
            ..flags()
        };
        assert!(usage(&bad_env).contains("KEY=VALUE"));
        for key in ["AO_X=1", "1A=1", "A-B=1", "=1"] {
            let f = SetConfigFlags {
                env: vec![key.into()],
                ..flags()
            };
            assert!(usage(&f).contains("--env key"), "{key}");
        }
        for text in ["[1]", "\"x\"", "nope", "null"] {
            let f = SetConfigFlags {
                config_json: Some(text.into()),
                ..flags()
            };
            assert!(usage(&f).contains("JSON object"), "{text}");
        }
        let f = SetConfigFlags {
            clear: true,
            model: Some("m".into()),
            ..flags()
        };
        assert!(usage(&f).contains("--clear"));
        let f = SetConfigFlags {
            clear: true,
            replace: true,
            config_json: Some("{}".into()),
            ..flags()
        };
        assert!(usage(&f).contains("--clear"));
        let f = SetConfigFlags {
            replace: true,
            model: Some("m".into()),
            ..flags()
        };
        assert!(usage(&f).contains("--replace requires --config-json"));
    }

    #[test]
    fn add_body_makes_paths_absolute_and_maps_agents() {
        let f = AddFlags {
            path: "  /r/demo ".into(),
            id: Some("d".into()),
            name: None,
            worker_agent: Some("codex".into()),
            orchestrator_agent: None,
        };
        assert_eq!(
            f.body(),
            json!({"path": "/r/demo", "projectId": "d", "config": {"worker": {"agent": "codex"}}})
        );
        let rel = AddFlags {
            path: "sub/dir".into(),
            ..AddFlags::default()
        };
        let p = rel.body()["path"].as_str().expect("string").to_string();
        assert!(p.starts_with('/') && p.ends_with("/sub/dir"), "{p}");
        assert_eq!(AddFlags::default().body(), json!({"path": ""}));
    }

    fn project() -> Project {
        serde_json::from_value(json!({
            "id": "demo", "name": "Demo", "path": "/r/demo", "repo": null,
            "defaultBranch": "main", "sessionPrefix": "demo", "runtime": "tmux",
            "registeredAt": "bad-time", "health": "degraded", "problem": "path is missing",
            "config": {"runtime": "tmux"}
        }))
        .expect("valid project")
    }

    #[test]
    fn renders_projects() {
        assert_eq!(
            render_list(&[]),
            "No projects registered.\nAdd one with: ao project add --path <repo>\n"
        );
        assert_eq!(
            render_list(&[project()]),
            "ID    NAME  PATH     DEFAULT-BRANCH  RUNTIME  HEALTH\n\
             demo  Demo  /r/demo  main            tmux     degraded\n"
        );
        assert_eq!(
            render_project(&project()),
            "id:              demo\nname:            Demo\npath:            /r/demo\n\
             repo:            -\ndefault branch:  main\nsession prefix:  demo\n\
             runtime:         tmux\nregistered:      bad-time\n\
             health:          degraded (path is missing)\nconfig:          {\"runtime\":\"tmux\"}\n"
        );
    }

    #[test]
    fn removal_output_and_answers() {
        let r: RemoveProjectResponse = serde_json::from_value(json!({
            "ok": true, "projectId": "demo", "killed": [],
            "skipped": [{"sessionId": "demo-2", "reason": "workspace has uncommitted changes"}]
        }))
        .expect("valid");
        assert_eq!(
            render_removed(&r),
            "removed project demo\n  skipped demo-2: workspace has uncommitted changes\n"
        );
        for yes in ["y", "Y\n", "yes", " YES \n"] {
            assert!(is_yes(yes), "{yes}");
        }
        for no in ["", "n", "no", "yep", "\n"] {
            assert!(!is_yes(no), "{no}");
        }
    }
}
