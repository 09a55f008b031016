//! `ao-cli` — the `ao` command line (cli.md).
//!
//! Every command except `daemon`, `completion`, `version` and `doctor` is a thin HTTP client of
//! the daemon: it validates the environment ([`ao_protocol::EnvConfig`]), reads the run-file and
//! calls `http://127.0.0.1:<port>/api/v1/…` with the run-file's Bearer token ([`client`]). The
//! hidden `ao daemon` command runs the daemon itself through `ao_daemon::main_entry()`, the
//! only link to the daemon crate.
//!
//! Modules: [`client`] (run-file, liveness, HTTP), [`status`] (state detection and the status
//! object), [`lifecycle`] (`start`/`stop`), [`doctor`], [`project`], [`session`] (spawn, send,
//! attach, `session …`, `orchestrator …`), [`hooks`] (the hidden agent hook callback),
//! [`events`] with its SSE parser [`sse`], [`probe`] (the CLI's own child processes),
//! [`output`] (formatting), [`version`] and [`error`] ([`CliError`] with its exit code).
//!
//! Exit codes (cli.md §1.1): 0 success (also `--help`, `--version` and `status` in every
//! state), 2 usage errors (clap's and the command-specific (2) rules), 1 everything else.

pub mod client;
pub mod doctor;
pub mod error;
pub mod events;
pub mod hooks;
pub mod lifecycle;
pub mod output;
pub mod probe;
pub mod project;
pub mod session;
pub mod sse;
pub mod status;
pub mod version;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ao_protocol::{EnvConfig, Harness, PermissionMode, RuntimeKind};
use clap::builder::PossibleValuesParser;
use clap::{CommandFactory, Parser, Subcommand};

pub use error::CliError;

/// The `ao` command line.
#[derive(Debug, Parser)]
#[command(
    name = "ao",
    version = version::clap_version(),
    about = "Supervise AI coding-agent sessions",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

fn duration_arg(s: &str) -> Result<Duration, String> {
    match ao_protocol::env::parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err("expected a duration > 0 such as 500ms, 30s, 2m or 1h".into()),
    }
}

fn harness_values() -> PossibleValuesParser {
    PossibleValuesParser::new(Harness::ALL.iter().map(|h| h.as_str()))
}

fn runtime_values() -> PossibleValuesParser {
    PossibleValuesParser::new(RuntimeKind::ALL.iter().map(|r| r.as_str()))
}

