//! External faults against the real daemon (issue #5): things users and crashes do to AO's
//! files behind its back. Each must give a clear message (a stable code, exit 1) or heal
//! itself, and lose nothing.
//!
//! Proven elsewhere, not repeated here:
//! * the tmux server killed under live sessions (relaunched in place, resuming the
//!   conversation): `sessions::killing_the_tmux_server_relaunches_sessions_in_place_with_their_conversation`;
//!   killed while the daemon was down, with the worktree deleted too:
//!   `ao-actors` `reconcile::tests::a_vanished_tmux_server_is_relaunched_in_place_once`;
//! * a stale `daemon.lock` (and run-file) left by a `kill -9`:
//!   `daemon_control::kill_9_leaves_stale_state_and_start_recovers_everything`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ao_tests::{Home, Run, git_repo, pid_alive, wait_for};
use serde_json::Value;

/// A started daemon with project `p` (a real repository).
struct Lab {
    home: Home,
    repo: PathBuf,
}

impl Lab {
    fn new() -> Self {
        let home = Home::new();
        let repo = git_repo(&home.scratch(), "p");
        home.start();
        home.ao(&[
            "project",
            "add",
            "--path",
            repo.to_str().expect("utf-8"),
            "--id",
            "p",
        ])
        .ok();
        Self { home, repo }
    }

    fn ao(&self, args: &[&str]) -> Run {
        self.home.ao(args)
    }

    /// `ao spawn --json` of a `command` session in `p` that reads lines forever.
    fn try_spawn(&self) -> Run {
        self.ao(&[
            "spawn",
            "--project",
            "p",
            "--agent",
            "command",
            "--command",
            "cat",
            "--json",
        ])
    }

    /// [`Lab::try_spawn`], which must succeed; returns the session id.
    fn spawn(&self) -> String {
        self.try_spawn().json()["session"]["id"]
            .as_str()
            .expect("session id")
            .to_string()
    }

    fn session(&self, id: &str) -> Value {
        self.ao(&["session", "get", id, "--json"]).json()["session"].clone()
    }

    /// Every session id, terminated ones included.
    fn session_ids(&self) -> Vec<String> {
        let all = self
            .ao(&["session", "ls", "--all", "--include-terminated", "--json"])
            .json();
        all["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect()
    }

    fn worktree(&self, id: &str) -> PathBuf {
        self.home.path().join("data/worktrees/p").join(id)
    }
}

/// Runs `git -C <dir> <args>` with a fixed identity.
fn git(dir: &Path, args: &[&str]) -> Run {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("run git");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts a failed CLI command: exit 1 and one `error: … (<CODE>)` line naming one of `codes`.
#[track_caller]
fn fails_with(r: &Run, codes: &[&str]) {
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.starts_with("error: ")
            && codes.iter().any(|c| r.stderr.contains(&format!("({c})"))),
        "expected one of {codes:?}: {r:?}"
    );
}

#[test]
fn running_json_deleted_or_corrupted_under_a_running_daemon_is_rewritten() {
    let lab = Lab::new();
    let id = lab.spawn();
    let rf = lab.home.run_file_contents().expect("run-file");

    // Deleted: clients see no daemon for a moment; the daemon puts the file back.
    std::fs::remove_file(lab.home.run_file()).expect("rm running.json");
    let healed = wait_for(Duration::from_secs(10), "running.json to come back", || {
        lab.home.run_file_contents()
    });
    assert_eq!(healed, rf, "the same daemon, port and token");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(lab.home.run_file())
            .expect("run-file")
            .permissions(),
    ) & 0o777;
    assert_eq!(mode, 0o600);

