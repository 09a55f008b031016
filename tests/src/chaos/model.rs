//! The model of acknowledged operations: what a chaos run may demand of the daemon's state.
//!
//! Every operation that got a 2xx reply is applied here as a certain fact (a spawned session
//! exists and is live, a killed one is terminated, a rename holds, …). An operation whose reply
//! never came (the daemon was SIGKILLed under it) or that failed makes the facts it could have
//! touched *unknown*, and so does anything that may change a session behind the harness's back
//! (an `exit` typed into the agent, a merged PR). A later acknowledged operation makes them
//! certain again.
//!
//! Main types: [`Model`], [`SessionFact`], [`Fact`].
//!
//! Invariant: the model only ever states what an acknowledgement proves; [`Model::check`]
//! therefore fails only when something acknowledged was lost or contradicted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use crate::fake_github::PrRef;

/// A yes/no fact that may be unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    Yes,
    No,
    Unknown,
}

impl Fact {
    fn of(b: bool) -> Self {
        if b { Self::Yes } else { Self::No }
    }
}

/// What the model knows about one session.
#[derive(Debug, Clone)]
pub struct SessionFact {
    pub project: String,
    /// Its spawn was acknowledged, so the row must exist forever (only seeds are deleted).
    pub acked: bool,
    /// Live (not terminated).
    pub live: Fact,
    /// An acknowledged teardown freed its workspace (until it is restored).
    pub freed: bool,
    /// The display names it may have (`None`: no rename was acknowledged yet).
    pub names: Option<BTreeSet<String>>,
    /// Acknowledged immediate sends the agent has not been seen to log yet (a multiset).
    pub sends: Vec<String>,
    /// Whether new acknowledged sends must reach the agent (false once it may have ended).
    pub tracking_sends: bool,
}

impl SessionFact {
    fn new(project: &str, acked: bool, live: Fact) -> Self {
        Self {
            project: project.to_string(),
            acked,
            live,
            freed: false,
            names: None,
            sends: Vec::new(),
            tracking_sends: live == Fact::Yes,
        }
    }

    /// Nothing about its lifecycle is known any more.
    fn forget(&mut self) {
        self.live = Fact::Unknown;
        self.freed = false;
        self.sends.clear();
        self.tracking_sends = false;
    }
}

/// A dirty file the harness left in a worktree: it must survive everything.
#[derive(Debug, Clone)]
pub struct DirtyFile {
    pub session: String,
    pub path: PathBuf,
}

/// A PR the harness opened on the fake GitHub for a session's branch.
#[derive(Debug, Clone)]
pub struct PrFact {
    pub pr: PrRef,
    pub session: String,
    pub branch: String,
    pub merged: bool,
    /// The daemon shows it merged: its completion (the `pr_merged` kill of a live session)
    /// can no longer arrive later.
    pub merge_seen: bool,
    /// The CI state its head checks were last set to (`None`: never set).
    pub ci: Option<&'static str>,
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct Model {
    pub projects: BTreeMap<String, Fact>,
    pub sessions: BTreeMap<String, SessionFact>,
    pub dirty: Vec<DirtyFile>,
    pub prs: Vec<PrFact>,
}

impl Model {
    fn session(&mut self, id: &str) -> Option<&mut SessionFact> {
        self.sessions.get_mut(id)
    }

    /// Adds every session row the model has not heard of (a spawn whose reply was lost) as
    /// unknown, and notes which merges the daemon has seen.
    pub fn discover(&mut self, rows: &[Value]) {
        for pr in self.prs.iter_mut().filter(|p| p.merged && !p.merge_seen) {
            pr.merge_seen = rows.iter().any(|r| {
                r["id"] == pr.session.as_str()
                    && r["prs"].as_array().is_some_and(|prs| {
                        prs.iter()
                            .any(|p| p["number"] == pr.pr.number && p["state"] == "merged")
                    })
            });
        }
        for row in rows {
            let (Some(id), Some(project)) = (row["id"].as_str(), row["projectId"].as_str()) else {
                continue;
            };
            self.sessions
                .entry(id.to_string())
                .or_insert_with(|| SessionFact::new(project, false, Fact::Unknown));
        }
    }

