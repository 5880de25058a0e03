//! Writing a new document: plaintext in, pushed piece by piece as it arrives (an upload's
//! chunks), sealed segment by segment into a new object. At most a segment of plaintext and
//! one part of sealed bytes are held at a time, whatever the document's size.

use bytes::{Bytes, BytesMut};
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::crypto::{self, DataKey, Sealer, MAGIC, SEGMENT};
use super::store::Location;
use super::{Files, FilesError, Seal, Stored, PART_BYTES};

/// A document being written. Dropped without `finish`, nothing appears in the store (a
/// multipart upload begun is left for the store to expire; `abort` cancels it at once).
pub struct Sealing {
    key: String,
    seal: Seal,
    sealer: Sealer,
    writer: BufWriter,
    hasher: Sha256,
    size: u64,
    pending: BytesMut,
    location: Location,
}

impl Files {
    /// Begins a new object under the newest master key.
    pub async fn begin(&self) -> Result<Sealing, FilesError> {
        let key = format!("v1/{}", uuid::Uuid::now_v7().simple());
        let master = self.keys.newest();
        let dek = DataKey::generate();
        let nonce = crypto::new_nonce_prefix();
        let seal = Seal {
            key_id: master.id.clone(),
            wrapped_key: crypto::wrap(master, &dek, &key),
            nonce: hex::encode(nonce),
        };
        let path = ObjectPath::from(key.as_str());
        let mut writer =
            BufWriter::with_capacity(self.store.clone(), path, PART_BYTES).with_max_concurrency(2);
        writer.put(Bytes::from_static(MAGIC)).await?;
        Ok(Sealing {
            key,
            seal,
            sealer: Sealer::new(&dek, &nonce),
            writer,
            hasher: Sha256::new(),
            size: 0,
            pending: BytesMut::new(),
            location: self.location.clone(),
        })
    }

    /// Seals what `reader` yields into a new object under the newest master key. On any error
    /// nothing is left behind but, at worst, an object no row names (removed by `files gc`).
    pub async fn put<R: AsyncRead + Unpin>(&self, mut reader: R) -> Result<Stored, FilesError> {
        let mut sealing = self.begin().await?;
        let mut buf = vec![0u8; SEGMENT];
        loop {
            let n = match reader.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    sealing.abort().await;
                    return Err(FilesError::Read(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Err(e) = sealing.write(&buf[..n]).await {
                sealing.abort().await;
                return Err(e);
            }
        }
        sealing.finish().await
    }
}

impl Sealing {
    /// Adds plaintext. Every full segment is sealed and handed to the writer, except the last
    /// one seen so far: whether more follows decides whether it is sealed as the last.
    pub async fn write(&mut self, plain: &[u8]) -> Result<(), FilesError> {
        self.hasher.update(plain);
        self.size += plain.len() as u64;
        self.pending.extend_from_slice(plain);
        while self.pending.len() > SEGMENT {
            let segment = self.pending.split_to(SEGMENT);
            let sealed = self
                .sealer
                .next(&segment)
                .map_err(|e| FilesError::integrity(&self.key, e))?;
            self.writer.put(Bytes::from(sealed)).await?;
        }
        Ok(())
    }

    /// Seals the last segment; the object appears only now, whole (a single put, or the
    /// multipart upload completed).
    pub async fn finish(self) -> Result<Stored, FilesError> {
        let Sealing {
            key,
            seal,
            sealer,
            mut writer,
            hasher,
            size,
            pending,
            location,
        } = self;
        let sealed = match sealer.last(&pending) {
            Ok(sealed) => sealed,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(FilesError::integrity(&key, e));
            }
        };
        if let Err(e) = writer.put(Bytes::from(sealed)).await {
            let _ = writer.abort().await;
            return Err(e.into());
        }
        writer.shutdown().await.map_err(FilesError::Write)?;
        // The directory is owner-only already; the file too, whatever the umask (the binary
        // sets 077, a library caller may not).
        #[cfg(unix)]
        if let Location::Local(dir) = &location {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(&key);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(FilesError::Write)?;
        }
        Ok(Stored {
            key,
            sha256: hex::encode(hasher.finalize()),
            size,
            seal,
        })
    }

    /// Gives up: a multipart upload begun is cancelled; a small one was never sent.
    pub async fn abort(mut self) {
        let _ = self.writer.abort().await;
    }
}
