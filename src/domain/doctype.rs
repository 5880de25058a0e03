//! What an uploaded document really is, decided from its bytes.
//!
//! The client's file name and Content-Type are never trusted: an executable renamed
//! `diagram.pdf` must not be stored as a PDF and later handed to another hospital's staff.
//! Also: safe display names for the `Content-Disposition` of downloads.

use std::io::Cursor;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    Pdf,
    Png,
    Jpeg,
    Gif,
    Webp,
    Svg,
    Tiff,
    /// Visio drawing (Office Open XML).
    Vsdx,
    Xlsx,
    Docx,
    Pptx,
    /// Any other zip archive, including OOXML packages we do not accept (`.xps`, `.jar`, ...).
    Zip,
    /// Legacy Visio drawing (OLE compound file with a `VisioDocument` stream).
    Vsd,
    /// Legacy Excel workbook (OLE compound file with a `Workbook` or `Book` stream).
    Xls,
    /// Legacy Word document (OLE compound file with a `WordDocument` stream).
    Doc,
    /// Any other OLE compound file: `.ppt`, `.msg`, `.msi` installers, ...
    Ole,
    /// UTF-8 text that is not SVG: HTML, scripts, CSV, notes.
    Text,
}

impl DocKind {
    pub const ALL: [DocKind; 17] = [
        DocKind::Pdf,
        DocKind::Png,
        DocKind::Jpeg,
        DocKind::Gif,
        DocKind::Webp,
        DocKind::Svg,
        DocKind::Tiff,
        DocKind::Vsdx,
        DocKind::Xlsx,
        DocKind::Docx,
        DocKind::Pptx,
        DocKind::Zip,
        DocKind::Vsd,
        DocKind::Xls,
        DocKind::Doc,
        DocKind::Ole,
        DocKind::Text,
    ];

    /// Stable name for storage and the API (same as the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Pdf => "pdf",
            DocKind::Png => "png",
            DocKind::Jpeg => "jpeg",
            DocKind::Gif => "gif",
            DocKind::Webp => "webp",
            DocKind::Svg => "svg",
            DocKind::Tiff => "tiff",
            DocKind::Vsdx => "vsdx",
            DocKind::Xlsx => "xlsx",
            DocKind::Docx => "docx",
            DocKind::Pptx => "pptx",
            DocKind::Zip => "zip",
            DocKind::Vsd => "vsd",
            DocKind::Xls => "xls",
            DocKind::Doc => "doc",
            DocKind::Ole => "ole",
            DocKind::Text => "text",
        }
    }

    pub fn parse(s: &str) -> Option<DocKind> {
        DocKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The media type to answer downloads with.
    pub fn mime(self) -> &'static str {
        match self {
            DocKind::Pdf => "application/pdf",
            DocKind::Png => "image/png",
            DocKind::Jpeg => "image/jpeg",
            DocKind::Gif => "image/gif",
            DocKind::Webp => "image/webp",
            DocKind::Svg => "image/svg+xml",
            DocKind::Tiff => "image/tiff",
            DocKind::Vsdx => "application/vnd.ms-visio.drawing.main+xml",
            DocKind::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            DocKind::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            DocKind::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            DocKind::Zip => "application/zip",
            DocKind::Vsd => "application/vnd.visio",
            DocKind::Xls => "application/vnd.ms-excel",
            DocKind::Doc => "application/msword",
            DocKind::Ole => "application/octet-stream",
            DocKind::Text => "text/plain; charset=utf-8",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            DocKind::Pdf => "pdf",
            DocKind::Png => "png",
            DocKind::Jpeg => "jpg",
            DocKind::Gif => "gif",
            DocKind::Webp => "webp",
            DocKind::Svg => "svg",
            DocKind::Tiff => "tif",
            DocKind::Vsdx => "vsdx",
            DocKind::Xlsx => "xlsx",
            DocKind::Docx => "docx",
            DocKind::Pptx => "pptx",
            DocKind::Zip => "zip",
            DocKind::Vsd => "vsd",
            DocKind::Xls => "xls",
            DocKind::Doc => "doc",
            DocKind::Ole => "bin",
            DocKind::Text => "txt",
        }
    }

    /// A short name for people, e.g. in "only PDF, PNG, ... are accepted".
    pub fn label(self) -> &'static str {
        match self {
            DocKind::Pdf => "PDF",
            DocKind::Png => "PNG image",
            DocKind::Jpeg => "JPEG image",
            DocKind::Gif => "GIF image",
            DocKind::Webp => "WebP image",
            DocKind::Svg => "SVG image",
            DocKind::Tiff => "TIFF image",
            DocKind::Vsdx => "Visio drawing (.vsdx)",
            DocKind::Xlsx => "Excel workbook (.xlsx)",
            DocKind::Docx => "Word document (.docx)",
            DocKind::Pptx => "PowerPoint presentation (.pptx)",
            DocKind::Zip => "zip archive",
            DocKind::Vsd => "Visio drawing (.vsd)",
            DocKind::Xls => "Excel workbook (.xls)",
            DocKind::Doc => "Word document (.doc)",
            DocKind::Ole => "OLE compound file",
            DocKind::Text => "plain text",
        }
    }
}

