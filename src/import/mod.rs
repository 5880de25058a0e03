//! Parsing a prefecture's selection list of hospitals (CSV or XLSX) into typed rows. Pure: bytes
//! in, rows and per-row problems out; saving them is the caller's business.
//!
//! The template and its accepted values are documented in `examples/README.md`.

pub mod columns;
pub mod matching;
mod read;
mod row;

use std::fmt;

use serde::Serialize;

use crate::domain::normalize;
use columns::Column;
use read::RawRow;
use row::Layout;

/// Decodes a CSV (BOM, UTF-8 or CP932, or as told); also used for the support-slot CSV.
pub(crate) use read::decode as decode_text;

/// Title rows above the header (「令和7年度 選定病院一覧」) are common; look this far for it.
const HEADER_SEARCH_ROWS: usize = 10;

/// Most rows a list may have: more than there are hospitals in Japan (about 8,000), few enough
/// that a hostile file cannot make the process hold millions of rows.
pub const MAX_ROWS: usize = 20_000;

/// Most columns a list may use: the template has 23.
pub const MAX_COLUMNS: usize = 64;

/// Most bytes one part of a workbook (a sheet's XML, the shared strings) may inflate to, and all
/// parts together. A real list of `MAX_ROWS` rows needs well under half of it.
pub const MAX_PART_BYTES: u64 = 32 << 20;
pub const MAX_INFLATED_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
}

/// XLSX is a zip archive, so the bytes decide first. A `.xlsx` name on other bytes still means
/// XLSX, so that a broken workbook is reported as one rather than read as garbled CSV.
pub fn detect_format(bytes: &[u8], filename: Option<&str>) -> Format {
    let named_xlsx = filename.is_some_and(|n| n.trim().to_ascii_lowercase().ends_with(".xlsx"));
    if bytes.starts_with(b"PK\x03\x04") || named_xlsx {
        Format::Xlsx
    } else {
        Format::Csv
    }
}

/// Text encodings of CSV uploads: UTF-8 (with or without BOM), or CP932 as Excel saves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    ShiftJis,
}

impl Encoding {
    pub fn parse(name: &str) -> Option<Encoding> {
        match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "utf_8" | "utf8" => Some(Encoding::Utf8),
            "shift_jis" | "shiftjis" | "sjis" | "cp932" | "ms932" | "windows_31j" => {
                Some(Encoding::ShiftJis)
            }
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::ShiftJis => "Shift_JIS (CP932)",
        }
    }
}

/// Problems with the file as a whole; no rows are reported then.
#[derive(Debug, Clone, PartialEq)]
pub enum FileError {
    Empty,
    /// Not valid text in this encoding (the one tried last when detecting).
    Undecodable(Encoding),
    BadCsv(String),
    BadXlsx(String),
    NoHeader,
    /// The same column twice: which one holds the data would be a guess.
    DuplicateColumn(String),
    MissingColumns(Vec<Column>),
    /// More rows than `MAX_ROWS` (`declared`: as the sheet's dimension says, not counted).
    TooManyRows {
        rows: u64,
        declared: bool,
    },
    /// Data right of column `MAX_COLUMNS` (`declared`: as the sheet's dimension says).
    TooManyColumns {
        columns: u64,
        declared: bool,
    },
    /// A part of the workbook inflates past `MAX_PART_BYTES`, or all parts past
    /// `MAX_INFLATED_BYTES`: answered 413, not read.
    Inflated {
        part: String,
        limit: u64,
    },
}

