//! The scripted fake agent (`fake-agent` binary) that stands in for the eight seed agents in
//! the e2e tests: it consumes the same configuration the real agent would and fires the same
//! hook commands, so AO's launch, hook, send and exit paths are exercised for real without a
//! model API.
//!
//! Persona: the file name of argv[0] (the agent's binary name: `claude`, `codex`, `opencode`,
//! `grok`, `cursor-agent`, `qwen`, `copilot`, `kimi`; the tests symlink the binary under those
//! names), or the first argument when invoked as `fake-agent <persona> …`.
//!
//! Behaviour:
//! * Hooks — claude: the `hooks` of the `--settings` file (or inline JSON); codex: the
//!   `-c hooks.<Event>=[…]` overrides; opencode: the hook calls of AO's plugin
//!   `.opencode/plugins/ao-activity.ts` in the cwd ([`hooks::HookConfig::from_opencode_plugin`]);
//!   grok: the Claude-format `hooks` of `.claude/settings.json` and `.claude/settings.local.json`
//!   in the cwd; cursor: `.cursor/hooks.json`; qwen: the `hooks` of `.qwen/settings.json`;
//!   copilot: every `.github/hooks/*.json`; kimi: none (hook-less).
//!   Each command runs as `/bin/sh -c <command>` with the event's JSON payload on stdin, waited
//!   for with its timeout ([`hooks::run_hook`]); a failure is printed and ignored.
//! * Native events and payloads are each agent's own ([`Ev::native`]): e.g. cursor's
//!   `beforeSubmitPrompt` carries `conversation_id`, copilot's `userPromptSubmitted` carries
//!   `sessionId`, qwen's `SessionStart` has the `source` its `startup` matcher filters on.
//! * Session id — claude: `--resume` or `--session-id`; codex: `codex resume … <id>`; opencode:
//!   `--session <id>`; grok/qwen: `-r <id>`; cursor/copilot: `--resume <id>`; kimi:
//!   `--session <id>`; otherwise a fresh one (uuid; `ses_…` for opencode).
//! * Terminal — raw mode and bracketed paste when stdin is a TTY; input parsed by
//!   [`input::InputParser`]; each submitted message is echoed as `> <text>` and logged.
//! * Script — SessionStart at start; the first prompt and every message is a turn
//!   ([`script::Script`]).
//! * Env knobs: `FAKE_AGENT_LOG` (JSON-lines log file, or a directory for one
//!   `<AO_SESSION_ID>.jsonl` per session), `FAKE_AGENT_WORK_MS` (default 300),
//!   `FAKE_AGENT_SILENT=1` (never fire a hook), `FAKE_AGENT_EXIT_AT_START=<n>` (print a line and
//!   exit n before anything else), `FAKE_AGENT_REQUIRE_TRUST=1` (claude: stop at a trust screen,
//!   firing nothing, unless `.claude.json` trusts the cwd — adapters.md §6.1).
//!
//! Log lines (each also carries `pid`, `ao_session_id` and `at`): `{"started": {persona, argv,
//! cwd, session_id, resumed, prompt, model, permission_mode, system_prompt, settings, hooks,
//! tty, …}}`, `{"message": "…", "bracketed": bool}`, `{"hook": {event, command, status,
//! timed_out}}`, `{"exit": n}`.
//!
//! Invariant: the fake never hangs the pane on an error — bad settings mean no hooks, a failing
//! hook is reported and skipped, and a closed stdin ends the agent.

pub mod args;
pub mod hooks;
pub mod input;
pub mod script;
pub mod toml;

use std::hash::{BuildHasher, Hasher};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use serde_json::{Map, Value, json};

use args::{Launch, Persona};
use hooks::{HookConfig, HookFormat};
use input::{Event, InputParser};
use script::Script;

/// Default length of a turn's "work".
pub const DEFAULT_WORK_MS: u64 = 300;

/// The environment knobs (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    pub log: Option<PathBuf>,
    pub work_ms: u64,
    pub silent: bool,
    pub exit_at_start: Option<i32>,
    pub require_trust: bool,
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

impl Knobs {
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            log: var("FAKE_AGENT_LOG").map(PathBuf::from),
            work_ms: var("FAKE_AGENT_WORK_MS")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(DEFAULT_WORK_MS),
            silent: env_flag("FAKE_AGENT_SILENT"),
            exit_at_start: var("FAKE_AGENT_EXIT_AT_START").map(|v| v.trim().parse().unwrap_or(1)),
            require_trust: env_flag("FAKE_AGENT_REQUIRE_TRUST"),
        }
    }
}

