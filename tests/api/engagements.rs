//! Engagement lists, filters, assignment, visibility and the SLA clock.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{institution_code, problem, spawn};
use engagement_tracker::domain::access::Role;

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["hospital"]["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_subcontractor_sees_and_counts_only_its_own_engagements() {
    let app = spawn().await;
    let w = app.world().await;
    let sub_b = app
        .create_org(&w.admin, "Sub B", "subcontractor", Some(&w.prime))
        .await;
    let sub_a1 = app
        .create_org(&w.admin, "Sub A-1", "subcontractor", Some(&w.sub_a))
        .await;
    app.seed_user("coord@b.example", &sub_b, Role::Coordinator)
        .await;
    let coord_b = app.login("coord@b.example").await;

    let ha = app
        .hospital(&w.admin, &institution_code("13", 2, 1), "A病院", 50)
        .await;
    let ha1 = app
        .hospital(&w.admin, &institution_code("13", 2, 2), "A1病院", 150)
        .await;
    let hb = app
        .hospital(&w.admin, &institution_code("13", 2, 3), "B病院", 450)
        .await;
    let ea = app.engagement(&w.admin, &ha, Some(&w.sub_a)).await;
    let _ea1 = app.engagement(&w.admin, &ha1, Some(&sub_a1)).await;
    let eb = app.engagement(&w.admin, &hb, Some(&sub_b)).await;

    let list: Value = app
        .get("/api/v1/engagements?count=true", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        names(&list),
        ["A1病院", "A病院"],
        "A sees its own and its subcontractor's"
    );
    assert_eq!(list["total"], 2);
    let list: Value = app
        .get("/api/v1/engagements?q=B&count=true", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["total"], 0,
        "B's engagement is not found by search either"
    );

    for path in [
        format!("/api/v1/engagements/{eb}"),
        format!("/api/v1/engagements/{eb}/timeline"),
        format!("/api/v1/engagements/{eb}/documents"),
        format!("/api/v1/hospitals/{hb}"),
    ] {
        problem(app.get(&path, &w.coord_a).await, 404).await;
    }
    problem(app.step(&w.coord_a, &eb, "consent", json!({})).await, 404).await;
    let hospitals: Value = app
        .get("/api/v1/hospitals", &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hospitals["items"].as_array().unwrap().len(), 2);

    let list: Value = app
        .get("/api/v1/engagements", &coord_b)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["B病院"]);
    problem(
        app.get(&format!("/api/v1/engagements/{ea}"), &coord_b)
            .await,
        404,
    )
    .await;

    // A coordinator cannot assign; an admin moves A's engagement to B in bulk by filter.
    problem(
        app.post(
            "/api/v1/engagements/assign",
            &w.coord_a,
            json!({"organization_id": sub_b, "ids": [ea]}),
        )
        .await,
        403,
    )
    .await;
    let res = app
        .post(
            "/api/v1/engagements/assign",
            &w.admin,
            json!({"organization_id": sub_b, "filter": {"q": "A病院"}}),
        )
        .await;
    let out: Value = res.json().await.unwrap();
    assert_eq!(out["assigned"], 1);
    problem(
        app.get(&format!("/api/v1/engagements/{ea}"), &w.coord_a)
            .await,
        404,
    )
    .await;
    let list: Value = app
        .get("/api/v1/engagements", &coord_b)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["A病院", "B病院"]);
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{ea}/timeline"), &coord_b)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        timeline.as_array().unwrap().last().unwrap()["kind"],
        "assigned"
    );

    // A ministry viewer sees no engagement detail.
    let mhlw = app.create_org(&w.admin, "MHLW", "ministry", None).await;
    app.seed_user("v@mhlw.example", &mhlw, Role::Viewer).await;
    let viewer = app.login("v@mhlw.example").await;
    problem(app.get("/api/v1/engagements", &viewer).await, 403).await;
    problem(
        app.get(&format!("/api/v1/engagements/{eb}"), &viewer).await,
        403,
    )
    .await;
}

