//! The fake agent itself (`fake-agent`, symlinked as `claude`/`codex`/`opencode`): it must read
//! the hook configuration the real agents read, fire those hooks in order with realistic
//! payloads, take a tmux bracketed paste + Enter as ONE message, and exit with the scripted
//! status — otherwise the session tests would prove nothing.
//!
//! Claude runs in a private tmux server (`tmux -L ao-fake-test-<pid>-<n>`, killed on drop);
//! codex and opencode run on a pipe (the parser is the same; a pipe has no TTY).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ao_tests::wait_for;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

fn fake_agent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
}

/// A temp dir with `bin/<persona>` symlinks to the fake agent.
struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ao-fake-")
            .tempdir()
            .expect("create a temp dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir bin");
        for name in ["claude", "codex", "opencode"] {
            std::os::unix::fs::symlink(fake_agent(), bin.join(name)).expect("symlink");
        }
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().canonicalize().expect("temp dir resolves")
    }

    fn bin(&self, persona: &str) -> PathBuf {
        self.path().join("bin").join(persona)
    }

    /// Every JSON line of `file` in this lab.
    fn lines(&self, file: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path().join(file))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{file}: {e}: {l}")))
            .collect()
    }

    /// `FAKE_AGENT_LOG` entries carrying `key`.
    fn log(&self, key: &str) -> Vec<Value> {
        self.lines("log.jsonl")
            .into_iter()
            .filter(|e| e.get(key).is_some())
            .collect()
    }

    /// Waits until `file` has at least `n` JSON lines; returns them all.
    fn wait_lines(&self, file: &str, n: usize) -> Vec<Value> {
        wait_for(DEADLINE, &format!("{n} lines in {file}"), || {
            let l = self.lines(file);
            (l.len() >= n).then_some(l)
        })
    }
}

/// The hook command that appends its stdin payload as one line to `out`.
fn append_to(out: &Path) -> String {
    format!("{{ cat; echo; }} >> '{}'", out.display())
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["hook_event_name"].as_str().unwrap_or("?"))
        .collect()
}

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A private tmux server for one test, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        Self {
            socket: format!(
                "ao-fake-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String) {
        let mut c = Command::new("tmux");
        c.arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run tmux");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(text.as_bytes())
                .expect("write to tmux");
        }
        let out = child.wait_with_output().expect("tmux finishes");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let (code, out) = self.run(args, None);
        assert_eq!(code, 0, "tmux {args:?}: {out}");
        out
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // tmux 3.3a leaves the socket file behind after kill-server: remove it too.
        let (_, socket) = self.run(&["display-message", "-p", "#{socket_path}"], None);
        let _ = self.run(&["kill-server"], None);
        let socket = socket.trim();
        if socket.ends_with(&self.socket) {
            let _ = std::fs::remove_file(socket);
        }
    }
}

