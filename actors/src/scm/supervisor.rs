//! The ScmSupervisor (scm.md §1): one PrObserver per GitHub repository that at least one live
//! project points at.
//!
//! Messages ([`ScmSupMsg`]):
//! * `Rescan`: every `rescan` (60 s), at start, on every `project_*` change event (a task
//!   subscribed to the EventsHub casts it; a lagging subscription rescans too), and shortly
//!   after an observer ended. A tracked task reads the live projects, back-fills an empty
//!   `repo_origin_url` from `git remote get-url origin` (`backfill_origin`, after which the
//!   project's ProjectActor is told to `Reload` its cached row), parses the
//!   origins against `AO_GITHUB_HOST`, and re-resolves the token (so `github.state` says
//!   `disabled` without a token even when no observer runs). It answers with `Scanned`. A
//!   `Rescan` arriving while a scan runs is remembered and runs right after it.
//! * `Scanned(Some(repos))`: starts an observer for each new repo and stops those whose repo is no
//!   longer wanted.
//!
//! Without a GitHub client (no setup, or no TLS for an https API) the supervisor stays idle.
//! Observers are linked, permanent children under the restart budget of README §3.2
//! ([`crate::supervision`]): one that ends is dropped and recreated by a rescan after the
//! budgeted delay (caches empty: a full poll); past the budget the supervisor fails, which
//! escalates to Root (which restarts it within its own budget). The supervisor itself is a
//! permanent child of Root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_adapters::scm::{RepoRef, parse_origin};
use ao_store::ReadPool;
use chrono::Utc;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::observer::{ObserverCtx, ObserverMsg, PrObserver};
use super::{ScmShared, lock};
use crate::events::EventsHub;
use crate::projects::ProjectMsg;
use crate::reducer::ReducerHandle;
use crate::registry::Registry;
use crate::sessions::SessionsHandle;
use crate::supervision::{ChildSet, RestartPolicy, SupervisionConfig, Verdict};

/// Messages of the ScmSupervisor.
pub(crate) enum ScmSupMsg {
    Rescan,
    /// The repos of a finished scan; `None` when it failed (nothing changes).
    Scanned(Option<BTreeSet<RepoRef>>),
    /// Panic inside the handler (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    Fault,
    /// Make the observer of this `owner/repo` (any case) panic (fault injection).
    #[cfg(any(test, feature = "fault-injection"))]
    FaultObserver(String),
}

pub(crate) struct ScmSupArgs {
    pub(crate) shared: Arc<ScmShared>,
    pub(crate) reader: ReadPool,
    pub(crate) reducer: ReducerHandle,
    pub(crate) sessions: SessionsHandle,
    pub(crate) hub: EventsHub,
    /// To tell a ProjectActor its row changed (origin back-fill).
    pub(crate) registry: Arc<Registry>,
    pub(crate) write_timeout: Duration,
    /// The restart budget of the observers (README §3.2).
    pub(crate) supervision: SupervisionConfig,
}

pub(crate) struct ScmSupervisor;

pub(crate) struct ScmSupState {
    args: ScmSupArgs,
    /// Lower-cased `owner/repo` → observer.
    observers: BTreeMap<String, ActorRef<ObserverMsg>>,
    /// The observers' restart budgets, by the same key (permanent children).
    children: ChildSet<String>,
    scanning: Option<JoinHandle<()>>,
    /// A rescan was asked for while one ran: run another when it ends (no event is lost).
    rescan_pending: bool,
    tasks: Vec<JoinHandle<()>>,
}

fn key(repo: &RepoRef) -> String {
    repo.to_string().to_ascii_lowercase()
}

