//! One demo engagement's story: its milestones, timeline events, documents, answers and hearing,
//! each step a few days after the last.

use chrono::{Duration, NaiveDateTime};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::json;

use crate::db;
use crate::db::demo::{Batch, EngagementInsert, MilestoneInsert};
use crate::db::engagements::EventRow;
use crate::db::hearings::{HearingRow, SlotRow as HearingSlot};
use crate::db::types::Json;
use crate::db::verification::ProposalRow;
use crate::domain::calendar::date_in_japan;
use crate::domain::events::EventKind;
use crate::domain::hearings::HearingStatus;
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};
use crate::domain::pipeline::{derive_stage, Milestone, Milestones, SideState, Stage};
use crate::domain::questionnaire::ResponseStatus;

pub(super) struct Plan<'a> {
    pub(super) round_id: &'a RoundId,
    pub(super) hospital_id: &'a HospitalId,
    pub(super) prefecture: &'a str,
    pub(super) tier: Option<String>,
    pub(super) org: Option<OrganizationId>,
    pub(super) created: NaiveDateTime,
    pub(super) now: NaiveDateTime,
    pub(super) rank: i64,
}

/// One engagement's story up to a stage drawn at random, each step a few days after the last,
/// never past `now`.
pub(super) fn engagement(
    rng: &mut StdRng,
    b: &mut Batch,
    responses: &mut Vec<db::intake::ResponseRow>,
    template_id: Option<String>,
    plan: Plan,
) {
    let id = EngagementId::new(db::new_id());
    // How far this one is meant to get: 0 = selected … 9 = completed.
    let target = match rng.random_range(0..100) {
        0..6 => 0,
        6..16 => 1,
        16..26 => 2,
        26..36 => 3,
        36..48 => 4,
        48..58 => 5,
        58..68 => 6,
        68..78 => 7,
        78..86 => 8,
        _ => 9,
    };
    let mut t = plan.created;
    let mut have = Milestones::new();
    let mut stage = Stage::Selected;
    let mut since = plan.created;
    let mut memorandum: Option<&str> = None;
    let mut executed_on = None;
    let mut questionnaire: Option<(ResponseStatus, NaiveDateTime)> = None;
    let mut events = Vec::new();
    let mut reached = Vec::new();
    let mut slot: Option<(String, NaiveDateTime)> = None;
    let mut hearing_status = None;
    let mut proposal: Option<ProposalRow> = None;
    // (step, gap in days, minimum stage target to take it)
    let steps: [(&str, (i64, i64), u8); 15] = [
        ("contacted", (1, 8), 1),
        ("consented", (2, 14), 2),
        ("memo_sent", (1, 5), 3),
        ("memo_signed", (2, 9), 3),
        ("memorandum_executed", (1, 4), 3),
        ("diagram_received", (2, 10), 4),
        ("questionnaire_submitted", (1, 9), 4),
        ("questionnaire_accepted", (1, 4), 4),
        ("slots_offered", (1, 5), 5),
        ("hearing_booked", (1, 6), 5),
        ("hearing_held", (5, 15), 5),
        ("report_delivered", (5, 18), 6),
        ("backup_proposed", (2, 9), 7),
        ("backup_done", (3, 12), 7),
        ("completed", (1, 6), 9),
    ];
    for (step, (lo, hi), min) in steps {
        if target < min {
            break;
        }
        let gap = Duration::hours(rng.random_range(lo * 24..=hi * 24));
        let at = if step == "hearing_held" {
            match &slot {
                Some((_, starts)) => *starts + Duration::hours(2),
                None => break,
            }
        } else {
            t + gap
        };
        if at > plan.now {
            break;
        }
        t = at;
        let (kind, payload, milestone) = match step {
            "contacted" => (
                EventKind::ContactAttempt,
                json!({"channel": "email", "outcome": "reached"}),
                Some(Milestone::Contacted),
            ),
            "consented" => (
                EventKind::ConsentRecorded,
                json!({}),
                Some(Milestone::Consented),
            ),
            "memo_sent" => {
                memorandum = Some("sent");
                (
                    EventKind::MemorandumStatus,
                    json!({"from": "draft", "to": "sent"}),
                    None,
                )
            }
            "memo_signed" => {
                memorandum = Some("signed_by_hospital");
                (
                    EventKind::MemorandumStatus,
                    json!({"from": "sent", "to": "signed_by_hospital"}),
                    None,
                )
            }
            "memorandum_executed" => {
                memorandum = Some("executed");
                executed_on = Some(date_in_japan(at.and_utc()));
                (
                    EventKind::MemorandumStatus,
                    json!({"from": "signed_by_hospital", "to": "executed"}),
                    Some(Milestone::MemorandumExecuted),
                )
            }
            "diagram_received" => (
                EventKind::DiagramUploaded,
                json!({}),
                Some(Milestone::DiagramReceived),
            ),
            "questionnaire_submitted" => {
                questionnaire = Some((ResponseStatus::Submitted, at));
                (
                    EventKind::QuestionnaireSubmitted,
                    json!({}),
                    Some(Milestone::QuestionnaireSubmitted),
                )
            }
            "questionnaire_accepted" => {
                questionnaire = questionnaire.map(|(_, s)| (ResponseStatus::Accepted, s));
                (
                    EventKind::QuestionnaireAccepted,
                    json!({}),
                    Some(Milestone::QuestionnaireAccepted),
                )
            }
            "slots_offered" => {
                let slot_id = db::new_id();
                // 10:00 in Japan, a week or two ahead.
                let day = date_in_japan(at.and_utc()) + Duration::days(rng.random_range(7..15));
                let starts = day.and_hms_opt(1, 0, 0).unwrap_or(at);
                slot = Some((slot_id.clone(), starts));
                b.hearing_slots.push(HearingSlot {
                    id: slot_id.clone(),
                    engagement_id: id.clone(),
                    starts_at: starts,
                    ends_at: starts + Duration::minutes(90),
                    format: "online".into(),
                    meeting_url: Some("https://meet.example/demo".into()),
                    place: None,
                    withdrawn_at: None,
                    created_at: at,
                });
                (EventKind::SlotsOffered, json!({"slots": [slot_id]}), None)
            }
            "hearing_booked" => {
                hearing_status = Some((HearingStatus::Scheduled, at));
                (EventKind::HearingBooked, json!({}), None)
            }
            "hearing_held" => {
                hearing_status = hearing_status.map(|(_, booked)| (HearingStatus::Held, booked));
                (
                    EventKind::HearingHeld,
                    json!({}),
                    Some(Milestone::HearingHeld),
                )
            }
            "report_delivered" => (
                EventKind::ReportDelivered,
                json!({}),
                Some(Milestone::ReportDelivered),
            ),
            "backup_proposed" => {
                let tb: f64 = rng.random_range(2..40) as f64;
                proposal = Some(ProposalRow {
                    engagement_id: id.clone(),
                    current_state: "{}".into(),
                    proposal: "{}".into(),
                    capacity_tb: Some(tb),
                    estimate_min_jpy: Some((tb * 300_000.0) as i64),
                    estimate_max_jpy: Some((tb * 400_000.0) as i64),
                    decision: None,
                    decided_at: None,
                    skipped_reason: None,
                    updated_at: at,
                });
                (EventKind::BackupProposed, json!({"capacity_tb": tb}), None)
            }
            "backup_done" => {
                if rng.random_bool(0.2) {
                    proposal = Some(ProposalRow {
                        engagement_id: id.clone(),
                        current_state: "{}".into(),
                        proposal: "{}".into(),
                        capacity_tb: None,
                        estimate_min_jpy: None,
                        estimate_max_jpy: None,
                        decision: None,
                        decided_at: None,
                        skipped_reason: Some("既存の体制で十分との判断（デモ）".into()),
                        updated_at: at,
                    });
                    (
                        EventKind::BackupSkipped,
                        json!({}),
                        Some(Milestone::BackupSkipped),
                    )
                } else {
                    let decision = ["adopt", "adopt", "defer", "decline"][rng.random_range(0..4)];
                    if let Some(p) = proposal.as_mut() {
                        p.decision = Some(decision.into());
                        p.decided_at = Some(at);
                        p.updated_at = at;
                    }
                    (
                        EventKind::BackupDecided,
                        json!({"decision": decision}),
                        Some(Milestone::BackupDecided),
                    )
                }
            }
            _ => (EventKind::Completed, json!({}), Some(Milestone::Completed)),
        };
        let before = stage;
        if let Some(m) = milestone {
            have.insert(m);
            reached.push(MilestoneInsert {
                engagement_id: id.clone(),
                kind: m.as_str().into(),
                at,
                actor: "system:demo".into(),
            });
        }
        stage = derive_stage(&have);
        if stage != before {
            since = at;
        }
        events.push(event(&id, at, kind, payload, before, stage));
    }
    // A few step aside: declined, withdrawn, on hold.
    let (side, reason, resume_on) = match rng.random_range(0..100) {
        0..4 if stage <= Stage::Consented => (
            Some(SideState::Declined),
            Some("院内の体制が整わないため（デモ）"),
            None,
        ),
        4..5 if stage < Stage::Completed => (
            Some(SideState::Withdrawn),
            Some("都道府県からの取り下げ（デモ）"),
            None,
        ),
        5..8 if stage < Stage::Completed => (
            Some(SideState::OnHold),
            Some("電子カルテ更新作業のため（デモ）"),
            Some(date_in_japan(plan.now.and_utc()) + Duration::days(30)),
        ),
        _ => (None, None, None),
    };
    if let Some(s) = side {
        let at = (t + Duration::hours(rng.random_range(24..24 * 7))).min(plan.now);
        let kind = match s {
            SideState::OnHold => EventKind::PutOnHold,
            SideState::Declined => EventKind::Declined,
            SideState::Withdrawn => EventKind::Withdrawn,
        };
        events.push(event(
            &id,
            at,
            kind,
            json!({"reason": reason}),
            stage,
            stage,
        ));
    }
    if let (Some((status, submitted)), Some(template_id)) = (questionnaire, template_id) {
        responses.push(db::intake::ResponseRow {
            engagement_id: id.clone(),
            template_id,
            answers: Json::empty_map(),
            status,
            submitted_at: Some(submitted),
            reviewed_at: None,
            review_comment: None,
            updated_at: submitted,
            version: 1,
        });
    }
    if let (Some((slot_id, _)), Some((status, booked))) = (&slot, hearing_status) {
        b.hearings.push(HearingRow {
            id: db::new_id(),
            engagement_id: id.clone(),
            slot_id: slot_id.clone(),
            status,
            attendees: Json::empty_list(),
            sequence: 0,
            outcome_note: None,
            minutes_document_id: None,
            cancel_reason: None,
            booked_at: booked,
            updated_at: booked,
        });
    }
    b.proposals.extend(proposal);
    b.milestones.extend(reached);
    b.events.push(event(
        &id,
        plan.created,
        EventKind::Selected,
        json!({"demo": true}),
        Stage::Selected,
        Stage::Selected,
    ));
    b.events.extend(events);
    b.engagements.push(EngagementInsert {
        id,
        round_id: plan.round_id.clone(),
        hospital_id: plan.hospital_id.clone(),
        organization_id: plan.org,
        prefecture_code: plan.prefecture.into(),
        tier: plan.tier,
        rank: Some(plan.rank),
        secondary: false,
        stage: stage.as_str().into(),
        stage_since: since,
        side_state: side.map(|s| s.as_str().into()),
        side_reason: reason.map(Into::into),
        resume_on,
        memorandum_status: memorandum.map(Into::into),
        memorandum_executed_on: executed_on,
        created_at: plan.created,
        updated_at: t,
        version: 1,
    });
}

fn event(
    engagement_id: &EngagementId,
    at: NaiveDateTime,
    kind: EventKind,
    payload: serde_json::Value,
    before: Stage,
    after: Stage,
) -> EventRow {
    EventRow {
        id: db::new_id(),
        engagement_id: engagement_id.clone(),
        at,
        actor_kind: "system".into(),
        actor_id: None,
        actor_label: "demo-data".into(),
        kind,
        payload: payload.to_string(),
        stage_before: before,
        stage_after: after,
        override_reason: None,
    }
}
