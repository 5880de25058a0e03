//! Mail through a real SMTP server on loopback: what arrives is parsed and checked.

use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Value};

use crate::helpers::{institution_code, spawn_with, SmtpSink, TestApp, World};

async fn app_with_smtp() -> (TestApp, SmtpSink) {
    let port = SmtpSink::free_port();
    let sink = SmtpSink::default();
    sink.start(port);
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_with(&[
        ("SMTP_URL", url.as_str()),
        ("MAIL_POLL_MS", "50"),
        ("MAIL_RETRY_BASE_MS", "100"),
    ])
    .await;
    (app, sink)
}

/// A hospital whose two contacts prefer ISO-2022-JP and UTF-8; one engagement assigned to A.
async fn hospital_with_contacts(app: &TestApp, w: &World, n: u32, second_name: &str) -> String {
    let code = institution_code("13", 10, n);
    let res = app
        .post(
            "/api/v1/hospitals",
            &w.admin,
            json!({"prefecture": "13", "institution_code": code, "name": "架空メール病院"}),
        )
        .await;
    let h: Value = res.json().await.unwrap();
    let id = h["id"].as_str().unwrap().to_owned();
    for (name, email, charset) in [
        ("山田 太郎", "yamada@mail.example", "iso-2022-jp"),
        (second_name, "second@mail.example", "iso-2022-jp"),
    ] {
        let res = app
            .post(
                &format!("/api/v1/hospitals/{id}/contacts"),
                &w.admin,
                json!({"name": name, "department": "総務課", "email": email, "charset": charset}),
            )
            .await;
        assert_eq!(res.status(), 201);
    }
    app.engagement(&w.admin, &id, Some(&w.sub_a)).await
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(raw)
        .expect("a parseable message")
}

