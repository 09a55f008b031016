//! Repository and PR references: project origins (scm.md §3), claim references (§11) and the
//! normalised PR URL (data-model.md §4.3).
//!
//! * [`parse_origin`] accepts `https://<host>/<o>/<r>[.git]` (also `http://`, optional
//!   credentials and trailing `/`), `git@<host>:<o>/<r>[.git]` and
//!   `ssh://git@<host>[:port]/<o>/<r>[.git]`, and only for the configured host. For the two
//!   SSH forms the host is compared without its port (an SSH port is not the web port).
//! * [`parse_pr_ref`] accepts the four claim forms; errors carry the API error code.
//! * [`pr_url`] is `https://<host>/<o>/<r>/pull/<n>`, also against a plain-`http` API base
//!   (see [`super::ScmConfig`]). Owner and repo keep the case they were given; compare
//!   repositories with [`RepoRef::same_repo`] (case-insensitive, as GitHub is).

use std::fmt;

use ao_protocol::error::ErrorCode;

use super::config::{ScmConfig, WEB_SCHEME};

/// A GitHub repository `owner/repo`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoRef {
    pub owner: String,
    pub repo: String,
}

impl RepoRef {
    /// Builds a reference when both names are valid GitHub names.
    pub fn new(owner: &str, repo: &str) -> Option<Self> {
        (valid_segment(owner) && valid_segment(repo)).then(|| Self {
            owner: owner.to_string(),
            repo: repo.to_string(),
        })
    }

    /// Parses `owner/repo`.
    pub fn parse(slug: &str) -> Option<Self> {
        let (o, r) = slug.split_once('/')?;
        Self::new(o, r)
    }

    /// Whether both name the same repository (GitHub names are case-insensitive).
    pub fn same_repo(&self, other: &RepoRef) -> bool {
        self.owner.eq_ignore_ascii_case(&other.owner) && self.repo.eq_ignore_ascii_case(&other.repo)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.repo)
    }
}

/// An owner or repository name: `[A-Za-z0-9._-]+`, not `.` or `..`.
fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `o/r[.git][/]` → the repository.
fn repo_from_path(path: &str) -> Option<RepoRef> {
    let path = path.trim_start_matches('/').trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, repo) = path.split_once('/')?;
    RepoRef::new(owner, repo)
}

fn hostname(authority: &str) -> &str {
    // `[::1]:22` keeps its brackets; a single `:` separates a port.
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..=h.len()]);
    }
    authority.split_once(':').map_or(authority, |(h, _)| h)
}

fn strip_port(authority: &str, port: &str) -> String {
    authority
        .strip_suffix(port)
        .unwrap_or(authority)
        .to_ascii_lowercase()
}

/// The repository of a project origin, when it is on `host` (`AO_GITHUB_HOST`).
pub fn parse_origin(url: &str, host: &str) -> Option<RepoRef> {
    let url = url.trim();
    let host = host.to_ascii_lowercase();
    for (scheme, default_port) in [("https://", ":443"), ("http://", ":80")] {
        if let Some(rest) = strip_prefix_ci(url, scheme) {
            let (authority, path) = rest.split_once('/')?;
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if strip_port(authority, default_port) != strip_port(&host, default_port) {
                return None;
            }
            return repo_from_path(path);
        }
    }
    if let Some(rest) = strip_prefix_ci(url, "ssh://") {
        let (authority, path) = rest.split_once('/')?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if !hostname(authority).eq_ignore_ascii_case(hostname(&host)) {
            return None;
        }
        return repo_from_path(path);
    }
    if url.contains("://") {
        return None;
    }
    // scp-like `user@host:o/r.git`.
    let (user_host, path) = url.split_once(':')?;
    let (_, h) = user_host.rsplit_once('@')?;
    if !h.eq_ignore_ascii_case(hostname(&host)) {
        return None;
    }
    repo_from_path(path)
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The normalised PR URL `https://<host>/<o>/<r>/pull/<n>` (the `pr` primary key).
pub fn pr_url(config: &ScmConfig, repo: &RepoRef, number: u64) -> String {
    format!(
        "{WEB_SCHEME}://{}/{}/{}/pull/{number}",
        config.host, repo.owner, repo.repo
    )
}

/// A parsed claim reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrRef {
    pub repo: RepoRef,
    pub number: u64,
    /// The reference was a full URL (so a project without origin can still claim it).
    pub full_url: bool,
}

/// A reference that cannot be used: `PR_REQUIRED` or `INVALID_PR_REF` with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PrRefError {
    pub code: ErrorCode,
    pub message: String,
}

/// The message of a short reference on a project without origin (scm.md §11).
pub const NO_ORIGIN_MESSAGE: &str = "project has no origin; pass the full PR URL";

