//! The rules the API and the hospital's pages share: each difference the two channels once had
//! is checked here on both (see ARCHITECTURE.md, "Channels").

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::portal::{csrf_of, html_of, link, post_form, setup};

async fn detail(app: &TestApp, token: &str, e: &str) -> Value {
    let res = app.get(&format!("/api/v1/engagements/{e}"), token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn hearings(app: &TestApp, token: &str, e: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), token)
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Slot times relative to now: `hours` from now, one hour long.
fn slot(hours: i64) -> Value {
    let start = Utc::now() + Duration::hours(hours);
    json!({"starts_at": start.to_rfc3339(), "ends_at": (start + Duration::hours(1)).to_rfc3339(),
           "format": "online", "meeting_url": "https://meet.example/x"})
}

/// A consented engagement with a past slot and two future ones; returns their ids in order.
async fn with_slots(app: &TestApp, w: &World, n: u32) -> (String, String, [String; 3]) {
    let (e, contact) = setup(app, w, n).await;
    let c = &w.coord_a;
    assert_eq!(app.step(c, &e, "consent", json!({})).await.status(), 200);
    let res = app
        .step(
            c,
            &e,
            "hearing-slots",
            json!({"slots": [slot(-48), slot(72), slot(96)]}),
        )
        .await;
    assert_eq!(res.status(), 200, "offer slots");
    let h = hearings(app, c, &e).await;
    let id = |i: usize| h["slots"][i]["id"].as_str().unwrap().to_owned();
    (e, contact, [id(0), id(1), id(2)])
}

#[tokio::test]
async fn the_signed_memorandum_moves_to_signed_by_hospital_on_both_channels() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    // API
    let (e, _) = setup(&app, &w, 1).await;
    let res = app
        .upload(c, &e, "memorandum_signed", "覚書.pdf", PDF)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        detail(&app, c, &e).await["memorandum"]["status"],
        "signed_by_hospital"
    );
    // Page
    let (e, contact) = setup(&app, &w, 2).await;
    let page = link(&app, c, &e, &contact, "memorandum").await;
    let html = html_of(&app, &page).await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf_of(&html))
        .part(
            "file",
            reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("覚書.pdf"),
        );
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url(&page))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        detail(&app, c, &e).await["memorandum"]["status"],
        "signed_by_hospital"
    );
}

#[tokio::test]
async fn a_decline_reason_follows_one_length_rule_on_both_channels() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    let long = "理".repeat(2001);
    let (e, contact) = setup(&app, &w, 1).await;
    let res = app
        .step(
            c,
            &e,
            "side-state",
            json!({"state": "declined", "reason": long}),
        )
        .await;
    problem(res, 422).await;
    let page = link(&app, c, &e, &contact, "participation").await;
    let html = html_of(&app, &page).await;
    let csrf = csrf_of(&html);
    let (status, html, _) = post_form(
        &app,
        &page,
        &[("csrf", &csrf), ("action", "decline"), ("reason", &long)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("2,000文字以内"), "{html}");
    assert!(detail(&app, c, &e).await["side_state"].is_null());
    // Within the rule, both accept.
    let (status, _, _) = post_form(
        &app,
        &page,
        &[
            ("csrf", &csrf),
            ("action", "decline"),
            ("reason", "院内の事情により"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(detail(&app, c, &e).await["side_state"]["state"], "declined");
}

#[tokio::test]
async fn past_slots_are_open_nowhere_and_booking_one_is_slot_past() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    let (e, contact, [past, future, _]) = with_slots(&app, &w, 1).await;
    let h = hearings(&app, c, &e).await;
    assert_eq!(h["slots"][0]["status"], "past");
    assert_eq!(h["slots"][1]["status"], "open");
    assert_eq!(detail(&app, c, &e).await["open_slots"], 2);
    // API
    let res = app
        .req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/hearing-slots/{past}/book"),
            Some(c),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 409).await["guard"], "slot_past");
    // Page: not offered, and refused with its own words when sent anyway.
    let page = link(&app, c, &e, &contact, "hearing").await;
    let html = html_of(&app, &page).await;
    assert!(!html.contains(&past) && html.contains(&future));
    let (status, html, _) = post_form(
        &app,
        &page,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "book"),
            ("slot_id", &past),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("すでに過ぎております"), "{html}");
    assert!(detail(&app, c, &e).await["hearing_scheduled_at"].is_null());
}

#[tokio::test]
async fn rescheduling_to_the_same_slot_is_refused_on_both_channels_and_changes_nothing() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    let (e, contact, [_, first, _]) = with_slots(&app, &w, 1).await;
    let res = app
        .req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/hearing-slots/{first}/book"),
            Some(c),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let before = detail(&app, c, &e).await;
    // API
    let res = app
        .step(
            c,
            &e,
            "hearing/reschedule",
            json!({"slot_id": first, "reason": "都合"}),
        )
        .await;
    assert_eq!(problem(res, 409).await["guard"], "same_slot");
    // Page: the refusal is shown, and nothing of the attempt stays (the hearing is still the
    // same one, in the same slot).
    let page = link(&app, c, &e, &contact, "hearing").await;
    let html = html_of(&app, &page).await;
    let (status, html, _) = post_form(
        &app,
        &page,
        &[
            ("csrf", &csrf_of(&html)),
            ("action", "reschedule"),
            ("slot_id", &first),
            ("reason", "都合"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains("現在のご予約と同じ"), "{html}");
    let h = hearings(&app, c, &e).await;
    assert_eq!(h["hearings"].as_array().unwrap().len(), 1);
    assert_eq!(h["hearings"][0]["status"], "scheduled");
    assert_eq!(detail(&app, c, &e).await["version"], before["version"]);
}

#[tokio::test]
async fn sort_by_stage_follows_the_pipeline_not_the_alphabet() {
    let app = spawn().await;
    let w = app.world().await;
    let c = &w.coord_a;
    let (first, _) = setup(&app, &w, 1).await;
    let (second, _) = setup(&app, &w, 2).await;
    // `contacting` sorts before `selected` alphabetically, after it in the pipeline.
    let res = app
        .step(
            c,
            &first,
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached"}),
        )
        .await;
    assert_eq!(res.status(), 200);
    for (sort, expected) in [("stage", [&second, &first]), ("-stage", [&first, &second])] {
        let res = app
            .get(&format!("/api/v1/engagements?sort={sort}"), c)
            .await;
        assert_eq!(res.status(), 200);
        let list: Value = res.json().await.unwrap();
        let ids: Vec<&str> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, expected.map(String::as_str), "sort={sort}");
    }
}
