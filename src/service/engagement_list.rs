//! The engagement list as every channel reads it: the query's filters and sort, keyset
//! pages, and the lines with their overdue and needs-contacts flags.

use serde::Deserialize;
use utoipa::IntoParams;

use super::cursor;
use super::engagements::{EngagementList, EngagementSummary, HospitalBrief};
use super::step::engagement_scope;
use crate::auth::Actor;
use crate::config::Config;
use crate::db::engagement_list::{Filter, KeyAfter, Sort};
use crate::db::{self, utc, DbConnection};
use crate::domain::pipeline::{Cutoffs, SideState, Stage};
use crate::domain::prefectures;
use crate::error::{AppError, AppResult, FieldError};

#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Round id or name (`FY2025`).
    pub round: Option<String>,
    /// JIS code or name.
    pub prefecture: Option<String>,
    /// Tier label, e.g. `100-199`.
    pub tier: Option<String>,
    pub stage: Option<Stage>,
    /// `declined`, `withdrawn`, `on_hold`, or `none` for engagements in no side state.
    pub side_state: Option<String>,
    pub organization_id: Option<String>,
    /// Only engagements assigned to no organisation.
    pub unassigned: Option<bool>,
    /// Only engagements past their stage's SLA.
    pub overdue: Option<bool>,
    /// Part of the hospital's name or institution code.
    pub q: Option<String>,
    /// `created` (default), `rank`, `hospital_name`, `stage`, `stage_since`, `updated_at`;
    /// prefix `-` for descending.
    pub sort: Option<String>,
    /// 1–200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
    /// Also count every matching engagement, in all pages, as `total` (absent otherwise):
    /// a scan of all matches, so ask for it only when the number is shown.
    pub count: Option<bool>,
}

impl ListQuery {
    /// The list's filter; `cutoffs` are the request's one reading of the overdue rule (the
    /// items' flags use the same).
    pub fn filter(&self, conn: &mut DbConnection, cutoffs: &Cutoffs) -> AppResult<Filter> {
        let mut errors = Vec::new();
        let round_id = match &self.round {
            Some(r) => match db::rounds::find(conn, r)? {
                Some(round) => Some(round.id),
                None => {
                    errors.push(FieldError::new("round", "no round has this id or name"));
                    None
                }
            },
            None => None,
        };
        let prefecture_code = match &self.prefecture {
            Some(p) => match prefectures::find(p) {
                Some(p) => Some(p.code.clone()),
                None => {
                    errors.push(FieldError::new("prefecture", "unknown prefecture"));
                    None
                }
            },
            None => None,
        };
        if let Some(s) = &self.side_state {
            if s != "none" && SideState::parse(s).is_none() {
                errors.push(FieldError::new(
                    "side_state",
                    "declined, withdrawn, on_hold or none",
                ));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(Filter {
            round_id,
            prefecture_code,
            tier: self.tier.clone(),
            stage: self.stage.map(|s| s.as_str().to_owned()),
            side_state: self.side_state.clone(),
            organization_id: self.organization_id.clone(),
            unassigned: self.unassigned.unwrap_or(false),
            ids: None,
            overdue: self.overdue.filter(|o| *o).map(|_| cutoffs.as_filter()),
            text: self
                .q
                .clone()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty()),
        })
    }

    fn sort(&self) -> AppResult<(Sort, bool)> {
        let raw = self.sort.as_deref().unwrap_or("created");
        let (desc, key) = match raw.strip_prefix('-') {
            Some(k) => (true, k),
            None => (false, raw),
        };
        let sort = match key {
            "created" => Sort::Created,
            "rank" => Sort::Rank,
            "hospital_name" => Sort::HospitalName,
            "stage" => Sort::Stage,
            "stage_since" => Sort::StageSince,
            "updated_at" => Sort::UpdatedAt,
            _ => return Err(AppError::field("sort", "created, rank, hospital_name, stage, stage_since or updated_at, optionally prefixed with -")),
        };
        Ok((sort, desc))
    }
}

/// Where a cursor of this list says the previous page ended.
fn after(raw: Option<&str>, sort_name: &str, sort: Sort) -> AppResult<Option<(KeyAfter, String)>> {
    let Some(a) = cursor::decode(raw, sort_name)? else {
        return Ok(None);
    };
    let key = match sort {
        Sort::Created => KeyAfter::Id,
        Sort::Rank | Sort::Stage => KeyAfter::Int(a.int()?),
        Sort::HospitalName => KeyAfter::Text(a.text()?),
        Sort::StageSince | Sort::UpdatedAt => KeyAfter::Time(a.time()?),
    };
    Ok(Some((key, a.id)))
}

/// A page of the engagements `actor` may see, at most `limit` lines (already checked).
pub fn list(
    conn: &mut DbConnection,
    config: &Config,
    actor: &Actor,
    q: &ListQuery,
    limit: i64,
) -> AppResult<EngagementList> {
    let (sort, desc) = q.sort()?;
    let sort_name = q.sort.as_deref().unwrap_or("created");
    let after = after(q.cursor.as_deref(), sort_name, sort)?;
    let scope = engagement_scope(conn, actor)?;
    let cutoffs = config.sla.cutoffs(config.clock.now_utc());
    let filter = q.filter(conn, &cutoffs)?;
    let total = match q.count.unwrap_or(false) {
        true => Some(db::engagement_list::count(conn, &scope, &filter)?),
        false => None,
    };
    let after = after.as_ref().map(|(k, id)| (k, id.as_str()));
    let rows = db::engagement_list::list(conn, &scope, &filter, sort, desc, after, limit + 1)?;
    let (rows, next_cursor) = cursor::page(rows, limit, sort_name, |r| {
        (
            cursor::key_after(db::engagement_list::key_of(sort, r)),
            r.0.id.to_string(),
        )
    });
    let items = rows
        .into_iter()
        .map(|(e, (name, code), with_email)| EngagementSummary {
            needs_contacts: super::hospitals::needs_contacts(with_email),
            overdue: cutoffs.is_overdue(e.stage, e.side_state, utc(e.stage_since)),
            hospital: HospitalBrief {
                id: e.hospital_id.clone(),
                name,
                institution_code: code,
            },
            stage: e.stage,
            side_state: e.side_state,
            stage_since: utc(e.stage_since),
            id: e.id,
            round_id: e.round_id,
            prefecture_code: e.prefecture_code,
            tier: e.tier,
            rank: e.rank,
            secondary: e.secondary,
            organization_id: e.organization_id,
            version: e.version,
        })
        .collect();
    Ok(EngagementList {
        items,
        total,
        next_cursor,
    })
}
