//! Uploaded documents' bytes: sealed (AES-256-GCM, a fresh data key per document, wrapped by a
//! master key) before they leave the process, and kept in a local directory or an
//! S3-compatible store (`FILES_URL`). Callers hand `put` a reader and get back what to record
//! with the document; `read` gives back a stream of the plaintext, checked whole before its
//! first byte is released. Neither holds a whole document in memory.
//!
//! Each upload is a new object under a random key (`v1/<uuid>`), never shared or rewritten.
//! Objects from before encryption (`ab/cd/<sha256>`, plaintext, possibly shared by documents
//! with the same bytes) are still read, checked against their recorded SHA-256, until
//! `files rewrap` seals them.

pub mod backup;
pub mod crypto;
pub mod gc;
pub mod keys;
mod sealing;
pub mod store;

pub use sealing::Sealing;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crypto::{CryptoError, DataKey, Opener, MAGIC, NONCE_PREFIX, SEALED_SEGMENT, SEGMENT, TAG};
use keys::Keyring;
use store::Location;

/// Uploads larger than this are refused unless configured otherwise.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// The pieces `piece` reads a document by (a sealed segment's plaintext).
pub const PIECE: usize = SEGMENT;

/// Sealed bytes buffered before they go out as one request (or one part of a multipart upload:
/// S3 wants parts of at least 5 MiB). Bounds an upload's memory whatever the document's size.
const PART_BYTES: usize = 5 * 1024 * 1024;

/// How a document's object is sealed; recorded with the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The master key that wraps the data key (`keys::key_id`).
    pub key_id: String,
    /// The data key, wrapped (base64).
    pub wrapped_key: String,
    /// The STREAM nonce prefix (hex).
    pub nonce: String,
}

/// What `put` stored: record all of it with the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Opaque to callers: the object's name in the store.
    pub key: String,
    /// SHA-256 of the plaintext (what the audit trail shows), lowercase hex.
    pub sha256: String,
    /// Size of the plaintext.
    pub size: u64,
    pub seal: Seal,
}

/// A stored document as its database row describes it.
#[derive(Debug, Clone)]
pub struct Document {
    pub key: String,
    pub sha256: String,
    pub size: u64,
    /// `None`: a legacy plaintext object.
    pub seal: Option<Seal>,
}

impl Document {
    /// A document just stored, before any row records it.
    pub fn stored(s: &Stored) -> Self {
        Self {
            key: s.key.clone(),
            sha256: s.sha256.clone(),
            size: s.size,
            seal: Some(s.seal.clone()),
        }
    }

