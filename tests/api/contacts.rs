//! A hospital's contacts: PATCH is a JSON merge patch (RFC 7396), every answer carries the
//! contact's ETag, If-Match guards updates, and links die only when the email changes.

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp};

async fn patch(
    app: &TestApp,
    token: &str,
    path: &str,
    body: Value,
    if_match: Option<&str>,
) -> Response {
    let mut rb = app
        .req(Method::PATCH, path, Some(token))
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string());
    if let Some(tag) = if_match {
        rb = rb.header("if-match", tag);
    }
    rb.send().await.unwrap()
}

fn etag(res: &Response) -> String {
    res.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn link_status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_patch_changes_only_what_it_sends() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let hid = app
        .hospital(a, &institution_code("13", 8, 1), "架空連絡先病院", 120)
        .await;
    let engagement = app.engagement(a, &hid, Some(&w.sub_a)).await;

    // POST answers with the ETag, GET of the one contact too.
    let res = app
        .post(
            &format!("/api/v1/hospitals/{hid}/contacts"),
            a,
            json!({"name": "中村 三郎", "department": "医療情報部", "title": "部長",
                   "email": "nakamura@renraku.example", "phone": "03-5555-0001"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(etag(&res), "\"v1\"");
    let created: Value = res.json().await.unwrap();
    let cid = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/hospitals/{hid}/contacts/{cid}");
    let res = app.get(&path, a).await;
    assert_eq!(res.status(), 200);
    assert_eq!(etag(&res), "\"v1\"");
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "nakamura@renraku.example"
    );

    let link = crate::portal::link(&app, a, &engagement, &cid, "landing").await;
    assert_eq!(link_status(&app, &link).await, 200);

    // Only the charset: everything else stays, and so do the links.
    let res = patch(&app, a, &path, json!({"charset": "iso-2022-jp"}), None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(etag(&res), "\"v2\"");
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["charset"], "iso-2022-jp");
    assert_eq!(c["name"], "中村 三郎");
    assert_eq!(c["email"], "nakamura@renraku.example");
    assert_eq!(c["phone"], "03-5555-0001");
    assert_eq!(c["department"], "医療情報部");
    assert_eq!(c["title"], "部長");
    assert_eq!(c["version"], 2);
    assert_eq!(
        link_status(&app, &link).await,
        200,
        "links survive a charset change"
    );

    // null clears a field; the others stay.
    let res = patch(&app, a, &path, json!({"phone": null}), Some("\"v2\"")).await;
    assert_eq!(res.status(), 200);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["phone"], Value::Null);
    assert_eq!(c["email"], "nakamura@renraku.example");
    assert_eq!(c["department"], "医療情報部");
    assert_eq!(c["charset"], "iso-2022-jp");

    // A required field cannot be cleared; a blank one is no name either.
    let body = problem(
        patch(&app, a, &path, json!({"name": null}), None).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    let body = problem(
        patch(&app, a, &path, json!({"name": "  "}), None).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "name");
    let body = problem(patch(&app, a, &path, json!({"fax": "x"}), None).await, 422).await;
    assert_eq!(body["errors"][0]["field"], "fax");

    // A stale If-Match is refused and changes nothing.
    problem(
        patch(&app, a, &path, json!({"title": "課長"}), Some("\"v1\"")).await,
        412,
    )
    .await;
    let res = app.get(&path, a).await;
    assert_eq!(etag(&res), "\"v3\"");
    assert_eq!(res.json::<Value>().await.unwrap()["title"], "部長");

    // An empty patch changes nothing, not even the version.
    let res = patch(&app, a, &path, json!({}), Some("\"v3\"")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(etag(&res), "\"v3\"");

    // The same address written differently is no change of email: the links stay.
    let res = patch(
        &app,
        a,
        &path,
        json!({"email": " Nakamura@RENRAKU.example "}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(link_status(&app, &link).await, 200);

    // A new address: the links sent to the old one stop working.
    let res = patch(
        &app,
        a,
        &path,
        json!({"email": "nakamura2@renraku.example"}),
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "nakamura2@renraku.example"
    );
    assert_eq!(link_status(&app, &link).await, 410);

    // A plain JSON body is a merge patch too.
    let res = app
        .req(Method::PATCH, &path, Some(a))
        .json(&json!({"department": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let c: Value = res.json().await.unwrap();
    assert_eq!(c["department"], Value::Null);
    assert_eq!(c["title"], "部長");

    // Another hospital's contact is not found through this one.
    let other = app
        .hospital(a, &institution_code("13", 8, 2), "架空別病院", 50)
        .await;
    problem(
        patch(
            &app,
            a,
            &format!("/api/v1/hospitals/{other}/contacts/{cid}"),
            json!({"title": "x"}),
            None,
        )
        .await,
        404,
    )
    .await;
    problem(
        app.get(&format!("/api/v1/hospitals/{other}/contacts/{cid}"), a)
            .await,
        404,
    )
    .await;
}
