//! Boot reconcile (sessions.md §17): after the tree started and before the daemon is `ready`,
//! bring SQLite and the runtimes back in line with each other.
//!
//! [`run`] does, in order:
//! 1. the hook-spool replay ([`crate::spool`], §12.1);
//! 2. **c. interrupted spawns**: a live seed row → `delete_seed`; any other live row without a
//!    runtime handle or without a workspace → killed with reason `spawn_failed` (the kill path
//!    of §4: runtime destroyed, hooks uninstalled, workspace safe-destroyed, a dirty worktree
//!    kept);
//! 3. **a. probe**: ONE `probe_all` per runtime kind covering every other live session with a
//!    runtime handle, plus the terminated sessions step e looks at;
//! 4. **b/d. adopt, exited, relaunch**: each live session's probe goes to its SessionActor
//!    (`SessionCmd::Reconcile`): `alive`/`unknown` adopt, `exited(code)` →
//!    `mark_terminated(agent_exited, code)` (pane and worktree kept), `missing` → the in-place
//!    relaunch of §13.2 as a lifecycle operation of that actor (`runtime_missing` when it cannot
//!    resume and has no prompt). At most [`MAX_PARALLEL`] sessions are handled at once;
//! 5. **e. reap**: a terminated session whose runtime still exists → destroy, `clear_runtime`.
//!    Sessions terminated `agent_exited` are skipped: their dead pane is kept for inspection
//!    (§13.1, §13.2, §17 b) until a kill or cleanup (docs/ARCHITECTURE.md "Decisions");
//! 6. **f. orphans**: every runtime session tagged with this `AO_HOME` whose name no session
//!    row holds as its runtime handle → destroy.
//! 7. **g. orphan worktrees**: every directory under the managed worktree root that no
//!    session row records as its workspace → safe destroy (a dirty one is kept and logged).
//!    A spawn or restore interrupted between creating its worktree and recording it leaves
//!    one (docs/ARCHITECTURE.md "Decisions").
//!
//! Types: [`ReconcileReport`].
//!
//! Invariants:
//! * Best-effort: a per-session failure is logged (and listed in `failed`); only an unreadable
//!   session table fails the whole run.
//! * Every durable change is a reducer message, either here or through the session's actor; a
//!   live session's fate is decided by its SessionActor, so its cached row never goes stale.
//! * The Reaper skips its probes while this runs (`SessionServices::reconciling`), and the
//!   actor's `Reconcile` cancels a relaunch the Reaper's missing streak may have scheduled, so
//!   the two never relaunch the same session.
//! * Idempotent: a second run finds nothing to change. A killed session is terminated, so it
//!   is never relaunched; a worktree is only removed by the workspace's safe destroy.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ao_adapters::workspace::WorkspaceError;
use ao_adapters::{Probe, ProbeTarget};
use ao_protocol::{ErrorCode, ProjectId, RuntimeKind, SessionId, TerminatedReason};
use ao_store::{SessionFilter, SessionRow};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::error::ActorsError;
use crate::sessions::actor::SessionMsg;
use crate::sessions::ops;
use crate::sessions::{Reconciled, SessionServices, SessionsHandle};
use crate::spool::{self, SpoolReport};

/// How many live sessions (in particular relaunches) reconcile handles at once (§17 d).
pub const MAX_PARALLEL: usize = 8;

/// What boot reconcile did (sessions.md §17). Every list is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// The hook-spool replay that ran first.
    pub spool: SpoolReport,
    /// Sessions adopted as they are (`alive` / `unknown`).
    pub adopted: Vec<SessionId>,
    /// Sessions relaunched in place.
    pub relaunched: Vec<SessionId>,
    /// Sessions terminated (exited while the daemon was down, interrupted spawns, not
    /// resumable).
    pub terminated: Vec<SessionId>,
    /// Seed rows deleted.
    pub deleted_seeds: Vec<SessionId>,
    /// Terminated sessions whose leftover runtime was destroyed.
    pub reaped: Vec<SessionId>,
    /// Orphan runtime sessions destroyed (runtime names).
    pub orphans_destroyed: Vec<String>,
    /// Unrecorded worktree directories removed (paths).
    pub orphan_worktrees: Vec<String>,
    /// Sessions whose reconcile failed (logged); the Reaper takes over from here.
    pub failed: Vec<SessionId>,
}

