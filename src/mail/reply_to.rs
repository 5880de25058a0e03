//! Whom a reply reaches. Every mail carries a `Reply-To` that a person reads, never only the
//! system sender:
//!
//! 1. the user who caused the mail (a coordinator sending it, moving or cancelling a hearing);
//! 2. otherwise — the hospital acted (booking on its page) or the system did (reminders,
//!    nudges) — the engagement organisation's own address (`reply_to` of its mail settings);
//! 3. otherwise the coordinator in charge: the last active coordinator of the engagement's
//!    organisation who acted on the engagement;
//! 4. otherwise an active coordinator of the engagement's organisation (the longest-standing);
//! 5. otherwise an active admin of the prime contractor (the longest-standing).
//!
//! Candidates whose address the mailer cannot use are passed over.

use crate::db::engagements::EngagementRow;
use crate::db::orgs::OrgRow;
use crate::db::users::{UserFilter, UserRow};
use crate::db::{self, DbConnection, Scope};
use crate::domain::ids::{OrganizationId, UserId};
use crate::domain::validate;
use crate::error::AppResult;

/// A display name and an address. The organisation's own address comes with no name (the
/// mail shows the organisation's name for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub email: String,
}

fn usable(u: &UserRow) -> Option<Person> {
    (u.active && validate::is_usable_email(&u.email)).then(|| Person {
        name: u.display_name.clone(),
        email: u.email.clone(),
    })
}

fn first_active(
    conn: &mut DbConnection,
    organization_id: Option<&OrganizationId>,
    role: &str,
) -> AppResult<Option<Person>> {
    let filter = UserFilter {
        organization_id: organization_id.cloned(),
        role: Some(role.to_owned()),
    };
    // Ids are time-ordered, so the first is the longest-standing account.
    let mut after: Option<String> = None;
    loop {
        let page = db::users::list(conn, &Scope::All, &filter, after.as_deref(), 100)?;
        if let Some(p) = page.iter().find_map(usable) {
            return Ok(Some(p));
        }
        match page.last() {
            Some(last) if page.len() == 100 => after = Some(last.id.to_string()),
            _ => return Ok(None),
        }
    }
}

/// The last active coordinator of the engagement's organisation who acted on it (one who
/// acted before the engagement moved to another organisation is no longer in charge).
fn in_charge(conn: &mut DbConnection, e: &EngagementRow) -> AppResult<Option<Person>> {
    let mut seen = std::collections::HashSet::new();
    for event in db::engagements::timeline(conn, &e.id)?.into_iter().rev() {
        let Some(id) = event.actor_id.filter(|_| event.actor_kind == "user") else {
            continue;
        };
        if !seen.insert(id.clone()) {
            continue;
        }
        if let Some(p) = db::users::get(conn, &UserId::new(id))?
            .filter(|u| u.role == "coordinator")
            .filter(|u| e.organization_id.as_ref() == Some(&u.organization_id))
            .as_ref()
            .and_then(usable)
        {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The Reply-To of a mail about `e`, by the chain above; `acting_user` is the user who caused
/// it, if a user did.
pub fn resolve(
    conn: &mut DbConnection,
    e: &EngagementRow,
    org: Option<&OrgRow>,
    acting_user: Option<&UserId>,
) -> AppResult<Option<Person>> {
    if let Some(id) = acting_user {
        if let Some(p) = db::users::get(conn, id)?.as_ref().and_then(usable) {
            return Ok(Some(p));
        }
    }
    if let Some(o) = org {
        if let Some(addr) = o
            .reply_to
            .as_deref()
            .filter(|a| validate::is_usable_email(a))
        {
            return Ok(Some(Person {
                name: String::new(),
                email: addr.to_owned(),
            }));
        }
    }
    if let Some(p) = in_charge(conn, e)? {
        return Ok(Some(p));
    }
    if let Some(o) = org {
        if let Some(p) = first_active(conn, Some(&o.id), "coordinator")? {
            return Ok(Some(p));
        }
    }
    first_active(conn, None, "admin")
}
