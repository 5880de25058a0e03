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

async fn login_with(
    app: &crate::helpers::TestApp,
    email: &str,
    password: &str,
) -> reqwest::Response {
    app.req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_password_change_ends_every_earlier_token_at_once() {
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    let created: Value = app
        .post("/api/v1/auth/api-tokens", &admin, json!({"name": "script"}))
        .await
        .json()
        .await
        .unwrap();
    let api_token = created["token"].as_str().unwrap().to_owned();
    let change = |token: &str, current: &str, new: &str| {
        app.req(Method::POST, "/api/v1/me/password", Some(token))
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };

    // The rules of a new password, and the old password itself, are checked.
    let body = problem(change(&admin, PASSWORD, "short").await.unwrap(), 422).await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    let body = problem(change(&admin, PASSWORD, PASSWORD).await.unwrap(), 422).await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    problem(
        change(
            &admin,
            "not the password at all",
            "a brand new long password",
        )
        .await
        .unwrap(),
        401,
    )
    .await;
    assert_eq!(app.get("/api/v1/me", &admin).await.status(), 200);

    let res = change(&admin, PASSWORD, "a brand new long password")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();

    // Every token issued before is dead; the one handed back works.
    let body = problem(app.get("/api/v1/me", &admin).await, 401).await;
    assert!(body["detail"].as_str().unwrap().contains("get a new one"));
    problem(app.get("/api/v1/me", &api_token).await, 401).await;
    assert_eq!(app.get("/api/v1/me", fresh).await.status(), 200);
    problem(login_with(&app, "admin@prime.example", PASSWORD).await, 401).await;
    assert_eq!(
        login_with(&app, "admin@prime.example", "a brand new long password")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_role_change_a_reset_or_a_deactivation_ends_the_users_tokens() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    let id = app
        .seed_user(
            "c@prime.example",
            &prime,
            engagement_tracker::domain::access::Role::Coordinator,
        )
        .await;
    let patch = |body: Value| {
        app.req(Method::PATCH, &format!("/api/v1/users/{id}"), Some(&admin))
            .json(&body)
            .send()
    };

    // A new display name changes nothing about access.
    let token = app.login("c@prime.example").await;
    assert_eq!(
        patch(json!({"display_name": "C. Coordinator"}))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(app.get("/api/v1/me", &token).await.status(), 200);

    // A new role: the token issued before is dead; a new login works with the new role.
    let api_token: Value = app
        .post("/api/v1/auth/api-tokens", &token, json!({"name": "script"}))
        .await
        .json()
        .await
        .unwrap();
    let api_token = api_token["token"].as_str().unwrap().to_owned();
    assert_eq!(patch(json!({"role": "admin"})).await.unwrap().status(), 200);
    problem(app.get("/api/v1/me", &token).await, 401).await;
    problem(app.get("/api/v1/me", &api_token).await, 401).await;
    let token = app.login("c@prime.example").await;
    let me: Value = app.get("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["role"], "admin");

    // An admin's password reset.
    assert_eq!(
        patch(json!({"password": "reset by the admin 2026"}))
            .await
            .unwrap()
            .status(),
        200
    );
    problem(app.get("/api/v1/me", &token).await, 401).await;
    let token: Value = login_with(&app, "c@prime.example", "reset by the admin 2026")
        .await
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();

    // Deactivation, and reactivation does not bring the old token back.
    assert_eq!(patch(json!({"active": false})).await.unwrap().status(), 200);
    problem(app.get("/api/v1/me", &token).await, 401).await;
    assert_eq!(patch(json!({"active": true})).await.unwrap().status(), 200);
    problem(app.get("/api/v1/me", &token).await, 401).await;
}

#[tokio::test]
async fn a_lockout_answers_the_same_for_known_and_unknown_emails() {
    let app = spawn().await;
    app.bootstrap().await;
    let mut answers = Vec::new();
    for email in ["admin@prime.example", "nobody@prime.example"] {
        let mut statuses = Vec::new();
        let mut last = None;
        for _ in 0..7 {
            let res = login_with(&app, email, "a wrong password, again").await;
            statuses.push(res.status().as_u16());
            last = Some(res);
        }
        let res = last.unwrap();
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body = problem(res, 429).await;
        answers.push((statuses, body["title"].clone(), body["type"].clone()));
        // Locked means locked: the right password does not get through either.
        if email == "admin@prime.example" {
            problem(login_with(&app, email, PASSWORD).await, 429).await;
        }
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, vec![401, 401, 401, 401, 401, 429, 429]);
    // Another account from the same address is not locked by them.
    problem(login_with(&app, "third@prime.example", "wrong").await, 401).await;
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    for (trusted, expect_lock) in [("", true), ("127.0.0.1/32", false)] {
        let app = crate::helpers::spawn_with(&[("TRUSTED_PROXIES", trusted)]).await;
        let mut last = 0;
        // 21 failures, each for another email and claiming another address.
        for i in 0..21 {
            let res = app
                .req(Method::POST, "/api/v1/auth/token", None)
                .header("x-forwarded-for", format!("198.51.100.{i}"))
                .json(&json!({"email": format!("u{i}@x.example"), "password": "wrong wrong"}))
                .send()
                .await
                .unwrap();
            last = res.status().as_u16();
        }
        assert_eq!(
            last,
            if expect_lock { 429 } else { 401 },
            "TRUSTED_PROXIES={trusted}"
        );
    }
}
