//! The runtime conformance suite: one set of checks that every [`Runtime`] must pass, run
//! against the real multiplexers — tmux on a private server per test, zellij on a private
//! socket directory (and a private zellij cache) per test.
//!
//! Each check is a generic async function over a [`Fixture`]; [`conformance_tests!`] turns the
//! list into `#[tokio::test]`s for one fixture type, so `tmux::<check>` and `zellij::<check>`
//! run the very same code. The checks go through the port only (create, probes, send, capture,
//! destroy, attach, orphan listing); what differs between multiplexers (the attach argv, how to
//! clean up) is the fixture's.
//!
//! zellij is not optional here: without it the zellij tests FAIL with an explanation (CI
//! installs it with `cargo install zellij --locked`, see `.ci/run`).
//!
//! Invariant: every fixture owns its multiplexer namespace and tears it down on drop, so the
//! tests never touch the user's tmux or zellij sessions, or each other.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ao_protocol::{ErrorCode, SessionId};

use super::{
    AttachSpec, CreateSpec, LaunchSpec, Probe, ProbeTarget, Runtime, RuntimeError, Tmux, Zellij,
    exit_status_path, read_exit_status, runtime_name, shell_quote,
};
use crate::process::{self, Cmd};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique token per fixture (process id and a counter).
fn unique() -> String {
    format!(
        "{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One runtime under test, in a namespace of its own.
trait Fixture {
    /// The runtime under test (its `AO_HOME` is private to this fixture).
    fn runtime(&self) -> &dyn Runtime;
    /// The same multiplexer seen by another `AO_HOME`.
    fn other_home(&self) -> &dyn Runtime;
    /// A scratch directory: the agents' working directory.
    fn workdir(&self) -> &Path;
    /// `AO_DATA_DIR` of [`Fixture::runtime`].
    fn data_dir(&self) -> PathBuf;
    /// A project id no other fixture uses (session names are `<project>-<n>`).
    fn project(&self) -> &str;
    /// The attach command adapters.md specifies for session `name`.
    fn expected_attach(&self, name: &str) -> AttachSpec;
}

/// The session id `<project>-<num>` of this fixture.
fn id(f: &impl Fixture, num: u32) -> SessionId {
    SessionId::parse(format!("{}-{num}", f.project())).expect("a valid session id")
}

fn target(id: &SessionId) -> ProbeTarget {
    ProbeTarget {
        name: runtime_name(id.as_str()),
        session_id: id.clone(),
    }
}

/// An agent running `script` under `/bin/sh` in the fixture's working directory.
fn spec(f: &impl Fixture, id: &SessionId, script: &str) -> CreateSpec {
    CreateSpec {
        name: runtime_name(id.as_str()),
        session_id: id.clone(),
        cwd: f.workdir().to_path_buf(),
        launch: LaunchSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            env: BTreeMap::from([(
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )]),
        },
    }
}

async fn create(f: &impl Fixture, id: &SessionId, script: &str) {
    f.runtime()
        .create(&spec(f, id, script))
        .await
        .unwrap_or_else(|e| panic!("create {id}: {e}"));
}

/// Polls `check` every 25 ms until it yields a value; fails after 15 s.
pub(super) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the session's screen shows `needle`; returns the screen.
async fn screen_shows(f: &impl Fixture, name: &str, needle: &str) -> String {
    eventually(&format!("{needle:?} on the screen of {name}"), || async {
        let text = f.runtime().capture(name, 100).await.ok()?;
        text.contains(needle).then_some(text)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// Create starts the agent in its working directory; it probes alive, alone and in a batch.
async fn create_runs_the_agent_in_its_workdir(f: &impl Fixture) {
    let rt = f.runtime();
    rt.prepare().await.expect("prepare");
    let one = id(f, 1);
    create(f, &one, "echo \"cwd:$(pwd -P)\"; echo started; sleep 60").await;
    assert_eq!(rt.probe_one(&target(&one)).await, Probe::Alive);
    let all = rt.probe_all(&[target(&one), target(&id(f, 2))]).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[&one.to_string()], Probe::Alive);
    assert_eq!(all[&id(f, 2).to_string()], Probe::Missing);

    let screen = screen_shows(f, one.as_str(), "started").await;
    let cwd = f.workdir().canonicalize().expect("canonical workdir");
    assert!(
        screen
            .lines()
            .any(|l| l == format!("cwd:{}", cwd.display())),
        "{screen}"
    );
}

/// An agent that dies during the early-exit window fails create with its exit code and its
/// last output, and leaves no session behind.
async fn an_early_exit_fails_create_with_code_and_output(f: &impl Fixture) {
    let one = id(f, 1);
    let err = f
        .runtime()
        .create(&spec(f, &one, "echo first line; echo boom-output; exit 7"))
        .await
        .expect_err("the agent exits at once");
    assert_eq!(err.code(), ErrorCode::AgentExitedEarly);
    let RuntimeError::AgentExitedEarly {
        exit_code,
        output_tail,
    } = err
    else {
        panic!("expected AgentExitedEarly, got {err:?}");
    };
    assert_eq!(exit_code, Some(7));
    let lines: Vec<&str> = output_tail.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "first line")
        .unwrap_or_else(|| panic!("no output in the tail: {output_tail:?}"));
    assert_eq!(lines.get(at + 1), Some(&"boom-output"), "{output_tail:?}");
    eventually("the failed session to be gone", || async {
        (f.runtime().probe_one(&target(&one)).await == Probe::Missing).then_some(())
    })
    .await;
}

/// One batch probe tells a running agent, an agent that exited with 3 and an absent session
/// apart.
async fn the_batch_probe_classifies_alive_exited_and_missing(f: &impl Fixture) {
    let rt = f.runtime();
    let (alive, exits, absent) = (id(f, 1), id(f, 2), id(f, 3));
    let go = f.workdir().join("go");
    create(f, &alive, "sleep 60").await;
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; echo bye; exit 3",
        shell_quote(&go.to_string_lossy())
    );
    create(f, &exits, &script).await;
    let targets = [target(&alive), target(&exits), target(&absent)];
    let all = rt.probe_all(&targets).await;
    assert_eq!(all[alive.as_str()], Probe::Alive);
    assert_eq!(all[exits.as_str()], Probe::Alive);
    assert_eq!(all[absent.as_str()], Probe::Missing);

    std::fs::write(&go, "").expect("signal the agent");
    let all = eventually("the agent to exit", || async {
        let all = rt.probe_all(&targets).await;
        (all[exits.as_str()] != Probe::Alive).then_some(all)
    })
    .await;
    assert_eq!(
        all,
        HashMap::from([
            (alive.to_string(), Probe::Alive),
            (exits.to_string(), Probe::Exited(Some(3))),
            (absent.to_string(), Probe::Missing),
        ])
    );
}

/// An agent that exits with 3 is `exited(3)` to the single probe too, the launch string
/// recorded the status, and the dead pane's output stays readable.
async fn an_exited_agent_keeps_its_code_and_output(f: &impl Fixture) {
    let rt = f.runtime();
    let one = id(f, 1);
    let go = f.workdir().join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.02; done; echo last-words; exit 3",
        shell_quote(&go.to_string_lossy())
    );
    create(f, &one, &script).await;
    std::fs::write(&go, "").expect("signal the agent");
    let probe = eventually("the agent to exit", || async {
        let p = rt.probe_one(&target(&one)).await;
        (p != Probe::Alive).then_some(p)
    })
    .await;
    assert_eq!(probe, Probe::Exited(Some(3)));
    assert_eq!(
        read_exit_status(&exit_status_path(&f.data_dir(), &one)),
        Some(3)
    );
    let text = rt.capture(one.as_str(), 40).await.expect("capture");
    assert!(text.lines().any(|l| l == "last-words"), "{text}");
}

