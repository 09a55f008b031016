//! Read models: turning store rows into the wire DTOs of http-api.md.
//!
//! [`project`] derives the computed fields of `Project` (§6) from a `ProjectRow`: defaults for
//! `defaultBranch`, `sessionPrefix` and `runtime`, and `health` from a filesystem check (the
//! path exists and has a `.git` entry). It never runs git or any other adapter; it touches the
//! filesystem, so callers run it on the blocking pool.
//!
//! [`session`] builds the `Session` view (§7) from a `SessionRow` and the session's PR rows:
//! the display status comes from `ao_actors::status::derive` (sessions.md §15), empty stored
//! strings become `null`, the PRs are sorted active first then newest first, and the stored
//! prompt and launch command are never copied.

use std::cmp::Ordering;
use std::path::Path;

use ao_protocol::{
    PrBrief, Project, ProjectHealth, RuntimeKind, Session, SessionActivity, SessionRuntime,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use ao_store::{PrRow, ProjectRow, SessionRow};

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

/// `None` for an empty stored string.
fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The `PrBrief` of a PR row.
pub fn pr_brief(pr: &PrRow) -> PrBrief {
    PrBrief {
        url: pr.url.clone(),
        number: pr.number,
        title: pr.title.clone(),
        state: pr.pr_state,
        ci: pr.ci_state,
        review: pr.review_decision,
        mergeability: pr.mergeability,
        review_comments: pr.has_unresolved_human_comment,
        updated_at: pr.updated_at.clone(),
    }
}

/// Active (open or draft) PRs first, then the most recently updated, then the highest number.
fn pr_order(a: &PrRow, b: &PrRow) -> Ordering {
    let active = |p: &PrRow| ao_actors::status::is_open(p);
    active(b)
        .cmp(&active(a))
        .then_with(|| {
            let at = |p: &PrRow| ao_protocol::time::parse(&p.updated_at);
            at(b).cmp(&at(a))
        })
        .then_with(|| b.number.cmp(&a.number))
}

/// Sorts PR rows in the `Session.prs` order (active first, then newest first).
pub fn sort_prs(prs: &mut [PrRow]) {
    prs.sort_by(pr_order);
}

/// The `Session` view of a row with every PR of the session (any state), at `now`.
pub fn session(row: &SessionRow, prs: &[PrRow], now: DateTime<Utc>) -> Session {
    let mut sorted: Vec<&PrRow> = prs.iter().collect();
    sorted.sort_by(|a, b| pr_order(a, b));
    Session {
        id: row.id.clone(),
        project_id: row.project_id.clone(),
        num: row.num,
        kind: row.kind,
        harness: row.harness.clone(),
        display_name: non_empty(&row.display_name),
        issue_id: non_empty(&row.issue_id),
        branch: non_empty(&row.branch),
        workspace_path: non_empty(&row.workspace_path),
        status: ao_actors::status::derive(row, prs, now),
        activity: SessionActivity {
            state: row.activity_state,
            last_activity_at: row.activity_last_at.clone(),
            first_signal_at: row.first_signal_at.clone(),
        },
        is_terminated: row.is_terminated,
        terminated_at: row.terminated_at.clone(),
        terminated_reason: row.terminated_reason,
        exit_code: row.exit_code,
        restarts: row.restarts,
        runtime: SessionRuntime {
            kind: row.runtime,
            handle_id: non_empty(&row.runtime_handle_id),
        },
        agent_session_id: non_empty(&row.agent_session_id),
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
        prs: sorted.into_iter().map(pr_brief).collect(),
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

    fn session_row() -> SessionRow {
        let project = ProjectId::new("demo").expect("valid");
        SessionRow {
            id: ao_protocol::SessionId::new(&project, 3),
            project_id: project,
            num: 3,
            kind: ao_protocol::SessionKind::Worker,
            harness: "codex".into(),
            issue_id: String::new(),
            display_name: String::new(),
            branch: "ao/demo-3/root".into(),
            workspace_path: String::new(),
            runtime: RuntimeKind::Tmux,
            runtime_handle_id: String::new(),
            agent_session_id: String::new(),
            prompt: "never shown".into(),
            launch_command: "never run here".into(),
            activity_state: ao_protocol::ActivityState::Idle,
            activity_last_at: "2026-07-01T09:00:00.000Z".into(),
            first_signal_at: None,
            is_terminated: false,
            terminated_at: None,
            terminated_reason: None,
            exit_code: None,
            restarts: 2,
            last_restart_at: None,
            created_at: "2026-07-01T08:00:00.000Z".into(),
            updated_at: "2026-07-01T09:00:00.000Z".into(),
        }
    }

    fn pr(n: u64, state: ao_protocol::PrState, updated: &str) -> PrRow {
        PrRow {
            url: format!("https://github.com/o/r/pull/{n}"),
            session_id: session_row().id,
            number: n,
            title: format!("PR {n}"),
            pr_state: state,
            ci_state: ao_protocol::CiState::Passing,
            review_decision: ao_protocol::ReviewDecision::None,
            mergeability: ao_protocol::Mergeability::Unknown,
            source_branch: format!("b{n}"),
            target_branch: "main".into(),
            updated_at: updated.into(),
            has_unresolved_human_comment: n == 4,
        }
    }

    fn at(ts: &str) -> DateTime<Utc> {
        ao_protocol::time::parse(ts).expect("timestamp")
    }

    #[test]
    fn session_view_nulls_empty_strings_and_hides_the_prompt() {
        let row = session_row();
        let v = session(&row, &[], at("2026-07-01T09:00:30.000Z"));
        let j = serde_json::to_value(&v).expect("serialises");
        for key in [
            "displayName",
            "issueId",
            "workspacePath",
            "agentSessionId",
            "terminatedAt",
            "terminatedReason",
            "exitCode",
        ] {
            assert_eq!(j[key], Value::Null, "{key}");
        }
        assert_eq!(j["runtime"], json!({"kind": "tmux", "handleId": null}));
        assert_eq!(j["branch"], "ao/demo-3/root");
        assert_eq!(j["restarts"], 2);
        assert_eq!(j["status"], "idle");
        assert_eq!(
            j["activity"],
            json!({"state": "idle", "lastActivityAt": "2026-07-01T09:00:00.000Z",
                   "firstSignalAt": null})
        );
        let text = j.to_string();
        assert!(!text.contains("never shown") && !text.contains("never run here"));
        assert!(j.get("prompt").is_none() && j.get("launchCommand").is_none());
        // Signal-capable, never signalled, quiet for more than 90 s.
        let late = session(&row, &[], at("2026-07-01T09:02:00.000Z"));
        assert_eq!(late.status, ao_protocol::DisplayStatus::NoSignal);
        let mut full = session_row();
        full.display_name = "N".into();
        full.runtime_handle_id = "demo-3".into();
        full.agent_session_id = "conv".into();
        let v = session(&full, &[], at("2026-07-01T09:00:30.000Z"));
        assert_eq!(v.display_name.as_deref(), Some("N"));
        assert_eq!(v.runtime.handle_id.as_deref(), Some("demo-3"));
        assert_eq!(v.agent_session_id.as_deref(), Some("conv"));
    }

    #[test]
    fn prs_are_active_first_then_newest_first() {
        use ao_protocol::PrState::{Closed, Draft, Merged, Open};
        let prs = vec![
            pr(1, Merged, "2026-07-01T10:00:00.000Z"),
            pr(2, Open, "2026-07-01T08:00:00.000Z"),
            pr(3, Closed, "2026-07-01T11:00:00.000Z"),
            pr(4, Draft, "2026-07-01T09:00:00.000Z"),
        ];
        let v = session(&session_row(), &prs, at("2026-07-01T12:00:00.000Z"));
        let order: Vec<u64> = v.prs.iter().map(|p| p.number).collect();
        assert_eq!(order, [4, 2, 3, 1]);
        assert!(v.prs[0].review_comments);
        assert!(!v.prs[1].review_comments);
        // The draft PR wins the aggregate over the plain open one.
        assert_eq!(v.status, ao_protocol::DisplayStatus::Draft);
        let brief = serde_json::to_value(&v.prs[1]).expect("serialises");
        assert_eq!(
            brief,
            json!({"url": "https://github.com/o/r/pull/2", "number": 2, "title": "PR 2",
                   "state": "open", "ci": "passing", "review": "none",
                   "mergeability": "unknown", "reviewComments": false,
                   "updatedAt": "2026-07-01T08:00:00.000Z"})
        );
    }
}