/// Kinds accepted as a network diagram.
pub fn allowed_for_diagram(kind: DocKind) -> bool {
    matches!(
        kind,
        DocKind::Pdf
            | DocKind::Png
            | DocKind::Jpeg
            | DocKind::Svg
            | DocKind::Vsdx
            | DocKind::Vsd
            | DocKind::Xlsx
            | DocKind::Xls
            | DocKind::Docx
            | DocKind::Pptx
            | DocKind::Tiff
            | DocKind::Gif
            | DocKind::Webp
    )
}

/// Kinds accepted as a memorandum or report.
pub fn allowed_for_document(kind: DocKind) -> bool {
    matches!(
        kind,
        DocKind::Pdf | DocKind::Docx | DocKind::Doc | DocKind::Xlsx | DocKind::Png | DocKind::Jpeg
    )
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const PNG_MAGIC: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
const UTF8_BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The kind of a document, from its content alone. `None` for anything we do not recognise,
/// which includes executables (`MZ`, ELF) and other binaries.
pub fn sniff(bytes: &[u8]) -> Option<DocKind> {
    let b = bytes;
    if b.starts_with(b"%PDF-") {
        return Some(DocKind::Pdf);
    }
    if b.starts_with(&PNG_MAGIC) {
        return Some(DocKind::Png);
    }
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(DocKind::Jpeg);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return Some(DocKind::Gif);
    }
    if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        return Some(DocKind::Webp);
    }
    // Classic TIFF (42) and BigTIFF (43), both byte orders.
    if b.starts_with(b"II*\0")
        || b.starts_with(b"MM\0*")
        || b.starts_with(b"II+\0")
        || b.starts_with(b"MM\0+")
    {
        return Some(DocKind::Tiff);
    }
    // Only a zip that *starts* as one: a self-extracting `.exe` is also a valid zip when read
    // from its end, and must stay unrecognised.
    if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
        return zip_kind(b);
    }
    if b.starts_with(&OLE_MAGIC) {
        return Some(ole_kind(b));
    }
    text_kind(b)
}

