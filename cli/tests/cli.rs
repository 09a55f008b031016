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
