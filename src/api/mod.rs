//! HTTP handlers per resource, thin: parse → domain → db → respond.

pub mod auth;
pub mod dashboard;
pub mod edge;
pub mod emails;
pub mod engagements;
pub mod hearings;
pub mod hospitals;
pub mod idempotency;
pub mod imports;
pub mod intake;
pub mod json;
pub mod ops;
pub mod orgs;
pub mod pipeline;
pub mod rounds;
pub mod users;
pub mod verification;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::error::{AppError, AppResult};

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ops::healthz)
        .service(ops::readyz)
        .service(ops::metrics)
        .service(
            scope("/api/v1")
                .service(auth::token)
                .service(auth::list_api_tokens)
                .service(auth::create_api_token)
                .service(auth::revoke_api_token)
                .service(auth::me)
                .service(orgs::list_organizations)
                .service(orgs::create_organization)
                .service(orgs::get_organization)
                .service(orgs::update_organization)
                .service(orgs::delete_organization)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                .service(users::delete_user)
                .service(rounds::list_rounds)
                .service(rounds::create_round)
                .service(rounds::list_slots)
                .service(rounds::set_slots)
                .service(rounds::import_slots)
                .service(hospitals::list_hospitals)
                .service(hospitals::create_hospital)
                .service(hospitals::get_hospital)
                .service(hospitals::update_hospital)
                .service(hospitals::list_contacts)
                .service(hospitals::create_contact)
                .service(hospitals::update_contact)
                .service(hospitals::delete_contact)
                .service(imports::import_list)
                // `assign` before `{id}` routes so that the literal path wins.
                .service(engagements::assign)
                .service(engagements::list_engagements)
                .service(engagements::create)
                .service(engagements::get_engagement)
                .service(engagements::update_engagement)
                .service(engagements::timeline)
                .service(engagements::contact_attempt)
                .service(engagements::consent)
                .service(engagements::memorandum)
                .service(engagements::side_state)
                .service(engagements::resume)
                .service(engagements::complete)
                .service(intake::upload)
                .service(intake::list_documents)
                .service(intake::download)
                .service(intake::list_templates)
                .service(intake::create_template)
                .service(intake::get_questionnaire)
                .service(intake::save_questionnaire)
                .service(intake::submit_questionnaire)
                .service(intake::review_questionnaire)
                .service(hearings::list_hearings)
                .service(hearings::offer_slots)
                .service(hearings::book)
                .service(hearings::reschedule)
                .service(hearings::cancel)
                .service(hearings::outcome)
                .service(verification::list_findings)
                .service(verification::create_finding)
                .service(verification::update_finding)
                .service(verification::deliver_report)
                .service(verification::get_proposal)
                .service(verification::propose)
                .service(verification::decide)
                .service(verification::skip)
                .service(emails::send)
                .service(emails::preview)
                .service(emails::list_emails)
                .service(emails::resend)
                .service(emails::issue_link)
                .service(emails::revoke_links)
                .service(dashboard::get_summary)
                .service(dashboard::get_trend)
                .service(dashboard::get_durations)
                .service(dashboard::get_hospitals)
                .service(dashboard::get_export),
        );
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
        let next_cursor = if more { rows.last().map(&id) } else { None };
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

/// Sets the `ETag` of a response to the resource's version.
pub fn with_etag(mut res: HttpResponse, version: i64) -> HttpResponse {
    if let Ok(v) = header::HeaderValue::from_str(&etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The `If-Match` header of a request, checked against the stored version inside the command.
pub struct IfMatch(Option<String>);

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

impl IfMatch {
    /// The version to update from: the current one, if the header is absent, `*`, or names it;
    /// otherwise 412.
    pub fn check(&self, current: i64) -> AppResult<i64> {
        let Some(raw) = self.0.as_deref() else {
            return Ok(current);
        };
        let matches = raw == "*"
            || raw
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
                .filter_map(|t| t.strip_prefix('v')?.parse::<i64>().ok())
                .any(|v| v == current);
        if matches {
            Ok(current)
        } else {
            Err(AppError::PreconditionFailed(format!(
                "If-Match does not match the current version ({}); reload and try again",
                etag(current)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IfMatch;

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
