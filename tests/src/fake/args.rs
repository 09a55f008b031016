//! Command-line parsing of the eight personas, for exactly the argv shapes of adapters.md §6
//! (plus the common flags of the real CLIs, so a hand-written command line works too).
//!
//! * [`Persona`]: which agent the binary impersonates, from argv[0]'s file name (the agent's
//!   binary name: `claude`, `codex`, `opencode`, `grok`, `cursor-agent`, `qwen`, `copilot`,
//!   `kimi`).
//! * [`Launch`]: what the command line asked for — ids, settings, prompt, system prompt, the
//!   permission mode as the agent spells it, and for codex the `-c` overrides merged into one
//!   JSON config ([`Launch::codex_config`]).
//!
//! Invariant: parsing never panics; a flag that needs a value and has none is an
//! [`ArgError`], unknown flags are recorded and otherwise ignored.

use serde_json::{Map, Value};

use super::toml;

/// The agent being impersonated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    Claude,
    Codex,
    Opencode,
    Grok,
    Cursor,
    Qwen,
    Copilot,
    Kimi,
}

impl Persona {
    /// Every persona.
    pub const ALL: [Self; 8] = [
        Self::Claude,
        Self::Codex,
        Self::Opencode,
        Self::Grok,
        Self::Cursor,
        Self::Qwen,
        Self::Copilot,
        Self::Kimi,
    ];

    /// From a program name (the agent's binary name, with any directory).
    pub fn from_program(name: &str) -> Option<Self> {
        let file = name.rsplit('/').next().unwrap_or(name);
        Self::ALL.into_iter().find(|p| p.as_str() == file)
    }

    /// The binary name the persona answers to.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claude => "claude",
            Self::Codex => "codex",
            Self::Opencode => "opencode",
            Self::Grok => "grok",
            Self::Cursor => "cursor-agent",
            Self::Qwen => "qwen",
            Self::Copilot => "copilot",
            Self::Kimi => "kimi",
        }
    }
}

/// A command line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("{flag} needs a value")]
    MissingValue { flag: String },
    /// A flag the real CLI refuses (codex 0.169.0 has no `--full-auto`).
    #[error("unexpected argument '{flag}' found")]
    Unexpected { flag: String },
}

/// What the command line asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Launch {
    /// claude `--session-id`.
    pub session_id: Option<String>,
    /// claude/grok/qwen `--resume`/`-r`, codex `resume … <id>`, opencode `--session`/`-s`,
    /// cursor/copilot `--resume`, kimi `--session`/`-S`/`--resume`/`-r`.
    pub resume: Option<String>,
    /// codex `resume` subcommand given (even without an id).
    pub resume_subcommand: bool,
    /// claude `--settings` (a file path or inline JSON).
    pub settings: Option<String>,
    /// As the agent spells it: claude/grok `--permission-mode`, codex `--ask-for-approval` (or
    /// its flag), opencode/cursor/copilot/kimi the flag without dashes (`force`, `allow-all`,
    /// `allow-tool=write`, `auto`, `yolo`), qwen `--approval-mode`.
    pub permission_mode: Option<String>,
    pub model: Option<String>,
    /// claude `--append-system-prompt`/`--system-prompt`; codex `-c developer_instructions=`.
    pub system_prompt: Option<String>,
    /// The first prompt: after `--`, positional, opencode `--prompt`, qwen/copilot `-i`.
    pub prompt: Option<String>,
    /// codex `-c key=value` flags, raw, in order.
    pub config_overrides: Vec<(String, String)>,
    /// Flags without a value that were given (`--full-auto`, `--dangerously-…`, unknown ones).
    pub flags: Vec<String>,
}

impl Launch {
    /// The codex `-c` overrides as one JSON object: each key path set to its value parsed as
    /// TOML, or to the raw text when it is not valid TOML (as codex does).
    pub fn codex_config(&self) -> Value {
        let mut root = Map::new();
        for (key, raw) in &self.config_overrides {
            let path = toml::parse_key_path(key).unwrap_or_else(|_| vec![key.clone()]);
            let value = toml::parse_value(raw).unwrap_or_else(|_| Value::String(raw.clone()));
            toml::set_path(&mut root, &path, value);
        }
        Value::Object(root)
    }
}

