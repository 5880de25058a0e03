//! Hearing rules, one set for every channel (the API, the hospital's page, the mails that list
//! slots): which slots are open, and when a slot may be booked, a hearing rescheduled,
//! cancelled or given its outcome. Conflicts carry a stable code that clients and the pages act
//! on (the pages choose their Japanese text by it).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::events::EventKind;
use super::field::FieldError;
use super::validate;

/// A refusal because of the hearing's or the slot's current state (HTTP 409): a stable code
/// and a reason a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub code: &'static str,
    pub reason: &'static str,
}

const fn conflict(code: &'static str, reason: &'static str) -> Conflict {
    Conflict { code, reason }
}

pub const SLOT_WITHDRAWN: Conflict = conflict("slot_withdrawn", "this slot was withdrawn");
pub const SLOT_PAST: Conflict = conflict("slot_past", "this slot has already begun");
pub const SLOT_TAKEN: Conflict = conflict("slot_taken", "this slot has just been booked");
pub const HEARING_SCHEDULED: Conflict = conflict(
    "hearing_scheduled",
    "a hearing is already scheduled; reschedule it instead",
);
pub const NO_HEARING: Conflict = conflict("no_hearing", "no hearing is scheduled");
pub const SAME_SLOT: Conflict = conflict(
    "same_slot",
    "the hearing is already in this slot; choose another one",
);

/// Who attends a hearing.
pub const ATTENDEE_KINDS: [&str; 3] = ["vendor_staff", "hospital_contact", "system_vendor"];

/// Someone at the hearing: vendor staff, a hospital contact, or the hospital's system vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attendee {
    /// `vendor_staff`, `hospital_contact` or `system_vendor`.
    pub kind: String,
    pub name: String,
    pub email: Option<String>,
    /// The contact's or user's id, when known.
    pub ref_id: Option<String>,
}

/// Field problems of an attendee list, named `attendees[i].…`.
pub fn check_attendees(list: &[Attendee]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (i, a) in list.iter().enumerate() {
        if !ATTENDEE_KINDS.contains(&a.kind.as_str()) {
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
    errors
}

/// What the rules need to know of a slot.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub starts_at: DateTime<Utc>,
    pub withdrawn: bool,
    /// The scheduled hearing is in this slot.
    pub booked: bool,
}

/// A slot's state as every channel shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    Open,
    Booked,
    Withdrawn,
    /// Begun or over without a booking: no longer offered anywhere.
    Past,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Open => "open",
            SlotState::Booked => "booked",
            SlotState::Withdrawn => "withdrawn",
            SlotState::Past => "past",
        }
    }
}

pub fn slot_state(s: &Slot, now: DateTime<Utc>) -> SlotState {
    if s.withdrawn {
        SlotState::Withdrawn
    } else if s.booked {
        SlotState::Booked
    } else if s.starts_at <= now {
        SlotState::Past
    } else {
        SlotState::Open
    }
}

/// Whether a slot may still be chosen: offered, not withdrawn, not booked, not begun.
pub fn is_open(s: &Slot, now: DateTime<Utc>) -> bool {
    slot_state(s, now) == SlotState::Open
}

/// Booking `slot` when `scheduled` tells whether a hearing is already scheduled.
pub fn check_book(slot: &Slot, scheduled: bool, now: DateTime<Utc>) -> Result<(), Conflict> {
    if scheduled {
        return Err(HEARING_SCHEDULED);
    }
    bookable(slot, now)
}

fn bookable(slot: &Slot, now: DateTime<Utc>) -> Result<(), Conflict> {
    match slot_state(slot, now) {
        SlotState::Open => Ok(()),
        SlotState::Withdrawn => Err(SLOT_WITHDRAWN),
        SlotState::Booked => Err(SLOT_TAKEN),
        SlotState::Past => Err(SLOT_PAST),
    }
}

/// Moving the scheduled hearing (in `current_slot_id`) to `to`.
pub fn check_reschedule(
    current_slot_id: Option<&str>,
    to_id: &str,
    to: &Slot,
    now: DateTime<Utc>,
) -> Result<(), Conflict> {
    let current = current_slot_id.ok_or(NO_HEARING)?;
    if current == to_id {
        return Err(SAME_SLOT);
    }
    bookable(to, now)
}

/// Cancelling, or recording the outcome of, the scheduled hearing.
pub fn check_scheduled(scheduled: bool) -> Result<(), Conflict> {
    if scheduled {
        Ok(())
    } else {
        Err(NO_HEARING)
    }
}

/// Where a hearing stands. Only `Scheduled` is live; the others are history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HearingStatus {
    Scheduled,
    Held,
    NoShow,
    Postponed,
    Cancelled,
    /// Moved to another slot: a new hearing row continues it.
    Rescheduled,
}

