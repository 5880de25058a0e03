//! The progress dashboards: figures checked against a world built through the API, who sees
//! what, the trend and durations from backdated milestones, and the export.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use engagement_tracker::domain::access::Role;
use engagement_tracker::domain::pipeline::Stage;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp};

/// Round FY2025 with slots; Sub A and Sub B; four hospitals in Tokyo and Osaka at different
/// stages, one declined and one overdue.
struct Dash {
    admin: String,
    sub_a: String,
    sub_b: String,
    coord_a: String,
    coord_b: String,
    /// Engagement ids: Tokyo consented (A), Tokyo contacting (B), Osaka declined (A), Osaka
    /// selected and overdue (unassigned).
    e: [String; 4],
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap()
}

impl TestApp {
    /// A hospital in any prefecture, without contacts; returns its id.
    pub async fn hospital_in(
        &self,
        admin: &str,
        pref: &str,
        n: u32,
        name: &str,
        beds: i64,
    ) -> String {
        let res = self
            .post(
                "/api/v1/hospitals",
                admin,
                json!({"prefecture": pref, "institution_code": institution_code(pref, 1, n),
                       "name": name, "beds": beds}),
            )
            .await;
        ok(res).await["id"].as_str().unwrap().to_owned()
    }
}

async fn dash(app: &TestApp) -> Dash {
    let w = app.world().await;
    let a = &w.admin;
    let sub_b = app
        .create_org(a, "Sub B", "subcontractor", Some(&w.prime))
        .await;
    app.seed_user("coord@b.example", &sub_b, Role::Coordinator)
        .await;
    let coord_b = app.login("coord@b.example").await;
    let res = app
        .req(Method::PUT, "/api/v1/rounds/FY2025/slots", Some(a))
        .json(&json!([
            {"prefecture": "13", "tier": "100-199", "slots": 3},
            {"prefecture": "13", "tier": "200-399", "slots": 1},
            {"prefecture": "27", "tier": "20-99", "slots": 2}
        ]))
        .send()
        .await
        .unwrap();
    ok(res).await;
    let h1 = app.hospital_in(a, "13", 1, "架空中央病院", 150).await;
    let h2 = app.hospital_in(a, "13", 2, "架空港病院", 250).await;
    let h3 = app.hospital_in(a, "27", 3, "架空浪速病院", 50).await;
    let h4 = app.hospital_in(a, "27", 4, "架空堺病院", 60).await;
    let e1 = app.engagement(a, &h1, Some(&w.sub_a)).await;
    let e2 = app.engagement(a, &h2, Some(&sub_b)).await;
    let e3 = app.engagement(a, &h3, Some(&w.sub_a)).await;
    // e4 was selected 60 days ago and has waited since: made with the clock moved back.
    app.clock().advance(-Duration::days(60));
    let e4 = app.engagement(a, &h4, None).await;
    app.clock().advance(Duration::days(60));
    let contact = json!({"channel": "email", "outcome": "reached"});
    ok(app.step(a, &e1, "contact-attempts", contact.clone()).await).await;
    ok(app.step(a, &e1, "consent", json!({})).await).await;
    ok(app.step(a, &e2, "contact-attempts", contact).await).await;
    ok(app
        .step(
            a,
            &e3,
            "side-state",
            json!({"state": "declined", "reason": "院内体制のため"}),
        )
        .await)
    .await;
    Dash {
        admin: w.admin,
        sub_a: w.sub_a,
        sub_b,
        coord_a: w.coord_a,
        coord_b,
        e: [e1, e2, e3, e4],
    }
}

fn row<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows}"))
}