#[test]
fn claude_in_tmux_fires_its_settings_hooks_and_takes_a_paste_as_one_message() {
    let lab = Lab::new();
    let dir = lab.path();
    let out = dir.join("out.jsonl");
    let nomatch = dir.join("nomatch.jsonl");
    let hook =
        |cmd: String| json!([{"hooks": [{"type": "command", "command": cmd, "timeout": 30}]}]);
    let mut hooks = serde_json::Map::new();
    for ev in [
        "SessionStart",
        "UserPromptSubmit",
        "Notification",
        "Stop",
        "SessionEnd",
    ] {
        hooks.insert(ev.into(), hook(append_to(&out)));
    }
    hooks.insert(
        "PostToolUse".into(),
        json!([
            {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": append_to(&nomatch)}]},
            {"hooks": [{"type": "command", "command": append_to(&out), "timeout": 30}]}
        ]),
    );
    let settings = dir.join("claude-settings.json");
    std::fs::write(
        &settings,
        json!({"hooks": hooks, "skipDangerousModePermissionPrompt": true}).to_string(),
    )
    .expect("write settings");
    let conf = dir.join("tmux.conf");
    std::fs::write(&conf, "set-option -g remain-on-exit on\n").expect("write tmux.conf");

    let uuid = "3f2a8c1e-5b1e-5d0c-9a7e-3b2f4c8d9e10";
    let argv = [
        lab.bin("claude").display().to_string(),
        "--session-id".into(),
        uuid.into(),
        "--settings".into(),
        settings.display().to_string(),
        "--append-system-prompt".into(),
        "You are AO session p-1.".into(),
        "--".into(),
        "write the docs".into(),
    ];
    let exit_file = dir.join("exit-status");
    let launch = format!(
        "export FAKE_AGENT_LOG={}; export FAKE_AGENT_WORK_MS='50'; {}; s=$?; printf '%s' \"$s\" > {}; exit \"$s\"",
        quote(&dir.join("log.jsonl").display().to_string()),
        argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "),
        quote(&exit_file.display().to_string()),
    );
    let tmux = Tmux::new();
    let conf_s = conf.display().to_string();
    let dir_s = dir.display().to_string();
    tmux.ok(&[
        "-f",
        &conf_s,
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "200",
        "-y",
        "50",
        "-c",
        &dir_s,
        "--",
        "/bin/sh",
        "-c",
        &launch,
    ]);

    // Start + the first prompt's turn.
    let events = lab.wait_lines("out.jsonl", 4);
    assert_eq!(
        names(&events),
        ["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"]
    );
    for e in &events {
        assert_eq!(e["session_id"], uuid, "{e}");
        assert_eq!(e["cwd"], dir_s.as_str(), "{e}");
        assert!(
            e["transcript_path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("{uuid}.jsonl")))
        );
    }
    assert_eq!(events[0]["source"], "startup");
    assert_eq!(events[1]["prompt"], "write the docs");
    assert_eq!(events[2]["tool_name"], "Bash");
    let started = &lab.log("started")[0]["started"];
    assert_eq!(started["persona"], "claude");
    assert_eq!(started["session_id"], uuid);
    assert_eq!(started["resumed"], false);
    assert_eq!(started["system_prompt"], "You are AO session p-1.");
    assert_eq!(started["tty"], true);
    assert_eq!(started["argv"], json!(argv));

    // adapters.md §2.3: load-buffer, paste-buffer -p -d, then Enter.
    let (code, msg) = tmux.run(
        &["load-buffer", "-b", "ao-t", "-"],
        Some("first line\nsecond line"),
    );
    assert_eq!(code, 0, "{msg}");
    tmux.ok(&["paste-buffer", "-p", "-d", "-b", "ao-t", "-t", "=t:"]);
    tmux.ok(&["send-keys", "-t", "=t:", "Enter"]);
    let events = lab.wait_lines("out.jsonl", 7);
    assert_eq!(
        names(&events[4..]),
        ["UserPromptSubmit", "PostToolUse", "Stop"]
    );
    assert_eq!(events[4]["prompt"], "first line\nsecond line");
    let messages = lab.log("message");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["message"], "first line\nsecond line");
    assert_eq!(messages[0]["bracketed"], true);

    // Typed text is a message too, but not a bracketed one; an empty Enter is nothing.
    tmux.ok(&["send-keys", "-t", "=t:", "-l", "typed words"]);
    tmux.ok(&["send-keys", "-t", "=t:", "Enter"]);
    tmux.ok(&["send-keys", "-t", "=t:", "Enter"]);
    lab.wait_lines("out.jsonl", 10);
    let messages = lab.log("message");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["message"], "typed words");
    assert_eq!(messages[1]["bracketed"], false);
    let screen = wait_for(DEADLINE, "the echo on screen", || {
        let s = tmux.ok(&["capture-pane", "-p", "-J", "-t", "=t:"]);
        s.contains("> typed words").then_some(s)
    });
    assert!(screen.contains("> first line\n  second line"), "{screen}");

    // `ask`: a permission prompt, Stop only after the answer.
    tmux.ok(&["send-keys", "-t", "=t:", "ask", "Enter"]);
    let events = lab.wait_lines("out.jsonl", 12);
    assert_eq!(names(&events[10..]), ["UserPromptSubmit", "Notification"]);
    assert_eq!(events[11]["notification_type"], "permission_prompt");
    assert!(events[11]["message"].is_string());
    tmux.ok(&["send-keys", "-t", "=t:", "yes", "Enter"]);
    let events = lab.wait_lines("out.jsonl", 13);
    assert_eq!(events[12]["hook_event_name"], "Stop");

    // `exit 3`: SessionEnd, then the pane dies with status 3.
    tmux.ok(&["send-keys", "-t", "=t:", "exit 3", "Enter"]);
    let events = lab.wait_lines("out.jsonl", 15);
    assert_eq!(names(&events[13..]), ["UserPromptSubmit", "SessionEnd"]);
    assert_eq!(events[14]["reason"], "other");
    let pane = wait_for(DEADLINE, "the pane to die", || {
        let s = tmux.ok(&[
            "list-panes",
            "-t",
            "=t:",
            "-F",
            "#{pane_dead} #{pane_dead_status}",
        ]);
        s.starts_with('1').then_some(s)
    });
    // As AO's probe does (adapters.md §2.2): `pane_dead_status`, else the `exit-status` file
    // (tmux 3.3a sometimes reports a dead pane with an empty status).
    let recorded = std::fs::read_to_string(&exit_file).expect("exit status");
    assert_eq!(recorded, "3");
    let status = pane
        .trim()
        .strip_prefix('1')
        .map(str::trim)
        .unwrap_or_default();
    assert!(status.is_empty() || status == "3", "{pane}");
    assert_eq!(lab.lines("out.jsonl").len(), 15, "no hook after SessionEnd");
    assert!(!nomatch.exists(), "a non-matching matcher group fired");
    let exits = lab.log("exit");
    assert_eq!(exits[0]["exit"], 3);
}

