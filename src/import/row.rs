//! One data row → a `SelectionRow`, or every problem found in it.

use std::collections::HashMap;

use super::columns::{Column, ContactField, CONTACT_SLOTS};
use super::read::RawRow;
use super::{ContactRow, EmrStatus, RowError, RowOutcome, SelectionRow};
use crate::domain::{medcode, normalize, prefectures, validate};

/// Where each known column sits in the file and how its header was written there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    columns: HashMap<Column, (usize, String)>,
}

impl Layout {
    pub fn insert(&mut self, column: Column, index: usize, header: String) -> bool {
        if self.columns.contains_key(&column) {
            return false;
        }
        self.columns.insert(column, (index, header));
        true
    }

    pub fn has(&self, column: Column) -> bool {
        self.columns.contains_key(&column)
    }
}

struct RowReader<'a> {
    layout: &'a Layout,
    raw: &'a RawRow,
    errors: Vec<RowError>,
}

impl RowReader<'_> {
    /// The normalised text of a column, `None` when the column is absent or the cell blank.
    fn value(&self, column: Column) -> Option<String> {
        let (index, _) = self.layout.columns.get(&column)?;
        let text = normalize::text(&self.raw.cells.get(*index)?.text);
        (!text.is_empty()).then_some(text)
    }

    fn is_numeric_cell(&self, column: Column) -> bool {
        self.layout
            .columns
            .get(&column)
            .and_then(|(index, _)| self.raw.cells.get(*index))
            .is_some_and(|c| c.numeric)
    }

    fn error(&mut self, column: Column, reason_ja: String, reason_en: String) {
        let header = match self.layout.columns.get(&column) {
            Some((_, header)) => header.clone(),
            None => column.ja(),
        };
        self.errors.push(RowError {
            column: header,
            reason_ja,
            reason_en,
        });
    }

    fn required(&mut self, column: Column) -> Option<String> {
        let value = self.value(column);
        if value.is_none() {
            self.error(
                column,
                format!("{}は必須です", column.ja()),
                format!("{} is required", column.en()),
            );
        }
        value
    }
}

pub(crate) fn parse_row(layout: &Layout, raw: &RawRow) -> RowOutcome {
    let mut r = RowReader {
        layout,
        raw,
        errors: Vec::new(),
    };

    let rank = match r.value(Column::Rank) {
        None => None,
        Some(v) => match integer(&v, "位") {
            Some(n) if n >= 1 && n <= i64::from(i32::MAX) => Some(n as i32),
            _ => {
                r.error(
                    Column::Rank,
                    format!("順位は1以上の整数で入力してください（{v}）"),
                    format!("rank must be a positive integer (got '{v}')"),
                );
                None
            }
        },
    };

    let prefecture = match r.required(Column::Prefecture) {
        None => None,
        Some(v) => {
            let found = prefectures::find(&v);
            if found.is_none() {
                r.error(
                    Column::Prefecture,
                    format!("都道府県「{v}」が見つかりません"),
                    format!("unknown prefecture '{v}'"),
                );
            }
            found
        }
    };

    let institution_code = match r.required(Column::InstitutionCode) {
        None => None,
        Some(v) => {
            let v = pad_lost_zero(&v, r.is_numeric_cell(Column::InstitutionCode));
            match medcode::normalize_code(&v, prefecture.map(|p| p.code.as_str())) {
                Ok(code) => Some(code),
                // Without a known prefecture a local part cannot be completed; the prefecture
                // error already says what to fix.
                Err(medcode::CodeError::LocalPartWithoutPrefecture) if prefecture.is_none() => None,
                Err(e) => {
                    r.error(Column::InstitutionCode, e.ja(), e.en());
                    None
                }
            }
        }
    };

    let name = r.required(Column::HospitalName);
    let address = r.value(Column::Address);

    let beds = match r.value(Column::Beds) {
        None => None,
        Some(v) => match integer(&v, "床") {
            Some(n) if n >= 0 && n <= i64::from(i32::MAX) => Some(n as i32),
            _ => {
                r.error(
                    Column::Beds,
                    format!("病床数は0以上の整数で入力してください（{v}）"),
                    format!("beds must be a non-negative integer (got '{v}')"),
                );
                None
            }
        },
    };

    let emr_status = match r.value(Column::EmrStatus) {
        None => None,
        Some(v) => {
            let status = emr_status(&v);
            if status.is_none() {
                r.error(
                    Column::EmrStatus,
                    format!(
                        "電子カルテ導入状況は「導入済」または「一部」で入力してください（{v}）"
                    ),
                    format!("emr_status must be 'full' or 'partial' (got '{v}')"),
                );
            }
            status
        }
    };

    let mut contacts: Vec<ContactRow> = Vec::new();
    for slot in 0..CONTACT_SLOTS {
        if let Some(contact) = contact(&mut r, slot) {
            // Two contacts of one row are two people; one address for both would merge them.
            let twin = contacts
                .iter()
                .find(|c| c.email.is_some() && c.email == contact.email);
            if let (Some(twin), Some(email)) = (twin, &contact.email) {
                let first = twin.slot + 1;
                r.error(
                    Column::Contact(slot, ContactField::Email),
                    format!("担当者{first}と同じメールアドレスです（{email}）"),
                    format!("the same email address as contact {first} ({email})"),
                );
            }
            contacts.push(contact);
        }
    }

    let note = r.value(Column::Note);

    let result = match (prefecture, &institution_code, &name) {
        (Some(prefecture), Some(institution_code), Some(name)) if r.errors.is_empty() => {
            Ok(SelectionRow {
                rank,
                prefecture_code: prefecture.code.clone(),
                institution_code: institution_code.clone(),
                name: name.clone(),
                address,
                beds,
                emr_status,
                contacts,
                note,
            })
        }
        _ => Err(r.errors),
    };
    RowOutcome {
        row: raw.line,
        institution_code,
        hospital_name: name,
        result,
    }
}

