//! Tests with a real git in temporary directories.

use std::sync::Arc;

use ao_protocol::ErrorCode;

use super::*;

/// Runs git for test set-up with a fixed identity and no system or global config.
async fn git_ok(dir: &Path, args: &[&str]) -> String {
    let cmd = git(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    process::run(&cmd)
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"))
        .stdout
        .trim()
        .to_string()
}

async fn commit(dir: &Path, message: &str) -> String {
    git_ok(
        dir,
        &[
            "commit",
            "-q",
            "--allow-empty",
            "--no-gpg-sign",
            "-m",
            message,
        ],
    )
    .await;
    git_ok(dir, &["rev-parse", "HEAD"]).await
}

async fn init_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git_ok(dir, &["init", "-q", "-b", "main"]).await;
    std::fs::write(dir.join("README"), "hello\n").expect("write");
    git_ok(dir, &["add", "README"]).await;
    commit(dir, "init").await;
}

struct Fixture {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    ws: GitWorktree,
}

impl Fixture {
    async fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().canonicalize().expect("canonical");
        let repo = base.join("repo");
        init_repo(&repo).await;
        let ws = GitWorktree::open(&base.join("data")).expect("root");
        Self { tmp, repo, ws }
    }

    fn path(&self, session: &str) -> PathBuf {
        self.ws
            .root()
            .worker_path("demo", session)
            .expect("safe path")
    }

    fn req(&self, branch: &str, session: &str) -> CreateRequest {
        CreateRequest {
            repo: self.repo.clone(),
            branch: branch.into(),
            path: self.path(session),
            default_branch: "main".into(),
            session_default_branch: format!("ao/{session}/root"),
            has_origin: false,
            pr_head_ref: None,
        }
    }

    async fn registered(&self, path: &Path) -> bool {
        is_registered(&list_worktrees(&self.repo).await.expect("list"), path)
    }
}

async fn head_branch(wt: &Path) -> String {
    let full = git_ok(wt, &["symbolic-ref", "HEAD"]).await;
    full.strip_prefix("refs/heads/")
        .unwrap_or(&full)
        .to_string()
}

#[tokio::test]
async fn create_makes_a_new_branch_from_the_default_then_reuses_it() {
    let f = Fixture::new().await;
    let main_sha = git_ok(&f.repo, &["rev-parse", "main"]).await;
    let req = f.req("ao/demo-1/root", "demo-1");
    let created = f.ws.create(&req).await.expect("created");
    assert_eq!(
        created,
        Created {
            path: req.path.clone(),
            reused: false
        }
    );
    assert!(req.path.join("README").is_file());
    assert_eq!(head_branch(&req.path).await, "ao/demo-1/root");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, main_sha);

    let again = f.ws.create(&req).await.expect("reused");
    assert!(again.reused);
    assert!(f.registered(&req.path).await);
}

/// A worktree directory the user deleted leaves a stale (prunable) registration that holds
/// the session's path and branch: git refuses the add, the registration is pruned and the
/// add retried, on the branch with the agent's commits.
#[tokio::test]
async fn create_prunes_a_deleted_worktree_and_re_adds_it_on_its_branch() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    let work = commit(&req.path, "agent work").await;
    std::fs::remove_dir_all(&req.path).expect("rm -rf");
    assert!(f.registered(&req.path).await, "git still lists it");

    let created = f.ws.create(&req).await.expect("re-created");
    assert!(!created.reused);
    assert_eq!(head_branch(&req.path).await, "ao/demo-1/root");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, work);

    // The same branch under another session's path, its old directory deleted: pruned too.
    std::fs::remove_dir_all(&req.path).expect("rm -rf");
    let elsewhere = CreateRequest {
        path: f.path("demo-2"),
        ..req.clone()
    };
    let created = f.ws.create(&elsewhere).await.expect("created elsewhere");
    assert!(!created.reused);
    assert!(
        !f.registered(&req.path).await,
        "the stale registration is gone"
    );
    assert_eq!(git_ok(&elsewhere.path, &["rev-parse", "HEAD"]).await, work);
}

#[tokio::test]
async fn create_checks_out_an_existing_local_branch() {
    let f = Fixture::new().await;
    git_ok(&f.repo, &["checkout", "-q", "-b", "feature"]).await;
    let feature_sha = commit(&f.repo, "on feature").await;
    git_ok(&f.repo, &["checkout", "-q", "main"]).await;

    let req = f.req("feature", "demo-1");
    f.ws.create(&req).await.expect("created");
    assert_eq!(head_branch(&req.path).await, "feature");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, feature_sha);
}