/// Absent sessions are missing, also when the multiplexer has nothing running at all; then
/// destroy succeeds and nothing is listed.
async fn absent_sessions_are_missing(f: &impl Fixture) {
    let rt = f.runtime();
    let (one, two) = (id(f, 1), id(f, 2));
    // Nothing runs in this namespace yet.
    assert_eq!(
        rt.probe_all(&[target(&one), target(&two)]).await,
        HashMap::from([
            (one.to_string(), Probe::Missing),
            (two.to_string(), Probe::Missing)
        ])
    );
    assert_eq!(rt.probe_one(&target(&one)).await, Probe::Missing);
    assert!(rt.probe_all(&[]).await.is_empty());
    rt.destroy(one.as_str()).await.expect("nothing to destroy");
    assert_eq!(rt.list_orphans().await.expect("list"), vec![]);
    // With something running, an absent session is still missing.
    create(f, &two, "sleep 60").await;
    assert_eq!(rt.probe_one(&target(&one)).await, Probe::Missing);
}

/// The recorder agent: enables bracketed-paste mode, turns echo and line buffering off, and
/// writes every byte it receives to `file`.
fn recorder(file: &Path) -> String {
    format!(
        "printf '\\033[?2004h'; stty -icanon -echo; echo READY; exec cat > {}",
        shell_quote(&file.to_string_lossy())
    )
}

