//! An engagement walked through every stage, its guards, and the conventions of its commands.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp, World, PDF, PNG};
use crate::questionnaire::full_answers;

async fn stage(app: &crate::helpers::TestApp, token: &str, id: &str) -> Value {
    let res = app.get(&format!("/api/v1/engagements/{id}"), token).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn an_engagement_walks_from_selection_to_completion() {
    let app = spawn().await;
    let w = app.world().await;
    let e = select_a_hospital(&app, &w).await;
    let c = &w.coord_a;
    reach_the_hospital_and_confirm_consent(&app, c, &e).await;
    execute_the_memorandum(&app, c, &e).await;
    receive_the_diagram_and_questionnaire(&app, c, &e).await;
    hold_the_hearing(&app, c, &e).await;
    verify_and_deliver_the_report(&app, c, &e).await;
    skip_the_backup_and_complete(&app, c, &e).await;
    check_the_timeline(&app, c, &e).await;
}

/// A hospital is selected into the round and assigned to subcontractor A.
async fn select_a_hospital(app: &TestApp, w: &World) -> String {
    let h = app
        .hospital(
            &w.admin,
            &institution_code("13", 1, 1),
            "架空市立中央病院",
            250,
        )
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let c = &w.coord_a;

    let d = stage(app, c, &e).await;
    assert_eq!(d["stage"], "selected");
    assert_eq!(d["tier"], "200-399");
    assert_eq!(d["next_action"]["awaiting"], "vendor");
    assert_eq!(d["hospital"]["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(d["hospital"]["needs_contacts"], false);
    e
}

/// The vendor reaches the hospital, which agrees to take part.
async fn reach_the_hospital_and_confirm_consent(app: &TestApp, c: &str, e: &str) {
    let d = ok(app
        .step(
            c,
            e,
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached", "note": "事務長と通話"}),
        )
        .await)
    .await;
    assert_eq!(d["stage"], "contacting");
    assert_eq!(d["next_action"]["code"], "confirm_participation");
    assert_eq!(d["next_action"]["awaiting"], "hospital");

    let d = ok(app
        .step(c, e, "consent", json!({"note": "電話で参加の意思を確認"}))
        .await)
    .await;
    assert_eq!(d["stage"], "consented");
}

/// The memorandum is signed and executed; nothing confidential comes before it.
async fn execute_the_memorandum(app: &TestApp, c: &str, e: &str) {
    // Nothing confidential before the memorandum is executed.
    let res = app.upload(c, e, "diagram", "構成図.png", PNG).await;
    let body = problem(res, 409).await;
    assert_eq!(body["guard"], "memorandum_not_executed");

    let memo = |status: &'static str| {
        app.req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/memorandum"),
            Some(c),
        )
        .json(&json!({"status": status, "template_version": "2025-04"}))
        .send()
    };
    ok(memo("draft").await.unwrap()).await;
    ok(memo("sent").await.unwrap()).await;
    // The signed copy moves the memorandum to `signed_by_hospital` on every channel.
    let d = ok(app.upload(c, e, "memorandum_signed", "覚書.pdf", PDF).await).await;
    assert_eq!(d["memorandum"]["status"], "signed_by_hospital");
    let d = ok(memo("executed").await.unwrap()).await;
    assert_eq!(d["stage"], "memorandum");
    assert_eq!(d["memorandum"]["status"], "executed");
    // It does not go back.
    problem(memo("sent").await.unwrap(), 409).await;
}

/// The diagram arrives; the questionnaire goes back once for clarification, then is accepted.
async fn receive_the_diagram_and_questionnaire(app: &TestApp, c: &str, e: &str) {
    let d = ok(app.upload(c, e, "diagram", "構成図.png", PNG).await).await;
    assert_eq!(d["next_action"]["code"], "answer_questionnaire");

    let q: Value = app
        .get(&format!("/api/v1/engagements/{e}/questionnaire"), c)
        .await
        .json()
        .await
        .unwrap();
    assert!(q["status"].is_null());
    let templates: Value = app
        .get("/api/v1/questionnaire-templates", c)
        .await
        .json()
        .await
        .unwrap();
    let template = templates[0]["template"].clone();
    let answers = full_answers(&template);
    let req = |path: &'static str, m: Method, body: Value| {
        app.req(m, &format!("/api/v1/engagements/{e}/{path}"), Some(c))
            .json(&body)
            .send()
    };
    ok(req("questionnaire", Method::PUT, json!({"answers": {}}))
        .await
        .unwrap())
    .await;
    let d = ok(req(
        "questionnaire/submit",
        Method::POST,
        json!({"answers": answers}),
    )
    .await
    .unwrap())
    .await;
    assert_eq!(d["questionnaire_status"], "submitted");
    assert_eq!(d["next_action"]["code"], "review_questionnaire");
    let d = ok(req("questionnaire/review", Method::POST, json!({"decision": "request_clarification", "comment": "VPN装置のファームウェア版数をご記入ください"})).await.unwrap()).await;
    assert_eq!(d["questionnaire_status"], "clarification_requested");
    assert_eq!(d["stage"], "memorandum");
    ok(req(
        "questionnaire/submit",
        Method::POST,
        json!({"answers": answers}),
    )
    .await
    .unwrap())
    .await;
    let d = ok(req(
        "questionnaire/review",
        Method::POST,
        json!({"decision": "accept"}),
    )
    .await
    .unwrap())
    .await;
    assert_eq!(d["stage"], "intake");
    assert_eq!(d["next_action"]["code"], "offer_slots");
}