/// Runs `argv` on a pipe with `input` on stdin; returns (status, stdout).
fn run_piped(cwd: &Path, argv: &[String], env: &[(&str, String)], input: &str) -> (i32, String) {
    let mut c = Command::new(&argv[0]);
    c.args(&argv[1..])
        .current_dir(cwd)
        .env_remove("FAKE_AGENT_SILENT")
        .env_remove("FAKE_AGENT_EXIT_AT_START")
        .env_remove("AO_SESSION_ID")
        .env("FAKE_AGENT_LOG", cwd.join("log.jsonl"))
        .env("FAKE_AGENT_WORK_MS", "20")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("start the fake agent");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write input");
    drop(stdin);
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().expect("poll the fake agent").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the fake agent did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("collect output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn claude_resume_startup_knobs_and_a_broken_settings_file() {
    let lab = Lab::new();
    let dir = lab.path();
    let out = dir.join("out.jsonl");
    let settings = json!({"hooks": {
        "SessionStart": [{"hooks": [{"type": "command", "command": append_to(&out)}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "echo broken >&2; exit 2", "timeout": 5}]}],
        "SessionEnd": [{"hooks": [{"type": "command", "command": append_to(&out)}]}]
    }});
    let claude = lab.bin("claude").display().to_string();
    let argv = vec![
        claude.clone(),
        "--settings".into(),
        settings.to_string(),
        "--resume".into(),
        "conv-42".into(),
    ];
    // A failing Stop hook is reported and ignored; end of input ends the session.
    let (code, screen) = run_piped(&dir, &argv, &[], "hello\n");
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Stop hook `echo broken >&2; exit 2` failed (status 2): broken"),
        "{screen}"
    );
    let events = lab.lines("out.jsonl");
    assert_eq!(names(&events), ["SessionStart", "SessionEnd"]);
    assert_eq!(events[0]["source"], "resume");
    assert_eq!(events[0]["session_id"], "conv-42");
    assert_eq!(lab.log("started")[0]["started"]["resumed"], true);
    assert_eq!(lab.log("message")[0]["bracketed"], false);

    // FAKE_AGENT_EXIT_AT_START: a line on screen, the status, no hook.
    let (code, screen) = run_piped(&dir, &argv, &[("FAKE_AGENT_EXIT_AT_START", "7".into())], "");
    assert_eq!(code, 7);
    assert!(
        screen.contains("exiting with status 7 at start"),
        "{screen}"
    );
    // FAKE_AGENT_SILENT: a whole session without a hook.
    let (code, _) = run_piped(
        &dir,
        &argv,
        &[("FAKE_AGENT_SILENT", "1".into())],
        "work 10\nexit 4\n",
    );
    assert_eq!(code, 4);
    // `silent` mid-session, then `crash 5`: no hook for either.
    let (code, _) = run_piped(&dir, &argv, &[], "silent\ncrash 5\n");
    assert_eq!(code, 5);
    assert_eq!(
        lab.lines("out.jsonl").len(),
        3,
        "only the last run's SessionStart fired"
    );

    // A settings file that does not exist: no hooks, but the agent still runs.
    let missing = vec![
        claude,
        "--settings".into(),
        dir.join("nope.json").display().to_string(),
    ];
    let (code, screen) = run_piped(&dir, &missing, &[], "exit 0\n");
    assert_eq!(code, 0);
    assert!(screen.contains("hooks not loaded"), "{screen}");
    assert!(lab.log("started").last().expect("started")["started"]["hooks_error"].is_string());
}

