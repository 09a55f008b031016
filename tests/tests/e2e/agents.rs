//! Every seed agent end to end (issue #6): claude-code, codex, opencode, grok, cursor, qwen,
//! copilot and kimi, each with the scripted fake agent standing in for the real binary (a
//! symlink under the agent's binary name, first on the session `PATH`). The fake reads the hook
//! configuration the adapter installed exactly where the real agent reads it, so each case
//! proves the whole contract of that adapter:
//!
//! spawn (the first prompt arrives in the argv or as a paste, per adapters.md §5.3) → the
//! status follows the hooks and the agent's session id is captured → `ao send` arrives as one
//! bracketed paste → the agent's exit is seen with its exit code → restore resumes the
//! captured conversation (kimi, hook-less, never learns an id: it is relaunched with its
//! prompt).
//!
//! The eight cases run concurrently against one daemon, so the whole module costs about one
//! case's time.

use std::path::PathBuf;
use std::time::Duration;

use ao_tests::{Api, Home, git_repo};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(90);
const FIRST_PROMPT: &str = "work 200";

/// How the first prompt reaches the agent (adapters.md §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FirstPrompt {
    /// In the launch argv.
    Argv,
    /// Pasted into the running TUI.
    Pasted,
}

struct Case {
    harness: &'static str,
    /// The binary the adapter resolves (the fake agent's persona).
    binary: &'static str,
    first_prompt: FirstPrompt,
    /// Reports activity through hooks (every agent but kimi).
    hooks: bool,
    /// The resume word of the restore argv (adapters.md §6); `None`: no resume (kimi).
    resume_flag: Option<&'static str>,
}

const CASES: [Case; 8] = [
    Case {
        harness: "claude-code",
        binary: "claude",
        first_prompt: FirstPrompt::Argv,
        hooks: true,
        resume_flag: Some("--resume"),
    },
    Case {
        harness: "codex",
        binary: "codex",
        first_prompt: FirstPrompt::Argv,
        hooks: true,
        resume_flag: Some("resume"),
    },
    Case {
        harness: "opencode",
        binary: "opencode",
        first_prompt: FirstPrompt::Argv,
        hooks: true,
        resume_flag: Some("--session"),
    },
    Case {
        harness: "grok",
        binary: "grok",
        first_prompt: FirstPrompt::Pasted,
        hooks: true,
        resume_flag: Some("-r"),
    },
    Case {
        harness: "cursor",
        binary: "cursor-agent",
        first_prompt: FirstPrompt::Pasted,
        hooks: true,
        resume_flag: Some("--resume"),
    },
    Case {
        harness: "qwen",
        binary: "qwen",
        first_prompt: FirstPrompt::Argv,
        hooks: true,
        resume_flag: Some("-r"),
    },
    Case {
        harness: "copilot",
        binary: "copilot",
        first_prompt: FirstPrompt::Pasted,
        hooks: true,
        resume_flag: Some("--resume"),
    },
    Case {
        harness: "kimi",
        binary: "kimi",
        first_prompt: FirstPrompt::Pasted,
        hooks: false,
        resume_flag: None,
    },
];

/// A started daemon with project `p`, whose sessions find the fake agent under every agent's
/// binary name first on `PATH`, and log to one file per session.
struct Lab {
    home: Home,
    logs: PathBuf,
    api: Api,
}

impl Lab {
    fn new() -> Self {
        let home = Home::new();
        let scratch = home.scratch();
        let repo = git_repo(&scratch, "p");
        let bin = scratch.join("fakebin");
        std::fs::create_dir_all(&bin).expect("mkdir fakebin");
        for case in &CASES {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fake-agent"), bin.join(case.binary))
                .expect("symlink the fake agent");
        }
        let logs = scratch.join("fake-logs");
        std::fs::create_dir_all(&logs).expect("mkdir logs");
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
        let config = json!({"env": {
            "PATH": format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            "FAKE_AGENT_LOG": logs.display().to_string(),
            "FAKE_AGENT_WORK_MS": "100",
        }});
        home.ao(&[
            "project",
            "set-config",
            "p",
            "--config-json",
            &config.to_string(),
        ])
        .ok();
        let api = home.api();
        Self { home, logs, api }
    }

