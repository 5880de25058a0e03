//! Documents at rest: sealed in the store (the local directory and, when TEST_S3_ENDPOINT names
//! an S3-compatible server, a bucket on it), rotated to a new master key, checked on the way
//! out, and unreferenced objects collected. Each test runs once per store.

use std::path::Path;
use std::sync::Arc;

use diesel::prelude::*;
use engagement_tracker::config::Config;
use engagement_tracker::db::schema::documents;
use engagement_tracker::db::DbError;
use engagement_tracker::files::gc;
use engagement_tracker::files::keys::{key_id, KeySource};
use engagement_tracker::files::Files;
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use reqwest::Method;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{institution_code, problem, spawn_with, TestApp, World};

const KEY_A: [u8; 32] = [0xA1; 32];
const KEY_B: [u8; 32] = [0xB2; 32];

#[derive(Clone, Copy, Debug)]
enum Store {
    Local,
    S3,
}

/// The app with documents in `store` under these master keys (newest first). The S3 variants
/// are ignored by default and fail, naming what is missing, when run without an S3 server.
async fn app_on(store: Store, keys: &[[u8; 32]]) -> TestApp {
    let files_key = keys.iter().map(hex::encode).collect::<Vec<_>>().join(",");
    let mut settings: Vec<(String, String)> = vec![("FILES_KEY".into(), files_key)];
    if let Store::S3 = store {
        let Some(endpoint) = std::env::var("TEST_S3_ENDPOINT")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            panic!(
                "TEST_S3_ENDPOINT is not set: run under tests/s3/with-moto.sh (as .ci/run does)"
            );
        };
        let bucket = std::env::var("TEST_S3_BUCKET").unwrap_or_else(|_| "et-test".into());
        // A prefix of its own: tests share the bucket, never each other's objects.
        let prefix = format!("t-{}", uuid::Uuid::now_v7().simple());
        settings.extend([
            ("FILES_URL".into(), format!("s3://{bucket}/{prefix}")),
            ("AWS_ENDPOINT_URL".into(), endpoint),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]);
    }
    let refs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    spawn_with(&refs).await
}

/// The store's objects exactly as stored (no decryption): key and bytes.
async fn raw_objects(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let store = app.config.files.open().unwrap();
    let metas: Vec<_> = store.list(None).try_collect().await.unwrap();
    let mut out = Vec::new();
    for m in metas {
        let bytes = store.get(&m.location).await.unwrap().bytes().await.unwrap();
        out.push((m.location.to_string(), bytes.to_vec()));
    }
    out.sort();
    out
}

