//! The operations of a chaos run: how they are chosen from the current state, how they are
//! executed (most are one HTTP request to the daemon; PR events go to the fake GitHub, dirty
//! files straight to a worktree), and how their outcome updates the [`Model`].
//!
//! Main types: [`Op`], [`Outcome`]. [`choose`] draws the next operation from a [`Rng`];
//! [`Op::request`] is the request an operation sends; [`apply`] folds an outcome into the
//! model.
//!
//! Invariant: [`apply`] records a certain fact only for a 2xx reply; no reply (the daemon was
//! SIGKILLed under the request) or a 5xx makes what the operation could have touched unknown.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::check::Snapshot;
use super::lab::{Lab, OWNER};
use super::model::Model;
use super::rng::Rng;
use crate::Api;
use crate::fake_github::{CheckSpec, PrSpec};

/// Upper bound of one request (spawn and restore are long commands).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// One operation.
#[derive(Debug, Clone)]
pub enum Op {
    ProjectAdd {
        project: String,
        path: PathBuf,
        config: Value,
    },
    ProjectRm {
        project: String,
    },
    Spawn {
        project: String,
        prompt: Option<String>,
    },
    /// A message typed into the agent: `work <ms>`, `ask`, `exit <n>`, `crash <n>` drive its
    /// hooks (fake-agent script); anything else is an ordinary turn.
    Send {
        session: String,
        message: String,
        when_idle: bool,
    },
    Kill {
        session: String,
    },
    Restore {
        session: String,
    },
    Rename {
        session: String,
        name: String,
    },
    Cleanup {
        project: Option<String>,
    },
    /// Leaves an uncommitted file in a live session's worktree.
    Dirty {
        session: String,
        file: PathBuf,
    },
    PrOpen {
        session: String,
        project: String,
        branch: String,
    },
    PrChecks {
        index: usize,
        failing: bool,
    },
    PrMerge {
        index: usize,
    },
}