/// The JSON-lines log of `FAKE_AGENT_LOG`.
#[derive(Debug, Clone)]
struct Log {
    path: Option<PathBuf>,
    ao_session_id: Option<String>,
}

impl Log {
    fn new(target: Option<&Path>) -> Self {
        let ao_session_id = std::env::var("AO_SESSION_ID")
            .ok()
            .filter(|s| !s.is_empty());
        let path = target.map(|t| {
            if t.is_dir() {
                let name = ao_session_id
                    .clone()
                    .unwrap_or_else(|| format!("pid-{}", std::process::id()));
                t.join(format!("{name}.jsonl"))
            } else {
                t.to_path_buf()
            }
        });
        Self {
            path,
            ao_session_id,
        }
    }

    fn write(&self, mut entry: Map<String, Value>) {
        let Some(path) = &self.path else {
            return;
        };
        entry.insert("pid".into(), json!(std::process::id()));
        entry.insert("ao_session_id".into(), json!(self.ao_session_id));
        entry.insert("at".into(), json!(ao_protocol::time::now()));
        let mut line = Value::Object(entry).to_string();
        line.push('\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            say(&format!(
                "fake-agent: cannot append to {}: {e}",
                path.display()
            ));
        }
    }

    fn entry(&self, key: &str, value: Value) {
        let mut m = Map::new();
        m.insert(key.into(), value);
        self.write(m);
    }
}

/// Prints one line (multi-line text allowed) to the screen, ignoring a closed stdout.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Raw mode + bracketed paste while alive (only when stdin is a TTY); restored on drop.
struct Terminal {
    original: Option<Termios>,
}

impl Terminal {
    fn enable() -> Self {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self { original: None };
        }
        let Ok(original) = tcgetattr(&stdin) else {
            return Self { original: None };
        };
        let mut raw = original.clone();
        cfmakeraw(&mut raw);
        // Keep output processing (`\n` → `\r\n`) so plain `println!` lines render.
        raw.output_flags = original.output_flags;
        if tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
            return Self { original: None };
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(b"\x1b[?2004h");
        let _ = out.flush();
        Self {
            original: Some(original),
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(original) = &self.original {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(b"\x1b[?2004l");
            let _ = out.flush();
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSANOW, original);
        }
    }
}

/// 128 random bits (std's per-process random hasher keys, mixed with time and pid).
fn random_u128() -> u128 {
    let mut v = 0u128;
    for salt in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        v = (v << 64) | u128::from(h.finish());
    }
    v
}

/// A random version-4 UUID string.
pub fn new_uuid() -> String {
    let r = random_u128();
    let version: u128 = 0xf << 76;
    let variant: u128 = 0x3 << 62;
    let r = (((r & !version) | (0x4 << 76)) & !variant) | (0x2 << 62);
    let h = format!("{r:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The abstract hook events of a turn.
#[derive(Debug, Clone, Copy)]
enum Ev<'a> {
    SessionStart,
    UserPrompt(&'a str),
    ToolUse,
    Permission,
    Stop,
    SessionEnd(&'a str),
}

impl Ev<'_> {
    /// The native event name the persona's configuration is keyed by (None: that agent has no
    /// such hook).
    fn native(self, persona: Persona) -> Option<&'static str> {
        match persona {
            Persona::Kimi => None,
            Persona::Opencode => self.opencode_native(),
            Persona::Cursor => self.cursor_native(),
            Persona::Copilot => self.copilot_native(),
            Persona::Claude | Persona::Grok | Persona::Codex | Persona::Qwen => {
                Some(self.claude_native(persona))
            }
        }
    }

    /// The AO event names AO's opencode plugin passes.
    fn opencode_native(self) -> Option<&'static str> {
        match self {
            Self::SessionStart => Some("session-start"),
            Self::UserPrompt(_) => Some("user-prompt-submit"),
            Self::Stop => Some("stop"),
            Self::ToolUse | Self::Permission | Self::SessionEnd(_) => None,
        }
    }

    /// cursor asks for permission on screen only.
    fn cursor_native(self) -> Option<&'static str> {
        match self {
            Self::SessionStart => Some("sessionStart"),
            Self::UserPrompt(_) => Some("beforeSubmitPrompt"),
            Self::ToolUse => Some("beforeShellExecution"),
            Self::Stop => Some("stop"),
            Self::SessionEnd(_) => Some("sessionEnd"),
            Self::Permission => None,
        }
    }

    /// copilot asks for permission on screen only.
    fn copilot_native(self) -> Option<&'static str> {
        match self {
            Self::SessionStart => Some("sessionStart"),
            Self::UserPrompt(_) => Some("userPromptSubmitted"),
            Self::ToolUse => Some("preToolUse"),
            Self::Stop => Some("agentStop"),
            Self::SessionEnd(_) => Some("sessionEnd"),
            Self::Permission => None,
        }
    }

    /// Claude's event names, shared by grok, codex and qwen; the permission question is a
    /// `Notification` for Claude and grok, a `PermissionRequest` for codex and qwen.
    fn claude_native(self, persona: Persona) -> &'static str {
        match self {
            Self::SessionStart => "SessionStart",
            Self::UserPrompt(_) => "UserPromptSubmit",
            Self::ToolUse => "PostToolUse",
            Self::Permission if matches!(persona, Persona::Claude | Persona::Grok) => {
                "Notification"
            }
            Self::Permission => "PermissionRequest",
            Self::Stop => "Stop",
            Self::SessionEnd(_) => "SessionEnd",
        }
    }
}

