//! Spreadsheet bombs: small .xlsx files that claim or inflate to enormous sheets are refused
//! before anything big is allocated, through the API and through the `import` command.
//!
//! A test binary of its own, so that the resident set measured is this app's alone and not that
//! of the other API tests running beside it.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use flate2::{Compress, Compression, FlushCompress};
use reqwest::Method;
use serde_json::Value;

use helpers::{problem, spawn, TestApp};

/// The resident set of this test process (the app runs inside it), in MiB.
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

const LIMIT_MIB: u64 = 256;

struct Entry {
    name: &'static str,
    /// 0 stored, 8 deflated.
    method: u16,
    data: Vec<u8>,
    crc: u32,
    /// As declared in the headers (a bomb may lie).
    size: u32,
}

impl Entry {
    /// Deflated, with its true size and checksum.
    fn deflated(name: &'static str, text: &str) -> Entry {
        let mut crc = flate2::Crc::new();
        crc.update(text.as_bytes());
        Entry {
            name,
            method: 8,
            data: deflate_piece(text.as_bytes(), true),
            crc: crc.sum(),
            size: text.len() as u32,
        }
    }
}

/// A zip archive written by hand, so that sizes and contents can be anything a bomb needs.
fn zip(entries: &[Entry]) -> Vec<u8> {
    fn u16le(out: &mut Vec<u8>, v: u16) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    fn u32le(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let offset = out.len() as u32;
        u32le(&mut out, 0x0403_4b50);
        for v in [20, 0, e.method, 0, 0x21] {
            u16le(&mut out, v);
        }
        u32le(&mut out, e.crc);
        u32le(&mut out, e.data.len() as u32);
        u32le(&mut out, e.size);
        u16le(&mut out, e.name.len() as u16);
        u16le(&mut out, 0);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&e.data);

        u32le(&mut central, 0x0201_4b50);
        for v in [20, 20, 0, e.method, 0, 0x21] {
            u16le(&mut central, v);
        }
        u32le(&mut central, e.crc);
        u32le(&mut central, e.data.len() as u32);
        u32le(&mut central, e.size);
        for v in [e.name.len() as u16, 0, 0, 0, 0] {
            u16le(&mut central, v);
        }
        u32le(&mut central, 0);
        u32le(&mut central, offset);
        central.extend_from_slice(e.name.as_bytes());
    }
    let central_offset = out.len() as u32;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    for v in [0, 0, entries.len() as u16, entries.len() as u16] {
        u16le(&mut out, v);
    }
    u32le(&mut out, central.len() as u32);
    u32le(&mut out, central_offset);
    u16le(&mut out, 0);
    out
}

/// The parts a reader needs besides the sheet (Excel writes a few more).
fn workbook(sheet: Entry) -> Vec<u8> {
    zip(&[
        Entry::deflated(
            "xl/workbook.xml",
            r#"<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        Entry::deflated(
            "xl/_rels/workbook.xml.rels",
            r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
        sheet,
    ])
}

const SHEET_HEAD: &str =
    r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#;

/// Under a kilobyte: one cell in A1 and one in the last cell Excel has, XFD1048576. A reader
/// that makes a dense grid of it asks for 2^34 cells.
fn far_cell_bomb() -> Vec<u8> {
    let sheet = format!(
        r#"{SHEET_HEAD}<dimension ref="A1:XFD1048576"/><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>都道府県</t></is></c></row><row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>"#
    );
    workbook(Entry::deflated("xl/worksheets/sheet1.xml", &sheet))
}

/// The same far cell without a `<dimension>`: only the cells tell.
fn far_cell_without_dimension() -> Vec<u8> {
    let sheet = format!(
        r#"{SHEET_HEAD}<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>都道府県</t></is></c><c r="XFD1"><v>1</v></c></row></sheetData></worksheet>"#
    );
    workbook(Entry::deflated("xl/worksheets/sheet1.xml", &sheet))
}

/// Raw deflate of `data` from a fresh compressor, ended by a sync flush (or the final block):
/// such pieces can be strung together, and a repeated piece inflates to the repeated data.
fn deflate_piece(data: &[u8], last: bool) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    c.compress_vec(data, &mut out, flush).unwrap();
    assert_eq!(c.total_in() as usize, data.len());
    out
}