/// Slots are offered, one is booked, moved, and the hearing held with its minutes.
async fn hold_the_hearing(app: &TestApp, c: &str, e: &str) {
    let slots: Vec<Value> = (0..3)
        .map(|i| {
            json!({"starts_at": app.days_ahead(10 + i, "01:00"), "ends_at": app.days_ahead(10 + i, "02:30"),
                   "format": "online", "meeting_url": "https://meet.example/abc"})
        })
        .collect();
    let d = ok(app
        .step(c, e, "hearing-slots", json!({"slots": slots}))
        .await)
    .await;
    assert_eq!(d["open_slots"], 3);
    assert_eq!(d["next_action"]["code"], "pick_slot");
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let slot = hearings["slots"][0]["id"].as_str().unwrap().to_owned();
    let other = hearings["slots"][1]["id"].as_str().unwrap().to_owned();
    let d = ok(app
        .step(
            c,
            e,
            &format!("hearing-slots/{slot}/book"),
            json!({"attendees": [{"kind": "system_vendor", "name": "架空システム株式会社 佐藤"}]}),
        )
        .await)
    .await;
    assert_eq!(d["hearing_scheduled_at"], app.days_ahead(10, "01:00"));
    ok(app
        .step(
            c,
            e,
            "hearing/reschedule",
            json!({"slot_id": other, "reason": "病院側のご都合"}),
        )
        .await)
    .await;
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        hearings["hearings"][1]["sequence"], 1,
        "a reschedule raises the sequence"
    );
    assert_eq!(
        hearings["hearings"][1]["attendees"][0]["kind"],
        "system_vendor"
    );
    let minutes: Value = ok(app.upload(c, e, "minutes", "議事録.pdf", PDF).await).await;
    let _ = minutes;
    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), c)
        .await
        .json()
        .await
        .unwrap();
    let minutes_id = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["purpose"] == "minutes")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = ok(app
        .step(
            c,
            e,
            "hearing/outcome",
            json!({"outcome": "held", "minutes_document_id": minutes_id}),
        )
        .await)
    .await;
    assert_eq!(d["stage"], "hearing");
}

