//! `engagement-tracker demo-data`: fills an empty database with a realistic round — hospitals
//! across the 47 prefectures with valid institution codes, support slots, subcontractors, and
//! engagements at every stage with timelines spread over the past weeks — so that a newcomer
//! (and the benchmarks) see a living dashboard. Fictional throughout: no real hospital, person
//! or address. The same seed gives the same data.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::db::demo::{Batch, EngagementInsert, MilestoneInsert};
use crate::db::engagements::EventRow;
use crate::db::hearings::{HearingRow, SlotRow as HearingSlot};
use crate::db::hospitals::HospitalRow;
use crate::db::orgs::NewOrg;
use crate::db::rounds::{RoundRow, SlotRow};
use crate::db::types::Json;
use crate::db::verification::ProposalRow;
use crate::db::{self, Db, DbConnection};
use crate::domain::calendar::date_in_japan;
use crate::domain::hearings::HearingStatus;
use crate::domain::medcode::luhn_digit;
use crate::domain::orgs::OrgKind;
use crate::domain::pipeline::{derive_stage, Milestone, Milestones, SideState, Stage};
use crate::domain::prefectures;
use crate::domain::questionnaire::ResponseStatus;
use crate::domain::rounds::{default_tiers, tier_for};
use crate::error::{AppError, AppResult};

/// Roughly how many hospitals each prefecture has (01 北海道 … 47 沖縄県), to spread the demo
/// like the real list.
const WEIGHTS: [u32; 47] = [
    540, 90, 90, 135, 65, 65, 125, 170, 105, 125, 340, 285, 630, 335, 125, 105, 90, 65, 60, 125,
    95, 170, 315, 90, 55, 160, 505, 345, 75, 80, 45, 50, 160, 235, 140, 105, 85, 135, 120, 455, 95,
    145, 205, 150, 135, 235, 90,
];

const NAMES: [&str; 12] = [
    "さくら",
    "みなと",
    "あおば",
    "ひかり",
    "やまびこ",
    "かえで",
    "いずみ",
    "つばさ",
    "みどり",
    "あさひ",
    "しらかば",
    "なぎさ",
];
const KINDS: [&str; 5] = [
    "総合病院",
    "記念病院",
    "中央病院",
    "医療センター",
    "協立病院",
];

pub struct DemoReport {
    pub round: String,
    pub hospitals: usize,
    pub milestones: usize,
    pub events: usize,
    pub prime: String,
    pub ministry: String,
    pub prefecture_org: String,
}

