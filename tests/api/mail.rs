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
        .json(&json!({"name": "架空セキュリティ株式会社", "reply_to": "desk@a.example", "cc_reply_to": true, "mail_signature": "架空セキュリティ株式会社\n医療DX推進部"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The coordinator's name is Japanese too, so every address header has one.
    let me: Value = app
        .get("/api/v1/me", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", me["id"].as_str().unwrap()),
            Some(&w.admin),
        )
        .json(&json!({"display_name": "佐藤 一郎"}))
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
    // RFC 1468 the whole way: 7-bit, one ISO-2022-JP text part, no HTML, every header with
    // Japanese in it as ISO-2022-JP encoded words.
    let raw = &by_to["yamada@mail.example"];
    assert!(raw.iter().all(u8::is_ascii), "7-bit clean");
    let raw_text = String::from_utf8_lossy(raw).to_string();
    let head = raw_text
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .replace("\r\n ", " ");
    for name in ["Subject", "From", "To", "Reply-To", "Cc"] {
        let line = head
            .lines()
            .find(|l| l.starts_with(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("a {name} header in {head}"));
        assert!(line.contains("=?ISO-2022-JP?B?"), "{line}");
        assert!(!line.to_lowercase().contains("utf-8"), "{line}");
    }
    assert_eq!(yamada.parts.len(), 1, "a single text part");
    let part = &yamada.parts[0];
    let ct = part.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("plain")));
    assert_eq!(
        ct.attribute("charset")
            .map(str::to_ascii_uppercase)
            .as_deref(),
        Some("ISO-2022-JP")
    );
    assert_eq!(part.content_transfer_encoding(), Some("7bit"));
    assert!(
        raw_text.contains("\u{1b}$B"),
        "ISO-2022-JP bytes, not quoted-printable"
    );
    let name_of = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.name())
            .map(str::to_owned)
    };
    assert_eq!(name_of(yamada.to()).as_deref(), Some("山田 太郎"));
    assert_eq!(
        name_of(yamada.from()).as_deref(),
        Some("架空セキュリティ株式会社")
    );
    assert_eq!(name_of(yamada.reply_to()).as_deref(), Some("佐藤 一郎"));
    assert_eq!(
        name_of(yamada.cc()).as_deref(),
        Some("架空セキュリティ株式会社")
    );
    let body = yamada.body_text(0).unwrap();
    assert!(body.contains("山田 太郎 様"), "{body}");
    assert!(body.contains("/p/participation/"), "{body}");
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
    assert!(
        takahashi.body_html(0).unwrap().contains("<a "),
        "UTF-8 mail keeps its HTML"
    );

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
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 2, "佐藤 次郎").await;
    let c = &w.coord_a;
    app.step_ok(c, &e, "consent", json!({})).await;
    let slots = json!({"slots": [
        {"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:30:00Z", "format": "online", "meeting_url": "https://meet.example/x"},
        {"starts_at": "2026-12-02T05:00:00Z", "ends_at": "2026-12-02T06:00:00Z", "format": "online", "meeting_url": "https://meet.example/y"},
        {"starts_at": "2026-12-03T05:00:00Z", "ends_at": "2026-12-03T06:00:00Z", "format": "onsite", "place": "貴院 3階会議室"}
    ]});
    app.step_ok(c, &e, "hearing-slots", slots).await;
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

    app.step_ok(
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

    app.step_ok(
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
    // The app's own worker would race this test's calls; this app runs without it.
    let app = crate::helpers::spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 4, "鈴木 花子").await;
    let c = &w.coord_a;
    let worker = app.mail_worker();

    // A hearing two hours from now is within the 24-hour lead: one reminder per contact, once.
    app.step_ok(c, &e, "consent", json!({})).await;
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let slots = json!({"slots": [{"starts_at": start.to_rfc3339(), "ends_at": (start + chrono::Duration::hours(1)).to_rfc3339(), "format": "online", "meeting_url": "https://meet.example/r"}]});
    app.step_ok(c, &e, "hearing-slots", slots).await;
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let slot = h["slots"][0]["id"].as_str().unwrap().to_owned();
    app.step_ok(c, &e, &format!("hearing-slots/{slot}/book"), json!({}))
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
    app.step_ok(
        c,
        &e2,
        "contact-attempts",
        json!({"channel": "email", "outcome": "reached"}),
    )
    .await;
    assert_eq!(worker.schedule().await.unwrap(), 0, "not overdue yet");
    // A month passes.
    app.clock().advance(chrono::Duration::days(30));
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
    // Sent by the system, answered by the coordinator in charge (Sub A has no address).
    assert_eq!(
        reply_to_of(raw.as_bytes()).0.as_deref(),
        Some("coord@a.example")
    );
}