impl ReconcileReport {
    /// Whether the run changed nothing (the spool included).
    pub fn is_noop(&self) -> bool {
        self.spool.applied == 0
            && self.relaunched.is_empty()
            && self.terminated.is_empty()
            && self.deleted_seeds.is_empty()
            && self.reaped.is_empty()
            && self.orphans_destroyed.is_empty()
            && self.orphan_worktrees.is_empty()
    }

    fn sort(&mut self) {
        for list in [
            &mut self.adopted,
            &mut self.relaunched,
            &mut self.terminated,
            &mut self.deleted_seeds,
            &mut self.reaped,
            &mut self.failed,
        ] {
            list.sort();
            list.dedup();
        }
        self.orphans_destroyed.sort();
        self.orphan_worktrees.sort();
    }
}

/// Raises `SessionServices::reconciling` for its lifetime.
struct Reconciling<'a>(&'a AtomicBool);

impl<'a> Reconciling<'a> {
    fn raise(flag: &'a AtomicBool) -> Self {
        flag.store(true, Ordering::SeqCst);
        Self(flag)
    }
}

impl Drop for Reconciling<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Runs boot reconcile (see the module doc).
pub(crate) async fn run(
    svc: &Arc<SessionServices>,
    sessions: &SessionsHandle,
) -> Result<ReconcileReport, ActorsError> {
    let _reconciling = Reconciling::raise(&svc.reconciling);
    let mut report = ReconcileReport::default();
    match spool::replay(svc).await {
        Ok(spool) => report.spool = spool,
        Err(e) => tracing::warn!(error = %e, "hook spool not replayed"),
    }
    let rows = all_sessions(svc).await?;
    let (live, ended): (Vec<SessionRow>, Vec<SessionRow>) =
        rows.into_iter().partition(|r| !r.is_terminated);

    // c. Interrupted spawns.
    let mut running = Vec::new();
    for row in live {
        if row.is_seed() {
            delete_seed(svc, &row.id, &mut report).await;
        } else if row.runtime_handle_id.is_empty() || row.workspace_path.is_empty() {
            abandon_spawn(svc, sessions, &row.id, &mut report).await;
        } else {
            running.push(row);
        }
    }

    // a. One batch probe per runtime kind (live sessions, and the candidates of step e).
    let reapable: Vec<SessionRow> = ended
        .into_iter()
        .filter(|r| {
            !r.runtime_handle_id.is_empty()
                && r.terminated_reason != Some(TerminatedReason::AgentExited)
        })
        .collect();
    let probes = probe(svc, running.iter().chain(reapable.iter())).await;

    // b, d. Adopt, record exits, relaunch in place.
    settle_live(sessions, running, &probes, &mut report).await;

    // e. Reap the runtimes of terminated sessions.
    for row in reapable {
        if !matches!(probes.get(&row.id), Some(Probe::Alive | Probe::Exited(_))) {
            continue;
        }
        let Some(runtime) = svc.runtime(row.runtime) else {
            continue;
        };
        match ops::destroy_runtime(svc, &row.id, &*runtime, &row.runtime_handle_id, true).await {
            Ok(()) => {
                tracing::info!(session = %row.id, "reconcile: destroyed the runtime of a terminated session");
                report.reaped.push(row.id);
            }
            Err(e) => {
                tracing::warn!(session = %row.id, error = %e, "reconcile: cannot reap the runtime of a terminated session");
                report.failed.push(row.id);
            }
        }
    }

    // f. Orphans.
    destroy_orphans(svc, &mut report).await?;

    // g. Orphan worktrees.
    destroy_orphan_worktrees(svc, &mut report).await?;

    report.sort();
    Ok(report)
}

async fn all_sessions(svc: &SessionServices) -> Result<Vec<SessionRow>, ActorsError> {
    svc.sessions(SessionFilter::default())
        .await
        .map_err(|e| ActorsError::Reconcile(format!("cannot read the sessions: {e}")))
}

