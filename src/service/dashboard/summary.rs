//! The summary: totals, and the same counts by prefecture, by bed-size tier, by organisation,
//! and the fill of the support slots — from one grouped query.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{resolve, Resolved, ScopeParams, Viewer};
use crate::db::types::ShortText;
use crate::db::{self, DbConnection};
use crate::domain::backup::BackupOutcome;
use crate::domain::flow::{completion_rate, StageCounts};
use crate::domain::ids::OrganizationId;
use crate::domain::pipeline::{SideState, Sla, Stage};
use crate::domain::prefectures;
use crate::error::AppResult;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Round id or name (`FY2025`); the latest round when absent.
    pub round: Option<String>,
    /// JIS code or name. A prefecture viewer gets its own when absent, and 403 for another.
    pub prefecture: Option<String>,
    /// Tier label, e.g. `100-199`.
    pub tier: Option<String>,
    pub organization_id: Option<String>,
}

impl SummaryQuery {
    pub fn scope(&self) -> ScopeParams {
        ScopeParams {
            round: self.round.clone(),
            prefecture: self.prefecture.clone(),
            tier: self.tier.clone(),
            organization_id: self.organization_id.clone(),
        }
    }
}

/// Counts of a set of engagements. `stages` counts those in no side state by their current
/// stage; `declined`, `withdrawn` and `on_hold` count the others, so that together they add up
/// to `selected`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct Counts {
    pub selected: i64,
    pub stages: StageCounts,
    pub declined: i64,
    pub withdrawn: i64,
    pub on_hold: i64,
    /// Past their stage's SLA (business days), in no side state.
    pub overdue: i64,
    /// `completed` over those still in the programme (on hold included); absent when none are.
    pub completion_rate: Option<f64>,
}

impl Counts {
    fn add(&mut self, g: &db::dashboard::Group) {
        self.selected += g.count;
        match g.side_state {
            None => *self.stages.get_mut(g.stage) += g.count,
            Some(SideState::Declined) => self.declined += g.count,
            Some(SideState::Withdrawn) => self.withdrawn += g.count,
            Some(SideState::OnHold) => self.on_hold += g.count,
        }
        self.overdue += g.overdue.unwrap_or(0);
    }

    /// With its completion rate, once every group is added.
    fn rated(mut self) -> Self {
        self.completion_rate = completion_rate(self.stages.completed, self.active());
        self
    }

    /// Still in the programme: not declined, not withdrawn.
    pub fn active(&self) -> i64 {
        self.selected - self.declined - self.withdrawn
    }
}

