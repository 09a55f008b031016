//! The GitHub token and where it comes from (scm.md §2).
//!
//! [`TokenProvider::token`] tries `AO_GITHUB_TOKEN`, then `GITHUB_TOKEN`, then `gh auth token`
//! (with `--hostname <host>` when the host is not `github.com`, 5 s timeout, through
//! [`crate::process`]). The answer — including "no token" — is cached for 5 minutes;
//! [`TokenProvider::invalidate`] (called by the client on a 401) drops it so the next call
//! resolves again. A `gh` that times out or cannot be started for another reason than "not
//! installed" is a [`TokenError::Transient`] and is not cached (the next tick retries).
//!
//! The token itself is a [`Secret`]: its `Debug` and `Display` never show the value, so it
//! cannot leak through logs or error messages by accident.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::process::{self, Cmd, ProcessError};

/// How long a resolved answer is reused.
pub const TOKEN_TTL: Duration = Duration::from_secs(300);
/// Timeout of `gh auth token`.
pub const GH_TIMEOUT: Duration = Duration::from_secs(5);

/// A secret string. `Debug`/`Display` print `<redacted>`; only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call only where it is sent (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenSource {
    AoGithubToken,
    GithubToken,
    Gh,
}

impl TokenSource {
    /// `AO_GITHUB_TOKEN`, `GITHUB_TOKEN` or `gh` (as reported by `ao doctor`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AoGithubToken => "AO_GITHUB_TOKEN",
            Self::GithubToken => "GITHUB_TOKEN",
            Self::Gh => "gh",
        }
    }
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved token and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub secret: Secret,
    pub source: TokenSource,
}

/// Resolution failed in a way worth retrying (never contains the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("gh auth token failed: {0}")]
    Transient(String),
}

type Lookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

#[derive(Clone)]
struct Cached {
    token: Option<Token>,
    at: Instant,
}

/// Resolves and caches the GitHub token. Share one per daemon (`Arc<TokenProvider>`).
pub struct TokenProvider {
    host: String,
    lookup: Lookup,
    gh_program: String,
    gh_timeout: Duration,
    ttl: Duration,
    cache: Mutex<Option<Cached>>,
    resolving: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("host", &self.host)
            .field("gh_program", &self.gh_program)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider for web host `host` (`AO_GITHUB_HOST`) reading the process environment.
    pub fn new(host: impl Into<String>) -> Self {
        Self::with_lookup(host, |k| std::env::var(k).ok())
    }

