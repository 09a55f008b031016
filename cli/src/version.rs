//! `ao version` / `ao --version` (cli.md §8): `ao <semver>[ (commit <sha7>[, built <date>])]`.
//!
//! The commit and build date come from the optional compile-time variables `AO_BUILD_COMMIT`
//! and `AO_BUILD_DATE` (`option_env!`); without them only the semver is shown and the JSON
//! fields are null.

use std::sync::LazyLock;

use serde::Serialize;

const COMMIT: Option<&str> = option_env!("AO_BUILD_COMMIT");
const BUILD_DATE: Option<&str> = option_env!("AO_BUILD_DATE");

fn non_empty(v: Option<&'static str>) -> Option<&'static str> {
    v.map(str::trim).filter(|s| !s.is_empty())
}

/// The version text without the leading `ao ` (what clap prints after the binary name).
pub fn describe(version: &str, commit: Option<&str>, date: Option<&str>) -> String {
    match commit {
        None => version.to_string(),
        Some(c) => {
            let sha7: String = c.chars().take(7).collect();
            match date {
                Some(d) => {
                    let day: String = d.chars().take(10).collect();
                    format!("{version} (commit {sha7}, built {day})")
                }
                None => format!("{version} (commit {sha7})"),
            }
        }
    }
}

static CLAP_VERSION: LazyLock<String> = LazyLock::new(|| {
    describe(
        ao_protocol::VERSION,
        non_empty(COMMIT),
        non_empty(BUILD_DATE),
    )
});

/// For `#[command(version = …)]`.
pub fn clap_version() -> &'static str {
    CLAP_VERSION.as_str()
}

/// `ao version` text.
pub fn line() -> String {
    format!("ao {}", clap_version())
}

/// `ao version --json`: `{version, commit, buildDate}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub version: &'static str,
    pub commit: Option<&'static str>,
    pub build_date: Option<&'static str>,
}

/// The version of this build.
pub fn json() -> VersionInfo {
    VersionInfo {
        version: ao_protocol::VERSION,
        commit: non_empty(COMMIT),
        build_date: non_empty(BUILD_DATE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_forms() {
        assert_eq!(describe("0.1.0", None, None), "0.1.0");
        assert_eq!(describe("0.1.0", None, Some("2026-07-01")), "0.1.0");
        assert_eq!(
            describe("0.1.0", Some("0123456789abcdef"), None),
            "0.1.0 (commit 0123456)"
        );
        assert_eq!(
            describe(
                "0.1.0",
                Some("0123456789abcdef"),
                Some("2026-07-01T09:00:00Z")
            ),
            "0.1.0 (commit 0123456, built 2026-07-01)"
        );
        assert!(line().starts_with("ao "));
        assert_eq!(json().version, ao_protocol::VERSION);
    }
}
