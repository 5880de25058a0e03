//! Set-based reads and writes for the bulk use cases (list import, assignment): one query per
//! chunk instead of one round trip per row — the round trips, not the work, made a 2,000-row
//! import take seconds on PostgreSQL.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::engagements::{EngagementRow, EventRow, MilestoneRow, NewEngagement};
use super::hospitals::{ContactRow, HospitalRow};
use super::schema::{contacts, engagements, events, hospitals, milestones};
use super::{DbConnection, DbResult};
use crate::domain::ids::{EngagementId, HospitalId, OrganizationId, RoundId};

/// Rows per statement: 500 rows of up to 21 columns stay well under both backends' limits on
/// bound parameters (SQLite 32,766, PostgreSQL 65,535).
pub const CHUNK: usize = 500;

/// Runs a statement on the connection's own backend: diesel's multi-row `INSERT` is not
/// available through the `MultiConnection` wrapper.
macro_rules! per_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConnection::Pg($c) => $body,
            DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `f` on each chunk of `keys` and concatenates the results.
fn chunked<K, T>(
    conn: &mut DbConnection,
    keys: &[K],
    mut f: impl FnMut(&mut DbConnection, &[K]) -> QueryResult<Vec<T>>,
) -> DbResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        out.extend(f(conn, chunk)?);
    }
    Ok(out)
}

pub fn hospitals_by_codes(conn: &mut DbConnection, codes: &[String]) -> DbResult<Vec<HospitalRow>> {
    chunked(conn, codes, |conn, c| {
        hospitals::table
            .filter(hospitals::institution_code.eq_any(c))
            .select(HospitalRow::as_select())
            .load(conn)
    })
}

/// The live contacts of these hospitals, in each hospital's order (position, id).
pub fn contacts_of(
    conn: &mut DbConnection,
    hospital_ids: &[HospitalId],
) -> DbResult<Vec<ContactRow>> {
    chunked(conn, hospital_ids, |conn, ids| {
        contacts::table
            .filter(contacts::hospital_id.eq_any(ids))
            .filter(contacts::removed_at.is_null())
            .order((
                contacts::hospital_id.asc(),
                contacts::position.asc(),
                contacts::id.asc(),
            ))
            .select(ContactRow::as_select())
            .load(conn)
    })
}

pub fn engagements_in_round(
    conn: &mut DbConnection,
    round_id: &RoundId,
    hospital_ids: &[HospitalId],
) -> DbResult<Vec<EngagementRow>> {
    chunked(conn, hospital_ids, |conn, ids| {
        engagements::table
            .filter(engagements::round_id.eq(round_id))
            .filter(engagements::hospital_id.eq_any(ids))
            .select(EngagementRow::as_select())
            .load(conn)
    })
}

pub fn engagements(conn: &mut DbConnection, ids: &[EngagementId]) -> DbResult<Vec<EngagementRow>> {
    chunked(conn, ids, |conn, ids| {
        engagements::table
            .filter(engagements::id.eq_any(ids))
            .select(EngagementRow::as_select())
            .load(conn)
    })
}

pub fn milestones_of(conn: &mut DbConnection, ids: &[EngagementId]) -> DbResult<Vec<MilestoneRow>> {
    chunked(conn, ids, |conn, ids| {
        milestones::table
            .filter(milestones::engagement_id.eq_any(ids))
            .select(MilestoneRow::as_select())
            .load(conn)
    })
}

pub fn insert_hospitals(conn: &mut DbConnection, rows: &[HospitalRow]) -> DbResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let insert = diesel::insert_into(hospitals::table).values(chunk);
        per_backend!(conn, c => insert.execute(c))?;
    }
    Ok(())
}

pub fn insert_contacts(conn: &mut DbConnection, rows: &[ContactRow]) -> DbResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let insert = diesel::insert_into(contacts::table).values(chunk);
        per_backend!(conn, c => insert.execute(c))?;
    }
    Ok(())
}

pub fn insert_engagements(conn: &mut DbConnection, rows: &[NewEngagement]) -> DbResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let insert = diesel::insert_into(engagements::table).values(chunk);
        per_backend!(conn, c => insert.execute(c))?;
    }
    Ok(())
}

pub fn insert_events(conn: &mut DbConnection, rows: &[EventRow]) -> DbResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let insert = diesel::insert_into(events::table).values(chunk);
        per_backend!(conn, c => insert.execute(c))?;
    }
    Ok(())
}

/// Locks these engagements' rows for the rest of the transaction (a no-op write, as
/// [`super::engagements::lock`] does for one) and reads them as they now stand.
pub fn lock_engagements(
    conn: &mut DbConnection,
    ids: &[EngagementId],
) -> DbResult<Vec<EngagementRow>> {
    for chunk in ids.chunks(CHUNK) {
        diesel::update(engagements::table.filter(engagements::id.eq_any(chunk)))
            .set(engagements::version.eq(engagements::version))
            .execute(conn)?;
    }
    engagements(conn, ids)
}

/// Gives all these engagements one organisation (or none), a new `updated_at` and the next
/// version: one statement per chunk, whatever their versions were (they are locked).
pub fn assign(
    conn: &mut DbConnection,
    ids: &[EngagementId],
    organization_id: Option<&OrganizationId>,
    now: NaiveDateTime,
) -> DbResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        n += diesel::update(engagements::table.filter(engagements::id.eq_any(chunk)))
            .set((
                engagements::organization_id.eq(organization_id),
                engagements::updated_at.eq(now),
                engagements::version.eq(engagements::version + 1),
            ))
            .execute(conn)?;
    }
    Ok(n)
}
