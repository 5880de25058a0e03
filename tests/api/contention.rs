//! Two processes on one database: `serve` answering requests that queue mail while a `worker`
//! process claims and records mail as fast as it can. On SQLite both write the same file; no
//! request may fail with "database is locked" (a 500) — writers wait for the lock instead.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::binary::{eventually, Install};
use crate::helpers::{institution_code, spawn_with, SmtpSink};

/// Clients sending at once, and requests each.
const CLIENTS: usize = 8;
const ROUNDS: usize = 20;

#[tokio::test]
async fn a_worker_process_beside_serve_never_fails_a_request() {
    let install = Install::new();
    let mut server = install
        .serve(&[("MAIL_WORKER", "off"), ("DB_POOL_SIZE", "4")])
        .await;
    assert!(install.create_admin("you@example.com").status.success());
    let token = server.token("you@example.com").await;
    server.queue_first_contact(&token).await;
    let list: Value = server
        .client
        .get(server.url("/api/v1/engagements?limit=50"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let engagements: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_owned))
        .collect();
    assert!(engagements.len() >= 3, "{list}");

    // Polling every 10 ms, the worker writes (claims) all the time, mail or not.
    let mut worker = install.start(&["worker"], &[("MAIL_POLL_MS", "10")]);
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let client = server.client.clone();
        let token = token.clone();
        let urls: Vec<String> = engagements
            .iter()
            .map(|e| server.url(&format!("/api/v1/engagements/{e}/emails")))
            .collect();
        clients.spawn(async move {
            let mut statuses = Vec::new();
            for r in 0..ROUNDS {
                let res = client
                    .post(&urls[(c + r) % urls.len()])
                    .bearer_auth(&token)
                    .json(&json!({"kind": "first_contact"}))
                    .send()
                    .await
                    .expect("request");
                let status = res.status().as_u16();
                let body = res.text().await.unwrap_or_default();
                statuses.push((status, body));
            }
            statuses
        });
    }
    let mut answered = Vec::new();
    while let Some(statuses) = clients.join_next().await {
        answered.extend(statuses.expect("client task"));
    }
    assert_eq!(answered.len(), CLIENTS * ROUNDS);
    let failed: Vec<&(u16, String)> = answered.iter().filter(|(s, _)| *s != 202).collect();
    assert!(
        failed.is_empty(),
        "{} of {}: {failed:?}",
        failed.len(),
        answered.len()
    );

    // Everything queued goes out, each once, and both logs are clean.
    eventually("the worker sends every queued mail", || async {
        let mails = server.emails(&token).await;
        mails.iter().all(|m| m["status"] == "sent").then_some(())
    })
    .await;
    worker.stop_cleanly().await;
    worker.assert_clean_log();
    server.process.stop_cleanly().await;
    server.process.assert_clean_log();
}

/// Many messages over SMTP from two workers (the app's and a second one), each with several
/// sends in flight on pooled connections: every row arrives exactly once, with its Message-ID.
#[tokio::test]
async fn pooled_concurrent_sends_deliver_each_mail_once_with_its_message_id() {
    let port = SmtpSink::free_port();
    let sink = SmtpSink::default();
    sink.start(port);
    let url = format!("smtp://127.0.0.1:{port}");
    let settings = [
        ("SMTP_URL", url.as_str()),
        ("MAIL_POLL_MS", "20"),
        ("MAIL_CONCURRENCY", "4"),
    ];
    let app = spawn_with(&settings).await;
    let w = app.world().await;
    let config = engagement_tracker::config::Config::load(&[
        settings[0],
        settings[1],
        settings[2],
        ("DATABASE_URL", app.database_url.as_str()),
        ("JWT_SECRET", crate::portal::SECRET),
    ])
    .unwrap();
    let second = engagement_tracker::app::mail_worker(&config, app.db.clone()).unwrap();
    tokio::spawn(second.run());

    let mut engagements = Vec::new();
    for n in 0..6 {
        let h = app
            .hospital(
                &w.admin,
                &institution_code("13", 12, n + 1),
                "架空同時病院",
                120,
            )
            .await;
        for c in 0..3 {
            let res = app
                .post(
                    &format!("/api/v1/hospitals/{h}/contacts"),
                    &w.admin,
                    json!({"name": format!("担当者{c}"), "email": format!("c{c}@h{n}.example")}),
                )
                .await;
            assert_eq!(res.status(), 201);
        }
        engagements.push(app.engagement(&w.admin, &h, Some(&w.sub_a)).await);
    }
    let mut queued = 0;
    for round in 0..4 {
        for e in &engagements {
            let res = app
                .post(
                    &format!("/api/v1/engagements/{e}/emails"),
                    &w.coord_a,
                    json!({"kind": "first_contact", "note": format!("round {round}")}),
                )
                .await;
            assert_eq!(res.status(), 202);
            let body: Value = res.json().await.unwrap();
            queued += body["queued"].as_array().unwrap().len();
        }
    }
    assert!(queued >= 6 * 3 * 4, "{queued}");
    sink.wait_for(queued).await;
    // Every row recorded as sent (in batches), then no duplicate may follow.
    let sent = loop {
        let list: Value = app
            .get("/api/v1/emails?status=sent&limit=200", &w.admin)
            .await
            .json()
            .await
            .unwrap();
        let items = list["items"].as_array().unwrap().clone();
        if items.len() == queued {
            break items;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let received = sink.received.lock().unwrap().clone();
    assert_eq!(received.len(), queued, "exactly once each");
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for raw in &received {
        let m = mail_parser::MessageParser::default().parse(raw).unwrap();
        *by_id
            .entry(format!("<{}>", m.message_id().unwrap()))
            .or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = sent
        .iter()
        .map(|i| (i["message_id"].as_str().unwrap().to_owned(), 1))
        .collect();
    assert_eq!(by_id, expected);
}

/// Two pools on one SQLite file, as two processes have: while one holds the write lock, the
/// other's write transaction waits for it (busy timeout) instead of failing "database is
/// locked".
#[test]
fn a_writer_of_another_pool_waits_for_the_lock() {
    use engagement_tracker::db::{Db, DbError};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("two-pools.db").display().to_string();
    let (first, _) = Db::open(&url, 2, Duration::from_secs(1)).unwrap();
    let (second, _) = Db::open(&url, 2, Duration::from_secs(1)).unwrap();
    let (held, release) = (
        std::sync::mpsc::channel::<()>(),
        std::sync::mpsc::channel::<()>(),
    );
    let holder = std::thread::spawn(move || {
        first.run_write_blocking::<_, DbError, _>(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("CREATE TABLE held (x INTEGER)")?;
            held.0.send(()).ok();
            // Keeps the lock until the other pool's writer has started.
            release.1.recv().ok();
            std::thread::sleep(Duration::from_millis(200));
            Ok(())
        })
    });
    held.1.recv().unwrap();
    let waiter = std::thread::spawn(move || {
        release.0.send(()).ok();
        second.run_write_blocking::<_, DbError, _>(|conn| {
            use diesel::connection::SimpleConnection;
            conn.batch_execute("INSERT INTO held VALUES (1)")?;
            Ok(())
        })
    });
    holder.join().unwrap().unwrap();
    waiter
        .join()
        .unwrap()
        .expect("the second pool's write waits for the lock");
}
