//! Importing a prefecture's selection list.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{institution_code, problem, spawn, TestApp};

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The list a prefecture might send: CP932 as Excel saves it, with full-width digits, a 7-digit
/// code, a bad check digit and a row without a hospital name.
fn cp932_list() -> (Vec<u8>, Vec<String>) {
    let good1 = institution_code("13", 6, 1);
    let good2 = institution_code("13", 6, 2);
    let good3 = institution_code("13", 6, 3);
    let good4 = institution_code("13", 6, 4);
    let mut bad = good3.clone();
    let last = bad.pop().unwrap().to_digit(10).unwrap();
    bad.push(char::from_digit((last + 3) % 10, 10).unwrap());
    let header = "順位,都道府県,医療機関コード,病院名,所在地,病床数,電子カルテ導入状況,担当者1氏名,担当者1所属,担当者1電話,担当者1メール,担当者2氏名,担当者2所属,担当者2電話,担当者2メール,備考";
    let rows = [
        format!("1,東京都,{},架空甲病院,東京都新宿区１－２－３,{},導入済,山田 太郎,総務課,０３－１２３４－５６７８,yamada@kou.example,鈴木 花子,情報システム室,03-1234-5679,suzuki@kou.example,", full_width(&good1), full_width("120")),
        format!("2,東京都,{},架空乙病院,東京都港区,250,一部導入,佐藤 一郎,事務部,03-2222-3333,sato@otsu.example,,,,,", &good2[3..]),
        format!("3,東京都,{bad},架空丙病院,東京都北区,80,導入済,,,,,,,,,"),
        format!("4,東京都,{good4},,東京都中央区,300,導入済,,,,,,,,,名称未記入"),
        format!("5,13,{good3},架空丁病院,東京都台東区,420,導入済,田中 次郎,医事課,03-4444-5555,tanaka@tei.example,,,,,"),
    ];
    let text = format!("{header}\r\n{}\r\n", rows.join("\r\n"));
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
    assert!(!unmappable);
    (bytes.into_owned(), vec![good1, good2, good3])
}

