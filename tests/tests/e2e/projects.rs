//! Projects through the CLI: add / ls / get / set-config / rm, and bad input.

use ao_tests::{Home, git_repo};
use serde_json::{Value, json};

fn path_str(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn project_lifecycle_through_the_cli() {
    let home = Home::new();
    let repo = git_repo(&home.scratch(), "My Repo");
    home.start();

    let empty = home.ao(&["project", "ls"]);
    assert!(
        empty.ok().contains("No projects registered."),
        "{}",
        empty.stdout
    );

    let add = home.ao(&[
        "project",
        "add",
        "--path",
        path_str(&repo),
        "--worker-agent",
        "claude-code",
    ]);
    assert_eq!(
        add.ok().trim(),
        format!("registered project my-repo at {}", repo.display())
    );

    let ls = home.ao(&["project", "ls"]);
    assert!(ls.ok().contains("my-repo"), "{}", ls.stdout);
    let listed = home.ao(&["project", "ls", "--json"]).json();
    let p = &listed["projects"][0];
    assert_eq!(p["id"], "my-repo");
    assert_eq!(p["path"], path_str(&repo));
    assert_eq!(p["repo"], Value::Null);
    assert_eq!(p["defaultBranch"], "main");
    assert_eq!(p["sessionPrefix"], "my-repo");
    assert_eq!(p["runtime"], "tmux");
    assert_eq!(p["health"], "ok");
    assert_eq!(p["config"], json!({"worker": {"agent": "claude-code"}}));

    // The creation is in the event log.
    let events = home.ao(&["events", "--json"]);
    let created: Vec<Value> = events
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON line"))
        .collect();
    assert!(
        created
            .iter()
            .any(|e| e["type"] == "project_created" && e["projectId"] == "my-repo"),
        "{}",
        events.stdout
    );

    // set-config is a PATCH by default: unmentioned keys are kept.
    home.ao(&[
        "project",
        "set-config",
        "my-repo",
        "--session-prefix",
        "mr",
        "--env",
        "FOO=bar",
    ])
    .ok();
    let got = home.ao(&["project", "get", "my-repo", "--json"]).json();
    assert_eq!(
        got["project"]["config"],
        json!({"worker": {"agent": "claude-code"}, "sessionPrefix": "mr", "env": {"FOO": "bar"}})
    );
    assert_eq!(got["project"]["sessionPrefix"], "mr");
    home.ao(&["project", "set-config", "my-repo", "--unset-env", "FOO"])
        .ok();
    let got = home.ao(&["project", "get", "my-repo", "--json"]).json();
    assert_eq!(got["project"]["config"]["env"], json!({}));

    let text = home.ao(&["project", "get", "my-repo"]);
    assert!(
        text.ok().contains("session prefix: mr") || text.stdout.contains("mr"),
        "{}",
        text.stdout
    );

    // rm requires confirmation off a TTY.
    let refused = home.ao(&["project", "rm", "my-repo"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("confirmation required; pass -y"),
        "{}",
        refused.stderr
    );
    let rm = home.ao(&["project", "rm", "my-repo", "-y"]);
    assert!(rm.ok().contains("removed project my-repo"), "{}", rm.stdout);
    let after = home.ao(&["project", "ls", "--json"]).json();
    assert_eq!(after["projects"], json!([]));
    let gone = home.ao(&["project", "get", "my-repo"]);
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains("(PROJECT_NOT_FOUND)"),
        "{}",
        gone.stderr
    );

    // Re-adding the same path after removal works (archived rows are ignored).
    home.ao(&["project", "add", "--path", path_str(&repo)]).ok();
}

#[test]
fn bad_project_input_gets_the_spec_codes_and_changes_nothing() {
    let home = Home::new();
    let scratch = home.scratch();
    let repo = git_repo(&scratch, "demo");
    let plain = scratch.join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    home.start();

    let not_git = home.ao(&["project", "add", "--path", path_str(&plain)]);
    assert_eq!(not_git.code, 1);
    assert!(not_git.stderr.starts_with("error: "), "{}", not_git.stderr);
    assert!(
        not_git.stderr.contains("(NOT_A_GIT_REPO)"),
        "{}",
        not_git.stderr
    );
    assert!(
        not_git.stderr.contains("[request req_"),
        "{}",
        not_git.stderr
    );

    let missing = home.ao(&["project", "add", "--path", path_str(&scratch.join("nope"))]);
    assert!(
        missing.stderr.contains("(INVALID_PATH)"),
        "{}",
        missing.stderr
    );

    home.ao(&["project", "add", "--path", path_str(&repo)]).ok();
    let dup_path = home.ao(&["project", "add", "--path", path_str(&repo)]);
    assert_eq!(dup_path.code, 1);
    assert!(
        dup_path.stderr.contains("(PATH_ALREADY_REGISTERED)"),
        "{}",
        dup_path.stderr
    );
    assert!(
        dup_path.stderr.contains("project demo"),
        "names the existing project: {}",
        dup_path.stderr
    );
    assert!(
        dup_path.stderr.contains("hint: use --id demo-2"),
        "{}",
        dup_path.stderr
    );
    let dup_path_other_id =
        home.ao(&["project", "add", "--path", path_str(&repo), "--id", "other"]);
    assert!(
        dup_path_other_id
            .stderr
            .contains("(PATH_ALREADY_REGISTERED)"),
        "{}",
        dup_path_other_id.stderr
    );

    let repo2 = git_repo(&scratch.join("second"), "demo");
    let dup_id = home.ao(&["project", "add", "--path", path_str(&repo2)]);
    assert_eq!(dup_id.code, 1);
    assert!(
        dup_id.stderr.contains("(ID_ALREADY_REGISTERED)"),
        "{}",
        dup_id.stderr
    );
    assert!(
        dup_id.stderr.contains("hint: use --id demo-2"),
        "{}",
        dup_id.stderr
    );

    let bad_cfg = home.ao(&[
        "project",
        "set-config",
        "demo",
        "--config-json",
        r#"{"runtime":"screen"}"#,
    ]);
    assert_eq!(bad_cfg.code, 1);
    assert!(
        bad_cfg.stderr.contains("(INVALID_PROJECT_CONFIG)"),
        "{}",
        bad_cfg.stderr
    );

    // Usage errors are exit 2 and touch nothing.
    assert_eq!(home.ao(&["project", "set-config", "demo"]).code, 2);
    assert_eq!(
        home.ao(&["project", "set-config", "demo", "--env", "NOEQUALS"])
            .code,
        2
    );
    assert_eq!(home.ao(&["project", "add", "--bogus-flag"]).code, 2);
    assert_eq!(home.ao(&["project", "add"]).code, 2);

    let listed = home.ao(&["project", "ls", "--json"]).json();
    let projects = listed["projects"].as_array().expect("array");
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0]["config"], json!({}));
}

#[test]
fn invalid_environment_is_exit_1() {
    let home = Home::new();
    let r = home.ao_env(&["status"], &[("AO_PORT", "notaport")]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("AO_PORT"), "{}", r.stderr);
}
