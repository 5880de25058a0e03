use engagement_tracker::domain::access::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{problem, spawn, PASSWORD};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn organisation_tree_and_coordinator_scope() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    let sub = app
        .create_org(&admin, "Sub A", "subcontractor", Some(&prime))
        .await;
    let subsub = app
        .create_org(&admin, "Sub A-1", "subcontractor", Some(&sub))
        .await;
    let other = app
        .create_org(&admin, "Sub B", "subcontractor", Some(&prime))
        .await;
    let mhlw = app.create_org(&admin, "MHLW", "ministry", None).await;

    // A second prime, a subcontractor without parent, a ministry inside the tree: refused.
    for body in [
        json!({"name": "Prime 2", "kind": "prime"}),
        json!({"name": "Loose", "kind": "subcontractor"}),
        json!({"name": "Odd", "kind": "ministry", "parent_id": prime}),
        json!({"name": "Orphan", "kind": "subcontractor", "parent_id": "nope"}),
    ] {
        let b = problem(app.post("/api/v1/organizations", &admin, body).await, 422).await;
        assert_eq!(b["errors"][0]["field"], "parent_id");
    }
    let b = problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "X", "kind": "reseller"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(b["errors"][0]["field"], "kind");
    problem(
        app.post(
            "/api/v1/organizations",
            &admin,
            json!({"name": "Sub A", "kind": "subcontractor", "parent_id": prime}),
        )
        .await,
        409,
    )
    .await;

    app.seed_user("coord@a.example", &sub, Role::Coordinator)
        .await;
    let coord = app.login("coord@a.example").await;
    let list: Value = app
        .get("/api/v1/organizations", &coord)
        .await
        .json()
        .await
        .unwrap();
    let mut seen = ids(&list);
    seen.sort();
    let mut expected = vec![sub.clone(), subsub.clone()];
    expected.sort();
    assert_eq!(seen, expected, "a coordinator sees its own subtree only");
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{subsub}"), &coord)
            .await
            .status(),
        200
    );
    problem(
        app.get(&format!("/api/v1/organizations/{other}"), &coord)
            .await,
        404,
    )
    .await;
    problem(
        app.get(&format!("/api/v1/organizations/{prime}"), &coord)
            .await,
        404,
    )
    .await;

    // A coordinator may not create users or organisations.
    let res = app
        .post(
            "/api/v1/users",
            &coord,
            json!({"email": "x@a.example", "display_name": "X", "organization_id": sub,
                   "role": "coordinator", "password": PASSWORD}),
        )
        .await;
    problem(res, 403).await;
    problem(
        app.post(
            "/api/v1/organizations",
            &coord,
            json!({"name": "Mine", "kind": "subcontractor", "parent_id": sub}),
        )
        .await,
        403,
    )
    .await;

    // Users: the coordinator lists users of its subtree only.
    app.seed_user("coord@a1.example", &subsub, Role::Coordinator)
        .await;
    app.seed_user("coord@b.example", &other, Role::Coordinator)
        .await;
    let users: Value = app.get("/api/v1/users", &coord).await.json().await.unwrap();
    let mut emails: Vec<&str> = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    emails.sort();
    assert_eq!(emails, ["coord@a.example", "coord@a1.example"]);
    assert!(users["items"][0].get("password_hash").is_none());

    // A ministry viewer reads no accounts.
    app.seed_user("viewer@mhlw.example", &mhlw, Role::Viewer)
        .await;
    let viewer = app.login("viewer@mhlw.example").await;
    problem(app.get("/api/v1/organizations", &viewer).await, 403).await;
    problem(app.get("/api/v1/users", &viewer).await, 403).await;

    // Moving an organisation under its own subcontractor would make a cycle.
    let res = app
        .req(
            Method::PATCH,
            &format!("/api/v1/organizations/{sub}"),
            Some(&admin),
        )
        .json(&json!({"parent_id": subsub}))
        .send()
        .await
        .unwrap();
    problem(res, 422).await;
    // Deleting an organisation that still has members or children is refused.
    let res = app
        .req(
            Method::DELETE,
            &format!("/api/v1/organizations/{sub}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    problem(res, 409).await;
    let empty = app
        .create_org(&admin, "Empty", "subcontractor", Some(&prime))
        .await;
    let res = app
        .req(
            Method::DELETE,
            &format!("/api/v1/organizations/{empty}"),
            Some(&admin),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    problem(
        app.get(&format!("/api/v1/organizations/{empty}"), &admin)
            .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn users_are_validated_and_updates_honour_if_match() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    let pref = app.create_org(&admin, "東京都", "prefecture", None).await;

    let body = problem(
        app.post(
            "/api/v1/users",
            &admin,
            json!({"email": "not-an-email", "display_name": "", "organization_id": prime,
                   "role": "coordinator", "password": "short"}),
        )
        .await,
        422,
    )
    .await;
    let mut fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["display_name", "email", "password"]);

    let body = problem(
        app.post(
            "/api/v1/users",
            &admin,
            json!({"email": "p@pref.example", "display_name": "P", "organization_id": pref,
                   "role": "prefecture_viewer", "password": PASSWORD}),
        )
        .await,
        422,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("prefecture_code"));

    let res = app
        .post(
            "/api/v1/users",
            &admin,
            json!({"email": "P@Pref.example", "display_name": "都庁 担当", "organization_id": pref,
                   "role": "prefecture_viewer", "prefecture_code": "東京都", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["email"], "p@pref.example");
    assert_eq!(user["prefecture_code"], "13");
    assert_eq!(
        location,
        format!("/api/v1/users/{}", user["id"].as_str().unwrap())
    );

    // Same email again: conflict.
    problem(
        app.post(
            "/api/v1/users",
            &admin,
            json!({"email": "p@pref.example", "display_name": "P2", "organization_id": pref,
                   "role": "prefecture_viewer", "prefecture_code": "13", "password": PASSWORD}),
        )
        .await,
        409,
    )
    .await;

    let patch = |etag: String, name: &'static str| {
        app.req(Method::PATCH, &location, Some(&admin))
            .header("If-Match", etag)
            .json(&json!({"display_name": name}))
            .send()
    };
    let res = patch(etag.clone(), "都庁 担当者").await.unwrap();
    assert_eq!(res.status(), 200);
    let new_etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    // The old ETag is stale now: 412, and nothing changes.
    problem(patch(etag, "上書き").await.unwrap(), 412).await;
    let now: Value = app.get(&location, &admin).await.json().await.unwrap();
    assert_eq!(now["display_name"], "都庁 担当者");

    // The login works, and the role fits only its kind of organisation.
    app.login("p@pref.example").await;
    let res = app
        .req(Method::PATCH, &location, Some(&admin))
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    problem(res, 422).await;
}

#[tokio::test]
async fn the_last_admin_cannot_be_removed() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    let me: Value = app.get("/api/v1/me", &admin).await.json().await.unwrap();
    let path = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    problem(
        app.req(Method::DELETE, &path, Some(&admin))
            .send()
            .await
            .unwrap(),
        409,
    )
    .await;
    let res = app
        .req(Method::PATCH, &path, Some(&admin))
        .json(&json!({"role": "coordinator"}))
        .send()
        .await
        .unwrap();
    problem(res, 409).await;

    app.seed_user("second@prime.example", &prime, Role::Admin)
        .await;
    let res = app
        .req(Method::DELETE, &path, Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn lists_page_with_a_cursor() {
    let app = spawn().await;
    let (admin, prime) = app.bootstrap().await;
    for n in 0..4 {
        app.create_org(&admin, &format!("Sub {n}"), "subcontractor", Some(&prime))
            .await;
    }
    let first: Value = app
        .get("/api/v1/organizations?limit=2", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&first).len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/organizations?limit=2&cursor={cursor}"),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    let third: Value = app
        .get(
            &format!(
                "/api/v1/organizations?limit=2&cursor={}",
                second["next_cursor"].as_str().unwrap()
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&third).len(), 1, "5 organisations in pages of 2");
    assert!(third["next_cursor"].is_null());
    let mut all = [ids(&first), ids(&second), ids(&third)].concat();
    all.dedup();
    assert_eq!(all.len(), 5);

    let b = problem(app.get("/api/v1/organizations?limit=0", &admin).await, 422).await;
    assert_eq!(b["errors"][0]["field"], "limit");
    let b = problem(
        app.get("/api/v1/organizations?limit=abc", &admin).await,
        422,
    )
    .await;
    assert_eq!(b["errors"][0]["field"], "limit");
}
