//! Agent binary resolution (adapters.md §5.4, §6).
//!
//! [`BinaryResolver::resolve`] looks the harness's binary ([`Harness::binary_name`]) up on the
//! given `PATH` first, then in [`SYSTEM_BIN_DIRS`], then in `~/.local/bin`, `~/.npm-global/bin`,
//! `~/.npm/bin`, `~/.cargo/bin`, then in the harness's own directory
//! ([`Harness::home_bin_dir`]: `~/.claude/local`, `~/.opencode/bin`, `~/.grok/bin`,
//! `~/.copilot/bin`). `command` resolves to `/bin/sh`.
//!
//! Invariants:
//! * A hit is an existing regular file with an execute bit, returned as found (symlinks are not
//!   resolved: some agents, and AO's fake agent, look at their own argv\[0\]).
//! * Hits are cached for the resolver's (the daemon's) lifetime per `(harness, PATH)`; a cached
//!   path that has disappeared is looked up again. Misses are not cached, so installing an
//!   agent does not need a daemon restart.
//! * Empty `PATH` entries (which would mean "the daemon's current directory") are skipped.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use ao_protocol::Harness;

/// The fixed system directories searched after `PATH`.
pub const SYSTEM_BIN_DIRS: [&str; 2] = ["/usr/local/bin", "/opt/homebrew/bin"];

/// Directories under `$HOME` searched after the system ones, for every harness.
const HOME_BIN_DIRS: [&str; 4] = [".local/bin", ".npm-global/bin", ".npm/bin", ".cargo/bin"];

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds agent binaries; one per daemon, shared by every session.
#[derive(Debug)]
pub struct BinaryResolver {
    home: Option<PathBuf>,
    system_dirs: Vec<PathBuf>,
    cache: Mutex<HashMap<(Harness, String), PathBuf>>,
}

impl BinaryResolver {
    /// A resolver searching `home`'s directories (none without a home) and
    /// [`SYSTEM_BIN_DIRS`].
    pub fn new(home: Option<PathBuf>) -> Self {
        Self::with_system_dirs(home, SYSTEM_BIN_DIRS.iter().map(PathBuf::from).collect())
    }

