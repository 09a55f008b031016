//! AO's entries in an agent's JSON hook file (adapters.md §5.4, §7), shared by every adapter
//! whose hooks are JSON: claude-code (its settings file in the session directory), grok, qwen,
//! cursor and copilot (files in the worktree), and codex (cleanup of its legacy file).
//!
//! * [`HookLayout`]: how one agent lays its hooks out — which native event fires which AO
//!   event, the JSON element appended to `hooks.<NativeEvent>` for each (a matcher group or a
//!   flat entry), and the `version` key some formats require. [`HookLayout::merge`] first strips
//!   AO's entries (recognised by the command prefix `ao hooks <agent> `) and then appends fresh
//!   ones, so installing twice is installing once; [`HookLayout::strip`] only removes them.
//! * [`WorktreeHookFile`]: a hook file inside the worktree (`<dir>/<file>`), installed and
//!   uninstalled with the rules of §5.4: AO's `.gitignore` in `<dir>`, a tracked target hidden
//!   with `--skip-worktree` while installed, and a pre-existing file (the user's own, or a
//!   committed one) put back byte for byte.
//!
//! Invariants:
//! * A file that is not a JSON object, or whose `hooks` (or one of its events) has the wrong
//!   shape, is an error and is left alone. Everything AO did not write is kept.
//! * Before AO first writes over an existing file, its bytes and mode are saved under
//!   [`originals_dir`]. Uninstall writes them back exactly when the file without AO's entries
//!   still equals the original without AO's entries (JSON equality); otherwise the user edited
//!   the file meanwhile, and the edited file without AO's entries is kept.
//! * A file AO created is deleted by uninstall once nothing but the layout's skeleton
//!   (`version`, an empty `hooks`) is left in it. A tracked file is never deleted.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ao_protocol::Harness;
use serde_json::{Map, Value, json};

use super::files::{
    self, OWNER_ONLY, json_bytes, parse_json_object, read_optional, remove_file_if_exists,
    write_atomic,
};
use super::{AgentContext, AgentError, hook_command, hook_prefix};
use crate::process::ProcessError;

/// How one agent lays out its JSON hooks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HookLayout {
    pub harness: Harness,
    /// (native event, AO event), in the order they are written. Two native events may fire the
    /// same AO event.
    pub events: &'static [(&'static str, &'static str)],
    /// The element appended to `hooks.<native>` for the hook command `command`.
    pub entry: fn(native: &str, command: String) -> Value,
    /// The `version` the file format requires (set when absent), if any.
    pub version: Option<u64>,
}

impl HookLayout {
    /// The AO events the layout fires, each once, in write order.
    #[cfg(test)]
    pub(crate) fn ao_events(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for (_, event) in self.events {
            if !out.contains(event) {
                out.push(event);
            }
        }
        out
    }

    /// Removes AO's entries from `root` (see [`files::strip_hook_entries`]). Returns whether
    /// anything was removed.
    pub(crate) fn strip(&self, root: &mut Map<String, Value>) -> bool {
        files::strip_hook_entries(root, &hook_prefix(self.harness))
    }

    /// Whether `root` holds any AO entry of this layout's agent.
    fn has_ao_entries(&self, root: &Map<String, Value>) -> bool {
        self.strip(&mut root.clone())
    }

    /// Replaces AO's entries in `root` (read from `path`, named in errors) with fresh ones and
    /// sets the format's `version` when absent. On error `root` may be half-changed and must
    /// not be written.
    pub(crate) fn merge(
        &self,
        path: &Path,
        root: &mut Map<String, Value>,
    ) -> Result<(), AgentError> {
        let shape_error = |what: String| AgentError::Json {
            path: path.to_path_buf(),
            message: format!("{what}; leaving it alone"),
        };
        self.strip(root);
        if let Some(version) = self.version {
            root.entry("version").or_insert_with(|| json!(version));
        }
        let Value::Object(hooks) = root
            .entry("hooks")
            .or_insert_with(|| Value::Object(Map::new()))
        else {
            return Err(shape_error("key \"hooks\" is not an object".into()));
        };
        for (native, event) in self.events {
            let element = (self.entry)(native, hook_command(self.harness, event));
            let list = hooks
                .entry(*native)
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(list) = list else {
                return Err(shape_error(format!("hooks.{native} is not a list")));
            };
            list.push(element);
        }
        Ok(())
    }

