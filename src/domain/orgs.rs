//! The organisation tree: the prime contractor, its subcontractors (and theirs), and the bodies
//! that only read dashboards (the ministry, prefectures).

use crate::domain::ids::OrganizationId;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// The vendor that won the tender; the root of the vendor tree.
    Prime,
    /// A related company, subsidiary, reseller or their subcontractor.
    Subcontractor,
    /// MHLW.
    Ministry,
    /// A prefectural government.
    Prefecture,
}

impl OrgKind {
    pub const ALL: [OrgKind; 4] = [
        OrgKind::Prime,
        OrgKind::Subcontractor,
        OrgKind::Ministry,
        OrgKind::Prefecture,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::Prime => "prime",
            OrgKind::Subcontractor => "subcontractor",
            OrgKind::Ministry => "ministry",
            OrgKind::Prefecture => "prefecture",
        }
    }

    pub fn parse(s: &str) -> Option<OrgKind> {
        OrgKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn is_vendor(self) -> bool {
        matches!(self, OrgKind::Prime | OrgKind::Subcontractor)
    }
}

/// Where an organisation may sit. `parent` is the parent's kind, if any; `prime_exists` tells
/// whether another prime organisation already exists.
pub fn check_placement(
    kind: OrgKind,
    parent: Option<OrgKind>,
    prime_exists: bool,
) -> Result<(), &'static str> {
    match (kind, parent) {
        (OrgKind::Prime, None) if prime_exists => Err("there is already a prime contractor"),
        (OrgKind::Prime, None) => Ok(()),
        (OrgKind::Prime, Some(_)) => Err("the prime contractor has no parent"),
        (OrgKind::Subcontractor, Some(p)) if p.is_vendor() => Ok(()),
        (OrgKind::Subcontractor, _) => {
            Err("a subcontractor sits under the prime contractor or another subcontractor")
        }
        (OrgKind::Ministry | OrgKind::Prefecture, None) => Ok(()),
        (OrgKind::Ministry | OrgKind::Prefecture, Some(_)) => {
            Err("the ministry and prefectures stand outside the vendor tree")
        }
    }
}

/// Which roles a member of an organisation of this kind may hold.
pub fn check_role(kind: OrgKind, role: Role, prefecture: Option<&str>) -> Result<(), &'static str> {
    match role {
        Role::Admin if kind == OrgKind::Prime => Ok(()),
        Role::Admin => Err("admins belong to the prime contractor"),
        Role::Coordinator if kind.is_vendor() => Ok(()),
        Role::Coordinator => Err("coordinators belong to a vendor organisation"),
        Role::Viewer if kind == OrgKind::Ministry => Ok(()),
        Role::Viewer => Err("viewers belong to the ministry"),
        Role::PrefectureViewer if kind != OrgKind::Prefecture => {
            Err("prefecture viewers belong to a prefecture organisation")
        }
        Role::PrefectureViewer if prefecture.is_none() => {
            Err("a prefecture viewer needs a prefecture_code")
        }
        Role::PrefectureViewer => Ok(()),
    }
}

/// The organisation and every organisation below it. `edges` holds (id, parent_id) pairs.
pub fn subtree(
    root: &OrganizationId,
    edges: &[(OrganizationId, Option<OrganizationId>)],
) -> HashSet<OrganizationId> {
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, parent) in edges {
        if let Some(p) = parent {
            children.entry(p.as_str()).or_default().push(id.as_str());
        }
    }
    let mut seen = HashSet::new();
    let mut stack = vec![root.as_str()];
    while let Some(id) = stack.pop() {
        if seen.insert(OrganizationId::new(id)) {
            if let Some(kids) = children.get(id) {
                stack.extend(kids.iter().copied());
            }
        }
    }
    seen
}

/// Moving `id` under `new_parent` must not make it its own ancestor.
pub fn would_cycle(
    id: &OrganizationId,
    new_parent: &OrganizationId,
    edges: &[(OrganizationId, Option<OrganizationId>)],
) -> bool {
    subtree(id, edges).contains(new_parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<(OrganizationId, Option<OrganizationId>)> {
        vec![
            ("prime".into(), None),
            ("a".into(), Some("prime".into())),
            ("a1".into(), Some("a".into())),
            ("b".into(), Some("prime".into())),
            ("mhlw".into(), None),
        ]
    }

    #[test]
    fn subtree_has_descendants_only() {
        let s = subtree(&"a".into(), &tree());
        assert_eq!(s.len(), 2);
        assert!(s.contains("a") && s.contains("a1"));
        assert_eq!(subtree(&"prime".into(), &tree()).len(), 4);
    }

    #[test]
    fn cycles_are_detected() {
        assert!(would_cycle(&"a".into(), &"a1".into(), &tree()));
        assert!(would_cycle(&"a".into(), &"a".into(), &tree()));
        assert!(!would_cycle(&"a1".into(), &"b".into(), &tree()));
    }

    #[test]
    fn placement_rules() {
        use OrgKind::*;
        assert!(check_placement(Prime, None, false).is_ok());
        assert!(check_placement(Prime, None, true).is_err());
        assert!(check_placement(Subcontractor, Some(Prime), true).is_ok());
        assert!(check_placement(Subcontractor, Some(Subcontractor), true).is_ok());
        assert!(check_placement(Subcontractor, None, true).is_err());
        assert!(check_placement(Subcontractor, Some(Ministry), true).is_err());
        assert!(check_placement(Ministry, Some(Prime), true).is_err());
    }

    #[test]
    fn role_rules() {
        use OrgKind::*;
        assert!(check_role(Prime, Role::Admin, None).is_ok());
        assert!(check_role(Subcontractor, Role::Admin, None).is_err());
        assert!(check_role(Subcontractor, Role::Coordinator, None).is_ok());
        assert!(check_role(Ministry, Role::Coordinator, None).is_err());
        assert!(check_role(Ministry, Role::Viewer, None).is_ok());
        assert!(check_role(Prefecture, Role::PrefectureViewer, None).is_err());
        assert!(check_role(Prefecture, Role::PrefectureViewer, Some("13")).is_ok());
    }
}
