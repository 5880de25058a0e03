//! Rounds (one fiscal year's call), their bed-size tiers and the support slots per prefecture
//! and tier.

use actix_web::{get, post, put, web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::json::Json;
use crate::app::AppState;
use crate::auth::Actor;
use crate::db::rounds::{RoundRow, SlotRow};
use crate::db::{self, utc, DbConnection};
use crate::domain::access::Role;
use crate::domain::ids::RoundId;
use crate::domain::prefectures;
use crate::domain::rounds::{self as rules, Tier};
use crate::error::{AppError, AppResult, FieldError};

#[derive(Serialize, ToSchema)]
pub struct RoundOut {
    #[schema(value_type = String)]
    pub id: RoundId,
    pub name: String,
    pub fiscal_year: i64,
    pub tiers: Vec<Tier>,
    pub created_at: DateTime<Utc>,
}

pub use crate::service::rounds::{tier_label, tiers_of};

impl TryFrom<RoundRow> for RoundOut {
    type Error = AppError;
    fn try_from(r: RoundRow) -> AppResult<Self> {
        Ok(Self {
            tiers: tiers_of(&r)?,
            id: r.id,
            name: r.name,
            fiscal_year: r.fiscal_year,
            created_at: utc(r.created_at),
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRound {
    /// `FY2024`, `FY2025`, …
    #[schema(pattern = "^FY[0-9]{4}$")]
    pub name: String,
    /// Bed-size tiers; default 20–99, 100–199, 200–399, 400+.
    pub tiers: Option<Vec<Tier>>,
}

/// All rounds.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), responses((status = 200, body = Vec<RoundOut>)))]
#[get("/rounds")]
pub async fn list_rounds(
    state: web::Data<AppState>,
    _actor: Actor,
) -> AppResult<web::Json<Vec<RoundOut>>> {
    let rows = state.db.read(|conn| Ok(db::rounds::list(conn)?)).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(RoundOut::try_from)
            .collect::<AppResult<_>>()?,
    ))
}

/// Open a round (admin).
#[utoipa::path(tag = "rounds", security(("bearer" = [])), request_body = NewRound, responses(
    (status = 201, body = RoundOut),
    (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/rounds")]
pub async fn create_round(
    state: web::Data<AppState>,
    actor: Actor,
    body: Json<NewRound>,
) -> AppResult<HttpResponse> {
    actor.require(actor.role.manages_accounts(), "open rounds")?;
    let input = body.0;
    let name = input.name.trim().to_owned();
    let year = rules::check_round_name(&name).map_err(|m| AppError::field("name", m))?;
    let tiers = input.tiers.unwrap_or_else(rules::default_tiers);
    rules::check_tiers(&tiers).map_err(|m| AppError::field("tiers", m))?;
    let now = state.clock().now();
    let row = RoundRow {
        id: RoundId::new(db::new_id()),
        name,
        fiscal_year: i64::from(year),
        tiers: serde_json::to_string(&tiers).map_err(anyhow::Error::from)?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let row = state
        .db
        .write(move |conn| {
            if db::rounds::find(conn, &row.name)?.is_some() {
                return Err(AppError::conflict(
                    "round_exists",
                    format!("round {} exists", row.name),
                ));
            }
            db::rounds::insert(conn, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(RoundOut::try_from(row)?))
}

#[derive(Serialize, Deserialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
#[schema(as = SupportSlotIn)]
pub struct SlotIn {
    /// JIS code or name.
    pub prefecture: String,
    /// Tier label of the round.
    pub tier: String,
    pub slots: i64,
}

#[derive(Serialize, ToSchema)]
#[schema(as = SupportSlotOut)]
pub struct SlotOut {
    pub prefecture_code: String,
    pub prefecture_name: String,
    pub tier: String,
    pub slots: i64,
    /// Engagements selected in this prefecture and tier (declined and withdrawn not counted).
    pub filled: i64,
}

fn load_round(conn: &mut DbConnection, key: &str) -> AppResult<RoundRow> {
    db::rounds::find(conn, key)?.ok_or_else(|| AppError::NotFound(format!("no round {key}")))
}

fn slots_out(conn: &mut DbConnection, round: &RoundRow) -> AppResult<Vec<SlotOut>> {
    let filled = db::rounds::filled(conn, &round.id)?;
    Ok(db::rounds::slots(conn, &round.id)?
        .into_iter()
        .map(|s| SlotOut {
            prefecture_name: prefectures::find(&s.prefecture_code)
                .map(|p| p.name_ja.clone())
                .unwrap_or_default(),
            filled: filled
                .iter()
                .find(|(p, t, _)| *p == s.prefecture_code && t.as_deref() == Some(&s.tier))
                .map_or(0, |(_, _, n)| *n),
            prefecture_code: s.prefecture_code,
            tier: s.tier,
            slots: s.slots,
        })
        .collect())
}

/// Support slots of a round, with how many are filled. A prefecture viewer reads its own
/// prefecture's rows only.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), responses(
    (status = 200, body = Vec<SlotOut>),
    (status = 404, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[get("/rounds/{round}/slots")]
pub async fn list_slots(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
) -> AppResult<web::Json<Vec<SlotOut>>> {
    let key = path.into_inner();
    let mut out = state
        .db
        .read(move |conn| {
            let round = load_round(conn, &key)?;
            slots_out(conn, &round)
        })
        .await?;
    if actor.role == Role::PrefectureViewer {
        // A viewer without a prefecture (which account rules prevent) sees nothing.
        out.retain(|s| actor.prefecture_code.as_deref() == Some(s.prefecture_code.as_str()));
    }
    Ok(web::Json(out))
}

/// Checks slot rows against the round; errors name the row (`slots[3].tier`).
fn check_slots(
    round: &RoundRow,
    rows: &[SlotIn],
    field: &str,
) -> AppResult<Vec<(String, String, i64)>> {
    let tiers = tiers_of(round)?;
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let at = |f: &str| format!("{field}[{i}].{f}");
        let pref = prefectures::find(&r.prefecture);
        if pref.is_none() {
            errors.push(FieldError::new(at("prefecture"), "unknown prefecture"));
        }
        if !tiers.iter().any(|t| t.label == r.tier.trim()) {
            errors.push(FieldError::new(
                at("tier"),
                format!(
                    "not a tier of {}: {}",
                    round.name,
                    tiers
                        .iter()
                        .map(|t| t.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if !(0..=10_000).contains(&r.slots) {
            errors.push(FieldError::new(at("slots"), "must be between 0 and 10000"));
        }
        if let Some(p) = pref {
            out.push((p.code.clone(), r.tier.trim().to_owned(), r.slots));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(AppError::Validation(errors))
    }
}

fn write_slots(
    conn: &mut DbConnection,
    round: &RoundRow,
    rows: Vec<(String, String, i64)>,
    now: NaiveDateTime,
) -> AppResult<()> {
    for (prefecture_code, tier, slots) in rows {
        db::rounds::set_slot(
            conn,
            &SlotRow {
                round_id: round.id.clone(),
                prefecture_code,
                tier,
                slots,
                updated_at: now,
            },
        )?;
    }
    Ok(())
}

/// Set support slots (admin): each row replaces the count for its prefecture and tier. All rows
/// or none are written.
#[utoipa::path(tag = "rounds", security(("bearer" = [])), request_body = Vec<SlotIn>, responses(
    (status = 200, body = Vec<SlotOut>),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[put("/rounds/{round}/slots")]
pub async fn set_slots(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    body: Json<Vec<SlotIn>>,
) -> AppResult<web::Json<Vec<SlotOut>>> {
    actor.require(actor.role.manages_accounts(), "set support slots")?;
    let key = path.into_inner();
    let rows = body.0;
    let now = state.clock().now();
    let out = state
        .db
        .write(move |conn| {
            let round = load_round(conn, &key)?;
            let checked = check_slots(&round, &rows, "slots")?;
            write_slots(conn, &round, checked, now)?;
            slots_out(conn, &round)
        })
        .await?;
    Ok(web::Json(out))
}

/// Set support slots from CSV (admin): a header `prefecture,tier,slots` (or 都道府県,区分,支援枠),
/// one row per prefecture and tier, UTF-8 or Shift_JIS. All rows or none.
#[utoipa::path(tag = "rounds", security(("bearer" = [])),
    request_body(content = super::forms::SlotsCsv, content_type = "text/csv"),
    responses(
    (status = 200, body = Vec<SlotOut>),
    (status = 422, body = crate::error::Problem, content_type = "application/problem+json"),
    (status = 403, body = crate::error::Problem, content_type = "application/problem+json"),
))]
#[post("/rounds/{round}/slots/import")]
pub async fn import_slots(
    state: web::Data<AppState>,
    actor: Actor,
    path: web::Path<String>,
    payload: web::Payload,
) -> AppResult<web::Json<Vec<SlotOut>>> {
    actor.require(actor.role.manages_accounts(), "set support slots")?;
    let body = super::forms::read_limited(payload, super::json::MAX_JSON_BYTES).await?;
    let rows = parse_slots_csv(&body)?;
    let key = path.into_inner();
    let now = state.clock().now();
    let out = state
        .db
        .write(move |conn| {
            let round = load_round(conn, &key)?;
            let checked = check_slots(&round, &rows, "rows")?;
            write_slots(conn, &round, checked, now)?;
            slots_out(conn, &round)
        })
        .await?;
    Ok(web::Json(out))
}

fn parse_slots_csv(bytes: &[u8]) -> AppResult<Vec<SlotIn>> {
    let text = crate::import::decode_text(bytes, None).map_err(|e| AppError::BadRequest(e.en()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| AppError::BadRequest(format!("unreadable CSV header: {e}")))?
        .clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim()));
    let (Some(p), Some(t), Some(n)) = (
        col(&["prefecture", "都道府県"]),
        col(&["tier", "区分", "病床区分"]),
        col(&["slots", "支援枠", "枠数"]),
    ) else {
        return Err(AppError::BadRequest(
            "the header must name prefecture, tier and slots".into(),
        ));
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                errors.push(FieldError::new(format!("row {line}"), e.to_string()));
                continue;
            }
        };
        let get = |c: usize| rec.get(c).unwrap_or("").to_owned();
        match crate::domain::normalize::digits_only(&get(n)).parse::<i64>() {
            Ok(slots) => rows.push(SlotIn {
                prefecture: get(p),
                tier: get(t),
                slots,
            }),
            Err(_) => errors.push(FieldError::new(
                format!("row {line}.slots"),
                "not a whole number",
            )),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(AppError::Validation(errors))
    }
}
