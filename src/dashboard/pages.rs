//! What each page shows: the figures from `service::dashboard`, turned into Japanese tables and
//! SVG charts, rendered with the templates beside this file.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use minijinja::Environment;
use serde_json::{json, Value};

use super::charts;
use super::handlers::PageQuery;
use super::session::{Signed, IDLE};
use crate::db::{self, DbConnection};
use crate::domain::access::Role;
use crate::domain::calendar::jst;
use crate::domain::pipeline::{Party, SideState, Sla, Stage};
use crate::domain::prefectures;
use crate::error::{AppError, AppResult};
use crate::service::dashboard::durations::{durations, Durations};
use crate::service::dashboard::hospitals::{
    hospitals as hospital_page, HospitalPage, HospitalsQuery,
};
use crate::service::dashboard::summary::{summary, Summary, SummaryQuery};
use crate::service::dashboard::trend::{trend, Trend, TrendQuery};
use crate::service::dashboard::{next_action_ja, resolve, stage_ja, ScopeParams, Viewer};

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("error.html", include_str!("templates/error.html")),
        ("filters.html", include_str!("templates/filters.html")),
        ("overview.html", include_str!("templates/overview.html")),
        ("hospitals.html", include_str!("templates/hospitals.html")),
    ] {
        // Built-in templates; a broken one is a programming error the tests catch.
        let _ = env.add_template(name, src);
    }
    env
});

fn render(name: &str, data: Value) -> AppResult<String> {
    ENV.get_template(name)
        .and_then(|t| t.render(data))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("template {name}: {e}")))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.with_timezone(&jst())
        .format("%Y年%-m月%-d日 %H:%M")
        .to_string()
}

fn days(x: Option<f64>) -> String {
    x.map(|d| format!("{d:.1}")).unwrap_or_else(|| "—".into())
}

/// The query string that keeps the scope (round, prefecture, tier) across the pages.
fn scope_query(round: &str, q: &PageQuery) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("round", round);
    for (k, v) in [("prefecture", &q.prefecture), ("tier", &q.tier)] {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    format!("?{}", s.finish())
}

/// What the filter form offers and shows as chosen.
fn filter_context(conn: &mut DbConnection, viewer: &Viewer, q: &PageQuery) -> AppResult<Value> {
    let r = resolve(
        conn,
        viewer,
        &ScopeParams {
            round: q.round.clone(),
            prefecture: q.prefecture.clone(),
            tier: q.tier.clone(),
            organization_id: q.organization_id.clone(),
        },
    )?;
    let rounds: Vec<String> = db::rounds::list(conn)?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let fixed = (viewer.role == Role::PrefectureViewer)
        .then(|| r.prefecture.map(|p| p.name_ja.clone()))
        .flatten();
    Ok(json!({
        "rounds": rounds,
        "round": r.round.name,
        "prefectures": prefectures::all().iter().map(|p| json!({"code": p.code, "name": p.name_ja})).collect::<Vec<_>>(),
        "prefecture": r.filter.prefecture_code,
        "fixed_prefecture": fixed,
        "scope_label": r.prefecture.map(|p| p.name_ja.clone()),
        "tiers": r.tiers.iter().map(|t| t.label.clone()).collect::<Vec<_>>(),
        "tier": r.filter.tier,
    }))
}

pub struct OverviewData {
    summary: Summary,
    trend: Trend,
    durations: Durations,
    filters: Value,
}

pub fn overview_data(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &PageQuery,
    now: DateTime<Utc>,
) -> AppResult<OverviewData> {
    let sq = SummaryQuery {
        round: q.round.clone(),
        prefecture: q.prefecture.clone(),
        tier: q.tier.clone(),
        organization_id: q.organization_id.clone(),
    };
    let tq = TrendQuery {
        round: q.round.clone(),
        prefecture: q.prefecture.clone(),
        tier: q.tier.clone(),
        organization_id: q.organization_id.clone(),
        ..Default::default()
    };
    Ok(OverviewData {
        summary: summary(conn, sla, viewer, &sq, now)?,
        trend: trend(conn, viewer, &tq, now)?,
        durations: durations(conn, viewer, &sq, now)?,
        filters: filter_context(conn, viewer, q)?,
    })
}

fn base_context(
    s: &Signed,
    page: &str,
    query: &str,
    filters: &Value,
) -> serde_json::Map<String, Value> {
    let mut ctx = filters.as_object().cloned().unwrap_or_default();
    ctx.insert("user".into(), json!(s.label));
    ctx.insert("csrf".into(), json!(s.csrf));
    ctx.insert("page".into(), json!(page));
    ctx.insert("query".into(), json!(query));
    ctx.insert("query_sep".into(), json!(format!("{query}&")));
    ctx
}

