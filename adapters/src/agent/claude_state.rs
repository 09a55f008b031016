//! Claude's pre-launch step (adapters.md §6.1): the trust entry and the API-key approval in
//! Claude's own state file.
//!
//! The file is `$CLAUDE_CONFIG_DIR/.claude.json` when the session environment sets
//! `CLAUDE_CONFIG_DIR`, else `$HOME/.claude.json` (`HOME` from the session environment, else the
//! daemon's) — see [`claude_state_path`]. [`ensure_trusted`] reads it (missing → `{}`), sets
//! `projects["<wt>"].hasTrustDialogAccepted = true` (also for `realpath(<wt>)` when that
//! differs, since Claude looks up its current directory), and adds the last 20 characters of
//! `ANTHROPIC_API_KEY` to `customApiKeyResponses.approved` unless they are already approved or
//! were rejected.
//!
//! Invariants:
//! * Every other key is kept; a file that is not a JSON object is an error and left alone.
//! * Nothing is written when nothing changes; otherwise temp file + rename (a symlinked file is
//!   written through to its target, and an existing file keeps its permissions).
//! * All edits in this process are serialised by one mutex (concurrent spawns never lose an
//!   update to each other). Nothing is removed on uninstall.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde_json::{Map, Value};

use super::files::{OWNER_ONLY, json_bytes, parse_json_object, read_optional, write_atomic};
use super::{AgentContext, AgentError};

/// Serialises every read-modify-write of Claude's state file in this process.
static CLAUDE_STATE_LOCK: Mutex<()> = Mutex::new(());

/// How many trailing characters of the API key Claude records.
const KEY_SUFFIX_CHARS: usize = 20;

/// Claude's state file for a session environment: `$CLAUDE_CONFIG_DIR/.claude.json`, else
/// `$HOME/.claude.json` (`HOME` from `env`, else the process environment).
pub fn claude_state_path(
    env: &std::collections::BTreeMap<String, String>,
) -> Result<PathBuf, AgentError> {
    if let Some(dir) = env.get("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(Path::new(dir).join(".claude.json"));
    }
    let home = env
        .get("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
        })
        .ok_or(AgentError::NoHome)?;
    Ok(home.join(".claude.json"))
}

/// The last [`KEY_SUFFIX_CHARS`] characters of `key` (all of it when shorter).
fn key_suffix(key: &str) -> &str {
    let count = key.chars().count();
    if count <= KEY_SUFFIX_CHARS {
        return key;
    }
    let skip = count - KEY_SUFFIX_CHARS;
    let start = key.char_indices().nth(skip).map_or(0, |(i, _)| i);
    &key[start..]
}

/// Applies the §6.1 edits to `root`. Returns whether anything changed.
fn apply(root: &mut Map<String, Value>, worktrees: &[String], api_key: Option<&str>) -> bool {
    let before = root.clone();
    let projects = object_at(root, "projects");
    for wt in worktrees {
        let entry = object_at(projects, wt);
        if entry.get("hasTrustDialogAccepted") != Some(&Value::Bool(true)) {
            entry.insert("hasTrustDialogAccepted".into(), Value::Bool(true));
        }
    }
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        let suffix = key_suffix(key);
        let responses = object_at(root, "customApiKeyResponses");
        let listed = |list: Option<&Value>| {
            list.and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(suffix)))
        };
        if !listed(responses.get("approved")) && !listed(responses.get("rejected")) {
            let approved = responses
                .entry("approved")
                .or_insert_with(|| Value::Array(Vec::new()));
            if !approved.is_array() {
                *approved = Value::Array(Vec::new());
            }
            if let Value::Array(list) = approved {
                list.push(Value::String(suffix.to_string()));
            }
        }
    }
    *root != before
}

/// `root[key]` as an object, replacing a non-object value (Claude only writes objects there).
fn object_at<'m>(root: &'m mut Map<String, Value>, key: &str) -> &'m mut Map<String, Value> {
    if !root.get(key).is_some_and(Value::is_object) {
        root.insert(key.to_string(), Value::Object(Map::new()));
    }
    root.get_mut(key)
        .and_then(Value::as_object_mut)
        .expect("the key holds an object: it was just checked or inserted")
}

