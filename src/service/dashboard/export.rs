//! The same tables as a file for Excel: XLSX with two sheets (the hospitals, the prefectures),
//! or CSV (UTF-8 with a BOM so Excel reads it, or CP932 on request).

use chrono::{DateTime, NaiveDate, Utc};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use serde::Deserialize;
use utoipa::IntoParams;

use super::hospitals::{all_rows, HospitalRow, HospitalsQuery};
use super::summary::{summary, PrefectureRow, SummaryQuery};
use super::{next_action_ja, stage_ja, Viewer};
use crate::db::DbConnection;
use crate::domain::calendar::date_in_japan;
use crate::domain::export::neutralize;
use crate::domain::pipeline::{Party, SideState, Sla, Stage};
use crate::error::{AppError, AppResult, FieldError};

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Round id or name (`FY2025`); the latest round when absent.
    pub round: Option<String>,
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
    /// `xlsx` (default) or `csv`.
    pub format: Option<String>,
    /// For CSV: `utf-8` (default, with a BOM) or `cp932` (Shift_JIS as Windows writes it).
    pub encoding: Option<String>,
    /// For CSV, which table: `hospitals` (default) or `prefectures`. XLSX holds both.
    pub table: Option<String>,
}

/// A file to send.
pub struct ExportFile {
    /// The name people see, in Japanese.
    pub filename: String,
    /// An ASCII name for clients that cannot read the Japanese one.
    pub ascii_filename: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

impl ExportFile {
    /// The `Content-Disposition` that offers it under its Japanese name (RFC 6266).
    pub fn disposition(&self) -> String {
        crate::domain::export::content_disposition(&self.filename, &self.ascii_filename)
    }
}

enum Cell {
    Text(String),
    Int(i64),
    /// A share from 0 to 1, shown as a percentage.
    Rate(Option<f64>),
    Date(Option<NaiveDate>),
}

struct Sheet {
    name: &'static str,
    headers: Vec<(&'static str, f64)>,
    rows: Vec<Vec<Cell>>,
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn side_ja(s: SideState) -> &'static str {
    match s {
        SideState::Declined => "辞退",
        SideState::Withdrawn => "取り下げ",
        SideState::OnHold => "保留",
    }
}

fn hospitals_sheet(rows: &[HospitalRow]) -> Sheet {
    Sheet {
        name: "病院一覧",
        headers: vec![
            ("医療機関コード", 14.0),
            ("医療機関名", 36.0),
            ("都道府県", 10.0),
            ("病床規模", 10.0),
            ("段階", 16.0),
            ("状態", 8.0),
            ("段階の開始日", 13.0),
            ("次の対応", 26.0),
            ("対応待ち", 10.0),
            ("期限超過", 9.0),
            ("担当組織", 24.0),
            ("ヒアリング日", 13.0),
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    text(&r.institution_code),
                    text(&r.name),
                    text(&r.prefecture_name),
                    text(r.tier.clone().unwrap_or_default()),
                    text(stage_ja(r.stage)),
                    text(r.side_state.map(side_ja).unwrap_or_default()),
                    Cell::Date(Some(r.since)),
                    text(
                        r.next_action
                            .as_ref()
                            .map(|n| next_action_ja(&n.code))
                            .unwrap_or_default(),
                    ),
                    text(match r.next_action.as_ref().map(|n| n.awaiting) {
                        Some(Party::Hospital) => "医療機関",
                        Some(Party::Vendor) => "事業者",
                        None => "",
                    }),
                    text(if r.overdue { "超過" } else { "" }),
                    text(r.organization_name.clone().unwrap_or_default()),
                    Cell::Date(r.hearing_date),
                ]
            })
            .collect(),
    }
}

fn prefectures_sheet(rows: &[PrefectureRow]) -> Sheet {
    let mut headers = vec![
        ("都道府県コード", 9.0),
        ("都道府県", 10.0),
        ("支援枠", 8.0),
        ("選定数", 8.0),
    ];
    headers.extend(Stage::ALL.map(|s| (stage_ja(s), 10.0)));
    headers.extend([
        ("辞退", 7.0),
        ("取り下げ", 8.0),
        ("保留", 7.0),
        ("期限超過", 9.0),
        ("完了率", 8.0),
    ]);
    Sheet {
        name: "都道府県別",
        headers,
        rows: rows
            .iter()
            .map(|r| {
                let c = &r.counts;
                let mut cells = vec![
                    text(&r.code),
                    text(&r.name),
                    Cell::Int(r.slots),
                    Cell::Int(c.selected),
                ];
                cells.extend(Stage::ALL.map(|s| Cell::Int(c.stages.get(s))));
                cells.extend([
                    Cell::Int(c.declined),
                    Cell::Int(c.withdrawn),
                    Cell::Int(c.on_hold),
                    Cell::Int(c.overdue),
                    Cell::Rate(c.completion_rate),
                ]);
                cells
            })
            .collect(),
    }
}

