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
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use diesel::sqlite::{Sqlite, SqliteValue};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{MultiBackend, MultiRawValue};

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

/// Reads a TEXT value in place, without the allocation of going through `String`: enums and
/// short keys are read by the thousand in the dashboards (a `String` per value was a sixth of
/// the summary's instructions).
pub trait BorrowText: Backend {
    fn with_text<R>(value: Self::RawValue<'_>, f: impl FnOnce(&str) -> R)
        -> deserialize::Result<R>;
}

impl BorrowText for Pg {
    fn with_text<R>(value: PgValue<'_>, f: impl FnOnce(&str) -> R) -> deserialize::Result<R> {
        Ok(f(std::str::from_utf8(value.as_bytes())?))
    }
}

impl BorrowText for Sqlite {
    fn with_text<R>(
        mut value: SqliteValue<'_, '_, '_>,
        f: impl FnOnce(&str) -> R,
    ) -> deserialize::Result<R> {
        Ok(f(value.read_text()))
    }
}

impl BorrowText for MultiBackend {
    fn with_text<R>(value: MultiRawValue<'_>, f: impl FnOnce(&str) -> R) -> deserialize::Result<R> {
        match value {
            MultiRawValue::Pg(v) => Pg::with_text(v, f),
            MultiRawValue::Sqlite(v) => Sqlite::with_text(v, f),
        }
    }
}

/// A short text (a prefecture code, a tier label, an id) held without a heap allocation when
/// it fits: the summary reads three per group, a few thousand groups per request.
#[derive(Clone, FromSqlRow)]
pub enum ShortText {
    Inline { len: u8, bytes: [u8; SHORT] },
    Heap(Box<str>),
}

const SHORT: usize = 46;

impl ShortText {
    pub fn new(s: &str) -> Self {
        let mut bytes = [0; SHORT];
        match bytes.get_mut(..s.len()) {
            Some(head) => {
                head.copy_from_slice(s.as_bytes());
                ShortText::Inline {
                    len: s.len() as u8,
                    bytes,
                }
            }
            None => ShortText::Heap(s.into()),
        }
    }

    pub fn as_str(&self) -> &str {
        // Always whole UTF-8: copied from a `&str` in `new`.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text's bytes, for comparisons that need not check UTF-8 again.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            ShortText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ShortText::Heap(s) => s.as_bytes(),
        }
    }
}

impl PartialEq for ShortText {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ShortText {}

impl PartialOrd for ShortText {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The order of the text (UTF-8 bytes sort as their characters).
impl Ord for ShortText {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl fmt::Debug for ShortText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<DB: BorrowText> FromSql<Text, DB> for ShortText {
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        DB::with_text(bytes, ShortText::new)
    }
}

/// Implements TEXT storage for enums that have `as_str(self) -> &'static str` and
/// `parse(&str) -> Option<Self>`, for every backend (raw `sql_query` rows load per backend).
macro_rules! text_enum {
    ($($ty:path => $column:literal),* $(,)?) => {$(
        const _: () = {
            #[derive(AsExpression, FromSqlRow)]
            #[diesel(foreign_derive, sql_type = Text)]
            #[allow(dead_code)]
            struct Proxy($ty);

            impl<DB: BorrowText> FromSql<Text, DB> for $ty {
                fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                    DB::with_text(bytes, |s| {
                        <$ty>::parse(s).ok_or_else(|| {
                            Box::new(BadValue { column: $column, value: s.to_owned() }) as Box<_>
                        })
                    })?
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
    fn short_texts_read_back_inline_or_on_the_heap() {
        let mut c = conn();
        let long = "長い組織名".repeat(5); // 75 bytes: more than fits inline
        for text in [
            "13",
            "01a252ec-0f3b-712d-8dd7-f4c71e38de0b",
            "",
            long.as_str(),
        ] {
            let back: ShortText = diesel::select(text.into_sql::<Text>())
                .get_result(&mut c)
                .unwrap();
            assert_eq!(back.as_str(), text);
            assert_eq!(back, ShortText::new(text));
        }
        assert!(matches!(ShortText::new(&long), ShortText::Heap(_)));
        assert!(matches!(
            ShortText::new("100-199"),
            ShortText::Inline { .. }
        ));
        assert!(ShortText::new("01") < ShortText::new("13"));
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
