//! The cumulative flow by week: how many engagements had reached each stage by the end of each
//! week (weeks start on Monday, in Japan), rebuilt from the milestones so the past stays right.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{resolve, ScopeParams, Viewer};
use crate::db::{self, DbConnection};
use crate::domain::calendar::date_in_japan;
use crate::domain::flow::{monday_of, reach_times, weekly_flow, StageCounts};
use crate::domain::pipeline::Milestone;
use crate::error::{AppError, AppResult, FieldError};

/// At most five years of weeks in one answer.
pub const MAX_WEEKS: i64 = 260;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// Round id or name (`FY2025`); the latest round when absent.
    pub round: Option<String>,
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
    /// `week` (the only interval for now, and the default).
    pub interval: Option<String>,
    /// First week (any day of it); default: the week the first engagement was selected.
    pub from: Option<NaiveDate>,
    /// Last week (any day of it); default: this week.
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPoint {
    /// The Monday that starts the week.
    pub week_start: NaiveDate,
    /// How many had reached each stage (or gone beyond it) by the end of the week, or by now
    /// for this week.
    pub reached: StageCounts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trend {
    pub as_of: DateTime<Utc>,
    pub round: String,
    /// Always `week`.
    pub interval: String,
    pub points: Vec<TrendPoint>,
}

pub fn trend(
    conn: &mut DbConnection,
    viewer: &Viewer,
    q: &TrendQuery,
    now: DateTime<Utc>,
) -> AppResult<Trend> {
    let mut errors = Vec::new();
    if q.interval.as_deref().is_some_and(|i| i != "week") {
        errors.push(FieldError::new("interval", "only `week` is supported"));
    }
    if let (Some(a), Some(b)) = (q.from, q.to) {
        if a > b {
            errors.push(FieldError::new("from", "must not be after `to`"));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let r = resolve(
        conn,
        viewer,
        &ScopeParams {
            round: q.round.clone(),
            prefecture: q.prefecture.clone(),
            tier: q.tier.clone(),
            organization_id: q.organization_id.clone(),
        },
    )?;
    let created = db::dashboard::engagement_times(conn, &r.filter)?;
    let mut milestones: HashMap<String, Vec<(Milestone, DateTime<Utc>)>> = HashMap::new();
    for (id, kind, at) in db::dashboard::milestones(conn, &r.filter)? {
        if let Some(m) = Milestone::parse(&kind) {
            milestones.entry(id).or_default().push((m, at.and_utc()));
        }
    }
    let reached: Vec<_> = created
        .iter()
        .map(|(id, at)| {
            reach_times(
                at.and_utc(),
                milestones.get(id).map(Vec::as_slice).unwrap_or(&[]),
            )
        })
        .collect();
    let this_week = monday_of(date_in_japan(now));
    let first = q.from.map(monday_of).unwrap_or_else(|| {
        created
            .iter()
            .map(|(_, at)| monday_of(date_in_japan(at.and_utc())))
            .min()
            .unwrap_or(this_week)
            .min(this_week)
    });
    let last = q.to.map(monday_of).unwrap_or(this_week);
    let weeks = (last - first).num_days() / 7 + 1;
    if weeks > MAX_WEEKS {
        return Err(AppError::field(
            "from",
            format!("at most {MAX_WEEKS} weeks at a time"),
        ));
    }
    let mondays: Vec<NaiveDate> = (0..weeks.max(0))
        .map(|i| first + Duration::days(7 * i))
        .collect();
    let points = weekly_flow(&reached, &mondays, now)
        .into_iter()
        .zip(&mondays)
        .map(|(reached, monday)| TrendPoint {
            week_start: *monday,
            reached,
        })
        .collect();
    Ok(Trend {
        as_of: now,
        round: r.round.name,
        interval: "week".into(),
        points,
    })
}
