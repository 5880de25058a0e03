//! Selecting a hospital for a round, and assigning engagements to an organisation (admin).

use super::*;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEngagement {
    /// Round id or name.
    pub round: String,
    #[schema(value_type = String)]
    pub hospital_id: HospitalId,
    pub rank: Option<i64>,
    #[serde(default)]
    pub secondary: bool,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
}

pub use crate::service::engagements::{create_engagement, Selection};

/// Select a hospital for a round (admin).
#[utoipa::path(tag = "engagements", security(("bearer" = [])), params(crate::api::doc::IdempotencyKey), request_body = NewEngagement, responses(
    (status = 201, body = EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements")]
pub async fn create(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    body: Json<NewEngagement>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "select hospitals")?;
    let idem = Idem::new(&req)?;
    let input = body.0;
    let config = state.config.clone();
    let out = state
        .db
        .write(move |conn| {
            idem.once(conn, &actor.user_id.clone(), |conn| {
                let round = db::rounds::find(conn, &input.round)?
                    .ok_or_else(|| AppError::field("round", "no round has this id or name"))?;
                let hospital = db::hospitals::get(conn, &input.hospital_id)?
                    .ok_or_else(|| AppError::field("hospital_id", "no hospital has this id"))?;
                if let Some(org) = &input.organization_id {
                    check_assignable(conn, org)?;
                }
                let sel = Selection {
                    rank: input.rank,
                    secondary: input.secondary,
                    organization_id: input.organization_id.as_ref(),
                    note: None,
                };
                let e = create_engagement(
                    conn,
                    &(&actor).into(),
                    &round,
                    &hospital,
                    sel,
                    EventKind::Selected,
                    config.clock.now(),
                )?;
                created(&detail(conn, &config, &e.id)?)
            })
        })
        .await?;
    Ok(respond(out))
}

use crate::domain::ids::{EngagementId, HospitalId, OrganizationId};
use crate::service::engagements::check_assignable;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    /// The organisation to assign to; null to unassign.
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    /// These engagements…
    #[schema(value_type = Option<Vec<String>>)]
    pub ids: Option<Vec<EngagementId>>,
    /// …or every engagement matching this filter (same fields as the list's query).
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AssignOut {
    pub assigned: usize,
}

/// Assign engagements to an organisation, by id or in bulk by filter (admin). Each change lands
/// in its engagement's timeline.
#[utoipa::path(tag = "engagements", security(("bearer" = [])), request_body = AssignIn, responses(
    (status = 200, body = AssignOut),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/assign")]
pub async fn assign(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<AssignIn>,
) -> AppResult<web::Json<AssignOut>> {
    actor.require(actor.role.manages_accounts(), "assign engagements")?;
    let input = body.0;
    let query: Option<ListQuery> = match &input.filter {
        Some(v) => Some(
            serde_json::from_value(v.clone())
                .map_err(|e| AppError::field("filter", e.to_string()))?,
        ),
        None => None,
    };
    let (ids, query) = match (input.ids, query) {
        (Some(ids), None) if !ids.is_empty() => (Some(ids), None),
        (None, Some(q)) => (None, Some(q)),
        _ => {
            return Err(AppError::field(
                "ids",
                "give either a non-empty `ids` or a `filter`",
            ))
        }
    };
    let config = state.config.clone();
    let now = state.clock().now();
    let assigned = state
        .db
        .write(move |conn| {
            if let Some(org) = &input.organization_id {
                check_assignable(conn, org)?;
            }
            let targets = match (ids, query) {
                (Some(ids), _) => ids,
                (None, Some(q)) => {
                    let f = q.filter(conn, &config.sla.cutoffs(config.clock.now_utc()))?;
                    db::engagement_list::ids(conn, &db::Scope::All, &f)?
                }
                (None, None) => Vec::new(),
            };
            let who: pipeline::Who = (&actor).into();
            crate::service::engagements::assign(
                conn,
                &who,
                &targets,
                input.organization_id.as_ref(),
                now,
            )
        })
        .await?;
    Ok(web::Json(AssignOut { assigned }))
}
