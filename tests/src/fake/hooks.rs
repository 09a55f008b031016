//! Hook configuration as the real agents read it, and running one hook command the way they
//! run it.
//!
//! * [`HookConfig::from_hooks_json`]: Claude's `settings.hooks` / codex's `hooks` config table —
//!   `{"<NativeEvent>": [{"matcher"?: "…", "hooks": [{"type": "command", "command": "…",
//!   "timeout": <seconds>}]}]}`; [`HookConfig::from_hooks_json_as`] also reads the layouts of
//!   qwen (the same groups, with qwen's timeout units), cursor (flat `{command}` entries) and
//!   copilot (flat `{type, bash, powershell, timeoutSec}` entries) — see [`HookFormat`].
//! * [`HookConfig::from_opencode_plugin`]: the hook calls of AO's opencode plugin, keyed by
//!   the AO event name. The plugin is TypeScript; the fake does not run it but reads the
//!   events it fires (quoted AO event names such as `"stop"`) and the shell it runs them with:
//!   a string literal holding `ao hooks opencode "$1"` (run as `/bin/sh -c <literal> ao-hook
//!   <event>`, the way the plugin spawns it), else a literal holding `ao hooks opencode
//!   <event>` (run as is), else plain `ao hooks opencode <event>`.
//! * [`run_hook`]: `/bin/sh -c <command> [args…]` with the JSON payload on stdin, waited for
//!   with the hook's timeout (the child is killed when it expires). Output is captured, never
//!   shown unless the hook fails.
//!
//! Invariant: nothing here panics or blocks past a hook's timeout plus a short output grace;
//! a malformed configuration entry is skipped.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Timeout of a hook entry without one (Claude's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of a copilot hook entry without `timeoutSec`.
pub const COPILOT_DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The opencode plugin's cap on one call (adapters.md §7).
pub const OPENCODE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for a finished hook's output pipes to close.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);
/// Bytes of a hook's stderr kept for the failure message.
const STDERR_KEEP: usize = 4096;

/// One command hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCommand {
    pub command: String,
    /// Extra argv after the `-c` script (`$0`, `$1`, …); empty for Claude and codex.
    pub args: Vec<String>,
    pub timeout: Duration,
}

impl HookCommand {
    /// A plain command string (no extra arguments).
    pub fn new(command: impl Into<String>, timeout: Duration) -> Self {
        Self {
            command: command.into(),
            args: Vec::new(),
            timeout,
        }
    }

    /// The command as shown in the launch log.
    pub fn display(&self) -> String {
        if self.args.is_empty() {
            self.command.clone()
        } else {
            format!("{} [args: {}]", self.command, self.args.join(" "))
        }
    }
}

/// One matcher group of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatcherGroup {
    pub matcher: Option<String>,
    pub hooks: Vec<HookCommand>,
}

/// Every configured hook, by event name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookConfig {
    pub events: BTreeMap<String, Vec<MatcherGroup>>,
}

/// How an agent lays out the entries of its `hooks` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookFormat {
    /// Claude, grok, codex: matcher groups `{matcher?, hooks:[{type, command, timeout}]}`,
    /// timeouts in seconds.
    Claude,
    /// qwen: Claude's matcher groups; a `timeout` of 1000 or more is milliseconds (qwen's
    /// legacy rule, kept by qwen-code 0.24), a smaller one seconds.
    Qwen,
    /// cursor: flat entries `{command, timeout?}` (seconds).
    Cursor,
    /// copilot: flat entries `{type:"command", bash, powershell, timeoutSec}`; the fake runs
    /// `bash`.
    Copilot,
}

impl HookFormat {
    fn grouped(self) -> bool {
        matches!(self, Self::Claude | Self::Qwen)
    }

