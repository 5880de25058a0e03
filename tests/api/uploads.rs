//! Uploads: type from content, size limit, versions, and the XLSX form of the list.

use std::io::{Cursor, Write};
use std::path::Path;

use reqwest::Method;
use serde_json::Value;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::helpers::{institution_code, problem, spawn, spawn_with, TestApp, PDF, PNG};

/// Objects in the app's document store, when it is the local directory (else 0).
pub fn stored_objects(app: &TestApp) -> usize {
    fn count(dir: &Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        count(&path)
                    } else {
                        1
                    }
                })
                .sum()
        })
    }
    count(&app.data_dir().join("files"))
}

/// Bytes that are neither text nor any known kind.
fn filler(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 | 0x80).collect()
}

/// An OLE compound file of `sectors` 512-byte sectors whose one directory sector is the last,
/// far past the first 64 KiB piece, naming the root and `stream`.
fn ole_far(stream: &str, sectors: u32) -> Vec<u8> {
    let fat_sectors = sectors.div_ceil(128);
    let dir = sectors - 1;
    let mut b = vec![0u8; 512];
    b[..8].copy_from_slice(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]);
    b[0x1A] = 0x3E;
    b[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes());
    b[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes());
    b[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
    b[0x2C..0x30].copy_from_slice(&fat_sectors.to_le_bytes());
    b[0x30..0x34].copy_from_slice(&dir.to_le_bytes());
    b[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes());
    for i in 0..109u32 {
        let v = if i < fat_sectors { i } else { 0xFFFF_FFFF };
        let at = 0x4C + 4 * i as usize;
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    for f in 0..fat_sectors {
        for i in 0..128 {
            let n = f * 128 + i;
            let v: u32 = if n < fat_sectors {
                0xFFFF_FFFD
            } else if n == dir {
                0xFFFF_FFFE
            } else {
                0xFFFF_FFFF
            };
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    b.extend(filler(512 * (dir - fat_sectors) as usize));
    let mut d = vec![0u8; 512];
    let no = 0xFFFF_FFFFu32.to_le_bytes();
    for (i, name) in ["Root Entry", stream].iter().enumerate() {
        let e = &mut d[128 * i..128 * (i + 1)];
        let units: Vec<u16> = name.encode_utf16().collect();
        for (j, u) in units.iter().enumerate() {
            e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
        }
        e[0x40..0x42].copy_from_slice(&(2 * units.len() as u16 + 2).to_le_bytes());
        e[0x42] = if i == 0 { 5 } else { 2 };
        e[0x44..0x48].copy_from_slice(&no);
        e[0x48..0x4C].copy_from_slice(&no);
        let child = if i == 0 { 1u32.to_le_bytes() } else { no };
        e[0x4C..0x50].copy_from_slice(&child);
    }
    b.extend(d);
    assert_eq!(b.len(), 512 * (sectors as usize + 1));
    b
}

/// A zip whose central directory comes after `big` bytes of its first entries.
fn zip_far(names: &[&str], big: usize) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (i, name) in names.iter().enumerate() {
        w.start_file(*name, opts).unwrap();
        w.write_all(&if i == 1 {
            filler(big)
        } else {
            b"<x/>".to_vec()
        })
        .unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[tokio::test]
async fn office_files_are_told_apart_by_structures_past_the_first_piece() {
    let app = spawn().await;
    let w = app.world().await;
    let e = app
        .executed_engagement(&w, &institution_code("13", 7, 3), "架空アップロード病院")
        .await;
    let c = &w.coord_a;
    let before = stored_objects(&app);

    let vsd = ole_far("VisioDocument", 400);
    let xlsx = zip_far(
        &[
            "[Content_Types].xml",
            "xl/media/image1.bin",
            "xl/workbook.xml",
        ],
        300_000,
    );
    let installer = ole_far("Installer", 400);
    let jar = zip_far(&["META-INF/MANIFEST.MF", "app/Main.class"], 300_000);
    for (name, bytes) in [("installer.vsd", &installer), ("tool.xlsx", &jar)] {
        let body = problem(app.upload(c, &e, "diagram", name, bytes).await, 422).await;
        assert!(body["detail"].as_str().unwrap().contains(name), "{body}");
    }
    assert_eq!(
        stored_objects(&app),
        before,
        "refused uploads leave nothing"
    );

    for (name, bytes) in [("構成図.vsd", &vsd), ("機器一覧.xlsx", &xlsx)] {
        let res = app.upload(c, &e, "diagram", name, bytes).await;
        assert_eq!(res.status(), 200, "{name}");
    }
    let docs = app.documents(c, &e).await;
    let kinds: Vec<&str> = docs
        .iter()
        .map(|d| d["content_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "application/vnd.visio",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ]
    );
    let res = app
        .get(
            &format!(
                "/api/v1/engagements/{e}/documents/{}/content",
                docs[0]["id"].as_str().unwrap()
            ),
            c,
        )
        .await;
    assert_eq!(res.bytes().await.unwrap().as_ref(), vsd.as_slice());
}

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
    let docs = app.documents(c, &e).await;
    assert!(docs.is_empty());

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
    let docs = app.documents(c, &e).await;
    let versions: Vec<(i64, &str)> = docs
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
    let docs = app.documents(&w.coord_a, &e).await;
    assert!(docs.is_empty());
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