    pub fn project_added(&mut self, id: &str, acked: bool) {
        self.projects.insert(
            id.to_string(),
            if acked { Fact::Yes } else { Fact::Unknown },
        );
    }

    pub fn project_removed(&mut self, id: &str, acked: bool) {
        self.projects
            .insert(id.to_string(), if acked { Fact::No } else { Fact::Unknown });
        for s in self.sessions.values_mut().filter(|s| s.project == id) {
            s.forget();
            if acked {
                s.live = Fact::No;
            }
        }
    }

    pub fn spawned(&mut self, id: &str, project: &str) {
        self.sessions
            .insert(id.to_string(), SessionFact::new(project, true, Fact::Yes));
    }

    /// An interrupted or failed lifecycle operation on `id`.
    pub fn unsure(&mut self, id: &str) {
        if let Some(s) = self.session(id) {
            s.forget();
        }
    }

    pub fn killed(&mut self, id: &str, freed: bool) {
        if let Some(s) = self.session(id) {
            s.forget();
            s.live = Fact::No;
            s.freed = freed;
        }
    }

    pub fn restored(&mut self, id: &str) {
        // A merge the daemon has not observed yet still completes the session when it is.
        let merge_pending = self
            .prs
            .iter()
            .any(|p| p.session == id && p.merged && !p.merge_seen);
        if let Some(s) = self.session(id) {
            s.forget();
            s.live = if merge_pending {
                Fact::Unknown
            } else {
                Fact::Yes
            };
            s.tracking_sends = !merge_pending;
        }
    }

    /// An acknowledged immediate send; `may_end` for a message that can end the agent.
    pub fn sent(&mut self, id: &str, message: &str, may_end: bool) {
        if let Some(s) = self.session(id) {
            if may_end {
                let freed = s.freed;
                s.forget();
                s.freed = freed;
            } else if s.tracking_sends {
                s.sends.push(message.to_string());
            }
        }
    }

    pub fn renamed(&mut self, id: &str, name: &str, acked: bool) {
        if let Some(s) = self.session(id) {
            match (&mut s.names, acked) {
                (names, true) => *names = Some(BTreeSet::from([name.to_string()])),
                (Some(names), false) => {
                    names.insert(name.to_string());
                }
                (None, false) => {}
            }
        }
    }

    pub fn cleaned(&mut self, ids: &[String]) {
        for id in ids {
            if let Some(s) = self.session(id) {
                s.freed = true;
            }
        }
    }

    /// Something may terminate `id` without an acknowledgement (a merged PR).
    pub fn may_end(&mut self, id: &str) {
        if let Some(s) = self.session(id) {
            let freed = s.freed;
            s.forget();
            s.freed = freed;
        }
    }

    /// AO's tmux server was killed: agents restart, unprocessed input is gone.
    pub fn agents_restarted(&mut self) {
        for s in self.sessions.values_mut() {
            s.sends.clear();
        }
    }

