//! The 10-digit medical institution code (医療機関コード), `PP T GG NNNN C`: prefecture,
//! fee table (1 = 医科), district, institution number and a Luhn check digit over the first
//! nine digits. Prefectural lists often carry only the 7-digit local part `GG NNNN C`.

use std::fmt;

use super::normalize;

/// The fee-table digit of medical (医科) institutions; every hospital in the programme has it.
const FEE_TABLE_MEDICAL: char = '1';

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    Empty,
    /// Something other than digits, hyphens and spaces.
    NotDigits,
    /// Neither 10 digits nor a 7-digit local part.
    WrongLength(usize),
    /// A 7-digit local part with no prefecture to complete it.
    LocalPartWithoutPrefecture,
    /// The first two digits (or the prefecture given) are not 01–47.
    UnknownPrefecture(String),
    PrefectureMismatch {
        in_code: String,
        expected: String,
    },
    /// The fee-table digit is not 1 (医科): a dental clinic or pharmacy code.
    NotMedical(char),
    CheckDigit {
        expected: u8,
        found: u8,
    },
}

impl CodeError {
    pub fn ja(&self) -> String {
        match self {
            CodeError::Empty => "医療機関コードが空です".into(),
            CodeError::NotDigits => "医療機関コードには数字以外の文字を含められません".into(),
            CodeError::WrongLength(len) => format!(
                "医療機関コードは10桁（または都道府県と下7桁）で入力してください（{len}桁）{}",
                if *len == 9 || *len == 6 {
                    "。先頭の0が落ちていないか確認してください"
                } else {
                    ""
                }
            ),
            CodeError::LocalPartWithoutPrefecture => {
                "下7桁の医療機関コードには都道府県が必要です".into()
            }
            CodeError::UnknownPrefecture(pp) => {
                format!("都道府県番号「{pp}」は01〜47ではありません")
            }
            CodeError::PrefectureMismatch { in_code, expected } => format!(
                "医療機関コードの都道府県番号「{in_code}」が都道府県「{expected}」と一致しません"
            ),
            CodeError::NotMedical(t) => {
                format!("医療機関コードの点数表番号が「{t}」です。病院（医科）は「1」です")
            }
            CodeError::CheckDigit { expected, found } => {
                format!("医療機関コードの検証番号が正しくありません（{found}、正しくは{expected}）")
            }
        }
    }

    pub fn en(&self) -> String {
        match self {
            CodeError::Empty => "institution code is empty".into(),
            CodeError::NotDigits => "institution code may contain only digits".into(),
            CodeError::WrongLength(len) => format!(
                "institution code must be 10 digits, or the 7-digit local part with a prefecture (got {len} digits){}",
                if *len == 9 || *len == 6 {
                    "; check whether a leading 0 was lost"
                } else {
                    ""
                }
            ),
            CodeError::LocalPartWithoutPrefecture => {
                "a 7-digit local institution code needs a prefecture".into()
            }
            CodeError::UnknownPrefecture(pp) => {
                format!("prefecture number '{pp}' is not 01-47")
            }
            CodeError::PrefectureMismatch { in_code, expected } => format!(
                "institution code's prefecture number '{in_code}' does not match prefecture '{expected}'"
            ),
            CodeError::NotMedical(t) => format!(
                "institution code's fee-table digit is '{t}'; hospitals (medical) have '1'"
            ),
            CodeError::CheckDigit { expected, found } => format!(
                "institution code's check digit is wrong ({found}, expected {expected})"
            ),
        }
    }
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en())
    }
}

impl std::error::Error for CodeError {}

/// The Luhn check digit over `nine` (meant to be the first nine digits of a code; characters
/// other than ASCII digits are ignored). Doubling starts at the rightmost digit, since the check
/// digit itself will stand to its right.
pub fn luhn_digit(nine: &str) -> u8 {
    let sum: u32 = nine
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let d = d * 2;
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Normalises a code to its full 10 digits and checks it. Accepts the 10 digits, or the 7-digit
/// local part with `prefecture_code` ("01".."47"); full-width digits, hyphens and spaces are
/// tolerated. When `prefecture_code` is given, the code's prefecture digits must match it.
pub fn normalize_code(input: &str, prefecture_code: Option<&str>) -> Result<String, CodeError> {
    let folded = normalize::text(input);
    let mut digits = String::with_capacity(10);
    for c in folded.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !(c == ' ' || normalize::is_hyphen_like(c)) {
            return Err(CodeError::NotDigits);
        }
    }
    if digits.is_empty() {
        return Err(CodeError::Empty);
    }

    let prefecture = match prefecture_code.map(str::trim) {
        Some(p) => {
            Some(prefecture_number(p).ok_or_else(|| CodeError::UnknownPrefecture(p.into()))?)
        }
        None => None,
    };

    let full = match (digits.len(), &prefecture) {
        (10, _) => digits,
        (7, Some(pp)) => format!("{pp}{FEE_TABLE_MEDICAL}{digits}"),
        (7, None) => return Err(CodeError::LocalPartWithoutPrefecture),
        (len, _) => return Err(CodeError::WrongLength(len)),
    };

    // `full` is 10 ASCII digits from here on, so byte slicing is safe.
    let pp = &full[0..2];
    if prefecture_number(pp).is_none() {
        return Err(CodeError::UnknownPrefecture(pp.into()));
    }
    if let Some(expected) = prefecture {
        if pp != expected {
            return Err(CodeError::PrefectureMismatch {
                in_code: pp.into(),
                expected,
            });
        }
    }
    let fee_table = full[2..3].chars().next().unwrap_or('?');
    if fee_table != FEE_TABLE_MEDICAL {
        return Err(CodeError::NotMedical(fee_table));
    }
    let expected = luhn_digit(&full[0..9]);
    let found = full[9..10]
        .chars()
        .next()
        .and_then(|c| c.to_digit(10))
        .unwrap_or(0) as u8;
    if expected != found {
        return Err(CodeError::CheckDigit { expected, found });
    }
    Ok(full)
}

