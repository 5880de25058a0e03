//! The OpenAPI document: what it says beyond each handler's own annotation.
//!
//! Handlers list the answers of their own rules (403 for a role, 409 with its guard, 404 for an
//! id in the body). The answers the framework gives by itself are added here from the shape of
//! each operation, so that no operation forgets one:
//! - a bearer-secured operation may answer 401;
//! - a path parameter may name nothing in the caller's scope: 404;
//! - a body may be unreadable (400), too large (413) or have invalid fields (422);
//! - a query parameter may be invalid: 422 naming it;
//! - `If-Match` may be stale: 412; `Idempotency-Key` may be malformed (400), in use (409) or
//!   reused with another body (422).
//!
//! Every error answer is `application/problem+json` with the `Problem` schema.

use serde::Deserialize;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::IntoParams;

use crate::domain::doctype::DocKind;

/// A document download: its body is the file as uploaded.
const DOWNLOAD: &str = "/api/v1/engagements/{id}/documents/{doc_id}/content";

/// The headers of an engagement step (documentation only: `IfMatch` and `Idem` read them).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct StepHeaders {
    /// `ETag` of a previous read: the step answers 412 if the engagement changed since.
    #[serde(rename = "If-Match")]
    #[param(pattern = r#"^(\*|(W/)?"v[0-9]+")$"#)]
    if_match: Option<String>,
    /// 1–200 characters: the same key with the same body gets the stored answer and causes
    /// nothing twice; with another body, 422.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 200, pattern = "^[!-~]+$")]
    idempotency_key: Option<String>,
}

/// The header of a repeat-safe POST (documentation only: `Idem` reads it).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKey {
    /// 1–200 characters: the same key with the same body gets the stored answer and causes
    /// nothing twice; with another body, 422.
    #[serde(rename = "Idempotency-Key")]
    #[param(min_length = 1, max_length = 200, pattern = "^[!-~]+$")]
    idempotency_key: Option<String>,
}

pub fn complete(doc: &mut OpenApi) {
    if let Some(op) = doc
        .paths
        .paths
        .get_mut(DOWNLOAD)
        .and_then(|i| i.get.as_mut())
    {
        document_download(op);
    }
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            complete_operation(op);
        }
    }
}

fn complete_operation(op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let located = |at: ParameterIn| params.iter().any(|p| p.parameter_in == at);
    let header = |name: &str| {
        params
            .iter()
            .any(|p| p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case(name))
    };
    let mut answers = Vec::new();
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        answers.push((401, "No valid access token or API token"));
    }
    if op.request_body.is_some() {
        answers.push((
            400,
            "The body cannot be read (malformed JSON, CSV or multipart)",
        ));
        answers.push((413, "The body is larger than the limit"));
        answers.push((422, "Invalid input; `errors` names each field"));
    }
    if located(ParameterIn::Query) {
        answers.push((
            422,
            "Invalid input; `errors` names each field or query parameter",
        ));
    }
    if located(ParameterIn::Path) {
        answers.push((404, "Nothing with this id in the caller's scope"));
    }
    if header("If-Match") {
        answers.push((412, "If-Match does not name the current version"));
    }
    if header("Idempotency-Key") {
        answers.push((400, "The Idempotency-Key is malformed"));
        answers.push((
            409,
            "Refused; `guard` says why (e.g. idempotency_key_in_use)",
        ));
        answers.push((
            422,
            "Invalid input, or the Idempotency-Key was used with another body",
        ));
    }
    for (status, description) in answers {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, answer) in op.responses.responses.iter_mut() {
        if let RefOr::T(answer) = answer {
            if answer.content.is_empty() && (status.starts_with('4') || status.starts_with('5')) {
                answer.content.insert(
                    "application/problem+json".into(),
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                );
            }
        }
    }
}

/// A download answers with the type detected when the file was uploaded: one of the types the
/// service accepts, listed from the code that detects them.
fn document_download(op: &mut Operation) {
    let string = |format: Option<SchemaFormat>| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(format)
            .build()
    };
    let mut ok = Response::new("The file, with the media type detected when it was uploaded");
    let mut mimes: Vec<&str> = DocKind::ALL.into_iter().map(DocKind::mime).collect();
    mimes.sort_unstable();
    mimes.dedup();
    for mime in mimes {
        let binary = string(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)));
        ok.content.insert(mime.into(), Content::new(Some(binary)));
    }
    let mut disposition = Header::new(string(None));
    disposition.description = Some("`attachment` with the file's name".into());
    ok.headers.insert("Content-Disposition".into(), disposition);
    let mut sha = Header::new(string(None));
    sha.description = Some("SHA-256 of the content, in hex".into());
    ok.headers.insert("X-Content-SHA256".into(), sha);
    op.responses.responses.insert("200".into(), RefOr::T(ok));
}
