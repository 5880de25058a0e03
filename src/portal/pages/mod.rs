//! What each page shows, gathered from the database and rendered with the templates beside
//! `portal/` (`templates.rs` loads them); the errors and the error page are in `errors.rs`. The
//! questionnaire form and its parsing are in `questionnaire.rs`.

mod errors;
mod templates;

pub use errors::*;
pub use templates::memorandum_text;
use templates::render_template;

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use minijinja::Environment;
use serde_json::{json, Value};

use super::handlers::Opened;
pub use super::questionnaire::{
    issues_from, parse_questionnaire_form, questionnaire_template, questionnaire_view,
};
use crate::app::AppState;
use crate::auth::links::{LinkError, Purpose};
use crate::db::engagements::EngagementRow;
use crate::db::{self, DbConnection, DbError};
use crate::domain::documents::Purpose as DocPurpose;
use crate::domain::hearings::HearingStatus;
use crate::domain::pipeline::{self as rules, MemorandumStatus, Milestone, SideState};
use crate::domain::questionnaire::ResponseStatus;
use crate::domain::questionnaire::{self as q, Answers, Issue};
use crate::domain::validate;
use crate::error::AppError;
use crate::mail::render::{date_ja, datetime_ja, format_ja, slot_ja};

fn human_size(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MB", n as f64 / 1_048_576.0)
    } else {
        format!("{} KB", (n + 1023) / 1024)
    }
}

fn received(
    conn: &mut DbConnection,
    e: &EngagementRow,
    purpose: DocPurpose,
) -> Result<Vec<Value>, PageError> {
    Ok(db::intake::documents(conn, &e.id)?
        .into_iter()
        .filter(|d| d.purpose == purpose)
        .map(|d| json!({"filename": d.filename, "version": d.doc_version, "size": human_size(d.size), "at": datetime_ja(db::utc(d.uploaded_at))}))
        .collect())
}

fn steps(conn: &mut DbConnection, e: &EngagementRow) -> Result<Vec<Value>, PageError> {
    let done: BTreeMap<String, String> = db::engagements::milestones(conn, &e.id)?
        .into_iter()
        .map(|m| {
            (
                m.kind,
                date_ja(
                    db::utc(m.at)
                        .with_timezone(&chrono_tz::Asia::Tokyo)
                        .date_naive(),
                ),
            )
        })
        .collect();
    let at = |m: Milestone| done.get(m.as_str()).cloned();
    Ok([
        ("ご参加のご確認", at(Milestone::Consented)),
        (
            "秘密保持に関する覚書の締結",
            at(Milestone::MemorandumExecuted),
        ),
        ("ネットワーク構成図のご提出", at(Milestone::DiagramReceived)),
        (
            "事前質問票のご回答",
            at(Milestone::QuestionnaireAccepted).or(at(Milestone::QuestionnaireSubmitted)),
        ),
        ("ヒアリング", at(Milestone::HearingHeld)),
        ("検証結果のご報告", at(Milestone::ReportDelivered)),
        (
            "オフライン・バックアップのご提案（任意）",
            at(Milestone::BackupDecided).or(at(Milestone::BackupSkipped)),
        ),
    ]
    .into_iter()
    .map(|(label, at)| json!({"label": label, "at": at}))
    .collect())
}

fn notice_lines(notice: Option<&Notice>) -> Vec<String> {
    match notice {
        None => vec![],
        Some(Notice::Missing(what)) => vec![format!("{what}をご入力ください。")],
        Some(Notice::Unknown) => {
            vec!["送信内容を確認できませんでした。もう一度お試しください。".into()]
        }
        Some(Notice::Files(lines)) => {
            let mut v = vec![
                "次のファイルは受け付けられませんでした（内容から判定しています）。".to_owned(),
            ];
            v.extend(lines.iter().cloned());
            v
        }
        Some(Notice::Questionnaire(issues, _)) => vec![format!(
            "{}か所、ご確認いただきたい箇所があります。各質問の下の表示をご覧ください。",
            issues.len()
        )],
        Some(Notice::Refused(m)) => vec![m.clone()],
        Some(Notice::BadReason) => vec![
            "理由は2,000文字以内でご記入ください。".into(),
        ],
        Some(Notice::BadText(label)) => vec![format!(
            "{label}に使用できない文字（制御文字）が含まれています。改行以外の特殊な文字を除いて、もう一度お送りください。"
        )],
    }
}

