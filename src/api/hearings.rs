//! Hearings (ヒアリング): candidate slots offered by a coordinator, one booking per slot (held
//! by a database constraint under concurrency), reschedule, cancel, attendees and the outcome.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::engagements::step;
use super::json::Json;
use super::pipeline;
use super::IfMatch;
use crate::app::AppState;
use crate::auth::links::LinkKeys;
use crate::auth::Actor;
use crate::config::Config;
use crate::db::hearings::{HearingRow, SlotRow};
use crate::db::{self, utc, DbConnection};
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};
use crate::mail::compose::{self, Extra};
use crate::mail::render::MailKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Online,
    Onsite,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = HearingSlotIn)]
pub struct SlotIn {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub format: Format,
    /// For online hearings.
    pub meeting_url: Option<String>,
    /// For on-site hearings.
    pub place: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferIn {
    /// 1 to 20 candidate slots.
    #[schema(min_items = 1, max_items = 20)]
    pub slots: Vec<SlotIn>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = HearingSlotOut)]
pub struct SlotOut {
    pub id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[schema(value_type = Format)]
    pub format: String,
    pub meeting_url: Option<String>,
    pub place: Option<String>,
    /// `open`, `booked` or `withdrawn`.
    pub status: &'static str,
}

/// Someone at the hearing: vendor staff, a hospital contact, or the hospital's system vendor.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendee {
    /// `vendor_staff`, `hospital_contact` or `system_vendor`.
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    /// The contact's or user's id, when known.
    pub ref_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HearingOut {
    pub id: String,
    pub slot_id: String,
    pub status: String,
    pub attendees: Vec<Attendee>,
    /// Raised on every change (the calendar invite's SEQUENCE).
    pub sequence: i64,
    pub outcome_note: Option<String>,
    pub minutes_document_id: Option<String>,
    pub cancel_reason: Option<String>,
    pub booked_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct HearingsOut {
    pub slots: Vec<SlotOut>,
    pub hearings: Vec<HearingOut>,
}

fn check_slot(i: usize, s: &SlotIn, errors: &mut Vec<FieldError>) {
    let at = |f: &str| format!("slots[{i}].{f}");
    validate::single_line_opt(&at("meeting_url"), s.meeting_url.as_deref(), errors);
    validate::single_line_opt(&at("place"), s.place.as_deref(), errors);
    if s.ends_at <= s.starts_at {
        errors.push(FieldError::new(at("ends_at"), "must be after starts_at"));
    }
    if s.ends_at - s.starts_at > chrono::Duration::hours(12) {
        errors.push(FieldError::new(
            at("ends_at"),
            "a hearing lasts at most 12 hours",
        ));
    }
    match s.format {
        Format::Online
            if s.meeting_url
                .as_deref()
                .is_none_or(|u| !u.starts_with("https://")) =>
        {
            errors.push(FieldError::new(
                at("meeting_url"),
                "an online hearing needs an https:// meeting URL",
            ))
        }
        Format::Onsite if s.place.as_deref().is_none_or(|p| p.trim().is_empty()) => errors.push(
            FieldError::new(at("place"), "an on-site hearing needs a place"),
        ),
        _ => {}
    }
}

pub fn hearings_out(conn: &mut DbConnection, engagement_id: &str) -> AppResult<HearingsOut> {
    let hearings = db::hearings::hearings(conn, engagement_id)?;
    let slots = db::hearings::slots(conn, engagement_id)?
        .into_iter()
        .map(|s| SlotOut {
            status: if s.withdrawn_at.is_some() {
                "withdrawn"
            } else if hearings
                .iter()
                .any(|h| h.slot_id == s.id && h.status == "scheduled")
            {
                "booked"
            } else {
                "open"
            },
            id: s.id,
            starts_at: utc(s.starts_at),
            ends_at: utc(s.ends_at),
            format: s.format,
            meeting_url: s.meeting_url,
            place: s.place,
        })
        .collect();
    Ok(HearingsOut {
        slots,
        hearings: hearings
            .into_iter()
            .map(|h| HearingOut {
                attendees: serde_json::from_str(&h.attendees).unwrap_or_default(),
                id: h.id,
                slot_id: h.slot_id,
                status: h.status,
                sequence: h.sequence,
                outcome_note: h.outcome_note,
                minutes_document_id: h.minutes_document_id,
                cancel_reason: h.cancel_reason,
                booked_at: utc(h.booked_at),
            })
            .collect(),
    })
}

/// Slots and hearings of an engagement.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), responses(
    (status = 200, body = HearingsOut),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/engagements/{id}/hearings")]
pub async fn list_hearings(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<HearingsOut>> {
    let id = path.into_inner();
    let out = state
        .db
        .read(move |conn| {
            pipeline::load(conn, &actor, &id)?;
            hearings_out(conn, &id)
        })
        .await?;
    Ok(web::Json(out))
}

/// Offer candidate slots (the mail to the hospital follows in a later issue).
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = OfferIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing-slots")]
pub async fn offer_slots(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<OfferIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    let mut errors = Vec::new();
    if input.slots.is_empty() || input.slots.len() > 20 {
        errors.push(FieldError::new("slots", "offer 1 to 20 slots"));
    }
    for (i, s) in input.slots.iter().enumerate() {
        check_slot(i, s, &mut errors);
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::OfferSlots,
        "slots_offered",
        None,
        move |conn, s| {
            let mut ids = Vec::new();
            for slot in input.slots {
                let row = SlotRow {
                    id: db::new_id(),
                    engagement_id: s.engagement.id.clone(),
                    starts_at: slot.starts_at.naive_utc(),
                    ends_at: slot.ends_at.naive_utc(),
                    format: match slot.format {
                        Format::Online => "online".into(),
                        Format::Onsite => "onsite".into(),
                    },
                    meeting_url: slot.meeting_url,
                    place: slot.place,
                    withdrawn_at: None,
                    created_at: s.now,
                };
                db::hearings::insert_slot(conn, &row)?;
                ids.push(
                    json!({"id": row.id, "starts_at": utc(row.starts_at), "format": row.format}),
                );
            }
            s.payload = json!({"slots": ids});
            Ok(())
        },
    )
    .await
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BookIn {
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub override_reason: Option<String>,
}

fn check_attendees(list: &[Attendee]) -> AppResult<()> {
    let mut errors = Vec::new();
    for (i, a) in list.iter().enumerate() {
        if !matches!(
            a.kind.as_str(),
            "vendor_staff" | "hospital_contact" | "system_vendor"
        ) {
            errors.push(FieldError::new(
                format!("attendees[{i}].kind"),
                "vendor_staff, hospital_contact or system_vendor",
            ));
        }
        validate::line(&format!("attendees[{i}].name"), &a.name, 100, &mut errors);
        if let Some(e) = &a.email {
            validate::email(&format!("attendees[{i}].email"), e, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Books an open slot of the engagement inside the step's transaction. A slot already booked
/// answers 409 — also when another booking wins the race (the unique index refuses the second).
pub fn book_slot(
    conn: &mut DbConnection,
    s: &mut pipeline::Step,
    slot_id: &str,
    attendees: &[Attendee],
    sequence: i64,
) -> AppResult<HearingRow> {
    let slot = db::hearings::slot(conn, slot_id)?
        .filter(|x| x.engagement_id == s.engagement.id)
        .ok_or_else(|| AppError::NotFound(format!("no slot {slot_id} on this engagement")))?;
    if slot.withdrawn_at.is_some() {
        return Err(AppError::conflict(
            "slot_withdrawn",
            "this slot was withdrawn",
        ));
    }
    if db::hearings::scheduled(conn, &s.engagement.id)?.is_some() {
        return Err(AppError::conflict(
            "hearing_scheduled",
            "a hearing is already scheduled; reschedule it instead",
        ));
    }
    let row = HearingRow {
        id: db::new_id(),
        engagement_id: s.engagement.id.clone(),
        slot_id: slot.id.clone(),
        status: "scheduled".into(),
        attendees: serde_json::to_string(attendees).map_err(anyhow::Error::from)?,
        sequence,
        outcome_note: None,
        minutes_document_id: None,
        cancel_reason: None,
        booked_at: s.now,
        updated_at: s.now,
    };
    db::hearings::insert_hearing(conn, &row).map_err(|e| match AppError::from(e) {
        AppError::Conflict { .. } => {
            AppError::conflict("slot_taken", "this slot has just been booked")
        }
        other => other,
    })?;
    s.payload = json!({"slot_id": slot.id, "hearing_id": row.id, "starts_at": utc(slot.starts_at), "attendees": attendees});
    Ok(row)
}

/// Book a slot for the hospital (a coordinator booking on the hospital's word). A slot is
/// booked once: a second booking gets 409.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = BookIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing-slots/{slot_id}/book")]
pub async fn book(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<(String, String)>,
    body: Json<BookIn>,
) -> AppResult<HttpResponse> {
    let (id, slot_id) = path.into_inner();
    let input = body.0;
    check_attendees(&input.attendees)?;
    let (config, keys) = (state.config.clone(), state.links.clone());
    step(
        &state,
        actor,
        &req,
        if_match,
        id,
        Action::BookHearing,
        "hearing_booked",
        input.override_reason,
        move |conn, s| book_in(conn, s, &config, &keys, &slot_id, &input.attendees),
    )
    .await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleIn {
    /// Another open slot of this engagement.
    pub slot_id: String,
    pub reason: String,
}

/// Move the scheduled hearing to another open slot; the attendees carry over.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = RescheduleIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/reschedule")]
pub async fn reschedule(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<RescheduleIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    let why = super::engagements::reason("reason", &input.reason)?;
    let (config, keys) = (state.config.clone(), state.links.clone());
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::RecordHearingOutcome,
        "hearing_rescheduled",
        None,
        move |conn, s| reschedule_in(conn, s, &config, &keys, &input.slot_id, &why),
    )
    .await
}

fn no_hearing() -> AppError {
    AppError::conflict("no_hearing", "no hearing is scheduled")
}

/// Moves the scheduled hearing to another open slot (attendees carry over, SEQUENCE rises) and
/// queues the change mail, inside a step. Used by the API and the hospital's page.
pub fn reschedule_in(
    conn: &mut DbConnection,
    s: &mut pipeline::Step,
    config: &Config,
    keys: &LinkKeys,
    slot_id: &str,
    why: &str,
) -> AppResult<()> {
    let current = db::hearings::scheduled(conn, &s.engagement.id)?.ok_or_else(no_hearing)?;
    db::hearings::close_hearing(
        conn,
        &current.id,
        "rescheduled",
        None,
        None,
        Some(why),
        s.now,
    )?;
    let attendees: Vec<Attendee> = serde_json::from_str(&current.attendees).unwrap_or_default();
    let new = book_slot(conn, s, slot_id, &attendees, current.sequence + 1)?;
    let extra = Extra {
        acting_user: acting_user(s),
        previous: db::hearings::slot(conn, &current.slot_id)?,
        reason: Some(why.to_owned()),
        ..Default::default()
    };
    let mails = compose::enqueue(
        conn,
        config,
        keys,
        &s.engagement,
        MailKind::HearingRescheduled,
        &extra,
    )?;
    s.payload = json!({"from_hearing": current.id, "from_slot": current.slot_id, "to_hearing": new.id, "to_slot": new.slot_id, "reason": why, "sequence": new.sequence, "mails": mails});
    Ok(())
}

/// The user behind a step, when a user (not the hospital's contact, not the system) acted: the
/// mail's Reply-To.
fn acting_user(s: &pipeline::Step) -> Option<String> {
    s.who.id.clone().filter(|_| s.who.kind == "user")
}

/// Cancels the scheduled hearing (its slot is withdrawn) and queues the cancellation mail.
pub fn cancel_in(
    conn: &mut DbConnection,
    s: &mut pipeline::Step,
    config: &Config,
    keys: &LinkKeys,
    why: &str,
) -> AppResult<()> {
    let current = db::hearings::scheduled(conn, &s.engagement.id)?.ok_or_else(no_hearing)?;
    db::hearings::close_hearing(conn, &current.id, "cancelled", None, None, Some(why), s.now)?;
    // A cancelled slot is not offered again by itself.
    db::hearings::withdraw_slot(conn, &current.slot_id, s.now)?;
    let extra = Extra {
        acting_user: acting_user(s),
        previous: db::hearings::slot(conn, &current.slot_id)?,
        reason: Some(why.to_owned()),
        ..Default::default()
    };
    let mails = compose::enqueue(
        conn,
        config,
        keys,
        &s.engagement,
        MailKind::HearingCancelled,
        &extra,
    )?;
    s.payload = json!({"hearing_id": current.id, "slot_id": current.slot_id, "reason": why, "mails": mails});
    Ok(())
}

/// Books a slot and queues the confirmation with its invite.
pub fn book_in(
    conn: &mut DbConnection,
    s: &mut pipeline::Step,
    config: &Config,
    keys: &LinkKeys,
    slot_id: &str,
    attendees: &[Attendee],
) -> AppResult<()> {
    book_slot(conn, s, slot_id, attendees, 0)?;
    let extra = Extra {
        acting_user: acting_user(s),
        ..Default::default()
    };
    let mails = compose::enqueue(
        conn,
        config,
        keys,
        &s.engagement,
        MailKind::HearingConfirmed,
        &extra,
    )?;
    s.payload["mails"] = json!(mails);
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    pub reason: String,
}

/// Cancel the scheduled hearing (the slot opens again only if offered anew).
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = CancelIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<CancelIn>,
) -> AppResult<HttpResponse> {
    let why = super::engagements::reason("reason", &body.0.reason)?;
    let (config, keys) = (state.config.clone(), state.links.clone());
    step(
        &state,
        actor,
        &req,
        if_match,
        path.into_inner(),
        Action::RecordHearingOutcome,
        "hearing_cancelled",
        None,
        move |conn, s| cancel_in(conn, s, &config, &keys, &why),
    )
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Held,
    NoShow,
    Postponed,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeIn {
    pub outcome: Outcome,
    pub note: Option<String>,
    /// The minutes, uploaded first as a document with purpose `minutes`.
    pub minutes_document_id: Option<String>,
}

/// Record how the scheduled hearing went: held (with minutes), no-show, or postponed.
#[utoipa::path(tag = "hearings", security(("bearer" = [])), params(super::doc::StepHeaders), request_body = OutcomeIn, responses(
    (status = 200, body = crate::api::engagements::EngagementDetail),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/engagements/{id}/hearing/outcome")]
pub async fn outcome(
    state: web::Data<AppState>,
    actor: Actor,
    req: HttpRequest,
    if_match: IfMatch,
    path: web::Path<String>,
    body: Json<OutcomeIn>,
) -> AppResult<HttpResponse> {
    let input = body.0;
    let kind = match input.outcome {
        Outcome::Held => "hearing_held",
        Outcome::NoShow => "hearing_no_show",
        Outcome::Postponed => "hearing_postponed",
    };
    step(&state, actor, &req, if_match, path.into_inner(), Action::RecordHearingOutcome, kind, None, move |conn, s| {
        let current = db::hearings::scheduled(conn, &s.engagement.id)?
            .ok_or_else(no_hearing)?;
        if let Some(doc) = &input.minutes_document_id {
            db::intake::document(conn, &s.engagement.id, doc)?
                .filter(|d| d.purpose == "minutes")
                .ok_or_else(|| AppError::field("minutes_document_id", "no minutes document with this id on this engagement"))?;
        }
        let status = match input.outcome {
            Outcome::Held => "held",
            Outcome::NoShow => "no_show",
            Outcome::Postponed => "postponed",
        };
        db::hearings::close_hearing(conn, &current.id, status, input.note.as_deref(), input.minutes_document_id.as_deref(), None, s.now)?;
        if input.outcome == Outcome::Held {
            s.reach(Milestone::HearingHeld);
        }
        s.payload = json!({"hearing_id": current.id, "outcome": input.outcome, "note": input.note, "minutes_document_id": input.minutes_document_id});
        Ok(())
    })
    .await
}