pub fn export(
    conn: &mut DbConnection,
    sla: &Sla,
    viewer: &Viewer,
    q: &ExportQuery,
    now: DateTime<Utc>,
) -> AppResult<ExportFile> {
    let mut errors = Vec::new();
    let format = q.format.as_deref().unwrap_or("xlsx");
    if !matches!(format, "xlsx" | "csv") {
        errors.push(FieldError::new("format", "xlsx or csv"));
    }
    let cp932 = match q
        .encoding
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("utf-8" | "utf8") => false,
        Some("cp932" | "shift_jis" | "sjis") => true,
        Some(_) => {
            errors.push(FieldError::new("encoding", "utf-8 or cp932"));
            false
        }
    };
    let table = q.table.as_deref().unwrap_or("hospitals");
    if !matches!(table, "hospitals" | "prefectures") {
        errors.push(FieldError::new("table", "hospitals or prefectures"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let scope = SummaryQuery {
        round: q.round.clone(),
        prefecture: q.prefecture.clone(),
        tier: q.tier.clone(),
        organization_id: q.organization_id.clone(),
    };
    let hq = HospitalsQuery {
        round: q.round.clone(),
        prefecture: q.prefecture.clone(),
        tier: q.tier.clone(),
        organization_id: q.organization_id.clone(),
        ..Default::default()
    };
    let today = date_in_japan(now);
    let s = summary(conn, sla, viewer, &scope, now)?;
    let (hospitals, round) = all_rows(conn, sla, viewer, &hq, now)?;
    let sheets = [
        hospitals_sheet(&hospitals),
        prefectures_sheet(&s.by_prefecture),
    ];
    if format == "xlsx" {
        let bytes = xlsx(&sheets).map_err(|e| anyhow::anyhow!("cannot write the workbook: {e}"))?;
        return Ok(ExportFile {
            filename: format!("進捗_{round}_{today}.xlsx"),
            ascii_filename: format!("progress_{round}_{today}.xlsx"),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            bytes,
        });
    }
    let (sheet, stem, ascii) = match table {
        "prefectures" => (&sheets[1], "都道府県別", "prefectures"),
        _ => (&sheets[0], "進捗", "progress"),
    };
    let csv = csv_text(sheet).map_err(|e| anyhow::anyhow!("cannot write the CSV: {e}"))?;
    let (bytes, content_type) = if cp932 {
        (to_cp932(&csv), "text/csv; charset=Shift_JIS")
    } else {
        let mut b = "\u{feff}".as_bytes().to_vec();
        b.extend_from_slice(csv.as_bytes());
        (b, "text/csv; charset=utf-8")
    };
    Ok(ExportFile {
        filename: format!("{stem}_{round}_{today}.csv"),
        ascii_filename: format!("{ascii}_{round}_{today}.csv"),
        content_type,
        bytes,
    })
}

fn xlsx(sheets: &[Sheet]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let header = Format::new().set_bold().set_background_color("DDE7F3");
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let percent = Format::new().set_num_format("0.0%");
    for sheet in sheets {
        let ws = book.add_worksheet();
        ws.set_name(sheet.name)?;
        for (col, (title, width)) in sheet.headers.iter().enumerate() {
            let col = col as u16;
            ws.write_string_with_format(0, col, *title, &header)?;
            ws.set_column_width(col, *width)?;
        }
        ws.set_freeze_panes(1, 0)?;
        for (i, row) in sheet.rows.iter().enumerate() {
            let r = i as u32 + 1;
            for (col, cell) in row.iter().enumerate() {
                let col = col as u16;
                match cell {
                    Cell::Text(s) if s.is_empty() => {}
                    Cell::Text(s) => {
                        ws.write_string(r, col, neutralize(s).as_ref())?;
                    }
                    Cell::Int(n) => {
                        ws.write_number(r, col, *n as f64)?;
                    }
                    Cell::Rate(Some(x)) => {
                        ws.write_number_with_format(r, col, *x, &percent)?;
                    }
                    Cell::Date(Some(d)) => {
                        ws.write_date_with_format(r, col, d, &date)?;
                    }
                    Cell::Rate(None) | Cell::Date(None) => {}
                }
            }
        }
    }
    book.save_to_buffer()
}

fn csv_text(sheet: &Sheet) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(sheet.headers.iter().map(|(h, _)| *h))?;
    for row in &sheet.rows {
        w.write_record(row.iter().map(|c| match c {
            Cell::Text(s) => neutralize(s).into_owned(),
            Cell::Int(n) => n.to_string(),
            Cell::Rate(x) => x.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_default(),
            Cell::Date(d) => d.map(|d| d.to_string()).unwrap_or_default(),
        }))?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Windows' Shift_JIS; a character it cannot carry becomes `?` (never an HTML entity).
fn to_cp932(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for ch in text.chars() {
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(ch.encode_utf8(&mut buf));
        if unmappable {
            out.push(b'?');
        } else {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workbook_is_written() {
        let sheet = Sheet {
            name: "病院一覧",
            headers: vec![("医療機関コード", 14.0), ("日付", 12.0)],
            rows: vec![vec![
                text("=1+1"),
                Cell::Date(NaiveDate::from_ymd_opt(2026, 11, 26)),
            ]],
        };
        let bytes = xlsx(&[sheet]).unwrap();
        assert!(bytes.starts_with(b"PK"));
    }
}
