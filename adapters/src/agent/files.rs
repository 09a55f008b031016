//! File mechanics shared by the agent adapters (adapters.md §5.4): atomic writes, JSON merge
//! of AO hook entries, AO's `.gitignore` files, and the tracked-target protocol.
//!
//! * [`write_atomic`]: temp file in the same directory, then `rename`; the temp file is
//!   removed on failure.
//! * [`read_json_object`] / [`write_json_if_changed`]: a missing file reads as `{}`; anything
//!   but a JSON object is an error (the file is never clobbered).
//! * [`strip_hook_entries`]: removes every hook entry whose command (`command`, or copilot's
//!   `bash`/`powershell`) starts with AO's prefix, in Claude's matcher-group layout
//!   (`{hooks:{Event:[{hooks:[{command}]}]}}`) and in the flat layout
//!   (`{hooks:{Event:[{command}]}}`); containers left empty by the removal are dropped.
//! * [`ensure_gitignore`] / [`remove_gitignore`]: AO's `.gitignore` (first line
//!   [`GITIGNORE_MARKER`]); a `.gitignore` without that line is never touched.
//! * Tracked targets: [`is_tracked`], [`save_original`], [`skip_worktree`],
//!   [`saved_original`], [`finish_tracked_uninstall`] (`<git-dir>/ao/hook-originals/<rel>`).
//!
//! Invariant: nothing here writes a file that is not AO's, except restoring a user's original
//! bytes exactly.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use super::AgentError;
use crate::git::git_cmd;
use crate::process::{self, ProcessError};

/// The first line of every `.gitignore` AO writes.
pub const GITIGNORE_MARKER: &str = "# managed by ao: keeps AO hook files out of git status";

/// Mode of the files AO writes.
pub(crate) const OWNER_ONLY: u32 = 0o600;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically (temp file in the same directory, then rename) with
/// `mode`. Creates the parent directory when missing.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    let dir = path.parent().ok_or_else(|| AgentError::Io {
        path: path.to_path_buf(),
        message: "has no parent directory".into(),
    })?;
    std::fs::create_dir_all(dir).map_err(|e| AgentError::io(dir, &e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.ao-tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        AgentError::io(path, &e)
    })
}

/// Reads a file; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, AgentError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AgentError::io(path, &e)),
    }
}

/// Parses `bytes` as a JSON object (an empty or whitespace-only file counts as `{}`).
pub(crate) fn parse_json_object(
    path: &Path,
    bytes: &[u8],
) -> Result<Map<String, Value>, AgentError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AgentError::Json {
            path: path.to_path_buf(),
            message: "is not a JSON object; leaving it alone".into(),
        }),
        Err(e) => Err(AgentError::Json {
            path: path.to_path_buf(),
            message: format!("is not valid JSON ({e}); leaving it alone"),
        }),
    }
}

/// Reads a JSON object; a missing file is `{}`.
pub(crate) fn read_json_object(path: &Path) -> Result<Map<String, Value>, AgentError> {
    match read_optional(path)? {
        Some(bytes) => parse_json_object(path, &bytes),
        None => Ok(Map::new()),
    }
}

/// Pretty JSON with a trailing newline.
pub(crate) fn json_bytes(map: &Map<String, Value>) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(map).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    out
}

/// Writes `map` to `path` atomically unless the file already holds an equal JSON value.
/// Returns whether the file was written.
pub(crate) fn write_json_if_changed(
    path: &Path,
    map: &Map<String, Value>,
    mode: u32,
) -> Result<bool, AgentError> {
    if let Some(bytes) = read_optional(path)?
        && let Ok(Value::Object(current)) = serde_json::from_slice::<Value>(&bytes)
        && &current == map
    {
        return Ok(false);
    }
    write_atomic(path, &json_bytes(map), mode)?;
    Ok(true)
}

/// The keys that hold an entry's shell command: `command` (Claude, codex, qwen, cursor) and
/// copilot's per-shell `bash` / `powershell`.
const COMMAND_KEYS: [&str; 3] = ["command", "bash", "powershell"];

fn is_ao_entry(entry: &Value, prefix: &str) -> bool {
    COMMAND_KEYS.iter().any(|k| {
        entry
            .get(*k)
            .and_then(Value::as_str)
            .is_some_and(|c| c.starts_with(prefix))
    })
}