/// The invite attached to a mail, read by an iCalendar parser of its own (`ical`, not the
/// crate that writes it): METHOD, UID and SEQUENCE.
fn invite_of(raw: &[u8]) -> (String, String, i64) {
    let m = parse(raw);
    let ics = m
        .attachments()
        .find(|a| a.attachment_name() == Some("invite.ics"))
        .map(|a| a.contents().to_vec())
        .expect("an invite.ics attachment");
    let mut calendars = ical::IcalParser::new(std::io::BufReader::new(&ics[..]));
    let cal = calendars
        .next()
        .expect("a calendar")
        .expect("a well-formed calendar");
    assert!(calendars.next().is_none(), "one calendar");
    assert_eq!(cal.events.len(), 1, "one event");
    assert_eq!(cal.timezones.len(), 1, "its VTIMEZONE");
    let value = |props: &[ical::property::Property], name: &str| {
        props
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("{name} in the invite"))
    };
    let event = &cal.events[0].properties;
    (
        value(&cal.properties, "METHOD"),
        value(event, "UID"),
        value(event, "SEQUENCE")
            .parse()
            .expect("a numeric SEQUENCE"),
    )
}

/// The mail of `batch` that went to `who`.
fn to_whom(batch: &[Vec<u8>], who: &str) -> Vec<u8> {
    batch
        .iter()
        .find(|r| to_of(&parse(r)) == who)
        .cloned()
        .unwrap_or_else(|| panic!("a mail to {who}"))
}

fn reply_to_of(raw: &[u8]) -> (Option<String>, Option<String>) {
    let m = parse(raw);
    let first = m.reply_to().and_then(|a| a.first());
    (
        first.and_then(|a| a.address()).map(str::to_owned),
        first.and_then(|a| a.name()).map(str::to_owned),
    )
}

