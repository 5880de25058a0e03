//! Envelope encryption of documents: each document gets a fresh 256-bit data key; its bytes are
//! sealed with AES-256-GCM in 64 KiB segments (the STREAM construction: each segment's nonce is
//! a per-document prefix, a segment counter and a last-segment flag), and the data key is
//! wrapped with a master key.
//!
//! STREAM makes every reordering, duplication or truncation of segments fail authentication,
//! not only changed bytes, and each segment is checked before a byte of it is released: a
//! reader never sees unauthenticated plaintext.
//!
//! Stored object: `MAGIC` (8 bytes), then segments of `SEGMENT + TAG` bytes, the last one
//! shorter (at least `TAG` bytes; an empty document is one empty last segment).

use aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use rand::RngCore;

use super::keys::MasterKey;

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
/// The GCM tag after each segment.
pub const TAG: usize = 16;
/// Bytes of one full segment as stored.
pub const SEALED_SEGMENT: usize = SEGMENT + TAG;
/// Begins every sealed object: tells it from a legacy plaintext one when looking at the store.
pub const MAGIC: &[u8; 8] = b"ETDOC\x001\n";
/// The per-document part of the STREAM nonce (12 bytes less the counter and the flag).
pub const NONCE_PREFIX: usize = 7;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The bytes (or the wrapped key) are not what was sealed: changed, cut short, reordered,
    /// or sealed under another key.
    #[error("integrity check failed: {0}")]
    Integrity(String),
}

fn integrity(what: impl Into<String>) -> CryptoError {
    CryptoError::Integrity(what.into())
}

/// A document's own key. Lives only in memory, only while its document is read or written.
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }
}

/// A fresh nonce prefix for a new document.
pub fn new_nonce_prefix() -> [u8; NONCE_PREFIX] {
    let mut n = [0u8; NONCE_PREFIX];
    rand::rng().fill_bytes(&mut n);
    n
}

/// Associated data of a wrapped key: it binds the key to the object it opens, so a wrapped key
/// copied onto another document's row does not unwrap.
fn wrap_aad(storage_key: &str) -> Vec<u8> {
    let mut aad = b"engagement-tracker data key v1\0".to_vec();
    aad.extend_from_slice(storage_key.as_bytes());
    aad
}

/// Wraps `dek` under `master`: base64 of a random 12-byte nonce and the sealed key.
pub fn wrap(master: &MasterKey, dek: &DataKey, storage_key: &str) -> String {
    let cipher = Aes256Gcm::new((&master.key).into());
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let aad = wrap_aad(storage_key);
    // Encrypting 32 bytes in memory cannot fail (the only error is a message over 64 GiB).
    let sealed = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &dek.0,
                aad: &aad,
            },
        )
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    base64::engine::general_purpose::STANDARD.encode(out)
}

pub fn unwrap(
    master: &MasterKey,
    wrapped: &str,
    storage_key: &str,
) -> Result<DataKey, CryptoError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(wrapped)
        .map_err(|_| integrity("the wrapped data key is not base64"))?;
    if raw.len() != 12 + 32 + TAG {
        return Err(integrity("the wrapped data key has the wrong length"));
    }
    let cipher = Aes256Gcm::new((&master.key).into());
    let aad = wrap_aad(storage_key);
    let nonce: [u8; 12] = raw[..12]
        .try_into()
        .map_err(|_| integrity("the wrapped data key has the wrong length"))?;
    let key = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &raw[12..],
                aad: &aad,
            },
        )
        .map_err(|_| integrity(format!("the data key does not unwrap under {}", master.id)))?;
    let key: [u8; 32] = key
        .try_into()
        .map_err(|_| integrity("the data key has the wrong length"))?;
    Ok(DataKey(key))
}

/// Seals one document segment by segment.
pub struct Sealer {
    enc: EncryptorBE32<Aes256Gcm>,
}

impl Sealer {
    pub fn new(dek: &DataKey, nonce_prefix: &[u8; NONCE_PREFIX]) -> Self {
        Self {
            enc: EncryptorBE32::new((&dek.0).into(), nonce_prefix.into()),
        }
    }

    /// A full segment (exactly `SEGMENT` bytes) that is not the last.
    pub fn next(&mut self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        debug_assert_eq!(plain.len(), SEGMENT);
        self.enc
            .encrypt_next(plain)
            .map_err(|_| integrity("too many segments"))
    }

    /// The last segment (at most `SEGMENT` bytes, possibly none).
    pub fn last(self, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.enc
            .encrypt_last(plain)
            .map_err(|_| integrity("cannot seal the last segment"))
    }
}