/// Removes every hook entry whose command (`command`, `bash` or `powershell`) starts with
/// `prefix` from `root["hooks"]`.
/// Matcher groups, event arrays and the `hooks` object that become empty through the removal
/// are dropped; containers that were already empty are kept. Returns whether anything changed.
pub(crate) fn strip_hook_entries(root: &mut Map<String, Value>, prefix: &str) -> bool {
    let Some(Value::Object(events)) = root.get_mut("hooks") else {
        return false;
    };
    let mut changed = false;
    let mut emptied_events = Vec::new();
    for (event, list) in events.iter_mut() {
        let Value::Array(items) = list else { continue };
        let before = items.len();
        let mut touched = false;
        items.retain_mut(|item| {
            if is_ao_entry(item, prefix) {
                touched = true;
                return false;
            }
            if let Some(Value::Array(inner)) = item.get_mut("hooks") {
                let n = inner.len();
                inner.retain(|e| !is_ao_entry(e, prefix));
                if inner.len() != n {
                    touched = true;
                    return !inner.is_empty();
                }
            }
            true
        });
        if touched {
            changed = true;
            if items.is_empty() && before > 0 {
                emptied_events.push(event.clone());
            }
        }
    }
    for event in emptied_events {
        events.remove(&event);
    }
    if changed && events.is_empty() {
        root.remove("hooks");
    }
    changed
}

/// The content of AO's `.gitignore` for a directory holding `file_name`.
pub(crate) fn gitignore_content(file_name: &str) -> String {
    format!("{GITIGNORE_MARKER}\n/.gitignore\n/{file_name}\n")
}

/// Whether `bytes` is an AO `.gitignore` (its first line is the marker).
pub(crate) fn is_ao_gitignore(bytes: &[u8]) -> bool {
    first_line(bytes) == GITIGNORE_MARKER.as_bytes()
}