pub fn overview(d: &OverviewData, q: &PageQuery, s: &Signed) -> AppResult<String> {
    let sm = &d.summary;
    let query = scope_query(&sm.round, q);
    let mut ctx = base_context(s, "overview", &query, &d.filters);
    let bars: Vec<(String, _)> = if sm.prefecture.is_some() {
        sm.by_tier
            .iter()
            .map(|t| {
                (
                    t.tier
                        .as_deref()
                        .map_or("区分なし".into(), |l| format!("{l}床")),
                    t.counts,
                )
            })
            .collect()
    } else {
        sm.by_prefecture
            .iter()
            .map(|p| (p.name.clone(), p.counts))
            .collect()
    };
    let durations: Vec<Value> = d
        .durations
        .stages
        .iter()
        .map(|x| {
            json!({
                "label": stage_ja(x.stage), "finished": x.finished, "in_progress": x.in_progress,
                "median": days(x.median_days), "p90": days(x.p90_days),
                "hospital": days(x.waiting_on_hospital_days), "vendor": days(x.waiting_on_vendor_days),
            })
        })
        .collect();
    ctx.insert("title".into(), json!("進捗の概要"));
    ctx.insert(
        "s".into(),
        serde_json::to_value(sm).map_err(anyhow::Error::from)?,
    );
    ctx.insert(
        "t".into(),
        serde_json::to_value(&sm.totals).map_err(anyhow::Error::from)?,
    );
    ctx.insert("as_of".into(), json!(stamp(sm.as_of)));
    ctx.insert(
        "rate".into(),
        json!(sm
            .totals
            .counts
            .completion_rate
            .map(|r| format!("{:.1}%", r * 100.0))
            .unwrap_or_else(|| "—".into())),
    );
    ctx.insert("map".into(), json!(charts::tile_map(&sm.by_prefecture)));
    ctx.insert(
        "flow".into(),
        json!(charts::cumulative_flow(&d.trend.points)),
    );
    ctx.insert("bars".into(), json!(charts::stacked_bars(&bars)));
    ctx.insert(
        "bars_title".into(),
        json!(if sm.prefecture.is_some() {
            "病床規模別の段階"
        } else {
            "都道府県別の段階"
        }),
    );
    ctx.insert("legend".into(), json!(charts::legend()));
    ctx.insert("durations".into(), json!(durations));
    render("overview.html", Value::Object(ctx))
}

pub struct HospitalsData {
    page: HospitalPage,
    filters: Value,
    limit: i64,
}

const PAGE_SIZE: i64 = 100;

fn hospitals_query(q: &PageQuery) -> AppResult<HospitalsQuery> {
    Ok(HospitalsQuery {
        round: q.round.clone(),
        prefecture: q.prefecture.clone(),
        tier: q.tier.clone(),
        organization_id: q.organization_id.clone(),
        stage: match q.stage.as_deref() {
            None => None,
            Some(s) => {
                Some(Stage::parse(s).ok_or_else(|| AppError::field("stage", "unknown stage"))?)
            }
        },
        overdue: q.overdue.as_deref().map(|v| v == "true"),
        sort: q.sort.clone(),
        limit: Some(PAGE_SIZE),
        cursor: q.cursor.clone(),
        // The page shows how many rows match.
        count: Some(true),
    })
}

pub fn hospitals_data(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &PageQuery,
    now: DateTime<Utc>,
) -> AppResult<HospitalsData> {
    Ok(HospitalsData {
        page: hospital_page(conn, sla, viewer, &hospitals_query(q)?, now)?,
        filters: filter_context(conn, viewer, q)?,
        limit: PAGE_SIZE,
    })
}

