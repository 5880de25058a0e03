//! Multipart bodies (the API's uploads and the hospital pages' forms), read with bounds.

use actix_multipart::Multipart;
use actix_web::http::header;
use futures_util::TryStreamExt;

use crate::app::AppState;
use crate::domain::doctype;
use crate::error::{AppError, AppResult};

/// A multipart body read into memory: its files and its plain fields.
#[derive(Default)]
pub struct Upload {
    pub files: Vec<(String, Vec<u8>)>,
    pub fields: Vec<(String, String)>,
}

impl Upload {
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

/// Reads a multipart body: parts named `file` are files, other parts are small text fields.
/// The whole body is bounded while it is read — all files together at most
/// `MAX_UPLOAD_BYTES`, everything at most that plus `FORM_OVERHEAD`, at most `MAX_PARTS`
/// parts — and reading stops (413) at the first byte over.
pub async fn read_upload(state: &AppState, mut payload: Multipart) -> AppResult<Upload> {
    let limit = state.config.max_upload_bytes;
    let budget = limit.saturating_add(FORM_OVERHEAD);
    let (mut total, mut file_total, mut parts) = (0u64, 0u64, 0usize);
    let mut form = Upload::default();
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
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            // A form submitted without choosing a file sends an empty, nameless part.
            if bytes.is_empty() && filename.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            form.files
                .push((filename.unwrap_or_else(|| "upload".to_owned()), bytes));
        } else {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            crate::domain::validate::check_text(&name, &text)
                .map_err(|e| AppError::Validation(vec![e]))?;
            form.fields.push((name, text));
        }
    }
    Ok(form)
}
