//! Uploads: type from content, size limit, versions, and the XLSX form of the list.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{institution_code, problem, spawn, spawn_with, PDF, PNG};

#[tokio::test]
async fn types_come_from_the_content_and_every_upload_is_a_new_version() {
    let app = spawn().await;
    let w = app.world().await;
    let e = app
        .executed_engagement(&w, &institution_code("13", 7, 1), "架空アップロード病院")
        .await;
    let c = &w.coord_a;

    // An executable named like a PDF is refused, and nothing is recorded.
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00".to_vec();
    exe.extend_from_slice(&[0u8; 64]);
    let body = problem(app.upload(c, &e, "diagram", "network.pdf", &exe).await, 422).await;
    assert!(body["detail"].as_str().unwrap().contains("network.pdf"));
    problem(
        app.upload(
            c,
            &e,
            "diagram",
            "page.svg",
            b"<html><body>hi</body></html>",
        )
        .await,
        422,
    )
    .await;
    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), c)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 0);

    // A PDF named .png is stored as what it is.
    assert_eq!(
        app.upload(c, &e, "diagram", "diagram.png", PDF)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.upload(c, &e, "diagram", "diagram.png", PNG)
            .await
            .status(),
        200
    );
    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), c)
        .await
        .json()
        .await
        .unwrap();
    let versions: Vec<(i64, &str)> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["version"].as_i64().unwrap(),
                d["content_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(versions, [(1, "application/pdf"), (2, "image/png")]);
    let sha = docs[1]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    let res = app
        .get(
            &format!(
                "/api/v1/engagements/{e}/documents/{}/content",
                docs[0]["id"].as_str().unwrap()
            ),
            c,
        )
        .await;
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), PDF);
}

#[tokio::test]
async fn oversized_uploads_get_413_and_leave_nothing() {
    let app = spawn_with(&[("MAX_UPLOAD_BYTES", "2048")]).await;
    let w = app.world().await;
    let e = app
        .executed_engagement(&w, &institution_code("13", 7, 2), "架空アップロード病院")
        .await;
    let mut big = PDF.to_vec();
    big.resize(4096, b' ');
    problem(
        app.upload(&w.coord_a, &e, "diagram", "big.pdf", &big).await,
        413,
    )
    .await;
    let docs: Value = app
        .get(&format!("/api/v1/engagements/{e}/documents"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(docs.as_array().unwrap().len(), 0);
    let d: Value = app
        .get(&format!("/api/v1/engagements/{e}"), &w.coord_a)
        .await
        .json()
        .await
        .unwrap();
    assert!(d["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["milestone"] != "diagram_received"));
}

#[tokio::test]
async fn an_xlsx_list_imports_like_a_csv() {
    let app = spawn().await;
    let w = app.world().await;
    let code = institution_code("13", 8, 1);
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, h) in [
        "順位",
        "都道府県",
        "医療機関コード",
        "病院名",
        "病床数",
        "担当者1氏名",
        "担当者1メール",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *h).unwrap();
    }
    sheet.write_number(1, 0, 1.0).unwrap();
    sheet.write_string(1, 1, "東京都").unwrap();
    sheet
        .write_number(1, 2, code.parse::<f64>().unwrap())
        .unwrap();
    sheet.write_string(1, 3, "架空エクセル病院").unwrap();
    sheet.write_number(1, 4, 410.0).unwrap();
    sheet.write_string(1, 5, "伊藤 三郎").unwrap();
    sheet.write_string(1, 6, "ito@excel.example").unwrap();
    let bytes = book.save_to_buffer().unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("list.xlsx"),
        )
        .text("round", "FY2025");
    let res = app
        .req(Method::POST, "/api/v1/imports", Some(&w.admin))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["rows"][0]["institution_code"], code.as_str());
    let list: Value = app
        .get("/api/v1/engagements?tier=400%2B&count=true", &w.admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
}
