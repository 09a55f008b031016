//! Property tests of the PR-reference and origin parsers (scm.md §3, §11): the claim `pr`
//! field and `git remote get-url origin` are untrusted strings. Parsing is total; each of the
//! four claim forms round-trips to the same `(repo, number)`; a refusal carries `PR_REQUIRED`
//! (blank) or `INVALID_PR_REF`; every origin form names its repository, on the configured
//! host only.

use proptest::prelude::*;

use super::*;

fn github() -> ScmConfig {
    ScmConfig::from_lookup(|_| None).expect("the default GitHub config")
}

/// A GitHub owner or repository name (never `.`/`..`, never ending in `.git`, which the
/// origin parser strips).
fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}".prop_filter("not a .git suffix", |s| !s.ends_with(".git"))
}

fn repo() -> impl Strategy<Value = RepoRef> {
    (segment(), segment()).prop_map(|(o, r)| RepoRef::new(&o, &r).expect("valid segments"))
}

/// Strings made of the characters the reference grammar is about.
fn ref_like() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "https://",
        "http://",
        "ftp://",
        "github.com",
        "GitHub.com:443",
        "evil.example",
        "/",
        "#",
        "?",
        "pull",
        "pulls",
        "acme",
        "app",
        ".",
        "..",
        "0",
        "7",
        "42",
        "99999999999999999999999",
        "-1",
        " ",
        "\t",
        "@",
        ":",
        "%2F",
        "é",
    ]);
    prop_oneof![
        3 => prop::collection::vec(piece, 0..8).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn references_parse_or_are_refused_with_a_stable_code(
        input in ref_like(),
        origin in prop::option::of(repo()),
    ) {
        match parse_pr_ref(&input, &github(), origin.as_ref()) {
            Ok(r) => {
                prop_assert!(r.number > 0);
                prop_assert!(RepoRef::new(&r.repo.owner, &r.repo.repo).is_some());
            }
            Err(e) if input.trim().is_empty() => prop_assert_eq!(e.code, ErrorCode::PrRequired),
            Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidPrRef),
        }
    }

    #[test]
    fn every_claim_form_names_the_same_pr(
        r in repo(),
        n in 1u64..=u64::MAX,
        zeros in "0{0,3}",
        pad in "[ \t]{0,2}",
        tail in prop::sample::select(vec!["", "/", "?tab=files", "#issuecomment-1", "/?x=1"]),
    ) {
        let gh = github();
        let url = pr_url(&gh, &r, n);
        let forms = [
            (format!("{pad}{url}{tail}{pad}"), None, true),
            (url.replacen("https://", "HTTP://", 1), None, true),
            (format!("{pad}{r}#{zeros}{n}"), None, false),
            (format!("#{zeros}{n}{pad}"), Some(&r), false),
            (format!("{zeros}{n}"), Some(&r), false),
        ];
        for (text, origin, full_url) in forms {
            let got = parse_pr_ref(&text, &gh, origin).map_err(|e| {
                TestCaseError::fail(format!("{text:?}: {e}"))
            })?;
            prop_assert_eq!(&got.repo, &r, "{}", text);
            prop_assert_eq!(got.number, n);
            prop_assert_eq!(got.full_url, full_url);
            // Normalised: the stored URL of what was parsed is the canonical one.
            prop_assert_eq!(pr_url(&gh, &got.repo, got.number), url.clone());
        }
    }

    #[test]
    fn short_forms_need_an_origin_and_urls_need_the_configured_host(
        r in repo(),
        n in 1u64..1_000_000,
        host in "[a-z]{1,8}\\.(example|test)",
    ) {
        let gh = github();
        let e = parse_pr_ref(&format!("#{n}"), &gh, None).expect_err("no origin");
        prop_assert_eq!(e.code, ErrorCode::InvalidPrRef);
        prop_assert_eq!(e.message, NO_ORIGIN_MESSAGE);
        let foreign = format!("https://{host}/{r}/pull/{n}");
        let e = parse_pr_ref(&foreign, &gh, Some(&r)).expect_err("other host");
        prop_assert_eq!(e.code, ErrorCode::InvalidPrRef);
    }

    #[test]
    fn origins_on_the_host_name_their_repository(
        r in repo(),
        git_suffix in any::<bool>(),
        slash in any::<bool>(),
        creds in prop::option::of("[a-z0-9_-]{1,8}(:[a-z0-9]{1,8})?"),
        ssh_port in prop::option::of(1u16..),
    ) {
        let suffix = if git_suffix { ".git" } else { "" };
        let slash = if slash { "/" } else { "" };
        let creds = creds.map(|c| format!("{c}@")).unwrap_or_default();
        let port = ssh_port.map(|p| format!(":{p}")).unwrap_or_default();
        for url in [
            format!("https://{creds}github.com/{r}{suffix}{slash}"),
            format!("HTTPS://GitHub.com:443/{r}{suffix}"),
            format!("git@github.com:{r}{suffix}"),
            format!("ssh://git@github.com{port}/{r}{suffix}"),
        ] {
            prop_assert_eq!(parse_origin(&url, "github.com"), Some(r.clone()), "{}", url);
            prop_assert_eq!(parse_origin(&url, "gitlab.com"), None, "{}", url);
        }
    }

    #[test]
    fn any_origin_string_is_handled(url in ref_like(), host in "[a-z.:0-9]{0,16}") {
        if let Some(r) = parse_origin(&url, &host) {
            prop_assert!(RepoRef::new(&r.owner, &r.repo).is_some());
        }
    }
}
