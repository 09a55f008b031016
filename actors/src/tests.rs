//! Tests of the whole tree: real SQLite (`ao_store::open` on a tempdir), real git repositories,
//! real actors. Waiting is always a poll with a deadline.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ao_adapters::{git, process};
use ao_protocol::{ChangeEvent, ErrorCode, RuntimeKind};
use ao_store::ReadPool;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::test_support::{code_of, eventually, pid};
use crate::{
    ActorTree, ActorsConfig, AddProject, CommandError, ConfigChange, FaultTarget,
    SupervisionConfig, spawn_tree,
};

const DEADLINE: Duration = Duration::from_secs(15);

struct Fixture {
    tree: ActorTree,
    reader: ReadPool,
    repos: TempDir,
    data: TempDir,
}

fn fast_supervision() -> SupervisionConfig {
    SupervisionConfig {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        ..SupervisionConfig::default()
    }
}

async fn start_with(tweak: impl FnOnce(&mut ActorsConfig)) -> Fixture {
    let data = tempfile::tempdir().expect("tempdir");
    let repos = tempfile::tempdir().expect("tempdir");
    let opened = ao_store::open(data.path()).expect("store opens");
    let mut cfg = ActorsConfig::new(data.path(), RuntimeKind::Tmux);
    cfg.supervision = fast_supervision();
    tweak(&mut cfg);
    let tree = spawn_tree(cfg, opened.reader.clone(), opened.writer)
        .await
        .expect("tree starts");
    Fixture {
        tree,
        reader: opened.reader,
        repos,
        data,
    }
}

async fn start() -> Fixture {
    start_with(|_| {}).await
}

async fn run_git(dir: &Path, args: &[&str]) {
    process::run(&git::git_cmd().arg("-C").arg(dir).args(args))
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"));
}

impl Fixture {
    /// A fresh git repository `<repos>/<name>` on branch `branch`, with one commit.
    async fn repo_on(&self, name: &str, branch: &str) -> PathBuf {
        let dir = self.repos.path().join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        run_git(&dir, &["init", "-q", "-b", branch]).await;
        run_git(&dir, &["config", "user.email", "t@example.com"]).await;
        run_git(&dir, &["config", "user.name", "t"]).await;
        run_git(
            &dir,
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
        dir.canonicalize().expect("canonical")
    }

    async fn repo(&self, name: &str) -> PathBuf {
        self.repo_on(name, "main").await
    }

    async fn add(&self, path: &Path) -> Result<ao_store::ProjectRow, CommandError> {
        self.tree.projects.add_project(add_req(path)).await
    }
}

fn add_req(path: &Path) -> AddProject {
    AddProject {
        path: path.to_str().expect("utf-8").to_string(),
        project_id: None,
        name: None,
        config: json!({}),
    }
}

/// The next event matching `pred`, within [`DEADLINE`].
async fn next_event(
    rx: &mut broadcast::Receiver<ChangeEvent>,
    pred: impl Fn(&ChangeEvent) -> bool,
) -> ChangeEvent {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(ev)) if pred(&ev) => return ev,
            Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => panic!("event hub closed"),
            Err(elapsed) => panic!("no matching event within {DEADLINE:?}: {elapsed}"),
        }
    }
}

fn is(ty: &'static str, project: &'static str) -> impl Fn(&ChangeEvent) -> bool {
    move |e| e.event_type == ty && e.project_id == project
}

/// Retries `f` while it reports `Unavailable` (an actor is restarting).
async fn retry_unavailable<T, F, Fut>(mut f: F) -> Result<T, CommandError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CommandError>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        match f().await {
            Err(CommandError::Unavailable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => return other,
        }
    }
}