/// One running fake agent.
struct Agent {
    persona: Persona,
    launch: Launch,
    session_id: String,
    resumed: bool,
    hooks: HookConfig,
    hooks_error: Option<String>,
    silent: bool,
    work_ms: u64,
    turns: u32,
    cwd: PathBuf,
    log: Log,
}

impl Agent {
    fn new(persona: Persona, launch: Launch, knobs: &Knobs, log: Log) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let resumed = launch.resume.is_some() || launch.resume_subcommand;
        let session_id = launch
            .resume
            .clone()
            .or_else(|| launch.session_id.clone())
            .unwrap_or_else(|| match persona {
                Persona::Opencode => format!("ses_{:026x}", random_u128() >> 24),
                _ => new_uuid(),
            });
        let (hooks, hooks_error) = match load_hooks(persona, &launch, &cwd) {
            Ok(h) => (h, None),
            Err(e) => (HookConfig::default(), Some(e)),
        };
        Self {
            persona,
            launch,
            session_id,
            resumed,
            hooks,
            hooks_error,
            silent: knobs.silent,
            work_ms: knobs.work_ms,
            turns: 0,
            cwd,
            log,
        }
    }

    fn started_record(&self, argv: &[String], tty: bool, trusted: Option<bool>) -> Value {
        let l = &self.launch;
        let mut m = json!({
            "persona": self.persona.as_str(),
            "pid": std::process::id(),
            "argv": argv,
            "cwd": self.cwd.display().to_string(),
            "session_id": self.session_id,
            "resumed": self.resumed,
            "prompt": l.prompt,
            "model": l.model,
            "permission_mode": l.permission_mode,
            "system_prompt": l.system_prompt,
            "settings": l.settings,
            "flags": l.flags,
            "hooks": self.hooks.summary(),
            "hooks_error": self.hooks_error,
            "silent": self.silent,
            "tty": tty,
        });
        if self.persona == Persona::Codex {
            m["config"] = l.codex_config();
        }
        if let Some(t) = trusted {
            m["trusted"] = json!(t);
        }
        m
    }

    fn transcript_path(&self) -> String {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
        let mangled: String = self
            .cwd
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        match self.persona {
            Persona::Claude => {
                let dir = std::env::var("CLAUDE_CONFIG_DIR")
                    .unwrap_or_else(|_| format!("{home}/.claude"));
                format!("{dir}/projects/{mangled}/{}.jsonl", self.session_id)
            }
            Persona::Grok => format!("{home}/.grok/projects/{mangled}/{}.jsonl", self.session_id),
            Persona::Qwen => format!(
                "{home}/.qwen/projects/{mangled}/chats/{}.jsonl",
                self.session_id
            ),
            Persona::Codex => format!("{home}/.codex/sessions/rollout-{}.jsonl", self.session_id),
            Persona::Opencode | Persona::Cursor | Persona::Copilot | Persona::Kimi => String::new(),
        }
    }

    /// The native payload of `ev` and its matcher subject.
    fn payload(&self, ev: Ev<'_>, native: &str) -> (Value, Option<&'static str>) {
        let cwd = self.cwd.display().to_string();
        let turn_id = format!("turn-{}", self.turns);
        let source = if self.resumed { "resume" } else { "startup" };
        match self.persona {
            // The payload AO's plugin pipes: `{session_id, hook_event_name: <AO event>}`.
            Persona::Opencode => (
                json!({"session_id": self.session_id, "hook_event_name": native}),
                None,
            ),
            // Hook-less: never asked.
            Persona::Kimi => (Value::Null, None),
            Persona::Cursor => (self.cursor_payload(ev, native), None),
            Persona::Copilot => (self.copilot_payload(ev), None),
            Persona::Claude | Persona::Grok | Persona::Codex | Persona::Qwen => {
                let mut p = json!({
                    "session_id": self.session_id,
                    "transcript_path": self.transcript_path(),
                    "cwd": cwd,
                    "hook_event_name": native,
                });
                if matches!(self.persona, Persona::Claude | Persona::Grok) {
                    p["permission_mode"] =
                        json!(self.launch.permission_mode.as_deref().unwrap_or("default"));
                } else {
                    p["model"] = json!(self.launch.model.as_deref().unwrap_or("gpt-5-codex"));
                    if !matches!(ev, Ev::SessionStart | Ev::SessionEnd(_)) {
                        p["turn_id"] = json!(turn_id);
                    }
                }
                let subject = match ev {
                    Ev::SessionStart => {
                        p["source"] = json!(source);
                        Some(source)
                    }
                    Ev::UserPrompt(text) => {
                        p["prompt"] = json!(text);
                        None
                    }
                    Ev::ToolUse => {
                        p["tool_name"] = json!("Bash");
                        p["tool_input"] =
                            json!({"command": "true", "description": "fake-agent work"});
                        p["tool_response"] =
                            json!({"stdout": "", "stderr": "", "interrupted": false});
                        p["tool_use_id"] = json!(format!("toolu_fake_{}", self.turns));
                        Some("Bash")
                    }
                    Ev::Permission if matches!(self.persona, Persona::Claude | Persona::Grok) => {
                        p["message"] = json!("Claude needs your permission to use Bash");
                        p["notification_type"] = json!("permission_prompt");
                        Some("permission_prompt")
                    }
                    Ev::Permission => {
                        p["tool_name"] = json!("Bash");
                        p["tool_input"] = json!({"command": "true"});
                        Some("Bash")
                    }
                    Ev::Stop => {
                        p["stop_hook_active"] = json!(false);
                        if self.persona == Persona::Codex {
                            p["last_assistant_message"] = json!("done");
                        }
                        None
                    }
                    Ev::SessionEnd(reason) => {
                        p["reason"] = json!(reason);
                        None
                    }
                };
                (p, subject)
            }
        }
    }

    /// cursor's payload: the common `conversation_id`, `generation_id`, `hook_event_name` and
    /// `workspace_roots`, plus the event's own fields.
    fn cursor_payload(&self, ev: Ev<'_>, native: &str) -> Value {
        let cwd = self.cwd.display().to_string();
        let mut p = json!({
            "conversation_id": self.session_id,
            "generation_id": format!("gen-{}", self.turns),
            "hook_event_name": native,
            "workspace_roots": [cwd],
        });
        match ev {
            Ev::UserPrompt(text) => {
                p["prompt"] = json!(text);
                p["attachments"] = json!([]);
            }
            Ev::ToolUse => {
                p["command"] = json!("true");
                p["cwd"] = json!(cwd);
            }
            Ev::Stop => p["status"] = json!("completed"),
            Ev::SessionEnd(reason) => p["reason"] = json!(reason),
            Ev::SessionStart | Ev::Permission => {}
        }
        p
    }

    /// copilot's payload: `sessionId`, `timestamp` (ms) and `cwd`, plus the event's own
    /// fields.
    fn copilot_payload(&self, ev: Ev<'_>) -> Value {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut p = json!({
            "sessionId": self.session_id,
            "timestamp": u64::try_from(millis).unwrap_or(u64::MAX),
            "cwd": self.cwd.display().to_string(),
        });
        match ev {
            Ev::SessionStart => {
                p["source"] = json!(if self.resumed { "resume" } else { "new" });
            }
            Ev::UserPrompt(text) => p["prompt"] = json!(text),
            Ev::ToolUse => {
                p["toolName"] = json!("bash");
                p["toolArgs"] = json!(r#"{"command":"true"}"#);
            }
            Ev::Stop => p["stopReason"] = json!("end_turn"),
            Ev::SessionEnd(reason) => p["reason"] = json!(reason),
            Ev::Permission => {}
        }
        p
    }

    /// Runs every hook configured for `ev`, in order, each to completion (or its timeout).
    fn fire(&self, ev: Ev<'_>) {
        if self.silent {
            return;
        }
        let Some(native) = ev.native(self.persona) else {
            return;
        };
        let (payload, subject) = self.payload(ev, native);
        let env: Vec<(&str, String)> = match self.persona {
            Persona::Claude => vec![("CLAUDE_PROJECT_DIR", self.cwd.display().to_string())],
            _ => Vec::new(),
        };
        for hook in self.hooks.commands_for(native, subject) {
            let outcome = hooks::run_hook(hook, &payload, &env);
            self.log.entry(
                "hook",
                json!({
                    "event": native,
                    "command": hook.command,
                    "status": outcome.status,
                    "timed_out": outcome.timed_out,
                }),
            );
            if !outcome.ok() {
                let status = outcome
                    .status
                    .map_or_else(|| "no status".to_string(), |s| format!("status {s}"));
                let detail = if outcome.stderr.is_empty() {
                    String::new()
                } else {
                    format!(": {}", outcome.stderr)
                };
                say(&format!(
                    "! {native} hook `{}` failed ({status}){detail}",
                    hook.command
                ));
            }
        }
    }

    /// Runs the whole session; returns the exit status.
    fn run(&mut self, rx: &mpsc::Receiver<Event>) -> i32 {
        say(&format!(
            "fake {} ready (session {}{})",
            self.persona.as_str(),
            self.session_id,
            if self.resumed { ", resumed" } else { "" }
        ));
        if let Some(e) = &self.hooks_error {
            say(&format!("! hooks not loaded: {e}"));
        }
        self.fire(Ev::SessionStart);
        if let Some(prompt) = self.launch.prompt.clone().filter(|p| !p.trim().is_empty()) {
            say(&echo(&prompt));
            if let Some(code) = self.turn(&prompt, rx) {
                return code;
            }
        }
        loop {
            match rx.recv() {
                Ok(Event::Submit(m)) => {
                    if let Some(code) = self.turn(&m.text, rx) {
                        return code;
                    }
                }
                Ok(Event::Interrupt) => return self.end(130),
                Ok(Event::EndOfInput) | Err(_) => return self.end(0),
            }
        }
    }

    fn end(&self, code: i32) -> i32 {
        self.fire(Ev::SessionEnd("prompt_input_exit"));
        say(&format!("bye (status {code})"));
        code
    }

    /// One turn; `Some(code)` when the agent must exit.
    fn turn(&mut self, text: &str, rx: &mpsc::Receiver<Event>) -> Option<i32> {
        self.turns += 1;
        let script = Script::of(text);
        if script == Script::Silent {
            self.silent = true;
            say("(silent: no more hooks)");
            return None;
        }
        self.fire(Ev::UserPrompt(text));
        match script {
            Script::Crash(n) => {
                say(&format!("crashing with status {n}"));
                Some(n)
            }
            Script::Exit(n) => {
                self.fire(Ev::SessionEnd("other"));
                say(&format!("exiting with status {n}"));
                Some(n)
            }
            Script::Ask => {
                self.fire(Ev::Permission);
                say("Permission required to run Bash(true). Answer with any message.");
                match rx.recv() {
                    Ok(Event::Submit(m)) => match Script::of(&m.text) {
                        Script::Exit(n) => {
                            self.fire(Ev::SessionEnd("other"));
                            Some(n)
                        }
                        Script::Crash(n) => Some(n),
                        _ => {
                            say("permission answered");
                            self.fire(Ev::Stop);
                            None
                        }
                    },
                    Ok(Event::Interrupt) => Some(self.end(130)),
                    Ok(Event::EndOfInput) | Err(_) => Some(self.end(0)),
                }
            }
            Script::Work(ms) => {
                self.work(ms);
                None
            }
            Script::Turn | Script::Silent => {
                self.work(self.work_ms);
                None
            }
        }
    }

    fn work(&self, ms: u64) {
        self.fire(Ev::ToolUse);
        say(&format!("working for {ms} ms"));
        std::thread::sleep(Duration::from_millis(ms));
        self.fire(Ev::Stop);
        say("done");
    }
}

