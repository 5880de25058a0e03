//! What a hospital's page form asks for (`Act`, read from the form's fields) and carrying it
//! out through the application layer, in a savepoint of its own.

use serde_json::json;

use super::handlers::{Opened, Origin};
use super::pages::{self, Notice, PageError};
use crate::app::AppState;
use crate::auth::links::{LinkError, Purpose};
use crate::db::{self, DbConnection};
use crate::domain::pipeline::{Milestone, SideState};
use crate::error::AppError;
use crate::service::intake::{self, Purpose as DocPurpose, Received};
use crate::service::step::{self, Target};
use crate::service::{engagements, hearings};

/// One action from a page form.
pub enum Act {
    Confirm,
    Decline {
        reason: String,
    },
    UploadMemorandum,
    UploadDiagram,
    Questionnaire {
        submit: bool,
        fields: Vec<(String, String)>,
    },
    Book {
        slot_id: String,
    },
    Reschedule {
        slot_id: String,
        reason: String,
    },
    Cancel {
        reason: String,
    },
    OtherDates {
        note: String,
    },
}

pub(super) fn parse_act(
    purpose: Purpose,
    fields: &[(String, String)],
    has_files: bool,
) -> Result<Act, Notice> {
    let fields = &pages::clean_form(fields)?;
    let get = |k: &str| {
        fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let action = get("action");
    let need = |v: String, what: &str| {
        if v.is_empty() {
            Err(Notice::Missing(what.to_owned()))
        } else {
            Ok(v)
        }
    };
    match (purpose, action.as_str()) {
        (Purpose::Participation, "confirm") => Ok(Act::Confirm),
        (Purpose::Participation, "decline") => Ok(Act::Decline {
            reason: need(get("reason"), "辞退の理由")?,
        }),
        (Purpose::Memorandum, _) if has_files => Ok(Act::UploadMemorandum),
        (Purpose::Diagram, _) if has_files => Ok(Act::UploadDiagram),
        (Purpose::Memorandum | Purpose::Diagram, _) => Err(Notice::Missing("ファイル".into())),
        (Purpose::Questionnaire, "save" | "submit") => Ok(Act::Questionnaire {
            submit: action == "submit",
            fields: fields.to_vec(),
        }),
        (Purpose::Hearing, "book") => Ok(Act::Book {
            slot_id: need(get("slot_id"), "ご希望の日時")?,
        }),
        (Purpose::Hearing, "reschedule") => Ok(Act::Reschedule {
            slot_id: need(get("slot_id"), "変更先の日時")?,
            reason: need(get("reason"), "変更の理由")?,
        }),
        (Purpose::Hearing, "cancel") => Ok(Act::Cancel {
            reason: need(get("reason"), "取消の理由")?,
        }),
        (Purpose::Hearing, "other_dates") => Ok(Act::OtherDates {
            note: need(get("note"), "ご都合のよい日時")?,
        }),
        _ => Err(Notice::Unknown),
    }
}

/// Carries out an action with the same use cases as the API; returns the `done` marker for the
/// page. Runs in a savepoint of its own, so that a refused action leaves nothing behind.
pub(super) fn perform(
    conn: &mut DbConnection,
    state: &AppState,
    opened: &Opened,
    origin: &Origin,
    action: Act,
    files: Vec<Received>,
) -> Result<&'static str, PageError> {
    db::atomic(conn, |conn| {
        perform_in(conn, state, opened, origin, action, files)
    })
}

fn perform_in(
    conn: &mut DbConnection,
    state: &AppState,
    opened: &Opened,
    origin: &Origin,
    action: Act,
    files: Vec<Received>,
) -> Result<&'static str, PageError> {
    let who = opened.who();
    // As it stands now, inside this transaction (the link was opened just before).
    let e = db::engagements::get(conn, &opened.engagement.id)?
        .ok_or(PageError::Link(LinkError::Invalid))?;
    let whence = json!({"ip": origin.ip, "user_agent": origin.user_agent});
    let ctx = state.ctx();
    let now = ctx.clock().now();
    let target = || Target {
        via: Some(whence.clone()),
        ..Target::loaded(who.clone(), e.clone(), now)
    };
    Ok(match action {
        Act::Confirm => {
            // A page rule: a second press (or a second tab) confirms what is already recorded.
            // The API has Idempotency-Key for the same purpose.
            if step::facts(conn, &e)?
                .milestones
                .contains(&Milestone::Consented)
            {
                return Ok("confirmed");
            }
            engagements::record_consent(conn, target(), json!({"by": "hospital"}))?;
            "confirmed"
        }
        Act::Decline { reason } => {
            engagements::set_side_state(conn, target(), SideState::Declined, &reason, None)
                .map_err(|e| match e {
                    AppError::Validation(_) => PageError::Form(Notice::BadReason),
                    other => other.into(),
                })?;
            "declined"
        }
        Act::UploadMemorandum => {
            intake::receive_documents(conn, target(), DocPurpose::MemorandumSigned, &files)?;
            "uploaded"
        }
        Act::UploadDiagram => {
            intake::receive_documents(conn, target(), DocPurpose::Diagram, &files)?;
            "uploaded"
        }
        Act::Questionnaire { submit, fields } => {
            let (_, template) = pages::questionnaire_template(conn, &e.id)?;
            let (answers, issues) = pages::parse_questionnaire_form(&template, &fields);
            if !issues.is_empty() {
                return Err(PageError::Form(Notice::Questionnaire(issues, answers)));
            }
            match intake::save_questionnaire(conn, target(), answers.clone(), submit) {
                Err(AppError::Validation(_)) => {
                    let issues = pages::issues_from(&template, &answers, submit);
                    return Err(PageError::Form(Notice::Questionnaire(issues, answers)));
                }
                other => other?,
            };
            if submit {
                "submitted"
            } else {
                "saved"
            }
        }
        Act::Book { slot_id } => {
            hearings::book(conn, target(), &ctx, &slot_id, &[])?;
            "booked"
        }
        Act::Reschedule { slot_id, reason } => {
            hearings::reschedule(conn, target(), &ctx, &slot_id, &reason)?;
            "rescheduled"
        }
        Act::Cancel { reason } => {
            hearings::cancel(conn, target(), &ctx, &reason)?;
            "cancelled"
        }
        Act::OtherDates { note } => {
            step::note(
                conn,
                &who,
                &e,
                now,
                step::EventKind::OtherDatesRequested,
                json!({"note": note, "via": whence}),
            )?;
            "requested"
        }
    })
}