async fn import(app: &TestApp, token: &str, bytes: &[u8], query: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("選定リスト.csv"),
        )
        .text("round", "FY2025");
    app.req(
        Method::POST,
        &format!("/api/v1/imports{query}"),
        Some(token),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

async fn engagement_count(app: &TestApp, token: &str) -> i64 {
    let list: Value = app
        .get("/api/v1/engagements?count=true", token)
        .await
        .json()
        .await
        .unwrap();
    list["total"].as_i64().unwrap()
}

#[tokio::test]
async fn a_cp932_list_is_checked_row_by_row_and_imported_once() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let (bytes, good_codes) = cp932_list();

    // Dry run: exactly the two bad rows, with row numbers and columns; nothing written.
    let res = import(&app, a, &bytes, "?dry_run=true").await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(
        (report["created"].as_i64(), report["rejected"].as_i64()),
        (Some(3), Some(2)),
        "{report}"
    );
    assert_eq!(report["written"], false);
    let rejected: Vec<(i64, String)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "rejected")
        .map(|r| {
            (
                r["row"].as_i64().unwrap(),
                r["problems"][0]["column"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        [(4, "医療機関コード".to_owned()), (5, "病院名".to_owned())]
    );
    let problem_row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == 4)
        .unwrap();
    assert!(!problem_row["problems"][0]["reason_ja"]
        .as_str()
        .unwrap()
        .is_empty());
    assert!(!problem_row["problems"][0]["reason_en"]
        .as_str()
        .unwrap()
        .is_empty());
    // A rejected row still names what it validly had: row 4 its hospital (the code is bad),
    // row 5 its code (the name is missing).
    assert_eq!(problem_row["institution_code"], Value::Null);
    assert_eq!(problem_row["hospital_name"], "架空丙病院");
    let no_name = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == 5)
        .unwrap();
    assert_eq!(no_name["institution_code"], institution_code("13", 6, 4));
    assert_eq!(no_name["hospital_name"], Value::Null);
    // Engagements a dry run would create do not exist: the report hands out no ids for them.
    for r in report["rows"].as_array().unwrap() {
        assert!(r.get("engagement_id").is_none_or(Value::is_null), "{r}");
    }
    assert_eq!(engagement_count(&app, a).await, 0);

    // All or nothing: the bad rows stop the whole import.
    let body = problem(import(&app, a, &bytes, "").await, 422).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"rows[4].医療機関コード") && fields.contains(&"rows[5].病院名"),
        "{fields:?}"
    );
    assert_eq!(engagement_count(&app, a).await, 0);
    let hospitals: Value = app.get("/api/v1/hospitals", a).await.json().await.unwrap();
    assert_eq!(
        hospitals["items"].as_array().unwrap().len(),
        0,
        "no half-written state"
    );

    // Partial: the good rows only.
    let report: Value = import(&app, a, &bytes, "?partial=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["created"].as_i64(), report["rejected"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(report["written"], true);
    assert_eq!(engagement_count(&app, a).await, 3);
    let list: Value = app
        .get("/api/v1/engagements?sort=rank", a)
        .await
        .json()
        .await
        .unwrap();
    let codes: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["hospital"]["institution_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        good_codes.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let first = &list["items"][0];
    assert_eq!(first["tier"], "100-199", "全角の病床数 １２０ read as 120");
    assert_eq!(first["needs_contacts"], false);
    assert_eq!(list["items"][1]["needs_contacts"], true, "one contact only");
    let h: Value = app
        .get(
            &format!(
                "/api/v1/hospitals/{}",
                first["hospital"]["id"].as_str().unwrap()
            ),
            a,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(h["contacts"][0]["phone"], "03-1234-5678");
    assert_eq!(h["address"], "東京都新宿区1-2-3");

    // Again: no duplicates, nothing changes.
    let report: Value = import(&app, a, &bytes, "?partial=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            report["created"].as_i64(),
            report["updated"].as_i64(),
            report["unchanged"].as_i64()
        ),
        (Some(0), Some(0), Some(3)),
        "{report}"
    );
    assert_eq!(engagement_count(&app, a).await, 3);

    // A changed bed count updates the hospital and the engagement's tier.
    let text = "都道府県,医療機関コード,病院名,病床数\n東京都,".to_owned()
        + &good_codes[0]
        + ",架空甲病院,220\n";
    let report: Value = import(&app, a, text.as_bytes(), "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["updated"], 1, "{report}");
    let list: Value = app
        .get("/api/v1/engagements?tier=200-399&count=true", a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn broken_uploads_are_refused_clearly() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let body = problem(
        import(&app, a, "名前,住所\nx,y\n".as_bytes(), "").await,
        422,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("医療機関コード"),
        "{body}"
    );
    let form = reqwest::multipart::Form::new().text("round", "FY2025");
    let res = app
        .req(Method::POST, "/api/v1/imports", Some(a))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = problem(res, 422).await;
    assert_eq!(body["errors"][0]["field"], "file");
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"x".to_vec()).file_name("a.csv"),
        )
        .text("round", "FY1999");
    let res = app
        .req(Method::POST, "/api/v1/imports", Some(a))
        .multipart(form)
        .send()
        .await
        .unwrap();
    problem(res, 422).await;
    problem(import(&app, &w.coord_a, b"x", "").await, 403).await;
}

#[tokio::test]
async fn the_cli_imports_the_shipped_example_into_the_same_database() {
    let app = spawn().await;
    let w = app.world().await;
    let bin = env!("CARGO_BIN_EXE_engagement-tracker");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/selection-list.csv");
    let url = app.database_url.clone();
    let run = move |args: Vec<&'static str>| {
        std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &url)
            .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
            .output()
            .unwrap()
    };
    let r = run.clone();
    let out = tokio::task::spawn_blocking(move || {
        r(vec!["import", "--round", "FY2025", "--dry-run", example])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        engagement_count(&app, &w.admin).await,
        0,
        "a dry run writes nothing"
    );
    let out =
        tokio::task::spawn_blocking(move || run(vec!["import", "--round", "FY2025", example]))
            .await
            .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let created = report["created"].as_i64().unwrap();
    assert!(created >= 3, "{report}");
    assert_eq!(report["rejected"], 0);
    assert_eq!(engagement_count(&app, &w.admin).await, created);
    let timeline: Value = {
        let list: Value = app
            .get("/api/v1/engagements", &w.admin)
            .await
            .json()
            .await
            .unwrap();
        let id = list["items"][0]["id"].as_str().unwrap().to_owned();
        app.get(&format!("/api/v1/engagements/{id}/timeline"), &w.admin)
            .await
            .json()
            .await
            .unwrap()
    };
    assert_eq!(timeline[0]["kind"], "imported");
    assert!(timeline[0]["actor"]
        .as_str()
        .unwrap()
        .contains("import command"));
}

