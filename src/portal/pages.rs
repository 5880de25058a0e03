//! What each page shows, gathered from the database and rendered with the templates beside this
//! file; the questionnaire form and its parsing; the error page.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use minijinja::Environment;
use serde_json::{json, Value};

use super::handlers::Opened;
use crate::app::AppState;
use crate::auth::links::{LinkError, Purpose};
use crate::db::engagements::EngagementRow;
use crate::db::{self, DbConnection};
use crate::domain::documents::Purpose as DocPurpose;
use crate::domain::hearings::HearingStatus;
use crate::domain::pipeline::{self as rules, MemorandumStatus, Milestone, SideState};
use crate::domain::questionnaire::ResponseStatus;
use crate::domain::questionnaire::{
    self as q, Answer, Answers, ColumnKind, Issue, QuestionKind, Template, YesNoAnswer,
};
use crate::domain::validate;
use crate::error::AppError;
use crate::mail::render::{date_ja, datetime_ja, format_ja, slot_ja};

/// Something to say next to a form shown again.
#[derive(Debug)]
pub enum Notice {
    Missing(String),
    Unknown,
    Files(Vec<String>),
    Questionnaire(Vec<Issue>, Answers),
    Refused(String),
    /// A field holds a control character; carries the field's name as the page shows it.
    BadText(String),
    /// A reason breaks the rule every channel applies (blank, or longer than 2,000 characters).
    BadReason,
}

#[derive(Debug)]
pub enum PageError {
    Link(LinkError),
    Csrf,
    BadForm,
    TooLarge,
    Refused(String),
    Form(Notice),
    Internal(String),
}

impl PageError {
    pub fn status(&self) -> StatusCode {
        match self {
            PageError::Link(LinkError::Invalid) => StatusCode::NOT_FOUND,
            PageError::Link(LinkError::Expired | LinkError::Revoked) => StatusCode::GONE,
            PageError::Link(LinkError::WrongPurpose) | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::BadForm => StatusCode::BAD_REQUEST,
            PageError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            PageError::Refused(_) => StatusCode::CONFLICT,
            PageError::Form(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Rules and conflicts, said to a hospital clerk: chosen by the refusal's stable code (the
/// problem document's `guard`), never by its English text.
pub fn refusal_ja(code: &str) -> &'static str {
    match code {
        "memorandum_not_executed" => "この手続きは、秘密保持に関する覚書の締結後に行っていただけます。",
        "side_state" => "現在、ご支援は一時停止またはご辞退の状態です。再開をご希望の場合は担当者までご連絡ください。",
        "completed" => "ご支援はすでに完了しております。",
        "not_consented" => "ご参加のご確認の後にお手続きいただけます。",
        "no_hearing" => "現在、確定しているヒアリングはございません。",
        "slot_taken" | "hearing_scheduled" => "選択された日時は、直前に予約されました。お手数ですが、別の日時をお選びください。",
        "slot_withdrawn" => "選択された日時は、現在お選びいただけません。別の日時をお選びください。",
        "slot_past" => "選択された日時は、すでに過ぎております。別の日時をお選びください。",
        "same_slot" => "選択された日時は、現在のご予約と同じです。別の日時をお選びください。",
        "questionnaire_closed" => "ご回答はすでに提出済みです。担当者から確認のご連絡があるまでお待ちください。",
        _ => "現在の状況では、この操作を受け付けることができません。ページを開き直してご確認ください。",
    }
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Refused { code, .. } => PageError::Refused(refusal_ja(&code).into()),
            AppError::Conflict { code, .. } => PageError::Refused(refusal_ja(code).into()),
            AppError::NotFound(_) => PageError::Refused(refusal_ja("").into()),
            AppError::PayloadTooLarge(_) => PageError::TooLarge,
            AppError::BadRequest(_) | AppError::Validation(_) => PageError::BadForm,
            other => PageError::Internal(other.problem().detail),
        }
    }
}

impl From<diesel::result::Error> for PageError {
    fn from(e: diesel::result::Error) -> Self {
        PageError::Internal(e.to_string())
    }
}

/// Whom a hospital contacts about its engagement.
#[derive(serde::Serialize, Clone)]
pub struct Helpdesk {
    pub organization: String,
    pub email: Option<String>,
}

pub fn helpdesk(conn: &mut DbConnection, e: &EngagementRow) -> Option<Helpdesk> {
    let org = db::orgs::get(conn, e.organization_id.as_deref()?).ok()??;
    Some(Helpdesk {
        organization: org.name,
        email: org.reply_to,
    })
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("templates/base.html")),
        ("notice.html", include_str!("templates/notice.html")),
        ("landing.html", include_str!("templates/landing.html")),
        (
            "participation.html",
            include_str!("templates/participation.html"),
        ),
        ("memorandum.html", include_str!("templates/memorandum.html")),
        ("diagram.html", include_str!("templates/diagram.html")),
        (
            "questionnaire.html",
            include_str!("templates/questionnaire.html"),
        ),
        ("hearing.html", include_str!("templates/hearing.html")),
        ("done.html", include_str!("templates/done.html")),
        ("error.html", include_str!("templates/error.html")),
    ] {
        // Built-in templates; a broken one is a programming error caught by the tests.
        let _ = env.add_template(name, src);
    }
    env
}