pub fn hospitals(d: &HospitalsData, q: &PageQuery, s: &Signed) -> AppResult<String> {
    let h = &d.page;
    let query = scope_query(&h.round, q);
    let mut ctx = base_context(s, "hospitals", &query, &d.filters);
    let rows: Vec<Value> = h
        .items
        .iter()
        .map(|r| {
            let stage = match r.side_state {
                Some(SideState::Declined) => format!("{}（辞退）", stage_ja(r.stage)),
                Some(SideState::Withdrawn) => format!("{}（取り下げ）", stage_ja(r.stage)),
                Some(SideState::OnHold) => format!("{}（保留）", stage_ja(r.stage)),
                None => stage_ja(r.stage).to_owned(),
            };
            json!({
                "code": r.institution_code, "name": r.name, "prefecture": r.prefecture_name,
                "tier": r.tier, "stage": stage, "since": r.since.to_string(),
                "next": r.next_action.as_ref().map(|n| next_action_ja(&n.code)),
                "awaiting": match r.next_action.as_ref().map(|n| n.awaiting) {
                    Some(Party::Hospital) => "医療機関", Some(Party::Vendor) => "事業者", None => "",
                },
                "overdue": r.overdue,
                "org": r.organization_name.clone().unwrap_or_else(|| "未割当".into()),
                "hearing": r.hearing_date.map(|d| d.to_string()),
            })
        })
        .collect();
    // Links keep every filter; only the cursor changes.
    let link = |cursor: Option<&str>| {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("round", &h.round);
        for (k, v) in [
            ("prefecture", &q.prefecture),
            ("tier", &q.tier),
            ("stage", &q.stage),
            ("overdue", &q.overdue),
            ("sort", &q.sort),
        ] {
            if let Some(v) = v {
                ser.append_pair(k, v);
            }
        }
        if let Some(c) = cursor {
            ser.append_pair("cursor", c);
        }
        format!("/dashboard/hospitals?{}", ser.finish())
    };
    ctx.insert("title".into(), json!("病院一覧"));
    ctx.insert("h".into(), json!({"round": h.round, "total": h.total}));
    ctx.insert("as_of".into(), json!(stamp(h.as_of)));
    ctx.insert("rows".into(), json!(rows));
    ctx.insert("limit".into(), json!(d.limit));
    ctx.insert(
        "next_link".into(),
        json!(h.next_cursor.as_deref().map(|c| link(Some(c)))),
    );
    ctx.insert(
        "first_link".into(),
        json!(q.cursor.is_some().then(|| link(None))),
    );
    ctx.insert(
        "stages".into(),
        json!(Stage::ALL
            .iter()
            .map(|s| json!({"code": s.as_str(), "label": stage_ja(*s)}))
            .collect::<Vec<_>>()),
    );
    ctx.insert("stage".into(), json!(q.stage));
    ctx.insert(
        "overdue".into(),
        json!(q.overdue.as_deref() == Some("true")),
    );
    ctx.insert(
        "sorts".into(),
        json!([
            {"code": "institution_code", "label": "医療機関コード"},
            {"code": "name", "label": "医療機関名"},
            {"code": "prefecture", "label": "都道府県"},
            {"code": "stage", "label": "段階（進んでいない順）"},
            {"code": "-stage", "label": "段階（進んだ順）"},
            {"code": "since", "label": "開始日（古い順）"},
        ]),
    );
    ctx.insert(
        "sort".into(),
        json!(q.sort.as_deref().unwrap_or("institution_code")),
    );
    render("hospitals.html", Value::Object(ctx))
}

pub fn login(csrf: &str, email: &str, message: Option<&str>) -> String {
    render(
        "login.html",
        json!({"title": "サインイン", "csrf": csrf, "email": email, "message": message, "idle": IDLE.num_minutes()}),
    )
    .unwrap_or_else(|e| format!("<!DOCTYPE html><html lang=\"ja\"><meta charset=\"utf-8\"><p>{e}</p></html>"))
}

pub fn error(e: &AppError, s: Option<&Signed>) -> String {
    let (title, message) = match e {
        AppError::Forbidden(_) => (
            "表示できません",
            "この範囲の進捗は、お使いのアカウントでは表示できません。ご自身の範囲を選び直してください。",
        ),
        AppError::Validation(_) | AppError::BadRequest(_) => (
            "条件を確認してください",
            "指定された条件では表示できませんでした。",
        ),
        AppError::Unavailable(_) => ("ただいま表示できません", "しばらくしてからもう一度お試しください。"),
        AppError::TooManyRequests { .. } => (
            "しばらくお待ちください",
            "ログインの失敗が続いたため、一時的にログインを受け付けていません。時間をおいてからもう一度お試しください。",
        ),
        _ => ("表示できませんでした", "一時的な不具合により表示できませんでした。"),
    };
    let errors: Vec<String> = match e {
        AppError::Validation(list) => list
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect(),
        AppError::Forbidden(detail) => vec![detail.clone()],
        _ => Vec::new(),
    };
    render(
        "error.html",
        json!({"title": title, "message": message, "errors": errors,
               "user": s.map(|s| s.label.clone()), "csrf": s.map(|s| s.csrf.clone()),
               "query": "", "page": ""}),
    )
    .unwrap_or_else(|_| {
        format!("<!DOCTYPE html><html lang=\"ja\"><meta charset=\"utf-8\"><p>{message}</p></html>")
    })
}
