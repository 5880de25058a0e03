//! Retention: a closed engagement's confidential material is purged after RETENTION_DAYS; its
//! milestones, timeline and a receipt of every document stay.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp, World, PDF, PNG};
use engagement_tracker::db;
use engagement_tracker::domain::access::Role;
use engagement_tracker::files::Files;
use engagement_tracker::service::retention::{purge, PurgeReport};
use object_store::ObjectStoreExt;

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// An engagement whose memorandum is executed, holding a PDF diagram (and a PNG), answers and a
/// finding.
async fn engagement_with_material(app: &TestApp, w: &World, n: u32, png: bool) -> String {
    let e = app
        .executed_engagement(w, &institution_code("13", 8, n), "架空保存期間病院")
        .await;
    let c = &w.coord_a;
    ok(app.upload(c, &e, "diagram", "network.pdf", PDF).await).await;
    if png {
        ok(app.upload(c, &e, "diagram", "racks.png", PNG).await).await;
    }
    ok(app
        .req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/questionnaire"),
            Some(c),
        )
        .json(&json!({"answers": {"hearing.notes": {"text": "極秘回答テキスト"}}}))
        .send()
        .await
        .unwrap())
    .await;
    ok(app
        .step(
            c,
            &e,
            "findings",
            json!({"title": "極秘指摘事項", "severity": "high"}),
        )
        .await)
    .await;
    e
}

async fn purge_at(app: &TestApp, days_from_now: i64, dry_run: bool) -> PurgeReport {
    let files = Files::open(&app.config).expect("the app's document store");
    let now = db::now() + Duration::days(days_from_now);
    purge(&app.db, &files, now, 365, dry_run)
        .await
        .expect("purge")
}

fn ids(r: &PurgeReport) -> Vec<String> {
    r.engagements
        .iter()
        .map(|p| p.engagement_id.to_string())
        .collect()
}

#[tokio::test]
async fn a_closed_engagement_is_purged_after_the_retention_period_and_its_receipt_remains() {
    let app = spawn().await;
    let w = app.world().await;
    let (a, c) = (&w.admin, &w.coord_a);
    let closed = engagement_with_material(&app, &w, 1, true).await;
    // Another hospital's open engagement holds the same PDF: its copy must survive.
    let open = engagement_with_material(&app, &w, 2, false).await;
    let docs: Value = ok(app
        .get(&format!("/api/v1/engagements/{closed}/documents"), c)
        .await)
    .await;
    let pdf = docs
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == "network.pdf")
        .unwrap()
        .clone();
    let pdf_id = pdf["id"].as_str().unwrap();
    let got = app
        .get(
            &format!("/api/v1/engagements/{closed}/documents/{pdf_id}/content"),
            c,
        )
        .await;
    assert_eq!(got.status(), 200);
    ok(app
        .step(
            c,
            &closed,
            "side-state",
            json!({"state": "declined", "reason": "院内事情"}),
        )
        .await)
    .await;

    // Within the period nothing is due; a dry run lists without touching.
    assert!(purge_at(&app, 364, false).await.engagements.is_empty());
    let dry = purge_at(&app, 366, true).await;
    assert_eq!(ids(&dry), vec![closed.clone()]);
    let docs: Value = ok(app
        .get(&format!("/api/v1/engagements/{closed}/documents"), c)
        .await)
    .await;
    assert_eq!(
        docs.as_array().unwrap().len(),
        2,
        "a dry run changes nothing"
    );

    let keys: Vec<String> = {
        let mut conn = app.db.pool.get().unwrap();
        db::retention::all_documents(&mut conn, &closed.as_str().into())
            .unwrap()
            .into_iter()
            .map(|(d, _)| d.storage_key)
            .collect()
    };
    let report = purge_at(&app, 366, false).await;
    assert_eq!(ids(&report), vec![closed.clone()]);
    let p = &report.engagements[0];
    assert_eq!(
        (
            p.removed.documents,
            p.removed.questionnaire_answers,
            p.removed.findings
        ),
        (2, 1, 1)
    );
    assert_eq!(p.objects_deleted, 2);
    assert!(
        purge_at(&app, 400, false).await.engagements.is_empty(),
        "purged once"
    );

    // The material is gone from the API and from storage…
    let docs: Value = ok(app
        .get(&format!("/api/v1/engagements/{closed}/documents"), c)
        .await)
    .await;
    assert_eq!(docs, json!([]));
    problem(
        app.get(
            &format!("/api/v1/engagements/{closed}/documents/{pdf_id}/content"),
            c,
        )
        .await,
        404,
    )
    .await;
    let findings = app
        .get(&format!("/api/v1/engagements/{closed}/findings"), a)
        .await
        .text()
        .await
        .unwrap();
    assert!(!findings.contains("極秘指摘事項"), "{findings}");
    let answers = app
        .get(&format!("/api/v1/engagements/{closed}/questionnaire"), a)
        .await
        .text()
        .await
        .unwrap();
    assert!(!answers.contains("極秘回答テキスト"), "{answers}");
    let files = Files::open(&app.config).unwrap();
    for key in &keys {
        let gone = files
            .object_store()
            .head(&object_store::path::Path::from(key.as_str()))
            .await;
        assert!(
            matches!(gone, Err(object_store::Error::NotFound { .. })),
            "{key}: {gone:?}"
        );
    }
    // …the other hospital's copy of the PDF still downloads…
    let other: Value = ok(app
        .get(&format!("/api/v1/engagements/{open}/documents"), c)
        .await)
    .await;
    let other_pdf = other
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["filename"] == "network.pdf")
        .unwrap();
    let res = app
        .get(
            &format!(
                "/api/v1/engagements/{open}/documents/{}/content",
                other_pdf["id"].as_str().unwrap()
            ),
            c,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);

    // …and the receipt shows what was received, downloaded and destroyed.
    let r: Value = ok(app
        .get(&format!("/api/v1/engagements/{closed}/receipt"), c)
        .await)
    .await;
    assert!(r["purged_at"].is_string(), "{r}");
    assert!(r["closed_at"].is_string());
    let rd = r["documents"].as_array().unwrap();
    assert_eq!(rd.len(), 2);
    let rpdf = rd.iter().find(|d| d["filename"] == "network.pdf").unwrap();
    assert_eq!(rpdf["sha256"], pdf["sha256"]);
    assert_eq!(rpdf["size"], PDF.len());
    assert_eq!(rpdf["downloads"].as_array().unwrap().len(), 1);
    assert!(rpdf["destroyed_at"].is_string());
    assert!(
        !r.to_string().contains("極秘"),
        "the receipt holds no content: {r}"
    );
    // The timeline records the purge, and keeps the steps.
    let t = app
        .get(&format!("/api/v1/engagements/{closed}/timeline"), c)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        t.contains("\"purged\"") && t.contains("\"declined\""),
        "{t}"
    );

    // The printable page, by parameter or by Accept.
    let html = app
        .get(
            &format!("/api/v1/engagements/{closed}/receipt?format=html"),
            c,
        )
        .await;
    assert_eq!(html.status(), 200);
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert!(
        html.contains("network.pdf")
            && html.contains(pdf["sha256"].as_str().unwrap())
            && html.contains("廃棄済み")
    );
    let html = app
        .req(
            Method::GET,
            &format!("/api/v1/engagements/{closed}/receipt"),
            Some(c),
        )
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert!(html.text().await.unwrap().starts_with("<!doctype html>"));
    let body = problem(
        app.get(
            &format!("/api/v1/engagements/{closed}/receipt?format=pdf"),
            c,
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "format");

    // A running engagement has a receipt too (nothing destroyed yet); the ministry has none.
    let r: Value = ok(app
        .get(&format!("/api/v1/engagements/{open}/receipt"), c)
        .await)
    .await;
    assert!(r["closed_at"].is_null() && r["purged_at"].is_null());
    assert!(r["documents"][0]["destroyed_at"].is_null());
    let ministry = app.create_org(a, "厚生労働省", "ministry", None).await;
    app.seed_user("viewer@mhlw.example", &ministry, Role::Viewer)
        .await;
    let viewer = app.login("viewer@mhlw.example").await;
    let res = app
        .get(&format!("/api/v1/engagements/{closed}/receipt"), &viewer)
        .await;
    assert!(
        matches!(res.status().as_u16(), 403 | 404),
        "{}",
        res.status()
    );
}

