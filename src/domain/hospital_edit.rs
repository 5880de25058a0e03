//! Who may change a hospital and its contacts.
//!
//! A hospital has one engagement per round, and its details (name, beds, system vendor, …) and
//! contacts are shared by all of them: a new bed count re-tiers every engagement, a new email
//! revokes the links every engagement sent, a removed contact gets no more mail from any of
//! them. So a coordinator may change these shared facts only when its organisation (with the
//! ones below it) is in charge of *every* engagement of the hospital. When another organisation
//! holds one — or one is not assigned yet — the facts belong to both, and only an admin (who
//! answers for all organisations) changes them.

use crate::domain::ids::OrganizationId;
use std::collections::BTreeSet;

/// Who asks to change the hospital.
#[derive(Debug, Clone, Copy)]
pub enum Editor<'a> {
    Admin,
    /// A coordinator with the organisations it is in charge of (its own and those below).
    Coordinator {
        organizations: &'a [OrganizationId],
    },
}

/// One engagement of the hospital: its round and the organisation in charge of it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    pub round: &'a str,
    pub organization_id: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// None of the hospital's engagements is the coordinator's.
    NotInCharge,
    /// Engagements of these rounds are another organisation's (or no one's yet).
    Shared { rounds: Vec<String> },
}

impl Refusal {
    pub fn reason(&self) -> String {
        match self {
            Refusal::NotInCharge => {
                "none of this hospital's engagements is assigned to your organisation".into()
            }
            Refusal::Shared { rounds } => format!(
                "this hospital's details and contacts are shared with its engagement in {} of \
                 another organisation (or not yet assigned); changing them would change that \
                 engagement too, so only an admin may change them",
                rounds.join(", ")
            ),
        }
    }
}

/// Whether `editor` may change the hospital whose engagements are `holders`.
pub fn may_edit(editor: Editor, holders: &[Holder]) -> Result<(), Refusal> {
    let Editor::Coordinator { organizations } = editor else {
        return Ok(());
    };
    let mine = |h: &&Holder| {
        h.organization_id
            .is_some_and(|o| organizations.iter().any(|m| m.as_str() == o))
    };
    if !holders.iter().any(|h| mine(&h)) {
        return Err(Refusal::NotInCharge);
    }
    let others: BTreeSet<String> = holders
        .iter()
        .filter(|h| !mine(h))
        .map(|h| h.round.to_owned())
        .collect();
    if others.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Shared {
            rounds: others.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held<'a>(round: &'a str, org: Option<&'a str>) -> Holder<'a> {
        Holder {
            round,
            organization_id: org,
        }
    }

    #[test]
    fn admins_edit_any_hospital() {
        assert_eq!(may_edit(Editor::Admin, &[]), Ok(()));
        assert_eq!(
            may_edit(
                Editor::Admin,
                &[held("FY2025", Some("b")), held("FY2026", None)]
            ),
            Ok(())
        );
    }

    #[test]
    fn a_coordinator_edits_a_hospital_it_alone_is_in_charge_of() {
        let orgs = [OrganizationId::from("a"), OrganizationId::from("a1")];
        let me = Editor::Coordinator {
            organizations: &orgs,
        };
        assert_eq!(may_edit(me, &[held("FY2026", Some("a1"))]), Ok(()));
        // Two rounds, both within its subtree.
        assert_eq!(
            may_edit(me, &[held("FY2025", Some("a")), held("FY2026", Some("a1"))]),
            Ok(())
        );
    }

    #[test]
    fn another_organisations_engagement_makes_the_facts_shared() {
        let orgs = [OrganizationId::from("a1")];
        let a1 = Editor::Coordinator {
            organizations: &orgs,
        };
        assert_eq!(
            may_edit(a1, &[held("FY2025", Some("b")), held("FY2026", Some("a1"))]),
            Err(Refusal::Shared {
                rounds: vec!["FY2025".into()]
            })
        );
        // The parent organisation's engagement is not the child's either.
        assert!(may_edit(a1, &[held("FY2025", Some("a")), held("FY2026", Some("a1"))]).is_err());
        // Nor is an engagement no one has been assigned yet.
        let refusal = may_edit(a1, &[held("FY2027", None), held("FY2026", Some("a1"))]);
        assert_eq!(
            refusal,
            Err(Refusal::Shared {
                rounds: vec!["FY2027".into()]
            })
        );
        assert!(refusal.unwrap_err().reason().contains("FY2027"));
    }

    #[test]
    fn a_hospital_of_no_engagement_of_mine_is_not_mine() {
        let orgs = [OrganizationId::from("a1")];
        let a1 = Editor::Coordinator {
            organizations: &orgs,
        };
        assert_eq!(may_edit(a1, &[]), Err(Refusal::NotInCharge));
        assert_eq!(
            may_edit(a1, &[held("FY2025", Some("b"))]),
            Err(Refusal::NotInCharge)
        );
    }
}