#[tokio::test]
async fn a_branch_checked_out_elsewhere_is_refused_with_its_worktree() {
    let f = Fixture::new().await;
    // `main` is checked out in the repository itself.
    let err =
        f.ws.create(&f.req("main", "demo-1"))
            .await
            .expect_err("main is in use");
    assert_eq!(err.code(), ErrorCode::BranchCheckedOutElsewhere);
    assert_eq!(
        err,
        WorkspaceError::BranchCheckedOutElsewhere {
            branch: "main".into(),
            worktree_path: f.repo.clone()
        }
    );

    let first = f.req("shared", "demo-1");
    f.ws.create(&first).await.expect("created");
    let err =
        f.ws.create(&f.req("shared", "demo-2"))
            .await
            .expect_err("in use by demo-1");
    assert_eq!(
        err,
        WorkspaceError::BranchCheckedOutElsewhere {
            branch: "shared".into(),
            worktree_path: first.path.clone()
        }
    );
    assert!(!f.path("demo-2").exists());
}

#[tokio::test]
async fn invalid_branch_names_are_rejected_before_anything_is_created() {
    let f = Fixture::new().await;
    for bad in [
        "bad..name",
        "has space",
        "-leading",
        "",
        "x.lock",
        "a~1",
        "@{-1}",
        "HEAD",
    ] {
        let err =
            f.ws.create(&f.req(bad, "demo-1"))
                .await
                .expect_err("invalid branch");
        assert_eq!(
            err,
            WorkspaceError::InvalidBranch {
                branch: bad.to_string()
            },
            "{bad:?}"
        );
        assert_eq!(err.code(), ErrorCode::InvalidBranch);
    }
    assert!(!f.path("demo-1").exists());
}

#[tokio::test]
async fn a_branch_without_any_base_is_not_fetched() {
    let f = Fixture::new().await;
    let mut req = f.req("feature-x", "demo-1");
    req.default_branch = "trunk".into();
    let err = f.ws.create(&req).await.expect_err("nothing to branch from");
    assert_eq!(
        err,
        WorkspaceError::BranchNotFetched {
            branch: "feature-x".into()
        }
    );
    assert_eq!(err.code(), ErrorCode::BranchNotFetched);

    // A tag named like the branch is a base (step 6.4).
    git_ok(&f.repo, &["tag", "feature-x"]).await;
    f.ws.create(&req).await.expect("created from the tag");
    assert_eq!(head_branch(&req.path).await, "feature-x");
}

#[tokio::test]
async fn with_an_origin_create_fetches_and_bases_on_the_remote_branches() {
    let f = Fixture::new().await;
    let base = f.tmp.path().canonicalize().expect("canonical");
    let clone = base.join("clone");
    git_ok(
        &base,
        &[
            "clone",
            "-q",
            f.repo.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    )
    .await;
    // Upstream moves on after the clone: main advances, a feature branch and a PR branch appear.
    let new_main = commit(&f.repo, "upstream main").await;
    git_ok(&f.repo, &["checkout", "-q", "-b", "feature-x"]).await;
    let feature = commit(&f.repo, "upstream feature").await;
    git_ok(&f.repo, &["checkout", "-q", "-b", "pr-head"]).await;
    let pr = commit(&f.repo, "upstream pr").await;
    git_ok(&f.repo, &["checkout", "-q", "main"]).await;

    let request = |branch: &str, session: &str| CreateRequest {
        repo: clone.clone(),
        has_origin: true,
        ..f.req(branch, session)
    };

    // The session's default branch: based on the freshly fetched origin/main.
    let req = request("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, new_main);

    // A branch only upstream has: fetched, then based on origin/feature-x.
    let req = request("feature-x", "demo-2");
    f.ws.create(&req).await.expect("created");
    assert_eq!(head_branch(&req.path).await, "feature-x");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, feature);

    // A claimed PR's head ref is fetched into refs/remotes/origin/<ref>.
    let req = CreateRequest {
        pr_head_ref: Some("pr-head".into()),
        ..request("pr-head", "demo-3")
    };
    f.ws.create(&req).await.expect("created");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, pr);
}

