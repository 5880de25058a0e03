//! Hearings: offering slots, booking, rescheduling, cancelling and recording the outcome — one
//! use case each, run by the API and the hospital's page alike. The rules are in
//! `domain::hearings`; a slot is booked once (a unique index holds it under concurrency).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::step::{self, Step, Target};
use super::Ctx;
use crate::db::hearings::{HearingRow, SlotRow};
use crate::db::types::Json;
use crate::db::{self, utc, DbConnection};
use crate::domain::documents::Purpose as DocPurpose;
use crate::domain::events::EventKind;
use crate::domain::hearings::{self as rules, Conflict, HearingStatus};
pub use crate::domain::hearings::{Attendee, Outcome};
use crate::domain::ids::EngagementId;
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
    /// `open`, `booked`, `withdrawn`, or `past` (begun without a booking: no longer offered).
    pub status: &'static str,
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

/// The attendees stored with a hearing; an unreadable list is an error, never an empty one.
pub fn attendees_of(h: &HearingRow) -> AppResult<Vec<Attendee>> {
    Ok(h.attendees.get().clone())
}

/// What the rules need of a slot, given the engagement's hearings.
pub fn slot_facts(s: &SlotRow, hearings: &[HearingRow]) -> rules::Slot {
    rules::Slot {
        starts_at: utc(s.starts_at),
        withdrawn: s.withdrawn_at.is_some(),
        booked: hearings
            .iter()
            .any(|h| h.slot_id == s.id && h.status == HearingStatus::Scheduled),
    }
}

/// The slots a hospital may still choose (the page and the mails list these).
pub fn open_slots(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    now: DateTime<Utc>,
) -> AppResult<Vec<SlotRow>> {
    let hearings = db::hearings::hearings(conn, engagement_id)?;
    Ok(db::hearings::slots(conn, engagement_id)?
        .into_iter()
        .filter(|s| rules::is_open(&slot_facts(s, &hearings), now))
        .collect())
}

pub fn hearings_out(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    now: DateTime<Utc>,
) -> AppResult<HearingsOut> {
    let hearings = db::hearings::hearings(conn, engagement_id)?;
    let slots = db::hearings::slots(conn, engagement_id)?
        .into_iter()
        .map(|s| SlotOut {
            status: rules::slot_state(&slot_facts(&s, &hearings), now).as_str(),
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
            .map(|h| {
                Ok(HearingOut {
                    attendees: attendees_of(&h)?,
                    id: h.id,
                    slot_id: h.slot_id,
                    status: h.status.as_str().to_owned(),
                    sequence: h.sequence,
                    outcome_note: h.outcome_note,
                    minutes_document_id: h.minutes_document_id,
                    cancel_reason: h.cancel_reason,
                    booked_at: utc(h.booked_at),
                })
            })
            .collect::<AppResult<_>>()?,
    })
}