fn render_template(name: &str, data: Value) -> Result<String, PageError> {
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
        .render_str(include_str!("templates/memorandum.txt"), json!({"hospital_name": o.hospital.name, "organization": organization, "version": version}))
        .map_err(|e| PageError::Internal(e.to_string()))
}

/// The friendly error page: what happened in plain words, and whom to contact.
pub fn error(err: &PageError, help: Option<&Helpdesk>, _base: &str) -> String {
    let (title, message, advice) = match err {
        PageError::Link(LinkError::Expired) => ("リンクの有効期限が切れています", "このリンクは有効期限が過ぎたため、ご利用いただけません。", "貴院側で何か問題があったわけではありません。"),
        PageError::Link(LinkError::Revoked) => ("このリンクは現在ご利用いただけません", "このリンクは、新しいご案内の送付などに伴い無効になりました。", "最新のメールのリンクをご利用ください。"),
        PageError::Link(LinkError::WrongPurpose) => ("このページは開けません", "このリンクでは、このページを開くことはできません。", "メールに記載の各リンクから、それぞれのページをお開きください。"),
        PageError::Link(LinkError::Invalid) => ("リンクを確認できませんでした", "リンクが正しく読み取れませんでした。メールのリンクの一部が欠けている可能性があります。", "メールのリンクをもう一度お試しいただくか、リンク全体をコピーしてお使いください。"),
        PageError::Csrf | PageError::BadForm => ("送信内容を確認できませんでした", "フォームの送信内容を確認できませんでした。", "お手数ですが、メールのリンクからページを開き直して、もう一度お試しください。"),
        PageError::TooLarge => ("ファイルが大きすぎます", "お送りいただいたファイルが、受付できる大きさを超えていました。", "ファイルを分けるか、小さくしてからお送りください。"),
        PageError::Refused(_) | PageError::Form(_) => ("この操作は受け付けられませんでした", "現在の状況では、この操作を受け付けることができませんでした。", "ページを開き直して、現在の状況をご確認ください。"),
        PageError::Internal(_) => ("ただいま処理できませんでした", "一時的な不具合により、処理を完了できませんでした。", "時間をおいて、もう一度お試しください。"),
    };
    let message = match err {
        PageError::Refused(m) => m.as_str(),
        _ => message,
    };
    render_template(
        "error.html",
        json!({"title": title, "message": message, "advice": advice, "helpdesk": help}),
    )
    .unwrap_or_else(|_| {
        format!("<!DOCTYPE html><html lang=\"ja\"><meta charset=\"utf-8\"><p>{message}</p></html>")
    })
}

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

pub fn questionnaire_template(
    conn: &mut DbConnection,
    engagement_id: &str,
) -> Result<(String, Template), PageError> {
    let row = match db::intake::response(conn, engagement_id)? {
        Some(r) => db::intake::template_by_id(conn, &r.template_id)?,
        None => db::intake::latest_template(conn, &q::default_template().key)?,
    }
    .ok_or_else(|| PageError::Internal("questionnaire template missing".into()))?;
    let t = serde_json::from_str(&row.body).map_err(|e| PageError::Internal(e.to_string()))?;
    Ok((row.id, t))
}

/// The issues a save or submit would meet (Japanese messages for the page).
pub fn issues_from(t: &Template, answers: &Answers, submit: bool) -> Vec<Issue> {
    let mode = if submit {
        q::Mode::Submit
    } else {
        q::Mode::Draft
    };
    q::validate(t, answers, mode, crate::domain::today_in_japan())
}