#[tokio::test]
async fn an_unreachable_origin_does_not_prevent_create() {
    let f = Fixture::new().await;
    git_ok(
        &f.repo,
        &["remote", "add", "origin", "/nonexistent/ao/upstream.git"],
    )
    .await;
    let req = CreateRequest {
        has_origin: true,
        ..f.req("ao/demo-1/root", "demo-1")
    };
    f.ws.create(&req).await.expect("offline create works");
    assert_eq!(head_branch(&req.path).await, "ao/demo-1/root");
}

#[tokio::test]
async fn safe_destroy_removes_a_clean_worktree_and_keeps_the_branch() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    f.ws.destroy(&f.repo, &req.path).await.expect("destroyed");
    assert!(!req.path.exists());
    assert!(!f.registered(&req.path).await);
    assert!(
        verifies(&f.repo, "refs/heads/ao/demo-1/root")
            .await
            .expect("git")
    );
    // Absent counts as success.
    f.ws.destroy(&f.repo, &req.path)
        .await
        .expect("already gone");
}

#[tokio::test]
async fn safe_destroy_keeps_a_dirty_worktree() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    assert!(!f.ws.is_dirty(&req.path).await.expect("status"));
    std::fs::write(req.path.join("notes.txt"), "work in progress").expect("write");
    assert!(f.ws.is_dirty(&req.path).await.expect("status"));

    let err = f.ws.destroy(&f.repo, &req.path).await.expect_err("dirty");
    assert_eq!(
        err,
        WorkspaceError::Dirty {
            path: req.path.clone()
        }
    );
    assert_eq!(err.code(), ErrorCode::WorkspaceError);
    assert!(req.path.join("notes.txt").is_file());
    assert!(f.registered(&req.path).await);

    // A modified tracked file is dirty too.
    std::fs::remove_file(req.path.join("notes.txt")).expect("rm");
    std::fs::write(req.path.join("README"), "changed\n").expect("write");
    assert!(matches!(
        f.ws.destroy(&f.repo, &req.path).await,
        Err(WorkspaceError::Dirty { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(req.path.join("README")).expect("kept"),
        "changed\n"
    );
}

#[tokio::test]
async fn safe_destroy_of_a_locked_worktree_is_an_error() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    git_ok(
        &f.repo,
        &["worktree", "lock", req.path.to_str().expect("utf-8")],
    )
    .await;
    let err = f.ws.destroy(&f.repo, &req.path).await.expect_err("locked");
    assert!(
        matches!(&err, WorkspaceError::NotRemoved { detail, .. } if detail.contains("locked")),
        "{err:?}"
    );
    assert_eq!(err.code(), ErrorCode::WorkspaceError);
    assert!(req.path.exists());
}

#[tokio::test]
async fn safe_destroy_removes_an_unregistered_leftover_directory() {
    let f = Fixture::new().await;
    let path = f.path("demo-1");
    std::fs::create_dir_all(path.join("sub")).expect("mkdir");
    std::fs::write(path.join("sub/file"), "x").expect("write");
    f.ws.destroy(&f.repo, &path).await.expect("destroyed");
    assert!(!path.exists());
}

#[tokio::test]
async fn restore_re_adds_a_missing_worktree_on_its_branch() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    f.ws.create(&req).await.expect("created");
    let work = commit(&req.path, "agent work").await;

    // Removed cleanly (unregistered), then restored.
    f.ws.destroy(&f.repo, &req.path).await.expect("destroyed");
    let restored = f.ws.restore(&req).await.expect("restored");
    assert!(!restored.reused);
    assert_eq!(head_branch(&req.path).await, "ao/demo-1/root");
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, work);

    // Registered: reused as is.
    assert!(f.ws.restore(&req).await.expect("reused").reused);

    // The directory vanished but git still lists it (prunable): pruned and re-added.
    std::fs::remove_dir_all(&req.path).expect("rm -rf");
    let restored = f.ws.restore(&req).await.expect("restored");
    assert!(!restored.reused);
    assert_eq!(git_ok(&req.path, &["rev-parse", "HEAD"]).await, work);
}

#[tokio::test]
async fn restore_refuses_an_occupied_path_but_accepts_an_empty_directory() {
    let f = Fixture::new().await;
    let req = f.req("ao/demo-1/root", "demo-1");
    std::fs::create_dir_all(&req.path).expect("mkdir");
    std::fs::write(req.path.join("stranger"), "x").expect("write");
    let err = f.ws.restore(&req).await.expect_err("occupied");
    assert_eq!(
        err,
        WorkspaceError::PathOccupied {
            path: req.path.clone()
        }
    );
    assert_eq!(err.code(), ErrorCode::WorkspacePathOccupied);
    assert!(req.path.join("stranger").is_file());

    std::fs::remove_file(req.path.join("stranger")).expect("rm");
    f.ws.restore(&req)
        .await
        .expect("an empty directory is not occupied");
    assert_eq!(head_branch(&req.path).await, "ao/demo-1/root");
}