/// `> text`, continuation lines indented.
fn echo(text: &str) -> String {
    format!("> {}", text.replace('\n', "\n  "))
}

/// Reads the `hooks` of the JSON file `path` laid out as `format`; a missing file configures
/// nothing.
fn hooks_of_file(path: &Path, format: HookFormat) -> Result<HookConfig, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
            Ok(HookConfig::from_hooks_json_as(&v["hooks"], format))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HookConfig::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The persona's hook configuration; `Err` describes a configuration that could not be read
/// (the agent then runs without hooks).
fn load_hooks(persona: Persona, launch: &Launch, cwd: &Path) -> Result<HookConfig, String> {
    match persona {
        Persona::Claude => {
            let Some(settings) = &launch.settings else {
                return Ok(HookConfig::default());
            };
            let text = if settings.trim_start().starts_with('{') {
                settings.clone()
            } else {
                std::fs::read_to_string(settings).map_err(|e| format!("{settings}: {e}"))?
            };
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{settings}: invalid JSON: {e}"))?;
            Ok(HookConfig::from_hooks_json(&v["hooks"]))
        }
        Persona::Codex => Ok(HookConfig::from_hooks_json(&launch.codex_config()["hooks"])),
        Persona::Opencode => {
            let plugin = cwd.join(".opencode/plugins/ao-activity.ts");
            match std::fs::read_to_string(&plugin) {
                Ok(src) => Ok(HookConfig::from_opencode_plugin(&src)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HookConfig::default()),
                Err(e) => Err(format!("{}: {e}", plugin.display())),
            }
        }
        Persona::Grok => {
            let mut hooks = hooks_of_file(&cwd.join(".claude/settings.json"), HookFormat::Claude)?;
            hooks.extend(hooks_of_file(
                &cwd.join(".claude/settings.local.json"),
                HookFormat::Claude,
            )?);
            Ok(hooks)
        }
        Persona::Cursor => hooks_of_file(&cwd.join(".cursor/hooks.json"), HookFormat::Cursor),
        Persona::Qwen => hooks_of_file(&cwd.join(".qwen/settings.json"), HookFormat::Qwen),
        Persona::Copilot => {
            let dir = cwd.join(".github/hooks");
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(format!("{}: {e}", dir.display())),
            };
            files.sort();
            let mut hooks = HookConfig::default();
            for file in files {
                hooks.extend(hooks_of_file(&file, HookFormat::Copilot)?);
            }
            Ok(hooks)
        }
        Persona::Kimi => Ok(HookConfig::default()),
    }
}

