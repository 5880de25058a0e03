//! Small input rules shared by several resources: addresses, blanks and lengths, passwords, and
//! which characters a text may hold. Text reaches mail headers, calendar invites and both
//! databases, so control characters are refused where input enters; mail building also cleans
//! what it puts into headers, for values stored before these rules existed.

use crate::domain::field::FieldError;

pub const MIN_PASSWORD_LEN: usize = 12;

/// A character no stored text should hold: the C0 controls (TAB, CR and LF among them), DEL, the
/// C1 controls, and the Unicode line and paragraph separators (U+2028, U+2029), which some
/// programs treat as line breaks.
pub fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Trims spaces (ASCII and ideographic) at both ends, but no control character: those must
/// reach the checks below and be refused, not silently cut.
pub fn trim_spaces(value: &str) -> &str {
    value.trim_matches(|c: char| c.is_whitespace() && !is_control(c))
}

/// A one-line text (names, titles, departments, addresses, …): no control character at all.
pub fn single_line(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if let Some(c) = value.chars().find(|c| is_control(*c)) {
        errors.push(FieldError::new(
            field,
            format!(
                "must be one line without control characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
}

/// As [`single_line`], for an optional field.
pub fn single_line_opt(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(v) = value {
        single_line(field, v, errors);
    }
}

/// [`single_line`] for several optional fields at once: `(field, value)` pairs.
pub fn single_lines(fields: &[(&str, Option<&str>)], errors: &mut Vec<FieldError>) {
    for (field, value) in fields {
        single_line_opt(field, *value, errors);
    }
}

/// A free text over several lines (reasons, notes, signatures): line breaks (LF, or CR LF) are
/// kept; any other control character is refused.
pub fn multi_line(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let bad = normalize_lines(value)
        .chars()
        .find(|c| *c != '\n' && is_control(*c));
    if let Some(c) = bad {
        errors.push(FieldError::new(
            field,
            format!(
                "must not contain control characters other than line breaks (found U+{:04X})",
                c as u32
            ),
        ));
    }
}

/// As [`multi_line`], for an optional field.
pub fn multi_line_opt(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(v) = value {
        multi_line(field, v, errors);
    }
}

/// Line breaks as stored: CR LF (what browsers send from a textarea) becomes LF.
pub fn normalize_lines(value: &str) -> String {
    value.replace("\r\n", "\n")
}

/// A value that goes into a mail header or a calendar parameter: every control character (a
/// stored line break included) becomes a space, runs of spaces collapse, ends are trimmed. For
/// values that were stored before the rules above; new input never needs it.
pub fn header_text(value: &str) -> String {
    let spaced: String = value
        .chars()
        .map(|c| if is_control(c) { ' ' } else { c })
        .collect();
    spaced
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An email address the mailer can use: parsed by the same parser that builds the mail
/// (lettre's `Address`), plus the plain rules it does not insist on (a dot in the domain, no
/// quoted or spaced local part, at most 254 characters). One check for the API, the import and
/// the configuration.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if !is_usable_email(value) {
        errors.push(FieldError::new(field, "must be an email address"));
    }
}

pub fn is_usable_email(value: &str) -> bool {
    let plain = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !value.chars().any(|c| c.is_whitespace() || is_control(c))
                && !value.contains('"')
                && value.len() <= 254
        }
        None => false,
    };
    plain && value.parse::<lettre::Address>().is_ok()
}

pub fn non_blank(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    if value.trim().is_empty() {
        errors.push(FieldError::new(field, "must not be blank"));
    } else if value.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
}

/// A one-line text that must be there: non-blank, bounded, no control characters.
pub fn line(field: &str, value: &str, max: usize, errors: &mut Vec<FieldError>) {
    non_blank(field, value, max, errors);
    single_line(field, value, errors);
}

pub fn password(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if value.chars().count() < MIN_PASSWORD_LEN {
        errors.push(FieldError::new(
            field,
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
}

/// Emails are compared without regard to case.
pub fn normalize_email(value: &str) -> String {
    value.trim().to_lowercase()
}

/// A character refused in every text: the C0 controls except TAB, LF and CR, DEL, and the C1
/// controls. Line breaks and tabs are left to the per-field rules (free text keeps them).
pub fn is_refused(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The problem for one text, or none.
pub fn check_text(field: &str, value: &str) -> Result<(), FieldError> {
    match value.chars().find(|c| is_refused(*c)) {
        None => Ok(()),
        Some('\0') => Err(FieldError::new(field, "must not contain U+0000 (NUL)")),
        Some(c) => Err(FieldError::new(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_keeps_control_characters_for_the_checks() {
        assert_eq!(trim_spaces("\u{3000} 総務課 "), "総務課");
        assert_eq!(trim_spaces("総務課\t"), "総務課\t");
        assert_eq!(trim_spaces("\n山田"), "\n山田");
    }

    #[test]
    fn emails() {
        let mut e = Vec::new();
        email("email", "a@b.jp", &mut e);
        assert!(e.is_empty());
        for bad in [
            "",
            "a",
            "a@b",
            "@b.jp",
            "a b@c.jp",
            "a@.jp",
            "a@b@c.jp",
            // Accepted by a plain check, refused by the mailer's parser.
            "a,b@c.example",
            "a@b.example>",
            "a(x)@b.example",
            "<a@b.example",
            "a@b.example\n",
            "a\u{0}@b.example",
            "\"a b\"@c.example",
        ] {
            let mut e = Vec::new();
            email("email", bad, &mut e);
            assert_eq!(e.len(), 1, "{bad}");
        }
    }

    #[test]
    fn blanks_and_lengths() {
        let mut e = Vec::new();
        non_blank("name", "  ", 10, &mut e);
        non_blank("name", "病院病院病院病院病院病院", 10, &mut e);
        non_blank("name", "病院", 10, &mut e);
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn passwords() {
        let mut e = Vec::new();
        password("password", "short", &mut e);
        password("password", "long enough pass", &mut e);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn usable_emails_are_the_ones_the_mailer_parses() {
        for good in [
            "a@b.jp",
            "taro.yamada+x@example.co.jp",
            "o'brien@example.com",
        ] {
            assert!(is_usable_email(good), "{good}");
            assert!(good.parse::<lettre::Address>().is_ok());
        }
    }

    fn single(v: &str) -> usize {
        let mut e = Vec::new();
        single_line("f", v, &mut e);
        e.len()
    }

    fn multi(v: &str) -> usize {
        let mut e = Vec::new();
        multi_line("f", v, &mut e);
        e.len()
    }

    #[test]
    fn one_line_texts_refuse_every_control() {
        assert_eq!(single("架空市立中央病院 情報システム課"), 0);
        assert_eq!(single("ＡＢＣ　全角スペース"), 0);
        for bad in [
            "a\nb",
            "a\rb",
            "a\tb",
            "a\u{0}b",
            "a\u{1b}b",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{9f}b",
            "a\u{2028}b",
            "a\u{2029}b",
        ] {
            assert_eq!(single(bad), 1, "{bad:?}");
        }
        let mut e = Vec::new();
        single_line("contacts[0].name", "山田\n太郎", &mut e);
        assert_eq!(e[0].field, "contacts[0].name");
        assert!(e[0].message.contains("U+000A"), "{}", e[0].message);
        single_line_opt("x", None, &mut e);
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn free_texts_keep_line_breaks_only() {
        assert_eq!(multi("一行目\n二行目"), 0);
        assert_eq!(multi("一行目\r\n二行目\r\n"), 0);
        for bad in [
            "a\rb",
            "a\tb",
            "a\u{0}b",
            "a\u{7f}b",
            "a\u{85}b",
            "a\u{2028}b",
        ] {
            assert_eq!(multi(bad), 1, "{bad:?}");
        }
        assert_eq!(normalize_lines("a\r\nb\nc"), "a\nb\nc");
    }

    #[test]
    fn header_text_turns_controls_into_single_spaces() {
        assert_eq!(header_text("山田\r\n太郎"), "山田 太郎");
        assert_eq!(header_text(" a\tb\u{0}\u{2028}c "), "a b c");
        assert_eq!(header_text("plain"), "plain");
    }
}