/// A form's fields as stored: line breaks from a text area (CR LF) become LF. A control
/// character is refused (the page is shown again, 422, naming the field): free text keeps line
/// breaks only; questionnaire answers keep tabs too (they are pasted from spreadsheets).
pub fn clean_form(fields: &[(String, String)]) -> Result<Vec<(String, String)>, Notice> {
    let label = |k: &str| match k {
        "reason" => "理由",
        "note" => "ご都合のよい日時",
        k if k.starts_with("q.") => "ご回答",
        _ => "送信内容",
    };
    let mut out = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        let mut errors = Vec::new();
        validate::single_line("name", k, &mut errors);
        if k.starts_with("q.") {
            errors.extend(crate::domain::validate::check_text(k, v).err());
        } else {
            validate::multi_line(k, v, &mut errors);
        }
        if !errors.is_empty() {
            return Err(Notice::BadText(label(k).to_owned()));
        }
        out.push((k.clone(), validate::normalize_lines(v)));
    }
    Ok(out)
}

fn done_view(purpose: Purpose, done: &str) -> (&'static str, &'static str, &'static str) {
    match (purpose, done) {
        (_, "confirmed") => (
            "ご参加を承りました",
            "本事業へのご参加のご意向を承りました。ありがとうございます。",
            "次に、秘密保持に関する覚書についてメールでご案内いたします。",
        ),
        (_, "declined") => (
            "ご辞退を承りました",
            "ご辞退のご連絡を承りました。ご回答ありがとうございました。",
            "ご事情が変わりましたら、担当者までお気軽にご連絡ください。",
        ),
        (Purpose::Memorandum, "uploaded") => (
            "覚書の写しをお受けしました",
            "ご署名済みの覚書の写しをお受けしました。ありがとうございます。",
            "当社での手続きが済みましたら、次のご案内をお送りいたします。",
        ),
        (_, "uploaded") => (
            "ファイルをお受けしました",
            "ネットワーク構成図をお受けしました。ありがとうございます。",
            "追加のファイルがある場合は、同じページから何度でもお送りいただけます。",
        ),
        (_, "saved") => (
            "一時保存しました",
            "ご回答を一時保存しました。",
            "同じリンクから、いつでも続きをご記入いただけます。",
        ),
        (_, "submitted") => (
            "ご回答を提出しました",
            "事前質問票のご回答をお受けしました。ありがとうございます。",
            "内容を確認のうえ、必要に応じて担当者からご連絡いたします。",
        ),
        (_, "booked") => (
            "ヒアリングの日程が確定しました",
            "お申し込みを承りました。確定のメール（予定表用の招待状つき）をお送りいたします。",
            "日程の変更やお取消しは、同じページから承ります。",
        ),
        (_, "rescheduled") => (
            "日程を変更しました",
            "ヒアリングの日程を変更しました。変更のメールをお送りいたします。",
            "さらに変更が必要な場合も、同じページから承ります。",
        ),
        (_, "cancelled") => (
            "ヒアリングを取り消しました",
            "ヒアリングを取り消しました。取消のメールをお送りいたします。",
            "改めて日程をご相談させていただく際は、担当者からご連絡いたします。",
        ),
        (_, "requested") => (
            "ご希望を承りました",
            "ご都合のよい日時のご希望を承りました。",
            "担当者から改めて候補日をご案内いたします。",
        ),
        _ => (
            "受け付けました",
            "お手続きを受け付けました。",
            "ありがとうございました。",
        ),
    }
}