/// Opens one segment on its own, for reading a document at an offset. Its position and
/// whether it is the last are part of its nonce, so a segment read from the wrong place, or a
/// cut-short object's new end, does not authenticate.
pub fn open_segment(
    dek: &DataKey,
    nonce_prefix: &[u8; NONCE_PREFIX],
    index: u32,
    last: bool,
    sealed: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    use aead::stream::{NewStream, StreamBE32, StreamPrimitive};
    StreamBE32::<Aes256Gcm>::new((&dek.0).into(), nonce_prefix.into())
        .decrypt(index, last, sealed)
        .map_err(|_| integrity(format!("segment {index} does not authenticate")))
}

/// Opens a sealed object fed in pieces of any size; releases each segment only once it is
/// authenticated, and the last only at the end (`finish`), when it is known to be the last.
pub struct Opener {
    dec: DecryptorBE32<Aes256Gcm>,
    buf: BytesMut,
    header_seen: bool,
    segment: u64,
}

impl Opener {
    pub fn new(dek: &DataKey, nonce_prefix: &[u8; NONCE_PREFIX]) -> Self {
        Self {
            dec: DecryptorBE32::new((&dek.0).into(), nonce_prefix.into()),
            buf: BytesMut::new(),
            header_seen: false,
            segment: 0,
        }
    }

