//! A hospital's named contacts: the people mail goes to. Updates are JSON merge patches
//! (RFC 7396) guarded by the contact's ETag; a changed email revokes the contact's links.

use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use super::hospitals::{load_editable, load_visible};
use super::idempotency::{created, respond, Idem};
use super::json::Json;
use super::{with_etag, IfMatch};
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::hospitals::ContactRow;
use crate::db::{self, DbConnection};
use crate::domain::ids::{ContactId, HospitalId};

use crate::error::{AppError, AppResult};

pub use crate::service::hospitals::{Charset, ContactOut};

fn answer(status: actix_web::http::StatusCode, row: ContactRow) -> HttpResponse {
    let version = row.version;
    with_etag(
        HttpResponse::build(status).json(ContactOut::from(row)),
        version,
    )
}

pub use crate::service::contacts::{check, contact_row, save_contact, ContactIn, ContactPatch};

fn load_contact(
    conn: &mut DbConnection,
    hospital_id: &HospitalId,
    id: &ContactId,
) -> AppResult<ContactRow> {
    db::hospitals::contact(conn, id)?
        .filter(|c| c.hospital_id == *hospital_id)
        .ok_or_else(|| AppError::NotFound(format!("no contact {id}")))
}

/// The hospital's contacts.
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), responses(
    (status = 200, body = Vec<ContactOut>),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/hospitals/{id}/contacts")]
pub async fn list_contacts(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<Vec<ContactOut>>> {
    let id = HospitalId::new(path.into_inner());
    let rows = state
        .db
        .read(move |conn| {
            load_visible(conn, &actor, &id)?;
            Ok(db::hospitals::contacts(conn, &id)?)
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// One contact, with its ETag.
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), responses(
    (status = 200, body = ContactOut, headers(("ETag" = String, description = "the contact's version, for If-Match"))),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/hospitals/{id}/contacts/{contact_id}")]
pub async fn get_contact(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, contact_id) = path.into_inner();
    let (id, contact_id) = (HospitalId::new(id), ContactId::new(contact_id));
    let row = state
        .db
        .read(move |conn| {
            load_visible(conn, &actor, &id)?;
            load_contact(conn, &id, &contact_id)
        })
        .await?;
    Ok(answer(actix_web::http::StatusCode::OK, row))
}

/// Add a named contact (admin, or a coordinator in charge of every engagement of the hospital).
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), params(super::doc::IdempotencyKey), request_body = ContactIn, responses(
    (status = 201, body = ContactOut, headers(("ETag" = String, description = "the contact's version, for If-Match"))),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/hospitals/{id}/contacts")]
pub async fn create_contact(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    path: web::Path<String>,
    body: Json<ContactIn>,
) -> AppResult<HttpResponse> {
    let idem = Idem::new(&req)?;
    let id = HospitalId::new(path.into_inner());
    let now = state.clock().now();
    let row = contact_row(ContactId::new(db::new_id()), id.clone(), body.0, 0, now);
    check(&row)?;
    let out = state
        .db
        .write(move |conn| {
            idem.once(conn, &actor.user_id, |conn| {
                load_editable(conn, &actor, &id)?;
                let mut row = row;
                row.position = db::hospitals::contacts(conn, &id)?
                    .iter()
                    .map(|c| c.position + 1)
                    .max()
                    .unwrap_or(0);
                db::hospitals::insert_contact(conn, &row)?;
                created(&ContactOut::from(row))
            })
        })
        .await?;
    Ok(respond(out))
}

/// Change a contact: a JSON merge patch (RFC 7396) — only the fields sent change, `null` clears
/// one (`name` cannot be cleared). A new email revokes the contact's links; nothing else does.
/// Admin, or a coordinator in charge of every engagement of the hospital.
#[utoipa::path(tag = "hospitals", security(("bearer" = [])),
    request_body(content(
        (ContactPatch = "application/merge-patch+json"),
        (ContactPatch = "application/json"),
    )),
    params(("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses(
    (status = 200, body = ContactOut, headers(("ETag" = String, description = "the contact's version, for If-Match"))),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/hospitals/{id}/contacts/{contact_id}")]
pub async fn update_contact(
    state: web::Data<AppState>,
    actor: Actor,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    body: Json<ContactPatch>,
) -> AppResult<HttpResponse> {
    let (id, contact_id) = path.into_inner();
    let (id, contact_id) = (HospitalId::new(id), ContactId::new(contact_id));
    let patch = body.0;
    let now = state.clock().now();
    let row = state
        .db
        .write(move |conn| {
            load_editable(conn, &actor, &id)?;
            let current = load_contact(conn, &id, &contact_id)?;
            if_match.check(current.version)?;
            let next = patch.apply(&current)?;
            Ok(save_contact(conn, &current, next, now)?.unwrap_or(current))
        })
        .await?;
    Ok(answer(actix_web::http::StatusCode::OK, row))
}

/// Remove a contact (kept for the audit trail, no longer written to; its links are revoked).
/// Admin, or a coordinator in charge of every engagement of the hospital.
#[utoipa::path(tag = "hospitals", security(("bearer" = [])),
    params(("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses(
    (status = 204),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[delete("/hospitals/{id}/contacts/{contact_id}")]
pub async fn delete_contact(
    state: web::Data<AppState>,
    actor: Actor,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
) -> AppResult<HttpResponse> {
    let (id, contact_id) = path.into_inner();
    let (id, contact_id) = (HospitalId::new(id), ContactId::new(contact_id));
    let now = state.clock().now();
    state
        .db
        .write(move |conn| {
            load_editable(conn, &actor, &id)?;
            let current = load_contact(conn, &id, &contact_id)?;
            if_match.check(current.version)?;
            let mut next = current.clone();
            next.removed_at = Some(now);
            save_contact(conn, &current, next, now)?;
            Ok(())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored() -> ContactRow {
        let now = crate::clock::Clock::real().now();
        contact_row(
            "c1".into(),
            "h1".into(),
            ContactIn {
                name: "中村 三郎".into(),
                department: Some("医療情報部".into()),
                title: None,
                email: Some("nakamura@x.example".into()),
                phone: Some("03-5555-0001".into()),
                charset: None,
            },
            0,
            now,
        )
    }

    fn patch(json: &str) -> AppResult<ContactRow> {
        let p: ContactPatch = serde_json::from_str(json).unwrap();
        p.apply(&stored())
    }

    #[test]
    fn absent_fields_stay_and_null_clears() {
        let c = patch(r#"{"charset": "iso-2022-jp"}"#).unwrap();
        assert_eq!(c.charset, "iso-2022-jp");
        assert_eq!(c.email.as_deref(), Some("nakamura@x.example"));
        assert_eq!(c.phone.as_deref(), Some("03-5555-0001"));
        assert_eq!(c.department.as_deref(), Some("医療情報部"));

        let c = patch(r#"{"phone": null, "title": "部長"}"#).unwrap();
        assert_eq!(c.phone, None);
        assert_eq!(c.title.as_deref(), Some("部長"));
        assert_eq!(c.department.as_deref(), Some("医療情報部"));

        let c = patch(r#"{"charset": null, "email": "  "}"#).unwrap();
        assert_eq!(c.charset, "utf-8");
        assert_eq!(c.email, None);
    }

    #[test]
    fn a_name_cannot_be_cleared_and_emails_are_checked() {
        for body in [r#"{"name": null}"#, r#"{"name": " "}"#] {
            match patch(body) {
                Err(AppError::Validation(e)) => assert_eq!(e[0].field, "name"),
                other => panic!("{body}: {other:?}"),
            }
        }
        match patch(r#"{"email": "not an address"}"#) {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "email"),
            other => panic!("{other:?}"),
        }
        let c = patch(r#"{"email": " Nakamura@X.example "}"#).unwrap();
        assert_eq!(c.email.as_deref(), Some("nakamura@x.example"));
    }
}