impl Op {
    /// A short name for reports (`spawn`, `kill`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ProjectAdd { .. } => "project_add",
            Self::ProjectRm { .. } => "project_rm",
            Self::Spawn { .. } => "spawn",
            Self::Send { .. } => "send",
            Self::Kill { .. } => "kill",
            Self::Restore { .. } => "restore",
            Self::Rename { .. } => "rename",
            Self::Cleanup { .. } => "cleanup",
            Self::Dirty { .. } => "dirty",
            Self::PrOpen { .. } => "pr_open",
            Self::PrChecks { .. } => "pr_checks",
            Self::PrMerge { .. } => "pr_merge",
        }
    }

    /// One line for logs and failure messages.
    pub fn describe(&self) -> String {
        match self {
            Self::ProjectAdd { project, .. } => format!("project add {project}"),
            Self::ProjectRm { project } => format!("project rm {project}"),
            Self::Spawn { project, prompt } => format!("spawn in {project} (prompt {prompt:?})"),
            Self::Send {
                session,
                message,
                when_idle,
            } => format!("send {message:?} to {session} (whenIdle {when_idle})"),
            Self::Kill { session } => format!("kill {session}"),
            Self::Restore { session } => format!("restore {session}"),
            Self::Rename { session, name } => format!("rename {session} to {name:?}"),
            Self::Cleanup { project } => format!("cleanup (project {project:?})"),
            Self::Dirty { session, file } => {
                format!("leave {} uncommitted in {session}", file.display())
            }
            Self::PrOpen {
                session, branch, ..
            } => format!("open a PR for {session} ({branch})"),
            Self::PrChecks { index, failing } => {
                format!(
                    "set PR[{index}] checks {}",
                    if *failing { "red" } else { "green" }
                )
            }
            Self::PrMerge { index } => format!("merge PR[{index}]"),
        }
    }

    /// The HTTP request of an operation that goes to the daemon.
    pub fn request(&self) -> Option<(reqwest::Method, String, Option<Value>)> {
        use reqwest::Method;
        Some(match self {
            Self::ProjectAdd {
                project,
                path,
                config,
            } => (
                Method::POST,
                "/api/v1/projects".into(),
                Some(json!({"path": path, "projectId": project, "config": config})),
            ),
            Self::ProjectRm { project } => {
                (Method::DELETE, format!("/api/v1/projects/{project}"), None)
            }
            Self::Spawn { project, prompt } => {
                let mut body = json!({"projectId": project, "harness": "claude-code"});
                if let Some(p) = prompt {
                    body["prompt"] = json!(p);
                }
                (Method::POST, "/api/v1/sessions".into(), Some(body))
            }
            Self::Send {
                session,
                message,
                when_idle,
            } => (
                Method::POST,
                format!("/api/v1/sessions/{session}/send"),
                Some(json!({"message": message, "whenIdle": when_idle})),
            ),
            Self::Kill { session } => (
                Method::POST,
                format!("/api/v1/sessions/{session}/kill"),
                None,
            ),
            Self::Restore { session } => (
                Method::POST,
                format!("/api/v1/sessions/{session}/restore"),
                None,
            ),
            Self::Rename { session, name } => (
                Method::PATCH,
                format!("/api/v1/sessions/{session}"),
                Some(json!({"displayName": name})),
            ),
            Self::Cleanup { project } => (
                Method::POST,
                match project {
                    Some(p) => format!("/api/v1/sessions/cleanup?project={p}"),
                    None => "/api/v1/sessions/cleanup".into(),
                },
                None,
            ),
            Self::Dirty { .. }
            | Self::PrOpen { .. }
            | Self::PrChecks { .. }
            | Self::PrMerge { .. } => {
                return None;
            }
        })
    }

    /// The longest random delay before a SIGKILL fired under this operation, in ms: about
    /// the operation's own duration, so the kill lands before, inside or after it.
    pub fn kill_window_ms(&self) -> u64 {
        match self {
            Self::Spawn { .. } | Self::Restore { .. } => 1500,
            Self::ProjectRm { .. } => 1000,
            Self::Kill { .. } | Self::Cleanup { .. } => 500,
            Self::ProjectAdd { .. } | Self::Send { .. } => 250,
            _ => 40,
        }
    }

    /// Whether a SIGKILL can land inside it (it is a request to the daemon).
    pub fn interruptible(&self) -> bool {
        self.request().is_some()
    }

    /// One of the lifecycle operations whose interruption the issue names.
    pub fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            Self::Spawn { .. } | Self::Kill { .. } | Self::Restore { .. }
        )
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A reply with this status and body.
    Reply { status: u16, body: Value },
    /// No reply: the connection failed (the daemon died under the request).
    Lost(String),
    /// An operation that does not talk to the daemon.
    Local,
}

impl Outcome {
    pub fn acked(&self) -> bool {
        matches!(self, Self::Reply { status, .. } if (200..300).contains(status))
    }

    /// A reply that says the daemon refused before doing anything (4xx).
    fn rejected(&self) -> bool {
        matches!(self, Self::Reply { status, .. } if (400..500).contains(status))
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Reply { status, body } => {
                let code = body["code"].as_str().unwrap_or("");
                format!("{status} {code}")
            }
            Self::Lost(e) => format!("no reply ({e})"),
            Self::Local => "done".into(),
        }
    }
}

/// Sends one request; `Lost` when no reply arrives.
pub async fn call(api: Api, method: reqwest::Method, path: String, body: Option<Value>) -> Outcome {
    let mut rb = api.req(method, &path).timeout(REQUEST_TIMEOUT);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = match rb.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Lost(e.to_string()),
    };
    let status = resp.status().as_u16();
    match resp.text().await {
        Ok(text) => Outcome::Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        },
        Err(e) => Outcome::Lost(format!("status {status}, body lost: {e}")),
    }
}