    pub fn of(row: &crate::db::intake::DocumentRow) -> Self {
        Self {
            key: row.storage_key.clone(),
            sha256: row.sha256.clone(),
            size: u64::try_from(row.size).unwrap_or(0),
            seal: match (&row.key_id, &row.wrapped_key, &row.nonce) {
                (None, _, _) => None,
                (Some(k), w, n) => Some(Seal {
                    key_id: k.clone(),
                    // Missing parts fail the integrity check when read.
                    wrapped_key: w.clone().unwrap_or_default(),
                    nonce: n.clone().unwrap_or_default(),
                }),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("stored object {key}: integrity check failed: {reason}")]
    Integrity { key: String, reason: String },
    #[error("stored object {key} is sealed with master key {key_id}, which is not configured; add it to FILES_KEY or FILES_KEY_FILE")]
    MissingKey { key: String, key_id: String },
    #[error("stored object {0} does not exist")]
    NotFound(String),
    #[error("not a storage key: {0:?}")]
    BadKey(String),
    #[error("document storage failed: {0}")]
    Store(#[from] object_store::Error),
    #[error("reading the upload failed: {0}")]
    Read(#[from] io::Error),
    #[error("writing the document to storage failed: {0}")]
    Write(io::Error),
}

impl FilesError {
    fn integrity(key: &str, e: CryptoError) -> Self {
        let CryptoError::Integrity(reason) = e;
        FilesError::Integrity {
            key: key.to_owned(),
            reason,
        }
    }

    fn store(key: &str, e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { .. } => FilesError::NotFound(key.to_owned()),
            other => FilesError::Store(other),
        }
    }
}

/// A stream of document bytes, as handed to the HTTP response.
pub type ByteStream = BoxStream<'static, Result<Bytes, FilesError>>;

/// The document store of this process.
pub struct Files {
    store: Arc<dyn ObjectStore>,
    keys: Keyring,
    location: Location,
}

impl std::fmt::Debug for Files {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Files")
            .field("location", &self.location.describe())
            .field("keys", &self.keys)
            .finish()
    }
}

impl Files {
    /// The store and keys the configuration names; a key is generated into DATA_DIR if none is
    /// configured and none was generated before.
    pub fn open(config: &Config) -> anyhow::Result<Self> {
        Self::new(
            config.files.clone(),
            Keyring::load(&config.files_keys, true)?,
        )
    }

    pub fn new(location: Location, keys: Keyring) -> anyhow::Result<Self> {
        Ok(Self {
            store: location.open()?,
            keys,
            location,
        })
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The raw store (for tests, `gc` and backups): sealed bytes only.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The document's plaintext, as a stream. The whole object is read and checked first
    /// (authenticated segment by segment, and its SHA-256 and size compared with the record),
    /// then read again for the answer, on the condition that it is still the same object: so
    /// a changed or damaged object is an error before the first byte goes out, never
    /// corrupted bytes.
    pub async fn read(&self, doc: &Document) -> Result<ByteStream, FilesError> {
        let etag = self.verify(doc).await?;
        self.plaintext(doc, etag).await
    }

    /// Reads the whole document and checks it; returns the object's entity tag.
    pub async fn verify(&self, doc: &Document) -> Result<Option<String>, FilesError> {
        let (mut stream, etag) = self.plaintext_with_etag(doc, None).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        let sha = hex::encode(hasher.finalize());
        if sha != doc.sha256 || size != doc.size {
            let e = FilesError::Integrity {
                key: doc.key.clone(),
                reason: format!(
                    "its content is not what was uploaded (SHA-256 {sha}, {size} bytes; recorded {}, {} bytes)",
                    doc.sha256, doc.size
                ),
            };
            tracing::error!(error = %e, "document integrity check failed");
            return Err(e);
        }
        Ok(etag)
    }

    async fn plaintext(
        &self,
        doc: &Document,
        etag: Option<String>,
    ) -> Result<ByteStream, FilesError> {
        Ok(self.plaintext_with_etag(doc, etag).await?.0)
    }

    async fn plaintext_with_etag(
        &self,
        doc: &Document,
        if_match: Option<String>,
    ) -> Result<(ByteStream, Option<String>), FilesError> {
        check_key(&doc.key)?;
        // The key first: a missing master key is a clear error, not a storage one.
        let opener = match &doc.seal {
            None => None,
            Some(seal) => Some(self.opener(&doc.key, seal).inspect_err(log_integrity)?),
        };
        let key = doc.key.clone();
        let got = self
            .store
            .get_opts(
                &ObjectPath::from(key.as_str()),
                GetOptions {
                    if_match,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| FilesError::store(&key, e))?;
        let etag = got.meta.e_tag.clone();
        let input = got.into_stream();
        let stream: ByteStream = match opener {
            None => input
                .map(move |r| r.map_err(|e| FilesError::store(&key, e)))
                .boxed(),
            Some(opener) => open_stream(input, opener, key),
        };
        Ok((stream, etag))
    }

    fn opener(&self, key: &str, seal: &Seal) -> Result<Opener, FilesError> {
        let (dek, nonce) = self.data_key(key, seal)?;
        Ok(Opener::new(&dek, &nonce))
    }

    fn data_key(
        &self,
        key: &str,
        seal: &Seal,
    ) -> Result<(DataKey, [u8; NONCE_PREFIX]), FilesError> {
        let master = self
            .keys
            .get(&seal.key_id)
            .ok_or_else(|| FilesError::MissingKey {
                key: key.to_owned(),
                key_id: seal.key_id.clone(),
            })?;
        let dek = crypto::unwrap(master, &seal.wrapped_key, key)
            .map_err(|e| FilesError::integrity(key, e))?;
        let nonce: [u8; NONCE_PREFIX] = hex::decode(&seal.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| FilesError::Integrity {
                key: key.to_owned(),
                reason: "the recorded nonce is malformed".into(),
            })?;
        Ok((dek, nonce))
    }

    /// The plaintext of one segment (`crypto::SEGMENT` bytes, the last one shorter) of a sealed
    /// document, read and authenticated on its own: random access for telling a stored
    /// upload's kind without reading it whole.
    pub async fn piece(&self, doc: &Document, index: u64) -> Result<Bytes, FilesError> {
        check_key(&doc.key)?;
        let seal = doc.seal.as_ref().ok_or_else(|| FilesError::Integrity {
            key: doc.key.clone(),
            reason: "only sealed documents are read by piece".into(),
        })?;
        let (dek, nonce) = self.data_key(&doc.key, seal)?;
        let last = doc.size.saturating_sub(1) / SEGMENT as u64;
        let (Ok(position), true) = (u32::try_from(index), index <= last) else {
            return Err(FilesError::Integrity {
                key: doc.key.clone(),
                reason: format!("piece {index} is past the end"),
            });
        };
        let start = MAGIC.len() as u64 + index * SEALED_SEGMENT as u64;
        let len = if index == last {
            doc.size - index * SEGMENT as u64 + TAG as u64
        } else {
            SEALED_SEGMENT as u64
        };
        let got = self
            .store
            .get_opts(
                &ObjectPath::from(doc.key.as_str()),
                GetOptions {
                    range: Some((start..start + len).into()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| FilesError::store(&doc.key, e))?;
        let sealed = got
            .bytes()
            .await
            .map_err(|e| FilesError::store(&doc.key, e))?;
        let plain = crypto::open_segment(&dek, &nonce, position, index == last, &sealed)
            .map_err(|e| FilesError::integrity(&doc.key, e))?;
        Ok(Bytes::from(plain))
    }

    /// The same data key, wrapped under the newest master key (for `files rewrap`).
    pub fn rewrap(&self, key: &str, seal: &Seal) -> Result<Seal, FilesError> {
        let master = self
            .keys
            .get(&seal.key_id)
            .ok_or_else(|| FilesError::MissingKey {
                key: key.to_owned(),
                key_id: seal.key_id.clone(),
            })?;
        let dek = crypto::unwrap(master, &seal.wrapped_key, key)
            .map_err(|e| FilesError::integrity(key, e))?;
        let newest = self.keys.newest();
        Ok(Seal {
            key_id: newest.id.clone(),
            wrapped_key: crypto::wrap(newest, &dek, key),
            nonce: seal.nonce.clone(),
        })
    }

    /// Removes an object; one already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), FilesError> {
        check_key(key)?;
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(FilesError::Store(e)),
        }
    }
}

fn log_integrity(e: &FilesError) {
    if matches!(
        e,
        FilesError::Integrity { .. } | FilesError::MissingKey { .. }
    ) {
        tracing::error!(error = %e, "document cannot be opened");
    }
}

struct Opening {
    input: BoxStream<'static, object_store::Result<Bytes>>,
    opener: Option<Opener>,
    ready: VecDeque<Bytes>,
    key: String,
}

/// Plaintext out of a sealed object's bytes, each segment released only once authenticated.
fn open_stream(
    input: BoxStream<'static, object_store::Result<Bytes>>,
    opener: Opener,
    key: String,
) -> ByteStream {
    let state = Opening {
        input,
        opener: Some(opener),
        ready: VecDeque::new(),
        key,
    };
    futures_util::stream::try_unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.ready.pop_front() {
                return Ok(Some((b, st)));
            }
            let Some(opener) = st.opener.as_mut() else {
                return Ok(None);
            };
            match st.input.next().await {
                Some(Ok(chunk)) => {
                    let out = opener
                        .push(&chunk)
                        .map_err(|e| FilesError::integrity(&st.key, e));
                    st.ready.extend(out.inspect_err(log_integrity)?);
                }
                Some(Err(e)) => return Err(FilesError::store(&st.key, e)),
                None => {
                    if let Some(o) = st.opener.take() {
                        let last = o.finish().map_err(|e| FilesError::integrity(&st.key, e));
                        let last = last.inspect_err(log_integrity)?;
                        if !last.is_empty() {
                            st.ready.push_back(last);
                        }
                    }
                }
            }
        }
    })
    .boxed()
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `key` has a shape this module makes: `v1/<32 hex>` (sealed), or the legacy
/// `ab/cd/<sha256>` (plaintext, content-addressed). Nothing else is read or deleted.
pub fn is_document_key(key: &str) -> bool {
    let parts: Vec<&str> = key.split('/').collect();
    match parts.as_slice() {
        ["v1", id] => id.len() == 32 && is_lower_hex(id),
        [a, b, hash] => {
            hash.len() == 64
                && is_lower_hex(hash)
                && hash.get(..2) == Some(*a)
                && hash.get(2..4) == Some(*b)
        }
        _ => false,
    }
}

fn check_key(key: &str) -> Result<(), FilesError> {
    if is_document_key(key) {
        Ok(())
    } else {
        Err(FilesError::BadKey(key.to_owned()))
    }
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

#[cfg(test)]
mod tests;
