//! Daemon-free behaviour of the real `ao` binary: help, usage errors and their exit codes,
//! completion, version, environment validation, the not-running and stale run-file paths, and
//! the doctor report shape. (Daemon-backed end-to-end tests live in the `tests` crate; this
//! file also makes `cargo test --workspace` build the `ao` binary they use.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const AO: &str = env!("CARGO_BIN_EXE_ao");

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn ao_home(&self) -> PathBuf {
        self.path().join("ao")
    }

    fn run_file(&self) -> PathBuf {
        self.ao_home().join("running.json")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(AO);
        c.args(args)
            .stdin(Stdio::null())
            .env("HOME", self.path())
            .env("AO_HOME", self.ao_home())
            .env("NO_COLOR", "1");
        for var in [
            "AO_RUN_FILE",
            "AO_DATA_DIR",
            "AO_PORT",
            "AO_REQUEST_TIMEOUT",
            "AO_SHUTDOWN_TIMEOUT",
            "AO_RUNTIME",
            "AO_TMUX_SOCKET",
            "AO_ALLOWED_ORIGINS",
            "AO_GITHUB_TOKEN",
            "GITHUB_TOKEN",
            "AO_SESSION_ID",
            "TMUX",
            "TMUX_PANE",
        ] {
            c.env_remove(var);
        }
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run ao")
    }

    /// Writes a run-file naming `pid` on a port where nothing listens.
    fn write_run_file(&self, pid: u32) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        self.write_run_file_on(pid, port);
    }

    fn write_run_file_on(&self, pid: u32, port: u16) {
        std::fs::create_dir_all(self.ao_home()).expect("mkdir");
        let rf = serde_json::json!({
            "pid": pid, "port": port, "token": "0".repeat(64),
            "startedAt": "2026-07-01T09:00:00.000Z", "version": "0.1.0",
            "home": self.ao_home(), "dataDir": self.ao_home().join("data"),
        });
        std::fs::write(self.run_file(), rf.to_string()).expect("write run-file");
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("spawn true");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

#[test]
fn help_lists_commands_and_hides_internal_ones() {
    let h = Home::new();
    let o = h.run(&["--help"]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    for cmd in [
        "start",
        "stop",
        "status",
        "doctor",
        "project",
        "spawn",
        "send",
        "attach",
        "session",
        "orchestrator",
        "events",
        "completion",
        "version",
    ] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "{cmd} missing from:\n{out}"
        );
    }
    for hidden in ["daemon", "hooks"] {
        assert!(
            !out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{hidden} "))),
            "{hidden} must be hidden:\n{out}"
        );
    }
    let o = h.run(&["project", "--help"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("set-config"));
}

#[test]
fn usage_errors_exit_2() {
    let h = Home::new();
    for args in [
        &["--bogus"][..],
        &["bogus"],
        &["status", "--bogus"],
        &["project", "add"],
        &["events", "--limit", "0"],
        &["start", "--timeout", "soon"],
        &["completion"],
        &["completion", "nope"],
        &["hooks", "codex"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
}

#[test]
fn completion_scripts() {
    let h = Home::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = h.run(&["completion", shell]);
        assert_eq!(code(&o), 0, "{shell}");
        assert!(!o.stdout.is_empty(), "{shell}");
    }
    let o = h.run(&["completion", "bash"]);
    let script = stdout(&o);
    assert!(script.contains("project"));
    assert!(!script.contains("hooks") && !script.contains("daemon"));
    // Completion needs no valid environment.
    let o = h
        .cmd(&["completion", "bash"])
        .env("AO_PORT", "notaport")
        .output()
        .expect("run");
    assert_eq!(code(&o), 0);
}

#[test]
fn hidden_hooks_command_exits_0_silently() {
    let h = Home::new();
    let o = h.run(&["hooks", "claude-code", "stop"]);
    assert_eq!(code(&o), 0);
    assert!(o.stdout.is_empty());
}

impl Home {
    fn data_dir(&self) -> PathBuf {
        self.ao_home().join("data")
    }

    /// Runs `ao hooks <agent> <event>` with `payload` on stdin and `AO_SESSION_ID=session`.
    fn hook(&self, agent: &str, event: &str, session: Option<&str>, payload: &str) -> Output {
        let mut c = self.cmd(&["hooks", agent, event]);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match session {
            Some(s) => c.env("AO_SESSION_ID", s),
            None => c.env_remove("AO_SESSION_ID"),
        };
        let mut child = c.spawn().expect("spawn ao hooks");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            // The command may exit before reading (bad session id): ignore a broken pipe.
            let _ = stdin.write_all(payload.as_bytes());
        }
        child.wait_with_output().expect("wait")
    }
}

#[test]
fn hooks_without_a_daemon_spool_the_signal_and_log_the_failure() {
    let h = Home::new();
    let started = std::time::Instant::now();
    let o = h.hook(
        "claude-code",
        "stop",
        Some("demo-1"),
        r#"{"session_id":"abc-123","hook_event_name":"Stop"}"#,
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "{}", stdout(&o));
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("not running"), "{}", stderr(&o));

    let spool = std::fs::read_to_string(h.data_dir().join("hooks.spool")).expect("spool");
    let lines: Vec<Value> = spool
        .lines()
        .map(|l| serde_json::from_str(l).expect("spool line is JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "{spool}");
    let e = &lines[0];
    assert_eq!(e["sessionId"], "demo-1");
    assert_eq!(e["agent"], "claude-code");
    assert_eq!(e["event"], "stop");
    assert_eq!(e["state"], "idle");
    assert_eq!(e["agentSessionId"], "abc-123");
    assert!(e["at"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");

    let log = std::fs::read_to_string(h.data_dir().join("hooks.log")).expect("hooks.log");
    let line = log.lines().next().expect("one line");
    let (ts, rest) = line.split_once(' ').expect("timestamp");
    assert!(ts.ends_with('Z') && ts.contains('T'), "{line}");
    assert!(
        rest.starts_with("session=demo-1 ao hooks claude-code stop: "),
        "{line}"
    );

    // A second signal appends; invalid JSON is an empty payload (only the state is sent).
    let o = h.hook("codex", "permission-request", Some("demo-1"), "{nope");
    assert_eq!(code(&o), 0);
    assert!(o.stdout.is_empty());
    let spool = std::fs::read_to_string(h.data_dir().join("hooks.spool")).expect("spool");
    let last: Value = serde_json::from_str(spool.lines().last().expect("line")).expect("json");
    assert_eq!(spool.lines().count(), 2);
    assert_eq!(last["state"], "waiting_input");
    assert!(last.get("agentSessionId").is_none(), "{last}");

    // A stale run-file counts as an unreachable daemon too.
    h.write_run_file(dead_pid());
    let o = h.hook("opencode", "user-prompt-submit", Some("demo-2"), "");
    assert_eq!(code(&o), 0);
    let spool = std::fs::read_to_string(h.data_dir().join("hooks.spool")).expect("spool");
    assert_eq!(spool.lines().count(), 3);
    assert!(stderr(&o).contains("stale run-file"), "{}", stderr(&o));
}

#[test]
fn a_spooled_signal_is_stamped_when_it_is_spooled_not_when_the_hook_started() {
    // A daemon that takes the connection and never answers: the post times out after 2 s and
    // the signal is spooled. Its `at` is that moment: everything the unreachable daemon applied
    // happened before it, which is what the boot replay's `at` rule compares against.
    let h = Home::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    h.write_run_file_on(std::process::id(), port);
    let before = ao_protocol::time::now();
    let o = h.hook("claude-code", "stop", Some("demo-1"), "{}");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    let spool = std::fs::read_to_string(h.data_dir().join("hooks.spool")).expect("spool");
    let line: Value = serde_json::from_str(spool.trim()).expect("one spool line");
    let at = ao_protocol::time::parse(line["at"].as_str().expect("at")).expect("a timestamp");
    let started = ao_protocol::time::parse(&before).expect("a timestamp");
    assert!(
        at - started >= chrono::Duration::milliseconds(1500),
        "stamped at {at}, the hook started at {started}"
    );
    drop(silent);
}

/// A stand-in daemon on 127.0.0.1 that answers every request with `status` and an error
/// envelope of `code`, for the rest of the test process. Returns its port.
fn answering(status: u16, code: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            // Read the whole request (head, then content-length bytes of body) before
            // answering: closing on unread bytes would reset the connection instead.
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let complete = |seen: &[u8]| {
                let text = String::from_utf8_lossy(seen);
                let Some(head_end) = text.find("\r\n\r\n") else {
                    return false;
                };
                let length = text[..head_end]
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                seen.len() >= head_end + 4 + length
            };
            while !complete(&seen) {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let body = format!(
                r#"{{"error":"x","code":"{code}","message":"stand-in says no","requestId":"r-1"}}"#
            );
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

#[test]
fn hooks_spool_what_a_daemon_that_cannot_write_refuses_and_only_that() {
    // Shutting down, or the database locked by another process: nothing was written, so the
    // signal goes to the spool (replayed by the next daemon or the next Reaper tick).
    for refusal in ["DAEMON_SHUTTING_DOWN", "SERVICE_UNAVAILABLE"] {
        let h = Home::new();
        h.write_run_file_on(std::process::id(), answering(503, refusal));
        let o = h.hook("claude-code", "stop", Some("demo-1"), "{}");
        assert_eq!(code(&o), 0, "{}", stderr(&o));
        assert!(stderr(&o).contains(refusal), "{refusal}: {}", stderr(&o));
        let spool = std::fs::read_to_string(h.data_dir().join("hooks.spool"))
            .unwrap_or_else(|e| panic!("{refusal}: no spool: {e}"));
        let line: Value = serde_json::from_str(spool.trim()).expect("one spool line");
        assert_eq!(line["state"], "idle", "{refusal}");
    }
    // A refusal about the signal itself (unknown session) is logged, never spooled: replaying
    // it could only be refused again.
    let h = Home::new();
    h.write_run_file_on(std::process::id(), answering(404, "SESSION_NOT_FOUND"));
    let o = h.hook("claude-code", "stop", Some("demo-1"), "{}");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("SESSION_NOT_FOUND"), "{}", stderr(&o));
    assert!(!h.data_dir().join("hooks.spool").exists());
    let log = std::fs::read_to_string(h.data_dir().join("hooks.log")).expect("hooks.log");
    assert!(log.contains("SESSION_NOT_FOUND"), "{log}");
}

#[test]
fn hooks_that_have_nothing_to_report_write_nothing() {
    let h = Home::new();
    for (agent, event, session) in [
        ("claude-code", "stop", None),
        ("claude-code", "stop", Some("")),
        ("claude-code", "stop", Some("bad id")),
        ("claude-code", "stop", Some("../x")),
        ("nope", "stop", Some("demo-1")),
        ("codex", "tool-use", Some("demo-1")),
        ("kimi", "stop", Some("demo-1")),
        // Known, but derives neither a state nor an agent session id.
        ("claude-code", "session-start", Some("demo-1")),
    ] {
        let o = h.hook(agent, event, session, "{}");
        assert_eq!(code(&o), 0, "{agent} {event} {session:?}");
        assert!(o.stdout.is_empty(), "{agent} {event}");
        assert!(o.stderr.is_empty(), "{agent} {event}: {}", stderr(&o));
    }
    assert!(!h.ao_home().exists(), "nothing may be written");
}

#[test]
fn hooks_with_a_wrong_environment_still_exit_0() {
    let h = Home::new();
    let o = h
        .cmd(&["hooks", "claude-code", "stop"])
        .env("AO_SESSION_ID", "demo-1")
        .env("AO_PORT", "notaport")
        .output()
        .expect("run");
    assert_eq!(code(&o), 0);
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("AO_PORT"), "{}", stderr(&o));
    assert!(!h.ao_home().exists());
    // Wrong argument counts are usage errors.
    for args in [&["hooks"][..], &["hooks", "a", "b", "c"]] {
        assert_eq!(code(&h.run(args)), 2, "{args:?}");
    }
}

#[test]
fn session_usage_errors_exit_2_without_a_daemon() {
    let h = Home::new();
    let file = h.path().join("msg.txt");
    std::fs::write(&file, " \n\t \n").expect("write");
    let file = file.display().to_string();
    for args in [
        &["send", "--session", "demo-1"][..],
        &["send", "--message", "hi"],
        &[
            "send",
            "--session",
            "demo-1",
            "--message",
            "hi",
            "--message-file",
            "-",
        ],
        &["send", "--session", "demo-1", "--message", "   "],
        &["send", "--session", "demo-1", "--message", ""],
        &["send", "--session", "demo-1", "--message-file", &file],
        &["spawn"],
        &["spawn", "--project", "demo", "--no-takeover"],
        &[
            "spawn",
            "--project",
            "demo",
            "--prompt",
            "a",
            "--prompt-file",
            "-",
        ],
        &["spawn", "--project", "demo", "--harness", "gpt"],
        &["orchestrator", "start"],
        &[
            "orchestrator",
            "start",
            "--project",
            "d",
            "--prompt",
            "a",
            "--prompt-file",
            "-",
        ],
        &["session", "rename", "demo-1", "  "],
        &["session", "rename", "demo-1"],
        &["session", "cleanup", "--json"],
        &["session", "get"],
        &["attach"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
        assert!(stderr(&o).contains("error"), "{args:?}: {}", stderr(&o));
    }
    // Valid requests get as far as looking for the daemon.
    for args in [
        &["send", "--session", "demo-1", "--message", "hi"][..],
        &["spawn", "--project", "demo", "--agent", "codex"],
        &[
            "spawn",
            "--project",
            "demo",
            "--claim-pr",
            "12",
            "--no-takeover",
        ],
        &["session", "ls"],
        &["session", "list", "-a", "--include-terminated"],
        &["session", "cleanup", "--json", "-y"],
        &["session", "kill", "demo-1", "-p", "demo"],
        &["orchestrator", "ls"],
        &["orchestrator", "start", "--project", "demo", "--clean"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "error: AO daemon is not running — start it with `ao start`\n",
            "{args:?}"
        );
    }
}

#[test]
fn attach_needs_a_terminal() {
    let h = Home::new();
    for args in [
        &["attach", "demo-1"][..],
        &["attach", "demo-1", "-p", "demo"],
        &["spawn", "--project", "demo", "--attach"],
        &["orchestrator", "start", "--project", "demo", "--attach"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert_eq!(
            stderr(&o),
            "error: ao attach needs a terminal\n",
            "{args:?}"
        );
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn version_forms() {
    let h = Home::new();
    let o = h.run(&["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("ao 0."), "{}", stdout(&o));
    let o = h.run(&["version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("ao 0."));
    let o = h.run(&["version", "--json"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let mut keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["buildDate", "commit", "version"]);
    assert!(stdout(&o).starts_with("{\n  \"version\": "));
    assert!(v["version"].is_string());
    assert!(v["commit"].is_null() || v["commit"].is_string());
    assert!(stdout(&o).ends_with("}\n"));
}

#[test]
fn invalid_environment_exits_1_naming_the_variable() {
    let h = Home::new();
    let o = h
        .cmd(&["status"])
        .env("AO_PORT", "notaport")
        .output()
        .expect("run");
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("AO_PORT"), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: "));
}

#[test]
fn status_without_daemon_is_stopped_and_exit_0() {
    let h = Home::new();
    let o = h.run(&["status"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "AO daemon: stopped\n  run-file: {}\n",
            h.run_file().display()
        )
    );
    let o = h.run(&["status", "--json"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["state"], "stopped");
    assert_eq!(v["pid"], Value::Null);
    assert_eq!(v["daemon"], Value::Null);
    assert_eq!(v["runFile"], h.run_file().display().to_string());
    assert!(stdout(&o).starts_with("{\n  \"state\": \"stopped\",\n"));
}

#[test]
fn commands_need_a_running_daemon() {
    let h = Home::new();
    for args in [
        &["project", "ls"][..],
        &["project", "get", "demo"],
        &["events"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 1, "{args:?}");
        assert_eq!(
            stderr(&o),
            "error: AO daemon is not running — start it with `ao start`\n",
            "{args:?}"
        );
        assert!(stdout(&o).is_empty());
    }
    let o = h.run(&["stop"]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), "AO daemon already stopped\n");
}

#[test]
fn stale_run_file() {
    let h = Home::new();
    h.write_run_file(dead_pid());
    let o = h.run(&["status"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).starts_with("AO daemon: stale (run-file points to a dead process)\n"),
        "{}",
        stdout(&o)
    );
    let o = h.run(&["project", "ls"]);
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        format!(
            "error: AO daemon is not running (stale run-file at {}) — start it with `ao start`\n",
            h.run_file().display()
        )
    );
    let o = h.run(&["stop"]);
    assert_eq!(code(&o), 0);
    assert_eq!(
        stdout(&o),
        "AO daemon already stopped (removed stale run-file)\n"
    );
    assert!(!h.run_file().exists());
}

#[test]
fn unhealthy_daemon_is_reported_and_not_signalled() {
    let h = Home::new();
    // Our own pid is alive, but nothing answers on the run-file's port.
    h.write_run_file(std::process::id());
    let o = h.run(&["status", "--json"]);
    assert_eq!(code(&o), 0);
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["state"], "unhealthy");
    assert_eq!(v["pid"], std::process::id());
    let o = h.run(&["stop"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not stopping it"), "{}", stderr(&o));
    let o = h.run(&["start", "--timeout", "1s"]);
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("holds the run-file but does not answer; stop it first"),
        "{}",
        stderr(&o)
    );
    // Removal needs confirmation, which a non-TTY stdin cannot give.
    let o = h.run(&["project", "rm", "demo"]);
    assert_eq!(code(&o), 1);
    assert_eq!(stderr(&o), "error: confirmation required; pass -y\n");
}

#[test]
fn set_config_usage_errors_exit_2_without_a_daemon() {
    let h = Home::new();
    for args in [
        &["project", "set-config", "demo"][..],
        &["project", "set-config", "demo", "--env", "NOEQUALS"],
        &["project", "set-config", "demo", "--env", "AO_X=1"],
        &["project", "set-config", "demo", "--config-json", "[1]"],
        &["project", "set-config", "demo", "--config-json", "{"],
        &["project", "set-config", "demo", "--clear", "--model", "m"],
        &["project", "set-config", "demo", "--replace", "--model", "m"],
        &["project", "set-config", "demo", "--runtime", "screen"],
        &["project", "set-config", "demo", "--permission", "yolo"],
    ] {
        let o = h.run(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error"), "{args:?}");
    }
    // A valid request gets as far as looking for the daemon.
    let o = h.run(&["project", "set-config", "demo", "--clear"]);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("not running"));
}

#[test]
fn doctor_json_shape_on_a_fresh_home() {
    let h = Home::new();
    let o = h.run(&["doctor", "--json"]);
    assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    let failures = v["failures"].as_u64().expect("failures");
    assert_eq!(v["ok"], failures == 0);
    assert_eq!(code(&o), i32::from(failures != 0));
    assert!(v["warnings"].as_u64().is_some());
    let checks = v["checks"].as_array().expect("checks");
    let find = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("check {name} missing"))
    };
    for c in checks {
        assert!(
            ["Core", "Tools", "Agents", "GitHub"].contains(&c["section"].as_str().expect("str"))
        );
        assert!(["pass", "warn", "fail"].contains(&c["level"].as_str().expect("str")));
        assert!(c["message"].is_string());
    }
    assert_eq!(find("config")["level"], "pass");
    assert_eq!(find("home")["level"], "warn");
    assert_eq!(find("run-file")["level"], "pass");
    assert_eq!(find("sqlite")["level"], "warn");
    assert_eq!(find("daemon")["level"], "pass");
    assert_eq!(find("daemon")["message"], "stopped");
    for name in [
        "git",
        "tmux",
        "zellij",
        "ao-binary",
        "claude-code",
        "codex",
        "opencode",
        "grok",
        "cursor",
        "qwen",
        "copilot",
        "kimi",
        "codex-launch-flags",
        "github-token",
    ] {
        find(name);
    }
    // Doctor never creates state.
    assert!(!h.ao_home().exists());

    let o = h
        .cmd(&["doctor"])
        .env("AO_PORT", "notaport")
        .output()
        .expect("run");
    assert_eq!(code(&o), 1);
    let out = stdout(&o);
    assert!(out.starts_with("Core\nFAIL config: "), "{out}");
    assert!(out.ends_with("1 failure(s), 0 warning(s)\n"), "{out}");
}