/// Parses `args` (without argv[0]) for `persona`.
pub fn parse(persona: Persona, args: &[String]) -> Result<Launch, ArgError> {
    match persona {
        Persona::Claude => parse_claude(args),
        Persona::Codex => parse_codex(args),
        Persona::Opencode => parse_opencode(args),
        Persona::Grok => parse_grok(args),
        Persona::Cursor => parse_cursor(args),
        Persona::Qwen => parse_qwen(args),
        Persona::Copilot => parse_copilot(args),
        Persona::Kimi => parse_kimi(args),
    }
}

/// Splits `--flag=value` into its parts.
fn split_eq(arg: &str) -> (&str, Option<&str>) {
    if arg.starts_with("--")
        && let Some((f, v)) = arg.split_once('=')
    {
        return (f, Some(v));
    }
    (arg, None)
}

/// Walks argv: `on_value` is asked for every flag whether it takes a value and gets it;
/// positionals and everything after `--` go to `positionals`.
fn walk(
    args: &[String],
    takes_value: impl Fn(&str) -> bool,
    mut on_flag: impl FnMut(&str, Option<String>),
    positionals: &mut Vec<String>,
) -> Result<(), ArgError> {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            positionals.extend(args[i..].iter().cloned());
            return Ok(());
        }
        if arg.len() > 1 && arg.starts_with('-') {
            let (flag, inline) = split_eq(arg);
            if takes_value(flag) {
                let value = if let Some(v) = inline {
                    v.to_string()
                } else {
                    let v = args.get(i).ok_or_else(|| ArgError::MissingValue {
                        flag: flag.to_string(),
                    })?;
                    i += 1;
                    v.clone()
                };
                on_flag(flag, Some(value));
            } else {
                on_flag(arg, None);
            }
        } else {
            positionals.push(arg.clone());
        }
    }
    Ok(())
}

fn joined(words: &[String]) -> Option<String> {
    (!words.is_empty()).then(|| words.join(" "))
}

fn parse_claude(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--session-id"
                    | "--settings"
                    | "--resume"
                    | "-r"
                    | "--permission-mode"
                    | "--model"
                    | "--append-system-prompt"
                    | "--system-prompt"
                    | "--add-dir"
                    | "--allowedTools"
                    | "--disallowedTools"
                    | "--output-format"
                    | "--input-format"
                    | "--mcp-config"
                    | "--fallback-model"
            )
        },
        |flag, value| match (flag, value) {
            ("--session-id", v) => l.session_id = v,
            ("--settings", v) => l.settings = v,
            ("--resume" | "-r", v) => l.resume = v,
            ("--permission-mode", v) => l.permission_mode = v,
            ("--model", v) => l.model = v,
            ("--append-system-prompt" | "--system-prompt", v) => l.system_prompt = v,
            (f, None) => l.flags.push(f.to_string()),
            _ => {}
        },
        &mut positionals,
    )?;
    l.prompt = joined(&positionals);
    Ok(l)
}