/// Runs an operation that does not talk to the daemon.
pub fn run_local(lab: &Lab, model: &mut Model, op: &Op) -> Result<(), String> {
    match op {
        Op::Dirty { session, file } => {
            std::fs::write(file, format!("work in progress of {session}\n"))
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            model.dirty.push(super::model::DirtyFile {
                session: session.clone(),
                path: file.clone(),
            });
        }
        Op::PrOpen {
            session,
            project,
            branch,
        } => {
            let spec = PrSpec {
                mergeable: "UNKNOWN".into(),
                merge_state_status: Some("UNKNOWN".into()),
                ..PrSpec::new(branch)
            };
            let pr = lab.gh.open_pr(OWNER, project, spec);
            model.prs.push(super::model::PrFact {
                pr,
                session: session.clone(),
                branch: branch.clone(),
                merged: false,
                merge_seen: false,
                ci: None,
            });
        }
        Op::PrChecks { index, failing } => {
            let fact = &mut model.prs[*index];
            let n = fact.pr.number;
            let check = if *failing {
                CheckSpec::run("build")
                    .failure()
                    .job_id(1000 + n)
                    .log(&format!("error: chaos failure {n}\n"))
            } else {
                CheckSpec::run("build").success()
            };
            lab.gh.set_head_checks(&fact.pr, vec![check]);
            fact.ci = Some(if *failing { "failing" } else { "passing" });
        }
        Op::PrMerge { index } => {
            let fact = &mut model.prs[*index];
            lab.gh.merge(&fact.pr);
            fact.merged = true;
            let session = fact.session.clone();
            model.may_end(&session);
        }
        _ => return Err(format!("{} is not a local operation", op.kind())),
    }
    Ok(())
}

/// Folds the outcome of a daemon operation into the model.
pub fn apply(model: &mut Model, op: &Op, outcome: &Outcome) {
    let acked = outcome.acked();
    let body = match outcome {
        Outcome::Reply { body, .. } => body.clone(),
        _ => Value::Null,
    };
    match op {
        Op::ProjectAdd { project, .. } => {
            if acked {
                model.project_added(project, true);
            } else if !outcome.rejected() {
                model.project_added(project, false);
            }
        }
        Op::ProjectRm { project } => {
            if acked || !outcome.rejected() {
                model.project_removed(project, acked);
            }
        }
        Op::Spawn { project, .. } => {
            if acked && let Some(id) = body["session"]["id"].as_str() {
                model.spawned(id, project);
            }
        }
        Op::Send {
            session, message, ..
        } => {
            let ends = message.starts_with("exit") || message.starts_with("crash");
            if ends && !outcome.rejected() {
                model.may_end(session);
            } else if acked && body["delivery"] == "sent" {
                model.sent(session, message, false);
            }
        }
        Op::Kill { session } => {
            if acked {
                model.killed(session, body["freed"] == true);
            } else {
                model.unsure(session);
            }
        }
        Op::Restore { session } => {
            if acked {
                model.restored(session);
            } else if !outcome.rejected() {
                model.unsure(session);
            }
        }
        Op::Rename { session, name } => {
            if acked || !outcome.rejected() {
                model.renamed(session, name, acked);
            }
        }
        Op::Cleanup { .. } => {
            if acked {
                let cleaned: Vec<String> = body["cleaned"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                model.cleaned(&cleaned);
            }
        }
        Op::Dirty { .. } | Op::PrOpen { .. } | Op::PrChecks { .. } | Op::PrMerge { .. } => {}
    }
}

/// How the next operation is drawn.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No spawn while this many sessions are live.
    pub max_live: usize,
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}

/// The message of a send: mostly turns and hook-driving scripts, rarely an exit.
fn message(rng: &mut Rng, i: usize) -> String {
    match rng.weighted(&[6, 5, 2, 1, 1]) {
        Some(1) => format!("work {}", rng.between(50, 600)),
        Some(2) => "ask".into(),
        Some(3) => format!("exit {}", rng.below(4)),
        Some(4) => format!("crash {}", rng.between(1, 3)),
        _ => format!("hello-{i}"),
    }
}

