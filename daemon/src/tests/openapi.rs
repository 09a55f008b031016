//! The OpenAPI document (http-api.md §10): checked-in file = generated document, and the
//! router's (method, path) set = the document's. The document must also describe what the
//! daemon really sends (schemathesis checks responses against it, `tests/fuzz`): enum values
//! in their wire spelling, the gate responses on every operation, resolvable references, the
//! SSE frames, and the request bodies the daemon accepts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use ao_protocol::{
    ActivityState, CheckStatus, CiState, ClaimCheckout, Delivery, DisplayStatus, ErrorCode,
    GithubState, Harness, LogOrder, Mergeability, NudgeKind, PermissionMode, PrState,
    ProjectHealth, ReviewDecision, RuntimeKind, SessionKind, TerminatedReason,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::harness::{assert_envelope, boot, json};
use crate::http::openapi::{DOCUMENT, generate};
use crate::http::routes::ROUTES;

fn checked_in_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

#[test]
fn checked_in_document_matches_the_generated_one() {
    let generated = generate();
    if std::env::var_os("AO_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(checked_in_path(), &generated).expect("rewrite docs/openapi.json");
        return;
    }
    let on_disk = std::fs::read_to_string(checked_in_path()).expect("docs/openapi.json exists");
    assert!(
        on_disk == generated,
        "docs/openapi.json is stale: run `AO_UPDATE_OPENAPI=1 cargo test -p ao-daemon openapi`"
    );
    // What is served is what is checked in (the embedded copy is rebuilt with the crate).
    assert_eq!(DOCUMENT, on_disk);
}

#[test]
fn router_and_document_have_the_same_routes() {
    let doc: Value = serde_json::from_str(&generate()).expect("valid JSON");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if matches!(
                method.as_str(),
                "get" | "post" | "put" | "patch" | "delete" | "head" | "options" | "trace"
            ) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.as_str().to_string(), r.path.to_string()))
        .collect();
    assert_eq!(routed.len(), ROUTES.len(), "duplicate route in the table");
    assert_eq!(routed, documented);
}

#[tokio::test]
async fn the_document_is_served_with_a_token() {
    let h = boot().await;
    let res = h.get("/api/v1/openapi.json").send().await.expect("req");
    assert_eq!(res.headers()["content-type"], "application/json");
    let (status, body) = json(res).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::from_str::<Value>(DOCUMENT).expect("json"));
    let res = h
        .client
        .get(h.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 401);
    h.stop().await;
}

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("the document is JSON")
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    out
}

fn parses<T: DeserializeOwned>(v: &Value) -> bool {
    serde_json::from_value::<T>(v.clone()).is_ok()
}

/// Regression (schemathesis): the string enums were documented with their Rust variant names
/// (`"Disabled"`, `"Tmux"`) while the daemon sends the wire words (`"disabled"`, `"tmux"`).
#[test]
fn enum_schemas_list_the_wire_spelling_of_every_variant() {
    type Check = (&'static str, fn(&Value) -> bool, Option<usize>);
    /// (schema name, "parses as the type", number of variants) for the `string_enum!` types.
    macro_rules! string_enums {
        ($($t:ident),+ $(,)?) => {
            [$((stringify!($t), parses::<$t> as fn(&Value) -> bool, Some($t::ALL.len()))),+]
        };
    }
    let mut known: Vec<Check> = string_enums![
        ActivityState,
        CheckStatus,
        CiState,
        DisplayStatus,
        ErrorCode,
        GithubState,
        Harness,
        LogOrder,
        Mergeability,
        NudgeKind,
        PermissionMode,
        PrState,
        ProjectHealth,
        ReviewDecision,
        RuntimeKind,
        SessionKind,
        TerminatedReason,
    ]
    .to_vec();
    // Plain serde enums (no `ALL`): every documented value must parse.
    known.push(("ClaimCheckout", parses::<ClaimCheckout>, None));
    known.push(("Delivery", parses::<Delivery>, None));
    let doc = document();
    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        let Some(values) = schema["enum"].as_array() else {
            continue;
        };
        let (_, parse, count) = known
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("enum schema {name} is not checked here: add it"));
        for v in values {
            assert!(parse(v), "{name}: the daemon never sends {v}");
        }
        if let Some(count) = count {
            assert_eq!(values.len(), *count, "{name}: {values:?}");
        }
    }
    assert_eq!(
        doc["components"]["schemas"]["GithubState"]["enum"][1],
        "disabled"
    );
    assert_eq!(
        doc["components"]["schemas"]["RuntimeKind"]["enum"][0],
        "tmux"
    );
}

