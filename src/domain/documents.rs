//! Documents received from the hospital: what each one is for.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::doctype::{self, DocKind};
use super::pipeline::Action;

/// What an uploaded document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DocumentPurpose)]
pub enum Purpose {
    /// Network configuration diagram (ネットワーク構成図).
    Diagram,
    /// The memorandum signed by the hospital.
    MemorandumSigned,
    /// Minutes of the hearing.
    Minutes,
    /// The verification report.
    Report,
    Other,
}

impl Purpose {
    pub const ALL: [Purpose; 5] = [
        Purpose::Diagram,
        Purpose::MemorandumSigned,
        Purpose::Minutes,
        Purpose::Report,
        Purpose::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Diagram => "diagram",
            Purpose::MemorandumSigned => "memorandum_signed",
            Purpose::Minutes => "minutes",
            Purpose::Report => "report",
            Purpose::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn action(self) -> Action {
        match self {
            Purpose::MemorandumSigned => Action::MemorandumCopy,
            _ => Action::Confidential,
        }
    }

    pub fn allows(self, kind: DocKind) -> bool {
        match self {
            Purpose::Diagram => doctype::allowed_for_diagram(kind),
            _ => doctype::allowed_for_document(kind),
        }
    }
}