/// A few MB that inflate to about 1.1 GB of sheet XML: rows of one number each, 42 million of
/// them. Its headers declare that size (`honest`) or a mere 4 KiB.
fn inflation_bomb(honest: bool) -> Vec<u8> {
    let row = "<row><c><v>1</v></c></row>";
    let chunk = row.repeat((1 << 20) / row.len());
    let copies = 1100;
    let head = format!(r#"{SHEET_HEAD}<sheetData>"#);
    let tail = "</sheetData></worksheet>";
    let piece = deflate_piece(chunk.as_bytes(), false);
    let mut data = deflate_piece(head.as_bytes(), false);
    for _ in 0..copies {
        data.extend_from_slice(&piece);
    }
    data.extend_from_slice(&deflate_piece(tail.as_bytes(), true));
    let inflated = head.len() + chunk.len() * copies + tail.len();
    assert!(inflated > 1_100_000_000);
    workbook(Entry {
        name: "xl/worksheets/sheet1.xml",
        method: 8,
        data,
        // Never checked: a reader that gets this far has already lost.
        crc: 0,
        size: if honest { inflated as u32 } else { 4096 },
    })
}

async fn import(app: &TestApp, token: &str, bytes: Vec<u8>) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("選定リスト.xlsx"),
        )
        .text("round", "FY2025");
    app.req(Method::POST, "/api/v1/imports?dry_run=true", Some(token))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn spreadsheet_bombs_are_refused_without_growing_the_process() {
    let app = spawn().await;
    let w = app.world().await;
    let before = rss_mib();

    let bomb = far_cell_bomb();
    assert!(bomb.len() < 1024, "{} bytes", bomb.len());
    let body = problem(import(&app, &w.admin, bomb).await, 422).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("1048576") && detail.contains("rows"),
        "{detail}"
    );
    let after = rss_mib();
    assert!(
        after < LIMIT_MIB,
        "RSS {before} MiB before, {after} MiB after"
    );

    let body = problem(
        import(&app, &w.admin, far_cell_without_dimension()).await,
        422,
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("column"),
        "{body}"
    );

    for honest in [true, false] {
        let bomb = inflation_bomb(honest);
        assert!(bomb.len() < 4 << 20, "{} bytes", bomb.len());
        let body = problem(import(&app, &w.admin, bomb).await, 413).await;
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("sheet1.xml") && detail.contains("MiB"),
            "{detail}"
        );
        let after = rss_mib();
        assert!(
            after < LIMIT_MIB,
            "RSS {before} MiB before, {after} MiB after"
        );
    }

    eprintln!("RSS {before} MiB before the bombs, {} MiB after", rss_mib());

    // The server is still there and a real workbook still imports.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (col, text) in ["都道府県", "医療機関コード", "病院名"].iter().enumerate() {
        sheet.write_string(0, col as u16, *text).unwrap();
    }
    sheet.write_string(1, 0, "東京都").unwrap();
    sheet
        .write_string(1, 1, helpers::institution_code("13", 10, 1))
        .unwrap();
    sheet.write_string(1, 2, "架空表計算病院").unwrap();
    let res = import(&app, &w.admin, book.save_to_buffer().unwrap()).await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["created"], 1, "{report}");
}

#[tokio::test]
async fn the_import_command_refuses_bombs_with_a_message() {
    let app = spawn().await;
    app.world().await;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_engagement-tracker");
    for (name, bytes, expect) in [
        ("far.xlsx", far_cell_bomb(), "1048576"),
        ("inflating.xlsx", inflation_bomb(false), "MiB"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let url = app.database_url.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(bin)
                .args(["import", "--round", "FY2025", "--dry-run"])
                .arg(&path)
                .env("DATABASE_URL", url)
                .env("JWT_SECRET", "test-secret-test-secret-test-secret!")
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // An ordinary failure with a message, not a process killed by an allocation.
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(stderr.contains(expect), "{name}: {stderr}");
    }
}
