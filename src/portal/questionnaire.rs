//! The questionnaire on the hospital's page: its template, the form's fields parsed into
//! answers, the issues said in Japanese, and the view the template renders.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::pages::PageError;
use crate::db::{self, DbConnection};
use crate::domain::ids::EngagementId;
use crate::domain::questionnaire::{
    self as q, Answer, Answers, ColumnKind, Issue, QuestionKind, Template, YesNoAnswer,
};

pub fn questionnaire_template(
    conn: &mut DbConnection,
    engagement_id: &EngagementId,
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

pub fn questionnaire_view(t: &Template, answers: &Answers, issues: &[Issue]) -> Value {
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