/// Send delivers the sanitised text as exactly one bracketed paste followed by one Enter;
/// `send_enter` presses Enter alone; an empty text is refused.
async fn send_is_one_bracketed_paste_then_enter(f: &impl Fixture) {
    let rt = f.runtime();
    let one = id(f, 1);
    let record = f.workdir().join("input.bin");
    create(f, &one, &recorder(&record)).await;
    screen_shows(f, one.as_str(), "READY").await;
    let read = || std::fs::read(&record).unwrap_or_default();

    rt.send(one.as_str(), "  one\r\ntwo\u{1b}[201~ \n")
        .await
        .expect("sent");
    // ESC was stripped (so the paste cannot end early), the ends trimmed; the terminal's
    // ICRNL turns the Enter key (and a CR line separator inside the paste) into `\n`.
    let want: &[u8] = b"\x1b[200~one\ntwo[201~\x1b[201~\n";
    let got = eventually("the paste and its Enter", || async {
        let got = read();
        (got.len() >= want.len()).then_some(got)
    })
    .await;
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));

    rt.send_enter(one.as_str()).await.expect("Enter sent");
    let got = eventually("the lone Enter", || async {
        let got = read();
        (got.len() > want.len()).then_some(got)
    })
    .await;
    assert_eq!(&got[want.len()..], b"\n", "one key press, no text");

    assert_eq!(
        rt.send(one.as_str(), "\u{1b}\r\n ").await,
        Err(RuntimeError::EmptyText)
    );
    assert!(
        rt.send_enter(id(f, 9).as_str()).await.is_err(),
        "an absent session is an error"
    );
}

/// Capture returns the last `n` lines without trailing blanks.
async fn capture_keeps_the_last_lines(f: &impl Fixture) {
    let rt = f.runtime();
    let one = id(f, 1);
    create(f, &one, "seq 1 60; sleep 60").await;
    let text = eventually("the output", || async {
        let text = rt.capture(one.as_str(), 5).await.ok()?;
        text.ends_with("60").then_some(text)
    })
    .await;
    assert_eq!(text, "56\n57\n58\n59\n60");
    assert_eq!(rt.capture(one.as_str(), 0).await.expect("capture"), "");
    assert!(rt.capture(id(f, 2).as_str(), 5).await.is_err());
}

/// Destroy ends exactly the named session and succeeds again on an absent one.
async fn destroy_is_idempotent(f: &impl Fixture) {
    let rt = f.runtime();
    let (one, two) = (id(f, 1), id(f, 2));
    create(f, &one, "sleep 60").await;
    create(f, &two, "sleep 60").await;
    rt.destroy(one.as_str()).await.expect("destroyed");
    rt.destroy(one.as_str())
        .await
        .expect("already gone is success");
    rt.destroy(id(f, 9).as_str())
        .await
        .expect("never existed is success");
    let all = rt.probe_all(&[target(&one), target(&two)]).await;
    assert_eq!(all[one.as_str()], Probe::Missing);
    assert_eq!(all[two.as_str()], Probe::Alive);
    // The last session: nothing runs afterwards, and destroy still succeeds.
    rt.destroy(two.as_str()).await.expect("destroyed");
    rt.destroy(two.as_str()).await.expect("nothing runs");
    // tmux's server exits with its last session; while it does, a probe may be unknown.
    eventually("the last session to be gone", || async {
        (rt.probe_one(&target(&two)).await == Probe::Missing).then_some(())
    })
    .await;
}

