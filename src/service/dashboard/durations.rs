//! Business days spent in each stage: median and 90th percentile over the stage visits that
//! ended, and how that time splits between waiting on the hospital and waiting on the vendor.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::summary::SummaryQuery;
use super::{resolve, Viewer};
use crate::db::{self, DbConnection};
use crate::domain::flow::{percentile, round1, stage_spans, Happening};
use crate::domain::pipeline::{MemorandumStatus, Milestone, SideState, Stage};
use crate::error::AppResult;

/// Timeline events that change what is awaited (their payloads are read for a status or a
/// count only).
const KINDS: &[&str] = &[
    "memorandum_status",
    "questionnaire_submitted",
    "questionnaire_clarification_requested",
    "questionnaire_accepted",
    "slots_offered",
    "hearing_booked",
    "hearing_cancelled",
    "hearing_held",
    "hearing_no_show",
    "hearing_postponed",
    "backup_proposed",
    "declined",
    "withdrawn",
    "put_on_hold",
    "resumed",
];

fn happening(kind: &str, payload: &str) -> Option<Happening> {
    let value = || serde_json::from_str::<serde_json::Value>(payload).unwrap_or_default();
    Some(match kind {
        "memorandum_status" => {
            Happening::Memorandum(MemorandumStatus::parse(value()["to"].as_str()?)?)
        }
        "questionnaire_submitted" => Happening::Questionnaire("submitted"),
        "questionnaire_clarification_requested" => {
            Happening::Questionnaire("clarification_requested")
        }
        "questionnaire_accepted" => Happening::Questionnaire("accepted"),
        "slots_offered" => {
            Happening::SlotsOffered(value()["slots"].as_array().map_or(1, |s| s.len() as i64))
        }
        "hearing_booked" => Happening::HearingBooked,
        "hearing_cancelled" | "hearing_held" | "hearing_no_show" | "hearing_postponed" => {
            Happening::HearingClosed
        }
        "backup_proposed" => Happening::BackupProposed,
        "declined" => Happening::Side(Some(SideState::Declined)),
        "withdrawn" => Happening::Side(Some(SideState::Withdrawn)),
        "put_on_hold" => Happening::Side(Some(SideState::OnHold)),
        "resumed" => Happening::Side(None),
        _ => return None,
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StageDuration {
    pub stage: Stage,
    /// Stage visits that ended (the engagement moved on); the figures below are over these.
    pub finished: i64,
    /// Engagements in this stage now (not in the figures).
    pub in_progress: i64,
    /// Business days, one decimal.
    pub median_days: Option<f64>,
    pub p90_days: Option<f64>,
    /// Mean business days of a finished visit spent waiting on the hospital.
    pub waiting_on_hospital_days: Option<f64>,
    /// Mean business days of a finished visit spent waiting on the vendor.
    pub waiting_on_vendor_days: Option<f64>,
    /// Share of the finished visits' time spent waiting on the hospital (0–1).
    pub hospital_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Durations {
    pub as_of: DateTime<Utc>,
    pub round: String,
    /// Stages with a clock, in pipeline order (not `completed`).
    pub stages: Vec<StageDuration>,
}

pub fn durations(
    conn: &mut DbConnection,
    viewer: &Viewer,
    q: &SummaryQuery,
    now: DateTime<Utc>,
) -> AppResult<Durations> {
    let r = resolve(conn, viewer, &q.scope())?;
    let mut happenings: HashMap<String, Vec<(DateTime<Utc>, Happening)>> = HashMap::new();
    for (id, kind, at) in db::dashboard::milestones(conn, &r.filter)? {
        if let Some(m) = Milestone::parse(&kind) {
            happenings
                .entry(id)
                .or_default()
                .push((at.and_utc(), Happening::Reached(m)));
        }
    }
    for (id, kind, at, payload) in db::dashboard::events(conn, &r.filter, KINDS)? {
        if let Some(h) = happening(&kind, &payload) {
            happenings.entry(id).or_default().push((at.and_utc(), h));
        }
    }
    let mut finished: HashMap<Stage, Vec<(f64, f64, f64)>> = HashMap::new();
    let mut open: HashMap<Stage, i64> = HashMap::new();
    for (id, created) in db::dashboard::engagement_times(conn, &r.filter)? {
        let stays = stage_spans(
            created.and_utc(),
            happenings.get(&id).map(Vec::as_slice).unwrap_or(&[]),
            now,
        );
        for s in stays {
            if s.finished {
                finished
                    .entry(s.stage)
                    .or_default()
                    .push((s.days, s.hospital_days, s.vendor_days));
            } else {
                *open.entry(s.stage).or_default() += 1;
            }
        }
    }
    let stages = Stage::ALL
        .into_iter()
        .filter(|s| *s != Stage::Completed)
        .map(|stage| {
            let done = finished.remove(&stage).unwrap_or_default();
            let days: Vec<f64> = done.iter().map(|d| d.0).collect();
            let n = done.len() as f64;
            let (total, hospital, vendor) = done
                .iter()
                .fold((0.0, 0.0, 0.0), |a, d| (a.0 + d.0, a.1 + d.1, a.2 + d.2));
            StageDuration {
                stage,
                finished: done.len() as i64,
                in_progress: open.get(&stage).copied().unwrap_or(0),
                median_days: percentile(&days, 50.0).map(round1),
                p90_days: percentile(&days, 90.0).map(round1),
                waiting_on_hospital_days: (n > 0.0).then(|| round1(hospital / n)),
                waiting_on_vendor_days: (n > 0.0).then(|| round1(vendor / n)),
                hospital_share: (total > 0.0).then(|| (hospital / total * 100.0).round() / 100.0),
            }
        })
        .collect();
    Ok(Durations {
        as_of: now,
        round: r.round.name,
        stages,
    })
}
