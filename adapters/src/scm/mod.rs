//! The GitHub side of `ao` (scm.md, adapters.md §8): configuration, token, HTTP client and the
//! pure normalisation/hash functions the PR observer needs.
//!
//! Modules:
//! * [`config`]: [`ScmConfig`] from `AO_GITHUB_API_URL` / `AO_GITHUB_HOST` (README §4).
//! * [`token`]: [`TokenProvider`] (`AO_GITHUB_TOKEN` → `GITHUB_TOKEN` → `gh auth token`,
//!   cached 5 min) and the [`Secret`] type that never prints.
//! * [`client`]: [`GithubClient`] — guards, discovery, job logs, GraphQL PR facts and review
//!   threads, `/user` — with every response's rate headers fed to a [`RateSink`].
//! * [`graphql`]: the exact query documents and their decoding into [`PrSnapshot`]s.
//! * [`normalize`]: scm.md §5 rules and the §6.2 log tail.
//! * [`hashes`]: the failed-check fingerprint and the semantic hashes of §7.
//! * [`refs`]: origin parsing (§3), claim references (§11) and the normalised PR URL.
//! * [`error`]: [`ScmError`] classes and [`RateSnapshot`].
//!
//! TLS: HTTPS needs the `tls` cargo feature (reqwest's `rustls-no-provider` + rustls/`ring`).
//! With it on, reqwest has no built-in crypto provider, so every process must call
//! [`install_crypto_provider`] before building any reqwest client (the
//! [`GithubClient::new`] constructor calls it too). Without the feature, `GithubClient::new`
//! refuses an `https` API base with [`ClientBuildError::NoTls`]; plain-`http` local servers
//! work either way.
//!
//! Nothing here panics on GitHub data: undecodable answers are [`ScmError::Malformed`] and a
//! PR is either fully observed or an error.

pub mod client;
pub mod config;
pub mod error;
pub mod graphql;
pub mod hashes;
pub mod normalize;
pub mod refs;
pub mod token;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod graphql_proptests;

pub use client::{
    ClientBuildError, ClientOptions, GithubClient, Guard, Identity, OpenPr, RateSink, Threads,
    install_crypto_provider,
};
pub use config::ScmConfig;
pub use error::{RateBucket, RateSnapshot, ScmError};
pub use graphql::{PrKey, PrSnapshot};
pub use refs::{PrRef, PrRefError, RepoRef, parse_origin, parse_pr_ref, pr_url};
pub use token::{Secret, Token, TokenError, TokenProvider, TokenSource};
