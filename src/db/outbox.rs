//! Queries on the mail outbox. Rows are claimed with a lease so several workers can share one
//! PostgreSQL (`FOR UPDATE SKIP LOCKED`); SQLite has a single writer anyway.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::schema::outbox;
use super::stamp::{OptStamp, Stamp};
use super::{DbConnection, DbResult};
use crate::domain::ids::{ContactId, EngagementId};

/// Where a queued mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxStatus {
    Pending,
    /// Claimed by a worker until its lease passes.
    Sending,
    Sent,
    /// Given up after the last attempt; a coordinator may re-queue it.
    Failed,
}

impl OutboxStatus {
    pub const ALL: [OutboxStatus; 4] = [Self::Pending, Self::Sending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxRow {
    pub id: String,
    pub engagement_id: Option<EngagementId>,
    pub contact_id: Option<ContactId>,
    pub kind: String,
    /// Stable per row: a re-send after a crash carries the same Message-ID.
    pub message_id: String,
    pub envelope_from: String,
    /// JSON list of addresses.
    pub envelope_to: String,
    pub subject: String,
    pub charset: String,
    /// The whole RFC 5322 message, 7-bit clean.
    pub raw: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    #[diesel(deserialize_as = Stamp)]
    pub next_attempt_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub locked_until: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub sent_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &OutboxRow) -> DbResult<()> {
    diesel::insert_into(outbox::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

const CLAIM_PG: &str = "UPDATE outbox SET status = 'sending', locked_until = $1, \
     attempts = attempts + 1, updated_at = $2 \
     WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= $2 \
       AND (status = 'pending' OR (status = 'sending' AND locked_until < $2)) \
       ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";

const CLAIM_SQLITE: &str = "UPDATE outbox SET status = 'sending', locked_until = ?1, \
     attempts = attempts + 1, updated_at = ?2 \
     WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ?2 \
       AND (status = 'pending' OR (status = 'sending' AND locked_until < ?2)) \
       ORDER BY next_attempt_at, id LIMIT ?3) \
     RETURNING *";

/// Claims up to `limit` due rows until `lease_until`. A row whose worker died while sending is
/// due again once its lease has passed (so a crash means at most a re-send).
pub fn claim(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> DbResult<Vec<OutboxRow>> {
    match conn {
        DbConnection::Pg(c) => diesel::sql_query(CLAIM_PG)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c)
            .map_err(Into::into),
        DbConnection::Sqlite(c) => diesel::sql_query(CLAIM_SQLITE)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c)
            .map_err(Into::into),
    }
}

/// Marks many rows sent at once (a worker records its finished sends together).
pub fn mark_sent_all(conn: &mut DbConnection, ids: &[String], now: NaiveDateTime) -> DbResult<()> {
    // Bounded chunks keep each statement under SQLite's bound-parameter limit.
    for chunk in ids.chunks(500) {
        diesel::update(outbox::table.filter(outbox::id.eq_any(chunk)))
            .set((
                outbox::status.eq(OutboxStatus::Sent),
                outbox::sent_at.eq(Some(now)),
                outbox::locked_until.eq(None::<NaiveDateTime>),
                outbox::last_error.eq(None::<String>),
                outbox::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// After a failed attempt: try again at `next`, or give up (`failed`) when `next` is None.
pub fn mark_failed(
    conn: &mut DbConnection,
    id: &str,
    error: &str,
    next: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> DbResult<()> {
    let status = if next.is_some() {
        OutboxStatus::Pending
    } else {
        OutboxStatus::Failed
    };
    diesel::update(outbox::table.find(id))
        .set((
            outbox::status.eq(status),
            outbox::next_attempt_at.eq(next.unwrap_or(now)),
            outbox::locked_until.eq(None::<NaiveDateTime>),
            outbox::last_error.eq(Some(error)),
            outbox::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Puts a failed (or sent) row back in the queue; its Message-ID stays the same.
pub fn requeue(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> DbResult<bool> {
    let n = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.ne(OutboxStatus::Sending)),
    )
    .set((
        outbox::status.eq(OutboxStatus::Pending),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(now),
        outbox::last_error.eq(None::<String>),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn get(conn: &mut DbConnection, id: &str) -> DbResult<Option<OutboxRow>> {
    outbox::table
        .find(id)
        .select(OutboxRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub struct Filter {
    pub engagement_id: Option<EngagementId>,
    pub status: Option<String>,
    /// Engagements the caller may see (None: all).
    pub engagements: Option<Vec<EngagementId>>,
}

pub fn list(
    conn: &mut DbConnection,
    f: &Filter,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<OutboxRow>> {
    let mut q = outbox::table
        .select(OutboxRow::as_select())
        .order(outbox::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(e) = &f.engagement_id {
        q = q.filter(outbox::engagement_id.eq(e.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(outbox::status.eq(s.clone()));
    }
    if let Some(ids) = &f.engagements {
        q = q.filter(outbox::engagement_id.eq_any(ids.clone()));
    }
    if let Some(after) = after {
        q = q.filter(outbox::id.lt(after.to_owned()));
    }
    q.load(conn).map_err(Into::into)
}

/// Counts per status, for tests and dashboards.
pub fn count_by_status(conn: &mut DbConnection) -> DbResult<Vec<(String, i64)>> {
    outbox::table
        .group_by(outbox::status)
        .select((outbox::status, diesel::dsl::count_star()))
        .load(conn)
        .map_err(Into::into)
}

/// Whether a mail of this kind was queued for the engagement since `since`.
pub fn queued_since(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
    kind: &str,
    since: NaiveDateTime,
) -> DbResult<bool> {
    diesel::select(diesel::dsl::exists(
        outbox::table
            .filter(outbox::engagement_id.eq(engagement_id))
            .filter(outbox::kind.eq(kind))
            .filter(outbox::created_at.ge(since)),
    ))
    .get_result(conn)
    .map_err(Into::into)
}

/// Gives claimed rows back unsent (their worker is stopping): due again at once, and the claim
/// does not count as an attempt.
pub fn release(conn: &mut DbConnection, ids: &[String], now: NaiveDateTime) -> DbResult<usize> {
    diesel::update(
        outbox::table
            .filter(outbox::id.eq_any(ids))
            .filter(outbox::status.eq(OutboxStatus::Sending)),
    )
    .set((
        outbox::status.eq(OutboxStatus::Pending),
        outbox::locked_until.eq(None::<NaiveDateTime>),
        outbox::attempts.eq(outbox::attempts - 1),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)
    .map_err(Into::into)
}
