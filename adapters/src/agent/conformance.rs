//! The agent conformance suite (tests only): one generic set of checks that every adapter of
//! [`super::agent_for`] must pass, driven by [`SPECS`], a table that restates adapters.md §5–7
//! for each harness independently of the adapters' own code.
//!
//! Checks, for every harness:
//! * argv shapes: argv\[0\] is the resolved binary; permission `default` (or none) gives no
//!   flag and every other mode adds exactly its flags; an empty model gives no flag, a model
//!   adds exactly its flag (or nothing where the model is ignored); the first prompt and the
//!   system prompt travel the channel of §5.2/§5.3 (in the argv, pasted after start, or in
//!   the environment) and never anywhere else;
//! * restore: the argv carries the stored id in the harness's resume shape, without the
//!   prompt; `can_resume` follows sessions.md §5 step 2;
//! * hooks, in a real git worktree: install names every AO event of the harness and nothing
//!   else, writes only the hook file of §7 (plus its `.gitignore`), leaves `git status
//!   --porcelain` unchanged, is idempotent, and uninstall returns the worktree and the session
//!   directory to their exact previous state; a user's own hook file (committed, or untracked
//!   and git-ignored by the user) keeps its entries while AO's are installed and comes back
//!   byte for byte;
//! * pre-launch touches nothing outside claude-code;
//! * the deriver table: every AO event of the harness derives the state of §7, and the
//!   agent's native session-id key is captured.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ao_protocol::hooks::{derive, events_of};
use ao_protocol::{ActivityState, Harness, PermissionMode};
use serde_json::Value;

use super::test_support::{Fixture, git, init_repo, porcelain};
use super::{PromptDelivery, agent_for, hook_command};

/// How the system prompt reaches the agent (adapters.md §5.2, §5.3).
#[derive(Debug, Clone, Copy)]
enum SystemChannel {
    /// A flag of its own (`--append-system-prompt S`).
    Flag(&'static str),
    /// codex: `-c developer_instructions=<TOML string>`.
    CodexConfig,
    /// The prefix fallback in the argv prompt.
    PrefixInArgv,
    /// The prefix fallback in the pasted first prompt: nothing in the argv.
    PrefixPasted,
    /// `AO_SYSTEM_PROMPT` (harness `command`): nothing in the argv.
    Env,
}

/// When a restore resumes the agent's conversation (sessions.md §5 step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    Always,
    WithId,
    Never,
}

/// adapters.md §5–7 for one harness.
struct Spec {
    harness: Harness,
    delivery: PromptDelivery,
    /// The flags of `accept-edits`, `auto` and `bypass-permissions`.
    perm: [&'static [&'static str]; 3],
    /// The model flag; `None` when the model is ignored.
    model_flag: Option<&'static str>,
    /// The flag before the first prompt at the end of the launch argv (`in_command` only).
    prompt_flag: Option<&'static str>,
    system: SystemChannel,
    resume: Resume,
    /// The words right after argv\[0\] of a restore (codex's subcommand, grok's fixed flag).
    restore_head: &'static [&'static str],
    /// The end of a restore argv; `<id>` stands for the stored id. Empty: a restore is the
    /// launch again (`command`).
    restore_tail: &'static [&'static str],
    /// The hook file AO writes into the worktree (none: nothing goes into the worktree).
    worktree_file: Option<&'static str>,
    /// A user's own file at that path (odd formatting on purpose) whose entries AO must keep,
    /// with a marker found in it. `None` where the path is AO's alone (opencode's plugin).
    user_file: Option<(&'static str, &'static str)>,
    /// The top-level payload key carrying the agent's session id (`None`: hook-less).
    id_key: Option<&'static str>,
    /// (AO event, native payload, state): the event → state table of §7.
    derived: &'static [(&'static str, &'static str, Option<ActivityState>)],
}

use ActivityState::{Active, Exited, Idle, WaitingInput};

const CLAUDE_PERM: [&[&str]; 3] = [
    &["--permission-mode", "acceptEdits"],
    &["--permission-mode", "auto"],
    &["--permission-mode", "bypassPermissions"],
];

