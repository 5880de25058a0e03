//! Roles and what each may do.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Prime contractor staff: everything.
    Admin,
    /// Vendor staff: their organisation and the organisations below it.
    Coordinator,
    /// Ministry: dashboards only, never contact details or confidential content.
    Viewer,
    /// A prefecture: dashboards of its own prefecture only.
    PrefectureViewer,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::Coordinator,
        Role::Viewer,
        Role::PrefectureViewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Viewer => "viewer",
            Role::PrefectureViewer => "prefecture_viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// May create, change and delete organisations and users.
    pub fn manages_accounts(self) -> bool {
        self == Role::Admin
    }

    /// May read organisations and users (admin: all; coordinator: own subtree).
    pub fn reads_accounts(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_as_text() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_admin_manages_accounts() {
        assert!(Role::Admin.manages_accounts());
        assert!(!Role::Coordinator.manages_accounts());
        assert!(Role::Coordinator.reads_accounts());
        assert!(!Role::Viewer.reads_accounts());
        assert!(!Role::PrefectureViewer.reads_accounts());
    }
}
