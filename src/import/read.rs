//! Bytes → a grid of text cells with their line numbers, for CSV (UTF-8 or CP932) and XLSX.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};

use super::{Encoding, FileError};

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// One cell as read. `numeric` marks XLSX number cells, whose leading zeros Excel has dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cell {
    pub text: String,
    pub numeric: bool,
}

impl Cell {
    fn text(s: impl Into<String>) -> Self {
        Cell {
            text: s.into(),
            numeric: false,
        }
    }
}

/// One row of the file; `line` is 1-based (CSV line where the record starts, or sheet row).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawRow {
    pub line: usize,
    pub cells: Vec<Cell>,
}

pub(crate) fn decode(bytes: &[u8], encoding: Option<Encoding>) -> Result<String, FileError> {
    let utf8 = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| FileError::Undecodable(Encoding::Utf8))
    };
    let shift_jis = |b: &[u8]| {
        // encoding_rs's Shift_JIS is the WHATWG one, i.e. CP932 with the NEC/IBM extensions
        // that Excel writes (①, ㈱, 髙 …).
        encoding_rs::SHIFT_JIS
            .decode_without_bom_handling_and_without_replacement(b)
            .map(|s| s.into_owned())
            .ok_or(FileError::Undecodable(Encoding::ShiftJis))
    };
    match encoding {
        Some(Encoding::Utf8) => utf8(bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)),
        Some(Encoding::ShiftJis) => shift_jis(bytes),
        None => match bytes.strip_prefix(UTF8_BOM) {
            Some(rest) => utf8(rest),
            // Valid UTF-8 is almost never valid CP932 text by accident, so try it first.
            None => utf8(bytes).or_else(|_| shift_jis(bytes)),
        },
    }
}

pub(crate) fn csv_rows(bytes: &[u8], encoding: Option<Encoding>) -> Result<Vec<RawRow>, FileError> {
    let text = decode(bytes, encoding)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        // Hand-edited lists have ragged rows; missing cells count as blank.
        .flexible(true)
        .from_reader(text.as_bytes());
    let bytes = text.as_bytes();
    let mut rows = Vec::new();
    // Line numbers are counted here: the csv crate's position is where it began scanning, which
    // is before skipped blank lines and before the `\n` of a CRLF, so one line early at times.
    // A record itself never starts with CR or LF (a quoted one starts with `"`).
    let (mut counted_to, mut line) = (0usize, 1usize);
    for record in reader.records() {
        let record = record.map_err(|e| FileError::BadCsv(e.to_string()))?;
        let scan_from = record.position().map_or(0, |p| p.byte()) as usize;
        let start = bytes
            .get(scan_from..)
            .and_then(|rest| rest.iter().position(|b| *b != b'\r' && *b != b'\n'))
            .map_or(scan_from, |skip| scan_from + skip);
        if let Some(between) = bytes.get(counted_to..start) {
            line += between.iter().filter(|b| **b == b'\n').count();
            counted_to = start;
        }
        rows.push(RawRow {
            line,
            cells: record.iter().map(Cell::text).collect(),
        });
    }
    Ok(rows)
}

pub(crate) fn xlsx_rows(bytes: &[u8]) -> Result<Vec<RawRow>, FileError> {
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(|e| FileError::BadXlsx(e.to_string()))?;
    let range = match book.worksheet_range_at(0) {
        Some(r) => r.map_err(|e| FileError::BadXlsx(e.to_string()))?,
        None => return Err(FileError::BadXlsx("the workbook has no worksheet".into())),
    };
    // The range starts at the first used cell, not at A1; keep sheet row numbers and columns.
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| {
            let mut row: Vec<Cell> = vec![Cell::default(); first_col as usize];
            row.extend(cells.iter().map(cell));
            RawRow {
                line: first_row as usize + i + 1,
                cells: row,
            }
        })
        .collect();
    Ok(rows)
}

fn cell(data: &Data) -> Cell {
    match data {
        Data::Int(i) => Cell {
            text: i.to_string(),
            numeric: true,
        },
        // Excel stores every number as a float; codes and bed counts must read `120`, not `120.0`.
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Cell {
            text: format!("{}", *f as i64),
            numeric: true,
        },
        Data::Float(f) => Cell {
            text: f.to_string(),
            numeric: true,
        },
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cell::text(s.as_str()),
        Data::Bool(b) => Cell::text(b.to_string()),
        Data::DateTime(d) => Cell::text(d.to_string()),
        Data::Error(e) => Cell::text(e.to_string()),
        Data::Empty => Cell::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_bom_validity_or_choice() {
        let text = "病院名,都道府県\n";
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&bom, None).unwrap(), text);
        assert_eq!(decode(&bom, Some(Encoding::Utf8)).unwrap(), text);
        assert_eq!(decode(text.as_bytes(), None).unwrap(), text);

        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(std::str::from_utf8(&sjis).is_err());
        assert_eq!(decode(&sjis, None).unwrap(), text);
        assert_eq!(decode(&sjis, Some(Encoding::ShiftJis)).unwrap(), text);
        assert_eq!(
            decode(&sjis, Some(Encoding::Utf8)),
            Err(FileError::Undecodable(Encoding::Utf8))
        );
        // A lone lead byte is neither UTF-8 nor CP932.
        assert_eq!(
            decode(b"abc\x81", None),
            Err(FileError::Undecodable(Encoding::ShiftJis))
        );
    }

    #[test]
    fn cp932_extensions_decode() {
        // NEC special characters and IBM extensions that Excel writes in CP932.
        let text = "①髙橋㈱";
        let (sjis, _, had_errors) = encoding_rs::SHIFT_JIS.encode(text);
        assert!(!had_errors);
        assert_eq!(decode(&sjis, None).unwrap(), text);
    }

    #[test]
    fn csv_rows_carry_line_numbers() {
        let rows = csv_rows(b"a,b\n\n\"x\ny\",2\n3\n", None).unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 3, 5]);
        assert_eq!(rows[1].cells[0].text, "x\ny");
        assert_eq!(rows[2].cells.len(), 1);

        // Excel writes CRLF.
        let rows = csv_rows(b"a,b\r\n\r\n\"x\r\ny\",2\r\n,3\r\n", None).unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![1, 3, 5]);
        assert_eq!(rows[2].cells[0].text, "");
    }

    #[test]
    fn numbers_come_out_plain() {
        assert_eq!(cell(&Data::Float(120.0)).text, "120");
        assert_eq!(cell(&Data::Float(110113719.0)).text, "110113719");
        assert!(cell(&Data::Float(1.0)).numeric);
        assert_eq!(cell(&Data::Int(7)).text, "7");
        assert_eq!(cell(&Data::Float(1.5)).text, "1.5");
        assert!(!cell(&Data::String("0110113719".into())).numeric);
    }

    #[test]
    fn bad_xlsx_is_a_file_error() {
        assert!(matches!(
            xlsx_rows(b"PK\x03\x04not really a zip"),
            Err(FileError::BadXlsx(_))
        ));
    }
}