/// Runs the pre-launch edit for `ctx`. Returns whether the file was written.
pub(crate) fn ensure_trusted(ctx: &AgentContext<'_>) -> Result<bool, AgentError> {
    let path = claude_state_path(ctx.env)?;
    let mut worktrees = vec![ctx.worktree.to_string_lossy().into_owned()];
    if let Ok(real) = std::fs::canonicalize(ctx.worktree) {
        let real = real.to_string_lossy().into_owned();
        if !worktrees.contains(&real) {
            worktrees.push(real);
        }
    }
    let api_key = ctx.env.get("ANTHROPIC_API_KEY").map(String::as_str);

    let _guard = CLAUDE_STATE_LOCK
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    // Write through a symlinked state file (dotfile managers) instead of replacing the link.
    let target = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let existing = read_optional(&target)?;
    let mut root = match &existing {
        Some(bytes) => parse_json_object(&target, bytes)?,
        None => Map::new(),
    };
    if !apply(&mut root, &worktrees, api_key) && existing.is_some() {
        return Ok(false);
    }
    let mode = std::fs::metadata(&target).map_or(OWNER_ONLY, |m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o7777
    });
    write_atomic(&target, &json_bytes(&root), mode)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::Fixture;
    use serde_json::json;
    use std::os::unix::fs::MetadataExt;

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("state file")).expect("json")
    }

    fn fixture_with_home() -> (Fixture, PathBuf) {
        let mut f = Fixture::new("claude");
        let home = f.session_dir.join("home");
        std::fs::create_dir_all(&home).expect("mkdir home");
        f.env
            .insert("HOME".into(), home.to_string_lossy().into_owned());
        (f, home.join(".claude.json"))
    }

    #[test]
    fn path_prefers_claude_config_dir_then_session_home() {
        let mut env = std::collections::BTreeMap::new();
        env.insert("HOME".to_string(), "/h".to_string());
        assert_eq!(
            claude_state_path(&env).expect("path"),
            Path::new("/h/.claude.json")
        );
        env.insert("CLAUDE_CONFIG_DIR".to_string(), "/c".to_string());
        assert_eq!(
            claude_state_path(&env).expect("path"),
            Path::new("/c/.claude.json")
        );
    }

    #[test]
    fn creates_the_file_with_the_trust_entry() {
        let (f, path) = fixture_with_home();
        assert!(ensure_trusted(&f.ctx()).expect("pre-launch"));
        let wt = f.worktree.to_string_lossy().into_owned();
        assert_eq!(
            read(&path),
            json!({"projects": {wt: {"hasTrustDialogAccepted": true}}})
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn keeps_other_keys_and_does_not_rewrite_an_unchanged_file() {
        let (f, path) = fixture_with_home();
        let wt = f.worktree.to_string_lossy().into_owned();
        std::fs::write(
            &path,
            serde_json::to_vec(&json!({
                "numStartups": 7,
                "hasCompletedOnboarding": true,
                "projects": {
                    "/other": {"hasTrustDialogAccepted": false, "x": 1},
                    wt.clone(): {"allowedTools": ["Bash"]}
                }
            }))
            .expect("json"),
        )
        .expect("seed");
        assert!(ensure_trusted(&f.ctx()).expect("pre-launch"));
        let want = json!({
            "numStartups": 7,
            "hasCompletedOnboarding": true,
            "projects": {
                "/other": {"hasTrustDialogAccepted": false, "x": 1},
                wt: {"allowedTools": ["Bash"], "hasTrustDialogAccepted": true}
            }
        });
        assert_eq!(read(&path), want);

        let ino = std::fs::metadata(&path).expect("meta").ino();
        let bytes = std::fs::read(&path).expect("read");
        assert!(!ensure_trusted(&f.ctx()).expect("pre-launch again"));
        assert_eq!(
            std::fs::metadata(&path).expect("meta").ino(),
            ino,
            "not rewritten"
        );
        assert_eq!(std::fs::read(&path).expect("read"), bytes);
    }

    #[test]
    fn claude_config_dir_from_the_session_env_wins() {
        let (mut f, home_file) = fixture_with_home();
        let cfg = f.session_dir.join("claude-config");
        f.env.insert(
            "CLAUDE_CONFIG_DIR".into(),
            cfg.to_string_lossy().into_owned(),
        );
        ensure_trusted(&f.ctx()).expect("pre-launch");
        assert!(cfg.join(".claude.json").exists());
        assert!(!home_file.exists());
    }

    #[test]
    fn api_key_suffix_is_approved_once() {
        let (mut f, path) = fixture_with_home();
        let key = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";
        f.env.insert("ANTHROPIC_API_KEY".into(), key.into());
        ensure_trusted(&f.ctx()).expect("pre-launch");
        let suffix = &key[key.len() - 20..];
        assert_eq!(suffix, "qrstuvwxyz0123456789");
        assert_eq!(
            read(&path)["customApiKeyResponses"],
            json!({"approved": [suffix]})
        );
        assert!(!ensure_trusted(&f.ctx()).expect("again"), "no duplicate");
        assert_eq!(
            read(&path)["customApiKeyResponses"],
            json!({"approved": [suffix]})
        );
    }

    #[test]
    fn api_key_approval_keeps_existing_entries() {
        let (mut f, path) = fixture_with_home();
        std::fs::write(
            &path,
            r#"{"customApiKeyResponses": {"approved": ["older-key-suffix-000"], "rejected": []}}"#,
        )
        .expect("seed");
        f.env.insert("ANTHROPIC_API_KEY".into(), "short-key".into());
        ensure_trusted(&f.ctx()).expect("pre-launch");
        assert_eq!(
            read(&path)["customApiKeyResponses"],
            json!({"approved": ["older-key-suffix-000", "short-key"], "rejected": []})
        );
    }

    #[test]
    fn a_rejected_key_stays_rejected() {
        let (mut f, path) = fixture_with_home();
        let key = "sk-ant-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX-rejected-one";
        let suffix = &key[key.len() - 20..];
        std::fs::write(
            &path,
            serde_json::to_vec(&json!({"customApiKeyResponses": {"rejected": [suffix]}}))
                .expect("json"),
        )
        .expect("seed");
        f.env.insert("ANTHROPIC_API_KEY".into(), key.into());
        ensure_trusted(&f.ctx()).expect("pre-launch");
        assert_eq!(
            read(&path)["customApiKeyResponses"],
            json!({"rejected": [suffix]})
        );
    }

    #[test]
    fn no_api_key_means_no_approval_entry() {
        let (f, path) = fixture_with_home();
        ensure_trusted(&f.ctx()).expect("pre-launch");
        assert!(read(&path).get("customApiKeyResponses").is_none());
    }

    #[test]
    fn a_corrupt_state_file_is_left_alone() {
        let (f, path) = fixture_with_home();
        std::fs::write(&path, "[1, 2]").expect("seed");
        let err = ensure_trusted(&f.ctx()).expect_err("not an object");
        assert!(matches!(err, AgentError::Json { .. }), "{err:?}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "[1, 2]");
    }

    #[test]
    fn a_symlinked_state_file_is_written_through() {
        let (f, path) = fixture_with_home();
        let real = f.session_dir.join("dotfiles-claude.json");
        std::fs::write(&real, "{\"keep\": 1}").expect("seed");
        std::os::unix::fs::symlink(&real, &path).expect("symlink");
        ensure_trusted(&f.ctx()).expect("pre-launch");
        assert!(
            std::fs::symlink_metadata(&path)
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(read(&real)["keep"], json!(1));
        assert!(read(&real)["projects"].is_object());
    }

    #[test]
    fn concurrent_pre_launches_lose_no_update() {
        let (f, path) = fixture_with_home();
        let trees: Vec<PathBuf> = (0..8)
            .map(|i| {
                let p = f.session_dir.join(format!("wt-{i}"));
                std::fs::create_dir_all(&p).expect("mkdir");
                p
            })
            .collect();
        std::thread::scope(|s| {
            for wt in &trees {
                let env = &f.env;
                let f = &f;
                s.spawn(move || {
                    let mut ctx = f.ctx();
                    ctx.worktree = wt;
                    ctx.env = env;
                    ensure_trusted(&ctx).expect("pre-launch");
                });
            }
        });
        let projects = read(&path)["projects"].clone();
        for wt in &trees {
            assert_eq!(
                projects[wt.to_string_lossy().as_ref()]["hasTrustDialogAccepted"],
                json!(true)
            );
        }
    }

    #[test]
    fn key_suffix_counts_characters() {
        assert_eq!(key_suffix("abc"), "abc");
        assert_eq!(key_suffix(&"x".repeat(25)), "x".repeat(20));
        assert_eq!(
            key_suffix(&format!("ééééé{}", "y".repeat(20))),
            "y".repeat(20)
        );
    }
}
