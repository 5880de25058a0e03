//! The pre-questionnaire through the API.

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::helpers::{institution_code, problem, spawn};

/// Answers to every required question of a template, built from the template itself.
pub fn full_answers(template: &Value) -> Value {
    let mut out = Map::new();
    for section in template["sections"].as_array().unwrap() {
        for q in section["questions"].as_array().unwrap() {
            if q["required"] != true {
                continue;
            }
            let kind = &q["kind"];
            let first = |k: &str| kind[k][0]["value"].clone();
            let a = match kind["type"].as_str().unwrap() {
                "yes_no" => json!({"yes_no": {"value": true, "checked_on": "2026-11-01"}}),
                "single_choice" => json!({"choice": first("options")}),
                "multiple_choice" => json!({"choices": [first("options")]}),
                "text" => json!({"text": "情報システム課 山田"}),
                "number" => json!({"number": 2}),
                "date" => json!({"date": "2026-10-01"}),
                "rows" => json!({"rows": []}),
                other => panic!("unknown kind {other}"),
            };
            out.insert(q["id"].as_str().unwrap().to_owned(), a);
        }
    }
    Value::Object(out)
}

#[tokio::test]
async fn answers_are_checked_saved_submitted_and_locked() {
    let app = spawn().await;
    let w = app.world().await;
    let h = app
        .hospital(
            &w.admin,
            &institution_code("13", 9, 1),
            "架空質問票病院",
            200,
        )
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let c = &w.coord_a;
    app.step_ok(c, &e, "consent", json!({})).await;
    let put = |body: Value| {
        app.req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/questionnaire"),
            Some(c),
        )
        .json(&body)
        .send()
    };
    // Before the memorandum: nothing confidential.
    let body = problem(put(json!({"answers": {}})).await.unwrap(), 409).await;
    assert_eq!(body["guard"], "memorandum_not_executed");
    app.req(
        Method::PUT,
        &format!("/api/v1/engagements/{e}/memorandum"),
        Some(c),
    )
    .json(&json!({"status": "executed"}))
    .send()
    .await
    .unwrap();

    // A draft may be partial, but what is there must be right; errors name the question.
    let body = problem(
        put(json!({"answers": {
            "2.7.server": {"yes_no": {"value": false, "checked_on": "2026-11-01"}},
            "backup.copies": {"number": -3},
            "nope": {"text": "x"}
        }}))
        .await
        .unwrap(),
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
    assert_eq!(
        fields,
        [
            "answers.2.7.server",
            "answers.backup.copies",
            "answers.nope"
        ]
    );
    let body = problem(
        put(json!({"answers": {"1.1": {"maybe": true}}}))
            .await
            .unwrap(),
        422,
    )
    .await;
    assert!(body["errors"][0]["field"]
        .as_str()
        .unwrap()
        .starts_with("answers"));

    let res =
        put(json!({"answers": {"1.1": {"yes_no": {"value": true, "checked_on": "2026-11-01"}}}}))
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let q: Value = app
        .get(&format!("/api/v1/engagements/{e}/questionnaire"), c)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["status"], "draft");
    assert_eq!(q["answered_required"], 1);
    assert!(q["total_required"].as_i64().unwrap() > 20);
    assert_eq!(q["answers"]["1.1"]["yes_no"]["value"], true);

    // Submitting needs every required answer.
    let submit = |answers: Value| {
        app.req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/questionnaire/submit"),
            Some(c),
        )
        .json(&json!({"answers": answers}))
        .send()
    };
    let body = problem(submit(q["answers"].clone()).await.unwrap(), 422).await;
    assert!(body["errors"].as_array().unwrap().len() > 10);
    let templates: Value = app
        .get("/api/v1/questionnaire-templates", c)
        .await
        .json()
        .await
        .unwrap();
    let full = full_answers(&templates[0]["template"]);
    assert_eq!(submit(full.clone()).await.unwrap().status(), 200);
    // Submitted answers are locked until a coordinator asks for clarification.
    problem(put(json!({"answers": full})).await.unwrap(), 409).await;
    problem(
        app.step(
            c,
            &e,
            "questionnaire/review",
            json!({"decision": "request_clarification"}),
        )
        .await,
        422,
    )
    .await;
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), c)
        .await
        .json()
        .await
        .unwrap();
    let saved = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "questionnaire_submitted")
        .unwrap();
    assert!(
        saved["payload"].get("answers").is_none(),
        "the timeline keeps no confidential content"
    );
}

#[tokio::test]
async fn templates_are_versioned() {
    let app = spawn().await;
    let w = app.world().await;
    let templates: Value = app
        .get("/api/v1/questionnaire-templates", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let mut t = templates[0]["template"].clone();
    assert_eq!(t["version"], 1);
    problem(
        app.post("/api/v1/questionnaire-templates", &w.admin, t.clone())
            .await,
        409,
    )
    .await;
    t["version"] = json!(2);
    t["sections"][0]["questions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "1.2", "text_ja": "情報セキュリティ研修を実施していますか", "text_en": "Is security training held?", "required": false, "kind": {"type": "yes_no"}}));
    problem(
        app.post("/api/v1/questionnaire-templates", &w.coord_a, t.clone())
            .await,
        403,
    )
    .await;
    let res = app
        .post("/api/v1/questionnaire-templates", &w.admin, t.clone())
        .await;
    assert_eq!(res.status(), 201);
    let mut dup = t.clone();
    dup["version"] = json!(3);
    dup["sections"][0]["questions"][1]["id"] = json!("1.1");
    problem(
        app.post("/api/v1/questionnaire-templates", &w.admin, dup)
            .await,
        422,
    )
    .await;

    let h = app
        .hospital(&w.admin, &institution_code("13", 9, 2), "架空版数病院", 200)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let q: Value = app
        .get(
            &format!("/api/v1/engagements/{e}/questionnaire"),
            &w.coord_a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(q["template_version"], 2);
}
