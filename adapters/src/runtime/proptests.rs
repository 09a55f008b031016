//! Property tests of everything a runtime hands to `/bin/sh` or types into a terminal
//! (adapters.md §1, §2.2–2.3): a launch string run by a real `/bin/sh` executes exactly the
//! argv and environment it was built from, byte for byte, whatever the words contain (quotes,
//! `$()`, backticks, newlines, globs, unicode); NUL and non-identifier keys are refused, not
//! mangled; sanitised text carries no control character that could end a bracketed paste;
//! runtime names are always safe multiplexer targets.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::process::{Cmd, run_unchecked};

/// Words meant to break out of quoting, plus arbitrary NUL-free strings.
fn hostile_word() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "'",
        "''",
        "'\\''",
        "\"",
        "\\",
        "$(",
        ")",
        "$(echo pwned)",
        "`",
        "`id`",
        "${PATH}",
        "$HOME",
        "$1",
        "$@",
        "*",
        "?",
        "[a]",
        "~",
        "!",
        "#",
        ";",
        "&&",
        "|",
        "<",
        ">",
        "\n",
        "\r",
        "\t",
        " ",
        "-",
        "--",
        "%s",
        "%n",
        "é",
        "✓",
        "\u{202e}",
        "\u{1b}[201~",
        "a",
        "Z9",
    ]);
    prop_oneof![
        3 => prop::collection::vec(piece, 0..10).prop_map(|p| p.concat()),
        1 => any::<String>().prop_map(|s| s.replace('\0', "")),
    ]
}

fn run_sh(launch: &str) -> crate::process::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(run_unchecked(&Cmd::new("/bin/sh").arg("-c").arg(launch)))
        .expect("/bin/sh runs")
}

proptest! {
    // Each case starts a shell: keep the count moderate.
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_shell_receives_every_argv_word_and_env_value_byte_for_byte(
        words in prop::collection::vec(hostile_word(), 1..6),
        values in prop::collection::btree_map("V_[A-Z0-9_]{0,6}", hostile_word(), 0..4),
        status in 0u8..=255,
    ) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let status_file = tmp.path().join("it's $(here)").join("exit-status");
        std::fs::create_dir_all(status_file.parent().expect("parent")).expect("mkdir");
        let mut env: BTreeMap<String, String> = values.clone();
        env.insert(
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        );
        // argv: a shell that prints each of its arguments NUL-terminated, then its whole
        // environment (`env -0`), then exits with `status`.
        let mut argv: Vec<String> = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!(r#"for a in "$@"; do printf '%s\0' "$a"; done; env -0; exit {status}"#),
            "sh".into(),
        ];
        argv.extend(words.iter().cloned());
        let launch = launch_string(&env, &argv, &status_file).expect("a valid launch");
        let out = run_sh(&launch);
        prop_assert_eq!(out.status, Some(i32::from(status)), "stderr: {}", out.stderr);
        let fields: Vec<&str> = out.stdout.split('\0').collect();
        prop_assert!(fields.len() > words.len(), "output: {:?}", out.stdout);
        prop_assert_eq!(&fields[..words.len()], words.as_slice());
        let seen: BTreeMap<&str, &str> = fields[words.len()..]
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        for (k, v) in &values {
            prop_assert_eq!(seen.get(k.as_str()).copied(), Some(v.as_str()), "{}", k);
        }
        prop_assert_eq!(read_exit_status(&status_file), Some(i32::from(status)));
    }

    #[test]
    fn a_nul_anywhere_is_refused(
        words in prop::collection::vec(hostile_word(), 1..4),
        value in hostile_word(),
        at in any::<prop::sample::Index>(),
        in_env in any::<bool>(),
    ) {
        let with_nul = |s: &str| {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at.index(chars.len() + 1), '\0');
            chars.into_iter().collect::<String>()
        };
        let mut argv = words.clone();
        let mut env = BTreeMap::from([("V".to_string(), value.clone())]);
        if in_env {
            env.insert("V".into(), with_nul(&value));
        } else {
            let i = at.index(argv.len());
            argv[i] = with_nul(&argv[i]);
        }
        let err = launch_string(&env, &argv, Path::new("/tmp/x")).expect_err("NUL refused");
        prop_assert!(matches!(err, RuntimeError::InvalidLaunch(_)), "{err:?}");
    }

    #[test]
    fn environment_names_must_be_shell_identifiers(key in "[^=\0]{0,8}") {
        let ok = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let env = BTreeMap::from([(key.clone(), "v".to_string())]);
        let result = launch_string(&env, &["true".to_string()], Path::new("/tmp/x"));
        prop_assert_eq!(result.is_ok(), ok, "{:?}", key);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_typed_into_a_terminal_carries_no_control_sequence(text in hostile_word()) {
        let clean = sanitize_for_terminal(&text);
        prop_assert!(
            clean.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
            "{clean:?}"
        );
        // No ESC and no 8-bit CSI: a bracketed paste cannot be closed early.
        prop_assert!(!clean.contains(['\u{1b}', '\u{9b}']), "{:?}", clean);
        prop_assert!(!clean.contains('\r'));
        prop_assert_eq!(sanitize_for_terminal(&clean), clean);
    }

    #[test]
    fn shell_quoted_words_are_one_single_quoted_word(word in hostile_word()) {
        let quoted = shell_quote(&word);
        prop_assert!(quoted.starts_with('\'') && quoted.ends_with('\''));
        // Inside the quotes the only way out is the `'\''` escape of an embedded quote.
        let inner = &quoted[1..quoted.len() - 1];
        prop_assert_eq!(inner.replace("'\\''", "'"), word.clone());
        prop_assert_eq!(inner.matches('\'').count(), 3 * word.matches('\'').count());
    }

    #[test]
    fn runtime_names_are_safe_targets(id in any::<String>()) {
        let name = runtime_name(&id);
        prop_assert!(!name.is_empty() && name.len() <= 48, "{name:?}");
        prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        prop_assert_eq!(runtime_name(&id), name);
    }
}