/// A finding is recorded and the report delivered.
async fn verify_and_deliver_the_report(app: &TestApp, c: &str, e: &str) {
    ok(app.step(c, e, "findings", json!({"title": "保守回線のVPN装置が未更新", "severity": "high", "affected": "リモート保守VPN"})).await).await;
    ok(app.upload(c, e, "report", "検証報告書.pdf", PDF).await).await;
    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), c)
        .await
        .json()
        .await
        .unwrap();
    let report = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["purpose"] == "report")
        .unwrap()["id"]
        .clone();
    let d = ok(app
        .step(c, e, "report", json!({"document_id": report}))
        .await)
    .await;
    assert_eq!(d["stage"], "verification");
}

/// Completion waits for the backup step; skipping it lets the engagement complete.
async fn skip_the_backup_and_complete(app: &TestApp, c: &str, e: &str) {
    // Completion needs the backup step too.
    let body = problem(app.step(c, e, "complete", json!({})).await, 409).await;
    assert_eq!(body["guard"], "completion");
    assert!(body["detail"].as_str().unwrap().contains("backup"));

    // A proposal and its decision count in the dashboard; a new proposal reopens the decision;
    // a skip counts as skipped.
    let propose = || async {
        let res = app
            .req(
                Method::PUT,
                &format!("/api/v1/engagements/{e}/backup-proposal"),
                Some(c),
            )
            .json(&json!({"current": {"media": ["nas"], "offline": false}, "proposed": {"capacity_tb": 4.0, "media": ["rdx"]}}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "propose");
    };
    let backup_counts = || async {
        let s = ok(app.get("/api/v1/dashboard/summary", c).await).await;
        let b = &s["totals"]["backup"];
        ["adopt", "defer", "decline", "skipped"].map(|k| b[k].as_i64().unwrap())
    };
    propose().await;
    assert_eq!(backup_counts().await, [0, 0, 0, 0]);
    ok(app
        .step(
            c,
            e,
            "backup-proposal/decision",
            json!({"decision": "adopt"}),
        )
        .await)
    .await;
    assert_eq!(backup_counts().await, [1, 0, 0, 0]);
    propose().await;
    assert_eq!(backup_counts().await, [0, 0, 0, 0]);

    let d = ok(app
        .step(
            c,
            e,
            "backup-proposal/skip",
            json!({"reason": "既にオフラインのテープ運用あり"}),
        )
        .await)
    .await;
    assert_eq!(d["stage"], "backup");
    assert_eq!(backup_counts().await, [0, 0, 0, 1]);
    let d = ok(app.step(c, e, "complete", json!({})).await).await;
    assert_eq!(d["stage"], "completed");
    assert!(d["next_action"].is_null());
}

/// Every step is in the timeline, with who took it; a download is recorded too.
async fn check_the_timeline(app: &TestApp, c: &str, e: &str) {
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), c)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    for expected in [
        "selected",
        "contact_attempt",
        "consent_recorded",
        "memorandum_status",
        "document_uploaded",
        "diagram_uploaded",
        "questionnaire_saved",
        "questionnaire_submitted",
        "questionnaire_clarification_requested",
        "questionnaire_accepted",
        "slots_offered",
        "hearing_booked",
        "hearing_rescheduled",
        "hearing_held",
        "finding_recorded",
        "report_delivered",
        "backup_skipped",
        "completed",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let last = timeline.as_array().unwrap().last().unwrap();
    assert_eq!(last["stage_before"], "backup");
    assert_eq!(last["stage_after"], "completed");
    assert!(last["actor"].as_str().unwrap().contains("coord@a.example"));
    let first = &timeline[0];
    assert!(first["actor"]
        .as_str()
        .unwrap()
        .contains("admin@prime.example"));
    // Every milestone records who reached it.
    let d = stage(app, c, e).await;
    assert!(d["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["by"].as_str().unwrap().starts_with("user:")));

    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), c)
        .await
        .json()
        .await
        .unwrap();
    // The download of a document is in the timeline too, and the bytes come back intact.
    let diagram = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["purpose"] == "diagram")
        .unwrap()
        .clone();
    assert_eq!(diagram["content_type"], "image/png");
    let res = app
        .get(
            &format!(
                "/api/v1/engagements/{e}/documents/{}/content",
                diagram["id"].as_str().unwrap()
            ),
            c,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), c)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        timeline.as_array().unwrap().last().unwrap()["kind"],
        "document_downloaded"
    );
}