    /// One command entry; `None` for a non-command entry or one without a command.
    fn entry(self, h: &Value) -> Option<HookCommand> {
        if h.get("type").and_then(Value::as_str).unwrap_or("command") != "command" {
            return None;
        }
        let (command_key, timeout_key) = match self {
            Self::Copilot => ("bash", "timeoutSec"),
            _ => ("command", "timeout"),
        };
        let command = h.get(command_key)?.as_str()?.to_string();
        let timeout = h
            .get(timeout_key)
            .and_then(Value::as_f64)
            .filter(|t| t.is_finite() && *t > 0.0)
            .map_or(
                if self == Self::Copilot {
                    COPILOT_DEFAULT_TIMEOUT
                } else {
                    DEFAULT_TIMEOUT
                },
                |t| {
                    if self == Self::Qwen && t >= 1000.0 {
                        Duration::from_secs_f64(t / 1000.0)
                    } else {
                        Duration::from_secs_f64(t)
                    }
                },
            );
        Some(HookCommand::new(command, timeout))
    }
}

impl HookConfig {
    /// Reads a `hooks` table in Claude's layout (see the module docs).
    pub fn from_hooks_json(hooks: &Value) -> Self {
        Self::from_hooks_json_as(hooks, HookFormat::Claude)
    }

    /// Reads a `hooks` table laid out as `format`. Entries whose `type` is not `command` or
    /// whose command is missing are skipped, and so is a group or an entry of the other
    /// layout.
    pub fn from_hooks_json_as(hooks: &Value, format: HookFormat) -> Self {
        let mut events = BTreeMap::new();
        let Some(map) = hooks.as_object() else {
            return Self { events };
        };
        for (event, groups) in map {
            let groups: Vec<MatcherGroup> = groups
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| {
                    if !format.grouped() {
                        let hook = format.entry(g)?;
                        return Some(MatcherGroup {
                            matcher: None,
                            hooks: vec![hook],
                        });
                    }
                    let hooks: Vec<HookCommand> = g
                        .get("hooks")?
                        .as_array()?
                        .iter()
                        .filter_map(|h| format.entry(h))
                        .collect();
                    let matcher = g.get("matcher").and_then(Value::as_str).map(str::to_string);
                    Some(MatcherGroup { matcher, hooks })
                })
                .collect();
            events.insert(event.clone(), groups);
        }
        Self { events }
    }

    /// Adds every hook of `other` after this one's (agents that read several files run the
    /// hooks of all of them).
    pub fn extend(&mut self, other: Self) {
        for (event, groups) in other.events {
            self.events.entry(event).or_default().extend(groups);
        }
    }

    /// Reads AO's opencode plugin source (see the module docs). A source that never mentions
    /// `ao hooks opencode` configures nothing.
    pub fn from_opencode_plugin(source: &str) -> Self {
        let mut events = BTreeMap::new();
        if !source.contains(OPENCODE_NEEDLE) {
            return Self { events };
        }
        let literals = string_literals(source);
        let positional = literals.iter().find(|l| {
            l.contains(&format!("{OPENCODE_NEEDLE}\"$1\""))
                || l.contains(&format!("{OPENCODE_NEEDLE}$1"))
        });
        for &event in ao_protocol::hooks::events_of(ao_protocol::Harness::Opencode) {
            let literal_cmd = format!("{OPENCODE_NEEDLE}{event}");
            let mentions_literal = |l: &str| {
                l.match_indices(&literal_cmd).any(|(i, _)| {
                    !l[i + literal_cmd.len()..]
                        .starts_with(|c: char| c.is_ascii_lowercase() || c == '-')
                })
            };
            let fired = literals.iter().any(|l| l == event || mentions_literal(l));
            if !fired {
                continue;
            }
            let hook = if let Some(l) = literals.iter().find(|l| mentions_literal(l)) {
                HookCommand::new(l.clone(), OPENCODE_TIMEOUT)
            } else if let Some(script) = positional {
                HookCommand {
                    command: script.clone(),
                    args: vec!["ao-hook".into(), event.to_string()],
                    timeout: OPENCODE_TIMEOUT,
                }
            } else {
                HookCommand::new(literal_cmd, OPENCODE_TIMEOUT)
            };
            events.insert(
                event.to_string(),
                vec![MatcherGroup {
                    matcher: None,
                    hooks: vec![hook],
                }],
            );
        }
        Self { events }
    }

    /// The commands to run for `event`, whose matcher subject (SessionStart's `source`, a tool
    /// name, a notification type) is `subject`.
    pub fn commands_for(&self, event: &str, subject: Option<&str>) -> Vec<&HookCommand> {
        self.events
            .get(event)
            .into_iter()
            .flatten()
            .filter(|g| matcher_matches(g.matcher.as_deref(), subject))
            .flat_map(|g| g.hooks.iter())
            .collect()
    }

    /// `{event: [command, …]}` for the launch log.
    pub fn summary(&self) -> BTreeMap<String, Vec<String>> {
        self.events
            .iter()
            .map(|(e, groups)| {
                let cmds = groups
                    .iter()
                    .flat_map(|g| g.hooks.iter().map(HookCommand::display))
                    .collect();
                (e.clone(), cmds)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.events
            .values()
            .all(|g| g.iter().all(|g| g.hooks.is_empty()))
    }
}

const OPENCODE_NEEDLE: &str = "ao hooks opencode ";

/// The contents of the `'…'`, `"…"` and `` `…` `` string literals of a TypeScript source,
/// outside `//` and `/* */` comments, with `\\x` escapes resolved to `x`.
fn string_literals(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for c in chars.by_ref() {
                    if prev == '*' && c == '/' {
                        break;
                    }
                    prev = c;
                }
            }
            '\'' | '"' | '`' => {
                let mut lit = String::new();
                while let Some(d) = chars.next() {
                    if d == c {
                        break;
                    }
                    if d == '\\' {
                        if let Some(e) = chars.next() {
                            lit.push(e);
                        }
                    } else {
                        lit.push(d);
                    }
                }
                out.push(lit);
            }
            _ => {}
        }
    }
    out
}