/// A tmux server standing in for the user's terminal, killed on drop.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn cmd(&self) -> Cmd {
        Cmd::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .env_remove("TMUX")
            .timeout(Duration::from_secs(5))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Test-only cleanup: a synchronous kill (Drop cannot await).
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The attach command is the one adapters.md specifies, and run in a terminal it shows the
/// agent's screen.
async fn attach_shows_the_agent_in_a_terminal(f: &impl Fixture) {
    let rt = f.runtime();
    let one = id(f, 1);
    let name = runtime_name(one.as_str());
    let attach = rt.attach(&name);
    assert_eq!(attach, f.expected_attach(&name));

    create(f, &one, "echo attach-marker; sleep 60").await;
    // What `ao attach` does: drop the multiplexer variables, set the env, exec the argv.
    let mut line = String::from("exec env -u TMUX -u TMUX_PANE -u ZELLIJ -u ZELLIJ_SESSION_NAME");
    for (key, value) in &attach.env {
        line.push(' ');
        line.push_str(&shell_quote(&format!("{key}={value}")));
    }
    for word in &attach.argv {
        line.push(' ');
        line.push_str(&shell_quote(word));
    }
    let terminal = Terminal {
        socket: format!("ao-conf-term-{}", unique()),
    };
    process::run(&terminal.cmd().args([
        "new-session",
        "-d",
        "-s",
        "user",
        "-x",
        "160",
        "-y",
        "40",
        &line,
    ]))
    .await
    .expect("the terminal starts");
    eventually("the agent's screen in the terminal", || async {
        let out = process::run(&terminal.cmd().args(["capture-pane", "-p", "-t", "user"]))
            .await
            .ok()?;
        out.stdout.contains("attach-marker").then_some(())
    })
    .await;
}

/// Orphan listing returns the sessions of this `AO_HOME` and never another home's.
async fn orphan_listing_is_scoped_to_this_ao_home(f: &impl Fixture) {
    let one = id(f, 1);
    let dotted = SessionId::parse(format!("{}.x-2", f.project())).expect("valid id");
    let theirs = id(f, 3);
    create(f, &one, "sleep 60").await;
    create(f, &dotted, "sleep 60").await;
    f.other_home()
        .create(&spec(f, &theirs, "sleep 60"))
        .await
        .expect("created by another AO_HOME");

    let names = |list: Vec<super::TaggedSession>| {
        let mut names: Vec<String> = list.into_iter().map(|t| t.name).collect();
        names.sort();
        names
    };
    let mut mine = vec![one.to_string(), runtime_name(dotted.as_str())];
    mine.sort();
    assert_eq!(names(f.runtime().list_orphans().await.expect("list")), mine);
    assert_eq!(
        names(f.other_home().list_orphans().await.expect("list")),
        [theirs.to_string()]
    );
}

/// Generates one `#[tokio::test]` per check for a fixture constructor.
macro_rules! conformance_tests {
    ($fixture:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let fixture = $fixture;
                super::$check(&fixture).await;
            }
        )+
    };
}

macro_rules! all_checks {
    ($fixture:expr) => {
        conformance_tests!($fixture;
            create_runs_the_agent_in_its_workdir,
            an_early_exit_fails_create_with_code_and_output,
            the_batch_probe_classifies_alive_exited_and_missing,
            an_exited_agent_keeps_its_code_and_output,
            absent_sessions_are_missing,
            send_is_one_bracketed_paste_then_enter,
            capture_keeps_the_last_lines,
            destroy_is_idempotent,
            attach_shows_the_agent_in_a_terminal,
            orphan_listing_is_scoped_to_this_ao_home,
        );
    };
}

// ---------------------------------------------------------------------------------------------
// tmux: a private server per fixture.

struct TmuxFixture {
    tmux: Tmux,
    other: Tmux,
    project: String,
    dir: tempfile::TempDir,
}

impl TmuxFixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = unique();
        let socket = format!("ao-conf-{token}");
        let tmux = Tmux::new(&socket, dir.path().join("home"), dir.path().join("data"));
        tmux.write_conf().expect("tmux.conf");
        let other = Tmux::new(
            &socket,
            dir.path().join("other-home"),
            dir.path().join("other-data"),
        );
        Self {
            tmux,
            other,
            project: format!("t{token}"),
            dir,
        }
    }
}