    /// Runs `ao <args>` without blocking the runtime; asserts success and returns stdout.
    async fn ao(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::from(self.home.command(args))
            .output()
            .await
            .expect("run the ao binary");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ao {args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Polls `f` every 20 ms until it returns `Some`; after [`DEADLINE`] panics with `what`
    /// and the fake agent's log of session `id`, which tells what the agent saw.
    async fn until<T, F, Fut>(&self, id: &str, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.logs.join(format!("{id}.jsonl")))
                    .unwrap_or_default();
                let session = self.session(id).await;
                panic!(
                    "{id}: timed out after {DEADLINE:?} waiting for {what}\nsession: {session}\nagent log:\n{log}"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn session(&self, id: &str) -> Value {
        let r = self.api.get(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["session"].clone()
    }

    /// Polls the session until `pred` holds.
    async fn wait_session(&self, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.until(id, what, || async {
            let s = self.session(id).await;
            pred(&s).then_some(s)
        })
        .await
    }

    /// The fake agent's log lines of session `id` that carry `key` (whole lines: a
    /// `message` line also says whether it was `bracketed`).
    fn log(&self, id: &str, key: &str) -> Vec<Value> {
        std::fs::read_to_string(self.logs.join(format!("{id}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e.get(key).is_some())
            .collect()
    }

    /// Waits until session `id`'s agent started `n` times; returns every `started` record.
    async fn wait_starts(&self, id: &str, n: usize) -> Vec<Value> {
        self.until(id, &format!("{n} agent starts"), || async {
            let starts: Vec<Value> = self
                .log(id, "started")
                .into_iter()
                .map(|e| e["started"].clone())
                .collect();
            (starts.len() >= n).then_some(starts)
        })
        .await
    }

    /// Waits until the agent of `id` received `text` as one bracketed paste.
    async fn wait_message(&self, id: &str, text: &str) {
        self.until(id, &format!("the message {text:?}"), || async {
            self.log(id, "message")
                .iter()
                .any(|m| m["message"] == text && m["bracketed"] == true)
                .then_some(())
        })
        .await;
    }
}

/// One agent's whole life; every assertion names the harness.
async fn scenario(lab: &Lab, case: &Case) {
    let h = case.harness;
    // Spawn with a first prompt.
    let out = lab
        .ao(&[
            "spawn",
            "--project",
            "p",
            "--agent",
            h,
            "--prompt",
            FIRST_PROMPT,
            "--json",
        ])
        .await;
    let spawned: Value = serde_json::from_str(&out).expect("spawn --json");
    let id = spawned["session"]["id"]
        .as_str()
        .expect("session id")
        .to_string();
    assert_eq!(spawned["session"]["harness"], h);
    let started = lab.wait_starts(&id, 1).await.remove(0);
    assert_eq!(started["persona"], case.binary, "{h}");
    assert_eq!(started["resumed"], false, "{h}");

    // The first prompt: in the argv, or pasted once the TUI runs.
    let prompt = started["prompt"].as_str().unwrap_or_default();
    match case.first_prompt {
        FirstPrompt::Argv => assert!(prompt.ends_with(FIRST_PROMPT), "{h}: {started}"),
        FirstPrompt::Pasted => {
            assert_eq!(
                prompt, "",
                "{h}: the TUI starts without a prompt: {started}"
            );
            lab.until(&id, &format!("{h}: the pasted first prompt"), || async {
                lab.log(&id, "message")
                    .iter()
                    .find(|m| {
                        m["bracketed"] == true
                            && m["message"]
                                .as_str()
                                .is_some_and(|t| t.ends_with(FIRST_PROMPT))
                    })
                    .cloned()
            })
            .await;
        }
    }

    // The hooks drive the status and deliver the agent's own session id.
    let conversation = started["session_id"].as_str().expect("id").to_string();
    if case.hooks {
        lab.wait_session(&id, "the first turn reported", |s| {
            s["agentSessionId"] == conversation.as_str()
                && s["activity"]["firstSignalAt"].is_string()
                && s["status"] == "idle"
        })
        .await;
    }

    // `ao send` arrives as one paste; a working turn shows, and its end too.
    lab.ao(&["send", "--session", &id, "--message", "work 1500"])
        .await;
    lab.wait_message(&id, "work 1500").await;
    if case.hooks {
        lab.wait_session(&id, "working", |s| s["status"] == "working")
            .await;
        lab.wait_session(&id, "idle again", |s| s["status"] == "idle")
            .await;
    } else {
        let s = lab.session(&id).await;
        assert_eq!(
            s["status"], "idle",
            "{h}: hook-less sessions never change state"
        );
        assert_eq!(
            s["agentSessionId"],
            Value::Null,
            "{h}: no id is ever learnt"
        );
        assert_eq!(s["activity"]["firstSignalAt"], Value::Null, "{h}");
    }

    // The agent exits with status 3: the session ends with that code.
    lab.ao(&["send", "--session", &id, "--message", "crash 3"])
        .await;
    let s = lab
        .wait_session(&id, "terminated", |s| s["isTerminated"] == true)
        .await;
    assert_eq!(s["terminatedReason"], "agent_exited", "{h}: {s}");
    assert_eq!(s["exitCode"], 3, "{h}: {s}");

    // Restore resumes the captured conversation (or relaunches a hook-less agent).
    let restored = lab.ao(&["session", "restore", &id]).await;
    assert!(
        restored.starts_with(&format!("session {id} restored")),
        "{h}: {restored}"
    );
    let again = lab.wait_starts(&id, 2).await.remove(1);
    let argv: Vec<String> = serde_json::from_value(again["argv"].clone()).expect("argv");
    if let Some(flag) = case.resume_flag {
        assert_eq!(again["resumed"], true, "{h}: {again}");
        assert_eq!(again["session_id"], conversation.as_str(), "{h}");
        assert_eq!(argv.last(), Some(&conversation), "{h}: {argv:?}");
        assert!(argv.iter().any(|a| a == flag), "{h}: {argv:?}");
        // The resumed agent reports through the reinstalled hooks: the turn that follows this
        // message moves the activity past the moment it arrived.
        lab.ao(&["send", "--session", &id, "--message", "after restore"])
            .await;
        lab.wait_message(&id, "after restore").await;
        let arrived = lab
            .log(&id, "message")
            .into_iter()
            .find(|m| m["message"] == "after restore")
            .and_then(|m| m["at"].as_str().map(str::to_string))
            .expect("the message's arrival time");
        let s = lab
            .wait_session(&id, "the turn after the restore", |s| {
                s["status"] == "idle"
                    && s["activity"]["firstSignalAt"].is_string()
                    && s["activity"]["lastActivityAt"]
                        .as_str()
                        .is_some_and(|t| t > arrived.as_str())
            })
            .await;
        assert_eq!(s["agentSessionId"], conversation.as_str(), "{h}");
    } else {
        assert_eq!(again["resumed"], false, "{h}: {again}");
        lab.until(&id, &format!("{h}: the prompt pasted again"), || async {
            let pasted = lab
                .log(&id, "message")
                .iter()
                .filter(|m| {
                    m["message"]
                        .as_str()
                        .is_some_and(|t| t.ends_with(FIRST_PROMPT))
                })
                .count();
            (pasted == 2).then_some(())
        })
        .await;
    }
    assert_eq!(lab.session(&id).await["isTerminated"], false, "{h}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_seed_agent_spawns_reports_takes_messages_exits_and_resumes() {
    let lab = Lab::new();
    futures_util::future::join_all(CASES.iter().map(|case| scenario(&lab, case))).await;
    // Every session got its own worktree, and none of them left it dirty.
    let list = lab.api.get("/api/v1/sessions?active=true").await;
    let sessions = list.body["sessions"].as_array().expect("sessions").clone();
    assert_eq!(sessions.len(), CASES.len());
    for s in &sessions {
        let wt = s["workspacePath"].as_str().expect("workspace");
        let status = std::process::Command::new("git")
            .args(["-C", wt, "status", "--porcelain", "--untracked-files=all"])
            .output()
            .expect("git status");
        assert_eq!(
            String::from_utf8_lossy(&status.stdout),
            "",
            "{}: the hooks left the worktree dirty",
            s["harness"]
        );
    }
}
