//! Contacts of a hospital: the rules every stored contact passes, whichever way it came (the
//! API, an imported list), and saving a change (a new address revokes the old one's links).

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

pub use super::hospitals::Charset;
use crate::db::hospitals::ContactRow;
use crate::db::{self, DbConnection};
use crate::domain::ids::{ContactId, HospitalId};
use crate::domain::validate;
use crate::error::{AppError, AppResult};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    pub name: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Preferred mail charset; UTF-8 unless the contact's mail client needs ISO-2022-JP.
    pub charset: Option<Charset>,
}

/// Trimmed; blank is absent.
fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| validate::trim_spaces(&s).to_owned())
        .filter(|s| !s.is_empty())
}

fn clean_email(v: Option<String>) -> Option<String> {
    clean(v).map(|e| validate::normalize_email(&e))
}

/// The checks every stored contact passes, whichever way it came.
pub fn check(row: &ContactRow) -> AppResult<()> {
    let mut errors = Vec::new();
    validate::line("name", &row.name, 100, &mut errors);
    validate::single_lines(
        &[
            ("department", row.department.as_deref()),
            ("title", row.title.as_deref()),
            ("phone", row.phone.as_deref()),
        ],
        &mut errors,
    );
    if let Some(e) = &row.email {
        validate::email("email", e, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// A new contact row (id, position and times from the caller), normalised as stored.
pub fn contact_row(
    id: ContactId,
    hospital_id: HospitalId,
    c: ContactIn,
    position: i64,
    now: chrono::NaiveDateTime,
) -> ContactRow {
    ContactRow {
        id,
        hospital_id,
        name: validate::trim_spaces(&c.name).to_owned(),
        department: clean(c.department),
        title: clean(c.title),
        email: clean_email(c.email),
        phone: clean(c.phone),
        charset: c.charset.unwrap_or(Charset::Utf8).as_str().to_owned(),
        position,
        removed_at: None,
        created_at: now,
        updated_at: now,
        version: 1,
        mail_error: None,
    }
}

/// A JSON merge patch (RFC 7396) of a contact: a field left out stays as it is, `null` clears
/// it. `name` is required and cannot be cleared; `charset: null` goes back to UTF-8.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    /// Can be changed, not cleared: `null` answers 422.
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = String)]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = Option<String>)]
    pub department: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<String>>,
    /// A new address revokes the links sent to the old one.
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "sent")]
    #[schema(value_type = Option<Charset>)]
    pub charset: Option<Option<Charset>>,
}

/// A field that was sent: `Some(None)` for `null`. Absent fields stay `None` by `default`.
fn sent<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl ContactPatch {
    /// The contact with this patch applied, checked.
    pub fn apply(self, current: &ContactRow) -> AppResult<ContactRow> {
        let mut next = current.clone();
        match self.name {
            None => {}
            Some(None) => {
                return Err(AppError::field(
                    "name",
                    "a contact needs a name; it cannot be cleared",
                ))
            }
            Some(Some(name)) => next.name = validate::trim_spaces(&name).to_owned(),
        }
        if let Some(v) = self.department {
            next.department = clean(v);
        }
        if let Some(v) = self.title {
            next.title = clean(v);
        }
        if let Some(v) = self.email {
            next.email = clean_email(v);
        }
        if let Some(v) = self.phone {
            next.phone = clean(v);
        }
        if let Some(v) = self.charset {
            next.charset = v.unwrap_or(Charset::Utf8).as_str().to_owned();
        }
        check(&next)?;
        Ok(next)
    }
}

/// Whether saving `next` over `current` would change anything stored.
pub fn differs(current: &ContactRow, next: &ContactRow) -> bool {
    next.name != current.name
        || next.department != current.department
        || next.title != current.title
        || next.email != current.email
        || next.phone != current.phone
        || next.charset != current.charset
        || next.position != current.position
        || next.removed_at != current.removed_at
}

/// Stores a contact's new state, if it differs: a new email (or removal) first revokes the
/// links sent to the old address. The one way a stored contact changes — PATCH, DELETE and the
/// list import all come here. Returns the stored row, or `None` when nothing changed.
pub fn save_contact(
    conn: &mut DbConnection,
    current: &ContactRow,
    mut next: ContactRow,
    now: NaiveDateTime,
) -> AppResult<Option<ContactRow>> {
    if !differs(current, &next) {
        return Ok(None);
    }
    if next.email != current.email || next.removed_at.is_some() {
        db::links::revoke_for_contact(conn, &current.id, now)?;
    }
    next.updated_at = now;
    if !db::hospitals::replace_contact(conn, &next, current.version)? {
        return Err(AppError::PreconditionFailed(
            "the contact changed meanwhile; reload and try again".into(),
        ));
    }
    next.version = current.version + 1;
    Ok(Some(next))
}