impl Fixture for TmuxFixture {
    fn runtime(&self) -> &dyn Runtime {
        &self.tmux
    }
    fn other_home(&self) -> &dyn Runtime {
        &self.other
    }
    fn workdir(&self) -> &Path {
        self.dir.path()
    }
    fn data_dir(&self) -> PathBuf {
        self.tmux.data_dir().to_path_buf()
    }
    fn project(&self) -> &str {
        &self.project
    }
    fn expected_attach(&self, name: &str) -> AttachSpec {
        AttachSpec {
            argv: [
                "tmux",
                "-L",
                self.tmux.socket(),
                "-f",
                &self.tmux.conf_path().to_string_lossy(),
                "attach-session",
                "-t",
                &format!("={name}"),
            ]
            .map(String::from)
            .to_vec(),
            env: BTreeMap::new(),
        }
    }
}

impl Drop for TmuxFixture {
    fn drop(&mut self) {
        // Test-only cleanup: a synchronous `tmux kill-server` (Drop cannot await).
        let _ = std::process::Command::new("tmux")
            .args(["-L", self.tmux.socket(), "kill-server"])
            .output();
        // tmux 3.3a leaves its socket file behind.
        if let Ok(meta) = self.dir.path().metadata() {
            let base = std::env::var_os("TMUX_TMPDIR").map_or_else(|| "/tmp".into(), PathBuf::from);
            let _ = std::fs::remove_file(
                base.join(format!("tmux-{}", meta.uid()))
                    .join(self.tmux.socket()),
            );
        }
    }
}

mod tmux {
    use super::TmuxFixture;
    all_checks!(TmuxFixture::new());
}

// ---------------------------------------------------------------------------------------------
// zellij: a private AO_HOME (so a private socket directory) and a private zellij cache per
// fixture.

/// The zellij binary: on `PATH`, else `~/.cargo/bin/zellij`. Missing zellij fails the test.
pub(super) fn zellij_program() -> String {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("zellij"))
            .find(|p| p.is_file())
    });
    let cargo_bin = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/zellij"))
        .filter(|p| p.is_file());
    match on_path.or(cargo_bin) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => panic!(
            "zellij is not installed: the runtime conformance suite needs zellij >= 0.44.3 on \
             PATH or in ~/.cargo/bin (install it with `cargo install zellij --locked`; .ci/run \
             does this)"
        ),
    }
}

struct ZellijFixture {
    program: String,
    zellij: Zellij,
    other: Zellij,
    project: String,
    dir: tempfile::TempDir,
}

impl ZellijFixture {
    fn new() -> Self {
        let program = zellij_program();
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("cache");
        let make = |home: &str, data: &str| {
            Zellij::new(dir.path().join(home), dir.path().join(data))
                .with_program(&program)
                .with_env("XDG_CACHE_HOME", cache.to_string_lossy())
        };
        let zellij = make("home", "data");
        let other = make("other-home", "other-data");
        Self {
            program,
            zellij,
            other,
            project: format!("z{}", unique()),
            dir,
        }
    }
}

impl Fixture for ZellijFixture {
    fn runtime(&self) -> &dyn Runtime {
        &self.zellij
    }
    fn other_home(&self) -> &dyn Runtime {
        &self.other
    }
    fn workdir(&self) -> &Path {
        self.dir.path()
    }
    fn data_dir(&self) -> PathBuf {
        self.zellij.data_dir().to_path_buf()
    }
    fn project(&self) -> &str {
        &self.project
    }
    fn expected_attach(&self, name: &str) -> AttachSpec {
        AttachSpec {
            argv: vec![self.program.clone(), "attach".into(), name.into()],
            env: BTreeMap::from([(
                "ZELLIJ_SOCKET_DIR".to_string(),
                self.zellij.socket_dir().to_string_lossy().into_owned(),
            )]),
        }
    }
}