impl FileError {
    /// The file is too big to read at all (as opposed to malformed).
    pub fn is_too_large(&self) -> bool {
        matches!(self, FileError::Inflated { .. })
    }
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

fn column_name(mut n: u64) -> String {
    let mut name = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        name.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

impl FileError {
    pub fn ja(&self) -> String {
        match self {
            FileError::Empty => "ファイルが空です".into(),
            FileError::Undecodable(Encoding::Utf8) => {
                "ファイルをUTF-8として読めません。文字コードを確認してください".into()
            }
            FileError::Undecodable(Encoding::ShiftJis) => {
                "ファイルの文字コードを判別できません（UTF-8またはShift_JISで保存してください）"
                    .into()
            }
            FileError::BadCsv(detail) => format!("CSVとして読めません（{detail}）"),
            FileError::BadXlsx(detail) => {
                format!("Excel（xlsx）ファイルとして読めません（{detail}）")
            }
            FileError::NoHeader => format!(
                "見出し行が見つかりません（先頭{HEADER_SEARCH_ROWS}行に「都道府県」「医療機関コード」「病院名」などの見出しが必要です）"
            ),
            FileError::DuplicateColumn(header) => format!("列「{header}」が重複しています"),
            FileError::MissingColumns(columns) => format!(
                "必須の列がありません：{}",
                columns
                    .iter()
                    .map(|c| format!("「{}」", c.ja()))
                    .collect::<Vec<_>>()
                    .join("")
            ),
            FileError::TooManyRows { rows, declared } => format!(
                "行数が多すぎます（{}{rows}行、上限{MAX_ROWS}行）",
                if *declared { "シートの範囲指定で" } else { "" }
            ),
            FileError::TooManyColumns { columns, declared } => format!(
                "列数が多すぎます（{}{}列目にデータがあります。上限{}列目）",
                if *declared { "シートの範囲指定で" } else { "" },
                column_name(*columns),
                column_name(MAX_COLUMNS as u64)
            ),
            FileError::Inflated { part, limit } => format!(
                "ファイルが大きすぎます（{part}を展開すると{}MiBを超えます）",
                mib(*limit)
            ),
        }
    }

    pub fn en(&self) -> String {
        match self {
            FileError::Empty => "the file is empty".into(),
            FileError::Undecodable(Encoding::Utf8) => {
                "the file is not valid UTF-8; check its encoding".into()
            }
            FileError::Undecodable(Encoding::ShiftJis) => {
                "cannot tell the file's encoding (save it as UTF-8 or Shift_JIS)".into()
            }
            FileError::BadCsv(detail) => format!("cannot read the file as CSV ({detail})"),
            FileError::BadXlsx(detail) => format!("cannot read the file as XLSX ({detail})"),
            FileError::NoHeader => format!(
                "no header row found (the first {HEADER_SEARCH_ROWS} rows must include headers such as 都道府県/prefecture, 医療機関コード/institution_code, 病院名/hospital_name)"
            ),
            FileError::DuplicateColumn(header) => format!("column '{header}' appears twice"),
            FileError::MissingColumns(columns) => format!(
                "required columns missing: {}",
                columns
                    .iter()
                    .map(|c| format!("{} ({})", c.en(), c.ja()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FileError::TooManyRows { rows, declared } => format!(
                "too many rows: {}{rows} rows, at most {MAX_ROWS}",
                if *declared { "the sheet's dimension declares " } else { "" }
            ),
            FileError::TooManyColumns { columns, declared } => format!(
                "too many columns: {} data in column {} ({columns}), at most column {} ({MAX_COLUMNS})",
                if *declared { "the sheet's dimension declares" } else { "the sheet has" },
                column_name(*columns),
                column_name(MAX_COLUMNS as u64)
            ),
            FileError::Inflated { part, limit } => format!(
                "the workbook is too large: {part} inflates to more than {} MiB",
                mib(*limit)
            ),
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en())
    }
}

impl std::error::Error for FileError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmrStatus {
    Full,
    Partial,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactRow {
    /// Which of the template's contact column groups it came from (0 for 担当者1).
    pub slot: usize,
    pub name: String,
    pub department: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SelectionRow {
    pub rank: Option<i32>,
    /// "01".."47".
    pub prefecture_code: String,
    /// Full 10 digits, check digit verified.
    pub institution_code: String,
    pub name: String,
    pub address: Option<String>,
    pub beds: Option<i32>,
    pub emr_status: Option<EmrStatus>,
    pub contacts: Vec<ContactRow>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowError {
    /// The header as written in the file (the template's Japanese header if the column is absent).
    pub column: String,
    pub reason_ja: String,
    pub reason_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowOutcome {
    /// 1-based line (CSV) or sheet row (XLSX) in the file; the header is usually 1.
    pub row: usize,
    /// The row's institution code and hospital name where they are valid, rejected row or not,
    /// so that a report can say which hospital a rejected row was about.
    pub institution_code: Option<String>,
    pub hospital_name: Option<String>,
    pub result: Result<SelectionRow, Vec<RowError>>,
}

/// Parses a selection list. `encoding` applies to CSV only; `None` detects it.
pub fn parse(
    bytes: &[u8],
    format: Format,
    encoding: Option<Encoding>,
) -> Result<Vec<RowOutcome>, FileError> {
    if bytes.is_empty() {
        return Err(FileError::Empty);
    }
    let rows = match format {
        Format::Csv => read::csv_rows(bytes, encoding)?,
        Format::Xlsx => read::xlsx_rows(bytes)?,
    };
    let mut rows = rows.into_iter().filter(|r| !is_blank(r));

    let mut seen = 0;
    let layout = loop {
        let Some(candidate) = rows.next() else {
            return Err(if seen == 0 {
                FileError::Empty
            } else {
                FileError::NoHeader
            });
        };
        seen += 1;
        if let Some(layout) = header_layout(&candidate)? {
            break layout;
        }
        if seen >= HEADER_SEARCH_ROWS {
            return Err(FileError::NoHeader);
        }
    };
    let missing: Vec<Column> = Column::REQUIRED
        .into_iter()
        .filter(|c| !layout.has(*c))
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }

    Ok(rows.map(|raw| row::parse_row(&layout, &raw)).collect())
}

fn is_blank(row: &RawRow) -> bool {
    row.cells
        .iter()
        .all(|c| normalize::text(&c.text).is_empty())
}

/// The column layout if `row` looks like the header (names at least one known column).
fn header_layout(row: &RawRow) -> Result<Option<Layout>, FileError> {
    let mut layout = Layout::default();
    let mut any = false;
    for (index, cell) in row.cells.iter().enumerate() {
        let Some(column) = Column::from_header(&cell.text) else {
            continue;
        };
        any = true;
        let header = normalize::text(&cell.text);
        if !layout.insert(column, index, header.clone()) {
            return Err(FileError::DuplicateColumn(header));
        }
    }
    Ok(any.then_some(layout))
}

#[cfg(test)]
mod tests;
