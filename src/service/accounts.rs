//! Accounts: organisations and users, created the same way by the API and the command line.

use chrono::NaiveDateTime;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::auth::password;
use crate::db::{self, DbConnection};
use crate::domain::access::Role;
use crate::domain::ids::{OrganizationId, UserId};
use crate::domain::orgs::{self as rules, OrgKind};
use crate::domain::{prefectures, validate};
use crate::error::{AppError, AppResult, FieldError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    #[schema(value_type = String)]
    pub organization_id: OrganizationId,
    pub role: Role,
    /// Required for `prefecture_viewer`: the JIS code (`13`) or name (`東京都`).
    pub prefecture_code: Option<String>,
    /// At least 12 characters.
    #[schema(min_length = 12)]
    pub password: String,
}

/// A prefecture given as code or name, stored as its code.
pub fn prefecture(input: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let raw = input?;
    match prefectures::find(raw) {
        Some(p) => Some(p.code.clone()),
        None => {
            errors.push(FieldError::new(
                "prefecture_code",
                "must be a JIS prefecture code 01–47 or a prefecture name",
            ));
            None
        }
    }
}

/// Checks the role against the organisation it would belong to.
pub fn check_membership(
    conn: &mut DbConnection,
    org_id: &OrganizationId,
    role: Role,
    prefecture_code: Option<&str>,
) -> AppResult<()> {
    let org = db::orgs::get(conn, org_id)?
        .ok_or_else(|| AppError::field("organization_id", "no organisation has this id"))?;
    let kind = OrgKind::parse(&org.kind)
        .ok_or_else(|| anyhow::anyhow!("stored kind {} unknown", org.kind))?;
    rules::check_role(kind, role, prefecture_code).map_err(|m| AppError::field("role", m))
}

/// Validated input for a new user, with the password already hashed.
pub struct UserDraft {
    pub email: String,
    pub display_name: String,
    pub organization_id: OrganizationId,
    pub role: Role,
    pub prefecture_code: Option<String>,
    pub password_hash: String,
}

impl UserDraft {
    /// Checks the fields and hashes the password (slow: call off the async executor).
    pub fn new(input: NewUser) -> AppResult<Self> {
        let mut errors = Vec::new();
        let email = validate::normalize_email(&input.email);
        validate::email("email", &email, &mut errors);
        validate::line("display_name", &input.display_name, 200, &mut errors);
        validate::password("password", &input.password, &mut errors);
        let prefecture_code = prefecture(input.prefecture_code.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Validation(errors));
        }
        Ok(Self {
            email,
            display_name: input.display_name.trim().to_owned(),
            organization_id: input.organization_id,
            role: input.role,
            prefecture_code,
            password_hash: password::hash(&input.password)?,
        })
    }

    /// Writes the user after checking the role fits the organisation. Used by API and CLI.
    pub fn insert(
        self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> AppResult<db::users::UserRow> {
        check_membership(
            conn,
            &self.organization_id,
            self.role,
            self.prefecture_code.as_deref(),
        )?;
        if db::users::by_email(conn, &self.email)?.is_some() {
            return Err(AppError::conflict(
                "email_taken",
                format!("a user with the email {} already exists", self.email),
            ));
        }
        let id = UserId::new(db::new_id());
        Ok(db::users::insert(
            conn,
            &db::users::NewUser {
                id: &id,
                organization_id: &self.organization_id,
                email: &self.email,
                display_name: &self.display_name,
                role: self.role.as_str(),
                prefecture_code: self.prefecture_code.as_deref(),
                password_hash: &self.password_hash,
                active: true,
                created_at: now,
                updated_at: now,
                version: 1,
            },
        )?)
    }
}

pub fn placement_error(field: &str, msg: &str) -> AppError {
    AppError::field(field, msg)
}

pub fn parent_kind(
    conn: &mut DbConnection,
    parent_id: Option<&OrganizationId>,
) -> AppResult<Option<OrgKind>> {
    let Some(pid) = parent_id else {
        return Ok(None);
    };
    let parent = db::orgs::get(conn, pid)?
        .ok_or_else(|| AppError::field("parent_id", "no organisation has this id"))?;
    Ok(OrgKind::parse(&parent.kind))
}

/// Creates an organisation after checking where it may sit. Used by the API and the CLI.
pub fn create_org(
    conn: &mut DbConnection,
    name: &str,
    kind: OrgKind,
    parent_id: Option<&OrganizationId>,
    now: NaiveDateTime,
) -> AppResult<db::orgs::OrgRow> {
    let parent = parent_kind(conn, parent_id)?;
    let prime_exists = db::orgs::kind_exists(conn, OrgKind::Prime.as_str())?;
    rules::check_placement(kind, parent, prime_exists)
        .map_err(|m| placement_error("parent_id", m))?;
    let id = OrganizationId::new(db::new_id());
    Ok(db::orgs::insert(
        conn,
        &db::orgs::NewOrg {
            id: &id,
            name,
            kind: kind.as_str(),
            parent_id,
            created_at: now,
            updated_at: now,
            version: 1,
        },
    )?)
}