/// The hospitals' decisions on offline backup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, ToSchema)]
pub struct BackupCounts {
    pub adopt: i64,
    pub defer: i64,
    pub decline: i64,
    /// Skipped with a reason (no proposal made).
    pub skipped: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Totals {
    #[serde(flatten)]
    pub counts: Counts,
    /// How many reached each stage or went beyond it, side states included.
    pub reached: StageCounts,
    pub backup: BackupCounts,
    pub slots: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrefectureRow {
    /// JIS X 0401 code, `01`–`47`.
    pub code: String,
    pub name: String,
    pub slots: i64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TierRow {
    /// The tier's label; absent for hospitals whose bed count fits no tier.
    pub tier: Option<String>,
    pub slots: i64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationRow {
    /// Absent for engagements not assigned yet.
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Support slots of one prefecture and tier against the hospitals still in the programme.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SlotFillRow {
    pub prefecture_code: String,
    pub prefecture_name: String,
    pub tier: String,
    pub slots: i64,
    /// Selected and not declined or withdrawn (on hold included).
    pub active_selected: i64,
    /// `slots - active_selected`: positive means places left (a second round may fill them),
    /// negative means more selected than slots.
    pub gap: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    pub as_of: DateTime<Utc>,
    /// The round's name.
    pub round: String,
    /// The prefecture the figures are limited to, if any (a prefecture viewer's own).
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    #[schema(value_type = Option<String>)]
    pub organization_id: Option<OrganizationId>,
    pub totals: Totals,
    /// All 47 prefectures, zero rows included (only the one asked for when limited to one).
    pub by_prefecture: Vec<PrefectureRow>,
    /// The round's tiers in order, then hospitals in no tier if any.
    pub by_tier: Vec<TierRow>,
    pub by_organization: Vec<OrganizationRow>,
    pub slot_fill: Vec<SlotFillRow>,
}

pub fn summary(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &SummaryQuery,
    now: DateTime<Utc>,
) -> AppResult<Summary> {
    let r = resolve(conn, viewer, &q.scope())?;
    let groups = db::dashboard::groups(conn, &r.filter, &sla.cutoffs(now).as_filter())?;
    let slots = slots(conn, &r)?;
    let org_names = db::dashboard::organization_names(conn)?;

    // A few thousand groups land in a few dozen rows: small vectors searched in place cost
    // less than hashing each group's strings four times.
    let prefs = prefectures::all();
    let mut totals = Counts::default();
    let mut all_by_stage = StageCounts::default();
    let mut by_pref = vec![Counts::default(); prefs.len()];
    let mut by_tier: Vec<(Option<&ShortText>, Counts)> = Vec::new();
    let mut by_org: Vec<(Option<&ShortText>, Counts)> = Vec::new();
    let mut active: Vec<((usize, &ShortText), i64)> = Vec::new();
    for g in &groups {
        totals.add(g);
        *all_by_stage.get_mut(g.stage) += g.count;
        let pref = prefecture_index(prefs, g.prefecture_code.as_bytes());
        if let Some(i) = pref {
            by_pref[i].add(g);
        }
        let tier = g.tier.as_ref();
        entry(&mut by_tier, tier).add(g);
        entry(&mut by_org, g.organization_id.as_ref()).add(g);
        let gone = matches!(
            g.side_state,
            Some(SideState::Declined | SideState::Withdrawn)
        );
        if let (Some(p), Some(t), false) = (pref, tier, gone) {
            *entry(&mut active, (p, t)) += g.count;
        }
    }
    by_org.sort_by(|a, b| a.0.cmp(&b.0));

    // Decisions count once the engagement is at the backup step or beyond, as before the
    // outcome moved onto the engagement.
    let mut backup = BackupCounts::default();
    for g in &groups {
        if !matches!(g.stage, Stage::Backup | Stage::Completed) {
            continue;
        }
        match g.backup {
            Some(BackupOutcome::Adopt) => backup.adopt += g.count,
            Some(BackupOutcome::Defer) => backup.defer += g.count,
            Some(BackupOutcome::Decline) => backup.decline += g.count,
            Some(BackupOutcome::Skipped) => backup.skipped += g.count,
            None => {}
        }
    }

    let slots_of = |pref: Option<&str>, tier: Option<&str>| -> i64 {
        slots
            .iter()
            .filter(|s| pref.is_none_or(|p| s.prefecture_code == p))
            .filter(|s| tier.is_none_or(|t| s.tier == t))
            .map(|s| s.slots)
            .sum()
    };

    let by_prefecture = prefectures::all()
        .iter()
        .filter(|p| r.prefecture.is_none_or(|only| only.code == p.code))
        .map(|p| PrefectureRow {
            code: p.code.clone(),
            name: p.name_ja.clone(),
            slots: slots_of(Some(&p.code), None),
            counts: prefecture_index(prefs, p.code.as_bytes())
                .map(|i| by_pref[i].rated())
                .unwrap_or_default(),
        })
        .collect();

    let mut tiers: Vec<TierRow> = r
        .tiers
        .iter()
        .filter(|t| r.filter.tier.as_deref().is_none_or(|only| only == t.label))
        .map(|t| TierRow {
            tier: Some(t.label.clone()),
            slots: slots_of(None, Some(&t.label)),
            counts: by_tier
                .iter()
                .find(|(k, _)| k.map(ShortText::as_str) == Some(t.label.as_str()))
                .map(|(_, c)| c.rated())
                .unwrap_or_default(),
        })
        .collect();
    for (tier, counts) in &by_tier {
        let tier = tier.map(ShortText::as_str);
        if tier.is_none_or(|t| !r.tiers.iter().any(|x| x.label == t)) {
            tiers.push(TierRow {
                tier: tier.map(str::to_owned),
                slots: 0,
                counts: counts.rated(),
            });
        }
    }

    let by_organization = by_org
        .into_iter()
        .map(|(id, counts)| OrganizationRow {
            organization_id: id.map(|i| OrganizationId::new(i.as_str().to_owned())),
            name: id.and_then(|i| org_names.get(i.as_str()).cloned()),
            counts: counts.rated(),
        })
        .collect();

    let mut cells: BTreeMap<(String, usize, String), (i64, i64)> = BTreeMap::new();
    let tier_order = |t: &str| {
        r.tiers
            .iter()
            .position(|x| x.label == t)
            .unwrap_or(usize::MAX)
    };
    for s in &slots {
        cells
            .entry((
                s.prefecture_code.clone(),
                tier_order(&s.tier),
                s.tier.clone(),
            ))
            .or_default()
            .0 += s.slots;
    }
    for ((pref, tier), n) in &active {
        cells
            .entry((
                prefs[*pref].code.clone(),
                tier_order(tier.as_str()),
                tier.as_str().to_owned(),
            ))
            .or_default()
            .1 += n;
    }
    let slot_fill = cells
        .into_iter()
        .map(|((code, _, tier), (slots, active))| SlotFillRow {
            prefecture_name: prefectures::find(&code)
                .map(|p| p.name_ja.clone())
                .unwrap_or_default(),
            prefecture_code: code,
            tier,
            slots,
            active_selected: active,
            gap: slots - active,
        })
        .collect();

    Ok(Summary {
        as_of: now,
        round: r.round.name.clone(),
        prefecture: r.filter.prefecture_code.clone(),
        tier: r.filter.tier.clone(),
        organization_id: r.filter.organization_id.clone(),
        totals: Totals {
            counts: totals.rated(),
            reached: all_by_stage.reached(),
            backup,
            slots: slots_of(None, None),
        },
        by_prefecture,
        by_tier: tiers,
        by_organization,
        slot_fill,
    })
}

/// Where `code` is in `prefs` (in code order, so `13` is usually at 12).
fn prefecture_index(prefs: &[prefectures::Prefecture], code: &[u8]) -> Option<usize> {
    let guess = match code {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => usize::from((a - b'0') * 10 + (b - b'0')),
        _ => 0,
    };
    match guess.checked_sub(1).and_then(|i| prefs.get(i)) {
        Some(p) if p.code.as_bytes() == code => Some(guess - 1),
        _ => prefs.iter().position(|p| p.code.as_bytes() == code),
    }
}

/// The value kept under `key`, added (zero) if missing.
fn entry<K: PartialEq, V: Default>(list: &mut Vec<(K, V)>, key: K) -> &mut V {
    let i = match list.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            list.push((key, V::default()));
            list.len() - 1
        }
    };
    &mut list[i].1
}

/// The round's support slots within the request's prefecture and tier.
fn slots(conn: &mut DbConnection, r: &Resolved) -> AppResult<Vec<db::rounds::SlotRow>> {
    Ok(db::rounds::slots(conn, &r.round.id)?
        .into_iter()
        .filter(|s| {
            r.filter
                .prefecture_code
                .as_deref()
                .is_none_or(|p| s.prefecture_code == p)
        })
        .filter(|s| r.filter.tier.as_deref().is_none_or(|t| s.tier == t))
        .collect())
}
