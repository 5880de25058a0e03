//! The mails, in Japanese business style: templates (minijinja) embedded in the binary, each
//! replaceable by a file of the same name in `MAIL_TEMPLATES_DIR`. The HTML alternative is made
//! from the text, so the two never say different things.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    FirstContact,
    MemorandumSent,
    IntakeRequest,
    HearingCandidates,
    HearingConfirmed,
    HearingRescheduled,
    HearingCancelled,
    HearingReminder,
    OverdueNudge,
    ReportDelivered,
    BackupProposalDelivered,
}

impl MailKind {
    pub const ALL: [MailKind; 11] = [
        MailKind::FirstContact,
        MailKind::MemorandumSent,
        MailKind::IntakeRequest,
        MailKind::HearingCandidates,
        MailKind::HearingConfirmed,
        MailKind::HearingRescheduled,
        MailKind::HearingCancelled,
        MailKind::HearingReminder,
        MailKind::OverdueNudge,
        MailKind::ReportDelivered,
        MailKind::BackupProposalDelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::FirstContact => "first_contact",
            MailKind::MemorandumSent => "memorandum_sent",
            MailKind::IntakeRequest => "intake_request",
            MailKind::HearingCandidates => "hearing_candidates",
            MailKind::HearingConfirmed => "hearing_confirmed",
            MailKind::HearingRescheduled => "hearing_rescheduled",
            MailKind::HearingCancelled => "hearing_cancelled",
            MailKind::HearingReminder => "hearing_reminder",
            MailKind::OverdueNudge => "overdue_nudge",
            MailKind::ReportDelivered => "report_delivered",
            MailKind::BackupProposalDelivered => "backup_proposal_delivered",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        MailKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sender {
    pub organization: String,
    pub person: String,
    pub email: String,
    pub phone: Option<String>,
    /// Configured per organisation; replaces the generated signature.
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SlotView {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `online` or `onsite`.
    pub format: String,
    pub meeting_url: Option<String>,
    pub place: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub hospital_name: String,
    pub department: Option<String>,
    pub contact_name: String,
    pub sender: Sender,
    /// `landing`, `participation`, `memorandum`, `diagram`, `questionnaire`, `hearing`, …
    pub links: BTreeMap<String, String>,
    pub slots: Vec<SlotView>,
    pub hearing: Option<SlotView>,
    pub previous: Option<SlotView>,
    pub reply_by: Option<NaiveDate>,
    pub reason: Option<String>,
    pub note: Option<String>,
}

pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

const WEEKDAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

/// `2026年12月1日（火）` in Japan.
pub fn date_ja(d: NaiveDate) -> String {
    format!(
        "{}年{}月{}日（{}）",
        d.year(),
        d.month(),
        d.day(),
        WEEKDAYS[d.weekday().num_days_from_monday() as usize]
    )
}

/// `2026年12月1日（火）10:00` in Asia/Tokyo.
pub fn datetime_ja(t: DateTime<Utc>) -> String {
    let local = t.with_timezone(&chrono_tz::Asia::Tokyo);
    format!("{}{}", date_ja(local.date_naive()), local.format("%H:%M"))
}

/// `2026年12月1日（火）10:00〜11:30（90分）`.
pub fn slot_ja(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let tokyo = chrono_tz::Asia::Tokyo;
    let minutes = (end - start).num_minutes();
    format!(
        "{}〜{}（{}分）",
        datetime_ja(start),
        end.with_timezone(&tokyo).format("%H:%M"),
        minutes
    )
}

pub fn format_ja(format: &str, place: Option<&str>) -> String {
    match (format, place) {
        ("onsite", Some(p)) => format!("訪問（{p}）"),
        ("onsite", None) => "訪問".to_owned(),
        _ => "オンライン（Web会議）".to_owned(),
    }
}

fn slot_json(s: &SlotView) -> serde_json::Value {
    json!({
        "when": slot_ja(s.starts_at, s.ends_at),
        "format": format_ja(&s.format, s.place.as_deref()),
        "url": s.meeting_url,
        "place": s.place,
    })
}

fn signature(s: &Sender) -> String {
    if let Some(sig) = s.signature.as_deref().filter(|s| !s.trim().is_empty()) {
        return sig.trim_end().to_owned();
    }
    let mut lines = vec!["──────────────────────".to_owned(), s.organization.clone()];
    lines.push(if s.person.is_empty() {
        "医療機関サイバーセキュリティ確保事業 担当".to_owned()
    } else {
        format!("医療機関サイバーセキュリティ確保事業 担当　{}", s.person)
    });
    if !s.email.is_empty() {
        lines.push(format!("E-mail：{}", s.email));
    }
    if let Some(p) = &s.phone {
        lines.push(format!("TEL：{p}"));
    }
    lines.push("──────────────────────".to_owned());
    lines.join("\n")
}

fn embedded(name: &str) -> Option<&'static str> {
    Some(match name {
        "base.txt" => include_str!("templates/base.txt"),
        "first_contact.txt" => include_str!("templates/first_contact.txt"),
        "memorandum_sent.txt" => include_str!("templates/memorandum_sent.txt"),
        "intake_request.txt" => include_str!("templates/intake_request.txt"),
        "hearing_candidates.txt" => include_str!("templates/hearing_candidates.txt"),
        "hearing_confirmed.txt" => include_str!("templates/hearing_confirmed.txt"),
        "hearing_rescheduled.txt" => include_str!("templates/hearing_rescheduled.txt"),
        "hearing_cancelled.txt" => include_str!("templates/hearing_cancelled.txt"),
        "hearing_reminder.txt" => include_str!("templates/hearing_reminder.txt"),
        "overdue_nudge.txt" => include_str!("templates/overdue_nudge.txt"),
        "report_delivered.txt" => include_str!("templates/report_delivered.txt"),
        "backup_proposal_delivered.txt" => include_str!("templates/backup_proposal_delivered.txt"),
        _ => return None,
    })
}

fn read_override(dir: Option<&Path>, name: &str) -> Option<String> {
    // Only plain names: a template name never reaches outside the directory.
    if name.contains('/') || name.contains('\\') || name.starts_with('.') {
        return None;
    }
    dir.and_then(|d| std::fs::read_to_string(d.join(name)).ok())
}

/// The plain-text mail as simple, phone-readable HTML: escaped, links clickable.
fn to_html(subject: &str, text: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut body = String::new();
    for line in text.lines() {
        let mut out = Vec::new();
        for word in line.split(' ') {
            if word.starts_with("https://") || word.starts_with("http://") {
                let w = esc(word);
                out.push(format!(
                    "<a href=\"{w}\" style=\"color:#0b57d0;word-break:break-all\">{w}</a>"
                ));
            } else {
                out.push(esc(word));
            }
        }
        body.push_str(&out.join(" "));
        body.push_str("<br>\n");
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"ja\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title></head>\n<body style=\"margin:0;padding:16px;font-family:sans-serif;font-size:16px;line-height:1.7;color:#222\"><div style=\"max-width:640px\">\n{}</div></body></html>\n",
        esc(subject),
        body
    )
}

pub fn render(kind: MailKind, ctx: &Context, overrides: Option<&Path>) -> anyhow::Result<Rendered> {
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    let dir = overrides.map(Path::to_path_buf);
    env.set_loader(move |name| {
        Ok(read_override(dir.as_deref(), name).or_else(|| embedded(name).map(str::to_owned)))
    });
    let data = json!({
        "hospital_name": ctx.hospital_name,
        "department": ctx.department,
        "contact_name": ctx.contact_name,
        "sender": ctx.sender,
        "signature": signature(&ctx.sender),
        "links": ctx.links,
        "slots": ctx.slots.iter().map(slot_json).collect::<Vec<_>>(),
        "hearing": ctx.hearing.as_ref().map(slot_json),
        "previous": ctx.previous.as_ref().map(slot_json),
        "reply_by": ctx.reply_by.map(date_ja),
        "reason": ctx.reason,
        "note": ctx.note,
    });
    let name = kind.as_str();
    let text = env.get_template(&format!("{name}.txt"))?.render(&data)?;
    // Tidy blank lines left by template conditions.
    let mut tidy = String::new();
    let mut blank = 0;
    for line in text.lines() {
        blank = if line.trim().is_empty() { blank + 1 } else { 0 };
        if blank <= 1 {
            tidy.push_str(line.trim_end());
            tidy.push('\n');
        }
    }
    let matter = read_override(overrides, &format!("{name}.subject"))
        .map(|s| s.trim().to_owned())
        .or_else(|| {
            include_str!("templates/subjects.txt")
                .lines()
                .find_map(|l| {
                    l.strip_prefix(name)
                        .and_then(|r| r.strip_prefix('\t'))
                        .map(str::to_owned)
                })
        })
        .unwrap_or_default();
    let subject = format!("【医療機関サイバーセキュリティ確保事業】{matter}");
    let html = match read_override(overrides, &format!("{name}.html")) {
        Some(t) => env.render_str(&t, &data)?,
        None => to_html(&subject, &tidy),
    };
    Ok(Rendered {
        subject,
        text: tidy,
        html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let slot = |d: u32| SlotView {
            starts_at: format!("2026-12-0{d}T01:00:00Z").parse().unwrap(),
            ends_at: format!("2026-12-0{d}T02:30:00Z").parse().unwrap(),
            format: "online".into(),
            meeting_url: Some("https://meet.example/x".into()),
            place: None,
        };
        let mut links = BTreeMap::new();
        for k in [
            "landing",
            "participation",
            "memorandum",
            "diagram",
            "questionnaire",
            "hearing",
        ] {
            links.insert(k.to_owned(), format!("https://tracker.example/p/{k}/TOKEN"));
        }
        Context {
            hospital_name: "架空市立中央病院".into(),
            department: Some("情報システム課".into()),
            contact_name: "山田 太郎".into(),
            sender: Sender {
                organization: "架空セキュリティ株式会社".into(),
                person: "佐藤".into(),
                email: "sato@vendor.example".into(),
                ..Default::default()
            },
            links,
            slots: vec![slot(1), slot(2), slot(3)],
            hearing: Some(slot(1)),
            previous: Some(slot(2)),
            reply_by: NaiveDate::from_ymd_opt(2026, 11, 30),
            reason: Some("院内会議のため".into()),
            note: None,
        }
    }

    #[test]
    fn times_are_shown_in_tokyo_with_weekday() {
        let s: DateTime<Utc> = "2026-12-01T01:00:00Z".parse().unwrap();
        let e: DateTime<Utc> = "2026-12-01T02:30:00Z".parse().unwrap();
        assert_eq!(slot_ja(s, e), "2026年12月1日（火）10:00〜11:30（90分）");
        assert_eq!(format_ja("onsite", Some("3階会議室")), "訪問（3階会議室）");
    }

    #[test]
    fn every_kind_renders_as_a_business_letter() {
        for kind in MailKind::ALL {
            let r = render(kind, &ctx(), None).unwrap();
            assert!(
                r.subject
                    .starts_with("【医療機関サイバーセキュリティ確保事業】"),
                "{kind:?}"
            );
            assert!(
                r.subject.len() > "【医療機関サイバーセキュリティ確保事業】".len(),
                "{kind:?} has a matter"
            );
            assert!(
                r.text
                    .starts_with("架空市立中央病院\n情報システム課 山田 太郎 様"),
                "{kind:?}"
            );
            assert!(r.text.contains("架空セキュリティ株式会社"));
            assert!(
                r.text.contains("sato@vendor.example"),
                "signature in {kind:?}"
            );
            assert!(
                r.html.contains("<a href=\"https://tracker.example/p/"),
                "{kind:?}"
            );
            assert!(
                !r.text.contains("{{") && !r.text.contains("\n\n\n"),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn candidates_list_slots_with_reply_by_and_link() {
        let r = render(MailKind::HearingCandidates, &ctx(), None).unwrap();
        assert!(
            r.text
                .contains("1. 2026年12月1日（火）10:00〜11:30（90分）　オンライン（Web会議）"),
            "{}",
            r.text
        );
        assert!(r.text.contains("3. 2026年12月3日（木）"));
        assert!(r.text.contains("2026年11月30日（月）までに"));
        assert!(r.text.contains("https://tracker.example/p/hearing/TOKEN"));
    }

    #[test]
    fn html_escapes_what_it_shows() {
        let mut c = ctx();
        c.hospital_name = "<script>病院".into();
        let r = render(MailKind::FirstContact, &c, None).unwrap();
        assert!(r.html.contains("&lt;script&gt;病院") && !r.html.contains("<script>"));
    }

    #[test]
    fn templates_can_be_replaced_from_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("first_contact.txt"),
            "{{ contact_name }} 様\n独自の本文です。\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("first_contact.subject"), "独自の件名").unwrap();
        let r = render(MailKind::FirstContact, &ctx(), Some(dir.path())).unwrap();
        assert_eq!(
            r.subject,
            "【医療機関サイバーセキュリティ確保事業】独自の件名"
        );
        assert_eq!(r.text, "山田 太郎 様\n独自の本文です。\n");
        let r = render(MailKind::MemorandumSent, &ctx(), Some(dir.path())).unwrap();
        assert!(
            r.text.contains("覚書"),
            "other kinds keep the built-in template"
        );
    }

    #[test]
    fn a_configured_signature_replaces_the_generated_one() {
        let mut c = ctx();
        c.sender.signature =
            Some("架空セキュリティ株式会社\n医療DX推進部 佐藤\n03-0000-0000".into());
        let r = render(MailKind::ReportDelivered, &c, None).unwrap();
        assert!(r.text.trim_end().ends_with("03-0000-0000"));
        assert!(!r.text.contains("──"));
    }
}