/// c: a live seed row → `delete_seed`; its actor (if any) reloads and stops.
async fn delete_seed(svc: &SessionServices, id: &SessionId, report: &mut ReconcileReport) {
    match svc.reducer.delete_seed(id, svc.timeouts.short).await {
        Ok(true) => {
            tracing::info!(session = %id, "reconcile: deleted the seed of an interrupted spawn");
            report.deleted_seeds.push(id.clone());
            if let Some(actor) = svc.registry.sessions.get(id).map(|a| a.clone()) {
                let _ = actor.cast(SessionMsg::Reload);
            }
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "reconcile: cannot delete a seed row");
            report.failed.push(id.clone());
        }
    }
}

/// c: a live row without a runtime handle or without a workspace: the spawn was interrupted
/// after its seed. Killed with reason `spawn_failed` through its actor (§4: mark terminated,
/// destroy the runtime, uninstall the hooks, safe-destroy the workspace — a dirty one is
/// kept). A runtime created but never recorded is an orphan for step f.
async fn abandon_spawn(
    svc: &SessionServices,
    sessions: &SessionsHandle,
    id: &SessionId,
    report: &mut ReconcileReport,
) {
    let killed = sessions
        .kill_with(id.clone(), TerminatedReason::SpawnFailed)
        .await;
    match killed {
        Ok(freed) => {
            if !freed {
                tracing::warn!(session = %id, "reconcile: the worktree of an interrupted spawn has uncommitted changes; kept");
            }
        }
        Err(e) if e.code() == ErrorCode::SessionNotFound => return,
        Err(e) => {
            tracing::warn!(session = %id, error = %e, "reconcile: teardown of an interrupted spawn failed");
        }
    }
    match svc.session(id).await {
        Ok(Some(row)) if row.is_terminated => {
            tracing::info!(session = %id, "reconcile: an interrupted spawn is terminated (spawn_failed)");
            report.terminated.push(id.clone());
        }
        Ok(None) => {}
        _ => report.failed.push(id.clone()),
    }
}

/// a: one `probe_all` per runtime kind; sessions of a kind without an adapter are `unknown`.
async fn probe<'a>(
    svc: &SessionServices,
    rows: impl Iterator<Item = &'a SessionRow>,
) -> HashMap<SessionId, Probe> {
    let mut by_kind: BTreeMap<&'static str, (RuntimeKind, Vec<&SessionRow>)> = BTreeMap::new();
    for row in rows {
        by_kind
            .entry(row.runtime.as_str())
            .or_insert_with(|| (row.runtime, Vec::new()))
            .1
            .push(row);
    }
    let mut out = HashMap::new();
    for (kind, group) in by_kind.into_values() {
        let results = if let Some(runtime) = svc.runtime(kind) {
            let targets: Vec<ProbeTarget> = group
                .iter()
                .map(|r| ProbeTarget {
                    name: r.runtime_handle_id.clone(),
                    session_id: r.id.clone(),
                })
                .collect();
            runtime.probe_all(&targets).await
        } else {
            tracing::debug!(%kind, "reconcile: no adapter for this runtime; not probed");
            HashMap::new()
        };
        for row in group {
            let probe = results
                .get(&row.runtime_handle_id)
                .copied()
                .unwrap_or(Probe::Unknown);
            out.insert(row.id.clone(), probe);
        }
    }
    out
}

/// b, d: hands each live session's probe to its actor, at most [`MAX_PARALLEL`] at once.
async fn settle_live(
    sessions: &SessionsHandle,
    rows: Vec<SessionRow>,
    probes: &HashMap<SessionId, Probe>,
    report: &mut ReconcileReport,
) {
    let permits = Arc::new(Semaphore::new(MAX_PARALLEL));
    let mut tasks = JoinSet::new();
    for row in rows {
        let probe = probes.get(&row.id).copied().unwrap_or(Probe::Unknown);
        let sessions = sessions.clone();
        let permits = Arc::clone(&permits);
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let outcome = sessions.reconcile_session(row.id.clone(), probe).await;
            (row.id, probe, outcome)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let Ok((id, probe, outcome)) = joined else {
            tracing::warn!("reconcile: a session task failed");
            continue;
        };
        match outcome {
            Ok(Reconciled::Adopted) => report.adopted.push(id),
            Ok(Reconciled::Relaunched) => {
                tracing::info!(session = %id, "reconcile: relaunched in place");
                report.relaunched.push(id);
            }
            Ok(Reconciled::Terminated) => {
                tracing::info!(session = %id, ?probe, "reconcile: terminated");
                report.terminated.push(id);
            }
            Ok(Reconciled::NotLive) => {}
            Err(e) => {
                tracing::warn!(session = %id, ?probe, error = %e, "reconcile: session not reconciled; the Reaper takes over");
                report.failed.push(id);
            }
        }
    }
}

