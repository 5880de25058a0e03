//! Memory under attack, without logging in or with wrong passwords: each test drives the app
//! (which runs in this process) hard, then checks that the process's peak resident memory
//! stayed under 256 MB. The tests take turns, in a binary of their own, so that nothing else
//! shares the process while they measure.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use futures_util::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

use helpers::{institution_code, spawn_with, TestApp};

const LIMIT_MB: u64 = 256;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The process's peak resident set since the last reset, in MB.
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

/// Starts a new measurement: the peak is reset to the current resident set (Linux ≥ 4.0).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn assert_peak_under_limit(what: &str) {
    let peak = peak_rss_mb();
    eprintln!("{what}: peak RSS {peak} MB");
    assert!(peak < LIMIT_MB, "{what}: peak RSS {peak} MB");
}

/// Sends `parts` parts of `part_size` bytes each as one multipart body, streamed from a single
/// buffer (declared with Content-Length, or chunked), and returns the answer's status and body.
/// The answer is read while the body is still being sent: the server may answer (and stop
/// reading) early.
async fn raw_upload(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    parts: usize,
    part_size: usize,
    chunked: bool,
    csrf: Option<&str>,
) -> (u16, String) {
    let boundary = "----limits-test-boundary";
    let part_head = move |i: usize| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"part{i:03}.png\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
    };
    let tail = format!("--{boundary}--\r\n");
    // A page's form sends its CSRF value first, as the browser does.
    let lead = csrf.map_or_else(String::new, |v| {
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{v}\r\n")
    });
    let length: usize = lead.len()
        + (0..parts)
            .map(|i| part_head(i).len() + part_size + 2)
            .sum::<usize>()
        + tail.len();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    }
    let addr = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let filler = vec![0x5Au8; part_size];
        let send = |bytes: Vec<u8>| {
            if chunked {
                let mut f = format!("{:x}\r\n", bytes.len()).into_bytes();
                f.extend_from_slice(&bytes);
                f.extend_from_slice(b"\r\n");
                f
            } else {
                bytes
            }
        };
        wr.write_all(head.as_bytes()).await?;
        if !lead.is_empty() {
            wr.write_all(&send(lead.into_bytes())).await?;
        }
        for i in 0..parts {
            let mut part = part_head(i).into_bytes();
            part.extend_from_slice(&filler);
            part.extend_from_slice(b"\r\n");
            wr.write_all(&send(part)).await?;
        }
        wr.write_all(&send(tail.into_bytes())).await?;
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<(), std::io::Error>(())
    });
    // The answer: its head, then as many body bytes as it declares.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (status, body_start, body_len) = loop {
        let n = rd.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed without an answer");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            break (status, end + 4, len);
        }
    };
    while buf.len() < body_start + body_len {
        let n = rd.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    writer.abort();
    let end = buf.len().min(body_start + body_len);
    (
        status,
        String::from_utf8_lossy(&buf[body_start..end]).into_owned(),
    )
}

