//! Master keys: they wrap (encrypt) each document's own data key and never touch document bytes.
//!
//! `FILES_KEY` (or the file `FILES_KEY_FILE` names) holds one or more 256-bit keys, newest
//! first, separated by commas or new lines, each as 64 hex digits or standard base64. The
//! newest wraps every new document's key and is what `files rewrap` moves old ones to; the
//! others only unwrap. With neither set, one key is generated into `DATA_DIR/files-key` (0600)
//! on first use, like the JWT secret.
//!
//! A key's id is derived from the key itself, so an id recorded with a document can never
//! point at a different key, and no name has to be invented or kept in sync.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The file a generated key is kept in, under DATA_DIR.
pub const GENERATED_KEY_FILE: &str = "files-key";

/// Where the master keys come from (decided once, in `Config::load`).
#[derive(Clone)]
pub enum KeySource {
    /// From `FILES_KEY` or `FILES_KEY_FILE`: newest first.
    Configured(Vec<[u8; 32]>),
    /// `DATA_DIR/files-key`, generated on first use.
    Generated(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids only: never the keys.
        match self {
            KeySource::Configured(keys) => f
                .debug_tuple("Configured")
                .field(&keys.iter().map(key_id).collect::<Vec<_>>())
                .finish(),
            KeySource::Generated(p) => f.debug_tuple("Generated").field(p).finish(),
        }
    }
}

impl KeySource {
    /// Reads `FILES_KEY`, else `FILES_KEY_FILE`, else plans a generated key in `data_dir`.
    /// A bad value stops the start, naming the setting.
    pub fn from_settings(
        files_key: Option<String>,
        files_key_file: Option<String>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        match (files_key, files_key_file) {
            (Some(v), _) => Ok(KeySource::Configured(parse_keys(&v).context("FILES_KEY")?)),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("FILES_KEY_FILE {path} cannot be read"))?;
                Ok(KeySource::Configured(
                    parse_keys(&text).with_context(|| format!("FILES_KEY_FILE {path}"))?,
                ))
            }
            (None, None) => Ok(KeySource::Generated(data_dir.join(GENERATED_KEY_FILE))),
        }
    }
}

/// Parses a list of keys (newest first). Each must be 32 bytes; duplicates are refused (a
/// rotation that lists the same key twice has not rotated anything).
pub fn parse_keys(text: &str) -> anyhow::Result<Vec<[u8; 32]>> {
    let mut keys: Vec<[u8; 32]> = Vec::new();
    for (i, item) in text
        .split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let bytes = if item.len() == 64 && item.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(item).ok()
        } else {
            base64::engine::general_purpose::STANDARD.decode(item).ok()
        };
        let key: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "key {} is not 32 bytes as 64 hex digits or base64 (make one with `openssl rand -hex 32`)",
                    i + 1
                )
            })?;
        if keys.contains(&key) {
            bail!("key {} is listed twice", i + 1);
        }
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("no key given");
    }
    Ok(keys)
}

/// The public name of a key: `k` and 16 hex digits of a hash of it (not enough to learn
/// anything about the key, plenty to tell keys apart).
pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"engagement-tracker files key id\0");
    h.update(key);
    format!("k{}", &hex::encode(h.finalize())[..16])
}

pub struct MasterKey {
    pub id: String,
    pub key: [u8; 32],
}

/// The keys this process has, newest first.
pub struct Keyring {
    keys: Vec<MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

impl Keyring {
    pub fn new(keys: Vec<[u8; 32]>) -> anyhow::Result<Self> {
        if keys.is_empty() {
            bail!("no master key");
        }
        Ok(Self {
            keys: keys
                .into_iter()
                .map(|key| MasterKey {
                    id: key_id(&key),
                    key,
                })
                .collect(),
        })
    }

    /// Loads the keys. A generated key is created when missing only if `create` (serving
    /// does; restoring does not, since a new key could open nothing in the backup).
    pub fn load(source: &KeySource, create: bool) -> anyhow::Result<Self> {
        match source {
            KeySource::Configured(keys) => Self::new(keys.clone()),
            KeySource::Generated(path) => {
                let text = if create {
                    let dir = path.parent().context("key file has no directory")?;
                    let name = path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .context("key file name")?;
                    String::from_utf8(crate::config::load_or_create_secret(dir, name)?)
                        .context("the generated key file is not text")?
                } else {
                    std::fs::read_to_string(path).with_context(|| {
                        format!(
                            "no FILES_KEY or FILES_KEY_FILE is set and {} does not exist",
                            path.display()
                        )
                    })?
                };
                Self::new(parse_keys(&text).with_context(|| format!("{}", path.display()))?)
            }
        }
    }

    /// What new documents are sealed with.
    pub fn newest(&self) -> &MasterKey {
        &self.keys[0]
    }

    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_and_base64_lists_parse_newest_first() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let keys = parse_keys(&format!("{b64}, {A}\n")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0], [7u8; 32]);
        assert_eq!(keys[1][31], 0x1f);
        let ring = Keyring::new(keys).unwrap();
        assert_eq!(ring.newest().id, key_id(&[7u8; 32]));
        assert!(ring.get(&key_id(&[7u8; 32])).is_some());
        assert!(ring.get("k0000").is_none());
    }

    #[test]
    fn bad_keys_are_named_by_position_and_never_echoed() {
        for bad in ["", "short", &A[..62], &format!("{A},{A}"), "zz"] {
            let err = parse_keys(bad).unwrap_err().to_string();
            assert!(!err.contains("short") && !err.contains(&A[..20]), "{err}");
        }
        let err = KeySource::from_settings(Some("nope".into()), None, Path::new("/x")).unwrap_err();
        assert!(format!("{err:#}").contains("FILES_KEY"), "{err:#}");
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(key_id(&[1; 32]), key_id(&[1; 32]));
        assert_ne!(key_id(&[1; 32]), key_id(&[2; 32]));
        assert_eq!(key_id(&[1; 32]).len(), 17);
    }

    #[test]
    fn a_generated_key_is_made_once_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::from_settings(None, None, dir.path()).unwrap();
        assert!(
            Keyring::load(&source, false).is_err(),
            "not made unless asked"
        );
        let a = Keyring::load(&source, true).unwrap();
        let b = Keyring::load(&source, false).unwrap();
        assert_eq!(a.ids(), b.ids());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GENERATED_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let debug = format!("{source:?} {a:?}");
        let text = std::fs::read_to_string(dir.path().join(GENERATED_KEY_FILE)).unwrap();
        assert!(!debug.contains(text.trim()));
    }
}