/// Regression (schemathesis): most operations did not document the gate answers (401, 403,
/// 413, 503), so a missing token gave an undocumented status.
#[test]
fn every_operation_documents_the_gate_responses_as_the_envelope() {
    let doc = document();
    let error_body = json!({"$ref": "#/components/schemas/ErrorBody"});
    for (method, path, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        let is_api = path.starts_with("/api/v1/");
        let mut want = vec!["403", "413"];
        if op.get("security").is_some() {
            want.push("401");
        }
        if is_api {
            want.extend(["500", "503"]);
        }
        // Every route but the unbounded ones (SSE, health, shutdown) has a time budget.
        if is_api && path != "/api/v1/events" {
            want.push("504");
        }
        if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
            want.extend(["400", "415"]);
        }
        for status in want {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        if op.get("security").is_some() {
            assert!(
                responses["401"]["headers"]
                    .get("WWW-Authenticate")
                    .is_some(),
                "{method} {path}"
            );
        }
        if is_api {
            assert!(
                responses["503"]["headers"].get("Retry-After").is_some(),
                "{method} {path}"
            );
        }
        for (status, response) in responses {
            assert!(
                response["headers"].get("X-Request-Id").is_some(),
                "{method} {path} {status}"
            );
            let is_error = !status.starts_with('2');
            // The one non-envelope error body: the `/readyz` 503 (http-api.md §3).
            if is_error && !(path == "/readyz" && status == "503") {
                assert_eq!(
                    response["content"]["application/json"]["schema"], error_body,
                    "{method} {path} {status}"
                );
            }
        }
    }
}

/// Regression (schemathesis): `LogOrder` was referenced by `GET /events/log` but missing from
/// the components, so the `order` parameter could not be resolved.
#[test]
fn every_reference_resolves() {
    fn walk(v: &Value, refs: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|x| walk(x, refs));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, refs)),
            _ => {}
        }
    }
    let doc = document();
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.iter().any(|r| r.ends_with("/LogOrder")), "{refs:?}");
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

/// Regression (schemathesis): the stream was documented as one string, but SSE clients (and
/// schemathesis) validate each parsed frame.
#[test]
fn the_event_stream_documents_its_frames() {
    let doc = document();
    let content = &doc["paths"]["/api/v1/events"]["get"]["responses"]["200"]["content"];
    assert_eq!(
        content["text/event-stream"]["schema"],
        json!({"$ref": "#/components/schemas/SseFrame"})
    );
    let frame = &doc["components"]["schemas"]["SseFrame"];
    assert_eq!(frame["required"], json!(["event", "data"]));
    assert_eq!(
        frame["properties"]["data"]["contentMediaType"],
        "application/json"
    );
}

/// Regression (schemathesis): `{"config": null}` was documented as invalid (`type: object`)
/// but is accepted as `{}` by PUT and PATCH (it clears the config). The document now says so,
/// and the behaviour is pinned here; other non-objects stay 400.
#[tokio::test]
async fn a_null_config_clears_and_is_documented() {
    let doc = document();
    assert_eq!(
        doc["components"]["schemas"]["ConfigRequest"]["properties"]["config"]["type"],
        json!(["object", "null"])
    );
    assert_eq!(
        doc["components"]["schemas"]["ConfigRequest"]["required"],
        json!(["config"])
    );
    let h = boot().await;
    let id = h.add_project("nulled").await["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/v1/projects/{id}/config");
    for method in [Method::PUT, Method::PATCH] {
        let (status, body) = json(
            h.send_json(
                Method::PUT,
                &path,
                &json!({"config": {"sessionPrefix": "np"}}),
            )
            .send()
            .await
            .expect("req"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["project"]["sessionPrefix"], "np");
        let (status, body) = json(
            h.send_json(method.clone(), &path, &json!({"config": null}))
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_eq!(status, 200, "{method} {body}");
        assert_eq!(body["project"]["config"], json!({}), "{method}");
        assert_eq!(body["project"]["sessionPrefix"], "nulled", "{method}");
        let (status, body) = json(
            h.send_json(method.clone(), &path, &json!({"config": [1]}))
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_envelope(&body, status, "INVALID_PROJECT_CONFIG");
        assert_eq!(status, 400, "{method}");
        let (status, body) = json(
            h.send_json(method.clone(), &path, &json!({}))
                .send()
                .await
                .expect("req"),
        )
        .await;
        assert_eq!(status, 400, "{method}: config is required: {body}");
        assert_envelope(&body, status, "INVALID_JSON");
    }
    h.stop().await;
}
