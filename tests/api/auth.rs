use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn, PASSWORD};

#[tokio::test]
async fn no_or_forged_token_is_401_problem_json() {
    let app = spawn().await;
    let res = app
        .req(Method::GET, "/api/v1/users", None)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    problem(res, 401).await;

    let (admin, _) = app.bootstrap().await;
    let mut forged = admin.clone();
    forged.insert(forged.len() - 3, 'x');
    problem(app.get("/api/v1/users", &forged).await, 401).await;
    problem(app.get("/api/v1/users", "et_not-a-real-token").await, 401).await;
    assert_eq!(app.get("/api/v1/users", &admin).await.status(), 200);
}

#[tokio::test]
async fn token_endpoint_names_bad_fields() {
    let app = spawn().await;
    let post = |body: &'static str| {
        app.req(Method::POST, "/api/v1/auth/token", None)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let body = problem(post(r#"{"email": 5}"#).await.unwrap(), 422).await;
    assert_eq!(body["errors"][0]["field"], "email");

    let body = problem(post(r#"{"email": "a@b.jp"}"#).await.unwrap(), 422).await;
    assert_eq!(body["errors"][0]["field"], "password");

    let body = problem(
        post(r#"{"email": "a@b.jp", "password": "x", "admin": true}"#)
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "admin");

    problem(post(r#"{"email": "#).await.unwrap(), 400).await;
    problem(post("").await.unwrap(), 400).await;
}

#[tokio::test]
async fn wrong_password_and_inactive_user_get_401() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": "admin@prime.example", "password": "wrong wrong wrong"}))
        .send()
        .await
        .unwrap();
    problem(res, 401).await;

    // Emails are matched without regard to case.
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": "ADMIN@prime.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);

    let id = app
        .seed_user(
            "c@prime.example",
            &prime,
            engagement_tracker::domain::access::Role::Coordinator,
        )
        .await;
    let coordinator = app.login("c@prime.example").await;
    let res = app
        .req(Method::DELETE, &format!("/api/v1/users/{id}"), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(app.get("/api/v1/me", &coordinator).await, 401).await;
}

#[tokio::test]
async fn api_tokens_are_shown_once_work_and_can_be_revoked() {
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    let res = app
        .post(
            "/api/v1/auth/api-tokens",
            &admin,
            json!({"name": "nightly export", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("et_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let me: Value = app.get("/api/v1/me", &secret).await.json().await.unwrap();
    assert_eq!(me["email"], "admin@prime.example");

    let list: Value = app
        .get("/api/v1/auth/api-tokens", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(list[0].get("token").is_none(), "the secret is never listed");
    assert!(!list[0]["last_used_at"].is_null(), "use is recorded");

    let id = created["id"].as_str().unwrap();
    let path = format!("/api/v1/auth/api-tokens/{id}");
    let res = app
        .req(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(app.get("/api/v1/me", &secret).await, 401).await;
    let res = app
        .req(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    problem(res, 404).await;

    let body = problem(
        app.post(
            "/api/v1/auth/api-tokens",
            &admin,
            json!({"name": " ", "expires_in_days": 0}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
}