#[tokio::test]
async fn an_admin_may_override_a_guard_with_a_reason() {
    let app = spawn().await;
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 2), "架空記念病院", 120)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;

    // A coordinator cannot override.
    let body = problem(
        app.step(
            &w.coord_a,
            &e,
            "complete",
            json!({"override_reason": "急ぎ"}),
        )
        .await,
        403,
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("admin"));

    let res = app
        .upload(&w.admin, &e, "diagram", "diagram.png", PNG)
        .await;
    problem(res, 409).await;
    let part = reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("diagram.png");
    let res = app
        .req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/documents?purpose=diagram&override_reason=%E8%A6%9A%E6%9B%B8%E3%81%AF%E7%B4%99%E3%81%A7%E7%B7%A0%E7%B5%90%E6%B8%88%E3%81%BF"),
            Some(&w.admin),
        )
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let d = ok(app
        .step(
            &w.admin,
            &e,
            "complete",
            json!({"override_reason": "県の指示により事業対象外として終了"}),
        )
        .await)
    .await;
    assert_eq!(d["stage"], "completed");
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let overrides: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["override_reason"].as_str())
        .collect();
    assert_eq!(overrides.len(), 2, "{timeline}");
    assert!(
        overrides[0].contains("覚書は紙で締結済み")
            && overrides[0].contains("memorandum_not_executed")
    );
    assert!(overrides[1].contains("県の指示") && overrides[1].contains("completion"));
}

#[tokio::test]
async fn twenty_concurrent_bookings_of_one_slot_have_one_winner() {
    let app = spawn().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 3), "架空第一病院", 80)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    ok(app.step(&w.coord_a, &e, "consent", json!({})).await).await;
    ok(app
        .step(&w.coord_a, &e, "hearing-slots", json!({"slots": [{"starts_at": "2026-12-10T05:00:00Z", "ends_at": "2026-12-10T06:00:00Z", "format": "onsite", "place": "病院 3階会議室"}]}))
        .await)
    .await;
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let slot = hearings["slots"][0]["id"].as_str().unwrap().to_owned();

    let path = format!("/api/v1/engagements/{e}/hearing-slots/{slot}/book");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let rb = app
                .req(Method::POST, &path, Some(&w.coord_a))
                .json(&json!({}));
            tokio::spawn(async move { rb.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hearings["hearings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn stale_if_match_and_repeated_idempotency_keys_have_no_effect() {
    let app = spawn().await;
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 4), "架空南病院", 300)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let path = format!("/api/v1/engagements/{e}");
    let res = app.get(&path, &w.coord_a).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();

    let attempt = |key: Option<&'static str>, etag: Option<String>| {
        let mut rb = app
            .req(
                Method::POST,
                &format!("{path}/contact-attempts"),
                Some(&w.coord_a),
            )
            .json(&json!({"channel": "email", "outcome": "reached"}));
        if let Some(k) = key {
            rb = rb.header("Idempotency-Key", k);
        }
        if let Some(t) = etag {
            rb = rb.header("If-Match", t);
        }
        rb.send()
    };
    let first = ok(attempt(Some("k-1"), Some(etag.clone())).await.unwrap()).await;
    // The same key again: the same answer, and no second attempt in the timeline.
    let again = ok(attempt(Some("k-1"), None).await.unwrap()).await;
    assert_eq!(first, again);
    let timeline: Value = app
        .get(&format!("{path}/timeline"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let attempts = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "contact_attempt")
        .count();
    assert_eq!(attempts, 1);
    // The same key with another body is refused.
    let res = app
        .req(
            Method::POST,
            &format!("{path}/contact-attempts"),
            Some(&w.coord_a),
        )
        .header("Idempotency-Key", "k-1")
        .json(&json!({"channel": "phone", "outcome": "reached"}))
        .send()
        .await
        .unwrap();
    problem(res, 422).await;

    // The ETag read before the attempt is stale now.
    let body = problem(attempt(None, Some(etag)).await.unwrap(), 412).await;
    assert!(body["detail"].as_str().unwrap().contains("If-Match"));
    let timeline: Value = app
        .get(&format!("{path}/timeline"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "contact_attempt")
            .count(),
        1
    );

    let res = app
        .req(Method::PATCH, &path, Some(&w.coord_a))
        .header("If-Match", "\"v1\"")
        .json(&json!({"note": "x"}))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;
}