/// OOXML packages are zips told apart by their top-level folders. Only the central directory
/// is read, nothing is decompressed, so a zip bomb costs nothing here.
fn zip_kind(b: &[u8]) -> Option<DocKind> {
    let archive = zip::ZipArchive::new(Cursor::new(b)).ok()?;
    let names: Vec<String> = archive.file_names().map(str::to_ascii_lowercase).collect();
    // Every OPC package has this part; without it a `word/` folder is just a folder.
    if !names.iter().any(|n| n == "[content_types].xml") {
        return Some(DocKind::Zip);
    }
    let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
    let kind = if has("visio/") {
        DocKind::Vsdx
    } else if has("xl/") {
        DocKind::Xlsx
    } else if has("word/") {
        DocKind::Docx
    } else if has("ppt/") {
        DocKind::Pptx
    } else {
        DocKind::Zip
    };
    Some(kind)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Legacy Office files are all OLE compound files; what tells them apart is the name of a
/// stream directly under the root. MSI installers are OLE files too, so an unknown one must
/// not pass as a Word document.
fn ole_kind(b: &[u8]) -> DocKind {
    let Some(top) = ole_top_level_names(b) else {
        return DocKind::Ole;
    };
    let has = |name: &str| top.iter().any(|n| n.eq_ignore_ascii_case(name));
    if has("WordDocument") {
        DocKind::Doc
    } else if has("Workbook") || has("Book") {
        DocKind::Xls
    } else if has("VisioDocument") {
        DocKind::Vsd
    } else {
        DocKind::Ole
    }
}

/// Sector numbers above this are markers (end of chain, free, ...), not sectors.
const OLE_MAX_SECTOR: u32 = 0xFFFF_FFFA;
const OLE_NO_ENTRY: u32 = 0xFFFF_FFFF;

struct OleEntry {
    name: String,
    left: u32,
    right: u32,
    child: u32,
}

/// Names of the entries directly under the root storage of an OLE compound file
/// ([MS-CFB]). `None` when the structure is damaged; every chain walk is bounded by the
/// number of sectors in the file, so a crafted loop cannot hang the upload.
fn ole_top_level_names(b: &[u8]) -> Option<Vec<String>> {
    let shift = u16_at(b, 0x1E)?;
    if shift != 9 && shift != 12 {
        return None;
    }
    let size = 1usize << shift;
    let per_sector = size / 4;
    let max_steps = b.len() / size + 1;
    // Sector n starts after the header, which takes one sector's room.
    let sector = |n: u32| -> Option<&[u8]> {
        let start = (n as usize).checked_add(1)?.checked_mul(size)?;
        b.get(start..start.checked_add(size)?)
    };

    // The FAT's own sectors: 109 listed in the header, the rest in the DIFAT chain.
    let mut fat = Vec::new();
    for i in 0..109 {
        let s = u32_at(b, 0x4C + 4 * i)?;
        if s <= OLE_MAX_SECTOR {
            fat.push(s);
        }
    }
    let mut difat = u32_at(b, 0x44)?;
    let mut steps = 0;
    while difat <= OLE_MAX_SECTOR {
        steps += 1;
        if steps > max_steps {
            return None;
        }
        let sec = sector(difat)?;
        for i in 0..per_sector - 1 {
            let s = u32_at(sec, 4 * i)?;
            if s <= OLE_MAX_SECTOR {
                fat.push(s);
            }
        }
        difat = u32_at(sec, 4 * (per_sector - 1))?;
    }
    let next = |n: u32| -> Option<u32> {
        let fat_sector = *fat.get(n as usize / per_sector)?;
        u32_at(sector(fat_sector)?, 4 * (n as usize % per_sector))
    };

    // The directory: 128-byte entries along its own sector chain.
    let mut entries = Vec::new();
    let mut dir = u32_at(b, 0x30)?;
    let mut steps = 0;
    while dir <= OLE_MAX_SECTOR {
        steps += 1;
        if steps > max_steps {
            return None;
        }
        for e in sector(dir)?.chunks_exact(128) {
            // Name length in bytes, counting the UTF-16 terminating NUL.
            let len = usize::from(u16_at(e, 0x40)?).min(64).saturating_sub(2);
            let units: Vec<u16> = e[..len]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            entries.push(OleEntry {
                name: String::from_utf16_lossy(&units),
                left: u32_at(e, 0x44)?,
                right: u32_at(e, 0x48)?,
                child: u32_at(e, 0x4C)?,
            });
        }
        dir = next(dir)?;
    }

    // Entry 0 is the root; its children form a tree linked by left/right siblings.
    let mut names = Vec::new();
    let mut stack = vec![entries.first()?.child];
    let mut visited = 0;
    while let Some(i) = stack.pop() {
        if i == OLE_NO_ENTRY {
            continue;
        }
        visited += 1;
        if visited > entries.len() {
            return None;
        }
        let e = entries.get(i as usize)?;
        names.push(e.name.clone());
        stack.push(e.left);
        stack.push(e.right);
    }
    Some(names)
}

/// UTF-8 text: SVG when its root element is `<svg`, otherwise plain text (which no
/// allow-list accepts, so HTML and scripts are refused).
fn text_kind(b: &[u8]) -> Option<DocKind> {
    let b = b.strip_prefix(&UTF8_BOM).unwrap_or(b);
    if b.is_empty() || b.contains(&0) {
        return None;
    }
    let text = std::str::from_utf8(b).ok()?;
    if svg_root(text) {
        Some(DocKind::Svg)
    } else {
        Some(DocKind::Text)
    }
}

/// True when the first element, after the XML prolog, comments, processing instructions and
/// a doctype, is `<svg`.
fn svg_root(text: &str) -> bool {
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<?") {
            match r.find("?>") {
                Some(end) => rest = &r[end + 2..],
                None => return false,
            }
        } else if let Some(r) = rest.strip_prefix("<!--") {
            match r.find("-->") {
                Some(end) => rest = &r[end + 3..],
                None => return false,
            }
        } else if let Some(r) = rest.strip_prefix("<!DOCTYPE") {
            // An internal subset (`[ <!ENTITY ...> ]`, as Illustrator writes) may hold `>`.
            let close = match (r.find('['), r.find('>')) {
                (Some(open), Some(gt)) if open < gt => r[open..]
                    .find(']')
                    .and_then(|end| r[open + end..].find('>').map(|gt| open + end + gt)),
                (_, gt) => gt,
            };
            match close {
                Some(end) => rest = &r[end + 1..],
                None => return false,
            }
        } else {
            break;
        }
    }
    match rest.strip_prefix("<svg") {
        Some(r) => matches!(r.chars().next(), Some(' ' | '\t' | '\r' | '\n' | '>' | '/')),
        None => false,
    }
}

