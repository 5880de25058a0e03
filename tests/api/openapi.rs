use reqwest::Method;
use serde_json::Value;

use crate::helpers::spawn;

#[tokio::test]
async fn served_spec_matches_the_committed_file() {
    let app = spawn().await;
    let served: Value = app
        .req(Method::GET, "/api-docs/openapi.json", None)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .expect("openapi/openapi.json is committed"),
    )
    .unwrap();
    assert!(
        served == committed,
        "openapi/openapi.json is stale: run `cargo run -- openapi -o openapi/openapi.json`"
    );
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        served["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for path in [
        "/api/v1/auth/token",
        "/api/v1/users/{id}",
        "/api/v1/organizations",
        "/readyz",
    ] {
        assert!(served["paths"].get(path).is_some(), "{path} documented");
    }
}

#[tokio::test]
async fn swagger_ui_is_served_without_external_assets() {
    let app = spawn().await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirect.get(app.url("/docs")).send().await.unwrap();
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/docs/");

    let html = app
        .req(Method::GET, "/docs/", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no CDN: assets are vendored");
    let res = app
        .req(Method::GET, "/docs/swagger-ui-bundle.js", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.unwrap().len() > 100_000);
}

/// What a generated client needs from the document: typed bodies it can send, one schema per
/// name, and a problem document for every error answer.
#[tokio::test]
async fn bodies_are_typed_for_generated_clients() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap(),
    )
    .unwrap();
    let schemas = &doc["components"]["schemas"];
    let resolve = |v: &Value| -> Value {
        match v["$ref"].as_str() {
            Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
            None => v.clone(),
        }
    };
    let body = |path: &str, method: &str, ct: &str| {
        resolve(&doc["paths"][path][method]["requestBody"]["content"][ct]["schema"])
    };

    // Multipart bodies are objects with binary files, not strings.
    let import = body("/api/v1/imports", "post", "multipart/form-data");
    assert_eq!(import["properties"]["file"]["format"], "binary", "{import}");
    assert_eq!(import["properties"]["round"]["type"], "string");
    let upload = body(
        "/api/v1/engagements/{id}/documents",
        "post",
        "multipart/form-data",
    );
    assert_eq!(upload["properties"]["file"]["items"]["format"], "binary");
    let csv = body("/api/v1/rounds/{round}/slots/import", "post", "text/csv");
    assert_eq!(csv["format"], "binary");

    // Support slots and hearing slots, document and link purposes: each its own schema.
    let slots = body("/api/v1/rounds/{round}/slots", "put", "application/json");
    assert_eq!(resolve(&slots["items"]), schemas["SupportSlotIn"]);
    assert!(schemas["SupportSlotIn"]["properties"]["tier"].is_object());
    assert!(schemas["HearingSlotIn"]["properties"]["starts_at"].is_object());
    assert!(schemas["DocumentPurpose"]["enum"]
        .as_array()
        .unwrap()
        .contains(&Value::from("memorandum_signed")));
    assert!(schemas["LinkPurpose"]["enum"]
        .as_array()
        .unwrap()
        .contains(&Value::from("participation")));
    assert!(schemas.get("Purpose").is_none() && schemas.get("SlotIn").is_none());

    // Answers: one schema per kind of answer.
    let answers = &schemas["AnswersIn"]["properties"]["answers"]["additionalProperties"];
    let kinds = resolve(answers)["oneOf"].as_array().unwrap().len();
    assert_eq!(kinds, 7, "{answers}");

    // Downloads list their media types.
    let download = &doc["paths"]["/api/v1/engagements/{id}/documents/{doc_id}/content"]["get"]
        ["responses"]["200"]["content"];
    assert!(download.get("application/pdf").is_some() && download.get("image/png").is_some());

    // Every operation behind a token documents 401; every error answer is a problem document.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if op.get("security").is_some() {
                assert!(responses.contains_key("401"), "{method} {path}: 401");
            }
            for (status, answer) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        answer["content"].get("application/problem+json").is_some(),
                        "{method} {path}: {status} is not a problem document"
                    );
                }
            }
        }
    }
}