const CLAUDE_DERIVED: &[(&str, &str, Option<ActivityState>)] = &[
    ("session-start", "{}", None),
    ("user-prompt-submit", "{}", Some(Active)),
    ("tool-use", "{}", Some(Active)),
    (
        "notification",
        r#"{"notification_type":"permission_prompt"}"#,
        Some(WaitingInput),
    ),
    (
        "notification",
        r#"{"notification_type":"idle_prompt"}"#,
        None,
    ),
    ("stop", "{}", Some(Idle)),
    ("session-end", r#"{"reason":"logout"}"#, Some(Exited)),
    ("session-end", r#"{"reason":"clear"}"#, None),
    ("session-end", r#"{"reason":"resume"}"#, None),
];

const CODEX_DERIVED: &[(&str, &str, Option<ActivityState>)] = &[
    ("session-start", "{}", None),
    ("user-prompt-submit", "{}", Some(Active)),
    ("permission-request", "{}", Some(WaitingInput)),
    ("stop", "{}", Some(Idle)),
];

const SPECS: [Spec; 9] = [
    Spec {
        harness: Harness::ClaudeCode,
        delivery: PromptDelivery::InCommand,
        perm: CLAUDE_PERM,
        model_flag: Some("--model"),
        prompt_flag: Some("--"),
        system: SystemChannel::Flag("--append-system-prompt"),
        resume: Resume::Always,
        restore_head: &["--settings"],
        restore_tail: &["--resume", "<id>"],
        worktree_file: None,
        user_file: None,
        id_key: Some("session_id"),
        derived: CLAUDE_DERIVED,
    },
    Spec {
        harness: Harness::Codex,
        delivery: PromptDelivery::InCommand,
        perm: [
            &["--ask-for-approval", "on-request"],
            &[
                "--sandbox",
                "workspace-write",
                "--ask-for-approval",
                "on-request",
            ],
            &["--dangerously-bypass-approvals-and-sandbox"],
        ],
        model_flag: Some("-m"),
        prompt_flag: Some("--"),
        system: SystemChannel::CodexConfig,
        resume: Resume::WithId,
        restore_head: &["resume"],
        restore_tail: &["<id>"],
        worktree_file: None,
        user_file: None,
        id_key: Some("session_id"),
        derived: CODEX_DERIVED,
    },
    Spec {
        harness: Harness::Opencode,
        delivery: PromptDelivery::InCommand,
        perm: [&[], &[], &["--dangerously-skip-permissions"]],
        model_flag: Some("-m"),
        prompt_flag: Some("--prompt"),
        system: SystemChannel::PrefixInArgv,
        resume: Resume::WithId,
        restore_head: &[],
        restore_tail: &["--session", "<id>"],
        worktree_file: Some(".opencode/plugins/ao-activity.ts"),
        user_file: None,
        id_key: Some("session_id"),
        derived: &[
            ("session-start", "{}", None),
            ("user-prompt-submit", "{}", Some(Active)),
            ("stop", "{}", Some(Idle)),
        ],
    },
    Spec {
        harness: Harness::Grok,
        delivery: PromptDelivery::AfterStart,
        perm: CLAUDE_PERM,
        model_flag: None,
        prompt_flag: None,
        system: SystemChannel::PrefixPasted,
        resume: Resume::WithId,
        restore_head: &["--no-auto-update"],
        restore_tail: &["-r", "<id>"],
        worktree_file: Some(".claude/settings.local.json"),
        user_file: Some((
            "{\n    \"permissions\" : { \"allow\" : [ \"Bash(npm test)\" ] },\n    \"hooks\" : { \"Stop\" : [ { \"hooks\" : [ { \"type\" : \"command\", \"command\" : \"./user-hook.sh\" } ] } ] }\n}\n",
            "./user-hook.sh",
        )),
        id_key: Some("session_id"),
        derived: CLAUDE_DERIVED,
    },
    Spec {
        harness: Harness::Cursor,
        delivery: PromptDelivery::AfterStart,
        perm: [&[], &["--force"], &["--force"]],
        model_flag: Some("--model"),
        prompt_flag: None,
        system: SystemChannel::PrefixPasted,
        resume: Resume::WithId,
        restore_head: &[],
        restore_tail: &["--resume", "<id>"],
        worktree_file: Some(".cursor/hooks.json"),
        user_file: Some((
            "{ \"version\": 1,\n  \"hooks\": { \"afterFileEdit\": [ { \"command\": \"./user-hook.sh\" } ] } }",
            "./user-hook.sh",
        )),
        id_key: Some("conversation_id"),
        derived: &[
            ("session-start", "{}", None),
            ("user-prompt-submit", "{}", Some(Active)),
            ("tool-use", "{}", Some(Active)),
            ("stop", "{}", Some(Idle)),
        ],
    },
    Spec {
        harness: Harness::Qwen,
        delivery: PromptDelivery::InCommand,
        perm: [
            &["--approval-mode", "auto-edit"],
            &["--approval-mode", "auto"],
            &["--approval-mode", "yolo"],
        ],
        model_flag: Some("-m"),
        prompt_flag: Some("-i"),
        system: SystemChannel::PrefixInArgv,
        resume: Resume::WithId,
        restore_head: &[],
        restore_tail: &["-r", "<id>"],
        worktree_file: Some(".qwen/settings.json"),
        user_file: Some((
            "{\r\n  \"model\": {\"name\": \"qwen3-coder-plus\"},\r\n  \"hooks\": {\"Stop\": [{\"matcher\": \"\", \"hooks\": [{\"type\": \"command\", \"command\": \"./user-hook.sh\", \"timeout\": 5000}]}]}\r\n}\r\n",
            "./user-hook.sh",
        )),
        id_key: Some("session_id"),
        derived: CODEX_DERIVED,
    },
    Spec {
        harness: Harness::Copilot,
        delivery: PromptDelivery::AfterStart,
        perm: [
            &["--allow-tool", "write"],
            &["--allow-all-tools"],
            &["--allow-all"],
        ],
        model_flag: Some("--model"),
        prompt_flag: None,
        system: SystemChannel::PrefixPasted,
        resume: Resume::WithId,
        restore_head: &[],
        restore_tail: &["--resume", "<id>"],
        worktree_file: Some(".github/hooks/ao.json"),
        user_file: Some((
            "{\"version\":1,\"hooks\":{\"postToolUse\":[{\"type\":\"command\",\"bash\":\"./user-hook.sh\",\"timeoutSec\":10}]}}",
            "./user-hook.sh",
        )),
        id_key: Some("sessionId"),
        derived: &[
            ("session-start", "{}", None),
            ("user-prompt-submit", "{}", Some(Active)),
            ("tool-use", "{}", Some(Active)),
            ("stop", "{}", Some(Idle)),
            ("session-end", "{}", Some(Exited)),
        ],
    },
    Spec {
        harness: Harness::Kimi,
        delivery: PromptDelivery::AfterStart,
        perm: [&["--auto"], &["--auto"], &["-y"]],
        model_flag: None,
        prompt_flag: None,
        system: SystemChannel::PrefixPasted,
        resume: Resume::WithId,
        restore_head: &[],
        restore_tail: &["--session", "<id>"],
        worktree_file: None,
        user_file: None,
        id_key: None,
        derived: &[],
    },
    Spec {
        harness: Harness::Command,
        delivery: PromptDelivery::Env,
        perm: [&[], &[], &[]],
        model_flag: None,
        prompt_flag: None,
        system: SystemChannel::Env,
        resume: Resume::Never,
        restore_head: &[],
        restore_tail: &[],
        worktree_file: None,
        user_file: None,
        id_key: None,
        derived: &[],
    },
];

const PERMISSIONS: [PermissionMode; 3] = [
    PermissionMode::AcceptEdits,
    PermissionMode::Auto,
    PermissionMode::BypassPermissions,
];

const ID: &str = "conv-7f3a";
const PROMPT: &str = "fix the flaky test";
const SYSTEM: &str = "You are AO session demo-1.";

fn fixture(spec: &Spec) -> Fixture {
    let mut f = Fixture::new(spec.harness.binary_name());
    if spec.harness == Harness::Command {
        f.command = Some("./run-agent --fast".into());
    }
    f
}

/// `argv` without the first occurrence of the contiguous `window`; `None` when absent.
fn without_window(argv: &[String], window: &[&str]) -> Option<Vec<String>> {
    if window.is_empty() {
        return Some(argv.to_vec());
    }
    let at = argv
        .windows(window.len())
        .position(|w| w.iter().zip(window).all(|(a, b)| a == b))?;
    let mut out = argv[..at].to_vec();
    out.extend_from_slice(&argv[at + window.len()..]);
    Some(out)
}

fn launch(spec: &Spec, f: &Fixture) -> Vec<String> {
    agent_for(spec.harness).launch_argv(&f.ctx())
}

fn restore(spec: &Spec, f: &Fixture) -> Vec<String> {
    agent_for(spec.harness).restore_argv(&f.ctx(), ID)
}

#[test]
fn the_table_covers_every_harness_once() {
    let covered: Vec<Harness> = SPECS.iter().map(|s| s.harness).collect();
    assert_eq!(covered, Harness::ALL);
}

#[test]
fn argv0_is_the_resolved_binary_and_delivery_and_resume_follow_the_spec() {
    for spec in &SPECS {
        let h = spec.harness;
        let agent = agent_for(h);
        assert_eq!(agent.harness(), h);
        assert_eq!(agent.binary_name(), h.binary_name(), "{h}");
        assert_eq!(agent.prompt_delivery(), spec.delivery, "{h}");
        let mut f = fixture(spec);
        f.binary = PathBuf::from("/opt/agents/bin/x");
        f.prompt = Some(PROMPT.into());
        assert_eq!(launch(spec, &f)[0], "/opt/agents/bin/x", "{h}");
        assert_eq!(restore(spec, &f)[0], "/opt/agents/bin/x", "{h}");
        let (empty, some) = match spec.resume {
            Resume::Always => (true, true),
            Resume::WithId => (false, true),
            Resume::Never => (false, false),
        };
        assert_eq!(agent.can_resume(""), empty, "{h}");
        assert_eq!(agent.can_resume(ID), some, "{h}");
    }
}

#[test]
fn permission_default_gives_no_flag_and_every_mode_adds_exactly_its_flags() {
    for spec in &SPECS {
        let h = spec.harness;
        let mut f = fixture(spec);
        f.prompt = Some(PROMPT.into());
        f.config.model = Some("m-1".into());
        let base = launch(spec, &f);
        let base_restore = restore(spec, &f);
        f.config.permissions = Some(PermissionMode::Default);
        assert_eq!(launch(spec, &f), base, "{h}: default is no flag");
        assert_eq!(restore(spec, &f), base_restore, "{h}");
        let every_flag: Vec<&str> = spec.perm.iter().flat_map(|p| p.iter().copied()).collect();
        for word in &base {
            assert!(
                !every_flag.contains(&word.as_str()),
                "{h}: {word} without a permission mode"
            );
        }
        for (mode, flags) in PERMISSIONS.iter().zip(spec.perm) {
            f.config.permissions = Some(*mode);
            for (got, want) in [
                (launch(spec, &f), &base),
                (restore(spec, &f), &base_restore),
            ] {
                assert_eq!(
                    without_window(&got, flags).as_ref(),
                    Some(want),
                    "{h} {mode}: {got:?}"
                );
            }
        }
    }
}

#[test]
fn an_empty_model_gives_no_flag_and_a_model_adds_exactly_its_flag() {
    for spec in &SPECS {
        let h = spec.harness;
        let mut f = fixture(spec);
        let base = launch(spec, &f);
        let base_restore = restore(spec, &f);
        f.config.model = Some(String::new());
        assert_eq!(launch(spec, &f), base, "{h}: empty model");
        assert_eq!(restore(spec, &f), base_restore, "{h}: empty model");
        f.config.model = Some("m-1".into());
        let window: Vec<&str> = spec
            .model_flag
            .map(|flag| vec![flag, "m-1"])
            .unwrap_or_default();
        for (got, want) in [
            (launch(spec, &f), &base),
            (restore(spec, &f), &base_restore),
        ] {
            assert_eq!(
                without_window(&got, &window).as_ref(),
                Some(want),
                "{h}: {got:?}"
            );
        }
    }
}

#[test]
fn prompts_travel_their_channel_and_nowhere_else() {
    for spec in &SPECS {
        let h = spec.harness;
        let mut f = fixture(spec);
        let bare = launch(spec, &f);
        f.prompt = Some(PROMPT.into());
        let with_prompt = launch(spec, &f);
        f.system_prompt = SYSTEM.into();
        let with_both = launch(spec, &f);
        let restored = restore(spec, &f);
        let mentions = |argv: &[String], text: &str| argv.iter().any(|w| w.contains(text));
        if spec.resume != Resume::Never {
            assert!(
                !mentions(&restored, PROMPT),
                "{h}: a restore does not prompt: {restored:?}"
            );
            // Only a system-prompt channel of its own is part of the restore argv too.
            let own_channel = matches!(
                spec.system,
                SystemChannel::Flag(_) | SystemChannel::CodexConfig
            );
            assert_eq!(
                mentions(&restored, SYSTEM),
                own_channel,
                "{h}: {restored:?}"
            );
        }
        match (spec.prompt_flag, spec.system) {
            (Some(flag), SystemChannel::PrefixInArgv) => {
                assert!(
                    with_prompt.ends_with(&[flag.to_string(), PROMPT.to_string()]),
                    "{h}"
                );
                let prefixed = format!("{SYSTEM}\n\n---\n\n{PROMPT}");
                assert!(with_both.ends_with(&[flag.to_string(), prefixed]), "{h}");
                f.prompt = None;
                assert!(
                    launch(spec, &f).ends_with(&[flag.to_string(), SYSTEM.to_string()]),
                    "{h}"
                );
            }
            (Some(flag), system) => {
                assert!(
                    with_prompt.ends_with(&[flag.to_string(), PROMPT.to_string()]),
                    "{h}"
                );
                assert!(
                    with_both.ends_with(&[flag.to_string(), PROMPT.to_string()]),
                    "{h}"
                );
                let channel = match system {
                    SystemChannel::Flag(flag) => vec![flag.to_string(), SYSTEM.to_string()],
                    SystemChannel::CodexConfig => {
                        vec![
                            "-c".to_string(),
                            format!("developer_instructions='{SYSTEM}'"),
                        ]
                    }
                    other => panic!("{h}: {other:?} with a prompt flag"),
                };
                let window = [channel[0].as_str(), channel[1].as_str()];
                assert!(without_window(&with_both, &window).is_some(), "{h}");
            }
            (None, SystemChannel::PrefixPasted | SystemChannel::Env) => {
                assert_eq!(with_prompt, bare, "{h}: the prompt is not in the argv");
                assert_eq!(with_both, bare, "{h}: the system prompt is not in the argv");
            }
            (None, other) => panic!("{h}: {other:?} without a prompt flag"),
        }
    }
}

#[test]
fn restore_argv_carries_the_stored_id_in_the_resume_shape() {
    for spec in &SPECS {
        let h = spec.harness;
        let mut f = fixture(spec);
        f.prompt = Some(PROMPT.into());
        f.config.permissions = Some(PermissionMode::BypassPermissions);
        f.config.model = Some("m-1".into());
        let argv = restore(spec, &f);
        if spec.restore_tail.is_empty() {
            assert_eq!(argv, launch(spec, &f), "{h}: a restore relaunches");
            continue;
        }
        let tail: Vec<String> = spec
            .restore_tail
            .iter()
            .map(|w| w.replace("<id>", ID))
            .collect();
        assert!(argv.ends_with(&tail), "{h}: {argv:?}");
        assert_eq!(
            &argv[1..=spec.restore_head.len()],
            spec.restore_head,
            "{h}: {argv:?}"
        );
        assert_eq!(argv.iter().filter(|w| *w == ID).count(), 1, "{h}: {argv:?}");
    }
}

/// Every file (with its bytes) and directory under `root`, except the top-level `.git`.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(root).expect("below root").to_path_buf();
            if rel == Path::new(".git") {
                continue;
            }
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).expect("read file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The files of `after` that are new or changed against `before`.
fn changed(
    before: &BTreeMap<PathBuf, Option<Vec<u8>>>,
    after: &BTreeMap<PathBuf, Option<Vec<u8>>>,
) -> Vec<String> {
    after
        .iter()
        .filter(|(k, v)| v.is_some() && before.get(*k) != Some(v))
        .map(|(k, _)| k.display().to_string())
        .collect()
}

/// The text of every file AO wrote (both trees) and of the launch argv, where AO's hook
/// configuration lives.
fn installed_text(f: &Fixture, spec: &Spec) -> String {
    let mut text = launch(spec, f).join("\n");
    for root in [&f.worktree, &f.session_dir] {
        for bytes in snapshot(root).into_values().flatten() {
            text.push('\n');
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// Asserts that the installed configuration names every AO event of the harness, and no other.
fn assert_names_exactly_the_events(h: Harness, text: &str) {
    let prefix = format!("ao hooks {} ", h.as_str());
    for event in events_of(h) {
        let literal = text.contains(&hook_command(h, event));
        // opencode's plugin passes the event to one guarded command as "$1".
        let passed = text.contains(&prefix) && text.contains(&format!("\"{event}\""));
        assert!(literal || passed, "{h}: {event} is never fired");
    }
    for (at, _) in text.match_indices(&prefix) {
        let word: String = text[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        assert!(
            word.is_empty() || events_of(h).contains(&word.as_str()),
            "{h}: fires unknown event {word:?}"
        );
    }
    if events_of(h).is_empty() {
        assert!(!text.contains(&prefix), "{h} is hook-less");
    }
}

#[tokio::test]
async fn hooks_install_idempotently_keep_git_clean_and_uninstall_without_a_trace() {
    for spec in &SPECS {
        let h = spec.harness;
        let agent = agent_for(h);
        let f = fixture(spec);
        init_repo(&f.worktree, &[]).await;
        let wt_before = snapshot(&f.worktree);
        let sd_before = snapshot(&f.session_dir);
        let status_before = porcelain(&f.worktree).await;

        agent.install_hooks(&f.ctx()).await.expect("install");
        let wt_once = snapshot(&f.worktree);
        let sd_once = snapshot(&f.session_dir);
        assert_eq!(
            porcelain(&f.worktree).await,
            status_before,
            "{h}: git status"
        );
        assert_names_exactly_the_events(h, &installed_text(&f, spec));
        let mut want: Vec<String> = spec
            .worktree_file
            .map(|rel| {
                let dir = Path::new(rel).parent().expect("a directory");
                vec![
                    dir.join(".gitignore").display().to_string(),
                    rel.to_string(),
                ]
            })
            .unwrap_or_default();
        want.sort();
        assert_eq!(
            changed(&wt_before, &wt_once),
            want,
            "{h}: files in the worktree"
        );

        agent.install_hooks(&f.ctx()).await.expect("install again");
        assert_eq!(snapshot(&f.worktree), wt_once, "{h}: install is idempotent");
        assert_eq!(
            snapshot(&f.session_dir),
            sd_once,
            "{h}: install is idempotent"
        );

        agent.uninstall_hooks(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            snapshot(&f.worktree),
            wt_before,
            "{h}: uninstall leaves no trace"
        );
        assert_eq!(
            snapshot(&f.session_dir),
            sd_before,
            "{h}: uninstall leaves no trace"
        );
        assert_eq!(porcelain(&f.worktree).await, status_before, "{h}");
        agent
            .uninstall_hooks(&f.ctx())
            .await
            .expect("uninstall again");
        assert_eq!(snapshot(&f.worktree), wt_before, "{h}");
    }
}

#[tokio::test]
async fn uninstall_without_install_touches_nothing() {
    for spec in &SPECS {
        let f = fixture(spec);
        init_repo(&f.worktree, &[]).await;
        let before = snapshot(&f.worktree);
        agent_for(spec.harness)
            .uninstall_hooks(&f.ctx())
            .await
            .expect("uninstall");
        assert_eq!(snapshot(&f.worktree), before, "{}", spec.harness);
        assert_eq!(
            snapshot(&f.session_dir),
            BTreeMap::new(),
            "{}",
            spec.harness
        );
    }
}

/// Installs over the user's own file at `rel` and checks the merge and the exact restore.
async fn round_trip_users_file(spec: &Spec, f: &Fixture, rel: &str, user: &str, marker: &str) {
    let h = spec.harness;
    let agent = agent_for(h);
    let path = f.worktree.join(rel);
    let status_before = porcelain(&f.worktree).await;
    agent.install_hooks(&f.ctx()).await.expect("install");
    let merged = std::fs::read_to_string(&path).expect("hook file");
    assert!(
        merged.contains(marker),
        "{h}: the user's entry is kept: {merged}"
    );
    assert!(
        serde_json::from_str::<Value>(&merged).is_ok(),
        "{h}: still JSON"
    );
    assert_names_exactly_the_events(h, &merged);
    assert_eq!(
        porcelain(&f.worktree).await,
        status_before,
        "{h}: git status"
    );
    agent.install_hooks(&f.ctx()).await.expect("install again");
    assert_eq!(
        std::fs::read_to_string(&path).expect("hook file"),
        merged,
        "{h}"
    );
    agent.uninstall_hooks(&f.ctx()).await.expect("uninstall");
    assert_eq!(
        std::fs::read(&path).expect("restored"),
        user.as_bytes(),
        "{h}: restored byte for byte"
    );
    assert_eq!(
        porcelain(&f.worktree).await,
        status_before,
        "{h}: git status"
    );
}

#[tokio::test]
async fn a_committed_user_hook_file_is_merged_hidden_and_restored_byte_for_byte() {
    for spec in &SPECS {
        let (Some(rel), Some((user, marker))) = (spec.worktree_file, spec.user_file) else {
            continue;
        };
        let f = fixture(spec);
        init_repo(&f.worktree, &[(rel, user.as_bytes())]).await;
        round_trip_users_file(spec, &f, rel, user, marker).await;
        let flags = git(&f.worktree, &["ls-files", "-v", rel]).await;
        assert!(
            flags.starts_with("H "),
            "{}: skip-worktree cleared: {flags:?}",
            spec.harness
        );
        assert!(
            !f.worktree
                .join(Path::new(rel).with_file_name(".gitignore"))
                .exists(),
            "{}: AO's .gitignore is gone",
            spec.harness
        );
    }
}

#[tokio::test]
async fn an_untracked_user_hook_file_is_merged_and_restored_byte_for_byte() {
    for spec in &SPECS {
        let (Some(rel), Some((user, marker))) = (spec.worktree_file, spec.user_file) else {
            continue;
        };
        let f = fixture(spec);
        // The user keeps the file out of git with their own root .gitignore.
        init_repo(
            &f.worktree,
            &[(".gitignore", format!("/{rel}\n").as_bytes())],
        )
        .await;
        let path = f.worktree.join(rel);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, user).expect("user file");
        round_trip_users_file(spec, &f, rel, user, marker).await;
    }
}

#[test]
fn pre_launch_touches_nothing_but_claudes_state_file() {
    for spec in &SPECS {
        let mut f = fixture(spec);
        let home = f.session_dir.join("home");
        std::fs::create_dir_all(&home).expect("mkdir home");
        f.env
            .insert("HOME".into(), home.to_string_lossy().into_owned());
        agent_for(spec.harness)
            .pre_launch(&f.ctx())
            .expect("pre-launch");
        let written: Vec<PathBuf> = snapshot(&home).into_keys().collect();
        let want: Vec<PathBuf> = if spec.harness == Harness::ClaudeCode {
            vec![PathBuf::from(".claude.json")]
        } else {
            Vec::new()
        };
        assert_eq!(written, want, "{}", spec.harness);
        assert!(snapshot(&f.worktree).is_empty(), "{}", spec.harness);
    }
}

#[test]
fn every_ao_event_derives_the_state_of_the_spec_and_the_native_id_is_captured() {
    for spec in &SPECS {
        let h = spec.harness;
        let mut table_events: Vec<&str> = spec.derived.iter().map(|(e, _, _)| *e).collect();
        table_events.dedup();
        assert_eq!(table_events, events_of(h), "{h}: the AO events of §7");
        for (event, payload, state) in spec.derived {
            let mut payload: Value = serde_json::from_str(payload).expect("payload");
            if let Some(key) = spec.id_key {
                payload[key] = Value::String(ID.into());
            }
            let d = derive(h.as_str(), event, &payload);
            assert!(d.known, "{h} {event}");
            assert_eq!(d.state, *state, "{h} {event} {payload}");
            assert_eq!(d.agent_session_id.as_deref(), Some(ID), "{h} {event}");
        }
        for foreign in [
            "permission-request",
            "notification",
            "tool-use",
            "session-end",
            "nope",
        ] {
            if !events_of(h).contains(&foreign) {
                assert!(
                    !derive(h.as_str(), foreign, &Value::Null).known,
                    "{h} {foreign}"
                );
            }
        }
    }
}