/// A hospital, an engagement assigned to A with its memorandum executed, and a diagram link
/// for its contact.
async fn engagement_with_link(app: &TestApp, w: &helpers::World) -> (String, String) {
    let hid = app
        .hospital(
            &w.admin,
            &institution_code("13", 9, 1),
            "架空メモリ病院",
            120,
        )
        .await;
    let c: Value = app
        .post(
            &format!("/api/v1/hospitals/{hid}/contacts"),
            &w.admin,
            json!({"name": "山田 花子", "email": "hanako@memory.example"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let e = app.engagement(&w.admin, &hid, Some(&w.sub_a)).await;
    // Consented, memorandum executed: the diagram page shows its form (and CSRF value).
    app.step_ok(&w.coord_a, &e, "consent", json!({})).await;
    let res = app
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/engagements/{e}/memorandum"),
            Some(&w.coord_a),
        )
        .json(&json!({"status": "executed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "memorandum executed");
    let res: Value = app
        .post(
            &format!("/api/v1/engagements/{e}/links"),
            &w.coord_a,
            json!({"contact_id": c["id"], "purpose": "diagram"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let url = res["url"].as_str().unwrap();
    let path = format!("/p/{}", url.split_once("/p/").unwrap().1);
    (e, path)
}

#[tokio::test]
async fn uploads_are_bounded_as_a_whole_and_forged_links_read_nothing() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_with(&[]).await;
    let w = app.world().await;
    let (e, diagram) = engagement_with_link(&app, &w).await;
    let mb = 1024 * 1024;
    reset_peak();

    // 300 parts of 1 MB to a forged link: answered before the body is read.
    for chunked in [false, true] {
        let (status, html) = raw_upload(
            &app,
            "/p/diagram/AAAAAAAAAAAAAAAAAAAAAA",
            None,
            300,
            mb,
            chunked,
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert!(html.contains("リンクを確認できませんでした"));
    }
    // The same to a real link, without the form's CSRF value: refused at the first file,
    // before anything is stored (or at once, when the declared length is over).
    for (chunked, refused) in [(false, 413), (true, 403)] {
        let (status, _) = raw_upload(&app, &diagram, None, 300, mb, chunked, None).await;
        assert_eq!(status, refused);
    }
    // With it: the whole form is bounded (413, the friendly page), and the files sealed into
    // storage before the limit was reached are gone.
    let page = app
        .req(reqwest::Method::GET, &diagram, None)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    for chunked in [false, true] {
        let (status, html) = raw_upload(&app, &diagram, None, 300, mb, chunked, Some(&csrf)).await;
        assert_eq!(status, 413);
        assert!(html.contains("ファイルが大きすぎます"));
    }
    let stored = std::fs::read_dir(app.data_dir().join("files/v1")).map_or(0, |d| d.count());
    assert_eq!(stored, 0, "files of a refused form stay in storage");
    // And through the API, for a caller who may upload (413 problem+json).
    let api = format!("/api/v1/engagements/{e}/documents?purpose=memorandum_signed");
    for chunked in [false, true] {
        let (status, body) = raw_upload(&app, &api, Some(&w.coord_a), 300, mb, chunked, None).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("/problems/payload-too-large"), "{body}");
    }
    // No token: refused before the body is read.
    let (status, _) = raw_upload(&app, &api, None, 300, mb, true, None).await;
    assert_eq!(status, 401);
    assert_peak_under_limit("uploads");
}

#[tokio::test]
async fn wrong_logins_in_bulk_neither_exhaust_memory_nor_get_through() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = spawn_with(&[]).await;
    app.bootstrap().await;
    reset_peak();
    // 256 wrong logins for one account, 64 at a time.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let batch = (0..64).map(|_| {
            app.req(reqwest::Method::POST, "/api/v1/auth/token", None)
                .json(&json!({"email": "admin@prime.example", "password": "guess guess guess"}))
                .send()
        });
        for res in join_all(batch).await {
            let res = res.unwrap();
            let status = res.status().as_u16();
            if status == 429 {
                let retry: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry >= 1);
            }
            statuses.push(status);
        }
    }
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(
        statuses[192..].iter().all(|s| *s == 429),
        "the last batch is locked out"
    );
    assert_peak_under_limit("256 wrong logins");
}

#[tokio::test]
async fn password_hashing_is_bounded_even_when_no_throttle_applies() {
    let _turn = ONE_AT_A_TIME.lock().await;
    // Every login from another (forwarded) address for another email: the throttle never
    // trips, so only the bound on concurrent hashing keeps memory in check.
    let app = spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    reset_peak();
    for batch in 0..4 {
        let logins = (0..64).map(|i| {
            app.req(reqwest::Method::POST, "/api/v1/auth/token", None)
                .header("x-forwarded-for", format!("198.51.{batch}.{i}"))
                .json(
                    &json!({"email": format!("u{batch}-{i}@x.example"), "password": "guess guess"}),
                )
                .send()
        });
        for res in join_all(logins).await {
            assert_eq!(res.unwrap().status(), 401);
        }
    }
    assert_peak_under_limit("256 logins from 256 addresses");
}
