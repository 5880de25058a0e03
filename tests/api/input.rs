//! Input the database, the mailer or a mail header cannot take is refused where it enters: a 4xx
//! naming the field, never a 500, never stored.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp, World};

/// The field named by a 422 problem.
async fn field_of(res: reqwest::Response) -> String {
    let body = problem(res, 422).await;
    body["errors"][0]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("a named field in {body}"))
        .to_owned()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.req(Method::PATCH, path, Some(token))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn hospital(app: &TestApp, w: &World, n: u32) -> String {
    let code = institution_code("13", 20, n);
    let res = app
        .post(
            "/api/v1/hospitals",
            &w.admin,
            json!({"prefecture": "13", "institution_code": code, "name": "架空入力病院"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let h: Value = res.json().await.unwrap();
    h["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn control_characters_are_refused_in_what_can_reach_a_mail_header() {
    let app = spawn().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let a = &w.admin;
    let hid = hospital(&app, &w, 1).await;
    let contacts = format!("/api/v1/hospitals/{hid}/contacts");

    // One-line fields: any control character, line breaks and tabs included.
    for (body, field) in [
        (
            json!({"name": "山田\n太郎", "email": "y@h.example"}),
            "name",
        ),
        (json!({"name": "山田\r太郎"}), "name"),
        (
            json!({"name": "山田 太郎", "department": "総務課\t"}),
            "department",
        ),
        (json!({"name": "山田 太郎", "title": "課長\u{85}"}), "title"),
        (
            json!({"name": "山田 太郎", "phone": "03\u{2028}1234"}),
            "phone",
        ),
    ] {
        assert_eq!(field_of(app.post(&contacts, a, body).await).await, field);
    }
    let code = institution_code("13", 20, 2);
    for (body, field) in [
        (
            json!({"prefecture": "13", "institution_code": code, "name": "架空\n病院"}),
            "name",
        ),
        (
            json!({"prefecture": "13", "institution_code": code, "name": "架空病院", "address": "東京都\r\n千代田区"}),
            "address",
        ),
        (
            json!({"prefecture": "13", "institution_code": code, "name": "架空病院", "system_vendor": {"contact": "佐藤\n一郎"}}),
            "system_vendor.contact",
        ),
    ] {
        assert_eq!(
            field_of(app.post("/api/v1/hospitals", a, body).await).await,
            field
        );
    }
    let res = app
        .post(
            "/api/v1/organizations",
            a,
            json!({"name": "架空\u{2029}株式会社", "kind": "subcontractor", "parent_id": w.prime}),
        )
        .await;
    assert_eq!(field_of(res).await, "name");
    let org = format!("/api/v1/organizations/{}", w.sub_a);
    assert_eq!(
        field_of(patch(&app, &org, a, json!({"name": "Sub\nA"})).await).await,
        "name"
    );
    // A signature keeps its line breaks, and nothing else.
    let res = patch(
        &app,
        &org,
        a,
        json!({"mail_signature": "架空株式会社\r\n医療DX推進部"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        field_of(patch(&app, &org, a, json!({"mail_signature": "架空\t株式会社"})).await).await,
        "mail_signature"
    );
    let me: Value = app
        .get("/api/v1/me", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let user = format!("/api/v1/users/{}", me["id"].as_str().unwrap());
    assert_eq!(
        field_of(patch(&app, &user, a, json!({"display_name": "佐藤\r\n一郎"})).await).await,
        "display_name"
    );

    // Hearing attendees and free-text reasons.
    let e = app.engagement(a, &hid, Some(&w.sub_a)).await;
    let c = &w.coord_a;
    app.step_ok(c, &e, "consent", json!({})).await;
    let slots = json!({"slots": [{"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:00:00Z", "format": "onsite", "place": "3階\n会議室"}]});
    assert_eq!(
        field_of(app.step(c, &e, "hearing-slots", slots).await).await,
        "slots[0].place"
    );
    let slots = json!({"slots": [{"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:00:00Z", "format": "onsite", "place": "3階会議室"}]});
    assert_eq!(app.step(c, &e, "hearing-slots", slots).await.status(), 200);
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let slot = h["slots"][0]["id"].as_str().unwrap().to_owned();
    let vendor = json!({"attendees": [{"kind": "system_vendor", "name": "架空システム\r\n佐藤", "email": "sato@vendor.example"}]});
    assert_eq!(
        field_of(
            app.step(c, &e, &format!("hearing-slots/{slot}/book"), vendor)
                .await
        )
        .await,
        "attendees[0].name"
    );
    assert_eq!(
        app.step(c, &e, &format!("hearing-slots/{slot}/book"), json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        field_of(
            app.step(
                c,
                &e,
                "hearing/cancel",
                json!({"reason": "都合\u{1b}により"})
            )
            .await
        )
        .await,
        "reason"
    );
    // A reason over several lines is fine.
    let res = app
        .step(
            c,
            &e,
            "hearing/cancel",
            json!({"reason": "院内の都合により\r\n改めてご連絡します"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        h["hearings"][0]["cancel_reason"], "院内の都合により\n改めてご連絡します",
        "CR LF is stored as LF"
    );
}

#[tokio::test]
async fn nul_is_refused_at_the_edge_everywhere() {
    let app = spawn().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    // Unauthenticated: the login body.
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": "a\u{0}@b.example", "password": "whatever it is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(res).await, "email");
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": "a@b.example", "password": "x\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(res).await, "password");

    let w = app.world().await;
    let a = &w.admin;
    // Deep inside a body, named by its path.
    let hid = hospital(&app, &w, 3).await;
    let e = app.engagement(a, &hid, Some(&w.sub_a)).await;
    app.step_ok(a, &e, "consent", json!({})).await;
    let res = app
        .step(a, &e, "hearing-slots", json!({"slots": [{"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:00:00Z", "format": "online", "meeting_url": "https://x\u{0}"}]}))
        .await;
    assert_eq!(field_of(res).await, "slots[0].meeting_url");

    // Query parameters (decoded as the extractors decode them) and paths.
    let res = app.get("/api/v1/engagements?q=%00", a).await;
    assert_eq!(field_of(res).await, "q");
    let res = app
        .get("/api/v1/hospitals?prefecture=13&cursor=a%00", a)
        .await;
    assert_eq!(field_of(res).await, "cursor");
    problem(app.get("/api/v1/engagements/x%00y", a).await, 404).await;

    // A multipart text field.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.csv"),
        )
        .text("round", "FY2025\u{0}");
    let res = app
        .req(Method::POST, "/api/v1/imports", Some(a))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(field_of(res).await, "round");

    // A form of the hospital's pages: the page again, 422, naming the field in Japanese.
    let e2 = {
        // A fresh engagement still asking for participation.
        let hid2 = hospital(&app, &w, 4).await;
        let c2: Value = app
            .post(
                &format!("/api/v1/hospitals/{hid2}/contacts"),
                a,
                json!({"name": "鈴木 花子", "email": "suzuki@input.example"}),
            )
            .await
            .json()
            .await
            .unwrap();
        let e2 = app.engagement(a, &hid2, Some(&w.sub_a)).await;
        (e2, c2["id"].as_str().unwrap().to_owned())
    };
    let path = crate::portal::link(&app, a, &e2.0, &e2.1, "participation").await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = client
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::portal::csrf_of(&html);
    let res = client
        .post(app.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("action", "decline"),
            ("reason", "予算\u{0}の都合"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains("理由に使用できない文字"), "{page}");
    let d: Value = app
        .get(&format!("/api/v1/engagements/{}", e2.0), a)
        .await
        .json()
        .await
        .unwrap();
    assert!(d["side_state"].is_null(), "nothing recorded: {d}");
}

#[tokio::test]
async fn addresses_the_mailer_cannot_use_are_refused() {
    let app = spawn().await;
    let w = app.world().await;
    let hid = hospital(&app, &w, 5).await;
    for bad in [
        "a,b@c.example",
        "a@b.example>",
        "a(x)@b.example",
        "\"a b\"@c.example",
    ] {
        let res = app
            .post(
                &format!("/api/v1/hospitals/{hid}/contacts"),
                &w.admin,
                json!({"name": "山田 太郎", "email": bad}),
            )
            .await;
        assert_eq!(field_of(res).await, "email", "{bad}");
        let res = patch(
            &app,
            &format!("/api/v1/organizations/{}", w.sub_a),
            &w.admin,
            json!({"reply_to": bad}),
        )
        .await;
        assert_eq!(field_of(res).await, "reply_to", "{bad}");
    }
}

/// Sends `body` with chunked transfer encoding (no Content-Length), as a streaming client does.
async fn post_chunked(app: &TestApp, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        // The server may answer and close before the whole body is sent.
        if s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || s.write_all(chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn json_bodies_over_the_limit_answer_413() {
    let app = spawn().await;
    let big = json!({"email": "a".repeat(2 * 1024 * 1024), "password": "x"}).to_string();
    // With a Content-Length, unauthenticated.
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let body = problem(res, 413).await;
    assert_eq!(body["type"], "/problems/payload-too-large");
    // Streamed, without one.
    let (status, text) = post_chunked(&app, "/api/v1/auth/token", big.as_bytes()).await;
    assert_eq!(status, 413, "{}", &text[..text.len().min(400)]);
    assert!(text.contains("application/problem+json"));
    // And the server is fine afterwards.
    let w = app.world().await;
    assert_eq!(app.get("/api/v1/me", &w.admin).await.status(), 200);
}

#[tokio::test]
async fn issuing_and_revoking_links_agree_on_a_foreign_contact() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let ours = hospital(&app, &w, 6).await;
    let theirs = hospital(&app, &w, 7).await;
    let mut contact_of = Vec::new();
    for hid in [&ours, &theirs] {
        let c: Value = app
            .post(
                &format!("/api/v1/hospitals/{hid}/contacts"),
                a,
                json!({"name": "山田 太郎", "email": "yamada@links.example"}),
            )
            .await
            .json()
            .await
            .unwrap();
        contact_of.push(c["id"].as_str().unwrap().to_owned());
    }
    let e = app.engagement(a, &ours, Some(&w.sub_a)).await;
    // The other hospital's engagement in this round, too: its contact is still not ours.
    app.engagement(a, &theirs, Some(&w.sub_a)).await;
    for foreign in [contact_of[1].as_str(), "no-such-contact"] {
        let issued = app
            .post(
                &format!("/api/v1/engagements/{e}/links"),
                &w.coord_a,
                json!({"contact_id": foreign, "purpose": "landing"}),
            )
            .await;
        let revoked = app
            .post(
                &format!("/api/v1/engagements/{e}/links/revoke"),
                &w.coord_a,
                json!({"contact_id": foreign}),
            )
            .await;
        let issued = problem(issued, 422).await;
        let revoked = problem(revoked, 422).await;
        assert_eq!(issued["type"], revoked["type"]);
        assert_eq!(issued["errors"], revoked["errors"]);
        assert_eq!(issued["errors"][0]["field"], "contact_id");
    }
    // The hospital's own contact works for both.
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/links"),
            &w.coord_a,
            json!({"contact_id": contact_of[0], "purpose": "landing"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/links/revoke"),
            &w.coord_a,
            json!({"contact_id": contact_of[0]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let n: Value = res.json().await.unwrap();
    assert_eq!(n["revoked"], 1);
}

#[tokio::test]
async fn imported_cells_arrive_as_clean_single_lines() {
    let app = spawn().await;
    let w = app.world().await;
    let code = institution_code("13", 21, 1);
    let header = "順位,都道府県,医療機関コード,病院名,所在地,病床数,電子カルテ導入状況,担当者1氏名,担当者1所属,担当者1電話,担当者1メール";
    let row = format!(
        "1,東京都,{code},\"架空\u{0}市立\r\n病院\",東京都新宿区,120,導入済,\"山田\n太郎\",総務課\u{1b},03-1234-5678,yamada@import.example"
    );
    let csv = format!("{header}\r\n{row}\r\n");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.into_bytes()).file_name("list.csv"),
        )
        .text("round", "FY2025");
    let res = app
        .req(Method::POST, "/api/v1/imports", Some(&w.admin))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let list: Value = app
        .get("/api/v1/hospitals?prefecture=13", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let h = &list["items"][0];
    assert_eq!(h["name"], "架空 市立 病院");
    assert_eq!(h["contacts"][0]["name"], "山田 太郎");
    assert_eq!(h["contacts"][0]["department"], "総務課");
}
