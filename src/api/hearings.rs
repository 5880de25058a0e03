//! Hearings (ヒアリング) over HTTP: each route reads its input and runs the use case in
//! `service::hearings` (the hospital's page runs the same ones).

use actix_web::{get, post, web, HttpResponse};

use super::caller::Caller;
use super::json::Json;
use super::step::StepCall;
use crate::app::AppState;
use crate::domain::ids::EngagementId;
use crate::error::AppResult;
use crate::service::hearings::{
    self as hearings, BookIn, CancelIn, HearingsOut, OfferIn, OutcomeIn, RescheduleIn,
};
use crate::service::step;

/// Slots and hearings of an engagement.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), responses(
    (status = 200, body = HearingsOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/hearings")]
pub async fn list_hearings(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> AppResult<web::Json<HearingsOut>> {
    let id = EngagementId::new(path.into_inner());
    let now = state.clock().now_utc();
    let out = state
        .read_as(caller, move |conn, actor| {
            step::load(conn, actor, &id)?;
            hearings::hearings_out(conn, &id, now)
        })
        .await?;
    Ok(web::Json(out))
}

/// Offer candidate slots (the mail to the hospital follows in a later issue).
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = OfferIn, responses(
    (status = 200, body = crate::service::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing-slots")]
pub async fn offer_slots(
    call: StepCall,
    path: web::Path<String>,
    body: Json<OfferIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.run(path.into_inner(), None, move |conn, t, _| {
        hearings::offer(conn, t, input)
    })
    .await
}

/// Book a slot for the hospital (a coordinator booking on the hospital's word). A slot is
/// booked once: a second booking gets 409; a slot that has begun answers 409 `slot_past`.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = BookIn, responses(
    (status = 200, body = crate::service::engagements::EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing-slots/{slot_id}/book")]
pub async fn book(
    call: StepCall,
    path: web::Path<(String, String)>,
    body: Json<BookIn>,
) -> AppResult<HttpResponse> {
    let (id, slot_id) = path.into_inner();
    let id = EngagementId::new(id);
    let input = body.0;
    hearings::check_attendees(&input.attendees)?;
    call.run(id, input.override_reason, move |conn, t, ctx| {
        hearings::book(conn, t, ctx, &slot_id, &input.attendees)
    })
    .await
}

/// Move the scheduled hearing to another open slot; the attendees carry over.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = RescheduleIn, responses(
    (status = 200, body = crate::service::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/reschedule")]
pub async fn reschedule(
    call: StepCall,
    path: web::Path<String>,
    body: Json<RescheduleIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    crate::service::engagements::reason("reason", &input.reason)?;
    call.run(path.into_inner(), None, move |conn, t, ctx| {
        hearings::reschedule(conn, t, ctx, &input.slot_id, &input.reason)
    })
    .await
}

/// Cancel the scheduled hearing (the slot opens again only if offered anew).
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = CancelIn, responses(
    (status = 200, body = crate::service::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/cancel")]
pub async fn cancel(
    call: StepCall,
    path: web::Path<String>,
    body: Json<CancelIn>,
) -> AppResult<HttpResponse> {
    let why = body.0.reason;
    crate::service::engagements::reason("reason", &why)?;
    call.run(path.into_inner(), None, move |conn, t, ctx| {
        hearings::cancel(conn, t, ctx, &why)
    })
    .await
}

/// Record how the scheduled hearing went: held (with minutes), no-show, or postponed.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = OutcomeIn, responses(
    (status = 200, body = crate::service::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/outcome")]
pub async fn outcome(
    call: StepCall,
    path: web::Path<String>,
    body: Json<OutcomeIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    call.run(path.into_inner(), None, move |conn, t, _| {
        hearings::record_outcome(conn, t, input)
    })
    .await
}