impl Actor for ScmSupervisor {
    type Msg = ScmSupMsg;
    type State = ScmSupState;
    type Arguments = ScmSupArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ScmSupMsg>,
        args: ScmSupArgs,
    ) -> Result<ScmSupState, ActorProcessingErr> {
        let mut tasks = Vec::new();
        if args.shared.client.is_some() {
            tasks.push(myself.send_interval(args.shared.timings.rescan, || ScmSupMsg::Rescan));
            let mut events = args.hub.subscribe();
            let me = myself.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(ev) if ev.event_type.starts_with("project_") => {
                            let _ = me.cast(ScmSupMsg::Rescan);
                        }
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => {
                            let _ = me.cast(ScmSupMsg::Rescan);
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            }));
            let _ = myself.cast(ScmSupMsg::Rescan);
        }
        Ok(ScmSupState {
            children: ChildSet::new(args.supervision),
            args,
            observers: BTreeMap::new(),
            scanning: None,
            rescan_pending: false,
            tasks,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ScmSupMsg>,
        state: &mut ScmSupState,
    ) -> Result<(), ActorProcessingErr> {
        for t in state.tasks.drain(..).chain(state.scanning.take()) {
            t.abort();
        }
        for (_, obs) in std::mem::take(&mut state.observers) {
            let _ = obs.stop_and_wait(None, Some(Duration::from_secs(5))).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ScmSupMsg>,
        msg: ScmSupMsg,
        state: &mut ScmSupState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ScmSupMsg::Rescan => {
                if state.scanning.as_ref().is_some_and(|t| !t.is_finished()) {
                    state.rescan_pending = true;
                    return Ok(());
                }
                state.rescan_pending = false;
                let shared = Arc::clone(&state.args.shared);
                let reader = state.args.reader.clone();
                let reducer = state.args.reducer.clone();
                let registry = Arc::clone(&state.args.registry);
                let timeout = state.args.write_timeout;
                let me = myself.clone();
                state.scanning = Some(tokio::spawn(async move {
                    match scan(&shared, &reader, &reducer, &registry, timeout).await {
                        Ok(repos) => {
                            let _ = me.cast(ScmSupMsg::Scanned(Some(repos)));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "SCM project rescan failed");
                            let _ = me.cast(ScmSupMsg::Scanned(None));
                        }
                    }
                }));
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ScmSupMsg::Fault => panic!("injected fault in the SCM supervisor"),
            #[cfg(any(test, feature = "fault-injection"))]
            ScmSupMsg::FaultObserver(repo) => {
                if let Some(obs) = state.observers.get(&repo.to_ascii_lowercase()) {
                    let _ = obs.cast(ObserverMsg::Fault);
                }
            }
            ScmSupMsg::Scanned(repos) => {
                state.scanning = None;
                if state.rescan_pending {
                    let _ = myself.cast(ScmSupMsg::Rescan);
                }
                let Some(repos) = repos else {
                    return Ok(());
                };
                let wanted: BTreeMap<String, RepoRef> =
                    repos.into_iter().map(|r| (key(&r), r)).collect();
                let gone: Vec<String> = state
                    .observers
                    .keys()
                    .filter(|k| !wanted.contains_key(*k))
                    .cloned()
                    .collect();
                for k in gone {
                    if let Some(obs) = state.observers.remove(&k) {
                        tracing::info!(repo = %k, "stopping PR observer");
                        state.children.forget(&k);
                        obs.stop(None);
                    }
                }
                let Some(client) = state.args.shared.client.clone() else {
                    return Ok(());
                };
                for (k, repo) in wanted {
                    if state.observers.contains_key(&k) {
                        continue;
                    }
                    let ctx = ObserverCtx {
                        repo: repo.clone(),
                        client: client.clone(),
                        budget: Arc::clone(&state.args.shared.budget),
                        reader: state.args.reader.clone(),
                        reducer: state.args.reducer.clone(),
                        sessions: state.args.sessions.clone(),
                        timings: state.args.shared.timings.clone(),
                        write_timeout: state.args.write_timeout,
                    };
                    match Actor::spawn_linked(None, PrObserver, ctx, myself.get_cell()).await {
                        Ok((obs, _)) => {
                            tracing::info!(repo = %repo, "PR observer started");
                            state.children.started(
                                k.clone(),
                                RestartPolicy::Permanent,
                                obs.get_id(),
                            );
                            state.observers.insert(k, obs);
                        }
                        Err(e) => {
                            tracing::warn!(repo = %repo, error = %e, "cannot start PR observer");
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ScmSupMsg>,
        event: SupervisionEvent,
        state: &mut ScmSupState,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorTerminated(cell, _, _)
        | SupervisionEvent::ActorFailed(cell, _) = &event
        {
            let id = cell.get_id();
            state.observers.retain(|_, obs| obs.get_id() != id);
        }
        match state.children.on_event(&event, Instant::now()) {
            None | Some(Verdict::Done { .. }) => Ok(()),
            Some(Verdict::Restart {
                key,
                attempt,
                delay,
            }) => {
                tracing::warn!(repo = %key, attempt, ?delay, %event, "PR observer ended; recreating it");
                myself.send_after(delay, || ScmSupMsg::Rescan);
                Ok(())
            }
            Some(Verdict::Escalate { key, reason }) => {
                tracing::error!(repo = %key, %reason, "PR observer keeps failing; escalating");
                Err(reason.into())
            }
        }
    }
}

/// Reads the live projects, back-fills empty origins (and has their ProjectActors reload the
/// row) and returns the distinct GitHub repos.
async fn scan(
    shared: &ScmShared,
    reader: &ReadPool,
    reducer: &ReducerHandle,
    registry: &Registry,
    timeout: Duration,
) -> Result<BTreeSet<RepoRef>, String> {
    let Some(client) = &shared.client else {
        return Ok(BTreeSet::new());
    };
    match client.tokens().token().await {
        Ok(Some(token)) => lock(&shared.budget).on_token(token.source),
        Ok(None) => lock(&shared.budget).on_no_token(Utc::now()),
        Err(e) => tracing::warn!(error = %e, "cannot resolve the GitHub token"),
    }
    let pool = reader.clone();
    let projects = tokio::task::spawn_blocking(move || pool.list_projects(false))
        .await
        .map_err(|e| format!("store read failed: {e}"))?
        .map_err(|e| e.to_string())?;
    let host = &client.config().host;
    let mut repos: BTreeMap<String, RepoRef> = BTreeMap::new();
    for project in projects {
        let mut origin = project.repo_origin_url.clone();
        if origin.is_empty() {
            let Some(found) = ao_adapters::git::origin_url(Path::new(&project.path)).await else {
                continue;
            };
            match reducer
                .backfill_origin(&project.id, found.clone(), timeout)
                .await
            {
                Ok(()) => {
                    // A restarting actor reads the row in `pre_start` anyway.
                    if let Some(actor) = registry.projects.get(&project.id).map(|r| r.clone()) {
                        let _ = actor.cast(ProjectMsg::Reload);
                    }
                }
                Err(e) => {
                    tracing::warn!(project = %project.id, error = %e, "origin back-fill failed");
                }
            }
            origin = found;
        }
        if let Some(repo) = parse_origin(&origin, host) {
            repos.entry(key(&repo)).or_insert(repo);
        }
    }
    Ok(repos.into_values().collect())
}
