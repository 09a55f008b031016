//! Status and project routes (http-api.md §5–6).

use reqwest::Method;
use serde_json::json;

use super::harness::{assert_envelope, boot, git_repo, json};

#[tokio::test]
async fn status_reports_identity_counts_and_disabled_github() {
    let h = boot().await;
    let (status, body) = json(h.get("/api/v1/status").send().await.expect("req")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["pid"], std::process::id());
    assert_eq!(body["port"], h.port);
    assert_eq!(body["version"], ao_protocol::VERSION);
    assert_eq!(body["home"], h.env.home.to_string_lossy().as_ref());
    assert_eq!(body["dataDir"], h.env.data_dir.to_string_lossy().as_ref());
    assert_eq!(body["runtime"], "tmux");
    assert_eq!(body["tmuxSocket"], h.env.tmux_socket.as_str());
    assert_eq!(body["sessions"], json!({"live": 0, "terminated": 0}));
    assert_eq!(body["projects"], 0);
    assert_eq!(body["headSeq"], 0);
    assert!(body["uptimeSeconds"].is_u64());
    assert!(body["startedAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert_eq!(
        body["github"],
        json!({"state": "disabled", "tokenSource": null, "pollIntervalSeconds": 30,
               "lastPollAt": null, "backoffUntil": null, "lastError": null,
               "rest": null, "graphql": null})
    );
    h.add_project("alpha").await;
    let (_, body) = json(h.get("/api/v1/status").send().await.expect("req")).await;
    assert_eq!(body["projects"], 1);
    assert!(body["headSeq"].as_i64().is_some_and(|s| s >= 1), "{body}");
    h.stop().await;
}

#[tokio::test]
async fn project_lifecycle_over_http() {
    let h = boot().await;
    let repo = git_repo(h.tmp.path(), "My Repo");
    let (status, body) = json(
        h.send_json(
            Method::POST,
            "/api/v1/projects",
            &json!({"path": format!("  {}  ", repo.display()), "name": " Pretty ",
                    "config": {"sessionPrefix": "mr"}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let p = &body["project"];
    assert_eq!(p["id"], "my-repo");
    assert_eq!(p["name"], "Pretty");
    assert_eq!(p["path"], repo.to_string_lossy().as_ref());
    assert_eq!(p["repo"], serde_json::Value::Null);
    assert_eq!(p["defaultBranch"], "main");
    assert_eq!(p["sessionPrefix"], "mr");
    assert_eq!(p["runtime"], "tmux");
    assert_eq!(p["health"], "ok");
    assert_eq!(p["problem"], serde_json::Value::Null);
    assert_eq!(p["config"], json!({"sessionPrefix": "mr"}));
    for key in [
        "id",
        "name",
        "path",
        "repo",
        "defaultBranch",
        "sessionPrefix",
        "runtime",
        "registeredAt",
        "health",
        "problem",
        "config",
    ] {
        assert!(p.get(key).is_some(), "missing {key}: {p}");
    }

    // The same path again: 409 with a suggestion.
    let (status, body) = json(
        h.send_json(
            Method::POST,
            "/api/v1/projects",
            &json!({"path": repo.to_string_lossy()}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_envelope(&body, 409, "PATH_ALREADY_REGISTERED");
    assert_eq!(body["details"]["existingProjectId"], "my-repo");
    assert_eq!(body["details"]["suggestedProjectId"], "my-repo-2");

    // List and get.
    let (status, body) = json(h.get("/api/v1/projects").send().await.expect("req")).await;
    assert_eq!(status, 200);
    assert_eq!(body["projects"].as_array().map(Vec::len), Some(1));
    let (status, body) = json(h.get("/api/v1/projects/my-repo").send().await.expect("req")).await;
    assert_eq!(status, 200);
    assert_eq!(body["project"]["id"], "my-repo");

    // PUT replaces, PATCH merges (null deletes a key).
    let (status, body) = json(
        h.send_json(
            Method::PUT,
            "/api/v1/projects/my-repo/config",
            &json!({"config": {"defaultBranch": "trunk", "runtime": "zellij"}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["project"]["config"],
        json!({"defaultBranch": "trunk", "runtime": "zellij"})
    );
    assert_eq!(body["project"]["defaultBranch"], "trunk");
    assert_eq!(body["project"]["runtime"], "zellij");
    assert_eq!(body["project"]["sessionPrefix"], "my-repo");
    let (status, body) = json(
        h.send_json(
            Method::PATCH,
            "/api/v1/projects/my-repo/config",
            &json!({"config": {"runtime": null, "sessionPrefix": "x1"}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["project"]["config"],
        json!({"defaultBranch": "trunk", "sessionPrefix": "x1"})
    );

    // Invalid configs name the field.
    for (method, cfg, field) in [
        (
            Method::PUT,
            json!({"sessionPrefix": "-bad"}),
            "sessionPrefix",
        ),
        (Method::PUT, json!({"bogus": 1}), "bogus"),
        (Method::PATCH, json!({"env": {"AO_X": "1"}}), "env"),
    ] {
        let (status, body) = json(
            h.send_json(
                method.clone(),
                "/api/v1/projects/my-repo/config",
                &json!({"config": cfg}),
            )
            .send()
            .await
            .expect("req"),
        )
        .await;
        assert_eq!(status, 400, "{method} {cfg}: {body}");
        assert_envelope(&body, 400, "INVALID_PROJECT_CONFIG");
        assert!(
            body["details"]["field"]
                .as_str()
                .is_some_and(|f| f.starts_with(field)),
            "{body}"
        );
    }

    // Health is a filesystem check.
    std::fs::remove_dir_all(repo.join(".git")).expect("remove .git");
    let (_, body) = json(h.get("/api/v1/projects/my-repo").send().await.expect("req")).await;
    assert_eq!(body["project"]["health"], "degraded");
    assert!(
        body["project"]["problem"]
            .as_str()
            .is_some_and(|p| p.contains(".git")),
        "{body}"
    );

    // Delete archives; archived projects are 404 everywhere.
    let (status, body) = json(
        h.request(Method::DELETE, "/api/v1/projects/my-repo")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"ok": true, "projectId": "my-repo", "killed": [], "skipped": []})
    );
    let (status, body) = json(h.get("/api/v1/projects/my-repo").send().await.expect("req")).await;
    assert_eq!(status, 404);
    assert_envelope(&body, 404, "PROJECT_NOT_FOUND");
    let (status, _) = json(
        h.request(Method::DELETE, "/api/v1/projects/my-repo")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = json(
        h.send_json(
            Method::PUT,
            "/api/v1/projects/my-repo/config",
            &json!({"config": {}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 404);
    let (_, body) = json(h.get("/api/v1/projects").send().await.expect("req")).await;
    assert_eq!(body["projects"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn add_project_validates_its_input() {
    let h = boot().await;
    let repo = git_repo(h.tmp.path(), "valid");
    for (body, code) in [
        (json!({}), "PATH_REQUIRED"),
        (json!({"path": "   "}), "PATH_REQUIRED"),
        (
            json!({"path": repo.to_string_lossy(), "projectId": "../x"}),
            "INVALID_PROJECT_ID",
        ),
        (
            json!({"path": repo.to_string_lossy(), "projectId": ""}),
            "INVALID_PROJECT_ID",
        ),
        (
            json!({"path": repo.to_string_lossy(), "config": {"runtime": "screen"}}),
            "INVALID_PROJECT_CONFIG",
        ),
        (
            json!({"path": repo.join("missing").to_string_lossy()}),
            "INVALID_PATH",
        ),
        (
            json!({"path": h.tmp.path().join("repos").to_string_lossy()}),
            "NOT_A_GIT_REPO",
        ),
    ] {
        let (status, got) = json(
            h.send_json(Method::POST, "/api/v1/projects", &body)
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_eq!(status, 400, "{body}: {got}");
        assert_envelope(&got, 400, code);
    }
    let (status, got) = json(
        h.send_json(
            Method::POST,
            "/api/v1/projects",
            &json!({"path": repo.to_string_lossy(), "config": {"runtime": "screen"}}),
        )
        .send()
        .await
        .expect("req"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(got["details"]["field"], "runtime");
    // Nothing was registered by the failures.
    let (_, body) = json(h.get("/api/v1/projects").send().await.expect("req")).await;
    assert_eq!(body["projects"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn commands_to_a_restarting_actor_get_503_with_retry_after() {
    let h = boot().await;
    h.add_project("busy").await;
    h.daemon
        .as_ref()
        .expect("running")
        .inject_panic(ao_actors::FaultTarget::ProjectSupervisor);
    let patch = || {
        h.send_json(
            Method::PATCH,
            "/api/v1/projects/busy/config",
            &json!({"config": {}}),
        )
        .send()
    };
    // Poll until the restart window is observed (the supervisor comes back after ~250 ms).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let unavailable = loop {
        let res = patch().await.expect("req");
        if res.status() == 503 {
            break Some(res);
        }
        if tokio::time::Instant::now() > deadline {
            break None;
        }
    };
    let res = unavailable.expect("a 503 while the project supervisor restarts");
    assert_eq!(res.headers()["retry-after"], "1");
    let (_, body) = json(res).await;
    assert_envelope(&body, 503, "SERVICE_UNAVAILABLE");
    // …and the command works again once the supervisor is back.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = patch().await.expect("req").status();
        if status == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    h.stop().await;
}