    // Corrupted: a client says so plainly (exit 1, the path and why; shown on a copy the
    // daemon does not watch, so the message cannot race the repair)…
    let garbage = "{\"pid\": 12";
    let copy = lab.home.scratch().join("running.json");
    std::fs::write(&copy, garbage).expect("write a damaged copy");
    let r = lab.home.ao_env(
        &["session", "ls"],
        &[("AO_RUN_FILE", copy.to_str().expect("utf-8"))],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("cannot read the run-file")
            && r.stderr.contains(&*copy.to_string_lossy()),
        "{r:?}"
    );
    // …and the daemon repairs its own.
    std::fs::write(lab.home.run_file(), garbage).expect("corrupt running.json");
    let healed = wait_for(
        Duration::from_secs(10),
        "running.json to be repaired",
        || lab.home.run_file_contents(),
    );
    assert_eq!(healed, rf);

    // Nothing was lost and the daemon never stopped serving.
    let status = lab.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "ready");
    assert_eq!(status["pid"], rf.pid);
    assert_eq!(lab.session(&id)["isTerminated"], false);
    let sent = lab.ao(&["send", "--session", &id, "--message", "still here"]);
    sent.ok();
}

#[test]
fn a_second_daemon_on_the_same_home_exits_1_and_leaves_the_first_alone() {
    let lab = Lab::new();
    let rf = lab.home.run_file_contents().expect("run-file");
    let second = lab.ao(&["daemon"]);
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second
            .stderr
            .contains("another ao daemon is already running for this data dir"),
        "{}",
        second.stderr
    );
    // The first daemon keeps its run-file, its port and its token.
    assert_eq!(lab.home.run_file_contents().as_ref(), Some(&rf));
    assert!(pid_alive(rf.pid));
    let status = lab.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "ready");
    assert_eq!(status["daemon"]["projects"], 1);
}

#[test]
fn a_worktree_deleted_by_the_user_is_freed_by_kill_and_re_added_by_restore() {
    let lab = Lab::new();
    let id = lab.spawn();
    let wt = lab.worktree(&id);
    // Work that was committed survives in the repository; the directory does not.
    std::fs::write(wt.join("done.txt"), "committed work\n").expect("write");
    git(&wt, &["add", "done.txt"]).ok();
    git(&wt, &["commit", "-q", "-m", "work"]).ok();
    std::fs::remove_dir_all(&wt).expect("rm -rf the worktree");

    let kill = lab.ao(&["session", "kill", &id]);
    assert!(
        kill.ok().contains(&format!("session {id} killed\n")),
        "{kill:?}"
    );
    let s = lab.session(&id);
    assert_eq!(s["isTerminated"], true);
    let list = git(&lab.repo, &["worktree", "list", "--porcelain"]);
    assert!(
        !list.ok().contains(&format!("/{id}\n")),
        "the stale registration is pruned: {}",
        list.stdout
    );

    lab.ao(&["session", "restore", &id]).ok();
    let s = lab.session(&id);
    assert_eq!(s["isTerminated"], false);
    assert_eq!(
        std::fs::read_to_string(wt.join("done.txt")).expect("restored worktree"),
        "committed work\n"
    );
    assert!(lab.home.tmux_sessions().contains(&id));
}