    /// Like [`BinaryResolver::new`] with other system directories (tests use none, so the
    /// machine's `/usr/local/bin` cannot interfere).
    pub fn with_system_dirs(home: Option<PathBuf>, system_dirs: Vec<PathBuf>) -> Self {
        Self {
            home,
            system_dirs,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Every directory searched for `harness` with `path_env`, in order.
    pub fn search_dirs(&self, harness: Harness, path_env: &str) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = path_env
            .split(':')
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        dirs.extend(self.system_dirs.iter().cloned());
        if let Some(home) = &self.home {
            dirs.extend(HOME_BIN_DIRS.iter().map(|d| home.join(d)));
            if let Some(extra) = harness.home_bin_dir() {
                dirs.push(home.join(extra));
            }
        }
        dirs
    }

    /// The binary of `harness`, or `None` (→ `AGENT_BINARY_NOT_FOUND`).
    pub fn resolve(&self, harness: Harness, path_env: &str) -> Option<PathBuf> {
        let name = harness.binary_name();
        if name.starts_with('/') {
            let path = PathBuf::from(name);
            return is_executable_file(&path).then_some(path);
        }
        let key = (harness, path_env.to_string());
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = cache.get(&key)
                && is_executable_file(hit)
            {
                return Some(hit.clone());
            }
        }
        let found = self
            .search_dirs(harness, path_env)
            .into_iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable_file(candidate))?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, found.clone());
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_exe(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn finds_a_binary_in_the_extra_dir_when_absent_from_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let empty_path_dir = tmp.path().join("bin");
        std::fs::create_dir_all(&empty_path_dir).expect("mkdir");
        let claude = home.join(".claude/local/claude");
        make_exe(&claude);
        let r = BinaryResolver::with_system_dirs(Some(home.clone()), Vec::new());
        let path_env = empty_path_dir.to_string_lossy().into_owned();
        assert_eq!(r.resolve(Harness::ClaudeCode, &path_env), Some(claude));
        // The claude extra dir is not searched for other harnesses.
        make_exe(&home.join(".claude/local/codex"));
        assert_eq!(r.resolve(Harness::Codex, &path_env), None);
        let opencode = home.join(".opencode/bin/opencode");
        make_exe(&opencode);
        assert_eq!(r.resolve(Harness::Opencode, &path_env), Some(opencode));
    }

    #[test]
    fn path_wins_then_system_then_home_dirs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let p1 = tmp.path().join("p1");
        let p2 = tmp.path().join("p2");
        let sys = tmp.path().join("sys");
        make_exe(&home.join(".local/bin/codex"));
        make_exe(&sys.join("codex"));
        let r = BinaryResolver::with_system_dirs(Some(home.clone()), vec![sys.clone()]);
        let path_env = format!("{}::{}", p1.display(), p2.display());
        assert_eq!(
            r.resolve(Harness::Codex, &path_env),
            Some(sys.join("codex"))
        );
        make_exe(&p2.join("codex"));
        // A different PATH is a different cache key.
        let other = format!("{}:{}", p2.display(), p1.display());
        assert_eq!(r.resolve(Harness::Codex, &other), Some(p2.join("codex")));
        assert_eq!(
            r.search_dirs(Harness::Codex, &path_env),
            vec![
                p1.clone(),
                p2.clone(),
                sys.clone(),
                home.join(".local/bin"),
                home.join(".npm-global/bin"),
                home.join(".npm/bin"),
                home.join(".cargo/bin"),
            ]
        );
    }

    #[test]
    fn returns_none_when_absent_everywhere_and_ignores_non_executables() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::write(bin.join("opencode"), "not executable").expect("write");
        std::fs::create_dir_all(bin.join("codex")).expect("a directory, not a file");
        let r = BinaryResolver::with_system_dirs(Some(home), Vec::new());
        let path_env = bin.to_string_lossy().into_owned();
        for h in [Harness::ClaudeCode, Harness::Codex, Harness::Opencode] {
            assert_eq!(r.resolve(h, &path_env), None, "{h}");
        }
        let no_home = BinaryResolver::with_system_dirs(None, Vec::new());
        assert_eq!(no_home.resolve(Harness::ClaudeCode, ""), None);
    }

    #[test]
    fn hits_are_cached_and_rechecked_misses_are_not_cached() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        let r = BinaryResolver::with_system_dirs(None, Vec::new());
        let path_env = format!("{}:{}", a.display(), b.display());
        assert_eq!(r.resolve(Harness::Codex, &path_env), None);
        make_exe(&b.join("codex"));
        assert_eq!(
            r.resolve(Harness::Codex, &path_env),
            Some(b.join("codex")),
            "a miss is not cached"
        );
        make_exe(&a.join("codex"));
        assert_eq!(
            r.resolve(Harness::Codex, &path_env),
            Some(b.join("codex")),
            "a hit is cached"
        );
        std::fs::remove_file(b.join("codex")).expect("rm");
        assert_eq!(
            r.resolve(Harness::Codex, &path_env),
            Some(a.join("codex")),
            "a vanished hit is looked up again"
        );
    }

    #[test]
    fn symlinks_are_returned_as_found() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let real = tmp.path().join("real/fake-agent");
        make_exe(&real);
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(&real, bin.join("claude")).expect("symlink");
        let r = BinaryResolver::with_system_dirs(None, Vec::new());
        assert_eq!(
            r.resolve(Harness::ClaudeCode, &bin.to_string_lossy()),
            Some(bin.join("claude"))
        );
    }

    #[test]
    fn command_is_bin_sh() {
        let r = BinaryResolver::with_system_dirs(None, Vec::new());
        assert_eq!(
            r.resolve(Harness::Command, ""),
            Some(PathBuf::from("/bin/sh"))
        );
    }
}
