//! `ao start` / `status` / `stop`, crash recovery after `kill -9`.

use std::time::Duration;

use ao_tests::{Home, git_repo, pid_alive, wait_for};

#[test]
fn start_status_start_again_stop() {
    let home = Home::new();
    let before = home.ao(&["status"]);
    assert_eq!(before.code, 0);
    assert!(
        before.stdout.starts_with("AO daemon: stopped"),
        "{}",
        before.stdout
    );

    let start = home.ao(&["start"]);
    start.ok();
    assert!(
        start.stdout.contains("AO daemon ready (pid "),
        "{}",
        start.stdout
    );
    let rf = home.run_file_contents().expect("run-file written");
    assert_eq!(rf.token.len(), 64);
    assert!(
        rf.token
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let status = home.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "ready");
    assert_eq!(status["pid"], rf.pid);
    assert_eq!(status["port"], rf.port);
    assert_eq!(status["daemon"]["projects"], 0);
    let text = home.ao(&["status"]);
    assert!(text.ok().starts_with("AO daemon: ready"), "{}", text.stdout);

    // Starting twice is harmless: same daemon, exit 0.
    let again = home.ao(&["start"]);
    again.ok();
    assert_eq!(home.run_file_contents().expect("still running").pid, rf.pid);

    let stop = home.ao(&["stop"]);
    assert!(stop.ok().contains("AO daemon stopped"), "{}", stop.stdout);
    assert!(!pid_alive(rf.pid), "daemon process is gone after ao stop");
    assert!(!home.run_file().exists(), "run-file removed on clean stop");
    let status = home.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "stopped");

    let stop_again = home.ao(&["stop"]);
    assert!(
        stop_again.ok().contains("AO daemon already stopped"),
        "{}",
        stop_again.stdout
    );
}

#[test]
fn kill_9_leaves_stale_state_and_start_recovers_everything() {
    let home = Home::new();
    let repo = git_repo(&home.scratch(), "survivor");
    let rf = home.start();
    home.ao(&[
        "project",
        "add",
        "--path",
        repo.to_str().expect("utf-8 path"),
    ])
    .ok();

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(rf.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the daemon");
    wait_for(Duration::from_secs(10), "the daemon to die", || {
        (!pid_alive(rf.pid)).then_some(())
    });

    let status = home.ao(&["status", "--json"]).json();
    assert_eq!(status["state"], "stale", "{status}");
    let text = home.ao(&["status"]);
    assert!(text.ok().starts_with("AO daemon: stale"), "{}", text.stdout);
    let ls = home.ao(&["project", "ls"]);
    assert_eq!(ls.code, 1);
    assert!(ls.stderr.contains("stale run-file"), "{}", ls.stderr);

    let rf2 = home.start();
    assert_ne!(rf2.pid, rf.pid);
    assert_ne!(rf2.token, rf.token, "a new token on every start");
    let projects = home.ao(&["project", "ls", "--json"]).json();
    let ids: Vec<_> = projects["projects"]
        .as_array()
        .expect("projects array")
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(ids, ["survivor"]);
}

#[test]
fn daemon_startup_failure_is_reported_by_start() {
    let mut home = Home::new();
    home.env("AO_LOG", "not a [valid filter");
    let r = home.ao(&["start", "--timeout", "20s"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains("daemon exited with status"),
        "{}",
        r.stderr
    );
}