// ---- project commands ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_project_registers_and_publishes_project_created() {
    let fx = start().await;
    let mut events = fx.tree.events.subscribe();
    let repo = fx.repo("Demo Repo").await;

    let row = fx.add(&repo).await.expect("added");
    assert_eq!(row.id.as_str(), "demo-repo");
    assert_eq!(row.path, repo.to_str().expect("utf-8"));
    assert_eq!(row.display_name, "demo-repo");
    assert_eq!(row.repo_origin_url, "");
    assert_eq!(
        row.config,
        json!({}),
        "main is never stored as defaultBranch"
    );
    assert!(row.archived_at.is_none());

    let ev = next_event(&mut events, is("project_created", "demo-repo")).await;
    assert_eq!(ev.payload["path"], json!(row.path));
    assert!(ev.session_id.is_none());

    let stored = fx
        .reader
        .get_project(&row.id)
        .expect("read")
        .expect("stored");
    assert_eq!(stored, row);
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_project_discovers_branch_origin_and_honours_explicit_fields() {
    let fx = start().await;
    let repo = fx.repo_on("svc", "trunk").await;
    run_git(
        &repo,
        &["remote", "add", "origin", "https://github.com/o/svc.git"],
    )
    .await;
    // A symlink to the repository resolves to its top level.
    let link = fx.repos.path().join("svc-link");
    std::os::unix::fs::symlink(&repo, &link).expect("symlink");

    let row = fx
        .tree
        .projects
        .add_project(AddProject {
            path: link.to_str().expect("utf-8").to_string(),
            project_id: Some(pid("custom")),
            name: Some("  My Service ".into()),
            config: json!({"sessionPrefix": "svc"}),
        })
        .await
        .expect("added");
    assert_eq!(row.id.as_str(), "custom");
    assert_eq!(row.path, repo.to_str().expect("utf-8"));
    assert_eq!(row.display_name, "My Service");
    assert_eq!(row.repo_origin_url, "https://github.com/o/svc.git");
    assert_eq!(
        row.config,
        json!({"sessionPrefix": "svc", "defaultBranch": "trunk"})
    );

    // A configured defaultBranch is never overwritten by discovery.
    let other = fx.repo_on("other", "trunk").await;
    let mut req = add_req(&other);
    req.config = json!({"defaultBranch": "develop"});
    let row = fx.tree.projects.add_project(req).await.expect("added");
    assert_eq!(row.config, json!({"defaultBranch": "develop"}));
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_project_rejects_bad_input_with_the_documented_codes() {
    let fx = start().await;
    let repo = fx.repo("app").await;

    let missing = fx.repos.path().join("nope");
    assert_eq!(code_of(fx.add(&missing).await).0, ErrorCode::InvalidPath);
    let file = fx.repos.path().join("file.txt");
    std::fs::write(&file, "x").expect("write");
    assert_eq!(code_of(fx.add(&file).await).0, ErrorCode::InvalidPath);

    let plain = fx.repos.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    assert_eq!(code_of(fx.add(&plain).await).0, ErrorCode::NotAGitRepo);
    let sub = repo.join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    assert_eq!(code_of(fx.add(&sub).await).0, ErrorCode::NotAGitRepo);

    let weird = fx.repo("!!!").await;
    assert_eq!(code_of(fx.add(&weird).await).0, ErrorCode::InvalidProjectId);

    let mut req = add_req(&repo);
    req.config = json!({"worker": {"agent": "gpt"}});
    let (code, details) = code_of(fx.tree.projects.add_project(req).await);
    assert_eq!(code, ErrorCode::InvalidProjectConfig);
    assert_eq!(details, Some(json!({"field": "worker.agent"})));

    // Conflicts: the same path again, then another path under the same id.
    fx.add(&repo).await.expect("first add");
    let (code, details) = code_of(fx.add(&repo).await);
    assert_eq!(code, ErrorCode::PathAlreadyRegistered);
    assert_eq!(
        details,
        Some(json!({"existingProjectId": "app", "suggestedProjectId": "app-2"}))
    );
    let other = fx.repo("elsewhere").await;
    let mut req = add_req(&other);
    req.project_id = Some(pid("app"));
    let (code, details) = code_of(fx.tree.projects.add_project(req).await);
    assert_eq!(code, ErrorCode::IdAlreadyRegistered);
    assert_eq!(
        details,
        Some(json!({"existingProjectId": "app", "suggestedProjectId": "app-2"}))
    );
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_config_patches_replaces_and_validates() {
    let fx = start().await;
    let mut events = fx.tree.events.subscribe();
    let repo = fx.repo("cfg").await;
    fx.add(&repo).await.expect("added");
    let id = pid("cfg");
    let h = &fx.tree.projects;

    let row = h
        .set_config(
            id.clone(),
            ConfigChange::Patch(json!({"env": {"A": "1"}, "runtime": "zellij"})),
        )
        .await
        .expect("patched");
    assert_eq!(row.config, json!({"env": {"A": "1"}, "runtime": "zellij"}));
    let ev = next_event(&mut events, is("project_updated", "cfg")).await;
    assert_eq!(ev.payload["id"], json!("cfg"));

    let row = h
        .set_config(
            id.clone(),
            ConfigChange::Patch(json!({"env": {"B": "2"}, "runtime": null})),
        )
        .await
        .expect("patched");
    assert_eq!(row.config, json!({"env": {"A": "1", "B": "2"}}));

    let (code, details) = code_of(
        h.set_config(
            id.clone(),
            ConfigChange::Patch(json!({"env": {"AO_SECRET": "x"}})),
        )
        .await,
    );
    assert_eq!(code, ErrorCode::InvalidProjectConfig);
    assert_eq!(details, Some(json!({"field": "env.AO_SECRET"})));
    let (code, details) = code_of(
        h.set_config(id.clone(), ConfigChange::Replace(json!([1])))
            .await,
    );
    assert_eq!(code, ErrorCode::InvalidProjectConfig);
    assert_eq!(details, Some(json!({"field": "config"})));

    let row = h
        .set_config(
            id.clone(),
            ConfigChange::Replace(json!({"sessionPrefix": "c"})),
        )
        .await
        .expect("replaced");
    assert_eq!(row.config, json!({"sessionPrefix": "c"}));
    let row = h
        .set_config(id.clone(), ConfigChange::Replace(json!({})))
        .await
        .expect("cleared");
    assert_eq!(row.config, json!({}));

    let (code, _) = code_of(
        h.set_config(pid("ghost"), ConfigChange::Replace(json!({})))
            .await,
    );
    assert_eq!(code, ErrorCode::ProjectNotFound);
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_one_project_lose_no_update() {
    let fx = start().await;
    let repo = fx.repo("busy").await;
    fx.add(&repo).await.expect("added");
    let calls = (0..16).map(|i| {
        let h = fx.tree.projects.clone();
        async move {
            h.set_config(
                pid("busy"),
                ConfigChange::Patch(json!({"env": {format!("K{i}"): "v"}})),
            )
            .await
        }
    });
    for r in futures_join_all(calls).await {
        r.expect("patched");
    }
    let row = fx
        .reader
        .get_project(&pid("busy"))
        .expect("read")
        .expect("stored");
    assert_eq!(
        row.config["env"].as_object().map(serde_json::Map::len),
        Some(16)
    );
    fx.tree.shutdown(DEADLINE).await;
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
async fn futures_join_all<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task completes"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_project_archives_and_allows_re_registration() {
    let fx = start().await;
    let mut events = fx.tree.events.subscribe();
    let repo = fx.repo("gone").await;
    fx.add(&repo).await.expect("added");
    let id = pid("gone");
    let h = &fx.tree.projects;

    let outcome = h.remove_project(id.clone()).await.expect("removed");
    assert!(outcome.killed.is_empty() && outcome.skipped.is_empty());
    next_event(&mut events, is("project_archived", "gone")).await;
    let stored = fx.reader.get_project(&id).expect("read").expect("kept");
    assert!(stored.archived_at.is_some());

    assert_eq!(
        code_of(h.remove_project(id.clone()).await).0,
        ErrorCode::ProjectNotFound
    );
    assert_eq!(
        code_of(h.remove_project(pid("never")).await).0,
        ErrorCode::ProjectNotFound
    );
    assert_eq!(
        code_of(
            h.set_config(id.clone(), ConfigChange::Replace(json!({})))
                .await
        )
        .0,
        ErrorCode::ProjectNotFound
    );

    // The archived row neither blocks its path nor its id: adding again re-registers it.
    let row = fx.add(&repo).await.expect("re-registered");
    assert_eq!(row.id, id);
    assert!(row.archived_at.is_none());
    h.set_config(id, ConfigChange::Patch(json!({"sessionPrefix": "g"})))
        .await
        .expect("its actor runs again");
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_projects_get_actors_at_start() {
    let fx = start().await;
    let repo = fx.repo("kept").await;
    fx.add(&repo).await.expect("added");
    let archived = fx.repo("archived").await;
    fx.add(&archived).await.expect("added");
    fx.tree
        .projects
        .remove_project(pid("archived"))
        .await
        .expect("removed");
    fx.tree.shutdown(DEADLINE).await;

    // A second tree on the same database starts the live project's actor in pre_start.
    let opened = ao_store::open(fx.data.path()).expect("reopens");
    let mut cfg = ActorsConfig::new(fx.data.path(), RuntimeKind::Tmux);
    cfg.supervision = fast_supervision();
    let tree = spawn_tree(cfg, opened.reader, opened.writer)
        .await
        .expect("tree starts");
    tree.projects
        .set_config(
            pid("kept"),
            ConfigChange::Patch(json!({"sessionPrefix": "k"})),
        )
        .await
        .expect("actor loaded at start");
    assert_eq!(
        code_of(
            tree.projects
                .set_config(pid("archived"), ConfigChange::Replace(json!({})))
                .await
        )
        .0,
        ErrorCode::ProjectNotFound
    );
    tree.shutdown(DEADLINE).await;
}

// ---- supervision ---------------------------------------------------------------------------

/// Checks that the tree serves commands and publishes their events (retrying while an actor
/// is still restarting) and has not failed.
async fn assert_tree_works(fx: &Fixture, name: &'static str) {
    let mut events = fx.tree.events.subscribe();
    let repo = fx.repo(name).await;
    let row = retry_unavailable(|| fx.add(&repo))
        .await
        .expect("add succeeds after the restart");
    let id = row.id.clone();
    retry_unavailable(|| {
        fx.tree.projects.set_config(
            id.clone(),
            ConfigChange::Patch(json!({"sessionPrefix": "x"})),
        )
    })
    .await
    .expect("set_config succeeds after the restart");
    next_event(&mut events, |e| {
        e.event_type == "project_created" && e.project_id == name
    })
    .await;
    next_event(&mut events, |e| {
        e.event_type == "project_updated" && e.project_id == name
    })
    .await;
    assert!(fx.tree.failure().borrow().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_reducer_is_restarted_and_gets_the_writer_back() {
    let fx = start().await;
    fx.tree
        .inject_panic(FaultTarget::LifecycleReducer)
        .expect("reducer runs");
    assert_tree_works(&fx, "after-reducer").await;
    // Twice more: the write connection survives every restart.
    for name in ["after-reducer-2", "after-reducer-3"] {
        retry_unavailable(|| async { fx.tree.inject_panic(FaultTarget::LifecycleReducer) })
            .await
            .expect("reducer runs again");
        assert_tree_works(&fx, name).await;
    }
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_cdc_poller_is_restarted_and_events_keep_flowing() {
    let fx = start().await;
    let old = fx.tree.registry.cdc.get().expect("running").get_id();
    fx.tree
        .inject_panic(FaultTarget::CdcPoller)
        .expect("poller runs");
    // Wait for the new poller: it starts from head_seq, so only later writes reach live
    // subscribers (they resume older ones from the store).
    eventually("a new CDC poller", || async {
        fx.tree.registry.cdc.get().filter(|a| a.get_id() != old)
    })
    .await;
    assert_tree_works(&fx, "after-cdc").await;
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_project_actor_reaper_and_project_supervisor_are_restarted() {
    let fx = start().await;
    let repo = fx.repo("proj").await;
    fx.add(&repo).await.expect("added");

    fx.tree
        .inject_panic(FaultTarget::Project(pid("proj")))
        .expect("project actor runs");
    retry_unavailable(|| {
        fx.tree.projects.set_config(
            pid("proj"),
            ConfigChange::Patch(json!({"sessionPrefix": "p"})),
        )
    })
    .await
    .expect("the project actor was restarted");

    fx.tree
        .inject_panic(FaultTarget::Reaper)
        .expect("reaper runs");
    eventually("a new reaper", || async {
        fx.tree.inject_panic(FaultTarget::Reaper).ok()
    })
    .await;

    fx.tree
        .inject_panic(FaultTarget::ProjectSupervisor)
        .expect("supervisor runs");
    // The new supervisor reloads the project from the store and starts its actor again.
    retry_unavailable(|| {
        fx.tree.projects.set_config(
            pid("proj"),
            ConfigChange::Patch(json!({"sessionPrefix": "q"})),
        )
    })
    .await
    .expect("the project supervisor was restarted with its projects");
    assert_tree_works(&fx, "after-sup").await;
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_to_a_restarting_actor_is_unavailable_not_a_hang() {
    let fx = start_with(|cfg| {
        cfg.supervision.base_delay = Duration::from_secs(5);
        cfg.supervision.max_delay = Duration::from_secs(5);
    })
    .await;
    let repo = fx.repo("slow").await;
    fx.add(&repo).await.expect("added");

    fx.tree
        .inject_panic(FaultTarget::LifecycleReducer)
        .expect("reducer runs");
    // The reducer stays down for ≥ 4 s: a write needing it fails fast with Unavailable.
    let started = Instant::now();
    let err = eventually("Unavailable while the reducer restarts", || async {
        match fx
            .tree
            .projects
            .set_config(pid("slow"), ConfigChange::Replace(json!({})))
            .await
        {
            Err(e @ CommandError::Unavailable { .. }) => Some(e),
            _ => None,
        }
    })
    .await;
    assert_eq!(err.code(), ErrorCode::ServiceUnavailable);
    assert!(started.elapsed() < Duration::from_secs(3), "no hang");
    // …and it recovers.
    retry_unavailable(|| {
        fx.tree
            .projects
            .set_config(pid("slow"), ConfigChange::Replace(json!({})))
    })
    .await
    .expect("recovered");
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_shutdown_are_unavailable() {
    let fx = start().await;
    let repo = fx.repo("late").await;
    let handle = fx.tree.projects.clone();
    fx.tree.shutdown(DEADLINE).await;
    let started = Instant::now();
    let err = handle
        .add_project(add_req(&repo))
        .await
        .expect_err("tree is gone");
    assert!(matches!(err, CommandError::Unavailable { .. }), "{err:?}");
    let err = handle
        .set_config(pid("late"), ConfigChange::Replace(json!({})))
        .await
        .expect_err("tree is gone");
    assert!(matches!(err, CommandError::Unavailable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_over_its_restart_budget_fails_the_tree() {
    let fx = start_with(|cfg| {
        cfg.supervision.base_delay = Duration::from_millis(1);
        cfg.supervision.max_delay = Duration::from_millis(5);
    })
    .await;
    let failure = fx.tree.failure();
    assert!(failure.borrow().is_none());
    let handle = fx.tree.projects.clone();
    // Crash the reducer as soon as each new instance is up: the sixth crash within 60 s
    // exceeds the budget of five restarts.
    let reason = eventually("root failure", || async {
        if let Some(reason) = failure.borrow().clone() {
            return Some(reason);
        }
        let _ = fx.tree.inject_panic(FaultTarget::LifecycleReducer);
        None
    })
    .await;
    assert!(reason.contains("restart budget"), "{reason}");
    assert!(reason.contains("Reducer"), "{reason}");
    eventually("root stopped", || async {
        (!fx.tree.is_running()).then_some(())
    })
    .await;
    let repo = fx.repo("after-failure").await;
    let err = handle
        .add_project(add_req(&repo))
        .await
        .expect_err("tree gave up");
    assert!(matches!(err, CommandError::Unavailable { .. }), "{err:?}");
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_actor_over_budget_escalates_to_a_restart_of_its_supervisor() {
    let fx = start_with(|cfg| {
        cfg.supervision.base_delay = Duration::from_millis(1);
        cfg.supervision.max_delay = Duration::from_millis(5);
    })
    .await;
    let repo = fx.repo("flaky").await;
    fx.add(&repo).await.expect("added");
    let first_sup = fx
        .tree
        .registry
        .project_sup
        .get()
        .expect("running")
        .get_id();

    // Crash the project actor until the ProjectSupervisor itself is replaced.
    eventually("a new project supervisor", || async {
        let current = fx.tree.registry.project_sup.get().map(|a| a.get_id());
        if current.is_some_and(|c| c != first_sup) {
            return Some(());
        }
        let _ = fx.tree.inject_panic(FaultTarget::Project(pid("flaky")));
        None
    })
    .await;
    // Root restarted it with its projects; the tree did not fail.
    retry_unavailable(|| {
        fx.tree.projects.set_config(
            pid("flaky"),
            ConfigChange::Patch(json!({"sessionPrefix": "f"})),
        )
    })
    .await
    .expect("project served again");
    assert!(fx.tree.failure().borrow().is_none());
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_root_is_reported_as_failure() {
    let fx = start().await;
    let failure = fx.tree.failure();
    fx.tree.inject_panic(FaultTarget::Root).expect("root runs");
    let reason = eventually("root failure", || async { failure.borrow().clone() }).await;
    assert!(reason.contains("root"), "{reason}");
    fx.tree.shutdown(DEADLINE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_command_is_a_timeout_and_still_completes() {
    let fx = start().await;
    let repo = fx.repo("timely").await;
    fx.add(&repo).await.expect("added");
    let shutdown_after = fx.tree;
    // A second handle to the same tree with a 50 ms timeout, and a project actor that is busy
    // for 500 ms: the call times out while its message waits in the mailbox.
    let impatient = crate::ProjectsHandle::new(
        std::sync::Arc::clone(&shutdown_after.registry),
        crate::CallTimeouts {
            short: Duration::from_millis(50),
            long: Duration::from_millis(50),
        },
    );
    shutdown_after
        .registry
        .projects
        .get(&pid("timely"))
        .map(|a| a.value().clone())
        .expect("project actor runs")
        .cast(crate::projects::ProjectMsg::Stall(Duration::from_millis(
            500,
        )))
        .map_err(|_| "cast failed")
        .expect("project actor runs");
    let err = impatient
        .set_config(
            pid("timely"),
            ConfigChange::Patch(json!({"sessionPrefix": "late"})),
        )
        .await
        .expect_err("the reply comes after the timeout");
    assert_eq!(err, CommandError::Timeout);
    assert_eq!(err.code(), ErrorCode::RequestTimeout);
    // The operation was not cancelled: the write lands in the store.
    eventually("the config write", || async {
        let row = fx.reader.get_project(&pid("timely")).ok().flatten()?;
        (row.config == json!({"sessionPrefix": "late"})).then_some(())
    })
    .await;
    shutdown_after.shutdown(DEADLINE).await;
}
