//! Hospitals: the institution, stable across rounds, shared by its engagements (its contacts
//! are in `contacts`).

use actix_web::{get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::caller::Caller;
use super::idempotency::{created, respond, Idem};
use super::json::Json;
use super::query::Query;
use super::{with_etag, IfMatch, Page, PageQuery};
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::hospitals::HospitalRow;
use crate::db::{self, DbConnection, Scope};
use crate::domain::events::EventKind;
use crate::domain::hospital_edit::{self, Editor, Holder};
use crate::domain::ids::{HospitalId, OrganizationId};
use crate::domain::{medcode, prefectures, validate};
use crate::error::{AppError, AppResult, FieldError};
use crate::service::step::engagement_scope;

pub use crate::service::hospitals::{hospital_out, load_out, EmrStatus, HospitalOut, SystemVendor};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HospitalIn {
    /// JIS code (`13`) or Japanese name (`東京都`).
    #[schema(example = "13")]
    pub prefecture: String,
    /// The 10-digit code, or the 7-digit local part (the prefecture completes it).
    #[schema(example = "1310100423")]
    pub institution_code: String,
    pub name: String,
    pub address: Option<String>,
    pub beds: Option<i64>,
    pub emr_status: Option<EmrStatus>,
    #[serde(default)]
    pub emergency: bool,
    #[serde(default)]
    pub disaster_base: bool,
    #[serde(default)]
    pub system_vendor: SystemVendor,
}

impl HospitalIn {
    /// Checks and normalises the fields into a row (id and times from the caller).
    fn into_row(
        self,
        id: HospitalId,
        now: chrono::NaiveDateTime,
        version: i64,
    ) -> AppResult<HospitalRow> {
        let mut errors = Vec::new();
        let pref = prefectures::find(&self.prefecture);
        if pref.is_none() {
            errors.push(FieldError::new(
                "prefecture",
                "must be a JIS code 01–47 or a prefecture name",
            ));
        }
        let code =
            match medcode::normalize_code(&self.institution_code, pref.map(|p| p.code.as_str())) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(FieldError::new("institution_code", e.en()));
                    None
                }
            };
        validate::line("name", &self.name, 200, &mut errors);
        validate::single_lines(
            &[
                ("address", self.address.as_deref()),
                (
                    "system_vendor.company",
                    self.system_vendor.company.as_deref(),
                ),
                (
                    "system_vendor.contact",
                    self.system_vendor.contact.as_deref(),
                ),
            ],
            &mut errors,
        );
        if self.beds.is_some_and(|b| !(0..=10_000).contains(&b)) {
            errors.push(FieldError::new("beds", "must be between 0 and 10000"));
        }
        if let Some(e) = &self.system_vendor.email {
            validate::email("system_vendor.email", e, &mut errors);
        }
        let (Some(pref), Some(code), true) = (pref, code, errors.is_empty()) else {
            return Err(AppError::Validation(errors));
        };
        Ok(HospitalRow {
            id,
            prefecture_code: pref.code.clone(),
            institution_code: code,
            name: self.name.trim().to_owned(),
            address: self
                .address
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty()),
            beds: self.beds,
            emr_status: self.emr_status.map(|e| match e {
                EmrStatus::Full => "full".to_owned(),
                EmrStatus::Partial => "partial".to_owned(),
            }),
            emergency: self.emergency,
            disaster_base: self.disaster_base,
            vendor_company: self.system_vendor.company,
            vendor_contact: self.system_vendor.contact,
            vendor_email: self
                .system_vendor
                .email
                .map(|e| validate::normalize_email(&e)),
            created_at: now,
            updated_at: now,
            version,
        })
    }
}

fn load_in(conn: &mut DbConnection, scope: &Scope, id: &HospitalId) -> AppResult<HospitalRow> {
    match db::hospitals::get(conn, id)? {
        Some(h) if db::hospitals::visible(conn, &h.id, scope)? => Ok(h),
        _ => Err(AppError::NotFound(format!("no hospital {id}"))),
    }
}

pub(crate) fn load_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &HospitalId,
) -> AppResult<HospitalRow> {
    let scope = engagement_scope(conn, actor)?;
    load_in(conn, &scope, id)
}

