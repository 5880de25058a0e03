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

fn counter() -> Option<Box<dyn Instrumentation>> {
    Some(Box::new(|event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            COUNT.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut sql) = SQL.lock() {
                sql.push(query.to_string());
            }
        }
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
    assert!(statements(&app, a, &format!("/api/v1/engagements/{e}")).await <= 5);
    assert!(statements(&app, &w.coord_a, &format!("/api/v1/engagements/{e}")).await <= 6);
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
}