/// "1".."47" or "01".."47" → the two-digit form.
fn prefecture_number(s: &str) -> Option<String> {
    if s.is_empty() || s.len() > 2 || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u8 = s.parse().ok()?;
    (1..=47).contains(&n).then(|| format!("{n:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_of_the_readme_example() {
        assert_eq!(luhn_digit("011011371"), 9);
        assert_eq!(luhn_digit("131012345"), 8);
        assert_eq!(luhn_digit("000000000"), 0);
    }

    #[test]
    fn accepts_full_code() {
        assert_eq!(normalize_code("0110113719", None).unwrap(), "0110113719");
        assert_eq!(
            normalize_code("0110113719", Some("01")).unwrap(),
            "0110113719"
        );
        assert_eq!(
            normalize_code("0110113719", Some("1")).unwrap(),
            "0110113719"
        );
    }

    #[test]
    fn accepts_full_width_hyphens_and_spaces() {
        assert_eq!(
            normalize_code("０１１０１１３７１９", None).unwrap(),
            "0110113719"
        );
        assert_eq!(
            normalize_code("01-1-01-1371-9", None).unwrap(),
            "0110113719"
        );
        assert_eq!(
            normalize_code(" 01 1 01 1371 9 ", None).unwrap(),
            "0110113719"
        );
        assert_eq!(
            normalize_code("０１－１０１ー１３７１９", Some("01")).unwrap(),
            "0110113719"
        );
    }

    #[test]
    fn completes_local_part_with_prefecture() {
        assert_eq!(normalize_code("0113719", Some("01")).unwrap(), "0110113719");
        assert_eq!(
            normalize_code("01-1371-9", Some("01")).unwrap(),
            "0110113719"
        );
        assert_eq!(normalize_code("0123458", Some("13")).unwrap(), "1310123458");
    }

    #[test]
    fn rejects_each_failure() {
        assert_eq!(normalize_code("", None), Err(CodeError::Empty));
        assert_eq!(normalize_code(" - ", None), Err(CodeError::Empty));
        assert_eq!(
            normalize_code("01101137l9", None),
            Err(CodeError::NotDigits)
        );
        assert_eq!(
            normalize_code("110113719", Some("01")),
            Err(CodeError::WrongLength(9))
        );
        assert_eq!(
            normalize_code("0113719", None),
            Err(CodeError::LocalPartWithoutPrefecture)
        );
        assert_eq!(
            normalize_code("4810113710", None),
            Err(CodeError::UnknownPrefecture("48".into()))
        );
        assert_eq!(
            normalize_code("0113719", Some("99")),
            Err(CodeError::UnknownPrefecture("99".into()))
        );
        assert_eq!(
            normalize_code("0110113719", Some("13")),
            Err(CodeError::PrefectureMismatch {
                in_code: "01".into(),
                expected: "13".into()
            })
        );
        // A dental code (fee table 3) with a correct Luhn digit.
        let nine = "013011371";
        let dental = format!("{nine}{}", luhn_digit(nine));
        assert_eq!(
            normalize_code(&dental, None),
            Err(CodeError::NotMedical('3'))
        );
        assert_eq!(
            normalize_code("0110113718", None),
            Err(CodeError::CheckDigit {
                expected: 9,
                found: 8
            })
        );
    }

    #[test]
    fn messages_in_both_languages() {
        let e = CodeError::WrongLength(9);
        assert!(e.ja().contains("先頭の0"));
        assert!(e.en().contains("leading 0"));
        let e = CodeError::CheckDigit {
            expected: 9,
            found: 8,
        };
        assert!(e.ja().contains("検証番号"));
        assert!(e.en().contains("check digit"));
        assert_eq!(e.to_string(), e.en());
    }
}