/// The form's field names: `q.<id>` for a single value (a choice, text, number or date; several
/// `q.<id>` for multiple choice), `q.<id>.value|checked_on|target_date` for yes/no, and
/// `q.<id>.<row>.<column>` for rows. Blank fields are left out.
pub fn parse_questionnaire_form(
    t: &Template,
    fields: &[(String, String)],
) -> (Answers, Vec<Issue>) {
    let mut answers = Answers::new();
    let mut issues = Vec::new();
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let date = |v: &str, id: &str, issues: &mut Vec<Issue>| match chrono::NaiveDate::parse_from_str(
        v, "%Y-%m-%d",
    ) {
        Ok(d) => Some(d),
        Err(_) => {
            issues.push(Issue {
                question_id: id.into(),
                message_ja: "日付は 2025-06-01 の形でご記入ください".into(),
                message_en: "not a date".into(),
            });
            None
        }
    };
    for question in t.questions() {
        let id = &question.id;
        let base = format!("q.{id}");
        match &question.kind {
            QuestionKind::YesNo => {
                let value = get(&format!("{base}.value"));
                let checked =
                    get(&format!("{base}.checked_on")).and_then(|v| date(v, id, &mut issues));
                let target =
                    get(&format!("{base}.target_date")).and_then(|v| date(v, id, &mut issues));
                if let Some(v) = value {
                    answers.insert(
                        id.clone(),
                        Answer::YesNo(YesNoAnswer {
                            value: v == "yes",
                            checked_on: checked,
                            target_date: target,
                        }),
                    );
                }
            }
            QuestionKind::SingleChoice { .. } => {
                if let Some(v) = get(&base) {
                    answers.insert(id.clone(), Answer::Choice(v.to_owned()));
                }
            }
            QuestionKind::MultipleChoice { .. } => {
                let picked: Vec<String> = fields
                    .iter()
                    .filter(|(k, v)| k == &base && !v.is_empty())
                    .map(|(_, v)| v.clone())
                    .collect();
                if !picked.is_empty() {
                    answers.insert(id.clone(), Answer::Choices(picked));
                }
            }
            QuestionKind::Text { .. } => {
                if let Some(v) = get(&base) {
                    answers.insert(id.clone(), Answer::Text(v.to_owned()));
                }
            }
            QuestionKind::Number { .. } => {
                if let Some(v) = get(&base) {
                    let plain = crate::domain::normalize::text(v).replace(',', "");
                    match plain.parse::<f64>() {
                        Ok(n) if n.is_finite() => {
                            answers.insert(id.clone(), Answer::Number(n));
                        }
                        _ => issues.push(Issue {
                            question_id: id.clone(),
                            message_ja: "数値でご記入ください".into(),
                            message_en: "not a number".into(),
                        }),
                    }
                }
            }
            QuestionKind::Date => {
                if let Some(d) = get(&base).and_then(|v| date(v, id, &mut issues)) {
                    answers.insert(id.clone(), Answer::Date(d));
                }
            }
            QuestionKind::Rows { columns } => {
                let prefix = format!("{base}.");
                let mut rows: BTreeMap<usize, BTreeMap<String, Value>> = BTreeMap::new();
                for (k, v) in fields {
                    let Some(rest) = k.strip_prefix(&prefix) else {
                        continue;
                    };
                    let Some((row, col)) = rest.split_once('.') else {
                        continue;
                    };
                    let (Ok(row), Some(c)) =
                        (row.parse::<usize>(), columns.iter().find(|c| c.id == col))
                    else {
                        continue;
                    };
                    let v = v.trim();
                    if v.is_empty() {
                        continue;
                    }
                    let value = match &c.kind {
                        ColumnKind::Number => match v.replace(',', "").parse::<f64>() {
                            Ok(n) => json!(n),
                            Err(_) => {
                                issues.push(Issue {
                                    question_id: format!("{id}[{row}].{col}"),
                                    message_ja: "数値でご記入ください".into(),
                                    message_en: "not a number".into(),
                                });
                                continue;
                            }
                        },
                        ColumnKind::YesNo => json!(v == "yes"),
                        _ => json!(v),
                    };
                    rows.entry(row).or_default().insert(col.to_owned(), value);
                }
                if !rows.is_empty() {
                    answers.insert(id.clone(), Answer::Rows(rows.into_values().collect()));
                }
            }
        }
    }
    (answers, issues)
}

