//! Verification (findings and the report) and the optional offline-backup proposal: the use
//! cases behind the API's verification endpoints.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::step::{self, Target};
use crate::auth::Actor;
use crate::db::verification::{FindingRow, ProposalRow};
use crate::db::{self, utc, DbConnection};
use crate::domain::backup::{self, Estimate, Rate};
use crate::domain::documents::Purpose;
use crate::domain::events::EventKind;
use crate::domain::ids::EngagementId;
use crate::domain::pipeline::{Action, Milestone};
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};

pub use crate::domain::findings::{FindingStatus, Severity};

fn text<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingIn {
    pub title: String,
    pub severity: Severity,
    /// The external connection or device concerned.
    pub affected: Option<String>,
    pub recommendation: Option<String>,
    pub status: Option<FindingStatus>,
}

#[derive(Serialize, ToSchema)]
pub struct FindingOut {
    pub id: String,
    pub title: String,
    #[schema(value_type = Severity)]
    pub severity: String,
    pub affected: Option<String>,
    pub recommendation: Option<String>,
    #[schema(value_type = FindingStatus)]
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<FindingRow> for FindingOut {
    fn from(f: FindingRow) -> Self {
        Self {
            id: f.id,
            title: f.title,
            severity: f.severity.as_str().to_owned(),
            affected: f.affected,
            recommendation: f.recommendation,
            status: f.status.as_str().to_owned(),
            created_at: utc(f.created_at),
            updated_at: utc(f.updated_at),
        }
    }
}

/// The engagement's findings (confidential: coordinators of the engagement only).
pub fn findings(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &EngagementId,
) -> AppResult<Vec<FindingOut>> {
    step::load(conn, actor, id)?;
    Ok(db::verification::findings(conn, id)?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub fn check_finding(f: &FindingIn) -> AppResult<()> {
    let mut errors = Vec::new();
    validate::line("title", &f.title, 300, &mut errors);
    validate::multi_line_opt("affected", f.affected.as_deref(), &mut errors);
    validate::multi_line_opt("recommendation", f.recommendation.as_deref(), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Records a finding (only after the memorandum is executed).
pub fn record_finding(conn: &mut DbConnection, t: Target, f: FindingIn) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::Confidential,
        EventKind::FindingRecorded,
        move |conn, s| {
            let row = FindingRow {
                id: db::new_id(),
                engagement_id: s.engagement.id.clone(),
                title: f.title.trim().to_owned(),
                severity: f.severity,
                affected: f.affected,
                recommendation: f.recommendation,
                status: f.status.unwrap_or(FindingStatus::Open),
                created_at: s.now,
                updated_at: s.now,
            };
            db::verification::save_finding(conn, &row)?;
            // The timeline names the finding, not its content: the content is confidential.
            s.payload = json!({"finding_id": row.id, "severity": row.severity.as_str()});
            Ok(())
        },
    )
}

/// Changes a finding (e.g. its status).
pub fn update_finding(
    conn: &mut DbConnection,
    t: Target,
    finding_id: String,
    f: FindingIn,
) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::Confidential,
        EventKind::FindingUpdated,
        move |conn, s| {
            let mut row = db::verification::finding(conn, &s.engagement.id, &finding_id)?
                .ok_or_else(|| AppError::NotFound(format!("no finding {finding_id}")))?;
            row.title = f.title.trim().to_owned();
            row.severity = f.severity;
            row.affected = f.affected;
            row.recommendation = f.recommendation;
            if let Some(st) = f.status {
                row.status = st;
            }
            row.updated_at = s.now;
            db::verification::save_finding(conn, &row)?;
            s.payload = json!({"finding_id": row.id, "severity": row.severity.as_str(), "status": row.status.as_str()});
            Ok(())
        },
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportIn {
    /// Default: today in Japan.
    pub delivered_on: Option<NaiveDate>,
    /// The report, uploaded first as a document with purpose `report`.
    pub document_id: String,
    pub override_reason: Option<String>,
}

/// Records the verification report as delivered.
pub fn deliver_report(conn: &mut DbConnection, t: Target, r: ReportIn) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::DeliverReport,
        EventKind::ReportDelivered,
        move |conn, s| {
            db::intake::document(conn, &s.engagement.id, &r.document_id)?
                .filter(|d| d.purpose == Purpose::Report)
                .ok_or_else(|| {
                    AppError::field(
                        "document_id",
                        "no report document with this id on this engagement",
                    )
                })?;
            let on = r.delivered_on.unwrap_or_else(|| s.today_in_japan());
            s.payload = json!({"document_id": r.document_id, "delivered_on": on});
            s.reach(Milestone::ReportDelivered);
            Ok(())
        },
    )
}

/// The hospital's backup set-up today.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentBackup {
    pub copies: Option<i64>,
    /// e.g. `tape`, `rdx`, `nas`, `cloud`, `optical`, `external_hdd`.
    #[serde(default)]
    pub media: Vec<String>,
    /// At least one copy kept off the network.
    pub offline: Option<bool>,
    pub generations: Option<i64>,
    /// e.g. `daily`, `weekly`.
    pub frequency: Option<String>,
    pub last_restore_test: Option<NaiveDate>,
    pub capacity_tb: Option<f64>,
}

