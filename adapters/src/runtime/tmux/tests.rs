//! Tests against a real tmux (≥ 3.0). Each test owns a private server on a unique socket
//! (`ao-test-<pid>-<n>`) that its [`Server`] guard kills on drop, so tests never touch the
//! user's tmux or each other.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use ao_protocol::SessionId;

use super::*;
use crate::process::{Output, ProcessError};
use crate::runtime::conformance::eventually;
use crate::runtime::{LaunchSpec, runtime_name};

static NEXT_SOCKET: AtomicU32 = AtomicU32::new(0);

/// A private tmux server for one test, killed (and its socket file removed) on drop.
struct Server {
    tmux: Tmux,
    dir: tempfile::TempDir,
}

impl Server {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = format!(
            "ao-test-{}-{}",
            std::process::id(),
            NEXT_SOCKET.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Tmux::new(socket, dir.path().join("home"), dir.path().join("data"));
        tmux.write_conf().expect("tmux.conf is written");
        Self { tmux, dir }
    }

    /// Another daemon (a different `AO_HOME`) using the same tmux server.
    fn other_home(&self) -> Tmux {
        Tmux::new(
            self.tmux.socket(),
            self.dir.path().join("other-home"),
            self.dir.path().join("other-data"),
        )
    }

    fn workdir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn spec(&self, id: &str, script: &str) -> CreateSpec {
        CreateSpec {
            name: runtime_name(id),
            session_id: SessionId::parse(id).expect("valid session id"),
            cwd: self.workdir(),
            launch: LaunchSpec {
                argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
                env: BTreeMap::from([(
                    "PATH".to_string(),
                    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
                )]),
            },
        }
    }

    async fn create(&self, id: &str, script: &str) -> Result<(), RuntimeError> {
        self.tmux.create(&self.spec(id, script)).await
    }

    /// Runs a raw tmux command on this server (test set-up only).
    async fn raw(&self, args: &[&str]) -> Output {
        process::run_unchecked(&self.tmux.cmd().args(args))
            .await
            .expect("tmux runs")
    }
}

fn target(id: &str) -> ProbeTarget {
    ProbeTarget {
        name: runtime_name(id),
        session_id: SessionId::parse(id).expect("valid session id"),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Test-only cleanup: a synchronous `tmux kill-server` (Drop cannot await).
        let _ = std::process::Command::new("tmux")
            .args(["-L", self.tmux.socket(), "kill-server"])
            .output();
        // tmux 3.3a leaves its socket file behind.
        if let Ok(meta) = self.dir.path().metadata() {
            let base = std::env::var_os("TMUX_TMPDIR").map_or_else(|| "/tmp".into(), PathBuf::from);
            let _ = std::fs::remove_file(
                base.join(format!("tmux-{}", meta.uid()))
                    .join(self.tmux.socket()),
            );
        }
    }
}

#[tokio::test]
async fn create_then_probe_alive_through_the_port() {
    let s = Server::new();
    let runtime: Arc<dyn Runtime> = Arc::new(s.tmux.clone());
    assert_eq!(runtime.kind(), RuntimeKind::Tmux);
    runtime.prepare().await.expect("prepare without a server");

    let spec = s.spec("demo-1", "echo started; sleep 60");
    runtime.create(&spec).await.expect("created");
    assert_eq!(runtime.probe_one(&target("demo-1")).await, Probe::Alive);
    let all = runtime
        .probe_all(&[target("demo-1"), target("demo-2")])
        .await;
    assert_eq!(all.len(), 2);
    assert_eq!(all["demo-1"], Probe::Alive);
    assert_eq!(all["demo-2"], Probe::Missing);

    // The session is tagged, and its options are the ones adapters.md §2.2 sets.
    let tagged = runtime.list_orphans().await.expect("list");
    assert_eq!(
        tagged,
        vec![TaggedSession {
            name: "demo-1".into(),
            session_id: "demo-1".into()
        }]
    );
    let opts = s.raw(&["show-options", "-t", "=demo-1:", "status"]).await;
    assert_eq!(opts.stdout.trim(), "status off");
    let opts = s.raw(&["show-options", "-t", "=demo-1:", "mouse"]).await;
    assert_eq!(opts.stdout.trim(), "mouse on");

    // The pane runs in the requested directory.
    let pane = s
        .raw(&[
            "display-message",
            "-p",
            "-t",
            "=demo-1:",
            "#{pane_current_path}",
        ])
        .await;
    assert_eq!(
        Path::new(pane.stdout.trim()),
        s.workdir().canonicalize().expect("canonical")
    );
    let out = eventually("the agent's output", || async {
        let text = s.tmux.capture("demo-1", 10).await.expect("capture");
        text.contains("started").then_some(text)
    })
    .await;
    assert_eq!(out, "started");
}