pub const MAX_FILENAME_CHARS: usize = 200;

/// Bidirectional controls let `report<U+202E>fdp.exe` display as `reportexe.pdf`.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `(stem, ".ext")`, or `(name, "")` when there is no extension worth keeping.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 && name[dot..].chars().count() <= 16 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// The user's file name, kept readable (Japanese and all) but without any directory part,
/// control or bidi characters, characters Windows refuses, or leading/trailing dots and
/// spaces; at most [`MAX_FILENAME_CHARS`] characters, keeping the extension when cut.
pub fn safe_filename(name: &str) -> String {
    // Some clients send the whole client-side path (`C:\Users\...\構成図.pdf`).
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|&c| !c.is_control() && !is_bidi_control(c) && c != '\u{FEFF}')
        .map(|c| match c {
            '"' | '<' | '>' | ':' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_matches(|c: char| c.is_whitespace() || c == '.');
    let out = if trimmed.chars().count() > MAX_FILENAME_CHARS {
        let (stem, ext) = split_extension(trimmed);
        let keep = MAX_FILENAME_CHARS - ext.chars().count();
        let stem: String = stem.chars().take(keep).collect();
        format!("{}{ext}", stem.trim_end())
    } else {
        trimmed.to_string()
    };
    if out.is_empty() || out.starts_with('.') {
        format!("file{out}")
    } else {
        out
    }
}

/// RFC 5987 `attr-char`: everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` for a download (RFC 6266): an ASCII `filename` for old clients and
/// the real name, UTF-8 and percent-encoded, in `filename*`.
pub fn content_disposition(name: &str) -> String {
    let name = safe_filename(name);
    format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        ascii_fallback(&name),
        utf8_percent_encode(&name, ATTR_CHAR)
    )
}

