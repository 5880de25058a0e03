//! How many SQL statements each read runs (issue 11: "a handful for an engagement's detail",
//! authentication included, on one connection). Counted with diesel's instrumentation, in a
//! binary of its own so that no other test's queries mix in; the counts are printed too
//! (`cargo test --test statements -- --nocapture`).

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use diesel::connection::{set_default_instrumentation, Instrumentation, InstrumentationEvent};
use serde_json::json;

use helpers::{institution_code, spawn_with, TestApp};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static SQL: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// Statements prepared and kept in a connection's cache.
static CACHED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| match event {
        InstrumentationEvent::StartQuery { query, .. } => {
            COUNT.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut sql) = SQL.lock() {
                sql.push(query.to_string());
            }
        }
        InstrumentationEvent::CacheQuery { sql, .. } => {
            if let Ok(mut cached) = CACHED.lock() {
                cached.push(sql.to_owned());
            }
        }
        _ => {}
    }))
}

/// Statements one GET runs (the second of two: the first may open pool connections).
async fn statements(app: &TestApp, token: &str, path: &str) -> usize {
    for _ in 0..2 {
        COUNT.store(0, Ordering::SeqCst);
        SQL.lock().unwrap().clear();
        let res = app.get(path, token).await;
        assert_eq!(res.status(), 200, "{path}");
    }
    let n = COUNT.load(Ordering::SeqCst);
    println!("{path}: {n} statements");
    for s in SQL.lock().unwrap().iter() {
        println!("    {}", s.lines().next().unwrap_or_default());
    }
    n
}

#[tokio::test]
async fn reads_run_a_handful_of_statements_including_authentication() {
    set_default_instrumentation(counter).unwrap();
    let app = spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let a = &w.admin;
    let h = app
        .hospital(a, &institution_code("13", 5, 1), "計数病院", 120)
        .await;
    let e = app.engagement(a, &h, Some(&w.sub_a)).await;
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/contact-attempts"),
            a,
            json!({"channel": "phone", "outcome": "reached"}),
        )
        .await;
    assert_eq!(res.status(), 200);

    // Authentication is one statement of each.
    assert!(statements(&app, a, "/api/v1/me").await <= 2);
    assert!(statements(&app, a, &format!("/api/v1/engagements/{e}")).await <= 4);
    assert!(statements(&app, &w.coord_a, &format!("/api/v1/engagements/{e}")).await <= 5);
    assert!(statements(&app, a, &format!("/api/v1/hospitals/{h}")).await <= 3);
    assert!(statements(&app, a, &format!("/api/v1/engagements/{e}/timeline")).await <= 3);
    assert!(
        statements(
            &app,
            a,
            "/api/v1/engagements?prefecture=13&stage=contacting&limit=50"
        )
        .await
            <= 2
    );
    assert!(statements(&app, a, "/api/v1/hospitals?prefecture=13&limit=50").await <= 3);

    // The list's page (sorted by stage, on its second page) and the summary's grouped count
    // are prepared once per connection and kept: statements holding SQL of diesel's `sql()`
    // are never cached, so they were parsed and planned again on every request.
    let h2 = app
        .hospital(a, &institution_code("13", 5, 2), "計数第二病院", 80)
        .await;
    app.engagement(a, &h2, None).await;
    let first = app
        .get("/api/v1/engagements?sort=stage&limit=1", a)
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let path = format!("/api/v1/engagements?sort=stage&limit=1&cursor={cursor}");
    assert_eq!(app.get(&path, a).await.status(), 200);
    assert_eq!(app.get("/api/v1/dashboard/summary", a).await.status(), 200);
    let cached = CACHED.lock().unwrap().clone();
    let kept = |needle: &str| cached.iter().any(|sql| sql.contains(needle));
    assert!(kept(
        "FROM contacts WHERE contacts.hospital_id = engagements.hospital_id"
    ));
    assert!(
        kept("CASE engagements.stage WHEN"),
        "the stage order and keyset"
    );
    assert!(kept("GROUP BY"), "the summary");
}
