//! One bad request, one bad address or a database outage must not hurt anything else: writes
//! after a panic are committed, other hospitals still get their reminders, an outage answers
//! 503 at once with nothing internal in it, a stopping worker gives its claim back, and what
//! the app writes to disk is owner-only.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn_with, TestApp, World};

/// Organisation names, read on a connection of its own (not the app's pool).
fn committed_org_names(database_url: &str) -> Vec<String> {
    use engagement_tracker::db::schema::organizations::dsl::*;
    let mut conn = engagement_tracker::db::establish(database_url).expect("a second connection");
    organizations.select(name).load(&mut conn).expect("read")
}

#[tokio::test]
async fn a_panic_inside_a_write_loses_no_later_write() {
    let mut app = spawn_with(&[("DB_POOL_SIZE", "4")]).await;
    let (admin, prime) = app.bootstrap().await;
    let org = |name: String| json!({"name": name, "kind": "subcontractor", "parent_id": prime});

    // A bug panics after the write's statements ran, inside its transaction.
    app.db.panic_inside_next_write();
    let res = app
        .post("/api/v1/organizations", &admin, org("Panicked KK".into()))
        .await;
    problem(res, 500).await;

    let writes =
        (0..40).map(|i| app.post("/api/v1/organizations", &admin, org(format!("Sub {i:02}"))));
    let mut ids = Vec::new();
    for res in futures_util::future::join_all(writes).await {
        assert_eq!(
            res.status(),
            201,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let body: Value = res.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }

    // Committed: visible from another connection, and after a restart.
    let url = app.database_url.clone();
    let names = tokio::task::spawn_blocking(move || committed_org_names(&url))
        .await
        .unwrap();
    for i in 0..40 {
        assert!(
            names.contains(&format!("Sub {i:02}")),
            "Sub {i:02}: {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n == "Panicked KK"), "rolled back");
    app.restart().await;
    for id in &ids {
        let res = app
            .get(&format!("/api/v1/organizations/{id}"), &admin)
            .await;
        assert_eq!(res.status(), 200, "{id} after a restart");
    }
}

/// Nothing about the database (engine, host, port, driver text) reaches the client.
fn assert_plain_unavailable(body: &Value, database_url: &str) {
    assert_eq!(
        body["detail"],
        engagement_tracker::db::UNAVAILABLE,
        "{body}"
    );
    let text = body.to_string().to_lowercase();
    let db_name = database_url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    for secret in [
        "sqlite",
        "postgres",
        "127.0.0.1",
        "5432",
        "timed out",
        "r2d2",
        &db_name,
    ] {
        assert!(!text.contains(secret), "`{secret}` in {body}");
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_at_once_and_keeps_internals_in_the_log() {
    let app = spawn_with(&[("DB_POOL_SIZE", "2"), ("DB_TIMEOUT_MS", "300")]).await;
    let (admin, _) = app.bootstrap().await;
    assert_eq!(
        app.db.pool.connection_timeout(),
        Duration::from_millis(300),
        "the configured wait is the one used"
    );

    // Every connection taken, as when the database stops answering.
    let db = app.db.clone();
    let held =
        tokio::task::spawn_blocking(move || (db.pool.get().unwrap(), db.pool.get().unwrap()))
            .await
            .unwrap();
    let started = Instant::now();
    let res = app.req(Method::GET, "/readyz", None).send().await.unwrap();
    assert_plain_unavailable(&problem(res, 503).await, &app.database_url);
    let res = app.get("/api/v1/organizations", &admin).await;
    assert_plain_unavailable(&problem(res, 503).await, &app.database_url);
    // A sanity bound, far above the 300 ms configured: the point is that nothing hangs.
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
    let res = app.req(Method::GET, "/readyz", None).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // On PostgreSQL, the database itself goes away.
    if let Ok(base) = std::env::var("TEST_DATABASE_URL") {
        use diesel::connection::SimpleConnection;
        let name = app.database_url.rsplit('/').next().unwrap().to_owned();
        tokio::task::spawn_blocking(move || {
            let mut admin_conn = diesel::PgConnection::establish(&base).unwrap();
            admin_conn
                .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .unwrap();
        })
        .await
        .unwrap();
        let started = Instant::now();
        let res = app.req(Method::GET, "/readyz", None).send().await.unwrap();
        assert_plain_unavailable(&problem(res, 503).await, &app.database_url);
        let res = app.get("/api/v1/organizations", &admin).await;
        assert_plain_unavailable(&problem(res, 503).await, &app.database_url);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// A hospital with two contacts whose hearing starts in two hours (inside the reminder lead);
/// returns (engagement, hospital).
async fn hearing_soon(app: &TestApp, w: &World, n: u32) -> (String, String) {
    let h = app
        .hospital(
            &w.admin,
            &institution_code("13", 12, n),
            &format!("架空予定病院{n}"),
            120,
        )
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let c = &w.coord_a;
    app.step_ok(c, &e, "consent", json!({})).await;
    let start = chrono::Utc::now() + chrono::Duration::hours(2);
    let slots = json!({"slots": [{"starts_at": start.to_rfc3339(),
        "ends_at": (start + chrono::Duration::hours(1)).to_rfc3339(),
        "format": "online", "meeting_url": "https://meet.example/r"}]});
    app.step_ok(c, &e, "hearing-slots", slots).await;
    let hearings: Value = app
        .get(&format!("/api/v1/engagements/{e}/hearings"), c)
        .await
        .json()
        .await
        .unwrap();
    let slot = hearings["slots"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .step(c, &e, &format!("hearing-slots/{slot}/book"), json!({}))
        .await;
    assert_eq!(res.status(), 200, "book the hearing");
    (e, h)
}

async fn reminders(app: &TestApp, token: &str, e: &str) -> usize {
    let list: Value = app
        .get(&format!("/api/v1/emails?engagement_id={e}"), token)
        .await
        .json()
        .await
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "hearing_reminder")
        .count()
}

async fn mail_errors(app: &TestApp, token: &str, e: &str) -> Vec<Value> {
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), token)
        .await
        .json()
        .await
        .unwrap();
    timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|ev| ev["kind"] == "mail_error")
        .cloned()
        .collect()
}

/// Stores an address directly, as older data may hold one the API would refuse now.
async fn set_stored_email(app: &TestApp, contact: &str, address: &str) {
    use engagement_tracker::db::schema::contacts::dsl::*;
    let db = app.db.clone();
    let (contact, address) = (contact.to_owned(), address.to_owned());
    tokio::task::spawn_blocking(move || {
        let mut conn = db.pool.get().unwrap();
        diesel::update(contacts.find(&contact))
            .set(email.eq(Some(address)))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn one_bad_address_does_not_stop_other_hospitals_reminders() {
    let app = spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let c = &w.coord_a;
    let (bad_e, bad_h) = hearing_soon(&app, &w, 1).await;
    let (good_e, _) = hearing_soon(&app, &w, 2).await;
    let contacts: Value = app
        .get(&format!("/api/v1/hospitals/{bad_h}/contacts"), c)
        .await
        .json()
        .await
        .unwrap();
    let bad_contact = contacts[0]["id"].as_str().unwrap().to_owned();
    set_stored_email(&app, &bad_contact, "a,b@c.example").await;

    let worker = app.mail_worker();
    assert_eq!(
        worker.schedule().await.unwrap(),
        2,
        "the good hospital's two contacts"
    );
    assert_eq!(reminders(&app, c, &good_e).await, 2);
    assert_eq!(reminders(&app, c, &bad_e).await, 0, "nothing half-queued");

    // The failure is marked on the engagement and on the contact at fault.
    let errors = mail_errors(&app, c, &bad_e).await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["payload"]["mail"], "hearing_reminder");
    assert_eq!(errors[0]["payload"]["contacts"], json!([bad_contact]));
    assert!(errors[0]["payload"]["error"]
        .as_str()
        .unwrap()
        .contains("a,b@c.example"));
    let contacts: Value = app
        .get(&format!("/api/v1/hospitals/{bad_h}/contacts"), c)
        .await
        .json()
        .await
        .unwrap();
    assert!(contacts[0]["mail_error"]
        .as_str()
        .is_some_and(|m| m.contains("a,b@c.example")));
    assert!(contacts[1]["mail_error"].is_null());

    // Tried again each round, noted once.
    assert_eq!(worker.schedule().await.unwrap(), 0);
    assert_eq!(mail_errors(&app, c, &bad_e).await.len(), 1);

    // Once the address is right, the reminder goes and the mark is gone.
    set_stored_email(&app, &bad_contact, "fixed@hospital.example").await;
    assert_eq!(worker.schedule().await.unwrap(), 2);
    assert_eq!(reminders(&app, c, &bad_e).await, 2);
    let contacts: Value = app
        .get(&format!("/api/v1/hospitals/{bad_h}/contacts"), c)
        .await
        .json()
        .await
        .unwrap();
    assert!(contacts[0]["mail_error"].is_null(), "{contacts}");
}

#[tokio::test]
async fn a_stopping_worker_gives_back_what_it_claimed() {
    let app = spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 13, 1), "架空停止病院", 80)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            &w.coord_a,
            json!({"kind": "first_contact"}),
        )
        .await;
    assert_eq!(res.status(), 202);

    // Asked to stop as it claims: it sends nothing and hands every row back, attempt uncounted.
    let (tx, stop) = engagement_tracker::mail::worker::Stop::channel();
    tx.send(true).unwrap();
    assert_eq!(app.mail_worker().deliver(&stop).await.unwrap(), 0);
    let list: Value = app
        .get("/api/v1/emails", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(
        items
            .iter()
            .all(|m| m["status"] == "pending" && m["attempts"] == 0),
        "{items:?}"
    );
    // The next worker sends them at once.
    assert_eq!(app.deliver_mail().await, 2);
}

#[cfg(unix)]
#[tokio::test]
async fn what_the_app_writes_to_disk_is_owner_only() {
    let app = spawn_with(&[("MAIL_WORKER", "off")]).await;
    let w = app.world().await;
    let h = app
        .hospital(&w.admin, &institution_code("13", 14, 1), "架空保存病院", 80)
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let res = app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            &w.coord_a,
            json!({"kind": "first_contact"}),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert_eq!(app.deliver_mail().await, 2);
    let res = app
        .req(
            Method::POST,
            &format!(
                "/api/v1/engagements/{e}/documents?purpose=diagram&override_reason=permissions%20test"
            ),
            Some(&w.admin),
        )
        .multipart(reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(crate::helpers::PDF.to_vec()).file_name("d.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    assert!(app.data_dir().join("outbox").is_dir());
    assert!(app.data_dir().join("files").is_dir());
    // DATA_DIR itself is the test's temporary directory; everything the app made in it counts.
    crate::binary::assert_owner_only(app.data_dir(), false);
}
