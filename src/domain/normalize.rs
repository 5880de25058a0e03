//! Text normalisation for cells of uploaded lists. Prefectural lists are typed by hand in
//! Japanese input modes, so the same value arrives as `０３－１２３４` or `03-1234`; everything
//! is folded to one plain half-width form before it is checked or stored.

/// Full-width ASCII (U+FF01..U+FF5E) to half-width and the ideographic space to a plain space.
/// Other characters (kana, kanji) are left as they are.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// Characters people type for a hyphen in phone numbers and codes: ASCII hyphen, the Unicode
/// dashes, the minus sign and the katakana long vowel mark (ー, ｰ), which IMEs often produce.
pub fn is_hyphen_like(c: char) -> bool {
    matches!(
        c,
        '-' | '\u{2010}'
            | '\u{2011}'
            | '\u{2012}'
            | '\u{2013}'
            | '\u{2014}'
            | '\u{2015}'
            | '\u{2212}'
            | '\u{30FC}'
            | '\u{FF70}'
            | '\u{FE63}'
            | '\u{FF0D}'
    )
}

/// Half-width, whitespace runs collapsed to one space, trimmed. Control characters (a line
/// break typed with Alt+Enter in a cell, a stray NUL) count as whitespace, so a cleaned cell is
/// always one line that can go into a mail header.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.chars().map(half_width) {
        if c.is_whitespace() || super::validate::is_control(c) {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Only the digits, width-normalised: `０１２-３` → `0123`.
pub fn digits_only(s: &str) -> String {
    s.chars()
        .map(half_width)
        .filter(char::is_ascii_digit)
        .collect()
}

/// A plain phone form: `（０３）１２３４ー５６７８` → `03-1234-5678`. Parentheses and spaces
/// separate groups just as hyphens do, so they become one hyphen; a leading `+` is kept.
pub fn phone(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in text(s).chars() {
        let c = if is_hyphen_like(c) || c == '(' || c == ')' || c == ' ' {
            '-'
        } else {
            c
        };
        if c == '-' && (out.is_empty() || out.ends_with('-') || out == "+") {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// Emails compare without regard to case (as `validate::normalize_email`), after width folding.
pub fn email(s: &str) -> String {
    text(s).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_folds_width_and_spaces() {
        assert_eq!(text("ＡＢＣ　ａｂｃ　１２３"), "ABC abc 123");
        assert_eq!(
            text("  架空市立\u{3000}\u{3000}中央病院 \t"),
            "架空市立 中央病院"
        );
        assert_eq!(text("ｉｎｆｏ＠ｅｘａｍｐｌｅ．ｊｐ"), "info@example.jp");
        assert_eq!(text("１－２"), "1-2");
        assert_eq!(text(""), "");
        assert_eq!(text("\u{3000}"), "");
        // Kana and kanji are untouched.
        assert_eq!(text("カルテ"), "カルテ");
        // Control characters never survive: a cell is one clean line.
        assert_eq!(text("山田\n太郎"), "山田 太郎");
        assert_eq!(text("a\u{0}b\u{7f}c\u{85}d\u{1b}e\u{2028}f"), "a b c d e f");
    }

    #[test]
    fn digits_only_keeps_digits() {
        assert_eq!(digits_only("０１２-３ 4"), "01234");
        assert_eq!(digits_only("１２０床"), "120");
        assert_eq!(digits_only("なし"), "");
    }

    #[test]
    fn phone_plain_form() {
        assert_eq!(phone("03-1234-5678"), "03-1234-5678");
        assert_eq!(phone("０３ー１２３４ー５６７８"), "03-1234-5678");
        assert_eq!(phone("03‐1234–5678"), "03-1234-5678");
        assert_eq!(phone("03—1234−5678"), "03-1234-5678");
        assert_eq!(phone("03ｰ1234ｰ5678"), "03-1234-5678");
        assert_eq!(phone("（03）1234-5678"), "03-1234-5678");
        assert_eq!(phone("03(1234)5678"), "03-1234-5678");
        assert_eq!(phone("03 1234 5678"), "03-1234-5678");
        assert_eq!(phone("＋81 3 1234 5678"), "+81-3-1234-5678");
        assert_eq!(phone("0312345678"), "0312345678");
        assert_eq!(phone("  "), "");
    }

    #[test]
    fn email_lowercases() {
        assert_eq!(email(" Taro.Yamada＠Example.JP "), "taro.yamada@example.jp");
    }
}