#[tokio::test]
async fn a_second_call_list_marks_its_engagements_secondary() {
    let app = spawn().await;
    let w = app.world().await;
    let text = format!(
        "hospital_name,prefecture,institution_code,beds\n架空追加病院,大阪府,{},150\n",
        institution_code("27", 1, 9)
    );
    let report: Value = import(&app, &w.admin, text.as_bytes(), "?secondary=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["created"], 1, "{report}");
    let list: Value = app
        .get("/api/v1/engagements?prefecture=27", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["secondary"], true);
    assert_eq!(list["items"][0]["tier"], "100-199");
}

/// Versions of everything an import may touch: the hospital, its contacts, its engagements.
async fn versions(app: &TestApp, token: &str, hospital_id: &str) -> Vec<(String, i64)> {
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{hospital_id}"), token)
        .await
        .json()
        .await
        .unwrap();
    let mut out = vec![(hospital_id.to_owned(), h["version"].as_i64().unwrap())];
    for c in h["contacts"].as_array().unwrap() {
        out.push((
            c["id"].as_str().unwrap().to_owned(),
            c["version"].as_i64().unwrap(),
        ));
    }
    let list: Value = app
        .get(
            &format!(
                "/api/v1/engagements?q={}",
                h["institution_code"].as_str().unwrap()
            ),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    for e in list["items"].as_array().unwrap() {
        out.push((
            e["id"].as_str().unwrap().to_owned(),
            e["version"].as_i64().unwrap(),
        ));
    }
    out
}

fn results(report: &Value) -> (i64, i64, i64, i64) {
    (
        report["created"].as_i64().unwrap(),
        report["updated"].as_i64().unwrap(),
        report["unchanged"].as_i64().unwrap(),
        report["rejected"].as_i64().unwrap(),
    )
}

/// The status of a hospital's page behind a link: 200 while it works, 410 once revoked.
async fn link_status(app: &TestApp, path: &str) -> u16 {
    app.client
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

const SAME_NAME_HEADER: &str =
    "都道府県,医療機関コード,病院名,病床数,担当者1氏名,担当者1メール,担当者2氏名,担当者2メール";

#[tokio::test]
async fn two_contacts_of_one_name_stay_two_and_a_second_import_changes_nothing() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let code = institution_code("13", 7, 1);
    let list = |first_email: &str| {
        format!(
            "{SAME_NAME_HEADER}\n東京都,{code},架空同名病院,150,加藤 花子,{first_email},加藤 花子,kato.b@dousei.example\n"
        )
    };
    let report: Value = import(&app, a, list("kato.a@dousei.example").as_bytes(), "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (1, 0, 0, 0), "{report}");
    let engagement = report["rows"][0]["engagement_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list_hospitals: Value = app.get("/api/v1/hospitals", a).await.json().await.unwrap();
    let hid = list_hospitals["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contacts = |h: &Value| -> Vec<(String, String, String)> {
        h["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_owned(),
                    c["name"].as_str().unwrap().to_owned(),
                    c["email"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{hid}"), a)
        .await
        .json()
        .await
        .unwrap();
    let first = contacts(&h);
    assert_eq!(
        first
            .iter()
            .map(|(_, n, e)| (n.as_str(), e.as_str()))
            .collect::<Vec<_>>(),
        [
            ("加藤 花子", "kato.a@dousei.example"),
            ("加藤 花子", "kato.b@dousei.example")
        ]
    );
    let before = versions(&app, a, &hid).await;

    // The same file again, twice: every row unchanged, no version moves, no email flips.
    for _ in 0..2 {
        let report: Value = import(&app, a, list("kato.a@dousei.example").as_bytes(), "")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(results(&report), (0, 0, 1, 0), "{report}");
        assert_eq!(report["rows"][0]["result"], "unchanged");
        assert_eq!(versions(&app, a, &hid).await, before);
        let h: Value = app
            .get(&format!("/api/v1/hospitals/{hid}"), a)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(contacts(&h), first);
    }

    // The first 加藤 花子's address changes in the list: that contact (same id) takes it and
    // loses its links; the second keeps hers.
    let link_a = crate::portal::link(&app, a, &engagement, &first[0].0, "landing").await;
    let link_b = crate::portal::link(&app, a, &engagement, &first[1].0, "landing").await;
    assert_eq!(link_status(&app, &link_a).await, 200);
    assert_eq!(link_status(&app, &link_b).await, 200);
    let report: Value = import(&app, a, list("kato.c@dousei.example").as_bytes(), "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (0, 1, 0, 0), "{report}");
    let h: Value = app
        .get(&format!("/api/v1/hospitals/{hid}"), a)
        .await
        .json()
        .await
        .unwrap();
    let now = contacts(&h);
    assert_eq!(now.len(), 2, "{h}");
    assert_eq!(now[0].0, first[0].0);
    assert_eq!(now[0].2, "kato.c@dousei.example");
    assert_eq!(now[1], first[1]);
    assert_eq!(
        link_status(&app, &link_a).await,
        410,
        "the old address's link"
    );
    assert_eq!(link_status(&app, &link_b).await, 200);

    // A dry run with one new hospital and this one: the new row has no engagement id (it would
    // not exist), the existing one has its real id.
    let text = format!(
        "{SAME_NAME_HEADER}\n東京都,{code},架空同名病院,150,加藤 花子,kato.c@dousei.example,加藤 花子,kato.b@dousei.example\n東京都,{},架空新規病院,60,,,,\n",
        institution_code("13", 7, 2)
    );
    let report: Value = import(&app, a, text.as_bytes(), "?dry_run=true")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (1, 0, 1, 0), "{report}");
    assert_eq!(report["rows"][0]["engagement_id"], engagement.as_str());
    assert!(
        report["rows"][1]
            .get("engagement_id")
            .is_none_or(Value::is_null),
        "{report}"
    );
    assert_eq!(engagement_count(&app, a).await, 1);
}

#[tokio::test]
async fn a_list_of_two_thousand_rows_imported_twice_is_unchanged_the_second_time() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let mut text = String::from(
        "都道府県,医療機関コード,病院名,病床数,担当者1氏名,担当者1電話,担当者1メール,担当者2氏名,担当者2電話,担当者2メール\n",
    );
    for n in 1..=2000u32 {
        let code = institution_code("13", 20 + n / 1000, n % 1000 + 1);
        // Every third hospital has two contacts of one name; every fifth a second contact
        // without an email (matched by its column).
        let second = if n % 3 == 0 {
            "佐藤 一郎"
        } else {
            "鈴木 次郎"
        };
        let second_email = if n % 5 == 0 {
            String::new()
        } else {
            format!("second{n}@list.example")
        };
        text.push_str(&format!(
            "東京都,{code},架空病院{n},{},佐藤 一郎,03-0000-{n:04},first{n}@list.example,{second},03-1111-{n:04},{second_email}\n",
            20 + n % 500
        ));
    }
    let report: Value = import(&app, a, text.as_bytes(), "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (2000, 0, 0, 0));
    let list: Value = app
        .get("/api/v1/hospitals?limit=5", a)
        .await
        .json()
        .await
        .unwrap();
    let sample: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    let mut before = Vec::new();
    for h in &sample {
        before.push(versions(&app, a, h).await);
    }

    let report: Value = import(&app, a, text.as_bytes(), "")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(results(&report), (0, 0, 2000, 0));
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["result"] == "unchanged" && r["changed"].is_null()));
    assert_eq!(report["written"], false);
    let mut after = Vec::new();
    for h in &sample {
        after.push(versions(&app, a, h).await);
    }
    assert_eq!(after, before);
    assert_eq!(engagement_count(&app, a).await, 2000);
}
