//! The kinds of timeline events. Every step, note and bulk write names one of these; they are
//! stored as TEXT (`db/types.rs`) and answered as the same snake_case strings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! event_kinds {
    ($($(#[$doc:meta])* $v:ident => $s:literal,)*) => {
        /// What a timeline event records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum EventKind {
            $($(#[$doc])* $v,)*
        }

        impl EventKind {
            pub const ALL: &'static [EventKind] = &[$(EventKind::$v,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventKind::$v => $s,)*
                }
            }
        }
    };
}

event_kinds! {
    /// An engagement created by hand (the payload names the round).
    Selected => "selected",
    /// An engagement created by a selection-list import.
    Imported => "imported",
    /// A re-import changed an engagement's rank, tier or flags.
    ImportUpdated => "import_updated",
    /// Assigned to an organisation (or unassigned).
    Assigned => "assigned",
    /// Rank, secondary flag or note edited.
    DetailsChanged => "details_changed",
    /// The hospital's bed count moved it to another tier.
    TierChanged => "tier_changed",
    ContactAttempt => "contact_attempt",
    ConsentRecorded => "consent_recorded",
    Declined => "declined",
    Withdrawn => "withdrawn",
    PutOnHold => "put_on_hold",
    Resumed => "resumed",
    MemorandumStatus => "memorandum_status",
    DiagramUploaded => "diagram_uploaded",
    DocumentUploaded => "document_uploaded",
    DocumentDownloaded => "document_downloaded",
    QuestionnaireSaved => "questionnaire_saved",
    QuestionnaireSubmitted => "questionnaire_submitted",
    QuestionnaireAccepted => "questionnaire_accepted",
    QuestionnaireClarificationRequested => "questionnaire_clarification_requested",
    SlotsOffered => "slots_offered",
    HearingBooked => "hearing_booked",
    HearingRescheduled => "hearing_rescheduled",
    HearingCancelled => "hearing_cancelled",
    HearingHeld => "hearing_held",
    HearingNoShow => "hearing_no_show",
    HearingPostponed => "hearing_postponed",
    /// A contact asked for other hearing dates (through the page).
    OtherDatesRequested => "other_dates_requested",
    FindingRecorded => "finding_recorded",
    FindingUpdated => "finding_updated",
    ReportDelivered => "report_delivered",
    BackupProposed => "backup_proposed",
    BackupDecided => "backup_decided",
    BackupSkipped => "backup_skipped",
    Completed => "completed",
    /// A coordinator queued an email.
    EmailQueued => "email_queued",
    /// The scheduler queued a reminder.
    ReminderQueued => "reminder_queued",
    /// The scheduler queued an overdue nudge.
    NudgeQueued => "nudge_queued",
    /// A scheduled mail could not be queued (no usable address, …).
    MailError => "mail_error",
    LinkIssued => "link_issued",
    LinksRevoked => "links_revoked",
    /// A contact opened a page through an emailed link.
    LinkViewed => "link_viewed",
    /// The retention purge removed the engagement's confidential material.
    Purged => "purged",
}

impl EventKind {
    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn every_kind_round_trips_as_text_and_json() {
        for &k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::String(k.as_str().into()))
            );
        }
        assert_eq!(EventKind::parse("no_such_event"), None);
    }
}
