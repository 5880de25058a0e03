//! Progress dashboards for the ministry, the prefectures and the vendor: who may see what, and
//! the use cases (`summary`, `trend`, `durations`, `hospitals`, `export`). Every answer holds
//! progress figures only — never a contact, a document, an answer, a finding or a mail.

pub mod durations;
pub mod export;
pub mod hospitals;
pub mod summary;
pub mod trend;

use serde::Deserialize;

use crate::db::dashboard::Filter;
use crate::db::rounds::RoundRow;
use crate::db::{self, DbConnection};
use crate::domain::access::Role;
use crate::domain::ids::OrganizationId;
use crate::domain::orgs as org_rules;
use crate::domain::pipeline::Stage;
use crate::domain::prefectures::{self, Prefecture};
use crate::domain::rounds::Tier;
use crate::error::{AppError, AppResult, FieldError};

/// Who is looking, as far as the dashboards care.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub role: Role,
    pub organization_id: OrganizationId,
    /// A prefecture viewer's own prefecture.
    pub prefecture_code: Option<String>,
}

/// The parameters every dashboard takes: which round, and optionally one prefecture, one
/// bed-size tier, one organisation.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScopeParams {
    pub round: Option<String>,
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
}

/// A request's scope, checked: the round, its tiers, and the filter for the queries.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub round: RoundRow,
    pub tiers: Vec<Tier>,
    pub prefecture: Option<&'static Prefecture>,
    pub filter: Filter,
}

/// Checks the parameters against the viewer's rights: a prefecture viewer sees only its own
/// prefecture (another one answers 403; none given means its own), a coordinator only its
/// organisation's subtree, the ministry and admins everything.
pub fn resolve(conn: &mut DbConnection, viewer: &Viewer, p: &ScopeParams) -> AppResult<Resolved> {
    let mut errors = Vec::new();
    let round = match p.round.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => db::rounds::find(conn, r)?,
        None => db::rounds::list(conn)?
            .into_iter()
            .max_by_key(|r| (r.fiscal_year, r.name.clone())),
    };
    if round.is_none() {
        errors.push(FieldError::new(
            "round",
            match p.round {
                Some(_) => "no round has this id or name",
                None => "no round exists yet",
            },
        ));
    }
    let mut prefecture = match p.prefecture.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => match prefectures::find(s) {
            Some(found) => Some(found),
            None => {
                errors.push(FieldError::new("prefecture", "unknown prefecture"));
                None
            }
        },
        None => None,
    };
    let tiers: Vec<Tier> = round
        .as_ref()
        .map(|r| serde_json::from_str(&r.tiers))
        .transpose()
        .map_err(|e| anyhow::anyhow!("stored tiers are not valid: {e}"))?
        .unwrap_or_default();
    let tier = p.tier.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if let Some(t) = tier {
        if !tiers.iter().any(|x| x.label == t) {
            errors.push(FieldError::new(
                "tier",
                format!(
                    "not a tier of this round ({})",
                    tiers
                        .iter()
                        .map(|t| t.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let organization_id = p
        .organization_id
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(OrganizationId::from);
    if let Some(o) = &organization_id {
        if db::orgs::get(conn, o)?.is_none() {
            errors.push(FieldError::new(
                "organization_id",
                "no organisation has this id",
            ));
        }
    }
    let Some(round) = round.filter(|_| errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };
    let mut orgs = None;
    match viewer.role {
        Role::Admin | Role::Viewer => {}
        Role::PrefectureViewer => {
            let own = viewer
                .prefecture_code
                .as_deref()
                .and_then(prefectures::find)
                .ok_or_else(|| {
                    AppError::Forbidden("this account is not tied to a prefecture".into())
                })?;
            match prefecture {
                Some(asked) if asked.code != own.code => {
                    return Err(AppError::Forbidden(format!(
                        "a prefecture viewer sees its own prefecture ({}) only",
                        own.name_ja
                    )))
                }
                _ => prefecture = Some(own),
            }
        }
        Role::Coordinator => {
            let edges = db::orgs::edges(conn)?;
            let subtree: Vec<OrganizationId> = org_rules::subtree(&viewer.organization_id, &edges)
                .into_iter()
                .collect();
            if let Some(o) = &organization_id {
                if !subtree.contains(o) {
                    return Err(AppError::Forbidden(
                        "this organisation is outside your own".into(),
                    ));
                }
            }
            orgs = Some(subtree);
        }
    }
    Ok(Resolved {
        filter: Filter {
            round_id: round.id.clone(),
            prefecture_code: prefecture.map(|p| p.code.clone()),
            tier: tier.map(str::to_owned),
            orgs,
            organization_id,
            stage: None,
            overdue: None,
        },
        round,
        tiers,
        prefecture,
    })
}

/// The stage's name as the dashboards say it in Japanese.
pub fn stage_ja(s: Stage) -> &'static str {
    match s {
        Stage::Selected => "選定",
        Stage::Contacting => "連絡中",
        Stage::Consented => "参加同意",
        Stage::Memorandum => "覚書締結",
        Stage::Intake => "資料受領",
        Stage::Hearing => "ヒアリング済",
        Stage::Verification => "報告済",
        Stage::Backup => "バックアップ判断済",
        Stage::Completed => "完了",
    }
}

/// What happens next, as the dashboards say it in Japanese (by `next_action` code).
pub fn next_action_ja(code: &str) -> &'static str {
    match code {
        "first_contact" => "初回連絡",
        "confirm_participation" => "参加意思の確認",
        "send_memorandum" => "覚書の送付",
        "sign_memorandum" => "覚書への署名",
        "execute_memorandum" => "覚書の締結",
        "upload_diagram" => "構成図の提出",
        "answer_questionnaire" => "事前質問票への回答",
        "review_questionnaire" => "事前質問票の確認",
        "offer_slots" => "ヒアリング候補日の提示",
        "pick_slot" => "ヒアリング日程の選択",
        "hold_hearing" => "ヒアリングの実施",
        "deliver_report" => "検証結果の報告",
        "propose_backup" => "バックアップの提案",
        "decide_backup" => "バックアップ提案への判断",
        "complete" => "完了処理",
        "resume" => "再開の連絡",
        _ => "",
    }
}
