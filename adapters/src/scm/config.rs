//! Where GitHub lives: the REST base, the GraphQL endpoint and the web host (README §4).
//!
//! * `AO_GITHUB_API_URL` (default `https://api.github.com`) is the REST base. It must be an
//!   absolute `http`/`https` URL with a host and without credentials, query or fragment.
//! * The GraphQL endpoint is `<origin>/api/graphql` when the base path ends in `/api/v3`
//!   (GitHub Enterprise), otherwise `<base>/graphql`.
//! * `AO_GITHUB_HOST` is the web host that project origins and PR URLs must match. Its default
//!   is `github.com` when the API URL is the default one, otherwise the API URL's `host[:port]`.
//! * Web URLs are always `https` (data-model.md §4.3: the normalised PR URL is
//!   `https://<host>/<owner>/<repo>/pull/<n>`), whatever the API base's scheme: a plain-`http`
//!   API (a local test server such as the fake GitHub) changes how `ao` talks to GitHub, not the
//!   URLs it stores and shows. [`WEB_SCHEME`] names it.

use ao_protocol::env::EnvError;
use reqwest::Url;

/// The REST base used when `AO_GITHUB_API_URL` is unset or empty.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The scheme of every web URL `ao` builds (PR URLs), whatever the API base's scheme.
pub const WEB_SCHEME: &str = "https";

/// Validated GitHub endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmConfig {
    /// REST base, without a trailing `/` in its path.
    pub api_base: Url,
    /// The GraphQL endpoint.
    pub graphql_url: Url,
    /// Lower-case web host `host[:port]` (e.g. `github.com`).
    pub host: String,
}

impl ScmConfig {
    /// Reads `AO_GITHUB_API_URL` and `AO_GITHUB_HOST` from the process environment.
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the two variables through `get`; empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let var = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let api_raw = var("AO_GITHUB_API_URL");
        let api_text = api_raw
            .clone()
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        let bad_api = |reason: &str| EnvError {
            var: "AO_GITHUB_API_URL",
            value: api_text.clone(),
            reason: reason.to_string(),
        };
        let mut api_base =
            Url::parse(&api_text).map_err(|e| bad_api(&format!("not a valid URL ({e})")))?;
        if !matches!(api_base.scheme(), "http" | "https") {
            return Err(bad_api("must be an http or https URL"));
        }
        let Some(api_host) = api_base.host_str().map(str::to_ascii_lowercase) else {
            return Err(bad_api("must name a host"));
        };
        if !api_base.username().is_empty() || api_base.password().is_some() {
            return Err(bad_api("must not contain credentials"));
        }
        if api_base.query().is_some() || api_base.fragment().is_some() {
            return Err(bad_api("must not have a query or fragment"));
        }
        let path = api_base.path().trim_end_matches('/').to_string();
        api_base.set_path(&path);

        let graphql_text = if path.ends_with("/api/v3") {
            format!("{}/api/graphql", api_base.origin().ascii_serialization())
        } else {
            format!("{}/graphql", api_base.as_str().trim_end_matches('/'))
        };
        let graphql_url = Url::parse(&graphql_text)
            .map_err(|e| bad_api(&format!("gives an invalid GraphQL URL ({e})")))?;

        let authority = match api_base.port() {
            Some(p) => format!("{api_host}:{p}"),
            None => api_host.clone(),
        };
        let is_default_api =
            api_base.scheme() == "https" && authority == "api.github.com" && path.is_empty();
        let host = match var("AO_GITHUB_HOST") {
            Some(h) => validate_host(&h).ok_or_else(|| EnvError {
                var: "AO_GITHUB_HOST",
                value: h.clone(),
                reason: "must be a bare host[:port] such as github.com".into(),
            })?,
            None if is_default_api => "github.com".to_string(),
            None => authority,
        };
        Ok(Self {
            api_base,
            graphql_url,
            host,
        })
    }

    /// The configuration for a local server at `base` (tests and the fake GitHub).
    pub fn for_base(base: &str) -> Result<Self, EnvError> {
        let base = base.to_string();
        Self::from_lookup(move |k| (k == "AO_GITHUB_API_URL").then(|| base.clone()))
    }

    /// The REST URL `<base>/<segments…>`; each segment is percent-encoded as needed.
    pub fn rest_url(&self, segments: &[&str]) -> Url {
        let mut url = self.api_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Whether `host` (`host[:port]`, any case) of a `scheme` URL is the configured web host
    /// (the scheme's default port, `:443` or `:80`, is implied).
    pub fn host_matches(&self, host: &str, scheme: &str) -> bool {
        strip_default_port(&host.to_ascii_lowercase(), scheme) == self.host
    }
}

