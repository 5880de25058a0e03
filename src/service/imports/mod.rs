//! Import of a prefecture's selection list (CSV in UTF-8 / UTF-8 with BOM / CP932, or XLSX):
//! hospitals, their contacts and one engagement each, matched on round + institution code so
//! that a second import of the same list changes nothing.

mod rows;

use rows::apply_row;
pub(super) use rows::{engagement_changes, hospital_changes, new_hospital, plan_contacts};

use chrono::NaiveDateTime;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::contacts::{contact_row, differs, save_contact, ContactIn};
use super::engagements::{create_engagement, Selection};
use super::import_batch as batch;
use super::step::{self as pipeline, Command, Who};
use crate::db::engagements::EngagementRow;
use crate::db::hospitals::{ContactRow, HospitalRow};
use crate::db::rounds::RoundRow;
use crate::db::{self, DbConnection};
use crate::domain::events::EventKind;
use crate::domain::ids::EngagementId;
use crate::domain::pipeline::Action;
use crate::domain::validate;
use crate::error::{AppError, AppResult, FieldError};
use crate::import::matching::{self, Listed, Stored};
use crate::import::{self, EmrStatus, Encoding, Format, RowOutcome, SelectionRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RowResult {
    Created,
    Updated,
    Unchanged,
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowProblem {
    /// The column as headed in the file (or `row`).
    pub column: String,
    pub reason_ja: String,
    pub reason_en: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RowReport {
    /// Line number in the file (the header is line 1).
    pub row: usize,
    pub result: RowResult,
    /// The row's institution code and hospital name, where valid (rejected rows too).
    pub institution_code: Option<String>,
    pub hospital_name: Option<String>,
    /// The row's engagement. Absent for rejected rows, and in a dry run for rows that would
    /// create one: it does not exist, and a real import gives it another id.
    #[schema(value_type = Option<String>)]
    pub engagement_id: Option<EngagementId>,
    /// For updated rows: the fields that changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<RowProblem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub round: String,
    pub dry_run: bool,
    pub partial: bool,
    /// Whether anything was written.
    pub written: bool,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub rows: Vec<RowReport>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub partial: bool,
    /// The list comes from a second recruitment call: its engagements are marked `secondary`.
    pub secondary: bool,
}

/// Runs an import in the caller's transaction. Rows that fail are reported; the caller decides
/// whether to keep the transaction (see [`run`]). What exists is read in a few queries; new
/// hospitals, contacts and engagements are written in multi-row statements; rows that change
/// stored data are written one at a time, each in a savepoint.
fn import_rows(
    conn: &mut DbConnection,
    who: &Who,
    round: &RoundRow,
    outcomes: Vec<RowOutcome>,
    opts: Options,
    now: NaiveDateTime,
) -> AppResult<ImportReport> {
    let mut report = ImportReport {
        round: round.name.clone(),
        dry_run: opts.dry_run,
        partial: opts.partial,
        written: false,
        created: 0,
        updated: 0,
        unchanged: 0,
        rejected: 0,
        rows: Vec::new(),
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    // Good rows, with their place in the report.
    let mut good: Vec<(usize, SelectionRow)> = Vec::new();
    for o in outcomes {
        let mut row = RowReport {
            row: o.row,
            result: RowResult::Rejected,
            institution_code: o.institution_code,
            hospital_name: o.hospital_name,
            engagement_id: None,
            changed: Vec::new(),
            problems: Vec::new(),
        };
        match o.result {
            Err(errors) => {
                row.problems = errors
                    .into_iter()
                    .map(|e| RowProblem {
                        column: e.column,
                        reason_ja: e.reason_ja,
                        reason_en: e.reason_en,
                    })
                    .collect();
            }
            Ok(r) => {
                if let Some(first) = seen.get(&r.institution_code) {
                    row.problems.push(RowProblem {
                        column: "医療機関コード".into(),
                        reason_ja: format!("{first}行目と同じ医療機関コードです"),
                        reason_en: format!("same institution code as row {first}"),
                    });
                } else {
                    seen.insert(r.institution_code.clone(), o.row);
                    good.push((report.rows.len(), r));
                }
            }
        }
        report.rows.push(row);
    }
    let known = batch::Known::load(conn, &round.id, &good)?;
    let mut pending = batch::Batch::default();
    for (at, r) in good {
        match batch::plan(&known, &mut pending, who, round, &r, opts.secondary, now) {
            Ok(Some((result, id, changed))) => {
                settle(&mut report.rows[at], opts, Ok((result, id, changed)))?;
                if result == RowResult::Created {
                    pending.rows.push((at, r));
                }
            }
            Ok(None) => {
                let outcome = one_row(conn, who, round, &r, opts, now);
                settle(&mut report.rows[at], opts, outcome)?;
            }
            Err(e) => settle(&mut report.rows[at], opts, Err(e))?,
        }
    }
    // The multi-row writes in a savepoint: should one fail (another writer created one of the
    // hospitals meanwhile), their rows are written one at a time instead, each reported.
    let rows = std::mem::take(&mut pending.rows);
    match db::atomic(conn, |c| pending.write(c)) {
        Ok(()) => {}
        Err(AppError::Internal(e)) => return Err(AppError::Internal(e)),
        Err(_) => {
            for (at, r) in rows {
                let outcome = one_row(conn, who, round, &r, opts, now);
                report.rows[at].engagement_id = None;
                report.rows[at].changed = Vec::new();
                settle(&mut report.rows[at], opts, outcome)?;
            }
        }
    }
    for row in &report.rows {
        match row.result {
            RowResult::Created => report.created += 1,
            RowResult::Updated => report.updated += 1,
            RowResult::Unchanged => report.unchanged += 1,
            RowResult::Rejected => report.rejected += 1,
        }
    }
    Ok(report)
}

/// One row written statement by statement, in a savepoint: a row that fails in the database
/// leaves no trace.
fn one_row(
    conn: &mut DbConnection,
    who: &Who,
    round: &RoundRow,
    r: &SelectionRow,
    opts: Options,
    now: NaiveDateTime,
) -> AppResult<(RowResult, EngagementId, Vec<String>)> {
    db::atomic(conn, |c| apply_row(c, who, round, r, opts.secondary, now))
}

/// Records a row's outcome in its report; an internal error ends the import.
fn settle(
    row: &mut RowReport,
    opts: Options,
    outcome: AppResult<(RowResult, EngagementId, Vec<String>)>,
) -> AppResult<()> {
    match outcome {
        Ok((result, id, changed)) => {
            // A dry run rolls back: an engagement it "creates" never exists.
            let real = !(opts.dry_run && result == RowResult::Created);
            row.engagement_id = real.then_some(id);
            row.result = result;
            row.changed = changed;
        }
        Err(AppError::Internal(e)) => return Err(AppError::Internal(e)),
        Err(e) => {
            row.result = RowResult::Rejected;
            row.problems.push(RowProblem {
                column: "row".into(),
                reason_ja: "この行は登録できませんでした".into(),
                reason_en: e.problem().detail,
            })
        }
    }
    Ok(())
}

/// Parses and imports a list. A dry run, or an all-or-nothing import with a rejected row,
/// rolls everything back; the report tells row by row what would have happened. `now` is the
/// channel's clock.
#[allow(clippy::too_many_arguments)]
pub fn run(
    db: &db::Db,
    who: &Who,
    round_key: &str,
    bytes: &[u8],
    format: Format,
    encoding: Option<Encoding>,
    opts: Options,
    now: NaiveDateTime,
) -> AppResult<ImportReport> {
    let outcomes = import::parse(bytes, format, encoding).map_err(|e| {
        let message = format!("{} / {}", e.ja(), e.en());
        if e.is_too_large() {
            AppError::PayloadTooLarge(message)
        } else {
            AppError::Validation(vec![FieldError::new("file", message)])
        }
    })?;
    let who = who.clone();
    let round_key = round_key.to_owned();
    let result = db.write_blocking(|conn| {
        let round = db::rounds::find(conn, &round_key)?
            .ok_or_else(|| AppError::field("round", "no round has this id or name"))?;
        let mut report = import_rows(conn, &who, &round, outcomes, opts, now)?;
        let keep = !opts.dry_run && (opts.partial || report.rejected == 0);
        if keep {
            report.written = report.created + report.updated > 0;
            Ok(report)
        } else {
            // Undo everything: the error carries the report out of the rolled-back transaction.
            Err(AppError::RolledBack(Box::new(
                serde_json::to_value(&report).map_err(anyhow::Error::from)?,
            )))
        }
    });
    match result {
        Err(AppError::RolledBack(v)) => {
            let report: ImportReport = serde_json::from_value(*v).map_err(anyhow::Error::from)?;
            if opts.dry_run {
                Ok(report)
            } else {
                Err(rejected_rows(report))
            }
        }
        other => other,
    }
}

/// An all-or-nothing import with bad rows: 422 naming each bad row and column.
fn rejected_rows(report: ImportReport) -> AppError {
    let errors = report
        .rows
        .iter()
        .flat_map(|r| {
            r.problems.iter().map(move |p| {
                FieldError::new(
                    format!("rows[{}].{}", r.row, p.column),
                    format!("{} / {}", p.reason_ja, p.reason_en),
                )
            })
        })
        .collect();
    AppError::Validation(errors)
}
