//! Queries on engagements, their milestones and their timeline.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::schema::{engagements, events, hospitals, milestones};
use super::{DbConnection, DbResult, MultiBackend, Scope};
use crate::domain::events::EventKind;
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};
use crate::domain::pipeline::{MemorandumStatus, SideState, Stage};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = engagements)]
pub struct EngagementRow {
    pub id: EngagementId,
    pub round_id: RoundId,
    pub hospital_id: HospitalId,
    pub organization_id: Option<OrganizationId>,
    pub prefecture_code: String,
    pub tier: Option<String>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub note: Option<String>,
    pub stage: Stage,
    pub stage_since: NaiveDateTime,
    pub side_state: Option<SideState>,
    pub side_reason: Option<String>,
    pub resume_on: Option<NaiveDate>,
    pub memorandum_status: Option<MemorandumStatus>,
    pub memorandum_template: Option<String>,
    pub memorandum_executed_on: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Insertable)]
#[diesel(table_name = engagements)]
pub struct NewEngagement<'a> {
    pub id: &'a EngagementId,
    pub round_id: &'a RoundId,
    pub hospital_id: &'a HospitalId,
    pub organization_id: Option<&'a OrganizationId>,
    pub prefecture_code: &'a str,
    pub tier: Option<&'a str>,
    pub rank: Option<i64>,
    pub secondary: bool,
    pub note: Option<&'a str>,
    pub stage: Stage,
    pub stage_since: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

/// Fields a command may change besides milestones.
#[derive(AsChangeset, Default)]
#[diesel(table_name = engagements)]
pub struct EngagementChanges {
    pub organization_id: Option<Option<OrganizationId>>,
    pub tier: Option<Option<String>>,
    pub rank: Option<Option<i64>>,
    pub secondary: Option<bool>,
    pub note: Option<Option<String>>,
    pub side_state: Option<Option<SideState>>,
    pub side_reason: Option<Option<String>>,
    pub resume_on: Option<Option<NaiveDate>>,
    pub memorandum_status: Option<Option<MemorandumStatus>>,
    pub memorandum_template: Option<Option<String>>,
    pub memorandum_executed_on: Option<Option<NaiveDate>>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = milestones)]
pub struct MilestoneRow {
    pub engagement_id: EngagementId,
    pub kind: String,
    pub at: NaiveDateTime,
    pub actor: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: String,
    pub engagement_id: EngagementId,
    pub at: NaiveDateTime,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub actor_label: String,
    pub kind: EventKind,
    pub payload: String,
    pub stage_before: Stage,
    pub stage_after: Stage,
    pub override_reason: Option<String>,
}

