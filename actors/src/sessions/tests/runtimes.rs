//! Two runtimes in one tree (sessions.md §14, adapters.md §3): each session row keeps the
//! runtime it was spawned with (the project's `config.runtime`, else `AO_RUNTIME`), and the
//! Reaper probes each kind with that runtime's own batch probe — with only tmux sessions, one
//! tmux process per tick and no zellij process at all.
//!
//! Both multiplexers are real; each is run through a wrapper script that logs its argv, so the
//! test sees exactly which processes the tree started. zellij must be installed (CI installs
//! it); without it this test fails with an explanation.

use std::path::Path;
use std::process::Command;

use ao_adapters::Zellij;

use super::*;

/// The zellij binary: on `PATH`, else `~/.cargo/bin/zellij`.
fn zellij_program() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("zellij"))
            .find(|p| p.is_file())
    });
    let cargo_bin = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/zellij"))
        .filter(|p| p.is_file());
    on_path.or(cargo_bin).unwrap_or_else(|| {
        panic!(
            "zellij is not installed: this test needs zellij >= 0.44.3 on PATH or in \
             ~/.cargo/bin (install it with `cargo install zellij --locked`; .ci/run does this)"
        )
    })
}

/// A script that appends its arguments to `log`, then runs `program` with them.
fn logging_wrapper(dir: &Path, name: &str, program: &Path, log: &Path) -> PathBuf {
    let wrapper = dir.join(name);
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            program.display()
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    wrapper
}

