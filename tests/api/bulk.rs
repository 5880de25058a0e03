//! The bulk use cases at scale: a list of thousands of rows (new, unchanged, changed and bad
//! rows mixed) and assignment of 5,000 engagements. Results are checked, not timed.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp};

const HEADER: &str =
    "都道府県,医療機関コード,病院名,病床数,担当者1氏名,担当者1メール,担当者2氏名,担当者2メール";

fn row(n: u32, beds: u32, first_email: &str) -> String {
    let code = institution_code("13", 40 + n / 1000, n % 1000 + 1);
    format!("東京都,{code},架空病院{n},{beds},佐藤 一郎,{first_email},鈴木 次郎,second{n}@list.example\n")
}

fn list(rows: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    text.extend(rows);
    text.into_bytes()
}

async fn import(app: &TestApp, token: &str, bytes: &[u8], query: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("list.csv"),
        )
        .text("round", "FY2025");
    app.req(
        Method::POST,
        &format!("/api/v1/imports{query}"),
        Some(token),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

fn results(report: &Value) -> (i64, i64, i64, i64) {
    (
        report["created"].as_i64().unwrap(),
        report["updated"].as_i64().unwrap(),
        report["unchanged"].as_i64().unwrap(),
        report["rejected"].as_i64().unwrap(),
    )
}

async fn count(app: &TestApp, token: &str, query: &str) -> i64 {
    let list: Value = app
        .get(
            &format!("/api/v1/engagements?limit=1&count=true{query}"),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    list["total"].as_i64().unwrap()
}

async fn timeline(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let t: Value = app
        .get(&format!("/api/v1/engagements/{id}/timeline"), token)
        .await
        .json()
        .await
        .unwrap();
    t.as_array().unwrap().clone()
}

async fn engagement(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/api/v1/engagements/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_mixed_list_of_two_thousand_rows_imports_and_five_thousand_engagements_are_assigned() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;

    // 4,500 hospitals new to the database.
    let first = list((0..4500).map(|n| row(n, 150, &format!("first{n}@list.example"))));
    let report: Value = import(&app, a, &first, "").await.json().await.unwrap();
    assert_eq!(results(&report), (4500, 0, 0, 0));
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["changed"] == json!(["contacts"]) && r["engagement_id"].is_string()));
    assert_eq!(count(&app, a, "").await, 4500);

    // 2,000 rows: 1,000 as before, 500 with a new bed count and first contact's address, 500
    // new hospitals; and one row with a bad code.
    let mut code = institution_code("13", 90, 1);
    let last = code.pop().unwrap().to_digit(10).unwrap();
    code.push(char::from_digit((last + 1) % 10, 10).unwrap());
    let second = list(
        (0..1000)
            .map(|n| row(n, 150, &format!("first{n}@list.example")))
            .chain((1000..1500).map(|n| row(n, 450, &format!("new{n}@list.example"))))
            .chain((4500..5000).map(|n| row(n, 150, &format!("first{n}@list.example"))))
            .chain([format!("東京都,{code},不正病院,10,,,,\n")]),
    );

    // A dry run tells what would happen and writes nothing; all-or-nothing refuses the list.
    let report: Value = import(&app, a, &second, "?dry_run=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        results(&report),
        (500, 500, 1000, 1),
        "{}",
        report["rows"][2000]
    );
    assert_eq!(report["written"], false);
    let rows = report["rows"].as_array().unwrap();
    assert!(rows[1500..2000]
        .iter()
        .all(|r| r["engagement_id"].is_null()));
    problem(import(&app, a, &second, "").await, 422).await;
    assert_eq!(count(&app, a, "").await, 4500);

    // Partial: every good row lands.
    let report: Value = import(&app, a, &second, "?partial=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (500, 500, 1000, 1));
    assert_eq!(report["written"], true);
    let rows = report["rows"].as_array().unwrap();
    assert!(rows[..1000]
        .iter()
        .all(|r| r["result"] == "unchanged" && r["changed"].is_null()));
    assert_eq!(rows[1000]["result"], "updated");
    assert_eq!(rows[1000]["changed"], json!(["beds", "contacts", "tier"]));
    assert!(rows[1500..2000]
        .iter()
        .all(|r| r["result"] == "created" && r["engagement_id"].is_string()));
    assert_eq!(rows[2000]["result"], "rejected");
    assert_eq!(count(&app, a, "").await, 5000);
    let updated = rows[1000]["engagement_id"].as_str().unwrap().to_owned();
    let created = rows[1999]["engagement_id"].as_str().unwrap().to_owned();
    let d = engagement(&app, a, &updated).await;
    assert_eq!(d["hospital"]["beds"], 450);
    assert_eq!(d["tier"], "400+");
    assert_eq!(d["version"], 2);
    let emails: Vec<&str> = d["hospital"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert!(emails.contains(&"new1000@list.example"), "{emails:?}");
    let kinds: Vec<Value> = timeline(&app, a, &updated)
        .await
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, ["imported", "import_updated"]);
    let t = timeline(&app, a, &created).await;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0]["kind"], "imported");
    assert_eq!(t[0]["payload"]["round"], "FY2025");
    assert_eq!(t[0]["stage_after"], "selected");

    // All 5,000 to subcontractor A by filter: each with its event and a new version.
    let res = app
        .post(
            "/api/v1/engagements/assign",
            a,
            json!({"organization_id": w.sub_a, "filter": {"round": "FY2025"}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["assigned"], 5000);
    assert_eq!(
        count(&app, a, &format!("&organization_id={}", w.sub_a)).await,
        5000
    );
    assert_eq!(count(&app, &w.coord_a, "").await, 5000);
    let d = engagement(&app, &w.coord_a, &updated).await;
    assert_eq!(
        (d["organization_id"].as_str(), d["version"].as_i64()),
        (Some(w.sub_a.as_str()), Some(3))
    );
    let t = timeline(&app, a, &created).await;
    let last = t.last().unwrap();
    assert_eq!(last["kind"], "assigned");
    assert_eq!(last["payload"], json!({"from": null, "to": w.sub_a}));
    assert_eq!(last["stage_before"], "selected");

    // By id back to no one; an unknown id refuses the whole call.
    problem(
        app.post(
            "/api/v1/engagements/assign",
            a,
            json!({"organization_id": null, "ids": [updated, "no-such-id"]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(engagement(&app, a, &updated).await["version"], 3);
    let out: Value = app
        .post(
            "/api/v1/engagements/assign",
            a,
            json!({"organization_id": null, "ids": [updated, created]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["assigned"], 2);
    assert_eq!(count(&app, a, "&unassigned=true").await, 2);
    let last = timeline(&app, a, &updated).await.pop().unwrap();
    assert_eq!(last["payload"], json!({"from": w.sub_a, "to": null}));
}
