//! The 47 prefectures by JIS X 0401 code.

use std::sync::LazyLock;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefecture {
    pub code: String,
    pub name_ja: String,
    pub name_en: String,
}

static PREFECTURES: LazyLock<Vec<Prefecture>> = LazyLock::new(|| {
    include_str!("prefectures.csv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut parts = line.split(',');
            Some(Prefecture {
                code: parts.next()?.trim().to_owned(),
                name_ja: parts.next()?.trim().to_owned(),
                name_en: parts.next()?.trim().to_owned(),
            })
        })
        .collect()
});

pub fn all() -> &'static [Prefecture] {
    &PREFECTURES
}

/// Finds a prefecture by its code (`1`, `01`), its Japanese name (`東京都`, or `東京` without the
/// suffix) or its romanised name.
pub fn find(input: &str) -> Option<&'static Prefecture> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if s.chars().all(|c| c.is_ascii_digit()) && s.len() <= 2 {
        let code = format!("{:0>2}", s);
        return all().iter().find(|p| p.code == code);
    }
    all().iter().find(|p| {
        p.name_ja == s
            || p.name_en.eq_ignore_ascii_case(s)
            || (p.name_ja != "北海道" && p.name_ja.trim_end_matches(['都', '道', '府', '県']) == s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_47() {
        assert_eq!(all().len(), 47);
        assert_eq!(all()[0].code, "01");
        assert_eq!(all()[46].name_ja, "沖縄県");
    }

    #[test]
    fn finds_by_code_and_name() {
        assert_eq!(find("13").unwrap().name_ja, "東京都");
        assert_eq!(find("1").unwrap().name_ja, "北海道");
        assert_eq!(find("大阪府").unwrap().code, "27");
        assert_eq!(find("大阪").unwrap().code, "27");
        assert_eq!(find("kyoto").unwrap().code, "26");
        assert!(find("48").is_none());
        assert!(find("").is_none());
    }
}
