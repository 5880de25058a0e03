//! The hospital's pages behind emailed links, through HTTP as a browser would use them.

use chrono::Duration;
use diesel::prelude::*;
use engagement_tracker::auth::links;
use engagement_tracker::db::schema::link_tokens;
use engagement_tracker::db::DbError;
use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::helpers::{institution_code, TestApp, World, PDF, PNG};

pub const SECRET: &str = "test-secret-test-secret-test-secret!";

/// A client that does not follow redirects and keeps no cookies: like a phone's browser,
/// without the convenience.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub async fn setup(app: &TestApp, w: &World, n: u32) -> (String, String) {
    let code = institution_code("13", 12, n);
    let h: Value = app
        .post(
            "/api/v1/hospitals",
            &w.admin,
            json!({"prefecture": "13", "institution_code": code, "name": "架空ポータル病院"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hid = h["id"].as_str().unwrap().to_owned();
    let c: Value = app
        .post(
            &format!("/api/v1/hospitals/{hid}/contacts"),
            &w.admin,
            json!({"name": "山田 太郎", "email": "yamada@portal.example"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let e = app.engagement(&w.admin, &hid, Some(&w.sub_a)).await;
    (e, c["id"].as_str().unwrap().to_owned())
}

pub async fn link(app: &TestApp, token: &str, e: &str, contact: &str, purpose: &str) -> String {
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/links"),
            token,
            json!({"contact_id": contact, "purpose": purpose}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let url = body["url"].as_str().unwrap();
    // The path part; the test talks to the app's own address.
    url.split_once("/p/")
        .map(|(_, p)| format!("/p/{p}"))
        .unwrap()
}

/// Moves a link's expiry into the past, as if its days had gone by.
async fn expire(app: &TestApp, path: &str) {
    let hash = links::hash(path.rsplit('/').next().unwrap());
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        db.run_write_blocking::<_, DbError, _>(|conn| {
            let past = chrono::Utc::now().naive_utc() - Duration::days(1);
            let n = diesel::update(link_tokens::table.find(&hash))
                .set(link_tokens::expires_at.eq(past))
                .execute(conn)?;
            assert_eq!(n, 1);
            Ok(())
        })
    })
    .await
    .unwrap()
    .unwrap();
}

pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

async fn page(app: &TestApp, path: &str) -> (u16, String) {
    let res = browser()
        .get(app.url(path))
        .header("user-agent", "TestPhone/1.0")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.text().await.unwrap())
}

pub async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let res = browser()
        .post(app.url(path))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, res.text().await.unwrap(), location)
}

async fn detail(app: &TestApp, w: &World, e: &str) -> Value {
    app.get(&format!("/api/v1/engagements/{e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_link_walks_the_hospital_through_every_step() {
    let app = crate::helpers::spawn().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let (e, contact) = setup(&app, &w, 1).await;
    confirm_participation(&app, &w, &e, &contact).await;
    let diagram_link = sign_the_memorandum(&app, &w, &e, &contact).await;
    send_the_diagram(&app, &diagram_link).await;
    answer_the_questionnaire(&app, &w, &e, &contact).await;
    pick_move_and_cancel_the_hearing(&app, &w, &e, &contact).await;
    check_the_timeline(&app, &w, &e).await;
}

/// The contact confirms participation on the page (with CSRF and safe headers).
async fn confirm_participation(app: &TestApp, w: &World, e: &str, contact: &str) {
    let c = &w.coord_a;
    // Participation: the page, then the confirmation.
    let p = link(app, c, e, contact, "participation").await;
    let (status, html) = page(app, &p).await;
    assert_eq!(status, 200);
    assert!(html.contains("架空ポータル病院") && html.contains("参加します"));
    let res = browser().get(app.url(&p)).send().await.unwrap();
    for (h, v) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(res.headers()[h], v);
    }
    assert!(res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    // Without the CSRF value the form is refused.
    let (status, html, _) = post_form(app, &p, &[("action", "confirm")]).await;
    assert_eq!(status, 403);
    assert!(html.contains("送信内容を確認できませんでした"));
    let (status, _, location) = post_form(
        app,
        &p,
        &[
            ("action", "confirm"),
            ("csrf", &csrf_of(&html_of(app, &p).await)),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let (_, done) = page(app, &location.unwrap()).await;
    assert!(done.contains("ご参加を承りました"));
    assert_eq!(detail(app, w, e).await["stage"], "consented");
}

/// The memorandum: read, download, upload the signed copy (the diagram waits for it).
/// Answers the diagram link opened before the memorandum.
async fn sign_the_memorandum(app: &TestApp, w: &World, e: &str, contact: &str) -> String {
    let c = &w.coord_a;
    // Before the memorandum the diagram page says so and offers no form.
    let d = link(app, c, e, contact, "diagram").await;
    let (_, html) = page(app, &d).await;
    assert!(html.contains("覚書の締結後") && !html.contains("type=\"file\""));

    // The memorandum: read, download, upload the signed copy.
    let m = link(app, c, e, contact, "memorandum").await;
    app.req(
        reqwest::Method::PUT,
        &format!("/api/v1/engagements/{e}/memorandum"),
        Some(c),
    )
    .json(&json!({"status": "sent"}))
    .send()
    .await
    .unwrap();
    let html = html_of(app, &m).await;
    let token = m.trim_start_matches("/p/memorandum/");
    let (status, text) = page(app, &format!("/p/memorandum/{token}/document")).await;
    assert_eq!(status, 200);
    assert!(text.contains("秘密保持に関する覚書") && text.contains("架空ポータル病院"));
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&html))
        .part(
            "file",
            reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("覚書_署名済.pdf"),
        );
    let res = browser()
        .post(app.url(&m))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        detail(app, w, e).await["memorandum"]["status"],
        "signed_by_hospital"
    );
    app.req(
        reqwest::Method::PUT,
        &format!("/api/v1/engagements/{e}/memorandum"),
        Some(c),
    )
    .json(&json!({"status": "executed"}))
    .send()
    .await
    .unwrap();
    d
}

/// The diagram: a renamed executable is refused, two real files are taken.
async fn send_the_diagram(app: &TestApp, d: &str) {
    // The diagram: a renamed executable is refused on the page, two real files are taken.
    let html = html_of(app, d).await;
    // Files are stored as they arrive: a wrong CSRF value before the first one stops the form
    // before a byte is stored.
    let before = crate::uploads::stored_objects(app);
    let form = reqwest::multipart::Form::new().text("csrf", "forged").part(
        "file",
        reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("構成図.pdf"),
    );
    let res = browser()
        .post(app.url(d))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(crate::uploads::stored_objects(app), before);
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&html))
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"MZ\x90\x00 not a diagram".to_vec())
                .file_name("構成図.pdf"),
        );
    let res = browser()
        .post(app.url(d))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("受け付けられませんでした"));
    assert_eq!(
        crate::uploads::stored_objects(app),
        before,
        "a refused file does not stay in storage"
    );
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&html))
        .part(
            "file",
            reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("構成図1.png"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("構成図2.pdf"),
        );
    let res = browser()
        .post(app.url(d))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let html = html_of(app, d).await;
    assert!(
        html.contains("構成図1.png") && html.contains("構成図2.pdf"),
        "what was received is listed back"
    );
}

