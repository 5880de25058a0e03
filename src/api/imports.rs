//! Prefectures' selection lists over HTTP: the multipart form is read here, the import runs in
//! `service::imports` (the `import` command runs the same).

use actix_multipart::Multipart;
use actix_web::{post, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

use super::query::Query;
use crate::app::AppState;
use crate::auth::Actor;
use crate::error::{AppError, AppResult, FieldError};
use crate::import::{self, Encoding};
pub use crate::service::imports::{run, ImportReport, Options};
use crate::service::step::Who;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Report row by row without writing.
    #[serde(default)]
    pub dry_run: bool,
    /// Write the good rows even if others are rejected (default: all or nothing).
    #[serde(default)]
    pub partial: bool,
    /// `utf-8` or `shift_jis` (CP932); detected when absent.
    #[param(example = "shift_jis")]
    pub encoding: Option<String>,
    /// The list is from a second recruitment call (its engagements are marked `secondary`).
    #[serde(default)]
    pub secondary: bool,
}

/// Import a prefecture's selection list: multipart with `file` (CSV or XLSX) and `round` (id or
/// name). See the README for the template. Contacts are matched by email, else by their column
/// (担当者1, 2, 3); a changed email revokes that contact's links. A workbook whose parts inflate
/// past 32 MiB answers 413; more than 20,000 rows or data right of column 64 answers 422.
#[utoipa::path(tag = "imports", security(("bearer" = [])), params(ImportQuery),
    request_body(content = super::forms::ImportForm, content_type = "multipart/form-data"),
    responses(
    (status = 200, body = ImportReport),
    (status = 413, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/imports")]
pub async fn import_list(
    state: web::Data<AppState>,
    actor: Actor,
    query: Query<ImportQuery>,
    payload: Multipart,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "import selection lists")?;
    let encoding = match &query.encoding {
        Some(e) => Some(
            Encoding::parse(e).ok_or_else(|| AppError::field("encoding", "utf-8 or shift_jis"))?,
        ),
        None => None,
    };
    let form = crate::edge::upload::read_upload(&state, payload).await?;
    let round = form.field("round").map(|r| r.trim().to_owned());
    let file = form.files.into_iter().next().map(|(n, b)| (Some(n), b));
    let mut errors = Vec::new();
    errors.extend(
        round
            .as_deref()
            .and_then(|r| crate::domain::validate::check_text("round", r).err()),
    );
    if file.is_none() {
        errors.push(FieldError::new(
            "file",
            "attach the list as a part named `file`",
        ));
    }
    if round.as_deref().is_none_or(str::is_empty) {
        errors.push(FieldError::new(
            "round",
            "name the round (e.g. FY2025) in a part named `round`",
        ));
    }
    let (Some((filename, bytes)), Some(round), true) = (file, round, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let format = import::detect_format(&bytes, filename.as_deref());
    let opts = Options {
        dry_run: query.dry_run,
        partial: query.partial,
        secondary: query.secondary,
    };
    let db = state.db.clone();
    let who = Who::from(&actor);
    let now = state.clock().now();
    let report =
        web::block(move || run(&db, &who, &round, &bytes, format, encoding, opts, now)).await??;
    Ok(HttpResponse::Ok().json(report))
}