impl HearingStatus {
    pub const ALL: [HearingStatus; 6] = [
        Self::Scheduled,
        Self::Held,
        Self::NoShow,
        Self::Postponed,
        Self::Cancelled,
        Self::Rescheduled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Held => "held",
            Self::NoShow => "no_show",
            Self::Postponed => "postponed",
            Self::Cancelled => "cancelled",
            Self::Rescheduled => "rescheduled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How a hearing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Held,
    NoShow,
    Postponed,
}

impl Outcome {
    /// The hearing's status after it.
    pub fn status(self) -> HearingStatus {
        match self {
            Outcome::Held => HearingStatus::Held,
            Outcome::NoShow => HearingStatus::NoShow,
            Outcome::Postponed => HearingStatus::Postponed,
        }
    }

    /// The timeline event's kind.
    pub fn event(self) -> EventKind {
        match self {
            Outcome::Held => EventKind::HearingHeld,
            Outcome::NoShow => EventKind::HearingNoShow,
            Outcome::Postponed => EventKind::HearingPostponed,
        }
    }

    /// Only a held hearing reaches the milestone.
    pub fn reaches_held(self) -> bool {
        self == Outcome::Held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2027-03-01T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn slot(hours_from_now: i64) -> Slot {
        Slot {
            starts_at: now() + Duration::hours(hours_from_now),
            withdrawn: false,
            booked: false,
        }
    }

    #[test]
    fn open_slots_are_future_unbooked_and_offered() {
        assert!(is_open(&slot(1), now()));
        assert!(!is_open(&slot(0), now()), "a slot beginning now is past");
        assert!(!is_open(&slot(-1), now()));
        assert!(!is_open(
            &Slot {
                withdrawn: true,
                ..slot(1)
            },
            now()
        ));
        assert!(!is_open(
            &Slot {
                booked: true,
                ..slot(1)
            },
            now()
        ));
        assert_eq!(
            slot_state(
                &Slot {
                    booked: true,
                    ..slot(-1)
                },
                now()
            ),
            SlotState::Booked,
            "a booked slot stays booked after it began"
        );
    }

    #[test]
    fn booking_names_why_not() {
        assert_eq!(check_book(&slot(2), false, now()), Ok(()));
        assert_eq!(check_book(&slot(2), true, now()), Err(HEARING_SCHEDULED));
        assert_eq!(check_book(&slot(-2), false, now()), Err(SLOT_PAST));
        let w = Slot {
            withdrawn: true,
            ..slot(2)
        };
        assert_eq!(check_book(&w, false, now()), Err(SLOT_WITHDRAWN));
    }

    #[test]
    fn reschedule_needs_a_hearing_and_another_open_slot() {
        assert_eq!(
            check_reschedule(None, "b", &slot(2), now()),
            Err(NO_HEARING)
        );
        assert_eq!(
            check_reschedule(Some("b"), "b", &slot(2), now()),
            Err(SAME_SLOT)
        );
        assert_eq!(
            check_reschedule(Some("a"), "b", &slot(-2), now()),
            Err(SLOT_PAST)
        );
        assert_eq!(check_reschedule(Some("a"), "b", &slot(2), now()), Ok(()));
        let booked = Slot {
            booked: true,
            ..slot(2)
        };
        assert_eq!(
            check_reschedule(Some("a"), "b", &booked, now()),
            Err(SLOT_TAKEN)
        );
    }

    #[test]
    fn cancel_and_outcome_need_a_scheduled_hearing() {
        assert_eq!(check_scheduled(false), Err(NO_HEARING));
        assert_eq!(check_scheduled(true), Ok(()));
        assert!(Outcome::Held.reaches_held());
        assert!(!Outcome::NoShow.reaches_held() && !Outcome::Postponed.reaches_held());
        assert_eq!(Outcome::NoShow.status(), HearingStatus::NoShow);
        for h in HearingStatus::ALL {
            assert_eq!(HearingStatus::parse(h.as_str()), Some(h));
        }
    }

    #[test]
    fn attendees_are_checked_per_field() {
        let ok = Attendee {
            kind: "vendor_staff".into(),
            name: "山田".into(),
            email: Some("a@example.jp".into()),
            ref_id: None,
        };
        assert!(check_attendees(std::slice::from_ref(&ok)).is_empty());
        let bad = Attendee {
            kind: "boss".into(),
            email: Some("nope".into()),
            ..ok
        };
        let fields: Vec<_> = check_attendees(&[bad])
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["attendees[0].kind", "attendees[0].email"]);
    }
}