fn invalid(input: &str, why: &str) -> PrRefError {
    PrRefError {
        code: ErrorCode::InvalidPrRef,
        message: format!("invalid PR reference {input:?}: {why}"),
    }
}

fn positive(n: &str) -> Option<u64> {
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u64>().ok().filter(|n| *n > 0)
}

/// Parses a claim reference: `<scheme>://<host>/<o>/<r>/pull/<n>[/]` (query and fragment
/// ignored; `http` or `https`; the host must be `config.host`), `<o>/<r>#<n>`, `#<n>` or `<n>`
/// (the last two expanded with `origin`).
pub fn parse_pr_ref(
    input: &str,
    config: &ScmConfig,
    origin: Option<&RepoRef>,
) -> Result<PrRef, PrRefError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(PrRefError {
            code: ErrorCode::PrRequired,
            message: "pr is required".to_string(),
        });
    }
    let expected = "expected a PR URL, <owner>/<repo>#<n>, #<n> or <n>";
    if s.contains("://") {
        let (scheme, rest) = strip_prefix_ci(s, "https://")
            .map(|r| ("https", r))
            .or_else(|| strip_prefix_ci(s, "http://").map(|r| ("http", r)))
            .ok_or_else(|| invalid(s, "only http(s) PR URLs are accepted"))?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if !config.host_matches(authority, scheme) {
            return Err(invalid(
                s,
                &format!("the host must be {} (AO_GITHUB_HOST)", config.host),
            ));
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        let parts: Vec<&str> = path.split('/').collect();
        let [owner, repo, "pull", n] = parts.as_slice() else {
            return Err(invalid(
                s,
                &format!(
                    "expected {WEB_SCHEME}://{}/<owner>/<repo>/pull/<n>",
                    config.host
                ),
            ));
        };
        let repo = RepoRef::new(owner, repo).ok_or_else(|| invalid(s, "bad owner or repo"))?;
        let number = positive(n).ok_or_else(|| invalid(s, "the PR number must be positive"))?;
        return Ok(PrRef {
            repo,
            number,
            full_url: true,
        });
    }
    if let Some((slug, n)) = s.split_once('#')
        && !slug.is_empty()
    {
        let repo = RepoRef::parse(slug).ok_or_else(|| invalid(s, expected))?;
        let number = positive(n).ok_or_else(|| invalid(s, expected))?;
        return Ok(PrRef {
            repo,
            number,
            full_url: false,
        });
    }
    let n = s.strip_prefix('#').unwrap_or(s);
    let number = positive(n).ok_or_else(|| invalid(s, expected))?;
    let repo = origin.cloned().ok_or_else(|| PrRefError {
        code: ErrorCode::InvalidPrRef,
        message: NO_ORIGIN_MESSAGE.to_string(),
    })?;
    Ok(PrRef {
        repo,
        number,
        full_url: false,
    })
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn rr(o: &str, r: &str) -> Option<RepoRef> {
        RepoRef::new(o, r)
    }

    #[test]
    fn origin_forms() {
        let table: &[(&str, &str, Option<RepoRef>)] = &[
            (
                "https://github.com/acme/app.git",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "https://github.com/acme/app",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "https://github.com/acme/app/",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "https://GitHub.com/acme/app.git",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "https://x-access-token:t@github.com/acme/app.git",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "https://github.com:443/acme/app",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "http://127.0.0.1:8080/acme/app.git",
                "127.0.0.1:8080",
                rr("acme", "app"),
            ),
            (
                "git@github.com:acme/app.git",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "git@github.com:acme/my.repo",
                "github.com",
                rr("acme", "my.repo"),
            ),
            (
                "ssh://git@github.com/acme/app.git",
                "github.com",
                rr("acme", "app"),
            ),
            (
                "ssh://git@ghe.corp:2222/acme/app",
                "ghe.corp",
                rr("acme", "app"),
            ),
            (
                "git@localhost:acme/app.git",
                "localhost:3000",
                rr("acme", "app"),
            ),
            // Other hosts, shapes and schemes.
            ("https://gitlab.com/acme/app.git", "github.com", None),
            ("git@gitlab.com:acme/app.git", "github.com", None),
            ("https://github.com/acme/app/extra", "github.com", None),
            ("https://github.com/acme", "github.com", None),
            ("https://github.com/acme/.git", "github.com", None),
            ("https://127.0.0.1:9/acme/app", "127.0.0.1:8080", None),
            ("ftp://github.com/acme/app", "github.com", None),
            ("/local/path/repo", "github.com", None),
            ("", "github.com", None),
        ];
        for (url, host, want) in table {
            assert_eq!(&parse_origin(url, host), want, "{url} on {host}");
        }
    }

    fn config(api: &str) -> ScmConfig {
        ScmConfig::for_base(api).expect("valid config")
    }

    #[test]
    fn pr_url_is_normalised() {
        let gh = ScmConfig::from_lookup(|_| None).expect("default");
        let repo = RepoRef::new("acme", "App").expect("valid");
        assert_eq!(pr_url(&gh, &repo, 7), "https://github.com/acme/App/pull/7");
        // A plain-http API base (a local server) changes the transport, not the web URLs.
        let local = config("http://127.0.0.1:8080");
        assert_eq!(
            pr_url(&local, &repo, 7),
            "https://127.0.0.1:8080/acme/App/pull/7"
        );
        let ghe = config("http://ghe.example.com/api/v3");
        assert_eq!(
            pr_url(&ghe, &repo, 8),
            "https://ghe.example.com/acme/App/pull/8"
        );
    }

    #[test]
    fn pr_reference_forms() {
        let gh = ScmConfig::from_lookup(|_| None).expect("default");
        let origin = RepoRef::new("acme", "app").expect("valid");
        let ok = |input: &str, o: Option<&RepoRef>| parse_pr_ref(input, &gh, o).expect(input);
        let want = |o: &str, r: &str, n: u64, full: bool| PrRef {
            repo: RepoRef::new(o, r).expect("valid"),
            number: n,
            full_url: full,
        };
        assert_eq!(
            ok("https://github.com/other/lib/pull/12", None),
            want("other", "lib", 12, true)
        );
        assert_eq!(
            ok(
                "  https://github.com/other/lib/pull/12/?w=1#discussion  ",
                None
            ),
            want("other", "lib", 12, true)
        );
        assert_eq!(
            ok("https://GITHUB.com/other/lib/pull/12#x", Some(&origin)),
            want("other", "lib", 12, true)
        );
        assert_eq!(
            ok("other/lib#3", Some(&origin)),
            want("other", "lib", 3, false)
        );
        assert_eq!(ok("#4", Some(&origin)), want("acme", "app", 4, false));
        assert_eq!(ok("5", Some(&origin)), want("acme", "app", 5, false));

        // Both schemes name the same PR; the URL built from it is the https one.
        let local = config("http://127.0.0.1:8080");
        for input in [
            "http://127.0.0.1:8080/o/r/pull/9",
            "https://127.0.0.1:8080/o/r/pull/9",
        ] {
            let parsed = parse_pr_ref(input, &local, None).expect(input);
            assert_eq!(parsed, want("o", "r", 9, true));
            assert_eq!(
                pr_url(&local, &parsed.repo, parsed.number),
                "https://127.0.0.1:8080/o/r/pull/9"
            );
        }
    }

    #[test]
    fn pr_reference_errors() {
        let gh = ScmConfig::from_lookup(|_| None).expect("default");
        let origin = RepoRef::new("acme", "app").expect("valid");
        let err = |input: &str, o: Option<&RepoRef>| parse_pr_ref(input, &gh, o).expect_err(input);

        let e = err("   ", Some(&origin));
        assert_eq!(e.code, ErrorCode::PrRequired);
        let e = err("#4", None);
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::InvalidPrRef, NO_ORIGIN_MESSAGE)
        );
        let e = err("4", None);
        assert_eq!(e.message, NO_ORIGIN_MESSAGE);
        for bad in [
            "0",
            "#0",
            "-3",
            "+3",
            "abc",
            "acme/app#",
            "acme/app#x",
            "acme#3",
            "a/b/c#3",
            "https://gitlab.com/acme/app/pull/3",
            "https://github.com/acme/app/pull/0",
            "https://github.com/acme/app/pull/3/files",
            "https://github.com/acme/app/issues/3",
            "https://github.com/acme/pull/3",
            "ftp://github.com/acme/app/pull/3",
            "99999999999999999999999",
        ] {
            let e = err(bad, Some(&origin));
            assert_eq!(e.code, ErrorCode::InvalidPrRef, "{bad}");
            assert!(
                e.message.contains("invalid PR reference"),
                "{bad}: {}",
                e.message
            );
        }
    }

    #[test]
    fn repo_refs_compare_case_insensitively() {
        let a = RepoRef::parse("Acme/App").expect("valid");
        let b = RepoRef::parse("acme/app").expect("valid");
        assert!(a.same_repo(&b));
        assert_ne!(a, b);
        assert_eq!(a.to_string(), "Acme/App");
        assert!(RepoRef::parse("acme").is_none());
        assert!(RepoRef::parse("a/b/c").is_none());
        assert!(RepoRef::parse("a/..").is_none());
    }
}
