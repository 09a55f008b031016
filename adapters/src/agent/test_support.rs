//! Test helpers for the agent adapters: an owned [`Fixture`] from which an [`AgentContext`]
//! is borrowed, and small git helpers for the tracked-target tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};

use ao_protocol::{AgentConfig, PermissionMode, SessionId, SessionKind};

use super::{AgentContext, AgentError};
use crate::git::git_cmd;
use crate::process;

/// Owned data for one [`AgentContext`], in a fresh temp dir (`worktree/`, `session/`).
pub(crate) struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub session_id: SessionId,
    pub worktree: PathBuf,
    pub session_dir: PathBuf,
    pub binary: PathBuf,
    pub config: AgentConfig,
    pub system_prompt: String,
    pub prompt: Option<String>,
    pub command: Option<String>,
    pub env: BTreeMap<String, String>,
}

impl Fixture {
    /// A fixture whose binary is `/bin/<binary>` and whose session is `demo-1`.
    pub fn new(binary: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical tempdir");
        let worktree = root.join("worktree");
        let session_dir = root.join("session");
        std::fs::create_dir_all(&worktree).expect("mkdir worktree");
        std::fs::create_dir_all(&session_dir).expect("mkdir session");
        Self {
            _tmp: tmp,
            session_id: SessionId::parse("demo-1").expect("valid id"),
            worktree,
            session_dir,
            binary: if binary.starts_with('/') {
                PathBuf::from(binary)
            } else {
                Path::new("/bin").join(binary)
            },
            config: AgentConfig::default(),
            system_prompt: String::new(),
            prompt: None,
            command: None,
            env: BTreeMap::new(),
        }
    }

    /// A fixture with every option set: permission `mode`, model `m-1`, system prompt `S`,
    /// user prompt `P`.
    pub fn with_everything(binary: &str, mode: PermissionMode) -> Self {
        let mut f = Self::new(binary);
        f.config.permissions = Some(mode);
        f.config.model = Some("m-1".into());
        f.system_prompt = "S".into();
        f.prompt = Some("P".into());
        f
    }

    pub fn ctx(&self) -> AgentContext<'_> {
        AgentContext {
            session_id: &self.session_id,
            kind: SessionKind::Worker,
            worktree: &self.worktree,
            session_dir: &self.session_dir,
            binary: &self.binary,
            agent_config: &self.config,
            system_prompt: &self.system_prompt,
            prompt: self.prompt.as_deref(),
            command: self.command.as_deref(),
            env: &self.env,
        }
    }
}

/// Owned strings from string slices.
pub(crate) fn strs(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

/// Runs a hook future on a fresh current-thread runtime and asserts success.
pub(crate) fn block_on_ok(fut: impl Future<Output = Result<(), AgentError>>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(fut).expect("hook operation succeeds");
}

/// Runs git in `dir`, panicking on failure; returns stdout.
pub(crate) async fn git(dir: &Path, args: &[&str]) -> String {
    process::run(&git_cmd().arg("-C").arg(dir).args(args))
        .await
        .unwrap_or_else(|e| panic!("git {args:?}: {e}"))
        .stdout
}

/// Makes `dir` a git repository with one commit containing `files`.
pub(crate) async fn init_repo(dir: &Path, files: &[(&str, &[u8])]) {
    git(dir, &["init", "-q", "-b", "main"]).await;
    git(dir, &["config", "user.email", "t@example.com"]).await;
    git(dir, &["config", "user.name", "t"]).await;
    std::fs::write(dir.join("README"), "readme\n").expect("write README");
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write file");
    }
    git(dir, &["add", "-A"]).await;
    git(dir, &["commit", "-q", "-m", "init", "--no-gpg-sign"]).await;
}

/// `git status --porcelain --untracked-files=all` output (empty when clean).
pub(crate) async fn porcelain(dir: &Path) -> String {
    git(dir, &["status", "--porcelain", "--untracked-files=all"]).await
}