/// Printable ASCII only, and nothing that ends the quoted string (`"`, `\`) or that some
/// clients would percent-decode (`%`).
fn ascii_fallback(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') {
            c
        } else {
            '_'
        };
        // One `_` for a run of replaced characters, not one per Japanese character.
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    let (stem, ext) = split_extension(&out);
    if stem.chars().any(|c| c.is_ascii_alphanumeric()) {
        out
    } else {
        // A wholly Japanese name would come out as `_.pdf`.
        format!("file{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, ZipWriter};

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut w = ZipWriter::new(Cursor::new(Vec::new()));
        let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for name in names {
            w.start_file(*name, opts).unwrap();
            w.write_all(b"<x/>").unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn images_and_pdf_by_magic() {
        assert_eq!(sniff(b"%PDF-1.7\n%\xE2\xE3"), Some(DocKind::Pdf));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 13, 10, 0x1A, 10, 0]),
            Some(DocKind::Png)
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
            Some(DocKind::Jpeg)
        );
        assert_eq!(sniff(b"GIF89a\x01\x00"), Some(DocKind::Gif));
        assert_eq!(sniff(b"GIF87a\x01\x00"), Some(DocKind::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(DocKind::Webp));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Some(DocKind::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Some(DocKind::Tiff));
    }

    #[test]
    fn office_open_xml_by_entries() {
        let ct = "[Content_Types].xml";
        let vsdx = zip_with(&[ct, "_rels/.rels", "visio/document.xml"]);
        assert_eq!(sniff(&vsdx), Some(DocKind::Vsdx));
        let xlsx = zip_with(&[ct, "_rels/.rels", "xl/workbook.xml"]);
        assert_eq!(sniff(&xlsx), Some(DocKind::Xlsx));
        let docx = zip_with(&[ct, "_rels/.rels", "word/document.xml"]);
        assert_eq!(sniff(&docx), Some(DocKind::Docx));
        let pptx = zip_with(&[ct, "_rels/.rels", "ppt/presentation.xml"]);
        assert_eq!(sniff(&pptx), Some(DocKind::Pptx));
        // A plain zip, even with a `word/` folder, is not a Word document.
        assert_eq!(sniff(&zip_with(&["word/notes.txt"])), Some(DocKind::Zip));
        assert_eq!(
            sniff(&zip_with(&[ct, "Documents/1.fdoc"])),
            Some(DocKind::Zip)
        );
        assert!(!allowed_for_diagram(DocKind::Zip));
        assert!(!allowed_for_document(DocKind::Zip));
    }

    /// Real Office files deflate their entries. Listing them must not need decompression
    /// support (the `zip` crate is built without it), so mark the stored entries as deflated.
    #[test]
    fn deflated_entries_are_listed_without_decompressing() {
        let mut b = zip_with(&["[Content_Types].xml", "word/document.xml"]);
        let mut patched = 0;
        for i in 0..b.len().saturating_sub(4) {
            let method_at = match &b[i..i + 4] {
                b"PK\x03\x04" => i + 8,
                b"PK\x01\x02" => i + 10,
                _ => continue,
            };
            b[method_at] = 8;
            patched += 1;
        }
        assert_eq!(patched, 4);
        assert_eq!(sniff(&b), Some(DocKind::Docx));
    }

    #[test]
    fn broken_or_self_extracting_zip_is_not_recognised() {
        let docx = zip_with(&["[Content_Types].xml", "word/document.xml"]);
        assert_eq!(sniff(&docx[..docx.len() / 2]), None);
        let mut sfx = b"MZ\x90\0\x03\0\0\0".to_vec();
        sfx.extend_from_slice(&docx);
        assert_eq!(sniff(&sfx), None);
    }

    /// A minimal OLE compound file: header, one FAT sector (0), one directory sector (1)
    /// holding the root and the given streams as a right-leaning sibling chain.
    fn ole_with(streams: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 512 * 3];
        b[..8].copy_from_slice(&OLE_MAGIC);
        b[0x1A] = 0x3E; // minor version 0x3E, major 3
        b[0x1C..0x1E].copy_from_slice(&0xFFFEu16.to_le_bytes()); // little-endian
        b[0x1E..0x20].copy_from_slice(&9u16.to_le_bytes()); // 512-byte sectors
        b[0x20..0x22].copy_from_slice(&6u16.to_le_bytes());
        b[0x2C..0x30].copy_from_slice(&1u32.to_le_bytes()); // one FAT sector
        b[0x30..0x34].copy_from_slice(&1u32.to_le_bytes()); // directory at sector 1
        b[0x44..0x48].copy_from_slice(&0xFFFF_FFFEu32.to_le_bytes()); // no DIFAT sectors
        for i in 0..109 {
            let at = 0x4C + 4 * i;
            let v: u32 = if i == 0 { 0 } else { 0xFFFF_FFFF };
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
        // FAT: sector 0 is the FAT itself, sector 1 is a one-sector chain.
        let fat = 512;
        for i in 0..128 {
            let v: u32 = match i {
                0 => 0xFFFF_FFFD,
                1 => 0xFFFF_FFFE,
                _ => 0xFFFF_FFFF,
            };
            b[fat + 4 * i..fat + 4 * i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let dir = 1024;
        let names: Vec<&str> = std::iter::once("Root Entry")
            .chain(streams.iter().copied())
            .collect();
        assert!(names.len() <= 4);
        for (i, name) in names.iter().enumerate() {
            let e = &mut b[dir + 128 * i..dir + 128 * (i + 1)];
            let units: Vec<u16> = name.encode_utf16().collect();
            for (j, u) in units.iter().enumerate() {
                e[2 * j..2 * j + 2].copy_from_slice(&u.to_le_bytes());
            }
            e[0x40..0x42].copy_from_slice(&(2 * units.len() as u16 + 2).to_le_bytes());
            e[0x42] = if i == 0 { 5 } else { 2 };
            let last = i + 1 == names.len();
            let no = 0xFFFF_FFFFu32;
            let (left, right, child) = match i {
                0 if names.len() > 1 => (no, no, 1),
                0 => (no, no, no),
                _ if last => (no, no, no),
                _ => (no, i as u32 + 1, no),
            };
            e[0x44..0x48].copy_from_slice(&left.to_le_bytes());
            e[0x48..0x4C].copy_from_slice(&right.to_le_bytes());
            e[0x4C..0x50].copy_from_slice(&child.to_le_bytes());
        }
        b
    }

    #[test]
    fn legacy_office_by_ole_streams() {
        let doc = ole_with(&["\u{1}CompObj", "WordDocument", "1Table"]);
        assert_eq!(sniff(&doc), Some(DocKind::Doc));
        assert_eq!(sniff(&ole_with(&["Workbook"])), Some(DocKind::Xls));
        assert_eq!(sniff(&ole_with(&["Book"])), Some(DocKind::Xls));
        assert_eq!(sniff(&ole_with(&["VisioDocument"])), Some(DocKind::Vsd));
        // An MSI installer is an OLE file too, with no Office stream.
        let msi = ole_with(&["\u{5}SummaryInformation", "\u{4840}\u{3F3F}"]);
        assert_eq!(sniff(&msi), Some(DocKind::Ole));
        assert!(!allowed_for_diagram(DocKind::Ole));
        assert!(!allowed_for_document(DocKind::Ole));
        // Damaged: just the magic.
        assert_eq!(sniff(&OLE_MAGIC), Some(DocKind::Ole));
    }

    #[test]
    fn ole_directory_loop_is_refused() {
        let mut b = ole_with(&["WordDocument"]);
        // The directory chain points back at itself.
        b[512 + 4..512 + 8].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(sniff(&b), Some(DocKind::Ole));
    }

    #[test]
    fn renamed_executable_is_not_allowed() {
        // `diagram.pdf` in name only: the name is never looked at.
        let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xFF\xFF\0\0This program cannot be run in DOS mode";
        let kind = sniff(exe);
        assert_eq!(kind, None);
        assert!(!kind.is_some_and(allowed_for_diagram));
        assert_eq!(sniff(b"\x7FELF\x02\x01\x01\0\0\0\0\0"), None);
    }

    #[test]
    fn svg_with_prolog_comments_and_doctype() {
        let svg = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <!-- Generator: Adobe Illustrator -->\n\
            <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\" [\n\
              <!ENTITY ns_svg \"http://www.w3.org/2000/svg\">\n]>\n\
            <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"><rect/></svg>";
        assert_eq!(sniff(svg.as_bytes()), Some(DocKind::Svg));
        assert_eq!(sniff(b"<svg>\n</svg>"), Some(DocKind::Svg));
        assert!(allowed_for_diagram(DocKind::Svg));
        assert!(!allowed_for_document(DocKind::Svg));
    }

    #[test]
    fn html_and_scripts_are_text_and_refused() {
        for text in [
            "<!DOCTYPE html><html><body><svg></svg></body></html>",
            "<html><script>alert(1)</script></html>",
            "<svgfoo/>",
            "#!/bin/sh\nrm -rf /\n",
            "<?xml version=\"1.0\"?><!-- unterminated",
        ] {
            let kind = sniff(text.as_bytes());
            assert_eq!(kind, Some(DocKind::Text), "{text}");
            assert!(!allowed_for_diagram(DocKind::Text));
            assert!(!allowed_for_document(DocKind::Text));
        }
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\0\x01\x02binary"), None);
        assert_eq!(sniff(b"\xFF\xFEnot utf-8"), None);
    }

    #[test]
    fn kinds_round_trip_and_describe_themselves() {
        for k in DocKind::ALL {
            assert_eq!(DocKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
            assert!(!k.mime().is_empty() && !k.extension().is_empty() && !k.label().is_empty());
        }
        assert_eq!(DocKind::Jpeg.extension(), "jpg");
        assert_eq!(DocKind::Pdf.mime(), "application/pdf");
    }

    #[test]
    fn allow_lists() {
        let diagram: Vec<_> = DocKind::ALL
            .into_iter()
            .filter(|k| allowed_for_diagram(*k))
            .collect();
        assert_eq!(diagram.len(), 13);
        let document: Vec<_> = DocKind::ALL
            .into_iter()
            .filter(|k| allowed_for_document(*k))
            .collect();
        use DocKind::*;
        assert_eq!(document, vec![Pdf, Png, Jpeg, Xlsx, Docx, Doc]);
    }

    #[test]
    fn safe_filenames() {
        assert_eq!(
            safe_filename("ネットワーク構成図.pdf"),
            "ネットワーク構成図.pdf"
        );
        assert_eq!(safe_filename("C:\\Users\\山田\\覚書.docx"), "覚書.docx");
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("a\r\nb\0c.pdf"), "abc.pdf");
        assert_eq!(safe_filename("report\u{202E}fdp.exe"), "reportfdp.exe");
        assert_eq!(safe_filename("a\"b:c?.pdf"), "a_b_c_.pdf");
        assert_eq!(safe_filename(".."), "file");
        assert_eq!(safe_filename("dir/"), "file");
        assert_eq!(safe_filename("  .hidden. "), "hidden");
        let long = format!("{}.pdf", "報".repeat(300));
        let cut = safe_filename(&long);
        assert_eq!(cut.chars().count(), MAX_FILENAME_CHARS);
        assert!(cut.ends_with("報.pdf"));
    }

    #[test]
    fn content_disposition_header() {
        assert_eq!(
            content_disposition("構成図 v2.pdf"),
            "attachment; filename=\"_ v2.pdf\"; \
             filename*=UTF-8''%E6%A7%8B%E6%88%90%E5%9B%B3%20v2.pdf"
        );
        assert_eq!(
            content_disposition("覚書.docx"),
            "attachment; filename=\"file.docx\"; filename*=UTF-8''%E8%A6%9A%E6%9B%B8.docx"
        );
        assert_eq!(
            content_disposition("50%\\x.pdf"),
            "attachment; filename=\"x.pdf\"; filename*=UTF-8''x.pdf"
        );
        assert_eq!(
            content_disposition("a b'c.pdf"),
            "attachment; filename=\"a b'c.pdf\"; filename*=UTF-8''a%20b%27c.pdf"
        );
    }
}
