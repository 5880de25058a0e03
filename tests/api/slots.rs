//! Who reads which support-slot rows.

use engagement_tracker::domain::access::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::spawn;

#[tokio::test]
async fn a_prefecture_viewer_reads_only_its_own_prefectures_slots() {
    let app = spawn().await;
    let w = app.world().await;
    let res = app
        .req(Method::PUT, "/api/v1/rounds/FY2025/slots", Some(&w.admin))
        .json(&json!([
            {"prefecture": "13", "tier": "20-99", "slots": 5},
            {"prefecture": "13", "tier": "400+", "slots": 2},
            {"prefecture": "27", "tier": "20-99", "slots": 4},
            {"prefecture": "01", "tier": "100-199", "slots": 3}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let tokyo = app
        .create_org(&w.admin, "東京都 保健医療局", "prefecture", None)
        .await;
    // The helper gives a prefecture viewer prefecture 13 (東京都).
    app.seed_user("viewer@tokyo.example", &tokyo, Role::PrefectureViewer)
        .await;
    let viewer = app.login("viewer@tokyo.example").await;
    let res = app.get("/api/v1/rounds/FY2025/slots", &viewer).await;
    assert_eq!(res.status(), 200);
    let rows: Value = res.json().await.unwrap();
    let prefectures: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["prefecture_code"].as_str().unwrap())
        .collect();
    assert_eq!(prefectures, ["13", "13"], "{rows}");

    // The vendor still sees every prefecture.
    let all: Value = app
        .get("/api/v1/rounds/FY2025/slots", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 4);
}
