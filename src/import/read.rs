//! Bytes → a grid of text cells with their line numbers, for CSV (UTF-8 or CP932) and XLSX.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{Data, DataRef, Reader, Xlsx};
use zip::CompressionMethod;

use super::{Encoding, FileError, MAX_COLUMNS, MAX_INFLATED_BYTES, MAX_PART_BYTES, MAX_ROWS};

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
        if rows.len() >= MAX_ROWS {
            // Count the rest without keeping them, to say how many there are.
            let more = reader.records().count() as u64;
            return Err(FileError::TooManyRows {
                rows: rows.len() as u64 + 1 + more,
                declared: false,
            });
        }
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

/// Most parts a workbook may have; Excel writes about a dozen.
const MAX_PARTS: u64 = 1_000;

/// Reads the first sheet. A workbook is a zip of XML: a small file can inflate to gigabytes, or
/// name a cell a million rows down; so sizes are measured before calamine reads anything, and
/// cells are kept sparse and bounded rather than as calamine's dense grid.
pub(crate) fn xlsx_rows(bytes: &[u8]) -> Result<Vec<RawRow>, FileError> {
    check_parts(bytes)?;
    let bad = |e: calamine::XlsxError| FileError::BadXlsx(e.to_string());
    let mut book = Xlsx::new(Cursor::new(bytes)).map_err(bad)?;
    let Some(name) = book.sheet_names().first().cloned() else {
        return Err(FileError::BadXlsx("the workbook has no worksheet".into()));
    };
    let mut reader = book.worksheet_cells_reader(&name).map_err(bad)?;
    let declared = reader.dimensions();
    check_bounds(
        u64::from(declared.end.0) + 1,
        u64::from(declared.end.1) + 1,
        true,
    )?;
    let mut rows: BTreeMap<u32, Vec<Cell>> = BTreeMap::new();
    while let Some(found) = reader.next_cell().map_err(bad)? {
        if matches!(found.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, col) = found.get_position();
        let value = cell(&Data::from(found.get_value().clone()));
        if value.text.trim().is_empty() {
            continue;
        }
        check_bounds(u64::from(row) + 1, u64::from(col) + 1, false)?;
        let cells = rows.entry(row).or_default();
        let col = col as usize;
        if cells.len() <= col {
            cells.resize(col + 1, Cell::default());
        }
        cells[col] = value;
    }
    Ok(rows
        .into_iter()
        .map(|(row, cells)| RawRow {
            line: row as usize + 1,
            cells,
        })
        .collect())
}

fn check_bounds(rows: u64, columns: u64, declared: bool) -> Result<(), FileError> {
    if rows > MAX_ROWS as u64 {
        return Err(FileError::TooManyRows { rows, declared });
    }
    if columns > MAX_COLUMNS as u64 {
        return Err(FileError::TooManyColumns { columns, declared });
    }
    Ok(())
}

/// Measures every part of the archive: its declared size, then its real size by inflating it
/// into nothing (a bomb may declare a small size), stopping at the limit.
fn check_parts(bytes: &[u8]) -> Result<(), FileError> {
    if declared_parts(bytes).is_some_and(|n| n > MAX_PARTS) {
        return Err(FileError::BadXlsx(format!(
            "the archive has more than {MAX_PARTS} parts"
        )));
    }
    let bad = |e: &dyn std::fmt::Display| FileError::BadXlsx(e.to_string());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(&e))?;
    let mut total = 0u64;
    for i in 0..zip.len() {
        let part = zip.by_index_raw(i).map_err(|e| bad(&e))?;
        let name = part.name().to_owned();
        let too_big = || FileError::Inflated {
            part: name.clone(),
            limit: MAX_PART_BYTES,
        };
        if part.size() > MAX_PART_BYTES {
            return Err(too_big());
        }
        let method = part.compression();
        let size = if method == CompressionMethod::STORE {
            part.compressed_size()
        } else if method == CompressionMethod::DEFLATE {
            let mut inflated = flate2::read::DeflateDecoder::new(part).take(MAX_PART_BYTES + 1);
            std::io::copy(&mut inflated, &mut std::io::sink())
                .map_err(|e| bad(&format!("{name}: {e}")))?
        } else {
            return Err(bad(&format!(
                "{name} uses compression {method}; save the file again from Excel"
            )));
        };
        if size > MAX_PART_BYTES {
            return Err(too_big());
        }
        total += size;
        if total > MAX_INFLATED_BYTES {
            return Err(FileError::Inflated {
                part: "the workbook".into(),
                limit: MAX_INFLATED_BYTES,
            });
        }
    }
    Ok(())
}

/// The number of parts the archive's end record declares, read before a zip reader builds its
/// index of them (a small upload can declare 65,535).
fn declared_parts(bytes: &[u8]) -> Option<u64> {
    const END: &[u8] = b"PK\x05\x06";
    // The end record is 22 bytes plus a comment of at most 65,535.
    let from = bytes.len().saturating_sub(22 + 65_535);
    let at = bytes.get(from..)?.windows(4).rposition(|w| w == END)? + from;
    let count = bytes.get(at + 10..at + 12)?;
    Some(u64::from(u16::from_le_bytes([count[0], count[1]])))
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
    fn csv_rows_are_bounded() {
        let text = "a\n".repeat(MAX_ROWS + 5);
        assert_eq!(
            csv_rows(text.as_bytes(), None),
            Err(FileError::TooManyRows {
                rows: MAX_ROWS as u64 + 5,
                declared: false
            })
        );
    }

    #[test]
    fn sheets_are_bounded() {
        use rust_xlsxwriter::Workbook;
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "都道府県").unwrap();
        sheet.write_string(3, 2, "x").unwrap();
        let rows = xlsx_rows(&book.save_to_buffer().unwrap()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].line, rows[1].cells.len()), (4, 3));

        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "都道府県").unwrap();
        sheet.write_string(MAX_ROWS as u32, 0, "x").unwrap();
        assert_eq!(
            xlsx_rows(&book.save_to_buffer().unwrap()),
            Err(FileError::TooManyRows {
                rows: MAX_ROWS as u64 + 1,
                declared: true
            })
        );

        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, MAX_COLUMNS as u16, "x").unwrap();
        assert!(matches!(
            xlsx_rows(&book.save_to_buffer().unwrap()),
            Err(FileError::TooManyColumns { columns, .. }) if columns == MAX_COLUMNS as u64 + 1
        ));
    }

    #[test]
    fn end_record_counts_parts() {
        let mut book = rust_xlsxwriter::Workbook::new();
        book.add_worksheet();
        let bytes = book.save_to_buffer().unwrap();
        let n = declared_parts(&bytes).unwrap();
        assert!((5..30).contains(&n), "{n}");
        assert_eq!(declared_parts(b"no zip"), None);
    }

    #[test]
    fn bad_xlsx_is_a_file_error() {
        assert!(matches!(
            xlsx_rows(b"PK\x03\x04not really a zip"),
            Err(FileError::BadXlsx(_))
        ));
    }
}