fn contact(r: &mut RowReader<'_>, slot: usize) -> Option<ContactRow> {
    let name = r.value(Column::Contact(slot, ContactField::Name));
    let email = r
        .value(Column::Contact(slot, ContactField::Email))
        .map(|e| normalize::email(&e));
    if name.is_none() && email.is_none() {
        return None;
    }
    if let Some(e) = &email {
        let mut problems = Vec::new();
        validate::email("email", e, &mut problems);
        if !problems.is_empty() {
            r.error(
                Column::Contact(slot, ContactField::Email),
                format!("メールアドレスの形式が正しくありません（{e}）"),
                format!("not an email address: '{e}'"),
            );
        }
    }
    let phone = r
        .value(Column::Contact(slot, ContactField::Phone))
        .map(|p| normalize::phone(&p))
        .filter(|p| !p.is_empty());
    Some(ContactRow {
        slot,
        name: name.unwrap_or_default(),
        department: r.value(Column::Contact(slot, ContactField::Department)),
        title: r.value(Column::Contact(slot, ContactField::Title)),
        phone,
        email,
    })
}

/// An integer with an optional unit suffix (`120床`, `1,200`); `None` if it is anything else.
fn integer(v: &str, suffix: &str) -> Option<i64> {
    let v = v.strip_suffix(suffix).unwrap_or(v).trim();
    let v: String = v.chars().filter(|c| *c != ',').collect();
    v.parse().ok()
}

fn emr_status(v: &str) -> Option<EmrStatus> {
    let key: String = v
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    match key.as_str() {
        "導入済" | "導入済み" | "全面" | "全面導入" | "全部" | "全部導入" | "full" => {
            Some(EmrStatus::Full)
        }
        "一部" | "一部導入" | "部分" | "部分導入" | "partial" => {
            Some(EmrStatus::Partial)
        }
        _ => None,
    }
}

/// Excel turns codes typed as numbers into numbers and drops their leading zero (prefectures
/// 01–09, districts 01–09); put it back for number cells only, where that is what happened.
fn pad_lost_zero(v: &str, numeric: bool) -> String {
    if numeric && v.chars().all(|c| c.is_ascii_digit()) && (v.len() == 9 || v.len() == 6) {
        format!("0{v}")
    } else {
        v.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_with_units() {
        assert_eq!(integer("120床", "床"), Some(120));
        assert_eq!(integer("120 床", "床"), Some(120));
        assert_eq!(integer("1,200", "床"), Some(1200));
        assert_eq!(integer("-3", "床"), Some(-3));
        assert_eq!(integer("約120", "床"), None);
        assert_eq!(integer("3位", "位"), Some(3));
    }

    #[test]
    fn emr_values() {
        assert_eq!(emr_status("導入済"), Some(EmrStatus::Full));
        assert_eq!(emr_status("全面"), Some(EmrStatus::Full));
        assert_eq!(emr_status("全部"), Some(EmrStatus::Full));
        assert_eq!(emr_status("Full"), Some(EmrStatus::Full));
        assert_eq!(emr_status("一部"), Some(EmrStatus::Partial));
        assert_eq!(emr_status("部分"), Some(EmrStatus::Partial));
        assert_eq!(emr_status("PARTIAL"), Some(EmrStatus::Partial));
        assert_eq!(emr_status("未導入"), None);
        assert_eq!(emr_status("yes"), None);
    }

    #[test]
    fn lost_zero_only_for_number_cells() {
        assert_eq!(pad_lost_zero("110113719", true), "0110113719");
        assert_eq!(pad_lost_zero("113719", true), "0113719");
        assert_eq!(pad_lost_zero("110113719", false), "110113719");
        assert_eq!(pad_lost_zero("1310123458", true), "1310123458");
    }
}