#[tokio::test]
async fn side_states_pause_and_resume() {
    let app = spawn().await;
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 5), "架空北病院", 40)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let c = &w.coord_a;
    ok(app
        .step(
            c,
            &e,
            "contact-attempts",
            json!({"channel": "letter", "outcome": "other"}),
        )
        .await)
    .await;
    let d = ok(app.step(c, &e, "side-state", json!({"state": "on_hold", "reason": "電子カルテ更新作業中", "resume_on": &app.days_ahead(60, "00:00")[..10]})).await).await;
    assert_eq!(d["side_state"]["state"], "on_hold");
    assert_eq!(d["next_action"]["code"], "resume");
    assert_eq!(d["stage"], "contacting", "the stage is kept");
    let body = problem(app.step(c, &e, "consent", json!({})).await, 409).await;
    assert_eq!(body["guard"], "side_state");
    problem(
        app.step(
            c,
            &e,
            "side-state",
            json!({"state": "declined", "reason": ""}),
        )
        .await,
        422,
    )
    .await;
    let d = ok(app
        .step(c, &e, "resume", json!({"note": "再開のご連絡あり"}))
        .await)
    .await;
    assert!(d["side_state"].is_null());
    let d = ok(app
        .step(
            c,
            &e,
            "side-state",
            json!({"state": "declined", "reason": "院内の体制が整わないため辞退"}),
        )
        .await)
    .await;
    assert_eq!(d["side_state"]["state"], "declined");
    assert!(d["next_action"].is_null());
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), c)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.ends_with(&["put_on_hold", "resumed", "declined"]),
        "{kinds:?}"
    );
}

/// The booking rule does not rest on the application's check alone: the database itself refuses
/// a second scheduled hearing for one slot.
#[tokio::test]
async fn the_database_refuses_a_second_booking_of_a_slot() {
    use engagement_tracker::db::{self, hearings::HearingRow};
    let app = spawn().await;
    // The slot dates below stay ahead of the app, whatever day the tests run.
    app.pin_clock();
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 6), "架空制約病院", 100)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    ok(app.step(&w.coord_a, &e, "consent", json!({})).await).await;
    ok(app
        .step(&w.coord_a, &e, "hearing-slots", json!({"slots": [{"starts_at": "2026-12-11T05:00:00Z", "ends_at": "2026-12-11T06:00:00Z", "format": "onsite", "place": "会議室"}]}))
        .await)
    .await;
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let slot = hearings["slots"][0]["id"].as_str().unwrap().to_owned();
    let database = app.db.clone();
    let results = tokio::task::spawn_blocking(move || {
        let row = |id: &str| HearingRow {
            id: id.into(),
            engagement_id: e.as_str().into(),
            slot_id: slot.clone(),
            status: engagement_tracker::domain::hearings::HearingStatus::Scheduled,
            attendees: engagement_tracker::db::types::Json::empty_list(),
            sequence: 0,
            outcome_note: None,
            minutes_document_id: None,
            cancel_reason: None,
            booked_at: db::now(),
            updated_at: db::now(),
        };
        let mut conn = database.pool.get().unwrap();
        let first = db::hearings::insert_hearing(&mut conn, &row("h-1"));
        let second = db::hearings::insert_hearing(&mut conn, &row("h-2"));
        (first.is_ok(), second)
    })
    .await
    .unwrap();
    assert!(results.0);
    assert!(
        matches!(results.1, Err(db::DbError::AlreadyExists(_))),
        "{:?}",
        results.1
    );
}