/// f: destroys every tagged runtime session that no row holds as its runtime handle. A
/// terminated row that still holds its handle (an `agent_exited` dead pane kept for
/// inspection) protects it.
async fn destroy_orphans(
    svc: &SessionServices,
    report: &mut ReconcileReport,
) -> Result<(), ActorsError> {
    let held: HashSet<String> = all_sessions(svc)
        .await?
        .into_iter()
        .filter(|r| !r.runtime_handle_id.is_empty())
        .map(|r| r.runtime_handle_id)
        .collect();
    for runtime in &svc.runtimes {
        let tagged = match runtime.list_orphans().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(kind = %runtime.kind(), error = %e, "reconcile: cannot list the runtime sessions");
                continue;
            }
        };
        for t in tagged.into_iter().filter(|t| !held.contains(&t.name)) {
            match runtime.destroy(&t.name).await {
                Ok(()) => {
                    tracing::info!(name = %t.name, session = %t.session_id, "reconcile: destroyed an orphan runtime session");
                    report.orphans_destroyed.push(t.name);
                }
                Err(e) => {
                    tracing::warn!(name = %t.name, error = %e, "reconcile: cannot destroy an orphan runtime session");
                }
            }
        }
    }
    Ok(())
}

/// The directories under the managed worktree root: `<root>/<project>/<session>` and
/// `<root>/<project>/orchestrator/<name>`, each with its project id.
fn worktree_dirs(root: &Path) -> Vec<(String, PathBuf)> {
    let dirs = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    for project in dirs(root) {
        let Some(id) = project
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        for entry in dirs(&project) {
            if entry.file_name().is_some_and(|n| n == "orchestrator") {
                out.extend(dirs(&entry).into_iter().map(|p| (id.clone(), p)));
            } else {
                out.push((id.clone(), entry));
            }
        }
    }
    out
}

/// g: safe-destroys every worktree directory that no session row records (see the module
/// doc). A dirty one is kept: a worktree with uncommitted changes is never removed.
async fn destroy_orphan_worktrees(
    svc: &SessionServices,
    report: &mut ReconcileReport,
) -> Result<(), ActorsError> {
    let held: HashSet<PathBuf> = all_sessions(svc)
        .await?
        .into_iter()
        .filter(|r| !r.workspace_path.is_empty())
        .map(|r| PathBuf::from(r.workspace_path))
        .collect();
    let root = svc.workspace.root().path().to_path_buf();
    for (project_id, dir) in worktree_dirs(&root) {
        if held.contains(&dir) {
            continue;
        }
        let project = match ProjectId::new(&project_id) {
            Ok(id) => svc.project(&id).await.ok().flatten(),
            Err(_) => None,
        };
        let Some(project) = project else {
            tracing::warn!(path = %dir.display(), "reconcile: an unrecorded worktree of an unknown project; kept");
            continue;
        };
        match svc.workspace.destroy(Path::new(&project.path), &dir).await {
            Ok(()) => {
                tracing::info!(path = %dir.display(), "reconcile: removed a worktree no session records (an interrupted spawn or restore)");
                report
                    .orphan_worktrees
                    .push(dir.to_string_lossy().into_owned());
            }
            Err(WorkspaceError::Dirty { .. }) => {
                tracing::warn!(path = %dir.display(), "reconcile: a worktree no session records has uncommitted changes; kept");
            }
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "reconcile: cannot remove a worktree no session records");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