/// The questionnaire: a draft, a refused submission, then a full one.
async fn answer_the_questionnaire(app: &TestApp, w: &World, e: &str, contact: &str) {
    let c = &w.coord_a;
    // The questionnaire: a draft, a refused submission, then a full one.
    let q = link(app, c, e, contact, "questionnaire").await;
    let html = html_of(app, &q).await;
    let csrf = csrf_of(&html);
    let (status, _, _) = post_form(
        app,
        &q,
        &[
            ("csrf", &csrf),
            ("action", "save"),
            ("q.1.1.value", "yes"),
            ("q.1.1.checked_on", "2026-11-01"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let html = html_of(app, &q).await;
    assert!(html.contains("value=\"2026-11-01\""), "the draft is kept");
    let (status, html, _) = post_form(
        app,
        &q,
        &[
            ("csrf", &csrf),
            ("action", "submit"),
            ("q.1.1.value", "no"),
            ("q.1.1.checked_on", "2026-11-01"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("必須の質問です") && html.contains("対応目標日"),
        "messages in Japanese next to the fields"
    );
    let templates: Value = app
        .get("/api/v1/questionnaire-templates", c)
        .await
        .json()
        .await
        .unwrap();
    let fields = full_form(&templates[0]["template"]);
    let mut form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    form.push(("csrf", &csrf));
    form.push(("action", "submit"));
    let (status, body, _) = post_form(app, &q, &form).await;
    assert_eq!(status, 303, "{}", &body[..body.len().min(3000)]);
    assert_eq!(detail(app, w, e).await["questionnaire_status"], "submitted");
    app.step_ok(c, e, "questionnaire/review", json!({"decision": "accept"}))
        .await;
    assert_eq!(detail(app, w, e).await["stage"], "intake");
}

/// The hearing: pick a slot, move it, cancel it; old links tell the truth.
async fn pick_move_and_cancel_the_hearing(app: &TestApp, w: &World, e: &str, contact: &str) {
    let c = &w.coord_a;
    // The hearing: pick a slot; a second pick of a taken slot is refused on the page.
    app.step_ok(c, e, "hearing-slots", json!({"slots": [
        {"starts_at": "2030-12-01T01:00:00Z", "ends_at": "2030-12-01T02:00:00Z", "format": "online", "meeting_url": "https://meet.example/a"},
        {"starts_at": "2030-12-02T01:00:00Z", "ends_at": "2030-12-02T02:00:00Z", "format": "onsite", "place": "3階会議室"}
    ]})).await;
    let hearing = link(app, c, e, contact, "hearing").await;
    let old_link = hearing.clone();
    let html = html_of(app, &hearing).await;
    let slots: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let (s1, s2) = (
        slots["slots"][0]["id"].as_str().unwrap().to_owned(),
        slots["slots"][1]["id"].as_str().unwrap().to_owned(),
    );
    assert!(html.contains("2030年12月1日（日）10:00〜11:00（60分）"));
    let (status, _, _) = post_form(
        app,
        &hearing,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "book"),
            ("slot_id", &s1),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(detail(app, w, e).await["hearing_scheduled_at"]
        .as_str()
        .unwrap()
        .starts_with("2030-12-01"));
    let (status, html, _) = post_form(
        app,
        &hearing,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "book"),
            ("slot_id", &s2),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        html.contains("確定しています"),
        "the page shows the hearing as it stands"
    );

    // Reschedule, then cancel; the old link tells the truth and offers what is still possible.
    let (status, _, _) = post_form(
        app,
        &hearing,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "reschedule"),
            ("slot_id", &s2),
            ("reason", "院内行事のため"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let html = html_of(app, &old_link).await;
    assert!(html.contains("日程が変更されています") && html.contains("2030年12月2日"));
    let (status, _, _) = post_form(
        app,
        &hearing,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "cancel"),
            ("reason", "都合がつかなくなったため"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let html = html_of(app, &old_link).await;
    assert!(html.contains("取り消されました"));
    assert!(
        !html.contains("value=\"reschedule\"") && !html.contains("value=\"cancel\""),
        "no way to act on a cancelled hearing"
    );
    assert!(
        !html.contains(&s2),
        "the cancelled slot is not offered again"
    );
    assert!(html.contains("value=\"other_dates\""), "never a dead end");
}

/// Every view and action is in the timeline as the contact, with IP and user agent.
async fn check_the_timeline(app: &TestApp, w: &World, e: &str) {
    let c = &w.coord_a;
    // Every view and action is in the timeline as the contact, with IP and user agent.
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), c)
        .await
        .json()
        .await
        .unwrap();
    let by_contact: Vec<&Value> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["actor_kind"] == "contact")
        .collect();
    let kinds: Vec<&str> = by_contact
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    for k in [
        "link_viewed",
        "consent_recorded",
        "document_uploaded",
        "diagram_uploaded",
        "questionnaire_saved",
        "questionnaire_submitted",
        "hearing_booked",
        "hearing_rescheduled",
        "hearing_cancelled",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let viewed = by_contact
        .iter()
        .find(|t| t["kind"] == "link_viewed")
        .unwrap();
    assert_eq!(viewed["payload"]["user_agent"], "TestPhone/1.0");
    assert!(viewed["payload"]["ip"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1"));
    assert!(by_contact[0]["actor"]
        .as_str()
        .unwrap()
        .contains("山田 太郎"));
}

pub async fn html_of(app: &TestApp, path: &str) -> String {
    page(app, path).await.1
}

/// Form fields answering every required question of a template.
fn full_form(template: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for section in template["sections"].as_array().unwrap() {
        for q in section["questions"].as_array().unwrap() {
            if q["required"] != true {
                continue;
            }
            let id = q["id"].as_str().unwrap();
            let kind = &q["kind"];
            match kind["type"].as_str().unwrap() {
                "yes_no" => {
                    out.push((format!("q.{id}.value"), "yes".into()));
                    out.push((format!("q.{id}.checked_on"), "2026-11-01".into()));
                }
                "single_choice" | "multiple_choice" => out.push((
                    format!("q.{id}"),
                    kind["options"][0]["value"].as_str().unwrap().into(),
                )),
                "text" => out.push((format!("q.{id}"), "情報システム課".into())),
                "number" => out.push((format!("q.{id}"), "2".into())),
                "date" => out.push((format!("q.{id}"), "2026-10-01".into())),
                "rows" => {
                    let col = kind["columns"][1]["id"].as_str().unwrap();
                    out.push((format!("q.{id}.0.{col}"), "記入例".into()));
                }
                _ => {}
            }
        }
    }
    out
}

#[tokio::test]
async fn bad_links_get_a_friendly_page_and_never_data() {
    let app = crate::helpers::spawn().await;
    let w = app.world().await;
    let (e, contact) = setup(&app, &w, 2).await;
    let p = link(&app, &w.coord_a, &e, &contact, "participation").await;
    let token = p.trim_start_matches("/p/participation/").to_owned();

    // The same token for another purpose.
    let (status, html) = page(&app, &format!("/p/diagram/{token}")).await;
    assert_eq!(status, 403);
    assert!(html.contains("このページは開けません") && !html.contains("架空ポータル病院"));

    // One character changed.
    let mut forged = token.clone();
    let i = forged.len() - 4;
    let c = if &forged[i..=i] == "A" { "B" } else { "A" };
    forged.replace_range(i..=i, c);
    let (status, html) = page(&app, &format!("/p/participation/{forged}")).await;
    assert_eq!(status, 404);
    assert!(html.contains("リンクを確認できませんでした") && !html.contains("架空ポータル病院"));

    // Expired.
    let old = link(&app, &w.coord_a, &e, &contact, "participation").await;
    expire(&app, &old).await;
    let (status, html) = page(&app, &old).await;
    assert_eq!(status, 410);
    assert!(html.contains("有効期限が切れています"));

    // Revoked, and a contact whose email changes loses its links.
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/links/revoke"),
            &w.coord_a,
            json!({"contact_id": contact}),
        )
        .await;
    // The participation link and the expired one.
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 2);
    let (status, html) = page(&app, &p).await;
    assert_eq!(status, 410);
    assert!(html.contains("現在ご利用いただけません"));
    let fresh = link(&app, &w.coord_a, &e, &contact, "landing").await;
    assert_eq!(page(&app, &fresh).await.0, 200);
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let hid = h["hospital"]["id"].as_str().unwrap();
    app.req(
        reqwest::Method::PATCH,
        &format!("/api/v1/hospitals/{hid}/contacts/{contact}"),
        Some(&w.admin),
    )
    .json(&json!({"name": "山田 太郎", "email": "new@portal.example"}))
    .send()
    .await
    .unwrap();
    assert_eq!(page(&app, &fresh).await.0, 410);

    // The landing page shows status and what is asked, never a stack trace.
    app.step_ok(
        &w.coord_a,
        &e,
        "contact-attempts",
        json!({"channel": "phone", "outcome": "reached"}),
    )
    .await;
    let landing = link(&app, &w.coord_a, &e, &contact, "landing").await;
    let (status, html) = page(&app, &landing).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("費用を貴院にご負担いただくことはありません")
            && html.contains("ご参加の意思のご確認")
    );
    // An API token is not a link.
    let (status, _) = page(&app, &format!("/p/landing/{}", w.coord_a)).await;
    assert_eq!(status, 404);
}

async fn timeline(app: &TestApp, w: &World, e: &str) -> Vec<Value> {
    let t: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    t.as_array().unwrap().clone()
}

#[tokio::test]
async fn links_are_short_opaque_and_stored_only_as_hashes() {
    let app = crate::helpers::spawn().await;
    let w = app.world().await;
    let (e, contact) = setup(&app, &w, 3).await;
    let p = link(&app, &w.coord_a, &e, &contact, "participation").await;
    let token = p.strip_prefix("/p/participation/").unwrap().to_owned();
    assert_eq!(token.len(), 22, "{p}");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert!(!p.contains(&e) && !p.contains(&contact));

    // The database keeps the link's SHA-256, never the link; a hash does not open a page.
    let db = app.db.clone();
    let rows: Vec<(String, String)> = tokio::task::spawn_blocking(move || {
        db.run_write_blocking::<_, DbError, _>(|conn| {
            Ok(link_tokens::table
                .select((link_tokens::token_hash, link_tokens::purpose))
                .load(conn)?)
        })
    })
    .await
    .unwrap()
    .unwrap();
    assert!(rows.iter().any(|(h, _)| *h == links::hash(&token)));
    for (hash, purpose) in &rows {
        assert!(!hash.contains(&token));
        assert_eq!(page(&app, &format!("/p/{purpose}/{hash}")).await.0, 404);
        assert_eq!(
            page(&app, &format!("/p/{purpose}/{}", &hash[..22])).await.0,
            404
        );
    }
    assert_eq!(page(&app, &p).await.0, 200);
}

#[tokio::test]
async fn confirming_twice_records_the_consent_once() {
    let app = crate::helpers::spawn().await;
    let w = app.world().await;
    let (e, contact) = setup(&app, &w, 4).await;
    let p = link(&app, &w.coord_a, &e, &contact, "participation").await;
    let csrf = csrf_of(&html_of(&app, &p).await);
    let form = [("action", "confirm"), ("csrf", csrf.as_str())];
    // Twice in a row (a second press, a second tab), then twice at once.
    for _ in 0..2 {
        let (status, _, location) = post_form(&app, &p, &form).await;
        assert_eq!(status, 303);
        assert!(location.unwrap().ends_with("done=confirmed"));
    }
    let (a, b) = tokio::join!(post_form(&app, &p, &form), post_form(&app, &p, &form));
    assert!(a.0 < 500 && b.0 < 500, "{} {}", a.0, b.0);
    let consents = timeline(&app, &w, &e)
        .await
        .into_iter()
        .filter(|t| t["kind"] == "consent_recorded")
        .count();
    assert_eq!(consents, 1);
    assert_eq!(detail(&app, &w, &e).await["stage"], "consented");
}

#[tokio::test]
async fn the_timeline_trusts_forwarded_addresses_only_from_trusted_proxies() {
    for (trusted, expected) in [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.7")] {
        let app = crate::helpers::spawn_with(&[("TRUSTED_PROXIES", trusted)]).await;
        let w = app.world().await;
        let (e, contact) = setup(&app, &w, 5).await;
        let p = link(&app, &w.coord_a, &e, &contact, "landing").await;
        let res = browser()
            .get(app.url(&p))
            .header("x-forwarded-for", "203.0.113.7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let viewed = timeline(&app, &w, &e)
            .await
            .into_iter()
            .find(|t| t["kind"] == "link_viewed")
            .unwrap();
        assert_eq!(
            viewed["payload"]["ip"], expected,
            "TRUSTED_PROXIES={trusted}"
        );
    }
}