fn to_of(m: &mail_parser::Message) -> String {
    m.to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_first_contact_mail_arrives_in_each_contacts_charset() {
    let (app, sink) = app_with_smtp().await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 1, "髙橋 花子").await;
    let res = app
        .req(reqwest::Method::PATCH, &format!("/api/v1/organizations/{}", w.sub_a), Some(&w.admin))
        .json(&json!({"reply_to": "desk@a.example", "cc_reply_to": true, "mail_signature": "架空セキュリティ株式会社\n医療DX推進部"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            &w.coord_a,
            json!({"kind": "first_contact"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let queued: Value = res.json().await.unwrap();
    assert_eq!(queued["queued"].as_array().unwrap().len(), 2);

    let received = sink.wait_for(2).await;
    let mut by_to = std::collections::HashMap::new();
    for raw in &received {
        let m = parse(raw);
        by_to.insert(to_of(&m), raw.clone());
    }
    let yamada = parse(&by_to["yamada@mail.example"]);
    let subject = yamada.subject().unwrap();
    assert!(
        subject.starts_with("【医療機関サイバーセキュリティ確保事業】"),
        "{subject}"
    );
    let raw_text = String::from_utf8_lossy(&by_to["yamada@mail.example"]).to_string();
    assert!(
        raw_text.contains("=?ISO-2022-JP?B?") || raw_text.contains("=?iso-2022-jp?b?"),
        "subject in ISO-2022-JP"
    );
    let text_part = yamada.text_body.first().copied().unwrap();
    let part = &yamada.parts[text_part as usize];
    assert_eq!(
        part.content_type()
            .and_then(|c| c.attribute("charset"))
            .map(str::to_ascii_uppercase)
            .as_deref(),
        Some("ISO-2022-JP")
    );
    let body = yamada.body_text(0).unwrap();
    assert!(body.contains("山田 太郎 様"), "{body}");
    assert!(body.contains("/p/participation/"), "{body}");
    assert!(yamada.body_html(0).unwrap().contains("<a "));
    assert_eq!(
        yamada
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("coord@a.example")
    );
    assert_eq!(
        yamada
            .cc()
            .and_then(|a| a.first())
            .and_then(|a| a.address()),
        Some("desk@a.example")
    );
    assert!(
        body.contains("医療DX推進部"),
        "the organisation's signature"
    );

    // 髙 cannot travel in ISO-2022-JP: that mail falls back to UTF-8, and says so.
    let takahashi = parse(&by_to["second@mail.example"]);
    let tp = &takahashi.parts[*takahashi.text_body.first().unwrap() as usize];
    assert_eq!(
        tp.content_type()
            .and_then(|c| c.attribute("charset"))
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("utf-8")
    );
    assert!(takahashi.body_text(0).unwrap().contains("髙橋 花子 様"));

    // The outbox records delivery and the charset used; the Message-ID is the one that arrived.
    let list: Value = app
        .get(&format!("/api/v1/emails?engagement_id={e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["status"], "sent", "{item}");
        let raw = &by_to[item["to"][0].as_str().unwrap()];
        let m = parse(raw);
        assert_eq!(
            format!("<{}>", m.message_id().unwrap()),
            item["message_id"].as_str().unwrap()
        );
    }
    let charsets: Vec<&str> = items
        .iter()
        .map(|i| i["charset"].as_str().unwrap())
        .collect();
    assert!(
        charsets.contains(&"ISO-2022-JP") && charsets.contains(&"UTF-8"),
        "{charsets:?}"
    );
    // The mail counts as first contact.
    let d: Value = app
        .get(&format!("/api/v1/engagements/{e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["stage"], "contacting");
}

#[tokio::test]
async fn hearing_mails_carry_a_calendar_invite_that_follows_changes() {
    let (app, sink) = app_with_smtp().await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 2, "佐藤 次郎").await;
    let c = &w.coord_a;
    app.step(c, &e, "consent", json!({})).await;
    let slots = json!({"slots": [
        {"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:30:00Z", "format": "online", "meeting_url": "https://meet.example/x"},
        {"starts_at": "2026-12-02T05:00:00Z", "ends_at": "2026-12-02T06:00:00Z", "format": "online", "meeting_url": "https://meet.example/y"},
        {"starts_at": "2026-12-03T05:00:00Z", "ends_at": "2026-12-03T06:00:00Z", "format": "onsite", "place": "貴院 3階会議室"}
    ]});
    app.step(c, &e, "hearing-slots", slots).await;
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            c,
            json!({"kind": "hearing_candidates"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let got = sink.wait_for(2).await;
    let body = parse(&got[0]).body_text(0).unwrap().to_string();
    assert!(body.contains("2026年12月1日（火）10:00〜11:30"), "{body}");
    assert!(body.contains("/p/hearing/"));

    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let first = hearings["slots"][0]["id"].as_str().unwrap().to_owned();
    let second = hearings["slots"][1]["id"].as_str().unwrap().to_owned();
    // The hospital's system vendor is invited: it gets the hearing mails too, without links.
    let vendor = json!({"attendees": [{"kind": "system_vendor", "name": "架空システム 佐藤", "email": "sato@emr-vendor.example"}]});
    let res = app
        .step(c, &e, &format!("hearing-slots/{first}/book"), vendor)
        .await;
    assert_eq!(res.status(), 200);
    let got = sink.wait_for(5).await;
    let ics_of = |raw: &[u8]| -> String {
        let m = parse(raw);
        let found = m
            .attachments()
            .find(|a| a.attachment_name() == Some("invite.ics"))
            .map(|a| String::from_utf8_lossy(a.contents()).to_string());
        found.expect("an invite.ics attachment")
    };
    // Each step's mails arrive together; pick them by recipient.
    let to = |batch: &[Vec<u8>], who: &str| -> Vec<u8> {
        batch
            .iter()
            .find(|r| to_of(&parse(r)) == who)
            .cloned()
            .expect("a mail to this recipient")
    };
    let booked = ics_of(&to(&got[2..5], "yamada@mail.example"));
    let vendor_raw = to(&got[2..5], "sato@emr-vendor.example");
    let vendor_mail = parse(&vendor_raw);
    assert!(
        !vendor_mail.body_text(0).unwrap().contains("/p/"),
        "no hospital links for the vendor"
    );
    assert!(ics_of(&vendor_raw).contains("mailto:sato@emr-vendor.example"));
    for line in [
        "METHOD:REQUEST",
        "SEQUENCE:0",
        "BEGIN:VTIMEZONE",
        "TZID:Asia/Tokyo",
    ] {
        assert!(booked.contains(line), "{line} in {booked}");
    }
    assert!(
        booked.contains("DTSTART;TZID=Asia/Tokyo:20261201T100000"),
        "{booked}"
    );
    let uid = booked
        .lines()
        .find(|l| l.starts_with("UID:"))
        .unwrap()
        .to_owned();

    app.step(
        c,
        &e,
        "hearing/reschedule",
        json!({"slot_id": second, "reason": "院内会議と重なったため"}),
    )
    .await;
    let got = sink.wait_for(8).await;
    let moved = ics_of(&to(&got[5..8], "yamada@mail.example"));
    assert!(
        moved.contains("SEQUENCE:1") && moved.contains(&uid),
        "{moved}"
    );
    assert!(moved.contains("DTSTART;TZID=Asia/Tokyo:20261202T140000"));

    app.step(
        c,
        &e,
        "hearing/cancel",
        json!({"reason": "病院のご都合により"}),
    )
    .await;
    let got = sink.wait_for(11).await;
    let cancelled = ics_of(&to(&got[8..11], "yamada@mail.example"));
    assert!(
        cancelled.contains("METHOD:CANCEL") && cancelled.contains(&uid),
        "{cancelled}"
    );
    assert!(cancelled.contains("SEQUENCE:2"));
}

#[tokio::test]
async fn an_smtp_outage_delays_mail_but_loses_none() {
    let port = SmtpSink::free_port();
    let url = format!("smtp://127.0.0.1:{port}");
    let app = spawn_with(&[
        ("SMTP_URL", url.as_str()),
        ("MAIL_POLL_MS", "50"),
        ("MAIL_RETRY_BASE_MS", "200"),
    ])
    .await;
    let w = app.world().await;
    // A second worker on the same database: each mail must still arrive once.
    let config = engagement_tracker::config::Config::load(&[
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", crate::portal::SECRET),
        ("SMTP_URL", url.as_str()),
        ("MAIL_POLL_MS", "50"),
        ("MAIL_RETRY_BASE_MS", "200"),
    ])
    .unwrap();
    let second = engagement_tracker::app::mail_worker(&config, app.db.clone()).unwrap();
    tokio::spawn(second.run());
    let mut engagements = Vec::new();
    for n in 0..5 {
        let code = institution_code("13", 11, n + 1);
        let h: Value = app
            .post("/api/v1/hospitals", &w.admin, json!({"prefecture": "13", "institution_code": code, "name": format!("架空停止病院{n}")}))
            .await
            .json()
            .await
            .unwrap();
        let id = h["id"].as_str().unwrap().to_owned();
        app.post(
            &format!("/api/v1/hospitals/{id}/contacts"),
            &w.admin,
            json!({"name": "担当者", "email": format!("c{n}@outage.example")}),
        )
        .await;
        engagements.push(app.engagement(&w.admin, &id, Some(&w.sub_a)).await);
    }
    for e in &engagements {
        let res = app
            .post(
                &format!("/api/v1/engagements/{e}/emails"),
                &w.coord_a,
                json!({"kind": "first_contact"}),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    // Nothing listens: attempts fail and are rescheduled.
    let mut failed_attempts = false;
    for _ in 0..100 {
        let list: Value = app
            .get("/api/v1/emails", &w.admin)
            .await
            .json()
            .await
            .unwrap();
        if list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["attempts"].as_i64().unwrap() >= 1 && i["status"] == "pending")
        {
            failed_attempts = true;
            assert!(list["items"][0]["last_error"].as_str().is_some());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(failed_attempts, "the mails waited for the server");

    let sink = SmtpSink::default();
    sink.start(port);
    let got = sink.wait_for(5).await;
    // Give a duplicate the chance to show up, then count exactly once per recipient.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let got2 = sink.received.lock().unwrap().clone();
    assert_eq!(got2.len(), 5, "exactly once each");
    let mut recipients: Vec<String> = got.iter().map(|r| to_of(&parse(r))).collect();
    recipients.sort();
    assert_eq!(
        recipients,
        (0..5)
            .map(|n| format!("c{n}@outage.example"))
            .collect::<Vec<_>>()
    );
    let list: Value = app
        .get("/api/v1/emails?status=sent", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn mail_is_written_to_files_by_default_and_can_be_previewed() {
    let app = crate::helpers::spawn_with(&[("MAIL_POLL_MS", "50")]).await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 3, "鈴木 一郎").await;
    let preview: Value = app
        .get(
            &format!("/api/v1/engagements/{e}/emails/preview?kind=intake_request"),
            &w.coord_a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(preview["subject"]
        .as_str()
        .unwrap()
        .contains("医療機関サイバーセキュリティ確保事業"));
    assert!(preview["text"].as_str().unwrap().contains("様"));
    let list: Value = app
        .get("/api/v1/emails", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "a preview sends nothing"
    );

    app.post(
        &format!("/api/v1/engagements/{e}/emails"),
        &w.coord_a,
        json!({"kind": "intake_request"}),
    )
    .await;
    let mut sent = 0;
    for _ in 0..200 {
        let list: Value = app
            .get("/api/v1/emails?status=sent", &w.admin)
            .await
            .json()
            .await
            .unwrap();
        sent = list["items"].as_array().unwrap().len();
        if sent == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(sent, 2);
    let files: Vec<_> = std::fs::read_dir(app.data_dir().join("outbox"))
        .unwrap()
        .filter_map(|f| f.ok())
        .filter(|f| f.path().extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(files.len(), 2);
    let raw = std::fs::read(files[0].path()).unwrap();
    assert!(parse(&raw)
        .subject()
        .unwrap()
        .contains("医療機関サイバーセキュリティ確保事業"));
}

#[tokio::test]
async fn reminders_and_nudges_are_queued_once_per_period() {
    use diesel::prelude::*;
    // The app's own worker would race this test's calls; this app runs without it.
    let app = crate::helpers::spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 4, "鈴木 花子").await;
    let c = &w.coord_a;
    let worker = app.mail_worker();

    // A hearing two hours from now is within the 24-hour lead: one reminder per contact, once.
    app.step(c, &e, "consent", json!({})).await;
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let slots = json!({"slots": [{"starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::hours(1)).to_rfc3339(), "format": "online", "meeting_url": "https://meet.example/r"}]});
    app.step(c, &e, "hearing-slots", slots).await;
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let slot = h["slots"][0]["id"].as_str().unwrap().to_owned();
    app.step(c, &e, &format!("hearing-slots/{slot}/book"), json!({}))
        .await;
    assert_eq!(worker.schedule().await.unwrap(), 2);
    assert_eq!(worker.schedule().await.unwrap(), 0, "not twice");
    let list: Value = app
        .get(&format!("/api/v1/emails?engagement_id={e}"), c)
        .await
        .json()
        .await
        .unwrap();
    let reminders = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "hearing_reminder")
        .count();
    assert_eq!(reminders, 2);

    // An engagement left waiting on the hospital past its SLA gets one polite nudge.
    let e2 = hospital_with_contacts(&app, &w, 5, "田中 一郎").await;
    app.step(
        c,
        &e2,
        "contact-attempts",
        json!({"channel": "email", "outcome": "reached"}),
    )
    .await;
    assert_eq!(worker.schedule().await.unwrap(), 0, "not overdue yet");
    let db = app.db.clone();
    let target = e2.clone();
    tokio::task::spawn_blocking(move || {
        use engagement_tracker::db::schema::engagements::dsl::*;
        let mut conn = db.pool.get().unwrap();
        diesel::update(engagements.find(&target))
            .set(stage_since.eq(engagement_tracker::db::now() - chrono::Duration::days(30)))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    assert_eq!(worker.schedule().await.unwrap(), 2);
    assert_eq!(
        worker.schedule().await.unwrap(),
        0,
        "at most one per period"
    );
    let preview: Value = app
        .get(&format!("/api/v1/emails?engagement_id={e2}"), c)
        .await
        .json()
        .await
        .unwrap();
    let nudge = preview["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "overdue_nudge")
        .unwrap();
    assert!(nudge["subject"]
        .as_str()
        .unwrap()
        .contains("ご対応状況のご確認"));
    let id = nudge["id"].as_str().unwrap().to_owned();
    let db = app.db.clone();
    let raw = tokio::task::spawn_blocking(move || {
        let mut conn = db.pool.get().unwrap();
        engagement_tracker::db::outbox::get(&mut conn, &id)
            .unwrap()
            .unwrap()
            .raw
    })
    .await
    .unwrap();
    let body = parse(raw.as_bytes()).body_text(0).unwrap().to_string();
    assert!(
        body.contains("ご参加の意思のご確認をお願いしております"),
        "{body}"
    );
}
