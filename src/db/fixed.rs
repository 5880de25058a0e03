//! SQL fragments written in this crate that still let a statement be prepared once.
//!
//! `diesel::dsl::sql` marks every statement it appears in as one not to keep in the prepared
//! statement cache (its text might carry values, which would grow the cache without bound), so
//! the engagement list, the dashboards' hospitals table and the summary were parsed — and on
//! PostgreSQL planned — again on every request. A `Fixed` fragment is built only from this
//! crate's own text (sort keys, the stage order, the overdue rule's shape) with every value a
//! bind parameter, so the statements it appears in are few and are cached by their SQL text.

use std::borrow::Cow;
use std::marker::PhantomData;

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, SelectableExpression};
use diesel::expression::{TypedExpressionType, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType, Text, Timestamp};
use diesel::QueryResult;

#[derive(Debug, Clone)]
enum Piece {
    Sql(Cow<'static, str>),
    Text(String),
    BigInt(i64),
    Time(NaiveDateTime),
}

/// A fragment of SQL type `ST`: this crate's text with values bound in between.
#[derive(Debug, Clone)]
pub struct Fixed<ST> {
    pieces: Vec<Piece>,
    sql_type: PhantomData<ST>,
}

impl<ST> Fixed<ST> {
    /// Text of this crate, never input.
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Fixed {
            pieces: vec![Piece::Sql(sql.into())],
            sql_type: PhantomData,
        }
    }

    pub fn sql(mut self, sql: impl Into<Cow<'static, str>>) -> Self {
        self.pieces.push(Piece::Sql(sql.into()));
        self
    }

    pub fn text(mut self, v: String) -> Self {
        self.pieces.push(Piece::Text(v));
        self
    }

    pub fn int(mut self, v: i64) -> Self {
        self.pieces.push(Piece::BigInt(v));
        self
    }

    pub fn time(mut self, v: NaiveDateTime) -> Self {
        self.pieces.push(Piece::Time(v));
        self
    }
}

impl<ST: TypedExpressionType> Expression for Fixed<ST> {
    type SqlType = ST;
}

/// No static id: two fragments of one SQL type differ by their text, so the cache must key
/// the statement by its SQL.
impl<ST> QueryId for Fixed<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST, DB> QueryFragment<DB> for Fixed<ST>
where
    DB: Backend + HasSqlType<Text> + HasSqlType<BigInt> + HasSqlType<Timestamp>,
    String: ToSql<Text, DB>,
    i64: ToSql<BigInt, DB>,
    NaiveDateTime: ToSql<Timestamp, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for piece in &self.pieces {
            match piece {
                Piece::Sql(s) => out.push_sql(s),
                Piece::Text(v) => out.push_bind_param::<Text, _>(v)?,
                Piece::BigInt(v) => out.push_bind_param::<BigInt, _>(v)?,
                Piece::Time(v) => out.push_bind_param::<Timestamp, _>(v)?,
            }
        }
        Ok(())
    }
}

impl<QS, ST> SelectableExpression<QS> for Fixed<ST> where Self: Expression {}

impl<QS, ST> AppearsOnTable<QS> for Fixed<ST> where Self: Expression {}

impl<ST, GB> ValidGrouping<GB> for Fixed<ST> {
    type IsAggregate = is_aggregate::Never;
}
