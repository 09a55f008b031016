//! The daemon's on-disk footprint under `AO_HOME` (README §4.1–4.2): private directories,
//! `daemon.lock` and `running.json`.
//!
//! Invariants:
//! * `AO_HOME` and the data dir are created with mode 0700.
//! * [`DaemonLock`] holds an exclusive, non-blocking `flock` on `<dataDir>/daemon.lock` for as
//!   long as the value lives; a second daemon gets [`DaemonError::AlreadyRunning`].
//! * `running.json` is written atomically (temp file in the same directory, then rename) with
//!   mode 0600, and removed on exit only while it still names this process's pid. While the
//!   daemon runs, [`keep_run_file`] rewrites it when it goes missing or gets damaged.
//! * The token inside the run-file is never logged.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ao_protocol::RunFile;
use nix::fcntl::{Flock, FlockArg};

use crate::DaemonError;

/// Creates `dir` (and missing parents) with mode 0700. An existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> Result<(), DaemonError> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| DaemonError::io("cannot create directory", dir, &e))
}

/// The exclusive `flock` on `daemon.lock`; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DaemonLock {
    _flock: Flock<File>,
    path: PathBuf,
}

impl DaemonLock {
    /// Takes the lock without waiting.
    pub fn acquire(path: &Path) -> Result<Self, DaemonError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| DaemonError::io("cannot open lock file", path, &e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => Ok(Self {
                _flock: flock,
                path: path.to_path_buf(),
            }),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(DaemonError::AlreadyRunning {
                path: path.to_path_buf(),
            }),
            Err((_, errno)) => Err(DaemonError::Io {
                what: "cannot lock",
                path: path.to_path_buf(),
                message: errno.desc().to_string(),
            }),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// 32 bytes from the OS CSPRNG, hex-encoded (64 lowercase hex chars).
pub fn generate_token() -> Result<String, DaemonError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DaemonError::Token(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// Writes `running.json` atomically with mode 0600.
pub fn write_run_file(path: &Path, run: &RunFile) -> Result<(), DaemonError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_private_dir(dir)?;
    let file_name = path.file_name().map_or_else(
        || "running.json".into(),
        |n| n.to_string_lossy().into_owned(),
    );
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(run).map_err(|e| DaemonError::Io {
        what: "cannot serialise",
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        // A pre-existing temp file keeps its old mode; force 0600 either way.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&json)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        DaemonError::io("cannot write run-file", path, &e)
    })
}

/// How often a running daemon checks that its `running.json` is still in place.
pub const RUN_FILE_CHECK: Duration = Duration::from_secs(1);

/// Self-heal of `running.json` while the daemon runs: rewrites `run` (atomically, 0600) when
/// the file at `path` is missing, is not a run-file, or names a process that is not alive or
/// is this one with other contents. A run-file of another live process is left alone (it is
/// another daemon's, one with its own data dir). Returns whether the file was rewritten.
pub fn heal_run_file(path: &Path, run: &RunFile) -> Result<bool, DaemonError> {
    let healthy = match fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<RunFile>(&bytes)
            .is_ok_and(|found| found == *run || (found.pid != run.pid && process_alive(found.pid))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        // Unreadable for another reason (permissions): not ours to replace.
        Err(_) => true,
    };
    if healthy {
        return Ok(false);
    }
    write_run_file(path, run)?;
    Ok(true)
}

/// Runs [`heal_run_file`] every [`RUN_FILE_CHECK`] until the task is aborted (at shutdown,
/// before the run-file is removed). Clients read the run-file on every invocation, so a run-file
/// deleted or corrupted under a running daemon costs them at most one check interval.
pub async fn keep_run_file(path: PathBuf, run: RunFile) {
    let mut tick = tokio::time::interval(RUN_FILE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match heal_run_file(&path, &run) {
            Ok(true) => tracing::warn!(
                path = %path.display(),
                "running.json was missing or damaged; rewritten"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot restore running.json"),
        }
    }
}

/// Whether a process with this pid exists (`EPERM`: it exists, owned by someone else).
fn process_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    raw > 0
        && matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None),
            Ok(()) | Err(nix::errno::Errno::EPERM)
        )
}

/// Removes `running.json` if it still names `pid`. Returns whether it was removed.
pub fn remove_run_file_if_ours(path: &Path, pid: u32) -> bool {
    let Ok(text) = fs::read_to_string(path) else {
        return false;
    };
    match serde_json::from_str::<RunFile>(&text) {
        Ok(run) if run.pid == pid => fs::remove_file(path).is_ok(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_file(pid: u32) -> RunFile {
        RunFile {
            pid,
            port: 3001,
            token: "ab".repeat(32),
            started_at: ao_protocol::time::now(),
            version: ao_protocol::VERSION.into(),
            home: "/h".into(),
            data_dir: "/h/data".into(),
        }
    }

    #[test]
    fn private_dirs_are_0700() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).expect("created");
        let mode = fs::metadata(&dir).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn lock_is_exclusive_until_dropped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("daemon.lock");
        let first = DaemonLock::acquire(&path).expect("first lock");
        let second = DaemonLock::acquire(&path).expect_err("held");
        assert!(
            matches!(second, DaemonError::AlreadyRunning { .. }),
            "{second}"
        );
        drop(first);
        DaemonLock::acquire(&path).expect("free again");
    }

    #[test]
    fn run_file_is_0600_and_only_our_pid_removes_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("running.json");
        let written = run_file(7);
        write_run_file(&path, &written).expect("written");
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back: RunFile =
            serde_json::from_str(&fs::read_to_string(&path).expect("readable")).expect("json");
        assert_eq!(back, written);
        assert!(!remove_run_file_if_ours(&path, 8));
        assert!(path.exists());
        assert!(remove_run_file_if_ours(&path, 7));
        assert!(!path.exists());
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).expect("dir").collect();
        assert!(
            leftovers.is_empty(),
            "temp files left behind: {leftovers:?}"
        );
    }

    #[test]
    fn a_missing_damaged_or_dead_run_file_is_healed_and_a_live_foreign_one_is_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("running.json");
        let ours = run_file(std::process::id());
        let read = || -> RunFile {
            serde_json::from_str(&fs::read_to_string(&path).expect("present")).expect("json")
        };
        assert!(heal_run_file(&path, &ours).expect("heal"), "missing");
        assert_eq!(read(), ours);
        assert!(!heal_run_file(&path, &ours).expect("heal"), "intact");
        fs::write(&path, "{\"pid\": 7, \"po").expect("corrupt");
        assert!(heal_run_file(&path, &ours).expect("heal"), "not a run-file");
        assert_eq!(read(), ours);
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A run-file naming a process that is gone (a reaped child of ours) is replaced…
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let gone = child.id();
        child.wait().expect("reaped");
        write_run_file(&path, &run_file(gone)).expect("write");
        assert!(heal_run_file(&path, &ours).expect("heal"), "dead pid");
        assert_eq!(read(), ours);
        // …but one of another live process (pid 1) is not ours to touch.
        write_run_file(&path, &run_file(1)).expect("write");
        assert!(!heal_run_file(&path, &ours).expect("heal"), "foreign");
        assert_eq!(read().pid, 1);
    }

    #[test]
    fn tokens_are_64_lowercase_hex_and_fresh() {
        let a = generate_token().expect("token");
        let b = generate_token().expect("token");
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, b);
    }
}