#[tokio::test]
async fn lists_filter_sort_page_and_flag_overdue_work() {
    let app = spawn().await;
    let w = app.world().await;
    let mut ids = Vec::new();
    for (i, (name, beds)) in [
        ("甲病院", 30),
        ("乙病院", 130),
        ("丙病院", 230),
        ("丁病院", 430),
    ]
    .iter()
    .enumerate()
    {
        let h = app
            .hospital(
                &w.admin,
                &institution_code("13", 3, i as u32 + 1),
                name,
                *beds,
            )
            .await;
        ids.push(app.engagement(&w.admin, &h, Some(&w.sub_a)).await);
    }
    let a = &w.admin;
    let list: Value = app
        .get("/api/v1/engagements?tier=100-199", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["乙病院"]);
    let list: Value = app
        .get(
            "/api/v1/engagements?prefecture=東京都&round=FY2025&count=true",
            a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 4);
    problem(
        app.get("/api/v1/engagements?prefecture=ムー大陸", a).await,
        422,
    )
    .await;
    let b = problem(app.get("/api/v1/engagements?stage=nowhere", a).await, 422).await;
    assert_eq!(b["errors"][0]["field"], "stage");
    problem(app.get("/api/v1/engagements?sort=colour", a).await, 422).await;

    app.step_ok(
        &w.coord_a,
        &ids[0],
        "contact-attempts",
        json!({"channel": "email", "outcome": "reached"}),
    )
    .await;
    let list: Value = app
        .get("/api/v1/engagements?stage=contacting", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["甲病院"]);
    let list: Value = app
        .get(
            &format!(
                "/api/v1/engagements?unassigned=false&count=true&organization_id={}",
                w.sub_a
            ),
            a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 4);

    // Pages of two, in hospital-name order.
    let first: Value = app
        .get("/api/v1/engagements?sort=-hospital_name&limit=2", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/api/v1/engagements?sort=-hospital_name&limit=2&cursor={cursor}"),
            a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(second["next_cursor"].is_null());
    let mut all: Vec<String> = [first, second]
        .iter()
        .flat_map(|p| {
            p["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["hospital"]["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let sorted = {
        let mut s = all.clone();
        s.sort();
        s.reverse();
        s
    };
    assert_eq!(all, sorted);
    all.dedup();
    assert_eq!(all.len(), 4);
    problem(app.get("/api/v1/engagements?cursor=garbage", a).await, 422).await;
    // Every sort pages (keyset, one row a page) through the same rows in the same order as
    // one page of all; a cursor of one sort is refused by another.
    for sort in [
        "created",
        "-created",
        "rank",
        "-rank",
        "hospital_name",
        "stage",
        "-stage",
        "stage_since",
        "-updated_at",
    ] {
        let whole: Value = app
            .get(&format!("/api/v1/engagements?sort={sort}&limit=200"), a)
            .await
            .json()
            .await
            .unwrap();
        let whole: Vec<Value> = whole["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect();
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("/api/v1/engagements?sort={sort}&limit=1&cursor={c}"),
                None => format!("/api/v1/engagements?sort={sort}&limit=1"),
            };
            let page: Value = app.get(&url, a).await.json().await.unwrap();
            paged.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].clone()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(paged.len() <= whole.len(), "{sort} repeats rows");
        }
        assert_eq!(paged, whole, "{sort}");
        if let Some(c) = cursor {
            let other = if sort == "rank" { "created" } else { "rank" };
            problem(
                app.get(&format!("/api/v1/engagements?sort={other}&cursor={c}"), a)
                    .await,
                422,
            )
            .await;
        }
    }

    // Nothing is overdue yet; 30 days on, the engagement still in `selected` is (the others
    // move on then).
    let list: Value = app
        .get("/api/v1/engagements?overdue=true&count=true", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 0);
    app.clock().advance(chrono::Duration::days(30));
    app.step_ok(&w.coord_a, &ids[0], "consent", json!({})).await;
    for e in [&ids[2], &ids[3]] {
        app.step_ok(
            &w.coord_a,
            e,
            "contact-attempts",
            json!({"channel": "email", "outcome": "reached"}),
        )
        .await;
    }
    let list: Value = app
        .get("/api/v1/engagements?overdue=true&count=true", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(names(&list), ["乙病院"]);
    assert_eq!(list["items"][0]["overdue"], true);
    let d: Value = app
        .get(&format!("/api/v1/engagements/{}", ids[1]), a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["overdue"], true);
    assert_eq!(d["next_action"]["awaiting"], "vendor");
}

#[tokio::test]
async fn hospitals_are_validated_and_flagged_without_two_contacts() {
    let app = spawn().await;
    let (admin, _) = app.bootstrap().await;
    let post = |body: Value| app.post("/api/v1/hospitals", &admin, body);
    let bad_check = {
        let good = institution_code("13", 4, 1);
        let last = good.chars().last().unwrap().to_digit(10).unwrap();
        format!("{}{}", &good[..9], (last + 1) % 10)
    };
    let body = problem(
        post(json!({"prefecture": "13", "institution_code": bad_check, "name": "X"})).await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "institution_code");
    let body = problem(post(json!({"prefecture": "27", "institution_code": institution_code("13", 4, 1), "name": "X"})).await, 422).await;
    assert_eq!(
        body["errors"][0]["field"], "institution_code",
        "prefecture digits must match"
    );

    // The 7-digit local part together with the prefecture.
    let full = institution_code("13", 4, 2);
    let res = post(json!({"prefecture": "東京都", "institution_code": &full[3..], "name": "架空東病院", "beds": 99})).await;
    assert_eq!(res.status(), 201);
    let h: Value = res.json().await.unwrap();
    assert_eq!(h["institution_code"], full);
    assert_eq!(h["prefecture_name"], "東京都");
    assert_eq!(h["needs_contacts"], true);
    problem(
        post(json!({"prefecture": "13", "institution_code": full, "name": "重複"})).await,
        409,
    )
    .await;

    let id = h["id"].as_str().unwrap();
    let contacts = format!("/api/v1/hospitals/{id}/contacts");
    let c: Value = app
        .post(&contacts, &admin, json!({"name": "山﨑 一郎", "email": "Yamasaki@Hospital.example", "charset": "iso-2022-jp"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["email"], "yamasaki@hospital.example");
    assert_eq!(c["charset"], "iso-2022-jp");
    problem(
        app.post(&contacts, &admin, json!({"name": "x", "email": "nope"}))
            .await,
        422,
    )
    .await;
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["needs_contacts"], true, "one contact is not enough");
    app.post(
        &contacts,
        &admin,
        json!({"name": "佐藤 二郎", "email": "sato@hospital.example"}),
    )
    .await;
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["needs_contacts"], false);

    let cid = c["id"].as_str().unwrap();
    let res = app
        .req(Method::DELETE, &format!("{contacts}/{cid}"), Some(&admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["needs_contacts"], true);
    assert_eq!(h["contacts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn rounds_tiers_and_support_slots() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    problem(
        app.post("/api/v1/rounds", a, json!({"name": "FY2025"}))
            .await,
        409,
    )
    .await;
    problem(
        app.post("/api/v1/rounds", a, json!({"name": "2026"})).await,
        422,
    )
    .await;
    let body = problem(
        app.post("/api/v1/rounds", a, json!({"name": "FY2026", "tiers": [{"label": "small", "min_beds": 20, "max_beds": 199}, {"label": "large", "min_beds": 150, "max_beds": null}]}))
            .await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "tiers");

    let res = app
        .req(Method::PUT, "/api/v1/rounds/FY2025/slots", Some(a))
        .json(&json!([{"prefecture": "東京都", "tier": "20-99", "slots": 5}, {"prefecture": "13", "tier": "400+", "slots": 2}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = app
        .hospital(a, &institution_code("13", 5, 1), "架空西病院", 60)
        .await;
    app.engagement(a, &h, None).await;
    let slots: Value = app
        .get("/api/v1/rounds/FY2025/slots", a)
        .await
        .json()
        .await
        .unwrap();
    let small = slots
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["tier"] == "20-99")
        .unwrap();
    assert_eq!(
        (small["slots"].as_i64(), small["filled"].as_i64()),
        (Some(5), Some(1))
    );

    // CSV with a broken row: nothing is written.
    let csv = "都道府県,区分,支援枠\n大阪府,100-199,4\n京都府,999-1000,3\n";
    let res = app
        .req(Method::POST, "/api/v1/rounds/FY2025/slots/import", Some(a))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let body = problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "rows[1].tier");
    let slots: Value = app
        .get("/api/v1/rounds/FY2025/slots", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(slots.as_array().unwrap().len(), 2);
    let csv = "prefecture,tier,slots\n大阪府,100-199,4\n京都府,200-399,3\n";
    let res = app
        .req(Method::POST, "/api/v1/rounds/FY2025/slots/import", Some(a))
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let slots: Value = res.json().await.unwrap();
    assert_eq!(slots.as_array().unwrap().len(), 4);
    problem(
        app.req(Method::PUT, "/api/v1/rounds/FY2025/slots", Some(&w.coord_a))
            .json(&json!([]))
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
}

#[tokio::test]
async fn a_new_bed_count_moves_the_engagement_to_its_tier() {
    let app = spawn().await;
    let w = app.world().await;
    let code = institution_code("13", 3, 9);
    let h = app.hospital(&w.admin, &code, "架空増床病院", 90).await;
    let e = app.engagement(&w.admin, &h, Some(&w.sub_a)).await;
    let res = app
        .req(Method::PATCH, &format!("/api/v1/hospitals/{h}"), Some(&w.coord_a))
        .json(&json!({"prefecture": "13", "institution_code": code, "name": "架空増床病院", "beds": 160, "emergency": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let d: Value = app
        .get(&format!("/api/v1/engagements/{e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["tier"], "100-199");
    assert_eq!(d["hospital"]["emergency"], true);
    let timeline: Value = app
        .get(&format!("/api/v1/engagements/{e}/timeline"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    let last = timeline.as_array().unwrap().last().unwrap();
    assert_eq!(last["kind"], "tier_changed");
    assert_eq!(last["payload"]["from"], "20-99");
}

#[tokio::test]
async fn the_list_flags_engagements_whose_hospital_lacks_two_contacts_with_email() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    // Not `app.hospital`: that one adds two contacts.
    let res = app
        .post(
            "/api/v1/hospitals",
            a,
            json!({"prefecture": "13", "institution_code": institution_code("13", 7, 1),
                   "name": "連絡先病院", "beds": 80}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let h = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let e = app.engagement(a, &h, None).await;
    let flag = || async {
        let list: Value = app
            .get("/api/v1/engagements?prefecture=13", a)
            .await
            .json()
            .await
            .unwrap();
        let item = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == e.as_str())
            .cloned()
            .unwrap();
        item["needs_contacts"].as_bool().unwrap()
    };
    let contacts = format!("/api/v1/hospitals/{h}/contacts");
    let add = |body: Value| {
        let (app, contacts) = (&app, &contacts);
        async move {
            let res = app.post(contacts, a, body).await;
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert!(flag().await, "no contacts");
    let first = add(json!({"name": "一人目", "email": "one@hospital.example"})).await;
    add(json!({"name": "電話だけ", "phone": "03-1234-5678"})).await;
    assert!(flag().await, "a contact without email does not count");
    add(json!({"name": "二人目", "email": "two@hospital.example"})).await;
    assert!(!flag().await, "two with email");
    let res = app
        .req(Method::DELETE, &format!("{contacts}/{first}"), Some(a))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(flag().await, "a removed contact does not count");
}
