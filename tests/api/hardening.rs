//! Probes that must not grow the server's state or leak secrets into its log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use reqwest::Method;

use crate::helpers::spawn;

fn series(text: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("http_requests_total{"))
        .count()
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_metrics() {
    let app = spawn().await;
    let metrics = || async {
        app.req(Method::GET, "/metrics", None)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // One of each kind first, so that their series exist.
    let invented = |i: usize| Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
    app.req(invented(0), "/healthz", None).send().await.unwrap();
    app.req(invented(0), "/nowhere/0", None)
        .send()
        .await
        .unwrap();
    app.req(Method::GET, "/nowhere/0", None)
        .send()
        .await
        .unwrap();
    let before = series(&metrics().await);
    for i in 1..50 {
        app.req(invented(i), "/healthz", None).send().await.unwrap();
        app.req(invented(i), &format!("/nowhere/{i}"), None)
            .send()
            .await
            .unwrap();
        app.req(Method::GET, &format!("/nowhere/{i}/x"), None)
            .send()
            .await
            .unwrap();
    }
    let text = metrics().await;
    // /metrics itself may have added its own series on the first read.
    assert!(series(&text) <= before + 1, "{text}");
    assert!(!text.contains("FOO"), "{text}");
    assert!(!text.contains("/nowhere"), "{text}");
    assert!(
        text.contains(r#"http_requests_total{method="OTHER",route="unmatched",status="404"} 50"#),
        "{text}"
    );
}

/// The compiled binary's log, while a link is opened.
#[test]
fn link_tokens_never_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::helpers::SmtpSink::free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_engagement-tracker"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env_remove("RUST_LOG")
        .env_remove("LOG_FORMAT")
        .env("DATA_DIR", dir.path().join("data"))
        .env("BIND", &bind)
        .env("MAIL_WORKER", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let token = "Zm9yZ2VkLXRva2VuLTAwMQ";
    assert_eq!(http_get(&bind, "/healthz"), 200);
    assert_eq!(http_get(&bind, "/readyz"), 200);
    assert_eq!(http_get(&bind, "/metrics"), 200);
    for path in [
        format!("/p/landing/{token}"),
        format!("/p/memorandum/{token}/document"),
        format!("/p/landing/{token}/extra"),
    ] {
        let status = http_get(&bind, &path);
        assert_eq!(status, 404, "{path}");
    }
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(log.contains("request finished"), "{log}");
    assert!(log.contains("/p/{purpose}/{token}"), "{log}");
    assert!(!log.contains(token), "{log}");
    // Probes and scrapes are not logged at INFO (the default level).
    for probe in ["/healthz", "/readyz", "/metrics"] {
        assert!(!log.contains(probe), "{probe} in the log:\n{log}");
    }
}

/// A plain HTTP GET on a fresh connection; waits (up to 30 s) for the server to listen.
fn http_get(bind: &str, path: &str) -> u16 {
    let mut stream = None;
    for _ in 0..300 {
        match TcpStream::connect(bind) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    let mut stream = stream.expect("the server listens");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {bind}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer[9..12].parse().unwrap()
}
