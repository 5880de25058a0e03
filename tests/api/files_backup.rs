//! `backup --to` and `restore --from` with the compiled binary: a backup taken while the app
//! serves, restored into an empty DATA_DIR with the same master key, served again — every
//! engagement, timeline and document is there and downloads. On PostgreSQL both refuse and
//! point to pg_dump.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use engagement_tracker::files::keys::key_id;
use reqwest::Client;
use serde_json::{json, Value};

use crate::helpers::{institution_code, spawn_with, TestApp, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_engagement-tracker");
const KEY: [u8; 32] = [0x5C; 32];
const JWT: &str = "test-secret-test-secret-test-secret!";

/// The binary with exactly these settings (none from the test's own environment).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    command(args, env).output().expect("run the binary")
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_")
            || k.starts_with("FILES_")
            || [
                "DATABASE_URL",
                "DATA_DIR",
                "JWT_SECRET",
                "JWT_SECRET_FILE",
                "BIND",
            ]
            .contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn get_json(client: &Client, url: String, token: &str) -> Value {
    let res = client.get(&url).bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

/// Everything a user sees of the engagements: the list, and per engagement its timeline and
/// its documents (not their bytes: a download adds to the timeline).
async fn snapshot(base: &str, token: &str, ids: &[String]) -> serde_json::Map<String, Value> {
    let client = Client::new();
    let mut out = serde_json::Map::new();
    let list = get_json(
        &client,
        format!("{base}/api/v1/engagements?limit=100"),
        token,
    )
    .await;
    out.insert("list".into(), list);
    for id in ids {
        let timeline = get_json(
            &client,
            format!("{base}/api/v1/engagements/{id}/timeline"),
            token,
        )
        .await;
        let docs = get_json(
            &client,
            format!("{base}/api/v1/engagements/{id}/documents"),
            token,
        )
        .await;
        out.insert(format!("{id}/timeline"), timeline);
        out.insert(format!("{id}/documents"), docs);
    }
    out
}

async fn fill(app: &TestApp) -> (crate::helpers::World, Vec<String>, Vec<Vec<u8>>) {
    let w = app.world().await;
    let mut ids = Vec::new();
    let mut bodies = Vec::new();
    for n in 1..=2u32 {
        let h = app
            .hospital(
                &w.admin,
                &institution_code("13", 31, n),
                "架空復元病院",
                150,
            )
            .await;
        let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
        app.step(&w.coord_a, &e, "consent", json!({})).await;
        ids.push(e);
    }
    let e = &ids[0];
    let res = app
        .req(
            reqwest::Method::PUT,
            &format!("/api/v1/engagements/{e}/memorandum"),
            Some(&w.coord_a),
        )
        .json(&json!({"status": "executed", "executed_on": "2026-11-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for i in 0..3 {
        let mut body = b"%PDF-1.4\n".to_vec();
        while body.len() < 90_000 + i * 1000 {
            body.extend_from_slice(format!("% RESTORE-ME-{i} firewall rules\n").as_bytes());
        }
        let res = app
            .upload(&w.coord_a, e, "diagram", &format!("図{i}.pdf"), &body)
            .await;
        assert_eq!(res.status(), 200);
        bodies.push(body);
    }
    (w, ids, bodies)
}

#[tokio::test]
async fn a_backup_taken_while_serving_restores_every_engagement_timeline_and_document() {
    let key_hex = hex::encode(KEY);
    let app = spawn_with(&[("FILES_KEY", key_hex.as_str()), ("JWT_SECRET", JWT)]).await;
    let data_dir = app.data_dir().to_str().unwrap().to_owned();
    let env = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("DATA_DIR", data_dir.as_str()),
        ("JWT_SECRET", JWT),
        ("FILES_KEY", key_hex.as_str()),
    ];
    let work = tempfile::tempdir().unwrap();
    let backup_dir = work.path().join("backup");
    let backup_str = backup_dir.to_str().unwrap();

    if app.config.is_postgres() {
        let o = run(&["backup", "--to", backup_str], &env);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("pg_dump"), "{}", stderr(&o));
        let o = run(&["restore", "--from", backup_str], &env);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("pg_dump"), "{}", stderr(&o));
        return;
    }

    let (w, ids, bodies) = fill(&app).await;
    let before = snapshot(&app.base, &w.admin, &ids).await;

    // While the app is serving.
    let o = run(&["backup", "--to", backup_str], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["documents"], 3);
    assert_eq!(manifest["key_ids"], json!([key_id(&KEY)]));
    for f in files_under(&backup_dir) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, key_hex.as_bytes()),
            "the key is in {}",
            f.display()
        );
        assert!(!contains(&bytes, &KEY), "the key is in {}", f.display());
        assert!(
            !contains(&bytes, b"RESTORE-ME"),
            "plaintext in {}",
            f.display()
        );
    }
    // A backup never overwrites another.
    let o = run(&["backup", "--to", backup_str], &env);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    let new_dir = work.path().join("restored");
    let new_str = new_dir.to_str().unwrap();
    // Without the key: refused, naming what to supply; nothing restored.
    let o = run(
        &["restore", "--from", backup_str],
        &[("DATA_DIR", new_str), ("JWT_SECRET", JWT)],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("FILES_KEY"), "{}", stderr(&o));
    assert!(!new_dir.join("engagement-tracker.sqlite3").exists());
    // With another key: refused, naming the one needed.
    let other = hex::encode([0x11u8; 32]);
    let o = run(
        &["restore", "--from", backup_str],
        &[
            ("DATA_DIR", new_str),
            ("JWT_SECRET", JWT),
            ("FILES_KEY", &other),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains(&key_id(&KEY)), "{}", stderr(&o));
    // Into a DATA_DIR in use: refused.
    let o = run(&["restore", "--from", backup_str], &env[1..]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));

    let restored_env = [
        ("DATA_DIR", new_str),
        ("JWT_SECRET", JWT),
        ("FILES_KEY", key_hex.as_str()),
    ];
    let o = run(&["restore", "--from", backup_str], &restored_env);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["verified"], 3);
    // The maintenance commands on the restored installation: nothing to move, nothing to remove.
    let o = run(&["files", "rewrap"], &restored_env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("0 rewrapped, 0 legacy plaintext sealed, 3 already current"),
        "{}",
        stderr(&o)
    );
    let o = run(&["files", "gc", "--grace-minutes", "0"], &restored_env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 objects, 3 referenced"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("0 removed"), "{}", stderr(&o));

    // The original goes away; the restored installation serves.
    drop(app);
    let port = crate::helpers::SmtpSink::free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut all = restored_env.to_vec();
    all.extend([("BIND", bind.as_str()), ("MAIL_WORKER", "off")]);
    let mut serve = command(&["serve"], &all)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{bind}");
    let client = Client::new();
    let started = Instant::now();
    loop {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        assert!(serve.try_wait().unwrap().is_none(), "serve exited");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Accounts came back: the coordinator signs in with the same password.
    let res = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"email": "coord@a.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = snapshot(&base, &w.admin, &ids).await;
    assert_eq!(after.len(), before.len());
    for (k, v) in &before {
        assert_eq!(after.get(k), Some(v), "{k}");
    }
    // Every document downloads from the restored store as it was uploaded.
    let docs = after[&format!("{}/documents", ids[0])]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(docs.len(), bodies.len());
    for (d, body) in docs.iter().zip(&bodies) {
        let res = client
            .get(format!(
                "{base}/api/v1/engagements/{}/documents/{}/content",
                ids[0],
                d["id"].as_str().unwrap()
            ))
            .bearer_auth(&w.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    let _ = serve.kill();
    let _ = serve.wait();
}