/// Claude's matcher rule, simplified: absent, empty and `*` match everything; otherwise the
/// matcher is a `|`-separated list of exact alternatives. An event without a subject matches
/// every group.
pub fn matcher_matches(matcher: Option<&str>, subject: Option<&str>) -> bool {
    let Some(m) = matcher
        .map(str::trim)
        .filter(|m| !m.is_empty() && *m != "*")
    else {
        return true;
    };
    let Some(subject) = subject else {
        return true;
    };
    m.split('|').any(|alt| alt.trim() == subject)
}

/// How one hook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOutcome {
    /// The exit code (None: killed by a signal, timed out, or not started).
    pub status: Option<i32>,
    pub timed_out: bool,
    /// The tail of stderr, or why the hook could not start.
    pub stderr: String,
}

impl HookOutcome {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
}

/// Runs `/bin/sh -c <command>` with `payload` (one JSON line) on stdin and waits for it, at most
/// `hook.timeout`.
pub fn run_hook(hook: &HookCommand, payload: &Value, env: &[(&str, String)]) -> HookOutcome {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&hook.command)
        .args(&hook.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return HookOutcome {
                status: None,
                timed_out: false,
                stderr: format!("cannot start /bin/sh: {e}"),
            };
        }
    };
    // Feed stdin from a thread: a hook that never reads it must not block us.
    if let Some(mut stdin) = child.stdin.take() {
        let bytes = payload.to_string().into_bytes();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let (tx, rx) = mpsc::channel::<(bool, Vec<u8>)>();
    for (is_err, pipe) in [
        (
            false,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
        (
            true,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ),
    ] {
        if let Some(mut pipe) = pipe {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                let _ = tx.send((is_err, buf));
            });
        }
    }
    drop(tx);

    let deadline = Instant::now() + hook.timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code(),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return HookOutcome {
                    status: None,
                    timed_out: false,
                    stderr: format!("waiting for the hook failed: {e}"),
                };
            }
        }
    };
    // Collect stderr; a background grandchild holding the pipe open must not hold us.
    let mut stderr = Vec::new();
    let grace = Instant::now() + OUTPUT_GRACE;
    while let Ok((is_err, buf)) = rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
        if is_err {
            stderr = buf;
        }
    }
    let start = stderr.len().saturating_sub(STDERR_KEEP);
    let mut stderr = String::from_utf8_lossy(&stderr[start..]).trim().to_string();
    if timed_out {
        stderr = format!("timed out after {:?}; {stderr}", hook.timeout);
    }
    HookOutcome {
        status,
        timed_out,
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claude_settings_hooks() {
        let settings = json!({
            "skipDangerousModePermissionPrompt": true,
            "hooks": {
                "SessionStart": [{"hooks": [{"type": "command", "command": "ao hooks claude-code session-start", "timeout": 30}]}],
                "PostToolUse": [
                    {"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "fmt"}]},
                    {"matcher": "*", "hooks": [{"type": "command", "command": "ao hooks claude-code tool-use", "timeout": 30}]}
                ],
                "Notification": [{"matcher": "", "hooks": [
                    {"type": "prompt", "prompt": "x"},
                    {"type": "command"},
                    {"type": "command", "command": "ao hooks claude-code notification", "timeout": 1.5}
                ]}],
                "Stop": "not a list"
            }
        });
        let c = HookConfig::from_hooks_json(&settings["hooks"]);
        let start = c.commands_for("SessionStart", Some("resume"));
        assert_eq!(
            start,
            [&HookCommand::new(
                "ao hooks claude-code session-start",
                Duration::from_secs(30)
            )]
        );
        let tools: Vec<&str> = c
            .commands_for("PostToolUse", Some("Bash"))
            .iter()
            .map(|h| h.command.as_str())
            .collect();
        assert_eq!(tools, ["ao hooks claude-code tool-use"]);
        assert_eq!(c.commands_for("PostToolUse", Some("Write")).len(), 2);
        let n = c.commands_for("Notification", Some("permission_prompt"));
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].timeout, Duration::from_millis(1500));
        assert!(c.commands_for("Stop", None).is_empty());
        assert!(c.commands_for("SessionEnd", None).is_empty());
        assert_eq!(
            c.summary()["PostToolUse"],
            ["fmt", "ao hooks claude-code tool-use"]
        );
        assert!(HookConfig::from_hooks_json(&json!(null)).is_empty());
    }

    #[test]
    fn qwen_cursor_and_copilot_layouts() {
        let qwen = json!({
            "SessionStart": [{"matcher": "startup", "hooks": [
                {"type": "command", "command": "ao hooks qwen session-start", "timeout": 30000}
            ]}],
            "Stop": [{"hooks": [{"type": "command", "command": "short", "timeout": 5}]}]
        });
        let c = HookConfig::from_hooks_json_as(&qwen, HookFormat::Qwen);
        let start = c.commands_for("SessionStart", Some("startup"));
        assert_eq!(
            start[0].timeout,
            Duration::from_secs(30),
            "legacy milliseconds"
        );
        assert!(c.commands_for("SessionStart", Some("resume")).is_empty());
        assert_eq!(
            c.commands_for("Stop", None)[0].timeout,
            Duration::from_secs(5)
        );

        let cursor = json!({
            "stop": [{"command": "ao hooks cursor stop"}, {"hooks": [{"command": "grouped"}]}]
        });
        let c = HookConfig::from_hooks_json_as(&cursor, HookFormat::Cursor);
        let stop: Vec<&str> = c
            .commands_for("stop", None)
            .iter()
            .map(|h| h.command.as_str())
            .collect();
        assert_eq!(
            stop,
            ["ao hooks cursor stop"],
            "a matcher group is not cursor's layout"
        );

        let copilot = json!({
            "agentStop": [
                {"type": "command", "bash": "ao hooks copilot stop", "powershell": "x", "timeoutSec": 7},
                {"type": "command", "powershell": "windows only"},
                {"type": "prompt", "prompt": "hi"}
            ]
        });
        let mut c = HookConfig::from_hooks_json_as(&copilot, HookFormat::Copilot);
        assert_eq!(
            c.commands_for("agentStop", None),
            [&HookCommand::new(
                "ao hooks copilot stop",
                Duration::from_secs(7)
            )]
        );
        c.extend(HookConfig::from_hooks_json_as(
            &json!({"agentStop": [{"type": "command", "bash": "second file"}]}),
            HookFormat::Copilot,
        ));
        let all = c.commands_for("agentStop", None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].timeout, COPILOT_DEFAULT_TIMEOUT);
    }

    #[test]
    fn matchers() {
        assert!(matcher_matches(None, Some("x")));
        assert!(matcher_matches(Some("*"), Some("x")));
        assert!(matcher_matches(Some("startup|resume"), Some("resume")));
        assert!(!matcher_matches(Some("startup"), Some("resume")));
        assert!(matcher_matches(Some("startup"), None));
    }

    #[test]
    fn opencode_plugin_with_a_positional_guard_script() {
        // The shape of AO's plugin: events passed as "$1" to one guarded script.
        let src = r#"// managed by ao: activity hooks (do not edit)
// runs `ao hooks opencode <event>` with a payload on stdin
const GUARD = 'command -v ao >/dev/null 2>&1 || exit 0; exec ao hooks opencode "$1"'
export const AoActivity = async ({ client }) => {
  const fire = async (event, sessionId) => {
    Bun.spawnSync({ cmd: ["/bin/sh", "-c", GUARD, "ao-hook", event] })
    await log("warn", `ao hooks opencode ${event} failed`)
  }
  return { event: async ({ event }) => {
    switch (event.type) {
      case "session.created": await fire("session-start", id); break
      case "message.updated": await fire('user-prompt-submit', id); break
      case "session.status": if (idle) await fire("stop", id); break
    }
  } }
}"#;
        let c = HookConfig::from_opencode_plugin(src);
        let names: Vec<&str> = c.events.keys().map(String::as_str).collect();
        assert_eq!(names, ["session-start", "stop", "user-prompt-submit"]);
        let stop = c.commands_for("stop", None)[0];
        assert_eq!(
            stop.command,
            r#"command -v ao >/dev/null 2>&1 || exit 0; exec ao hooks opencode "$1""#
        );
        assert_eq!(stop.args, ["ao-hook", "stop"]);
        assert_eq!(stop.timeout, OPENCODE_TIMEOUT);
    }

    #[test]
    fn opencode_plugin_with_literal_commands() {
        let src = r#"/* ao hooks opencode stop (in a comment: not a call) */
const a = "command -v ao && ao hooks opencode session-start"
const b = `ao hooks opencode stop`
"#;
        let c = HookConfig::from_opencode_plugin(src);
        let names: Vec<&str> = c.events.keys().map(String::as_str).collect();
        assert_eq!(names, ["session-start", "stop"]);
        assert_eq!(
            c.commands_for("session-start", None)[0],
            &HookCommand::new(
                "command -v ao && ao hooks opencode session-start",
                OPENCODE_TIMEOUT
            )
        );
        assert!(HookConfig::from_opencode_plugin("export const X = 1 // \"stop\"").is_empty());
    }

    #[test]
    fn running_hooks_passes_positional_arguments() {
        let hook = HookCommand {
            command: r#"test "$0 $1" = "ao-hook stop""#.into(),
            args: vec!["ao-hook".into(), "stop".into()],
            timeout: Duration::from_secs(10),
        };
        let r = run_hook(&hook, &json!({}), &[]);
        assert!(r.ok(), "{r:?}");
    }

    #[test]
    fn running_hooks_feeds_stdin_and_honours_the_timeout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.json");
        let hook = HookCommand::new(
            format!("cat > '{}'; echo oops >&2; exit 4", out.display()),
            Duration::from_secs(10),
        );
        let r = run_hook(&hook, &json!({"a": 1}), &[("X_ENV", "v".into())]);
        assert_eq!(r.status, Some(4));
        assert!(!r.ok());
        assert_eq!(r.stderr, "oops");
        assert_eq!(
            std::fs::read_to_string(&out).expect("written"),
            r#"{"a":1}"#
        );

        let env = run_hook(
            &HookCommand::new("test \"$X_ENV\" = v", Duration::from_secs(10)),
            &json!({}),
            &[("X_ENV", "v".into())],
        );
        assert!(env.ok(), "{env:?}");

        let started = Instant::now();
        let slow = run_hook(
            &HookCommand::new("exec sleep 30", Duration::from_millis(200)),
            &json!({}),
            &[],
        );
        assert!(slow.timed_out);
        assert_eq!(slow.status, None);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
