//! `backup --to DIR` and `restore --from DIR` for the embedded default (SQLite): a consistent
//! snapshot of the database (`VACUUM INTO`, which reads inside one transaction while the
//! service goes on), the sealed objects its documents name, and the ids of the master keys
//! they need — never the keys: a stolen backup opens nothing.
//!
//! On PostgreSQL both refuse: use `pg_dump` for the database and the object store's own
//! versioning or replication for the documents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::keys::Keyring;
use super::{create_private_dir, Document, Files};
use crate::config::Config;
use crate::db::{self, Db};

pub const MANIFEST: &str = "manifest.json";
pub const DATABASE_FILE: &str = "engagement-tracker.sqlite3";
const FORMAT: u32 = 1;

/// What a backup holds; written last, so a directory without it is not a finished backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub app_version: String,
    pub database: String,
    pub documents: usize,
    pub objects: usize,
    /// The master keys the documents are sealed with. The keys themselves are not in the
    /// backup: keep them (`FILES_KEY`, or DATA_DIR/files-key) somewhere else.
    pub key_ids: Vec<String>,
    /// Objects from before encryption, still plaintext (`files rewrap` seals them).
    pub legacy_plaintext_objects: usize,
}

const ON_POSTGRES: &str = "backup and restore work on the embedded SQLite database only; on \
     PostgreSQL back up the database with pg_dump (e.g. `pg_dump -Fc`) and the documents with \
     the object store's versioning or replication (FILES_URL); see the README";

fn sqlite_file(config: &Config) -> anyhow::Result<PathBuf> {
    if config.is_postgres() {
        bail!(ON_POSTGRES);
    }
    let url = &config.database_url;
    Ok(PathBuf::from(url.strip_prefix("sqlite://").unwrap_or(url)))
}

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

fn local_store(dir: &Path) -> anyhow::Result<Arc<dyn ObjectStore>> {
    create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
}

/// Copies one object, streaming.
async fn copy_object(
    from: &Arc<dyn ObjectStore>,
    to: &Arc<dyn ObjectStore>,
    key: &str,
) -> anyhow::Result<()> {
    let path = ObjectPath::from(key);
    let mut input = from
        .get(&path)
        .await
        .with_context(|| format!("reading object {key}"))?
        .into_stream();
    let mut out = BufWriter::with_capacity(to.clone(), path, 5 * 1024 * 1024);
    while let Some(chunk) = input.next().await {
        match chunk {
            Ok(b) => out.put(b).await?,
            Err(e) => {
                let _ = out.abort().await;
                return Err(e).with_context(|| format!("reading object {key}"));
            }
        }
    }
    out.shutdown()
        .await
        .with_context(|| format!("writing object {key}"))?;
    Ok(())
}

/// Writes a backup into `to`, which must not exist or be empty. Runs beside a serving process.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<Manifest> {
    let live = sqlite_file(config)?;
    if !live.exists() {
        bail!("there is no database at {} to back up", live.display());
    }
    if !is_empty_dir(to)? {
        bail!(
            "{} is not empty; back up into a new directory",
            to.display()
        );
    }
    create_private_dir(to).with_context(|| format!("cannot create {}", to.display()))?;
    let snapshot = to.join(DATABASE_FILE);
    let target = snapshot
        .to_str()
        .context("the backup directory's path is not UTF-8")?
        .to_owned();
    // Migrations first (as any command of this version would), then one consistent copy.
    let (db, _) = Db::open(&config.database_url, 1, config.db_timeout)?;
    db.read(move |conn| {
        db::vacuum_into(conn, &target).map_err(|e| anyhow::anyhow!("VACUUM INTO failed: {e}"))?;
        Ok(())
    })
    .await?;
    // What the snapshot names is what gets copied: objects are never changed once written,
    // so the copy matches the snapshot whatever happens meanwhile.
    let snap_url = format!("sqlite://{}", snapshot.display());
    let rows = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut conn = db::establish(&snap_url).context("cannot open the snapshot")?;
        Ok(db::files::all_documents(&mut conn)?)
    })
    .await??;
    let source = config.files.open()?;
    let dest = local_store(&to.join("files"))?;
    let mut keys: Vec<String> = rows.iter().map(|r| r.storage_key.clone()).collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        copy_object(&source, &dest, key).await.with_context(|| {
            "a document named by the snapshot is missing from the store (removed since?); \
             run the backup again"
        })?;
    }
    let mut key_ids: Vec<String> = rows.iter().filter_map(|r| r.key_id.clone()).collect();
    key_ids.sort();
    key_ids.dedup();
    let legacy: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|r| r.key_id.is_none())
        .map(|r| r.storage_key.as_str())
        .collect();
    let manifest = Manifest {
        format: FORMAT,
        created_at: chrono::Utc::now(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        database: DATABASE_FILE.into(),
        documents: rows.len(),
        objects: keys.len(),
        key_ids,
        legacy_plaintext_objects: legacy.len(),
    };
    let json = serde_json::to_string_pretty(&manifest)? + "\n";
    use std::io::Write;
    super::create_private_file(&to.join(MANIFEST))?.write_all(json.as_bytes())?;
    Ok(manifest)
}

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub documents: usize,
    pub objects: usize,
    /// Documents read back whole and checked (authenticated, SHA-256 as recorded).
    pub verified: usize,
}