/// On the local store, the files as they are on disk, read with std::fs.
fn files_on_disk(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_on_disk(&p));
            } else {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// A PDF of about `kib` KiB whose every line says `marker` (several 64 KiB segments).
fn pdf_with(marker: &str, kib: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.4\n".to_vec();
    while b.len() < kib * 1024 {
        b.extend_from_slice(format!("% {marker} 192.168.10.1 core switch\n").as_bytes());
    }
    b
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// An engagement whose memorandum is executed (documents are accepted).
async fn executed(app: &TestApp, w: &World, n: u32) -> String {
    let h = app
        .hospital(
            &w.admin,
            &institution_code("13", 21, n),
            "架空暗号化病院",
            120,
        )
        .await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    app.step(&w.coord_a, &e, "consent", json!({})).await;
    let res = app
        .req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/memorandum"),
            Some(&w.coord_a),
        )
        .json(&json!({"status": "executed", "executed_on": "2026-11-20"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    e
}

async fn download(app: &TestApp, token: &str, e: &str, doc: &str) -> reqwest::Response {
    app.get(
        &format!("/api/v1/engagements/{e}/documents/{doc}/content"),
        token,
    )
    .await
}

fn with_keys(app: &TestApp, keys: &[[u8; 32]]) -> Config {
    let mut c = (*app.config).clone();
    c.files_keys = KeySource::Configured(keys.to_vec());
    c
}

async fn sealed_at_rest(store: Store) {
    let app = app_on(store, &[KEY_A]).await;
    let w = app.world().await;
    let e = executed(&app, &w, 1).await;
    let body = pdf_with("TOP-SECRET-DIAGRAM", 200);
    let res = app
        .upload(&w.coord_a, &e, "diagram", "構成図.pdf", &body)
        .await;
    assert_eq!(res.status(), 200);

    let docs = app.documents(&w.coord_a, &e).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(
        docs[0]["sha256"],
        sha(&body),
        "the audit trail has the plaintext's hash"
    );
    assert_eq!(docs[0]["size"], body.len());
    let timeline = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), &w.coord_a)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        timeline.contains(&sha(&body)),
        "the timeline records the plaintext's hash"
    );

    // What the store holds: one object, sealed; not a line of the document in it.
    let objects = raw_objects(&app).await;
    assert_eq!(
        objects.len(),
        1,
        "{:?}",
        objects.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    let (key, raw) = &objects[0];
    assert!(key.starts_with("v1/"), "{key}");
    assert!(raw.starts_with(b"ETDOC"));
    assert!(raw.len() > body.len(), "segments carry tags");
    assert!(!contains(raw, b"TOP-SECRET-DIAGRAM"));
    assert!(!contains(raw, &body[..64]));
    let on_disk = files_on_disk(&app.data_dir().join("files"));
    match store {
        Store::Local => {
            assert_eq!(on_disk.len(), 1);
            assert!(!contains(&on_disk[0], b"TOP-SECRET-DIAGRAM"));
        }
        Store::S3 => assert!(on_disk.is_empty(), "nothing on the local disk"),
    }

    let res = download(&app, &w.coord_a, &e, docs[0]["id"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-content-sha256"], sha(&body).as_str());
    assert_eq!(
        res.headers()["content-length"],
        body.len().to_string().as_str()
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn documents_are_sealed_at_rest_on_the_local_disk() {
    sealed_at_rest(Store::Local).await;
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: tests/s3/with-moto.sh (run by .ci/run)"]
async fn documents_are_sealed_at_rest_on_s3() {
    sealed_at_rest(Store::S3).await;
}

/// Turns an uploaded document back into what an older deployment stored: a plaintext object
/// under its SHA-256, with no seal recorded.
async fn make_legacy(app: &TestApp, doc_id: &str, body: &[u8]) -> String {
    let hash = sha(body);
    let key = format!("{}/{}/{hash}", &hash[..2], &hash[2..4]);
    let store = app.config.files.open().unwrap();
    store
        .put(
            &ObjectPath::from(key.as_str()),
            PutPayload::from(body.to_vec()),
        )
        .await
        .unwrap();
    let (id, k) = (doc_id.to_owned(), key.clone());
    let sealed: String = {
        let id = id.clone();
        app.db
            .run_write_blocking::<_, DbError, _>(move |conn| {
                Ok(documents::table
                    .filter(documents::id.eq(&id))
                    .select(documents::storage_key)
                    .first(conn)?)
            })
            .unwrap()
    };
    store
        .delete(&ObjectPath::from(sealed.as_str()))
        .await
        .unwrap();
    app.db
        .run_write_blocking::<_, DbError, _>(move |conn| {
            diesel::update(documents::table.filter(documents::id.eq(&id)))
                .set((
                    documents::storage_key.eq(&k),
                    documents::key_id.eq(None::<String>),
                    documents::wrapped_key.eq(None::<String>),
                    documents::nonce.eq(None::<String>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
    key
}

async fn rotation(store: Store) {
    let mut app = app_on(store, &[KEY_A]).await;
    let w = app.world().await;
    let e = executed(&app, &w, 2).await;
    let bodies: Vec<Vec<u8>> = (0..3)
        .map(|i| pdf_with(&format!("ROTATE-{i}"), 70 + i))
        .collect();
    for (i, b) in bodies.iter().enumerate() {
        let res = app
            .upload(&w.coord_a, &e, "diagram", &format!("d{i}.pdf"), b)
            .await;
        assert_eq!(res.status(), 200);
    }
    let docs = app.documents(&w.coord_a, &e).await;
    let ids: Vec<String> = docs
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect();
    // The third is a plaintext object from before encryption.
    let legacy_key = make_legacy(&app, &ids[2], &bodies[2]).await;

    // Only the new key: the documents sealed under the old one cannot be opened, and say why.
    app.restart_with(with_keys(&app, &[KEY_B])).await;
    let p = problem(download(&app, &w.coord_a, &e, &ids[0]).await, 500).await;
    assert_eq!(p["type"], "/problems/key-unavailable");
    assert!(
        p["detail"].as_str().unwrap().contains(&key_id(&KEY_A)),
        "{p}"
    );
    let res = download(&app, &w.coord_a, &e, &ids[2]).await;
    assert_eq!(
        res.bytes().await.unwrap().as_ref(),
        bodies[2].as_slice(),
        "legacy reads on"
    );

    // New key first, old one still there: rewrap moves everything to the new one.
    app.restart_with(with_keys(&app, &[KEY_B, KEY_A])).await;
    let files = Files::open(&app.config).unwrap();
    let r = gc::rewrap(&files, &app.db).await.unwrap();
    assert_eq!(
        (r.rewrapped, r.sealed_legacy, r.current),
        (2, 1, 0),
        "{r:?}"
    );
    assert!(r.failed.is_empty(), "{r:?}");
    let objects = raw_objects(&app).await;
    assert!(
        objects.iter().all(|(k, _)| k != &legacy_key),
        "the plaintext object is gone"
    );
    assert_eq!(objects.len(), 3);
    for (_, raw) in &objects {
        assert!(!contains(raw, b"ROTATE-"), "every object is sealed");
    }

    // The old key removed: every document still downloads, whole.
    app.restart_with(with_keys(&app, &[KEY_B])).await;
    for (id, body) in ids.iter().zip(&bodies) {
        let res = download(&app, &w.coord_a, &e, id).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice());
    }
    let files = Files::open(&app.config).unwrap();
    let again = gc::rewrap(&files, &app.db).await.unwrap();
    assert_eq!(
        (again.rewrapped, again.sealed_legacy, again.current),
        (0, 0, 3)
    );
}

#[tokio::test]
async fn keys_rotate_and_old_ones_can_go_on_the_local_disk() {
    rotation(Store::Local).await;
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: tests/s3/with-moto.sh (run by .ci/run)"]
async fn keys_rotate_and_old_ones_can_go_on_s3() {
    rotation(Store::S3).await;
}

async fn tampered(store: Store) {
    let app = app_on(store, &[KEY_A]).await;
    let w = app.world().await;
    let e = executed(&app, &w, 3).await;
    let body = pdf_with("TAMPER", 150);
    assert_eq!(
        app.upload(&w.coord_a, &e, "diagram", "t.pdf", &body)
            .await
            .status(),
        200
    );
    let doc = app.documents(&w.coord_a, &e).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let objects = raw_objects(&app).await;
    let (key, mut raw) = objects.into_iter().next().unwrap();
    // A byte in the last segment: the first two would pass a check made only as bytes go out.
    let at = raw.len() - 100;
    raw[at] ^= 0x01;
    let store = app.config.files.open().unwrap();
    store
        .put(&ObjectPath::from(key.as_str()), PutPayload::from(raw))
        .await
        .unwrap();
    let p = problem(download(&app, &w.coord_a, &e, &doc).await, 500).await;
    assert_eq!(p["type"], "/problems/integrity");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("integrity check failed"),
        "{p}"
    );
}

#[tokio::test]
async fn a_changed_object_answers_500_integrity_on_the_local_disk() {
    tampered(Store::Local).await;
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: tests/s3/with-moto.sh (run by .ci/run)"]
async fn a_changed_object_answers_500_integrity_on_s3() {
    tampered(Store::S3).await;
}

async fn collect(store: Store) {
    let app = app_on(store, &[KEY_A]).await;
    let w = app.world().await;
    let e = executed(&app, &w, 4).await;
    let body = pdf_with("KEEP", 10);
    assert_eq!(
        app.upload(&w.coord_a, &e, "diagram", "k.pdf", &body)
            .await
            .status(),
        200
    );
    // An upload whose step is refused after its bytes were stored (a stale If-Match).
    let part = reqwest::multipart::Part::bytes(pdf_with("ORPHAN", 10)).file_name("o.pdf");
    let res = app
        .req(
            Method::POST,
            &format!("/api/v1/engagements/{e}/documents?purpose=diagram"),
            Some(&w.coord_a),
        )
        .header("If-Match", "\"v999\"")
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap();
    problem(res, 412).await;
    let docs = app.documents(&w.coord_a, &e).await;
    assert_eq!(docs.len(), 1);
    assert_eq!(
        raw_objects(&app).await.len(),
        1,
        "a refused step removes the bytes it had stored"
    );
    // An object no row names, as a process stopped between storing and recording leaves.
    let files = Files::open(&app.config).unwrap();
    files.put(&pdf_with("ORPHAN", 10)[..]).await.unwrap();
    assert_eq!(raw_objects(&app).await.len(), 2);
    // Someone else's object under the same prefix: never ours to remove.
    let raw_store: Arc<dyn ObjectStore> = app.config.files.open().unwrap();
    raw_store
        .put(
            &ObjectPath::from("notes/readme.txt"),
            PutPayload::from_static(b"hi"),
        )
        .await
        .unwrap();

    let hour = std::time::Duration::from_secs(3600);
    let r = gc::gc(&files, &app.db, hour, false).await.unwrap();
    assert_eq!(
        (r.objects, r.referenced, r.young, r.foreign),
        (3, 1, 1, 1),
        "{r:?}"
    );
    assert!(
        r.removed.is_empty(),
        "young objects may still get their row"
    );

    let dry = gc::gc(&files, &app.db, std::time::Duration::ZERO, true)
        .await
        .unwrap();
    assert_eq!(dry.removed.len(), 1);
    assert_eq!(
        raw_objects(&app).await.len(),
        3,
        "a dry run removes nothing"
    );
    let r = gc::gc(&files, &app.db, std::time::Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(r.removed.len(), 1);
    let left: Vec<String> = raw_objects(&app).await.into_iter().map(|o| o.0).collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&"notes/readme.txt".to_owned()));
    assert!(!left.contains(&r.removed[0]));
    let res = download(&app, &w.coord_a, &e, docs[0]["id"].as_str().unwrap()).await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), body.as_slice());
}

#[tokio::test]
async fn objects_no_document_names_are_collected_on_the_local_disk() {
    collect(Store::Local).await;
}

#[tokio::test]
#[ignore = "needs an S3-compatible server: tests/s3/with-moto.sh (run by .ci/run)"]
async fn objects_no_document_names_are_collected_on_s3() {
    collect(Store::S3).await;
}