#[tokio::test]
async fn summary_counts_by_stage_prefecture_tier_organisation_and_slots() {
    let app = spawn().await;
    let d = dash(&app).await;
    // The ministry's viewer sees what the admin sees.
    let ministry = app
        .create_org(&d.admin, "厚生労働省", "ministry", None)
        .await;
    app.seed_user("viewer@mhlw.example", &ministry, Role::Viewer)
        .await;
    let viewer = app.login("viewer@mhlw.example").await;
    let s = ok(app
        .get("/api/v1/dashboard/summary?round=FY2025", &viewer)
        .await)
    .await;
    let t = &s["totals"];
    assert_eq!(t["selected"], 4);
    assert_eq!(
        t["stages"]["selected"], 1,
        "the declined one is counted apart"
    );
    assert_eq!(t["stages"]["contacting"], 1);
    assert_eq!(t["stages"]["consented"], 1);
    assert_eq!(t["declined"], 1);
    assert_eq!(
        (t["withdrawn"].as_i64(), t["on_hold"].as_i64()),
        (Some(0), Some(0))
    );
    assert_eq!(t["overdue"], 1);
    assert_eq!(t["reached"]["selected"], 4);
    assert_eq!(t["reached"]["contacting"], 2);
    assert_eq!(t["reached"]["consented"], 1);
    assert_eq!(t["reached"]["memorandum"], 0);
    assert_eq!(t["slots"], 6);
    assert_eq!(t["completion_rate"], 0.0);
    assert_eq!(
        t["backup"],
        json!({"adopt": 0, "defer": 0, "decline": 0, "skipped": 0})
    );

    let prefs = &s["by_prefecture"];
    assert_eq!(
        prefs.as_array().unwrap().len(),
        47,
        "all 47, zero rows included"
    );
    let tokyo = row(prefs, "code", "13");
    assert_eq!(
        (tokyo["name"].as_str(), tokyo["slots"].as_i64()),
        (Some("東京都"), Some(4))
    );
    assert_eq!(
        (tokyo["selected"].as_i64(), tokyo["overdue"].as_i64()),
        (Some(2), Some(0))
    );
    let osaka = row(prefs, "code", "27");
    assert_eq!(
        (osaka["selected"].as_i64(), osaka["declined"].as_i64()),
        (Some(2), Some(1))
    );
    assert_eq!(osaka["overdue"], 1);
    let hokkaido = row(prefs, "code", "01");
    assert_eq!(
        (hokkaido["selected"].as_i64(), hokkaido["slots"].as_i64()),
        (Some(0), Some(0))
    );
    assert!(hokkaido["completion_rate"].is_null());

    let tiers = &s["by_tier"];
    let labels: Vec<&str> = tiers
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tier"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["20-99", "100-199", "200-399", "400+"]);
    assert_eq!(
        (tiers[0]["selected"].as_i64(), tiers[0]["slots"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (tiers[1]["selected"].as_i64(), tiers[1]["slots"].as_i64()),
        (Some(1), Some(3))
    );
    assert_eq!(tiers[3]["selected"], 0);

    let orgs = &s["by_organization"];
    let a = row(orgs, "organization_id", &d.sub_a);
    assert_eq!(
        (a["name"].as_str(), a["selected"].as_i64()),
        (Some("Sub A"), Some(2))
    );
    assert_eq!(row(orgs, "organization_id", &d.sub_b)["selected"], 1);
    let unassigned = orgs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["organization_id"].is_null())
        .unwrap();
    assert_eq!(unassigned["selected"], 1);

    let fill = s["slot_fill"].as_array().unwrap();
    let cell = |p: &str, t: &str| {
        let c = fill
            .iter()
            .find(|c| c["prefecture_code"] == p && c["tier"] == t)
            .unwrap();
        (
            c["slots"].as_i64().unwrap(),
            c["active_selected"].as_i64().unwrap(),
            c["gap"].as_i64().unwrap(),
        )
    };
    assert_eq!(cell("13", "100-199"), (3, 1, 2));
    assert_eq!(cell("13", "200-399"), (1, 1, 0));
    assert_eq!(
        cell("27", "20-99"),
        (2, 1, 1),
        "the declined hospital frees its slot"
    );

    // Filters narrow every figure.
    let s = ok(app
        .get("/api/v1/dashboard/summary?round=FY2025&tier=20-99", &viewer)
        .await)
    .await;
    assert_eq!(s["totals"]["selected"], 2);
    assert_eq!(s["by_tier"].as_array().unwrap().len(), 1);
    let s = ok(app
        .get(
            &format!("/api/v1/dashboard/summary?organization_id={}", d.sub_b),
            &viewer,
        )
        .await)
    .await;
    assert_eq!(s["totals"]["selected"], 1, "the latest round by default");
    assert_eq!(s["round"], "FY2025");
}

#[tokio::test]
async fn each_role_sees_its_own_scope() {
    let app = spawn().await;
    let d = dash(&app).await;
    let tokyo = app
        .create_org(&d.admin, "東京都庁", "prefecture", None)
        .await;
    app.seed_user("pref@tokyo.example", &tokyo, Role::PrefectureViewer)
        .await;
    let pref = app.login("pref@tokyo.example").await;

    // A prefecture viewer: its own prefecture when none is named, 403 for another.
    let s = ok(app
        .get("/api/v1/dashboard/summary?round=FY2025", &pref)
        .await)
    .await;
    assert_eq!(s["prefecture"], "13");
    assert_eq!(s["totals"]["selected"], 2);
    assert_eq!(s["by_prefecture"].as_array().unwrap().len(), 1);
    assert!(s["slot_fill"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["prefecture_code"] == "13"));
    let s = ok(app
        .get("/api/v1/dashboard/summary?prefecture=東京都", &pref)
        .await)
    .await;
    assert_eq!(s["totals"]["selected"], 2);
    for path in [
        "/api/v1/dashboard/summary?prefecture=27",
        "/api/v1/dashboard/hospitals?prefecture=大阪府",
        "/api/v1/dashboard/trend?prefecture=27",
        "/api/v1/dashboard/durations?prefecture=27",
        "/api/v1/dashboard/export?prefecture=27",
    ] {
        let body = problem(app.get(path, &pref).await, 403).await;
        assert!(
            body["detail"].as_str().unwrap().contains("東京都"),
            "{path}"
        );
    }
    let h = ok(app
        .get("/api/v1/dashboard/hospitals?count=true", &pref)
        .await)
    .await;
    assert_eq!(h["total"], 2);
    assert!(h["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["prefecture_code"] == "13"));

    // Coordinators: their organisation's subtree only.
    let s = ok(app.get("/api/v1/dashboard/summary", &d.coord_a).await).await;
    assert_eq!(s["totals"]["selected"], 2);
    assert_eq!(s["by_organization"].as_array().unwrap().len(), 1);
    let s = ok(app.get("/api/v1/dashboard/summary", &d.coord_b).await).await;
    assert_eq!(s["totals"]["selected"], 1);
    let h = ok(app.get("/api/v1/dashboard/hospitals", &d.coord_b).await).await;
    assert_eq!(h["items"][0]["name"], "架空港病院");
    problem(
        app.get(
            &format!("/api/v1/dashboard/summary?organization_id={}", d.sub_b),
            &d.coord_a,
        )
        .await,
        403,
    )
    .await;

    // The admin sees everything; nobody without a token sees anything.
    let s = ok(app.get("/api/v1/dashboard/summary", &d.admin).await).await;
    assert_eq!(s["totals"]["selected"], 4);
    problem(
        app.req(Method::GET, "/api/v1/dashboard/summary", None)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // Bad parameters name themselves.
    for (q, field) in [
        ("round=FY1999", "round"),
        ("tier=huge", "tier"),
        ("prefecture=Atlantis", "prefecture"),
        ("organization_id=nobody", "organization_id"),
    ] {
        let body = problem(
            app.get(&format!("/api/v1/dashboard/summary?{q}"), &d.admin)
                .await,
            422,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{q}");
    }
    for (q, field) in [
        ("sort=color", "sort"),
        ("limit=0", "limit"),
        ("cursor=zzz", "cursor"),
    ] {
        let body = problem(
            app.get(&format!("/api/v1/dashboard/hospitals?{q}"), &d.admin)
                .await,
            422,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], field, "{q}");
    }
    let body = problem(
        app.get("/api/v1/dashboard/trend?interval=month", &d.admin)
            .await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "interval");
    let body = problem(
        app.get("/api/v1/dashboard/export?format=pdf", &d.admin)
            .await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "format");
}

#[tokio::test]
async fn hospitals_table_sorts_in_pipeline_order_filters_and_pages() {
    let app = spawn().await;
    let d = dash(&app).await;
    let a = &d.admin;
    let h = ok(app
        .get(
            "/api/v1/dashboard/hospitals?round=FY2025&sort=stage&count=true",
            a,
        )
        .await)
    .await;
    assert_eq!(h["total"], 4);
    let stages: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["stage"].as_str().unwrap())
        .collect();
    // Alphabetically `consented` would come first.
    assert_eq!(stages, ["selected", "selected", "contacting", "consented"]);
    let h = ok(app.get("/api/v1/dashboard/hospitals?sort=-stage", a).await).await;
    assert_eq!(h["items"][0]["stage"], "consented");

    let h = ok(app.get("/api/v1/dashboard/hospitals", a).await).await;
    let items = &h["items"];
    let consented = row(items, "name", "架空中央病院");
    assert_eq!(consented["next_action"]["code"], "send_memorandum");
    assert_eq!(consented["next_action"]["awaiting"], "vendor");
    assert_eq!(consented["organization_name"], "Sub A");
    assert_eq!(consented["tier"], "100-199");
    assert_eq!(consented["prefecture_name"], "東京都");
    assert_eq!(consented["overdue"], false);
    assert_eq!(consented["institution_code"], institution_code("13", 1, 1));
    let contacting = row(items, "name", "架空港病院");
    assert_eq!(contacting["next_action"]["awaiting"], "hospital");
    let declined = row(items, "name", "架空浪速病院");
    assert_eq!(declined["side_state"], "declined");
    assert!(declined["next_action"].is_null());
    let late = row(items, "name", "架空堺病院");
    assert_eq!(late["overdue"], true);
    assert!(late["organization_id"].is_null());
    let since = NaiveDate::parse_from_str(late["since"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    assert!(since < engagement_tracker::domain::today_in_japan() - Duration::days(50));

    let h = ok(app
        .get("/api/v1/dashboard/hospitals?overdue=true&count=true", a)
        .await)
    .await;
    assert_eq!(h["total"], 1);
    assert_eq!(h["items"][0]["name"], "架空堺病院");
    let h = ok(app
        .get("/api/v1/dashboard/hospitals?stage=contacting", a)
        .await)
    .await;
    assert_eq!(h["items"][0]["name"], "架空港病院");
    let h = ok(app
        .get(
            "/api/v1/dashboard/hospitals?prefecture=27&tier=20-99&count=true",
            a,
        )
        .await)
    .await;
    assert_eq!(h["total"], 2);

    // Two pages of two, nothing skipped or repeated.
    let p1 = ok(app
        .get("/api/v1/dashboard/hospitals?limit=2&sort=name", a)
        .await)
    .await;
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2 = ok(app
        .get(
            &format!("/api/v1/dashboard/hospitals?limit=2&sort=name&cursor={cursor}"),
            a,
        )
        .await)
    .await;
    assert!(p2["next_cursor"].is_null());
    let mut names: Vec<String> = [&p1, &p2]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(names.len(), 4);
    names.dedup();
    assert_eq!(names.len(), 4);
}

#[tokio::test]
async fn reads_carry_an_etag_and_answer_304_until_something_changes() {
    let app = spawn().await;
    let d = dash(&app).await;
    for path in [
        "/api/v1/dashboard/summary",
        "/api/v1/dashboard/hospitals",
        "/api/v1/dashboard/trend",
        "/api/v1/dashboard/durations",
    ] {
        let res = app.get(path, &d.admin).await;
        assert_eq!(res.status(), 200);
        let etag = res.headers()["etag"].to_str().unwrap().to_owned();
        let first: Value = res.json().await.unwrap();
        // A second later: `as_of` differs, the figures do not, so the tag holds.
        app.clock().advance(chrono::Duration::seconds(1));
        let second: Value = app.get(path, &d.admin).await.json().await.unwrap();
        assert_ne!(first["as_of"], second["as_of"], "{path}");
        let again = app
            .req(Method::GET, path, Some(&d.admin))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
    }
    let res = app.get("/api/v1/dashboard/summary", &d.admin).await;
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    ok(app.step(&d.admin, &d.e[1], "consent", json!({})).await).await;
    let res = app
        .req(Method::GET, "/api/v1/dashboard/summary", Some(&d.admin))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the figures changed");
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["totals"]["stages"]["consented"], 2);
}

/// Writes an engagement's past milestones and events straight through the library (the
/// engagement itself is made with the clock moved to its selection).
async fn history(app: &TestApp, e: &str, steps: &[(&str, NaiveDateTime)]) {
    let db = app.db.clone();
    let e = engagement_tracker::domain::ids::EngagementId::new(e);
    let steps: Vec<(String, NaiveDateTime)> =
        steps.iter().map(|(k, t)| (k.to_string(), *t)).collect();
    tokio::task::spawn_blocking(move || {
        db.write_blocking(|conn| {
            for (kind, at) in &steps {
                if kind.starts_with("event:") {
                    let (_, rest) = kind.split_once(':').unwrap();
                    let (k, payload) = rest.split_once(' ').unwrap_or((rest, "{}"));
                    engagement_tracker::db::engagements::insert_event(
                        conn,
                        &engagement_tracker::db::engagements::EventRow {
                            id: engagement_tracker::db::new_id(),
                            engagement_id: e.clone(),
                            at: *at,
                            actor_kind: "system".into(),
                            actor_id: None,
                            actor_label: "test".into(),
                            kind: engagement_tracker::domain::events::EventKind::parse(k)
                                .expect("a known event kind"),
                            payload: payload.into(),
                            stage_before: Stage::Selected,
                            stage_after: Stage::Selected,
                            override_reason: None,
                        },
                    )?;
                } else {
                    engagement_tracker::db::engagements::add_milestone(
                        conn, &e, kind, *at, "test",
                    )?;
                }
            }
            Ok(())
        })
        .unwrap()
    })
    .await
    .unwrap();
}

/// A moment in Japan's time in June 2026 (no holidays that month).
fn june(day: u32, hour: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 6, day)
        .unwrap()
        .and_hms_opt(hour, 0, 0)
        .unwrap()
        - Duration::hours(9)
}

#[tokio::test]
async fn trend_and_durations_are_rebuilt_from_past_milestones() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let h1 = app.hospital_in(a, "13", 1, "架空一病院", 120).await;
    let h2 = app.hospital_in(a, "13", 2, "架空二病院", 120).await;
    // Both selected Mon 6/1 09:00: made with the clock there, then back to today.
    app.clock().set(june(1, 9).and_utc());
    let e1 = app.engagement(a, &h1, Some(&w.sub_a)).await;
    let e2 = app.engagement(a, &h2, Some(&w.sub_a)).await;
    app.clock().set(chrono::Utc::now());
    // e1: selected Mon 6/1 09:00, contacted Tue 09:00 (1 business day), consented Fri 09:00
    // (3), memorandum sent Mon 6/8 09:00, signed Wed 6/10 09:00, executed Thu 6/11 09:00.
    history(
        &app,
        &e1,
        &[
            ("contacted", june(2, 9)),
            ("consented", june(5, 9)),
            ("event:memorandum_status {\"to\":\"sent\"}", june(8, 9)),
            (
                "event:memorandum_status {\"to\":\"signed_by_hospital\"}",
                june(10, 9),
            ),
            ("memorandum_executed", june(11, 9)),
        ],
    )
    .await;
    // e2: selected 6/1 09:00, contacted Thu 6/4 09:00 (3), consented Thu 6/11 09:00 (5).
    history(
        &app,
        &e2,
        &[("contacted", june(4, 9)), ("consented", june(11, 9))],
    )
    .await;
    let t = ok(app
        .get(
            "/api/v1/dashboard/trend?round=FY2025&interval=week&from=2026-06-01&to=2026-06-21",
            a,
        )
        .await)
    .await;
    let p = t["points"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert_eq!(p[0]["week_start"], "2026-06-01");
    assert_eq!(p[0]["reached"]["selected"], 2);
    assert_eq!(p[0]["reached"]["contacting"], 2);
    assert_eq!(p[0]["reached"]["consented"], 1);
    assert_eq!(p[1]["week_start"], "2026-06-08");
    assert_eq!(p[1]["reached"]["consented"], 2);
    assert_eq!(p[1]["reached"]["memorandum"], 1);
    // The week a date falls in starts on its Monday.
    let t = ok(app
        .get("/api/v1/dashboard/trend?from=2026-06-03&to=2026-06-03", a)
        .await)
    .await;
    assert_eq!(t["points"][0]["week_start"], "2026-06-01");
    assert_eq!(t["points"][0]["reached"]["memorandum"], 0);

    let d = ok(app.get("/api/v1/dashboard/durations?round=FY2025", a).await).await;
    let stage = |s: &str| {
        d["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["stage"] == s)
            .unwrap()
            .clone()
    };
    let selected = stage("selected");
    assert_eq!(selected["finished"], 2);
    assert_eq!(selected["median_days"], 2.0);
    assert_eq!(selected["p90_days"], 2.8);
    assert_eq!(
        selected["hospital_share"], 0.0,
        "first contact is the vendor's move"
    );
    let contacting = stage("contacting");
    assert_eq!(
        (
            contacting["median_days"].as_f64(),
            contacting["p90_days"].as_f64()
        ),
        (Some(4.0), Some(4.8))
    );
    assert_eq!(contacting["hospital_share"], 1.0);
    assert_eq!(contacting["waiting_on_hospital_days"], 4.0);
    let consented = stage("consented");
    // Only e1 left `consented`: 4 business days, 2 of them the hospital's (signing).
    assert_eq!(consented["finished"], 1);
    assert_eq!(consented["in_progress"], 1);
    assert_eq!(consented["median_days"], 4.0);
    assert_eq!(consented["waiting_on_hospital_days"], 2.0);
    assert_eq!(consented["waiting_on_vendor_days"], 2.0);
    assert_eq!(consented["hospital_share"], 0.5);
    assert_eq!(stage("memorandum")["in_progress"], 1);
    assert!(stage("hearing")["median_days"].is_null());
}

#[tokio::test]
async fn export_as_xlsx_and_csv_with_a_japanese_file_name() {
    let app = spawn().await;
    let d = dash(&app).await;
    // A hospital name that would run as a formula in Excel.
    let h = app
        .hospital_in(&d.admin, "13", 9, "=HYPERLINK(\"http://evil.example\")", 30)
        .await;
    app.engagement(&d.admin, &h, Some(&d.sub_a)).await;

    let res = app
        .get(
            "/api/v1/dashboard/export?round=FY2025&format=xlsx",
            &d.admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let cd = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let today = engagement_tracker::domain::today_in_japan();
    assert!(
        cd.starts_with("attachment; filename=\"progress_FY2025_"),
        "{cd}"
    );
    // 進捗_FY2025_<date>.xlsx, percent-encoded as RFC 6266 asks.
    assert!(
        cd.contains(&format!(
            "filename*=UTF-8''%E9%80%B2%E6%8D%97_FY2025_{today}.xlsx"
        )),
        "{cd}"
    );
    let bytes = res.bytes().await.unwrap();
    use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(book.sheet_names(), ["病院一覧", "都道府県別"]);
    let sheet = book.worksheet_range("病院一覧").unwrap();
    let header: Vec<String> = sheet
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header[0], "医療機関コード");
    assert_eq!(header[6], "段階の開始日");
    assert_eq!(sheet.rows().count(), 6, "header and five hospitals");
    let evil = sheet
        .rows()
        .find(|r| r[1].to_string().contains("HYPERLINK"))
        .unwrap();
    assert!(
        evil[1].to_string().starts_with("'="),
        "neutralised: {}",
        evil[1]
    );
    let first = sheet.rows().nth(1).unwrap();
    assert!(
        matches!(first[6], Data::DateTime(_)),
        "a date cell: {:?}",
        first[6]
    );
    let prefs = book.worksheet_range("都道府県別").unwrap();
    assert_eq!(prefs.rows().count(), 48);
    let tokyo = prefs.rows().find(|r| r[0] == "13").unwrap();
    assert_eq!(tokyo[1].to_string(), "東京都");
    assert_eq!(tokyo[3], Data::Float(3.0), "selected, a number");

    // CSV: UTF-8 with a BOM by default.
    let res = app
        .get("/api/v1/dashboard/export?format=csv", &d.admin)
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.starts_with("医療機関コード,医療機関名,"));
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{text}"
    );
    assert!(text.contains("架空中央病院,東京都,100-199,参加同意"));
    // CP932 on request; the prefecture table too.
    let res = app
        .get(
            "/api/v1/dashboard/export?format=csv&encoding=cp932&table=prefectures",
            &d.admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("prefectures_FY2025"));
    let bytes = res.bytes().await.unwrap();
    let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
    assert!(!had_errors);
    assert!(!bytes.starts_with(b"\xEF\xBB\xBF"));
    assert!(text.starts_with("都道府県コード,都道府県,支援枠,選定数,選定,連絡中"));
    assert!(text.contains("13,東京都,4,3,"));
}

#[tokio::test]
async fn demo_data_fills_an_empty_database_once() {
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    let db = app.db.clone();
    let report = tokio::task::spawn_blocking(move || {
        engagement_tracker::service::demo::fill(&db, 400, chrono::Utc::now())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(report.hospitals, 400);
    let s = ok(app.get("/api/v1/dashboard/summary", &admin).await).await;
    let t = &s["totals"];
    assert_eq!(t["selected"], 400);
    for stage in [
        "selected",
        "contacting",
        "consented",
        "memorandum",
        "intake",
        "hearing",
        "verification",
        "backup",
        "completed",
    ] {
        assert!(
            t["stages"][stage].as_i64().unwrap() > 0,
            "some at {stage}: {t}"
        );
    }
    assert!(t["declined"].as_i64().unwrap() > 0 && t["on_hold"].as_i64().unwrap() > 0);
    assert!(
        t["backup"]["adopt"].as_i64().unwrap() > 0 && t["backup"]["skipped"].as_i64().unwrap() > 0
    );
    assert!(t["slots"].as_i64().unwrap() > 300);
    let covered = s["by_prefecture"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["selected"].as_i64().unwrap() > 0)
        .count();
    assert!(covered > 40, "spread over the country: {covered}");
    // Every institution code passes the same check the API applies.
    let h = ok(app
        .get("/api/v1/dashboard/hospitals?limit=500", &admin)
        .await)
    .await;
    for r in h["items"].as_array().unwrap() {
        let code = r["institution_code"].as_str().unwrap();
        let pref = r["prefecture_code"].as_str().unwrap();
        assert_eq!(
            engagement_tracker::domain::medcode::normalize_code(code, Some(pref)).as_deref(),
            Ok(code)
        );
    }
    // The timelines lie in the past weeks, so the trend has several weeks that grow.
    let trend = ok(app.get("/api/v1/dashboard/trend", &admin).await).await;
    let p = trend["points"].as_array().unwrap();
    assert!(p.len() >= 10);
    assert!(
        p[0]["reached"]["completed"].as_i64() < p[p.len() - 1]["reached"]["completed"].as_i64()
    );
    // A second run refuses: the database holds hospitals now.
    let db = app.db.clone();
    let again = tokio::task::spawn_blocking(move || {
        engagement_tracker::service::demo::fill(&db, 10, chrono::Utc::now())
    })
    .await
    .unwrap();
    assert!(matches!(
        again,
        Err(engagement_tracker::error::AppError::Conflict { .. })
    ));
}
