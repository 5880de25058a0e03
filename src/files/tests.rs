use futures_util::TryStreamExt;

use super::*;

fn files_in(dir: &Path, keys: Vec<[u8; 32]>) -> Files {
    Files::new(
        Location::Local(dir.join("files")),
        Keyring::new(keys).unwrap(),
    )
    .unwrap()
}

fn doc(stored: &Stored) -> Document {
    Document {
        key: stored.key.clone(),
        sha256: stored.sha256.clone(),
        size: stored.size,
        seal: Some(stored.seal.clone()),
    }
}

async fn read_all(files: &Files, d: &Document) -> Result<Vec<u8>, FilesError> {
    let chunks: Vec<Bytes> = files.read(d).await?.try_collect().await?;
    Ok(chunks.concat())
}

/// A recognisable text repeated past several segments.
fn confidential(n: usize) -> Vec<u8> {
    let line = "病院ネットワーク構成図 core-switch 10.20.30.1 VPN gateway; ";
    line.as_bytes().iter().copied().cycle().take(n).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn documents_go_in_sealed_and_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path(), vec![[1; 32]]);
    let plain = confidential(3 * SEGMENT + 1234);
    let stored = files.put(plain.as_slice()).await.unwrap();
    assert_eq!(stored.sha256, hex::encode(Sha256::digest(&plain)));
    assert_eq!(stored.size, plain.len() as u64);
    assert_eq!(stored.seal.key_id, keys::key_id(&[1; 32]));
    assert!(stored.key.starts_with("v1/") && is_document_key(&stored.key));

    let raw = fs::read(dir.path().join("files").join(&stored.key)).unwrap();
    assert!(raw.starts_with(MAGIC));
    assert!(!contains(&raw, "core-switch".as_bytes()));
    assert!(!contains(&raw, &plain[..32]));
    assert_eq!(read_all(&files, &doc(&stored)).await.unwrap(), plain);

    // Same bytes again: another object, another key.
    let again = files.put(plain.as_slice()).await.unwrap();
    assert_ne!(again.key, stored.key);
    assert_ne!(again.seal.wrapped_key, stored.seal.wrapped_key);
    assert_eq!(again.sha256, stored.sha256);
}

#[tokio::test]
async fn a_changed_object_fails_before_a_byte_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path(), vec![[1; 32]]);
    let plain = confidential(2 * SEGMENT + 10);
    let stored = files.put(plain.as_slice()).await.unwrap();
    let path = dir.path().join("files").join(&stored.key);
    let mut raw = fs::read(&path).unwrap();
    // In the last segment: a reader checking as it goes would have sent two segments already.
    let at = raw.len() - 20;
    raw[at] ^= 1;
    fs::write(&path, &raw).unwrap();
    let err = files.read(&doc(&stored)).await.err().unwrap();
    assert!(matches!(err, FilesError::Integrity { .. }), "{err}");
    assert!(err.to_string().contains("integrity check failed"), "{err}");

    // Cut short at a segment boundary.
    raw.truncate(MAGIC.len() + crypto::SEALED_SEGMENT);
    fs::write(&path, &raw).unwrap();
    assert!(matches!(
        files.read(&doc(&stored)).await.err().unwrap(),
        FilesError::Integrity { .. }
    ));

    // A row whose recorded hash is not the content's.
    let other = files.put(&b"%PDF-1.4 other"[..]).await.unwrap();
    let mut wrong = doc(&other);
    wrong.sha256 = stored.sha256.clone();
    assert!(matches!(
        files.read(&wrong).await.err().unwrap(),
        FilesError::Integrity { .. }
    ));
}

#[tokio::test]
async fn a_missing_master_key_is_named_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let old = files_in(dir.path(), vec![[1; 32]]);
    let stored = old.put(&b"%PDF-1.4 diagram"[..]).await.unwrap();
    let new = files_in(dir.path(), vec![[2; 32]]);
    match new.read(&doc(&stored)).await.err().unwrap() {
        FilesError::MissingKey { key_id, .. } => assert_eq!(key_id, keys::key_id(&[1; 32])),
        e => panic!("{e}"),
    }
    // With both, newest first: opens, and rewraps to the newest.
    let both = files_in(dir.path(), vec![[2; 32], [1; 32]]);
    let seal = both.rewrap(&stored.key, &stored.seal).unwrap();
    assert_eq!(seal.key_id, keys::key_id(&[2; 32]));
    let mut d = doc(&stored);
    d.seal = Some(seal);
    assert_eq!(read_all(&new, &d).await.unwrap(), b"%PDF-1.4 diagram");
}

#[tokio::test]
async fn legacy_plaintext_objects_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let files = files_in(dir.path(), vec![[1; 32]]);
    let plain = b"%PDF-1.4 from before encryption".to_vec();
    let sha = hex::encode(Sha256::digest(&plain));
    let key = format!("{}/{}/{sha}", &sha[..2], &sha[2..4]);
    let path = dir.path().join("files").join(&key);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, &plain).unwrap();
    let d = Document {
        key,
        sha256: sha,
        size: plain.len() as u64,
        seal: None,
    };
    assert_eq!(read_all(&files, &d).await.unwrap(), plain);
    fs::write(&path, b"%PDF-1.4 from before encryptioN").unwrap();
    assert!(matches!(
        files.read(&d).await.err().unwrap(),
        FilesError::Integrity { .. }
    ));
}

#[tokio::test]
async fn crafted_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("secret"), b"x").unwrap();
    let files = files_in(dir.path(), vec![[1; 32]]);
    let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    for key in [
        "",
        "../secret",
        "/etc/passwd",
        "v1/../../secret",
        "v1/ABCDEF0123456789ABCDEF0123456789",
        &format!("ab/cd/{sha}"),
        &format!("ba/78/{sha}/"),
    ] {
        let d = Document {
            key: key.into(),
            sha256: sha.into(),
            size: 1,
            seal: None,
        };
        assert!(
            matches!(files.read(&d).await.err().unwrap(), FilesError::BadKey(_)),
            "{key}"
        );
        assert!(files.delete(key).await.is_err(), "{key}");
    }
    assert!(dir.path().join("secret").exists());
}