/// What a phone's browser does with a page: open it, then post its form with the page's CSRF
/// value. Returns the status of the post (303 when the action was taken).
async fn act_on_page(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> u16 {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let html = client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::portal::csrf_of(&html);
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    client
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn slot_ids(app: &TestApp, token: &str, e: &str) -> Vec<String> {
    let h: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), token)
        .await
        .json()
        .await
        .unwrap();
    h["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn three_slots() -> Value {
    json!({"slots": [
        {"starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:00:00Z", "format": "online", "meeting_url": "https://meet.example/1"},
        {"starts_at": "2026-12-02T01:00:00Z", "ends_at": "2026-12-02T02:00:00Z", "format": "online", "meeting_url": "https://meet.example/2"},
        {"starts_at": "2026-12-03T01:00:00Z", "ends_at": "2026-12-03T02:00:00Z", "format": "online", "meeting_url": "https://meet.example/3"}
    ]})
}

#[tokio::test]
async fn a_booking_after_a_cancellation_is_a_new_calendar_series() {
    let (app, sink) = app_with_smtp().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 6, "佐藤 次郎").await;
    let c = &w.coord_a;
    app.step_ok(c, &e, "consent", json!({})).await;
    app.step_ok(c, &e, "hearing-slots", three_slots()).await;
    let slots = slot_ids(&app, c, &e).await;
    let contacts: Value = app
        .get(&format!("/api/v1/engagements/{e}"), c)
        .await
        .json()
        .await
        .unwrap();
    let contact = contacts["hospital"]["contacts"][0]["id"]
        .as_str()
        .expect("a contact id")
        .to_owned();
    // The link the hospital keeps from its first mail.
    let hearing_link = crate::portal::link(&app, c, &e, &contact, "hearing").await;

    let res = app
        .step(
            c,
            &e,
            &format!("hearing-slots/{}/book", slots[0]),
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let got = sink.wait_for(2).await;
    let booked = invite_of(&to_whom(&got[0..2], "yamada@mail.example"));
    assert_eq!((booked.0.as_str(), booked.2), ("REQUEST", 0));

    let res = app
        .step(
            c,
            &e,
            "hearing/reschedule",
            json!({"slot_id": slots[1], "reason": "院内会議と重なったため"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let got = sink.wait_for(4).await;
    let moved = invite_of(&to_whom(&got[2..4], "yamada@mail.example"));
    assert_eq!(
        moved,
        ("REQUEST".into(), booked.1.clone(), 1),
        "same series, raised"
    );

    let res = app
        .step(
            c,
            &e,
            "hearing/cancel",
            json!({"reason": "病院のご都合により"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let got = sink.wait_for(6).await;
    let cancelled = invite_of(&to_whom(&got[4..6], "yamada@mail.example"));
    assert_eq!(cancelled, ("CANCEL".into(), booked.1.clone(), 2));

    // Booked again through the same link: a new series, which calendars take as a new event
    // (the old UID was cancelled; a REQUEST for it with a lower SEQUENCE would be dropped).
    let status = act_on_page(
        &app,
        &hearing_link,
        &[("action", "book"), ("slot_id", &slots[2])],
    )
    .await;
    assert_eq!(status, 303);
    let got = sink.wait_for(8).await;
    let again = invite_of(&to_whom(&got[6..8], "yamada@mail.example"));
    assert_eq!(again.0, "REQUEST");
    assert_ne!(again.1, booked.1, "a new UID after a cancellation");
    let same_uid_before = [&booked, &moved, &cancelled]
        .iter()
        .filter(|i| i.1 == again.1)
        .map(|i| i.2)
        .max();
    assert!(
        same_uid_before.is_none_or(|s| again.2 > s),
        "never a SEQUENCE a calendar has already seen for this UID"
    );
    // Both contacts get the same series.
    let other = invite_of(&to_whom(&got[6..8], "second@mail.example"));
    assert_eq!(other.1, again.1);
}

#[tokio::test]
async fn every_mail_has_a_reply_to_a_person_reads() {
    use engagement_tracker::domain::access::Role;
    let (app, sink) = app_with_smtp().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    // Sub A has no mail settings at all. A second coordinator joins it later.
    let e = hospital_with_contacts(&app, &w, 7, "佐藤 次郎").await;
    let a = &w.admin;
    app.step_ok(a, &e, "consent", json!({})).await;
    app.step_ok(a, &e, "hearing-slots", three_slots()).await;
    let slots = slot_ids(&app, a, &e).await;
    let d: Value = app
        .get(&format!("/api/v1/engagements/{e}"), a)
        .await
        .json()
        .await
        .unwrap();
    let contact = d["hospital"]["contacts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = crate::portal::link(&app, a, &e, &contact, "hearing").await;
    let coord2_id = app
        .seed_user("coord2@a.example", &w.sub_a, Role::Coordinator)
        .await;
    let coord2 = app.login("coord2@a.example").await;

    // The hospital books before any coordinator of Sub A has acted: the organisation's
    // longest-standing coordinator answers.
    assert_eq!(
        act_on_page(&app, &link, &[("action", "book"), ("slot_id", &slots[0])]).await,
        303
    );
    let got = sink.wait_for(2).await;
    let (addr, _) = reply_to_of(&to_whom(&got[0..2], "yamada@mail.example"));
    assert_eq!(addr.as_deref(), Some("coord@a.example"));

    // A coordinator moves the hearing: the mail answers to that coordinator.
    let res = app
        .step(
            &coord2,
            &e,
            "hearing/reschedule",
            json!({"slot_id": slots[1], "reason": "担当者の都合により"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let got = sink.wait_for(4).await;
    let (addr, _) = reply_to_of(&to_whom(&got[2..4], "yamada@mail.example"));
    assert_eq!(addr.as_deref(), Some("coord2@a.example"));

    // The hospital cancels on its page: the coordinator in charge (the last who acted).
    assert_eq!(
        act_on_page(
            &app,
            &link,
            &[("action", "cancel"), ("reason", "院内の都合")]
        )
        .await,
        303
    );
    let got = sink.wait_for(6).await;
    let (addr, _) = reply_to_of(&to_whom(&got[4..6], "yamada@mail.example"));
    assert_eq!(addr.as_deref(), Some("coord2@a.example"));

    // That coordinator leaves: replies go to one who is still there.
    let res = app
        .req(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{coord2_id}"),
            Some(a),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        act_on_page(&app, &link, &[("action", "book"), ("slot_id", &slots[2])]).await,
        303
    );
    let got = sink.wait_for(8).await;
    let (addr, _) = reply_to_of(&to_whom(&got[6..8], "yamada@mail.example"));
    assert_eq!(addr.as_deref(), Some("coord@a.example"));

    // An organisation with nobody in it: the prime contractor's admin answers — until the
    // organisation sets its own address, which then answers under the organisation's name.
    let sub_b = app
        .create_org(a, "架空サポート株式会社", "subcontractor", Some(&w.prime))
        .await;
    let code = institution_code("13", 10, 8);
    let h: Value = app
        .post(
            "/api/v1/hospitals",
            a,
            json!({"prefecture": "13", "institution_code": code, "name": "架空第二病院"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hid = h["id"].as_str().unwrap().to_owned();
    let c: Value = app
        .post(
            &format!("/api/v1/hospitals/{hid}/contacts"),
            a,
            json!({"name": "鈴木 一郎", "email": "suzuki@second.example"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let e2 = app.engagement(a, &hid, Some(&sub_b)).await;
    app.step_ok(a, &e2, "consent", json!({})).await;
    app.step_ok(a, &e2, "hearing-slots", three_slots()).await;
    let slots2 = slot_ids(&app, a, &e2).await;
    let link2 = crate::portal::link(&app, a, &e2, c["id"].as_str().unwrap(), "hearing").await;
    assert_eq!(
        act_on_page(&app, &link2, &[("action", "book"), ("slot_id", &slots2[0])]).await,
        303
    );
    let got = sink.wait_for(9).await;
    let (addr, _) = reply_to_of(&got[8]);
    assert_eq!(addr.as_deref(), Some("admin@prime.example"));

    let res = app
        .req(
            reqwest::Method::PATCH,
            &format!("/api/v1/organizations/{sub_b}"),
            Some(a),
        )
        .json(&json!({"reply_to": "desk@b.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        act_on_page(
            &app,
            &link2,
            &[
                ("action", "reschedule"),
                ("slot_id", &slots2[1]),
                ("reason", "都合により")
            ]
        )
        .await,
        303
    );
    let got = sink.wait_for(10).await;
    let (addr, name) = reply_to_of(&got[9]);
    assert_eq!(addr.as_deref(), Some("desk@b.example"));
    assert_eq!(name.as_deref(), Some("架空サポート株式会社"));
}

#[tokio::test]
async fn stored_values_a_header_cannot_carry_never_break_mail() {
    use diesel::prelude::*;
    let (app, sink) = app_with_smtp().await;
    let w = app.world().await;
    let e = hospital_with_contacts(&app, &w, 9, "佐藤 次郎").await;
    // Written before input was checked: a line break in a name, an address lettre refuses.
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        use engagement_tracker::db::schema::contacts::dsl::*;
        let mut conn = db.pool.get().unwrap();
        diesel::update(contacts.filter(email.eq("yamada@mail.example")))
            .set(name.eq("山田\r\n太郎"))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            &w.coord_a,
            json!({"kind": "first_contact"}),
        )
        .await;
    assert_eq!(res.status(), 202, "the name is cleaned for the header");
    let got = sink.wait_for(2).await;
    let m = parse(&to_whom(&got, "yamada@mail.example"))
        .to()
        .unwrap()
        .first()
        .unwrap()
        .name()
        .map(str::to_owned);
    assert_eq!(m.as_deref(), Some("山田 太郎"));

    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        use engagement_tracker::db::schema::contacts::dsl::*;
        let mut conn = db.pool.get().unwrap();
        diesel::update(contacts.filter(email.eq("second@mail.example")))
            .set(email.eq("a,b@c.example"))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            &w.coord_a,
            json!({"kind": "intake_request"}),
        )
        .await;
    let p = crate::helpers::problem(res, 409).await;
    assert!(
        p["detail"].as_str().unwrap().contains("a,b@c.example"),
        "{p}"
    );
    // Nothing half-written, and the next request is served as usual.
    let list: Value = app
        .get(&format!("/api/v1/emails?engagement_id={e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    let res = app
        .step(
            &w.coord_a,
            &e,
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        )
        .await;
    assert_eq!(res.status(), 200);
}
