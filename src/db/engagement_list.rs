//! The engagement list: its filters and sort keys, keyset pages, and the count and ids of the
//! same selection (bulk assignment, reminders, mail scopes).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::fixed::Fixed;
use super::schema::{engagements, hospitals};
use super::stamp::Stamp;
use super::{DbConnection, DbResult, MultiBackend, Scope};
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};
use crate::domain::pipeline::{SideState, Stage};

/// Filters of the engagement list; every field narrows.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub round_id: Option<RoundId>,
    pub prefecture_code: Option<String>,
    pub tier: Option<String>,
    pub stage: Option<String>,
    pub side_state: Option<String>,
    pub organization_id: Option<String>,
    /// Only engagements not assigned to any organisation.
    pub unassigned: bool,
    pub ids: Option<Vec<String>>,
    /// Stage → the moment before which entering it makes an engagement overdue.
    pub overdue: Option<Vec<(String, NaiveDateTime)>>,
    /// Part of the hospital's name or institution code.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Created,
    Rank,
    HospitalName,
    Stage,
    StageSince,
    UpdatedAt,
}

type Condition = Box<
    dyn BoxableExpression<
        diesel::dsl::InnerJoinQuerySource<engagements::table, hospitals::table>,
        MultiBackend,
        SqlType = Bool,
    >,
>;

fn overdue_condition(stages: &[(String, NaiveDateTime)]) -> Condition {
    super::overdue_on!(
        diesel::dsl::InnerJoinQuerySource<engagements::table, hospitals::table>,
        MultiBackend,
        stages
    )
}

/// Applies the list's scope and filter to a boxed query over engagements joined with their
/// hospitals, whatever it selects (a page, a count, the ids).
macro_rules! filtered {
    ($q:expr, $scope:expr, $f:expr) => {{
        let (scope, f): (&Scope, &Filter) = ($scope, $f);
        let mut q = $q;
        if let Scope::Orgs(ids) = scope {
            q = q.filter(engagements::organization_id.eq_any(ids.clone()));
        }
        if let Some(v) = &f.round_id {
            q = q.filter(engagements::round_id.eq(v.clone()));
        }
        if let Some(v) = &f.prefecture_code {
            q = q.filter(engagements::prefecture_code.eq(v.clone()));
        }
        if let Some(v) = &f.tier {
            q = q.filter(engagements::tier.eq(v.clone()));
        }
        if let Some(v) = &f.stage {
            q = q.filter(engagements::stage.eq(v.clone()));
        }
        if let Some(v) = &f.side_state {
            q = if v == "none" {
                q.filter(engagements::side_state.is_null())
            } else {
                q.filter(engagements::side_state.eq(v.clone()))
            };
        }
        if let Some(v) = &f.organization_id {
            q = q.filter(engagements::organization_id.eq(v.clone()));
        }
        if f.unassigned {
            q = q.filter(engagements::organization_id.is_null());
        }
        if let Some(ids) = &f.ids {
            q = q.filter(engagements::id.eq_any(ids.clone()));
        }
        if let Some(stages) = &f.overdue {
            q = q.filter(overdue_condition(stages));
        }
        if let Some(text) = &f.text {
            let pattern = format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            q = q.filter(
                hospitals::name
                    .like(pattern.clone())
                    .escape('\\')
                    .or(hospitals::institution_code.like(pattern).escape('\\')),
            );
        }
        q
    }};
}

/// One line of the engagement list: the columns it shows or sorts by, nothing else (each
/// timestamp is parsed from text on SQLite, and the full row has five).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = engagements)]
pub struct ListItem {
    pub id: EngagementId,
    pub round_id: RoundId,
    pub hospital_id: HospitalId,
    pub organization_id: Option<OrganizationId>,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub stage: Stage,
    #[diesel(deserialize_as = Stamp)]
    pub stage_since: NaiveDateTime,
    pub side_state: Option<SideState>,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// How many of the engagement's hospital's live contacts have an email: a correlated count
/// in the page's own statement (one cached statement instead of a second query over the
/// page's hospital ids, prepared anew for every page).
const CONTACTS_WITH_EMAIL: &str = "(SELECT COUNT(*) FROM contacts \
     WHERE contacts.hospital_id = engagements.hospital_id \
     AND contacts.removed_at IS NULL AND contacts.email IS NOT NULL)";

/// A list line, its hospital's name and institution code, and `CONTACTS_WITH_EMAIL`.
pub type ListRow = (ListItem, (String, String), i64);

/// The stage's place in the pipeline (selected first, completed last), for `sort=stage`: the
/// column holds the stage's name, which sorts alphabetically.
pub(crate) fn stage_order() -> String {
    let arms: String = crate::domain::pipeline::Stage::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| format!(" WHEN '{}' THEN {i}", s.as_str()))
        .collect();
    format!("CASE engagements.stage{arms} ELSE 99 END")
}

/// Where the previous page ended: the last row's sort key (none for `Sort::Created`, whose key
/// is the id) and id.
#[derive(Debug, Clone)]
pub enum KeyAfter {
    Id,
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
}