    /// Removes the `version` AO added (the format's, where `original` had none). Returns
    /// whether it did.
    fn undo_version(&self, root: &mut Map<String, Value>, original: &Map<String, Value>) -> bool {
        let added = self
            .version
            .is_some_and(|v| root.get("version") == Some(&json!(v)))
            && !original.contains_key("version");
        if added {
            root.remove("version");
        }
        added
    }

    /// Whether only what AO itself adds around its entries is left: the format's `version` and
    /// an empty `hooks`.
    fn is_skeleton(&self, root: &Map<String, Value>) -> bool {
        root.iter().all(|(key, value)| match key.as_str() {
            "hooks" => value.as_object().is_some_and(Map::is_empty),
            "version" => self.version.is_some_and(|v| *value == json!(v)),
            _ => false,
        })
    }
}

/// Where the original bytes of the hook files AO writes over are kept:
/// `<git-dir of wt>/ao/hook-originals` (adapters.md §5.4), or `<session dir>/hook-originals`
/// for a worktree that is not a git repository (AO's worktrees always are).
pub(crate) async fn originals_dir(ctx: &AgentContext<'_>) -> Result<PathBuf, AgentError> {
    match files::git_dir(ctx.worktree).await {
        Ok(git_dir) => Ok(git_dir.join("ao").join("hook-originals")),
        Err(AgentError::Command(ProcessError::Failed { .. })) => {
            Ok(ctx.session_dir.join("hook-originals"))
        }
        Err(e) => Err(e),
    }
}

/// The permission bits of `path` (the default for AO's files when it cannot be read).
fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).map_or(OWNER_ONLY, |m| m.permissions().mode() & 0o777)
}

/// A JSON hook file inside the worktree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WorktreeHookFile {
    /// The directory, relative to the worktree (`.cursor`).
    pub dir: &'static str,
    /// The file name in it (`hooks.json`).
    pub file: &'static str,
    pub layout: HookLayout,
}

impl WorktreeHookFile {
    /// The file, relative to the worktree.
    pub(crate) fn rel(&self) -> String {
        format!("{}/{}", self.dir, self.file)
    }

    /// Installs AO's entries (idempotent; never dirties the worktree).
    pub(crate) async fn install(&self, ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        let rel = self.rel();
        let path = ctx.worktree.join(&rel);
        let current = read_optional(&path)?;
        let before = match &current {
            Some(bytes) => parse_json_object(&path, bytes)?,
            None => Map::new(),
        };
        let mut root = before.clone();
        self.layout.merge(&path, &mut root)?;

        let dir = ctx.worktree.join(self.dir);
        std::fs::create_dir_all(&dir).map_err(|e| AgentError::io(&dir, &e))?;
        // The .gitignore first, so the file is never visible as untracked.
        files::ensure_gitignore(&dir, self.file)?;
        let tracked = files::is_tracked(ctx.worktree, &rel).await?;
        if let Some(bytes) = &current {
            // Save what AO is about to change, once. An untracked file that already holds AO
            // entries is AO's own from an earlier install (a restore after the agent exited),
            // not the user's.
            let store = originals_dir(ctx).await?.join(&rel);
            if read_optional(&store)?.is_none() && (tracked || !self.layout.has_ao_entries(&before))
            {
                write_atomic(&store, bytes, mode_of(&path))?;
            }
        }
        files::write_json_if_changed(&path, &root, OWNER_ONLY)?;
        if tracked {
            files::skip_worktree(ctx.worktree, &rel, true).await?;
        }
        Ok(())
    }