/// Offer candidate slots.
pub fn offer(conn: &mut DbConnection, t: Target, input: OfferIn) -> AppResult<()> {
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
    step::step(
        conn,
        t,
        Action::OfferSlots,
        EventKind::SlotsOffered,
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
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct BookIn {
    #[serde(default)]
    pub attendees: Vec<Attendee>,
    pub override_reason: Option<String>,
}

/// Checks attendees before a booking (422 naming each field).
pub fn check_attendees(list: &[Attendee]) -> AppResult<()> {
    let errors = rules::check_attendees(list);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn refuse(c: Conflict) -> AppError {
    c.into()
}

/// Books an open slot inside the step's transaction. A slot already booked answers 409 — also
/// when another booking wins the race (the unique index refuses the second).
fn book_slot(
    conn: &mut DbConnection,
    s: &mut Step,
    slot_id: &str,
    attendees: &[Attendee],
    sequence: i64,
    rescheduling_from: Option<&str>,
) -> AppResult<HearingRow> {
    let slot = db::hearings::slot(conn, slot_id)?
        .filter(|x| x.engagement_id == s.engagement.id)
        .ok_or_else(|| AppError::NotFound(format!("no slot {slot_id} on this engagement")))?;
    let hearings = db::hearings::hearings(conn, &s.engagement.id)?;
    let facts = slot_facts(&slot, &hearings);
    let now = utc(s.now);
    match rescheduling_from {
        Some(from) => rules::check_reschedule(Some(from), slot_id, &facts, now),
        None => rules::check_book(
            &facts,
            hearings
                .iter()
                .any(|h| h.status == HearingStatus::Scheduled),
            now,
        ),
    }
    .map_err(refuse)?;
    let row = HearingRow {
        id: db::new_id(),
        engagement_id: s.engagement.id.clone(),
        slot_id: slot.id.clone(),
        status: HearingStatus::Scheduled,
        attendees: Json::new(attendees.to_vec()).map_err(anyhow::Error::from)?,
        sequence,
        outcome_note: None,
        minutes_document_id: None,
        cancel_reason: None,
        booked_at: s.now,
        updated_at: s.now,
    };
    db::hearings::insert_hearing(conn, &row).map_err(|e| match AppError::from(e) {
        AppError::Conflict { .. } => refuse(rules::SLOT_TAKEN),
        other => other,
    })?;
    s.payload = json!({"slot_id": slot.id, "hearing_id": row.id, "starts_at": utc(slot.starts_at), "attendees": attendees});
    Ok(row)
}

/// Book a slot for the hospital and queue the confirmation with its invite.
pub fn book(
    conn: &mut DbConnection,
    t: Target,
    ctx: &Ctx,
    slot_id: &str,
    attendees: &[Attendee],
) -> AppResult<()> {
    check_attendees(attendees)?;
    step::step(
        conn,
        t,
        Action::BookHearing,
        EventKind::HearingBooked,
        |conn, s| {
            book_slot(conn, s, slot_id, attendees, 0, None)?;
            let extra = Extra {
                acting_user: s.who.user_id(),
                ..Default::default()
            };
            let mails = compose::enqueue(
                conn,
                &ctx.config,
                &ctx.links,
                &s.engagement,
                MailKind::HearingConfirmed,
                &extra,
            )?;
            s.payload["mails"] = json!(mails);
            Ok(())
        },
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleIn {
    /// Another open slot of this engagement.
    pub slot_id: String,
    pub reason: String,
}

/// Moves the scheduled hearing to another open slot (attendees carry over, SEQUENCE rises) and
/// queues the change mail.
pub fn reschedule(
    conn: &mut DbConnection,
    t: Target,
    ctx: &Ctx,
    slot_id: &str,
    reason: &str,
) -> AppResult<()> {
    let why = super::engagements::reason("reason", reason)?;
    step::step(
        conn,
        t,
        Action::RescheduleHearing,
        EventKind::HearingRescheduled,
        |conn, s| {
            let current = db::hearings::scheduled(conn, &s.engagement.id)?
                .ok_or_else(|| refuse(rules::NO_HEARING))?;
            let attendees = attendees_of(&current)?;
            // Checked before the current hearing is closed, so that the slot it holds is still
            // seen as its own (`same_slot`, not `slot_taken`).
            let new_slot = db::hearings::slot(conn, slot_id)?
                .filter(|x| x.engagement_id == s.engagement.id)
                .ok_or_else(|| {
                    AppError::NotFound(format!("no slot {slot_id} on this engagement"))
                })?;
            if new_slot.id == current.slot_id {
                return Err(refuse(rules::SAME_SLOT));
            }
            db::hearings::close_hearing(
                conn,
                &current.id,
                HearingStatus::Rescheduled,
                None,
                None,
                Some(&why),
                s.now,
            )?;
            let new = book_slot(
                conn,
                s,
                slot_id,
                &attendees,
                current.sequence + 1,
                Some(&current.slot_id),
            )?;
            let extra = Extra {
                acting_user: s.who.user_id(),
                previous: db::hearings::slot(conn, &current.slot_id)?,
                reason: Some(why.clone()),
                ..Default::default()
            };
            let mails = compose::enqueue(
                conn,
                &ctx.config,
                &ctx.links,
                &s.engagement,
                MailKind::HearingRescheduled,
                &extra,
            )?;
            s.payload = json!({"from_hearing": current.id, "from_slot": current.slot_id, "to_hearing": new.id, "to_slot": new.slot_id, "reason": why, "sequence": new.sequence, "mails": mails});
            Ok(())
        },
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    pub reason: String,
}

/// Cancels the scheduled hearing (its slot is withdrawn: it is not offered again by itself) and
/// queues the cancellation mail.
pub fn cancel(conn: &mut DbConnection, t: Target, ctx: &Ctx, reason: &str) -> AppResult<()> {
    let why = super::engagements::reason("reason", reason)?;
    step::step(
        conn,
        t,
        Action::CancelHearing,
        EventKind::HearingCancelled,
        |conn, s| {
            let current = db::hearings::scheduled(conn, &s.engagement.id)?
                .ok_or_else(|| refuse(rules::NO_HEARING))?;
            db::hearings::close_hearing(
                conn,
                &current.id,
                HearingStatus::Cancelled,
                None,
                None,
                Some(&why),
                s.now,
            )?;
            db::hearings::withdraw_slot(conn, &current.slot_id, s.now)?;
            let extra = Extra {
                acting_user: s.who.user_id(),
                previous: db::hearings::slot(conn, &current.slot_id)?,
                reason: Some(why.clone()),
                ..Default::default()
            };
            let mails = compose::enqueue(
                conn,
                &ctx.config,
                &ctx.links,
                &s.engagement,
                MailKind::HearingCancelled,
                &extra,
            )?;
            s.payload = json!({"hearing_id": current.id, "slot_id": current.slot_id, "reason": why, "mails": mails});
            Ok(())
        },
    )
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
pub fn record_outcome(conn: &mut DbConnection, t: Target, input: OutcomeIn) -> AppResult<()> {
    let kind = input.outcome.event();
    step::step(
        conn,
        t,
        Action::RecordHearingOutcome,
        kind,
        move |conn, s| {
            let current = db::hearings::scheduled(conn, &s.engagement.id)?
                .ok_or_else(|| refuse(rules::NO_HEARING))?;
            if let Some(doc) = &input.minutes_document_id {
                db::intake::document(conn, &s.engagement.id, doc)?
                    .filter(|d| d.purpose == DocPurpose::Minutes)
                    .ok_or_else(|| {
                        AppError::field(
                            "minutes_document_id",
                            "no minutes document with this id on this engagement",
                        )
                    })?;
            }
            db::hearings::close_hearing(
                conn,
                &current.id,
                input.outcome.status(),
                input.note.as_deref(),
                input.minutes_document_id.as_deref(),
                None,
                s.now,
            )?;
            if input.outcome.reaches_held() {
                s.reach(Milestone::HearingHeld);
            }
            s.payload = json!({"hearing_id": current.id, "outcome": input.outcome, "note": input.note, "minutes_document_id": input.minutes_document_id});
            Ok(())
        },
    )
}