/// Fills the database; refuses one that already holds hospitals.
pub fn fill(db: &Db, hospitals: usize, now: DateTime<Utc>) -> AppResult<DemoReport> {
    if !(1..=100_000).contains(&hospitals) {
        return Err(AppError::field("hospitals", "between 1 and 100000"));
    }
    db.write_blocking(|conn| {
        if db::demo::hospital_count(conn)? > 0 {
            return Err(AppError::conflict(
                "not_empty",
                "the database already holds hospitals; demo-data fills an empty one only",
            ));
        }
        let mut rng = StdRng::seed_from_u64(2025);
        let now = now.naive_utc();
        let orgs = organizations(conn, now)?;
        let round = round(conn, now)?;
        let mut b = Batch::default();
        let template = db::intake::latest_template(
            conn,
            &crate::domain::questionnaire::default_template().key,
        )?;
        let mut responses = Vec::new();
        let mut counts = [0u32; 47];
        let total_weight: u32 = WEIGHTS.iter().sum();
        let start = now - Duration::weeks(16);
        for i in 0..hospitals {
            // Pick a prefecture by weight, the same way every run.
            let mut pick = rng.random_range(0..total_weight);
            let mut p = 0;
            while pick >= WEIGHTS[p] {
                pick -= WEIGHTS[p];
                p += 1;
            }
            counts[p] += 1;
            let pref = &prefectures::all()[p];
            let n = counts[p];
            let nine = format!("{}1{:02}{:04}", pref.code, 1 + n / 9000, n % 9000);
            let code = format!("{nine}{}", luhn_digit(&nine));
            let beds = match rng.random_range(0..100) {
                0..45 => rng.random_range(20..100),
                45..75 => rng.random_range(100..200),
                75..92 => rng.random_range(200..400),
                _ => rng.random_range(400..1200),
            };
            let short = pref.name_ja.trim_end_matches(['都', '府', '県']);
            let hospital_id = db::new_id();
            b.hospitals.push(HospitalRow {
                id: hospital_id.clone(),
                prefecture_code: pref.code.clone(),
                institution_code: code,
                name: format!(
                    "{short}{}{}（デモ{}）",
                    NAMES[i % NAMES.len()],
                    KINDS[(i / NAMES.len()) % KINDS.len()],
                    i + 1
                ),
                address: Some(format!("{}（架空）", pref.name_ja)),
                beds: Some(beds),
                emr_status: Some("full".into()),
                emergency: rng.random_bool(0.4),
                disaster_base: rng.random_bool(0.1),
                vendor_company: None,
                vendor_contact: None,
                vendor_email: None,
                created_at: start,
                updated_at: start,
                version: 1,
            });
            let org = match pref.code.as_str() {
                _ if rng.random_bool(0.03) => None,
                "13" | "14" if rng.random_bool(0.5) => Some(orgs.metro.clone()),
                c if c <= "07" => Some(orgs.subs[0].clone()),
                c if c <= "23" => Some(orgs.subs[1].clone()),
                c if c <= "39" => Some(orgs.subs[2].clone()),
                _ => Some(orgs.subs[3].clone()),
            };
            let created = start + Duration::hours(rng.random_range(0..24 * 21));
            let tier = tier_for(&default_tiers(), beds).map(|t| t.label.clone());
            let template_id = template.as_ref().map(|t| t.id.clone());
            engagement(
                &mut rng,
                &mut b,
                &mut responses,
                template_id,
                Plan {
                    round_id: &round.id,
                    hospital_id: &hospital_id,
                    prefecture: &pref.code,
                    tier,
                    org,
                    created,
                    now,
                    rank: (n as i64).min(9999),
                },
            );
        }
        b.slots = slots(&mut rng, &round.id, &b, now);
        db::demo::write(conn, &b)?;
        for r in &responses {
            db::intake::save_response(conn, r)?;
        }
        Ok(DemoReport {
            round: round.name,
            hospitals,
            milestones: b.milestones.len(),
            events: b.events.len(),
            prime: orgs.prime_name,
            ministry: orgs.ministry_name,
            prefecture_org: orgs.prefecture_name,
        })
    })
}

struct Orgs {
    prime_name: String,
    ministry_name: String,
    prefecture_name: String,
    subs: Vec<String>,
    metro: String,
}

