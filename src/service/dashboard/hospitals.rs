//! One row per hospital: where it stands, since when, what happens next and who holds it up.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{resolve, ScopeParams, Viewer};
use crate::db::dashboard::{HospitalLine, HospitalSort};
use crate::db::engagement_list::KeyAfter;
use crate::db::{self, DbConnection};
use crate::domain::calendar::date_in_japan;
use crate::domain::ids::{EngagementId, OrganizationId};
use crate::domain::pipeline::{
    self as rules, Facts, MemorandumStatus, Milestone, Party, Progress, SideState, Sla, Stage,
};
use crate::domain::prefectures;
use crate::error::{AppError, AppResult, FieldError};
use crate::service::cursor;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HospitalsQuery {
    /// Round id or name (`FY2025`); the latest round when absent.
    pub round: Option<String>,
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
    pub stage: Option<Stage>,
    /// Only those past their stage's SLA.
    pub overdue: Option<bool>,
    /// `institution_code` (default), `name`, `prefecture`, `tier`, `stage` (pipeline order),
    /// `since`; prefix `-` for descending.
    pub sort: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Also count the rows of all pages, as `total` (absent otherwise): a scan of every
    /// match, so ask only when the number is shown.
    pub count: Option<bool>,
}

impl HospitalsQuery {
    pub fn scope(&self) -> ScopeParams {
        ScopeParams {
            round: self.round.clone(),
            prefecture: self.prefecture.clone(),
            tier: self.tier.clone(),
            organization_id: self.organization_id.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NextStep {
    /// A stable code, e.g. `upload_diagram`.
    pub code: String,
    pub description: String,
    pub awaiting: Party,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HospitalRow {
    pub institution_code: String,
    pub name: String,
    pub prefecture_code: String,
    pub prefecture_name: String,
    pub tier: Option<String>,
    pub stage: Stage,
    /// Declined, withdrawn or on hold, beside the stage.
    pub side_state: Option<SideState>,
    /// The date (in Japan) the engagement entered its stage.
    pub since: NaiveDate,
    pub next_action: Option<NextStep>,
    pub overdue: bool,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub organization_name: Option<String>,
    /// The date (in Japan) of the scheduled hearing, or of the one held.
    pub hearing_date: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HospitalPage {
    pub as_of: DateTime<Utc>,
    pub round: String,
    /// Rows matching the filters, over all pages; only with `count=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    pub items: Vec<HospitalRow>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

fn parse_sort(raw: Option<&str>) -> AppResult<(HospitalSort, bool)> {
    let raw = raw.unwrap_or("institution_code");
    let (desc, key) = match raw.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, raw),
    };
    let sort = match key {
        "institution_code" => HospitalSort::InstitutionCode,
        "name" => HospitalSort::Name,
        "prefecture" => HospitalSort::Prefecture,
        "tier" => HospitalSort::Tier,
        "stage" => HospitalSort::Stage,
        "since" => HospitalSort::Since,
        _ => return Err(AppError::field(
            "sort",
            "institution_code, name, prefecture, tier, stage or since, optionally prefixed with -",
        )),
    };
    Ok((sort, desc))
}

/// Where a cursor of this table says the previous page ended.
fn after(
    raw: Option<&str>,
    sort_name: &str,
    sort: HospitalSort,
) -> AppResult<Option<(KeyAfter, String)>> {
    let Some(a) = cursor::decode(raw, sort_name)? else {
        return Ok(None);
    };
    let key = match sort {
        HospitalSort::InstitutionCode => KeyAfter::Id,
        HospitalSort::Stage => KeyAfter::Int(a.int()?),
        HospitalSort::Name | HospitalSort::Prefecture | HospitalSort::Tier => {
            KeyAfter::Text(a.text()?)
        }
        HospitalSort::Since => KeyAfter::Time(a.time()?),
    };
    Ok(Some((key, a.id)))
}

pub fn hospitals(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &HospitalsQuery,
    now: DateTime<Utc>,
) -> AppResult<HospitalPage> {
    let mut errors = Vec::new();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 500"));
    }
    let sort_name = q.sort.clone().unwrap_or_else(|| "institution_code".into());
    let sort = parse_sort(q.sort.as_deref());
    let after = match &sort {
        Ok((s, _)) => after(q.cursor.as_deref(), &sort_name, *s),
        Err(_) => Ok(None),
    };
    let (sort, after) = match (sort, after) {
        (Ok(s), Ok(a)) if errors.is_empty() => (s, a),
        (s, a) => {
            for e in [s.err(), a.err()].into_iter().flatten() {
                if let AppError::Validation(mut more) = e {
                    errors.append(&mut more);
                }
            }
            return Err(AppError::Validation(errors));
        }
    };
    let after = after.as_ref().map(|(k, id)| (k, id.as_str()));
    let (page, total, round) = lines(conn, sla, viewer, q, now, sort, after, Some(limit + 1))?;
    let (page, next_cursor) = cursor::page(page, limit, &sort_name, |l| {
        (
            cursor::key_after(db::dashboard::line_key_of(sort.0, l)),
            l.institution_code.clone(),
        )
    });
    Ok(HospitalPage {
        as_of: now,
        round,
        total,
        items: rows(conn, sla, page, now)?,
        next_cursor,
    })
}

/// All rows of the filtered table, sorted by institution code (for the export).
pub fn all_rows(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &HospitalsQuery,
    now: DateTime<Utc>,
) -> AppResult<(Vec<HospitalRow>, String)> {
    let (page, _, round) = lines(
        conn,
        sla,
        viewer,
        q,
        now,
        (HospitalSort::InstitutionCode, false),
        None,
        None,
    )?;
    Ok((rows(conn, sla, page, now)?, round))
}

#[allow(clippy::too_many_arguments)]
fn lines(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &HospitalsQuery,
    now: DateTime<Utc>,
    (sort, desc): (HospitalSort, bool),
    after: Option<(&KeyAfter, &str)>,
    limit: Option<i64>,
) -> AppResult<(Vec<HospitalLine>, Option<i64>, String)> {
    let mut r = resolve(conn, viewer, &q.scope())?;
    r.filter.stage = q.stage.map(|s| s.as_str().to_owned());
    if q.overdue == Some(true) {
        r.filter.overdue = Some(sla.cutoffs(now).as_filter());
    }
    let total = match q.count {
        Some(true) => Some(db::dashboard::count_lines(conn, &r.filter)?),
        _ => None,
    };
    let page = db::dashboard::hospital_lines(conn, &r.filter, sort, desc, after, limit)?;
    Ok((page, total, r.round.name))
}

/// Works out each line's next action with the pipeline's own rule.
fn rows(
    conn: &mut DbConnection,
    sla: &Sla,
    lines: Vec<HospitalLine>,
    now: DateTime<Utc>,
) -> AppResult<Vec<HospitalRow>> {
    let ids: Vec<EngagementId> = lines.iter().map(|l| l.engagement_id.clone()).collect();
    let facts = db::dashboard::next_facts(conn, &ids, now.naive_utc())?;
    let names = db::dashboard::organization_names(conn)?;
    let cutoffs = sla.cutoffs(now);
    Ok(lines
        .into_iter()
        .map(|l| {
            let stage = Stage::parse(&l.stage).unwrap_or(Stage::Selected);
            let side = l.side_state.as_deref().and_then(SideState::parse);
            let id = l.engagement_id.as_str();
            let scheduled = facts.scheduled.get(id).copied();
            let f = Facts {
                milestones: facts
                    .milestones
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| Milestone::parse(m))
                    .collect(),
                side_state: side,
                hearing_scheduled: scheduled.is_some(),
            };
            let p = Progress {
                memorandum: l
                    .memorandum_status
                    .as_deref()
                    .and_then(MemorandumStatus::parse),
                questionnaire: facts.questionnaire.get(id).cloned(),
                open_slots: facts.open_slots.get(id).copied().unwrap_or(0),
                hearing_scheduled: scheduled.is_some(),
                backup_proposed: facts.backup_proposed.contains(id),
            };
            let since = l.stage_since.and_utc();
            HospitalRow {
                next_action: rules::next_action(stage, &f, &p, since).map(|n| NextStep {
                    code: n.code.into(),
                    description: n.description.into(),
                    awaiting: n.awaiting,
                }),
                overdue: cutoffs.is_overdue(stage, side, since),
                hearing_date: scheduled
                    .or_else(|| facts.held.get(id).copied())
                    .map(|t| date_in_japan(t.and_utc())),
                prefecture_name: prefectures::find(&l.prefecture_code)
                    .map(|p| p.name_ja.clone())
                    .unwrap_or_default(),
                organization_name: l
                    .organization_id
                    .as_ref()
                    .and_then(|o| names.get(o.as_str()).cloned()),
                institution_code: l.institution_code,
                name: l.hospital_name,
                prefecture_code: l.prefecture_code,
                tier: l.tier,
                stage,
                side_state: side,
                since: date_in_japan(since),
                organization_id: l.organization_id,
            }
        })
        .collect())
}