/// The page of an opened link, as it stands now (an old link never shows a stale state).
pub fn render(
    conn: &mut DbConnection,
    state: &AppState,
    o: &Opened,
    csrf: &str,
    token: &str,
    done: Option<&str>,
    notice: Option<&Notice>,
) -> Result<String, PageError> {
    let e =
        db::engagements::get(conn, &o.engagement.id)?.ok_or(PageError::Link(LinkError::Invalid))?;
    let purpose = o.claims.pur;
    let mut data = json!({
        "title": "",
        "hospital_name": o.hospital.name,
        "contact_name": o.contact.name,
        "csrf": csrf,
        "helpdesk": helpdesk(conn, &e),
        "notice": notice_lines(notice),
        "limit": human_size(state.config.max_upload_bytes as i64),
    });
    if let Some(done) = done {
        let (title, message, next) = done_view(purpose, done);
        data["title"] = json!(title);
        data["message"] = json!(message);
        data["next"] = json!(next);
        data["back"] = json!(format!("/p/{}/{token}", purpose.as_str()));
        return render_template("done.html", data);
    }
    let facts = crate::service::step::facts(conn, &e).map_err(PageError::from)?;
    let memo_done = facts.milestones.contains(&Milestone::MemorandumExecuted);
    let name = match purpose {
        Purpose::Landing => {
            let detail = crate::service::engagements::detail(conn, &state.config, &e.id)
                .map_err(PageError::from)?;
            data["title"] = json!("ご支援のご案内");
            data["asked"] = json!(detail
                .next_action
                .as_ref()
                .filter(|n| n.awaiting == rules::Party::Hospital)
                .and_then(|n| rules::awaited_ja(n.code)));
            data["steps"] = json!(steps(conn, &e)?);
            data["side"] = json!(match e.side_state {
                Some(SideState::Declined) => Some("ご辞退のご連絡を承っております。"),
                Some(SideState::Withdrawn) => Some("ご支援の対象外となりました。"),
                Some(SideState::OnHold) => Some("ご支援を一時停止しております。"),
                None => None,
            });
            "landing.html"
        }
        Purpose::Participation => {
            data["title"] = json!("ご参加のご確認");
            data["consented"] = json!(db::engagements::milestones(conn, &e.id)?
                .iter()
                .find(|m| m.kind == Milestone::Consented.as_str())
                .map(|m| datetime_ja(db::utc(m.at))));
            data["declined"] = json!(e.side_state == Some(SideState::Declined));
            "participation.html"
        }
        Purpose::Memorandum => {
            let status = e.memorandum_status;
            data["title"] = json!("秘密保持に関する覚書");
            data["status"] = json!(match status {
                None | Some(MemorandumStatus::Draft) => "準備中です。",
                Some(MemorandumStatus::Sent) => "ご署名をお願いしております。",
                Some(MemorandumStatus::SignedByHospital) =>
                    "ご署名済みの写しをお受けしました。当社で手続き中です。",
                Some(MemorandumStatus::Executed) => "締結済みです。",
            });
            data["can_upload"] = json!(!memo_done);
            data["document_url"] = json!(format!("/p/memorandum/{token}/document"));
            data["received"] = json!(received(conn, &e, DocPurpose::MemorandumSigned)?);
            "memorandum.html"
        }
        Purpose::Diagram => {
            data["title"] = json!("ネットワーク構成図のご提出");
            data["locked"] = json!(!memo_done);
            data["received"] = json!(received(conn, &e, DocPurpose::Diagram)?);
            "diagram.html"
        }
        Purpose::Questionnaire => {
            let (_, t) = questionnaire_template(conn, &e.id)?;
            let response = db::intake::response(conn, &e.id)?;
            let (answers, issues) = match notice {
                Some(Notice::Questionnaire(issues, answers)) => (answers.clone(), issues.clone()),
                _ => (
                    response
                        .as_ref()
                        .map(|r| r.answers.get().clone())
                        .unwrap_or_default(),
                    vec![],
                ),
            };
            let (answered, total) = q::completeness(&t, &answers);
            data["title"] = json!(t.title_ja);
            data["locked"] = json!(!memo_done);
            data["readonly"] = json!(match response.as_ref().map(|r| r.status) {
                Some(ResponseStatus::Submitted) =>
                    Some("ご回答を提出いただきました。担当者が内容を確認しております。"),
                Some(ResponseStatus::Accepted) =>
                    Some("ご回答の確認が完了しました。ありがとうございました。"),
                _ => None,
            });
            data["comment"] = json!(response
                .as_ref()
                .filter(|r| r.status == ResponseStatus::ClarificationRequested)
                .and_then(|r| r.review_comment.clone()));
            data["answered"] = json!(answered);
            data["total"] = json!(total);
            data["sections"] = questionnaire_view(&t, &answers, &issues);
            "questionnaire.html"
        }
        Purpose::Hearing => {
            data["title"] = json!("ヒアリングの日程");
            let hearings = db::hearings::hearings(conn, &e.id)?;
            let scheduled = hearings
                .iter()
                .find(|h| h.status == HearingStatus::Scheduled);
            let open: Vec<Value> = crate::service::hearings::open_slots(conn, &e.id, state.clock().now_utc())
                .map_err(PageError::from)?
                .into_iter()
                .map(|s| json!({"id": s.id, "when": slot_ja(db::utc(s.starts_at), db::utc(s.ends_at)), "format": format_ja(&s.format, s.place.as_deref())}))
                .collect();
            data["slots"] = json!(open);
            if let Some(h) = scheduled {
                if let Some(s) = db::hearings::slot(conn, &h.slot_id)? {
                    data["booked"] = json!({"when": slot_ja(db::utc(s.starts_at), db::utc(s.ends_at)), "format": format_ja(&s.format, s.place.as_deref()), "url": s.meeting_url});
                }
                if h.sequence > 0 {
                    data["changed"] =
                        json!("このヒアリングは日程が変更されています。以下が現在の日程です。");
                }
            } else if let Some(last) = hearings.last() {
                data["changed"] = json!(match last.status {
                    HearingStatus::Cancelled => "以前にご案内したヒアリングは取り消されました。",
                    HearingStatus::Held =>
                        "ヒアリングは実施済みです。ご協力ありがとうございました。",
                    HearingStatus::Postponed => "ヒアリングは延期となりました。",
                    _ => "以前のご案内から状況が変わっています。",
                });
            }
            "hearing.html"
        }
    };
    render_template(name, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::questionnaire::{Answer, YesNoAnswer};

    #[test]
    fn every_template_parses() {
        let env = templates::env();
        for name in [
            "landing.html",
            "participation.html",
            "memorandum.html",
            "diagram.html",
            "questionnaire.html",
            "hearing.html",
            "done.html",
            "error.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_questionnaire_form_round_trips() {
        let t = q::default_template();
        let mut answers = Answers::new();
        answers.insert(
            "1.1".into(),
            Answer::YesNo(YesNoAnswer {
                value: false,
                checked_on: chrono::NaiveDate::from_ymd_opt(2026, 11, 1),
                target_date: chrono::NaiveDate::from_ymd_opt(2027, 1, 31),
            }),
        );
        answers.insert(
            "backup.media".into(),
            Answer::Choices(vec!["tape".into(), "nas".into()]),
        );
        answers.insert("backup.copies".into(), Answer::Number(2.0));
        let mut row = BTreeMap::new();
        row.insert("type".to_owned(), json!("vpn"));
        row.insert("always_on".to_owned(), json!(true));
        answers.insert("external_connections".into(), Answer::Rows(vec![row]));
        let html = render_template("questionnaire.html", json!({"hospital_name": "病院", "contact_name": "山田", "csrf": "x", "notice": [], "sections": questionnaire_view(&t, &answers, &[]), "answered": 0, "total": 1, "title": "t"})).unwrap();
        // Read the form back as a browser would submit it.
        let attr = |tag: &str, name: &str| -> Option<String> {
            tag.split(&format!(" {name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .map(str::to_owned)
        };
        let mut fields = Vec::new();
        for chunk in html.split("<input").skip(1) {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let (Some(name), Some(value)) = (attr(tag, "name"), attr(tag, "value")) else {
                continue;
            };
            let kind = attr(tag, "type").unwrap_or_default();
            if (kind == "radio" || kind == "checkbox") && !tag.contains(" checked") {
                continue;
            }
            fields.push((name, value));
        }
        for chunk in html.split("<textarea").skip(1) {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let body = &chunk
                [chunk.find('>').map_or(0, |i| i + 1)..chunk.find("</textarea>").unwrap_or(0)];
            if let Some(name) = attr(tag, "name") {
                fields.push((name, body.to_owned()));
            }
        }
        for chunk in html.split("<select").skip(1) {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let body = &chunk[..chunk.find("</select>").unwrap_or(chunk.len())];
            if let (Some(name), Some(sel)) = (
                attr(tag, "name"),
                body.split("<option").find(|o| o.contains(" selected")),
            ) {
                fields.push((name, attr(sel, "value").unwrap_or_default()));
            }
        }
        let (back, issues) = parse_questionnaire_form(&t, &fields);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(back, answers);
    }

    #[test]
    fn bad_numbers_and_dates_come_back_in_japanese() {
        let t = q::default_template();
        let fields = vec![
            ("q.backup.copies".to_owned(), "二つ".to_owned()),
            ("q.1.1.value".to_owned(), "yes".to_owned()),
            ("q.1.1.checked_on".to_owned(), "昨日".to_owned()),
        ];
        let (_, issues) = parse_questionnaire_form(&t, &fields);
        assert_eq!(issues.len(), 2);
        assert!(issues.iter().all(|i| !i.message_ja.is_empty()));
    }

    #[test]
    fn the_error_page_is_plain_japanese() {
        for err in [
            PageError::Link(LinkError::Expired),
            PageError::Link(LinkError::Invalid),
            PageError::Link(LinkError::Revoked),
            PageError::Link(LinkError::WrongPurpose),
            PageError::Csrf,
        ] {
            let html = error(&err, None, "");
            assert!(html.contains("lang=\"ja\""));
            assert!(
                !html.contains("Error") && !html.contains("token") && !html.contains("jwt"),
                "{html}"
            );
        }
    }
}