pub fn insert(conn: &mut DbConnection, new: &NewEngagement) -> DbResult<()> {
    diesel::insert_into(engagements::table)
        .values(new)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn get(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<EngagementRow>> {
    engagements::table
        .find(id)
        .select(EngagementRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// The engagement if the scope may see it; otherwise None, as if it did not exist.
pub fn get_scoped(
    conn: &mut DbConnection,
    id: &EngagementId,
    scope: &Scope,
) -> DbResult<Option<EngagementRow>> {
    Ok(get(conn, id)?.filter(|e| match scope {
        Scope::All => true,
        Scope::Orgs(_) => e.organization_id.as_ref().is_some_and(|o| scope.allows(o)),
    }))
}

pub fn for_hospital(
    conn: &mut DbConnection,
    hospital_id: &HospitalId,
) -> DbResult<Vec<EngagementRow>> {
    engagements::table
        .filter(engagements::hospital_id.eq(hospital_id))
        .select(EngagementRow::as_select())
        .load(conn)
        .map_err(Into::into)
}

pub fn find_by_round_hospital(
    conn: &mut DbConnection,
    round_id: &RoundId,
    hospital_id: &HospitalId,
) -> DbResult<Option<EngagementRow>> {
    engagements::table
        .filter(engagements::round_id.eq(round_id))
        .filter(engagements::hospital_id.eq(hospital_id))
        .select(EngagementRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn update(
    conn: &mut DbConnection,
    id: &EngagementId,
    changes: &EngagementChanges,
    now: NaiveDateTime,
) -> DbResult<()> {
    // An empty changeset is an error in diesel; the version bump below records the change.
    let empty = changes.organization_id.is_none()
        && changes.tier.is_none()
        && changes.rank.is_none()
        && changes.secondary.is_none()
        && changes.note.is_none()
        && changes.side_state.is_none()
        && changes.side_reason.is_none()
        && changes.resume_on.is_none()
        && changes.memorandum_status.is_none()
        && changes.memorandum_template.is_none()
        && changes.memorandum_executed_on.is_none();
    if !empty {
        diesel::update(engagements::table.find(id))
            .set(changes)
            .execute(conn)?;
    }
    diesel::update(engagements::table.find(id))
        .set(engagements::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Raises the version if it is still `version`; false when someone else changed it meanwhile.
/// Locks the engagement's row for the rest of the transaction (a no-op write: PostgreSQL holds
/// the row lock until commit; SQLite writers queue anyway) and reads it as it now stands, so
/// concurrent steps on one engagement run one after the other instead of failing each other.
pub fn lock(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Option<EngagementRow>> {
    diesel::update(engagements::table.find(id))
        .set(engagements::version.eq(engagements::version))
        .execute(conn)?;
    get(conn, id)
}

pub fn bump_version(conn: &mut DbConnection, id: &EngagementId, version: i64) -> DbResult<bool> {
    let n = diesel::update(
        engagements::table
            .filter(engagements::id.eq(id))
            .filter(engagements::version.eq(version)),
    )
    .set(engagements::version.eq(version + 1))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_stage(
    conn: &mut DbConnection,
    id: &EngagementId,
    stage: &str,
    since: NaiveDateTime,
) -> DbResult<()> {
    diesel::update(engagements::table.find(id))
        .set((
            engagements::stage.eq(stage),
            engagements::stage_since.eq(since),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn milestones(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Vec<MilestoneRow>> {
    super::native!(conn, |c| milestones::table
        .filter(milestones::engagement_id.eq(id))
        .order(milestones::at.asc())
        .select(MilestoneRow::as_select())
        .load(c)
        .map_err(Into::into))
}

/// Records a milestone once; a second record of the same milestone keeps the first.
pub fn add_milestone(
    conn: &mut DbConnection,
    id: &EngagementId,
    kind: &str,
    at: NaiveDateTime,
    actor: &str,
) -> DbResult<bool> {
    let exists = diesel::select(diesel::dsl::exists(
        milestones::table
            .filter(milestones::engagement_id.eq(id))
            .filter(milestones::kind.eq(kind)),
    ))
    .get_result::<bool>(conn)?;
    if exists {
        return Ok(false);
    }
    diesel::insert_into(milestones::table)
        .values((
            milestones::engagement_id.eq(id),
            milestones::kind.eq(kind),
            milestones::at.eq(at),
            milestones::actor.eq(actor),
        ))
        .execute(conn)?;
    Ok(true)
}

pub fn remove_milestone(conn: &mut DbConnection, id: &EngagementId, kind: &str) -> DbResult<()> {
    diesel::delete(
        milestones::table
            .filter(milestones::engagement_id.eq(id))
            .filter(milestones::kind.eq(kind)),
    )
    .execute(conn)
    .map(|_| ())
    .map_err(Into::into)
}

pub fn insert_event(conn: &mut DbConnection, event: &EventRow) -> DbResult<()> {
    diesel::insert_into(events::table)
        .values(event)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn timeline(conn: &mut DbConnection, id: &EngagementId) -> DbResult<Vec<EventRow>> {
    super::native!(conn, |c| events::table
        .filter(events::engagement_id.eq(id))
        .order((events::at.asc(), events::id.asc()))
        .select(EventRow::as_select())
        .load(c)
        .map_err(Into::into))
}

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
    let mut cond: Condition = Box::new(diesel::dsl::sql::<Bool>("1 = 0"));
    for (stage, cutoff) in stages {
        cond = Box::new(
            cond.or(engagements::stage
                .eq(stage.clone())
                .and(engagements::stage_since.lt(*cutoff))),
        );
    }
    Box::new(engagements::side_state.is_null().and(cond))
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
    pub stage_since: NaiveDateTime,
    pub side_state: Option<SideState>,
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
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let op = if descending { "<" } else { ">" };
    let id = id.to_owned();
    let Some(k) = key else {
        return Box::new(sql::<Bool>(&format!("{tie} {op} ")).bind::<Text, _>(id));
    };
    let head = format!("({k} {op} ");
    let mid = format!(" OR ({k} = ");
    let tail = format!(" AND {tie} > ");
    match after.clone() {
        KeyAfter::Int(v) => Box::new(
            sql::<Bool>(&head)
                .bind::<BigInt, _>(v)
                .sql(&mid)
                .bind::<BigInt, _>(v)
                .sql(&tail)
                .bind::<Text, _>(id)
                .sql("))"),
        ),
        KeyAfter::Text(v) => Box::new(
            sql::<Bool>(&head)
                .bind::<Text, _>(v.clone())
                .sql(&mid)
                .bind::<Text, _>(v)
                .sql(&tail)
                .bind::<Text, _>(id)
                .sql("))"),
        ),
        KeyAfter::Time(v) => Box::new(
            sql::<Bool>(&head)
                .bind::<Timestamp, _>(v)
                .sql(&mid)
                .bind::<Timestamp, _>(v)
                .sql(&tail)
                .bind::<Text, _>(id)
                .sql("))"),
        ),
        KeyAfter::Id => Box::new(sql::<Bool>(&format!("{tie} {op} ")).bind::<Text, _>(id)),
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
    use diesel::dsl::sql;
    let q = engagements::table
        .inner_join(hospitals::table)
        .select((
            ListItem::as_select(),
            (hospitals::name, hospitals::institution_code),
            sql::<diesel::sql_types::BigInt>(CONTACTS_WITH_EMAIL),
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
                sql::<diesel::sql_types::Text>(&format!("{k} {dir}")),
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