#[tokio::test]
async fn unsafe_paths_are_rejected_and_never_touched() {
    let f = Fixture::new().await;
    let root = f.ws.root().path().to_path_buf();
    for (project, session) in [
        ("..", "demo-1"),
        ("a/b", "demo-1"),
        ("demo", "."),
        ("demo", ""),
        ("demo", "a\\b"),
        ("demo", ".."),
    ] {
        assert!(
            matches!(
                f.ws.root().worker_path(project, session),
                Err(WorkspaceError::UnsafePath { .. })
            ),
            "{project:?} {session:?}"
        );
    }
    assert!(matches!(
        f.ws.root().orchestrator_path("demo", "../x"),
        Err(WorkspaceError::UnsafePath { .. })
    ));
    assert_eq!(
        f.ws.root().orchestrator_path("demo", "dem").expect("safe"),
        root.join("demo/orchestrator/dem-orchestrator")
    );

    // Outside the root, the root itself, relative, or not clean.
    let outside = f
        .tmp
        .path()
        .canonicalize()
        .expect("canonical")
        .join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("precious"), "x").expect("write");
    for path in [
        outside.clone(),
        root.clone(),
        PathBuf::from("relative/demo-1"),
        root.join("demo/../../outside"),
        PathBuf::from(format!("{}/demo/./demo-1", root.display())),
        PathBuf::from(format!("{}/demo//demo-1", root.display())),
    ] {
        let err = f.ws.root().check(&path).expect_err("unsafe");
        assert_eq!(err.code(), ErrorCode::WorkspaceError);
        assert!(matches!(err, WorkspaceError::UnsafePath { .. }), "{path:?}");
    }
    let req = CreateRequest {
        path: outside.clone(),
        ..f.req("ao/demo-1/root", "demo-1")
    };
    assert!(matches!(
        f.ws.create(&req).await,
        Err(WorkspaceError::UnsafePath { .. })
    ));
    assert!(matches!(
        f.ws.destroy(&f.repo, &outside).await,
        Err(WorkspaceError::UnsafePath { .. })
    ));
    assert!(outside.join("precious").is_file());

    // A symlink below the root that leads outside it.
    std::os::unix::fs::symlink(&outside, root.join("evil")).expect("symlink");
    assert!(matches!(
        f.ws.root().worker_path("evil", "demo-1"),
        Err(WorkspaceError::UnsafePath { .. })
    ));
    assert!(matches!(
        f.ws.destroy(&f.repo, &root.join("evil")).await,
        Err(WorkspaceError::UnsafePath { .. })
    ));
    assert!(outside.join("precious").is_file());
}

#[tokio::test]
async fn a_missing_repository_is_not_resolvable() {
    let f = Fixture::new().await;
    let req = CreateRequest {
        repo: f.repo.join("gone"),
        ..f.req("ao/demo-1/root", "demo-1")
    };
    let err = f.ws.create(&req).await.expect_err("no repo");
    assert_eq!(err.code(), ErrorCode::ProjectNotResolvable);
}

#[tokio::test]
async fn the_port_is_object_safe() {
    let f = Fixture::new().await;
    let ws: Arc<dyn Workspace> = Arc::new(f.ws.clone());
    let req = f.req("ao/demo-1/root", "demo-1");
    ws.create(&req).await.expect("created");
    assert!(!ws.is_dirty(&req.path).await.expect("status"));
    ws.destroy(&f.repo, &req.path).await.expect("destroyed");
    assert!(ws.restore(&req).await.is_ok());
    assert_eq!(ws.root().path(), f.ws.root().path());
}

