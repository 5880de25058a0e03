//! Small input rules shared by several resources.

use crate::error::FieldError;

pub const MIN_PASSWORD_LEN: usize = 12;

/// A deliberately plain check: one `@`, something on both sides, a dot in the domain, no spaces.
pub fn email(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    let ok = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !value.chars().any(char::is_whitespace)
                && value.len() <= 254
        }
        None => false,
    };
    if !ok {
        errors.push(FieldError::new(field, "must be an email address"));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        let mut e = Vec::new();
        email("email", "a@b.jp", &mut e);
        assert!(e.is_empty());
        for bad in ["", "a", "a@b", "@b.jp", "a b@c.jp", "a@.jp", "a@b@c.jp"] {
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
}