impl Drop for ZellijFixture {
    fn drop(&mut self) {
        // Test-only cleanup: synchronous (Drop cannot await). `kill-all-sessions` only sees
        // this fixture's socket directory; the cache is inside the temp dir.
        for z in [&self.zellij, &self.other] {
            let _ = std::process::Command::new(&self.program)
                .args(["kill-all-sessions", "--yes"])
                .env("ZELLIJ_SOCKET_DIR", z.socket_dir())
                .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
                .output();
            let _ = std::fs::remove_dir_all(z.socket_dir());
        }
    }
}

mod zellij {
    use super::ZellijFixture;
    all_checks!(ZellijFixture::new());
}

/// zellij only: a session whose server dies before its agent pane shows (zellij 0.45.1 can
/// crash while initialising a session) is started once more. The first `attach` is swallowed
/// by a wrapper, which is what the adapter sees when the new server dies at once.
#[tokio::test]
async fn zellij_starts_a_session_again_when_it_died_while_starting() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut f = ZellijFixture::new();
    let dropped = f.dir.path().join("dropped");
    let wrapper = f.dir.path().join("zellij-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = attach ] && [ ! -e {dropped} ]; then : > {dropped}; exit 0; fi\nexec {real} \"$@\"\n",
            dropped = shell_quote(&dropped.to_string_lossy()),
            real = shell_quote(&f.program),
        ),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // Another test thread may fork while our write fd is open ("text file busy"): retry.
    eventually("the wrapper to be executable", || async {
        process::run(&Cmd::new(wrapper.to_string_lossy()).arg("--version"))
            .await
            .ok()
    })
    .await;
    f.zellij = f.zellij.clone().with_program(wrapper.to_string_lossy());

    let one = id(&f, 1);
    create(&f, &one, "echo up; sleep 60").await;
    assert!(dropped.exists(), "the first start was lost");
    assert_eq!(f.runtime().probe_one(&target(&one)).await, Probe::Alive);
    screen_shows(&f, one.as_str(), "up").await;
}

/// A zellij server that takes connections and never answers (one tearing down after
/// `kill-session`, or a hung one): a listening socket that nobody accepts on. Dropping it
/// removes the socket, as a server does once it has exited.
struct SilentServer {
    path: PathBuf,
    _listener: std::os::unix::net::UnixListener,
}

impl SilentServer {
    fn bind(path: PathBuf) -> Self {
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the socket");
        Self {
            path,
            _listener: listener,
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// zellij only: one silent server makes every zellij client that lists or names a session time
/// out (each waits for every server's status answer). The batch probe then still finds a gone
/// session `missing`, a session with a socket `unknown` (never `missing`: it may be a live one
/// that zellij cannot reach just now), and `destroy` of a gone session still succeeds. Once the
/// silent server's socket is gone, it is `missing` and the live session `alive` again.
#[tokio::test]
async fn a_silent_zellij_server_blinds_no_other_session() {
    let f = ZellijFixture::new();
    let live = id(&f, 1);
    create(&f, &live, "sleep 60").await;
    // zellij keeps its sockets one level down (a directory per IPC contract version).
    let live_name = runtime_name(live.as_str());
    let sockets = std::fs::read_dir(f.zellij.socket_dir())
        .expect("the socket directory")
        .map(|e| e.expect("an entry").path())
        .find(|dir| dir.join(&live_name).exists())
        .expect("the live session's socket");
    let silent = id(&f, 2);
    let gone = id(&f, 3);
    // Declared after the fixture, so it is removed first: the fixture's clean-up
    // (`kill-all-sessions`) would wait on it forever.
    let server = SilentServer::bind(sockets.join(runtime_name(silent.as_str())));

    let targets = [target(&live), target(&silent), target(&gone)];
    let gone_name = runtime_name(gone.as_str());
    let (probes, destroyed) = tokio::join!(
        f.runtime().probe_all(&targets),
        f.runtime().destroy(&gone_name)
    );
    assert_eq!(
        probes,
        HashMap::from([
            (live_name.clone(), Probe::Unknown),
            (runtime_name(silent.as_str()), Probe::Unknown),
            (gone_name.clone(), Probe::Missing),
        ])
    );
    destroyed.expect("a gone session is destroyed");

    drop(server);
    assert_eq!(
        f.runtime().probe_all(&targets).await,
        HashMap::from([
            (live_name, Probe::Alive),
            (runtime_name(silent.as_str()), Probe::Missing),
            (gone_name, Probe::Missing),
        ])
    );
}