#[tokio::test]
async fn the_purge_command_of_the_binary_purges_what_is_due() {
    let app = spawn().await;
    let w = app.world().await;
    let e = engagement_with_material(&app, &w, 3, true).await;
    ok(app
        .step(
            &w.coord_a,
            &e,
            "side-state",
            json!({"state": "withdrawn", "reason": "県の判断"}),
        )
        .await)
    .await;
    let run = |dry: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_engagement-tracker"));
        cmd.arg("purge")
            .env_clear()
            .env("DATABASE_URL", &app.database_url)
            .env("DATA_DIR", app.data_dir())
            .env(
                "JWT_SECRET",
                "a test secret that is long enough to sign tokens",
            )
            .env("RETENTION_DAYS", "0");
        if dry {
            cmd.arg("--dry-run");
        }
        let out = cmd.output().expect("run the binary");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("a JSON report")
    };
    let dry = run(true);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["engagements"][0]["engagement_id"], e);
    let docs: Value = ok(app
        .get(&format!("/api/v1/engagements/{e}/documents"), &w.coord_a)
        .await)
    .await;
    assert_eq!(docs.as_array().unwrap().len(), 2);
    let done = run(false);
    assert_eq!(done["engagements"][0]["engagement_id"], e);
    assert_eq!(done["engagements"][0]["objects_deleted"], 2);
    let docs: Value = ok(app
        .get(&format!("/api/v1/engagements/{e}/documents"), &w.coord_a)
        .await)
    .await;
    assert_eq!(docs, json!([]));
    assert_eq!(run(false)["engagements"], json!([]));
}

#[tokio::test]
async fn the_mail_worker_runs_the_purge_when_it_starts_and_daily() {
    let app = crate::helpers::spawn_with(&[("MAIL_WORKER", "off"), ("RETENTION_DAYS", "0")]).await;
    let w = app.world().await;
    let e = engagement_with_material(&app, &w, 4, false).await;
    ok(app
        .step(
            &w.coord_a,
            &e,
            "side-state",
            json!({"state": "declined", "reason": "院内事情"}),
        )
        .await)
    .await;
    let (tx, stop) = engagement_tracker::mail::worker::Stop::channel();
    let worker = tokio::spawn(app.mail_worker().run_until(stop));
    let mut purged = Value::Null;
    for _ in 0..100 {
        let r: Value = ok(app
            .get(&format!("/api/v1/engagements/{e}/receipt"), &w.coord_a)
            .await)
        .await;
        purged = r["purged_at"].clone();
        if purged.is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = tx.send(true);
    worker.await.expect("worker stops");
    assert!(
        purged.is_string(),
        "the worker purged the declined engagement"
    );
}
