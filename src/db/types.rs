//! Typed columns. Enums of `domain/` are stored as TEXT (their `as_str`) and read back through
//! their `parse`; JSON columns with a fixed shape are read as `Json<T>`. A stored value that
//! does not parse is a deserialization error, never a default: a bad row fails loudly.
//!
//! `domain/` knows nothing of diesel, so the impls live here; `foreign_derive` lets diesel's
//! derives generate `AsExpression`/`Queryable` for a type defined elsewhere.

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A stored text that names no variant of the column's enum.
#[derive(Debug)]
pub struct BadValue {
    column: &'static str,
    value: String,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} in the database",
            self.column, self.value
        )
    }
}

impl std::error::Error for BadValue {}

/// Implements TEXT storage for enums that have `as_str(self) -> &'static str` and
/// `parse(&str) -> Option<Self>`, for every backend (raw `sql_query` rows load per backend).
macro_rules! text_enum {
    ($($ty:path => $column:literal),* $(,)?) => {$(
        const _: () = {
            #[derive(AsExpression, FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Proxy($ty);

            impl<DB> FromSql<Text, DB> for $ty
            where
                DB: Backend,
                String: FromSql<Text, DB>,
            {
                fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                    let s = <String as FromSql<Text, DB>>::from_sql(bytes)?;
                    <$ty>::parse(&s).ok_or_else(|| {
                        Box::new(BadValue { column: $column, value: s }) as Box<_>
                    })
                }
            }

            impl<DB> ToSql<Text, DB> for $ty
            where
                DB: Backend,
                str: ToSql<Text, DB>,
            {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                    <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
                }
            }
        };
    )*};
}

text_enum! {
    crate::domain::pipeline::Stage => "stage",
    crate::domain::backup::BackupOutcome => "backup decision",
    crate::domain::events::EventKind => "event kind",
    crate::domain::pipeline::SideState => "side state",
    crate::domain::pipeline::MemorandumStatus => "memorandum status",
    crate::domain::questionnaire::ResponseStatus => "questionnaire status",
    crate::domain::hearings::HearingStatus => "hearing status",
    crate::domain::findings::FindingStatus => "finding status",
    crate::domain::findings::Severity => "finding severity",
    crate::domain::documents::Purpose => "document purpose",
    crate::db::outbox::OutboxStatus => "outbox status",
}

/// Implements TEXT storage for the id newtypes of `domain::ids` (`new(String)`, `as_str`).
macro_rules! text_id {
    ($($ty:path),* $(,)?) => {$(
        const _: () = {
            #[derive(AsExpression, FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Proxy($ty);

            impl<DB> FromSql<Text, DB> for $ty
            where
                DB: Backend,
                String: FromSql<Text, DB>,
            {
                fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                    <String as FromSql<Text, DB>>::from_sql(bytes).map(<$ty>::new)
                }
            }

            impl<DB> ToSql<Text, DB> for $ty
            where
                DB: Backend,
                str: ToSql<Text, DB>,
            {
                fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                    <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
                }
            }
        };
    )*};
}

text_id! {
    crate::domain::ids::EngagementId,
    crate::domain::ids::HospitalId,
    crate::domain::ids::OrganizationId,
    crate::domain::ids::RoundId,
    crate::domain::ids::UserId,
    crate::domain::ids::ContactId,
}

/// A JSON column with a fixed shape. The text is made once, when the value is built, so it
/// can be bound by reference; a stored text that does not fit `T` is an error.
#[derive(Debug, Clone, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Json<T> {
    value: T,
    text: String,
}

impl<T: Serialize> Json<T> {
    pub fn new(value: T) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_string(&value)?;
        Ok(Self { value, text })
    }
}

impl<T> Json<Vec<T>> {
    pub fn empty_list() -> Self {
        Self {
            value: Vec::new(),
            text: "[]".into(),
        }
    }
}

impl<K, V> Json<std::collections::BTreeMap<K, V>> {
    pub fn empty_map() -> Self {
        Self {
            value: std::collections::BTreeMap::new(),
            text: "{}".into(),
        }
    }
}

impl<T> Json<T> {
    pub fn get(&self) -> &T {
        &self.value
    }

    pub fn into_inner(self) -> T {
        self.value
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

impl<T, DB> FromSql<Text, DB> for Json<T>
where
    T: DeserializeOwned,
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        let value = serde_json::from_str(&text)?;
        Ok(Self { value, text })
    }
}

impl<T, DB> ToSql<Text, DB> for Json<T>
where
    T: fmt::Debug,
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        <str as ToSql<Text, DB>>::to_sql(self.text.as_str(), out)
    }
}

#[cfg(test)]
mod tests {
    use diesel::dsl::sql;
    use diesel::prelude::*;

    use super::*;
    use crate::domain::hearings::Attendee;
    use crate::domain::pipeline::Stage;

    fn conn() -> crate::db::DbConnection {
        crate::db::establish(":memory:").unwrap()
    }

    #[test]
    fn enums_read_back_and_a_bad_value_is_an_error() {
        let mut c = conn();
        let ok: Stage = diesel::select(Stage::Backup.into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(ok, Stage::Backup);
        let bad = diesel::select(sql::<Text>("'bogus'")).get_result::<Stage>(&mut c);
        let err = format!("{:?}", bad.unwrap_err());
        assert!(err.contains("DeserializationError"), "{err}");
        assert!(err.contains("column: \"stage\""), "{err}");
    }

    #[test]
    fn ids_are_stored_as_their_text() {
        use crate::domain::ids::EngagementId;
        let mut c = conn();
        let id = EngagementId::new("0190-e");
        let back: EngagementId = diesel::select((&id).into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(back, id);
        let none: Option<EngagementId> =
            diesel::select(sql::<diesel::sql_types::Nullable<Text>>("NULL"))
                .get_result(&mut c)
                .unwrap();
        assert_eq!(none, None);
    }

    #[test]
    fn json_reads_its_shape_and_refuses_another() {
        let mut c = conn();
        let list = Json::new(vec![Attendee {
            kind: "vendor_staff".into(),
            name: "山田".into(),
            email: None,
            ref_id: None,
        }])
        .unwrap();
        let back: Json<Vec<Attendee>> = diesel::select(list.text().into_sql::<Text>())
            .get_result(&mut c)
            .unwrap();
        assert_eq!(back.get(), list.get());
        let bad = diesel::select(sql::<Text>("'[{\"who\": 1}]'"))
            .get_result::<Json<Vec<Attendee>>>(&mut c);
        assert!(bad.is_err());
    }
}