/// Claude's trust check (adapters.md §6.1): `projects[<cwd>].hasTrustDialogAccepted` in
/// `$CLAUDE_CONFIG_DIR/.claude.json`, else `$HOME/.claude.json`.
fn claude_trusts(cwd: &Path) -> bool {
    let file = std::env::var_os("CLAUDE_CONFIG_DIR")
        .map(|d| PathBuf::from(d).join(".claude.json"))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".claude.json")));
    let Some(v) = file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return false;
    };
    let logical = std::env::var("PWD").ok();
    [Some(cwd.display().to_string()), logical]
        .into_iter()
        .flatten()
        .any(|k| v["projects"][k.as_str()]["hasTrustDialogAccepted"] == json!(true))
}

/// Reads stdin until it closes, echoing and logging each message and passing every event on.
fn read_keyboard(tx: &mpsc::Sender<Event>, log: &Log) {
    let mut parser = InputParser::new();
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stdin.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => {
                let _ = tx.send(Event::EndOfInput);
                return;
            }
            Ok(n) => n,
        };
        for ev in parser.feed(&buf[..n]) {
            if let Event::Submit(m) = &ev {
                say(&echo(&m.text));
                let mut e = Map::new();
                e.insert("message".into(), json!(m.text));
                e.insert("bracketed".into(), json!(m.bracketed));
                log.write(e);
            }
            if tx.send(ev).is_err() {
                return;
            }
        }
    }
}