fn logged(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Kills this test's zellij sessions (its private socket directory) on drop.
struct ZellijCleanup {
    program: PathBuf,
    socket_dir: PathBuf,
    cache: PathBuf,
}

impl Drop for ZellijCleanup {
    fn drop(&mut self) {
        // Test-only cleanup: synchronous (Drop cannot await).
        let _ = Command::new(&self.program)
            .args(["kill-all-sessions", "--yes"])
            .env("ZELLIJ_SOCKET_DIR", &self.socket_dir)
            .env("XDG_CACHE_HOME", &self.cache)
            .output();
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

#[tokio::test]
async fn each_session_is_probed_by_the_runtime_it_was_spawned_in() {
    let zellij = zellij_program();
    let tmux = PathBuf::from(
        String::from_utf8_lossy(
            &Command::new("sh")
                .args(["-c", "command -v tmux"])
                .output()
                .expect("sh runs")
                .stdout,
        )
        .trim(),
    );
    let scratch = tempfile::tempdir().expect("tempdir");
    let (tmux_log, zellij_log) = (
        scratch.path().join("tmux.log"),
        scratch.path().join("zellij.log"),
    );
    let tmux_wrapper = logging_wrapper(scratch.path(), "tmux", &tmux, &tmux_log);
    let zellij_wrapper = logging_wrapper(scratch.path(), "zellij", &zellij, &zellij_log);
    let cache = scratch.path().join("cache");
    // Another test thread may fork while a wrapper's write fd is open ("text file busy").
    for wrapper in [&tmux_wrapper, &zellij_wrapper] {
        eventually("the wrapper to be executable", || async {
            process::run(&process::Cmd::new(wrapper.to_string_lossy()).arg("-V"))
                .await
                .ok()
        })
        .await;
    }

    let mut socket_dir = PathBuf::new();
    let fx = start_with(|cfg| {
        let z = Zellij::new(&cfg.home, &cfg.data_dir)
            .with_program(zellij_wrapper.to_string_lossy())
            .with_env("XDG_CACHE_HOME", cache.to_string_lossy());
        socket_dir = z.socket_dir().to_path_buf();
        let t = Tmux::new(&cfg.tmux_socket, &cfg.home, &cfg.data_dir)
            .with_program(tmux_wrapper.to_string_lossy());
        cfg.runtimes = vec![Arc::new(t), Arc::new(z)];
    })
    .await;
    let _zellij_sessions = ZellijCleanup {
        program: zellij.clone(),
        socket_dir,
        cache: cache.clone(),
    };
    fx.project("tm", json!({})).await;
    fx.project("zj", json!({ "runtime": "zellij" })).await;

    // Only tmux sessions: every Reaper tick is one `tmux list-panes -a`, and zellij never runs.
    let zellij_calls_before = logged(&zellij_log).len();
    let alive = fx
        .tree
        .sessions
        .spawn(cmd_spawn("tm", "sleep 120"))
        .await
        .expect("spawn in tmux");
    let from = logged(&tmux_log).len();
    let ticks = eventually("five reaper ticks", || async {
        let calls = logged(&tmux_log);
        (calls.len() >= from + 5).then(|| calls[from..].to_vec())
    })
    .await;
    assert!(
        ticks.iter().all(|c| c.contains("list-panes -a -F")),
        "{ticks:#?}"
    );
    assert_eq!(
        logged(&zellij_log).len(),
        zellij_calls_before,
        "no zellij process while no session uses zellij"
    );

    // A zellij session and another tmux session that both exit: each exit is seen by the
    // session's own runtime, with its code.
    let in_zellij = fx
        .tree
        .sessions
        .spawn(cmd_spawn("zj", "echo in-zellij; sleep 3; exit 4"))
        .await
        .expect("spawn in zellij");
    let in_tmux = fx
        .tree
        .sessions
        .spawn(cmd_spawn("tm", "sleep 3; exit 3"))
        .await
        .expect("spawn in tmux");
    let z = fx.row(&in_zellij).await.expect("row");
    assert_eq!(z.runtime, RuntimeKind::Zellij);
    assert_eq!(z.runtime_handle_id, "zj-1");
    let t = fx.row(&in_tmux).await.expect("row");
    assert_eq!(t.runtime, RuntimeKind::Tmux);
    assert!(fx.has_session(in_tmux.as_str()).await);
    assert!(
        !fx.has_session("zj-1").await,
        "the zellij session is not on the tmux server"
    );

    let z = fx
        .wait_row(&in_zellij, "the zellij exit", |r| r.is_terminated)
        .await;
    assert_eq!(z.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(z.exit_code, Some(4));
    let t = fx
        .wait_row(&in_tmux, "the tmux exit", |r| r.is_terminated)
        .await;
    assert_eq!(t.terminated_reason, Some(TerminatedReason::AgentExited));
    assert_eq!(t.exit_code, Some(3));
    let a = fx.row(&alive).await.expect("row");
    assert!(!a.is_terminated, "the other tmux session still runs");

    // Neither runtime was ever asked about the other's sessions.
    assert!(
        logged(&tmux_log).iter().all(|c| !c.contains("zj-1")),
        "tmux was asked about a zellij session"
    );
    let zellij_calls = logged(&zellij_log);
    assert!(
        zellij_calls
            .iter()
            .any(|c| c == "list-sessions --no-formatting"),
        "{zellij_calls:#?}"
    );
    assert!(
        zellij_calls.iter().all(|c| !c.contains("tm-")),
        "zellij was asked about a tmux session: {zellij_calls:#?}"
    );
}

#[tokio::test]
async fn a_zellij_project_without_zellij_fails_the_spawn_with_runtime_error_and_rolls_back() {
    let fx = start_with(|cfg| {
        let tmux = Tmux::new(&cfg.tmux_socket, &cfg.home, &cfg.data_dir);
        let zellij = Zellij::new(&cfg.home, &cfg.data_dir).with_program("ao-no-such-zellij");
        cfg.runtimes = vec![Arc::new(tmux), Arc::new(zellij)];
    })
    .await;
    fx.project("zj", json!({ "runtime": "zellij" })).await;
    let r = fx.tree.sessions.spawn(cmd_spawn("zj", "sleep 60")).await;
    let err = r.expect_err("zellij is missing");
    assert_eq!(err.code(), ErrorCode::RuntimeError);
    assert!(
        err.to_string()
            .contains("ao-no-such-zellij is not installed"),
        "{err}"
    );
    // Rollback T: the row stays, terminated; no worktree is left.
    let id = sid("zj-1");
    let row = fx.row(&id).await.expect("the row stays, terminated");
    assert!(row.is_terminated);
    assert_eq!(row.terminated_reason, Some(TerminatedReason::SpawnFailed));
    assert_eq!(row.runtime, RuntimeKind::Zellij);
    assert_eq!(row.workspace_path, "");
    assert!(!fx.worktree("zj", "zj-1").exists());

    // The daemon's tmux projects are not affected.
    fx.project("tm", json!({})).await;
    let t = fx
        .tree
        .sessions
        .spawn(cmd_spawn("tm", "sleep 60"))
        .await
        .expect("a tmux spawn still works");
    assert!(fx.has_session(t.as_str()).await);
}