fn parse_codex(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut args = args;
    if args.first().is_some_and(|a| a == "resume") {
        l.resume_subcommand = true;
        args = &args[1..];
    }
    let mut positionals = Vec::new();
    let mut overrides = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "-c" | "--config"
                    | "-m"
                    | "--model"
                    | "-a"
                    | "--ask-for-approval"
                    | "-s"
                    | "--sandbox"
                    | "-p"
                    | "--profile"
                    | "-C"
                    | "--cd"
                    | "-i"
                    | "--image"
            )
        },
        |flag, value| match (flag, value) {
            ("-c" | "--config", Some(v)) => {
                let (k, val) = v.split_once('=').unwrap_or((v.as_str(), ""));
                overrides.push((k.trim().to_string(), val.to_string()));
            }
            ("-m" | "--model", v) => l.model = v,
            ("-a" | "--ask-for-approval", v) => l.permission_mode = v,
            (f, None) => l.flags.push(f.to_string()),
            _ => {}
        },
        &mut positionals,
    )?;
    if let Some(flag) = l.flags.iter().find(|f| *f == "--full-auto") {
        return Err(ArgError::Unexpected { flag: flag.clone() });
    }
    l.config_overrides = overrides;
    if l.resume_subcommand && !positionals.is_empty() {
        // `codex resume [flags] <id> [prompt]`.
        l.resume = Some(positionals.remove(0));
    }
    l.prompt = joined(&positionals);
    if let Some(Value::String(s)) = l.codex_config().get("developer_instructions") {
        l.system_prompt = Some(s.clone());
    }
    if l.permission_mode.is_none() {
        l.permission_mode = l
            .flags
            .iter()
            .find(|f| *f == "--dangerously-bypass-approvals-and-sandbox")
            .map(|f| f.trim_start_matches('-').to_string());
    }
    Ok(l)
}

fn parse_opencode(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--prompt"
                    | "--session"
                    | "-s"
                    | "-m"
                    | "--model"
                    | "--agent"
                    | "--port"
                    | "--hostname"
                    | "--log-level"
            )
        },
        |flag, value| match (flag, value) {
            ("--prompt", v) => l.prompt = v,
            ("--session" | "-s", v) => l.resume = v,
            ("-m" | "--model", v) => l.model = v,
            (f, None) => {
                if f == "--dangerously-skip-permissions" {
                    l.permission_mode = Some("dangerously-skip-permissions".into());
                }
                l.flags.push(f.to_string());
            }
            _ => {}
        },
        // `opencode [project]`: a positional is the project directory, not a prompt.
        &mut positionals,
    )?;
    Ok(l)
}

/// `flag` without its leading dashes.
fn undashed(flag: &str) -> String {
    flag.trim_start_matches('-').to_string()
}

/// grok (xAI): `grok --no-auto-update [--permission-mode M] [-r <id>] [prompt]`.
fn parse_grok(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--permission-mode" | "-r" | "--resume" | "-m" | "--model"
            )
        },
        |flag, value| match (flag, value) {
            ("--permission-mode", v) => l.permission_mode = v,
            ("-r" | "--resume", v) => l.resume = v,
            ("-m" | "--model", v) => l.model = v,
            (f, None) => l.flags.push(f.to_string()),
            _ => {}
        },
        &mut positionals,
    )?;
    l.prompt = joined(&positionals);
    Ok(l)
}

/// `cursor-agent [--force] [--model M] [--resume <id>] [prompt]`.
fn parse_cursor(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--model" | "-m" | "--resume" | "--output-format" | "--api-key"
            )
        },
        |flag, value| match (flag, value) {
            ("--model" | "-m", v) => l.model = v,
            ("--resume", v) => l.resume = v,
            (f, None) => {
                if matches!(f, "--force" | "-f") {
                    l.permission_mode = Some("force".into());
                }
                l.flags.push(f.to_string());
            }
            _ => {}
        },
        &mut positionals,
    )?;
    l.prompt = joined(&positionals);
    Ok(l)
}

/// `qwen [--approval-mode M] [-m M] [-i P] [-r <id>]`.
fn parse_qwen(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--approval-mode"
                    | "-m"
                    | "--model"
                    | "-i"
                    | "--prompt-interactive"
                    | "-p"
                    | "--prompt"
                    | "-r"
                    | "--resume"
                    | "--session-id"
                    | "--system-prompt"
                    | "--append-system-prompt"
            )
        },
        |flag, value| match (flag, value) {
            ("--approval-mode", v) => l.permission_mode = v,
            ("-m" | "--model", v) => l.model = v,
            ("-i" | "--prompt-interactive" | "-p" | "--prompt", v) => l.prompt = v,
            ("-r" | "--resume", v) => l.resume = v,
            ("--session-id", v) => l.session_id = v,
            ("--system-prompt" | "--append-system-prompt", v) => l.system_prompt = v,
            (f, None) => {
                if matches!(f, "-y" | "--yolo") {
                    l.permission_mode = Some("yolo".into());
                }
                l.flags.push(f.to_string());
            }
            _ => {}
        },
        &mut positionals,
    )?;
    if l.prompt.is_none() {
        l.prompt = joined(&positionals);
    }
    Ok(l)
}