    /// Adds stored bytes; returns the plaintext of every segment now complete and not last.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Bytes>, CryptoError> {
        self.buf.extend_from_slice(chunk);
        if !self.header_seen {
            if self.buf.len() < MAGIC.len() {
                return Ok(Vec::new());
            }
            if &self.buf[..MAGIC.len()] != MAGIC {
                return Err(integrity("the object does not start as a sealed document"));
            }
            let _ = self.buf.split_to(MAGIC.len());
            self.header_seen = true;
        }
        let mut out = Vec::new();
        // Strictly more than a segment: a segment followed by nothing may be the last one.
        while self.buf.len() > SEALED_SEGMENT {
            let seg = self.buf.split_to(SEALED_SEGMENT);
            let plain = self.dec.decrypt_next(&seg[..]).map_err(|_| {
                integrity(format!("segment {} does not authenticate", self.segment))
            })?;
            self.segment += 1;
            out.push(Bytes::from(plain));
        }
        Ok(out)
    }

    /// The end of the object: the rest must be exactly one last segment.
    pub fn finish(self) -> Result<Bytes, CryptoError> {
        if !self.header_seen || self.buf.len() < TAG {
            return Err(integrity("the object is cut short"));
        }
        let plain = self.dec.decrypt_last(&self.buf[..]).map_err(|_| {
            integrity(format!(
                "the last segment ({}) does not authenticate (cut short, reordered or changed)",
                self.segment
            ))
        })?;
        Ok(Bytes::from(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(b: u8) -> MasterKey {
        MasterKey {
            id: super::super::keys::key_id(&[b; 32]),
            key: [b; 32],
        }
    }

    fn seal(dek: &DataKey, nonce: &[u8; NONCE_PREFIX], plain: &[u8]) -> Vec<u8> {
        let mut s = Sealer::new(dek, nonce);
        let mut out = MAGIC.to_vec();
        let mut rest = plain;
        while rest.len() > SEGMENT {
            out.extend(s.next(&rest[..SEGMENT]).unwrap());
            rest = &rest[SEGMENT..];
        }
        out.extend(s.last(rest).unwrap());
        out
    }

    fn open(
        dek: &DataKey,
        nonce: &[u8; NONCE_PREFIX],
        sealed: &[u8],
        piece: usize,
    ) -> Result<Vec<u8>, CryptoError> {
        let mut o = Opener::new(dek, nonce);
        let mut out = Vec::new();
        for chunk in sealed.chunks(piece.max(1)) {
            for b in o.push(chunk)? {
                out.extend_from_slice(&b);
            }
        }
        out.extend_from_slice(&o.finish()?);
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_segment_edge_in_pieces_of_any_size() {
        let dek = DataKey::generate();
        let nonce = new_nonce_prefix();
        for n in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 7,
        ] {
            let plain = sample(n);
            let sealed = seal(&dek, &nonce, &plain);
            assert_eq!(
                sealed.len(),
                MAGIC.len() + n + TAG * n.div_ceil(SEGMENT).max(1)
            );
            for piece in [1, 7, 8192, SEALED_SEGMENT, sealed.len()] {
                if n > SEGMENT && piece == 1 {
                    continue; // slow, and 7 covers odd pieces
                }
                assert_eq!(
                    open(&dek, &nonce, &sealed, piece).unwrap(),
                    plain,
                    "n={n} piece={piece}"
                );
            }
        }
    }

    #[test]
    fn changed_cut_reordered_or_foreign_objects_fail() {
        let dek = DataKey::generate();
        let nonce = new_nonce_prefix();
        let plain = sample(3 * SEGMENT + 100);
        let sealed = seal(&dek, &nonce, &plain);
        let fails = |bytes: &[u8]| {
            let r = open(&dek, &nonce, bytes, 4096);
            assert!(
                matches!(r, Err(CryptoError::Integrity(_))),
                "{:?}",
                r.map(|v| v.len())
            );
        };
        // One bit anywhere: header, a middle segment, the last tag.
        for at in [0, 9, MAGIC.len() + SEALED_SEGMENT + 5, sealed.len() - 1] {
            let mut t = sealed.clone();
            t[at] ^= 1;
            fails(&t);
        }
        // Cut at a segment boundary: the new "last" segment was sealed as not last.
        fails(&sealed[..MAGIC.len() + 2 * SEALED_SEGMENT]);
        fails(&sealed[..sealed.len() - 1]);
        fails(&sealed[..3]);
        // Two segments swapped.
        let mut swapped = MAGIC.to_vec();
        let body = &sealed[MAGIC.len()..];
        swapped.extend_from_slice(&body[SEALED_SEGMENT..2 * SEALED_SEGMENT]);
        swapped.extend_from_slice(&body[..SEALED_SEGMENT]);
        swapped.extend_from_slice(&body[2 * SEALED_SEGMENT..]);
        fails(&swapped);
        // Another document's key or nonce.
        assert!(open(&DataKey::generate(), &nonce, &sealed, 4096).is_err());
        assert!(open(&dek, &new_nonce_prefix(), &sealed, 4096).is_err());
        // A plaintext object.
        fails(&plain);
    }

    #[test]
    fn nothing_is_released_from_a_segment_that_does_not_authenticate() {
        let dek = DataKey::generate();
        let nonce = new_nonce_prefix();
        let plain = sample(2 * SEGMENT + 10);
        let mut sealed = seal(&dek, &nonce, &plain);
        let at = MAGIC.len() + SEALED_SEGMENT + 3; // inside the second segment
        sealed[at] ^= 0x80;
        let mut o = Opener::new(&dek, &nonce);
        let mut released = Vec::new();
        let mut failed = false;
        for chunk in sealed.chunks(1000) {
            match o.push(chunk) {
                Ok(v) => v.iter().for_each(|b| released.extend_from_slice(b)),
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed);
        assert_eq!(
            released,
            &plain[..SEGMENT],
            "only the first, authenticated segment"
        );
    }

    #[test]
    fn wrapped_keys_open_only_with_their_master_key_and_object() {
        let (a, b) = (master(1), master(2));
        let dek = DataKey::generate();
        let w = wrap(&a, &dek, "v1/abc");
        assert_eq!(unwrap(&a, &w, "v1/abc").unwrap().0, dek.0);
        assert!(unwrap(&b, &w, "v1/abc").is_err());
        assert!(unwrap(&a, &w, "v1/abd").is_err(), "bound to its object");
        assert!(unwrap(&a, "not base64!", "v1/abc").is_err());
        assert!(unwrap(&a, &w[..20], "v1/abc").is_err());
        // Rewrapping under another key keeps the data key.
        let w2 = wrap(&b, &unwrap(&a, &w, "v1/abc").unwrap(), "v1/abc");
        assert_eq!(unwrap(&b, &w2, "v1/abc").unwrap().0, dek.0);
    }

    #[test]
    fn a_segment_opens_on_its_own_only_at_its_place() {
        let dek = DataKey::generate();
        let nonce = new_nonce_prefix();
        let plain: Vec<u8> = (0..SEGMENT * 2 + 100).map(|i| (i % 251) as u8).collect();
        let sealed = seal(&dek, &nonce, &plain);
        let at = |i: usize| MAGIC.len() + i * SEALED_SEGMENT;
        let second = &sealed[at(1)..at(2)];
        let last = &sealed[at(2)..];
        assert_eq!(
            open_segment(&dek, &nonce, 1, false, second).unwrap(),
            &plain[SEGMENT..2 * SEGMENT]
        );
        assert_eq!(
            open_segment(&dek, &nonce, 2, true, last).unwrap(),
            &plain[2 * SEGMENT..]
        );
        // Read as if from elsewhere, or as if the object ended there: refused.
        assert!(open_segment(&dek, &nonce, 0, false, second).is_err());
        assert!(open_segment(&dek, &nonce, 1, true, second).is_err());
    }
}
