//! The OpenAPI document (http-api.md §10): checked-in file = generated document, and the
//! router's (method, path) set = the document's.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use super::harness::{boot, json};
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