/// Loads a hospital the caller may change: 404 if the caller cannot see it, 403 if another
/// organisation's engagement shares its details and contacts (see `domain::hospital_edit`).
pub(crate) fn load_editable(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &HospitalId,
) -> AppResult<HospitalRow> {
    let scope = engagement_scope(conn, actor)?;
    let hospital = load_in(conn, &scope, id)?;
    let editor = match &scope {
        Scope::All => Editor::Admin,
        Scope::Orgs(ids) => Editor::Coordinator { organizations: ids },
    };
    let engagements = db::engagements::for_hospital(conn, &hospital.id)?;
    let rounds = db::rounds::list(conn)?;
    let round_name = |id: &str| {
        rounds
            .iter()
            .find(|r| r.id == id)
            .map_or(id.to_owned(), |r| r.name.clone())
    };
    let names: Vec<String> = engagements
        .iter()
        .map(|e| round_name(e.round_id.as_str()))
        .collect();
    let holders: Vec<Holder> = engagements
        .iter()
        .zip(&names)
        .map(|(e, round)| Holder {
            round,
            organization_id: e.organization_id.as_ref().map(OrganizationId::as_str),
        })
        .collect();
    hospital_edit::may_edit(editor, &holders)
        .map_err(|refusal| AppError::Forbidden(refusal.reason()))?;
    Ok(hospital)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HospitalQuery {
    /// JIS code or name.
    pub prefecture: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Hospitals the caller may see (a coordinator: those with an engagement assigned to it).
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), params(HospitalQuery), responses(
    (status = 200, body = Page<HospitalOut>),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/hospitals")]
pub async fn list_hospitals(
    state: web::Data<AppState>,
    caller: Caller,
    query: Query<HospitalQuery>,
) -> AppResult<web::Json<Page<HospitalOut>>> {
    let q = query.into_inner();
    let limit = PageQuery {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let pref = match &q.prefecture {
        Some(p) => Some(
            prefectures::find(p)
                .ok_or_else(|| AppError::field("prefecture", "unknown prefecture"))?
                .code
                .clone(),
        ),
        None => None,
    };
    let after = super::after_id(q.cursor.as_deref())?;
    let page = state
        .read_as(caller, move |conn, actor| {
            let scope = engagement_scope(conn, actor)?;
            let rows =
                db::hospitals::list(conn, &scope, pref.as_deref(), after.as_deref(), limit + 1)?;
            // The page's contacts in one query, not one per hospital.
            let ids: Vec<HospitalId> = rows.iter().map(|h| h.id.clone()).collect();
            let mut contacts: std::collections::HashMap<HospitalId, Vec<_>> = Default::default();
            for c in db::bulk::contacts_of(conn, &ids)? {
                contacts.entry(c.hospital_id.clone()).or_default().push(c);
            }
            let out = rows
                .into_iter()
                .map(|h| {
                    let mine = contacts.remove(&h.id).unwrap_or_default();
                    crate::service::hospitals::hospital_out(h, mine)
                })
                .collect();
            Ok(Page::from_rows(out, limit, |h| h.id.to_string(), |h| h))
        })
        .await?;
    Ok(web::Json(page))
}

/// Register a hospital (admin).
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), params(super::doc::IdempotencyKey), request_body = HospitalIn, responses(
    (status = 201, body = HospitalOut),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/hospitals")]
pub async fn create_hospital(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: Json<HospitalIn>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "register hospitals")?;
    let idem = Idem::new(&req)?;
    let now = state.clock().now();
    let row = body.0.into_row(HospitalId::new(db::new_id()), now, 1)?;
    let out = state
        .db
        .write(move |conn| {
            idem.once(conn, &actor.user_id, |conn| {
                if db::hospitals::by_code(conn, &row.institution_code)?.is_some() {
                    return Err(AppError::conflict(
                        "institution_code_exists",
                        format!(
                            "a hospital with institution code {} exists",
                            row.institution_code
                        ),
                    ));
                }
                db::hospitals::insert(conn, &row)?;
                created(&load_out(conn, row)?)
            })
        })
        .await?;
    Ok(respond(out))
}

/// One hospital with its contacts.
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), responses(
    (status = 200, body = HospitalOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/hospitals/{id}")]
pub async fn get_hospital(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> AppResult<HttpResponse> {
    let id = HospitalId::new(path.into_inner());
    let out = state
        .read_as(caller, move |conn, actor| {
            let h = load_visible(conn, actor, &id)?;
            load_out(conn, h)
        })
        .await?;
    let version = out.version;
    Ok(with_etag(HttpResponse::Ok().json(out), version))
}

/// Replace a hospital's details (admin, or a coordinator in charge of every engagement of the
/// hospital: 403 when another organisation also has one, since the details are shared).
#[utoipa::path(tag = "hospitals", security(("bearer" = [])), request_body = HospitalIn,
    params(("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    responses(
    (status = 200, body = HospitalOut),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 412, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[patch("/hospitals/{id}")]
pub async fn update_hospital(
    state: web::Data<AppState>,
    actor: Actor,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<HospitalIn>,
) -> AppResult<HttpResponse> {
    let id = HospitalId::new(path.into_inner());
    let input = body.0;
    let now = state.clock().now();
    let out = state
        .db
        .write(move |conn| {
            let current = load_editable(conn, &actor, &id)?;
            let version = if_match.check(current.version)?;
            let mut row = input.into_row(id.clone(), now, version)?;
            row.created_at = current.created_at;
            if !db::hospitals::replace(conn, &row, version)? {
                return Err(AppError::PreconditionFailed(
                    "changed meanwhile; reload".into(),
                ));
            }
            if row.beds != current.beds {
                retier(conn, &actor, &row, now)?;
            }
            let fresh = db::hospitals::get(conn, &id)?
                .ok_or_else(|| AppError::NotFound(format!("no hospital {id}")))?;
            load_out(conn, fresh)
        })
        .await?;
    let version = out.version;
    Ok(with_etag(HttpResponse::Ok().json(out), version))
}

/// A new bed count can move the hospital's engagements to another tier of their round.
fn retier(
    conn: &mut DbConnection,
    actor: &Actor,
    h: &HospitalRow,
    now: NaiveDateTime,
) -> AppResult<()> {
    use crate::domain::pipeline::Action;
    use crate::service::step::{run_loaded, Command, Who};
    for e in db::engagements::for_hospital(conn, &h.id)? {
        let round = db::rounds::find(conn, e.round_id.as_str())?
            .ok_or_else(|| anyhow::anyhow!("round {} missing", e.round_id))?;
        let tier = super::rounds::tier_label(&round, h.beds)?;
        if tier == e.tier {
            continue;
        }
        let id = e.id.clone();
        let cmd = Command {
            engagement_id: &id,
            if_match: None,
            action: Action::Edit,
            override_reason: None,
            kind: EventKind::TierChanged,
        };
        run_loaded(conn, Who::from(actor), e, cmd, now, |_, s| {
            s.payload = serde_json::json!({"from": s.engagement.tier, "to": tier, "beds": h.beds});
            s.changes.tier = Some(tier);
            Ok(())
        })?;
    }
    Ok(())
}
