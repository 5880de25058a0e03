use reqwest::Method;

use crate::helpers::{problem, spawn};

#[tokio::test]
async fn health_and_readiness_answer_and_carry_a_request_id() {
    let app = spawn().await;
    let res = app.req(Method::GET, "/healthz", None).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID is generated");

    let res = app
        .req(Method::GET, "/readyz", None)
        .header("X-Request-Id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_routes_are_problem_json() {
    let app = spawn().await;
    let res = app.req(Method::GET, "/nowhere", None).send().await.unwrap();
    problem(res, 404).await;
}

#[tokio::test]
async fn metrics_show_the_requests_just_made() {
    let app = spawn().await;
    for _ in 0..3 {
        app.req(Method::GET, "/healthz", None).send().await.unwrap();
    }
    app.req(Method::GET, "/api/v1/users", None)
        .send()
        .await
        .unwrap();
    let text = app
        .req(Method::GET, "/metrics", None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/api/v1/users",status="401"} 1"#)
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("db_pool_connections_in_use"));
}