/// The `fake-agent` program; returns its exit status.
pub fn main_entry() -> i32 {
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let program = argv.first().map_or("fake-agent", String::as_str);
    let (persona, rest) = if let Some(p) = Persona::from_program(program) {
        (p, argv.get(1..).unwrap_or_default())
    } else if let Some(p) = argv.get(1).and_then(|a| Persona::from_program(a)) {
        (p, argv.get(2..).unwrap_or_default())
    } else {
        eprintln!(
            "fake-agent: unknown persona {program:?}; symlink me as claude, codex, opencode, grok, cursor-agent, qwen, copilot or kimi, or run `fake-agent <persona> …`"
        );
        return 2;
    };
    let knobs = Knobs::from_env();
    let log = Log::new(knobs.log.as_deref());
    let launch = match args::parse(persona, rest) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}: {e}", persona.as_str());
            log.entry("error", json!({"argv": argv, "error": e.to_string()}));
            return 2;
        }
    };
    let mut agent = Agent::new(persona, launch, &knobs, log.clone());
    let tty = std::io::stdin().is_terminal();
    let trusted =
        (knobs.require_trust && persona == Persona::Claude).then(|| claude_trusts(&agent.cwd));
    log.entry("started", agent.started_record(&argv, tty, trusted));

    if let Some(code) = knobs.exit_at_start {
        say(&format!(
            "fake {}: exiting with status {code} at start (FAKE_AGENT_EXIT_AT_START)",
            persona.as_str()
        ));
        log.entry("exit", json!(code));
        return code;
    }

    let terminal = Terminal::enable();
    let (tx, rx) = mpsc::channel();
    {
        let log = log.clone();
        std::thread::spawn(move || read_keyboard(&tx, &log));
    }
    let code = if trusted == Some(false) {
        say("Do you trust the files in this folder?\n  1. Yes, proceed\n  2. No, exit");
        say("(fake-agent: this folder is not trusted in .claude.json; no hook will fire)");
        // Wait like the real screen does, without firing anything.
        loop {
            match rx.recv() {
                Ok(Event::Submit(_)) => {}
                Ok(Event::Interrupt) => break 130,
                Ok(Event::EndOfInput) | Err(_) => break 0,
            }
        }
    } else {
        agent.run(&rx)
    };
    log.entry("exit", json!(code));
    drop(terminal);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_shaped_and_distinct() {
        let a = new_uuid();
        let b = new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_bytes()[14], b'4', "{a}");
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{a}");
        assert!(ao_protocol::limits::is_valid_agent_session_id(&a));
    }

    #[test]
    fn every_hooked_persona_reports_its_session_id_where_ao_reads_it() {
        let knobs = Knobs::default();
        for persona in Persona::ALL {
            let launch = Launch {
                resume: Some("conv-1".into()),
                ..Launch::default()
            };
            let agent = Agent::new(persona, launch, &knobs, Log::new(None));
            assert_eq!(
                agent.session_id, "conv-1",
                "{persona:?} resumes the given id"
            );
            let fired: Vec<&str> = [
                Ev::SessionStart,
                Ev::UserPrompt("hi"),
                Ev::ToolUse,
                Ev::Stop,
            ]
            .into_iter()
            .filter_map(|ev| {
                let native = ev.native(persona)?;
                let (payload, _) = agent.payload(ev, native);
                assert_eq!(
                    ao_protocol::hooks::agent_session_id(&payload).as_deref(),
                    Some("conv-1"),
                    "{persona:?} {native}: {payload}"
                );
                Some(native)
            })
            .collect();
            let want: &[&str] = match persona {
                Persona::Kimi => &[],
                Persona::Opencode => &["session-start", "user-prompt-submit", "stop"],
                Persona::Cursor => &[
                    "sessionStart",
                    "beforeSubmitPrompt",
                    "beforeShellExecution",
                    "stop",
                ],
                Persona::Copilot => &[
                    "sessionStart",
                    "userPromptSubmitted",
                    "preToolUse",
                    "agentStop",
                ],
                _ => &["SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"],
            };
            assert_eq!(fired, want, "{persona:?}");
        }
        assert_eq!(Ev::Permission.native(Persona::Grok), Some("Notification"));
        assert_eq!(
            Ev::Permission.native(Persona::Qwen),
            Some("PermissionRequest")
        );
        assert_eq!(Ev::Permission.native(Persona::Cursor), None);
    }

    #[test]
    fn echo_indents_continuation_lines() {
        assert_eq!(echo("a\nb"), "> a\n  b");
    }
}