/// Validates and lower-cases a bare `host[:port]`.
fn validate_host(h: &str) -> Option<String> {
    let lower = h.to_ascii_lowercase();
    if lower.contains("://")
        || lower.contains(['/', '@', '?', '#'])
        || lower.chars().any(char::is_whitespace)
    {
        return None;
    }
    let url = Url::parse(&format!("https://{lower}/")).ok()?;
    let host = url.host_str()?;
    let rebuilt = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    // `Url` drops an explicit default port (`:443`); anything else must round-trip.
    (rebuilt == lower || format!("{rebuilt}:443") == lower).then_some(rebuilt)
}

/// `host:443` → `host` for https and `host:80` → `host` for http.
fn strip_default_port(host: &str, scheme: &str) -> String {
    let default = if scheme.eq_ignore_ascii_case("http") {
        ":80"
    } else {
        ":443"
    };
    host.strip_suffix(default).unwrap_or(host).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(api: Option<&str>, host: Option<&str>) -> Result<ScmConfig, EnvError> {
        let api = api.map(str::to_string);
        let host = host.map(str::to_string);
        ScmConfig::from_lookup(move |k| match k {
            "AO_GITHUB_API_URL" => api.clone(),
            "AO_GITHUB_HOST" => host.clone(),
            _ => None,
        })
    }

    #[test]
    fn defaults_to_github_com() {
        let c = cfg(None, None).expect("defaults are valid");
        assert_eq!(c.api_base.as_str(), "https://api.github.com/");
        assert_eq!(c.graphql_url.as_str(), "https://api.github.com/graphql");
        assert_eq!(c.host, "github.com");
        let explicit = cfg(Some("https://api.github.com/"), Some("")).expect("valid");
        assert_eq!(explicit, c);
    }

    #[test]
    fn graphql_url_mapping() {
        let table = [
            (
                "https://ghe.example.com/api/v3",
                "https://ghe.example.com/api/graphql",
                "ghe.example.com",
            ),
            (
                "https://ghe.example.com/api/v3/",
                "https://ghe.example.com/api/graphql",
                "ghe.example.com",
            ),
            (
                "http://127.0.0.1:8080",
                "http://127.0.0.1:8080/graphql",
                "127.0.0.1:8080",
            ),
            (
                "http://127.0.0.1:8080/gh/",
                "http://127.0.0.1:8080/gh/graphql",
                "127.0.0.1:8080",
            ),
            (
                "https://API.Example.com:8443/x",
                "https://api.example.com:8443/x/graphql",
                "api.example.com:8443",
            ),
        ];
        for (api, gql, host) in table {
            let c = cfg(Some(api), None).expect(api);
            assert_eq!(c.graphql_url.as_str(), gql, "{api}");
            assert_eq!(c.host, host, "{api}");
        }
        let local = cfg(Some("http://127.0.0.1:8080"), None).expect("valid");
        assert_eq!(
            local.rest_url(&["repos", "o", "r", "pulls"]).as_str(),
            "http://127.0.0.1:8080/repos/o/r/pulls"
        );
        let ghe = cfg(Some("https://ghe.example.com/api/v3"), None).expect("valid");
        assert_eq!(
            ghe.rest_url(&["repos", "a b", "r"]).as_str(),
            "https://ghe.example.com/api/v3/repos/a%20b/r"
        );
    }

    #[test]
    fn explicit_host_is_validated_and_lowercased() {
        let c = cfg(Some("http://127.0.0.1:9"), Some("GitHub.Example.com")).expect("valid");
        assert_eq!(c.host, "github.example.com");
        assert!(c.host_matches("GitHub.example.com:80", "http"));
        assert!(c.host_matches("GitHub.example.com:443", "https"));
        assert!(!c.host_matches("GitHub.example.com:80", "https"));
        let ghe = cfg(Some("https://ghe.example.com/api/v3"), None).expect("valid");
        assert!(ghe.host_matches("GHE.example.com:443", "https"));
        assert!(!ghe.host_matches("ghe.example.com:8443", "https"));
        let c = cfg(None, Some("localhost:3000")).expect("valid");
        assert_eq!(c.host, "localhost:3000");
        assert!(c.host_matches("LOCALHOST:3000", "https"));
        for bad in [
            "https://github.com",
            "github.com/x",
            "a b",
            "user@github.com",
        ] {
            let e = cfg(None, Some(bad)).expect_err(bad);
            assert_eq!(e.var, "AO_GITHUB_HOST");
        }
    }

    #[test]
    fn bad_api_urls_are_errors() {
        for bad in [
            "not a url",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=1",
            "https://example.com/#x",
            "/relative",
        ] {
            let e = cfg(Some(bad), None).expect_err(bad);
            assert_eq!(e.var, "AO_GITHUB_API_URL", "{bad}");
        }
    }
}
