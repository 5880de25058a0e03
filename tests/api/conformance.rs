//! What a client generated from the OpenAPI document relies on: every refusal names its guard,
//! every bad query parameter is named, and a step never fails for a precondition the caller
//! did not send.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp};

async fn engagement(app: &TestApp) -> (crate::helpers::World, String) {
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 1, 1), "架空病院", 250)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    (w, e)
}

fn slots() -> Value {
    let day = chrono::Utc::now().date_naive() + chrono::Days::new(10);
    let slots: Vec<Value> = (0..2u64)
        .map(|i| {
            let d = day + chrono::Days::new(i);
            json!({"starts_at": format!("{d}T01:00:00Z"), "ends_at": format!("{d}T02:00:00Z"),
                   "format": "online", "meeting_url": "https://meet.example/abc"})
        })
        .collect();
    json!({ "slots": slots })
}

#[tokio::test]
async fn every_refusal_names_its_guard() {
    let app = spawn().await;
    let (w, e) = engagement(&app).await;
    let c = &w.coord_a;

    let res = app
        .post("/api/v1/rounds", &w.admin, json!({"name": "FY2025"}))
        .await;
    assert_eq!(problem(res, 409).await["guard"], "round_exists");

    assert_eq!(app.step(c, &e, "consent", json!({})).await.status(), 200);
    assert_eq!(
        app.step(c, &e, "hearing-slots", slots()).await.status(),
        200
    );
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let first = hearings["slots"][0]["id"].as_str().unwrap();
    let second = hearings["slots"][1]["id"].as_str().unwrap();
    let book = format!("hearing-slots/{first}/book");
    assert_eq!(app.step(c, &e, &book, json!({})).await.status(), 200);
    let book = format!("hearing-slots/{second}/book");
    let res = app.step(c, &e, &book, json!({})).await;
    assert_eq!(problem(res, 409).await["guard"], "hearing_scheduled");

    for status in ["draft", "sent", "signed_by_hospital", "executed"] {
        let res = app
            .req(
                Method::PUT,
                &format!("/api/v1/engagements/{e}/memorandum"),
                Some(c),
            )
            .json(&json!({"status": status, "executed_on": "2025-06-01"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "memorandum {status}");
    }
    let res = app
        .step(c, &e, "questionnaire/review", json!({"decision": "accept"}))
        .await;
    assert_eq!(problem(res, 409).await["guard"], "no_submitted_answers");
    let res = app
        .step(
            c,
            &e,
            "backup-proposal/decision",
            json!({"decision": "adopt"}),
        )
        .await;
    assert_eq!(problem(res, 409).await["guard"], "no_backup_proposal");

    // A conflict with stored data (a unique name) names its guard too.
    let other = app
        .create_org(&w.admin, "Sub B", "subcontractor", Some(&w.prime))
        .await;
    let res = app
        .req(
            Method::PATCH,
            &format!("/api/v1/organizations/{other}"),
            Some(&w.admin),
        )
        .json(&json!({"name": "Sub A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 409).await["guard"], "already_exists");
}

#[tokio::test]
async fn an_invalid_query_parameter_answers_422_naming_it() {
    let app = spawn().await;
    let (w, e) = engagement(&app).await;
    for (query, field) in [
        ("limit=many", "limit"),
        ("overdue=maybe", "overdue"),
        ("stage=nowhere", "stage"),
    ] {
        let res = app
            .get(&format!("/api/v1/engagements?{query}"), &w.admin)
            .await;
        let body = problem(res, 422).await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    // A required parameter left out is named as well.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(crate::helpers::PDF.to_vec()).file_name("a.pdf"),
    );
    let res = app
        .req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/documents"),
            Some(&w.admin),
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(res, 422).await["errors"][0]["field"], "purpose");
}

/// Steps sent at the same moment without If-Match all succeed, one after the other: none
/// answers 412 for a version it never named (PostgreSQL once did).
#[tokio::test]
async fn concurrent_steps_without_if_match_all_succeed() {
    let app = spawn().await;
    let (w, e) = engagement(&app).await;
    let attempts = (0..8).map(|i| {
        app.step(
            &w.coord_a,
            &e,
            "contact-attempts",
            json!({"channel": "phone", "outcome": "no_answer", "note": format!("call {i}")}),
        )
    });
    for res in futures_util::future::join_all(attempts).await {
        let status = res.status();
        assert_eq!(status, 200, "{}", res.text().await.unwrap());
    }
    let timeline: Vec<Value> = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let calls = timeline
        .iter()
        .filter(|ev| {
            ev["payload"]["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("call "))
        })
        .count();
    assert_eq!(calls, 8);
}

/// Well-formed JSON of the wrong shape is a 422 naming the field, never "malformed JSON"
/// (serde_json reports a null or a map where an enum is expected as a syntax error).
#[tokio::test]
async fn a_wrong_type_is_named_even_where_serde_calls_it_syntax() {
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    for kind in [json!(null), json!({}), json!(0), json!(false)] {
        let res = app
            .post(
                "/api/v1/organizations",
                &admin,
                json!({"name": "Sub C", "kind": kind}),
            )
            .await;
        let body = problem(res, 422).await;
        assert_eq!(body["errors"][0]["field"], "kind", "{kind}: {body}");
    }
    let res = app
        .req(Method::POST, "/api/v1/organizations", Some(&admin))
        .header("content-type", "application/json")
        .body(r#"{"name": "Sub C", "kind": "#)
        .send()
        .await
        .unwrap();
    problem(res, 400).await;
}

/// A CSV body over the limit is a 413 problem document like any other, not a bare text answer.
#[tokio::test]
async fn an_oversized_csv_body_is_a_413_problem() {
    let app = spawn().await;
    let w = app.world().await;
    let mut csv = String::from("prefecture,tier,slots\n");
    while csv.len() <= 1024 * 1024 {
        csv.push_str("北海道,400+,1\n");
    }
    let res = app
        .req(
            Method::POST,
            "/api/v1/rounds/FY2025/slots/import",
            Some(&w.admin),
        )
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    problem(res, 413).await;
}