#[tokio::test]
async fn an_agent_exiting_with_3_is_probed_as_exited_3_and_the_pane_is_kept() {
    let s = Server::new();
    let go = s.workdir().join("go");
    let script = format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done; echo bye; exit 3",
        go.display()
    );
    s.create("demo-1", &script).await.expect("created");
    assert_eq!(s.tmux.probe_one(&target("demo-1")).await, Probe::Alive);

    std::fs::write(&go, "").expect("signal the agent");
    let probe = eventually("the agent to exit", || async {
        let all = s.tmux.probe_all(&[target("demo-1")]).await;
        (all["demo-1"] != Probe::Alive).then_some(all["demo-1"])
    })
    .await;
    assert_eq!(probe, Probe::Exited(Some(3)));
    assert_eq!(
        s.tmux.probe_one(&target("demo-1")).await,
        Probe::Exited(Some(3))
    );
    // The launch string recorded the status too.
    let status_file = exit_status_path(
        s.tmux.data_dir(),
        &SessionId::parse("demo-1").expect("valid"),
    );
    assert_eq!(read_exit_status(&status_file), Some(3));
    // remain-on-exit keeps the dead pane readable.
    let text = s.tmux.capture("demo-1", 40).await.expect("capture");
    assert!(text.lines().any(|l| l == "bye"), "{text}");
}