/// Concurrent `git worktree add/remove` on one repository race inside git unless serialised:
/// ten concurrent creates, then ten concurrent destroys and restores, all succeed, through
/// two `GitWorktree` values and two spellings of the repository path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_and_destroys_on_one_repository_all_succeed() {
    let f = Fixture::new().await;
    let other = GitWorktree::open(&f.tmp.path().join("data")).expect("root");
    let spelled_differently = f.repo.join("..").join("repo");
    let odd = |n: usize| n % 2 == 1;
    let sessions: Vec<String> = (1..=10).map(|n| format!("demo-{n}")).collect();
    let requests: Vec<CreateRequest> = sessions
        .iter()
        .enumerate()
        .map(|(n, session)| {
            let mut req = f.req(&format!("ao/{session}/root"), session);
            if odd(n) {
                req.repo.clone_from(&spelled_differently);
            }
            req
        })
        .collect();
    let workspace = |n: usize| if odd(n) { &other } else { &f.ws };

    let mut tasks = tokio::task::JoinSet::new();
    for (n, req) in requests.iter().cloned().enumerate() {
        let ws = workspace(n).clone();
        tasks.spawn(async move { (req.path.clone(), ws.create(&req).await) });
    }
    let mut created = 0;
    while let Some(joined) = tasks.join_next().await {
        let (path, result) = joined.expect("task");
        let made = result.unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        assert!(!made.reused);
        assert!(made.path.join("README").is_file());
        created += 1;
    }
    assert_eq!(created, 10);
    for req in &requests {
        assert!(f.registered(&req.path).await, "{}", req.path.display());
    }

    // Every session's worktree is destroyed concurrently; the odd ones are then restored,
    // overlapping the other destroys.
    let mut tasks = tokio::task::JoinSet::new();
    for (n, req) in requests.iter().cloned().enumerate() {
        let ws = workspace(n).clone();
        tasks.spawn(async move {
            ws.destroy(&req.repo, &req.path).await?;
            if odd(n) {
                ws.restore(&req).await?;
            }
            Ok::<_, WorkspaceError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("destroy/restore");
    }
    for (n, req) in requests.iter().enumerate() {
        assert_eq!(
            f.registered(&req.path).await,
            odd(n),
            "{}",
            req.path.display()
        );
        assert_eq!(req.path.exists(), odd(n), "{}", req.path.display());
    }

    let mut tasks = tokio::task::JoinSet::new();
    for req in requests.iter().skip(1).step_by(2).cloned() {
        let ws = f.ws.clone();
        tasks.spawn(async move { ws.destroy(&req.repo, &req.path).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("task").expect("destroyed");
    }
    let list = list_worktrees(&f.repo).await.expect("list");
    assert_eq!(list.len(), 1, "only the main worktree is left: {list:?}");
}

#[test]
fn worktree_list_parsing() {
    let out = "worktree /r\nHEAD abc\nbranch refs/heads/main\n\n\
               worktree /w/a\nHEAD def\ndetached\n\n\
               worktree /w/b\nHEAD 123\nbranch refs/heads/x\nprunable gitdir file points to non-existent location\n\n";
    let list = parse_worktree_list(out);
    assert_eq!(
        list,
        vec![
            Entry {
                path: "/r".into(),
                branch: Some("refs/heads/main".into()),
                prunable: false
            },
            Entry {
                path: "/w/a".into(),
                branch: None,
                prunable: false
            },
            Entry {
                path: "/w/b".into(),
                branch: Some("refs/heads/x".into()),
                prunable: true
            },
        ]
    );
}

/// A clone of the fixture's repository (its `origin`), and a worktree of the clone for
/// session `demo-1` on its own session branch.
async fn clone_with_worktree(f: &Fixture) -> (PathBuf, PathBuf) {
    let base = f.tmp.path().canonicalize().expect("canonical");
    let clone = base.join("clone");
    git_ok(
        &base,
        &[
            "clone",
            "-q",
            f.repo.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    )
    .await;
    let req = CreateRequest {
        repo: clone.clone(),
        has_origin: true,
        ..f.req("ao/demo-1/root", "demo-1")
    };
    f.ws.create(&req).await.expect("created");
    (clone, req.path)
}

/// Upstream (the fixture repository) gets a branch `pr-head` with one commit; returns its SHA.
async fn upstream_pr_branch(f: &Fixture, name: &str) -> String {
    git_ok(&f.repo, &["checkout", "-q", "-b", name]).await;
    let sha = commit(&f.repo, "upstream pr").await;
    git_ok(&f.repo, &["checkout", "-q", "main"]).await;
    sha
}

#[tokio::test]
async fn switch_creates_a_tracking_branch_from_the_fetched_head_ref() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;
    let pr = upstream_pr_branch(&f, "pr-head").await;

    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(out, Switch::ok(Checkout::Switched));
    assert_eq!(head_branch(&wt).await, "pr-head");
    assert_eq!(git_ok(&wt, &["rev-parse", "HEAD"]).await, pr);
    assert_eq!(
        git_ok(&wt, &["rev-parse", "--abbrev-ref", "pr-head@{upstream}"]).await,
        "origin/pr-head"
    );

    // Again: already on the branch; a new upstream commit is fast-forwarded.
    git_ok(&f.repo, &["checkout", "-q", "pr-head"]).await;
    let newer = commit(&f.repo, "upstream pr 2").await;
    git_ok(&f.repo, &["checkout", "-q", "main"]).await;
    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(out.checkout, Checkout::AlreadyOnBranch);
    assert_eq!(out.checkout.as_str(), "already_on_branch");
    assert_eq!(git_ok(&wt, &["rev-parse", "HEAD"]).await, newer);
}

#[tokio::test]
async fn switch_checks_out_an_existing_local_branch_and_fast_forwards_it() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;
    upstream_pr_branch(&f, "pr-head").await;
    // The clone already has a local pr-head, behind upstream.
    git_ok(&clone, &["fetch", "-q", "origin", "pr-head"]).await;
    git_ok(&clone, &["branch", "pr-head", "main"]).await;
    git_ok(&f.repo, &["checkout", "-q", "pr-head"]).await;
    let newest = commit(&f.repo, "upstream pr 2").await;
    git_ok(&f.repo, &["checkout", "-q", "main"]).await;

    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(out, Switch::ok(Checkout::Switched));
    assert_eq!(head_branch(&wt).await, "pr-head");
    assert_eq!(git_ok(&wt, &["rev-parse", "HEAD"]).await, newest);
}

#[tokio::test]
async fn switch_keeps_a_diverged_local_branch_checked_out() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;
    upstream_pr_branch(&f, "pr-head").await;
    // A local pr-head with a commit upstream does not have: no fast-forward possible.
    git_ok(&clone, &["branch", "pr-head", "main"]).await;
    git_ok(&wt, &["checkout", "-q", "pr-head"]).await;
    let local = commit(&wt, "local only").await;
    git_ok(&wt, &["checkout", "-q", "ao/demo-1/root"]).await;

    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(
        out,
        Switch::ok(Checkout::Switched),
        "a failed ff is only logged"
    );
    assert_eq!(head_branch(&wt).await, "pr-head");
    assert_eq!(git_ok(&wt, &["rev-parse", "HEAD"]).await, local);
}

#[tokio::test]
async fn switch_skips_a_dirty_worktree_without_touching_it() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;
    upstream_pr_branch(&f, "pr-head").await;
    std::fs::write(wt.join("scratch.txt"), "untracked\n").expect("write");

    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(out, Switch::ok(Checkout::SkippedDirty));
    assert_eq!(head_branch(&wt).await, "ao/demo-1/root");
    assert!(wt.join("scratch.txt").is_file());
}

