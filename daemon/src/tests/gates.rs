//! The security gates and the cross-cutting response rules (http-api.md §1–3, §11).

use reqwest::Method;

use super::harness::{assert_envelope, boot, boot_with, json, raw};
use crate::http::state::Tuning;

#[tokio::test]
async fn host_gate_accepts_loopback_names_and_refuses_the_rest() {
    let h = boot().await;
    let port = h.port;
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
    ] {
        let r = raw(port, &format!("GET /healthz HTTP/1.1\r\nHost: {host}")).await;
        assert_eq!(r.status, 200, "Host {host}: {r:?}");
    }
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1).max(1)),
        format!("localhost:{}", h.blocked_port),
        format!("10.0.0.1:{port}"),
    ] {
        let r = raw(port, &format!("GET /healthz HTTP/1.1\r\nHost: {host}")).await;
        assert_eq!(r.status, 403, "Host {host}: {r:?}");
        assert_envelope(&r.json(), 403, "HOST_FORBIDDEN");
        assert!(r.header("x-request-id").is_some());
    }
    // No Host at all (HTTP/1.0 allows omitting it; the gate does not).
    let r = raw(port, "GET /healthz HTTP/1.0").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_envelope(&r.json(), 403, "HOST_FORBIDDEN");
    // The Host gate comes before the token gate.
    let r = raw(port, "GET /api/v1/status HTTP/1.1\r\nHost: evil.example").await;
    assert_eq!(r.status, 403);
    h.stop().await;
}

#[tokio::test]
async fn origin_gate_allows_exact_loopback_and_configured_origins_only() {
    let h = boot_with(
        &[("AO_ALLOWED_ORIGINS", "http://dash.test:8080")],
        Tuning::default(),
    )
    .await;
    for origin in [
        format!("http://127.0.0.1:{}", h.port),
        format!("http://localhost:{}", h.port),
        format!("http://[::1]:{}", h.port),
        "http://dash.test:8080".to_string(),
    ] {
        let res = h
            .get("/api/v1/status")
            .header("origin", &origin)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "{origin}");
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            origin.as_str()
        );
        assert_eq!(res.headers()["vary"], "Origin");
    }
    for origin in [
        "http://evil.example",
        "null",
        "http://localhost",
        "http://127.0.0.1:1",
        "https://dash.test:8080",
    ] {
        let res = h
            .get("/healthz")
            .header("origin", origin)
            .send()
            .await
            .expect("request");
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let (status, body) = json(res).await;
        assert_eq!(status, 403, "{origin}");
        assert_envelope(&body, 403, "ORIGIN_FORBIDDEN");
    }
    // No Origin: no CORS headers.
    let res = h.get("/healthz").send().await.expect("request");
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("access-control-allow-origin").is_none());
    h.stop().await;
}