/// The first line of `bytes`, without its line ending.
pub(crate) fn first_line(bytes: &[u8]) -> &[u8] {
    let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Writes AO's `.gitignore` into `dir` unless a `.gitignore` already exists there (an AO one
/// is already right; a user's one is left untouched).
pub(crate) fn ensure_gitignore(dir: &Path, file_name: &str) -> Result<(), AgentError> {
    let path = dir.join(".gitignore");
    if read_optional(&path)?.is_some() {
        return Ok(());
    }
    write_atomic(&path, gitignore_content(file_name).as_bytes(), 0o644)
}

/// Deletes AO's `.gitignore` in `dir` (worktree-relative `rel_dir`) unless it is tracked (then
/// it came from the repository and stays). A user's `.gitignore` is never touched.
pub(crate) async fn remove_gitignore(worktree: &Path, rel_dir: &str) -> Result<(), AgentError> {
    let rel = format!("{rel_dir}/.gitignore");
    let path = worktree.join(&rel);
    match read_optional(&path)? {
        Some(bytes) if is_ao_gitignore(&bytes) => {
            if !is_tracked(worktree, &rel).await? {
                remove_file_if_exists(&path)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Deletes a file; absent is fine.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(AgentError::io(path, &e)),
    }
}

/// Removes `worktree/<rel_dir>` and then its parents up to (excluding) the worktree, each only
/// when empty.
pub(crate) fn remove_empty_dirs(worktree: &Path, rel_dir: &str) {
    let mut dir = worktree.join(rel_dir);
    while dir != worktree && dir.starts_with(worktree) {
        if std::fs::remove_dir(&dir).is_err() {
            return;
        }
        if !dir.pop() {
            return;
        }
    }
}

/// Whether `rel` is tracked in the worktree (`git ls-files --error-unmatch`). A worktree that
/// is not a git repository has no tracked files.
pub(crate) async fn is_tracked(worktree: &Path, rel: &str) -> Result<bool, AgentError> {
    let cmd = git_cmd()
        .arg("-C")
        .arg(worktree)
        .args(["ls-files", "--error-unmatch", "--", rel]);
    match process::run(&cmd).await {
        Ok(_) => Ok(true),
        Err(ProcessError::Failed { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The worktree's git directory (absolute).
pub(crate) async fn git_dir(worktree: &Path) -> Result<PathBuf, AgentError> {
    let cmd = git_cmd()
        .arg("-C")
        .arg(worktree)
        .args(["rev-parse", "--git-dir"]);
    let out = process::run(&cmd).await?;
    let line = out.stdout.trim_end_matches(['\n', '\r']);
    if line.is_empty() {
        return Err(AgentError::Io {
            path: worktree.to_path_buf(),
            message: "git rev-parse --git-dir printed nothing".into(),
        });
    }
    let p = PathBuf::from(line);
    Ok(if p.is_absolute() { p } else { worktree.join(p) })
}

/// Where the original bytes of tracked target `rel` are kept.
pub(crate) fn original_path(git_dir: &Path, rel: &str) -> PathBuf {
    git_dir.join("ao").join("hook-originals").join(rel)
}

/// Tracked-target step 1: copies the current bytes of `rel` to the originals store unless a
/// copy already exists (it holds the bytes from before AO's first write).
pub(crate) async fn save_original(worktree: &Path, rel: &str) -> Result<(), AgentError> {
    let store = original_path(&git_dir(worktree).await?, rel);
    if read_optional(&store)?.is_some() {
        return Ok(());
    }
    let path = worktree.join(rel);
    let bytes = read_optional(&path)?.unwrap_or_default();
    write_atomic(&store, &bytes, OWNER_ONLY)
}

/// Tracked-target step 2 (`on = true`) and the last step of uninstall (`on = false`).
pub(crate) async fn skip_worktree(worktree: &Path, rel: &str, on: bool) -> Result<(), AgentError> {
    let flag = if on {
        "--skip-worktree"
    } else {
        "--no-skip-worktree"
    };
    let cmd = git_cmd()
        .arg("-C")
        .arg(worktree)
        .args(["update-index", flag, "--", rel]);
    process::run(&cmd).await?;
    Ok(())
}

/// The saved original bytes of tracked target `rel`, if any.
pub(crate) async fn saved_original(
    worktree: &Path,
    rel: &str,
) -> Result<Option<(PathBuf, Vec<u8>)>, AgentError> {
    let store = original_path(&git_dir(worktree).await?, rel);
    Ok(read_optional(&store)?.map(|bytes| (store, bytes)))
}

/// Tracked-target step 3 (tail): writes `bytes` back exactly (when given), clears
/// skip-worktree and deletes the saved copy.
pub(crate) async fn finish_tracked_uninstall(
    worktree: &Path,
    rel: &str,
    restore: Option<&[u8]>,
    store: Option<&Path>,
) -> Result<(), AgentError> {
    let path = worktree.join(rel);
    if let Some(bytes) = restore {
        write_atomic(&path, bytes, 0o644)?;
    }
    skip_worktree(worktree, rel, false).await?;
    if let Some(store) = store {
        remove_file_if_exists(store)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn strip_removes_grouped_and_flat_ao_entries_only() {
        let mut root = obj(json!({
            "model": "x",
            "hooks": {
                "Stop": [
                    {"hooks": [{"type": "command", "command": "ao hooks codex stop"}]},
                    {"matcher": "m", "hooks": [
                        {"type": "command", "command": "echo user"},
                        {"type": "command", "command": "ao hooks codex stop"}
                    ]}
                ],
                "flat": [{"command": "ao hooks codex x"}, {"command": "user"}],
                "Empty": [],
                "Other": [{"hooks": [{"command": "ao hooks claude-code stop"}]}]
            }
        }));
        assert!(strip_hook_entries(&mut root, "ao hooks codex "));
        assert_eq!(
            Value::Object(root.clone()),
            json!({
                "model": "x",
                "hooks": {
                    "Stop": [{"matcher": "m", "hooks": [{"type": "command", "command": "echo user"}]}],
                    "flat": [{"command": "user"}],
                    "Empty": [],
                    "Other": [{"hooks": [{"command": "ao hooks claude-code stop"}]}]
                }
            })
        );
        assert!(!strip_hook_entries(&mut root, "ao hooks codex "));
    }

    #[test]
    fn strip_drops_the_hooks_key_when_only_ao_entries_were_there() {
        let mut root =
            obj(json!({"hooks": {"Stop": [{"hooks": [{"command": "ao hooks codex stop"}]}]}}));
        assert!(strip_hook_entries(&mut root, "ao hooks codex "));
        assert!(root.is_empty());
    }

    #[test]
    fn json_objects_only() {
        let p = Path::new("/x.json");
        assert!(parse_json_object(p, b"").expect("empty is {}").is_empty());
        assert!(matches!(
            parse_json_object(p, b"[1]"),
            Err(AgentError::Json { .. })
        ));
        assert!(matches!(
            parse_json_object(p, b"{oops"),
            Err(AgentError::Json { .. })
        ));
    }

    #[test]
    fn atomic_write_sets_the_mode_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("sub/f.json");
        write_atomic(&path, b"one", OWNER_ONLY).expect("write");
        write_atomic(&path, b"two", OWNER_ONLY).expect("overwrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(tmp.path().join("sub"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["f.json"]);
    }

    #[test]
    fn gitignore_is_written_once_and_a_users_file_is_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        ensure_gitignore(tmp.path(), "hooks.json").expect("write");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join(".gitignore")).expect("read"),
            format!("{GITIGNORE_MARKER}\n/.gitignore\n/hooks.json\n")
        );
        let user = tempfile::tempdir().expect("tempdir");
        std::fs::write(user.path().join(".gitignore"), "node_modules\n").expect("write");
        ensure_gitignore(user.path(), "hooks.json").expect("kept");
        assert_eq!(
            std::fs::read_to_string(user.path().join(".gitignore")).expect("read"),
            "node_modules\n"
        );
    }
}
