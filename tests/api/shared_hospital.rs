//! A hospital with engagements of two organisations in two rounds: its details and contacts
//! are shared, so a coordinator of one may not change them under the other's engagement.

use engagement_tracker::domain::access::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn, TestApp};

async fn engagement_in(app: &TestApp, admin: &str, round: &str, hid: &str, org: &str) -> String {
    let res = app
        .post(
            "/api/v1/engagements",
            admin,
            json!({"round": round, "hospital_id": hid, "organization_id": org}),
        )
        .await;
    assert_eq!(res.status(), 201, "engagement in {round}");
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn json_of(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.get(path, token).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn link_status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_coordinator_cannot_change_a_hospital_another_organisation_also_works_on() {
    let app = spawn().await;
    let w = app.world().await;
    let admin = &w.admin;
    let res = app
        .post("/api/v1/rounds", admin, json!({"name": "FY2026"}))
        .await;
    assert_eq!(res.status(), 201);
    // A1 sits under A; B is A's sibling under the prime contractor.
    let a1 = app
        .create_org(admin, "Sub A1", "subcontractor", Some(&w.sub_a))
        .await;
    let b = app
        .create_org(admin, "Sub B", "subcontractor", Some(&w.prime))
        .await;
    app.seed_user("coord@a1.example", &a1, Role::Coordinator)
        .await;
    app.seed_user("coord@b.example", &b, Role::Coordinator)
        .await;
    let coord_a1 = app.login("coord@a1.example").await;
    let coord_b = app.login("coord@b.example").await;

    let code = institution_code("13", 9, 1);
    let hid = app.hospital(admin, &code, "架空共有病院", 90).await;
    let e_b = engagement_in(&app, admin, "FY2025", &hid, &b).await;
    let e_a1 = engagement_in(&app, admin, "FY2026", &hid, &a1).await;
    let hospital = json_of(&app, admin, &format!("/api/v1/hospitals/{hid}")).await;
    let contact = hospital["contacts"][0]["id"].as_str().unwrap().to_owned();
    let link = crate::portal::link(&app, &coord_b, &e_b, &contact, "landing").await;
    assert_eq!(link_status(&app, &link).await, 200);

    let b_before = json_of(&app, admin, &format!("/api/v1/engagements/{e_b}")).await;
    let b_timeline = json_of(&app, admin, &format!("/api/v1/engagements/{e_b}/timeline")).await;
    assert_eq!(b_before["tier"], "20-99");

    // A1's coordinator sees the hospital through its own FY2026 engagement …
    json_of(&app, &coord_a1, &format!("/api/v1/hospitals/{hid}")).await;
    json_of(&app, &coord_a1, &format!("/api/v1/engagements/{e_a1}")).await;

    // … but may not change what B's FY2025 engagement shares with it.
    let res = app
        .req(Method::PATCH, &format!("/api/v1/hospitals/{hid}"), Some(&coord_a1))
        .json(&json!({"prefecture": "13", "institution_code": code, "name": "架空共有病院", "beds": 160}))
        .send()
        .await
        .unwrap();
    let body = problem(res, 403).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("FY2025") && detail.contains("admin"),
        "{detail}"
    );
    let contact_path = format!("/api/v1/hospitals/{hid}/contacts/{contact}");
    for body in [
        json!({"email": "other@hospital.example"}),
        json!({"phone": "03-0000-0000"}),
    ] {
        let res = app
            .req(Method::PATCH, &contact_path, Some(&coord_a1))
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(res, 403).await;
    }
    let res = app
        .req(Method::DELETE, &contact_path, Some(&coord_a1))
        .send()
        .await
        .unwrap();
    problem(res, 403).await;
    let res = app
        .post(
            &format!("/api/v1/hospitals/{hid}/contacts"),
            &coord_a1,
            json!({"name": "追加 太郎", "email": "tsuika@hospital.example"}),
        )
        .await;
    problem(res, 403).await;
    // The same holds the other way round.
    let res = app
        .req(Method::PATCH, &contact_path, Some(&coord_b))
        .json(&json!({"phone": "03-0000-0000"}))
        .send()
        .await
        .unwrap();
    let body = problem(res, 403).await;
    assert!(
        body["detail"].as_str().unwrap().contains("FY2026"),
        "{body}"
    );

    // Nothing of B's moved: engagement, timeline, link, the hospital and its contacts.
    let b_after = json_of(&app, admin, &format!("/api/v1/engagements/{e_b}")).await;
    assert_eq!(b_after["tier"], "20-99");
    assert_eq!(b_after["version"], b_before["version"]);
    assert_eq!(
        json_of(&app, admin, &format!("/api/v1/engagements/{e_b}/timeline")).await,
        b_timeline
    );
    let after = json_of(&app, admin, &format!("/api/v1/hospitals/{hid}")).await;
    assert_eq!(after["beds"], 90);
    assert_eq!(after["version"], hospital["version"]);
    assert_eq!(after["contacts"], hospital["contacts"]);
    assert_eq!(link_status(&app, &link).await, 200);

    // An admin may change shared facts; B's engagement follows, and its timeline says who did it.
    let res = app
        .req(Method::PATCH, &format!("/api/v1/hospitals/{hid}"), Some(admin))
        .json(&json!({"prefecture": "13", "institution_code": code, "name": "架空共有病院", "beds": 160}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let b_now = json_of(&app, admin, &format!("/api/v1/engagements/{e_b}")).await;
    assert_eq!(b_now["tier"], "100-199");
    let timeline = json_of(&app, admin, &format!("/api/v1/engagements/{e_b}/timeline")).await;
    let last = timeline.as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "tier_changed");
    assert!(last["actor"]
        .as_str()
        .unwrap()
        .contains("admin@prime.example"));

    // A hospital only A1 works on stays A1's to edit.
    let own = app
        .hospital(admin, &institution_code("13", 9, 2), "架空単独病院", 90)
        .await;
    engagement_in(&app, admin, "FY2026", &own, &a1).await;
    let own_hospital = json_of(&app, &coord_a1, &format!("/api/v1/hospitals/{own}")).await;
    let own_contact = own_hospital["contacts"][0]["id"].as_str().unwrap();
    let res = app
        .req(
            Method::PATCH,
            &format!("/api/v1/hospitals/{own}/contacts/{own_contact}"),
            Some(&coord_a1),
        )
        .json(&json!({"phone": "03-0000-0000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
