//! `ao-daemon` — the `ao` daemon: configuration, boot and shutdown, the on-disk run-file and
//! lock, and the axum HTTP facade over the actor tree and the store.
//!
//! Public API:
//! * [`main_entry`] — what `ao daemon` runs: environment → tracing to stderr (`AO_LOG`) →
//!   multi-thread runtime → [`run`] until SIGINT/SIGTERM. Exit 0 after a clean shutdown, 1 on a
//!   startup failure or a root actor failure.
//! * [`run`] — the whole life of a daemon, until a shutdown future resolves.
//! * [`start`] → [`RunningDaemon`] — boot in-process (tests, benchmarks) and control it.
//! * [`route_table`], [`openapi_document`] — the served routes and the generated API document.
//! * [`install_crypto_provider`] — installs the rustls `ring` provider; every process that
//!   links the daemon (with its `tls` GitHub client) calls it before building a reqwest client.
//!
//! Modules (private): `config` (AO_LOG validation), `files` (dirs, `daemon.lock`,
//! `running.json`, token), `daemon` (boot and shutdown order), `http` (gates, routes, handlers,
//! SSE, OpenAPI), `request_id` (ULID request ids).
//!
//! Invariants:
//! * The daemon binds 127.0.0.1 only — never any other address.
//! * HTTP handlers never call adapters (git, tmux, …) and never write SQLite: reads go to the
//!   store's read pool, commands are one actor-handle call. The one adapter method a handler
//!   uses is the pure `Runtime::attach`, which builds an argv and starts nothing.
//! * One error type (`http::error::ApiError`) picks every error status, from
//!   `ErrorCode::status()`.
//! * The API token is never logged (`Debug` impls redact it).
//!
//! The OpenAPI document is checked in as `docs/openapi.json` and embedded. After changing a
//! route or a DTO, regenerate it with `AO_UPDATE_OPENAPI=1 cargo test -p ao-daemon openapi`;
//! without the variable, a test fails when the generated document differs from the file.

mod config;
mod daemon;
mod error;
mod files;
mod http;
mod request_id;

use std::process::ExitCode;

use ao_protocol::EnvConfig;

pub use daemon::{RunningDaemon, run, start};
pub use error::DaemonError;

/// The (method, path) pairs the daemon serves, from its single route table (paths use the
/// OpenAPI `{param}` syntax).
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    http::routes::ROUTES
        .iter()
        .map(|r| (r.method.as_str(), r.path))
        .collect()
}

/// The OpenAPI 3.1 document generated from the handlers. It equals the checked-in
/// `docs/openapi.json` that `GET /api/v1/openapi.json` serves (a test enforces this).
pub fn openapi_document() -> String {
    http::openapi::generate()
}

/// Installs the process-wide rustls crypto provider (`ring`). The daemon enables the adapters'
/// `tls` feature, which (by cargo feature unification) leaves every reqwest client of the build
/// without a built-in provider: each process must call this before it builds any reqwest
/// client. Idempotent and cheap; [`main_entry`] and [`start`] call it themselves.
pub fn install_crypto_provider() {
    ao_adapters::scm::install_crypto_provider();
}

/// Makes the daemon run with one glibc malloc arena: unless the operator set
/// `MALLOC_ARENA_MAX`, the process re-executes itself (same pid, same arguments) with it set
/// to 1 and a marker that keeps it out of every child's environment
/// ([`ao_adapters::process::MALLOC_ARENA_MARKER`]). glibc otherwise gives each contending
/// thread an arena of its own and keeps their freed memory, which cost ~5 MiB of RSS with 200
/// live sessions (docs/benchmarks.md); the daemon allocates too little for one arena's lock
/// to matter. Setting the variable in-process would need `unsafe` (`mallopt`/`set_var`).
/// A failed re-exec only costs that memory.
fn cap_malloc_arenas() {
    use ao_adapters::process::{MALLOC_ARENA_MARKER, MALLOC_ARENA_VAR};
    use std::os::unix::process::CommandExt;
    if std::env::var_os(MALLOC_ARENA_VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(MALLOC_ARENA_VAR, "1")
        .env(MALLOC_ARENA_MARKER, "1")
        .exec();
    eprintln!("warning: cannot re-execute with {MALLOC_ARENA_VAR}=1: {err}");
}

/// Entry point of `ao daemon`.
pub fn main_entry() -> ExitCode {
    cap_malloc_arenas();
    install_crypto_provider();
    let env = match EnvConfig::from_env() {
        Ok(env) => env,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let filter = match config::log_filter(&env) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(env, termination_signal()));
    // Do not wait for stray connection tasks: the shutdown sequence is complete.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "ao daemon failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on the first SIGINT or SIGTERM.
async fn termination_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |kind: SignalKind| async move {
        match signal(kind) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot install a signal handler");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = wait(SignalKind::interrupt()) => {},
        () = wait(SignalKind::terminate()) => {},
    }
}
#[cfg(test)]
mod tests;