fn questionnaire_view(t: &Template, answers: &Answers, issues: &[Issue]) -> Value {
    let errors_for = |id: &str| -> Vec<String> {
        issues
            .iter()
            .filter(|i| i.question_id == id || i.question_id.starts_with(&format!("{id}[")))
            .map(|i| i.message_ja.clone())
            .collect()
    };
    let sections: Vec<Value> = t
        .sections
        .iter()
        .map(|s| {
            let questions: Vec<Value> = s
                .questions
                .iter()
                .map(|question| {
                    let a = answers.get(&question.id);
                    let mut v = json!({"id": question.id, "text": question.text_ja, "help": question.help_ja, "required": question.required, "errors": errors_for(&question.id)});
                    match (&question.kind, a) {
                        (QuestionKind::YesNo, a) => {
                            v["kind"] = json!("yes_no");
                            if let Some(Answer::YesNo(y)) = a {
                                v["value"] = json!(if y.value { "yes" } else { "no" });
                                v["checked_on"] = json!(y.checked_on.map(|d| d.to_string()).unwrap_or_default());
                                v["target_date"] = json!(y.target_date.map(|d| d.to_string()).unwrap_or_default());
                            }
                        }
                        (QuestionKind::SingleChoice { options } | QuestionKind::MultipleChoice { options }, a) => {
                            v["kind"] = json!(if matches!(question.kind, QuestionKind::SingleChoice { .. }) { "single_choice" } else { "multiple_choice" });
                            let picked: Vec<String> = match a {
                                Some(Answer::Choice(c)) => vec![c.clone()],
                                Some(Answer::Choices(cs)) => cs.clone(),
                                _ => vec![],
                            };
                            v["options"] = json!(options.iter().map(|o| json!({"value": o.value, "label": o.label_ja, "checked": picked.contains(&o.value)})).collect::<Vec<_>>());
                        }
                        (QuestionKind::Text { .. }, a) => {
                            v["kind"] = json!("text");
                            if let Some(Answer::Text(t)) = a {
                                v["value"] = json!(t);
                            }
                        }
                        (QuestionKind::Number { unit, .. }, a) => {
                            v["kind"] = json!("number");
                            v["unit"] = json!(unit);
                            if let Some(Answer::Number(n)) = a {
                                v["value"] = json!(n.to_string());
                            }
                        }
                        (QuestionKind::Date, a) => {
                            v["kind"] = json!("date");
                            if let Some(Answer::Date(d)) = a {
                                v["value"] = json!(d.to_string());
                            }
                        }
                        (QuestionKind::Rows { columns }, a) => {
                            v["kind"] = json!("rows");
                            let existing = match a {
                                Some(Answer::Rows(r)) => r.clone(),
                                _ => vec![],
                            };
                            // The rows given so far, and two blank ones to add more.
                            let rows: Vec<Value> = (0..existing.len() + 2)
                                .map(|i| {
                                    let row = existing.get(i);
                                    let cells: Vec<Value> = columns
                                        .iter()
                                        .map(|c| {
                                            let val = row.and_then(|r| r.get(&c.id));
                                            let shown = match val {
                                                Some(Value::Bool(b)) => if *b { "yes".to_owned() } else { "no".to_owned() },
                                                Some(Value::String(s)) => s.clone(),
                                                Some(Value::Number(n)) => n.to_string(),
                                                _ => String::new(),
                                            };
                                            let (kind, options) = match &c.kind {
                                                ColumnKind::Choice { options } => ("choice", options.iter().map(|o| json!({"value": o.value, "label": o.label_ja})).collect::<Vec<_>>()),
                                                ColumnKind::YesNo => ("yes_no", vec![]),
                                                ColumnKind::Date => ("date", vec![]),
                                                _ => ("text", vec![]),
                                            };
                                            json!({"id": c.id, "label": c.label_ja, "kind": kind, "options": options, "value": shown})
                                        })
                                        .collect();
                                    json!({"index": i, "cells": cells})
                                })
                                .collect();
                            v["rows"] = json!(rows);
                        }
                    }
                    v
                })
                .collect();
            json!({"title": s.title_ja, "questions": questions})
        })
        .collect();
    json!(sections)
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
            let detail = crate::service::engagements::detail(conn, &state.config, e.clone())
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
            let open: Vec<Value> = crate::service::hearings::open_slots(conn, &e.id, db::utc(db::now()))
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

    #[test]
    fn every_template_parses() {
        let env = env();
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
