//! Documents stream through the compiled binary: a large upload and its download never sit
//! whole in the server's memory.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::binary::Install;

/// The server's peak resident memory so far, in MB.
fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kb / 1024
}

#[tokio::test]
async fn a_45_mb_document_goes_through_without_being_held_in_memory() {
    let install = Install::new();
    let created = install.create_admin("admin@example.com");
    assert!(created.status.success(), "{created:?}");
    let server = install.serve(&[]).await;
    let admin = server.token("admin@example.com").await;
    let (engagement, _) = server.queue_first_contact(&admin).await;
    let pid = server.process.child.id();

    // Warm up the path once with a small file, so the peak below is the large file's own.
    let mut small = b"%PDF-1.7\n".to_vec();
    small.resize(200_000, b' ');
    let upload = |bytes: Vec<u8>, name: &str| {
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
        );
        server
            .client
            .post(server.url(&format!(
                "/api/v1/engagements/{engagement}/documents?purpose=diagram&override_reason=large+file+test"
            )))
            .bearer_auth(&admin)
            .multipart(form)
            .send()
    };
    let res = upload(small, "small.pdf").await.expect("request");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let before = peak_rss_mb(pid);

    let size = 45 * 1024 * 1024;
    let mut big = b"%PDF-1.7\n".to_vec();
    big.extend((0..size - 9).map(|i| (i % 253) as u8));
    let sha = hex::encode(Sha256::digest(&big));
    let res = upload(big, "large.pdf").await.expect("request");
    assert_eq!(
        res.status(),
        200,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let after_upload = peak_rss_mb(pid);

    let docs: Value = server
        .client
        .get(server.url(&format!("/api/v1/engagements/{engagement}/documents")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let doc = docs
        .as_array()
        .expect("documents")
        .iter()
        .find(|d| d["filename"] == json!("large.pdf"))
        .expect("the large document")
        .clone();
    assert_eq!(doc["size"], json!(size));
    assert_eq!(doc["sha256"], json!(sha));
    let mut res = server
        .client
        .get(server.url(&format!(
            "/api/v1/engagements/{engagement}/documents/{}/content",
            doc["id"].as_str().expect("id")
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let mut hasher = Sha256::new();
    let mut got = 0;
    while let Some(chunk) = res.chunk().await.expect("body") {
        got += chunk.len();
        hasher.update(&chunk);
    }
    assert_eq!((got, hex::encode(hasher.finalize())), (size, sha));
    let after_download = peak_rss_mb(pid);

    eprintln!("server peak RSS: {before} MB before, {after_upload} MB after a 45 MB upload, {after_download} MB after its download");
    // Held whole, the upload alone would add 45 MB or more; streamed, a few parts' worth.
    assert!(
        after_upload < before + 24,
        "the upload raised the peak from {before} to {after_upload} MB"
    );
    assert!(
        after_download < before + 24,
        "the download raised the peak from {before} to {after_download} MB"
    );
}
