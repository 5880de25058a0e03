//! End to end in headless Chromium. At a phone's size: open the mailed link, confirm
//! participation, upload a diagram, save and submit the questionnaire, pick a slot — with a
//! screenshot of each page under `ci-artifacts/screenshots/`. At 1366×768 and 375 px: officials
//! sign in to the progress dashboard and see the figures the API gives.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `.ci/run` installs them and runs this with
//! `cargo test --test browser -- --ignored`.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::{institution_code, spawn, TestApp, PNG};
use mail_parser::MessageParser;
use serde_json::{json, Value};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

async fn browser(profile: &std::path::Path) -> (Driver, Client) {
    // Two TLS back ends are linked in; say which one the WebDriver client uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = helpers::SmtpSink::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) must be installed");
    let driver = Driver(child);
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=390,844", "--lang=ja-JP",
                format!("--user-data-dir={}", profile.display()),
            ],
            "mobileEmulation": {"deviceMetrics": {"width": 375, "height": 812, "pixelRatio": 2.0}},
        }
    }))
    .unwrap();
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer");
}

fn shots() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ci-artifacts/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.len() > 1000, "a real screenshot");
    std::fs::write(shots().join(format!("{name}.png")), png).unwrap();
}

/// The newest mail written to the app's outbox for this kind; the link of this purpose in it.
async fn mailed_link(app: &TestApp, kind: &str, purpose: &str) -> String {
    for _ in 0..200 {
        let list: Value = reqwest::Client::new()
            .get(app.url("/api/v1/emails?status=sent"))
            .bearer_auth(admin_token(app).await)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(m) = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["kind"] == kind)
        {
            let id = m["id"].as_str().unwrap();
            let raw =
                std::fs::read(app.data_dir().join("outbox").join(format!("{id}.eml"))).unwrap();
            let msg = MessageParser::default().parse(&raw).unwrap();
            let text = msg.body_text(0).unwrap().to_string();
            let marker = format!("/p/{purpose}/");
            let url = text
                .split_whitespace()
                .find(|w| w.contains(&marker))
                .unwrap_or_else(|| panic!("a {purpose} link in {text}"));
            return url.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {kind} mail was sent");
}

async fn admin_token(app: &TestApp) -> String {
    app.login("admin@prime.example").await
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; .ci/run installs them and runs it"]
async fn a_hospital_clerk_goes_through_the_pages_on_a_phone() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    let code = institution_code("13", 13, 1);
    let h: Value = app
        .post(
            "/api/v1/hospitals",
            &w.admin,
            json!({"prefecture": "13", "institution_code": code, "name": "架空みなと総合病院"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hid = h["id"].as_str().unwrap();
    app.post(&format!("/api/v1/hospitals/{hid}/contacts"), &w.admin, json!({"name": "山田 太郎", "department": "情報システム課", "email": "yamada@minato.example"})).await;
    let e = app.engagement(&w.admin, hid, Some(&w.sub_a)).await;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, b) = browser(profile.path()).await;

    // 1. The first mail's participation link: confirm.
    app.post(
        &format!("/api/v1/engagements/{e}/emails"),
        c,
        json!({"kind": "first_contact"}),
    )
    .await;
    let url = mailed_link(&app, "first_contact", "participation").await;
    b.goto(&url).await.unwrap();
    assert!(b.source().await.unwrap().contains("架空みなと総合病院"));
    shot(&b, "01-participation").await;
    b.find(Locator::XPath("//button[text()='参加します']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Css(".ok")).await.unwrap();
    shot(&b, "02-participation-done").await;

    // 2. After the memorandum: upload the diagram.
    app.req(
        reqwest::Method::PUT,
        &format!("/api/v1/engagements/{e}/memorandum"),
        Some(c),
    )
    .json(&json!({"status": "executed"}))
    .send()
    .await
    .unwrap();
    app.post(
        &format!("/api/v1/engagements/{e}/emails"),
        c,
        json!({"kind": "intake_request"}),
    )
    .await;
    let url = mailed_link(&app, "intake_request", "diagram").await;
    b.goto(&url).await.unwrap();
    shot(&b, "03-diagram").await;
    let file = profile.path().join("network-diagram.png");
    std::fs::write(&file, PNG).unwrap();
    b.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(file.to_str().unwrap())
        .await
        .unwrap();
    b.find(Locator::XPath("//button[text()='送信する']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Css(".ok")).await.unwrap();
    shot(&b, "04-diagram-done").await;

    // 3. The questionnaire: save a draft, then answer everything and submit.
    let url = mailed_link(&app, "intake_request", "questionnaire").await;
    b.goto(&url).await.unwrap();
    shot(&b, "05-questionnaire").await;
    b.find(Locator::Css("input[name='q.1.1.value'][value='yes']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::XPath("//button[text()='一時保存']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Css(".ok")).await.unwrap();
    shot(&b, "06-questionnaire-saved").await;
    b.goto(&url).await.unwrap();
    // Answer like a clerk who says yes to everything: the first choice of each question.
    b.execute(
        r#"
        const seen = new Set();
        for (const r of document.querySelectorAll('input[type=radio],input[type=checkbox]')) {
          if (!seen.has(r.name)) { r.checked = true; seen.add(r.name); }
        }
        for (const d of document.querySelectorAll('input[type=date]')) { if (d.name.endsWith('checked_on') || !d.name.includes('target')) d.value = '2026-11-01'; }
        for (const t of document.querySelectorAll('input[inputmode=decimal]')) t.value = '2';
        for (const t of document.querySelectorAll('textarea')) t.value = '情報システム課 山田';
        for (const t of document.querySelectorAll('input[type=text]')) { if (t.name.endsWith('.0.counterpart') || t.name.endsWith('.0.system')) t.value = '記入例'; }
        "#,
        vec![],
    )
    .await
    .unwrap();
    shot(&b, "07-questionnaire-filled").await;
    b.find(Locator::XPath("//button[text()='回答を提出']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Css(".ok")).await.unwrap();
    shot(&b, "08-questionnaire-submitted").await;

    // 4. The hearing: pick a slot.
    app.step(c, &e, "hearing-slots", json!({"slots": [
        {"starts_at": "2030-12-02T01:00:00Z", "ends_at": "2030-12-02T02:30:00Z", "format": "online", "meeting_url": "https://meet.example/abc"},
        {"starts_at": "2030-12-03T05:00:00Z", "ends_at": "2030-12-03T06:30:00Z", "format": "onsite", "place": "3階会議室"},
        {"starts_at": "2030-12-04T05:00:00Z", "ends_at": "2030-12-04T06:30:00Z", "format": "online", "meeting_url": "https://meet.example/def"}
    ]})).await;
    app.post(
        &format!("/api/v1/engagements/{e}/emails"),
        c,
        json!({"kind": "hearing_candidates"}),
    )
    .await;
    let url = mailed_link(&app, "hearing_candidates", "hearing").await;
    b.goto(&url).await.unwrap();
    shot(&b, "09-hearing").await;
    b.find(Locator::Css("input[name=slot_id]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.find(Locator::XPath("//button[text()='この日時で申し込む']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait().for_element(Locator::Css(".ok")).await.unwrap();
    shot(&b, "10-hearing-booked").await;
    b.goto(&url).await.unwrap();
    shot(&b, "11-hearing-confirmed").await;
    b.close().await.unwrap();

    // The engagement shows what the clerk did.
    let d: Value = app
        .get(&format!("/api/v1/engagements/{e}"), c)
        .await
        .json()
        .await
        .unwrap();
    let milestones: Vec<&str> = d["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["milestone"].as_str().unwrap())
        .collect();
    for m in ["consented", "diagram_received", "questionnaire_submitted"] {
        assert!(milestones.contains(&m), "{m} in {milestones:?}");
    }
    assert!(d["hearing_scheduled_at"]
        .as_str()
        .unwrap()
        .starts_with("2030-12-02"));
    assert_eq!(d["questionnaire_status"], "submitted");
}

/// Chromium at a desktop's size (1366×768).
async fn desktop_browser(profile: &std::path::Path) -> (Driver, Client) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = helpers::SmtpSink::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) must be installed");
    let driver = Driver(child);
    let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1366,768", "--hide-scrollbars", "--lang=ja-JP",
                format!("--user-data-dir={}", profile.display()),
            ],
        }
    }))
    .unwrap();
    for _ in 0..100 {
        if let Ok(c) = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            return (driver, c);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer");
}

/// Signs in through the form, as a person would.
async fn dashboard_sign_in(b: &Client, app: &TestApp, email: &str) {
    b.goto(&app.url("/dashboard")).await.unwrap();
    b.find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(helpers::PASSWORD)
        .await
        .unwrap();
    b.find(Locator::XPath("//button[text()='サインイン']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .for_element(Locator::Css("[data-figure=selected]"))
        .await
        .unwrap();
}

/// The headline figures the page shows equal the API's, for the same account.
async fn figures_match_the_api(b: &Client, app: &TestApp, email: &str) -> Value {
    let token = app.login(email).await;
    let s: Value = app
        .get("/api/v1/dashboard/summary", &token)
        .await
        .json()
        .await
        .unwrap();
    let t = &s["totals"];
    for (name, expected) in [
        ("selected", &t["selected"]),
        ("contacted", &t["reached"]["contacting"]),
        ("consented", &t["reached"]["consented"]),
        ("hearing", &t["reached"]["hearing"]),
        ("reported", &t["reached"]["verification"]),
        ("backup", &t["reached"]["backup"]),
        ("completed", &t["stages"]["completed"]),
        ("overdue", &t["overdue"]),
        ("on_hold", &t["on_hold"]),
        ("slots", &t["slots"]),
    ] {
        let shown = b
            .find(Locator::Css(&format!("[data-figure={name}]")))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            shown.trim().parse::<i64>().unwrap(),
            expected.as_i64().unwrap(),
            "{email}: {name}"
        );
    }
    s
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver; .ci/run installs them and runs it"]
async fn officials_read_the_dashboard_on_a_desktop_and_a_phone() {
    use engagement_tracker::domain::access::Role;
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        engagement_tracker::service::demo::fill(&db, 600, chrono::Utc::now()).unwrap()
    })
    .await
    .unwrap();
    let ministry = app.create_org(&admin, "厚生労働省", "ministry", None).await;
    app.seed_user("viewer@mhlw.example", &ministry, Role::Viewer)
        .await;
    let tokyo = app.create_org(&admin, "東京都", "prefecture", None).await;
    app.seed_user("pref@tokyo.example", &tokyo, Role::PrefectureViewer)
        .await;

    for (who, email) in [
        ("viewer", "viewer@mhlw.example"),
        ("prefecture", "pref@tokyo.example"),
    ] {
        let profile = tempfile::tempdir().unwrap();
        let (_driver, b) = desktop_browser(profile.path()).await;
        dashboard_sign_in(&b, &app, email).await;
        let s = figures_match_the_api(&b, &app, email).await;
        shot(&b, &format!("dashboard-{who}-1366x768")).await;
        if who == "viewer" {
            // The whole page, for the README.
            b.set_window_size(1366, 2200).await.unwrap();
            shot(&b, "dashboard-viewer-1366-full").await;
            b.set_window_size(1366, 768).await.unwrap();
        } else {
            assert_eq!(s["prefecture"], "13");
            let title = b
                .find(Locator::Css("h1"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(title.contains("東京都"), "{title}");
        }
        // The hospitals table, filtered without JavaScript: a GET form.
        b.goto(&app.url("/dashboard/hospitals?overdue=true&sort=stage"))
            .await
            .unwrap();
        let total = b
            .find(Locator::Css("[data-figure=total]"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(
            total.parse::<i64>().unwrap(),
            s["totals"]["overdue"].as_i64().unwrap()
        );
        shot(&b, &format!("dashboard-{who}-hospitals-1366x768")).await;
        b.close().await.unwrap();

        let profile = tempfile::tempdir().unwrap();
        let (_driver, b) = browser(profile.path()).await;
        dashboard_sign_in(&b, &app, email).await;
        figures_match_the_api(&b, &app, email).await;
        shot(&b, &format!("dashboard-{who}-375")).await;
        b.close().await.unwrap();
    }
}