/// Draws operation number `i` from the state in `snap` (or `None` when nothing applies).
/// With `lifecycle_only`, only spawn, kill or restore are drawn (when possible).
pub fn choose(
    rng: &mut Rng,
    lab: &Lab,
    model: &Model,
    snap: &Snapshot,
    limits: Limits,
    i: usize,
    lifecycle_only: bool,
) -> Option<Op> {
    let live_projects: Vec<String> = snap.projects.iter().map(|p| str_of(p, "id")).collect();
    let in_live_project = |s: &&Value| {
        live_projects
            .iter()
            .any(|p| *p == s["projectId"].as_str().unwrap_or(""))
    };
    let live: Vec<&Value> = snap.live_sessions().filter(in_live_project).collect();
    let ended: Vec<&Value> = snap
        .sessions
        .iter()
        .filter(|s| s["isTerminated"] == true)
        .filter(in_live_project)
        .collect();
    let merged_sessions: Vec<&str> = model
        .prs
        .iter()
        .filter(|p| p.merged)
        .map(|p| p.session.as_str())
        .collect();
    let dirtyable: Vec<&Value> = live
        .iter()
        .copied()
        .filter(|s| s["workspacePath"].is_string())
        .filter(|s| !merged_sessions.contains(&s["id"].as_str().unwrap_or("")))
        .collect();
    let with_pr: Vec<&str> = model.prs.iter().map(|p| p.session.as_str()).collect();
    let pr_less: Vec<&Value> = live
        .iter()
        .copied()
        .filter(|s| !with_pr.contains(&s["id"].as_str().unwrap_or("")))
        .filter(|s| s["branch"].is_string())
        .collect();
    let open_prs: Vec<usize> = model
        .prs
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.merged)
        .map(|(i, _)| i)
        .collect();
    let addable: Vec<&(String, PathBuf)> = lab
        .repos
        .iter()
        .filter(|(id, _)| !live_projects.contains(id))
        .collect();
    let n_live = snap.live_sessions().count();

    let can_spawn = n_live < limits.max_live && !live_projects.is_empty();
    let w = |cond: bool, weight: u64| if cond { weight } else { 0 };
    let weights = if lifecycle_only {
        [
            w(can_spawn, 4),
            w(!live.is_empty(), 3),
            w(!ended.is_empty(), 3),
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ]
    } else {
        [
            w(can_spawn, 16),
            w(
                !live.is_empty(),
                if n_live + 1 >= limits.max_live { 14 } else { 8 },
            ),
            w(!ended.is_empty(), 7),
            w(!live.is_empty(), 22),
            w(!snap.sessions.is_empty(), 5),
            4,
            w(!dirtyable.is_empty(), 4),
            w(
                !addable.is_empty(),
                if live_projects.is_empty() { 50 } else { 3 },
            ),
            w(live_projects.len() >= 2, 2),
            w(!pr_less.is_empty(), 4),
            w(!open_prs.is_empty(), 3),
            w(!open_prs.is_empty(), 2),
        ]
    };
    let id_of = |s: &Value| str_of(s, "id");
    Some(match rng.weighted(&weights)? {
        0 => {
            let project = rng.pick(&live_projects)?.clone();
            let prompt = match rng.below(10) {
                0..=4 => None,
                5..=7 => Some(format!("hello-{i}")),
                _ => Some(format!("work {}", rng.between(50, 400))),
            };
            Op::Spawn { project, prompt }
        }
        1 => Op::Kill {
            session: id_of(rng.pick(&live)?),
        },
        2 => Op::Restore {
            session: id_of(rng.pick(&ended)?),
        },
        3 => {
            let session = id_of(rng.pick(&live)?);
            let message = message(rng, i);
            Op::Send {
                session,
                message,
                when_idle: rng.chance(0.2),
            }
        }
        4 => Op::Rename {
            session: id_of(rng.pick(&snap.sessions)?),
            name: format!("chaos name {i}"),
        },
        5 => Op::Cleanup {
            project: if rng.chance(0.5) {
                rng.pick(&live_projects).cloned()
            } else {
                None
            },
        },
        6 => {
            let s = rng.pick(&dirtyable)?;
            let ws = PathBuf::from(s["workspacePath"].as_str()?);
            Op::Dirty {
                session: id_of(s),
                file: ws.join(format!("chaos-wip-{i}.txt")),
            }
        }
        7 => {
            let (project, path) = rng.pick(&addable)?;
            Op::ProjectAdd {
                project: project.clone(),
                path: path.clone(),
                config: lab.project_config(),
            }
        }
        8 => Op::ProjectRm {
            project: rng.pick(&live_projects)?.clone(),
        },
        9 => {
            let s = rng.pick(&pr_less)?;
            Op::PrOpen {
                session: id_of(s),
                project: str_of(s, "projectId"),
                branch: str_of(s, "branch"),
            }
        }
        10 => Op::PrChecks {
            index: *rng.pick(&open_prs)?,
            failing: rng.chance(0.6),
        },
        _ => Op::PrMerge {
            index: *rng.pick(&open_prs)?,
        },
    })
}