#[tokio::test]
async fn an_early_exit_fails_create_with_code_and_tail_and_destroys_the_session() {
    let s = Server::new();
    let err = s
        .create("demo-1", "echo first line; echo boom-output; exit 7")
        .await
        .expect_err("the agent exits at once");
    assert_eq!(err.code(), ao_protocol::ErrorCode::AgentExitedEarly);
    let RuntimeError::AgentExitedEarly {
        exit_code,
        output_tail,
    } = err
    else {
        panic!("expected AgentExitedEarly, got {err:?}");
    };
    assert_eq!(exit_code, Some(7));
    assert_eq!(output_tail, "first line\nboom-output");
    // The server exits with its last session; until it is gone a probe may be unknown.
    eventually("the session to be gone", || async {
        (s.tmux.probe_one(&target("demo-1")).await == Probe::Missing).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_session_that_vanishes_during_create_exited_before_ready() {
    let s = Server::new();
    // Another session keeps the server up once demo-1 is gone, so the probe reaches it.
    s.create("demo-9", "sleep 60").await.expect("created");
    let sock = s.tmux.socket().to_string();
    // The agent waits until create has tagged the session, then kills its own session.
    let script = format!(
        "until [ -n \"$(tmux -L {sock} show-options -qv -t =demo-1: @ao_home)\" ]; do sleep 0.02; done; \
         tmux -L {sock} kill-session -t =demo-1; sleep 5"
    );
    let err = s.create("demo-1", &script).await.expect_err("vanished");
    assert_eq!(
        err,
        RuntimeError::ExitedBeforeReady {
            name: "demo-1".into()
        }
    );
    assert_eq!(err.code(), ao_protocol::ErrorCode::RuntimeError);
}

#[tokio::test]
async fn absent_sessions_are_missing_on_a_running_server() {
    let s = Server::new();
    s.create("demo-1", "sleep 60").await.expect("created");
    assert_eq!(s.tmux.probe_one(&target("demo-7")).await, Probe::Missing);
    let all = s
        .tmux
        .probe_all(&[target("demo-7"), target("demo-1")])
        .await;
    assert_eq!(all["demo-7"], Probe::Missing);
    assert_eq!(all["demo-1"], Probe::Alive);
}

#[tokio::test]
async fn without_a_server_everything_is_missing_and_destroy_succeeds() {
    let s = Server::new();
    let all = s
        .tmux
        .probe_all(&[target("demo-1"), target("demo-2")])
        .await;
    assert_eq!(
        all,
        HashMap::from([
            ("demo-1".to_string(), Probe::Missing),
            ("demo-2".to_string(), Probe::Missing)
        ])
    );
    assert_eq!(s.tmux.probe_one(&target("demo-1")).await, Probe::Missing);
    s.tmux.destroy("demo-1").await.expect("nothing to destroy");
    assert_eq!(s.tmux.list_orphans().await.expect("list"), vec![]);
    assert!(
        !s.tmux
            .ensure_server_option()
            .await
            .expect("no server is fine")
    );
    assert!(s.tmux.probe_all(&[]).await.is_empty());
}

#[tokio::test]
async fn a_failing_probe_is_unknown_never_missing() {
    let s = Server::new();
    // `false` exits 1 without "no server running": any other failure means unknown.
    let broken = s.tmux.clone().with_program("false");
    let all = broken
        .probe_all(&[target("demo-1"), target("demo-2")])
        .await;
    assert!(all.values().all(|p| *p == Probe::Unknown), "{all:?}");
    assert_eq!(broken.probe_one(&target("demo-1")).await, Probe::Unknown);
    let missing = s.tmux.clone().with_program("ao-no-such-tmux-binary");
    assert_eq!(
        missing.probe_all(&[target("demo-1")]).await["demo-1"],
        Probe::Unknown
    );
    assert!(matches!(
        missing.destroy("demo-1").await,
        Err(RuntimeError::Command(ProcessError::NotInstalled { .. }))
    ));
}

#[tokio::test]
async fn probe_all_runs_exactly_one_tmux_process() {
    let s = Server::new();
    // A wrapper that logs each invocation, then runs the real tmux.
    let log = s.workdir().join("calls.log");
    let wrapper = s.workdir().join("tmux-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec tmux \"$@\"\n",
            log.display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let tmux = s
        .tmux
        .clone()
        .with_program(wrapper.to_string_lossy().into_owned());
    // Another test thread may fork while our write fd is open ("text file busy"): retry.
    eventually("the wrapper to be executable", || async {
        process::run(&Cmd::new(&tmux.program).arg("-V")).await.ok()
    })
    .await;

    for id in ["demo-1", "demo-2", "demo-3"] {
        tmux.create(&s.spec(id, "sleep 60")).await.expect("created");
    }
    let calls = |log: &Path| {
        std::fs::read_to_string(log)
            .expect("log")
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let before = calls(&log).len();
    let all = tmux
        .probe_all(&[
            target("demo-1"),
            target("demo-2"),
            target("demo-3"),
            target("demo-4"),
        ])
        .await;
    let after = calls(&log);
    assert_eq!(after.len(), before + 1, "{after:?}");
    assert!(
        after[before].contains("list-panes -a -F"),
        "{}",
        after[before]
    );
    assert_eq!(all.len(), 4);
    assert_eq!(all.values().filter(|p| **p == Probe::Alive).count(), 3);
    assert_eq!(all["demo-4"], Probe::Missing);
}

#[tokio::test]
async fn send_delivers_a_multi_line_text_as_one_paste_then_enter() {
    let s = Server::new();
    s.create("demo-1", "while IFS= read -r l; do echo \"got:$l\"; done")
        .await
        .expect("created");
    s.tmux
        .send("demo-1", "  one\r\ntwo\u{1b}[201~ \n")
        .await
        .expect("sent");
    let got = eventually("both lines to be read", || async {
        let text = s.tmux.capture("demo-1", 50).await.expect("capture");
        // The terminal echo of the pasted text may precede a reply on the same row.
        let got: Vec<String> = text
            .lines()
            .filter_map(|l| l.find("got:").map(|i| l[i..].to_string()))
            .collect();
        (got.len() >= 2).then_some(got)
    })
    .await;
    // ESC was stripped, the outer whitespace trimmed, and one Enter ended the last line.
    assert_eq!(got, ["got:one", "got:two[201~"]);
    // The buffer was deleted after pasting.
    let buffers = s.raw(&["list-buffers", "-F", "#{buffer_name}"]).await;
    assert!(!buffers.stdout.contains("ao-demo-1"), "{}", buffers.stdout);

    assert_eq!(
        s.tmux.send("demo-1", "\u{1b}\r\n ").await,
        Err(RuntimeError::EmptyText)
    );
}

#[tokio::test]
async fn send_uses_bracketed_paste_when_the_agent_enabled_it() {
    let s = Server::new();
    // The agent turns on bracketed-paste mode and shows raw input bytes (`cat -v`).
    s.create(
        "demo-1",
        "printf '\\033[?2004h'; stty -icanon -echo; echo READY; exec cat -v",
    )
    .await
    .expect("created");
    eventually("the agent to be ready", || async {
        let text = s.tmux.capture("demo-1", 50).await.expect("capture");
        text.contains("READY").then_some(())
    })
    .await;
    s.tmux.send("demo-1", "one\ntwo").await.expect("sent");
    let text = eventually("the paste to arrive", || async {
        let text = s.tmux.capture("demo-1", 50).await.expect("capture");
        text.contains("[201~").then_some(text)
    })
    .await;
    assert_eq!(text.matches("^[[200~").count(), 1, "{text}");
    assert!(text.contains("^[[200~one\ntwo^[[201~"), "{text}");
}

#[tokio::test]
async fn send_enter_through_the_port_submits_the_pending_input() {
    let s = Server::new();
    s.create("demo-1", "while IFS= read -r l; do echo \"got:[$l]\"; done")
        .await
        .expect("created");
    let runtime: Arc<dyn Runtime> = Arc::new(s.tmux.clone());
    // A delivery whose Enter was swallowed: the text sits on the agent's input line.
    let typed = s
        .raw(&["send-keys", "-t", "=demo-1:", "-l", "pending"])
        .await;
    assert!(typed.success(), "{}", typed.stderr);
    runtime.send_enter("demo-1").await.expect("Enter sent");
    eventually("the pending line to be submitted", || async {
        let text = s.tmux.capture("demo-1", 50).await.expect("capture");
        text.contains("got:[pending]").then_some(())
    })
    .await;
    // A second Enter submits an empty line: exactly one key press, no text.
    runtime.send_enter("demo-1").await.expect("Enter sent");
    eventually("an empty line to be submitted", || async {
        let text = s.tmux.capture("demo-1", 50).await.expect("capture");
        text.contains("got:[]").then_some(())
    })
    .await;
    let text = s.tmux.capture("demo-1", 50).await.expect("capture");
    assert_eq!(text.matches("got:[pending]").count(), 1, "{text}");

    assert!(
        runtime.send_enter("never-existed").await.is_err(),
        "an absent session is an error"
    );
}

#[tokio::test]
async fn destroy_is_idempotent() {
    let s = Server::new();
    s.create("demo-1", "sleep 60").await.expect("created");
    s.create("demo-2", "sleep 60").await.expect("created");
    s.tmux.destroy("demo-1").await.expect("destroyed");
    s.tmux
        .destroy("demo-1")
        .await
        .expect("already gone is success");
    s.tmux
        .destroy("never-existed")
        .await
        .expect("absent is success");
    let all = s
        .tmux
        .probe_all(&[target("demo-1"), target("demo-2")])
        .await;
    assert_eq!(all["demo-1"], Probe::Missing);
    assert_eq!(all["demo-2"], Probe::Alive);
    // The last session: the server exits with it, and destroy still succeeds.
    s.tmux.destroy("demo-2").await.expect("destroyed");
    s.tmux
        .destroy("demo-2")
        .await
        .expect("no server is success");
}

#[tokio::test]
async fn orphan_listing_only_returns_sessions_of_this_ao_home() {
    let s = Server::new();
    let other = s.other_home();
    s.create("demo-1", "sleep 60").await.expect("created");
    s.create("my.proj-2", "sleep 60").await.expect("created");
    other
        .create(&s.spec("demo-9", "sleep 60"))
        .await
        .expect("created by another AO_HOME");
    // A session without tags (not created by ao).
    let plain = s
        .raw(&["new-session", "-d", "-s", "foreign", "sleep", "60"])
        .await;
    assert!(plain.success(), "{}", plain.stderr);

    let mut mine = s.tmux.list_orphans().await.expect("list");
    mine.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        mine,
        vec![
            TaggedSession {
                name: "demo-1".into(),
                session_id: "demo-1".into()
            },
            TaggedSession {
                name: runtime_name("my.proj-2"),
                session_id: "my.proj-2".into()
            },
        ]
    );
    assert_eq!(
        other.list_orphans().await.expect("list"),
        vec![TaggedSession {
            name: "demo-9".into(),
            session_id: "demo-9".into()
        }]
    );
}

#[tokio::test]
async fn capture_keeps_the_last_lines_without_trailing_blanks() {
    let s = Server::new();
    s.create("demo-1", "seq 1 60; sleep 60")
        .await
        .expect("created");
    let text = eventually("the output", || async {
        let text = s.tmux.capture("demo-1", 5).await.expect("capture");
        text.ends_with("60").then_some(text)
    })
    .await;
    assert_eq!(text, "56\n57\n58\n59\n60");
    assert_eq!(s.tmux.capture("demo-1", 0).await.expect("capture"), "");
    assert!(matches!(
        s.tmux.capture("demo-2", 5).await,
        Err(RuntimeError::Command(ProcessError::Failed { .. }))
    ));
}

#[tokio::test]
async fn conf_and_the_server_option() {
    let s = Server::new();
    let conf = std::fs::read_to_string(s.tmux.conf_path()).expect("conf");
    assert_eq!(
        conf,
        "# generated by ao at daemon start; edits are overwritten\n\
         source-file -q ~/.tmux.conf\n\
         set-option -g remain-on-exit on\n\
         set-option -g history-limit 50000\n"
    );
    s.create("demo-1", "sleep 60").await.expect("created");
    let history = s.raw(&["show-options", "-gv", "history-limit"]).await;
    assert_eq!(history.stdout.trim(), "50000");

    let off = s.raw(&["set-option", "-g", "remain-on-exit", "off"]).await;
    assert!(off.success(), "{}", off.stderr);
    assert!(s.tmux.ensure_server_option().await.expect("server runs"));
    let on = s.raw(&["show-options", "-gv", "remain-on-exit"]).await;
    assert_eq!(on.stdout.trim(), "on");
}

#[test]
fn attach_argv_is_exact() {
    let tmux = Tmux::new("ao", "/h", "/h/data");
    assert_eq!(
        tmux.attach_argv("demo-1"),
        [
            "tmux",
            "-L",
            "ao",
            "-f",
            "/h/tmux.conf",
            "attach-session",
            "-t",
            "=demo-1"
        ]
    );
    let spec = Runtime::attach(&tmux, "demo-1");
    assert!(spec.env.is_empty());
}

#[test]
fn classification_falls_back_to_the_exit_status_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new("ao", dir.path(), dir.path());
    // A dead pane with an empty pane_dead_status (the agent stayed a zombie).
    let panes = parse_panes("demo-9\t1\t\t123\n");
    assert_eq!(
        tmux.classify(&panes, &target("demo-9")),
        Probe::Exited(None)
    );
    let file = exit_status_path(dir.path(), &SessionId::parse("demo-9").expect("valid"));
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, "42").expect("write");
    assert_eq!(
        tmux.classify(&panes, &target("demo-9")),
        Probe::Exited(Some(42))
    );

    // Any live pane makes the session alive; the first pane's status wins otherwise.
    let panes = parse_panes("a-1\t1\t3\t1\na-1\t0\t\t2\nb-1\t1\t4\t3\nb-1\t1\t5\t4\nbad line\n");
    assert_eq!(tmux.classify(&panes, &target("a-1")), Probe::Alive);
    assert_eq!(
        tmux.classify(&panes, &target("b-1")),
        Probe::Exited(Some(4))
    );
    assert_eq!(tmux.classify(&panes, &target("c-1")), Probe::Missing);
}

#[test]
fn dead_pane_tail_drops_the_banner_and_the_gap() {
    let screen = "a\nb\n\n\n\nPane is dead (status 7, Sat Nov 21 11:15:45 2026)\n\n";
    assert_eq!(dead_pane_tail(screen, 40), "a\nb");
    assert_eq!(dead_pane_tail(screen, 1), "b");
    assert_eq!(dead_pane_tail("x\ny\n", 5), "x\ny");
    assert_eq!(
        last_lines(screen, 2),
        "b\nPane is dead (status 7, Sat Nov 21 11:15:45 2026)"
    );
}

#[test]
fn last_lines_trims_trailing_blanks() {
    assert_eq!(last_lines("a\nb\nc\n\n  \n", 2), "b\nc");
    assert_eq!(last_lines("a\n", 5), "a");
    assert_eq!(last_lines("\n\n", 3), "");
}

#[tokio::test]
async fn a_daemon_killed_after_the_first_tmux_call_of_create_leaves_a_tagged_session() {
    // SIGKILL can hit the daemon while `create` runs; the tmux client it started still
    // finishes, nothing after it does. A wrapper runs the real tmux for the first call only
    // and fails every later one, like a dead daemon: whatever the first call left must carry
    // this AO_HOME's tag, or boot reconcile could never recognise it as an orphan
    // (sessions.md §17 f).
    let s = Server::new();
    let marker = s.workdir().join("first-call-done");
    let wrapper = s.workdir().join("tmux-once");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ -e '{m}' ]; then exit 1; fi\n: > '{m}'\nexec tmux \"$@\"\n",
            m = marker.display()
        ),
    )
    .expect("write wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let once = s
        .tmux
        .clone()
        .with_program(wrapper.to_string_lossy().into_owned());
    // Another test thread may fork while our write fd is open ("text file busy"): retry.
    eventually("the wrapper to be executable", || async {
        let out = process::run_unchecked(&Cmd::new(&once.program).arg("-V")).await;
        let _ = std::fs::remove_file(&marker);
        out.ok().filter(Output::success)
    })
    .await;

    // The outcome of `create` itself does not matter here (the daemon is gone).
    let _ = once.create(&s.spec("demo-1", "sleep 60")).await;
    assert!(marker.exists(), "the first tmux call ran");
    let orphans = s.tmux.list_orphans().await.expect("list");
    assert_eq!(
        orphans,
        vec![TaggedSession {
            name: "demo-1".into(),
            session_id: "demo-1".into()
        }],
        "the session exists only with its tags"
    );
}
