//! `engagement-tracker demo-data`: fills an empty database with a realistic round — hospitals
//! across the 47 prefectures with valid institution codes, support slots, subcontractors, and
//! engagements at every stage with timelines spread over the past weeks — so that a newcomer
//! (and the benchmarks) see a living dashboard. Fictional throughout: no real hospital, person
//! or address. The same seed gives the same data.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::demo::Batch;
use crate::db::hospitals::HospitalRow;
use crate::db::orgs::NewOrg;
use crate::db::rounds::{RoundRow, SlotRow};
use crate::db::{self, Db, DbConnection};
use crate::domain::calendar::date_in_japan;
use crate::domain::ids::{HospitalId, OrganizationId, RoundId};
use crate::domain::medcode::luhn_digit;
use crate::domain::orgs::OrgKind;
use crate::domain::prefectures;
use crate::domain::rounds::{default_tiers, tier_for};
use crate::error::{AppError, AppResult};

mod history;

use history::{engagement, Plan};

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
    let report = db.write_blocking(|conn| {
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
            let hospital_id = HospitalId::new(db::new_id());
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
    })?;
    db.write_blocking(|conn| Ok(db::demo::analyze(conn)?))?;
    Ok(report)
}

struct Orgs {
    prime_name: String,
    ministry_name: String,
    prefecture_name: String,
    subs: Vec<OrganizationId>,
    metro: OrganizationId,
}

fn organizations(conn: &mut DbConnection, now: NaiveDateTime) -> AppResult<Orgs> {
    // An existing prime contractor (the first admin's) stays the root.
    let existing = db::orgs::list(conn, &db::Scope::All, None, 1000)?
        .into_iter()
        .find(|o| o.kind == OrgKind::Prime.as_str());
    let mut add =
        |name: &str, kind: OrgKind, parent: Option<&OrganizationId>| -> AppResult<OrganizationId> {
            if let Some(o) = db::orgs::find_by_id_or_name(conn, name)? {
                return Ok(o.id);
            }
            let id = OrganizationId::new(db::new_id());
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
        id: RoundId::new(db::new_id()),
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
fn slots(rng: &mut StdRng, round_id: &RoundId, b: &Batch, now: NaiveDateTime) -> Vec<SlotRow> {
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
            round_id: round_id.clone(),
            prefecture_code,
            tier,
            slots: ((n as f64) * rng.random_range(0.85..1.25)).round() as i64,
            updated_at: now,
        })
        .collect()
}