fn permission_values() -> PossibleValuesParser {
    PossibleValuesParser::new(PermissionMode::ALL.iter().map(|p| p.as_str()))
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the AO daemon in the background (harmless when it already runs)
    Start {
        /// How long to wait for the daemon to become ready
        #[arg(long, default_value = "30s", value_parser = duration_arg)]
        timeout: Duration,
        /// Daemon log file [default: $AO_HOME/daemon.log]
        #[arg(long)]
        log_file: Option<PathBuf>,
        /// Print the status object as JSON
        #[arg(long)]
        json: bool,
    },
    /// Stop the AO daemon (agent sessions keep running)
    Stop {
        /// How long to wait for the daemon to exit
        #[arg(long, default_value = "60s", value_parser = duration_arg)]
        timeout: Duration,
        /// Print the status object as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the daemon state
    Status {
        /// Print the status object as JSON
        #[arg(long)]
        json: bool,
    },
    /// Check the environment, tools and agents
    Doctor {
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Run the daemon in the foreground
    #[command(hide = true)]
    Daemon,
    /// Agent hook callback (sessions.md §12)
    #[command(hide = true)]
    Hooks { agent: String, event: String },
    /// Manage projects
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Start a worker session
    Spawn(Box<SpawnArgs>),
    /// Send a message to a session's agent
    Send {
        /// The session to send to
        #[arg(long)]
        session: String,
        /// The message text
        #[arg(long)]
        message: Option<String>,
        /// Read the message from a file (`-` for stdin)
        #[arg(long, value_name = "PATH|-")]
        message_file: Option<String>,
        /// Queue the message until the agent is idle
        #[arg(long)]
        when_idle: bool,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Attach the terminal to a session
    Attach {
        session_id: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
    },
    /// Manage sessions
    #[command(subcommand)]
    Session(SessionCommand),
    /// Manage orchestrators
    #[command(subcommand)]
    Orchestrator(OrchestratorCommand),
    /// Print the change log, optionally following it live
    Events {
        /// Only events with a seq greater than this (oldest first)
        #[arg(long, value_parser = clap::value_parser!(i64).range(0..))]
        after: Option<i64>,
        /// How many events the initial batch has
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Keep printing new events as they happen
        #[arg(short = 'f', long)]
        follow: bool,
        /// Only events of this project
        #[arg(long)]
        project: Option<String>,
        /// Only events of this session
        #[arg(long)]
        session: Option<String>,
        /// Print NDJSON, one event per line
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script
    Completion {
        /// bash, zsh, fish, powershell or elvish
        shell: clap_complete::Shell,
    },
    /// Print the version
    Version {
        /// Print {version, commit, buildDate}
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `ao spawn`.
#[derive(Debug, clap::Args)]
pub struct SpawnArgs {
    /// The project to spawn in
    #[arg(long)]
    pub project: String,
    /// The agent harness [default: the project's config.worker.agent]
    #[arg(long, visible_alias = "agent", value_parser = harness_values())]
    pub harness: Option<String>,
    /// The branch to work on [default: ao/<session>/root]
    #[arg(long)]
    pub branch: Option<String>,
    /// The first prompt
    #[arg(long)]
    pub prompt: Option<String>,
    /// Read the first prompt from a file (`-` for stdin)
    #[arg(long, value_name = "PATH|-")]
    pub prompt_file: Option<String>,
    /// The issue the session works on
    #[arg(long)]
    pub issue: Option<String>,
    /// Display name
    #[arg(long)]
    pub name: Option<String>,
    /// The command line of the `command` harness
    #[arg(long, value_name = "CMDLINE")]
    pub command: Option<String>,
    /// Claim this PR for the new session
    #[arg(long, value_name = "REF")]
    pub claim_pr: Option<String>,
    /// With --claim-pr: fail instead of taking the PR over from another session
    #[arg(long)]
    pub no_takeover: bool,
    /// Attach to the session once it runs
    #[arg(long)]
    pub attach: bool,
    /// Print the API body as JSON
    #[arg(long)]
    pub json: bool,
}

impl SpawnArgs {
    fn flags(&self) -> session::SpawnFlags {
        session::SpawnFlags {
            project: self.project.clone(),
            harness: self.harness.clone(),
            branch: self.branch.clone(),
            prompt: self.prompt.clone(),
            prompt_file: self.prompt_file.clone(),
            issue: self.issue.clone(),
            name: self.name.clone(),
            command: self.command.clone(),
            claim_pr: self.claim_pr.clone(),
            no_takeover: self.no_takeover,
            attach: self.attach,
            json: self.json,
        }
    }
}

/// `ao session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions (live workers by default)
    #[command(visible_alias = "list")]
    Ls {
        /// Only sessions of this project
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Include orchestrators
        #[arg(short = 'a', long)]
        all: bool,
        /// Include terminated sessions
        #[arg(long)]
        include_terminated: bool,
        /// Print {sessions, hiddenTerminatedCount} as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one session
    Get {
        id: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Kill a session (its agent and, when clean, its worktree)
    Kill {
        id: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Restore a terminated session
    Restore {
        id: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Rename a session
    Rename {
        id: String,
        name: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Claim a GitHub PR for a session and check its branch out
    ClaimPr {
        id: String,
        /// A PR URL, owner/repo#N, #N or N
        pr_ref: String,
        /// The project the session must belong to
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Fail instead of taking the PR over from another live session
        #[arg(long)]
        no_takeover: bool,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove what terminated sessions left behind (worktrees, runtime sessions)
    Cleanup {
        /// Only sessions of this project
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the API body as JSON (requires -y)
        #[arg(long)]
        json: bool,
    },
}

/// `ao orchestrator …`.
#[derive(Debug, Subcommand)]
pub enum OrchestratorCommand {
    /// List orchestrators (terminated included)
    #[command(visible_alias = "list")]
    Ls {
        /// Only orchestrators of this project
        #[arg(short = 'p', long)]
        project: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Start a project's orchestrator
    Start {
        /// The project
        #[arg(long)]
        project: String,
        /// The agent harness [default: the project's config.orchestrator.agent]
        #[arg(long, visible_alias = "agent", value_parser = harness_values())]
        harness: Option<String>,
        /// The first prompt
        #[arg(long)]
        prompt: Option<String>,
        /// Read the first prompt from a file (`-` for stdin)
        #[arg(long, value_name = "PATH|-")]
        prompt_file: Option<String>,
        /// Kill the project's live orchestrator first
        #[arg(long)]
        clean: bool,
        /// Attach to the orchestrator once it runs
        #[arg(long)]
        attach: bool,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
}

/// `ao project …`.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// List registered projects
    #[command(visible_alias = "list")]
    Ls {
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show one project
    Get {
        id: String,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Register a git repository as a project
    Add {
        /// The repository's top-level directory
        #[arg(long)]
        path: String,
        /// Project id [default: derived from the directory name]
        #[arg(long)]
        id: Option<String>,
        /// Display name
        #[arg(long)]
        name: Option<String>,
        /// Default harness of workers (config.worker.agent)
        #[arg(long, value_parser = harness_values())]
        worker_agent: Option<String>,
        /// Default harness of orchestrators (config.orchestrator.agent)
        #[arg(long, value_parser = harness_values())]
        orchestrator_agent: Option<String>,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
    /// Change a project's configuration (merge patch by default)
    SetConfig(Box<SetConfigArgs>),
    /// Unregister a project (kills its live sessions)
    #[command(visible_aliases = ["remove", "delete"])]
    Rm {
        id: String,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
        /// Print the API body as JSON
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `ao project set-config`.
#[derive(Debug, clap::Args)]
pub struct SetConfigArgs {
    pub id: String,
    /// config.defaultBranch
    #[arg(long)]
    pub default_branch: Option<String>,
    /// config.sessionPrefix
    #[arg(long)]
    pub session_prefix: Option<String>,
    /// config.runtime
    #[arg(long, value_parser = runtime_values())]
    pub runtime: Option<String>,
    /// config.agentConfig.model
    #[arg(long)]
    pub model: Option<String>,
    /// config.agentConfig.permissions
    #[arg(long, value_parser = permission_values())]
    pub permission: Option<String>,
    /// config.worker.agent
    #[arg(long, value_parser = harness_values())]
    pub worker_agent: Option<String>,
    /// config.orchestrator.agent
    #[arg(long, value_parser = harness_values())]
    pub orchestrator_agent: Option<String>,
    /// config.worker.command
    #[arg(long)]
    pub worker_command: Option<String>,
    /// config.orchestrator.command
    #[arg(long)]
    pub orchestrator_command: Option<String>,
    /// Set an environment variable (repeatable)
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Remove an environment variable (repeatable)
    #[arg(long, value_name = "K")]
    pub unset_env: Vec<String>,
    /// Replace config.symlinks with these paths (repeatable)
    #[arg(long, value_name = "REL")]
    pub symlink: Vec<String>,
    /// Replace config.postCreate with these commands (repeatable)
    #[arg(long, value_name = "CMD")]
    pub post_create: Vec<String>,
    /// A JSON object merged in as a patch (the whole config with --replace)
    #[arg(long, value_name = "OBJECT")]
    pub config_json: Option<String>,
    /// Replace the whole config (PUT) with --config-json overlaid by the field flags
    #[arg(long)]
    pub replace: bool,
    /// Clear the whole config
    #[arg(long)]
    pub clear: bool,
    /// Print the API body as JSON
    #[arg(long)]
    pub json: bool,
}

impl SetConfigArgs {
    fn flags(&self) -> project::SetConfigFlags {
        project::SetConfigFlags {
            default_branch: self.default_branch.clone(),
            session_prefix: self.session_prefix.clone(),
            runtime: self.runtime.clone(),
            model: self.model.clone(),
            permission: self.permission.clone(),
            worker_agent: self.worker_agent.clone(),
            orchestrator_agent: self.orchestrator_agent.clone(),
            worker_command: self.worker_command.clone(),
            orchestrator_command: self.orchestrator_command.clone(),
            env: self.env.clone(),
            unset_env: self.unset_env.clone(),
            symlink: self.symlink.clone(),
            post_create: self.post_create.clone(),
            config_json: self.config_json.clone(),
            replace: self.replace,
            clear: self.clear,
        }
    }
}

/// `ao daemon`: the daemon in the foreground. The only call into `ao-daemon`.
fn run_daemon() -> ExitCode {
    ao_daemon::main_entry()
}

/// Parses the command line and runs the command; the binary's whole `main`.
pub fn main() -> ExitCode {
    // Before any reqwest client exists (the build's reqwest has no built-in TLS provider).
    ao_daemon::install_crypto_provider();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: 0 for --help/--version, 2 for usage errors.
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    if let Command::Daemon = cli.command {
        // The daemon owns its exit code (0 after a clean shutdown, 1 on failure).
        return run_daemon();
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let text = err.render();
            if !text.is_empty() {
                let _ = writeln!(std::io::stderr(), "{text}");
            }
            ExitCode::from(err.exit_code())
        }
    }
}

/// The command tree for completion scripts: hidden commands (`daemon`, `hooks`) left out,
/// since some generators ignore the hide flag.
fn completion_command() -> clap::Command {
    let full = Cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("ao")
        .version(version::clap_version())
        .about(full.get_about().cloned().unwrap_or_default())
        .subcommand_required(true)
        .subcommands(visible)
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        // `daemon` is handled in `main`.
        Command::Daemon => Ok(()),
        // Always exit 0 (sessions.md §12); failures are reported on stderr and in hooks.log.
        Command::Hooks { agent, event } => {
            hooks::run(&agent, &event);
            Ok(())
        }
        Command::Completion { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut completion_command(), "ao", &mut buf);
            output::raw(&String::from_utf8_lossy(&buf))
        }
        Command::Version { json } => {
            if json {
                output::json(&version::json())
            } else {
                output::line(&version::line())
            }
        }
        Command::Doctor { json } => runtime()?.block_on(doctor::run(json)),
        Command::Status { json } => {
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(async {
                let p = status::probe(&env, true).await;
                let obj = status::status_object(&env, &p, chrono::Utc::now());
                if json {
                    output::json(&obj)
                } else {
                    output::raw(&status::render_text(
                        &obj.to_value(),
                        output::colour_enabled(),
                    ))
                }
            })
        }
        Command::Start {
            timeout,
            log_file,
            json,
        } => {
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(lifecycle::start(&env, timeout, log_file, json))
        }
        Command::Stop { timeout, json } => {
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(lifecycle::stop(&env, timeout, json))
        }
        Command::Events {
            after,
            limit,
            follow,
            project,
            session,
            json,
        } => {
            let env = EnvConfig::from_env()?;
            let args = events::EventsArgs {
                after,
                limit,
                follow,
                project,
                session,
                json,
            };
            runtime()?.block_on(events::run(&env, args))
        }
        Command::Project(pc) => run_project(pc),
        Command::Spawn(args) => {
            let flags = args.flags();
            flags.check()?;
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(session::spawn(&env, &flags))
        }
        Command::Send {
            session: id,
            message,
            message_file,
            when_idle,
            json,
        } => {
            let text = session::message_of(message.as_ref(), message_file.as_ref())?;
            let from = std::env::var("AO_SESSION_ID").ok();
            let text = session::compose_message(&text, from.as_deref());
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(session::send(&env, &id, &text, when_idle, json))
        }
        Command::Attach {
            session_id,
            project,
        } => {
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(session::attach(&env, &session_id, project.as_deref()))
        }
        Command::Session(sc) => run_session(sc),
        Command::Orchestrator(oc) => run_orchestrator(oc),
    }
}

fn run_session(command: SessionCommand) -> Result<(), CliError> {
    // Usage rules first: a usage error makes no HTTP call and wins over environment errors.
    match &command {
        SessionCommand::Rename { name, .. } => session::check_name(name)?,
        SessionCommand::Cleanup { yes, json, .. } => session::check_cleanup(*yes, *json)?,
        _ => {}
    }
    let env = EnvConfig::from_env()?;
    let rt = runtime()?;
    match command {
        SessionCommand::Ls {
            project,
            all,
            include_terminated,
            json,
        } => rt.block_on(session::list(
            &env,
            project.as_deref(),
            all,
            include_terminated,
            json,
        )),
        SessionCommand::Get { id, project, json } => {
            rt.block_on(session::get(&env, &id, project.as_deref(), json))
        }
        SessionCommand::Kill { id, project, json } => {
            rt.block_on(session::kill(&env, &id, project.as_deref(), json))
        }
        SessionCommand::Restore { id, project, json } => {
            rt.block_on(session::restore(&env, &id, project.as_deref(), json))
        }
        SessionCommand::Rename {
            id,
            name,
            project,
            json,
        } => rt.block_on(session::rename(&env, &id, &name, project.as_deref(), json)),
        SessionCommand::Cleanup { project, yes, json } => {
            rt.block_on(session::cleanup(&env, project.as_deref(), yes, json))
        }
        SessionCommand::ClaimPr {
            id,
            pr_ref,
            project,
            no_takeover,
            json,
        } => rt.block_on(session::claim_pr(
            &env,
            &id,
            &pr_ref,
            project.as_deref(),
            no_takeover,
            json,
        )),
    }
}

fn run_orchestrator(command: OrchestratorCommand) -> Result<(), CliError> {
    match command {
        OrchestratorCommand::Ls { project, json } => {
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(session::list_orchestrators(&env, project.as_deref(), json))
        }
        OrchestratorCommand::Start {
            project,
            harness,
            prompt,
            prompt_file,
            clean,
            attach,
            json,
        } => {
            let flags = session::OrchestratorFlags {
                project,
                harness,
                prompt,
                prompt_file,
                clean,
                attach,
                json,
            };
            flags.check()?;
            let env = EnvConfig::from_env()?;
            runtime()?.block_on(session::start_orchestrator(&env, &flags))
        }
    }
}

fn run_project(command: ProjectCommand) -> Result<(), CliError> {
    // Usage rules first: a usage error makes no HTTP call and wins over environment errors.
    let set_config = match &command {
        ProjectCommand::SetConfig(args) => Some(args.flags().request()?),
        _ => None,
    };
    let env = EnvConfig::from_env()?;
    let rt = runtime()?;
    match command {
        ProjectCommand::Ls { json } => rt.block_on(project::list(&env, json)),
        ProjectCommand::Get { id, json } => rt.block_on(project::get(&env, &id, json)),
        ProjectCommand::Add {
            path,
            id,
            name,
            worker_agent,
            orchestrator_agent,
            json,
        } => {
            let flags = project::AddFlags {
                path,
                id,
                name,
                worker_agent,
                orchestrator_agent,
            };
            rt.block_on(project::add(&env, &flags, json))
        }
        ProjectCommand::SetConfig(args) => {
            let (method, config) = set_config.expect("computed above for set-config");
            rt.block_on(project::set_config(
                &env, &args.id, method, config, args.json,
            ))
        }
        ProjectCommand::Rm { id, yes, json } => rt.block_on(project::remove(&env, &id, yes, json)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_tree_is_consistent() {
        Cli::command().debug_assert();
        completion_command().debug_assert();
        let names: Vec<_> = completion_command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        assert!(names.contains(&"project".to_string()));
        assert!(!names.contains(&"daemon".to_string()) && !names.contains(&"hooks".to_string()));
    }

    #[test]
    fn parses_aliases_and_flags() {
        let cli = Cli::try_parse_from(["ao", "project", "list", "--json"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Project(ProjectCommand::Ls { json: true })
        ));
        for alias in ["rm", "remove", "delete"] {
            let cli = Cli::try_parse_from(["ao", "project", alias, "demo", "-y"]).expect("valid");
            assert!(matches!(
                cli.command,
                Command::Project(ProjectCommand::Rm { yes: true, .. })
            ));
        }
        let cli = Cli::try_parse_from(["ao", "start", "--timeout", "500ms"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Start { timeout, .. } if timeout == Duration::from_millis(500)
        ));
        let cli = Cli::try_parse_from(["ao", "events", "-f", "--after", "3"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Events {
                follow: true,
                after: Some(3),
                limit: 50,
                ..
            }
        ));
    }

    #[test]
    fn parses_session_commands() {
        let cli = Cli::try_parse_from([
            "ao",
            "spawn",
            "--project",
            "demo",
            "--agent",
            "codex",
            "--prompt-file",
            "-",
            "--attach",
        ])
        .expect("valid");
        let Command::Spawn(args) = cli.command else {
            panic!("spawn expected");
        };
        assert_eq!(args.harness.as_deref(), Some("codex"));
        assert_eq!(args.prompt_file.as_deref(), Some("-"));
        assert!(args.attach && !args.json);
        for alias in ["ls", "list"] {
            let cli =
                Cli::try_parse_from(["ao", "session", alias, "-p", "demo", "-a"]).expect("valid");
            assert!(matches!(
                cli.command,
                Command::Session(SessionCommand::Ls {
                    all: true,
                    include_terminated: false,
                    ..
                })
            ));
            let cli = Cli::try_parse_from(["ao", "orchestrator", alias]).expect("valid");
            assert!(matches!(
                cli.command,
                Command::Orchestrator(OrchestratorCommand::Ls { project: None, .. })
            ));
        }
        let cli = Cli::try_parse_from(["ao", "attach", "demo-1", "-p", "demo"]).expect("valid");
        assert!(matches!(
            cli.command,
            Command::Attach { ref session_id, project: Some(ref p) } if session_id == "demo-1" && p == "demo"
        ));
        let cli = Cli::try_parse_from([
            "ao",
            "session",
            "claim-pr",
            "demo-3",
            "#12",
            "-p",
            "demo",
            "--no-takeover",
            "--json",
        ])
        .expect("valid claim-pr");
        assert!(matches!(
            cli.command,
            Command::Session(SessionCommand::ClaimPr {
                ref id,
                ref pr_ref,
                project: Some(_),
                no_takeover: true,
                json: true,
            }) if id == "demo-3" && pr_ref == "#12"
        ));
        let cli = Cli::try_parse_from([
            "ao",
            "spawn",
            "--project",
            "demo",
            "--claim-pr",
            "https://github.com/o/r/pull/12",
            "--no-takeover",
        ])
        .expect("valid spawn --claim-pr");
        let Command::Spawn(args) = cli.command else {
            panic!("spawn expected");
        };
        assert!(args.no_takeover && args.claim_pr.is_some());
        let cli = Cli::try_parse_from(["ao", "hooks", "claude-code", "stop"]).expect("valid hooks");
        assert!(matches!(cli.command, Command::Hooks { .. }));
    }

    #[test]
    fn invalid_values_are_usage_errors() {
        for argv in [
            &["ao", "start", "--timeout", "5"][..],
            &["ao", "events", "--limit", "0"],
            &["ao", "events", "--after", "-1"],
            &["ao", "project", "set-config", "x", "--runtime", "screen"],
            &[
                "ao",
                "project",
                "add",
                "--path",
                "/r",
                "--worker-agent",
                "gpt",
            ],
            &["ao", "project", "add"],
            &["ao", "completion", "nope"],
            &["ao", "hooks", "codex"],
            &["ao", "hooks", "codex", "stop", "extra"],
            &["ao", "spawn"],
            &["ao", "spawn", "--project", "p", "--harness", "gpt"],
            &["ao", "send", "--message", "x"],
            &["ao", "attach"],
            &["ao", "session", "rename", "p-1"],
            &["ao", "session", "claim-pr", "p-1"],
            &["ao", "orchestrator", "start"],
        ] {
            let e = Cli::try_parse_from(argv).expect_err("usage error");
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }
}
