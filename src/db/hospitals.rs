//! Queries on hospitals and their contacts.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{contacts, engagements, hospitals};
use super::stamp::{OptStamp, Stamp};
use super::{DbConnection, DbResult, Scope};
use crate::domain::ids::{ContactId, HospitalId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hospitals)]
pub struct HospitalRow {
    pub id: HospitalId,
    pub prefecture_code: String,
    pub institution_code: String,
    pub name: String,
    pub address: Option<String>,
    pub beds: Option<i64>,
    pub emr_status: Option<String>,
    pub emergency: bool,
    pub disaster_base: bool,
    pub vendor_company: Option<String>,
    pub vendor_contact: Option<String>,
    pub vendor_email: Option<String>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub id: ContactId,
    pub hospital_id: HospitalId,
    pub name: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub charset: String,
    pub position: i64,
    #[diesel(deserialize_as = OptStamp)]
    pub removed_at: Option<NaiveDateTime>,
    #[diesel(deserialize_as = Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = Stamp)]
    pub updated_at: NaiveDateTime,
    pub version: i64,
    /// Set by the mail scheduler when it could not queue mail to this contact.
    pub mail_error: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &HospitalRow) -> DbResult<()> {
    diesel::insert_into(hospitals::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

/// Writes every field of `row` if its stored version is still `version`.
pub fn replace(conn: &mut DbConnection, row: &HospitalRow, version: i64) -> DbResult<bool> {
    let n = diesel::update(
        hospitals::table
            .filter(hospitals::id.eq(&row.id))
            .filter(hospitals::version.eq(version)),
    )
    .set((
        hospitals::prefecture_code.eq(&row.prefecture_code),
        hospitals::institution_code.eq(&row.institution_code),
        hospitals::name.eq(&row.name),
        hospitals::address.eq(&row.address),
        hospitals::beds.eq(row.beds),
        hospitals::emr_status.eq(&row.emr_status),
        hospitals::emergency.eq(row.emergency),
        hospitals::disaster_base.eq(row.disaster_base),
        hospitals::vendor_company.eq(&row.vendor_company),
        hospitals::vendor_contact.eq(&row.vendor_contact),
        hospitals::vendor_email.eq(&row.vendor_email),
        hospitals::updated_at.eq(row.updated_at),
        hospitals::version.eq(version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn get(conn: &mut DbConnection, id: &HospitalId) -> DbResult<Option<HospitalRow>> {
    super::native!(conn, |c| hospitals::table
        .find(id)
        .select(HospitalRow::as_select())
        .first(c)
        .optional()
        .map_err(Into::into))
}

pub fn by_code(conn: &mut DbConnection, code: &str) -> DbResult<Option<HospitalRow>> {
    hospitals::table
        .filter(hospitals::institution_code.eq(code))
        .select(HospitalRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

/// A coordinator sees a hospital when one of its engagements is assigned to the coordinator's
/// organisations.
pub fn visible(conn: &mut DbConnection, id: &HospitalId, scope: &Scope) -> DbResult<bool> {
    match scope {
        Scope::All => Ok(true),
        Scope::Orgs(ids) => diesel::select(diesel::dsl::exists(
            engagements::table
                .filter(engagements::hospital_id.eq(id))
                .filter(engagements::organization_id.eq_any(ids.clone())),
        ))
        .get_result(conn)
        .map_err(Into::into),
    }
}

pub fn list(
    conn: &mut DbConnection,
    scope: &Scope,
    prefecture: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> DbResult<Vec<HospitalRow>> {
    let mut q = hospitals::table
        .select(HospitalRow::as_select())
        .order(hospitals::id.asc())
        .limit(limit)
        .into_boxed();
    if let Scope::Orgs(ids) = scope {
        let visible = engagements::table
            .filter(engagements::organization_id.eq_any(ids.clone()))
            .select(engagements::hospital_id);
        q = q.filter(hospitals::id.eq_any(visible));
    }
    if let Some(p) = prefecture {
        q = q.filter(hospitals::prefecture_code.eq(p.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(hospitals::id.gt(after.to_owned()));
    }
    q.load(conn).map_err(Into::into)
}

pub fn contacts(conn: &mut DbConnection, hospital_id: &HospitalId) -> DbResult<Vec<ContactRow>> {
    super::native!(conn, |c| contacts::table
        .filter(contacts::hospital_id.eq(hospital_id))
        .filter(contacts::removed_at.is_null())
        .order((contacts::position.asc(), contacts::id.asc()))
        .select(ContactRow::as_select())
        .load(c)
        .map_err(Into::into))
}

pub fn contact(conn: &mut DbConnection, id: &ContactId) -> DbResult<Option<ContactRow>> {
    contacts::table
        .find(id)
        .filter(contacts::removed_at.is_null())
        .select(ContactRow::as_select())
        .first(conn)
        .optional()
        .map_err(Into::into)
}

pub fn insert_contact(conn: &mut DbConnection, row: &ContactRow) -> DbResult<()> {
    diesel::insert_into(contacts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
        .map_err(Into::into)
}

pub fn replace_contact(conn: &mut DbConnection, row: &ContactRow, version: i64) -> DbResult<bool> {
    let n = diesel::update(
        contacts::table
            .filter(contacts::id.eq(&row.id))
            .filter(contacts::version.eq(version)),
    )
    .set((
        contacts::name.eq(&row.name),
        contacts::department.eq(&row.department),
        contacts::title.eq(&row.title),
        contacts::email.eq(&row.email),
        contacts::phone.eq(&row.phone),
        contacts::charset.eq(&row.charset),
        contacts::position.eq(row.position),
        contacts::removed_at.eq(row.removed_at),
        contacts::updated_at.eq(row.updated_at),
        contacts::version.eq(version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
