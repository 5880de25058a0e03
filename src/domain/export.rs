//! Rules for files people open in Excel: cells that must not run as formulas, and a Japanese
//! file name in `Content-Disposition`.

use std::borrow::Cow;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return would be read as
/// a formula by spreadsheet programs (OWASP "CSV injection"); a leading apostrophe makes it
/// plain text. Numbers are written as numbers, never through this.
pub fn neutralize(text: &str) -> Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{text}")),
        _ => Cow::Borrowed(text),
    }
}

/// RFC 5987 `attr-char`: what may stay unencoded in `filename*`.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
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

/// `attachment` with an ASCII fallback name and the real (Japanese) one as `filename*`
/// (RFC 6266 §4.3, RFC 5987).
pub fn content_disposition(filename: &str, ascii_fallback: &str) -> String {
    let fallback: String = ascii_fallback
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(filename, ATTR)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralized() {
        for bad in ["=1+1", "+81", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralize(bad), format!("'{bad}"));
        }
        assert_eq!(neutralize("東京都"), "東京都");
        assert_eq!(neutralize(""), "");
        assert_eq!(neutralize("1=1"), "1=1");
    }

    #[test]
    fn japanese_file_names() {
        let h = content_disposition(
            "進捗_FY2025_2026-11-26.xlsx",
            "progress_FY2025_2026-11-26.xlsx",
        );
        assert_eq!(
            h,
            "attachment; filename=\"progress_FY2025_2026-11-26.xlsx\"; \
             filename*=UTF-8''%E9%80%B2%E6%8D%97_FY2025_2026-11-26.xlsx"
        );
        assert!(content_disposition("x", "a\"b c").contains("filename=\"a_b_c\""));
    }
}
