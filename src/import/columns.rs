//! The columns of the selection-list template and how headers are matched to them.

use crate::domain::normalize;

/// Number of contact person column groups on the template (担当者1..担当者3).
pub const CONTACT_SLOTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactField {
    Name,
    Department,
    Title,
    Phone,
    Email,
}

impl ContactField {
    const ALL: [ContactField; 5] = [
        ContactField::Name,
        ContactField::Department,
        ContactField::Title,
        ContactField::Phone,
        ContactField::Email,
    ];

    fn ja(self) -> &'static str {
        match self {
            ContactField::Name => "氏名",
            ContactField::Department => "所属",
            ContactField::Title => "役職",
            ContactField::Phone => "電話",
            ContactField::Email => "メール",
        }
    }

    fn en(self) -> &'static str {
        match self {
            ContactField::Name => "name",
            ContactField::Department => "department",
            ContactField::Title => "title",
            ContactField::Phone => "phone",
            ContactField::Email => "email",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Rank,
    Prefecture,
    InstitutionCode,
    HospitalName,
    Address,
    Beds,
    EmrStatus,
    /// Contact slot 0..CONTACT_SLOTS and field.
    Contact(usize, ContactField),
    Note,
}

impl Column {
    pub const REQUIRED: [Column; 3] = [
        Column::Prefecture,
        Column::InstitutionCode,
        Column::HospitalName,
    ];

    /// The Japanese header on the template.
    pub fn ja(self) -> String {
        match self {
            Column::Rank => "順位".into(),
            Column::Prefecture => "都道府県".into(),
            Column::InstitutionCode => "医療機関コード".into(),
            Column::HospitalName => "病院名".into(),
            Column::Address => "所在地".into(),
            Column::Beds => "病床数".into(),
            Column::EmrStatus => "電子カルテ導入状況".into(),
            Column::Contact(slot, field) => format!("担当者{}{}", slot + 1, field.ja()),
            Column::Note => "備考".into(),
        }
    }

    /// The English alias (as documented; matching also ignores case, spaces and underscores).
    pub fn en(self) -> String {
        match self {
            Column::Rank => "rank".into(),
            Column::Prefecture => "prefecture".into(),
            Column::InstitutionCode => "institution_code".into(),
            Column::HospitalName => "hospital_name".into(),
            Column::Address => "address".into(),
            Column::Beds => "beds".into(),
            Column::EmrStatus => "emr_status".into(),
            Column::Contact(slot, field) => format!("contact{}_{}", slot + 1, field.en()),
            Column::Note => "note".into(),
        }
    }

    fn all() -> Vec<Column> {
        let mut all = vec![
            Column::Rank,
            Column::Prefecture,
            Column::InstitutionCode,
            Column::HospitalName,
            Column::Address,
            Column::Beds,
            Column::EmrStatus,
            Column::Note,
        ];
        for slot in 0..CONTACT_SLOTS {
            all.extend(ContactField::ALL.iter().map(|f| Column::Contact(slot, *f)));
        }
        all
    }

    /// Which column a header cell names, if any.
    pub fn from_header(header: &str) -> Option<Column> {
        let key = key(header);
        if key.is_empty() {
            return None;
        }
        if key == "name" {
            return Some(Column::HospitalName);
        }
        Column::all()
            .into_iter()
            .find(|c| key == self::key(&c.ja()) || key == self::key(&c.en()))
    }
}

/// Headers compare width-folded, case-insensitive, with spaces and underscores ignored, so
/// `担当者１ 氏名`, `Contact1_Name` and `contact 1 name` all match.
fn key(header: &str) -> String {
    normalize::text(header)
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_japanese_and_english_headers() {
        assert_eq!(Column::from_header("病院名"), Some(Column::HospitalName));
        assert_eq!(
            Column::from_header(" 医療機関コード "),
            Some(Column::InstitutionCode)
        );
        assert_eq!(
            Column::from_header("Hospital_Name"),
            Some(Column::HospitalName)
        );
        assert_eq!(Column::from_header("name"), Some(Column::HospitalName));
        assert_eq!(
            Column::from_header("Institution Code"),
            Some(Column::InstitutionCode)
        );
        assert_eq!(Column::from_header("EMR_STATUS"), Some(Column::EmrStatus));
        assert_eq!(
            Column::from_header("担当者１メール"),
            Some(Column::Contact(0, ContactField::Email))
        );
        assert_eq!(
            Column::from_header("contact3_title"),
            Some(Column::Contact(2, ContactField::Title))
        );
        assert_eq!(
            Column::from_header("担当者2 役職"),
            Some(Column::Contact(1, ContactField::Title))
        );
        assert_eq!(Column::from_header("担当者4氏名"), None);
        assert_eq!(Column::from_header("FAX"), None);
        assert_eq!(Column::from_header(""), None);
    }
}