    /// Removes AO's entries, puts a saved original back, and removes what AO created
    /// (idempotent).
    pub(crate) async fn uninstall(&self, ctx: &AgentContext<'_>) -> Result<(), AgentError> {
        if !ctx.worktree.is_dir() {
            return Ok(());
        }
        let rel = self.rel();
        let path = ctx.worktree.join(&rel);
        let store = originals_dir(ctx).await?.join(&rel);
        let saved = read_optional(&store)?;
        let tracked = files::is_tracked(ctx.worktree, &rel).await?;
        if let Some(bytes) = read_optional(&path)? {
            let mut root = parse_json_object(&path, &bytes)?;
            let stripped = self.layout.strip(&mut root);
            match &saved {
                Some(original) => {
                    let original_without_ao =
                        parse_json_object(&store, original).ok().map(|mut o| {
                            self.layout.strip(&mut o);
                            o
                        });
                    let unversioned = original_without_ao
                        .as_ref()
                        .is_some_and(|o| self.layout.undo_version(&mut root, o));
                    if original_without_ao.as_ref() == Some(&root) {
                        if bytes != *original {
                            write_atomic(&path, original, mode_of(&store))?;
                        }
                    } else if stripped || unversioned {
                        write_atomic(&path, &json_bytes(&root), mode_of(&path))?;
                    }
                }
                None if stripped && !tracked && self.layout.is_skeleton(&root) => {
                    remove_file_if_exists(&path)?;
                }
                None if stripped => write_atomic(&path, &json_bytes(&root), mode_of(&path))?,
                None => {}
            }
        }
        if tracked {
            files::skip_worktree(ctx.worktree, &rel, false).await?;
        }
        if saved.is_some() {
            remove_file_if_exists(&store)?;
        }
        files::remove_gitignore(ctx.worktree, self.dir).await?;
        files::remove_empty_dirs(ctx.worktree, self.dir);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::test_support::{Fixture, git, init_repo, porcelain};

    const EVENTS: [(&str, &str); 3] = [
        ("start", "session-start"),
        ("shell", "tool-use"),
        ("mcp", "tool-use"),
    ];

    fn flat(_native: &str, command: String) -> Value {
        json!({"command": command})
    }

    const FILE: WorktreeHookFile = WorktreeHookFile {
        dir: ".cursor",
        file: "hooks.json",
        layout: HookLayout {
            harness: Harness::Cursor,
            events: &EVENTS,
            entry: flat,
            version: Some(1),
        },
    };

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).expect("file")).expect("json")
    }

    #[test]
    fn merge_replaces_ao_entries_keeps_the_users_and_sets_the_version_once() {
        let mut root = obj(json!({
            "version": 2,
            "hooks": {"shell": [{"command": "ao hooks cursor tool-use"}, {"command": "audit.sh"}]}
        }));
        FILE.layout
            .merge(Path::new("/x"), &mut root)
            .expect("merge");
        assert_eq!(
            Value::Object(root),
            json!({"version": 2, "hooks": {
                "shell": [{"command": "audit.sh"}, {"command": "ao hooks cursor tool-use"}],
                "start": [{"command": "ao hooks cursor session-start"}],
                "mcp": [{"command": "ao hooks cursor tool-use"}]
            }})
        );
        assert_eq!(FILE.layout.ao_events(), ["session-start", "tool-use"]);
    }

    #[test]
    fn merge_refuses_hooks_of_the_wrong_shape() {
        for bad in [json!({"hooks": []}), json!({"hooks": {"shell": "x"}})] {
            let mut root = obj(bad);
            let err = FILE
                .layout
                .merge(Path::new("/w/.cursor/hooks.json"), &mut root)
                .expect_err("wrong shape");
            assert!(matches!(err, AgentError::Json { .. }), "{err:?}");
        }
    }

    #[test]
    fn skeleton() {
        let l = FILE.layout;
        assert!(l.is_skeleton(&obj(json!({}))));
        assert!(l.is_skeleton(&obj(json!({"version": 1, "hooks": {}}))));
        assert!(!l.is_skeleton(&obj(json!({"version": 2}))));
        assert!(!l.is_skeleton(&obj(json!({"hooks": {"x": []}}))));
        assert!(!l.is_skeleton(&obj(json!({"other": true}))));
    }

    #[tokio::test]
    async fn a_user_edit_made_while_installed_survives_uninstall() {
        let f = Fixture::new("cursor-agent");
        init_repo(&f.worktree, &[]).await;
        let path = f.worktree.join(".cursor/hooks.json");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, "{\"version\":1}").expect("user file");
        FILE.install(&f.ctx()).await.expect("install");
        let mut edited = obj(read(&path));
        edited.insert("added".into(), json!("by the user"));
        std::fs::write(&path, serde_json::to_vec(&edited).expect("json")).expect("edit");

        FILE.uninstall(&f.ctx()).await.expect("uninstall");
        assert_eq!(read(&path), json!({"version": 1, "added": "by the user"}));
        let store = originals_dir(&f.ctx())
            .await
            .expect("store")
            .join(".cursor/hooks.json");
        assert!(!store.exists(), "the saved copy is deleted");
    }

    #[tokio::test]
    async fn a_restore_after_the_agent_exited_does_not_take_aos_file_for_the_users() {
        let f = Fixture::new("cursor-agent");
        init_repo(&f.worktree, &[]).await;
        FILE.install(&f.ctx()).await.expect("install");
        // The agent exited: no uninstall ran. The restore installs again.
        FILE.install(&f.ctx()).await.expect("install again");
        FILE.uninstall(&f.ctx()).await.expect("uninstall");
        assert!(
            !f.worktree.join(".cursor").exists(),
            "everything AO made is gone"
        );
        assert_eq!(porcelain(&f.worktree).await, "");
    }

    #[tokio::test]
    async fn a_committed_file_holding_ao_entries_comes_back_as_committed() {
        let f = Fixture::new("cursor-agent");
        let committed =
            b"{\"hooks\": {\"start\": [{\"command\": \"ao hooks cursor session-start\"}]}}";
        init_repo(&f.worktree, &[(".cursor/hooks.json", committed)]).await;
        FILE.install(&f.ctx()).await.expect("install");
        assert_eq!(porcelain(&f.worktree).await, "");
        FILE.uninstall(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read(f.worktree.join(".cursor/hooks.json")).expect("kept"),
            committed
        );
        let flags = git(&f.worktree, &["ls-files", "-v", ".cursor/hooks.json"]).await;
        assert!(flags.starts_with("H "), "skip-worktree cleared: {flags:?}");
        assert_eq!(porcelain(&f.worktree).await, "");
    }

    #[tokio::test]
    async fn a_users_file_keeps_its_mode() {
        let f = Fixture::new("cursor-agent");
        init_repo(&f.worktree, &[]).await;
        let path = f.worktree.join(".cursor/hooks.json");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, "{}\n").expect("user file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        FILE.install(&f.ctx()).await.expect("install");
        assert_eq!(mode_of(&path), 0o600, "AO writes its files 0600");
        FILE.uninstall(&f.ctx()).await.expect("uninstall");
        assert_eq!(std::fs::read(&path).expect("restored"), b"{}\n");
        assert_eq!(mode_of(&path), 0o640);
    }

    #[tokio::test]
    async fn outside_a_git_repository_the_originals_live_in_the_session_dir() {
        let f = Fixture::new("cursor-agent");
        assert_eq!(
            originals_dir(&f.ctx()).await.expect("dir"),
            f.session_dir.join("hook-originals")
        );
        let path = f.worktree.join(".cursor/hooks.json");
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, "{ \"version\" : 1 }").expect("user file");
        FILE.install(&f.ctx()).await.expect("install");
        FILE.uninstall(&f.ctx()).await.expect("uninstall");
        assert_eq!(
            std::fs::read(&path).expect("restored"),
            b"{ \"version\" : 1 }"
        );
    }
}