#[tokio::test]
async fn preflight_from_an_allowed_origin_gets_204_without_a_token() {
    let h = boot().await;
    let origin = format!("http://localhost:{}", h.port);
    let res = h
        .client
        .request(Method::OPTIONS, h.url("/api/v1/projects"))
        .header("origin", &origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 204);
    let hd = res.headers();
    assert_eq!(hd["access-control-allow-origin"], origin.as_str());
    assert_eq!(hd["vary"], "Origin");
    assert_eq!(
        hd["access-control-allow-methods"],
        "GET, POST, PUT, PATCH, DELETE, OPTIONS"
    );
    assert_eq!(
        hd["access-control-allow-headers"],
        "Authorization, Content-Type, Last-Event-ID, X-Request-Id"
    );
    assert_eq!(hd["access-control-max-age"], "600");
    assert!(hd.get("x-request-id").is_some());
    // A preflight from a foreign origin is refused.
    let res = h
        .client
        .request(Method::OPTIONS, h.url("/api/v1/projects"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 403);
    h.stop().await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_413_even_when_streamed() {
    let h = boot().await;
    let big = vec![b' '; 1024 * 1024 + 1];
    // Declared length, and before the token gate.
    let res = h
        .client
        .post(h.url("/api/v1/projects"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .expect("request");
    let (status, body) = json(res).await;
    assert_eq!(status, 413);
    assert_envelope(&body, 413, "PAYLOAD_TOO_LARGE");
    // Chunked, without Content-Length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..17).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let res = h
        .post("/api/v1/projects")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("request");
    let (status, body) = json(res).await;
    assert_eq!(status, 413, "{body}");
    assert_envelope(&body, 413, "PAYLOAD_TOO_LARGE");
    // Exactly 1 MiB passes the gate (and then fails JSON decoding: whitespace only is empty).
    let res = h
        .post("/api/v1/projects")
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024])
        .send()
        .await
        .expect("request");
    let (status, body) = json(res).await;
    assert_eq!(status, 400, "{body}");
    assert_envelope(&body, 400, "PATH_REQUIRED");
    h.stop().await;
}

#[tokio::test]
async fn token_gate_guards_the_api_and_shutdown() {
    let h = boot().await;
    let check = |res: reqwest::Response| async move {
        assert_eq!(
            res.headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or("")),
            Some("Bearer realm=\"ao\"")
        );
        let (status, body) = json(res).await;
        assert_eq!(status, 401);
        assert_envelope(&body, 401, "UNAUTHORIZED");
    };
    check(
        h.client
            .get(h.url("/api/v1/status"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    check(
        h.client
            .get(h.url("/api/v1/status"))
            .bearer_auth("0".repeat(64))
            .send()
            .await
            .expect("req"),
    )
    .await;
    check(
        h.client
            .get(h.url("/api/v1/status"))
            .header("authorization", format!("Basic {}", h.token))
            .send()
            .await
            .expect("req"),
    )
    .await;
    // Unknown API path without a token: 401, not 404.
    check(
        h.client
            .get(h.url("/api/v1/nope"))
            .send()
            .await
            .expect("req"),
    )
    .await;
    check(h.client.post(h.url("/shutdown")).send().await.expect("req")).await;
    // Health probes need no token.
    assert_eq!(
        h.client
            .get(h.url("/healthz"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        h.client
            .get(h.url("/readyz"))
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    // With the token the unknown path is a 404 envelope.
    let (status, body) = json(h.get("/api/v1/nope").send().await.expect("req")).await;
    assert_eq!(status, 404);
    assert_envelope(&body, 404, "ROUTE_NOT_FOUND");
    assert_eq!(body["message"], "GET /api/v1/nope has no handler");
    // The daemon is still up after the refused shutdown.
    assert_eq!(
        h.get("/api/v1/status").send().await.expect("req").status(),
        200
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let h = boot().await;
    let (status, body) = json(h.client.get(h.url("/nope")).send().await.expect("req")).await;
    assert_eq!(status, 404);
    assert_envelope(&body, 404, "ROUTE_NOT_FOUND");
    assert_eq!(body["message"], "GET /nope has no handler");

    let res = h
        .request(Method::DELETE, "/api/v1/projects")
        .send()
        .await
        .expect("req");
    let allow = res.headers()["allow"].to_str().expect("ascii").to_string();
    let (status, body) = json(res).await;
    assert_eq!(status, 405);
    assert_envelope(&body, 405, "METHOD_NOT_ALLOWED");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert!(!allow.contains("DELETE"), "{allow}");

    let res = h.client.put(h.url("/healthz")).send().await.expect("req");
    assert_eq!(res.status(), 405);
    assert!(
        res.headers()["allow"]
            .to_str()
            .expect("ascii")
            .contains("GET")
    );
    h.stop().await;
}

#[tokio::test]
async fn json_bodies_are_strict() {
    let h = boot().await;
    // 415 without the JSON content type.
    let res = h
        .post("/api/v1/projects")
        .header("content-type", "text/plain")
        .body(r#"{"path":"/x"}"#)
        .send()
        .await
        .expect("req");
    let (status, body) = json(res).await;
    assert_eq!(status, 415);
    assert_envelope(&body, 415, "UNSUPPORTED_MEDIA_TYPE");
    let res = h
        .post("/api/v1/projects")
        .body(r#"{"path":"/x"}"#)
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 415);
    // Malformed JSON and unknown fields: 400 INVALID_JSON.
    for bad in [r#"{"path":"#, r#"{"path":"/x","bogus":1}"#, "[1,2]"] {
        let res = h
            .post("/api/v1/projects")
            .header("content-type", "application/json; charset=utf-8")
            .body(bad)
            .send()
            .await
            .expect("req");
        let (status, body) = json(res).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_envelope(&body, 400, "INVALID_JSON");
    }
    // An empty body is fine where every field is optional: here it fails validation instead.
    let (status, body) = json(h.post("/api/v1/projects").send().await.expect("req")).await;
    assert_eq!(status, 400);
    assert_envelope(&body, 400, "PATH_REQUIRED");
    // …but not where a field is required.
    let (status, body) = json(
        h.request(Method::PUT, "/api/v1/projects/demo/config")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 400);
    assert_envelope(&body, 400, "INVALID_JSON");
    // POST /shutdown takes no body: a non-JSON body is 415 (and nothing shuts down).
    let res = h
        .post("/shutdown")
        .header("content-type", "text/plain")
        .body("now")
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 415);
    assert_eq!(h.get("/readyz").send().await.expect("req").status(), 200);
    h.stop().await;
}

#[tokio::test]
async fn query_errors_have_their_codes() {
    let h = boot().await;
    for q in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "order=sideways",
        "after=-1",
        "after=1.5",
        "after=1&after=2",
    ] {
        let (status, body) = json(
            h.get(&format!("/api/v1/events/log?{q}"))
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_envelope(&body, 400, "INVALID_QUERY");
    }
    for q in ["after=x", "after=-1", "after="] {
        let (status, body) = json(
            h.get(&format!("/api/v1/events?{q}"))
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_envelope(&body, 400, "INVALID_AFTER");
    }
    let (status, body) = json(
        h.get("/api/v1/events")
            .header("last-event-id", "yesterday")
            .send()
            .await
            .expect("req"),
    )
    .await;
    assert_eq!(status, 400);
    assert_envelope(&body, 400, "INVALID_AFTER");
    h.stop().await;
}

#[tokio::test]
async fn request_ids_are_reused_when_valid_and_generated_otherwise() {
    let h = boot().await;
    let res = h
        .get("/api/v1/status")
        .header("x-request-id", "my-trace-42")
        .send()
        .await
        .expect("req");
    assert_eq!(res.headers()["x-request-id"], "my-trace-42");
    // Errors carry the same id in the body.
    let res = h
        .get("/api/v1/nope")
        .header("x-request-id", "trace-404")
        .send()
        .await
        .expect("req");
    assert_eq!(res.headers()["x-request-id"], "trace-404");
    let (_, body) = json(res).await;
    assert_eq!(body["requestId"], "trace-404");
    for inbound in [None, Some("x".repeat(129)), Some("has space".to_string())] {
        let mut req = h.client.get(h.url("/healthz"));
        if let Some(v) = &inbound {
            req = req.header("x-request-id", v);
        }
        let res = req.send().await.expect("req");
        let id = res.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            id.starts_with("req_") && id.len() == 30,
            "{inbound:?} → {id}"
        );
        assert!(crate::request_id::is_valid(id.as_bytes()));
    }
    h.stop().await;
}

#[tokio::test]
async fn error_bodies_never_leak_internals_and_details_are_omitted_when_empty() {
    let h = boot().await;
    let (_, body) = json(h.get("/api/v1/projects/nope").send().await.expect("req")).await;
    assert_envelope(&body, 404, "PROJECT_NOT_FOUND");
    assert!(body.get("details").is_none(), "{body}");
    let obj = body.as_object().expect("object");
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    h.stop().await;
}
