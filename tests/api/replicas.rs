//! Several replicas for real: two `serve` processes and two `worker`s of the compiled binary on
//! one PostgreSQL database and one S3-compatible store, as the vendor deploys it. No process
//! shares a disk with another (each has a DATA_DIR of its own).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Method};
use serde_json::{json, Value};

use crate::binary::{eventually, Install, Server};
use crate::helpers::{institution_code, SmtpSink, PDF};

const SECRET: &str = "a shared secret of every replica, long enough";
/// The master key every replica shares, so that what one sealed the others open.
const FILES_KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// The settings every process shares: one database (from `Install`), one store, one key.
fn shared(s3: &str, prefix: &str, smtp: &str) -> Vec<(String, String)> {
    vec![
        ("JWT_SECRET".into(), SECRET.into()),
        ("MAIL_WORKER".into(), "off".into()),
        ("MAIL_POLL_MS".into(), "50".into()),
        ("SMTP_URL".into(), smtp.into()),
        ("FILES_URL".into(), format!("s3://{prefix}")),
        ("AWS_ENDPOINT_URL".into(), s3.into()),
        ("AWS_ALLOW_HTTP".into(), "true".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("FILES_KEY".into(), FILES_KEY.into()),
    ]
}

fn with<'a>(env: &'a [(String, String)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(more);
    all
}

async fn send(
    client: &Client,
    method: Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let res = rb.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A selection list of `n` hospitals in Tokyo with two contacts each.
fn list(n: u32) -> Vec<u8> {
    let mut csv = String::from("順位,都道府県,医療機関コード,病院名,病床数,担当者1氏名,担当者1メール,担当者2氏名,担当者2メール\n");
    for i in 1..=n {
        csv.push_str(&format!(
            "{i},東京都,{},架空レプリカ病院{i},120,山田 太郎,yamada{i}@hp.example,佐藤 花子,sato{i}@hp.example\n",
            institution_code("13", 5, i)
        ));
    }
    csv.into_bytes()
}

#[tokio::test]
#[ignore = "needs PostgreSQL (TEST_DATABASE_URL) and an S3-compatible server (TEST_S3_ENDPOINT, TEST_S3_BUCKET); .ci/run starts both"]
async fn two_replicas_and_two_workers_share_one_database_and_one_store() {
    assert!(
        std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()),
        "set TEST_DATABASE_URL to a PostgreSQL server"
    );
    let s3 = std::env::var("TEST_S3_ENDPOINT").expect("set TEST_S3_ENDPOINT (see .ci/run)");
    let bucket = std::env::var("TEST_S3_BUCKET").expect("set TEST_S3_BUCKET (see .ci/run)");
    let prefix = format!("{bucket}/replicas-{}", uuid::Uuid::now_v7().simple());
    let smtp_port = SmtpSink::free_port();
    let sink = SmtpSink::default();
    sink.start(smtp_port);
    let env = shared(&s3, &prefix, &format!("smtp://127.0.0.1:{smtp_port}"));
    let install = Install::new();
    let dir = |name: &str| -> String {
        let d: PathBuf = install.data_dir().with_file_name(name);
        d.to_str().expect("utf-8").to_owned()
    };
    let (dir_a, dir_b, dir_w1, dir_w2) = (dir("a"), dir("b"), dir("w1"), dir("w2"));
    let a = install.serve(&with(&env, &[("DATA_DIR", &dir_a)])).await;
    let b = install.serve(&with(&env, &[("DATA_DIR", &dir_b)])).await;
    assert!(install.create_admin("admin@example.com").status.success());
    let client = Client::new();

    // A token issued by one replica works on the other.
    let token = a.token("admin@example.com").await;
    let (status, me) = send(&client, Method::GET, b.url("/api/v1/me"), &token, None).await;
    assert_eq!(status, 200, "{me}");

    // The list goes in through B; the round was made through A.
    let (status, _) = send(
        &client,
        Method::POST,
        a.url("/api/v1/rounds"),
        &token,
        Some(json!({"name": "FY2025"})),
    )
    .await;
    assert_eq!(status, 201);
    let form = reqwest::multipart::Form::new()
        .text("round", "FY2025")
        .part(
            "file",
            reqwest::multipart::Part::bytes(list(100)).file_name("list.csv"),
        );
    let res = client
        .post(b.url("/api/v1/imports"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("import");
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.expect("json");
    let engagements: Vec<String> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["engagement_id"].as_str().expect("engagement").to_owned())
        .collect();
    assert_eq!(engagements.len(), 100);
    let e = &engagements[0];

    // A link issued by A opens on B.
    let (_, detail) = send(
        &client,
        Method::GET,
        a.url(&format!("/api/v1/engagements/{e}")),
        &token,
        None,
    )
    .await;
    let hospital = detail["hospital"]["id"]
        .as_str()
        .expect("hospital")
        .to_owned();
    let (_, contacts) = send(
        &client,
        Method::GET,
        a.url(&format!("/api/v1/hospitals/{hospital}/contacts")),
        &token,
        None,
    )
    .await;
    let contact = contacts
        .as_array()
        .and_then(|c| c.first())
        .map(|c| c["id"].clone())
        .expect("a contact");
    let (status, link) = send(
        &client,
        Method::POST,
        a.url(&format!("/api/v1/engagements/{e}/links")),
        &token,
        Some(json!({"contact_id": contact, "purpose": "landing"})),
    )
    .await;
    assert_eq!(status, 201, "{link}");
    let url = link["url"]
        .as_str()
        .expect("url")
        .replacen(&a.base, &b.base, 1);
    assert_eq!(
        client.get(&url).send().await.expect("open link").status(),
        200,
        "{url}"
    );

    // A document uploaded through A downloads through B.
    let (status, _) = send(
        &client,
        Method::POST,
        a.url(&format!("/api/v1/engagements/{e}/consent")),
        &token,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(
        &client,
        Method::PUT,
        b.url(&format!("/api/v1/engagements/{e}/memorandum")),
        &token,
        Some(json!({"status": "executed"})),
    )
    .await;
    assert_eq!(status, 200);
    let part = reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("network.pdf");
    let res = client
        .post(a.url(&format!(
            "/api/v1/engagements/{e}/documents?purpose=diagram"
        )))
        .bearer_auth(&token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    assert!(res.status().is_success(), "upload: {}", res.status());
    let (_, docs) = send(
        &client,
        Method::GET,
        b.url(&format!("/api/v1/engagements/{e}/documents")),
        &token,
        None,
    )
    .await;
    let doc = docs[0]["id"].as_str().expect("document").to_owned();
    let res = client
        .get(b.url(&format!("/api/v1/engagements/{e}/documents/{doc}/content")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("download");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("bytes").as_ref(), PDF);

    // 50 pickers of one slot, spread over both replicas: exactly one booking.
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let slot = json!({"starts_at": starts, "ends_at": starts + chrono::Duration::hours(1), "format": "online", "meeting_url": "https://meet.example/x"});
    let (status, body) = send(
        &client,
        Method::POST,
        a.url(&format!("/api/v1/engagements/{e}/hearing-slots")),
        &token,
        Some(json!({"slots": [slot]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, hearings) = send(
        &client,
        Method::GET,
        b.url(&format!("/api/v1/engagements/{e}/hearings")),
        &token,
        None,
    )
    .await;
    let slot_id = hearings["slots"][0]["id"]
        .as_str()
        .expect("slot")
        .to_owned();
    let pickers: Vec<_> = (0..50)
        .map(|i| {
            let server = if i % 2 == 0 { &a } else { &b };
            let url = server.url(&format!(
                "/api/v1/engagements/{e}/hearing-slots/{slot_id}/book"
            ));
            let (client, token) = (client.clone(), token.clone());
            tokio::spawn(async move {
                send(&client, Method::POST, url, &token, Some(json!({})))
                    .await
                    .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for p in pickers {
        statuses.push(p.await.expect("picker"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        49,
        "{statuses:?}"
    );

    // 200 mails queued through both replicas, delivered once each by two workers — one of which
    // is stopped halfway and gives back what it leased.
    let mut w1 = install.start(&["worker"], &with(&env, &[("DATA_DIR", &dir_w1)]));
    let mut w2 = install.start(&["worker"], &with(&env, &[("DATA_DIR", &dir_w2)]));
    let mut queued = 0;
    for (i, id) in engagements.iter().enumerate() {
        let server = if i % 2 == 0 { &a } else { &b };
        let (status, body) = send(
            &client,
            Method::POST,
            server.url(&format!("/api/v1/engagements/{id}/emails")),
            &token,
            Some(json!({"kind": "first_contact"})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        queued += body["queued"].as_array().expect("queued").len();
        if i == 60 {
            w1.stop_cleanly().await;
        }
    }
    assert_eq!(queued, 200);
    // Besides these, the booking above queued its confirmations: wait until nothing is left.
    let pending = |status: &'static str| {
        let (client, token, url) = (
            client.clone(),
            token.clone(),
            b.url(&format!("/api/v1/emails?status={status}")),
        );
        async move {
            send(&client, Method::GET, url, &token, None).await.1["items"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    eventually("every mail is sent", || {
        let p = pending("pending");
        async move { (p.await == 0).then_some(()) }
    })
    .await;
    assert_eq!(pending("failed").await, 0);
    // A row being delivered is not `pending`: let the last ones land, then nothing more may come.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let got = sink.wait_for(queued).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.count(), got.len(), "nothing more arrives");
    let ids: HashSet<String> = got
        .iter()
        .filter_map(|m| {
            String::from_utf8_lossy(m)
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(
        ids.len(),
        got.len(),
        "every mail (Message-ID) delivered exactly once"
    );
    w2.stop_cleanly().await;
    w1.assert_clean_log();
    w2.assert_clean_log();

    // A replica restarts while traffic flows: no answer is a 5xx, and every write answered 2xx
    // is there afterwards.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            let urls = [
                a.url(&format!("/api/v1/hospitals/{hospital}/contacts")),
                b.url(&format!("/api/v1/hospitals/{hospital}/contacts")),
            ];
            let (client, token, stop) = (client.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut made, mut refused, mut i) = (Vec::new(), 0, 0);
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let email = format!("w{n}-{i}@hp.example");
                    let res = client
                        .post(&urls[i % 2])
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("書込 {n}-{i}"), "email": email}))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => made.push(email),
                        Ok(r) => panic!("a write answered {}", r.status()),
                        // The replica stopped listening: a load balancer sends it elsewhere.
                        Err(_) => refused += 1,
                    }
                }
                (made, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut a: Server = a;
    a.process.stop_cleanly().await;
    a.process.assert_clean_log();
    let a2 = install.serve(&with(&env, &[("DATA_DIR", &dir_a)])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut made = Vec::new();
    for w in writers {
        let (m, _refused) = w.await.expect("writer");
        made.extend(m);
    }
    assert!(made.len() > 10, "traffic flowed: {}", made.len());
    let (_, contacts) = send(
        &client,
        Method::GET,
        a2.url(&format!("/api/v1/hospitals/{hospital}/contacts")),
        &token,
        None,
    )
    .await;
    let stored: HashSet<String> = contacts
        .as_array()
        .expect("contacts")
        .iter()
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect();
    for email in &made {
        assert!(stored.contains(email), "{email} answered 2xx and was lost");
    }
    eventually("the restarted replica serves", || {
        let client = client.clone();
        let url = a2.url("/readyz");
        async move {
            client
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
                .then_some(())
        }
    })
    .await;
}
