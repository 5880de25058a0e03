//! Read models of hospitals and their contacts, as every channel shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::hospitals::{ContactRow, HospitalRow};
use crate::db::{self, utc, DbConnection};
use crate::domain::ids::{ContactId, HospitalId};
use crate::domain::prefectures;
use crate::error::AppResult;

/// The programme wants at least two named contacts with an email per hospital.
pub const MIN_CONTACTS: i64 = 2;

/// A hospital needs contacts until `MIN_CONTACTS` live ones have an email (the scheduling mail
/// goes to them).
pub fn needs_contacts(with_email: i64) -> bool {
    with_email < MIN_CONTACTS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmrStatus {
    Full,
    Partial,
}

#[derive(Serialize, ToSchema)]
pub struct HospitalOut {
    #[schema(value_type = String)]
    pub id: HospitalId,
    pub prefecture_code: String,
    pub prefecture_name: String,
    /// 10-digit 医療機関コード.
    pub institution_code: String,
    pub name: String,
    pub address: Option<String>,
    pub beds: Option<i64>,
    #[schema(value_type = Option<EmrStatus>)]
    pub emr_status: Option<String>,
    pub emergency: bool,
    pub disaster_base: bool,
    pub system_vendor: SystemVendor,
    /// Fewer than two contacts with an email: the programme asks for at least two.
    pub needs_contacts: bool,
    pub contacts: Vec<ContactOut>,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::service::utc_json::utc")]
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The hospital's own system vendor; they may attend the hearing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemVendor {
    pub company: Option<String>,
    pub contact: Option<String>,
    pub email: Option<String>,
}

pub fn hospital_out(h: HospitalRow, contacts: Vec<ContactRow>) -> HospitalOut {
    let with_email = contacts.iter().filter(|c| c.email.is_some()).count() as i64;
    HospitalOut {
        prefecture_name: prefectures::find(&h.prefecture_code)
            .map(|p| p.name_ja.clone())
            .unwrap_or_default(),
        id: h.id,
        prefecture_code: h.prefecture_code,
        institution_code: h.institution_code,
        name: h.name,
        address: h.address,
        beds: h.beds,
        emr_status: h.emr_status,
        emergency: h.emergency,
        disaster_base: h.disaster_base,
        system_vendor: SystemVendor {
            company: h.vendor_company,
            contact: h.vendor_contact,
            email: h.vendor_email,
        },
        needs_contacts: needs_contacts(with_email),
        contacts: contacts.into_iter().map(Into::into).collect(),
        created_at: utc(h.created_at),
        updated_at: utc(h.updated_at),
        version: h.version,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Charset {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "iso-2022-jp")]
    Iso2022Jp,
}

impl Charset {
    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Iso2022Jp => "iso-2022-jp",
        }
    }
}

/// A contact; its `version` is the ETag's (`"v3"`), sent back in `If-Match`.
#[derive(Serialize, ToSchema)]
pub struct ContactOut {
    #[schema(value_type = String)]
    pub id: ContactId,
    pub name: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Charset)]
    pub charset: String,
    pub version: i64,
    /// Why the last scheduled mail to this contact could not be queued (e.g. an address the
    /// mail system does not accept); cleared once mail to the hospital goes out again.
    pub mail_error: Option<String>,
}

impl From<ContactRow> for ContactOut {
    fn from(c: ContactRow) -> Self {
        Self {
            id: c.id,
            name: c.name,
            department: c.department,
            title: c.title,
            email: c.email,
            phone: c.phone,
            charset: c.charset,
            version: c.version,
            mail_error: c.mail_error,
        }
    }
}

pub fn load_out(conn: &mut DbConnection, h: HospitalRow) -> AppResult<HospitalOut> {
    let contacts = db::hospitals::contacts(conn, &h.id)?;
    Ok(hospital_out(h, contacts))
}
