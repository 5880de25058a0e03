//! HTTP handlers per resource, thin: parse → domain → db → respond.

pub mod auth;
pub mod caller;
pub mod contacts;
pub mod dashboard;
pub mod doc;
pub mod emails;
pub mod engagements;
pub mod forms;
pub mod hearings;
pub mod hospitals;
pub mod idempotency;
pub mod imports;
pub mod intake;
pub mod json;
pub mod ops;
pub mod orgs;
pub mod query;
pub mod receipt;
pub mod rounds;
pub mod step;
pub mod users;
pub mod verification;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::error::{AppError, AppResult};

/// Calls `$then!` with every handler under `/api/v1`, in routing order: one list for the routes
/// and for the test that every schema name stands for one schema.
macro_rules! v1_handlers {
    ($then:ident) => {
        $then!(
            // The reads by id first: the router tries each route with a parameter in turn (a
            // regex match each), and these are most of the traffic; every other route of theirs
            // differs in method or in path, so the order changes no answer.
            engagements::get_engagement,
            engagements::timeline,
            hospitals::get_hospital,
            auth::token,
            auth::list_api_tokens,
            auth::create_api_token,
            auth::revoke_api_token,
            auth::me,
            auth::change_password,
            orgs::list_organizations,
            orgs::create_organization,
            orgs::get_organization,
            orgs::update_organization,
            orgs::delete_organization,
            users::list_users,
            users::create_user,
            users::get_user,
            users::update_user,
            users::delete_user,
            rounds::list_rounds,
            rounds::create_round,
            rounds::list_slots,
            rounds::set_slots,
            rounds::import_slots,
            hospitals::list_hospitals,
            hospitals::create_hospital,
            hospitals::update_hospital,
            contacts::list_contacts,
            contacts::get_contact,
            contacts::create_contact,
            contacts::update_contact,
            contacts::delete_contact,
            imports::import_list,
            // `assign` before `{id}` routes so that the literal path wins.
            engagements::assign,
            engagements::list_engagements,
            engagements::create,
            engagements::update_engagement,
            engagements::contact_attempt,
            engagements::consent,
            engagements::memorandum,
            engagements::side_state,
            engagements::resume,
            engagements::complete,
            intake::upload,
            intake::list_documents,
            intake::download,
            receipt::get_receipt,
            intake::list_templates,
            intake::create_template,
            intake::get_questionnaire,
            intake::save_questionnaire,
            intake::submit_questionnaire,
            intake::review_questionnaire,
            hearings::list_hearings,
            hearings::offer_slots,
            hearings::book,
            hearings::reschedule,
            hearings::cancel,
            hearings::outcome,
            verification::list_findings,
            verification::create_finding,
            verification::update_finding,
            verification::deliver_report,
            verification::get_proposal,
            verification::propose,
            verification::decide,
            verification::skip,
            emails::send,
            emails::preview,
            emails::list_emails,
            emails::resend,
            emails::issue_link,
            emails::revoke_links,
            dashboard::get_summary,
            dashboard::get_trend,
            dashboard::get_durations,
            dashboard::get_hospitals,
            dashboard::get_export,
        )
    };
}

pub fn configure(cfg: &mut ServiceConfig) {
    macro_rules! v1_scope {
        ($($handler:path),+ $(,)?) => {
            scope("/api/v1")$(.service($handler))+
        };
    }
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(v1_handlers!(v1_scope));
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "engagement-tracker",
        description = "Carries every hospital selected under MHLW's hospital-cybersecurity \
                       programme (医療機関におけるサイバーセキュリティ確保事業) from first contact \
                       to a finished engagement. Errors are RFC 9457 problem+json."
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "auth", description = "Access tokens and API tokens"),
        (name = "organizations", description = "The prime contractor, its subcontractors, the ministry and prefectures"),
        (name = "users", description = "Coordinator, viewer and admin accounts"),
        (name = "rounds", description = "Fiscal-year rounds, bed-size tiers and support slots"),
        (name = "hospitals", description = "Hospitals and their named contacts"),
        (name = "imports", description = "Prefectures' selection lists"),
        (name = "engagements", description = "One engagement per hospital per round: stage, milestones, timeline"),
        (name = "intake", description = "Documents and the pre-questionnaire"),
        (name = "hearings", description = "Hearing slots, booking, reschedule, cancel, outcome"),
        (name = "verification", description = "Findings, the report, the offline-backup proposal"),
        (name = "mail", description = "Mail to hospital contacts, its delivery state, and their links"),
        (name = "dashboards", description = "Progress figures for the ministry, prefectures and the vendor: no names of people, no confidential content"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from POST /api/v1/auth/token, or an API token (et_…)",
                    ))
                    .build(),
            ),
        );
    }
}

/// Cursor pagination: `limit` items after `cursor` (the last id of the previous page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> AppResult<i64> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=200).contains(&n) => Ok(n),
            Some(_) => Err(AppError::field("limit", "must be between 1 and 200")),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` was fetched with `limit + 1` to learn whether another page follows.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        id: impl Fn(&R) -> String,
        map: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = if more {
            rows.last()
                .map(|r| crate::service::cursor::encode("id", None, &id(r)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

/// The id a list's cursor says the previous page ended at (lists sorted by id alone).
pub fn after_id(raw: Option<&str>) -> AppResult<Option<String>> {
    Ok(crate::service::cursor::decode(raw, "id")?.map(|a| a.id))
}

/// Sets the `ETag` of a response to the resource's version.
pub fn with_etag(mut res: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

pub use crate::service::step::{etag, IfMatch};

impl actix_web::FromRequest for IfMatch {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let value = req
            .headers()
            .get(header::IF_MATCH)
            .map(|v| v.to_str().unwrap_or_default().trim().to_owned());
        std::future::ready(Ok(IfMatch(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa_actix_web::OpenApiFactory;

    /// utoipa keeps one schema per name, silently: two types with one name would give clients
    /// the wrong shape for one of them (as link and document purposes once did).
    #[test]
    fn each_schema_name_stands_for_one_schema() {
        macro_rules! collect {
            ($($handler:path),+ $(,)?) => {{
                let mut all = Vec::new();
                $(OpenApiFactory::schemas(&$handler, &mut all);)+
                all
            }};
        }
        let all: Vec<(String, _)> = v1_handlers!(collect);
        let mut seen = std::collections::BTreeMap::new();
        for (name, schema) in all {
            let json = serde_json::to_string(&schema).unwrap();
            if let Some(other) = seen.insert(name.clone(), json.clone()) {
                assert_eq!(other, json, "two different schemas are named {name}");
            }
        }
        assert!(seen.contains_key("DocumentPurpose") && seen.contains_key("LinkPurpose"));
    }

    #[test]
    fn if_match_rules() {
        assert_eq!(IfMatch(None).check(3).unwrap(), 3);
        assert_eq!(IfMatch(Some("*".into())).check(3).unwrap(), 3);
        assert_eq!(IfMatch(Some("\"v3\"".into())).check(3).unwrap(), 3);
        assert_eq!(IfMatch(Some("W/\"v3\"".into())).check(3).unwrap(), 3);
        assert!(IfMatch(Some("\"v2\"".into())).check(3).is_err());
        assert!(IfMatch(Some("garbage".into())).check(3).is_err());
    }
}
