//! Where uploaded documents' bytes live, behind one small interface so that a shared backend
//! (object storage) can replace the local disk later without touching the handlers.
//!
//! Objects are content-addressed by SHA-256: the same bytes uploaded twice are one object.
//! Several documents may therefore share a key; whoever deletes must check no other document
//! still refers to it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// Uploads larger than this are refused unless configured otherwise.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// What `put` stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Opaque to callers: hand it back to `get` and `delete`.
    pub key: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    pub size: u64,
}

/// Blocking: call it inside `web::block`.
pub trait Storage: Send + Sync {
    fn put(&self, bytes: &[u8]) -> anyhow::Result<Stored>;
    /// Fails when there is no such object; see [`is_not_found`].
    fn get(&self, key: &str) -> anyhow::Result<Vec<u8>>;
    /// Deleting an object that is already gone is not an error.
    fn delete(&self, key: &str) -> anyhow::Result<()>;
}

/// Creates `dir` and any missing parents, owner-only (0700): DATA_DIR holds the database, mail
/// with live links and confidential documents. Directories that exist keep their mode.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates a new file readable and writable by the owner only (0600); fails if it exists.
pub fn create_private_file(path: &Path) -> io::Result<fs::File> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// True when `err` says the object does not exist (as opposed to the storage failing).
pub fn is_not_found(err: &anyhow::Error) -> bool {
    err.downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::NotFound)
}

/// Objects on the local disk under `DATA_DIR/files/`, at `ab/cd/abcd…` (the SHA-256 in hex)
/// so that no directory grows too large.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            root: data_dir.join("files"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> anyhow::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }
}

fn key_for(sha256: &str) -> String {
    format!("{}/{}/{sha256}", &sha256[..2], &sha256[2..4])
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Only keys of the exact shape `put` makes are accepted. That shape cannot hold `..`, a
/// backslash or an absolute path, so a crafted key cannot reach outside the root.
fn check_key(key: &str) -> anyhow::Result<()> {
    let mut parts = key.split('/');
    let ok = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(hash), None) => {
            hash.len() == 64
                && is_lower_hex(hash)
                && hash.get(..2) == Some(a)
                && hash.get(2..4) == Some(b)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        anyhow::bail!("not a storage key: {key:?}")
    }
}

impl Storage for LocalStorage {
    fn put(&self, bytes: &[u8]) -> anyhow::Result<Stored> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let key = key_for(&sha256);
        let path = self.root.join(&key);
        let stored = Stored {
            key,
            sha256,
            size: bytes.len() as u64,
        };
        // Objects only ever appear by rename of a complete file, so one that exists is whole
        // and identical: leave it alone.
        if path
            .try_exists()
            .with_context(|| format!("checking {}", path.display()))?
        {
            return Ok(stored);
        }
        let dir = path.parent().context("storage path has no parent")?;
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        // tempfile creates the file 0600, a mode it keeps when renamed. Same directory as the
        // target, so the rename cannot cross file systems.
        let mut tmp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(bytes).context("writing upload")?;
        // On disk before it gets its final name: after a crash an object is whole or absent.
        tmp.as_file().sync_all().context("syncing upload")?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => Ok(stored),
            // A concurrent upload of the same bytes got there first; its object is the same.
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(stored),
            Err(e) => Err(e.error).with_context(|| format!("storing {}", path.display())),
        }
    }

    fn get(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        let path = self.path_of(key)?;
        fs::read(&path).with_context(|| format!("reading stored object {key}"))
    }

    fn delete(&self, key: &str) -> anyhow::Result<()> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting stored object {key}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    fn storage() -> (tempfile::TempDir, LocalStorage) {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path());
        (dir, s)
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn put_get_delete() {
        let (dir, s) = storage();
        let stored = s.put(b"abc").unwrap();
        assert_eq!(stored.sha256, ABC_SHA256);
        assert_eq!(stored.key, format!("ba/78/{ABC_SHA256}"));
        assert_eq!(stored.size, 3);
        assert!(dir.path().join("files/ba/78").join(ABC_SHA256).is_file());
        assert_eq!(s.get(&stored.key).unwrap(), b"abc");

        s.delete(&stored.key).unwrap();
        let err = s.get(&stored.key).unwrap_err();
        assert!(is_not_found(&err), "{err:#}");
        // Already gone: still fine.
        s.delete(&stored.key).unwrap();
    }

    #[test]
    fn same_bytes_are_one_object_and_never_rewritten() {
        let (dir, s) = storage();
        let first = s.put(b"abc").unwrap();
        let path = dir.path().join("files").join(&first.key);
        // Had the second put rewritten the object, this marker would be gone.
        fs::write(&path, b"marker").unwrap();
        let second = s.put(b"abc").unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(&path).unwrap(), b"marker");
        // No temporary files left behind.
        assert_eq!(files_under(&dir.path().join("files")), vec![path]);

        s.put(b"").unwrap();
        assert_eq!(files_under(&dir.path().join("files")).len(), 2);
    }

    #[test]
    fn crafted_keys_are_refused() {
        let (dir, s) = storage();
        fs::write(dir.path().join("secret"), b"x").unwrap();
        let upper = format!("BA/78/{}", ABC_SHA256.to_uppercase());
        let mismatched = format!("ab/cd/{ABC_SHA256}");
        let traversal = format!("ba/78/../../../secret{}", &ABC_SHA256[..50]);
        for key in [
            "",
            "../secret",
            "../../secret",
            "/etc/passwd",
            "ba/78/..",
            "ba\\78\\x",
            upper.as_str(),
            mismatched.as_str(),
            traversal.as_str(),
            &format!("/ba/78/{ABC_SHA256}"),
            &format!("ba/78/{ABC_SHA256}/"),
        ] {
            assert!(s.get(key).is_err(), "{key}");
            assert!(!is_not_found(&s.get(key).unwrap_err()), "{key}");
            assert!(s.delete(key).is_err(), "{key}");
        }
        assert!(dir.path().join("secret").exists());
    }

    #[cfg(unix)]
    #[test]
    fn objects_and_their_directories_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, s) = storage();
        let stored = s.put(b"confidential").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let object = dir.path().join("files").join(&stored.key);
        assert_eq!(mode(&object), 0o600);
        let mut d = object.parent().unwrap();
        while d != dir.path() {
            assert_eq!(mode(d), 0o700, "{}", d.display());
            d = d.parent().unwrap();
        }
    }

    #[test]
    fn usable_as_a_trait_object() {
        let (_dir, s) = storage();
        let s: Box<dyn Storage> = Box::new(s);
        let stored = s.put("構成図".as_bytes()).unwrap();
        assert_eq!(s.get(&stored.key).unwrap(), "構成図".as_bytes());
    }
}