#[test]
fn codex_takes_its_hooks_from_config_flags_and_resumes_by_id() {
    let lab = Lab::new();
    let dir = lab.path();
    let out = dir.join("out.jsonl");
    let mut argv = vec![
        lab.bin("codex").display().to_string(),
        "-c".into(),
        "check_for_update_on_startup=false".into(),
        "--dangerously-bypass-hook-trust".into(),
        "--sandbox".into(),
        "workspace-write".into(),
        "--ask-for-approval".into(),
        "on-request".into(),
    ];
    for ev in [
        "SessionStart",
        "UserPromptSubmit",
        "PermissionRequest",
        "Stop",
    ] {
        argv.push("-c".into());
        argv.push(format!(
            "hooks.{ev}=[{{hooks=[{{type=\"command\",command=\"{{ cat; echo; }} >> {}\",timeout=5}}]}}]",
            out.display()
        ));
    }
    argv.extend(strings(&[
        "-c",
        &format!(
            "projects={{'{}'={{trust_level=\"trusted\"}}}}",
            dir.display()
        ),
        "-m",
        "o3",
        "-c",
        "developer_instructions='You are AO session p-1.'",
    ]));
    let mut launch = argv.clone();
    launch.extend(strings(&["--", "fix the bug"]));
    let (code, screen) = run_piped(&dir, &launch, &[], "ask\nyes\nexit 0\n");
    assert_eq!(code, 0, "{screen}");
    let events = lab.lines("out.jsonl");
    assert_eq!(
        names(&events),
        [
            "SessionStart",
            "UserPromptSubmit",
            "Stop",
            "UserPromptSubmit",
            "PermissionRequest",
            "Stop",
            "UserPromptSubmit"
        ]
    );
    let id = events[0]["session_id"]
        .as_str()
        .expect("a session id")
        .to_string();
    assert_eq!(id.len(), 36, "{id}");
    assert!(events.iter().all(|e| e["session_id"] == id.as_str()));
    assert_eq!(events[0]["source"], "startup");
    assert_eq!(events[1]["prompt"], "fix the bug");
    assert_eq!(events[4]["tool_name"], "Bash");
    let started = &lab.log("started")[0]["started"];
    assert_eq!(started["system_prompt"], "You are AO session p-1.");
    assert_eq!(started["model"], "o3");
    assert_eq!(
        started["config"]["projects"][dir.display().to_string()]["trust_level"],
        "trusted"
    );

    // `codex resume <launch flags without prompt> <id>`.
    let mut restore = vec![argv[0].clone(), "resume".into()];
    restore.extend(argv[1..].iter().cloned());
    restore.push(id.clone());
    let (code, _) = run_piped(&dir, &restore, &[], "exit 0\n");
    assert_eq!(code, 0);
    let events = lab.lines("out.jsonl");
    assert_eq!(events[7]["hook_event_name"], "SessionStart");
    assert_eq!(events[7]["source"], "resume");
    assert_eq!(events[7]["session_id"], id.as_str());
}

#[test]
fn opencode_runs_the_hooks_of_aos_own_plugin() {
    let lab = Lab::new();
    let dir = lab.path();
    // The plugin exactly as AO installs it.
    let plugin_src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/src/agent/opencode_plugin.ts");
    let plugin = std::fs::read_to_string(&plugin_src).expect("AO's opencode plugin source");
    std::fs::create_dir_all(dir.join(".opencode/plugins")).expect("mkdir plugins");
    std::fs::write(dir.join(".opencode/plugins/ao-activity.ts"), plugin).expect("write plugin");
    // A stand-in `ao` that records its arguments and stdin.
    let ao = dir.join("bin/ao");
    std::fs::write(
        &ao,
        format!(
            "#!/bin/sh\n{{ printf '{{\"argv\":\"%s\",\"payload\":' \"$*\"; cat; echo '}}'; }} >> '{}'\n",
            dir.join("ao.jsonl").display()
        ),
    )
    .expect("write ao");
    std::fs::set_permissions(&ao, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod ao");
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let argv = strings(&[
        &lab.bin("opencode").display().to_string(),
        "--prompt",
        "system\n\n---\n\nwork 10",
    ]);
    let (code, screen) = run_piped(&dir, &argv, &[("PATH", path.clone())], "exit 0\n");
    assert_eq!(code, 0, "{screen}");
    let calls = lab.lines("ao.jsonl");
    let argvs: Vec<&str> = calls
        .iter()
        .map(|c| c["argv"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        argvs,
        [
            "hooks opencode session-start",
            "hooks opencode user-prompt-submit",
            "hooks opencode stop",
            "hooks opencode user-prompt-submit"
        ]
    );
    let id = calls[0]["payload"]["session_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(id.starts_with("ses_"), "{id}");
    assert_eq!(calls[2]["payload"]["hook_event_name"], "stop");

    let resume = strings(&[&argv[0], "--session", &id]);
    let (code, _) = run_piped(&dir, &resume, &[("PATH", path)], "exit 0\n");
    assert_eq!(code, 0);
    let calls = lab.lines("ao.jsonl");
    assert_eq!(calls[4]["argv"], "hooks opencode session-start");
    assert_eq!(calls[4]["payload"]["session_id"], id.as_str());
}
