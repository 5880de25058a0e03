//! The kinds of document we tell apart (decided from the bytes by `domain::sniff`), which
//! kinds each purpose accepts, and safe display names for the `Content-Disposition` of
//! downloads.

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