    /// A provider reading variables through `lookup` (tests).
    pub fn with_lookup(
        host: impl Into<String>,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            host: host.into(),
            lookup: Arc::new(lookup),
            gh_program: "gh".to_string(),
            gh_timeout: GH_TIMEOUT,
            ttl: TOKEN_TTL,
            cache: Mutex::new(None),
            resolving: tokio::sync::Mutex::new(()),
        }
    }

    /// A provider that always answers `token` (tests and tools).
    pub fn fixed(token: impl Into<String>) -> Self {
        let token = token.into();
        Self::with_lookup("github.com", move |k| {
            (k == "AO_GITHUB_TOKEN").then(|| token.clone())
        })
        .gh_program("/nonexistent/gh")
    }

    /// Uses another `gh` executable (tests).
    pub fn gh_program(mut self, program: impl Into<String>) -> Self {
        self.gh_program = program.into();
        self
    }

    /// Overrides the `gh` timeout (tests).
    pub fn gh_timeout(mut self, timeout: Duration) -> Self {
        self.gh_timeout = timeout;
        self
    }

    /// The argv after `gh` for host `host`.
    pub fn gh_args(host: &str) -> Vec<String> {
        let mut args = vec!["auth".to_string(), "token".to_string()];
        if !host.eq_ignore_ascii_case("github.com") {
            args.push("--hostname".to_string());
            args.push(host.to_string());
        }
        args
    }

    /// The current token, or `None` when no source has one.
    pub async fn token(&self) -> Result<Option<Token>, TokenError> {
        if let Some(hit) = self.cached() {
            return Ok(hit.token);
        }
        let _gate = self.resolving.lock().await;
        if let Some(hit) = self.cached() {
            return Ok(hit.token);
        }
        let token = self.resolve().await?;
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
            token: token.clone(),
            at: Instant::now(),
        });
        Ok(token)
    }

    /// Forgets the cached answer (after a 401); the next [`Self::token`] resolves again.
    pub fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The cached answer while it is fresh.
    fn cached(&self) -> Option<Cached> {
        let guard = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .as_ref()
            .filter(|c| c.at.elapsed() < self.ttl)
            .cloned()
    }

    async fn resolve(&self) -> Result<Option<Token>, TokenError> {
        for (var, source) in [
            ("AO_GITHUB_TOKEN", TokenSource::AoGithubToken),
            ("GITHUB_TOKEN", TokenSource::GithubToken),
        ] {
            if let Some(v) = (self.lookup)(var) {
                let v = v.trim();
                if !v.is_empty() {
                    return Ok(Some(Token {
                        secret: Secret::new(v),
                        source,
                    }));
                }
            }
        }
        let cmd = Cmd::new(self.gh_program.clone())
            .args(Self::gh_args(&self.host))
            .env("GH_NO_UPDATE_NOTIFIER", "1")
            .env("GH_PROMPT_DISABLED", "1")
            .timeout(self.gh_timeout);
        match process::run_unchecked(&cmd).await {
            Ok(out) if out.success() => {
                let t = out.stdout.trim();
                Ok((!t.is_empty()).then(|| Token {
                    secret: Secret::new(t),
                    source: TokenSource::Gh,
                }))
            }
            // Not logged in (or no such host): no token.
            Ok(_) | Err(ProcessError::NotInstalled { .. }) => Ok(None),
            Err(e) => Err(TokenError::Transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    /// A fake `gh` that appends its argv to `calls` and prints `output` (exit `code`).
    fn fake_gh(dir: &Path, output: &str, code: i32) -> (PathBuf, PathBuf) {
        let calls = dir.join("calls");
        let script = dir.join("gh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"$@\" >> '{}'\nprintf '%s\\n' '{output}'\nexit {code}\n",
                calls.display()
            ),
        )
        .expect("write fake gh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod fake gh");
        (script, calls)
    }

    fn call_lines(calls: &Path) -> Vec<String> {
        std::fs::read_to_string(calls)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("ghp_supersecret");
        assert_eq!(format!("{s}"), "<redacted>");
        assert!(!format!("{s:?}").contains("supersecret"));
        let t = Token {
            secret: s.clone(),
            source: TokenSource::Gh,
        };
        assert!(!format!("{t:?}").contains("supersecret"));
        assert_eq!(s.expose(), "ghp_supersecret");
    }

    #[test]
    fn gh_args_add_hostname_off_github_com() {
        assert_eq!(TokenProvider::gh_args("github.com"), ["auth", "token"]);
        assert_eq!(
            TokenProvider::gh_args("ghe.corp:8443"),
            ["auth", "token", "--hostname", "ghe.corp:8443"]
        );
    }

    #[tokio::test]
    async fn env_order_wins_before_gh() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (gh, calls) = fake_gh(dir.path(), "gh-token", 0);
        let gh = gh.to_string_lossy().into_owned();

        let p = TokenProvider::with_lookup(
            "github.com",
            env(&[("AO_GITHUB_TOKEN", "ao"), ("GITHUB_TOKEN", "gt")]),
        )
        .gh_program(gh.clone());
        let t = p.token().await.expect("ok").expect("token");
        assert_eq!(
            (t.secret.expose(), t.source),
            ("ao", TokenSource::AoGithubToken)
        );

        let p = TokenProvider::with_lookup(
            "github.com",
            env(&[("AO_GITHUB_TOKEN", "  "), ("GITHUB_TOKEN", "gt\n")]),
        )
        .gh_program(gh.clone());
        let t = p.token().await.expect("ok").expect("token");
        assert_eq!(
            (t.secret.expose(), t.source),
            ("gt", TokenSource::GithubToken)
        );
        assert!(call_lines(&calls).is_empty(), "gh must not run");

        let p = TokenProvider::with_lookup("ghe.corp", env(&[])).gh_program(gh);
        let t = p.token().await.expect("ok").expect("token");
        assert_eq!((t.secret.expose(), t.source), ("gh-token", TokenSource::Gh));
        assert_eq!(call_lines(&calls), ["auth token --hostname ghe.corp"]);
        assert_eq!(t.source.to_string(), "gh");
    }

    #[tokio::test]
    async fn gh_answer_is_cached_until_invalidated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (gh, calls) = fake_gh(dir.path(), "tok", 0);
        let p = TokenProvider::with_lookup("github.com", env(&[]))
            .gh_program(gh.to_string_lossy().into_owned());
        for _ in 0..3 {
            assert!(p.token().await.expect("ok").is_some());
        }
        assert_eq!(call_lines(&calls), ["auth token"]);
        p.invalidate();
        assert!(p.token().await.expect("ok").is_some());
        assert_eq!(call_lines(&calls).len(), 2);
    }

    #[tokio::test]
    async fn no_token_anywhere_is_none_and_cached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (gh, calls) = fake_gh(dir.path(), "not logged in", 1);
        let p = TokenProvider::with_lookup("github.com", env(&[]))
            .gh_program(gh.to_string_lossy().into_owned());
        assert!(p.token().await.expect("ok").is_none());
        assert!(p.token().await.expect("ok").is_none());
        assert_eq!(call_lines(&calls).len(), 1);

        let missing =
            TokenProvider::with_lookup("github.com", env(&[])).gh_program("/nonexistent/gh");
        assert!(missing.token().await.expect("ok").is_none());
    }

    #[tokio::test]
    async fn gh_timeout_is_transient_and_not_cached() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("gh");
        std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let p = TokenProvider::with_lookup("github.com", env(&[]))
            .gh_program(script.to_string_lossy().into_owned())
            .gh_timeout(Duration::from_millis(200));
        let e = p.token().await.expect_err("timeout");
        assert!(matches!(e, TokenError::Transient(_)), "{e:?}");
        assert!(p.cached().is_none());
    }
}