#[test]
fn git_lock_files_left_behind_fail_a_spawn_clearly_and_leave_nothing() {
    let lab = Lab::new();
    // A crashed `git` in the user's checkout leaves `.git/index.lock`: worktrees do not need
    // that index, so spawn and kill work.
    let index_lock = lab.repo.join(".git/index.lock");
    std::fs::write(&index_lock, "").expect("index.lock");
    let first = lab.spawn();
    // A crashed `git` inside the session's worktree leaves its own index.lock: the worktree is
    // still clean, so kill frees it.
    let wt_git = PathBuf::from(
        git(&lab.worktree(&first), &["rev-parse", "--absolute-git-dir"])
            .ok()
            .trim(),
    );
    std::fs::write(wt_git.join("index.lock"), "").expect("worktree index.lock");
    assert!(
        lab.ao(&["session", "kill", &first])
            .ok()
            .contains("killed\n")
    );
    assert!(!lab.worktree(&first).exists());

    // A ref lock on the branch a spawn must create: a clear WORKSPACE_ERROR naming the lock,
    // and no row, worktree or tmux session is left behind.
    let next = "p-2";
    let ref_lock = lab
        .repo
        .join(format!(".git/refs/heads/ao/{next}/root.lock"));
    std::fs::create_dir_all(ref_lock.parent().expect("parent")).expect("mkdir");
    std::fs::write(&ref_lock, "").expect("ref lock");
    let r = lab.try_spawn();
    fails_with(&r, &["WORKSPACE_ERROR"]);
    assert!(r.stderr.contains("root.lock"), "{}", r.stderr);
    assert_eq!(lab.session_ids(), vec![first.clone()]);
    assert!(!lab.worktree(next).exists());
    assert!(!lab.home.tmux_sessions().contains(&next.to_string()));

    // Once the user removes the stale locks, the same spawn goes through.
    std::fs::remove_file(&ref_lock).expect("rm ref lock");
    std::fs::remove_file(&index_lock).expect("rm index.lock");
    assert_eq!(lab.spawn(), next);
}

/// Holds SQLite's write lock on the daemon's database from this (another) process until
/// dropped.
struct DbLock(rusqlite::Connection);

impl DbLock {
    fn take(db: &Path) -> Self {
        let conn = rusqlite::Connection::open(db).expect("open ao.db");
        conn.execute_batch("BEGIN EXCLUSIVE")
            .expect("take the write lock");
        Self(conn)
    }
}

impl Drop for DbLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

#[test]
fn the_database_locked_by_another_process_keeps_reads_serving_and_loses_nothing() {
    let lab = Lab::new();
    let id = lab.spawn();
    let hook = |event: &str| {
        lab.home
            .ao_env(&["hooks", "claude-code", event], &[("AO_SESSION_ID", &id)])
    };
    let spool = lab.home.path().join("data/hooks.spool");
    let lock = DbLock::take(&lab.home.path().join("data/ao.db"));

    // Reads keep working.
    let status = lab.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "ready");
    assert_eq!(lab.session_ids(), vec![id.clone()]);

    // Writes fail with a stable code once SQLite's busy timeout (or the 5 s call bound) is
    // over — never an internal error — and write nothing.
    let rename = lab.ao(&["session", "rename", &id, "renamed"]);
    fails_with(&rename, &["SERVICE_UNAVAILABLE", "REQUEST_TIMEOUT"]);
    if rename.stderr.contains("SERVICE_UNAVAILABLE") {
        assert!(rename.stderr.contains("database is locked"), "{rename:?}");
    }
    // A hook cannot be delivered in time: it exits 0 and spools the signal.
    let r = hook("user-prompt-submit");
    assert_eq!(r.code, 0, "{r:?}");
    let spooled = std::fs::read_to_string(&spool).unwrap_or_default();
    assert!(
        spooled.contains(&id) && spooled.contains("\"state\":\"active\""),
        "{spooled}"
    );
    // A spawn queued behind the hook's write gives up before its seed could be written…
    let spawn = lab.try_spawn();
    fails_with(&spawn, &["SERVICE_UNAVAILABLE", "REQUEST_TIMEOUT"]);

    drop(lock);
    // Writes work again once the queued ones are through.
    wait_for(Duration::from_secs(60), "a write to go through", || {
        (lab.ao(&["session", "rename", &id, "after"]).code == 0).then_some(())
    });
    // …and the seed, written once the lock was gone, did not outlive it (a live session that
    // never starts, holding its number until the next boot).
    assert_eq!(lab.session_ids(), vec![id.clone()]);

    // Nothing acknowledged or spooled is lost across a restart.
    lab.ao(&["stop"]).ok();
    lab.home.start();
    let s = lab.session(&id);
    assert_eq!(s["displayName"], "after");
    assert_eq!(s["isTerminated"], false);
    assert_eq!(s["activity"]["state"], "active", "{s}");
}
