//! Multipart bodies (the API's uploads and the hospital pages' forms), read with bounds.

use actix_multipart::Multipart;
use actix_web::http::header;
use futures_util::TryStreamExt;

use crate::app::AppState;
use crate::domain::doctype;
use crate::domain::sniff::Probe;
use crate::error::{AppError, AppResult};
use crate::files::{self, Files, Sealing};
use crate::service::intake::{self, Incoming};

/// A multipart body read: its files (in memory, or already in storage) and its plain fields.
pub struct Upload<F = (String, Vec<u8>)> {
    pub files: Vec<F>,
    pub fields: Vec<(String, String)>,
}

impl<F> Upload<F> {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Most parts a multipart body may have (files and fields together).
pub const MAX_PARTS: usize = 32;
/// Largest plain field of a multipart body.
const MAX_FIELD_BYTES: u64 = 64 * 1024;
/// Room beyond `MAX_UPLOAD_BYTES` for a form's plain fields and the multipart framing.
pub const FORM_OVERHEAD: u64 = 256 * 1024;

fn too_large(limit: u64) -> AppError {
    AppError::PayloadTooLarge(format!(
        "the upload is larger than the limit of {} MB for all its files together",
        limit / (1024 * 1024)
    ))
}

/// Refuses (413) a body whose declared length is over what an upload may be, before a byte
/// of it is read.
pub fn check_declared_length(state: &AppState, headers: &header::HeaderMap) -> AppResult<()> {
    let limit = state.config.max_upload_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit.saturating_add(FORM_OVERHEAD) => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// Where the bytes of a multipart body's file parts go, as they arrive.
trait Sink {
    /// A file part begins (`fields`: the plain fields before it).
    async fn open(&mut self, filename: String, fields: &[(String, String)]) -> AppResult<()>;
    async fn write(&mut self, chunk: &[u8]) -> AppResult<()>;
    /// The file part ended.
    async fn close(&mut self) -> AppResult<()>;
}

/// Reads a multipart body: parts named `file` go to `sink`, other parts are small text fields.
/// The whole body is bounded while it is read — all files together at most
/// `MAX_UPLOAD_BYTES`, everything at most that plus `FORM_OVERHEAD`, at most `MAX_PARTS`
/// parts — and reading stops (413) at the first byte over.
async fn read_parts(
    state: &AppState,
    mut payload: Multipart,
    sink: &mut impl Sink,
) -> AppResult<Vec<(String, String)>> {
    let limit = state.config.max_upload_bytes;
    let budget = limit.saturating_add(FORM_OVERHEAD);
    let (mut total, mut file_total, mut parts) = (0u64, 0u64, 0usize);
    let mut fields = Vec::new();
    while let Some(mut field) = payload
        .try_next()
        .await
        .map_err(|e| AppError::BadRequest(format!("unreadable multipart body: {e}")))?
    {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::PayloadTooLarge(format!(
                "a form may have at most {MAX_PARTS} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(doctype::safe_filename);
        let is_file = name == "file";
        let mut opened = false;
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .try_next()
            .await
            .map_err(|e| AppError::BadRequest(format!("upload interrupted: {e}")))?
        {
            let n = chunk.len() as u64;
            total += n;
            if is_file {
                file_total += n;
                if file_total > limit {
                    return Err(too_large(limit));
                }
            } else if bytes.len() as u64 + n > MAX_FIELD_BYTES {
                return Err(AppError::PayloadTooLarge(format!(
                    "the form field `{name}` is larger than {} KB",
                    MAX_FIELD_BYTES / 1024
                )));
            }
            if total > budget {
                return Err(too_large(limit));
            }
            if is_file {
                if !opened {
                    sink.open(file_name(&filename), &fields).await?;
                    opened = true;
                }
                sink.write(&chunk).await?;
            } else {
                bytes.extend_from_slice(&chunk);
            }
        }
        if is_file {
            // A form submitted without choosing a file sends an empty, nameless part.
            if !opened {
                if filename.as_deref().is_none_or(str::is_empty) {
                    continue;
                }
                sink.open(file_name(&filename), &fields).await?;
            }
            sink.close().await?;
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            crate::domain::validate::check_text(&name, &text)
                .map_err(|e| AppError::Validation(vec![e]))?;
            fields.push((name, text));
        }
    }
    Ok(fields)
}

fn file_name(filename: &Option<String>) -> String {
    filename.clone().unwrap_or_else(|| "upload".to_owned())
}

/// File parts kept in memory (lists to import, bounded by `MAX_UPLOAD_BYTES`).
#[derive(Default)]
struct Memory {
    files: Vec<(String, Vec<u8>)>,
}

impl Sink for Memory {
    async fn open(&mut self, filename: String, _: &[(String, String)]) -> AppResult<()> {
        self.files.push((filename, Vec::new()));
        Ok(())
    }

    async fn write(&mut self, chunk: &[u8]) -> AppResult<()> {
        if let Some((_, bytes)) = self.files.last_mut() {
            bytes.extend_from_slice(chunk);
        }
        Ok(())
    }

    async fn close(&mut self) -> AppResult<()> {
        Ok(())
    }
}

/// Reads a multipart body into memory (the lists to import).
pub async fn read_upload(state: &AppState, payload: Multipart) -> AppResult<Upload> {
    let mut memory = Memory::default();
    let fields = read_parts(state, payload, &mut memory).await?;
    Ok(Upload {
        files: memory.files,
        fields,
    })
}

/// Documents sealed into storage while they arrive: never held whole in memory.
struct Store<'a, G> {
    files: &'a Files,
    before_first: G,
    done: Vec<Incoming>,
    current: Option<(String, Sealing, Probe)>,
}

impl<G: Fn(&[(String, String)]) -> AppResult<()>> Sink for Store<'_, G> {
    async fn open(&mut self, filename: String, fields: &[(String, String)]) -> AppResult<()> {
        if self.done.is_empty() {
            (self.before_first)(fields)?;
        }
        let sealing = self.files.begin().await?;
        self.current = Some((filename, sealing, Probe::new(files::PIECE)));
        Ok(())
    }

    async fn write(&mut self, chunk: &[u8]) -> AppResult<()> {
        if let Some((_, sealing, probe)) = self.current.as_mut() {
            probe.push(chunk);
            sealing.write(chunk).await?;
        }
        Ok(())
    }

    async fn close(&mut self) -> AppResult<()> {
        if let Some((filename, sealing, probe)) = self.current.take() {
            let stored = sealing.finish().await?;
            self.done.push(Incoming {
                filename,
                stored,
                probe,
            });
        }
        Ok(())
    }
}

/// Reads a multipart body whose parts named `file` are documents: each is sealed into storage
/// as it arrives (with what is needed to tell its kind afterwards). `before_first` sees the
/// fields sent before the first file and may refuse (say, a wrong CSRF value) before
/// anything is stored. On any error, nothing read is left in storage.
pub async fn read_documents(
    state: &AppState,
    payload: Multipart,
    before_first: impl Fn(&[(String, String)]) -> AppResult<()>,
) -> AppResult<Upload<Incoming>> {
    let mut store = Store {
        files: &state.files,
        before_first,
        done: Vec::new(),
        current: None,
    };
    match read_parts(state, payload, &mut store).await {
        Ok(fields) => Ok(Upload {
            files: store.done,
            fields,
        }),
        Err(e) => {
            if let Some((_, sealing, _)) = store.current.take() {
                sealing.abort().await;
            }
            intake::discard(
                &state.files,
                store.done.iter().map(|i| i.stored.key.as_str()),
            )
            .await;
            Err(e)
        }
    }
}