#[tokio::test]
async fn switch_skips_a_branch_checked_out_in_another_worktree() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;
    upstream_pr_branch(&f, "pr-head").await;
    let other = CreateRequest {
        repo: clone.clone(),
        has_origin: true,
        pr_head_ref: Some("pr-head".into()),
        ..f.req("pr-head", "demo-2")
    };
    f.ws.create(&other).await.expect("created");

    let out = f.ws.switch_branch(&clone, &wt, "pr-head").await;
    assert_eq!(out, Switch::ok(Checkout::SkippedBranchInUse));
    assert_eq!(head_branch(&wt).await, "ao/demo-1/root");
}

#[tokio::test]
async fn switch_to_a_ref_origin_lacks_fails_with_gits_stderr() {
    let f = Fixture::new().await;
    let (clone, wt) = clone_with_worktree(&f).await;

    let out = f.ws.switch_branch(&clone, &wt, "no-such-branch").await;
    assert_eq!(out.checkout, Checkout::Failed);
    let error = out.error.expect("an error message");
    assert!(error.contains("no-such-branch"), "{error}");
    assert_eq!(head_branch(&wt).await, "ao/demo-1/root");

    let out = f.ws.switch_branch(&clone, &wt, "-x").await;
    assert_eq!(out.checkout, Checkout::Failed);
    let outside = f.tmp.path().join("elsewhere");
    let out = f.ws.switch_branch(&clone, &outside, "pr-head").await;
    assert_eq!(out.checkout, Checkout::Failed);
}