/// `copilot [--allow-tool T | --allow-all-tools | --allow-all] [--model M] [--resume <id>]
/// [-i P]`.
fn parse_copilot(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--allow-tool"
                    | "--deny-tool"
                    | "--model"
                    | "--resume"
                    | "-r"
                    | "-i"
                    | "--interactive"
                    | "-p"
                    | "--prompt"
                    | "--session-id"
            )
        },
        |flag, value| match (flag, value) {
            ("--allow-tool", Some(v)) => l.permission_mode = Some(format!("allow-tool={v}")),
            ("--model", v) => l.model = v,
            ("--resume" | "-r", v) => l.resume = v,
            ("-i" | "--interactive" | "-p" | "--prompt", v) => l.prompt = v,
            ("--session-id", v) => l.session_id = v,
            (f, None) => {
                if matches!(f, "--allow-all-tools" | "--allow-all" | "--yolo") {
                    l.permission_mode = Some(undashed(f));
                }
                l.flags.push(f.to_string());
            }
            _ => {}
        },
        &mut positionals,
    )?;
    Ok(l)
}

/// `kimi [--auto | -y] [--session <id>]`.
fn parse_kimi(args: &[String]) -> Result<Launch, ArgError> {
    let mut l = Launch::default();
    let mut positionals = Vec::new();
    walk(
        args,
        |f| {
            matches!(
                f,
                "--session" | "-S" | "--resume" | "-r" | "-m" | "--model" | "-w" | "--work-dir"
            )
        },
        |flag, value| match (flag, value) {
            ("--session" | "-S" | "--resume" | "-r", v) => l.resume = v,
            ("-m" | "--model", v) => l.model = v,
            (f, None) => {
                match f {
                    "--auto" => l.permission_mode = Some("auto".into()),
                    "-y" | "--yolo" | "--yes" | "--auto-approve" => {
                        l.permission_mode = Some("yolo".into());
                    }
                    _ => {}
                }
                l.flags.push(f.to_string());
            }
            _ => {}
        },
        &mut positionals,
    )?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn personas_from_program_names() {
        assert_eq!(
            Persona::from_program("/tmp/bin/claude"),
            Some(Persona::Claude)
        );
        assert_eq!(Persona::from_program("codex"), Some(Persona::Codex));
        assert_eq!(Persona::from_program("./opencode"), Some(Persona::Opencode));
        assert_eq!(
            Persona::from_program("/x/cursor-agent"),
            Some(Persona::Cursor)
        );
        assert_eq!(Persona::from_program("cursor"), None);
        assert_eq!(Persona::from_program("fake-agent"), None);
        for p in Persona::ALL {
            assert_eq!(Persona::from_program(p.as_str()), Some(p));
        }
    }

    #[test]
    fn claude_launch_and_restore_argv() {
        let l = parse(
            Persona::Claude,
            &v(&[
                "--session-id",
                "6f1c0a52-5b1e-4d0c-9a7e-3b2f4c8d9e10",
                "--settings",
                "/d/claude-settings.json",
                "--permission-mode",
                "acceptEdits",
                "--model",
                "opus",
                "--append-system-prompt",
                "You are AO session p-1.\nBe nice.",
                "--",
                "--write the docs",
            ]),
        )
        .expect("parses");
        assert_eq!(
            l.session_id.as_deref(),
            Some("6f1c0a52-5b1e-4d0c-9a7e-3b2f4c8d9e10")
        );
        assert_eq!(l.settings.as_deref(), Some("/d/claude-settings.json"));
        assert_eq!(l.permission_mode.as_deref(), Some("acceptEdits"));
        assert_eq!(l.model.as_deref(), Some("opus"));
        assert_eq!(
            l.system_prompt.as_deref(),
            Some("You are AO session p-1.\nBe nice.")
        );
        assert_eq!(l.prompt.as_deref(), Some("--write the docs"));
        assert_eq!(l.resume, None);

        let r = parse(
            Persona::Claude,
            &v(&[
                "--settings=/s.json",
                "--dangerously-skip-permissions",
                "--resume",
                "abc",
            ]),
        )
        .expect("parses");
        assert_eq!(r.resume.as_deref(), Some("abc"));
        assert_eq!(r.settings.as_deref(), Some("/s.json"));
        assert_eq!(r.flags, ["--dangerously-skip-permissions"]);
        assert_eq!(r.prompt, None);

        assert_eq!(
            parse(Persona::Claude, &v(&["--resume"])),
            Err(ArgError::MissingValue {
                flag: "--resume".into()
            })
        );
    }

    #[test]
    fn codex_launch_flags_and_hooks() {
        let hook = |ev: &str, ao: &str| {
            format!(
                "hooks.{ev}=[{{hooks=[{{type=\"command\",command=\"ao hooks codex {ao}\",timeout=5}}]}}]"
            )
        };
        let mut args = v(&[
            "-c",
            "check_for_update_on_startup=false",
            "--dangerously-bypass-hook-trust",
            "--sandbox",
            "workspace-write",
            "--ask-for-approval",
            "on-request",
        ]);
        for (ev, ao) in [
            ("SessionStart", "session-start"),
            ("UserPromptSubmit", "user-prompt-submit"),
            ("PermissionRequest", "permission-request"),
            ("Stop", "stop"),
        ] {
            args.push("-c".into());
            args.push(hook(ev, ao));
        }
        args.extend(v(&[
            "-c",
            "projects={'/w/t'={trust_level=\"trusted\"}}",
            "-m",
            "o3",
            "-c",
            "developer_instructions='be brief'",
            "--",
            "fix it",
        ]));
        let l = parse(Persona::Codex, &args).expect("parses");
        assert_eq!(l.prompt.as_deref(), Some("fix it"));
        assert_eq!(l.model.as_deref(), Some("o3"));
        assert_eq!(l.system_prompt.as_deref(), Some("be brief"));
        assert_eq!(l.permission_mode.as_deref(), Some("on-request"));
        assert!(!l.resume_subcommand);
        let cfg = l.codex_config();
        assert_eq!(cfg["check_for_update_on_startup"], json!(false));
        assert_eq!(cfg["projects"]["/w/t"]["trust_level"], "trusted");
        assert_eq!(
            cfg["hooks"]["Stop"],
            json!([{"hooks": [{"type": "command", "command": "ao hooks codex stop", "timeout": 5}]}])
        );
        assert_eq!(cfg["hooks"].as_object().map(Map::len), Some(4));

        // Restore: `codex resume <launch flags without prompt> <id>`; an escaped basic string.
        let mut restore = v(&["resume"]);
        restore.extend(args[..args.len() - 4].iter().cloned());
        restore.extend(v(&[
            "-c",
            "developer_instructions=\"it's\\nhere\"",
            "0199a213-81c0-7800-8aa1-bbab2a035a53",
        ]));
        let r = parse(Persona::Codex, &restore).expect("parses");
        assert!(r.resume_subcommand);
        assert_eq!(
            r.resume.as_deref(),
            Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
        );
        assert_eq!(r.prompt, None);
        assert_eq!(r.system_prompt.as_deref(), Some("it's\nhere"));
        // A value that is not TOML is taken as a string, like codex does.
        let s = parse(Persona::Codex, &v(&["-c", "model=gpt 5"])).expect("parses");
        assert_eq!(s.codex_config()["model"], "gpt 5");
    }

    #[test]
    fn opencode_flags() {
        let l = parse(
            Persona::Opencode,
            &v(&[
                "--dangerously-skip-permissions",
                "-m",
                "anthropic/x",
                "--prompt",
                "sys\n\n---\n\nhi",
            ]),
        )
        .expect("parses");
        assert_eq!(l.prompt.as_deref(), Some("sys\n\n---\n\nhi"));
        assert_eq!(l.model.as_deref(), Some("anthropic/x"));
        assert_eq!(
            l.permission_mode.as_deref(),
            Some("dangerously-skip-permissions")
        );
        let r = parse(Persona::Opencode, &v(&["--session", "ses_1"])).expect("parses");
        assert_eq!(r.resume.as_deref(), Some("ses_1"));
        assert_eq!(r.prompt, None);
    }

    #[test]
    fn the_new_personas_take_the_launch_and_restore_argv_of_their_adapters() {
        let grok = parse(
            Persona::Grok,
            &v(&[
                "--no-auto-update",
                "--permission-mode",
                "acceptEdits",
                "-r",
                "g-1",
            ]),
        )
        .expect("parses");
        assert_eq!(grok.permission_mode.as_deref(), Some("acceptEdits"));
        assert_eq!(grok.resume.as_deref(), Some("g-1"));
        assert_eq!(grok.flags, ["--no-auto-update"]);

        let cursor = parse(
            Persona::Cursor,
            &v(&["--force", "--model", "sonnet-4.5", "--resume", "c-1"]),
        )
        .expect("parses");
        assert_eq!(cursor.permission_mode.as_deref(), Some("force"));
        assert_eq!(cursor.model.as_deref(), Some("sonnet-4.5"));
        assert_eq!(cursor.resume.as_deref(), Some("c-1"));

        let qwen = parse(
            Persona::Qwen,
            &v(&[
                "--approval-mode",
                "auto-edit",
                "-m",
                "qwen3",
                "-i",
                "sys\n\n---\n\nhi",
            ]),
        )
        .expect("parses");
        assert_eq!(qwen.permission_mode.as_deref(), Some("auto-edit"));
        assert_eq!(qwen.model.as_deref(), Some("qwen3"));
        assert_eq!(qwen.prompt.as_deref(), Some("sys\n\n---\n\nhi"));
        let qwen = parse(Persona::Qwen, &v(&["-r", "q-1"])).expect("parses");
        assert_eq!((qwen.resume.as_deref(), qwen.prompt), (Some("q-1"), None));

        let copilot = parse(
            Persona::Copilot,
            &v(&[
                "--allow-tool",
                "write",
                "--model",
                "gpt-5",
                "--resume",
                "s-1",
            ]),
        )
        .expect("parses");
        assert_eq!(copilot.permission_mode.as_deref(), Some("allow-tool=write"));
        assert_eq!(copilot.resume.as_deref(), Some("s-1"));
        let copilot = parse(Persona::Copilot, &v(&["--allow-all"])).expect("parses");
        assert_eq!(copilot.permission_mode.as_deref(), Some("allow-all"));

        let kimi = parse(Persona::Kimi, &v(&["-y", "--session", "k-1"])).expect("parses");
        assert_eq!(kimi.permission_mode.as_deref(), Some("yolo"));
        assert_eq!(kimi.resume.as_deref(), Some("k-1"));
        let kimi = parse(Persona::Kimi, &v(&["--auto"])).expect("parses");
        assert_eq!(kimi.permission_mode.as_deref(), Some("auto"));
        assert_eq!(
            parse(Persona::Kimi, &v(&["--session"])),
            Err(ArgError::MissingValue {
                flag: "--session".into()
            })
        );
    }

    #[test]
    fn codex_refuses_the_removed_full_auto_flag_like_the_real_cli() {
        let err = parse(Persona::Codex, &v(&["--full-auto", "--", "go"])).expect_err("refused");
        assert_eq!(err.to_string(), "unexpected argument '--full-auto' found");
    }
}