/// The SQL of a sort's key (`None`: the id alone). Unranked engagements sort after every rank
/// on both backends (SQLite would put NULL first, PostgreSQL last).
fn key_sql(sort: Sort) -> Option<String> {
    match sort {
        Sort::Created => None,
        Sort::Rank => Some(format!("COALESCE(engagements.rank, {})", i64::MAX)),
        Sort::HospitalName => Some("hospitals.name".into()),
        Sort::Stage => Some(stage_order()),
        Sort::StageSince => Some("engagements.stage_since".into()),
        Sort::UpdatedAt => Some("engagements.updated_at".into()),
    }
}

/// The rows after `(key, id)` in the order of `sort`.
fn after_condition(sort: Sort, descending: bool, key: &KeyAfter, id: &str) -> Condition {
    keyset(
        key_sql(sort).as_deref(),
        "engagements.id",
        descending,
        key,
        id,
    )
}

/// The keyset condition of every sorted list: the rows after `(k, i)` in the order
/// `key dir, tie ASC` — `key > k OR (key = k AND tie > i)` (`<` for descending); without a key,
/// `tie > i` (`<` for descending). `key` and `tie` are SQL of this crate, never input.
pub(crate) fn keyset<QS>(
    key: Option<&str>,
    tie: &str,
    descending: bool,
    after: &KeyAfter,
    id: &str,
) -> Box<dyn BoxableExpression<QS, MultiBackend, SqlType = Bool>> {
    let op = if descending { "<" } else { ">" };
    let id = id.to_owned();
    let bind = |f: Fixed<Bool>| match after {
        KeyAfter::Int(v) => f.int(*v),
        KeyAfter::Text(v) => f.text(v.clone()),
        KeyAfter::Time(v) => f.time(*v),
        KeyAfter::Id => f,
    };
    match (key, after) {
        (Some(k), KeyAfter::Int(_) | KeyAfter::Text(_) | KeyAfter::Time(_)) => Box::new(
            bind(bind(Fixed::new(format!("({k} {op} "))).sql(format!(" OR ({k} = ")))
                .sql(format!(" AND {tie} > "))
                .text(id)
                .sql("))"),
        ),
        _ => Box::new(Fixed::new(format!("{tie} {op} ")).text(id)),
    }
}

/// A page of the list: the rows after `after` (the first page without), at most `limit`.
#[allow(clippy::too_many_arguments)]
pub fn list(
    conn: &mut DbConnection,
    scope: &Scope,
    f: &Filter,
    sort: Sort,
    descending: bool,
    after: Option<(&KeyAfter, &str)>,
    limit: i64,
) -> DbResult<Vec<ListRow>> {
    let q = engagements::table
        .inner_join(hospitals::table)
        .select((
            ListItem::as_select(),
            (hospitals::name, hospitals::institution_code),
            Fixed::<diesel::sql_types::BigInt>::new(CONTACTS_WITH_EMAIL),
        ))
        .into_boxed::<MultiBackend>();
    let mut q = filtered!(q, scope, f);
    if let Some((key, id)) = after {
        q = q.filter(after_condition(sort, descending, key, id));
    }
    let q = match key_sql(sort) {
        None if descending => q.order(engagements::id.desc()),
        None => q.order(engagements::id.asc()),
        Some(k) => {
            let dir = if descending { "DESC" } else { "ASC" };
            q.order((
                Fixed::<diesel::sql_types::Text>::new(format!("{k} {dir}")),
                engagements::id.asc(),
            ))
        }
    };
    q.limit(limit).load(conn).map_err(Into::into)
}

/// A row's key under `sort`, for the next page's cursor.
pub fn key_of(sort: Sort, row: &ListRow) -> KeyAfter {
    let (e, (name, _), _) = row;
    match sort {
        Sort::Created => KeyAfter::Id,
        Sort::Rank => KeyAfter::Int(e.rank.unwrap_or(i64::MAX)),
        Sort::HospitalName => KeyAfter::Text(name.clone()),
        Sort::Stage => KeyAfter::Int(
            crate::domain::pipeline::Stage::ALL
                .iter()
                .position(|s| *s == e.stage)
                .map_or(99, |i| i as i64),
        ),
        Sort::StageSince => KeyAfter::Time(e.stage_since),
        Sort::UpdatedAt => KeyAfter::Time(e.updated_at),
    }
}

pub fn count(conn: &mut DbConnection, scope: &Scope, f: &Filter) -> DbResult<i64> {
    let q = engagements::table
        .inner_join(hospitals::table)
        .count()
        .into_boxed::<MultiBackend>();
    filtered!(q, scope, f).get_result(conn).map_err(Into::into)
}

/// Ids of all engagements matching a filter (for bulk assignment).
pub fn ids(conn: &mut DbConnection, scope: &Scope, f: &Filter) -> DbResult<Vec<EngagementId>> {
    let q = engagements::table
        .inner_join(hospitals::table)
        .select(engagements::id)
        .into_boxed::<MultiBackend>();
    filtered!(q, scope, f).load(conn).map_err(Into::into)
}
