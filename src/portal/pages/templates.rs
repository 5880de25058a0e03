//! The page templates (under `portal/templates/`) and the memorandum text.

use super::*;

pub(super) fn env() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../templates/base.html")),
        ("notice.html", include_str!("../templates/notice.html")),
        ("landing.html", include_str!("../templates/landing.html")),
        (
            "participation.html",
            include_str!("../templates/participation.html"),
        ),
        (
            "memorandum.html",
            include_str!("../templates/memorandum.html"),
        ),
        ("diagram.html", include_str!("../templates/diagram.html")),
        (
            "questionnaire.html",
            include_str!("../templates/questionnaire.html"),
        ),
        ("hearing.html", include_str!("../templates/hearing.html")),
        ("done.html", include_str!("../templates/done.html")),
        ("error.html", include_str!("../templates/error.html")),
    ] {
        // Built-in templates; a broken one is a programming error caught by the tests.
        let _ = env.add_template(name, src);
    }
    env
}

pub(super) fn render_template(name: &str, data: Value) -> Result<String, PageError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(data))
        .map_err(|e| PageError::Internal(format!("template {name}: {e}")))
}

/// The memorandum text for this hospital and the organisation assigned to it.
pub fn memorandum_text(o: &Opened, organization: &str) -> Result<String, PageError> {
    let version = o
        .engagement
        .memorandum_template
        .clone()
        .unwrap_or_else(|| "標準版".into());
    env()
        .render_str(include_str!("../templates/memorandum.txt"), json!({"hospital_name": o.hospital.name, "organization": organization, "version": version}))
        .map_err(|e| PageError::Internal(e.to_string()))
}