/// The design proposed; the hospital decides spec and generations itself.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposedBackup {
    pub capacity_tb: f64,
    pub generations: Option<i64>,
    /// e.g. `tape`, `rdx`, `offline_nas`, `immutable_cloud`, `optical`.
    #[serde(default)]
    pub media: Vec<String>,
    pub note: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposalIn {
    pub current: CurrentBackup,
    pub proposed: ProposedBackup,
}

#[derive(Serialize, ToSchema)]
pub struct ProposalOut {
    pub current: Option<Value>,
    pub proposed: Option<Value>,
    /// Reference cost range for the proposed capacity, at the configured rate.
    pub estimate: Option<Estimate>,
    pub rate: backup::Rate,
    /// `adopt`, `defer`, `decline`, or absent while the hospital considers it.
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub skipped_reason: Option<String>,
}

/// The backup proposal, if any.
pub fn proposal(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &EngagementId,
    rate: Rate,
) -> AppResult<ProposalOut> {
    step::load(conn, actor, id)?;
    let row = db::verification::proposal(conn, id)?
        .ok_or_else(|| AppError::NotFound("no backup proposal yet".into()))?;
    Ok(ProposalOut {
        current: serde_json::from_str(&row.current_state).ok(),
        proposed: serde_json::from_str(&row.proposal).ok(),
        estimate: match (row.estimate_min_jpy, row.estimate_max_jpy) {
            (Some(min_jpy), Some(max_jpy)) => Some(Estimate { min_jpy, max_jpy }),
            _ => None,
        },
        rate,
        decision: row.decision,
        decided_at: row.decided_at.map(utc),
        skipped_reason: row.skipped_reason,
    })
}

/// Checks a proposal before its step runs; answers its cost estimate at `rate`.
pub fn check_proposal(p: &ProposalIn, rate: Rate) -> AppResult<Estimate> {
    let estimate = backup::estimate(p.proposed.capacity_tb, rate).ok_or_else(|| {
        AppError::field(
            "proposed.capacity_tb",
            "must be a positive number of TB (at most 10000)",
        )
    })?;
    let mut errors = Vec::new();
    for (field, v) in [
        ("current.copies", p.current.copies),
        ("current.generations", p.current.generations),
        ("proposed.generations", p.proposed.generations),
    ] {
        if v.is_some_and(|n| !(0..=1000).contains(&n)) {
            errors.push(FieldError::new(field, "must be between 0 and 1000"));
        }
    }
    if errors.is_empty() {
        Ok(estimate)
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Proposes an offline-backup set-up with a cost estimate. Nothing is forced on the hospital.
pub fn propose(
    conn: &mut DbConnection,
    t: Target,
    p: ProposalIn,
    estimate: Estimate,
) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::BackupProposal,
        EventKind::BackupProposed,
        move |conn, s| {
            let row = ProposalRow {
                engagement_id: s.engagement.id.clone(),
                current_state: serde_json::to_string(&p.current).map_err(anyhow::Error::from)?,
                proposal: serde_json::to_string(&p.proposed).map_err(anyhow::Error::from)?,
                capacity_tb: Some(p.proposed.capacity_tb),
                estimate_min_jpy: Some(estimate.min_jpy),
                estimate_max_jpy: Some(estimate.max_jpy),
                decision: None,
                decided_at: None,
                skipped_reason: None,
                updated_at: s.now,
            };
            db::verification::save_proposal(conn, &row)?;
            // A new proposal reopens the hospital's decision.
            s.undo(Milestone::BackupDecided);
            s.undo(Milestone::BackupSkipped);
            s.payload = json!({"capacity_tb": p.proposed.capacity_tb, "estimate": estimate});
            Ok(())
        },
    )
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Adopt,
    Defer,
    Decline,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    pub decision: Decision,
    pub note: Option<String>,
}

/// Records the hospital's decision on the proposal (adopt, defer or decline: all close the step).
pub fn decide(conn: &mut DbConnection, t: Target, d: DecisionIn) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::BackupProposal,
        EventKind::BackupDecided,
        move |conn, s| {
            let mut row = db::verification::proposal(conn, &s.engagement.id)?
                .filter(|p| p.skipped_reason.is_none())
                .ok_or_else(|| {
                    AppError::conflict(
                        "no_backup_proposal",
                        "there is no backup proposal to decide on",
                    )
                })?;
            row.decision = Some(text(d.decision));
            row.decided_at = Some(s.now);
            row.updated_at = s.now;
            db::verification::save_proposal(conn, &row)?;
            s.reach(Milestone::BackupDecided);
            s.payload = json!({"decision": d.decision, "note": d.note});
            Ok(())
        },
    )
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipIn {
    pub reason: String,
}

/// Skips the backup proposal, with a reason (it is optional for the hospital).
pub fn skip(conn: &mut DbConnection, t: Target, why: String) -> AppResult<()> {
    step::step(
        conn,
        t,
        Action::BackupProposal,
        EventKind::BackupSkipped,
        move |conn, s| {
            let row = ProposalRow {
                engagement_id: s.engagement.id.clone(),
                current_state: "{}".into(),
                proposal: "{}".into(),
                capacity_tb: None,
                estimate_min_jpy: None,
                estimate_max_jpy: None,
                decision: None,
                decided_at: None,
                skipped_reason: Some(why.clone()),
                updated_at: s.now,
            };
            db::verification::save_proposal(conn, &row)?;
            s.undo(Milestone::BackupDecided);
            s.reach(Milestone::BackupSkipped);
            s.payload = json!({"reason": why});
            Ok(())
        },
    )
}