    /// Checks every acknowledged fact against the daemon's sessions and projects.
    pub fn check(&self, sessions: &[Value], projects: &[Value]) -> Result<(), String> {
        let rows: BTreeMap<&str, &Value> = sessions
            .iter()
            .filter_map(|s| Some((s["id"].as_str()?, s)))
            .collect();
        let live_projects: BTreeSet<&str> =
            projects.iter().filter_map(|p| p["id"].as_str()).collect();
        let mut errors = Vec::new();
        for (id, fact) in &self.projects {
            let present = live_projects.contains(id.as_str());
            if *fact != Fact::Unknown && Fact::of(present) != *fact {
                errors.push(format!(
                    "project {id}: acknowledged {} but it is {}",
                    if *fact == Fact::Yes {
                        "added"
                    } else {
                        "removed"
                    },
                    if present {
                        "registered"
                    } else {
                        "not registered"
                    }
                ));
            }
        }
        for (id, fact) in &self.sessions {
            let Some(row) = rows.get(id.as_str()) else {
                if fact.acked {
                    errors.push(format!(
                        "session {id}: acknowledged spawn but the row is gone"
                    ));
                }
                continue;
            };
            let live = row["isTerminated"] == Value::Bool(false);
            if fact.live != Fact::Unknown && Fact::of(live) != fact.live {
                errors.push(format!(
                    "session {id}: acknowledged {} but it is {} (reason {})",
                    if fact.live == Fact::Yes {
                        "live"
                    } else {
                        "terminated"
                    },
                    if live { "live" } else { "terminated" },
                    row["terminatedReason"]
                ));
            }
            if fact.freed && !row["workspacePath"].is_null() {
                errors.push(format!(
                    "session {id}: an acknowledged teardown freed its workspace but the row holds {}",
                    row["workspacePath"]
                ));
            }
            if let Some(names) = &fact.names {
                let name = row["displayName"].as_str().unwrap_or("");
                if !names.contains(name) {
                    errors.push(format!(
                        "session {id}: display name {name:?}, acknowledged one of {names:?}"
                    ));
                }
            }
        }
        for d in &self.dirty {
            if !d.path.exists() {
                errors.push(format!(
                    "session {}: the uncommitted file {} was removed",
                    d.session,
                    d.path.display()
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(id: &str, live: bool, ws: Option<&str>, name: Option<&str>) -> Value {
        json!({"id": id, "projectId": "c0", "isTerminated": !live, "workspacePath": ws,
               "displayName": name, "terminatedReason": if live { Value::Null } else { json!("killed") }})
    }

    #[test]
    fn acknowledged_facts_are_demanded_and_lost_replies_make_them_unknown() {
        let mut m = Model::default();
        m.project_added("c0", true);
        m.spawned("c0-1", "c0");
        m.spawned("c0-2", "c0");
        m.killed("c0-2", true);
        m.renamed("c0-1", "one", true);
        let projects = [json!({"id": "c0"})];
        let ok = [
            row("c0-1", true, Some("/w/1"), Some("one")),
            row("c0-2", false, None, None),
        ];
        assert_eq!(m.check(&ok, &projects), Ok(()));

        // A lost spawn, a lost kill and a lost project: each is an error.
        let err = m
            .check(&[row("c0-1", false, Some("/w/1"), Some("two"))], &[])
            .expect_err("violations");
        assert!(
            err.contains("c0-2: acknowledged spawn but the row is gone"),
            "{err}"
        );
        assert!(err.contains("c0-1: acknowledged live"), "{err}");
        assert!(err.contains("display name \"two\""), "{err}");
        assert!(err.contains("project c0: acknowledged added"), "{err}");

        // An interrupted kill and rename: either outcome is fine.
        m.unsure("c0-1");
        m.renamed("c0-1", "two", false);
        let either = [
            row("c0-1", false, Some("/w/1"), Some("two")),
            row("c0-2", false, None, None),
        ];
        assert_eq!(m.check(&either, &projects), Ok(()));
    }

    #[test]
    fn sends_are_tracked_until_the_agent_may_have_ended() {
        let mut m = Model::default();
        m.spawned("c0-1", "c0");
        m.sent("c0-1", "hi", false);
        m.sent("c0-1", "exit 2", true);
        m.sent("c0-1", "after", false);
        let s = &m.sessions["c0-1"];
        assert!(s.sends.is_empty(), "{:?}", s.sends);
        assert_eq!(s.live, Fact::Unknown);
        m.restored("c0-1");
        m.sent("c0-1", "again", false);
        assert_eq!(m.sessions["c0-1"].sends, ["again"]);
    }
}