fn organizations(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Orgs> {
    // An existing prime contractor (the first admin's) stays the root.
    let existing = db::orgs::list(conn, &db::Scope::All, None, 1000)?
        .into_iter()
        .find(|o| o.kind == OrgKind::Prime.as_str());
    let mut add = |name: &str, kind: OrgKind, parent: Option<&str>| -> AppResult<String> {
        if let Some(o) = db::orgs::find_by_id_or_name(conn, name)? {
            return Ok(o.id);
        }
        let id = db::new_id();
        db::orgs::insert(
            conn,
            &NewOrg {
                id: &id,
                name,
                kind: kind.as_str(),
                parent_id: parent,
                created_at: now,
                updated_at: now,
                version: 1,
            },
        )?;
        Ok(id)
    };
    let prime = match existing {
        Some(o) => (o.id, o.name),
        None => {
            let name = "デモ元請株式会社";
            (add(name, OrgKind::Prime, None)?, name.to_owned())
        }
    };
    let mut subs = Vec::new();
    for name in [
        "北日本サポート株式会社（デモ）",
        "東日本サポート株式会社（デモ）",
        "西日本サポート株式会社（デモ）",
        "九州沖縄サポート株式会社（デモ）",
    ] {
        subs.push(add(name, OrgKind::Subcontractor, Some(&prime.0))?);
    }
    let metro = add(
        "首都圏ネットワーク診断（デモ）",
        OrgKind::Subcontractor,
        Some(&subs[1]),
    )?;
    let ministry_name = "厚生労働省（デモ）";
    add(ministry_name, OrgKind::Ministry, None)?;
    let prefecture_name = "東京都福祉局（デモ）";
    add(prefecture_name, OrgKind::Prefecture, None)?;
    Ok(Orgs {
        prime_name: prime.1,
        ministry_name: ministry_name.into(),
        prefecture_name: prefecture_name.into(),
        subs,
        metro,
    })
}

/// This fiscal year's round (Japan's fiscal year starts in April), created if absent.
fn round(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<RoundRow> {
    let today = date_in_japan(now.and_utc());
    let year = if today.month() >= 4 {
        today.year()
    } else {
        today.year() - 1
    };
    let name = format!("FY{year}");
    if let Some(r) = db::rounds::find(conn, &name)? {
        return Ok(r);
    }
    let row = RoundRow {
        id: db::new_id(),
        name,
        fiscal_year: year.into(),
        tiers: serde_json::to_string(&default_tiers()).map_err(anyhow::Error::from)?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    db::rounds::insert(conn, &row)?;
    Ok(row)
}

/// Slots per prefecture and tier near the number selected, some short and some to spare.
fn slots(rng: &mut StdRng, round_id: &str, b: &Batch, now: NaiveDateTime) -> Vec<SlotRow> {
    let mut cells: std::collections::BTreeMap<(String, String), i64> = Default::default();
    for e in &b.engagements {
        if let Some(t) = &e.tier {
            *cells
                .entry((e.prefecture_code.clone(), t.clone()))
                .or_default() += 1;
        }
    }
    cells
        .into_iter()
        .map(|((prefecture_code, tier), n)| SlotRow {
            round_id: round_id.into(),
            prefecture_code,
            tier,
            slots: ((n as f64) * rng.random_range(0.85..1.25)).round() as i64,
            updated_at: now,
        })
        .collect()
}

struct Plan<'a> {
    round_id: &'a str,
    hospital_id: &'a str,
    prefecture: &'a str,
    tier: Option<String>,
    org: Option<String>,
    created: NaiveDateTime,
    now: NaiveDateTime,
    rank: i64,
}

/// One engagement's story up to a stage drawn at random, each step a few days after the last,
/// never past `now`.
fn engagement(
    rng: &mut StdRng,
    b: &mut Batch,
    responses: &mut Vec<db::intake::ResponseRow>,
    template_id: Option<String>,
    plan: Plan,
) {
    let id = db::new_id();
    // How far this one is meant to get: 0 = selected … 9 = completed.
    let target = match rng.random_range(0..100) {
        0..6 => 0,
        6..16 => 1,
        16..26 => 2,
        26..36 => 3,
        36..48 => 4,
        48..58 => 5,
        58..68 => 6,
        68..78 => 7,
        78..86 => 8,
        _ => 9,
    };
    let mut t = plan.created;
    let mut have = Milestones::new();
    let mut stage = Stage::Selected;
    let mut since = plan.created;
    let mut memorandum: Option<&str> = None;
    let mut executed_on = None;
    let mut questionnaire: Option<(ResponseStatus, NaiveDateTime)> = None;
    let mut events = Vec::new();
    let mut reached = Vec::new();
    let mut slot: Option<(String, NaiveDateTime)> = None;
    let mut hearing_status = None;
    let mut proposal: Option<ProposalRow> = None;
    // (step, gap in days, minimum stage target to take it)
    let steps: [(&str, (i64, i64), u8); 15] = [
        ("contacted", (1, 8), 1),
        ("consented", (2, 14), 2),
        ("memo_sent", (1, 5), 3),
        ("memo_signed", (2, 9), 3),
        ("memorandum_executed", (1, 4), 3),
        ("diagram_received", (2, 10), 4),
        ("questionnaire_submitted", (1, 9), 4),
        ("questionnaire_accepted", (1, 4), 4),
        ("slots_offered", (1, 5), 5),
        ("hearing_booked", (1, 6), 5),
        ("hearing_held", (5, 15), 5),
        ("report_delivered", (5, 18), 6),
        ("backup_proposed", (2, 9), 7),
        ("backup_done", (3, 12), 7),
        ("completed", (1, 6), 9),
    ];
    for (step, (lo, hi), min) in steps {
        if target < min {
            break;
        }
        let gap = Duration::hours(rng.random_range(lo * 24..=hi * 24));
        let at = if step == "hearing_held" {
            match &slot {
                Some((_, starts)) => *starts + Duration::hours(2),
                None => break,
            }
        } else {
            t + gap
        };
        if at > plan.now {
            break;
        }
        t = at;
        let (kind, payload, milestone) = match step {
            "contacted" => (
                "contact_attempt",
                json!({"channel": "email", "outcome": "reached"}),
                Some(Milestone::Contacted),
            ),
            "consented" => ("consent_recorded", json!({}), Some(Milestone::Consented)),
            "memo_sent" => {
                memorandum = Some("sent");
                (
                    "memorandum_status",
                    json!({"from": "draft", "to": "sent"}),
                    None,
                )
            }
            "memo_signed" => {
                memorandum = Some("signed_by_hospital");
                (
                    "memorandum_status",
                    json!({"from": "sent", "to": "signed_by_hospital"}),
                    None,
                )
            }
            "memorandum_executed" => {
                memorandum = Some("executed");
                executed_on = Some(date_in_japan(at.and_utc()));
                (
                    "memorandum_status",
                    json!({"from": "signed_by_hospital", "to": "executed"}),
                    Some(Milestone::MemorandumExecuted),
                )
            }
            "diagram_received" => (
                "diagram_uploaded",
                json!({}),
                Some(Milestone::DiagramReceived),
            ),
            "questionnaire_submitted" => {
                questionnaire = Some((ResponseStatus::Submitted, at));
                (
                    "questionnaire_submitted",
                    json!({}),
                    Some(Milestone::QuestionnaireSubmitted),
                )
            }
            "questionnaire_accepted" => {
                questionnaire = questionnaire.map(|(_, s)| (ResponseStatus::Accepted, s));
                (
                    "questionnaire_accepted",
                    json!({}),
                    Some(Milestone::QuestionnaireAccepted),
                )
            }
            "slots_offered" => {
                let slot_id = db::new_id();
                // 10:00 in Japan, a week or two ahead.
                let day = date_in_japan(at.and_utc()) + Duration::days(rng.random_range(7..15));
                let starts = day.and_hms_opt(1, 0, 0).unwrap_or(at);
                slot = Some((slot_id.clone(), starts));
                b.hearing_slots.push(HearingSlot {
                    id: slot_id.clone(),
                    engagement_id: id.clone(),
                    starts_at: starts,
                    ends_at: starts + Duration::minutes(90),
                    format: "online".into(),
                    meeting_url: Some("https://meet.example/demo".into()),
                    place: None,
                    withdrawn_at: None,
                    created_at: at,
                });
                ("slots_offered", json!({"slots": [slot_id]}), None)
            }
            "hearing_booked" => {
                hearing_status = Some((HearingStatus::Scheduled, at));
                ("hearing_booked", json!({}), None)
            }
            "hearing_held" => {
                hearing_status = hearing_status.map(|(_, booked)| (HearingStatus::Held, booked));
                ("hearing_held", json!({}), Some(Milestone::HearingHeld))
            }
            "report_delivered" => (
                "report_delivered",
                json!({}),
                Some(Milestone::ReportDelivered),
            ),
            "backup_proposed" => {
                let tb: f64 = rng.random_range(2..40) as f64;
                proposal = Some(ProposalRow {
                    engagement_id: id.clone(),
                    current_state: "{}".into(),
                    proposal: "{}".into(),
                    capacity_tb: Some(tb),
                    estimate_min_jpy: Some((tb * 300_000.0) as i64),
                    estimate_max_jpy: Some((tb * 400_000.0) as i64),
                    decision: None,
                    decided_at: None,
                    skipped_reason: None,
                    updated_at: at,
                });
                ("backup_proposed", json!({"capacity_tb": tb}), None)
            }
            "backup_done" => {
                if rng.random_bool(0.2) {
                    proposal = Some(ProposalRow {
                        engagement_id: id.clone(),
                        current_state: "{}".into(),
                        proposal: "{}".into(),
                        capacity_tb: None,
                        estimate_min_jpy: None,
                        estimate_max_jpy: None,
                        decision: None,
                        decided_at: None,
                        skipped_reason: Some("既存の体制で十分との判断（デモ）".into()),
                        updated_at: at,
                    });
                    ("backup_skipped", json!({}), Some(Milestone::BackupSkipped))
                } else {
                    let decision = ["adopt", "adopt", "defer", "decline"][rng.random_range(0..4)];
                    if let Some(p) = proposal.as_mut() {
                        p.decision = Some(decision.into());
                        p.decided_at = Some(at);
                        p.updated_at = at;
                    }
                    (
                        "backup_decided",
                        json!({"decision": decision}),
                        Some(Milestone::BackupDecided),
                    )
                }
            }
            _ => ("completed", json!({}), Some(Milestone::Completed)),
        };
        let before = stage;
        if let Some(m) = milestone {
            have.insert(m);
            reached.push(MilestoneInsert {
                engagement_id: id.clone(),
                kind: m.as_str().into(),
                at,
                actor: "system:demo".into(),
            });
        }
        stage = derive_stage(&have);
        if stage != before {
            since = at;
        }
        events.push(event(&id, at, kind, payload, before, stage));
    }
    // A few step aside: declined, withdrawn, on hold.
    let (side, reason, resume_on) = match rng.random_range(0..100) {
        0..4 if stage <= Stage::Consented => (
            Some(SideState::Declined),
            Some("院内の体制が整わないため（デモ）"),
            None,
        ),
        4..5 if stage < Stage::Completed => (
            Some(SideState::Withdrawn),
            Some("都道府県からの取り下げ（デモ）"),
            None,
        ),
        5..8 if stage < Stage::Completed => (
            Some(SideState::OnHold),
            Some("電子カルテ更新作業のため（デモ）"),
            Some(date_in_japan(plan.now.and_utc()) + Duration::days(30)),
        ),
        _ => (None, None, None),
    };
    if let Some(s) = side {
        let at = (t + Duration::hours(rng.random_range(24..24 * 7))).min(plan.now);
        let kind = match s {
            SideState::OnHold => "put_on_hold",
            other => other.as_str(),
        };
        events.push(event(
            &id,
            at,
            kind,
            json!({"reason": reason}),
            stage,
            stage,
        ));
    }
    if let (Some((status, submitted)), Some(template_id)) = (questionnaire, template_id) {
        responses.push(db::intake::ResponseRow {
            engagement_id: id.clone(),
            template_id,
            answers: Json::empty_map(),
            status,
            submitted_at: Some(submitted),
            reviewed_at: None,
            review_comment: None,
            updated_at: submitted,
            version: 1,
        });
    }
    if let (Some((slot_id, _)), Some((status, booked))) = (&slot, hearing_status) {
        b.hearings.push(HearingRow {
            id: db::new_id(),
            engagement_id: id.clone(),
            slot_id: slot_id.clone(),
            status,
            attendees: Json::empty_list(),
            sequence: 0,
            outcome_note: None,
            minutes_document_id: None,
            cancel_reason: None,
            booked_at: booked,
            updated_at: booked,
        });
    }
    b.proposals.extend(proposal);
    b.milestones.extend(reached);
    b.events.push(event(
        &id,
        plan.created,
        "selected",
        json!({"demo": true}),
        Stage::Selected,
        Stage::Selected,
    ));
    b.events.extend(events);
    b.engagements.push(EngagementInsert {
        id,
        round_id: plan.round_id.into(),
        hospital_id: plan.hospital_id.into(),
        organization_id: plan.org,
        prefecture_code: plan.prefecture.into(),
        tier: plan.tier,
        rank: Some(plan.rank),
        secondary: false,
        stage: stage.as_str().into(),
        stage_since: since,
        side_state: side.map(|s| s.as_str().into()),
        side_reason: reason.map(Into::into),
        resume_on,
        memorandum_status: memorandum.map(Into::into),
        memorandum_executed_on: executed_on,
        created_at: plan.created,
        updated_at: t,
        version: 1,
    });
}

fn event(
    engagement_id: &str,
    at: NaiveDateTime,
    kind: &str,
    payload: serde_json::Value,
    before: Stage,
    after: Stage,
) -> EventRow {
    EventRow {
        id: db::new_id(),
        engagement_id: engagement_id.into(),
        at,
        actor_kind: "system".into(),
        actor_id: None,
        actor_label: "demo-data".into(),
        kind: kind.into(),
        payload: payload.to_string(),
        stage_before: before,
        stage_after: after,
        override_reason: None,
    }
}