/// Brings a backup back into an empty DATA_DIR (it may hold only the secrets `jwt-secret` and
/// `files-key`, e.g. copied from the old installation) and the configured store, then reads
/// every document back to show the keys open them.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<RestoreReport> {
    let db_file = sqlite_file(config)?;
    let text = std::fs::read_to_string(from.join(MANIFEST)).with_context(|| {
        format!(
            "{} holds no {MANIFEST}: not a finished backup",
            from.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text).context("the manifest is unreadable")?;
    if manifest.format != FORMAT {
        bail!("backup format {} is not supported", manifest.format);
    }
    if let Ok(entries) = std::fs::read_dir(&config.data_dir) {
        let mut other: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "jwt-secret" && n != super::keys::GENERATED_KEY_FILE)
            .collect();
        if !other.is_empty() {
            other.sort();
            bail!(
                "DATA_DIR {} is not empty (it holds {}); restore only into an empty one",
                config.data_dir.display(),
                other.join(", ")
            );
        }
    }
    if db_file.exists() {
        bail!(
            "{} exists already; restore only into an empty installation",
            db_file.display()
        );
    }
    let keys = Keyring::load(&config.files_keys, false)
        .context("the backup's documents need their master keys")?;
    let missing: Vec<&str> = manifest
        .key_ids
        .iter()
        .filter(|id| keys.get(id).is_none())
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        bail!(
            "the backup's documents are sealed with master key(s) {}, which FILES_KEY / \
             FILES_KEY_FILE / DATA_DIR/files-key do not hold (this process has {}); supply them \
             and run restore again",
            missing.join(", "),
            keys.ids().join(", ")
        );
    }
    if let Some(parent) = db_file.parent() {
        create_private_dir(parent)?;
    }
    {
        let mut src = std::fs::File::open(from.join(DATABASE_FILE))
            .with_context(|| format!("{} has no {DATABASE_FILE}", from.display()))?;
        let mut dst = super::create_private_file(&db_file)
            .with_context(|| format!("cannot create {}", db_file.display()))?;
        std::io::copy(&mut src, &mut dst)?;
        dst.sync_all()?;
    }
    let files = Files::new(config.files.clone(), keys)?;
    let source = local_store(&from.join("files"))?;
    let mut objects = 0;
    let mut list = source.list(None);
    while let Some(meta) = list.next().await {
        let key = meta?.location.to_string();
        copy_object(&source, files.object_store(), &key).await?;
        objects += 1;
    }
    // Migrations of this version apply to an older backup here.
    let (db, _) = Db::open(&config.database_url, 1, config.db_timeout)?;
    let rows = db.read(|conn| Ok(db::files::all_documents(conn)?)).await?;
    let mut failed = Vec::new();
    for row in &rows {
        if let Err(e) = files.verify(&Document::of(row)).await {
            failed.push(format!("document {}: {e}", row.id));
        }
    }
    if !failed.is_empty() {
        bail!(
            "restored, but documents do not open:\n  {}",
            failed.join("\n  ")
        );
    }
    Ok(RestoreReport {
        documents: rows.len(),
        objects,
        verified: rows.len(),
    })
}
