//! The pre-questionnaire (事前質問票): versioned templates, answers and their rules.
//!
//! Answers are a map from question id to one answer, tagged by its shape:
//!
//! ```json
//! {
//!   "1.1": {"yes_no": {"value": true, "checked_on": "2025-06-01"}},
//!   "2.7.server": {"yes_no": {"value": false, "checked_on": "2025-06-01", "target_date": "2026-01-31"}},
//!   "backup.frequency": {"choice": "daily"},
//!   "backup.media": {"choices": ["tape", "nas"]},
//!   "backup.copies": {"number": 2},
//!   "backup.last_restore_test": {"date": "2025-03-10"},
//!   "hearing.notes": {"text": "…"},
//!   "external_connections": {"rows": [{"type": "vpn", "counterpart": "…", "firmware": "7.2.1"}]}
//! }
//! ```

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::field::FieldError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub key: String,
    pub version: i32,
    pub title_ja: String,
    pub title_en: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub id: String,
    pub title_ja: String,
    pub title_en: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Unique within the template, e.g. `2.7.server`.
    pub id: String,
    pub text_ja: String,
    pub text_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help_ja: Option<String>,
    pub required: bool,
    pub kind: QuestionKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum QuestionKind {
    /// The checklist form: yes/no, the date checked, and for a "no" a target date within the
    /// fiscal year.
    YesNo,
    SingleChoice {
        options: Vec<Choice>,
    },
    MultipleChoice {
        options: Vec<Choice>,
    },
    Text {
        max_len: Option<u32>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
        unit: Option<String>,
    },
    Date,
    /// A list of rows, e.g. one per external connection.
    Rows {
        columns: Vec<Column>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub value: String,
    pub label_ja: String,
    pub label_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub id: String,
    pub label_ja: String,
    pub label_en: String,
    pub kind: ColumnKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnKind {
    Text,
    Number,
    Date,
    YesNo,
    Choice { options: Vec<Choice> },
}

/// The checklist answer: yes or no, the date checked, and for a "no" the target date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YesNoAnswer {
    pub value: bool,
    pub checked_on: Option<NaiveDate>,
    #[serde(default)]
    pub target_date: Option<NaiveDate>,
}

/// One answer: an object with one key naming its shape, which must fit the question's kind
/// (the OpenAPI document describes it as [`AnswerSchema`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    YesNo(YesNoAnswer),
    Choice(String),
    Choices(Vec<String>),
    Text(String),
    Number(f64),
    Date(NaiveDate),
    /// Each row maps column ids to values (string, number, boolean, or a date as `YYYY-MM-DD`).
    Rows(Vec<BTreeMap<String, Value>>),
}

/// The shapes of [`Answer`] as the OpenAPI document names them, one schema per kind of
/// question, so that generated clients get a type for each.
pub mod schema {
    #![allow(dead_code)]

    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use serde::Serialize;
    use utoipa::ToSchema;

    use super::YesNoAnswer;

    /// One answer: an object with one key naming its shape, which must fit the question's kind.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    #[schema(as = Answer)]
    pub enum AnswerSchema {
        YesNo(AnswerYesNo),
        Choice(AnswerChoice),
        Choices(AnswerChoices),
        Text(AnswerText),
        Number(AnswerNumber),
        Date(AnswerDate),
        Rows(AnswerRows),
    }

    /// The answer to a `yes_no` question.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerYesNo {
        pub yes_no: YesNoAnswer,
    }

    /// The answer to a `single_choice` question: the option's value.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerChoice {
        pub choice: String,
    }

    /// The answer to a `multiple_choice` question: option values, each once.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerChoices {
        pub choices: Vec<String>,
    }

    /// The answer to a `text` question.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerText {
        pub text: String,
    }

    /// The answer to a `number` question.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerNumber {
        pub number: f64,
    }

    /// The answer to a `date` question.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerDate {
        pub date: NaiveDate,
    }

    /// The answer to a `rows` question: each row maps column ids to cells.
    #[derive(Serialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerRows {
        pub rows: Vec<BTreeMap<String, RowCell>>,
    }

    /// A cell of a `rows` answer: text (also a date as `YYYY-MM-DD` or a choice's value), a
    /// number, yes/no, or null for an empty cell.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    pub enum RowCell {
        Text(String),
        Number(f64),
        YesNo(bool),
        Empty,
    }
}

pub type Answers = BTreeMap<String, Answer>;

/// Where the hospital's answers stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    Draft,
    Submitted,
    /// The coordinator asked for changes: the hospital may edit again.
    ClarificationRequested,
    Accepted,
}

impl ResponseStatus {
    pub const ALL: [ResponseStatus; 4] = [
        Self::Draft,
        Self::Submitted,
        Self::ClarificationRequested,
        Self::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::ClarificationRequested => "clarification_requested",
            Self::Accepted => "accepted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Submitted or accepted answers are frozen until a coordinator asks for clarification.
    pub fn frozen(self) -> bool {
        matches!(self, Self::Submitted | Self::Accepted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Check only what is there.
    Draft,
    /// Also require every required question.
    Submit,
}

/// One problem with the answers: Japanese for the hospital's page, English for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub question_id: String,
    pub message_ja: String,
    pub message_en: String,
}

impl From<&Issue> for FieldError {
    fn from(i: &Issue) -> Self {
        FieldError::new(format!("answers.{}", i.question_id), i.message_en.clone())
    }
}

fn issue(id: impl Into<String>, ja: impl Into<String>, en: impl Into<String>) -> Issue {
    Issue {
        question_id: id.into(),
        message_ja: ja.into(),
        message_en: en.into(),
    }
}

/// The end of the Japanese fiscal year (31 March) that `date` falls in.
pub fn fiscal_year_end(date: NaiveDate) -> NaiveDate {
    let year = if date.month() >= 4 {
        date.year() + 1
    } else {
        date.year()
    };
    NaiveDate::from_ymd_opt(year, 3, 31).unwrap_or(date)
}

impl Template {
    pub fn questions(&self) -> impl Iterator<Item = &Question> {
        self.sections.iter().flat_map(|s| s.questions.iter())
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions().find(|q| q.id == id)
    }

    /// Ids unique, choice lists non-empty, a key and a positive version.
    pub fn check(&self) -> Result<(), String> {
        if self.key.trim().is_empty() || self.version < 1 {
            return Err("a template needs a key and a version of 1 or more".into());
        }
        let mut seen = HashSet::new();
        for q in self.questions() {
            if q.id.trim().is_empty() || !seen.insert(q.id.as_str()) {
                return Err(format!("question id `{}` is empty or used twice", q.id));
            }
            let empty_choice = match &q.kind {
                QuestionKind::SingleChoice { options }
                | QuestionKind::MultipleChoice { options } => options.is_empty(),
                QuestionKind::Rows { columns } => columns.is_empty()
                    || columns.iter().any(
                        |c| matches!(&c.kind, ColumnKind::Choice { options } if options.is_empty()),
                    ),
                _ => false,
            };
            if empty_choice {
                return Err(format!(
                    "question `{}` has an empty list of options or columns",
                    q.id
                ));
            }
        }
        Ok(())
    }
}

fn is_answered(a: &Answer) -> bool {
    match a {
        Answer::Text(t) => !t.trim().is_empty(),
        Answer::Choices(c) => !c.is_empty(),
        // An empty list is an answer too ("no external connections").
        _ => true,
    }
}

fn has_option(options: &[Choice], v: &str) -> bool {
    options.iter().any(|o| o.value == v)
}

fn check_yes_no(id: &str, a: &YesNoAnswer, mode: Mode, today: NaiveDate, out: &mut Vec<Issue>) {
    if let (Some(checked), Some(target)) = (a.checked_on, a.target_date) {
        if target < checked {
            out.push(issue(
                id,
                "目標日は確認日より後の日付にしてください",
                "the target date must not be before the date checked",
            ));
        }
    }
    if !a.value && a.target_date.is_none() {
        out.push(issue(
            id,
            "「いいえ」の場合は対応目標日をご記入ください",
            "a \"no\" needs a target date",
        ));
    }
    if mode == Mode::Submit {
        if a.checked_on.is_none() {
            out.push(issue(
                id,
                "確認日をご記入ください",
                "the date checked is required",
            ));
        }
        if let Some(target) = a.target_date.filter(|_| !a.value) {
            let end = fiscal_year_end(a.checked_on.unwrap_or(today));
            if target > end {
                out.push(issue(
                    id,
                    format!(
                        "目標日は年度内（{}まで）の日付にしてください",
                        end.format("%Y年%-m月%-d日")
                    ),
                    format!("the target date must fall within the fiscal year (by {end})"),
                ));
            }
        }
    }
}

fn check_cell(id: &str, kind: &ColumnKind, v: &Value, out: &mut Vec<Issue>) {
    let ok = match kind {
        ColumnKind::Text => v.is_string(),
        ColumnKind::Number => v.as_f64().is_some_and(f64::is_finite),
        ColumnKind::Date => v
            .as_str()
            .is_some_and(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()),
        ColumnKind::YesNo => v.is_boolean(),
        ColumnKind::Choice { options } => v.as_str().is_some_and(|s| has_option(options, s)),
    };
    if !ok && !v.is_null() {
        let (ja, en) = match kind {
            ColumnKind::Text => ("文字で入力してください", "must be text"),
            ColumnKind::Number => ("数値で入力してください", "must be a number"),
            ColumnKind::Date => (
                "日付（例 2025-06-01）で入力してください",
                "must be a date YYYY-MM-DD",
            ),
            ColumnKind::YesNo => ("はい／いいえで選択してください", "must be true or false"),
            ColumnKind::Choice { .. } => ("選択肢から選んでください", "must be one of the options"),
        };
        out.push(issue(id, ja, en));
    }
}

fn check_answer(q: &Question, a: &Answer, mode: Mode, today: NaiveDate, out: &mut Vec<Issue>) {
    let id = q.id.as_str();
    match (&q.kind, a) {
        (QuestionKind::YesNo, Answer::YesNo(y)) => check_yes_no(id, y, mode, today, out),
        (QuestionKind::SingleChoice { options }, Answer::Choice(c)) => {
            if !has_option(options, c) {
                out.push(issue(
                    id,
                    "選択肢から選んでください",
                    "not one of the options",
                ));
            }
        }
        (QuestionKind::MultipleChoice { options }, Answer::Choices(cs)) => {
            let unique: HashSet<&String> = cs.iter().collect();
            if unique.len() != cs.len() || cs.iter().any(|c| !has_option(options, c)) {
                out.push(issue(
                    id,
                    "選択肢から選んでください（重複なし）",
                    "each choice must be one of the options, once",
                ));
            }
        }
        (QuestionKind::Text { max_len }, Answer::Text(t)) => {
            if let Some(max) = max_len {
                if t.chars().count() > *max as usize {
                    out.push(issue(
                        id,
                        format!("{max}文字以内でご記入ください"),
                        format!("at most {max} characters"),
                    ));
                }
            }
        }
        (QuestionKind::Number { min, max, .. }, Answer::Number(n)) => {
            let low = min.is_some_and(|m| *n < m);
            let high = max.is_some_and(|m| *n > m);
            if !n.is_finite() || low || high {
                out.push(issue(
                    id,
                    "範囲内の数値をご記入ください",
                    format!(
                        "must be a number{}{}",
                        min.map(|m| format!(" ≥ {m}")).unwrap_or_default(),
                        max.map(|m| format!(" ≤ {m}")).unwrap_or_default()
                    ),
                ));
            }
        }
        (QuestionKind::Date, Answer::Date(_)) => {}
        (QuestionKind::Rows { columns }, Answer::Rows(rows)) => {
            for (i, row) in rows.iter().enumerate() {
                for (col, v) in row {
                    let cell = format!("{id}[{i}].{col}");
                    match columns.iter().find(|c| &c.id == col) {
                        Some(c) => check_cell(&cell, &c.kind, v, out),
                        None => out.push(issue(cell, "この項目はありません", "no such column")),
                    }
                }
            }
        }
        _ => out.push(issue(
            id,
            "回答の形式が質問と合いません",
            "the answer does not fit the kind of question",
        )),
    }
}

/// Every problem with `answers`; empty when they may be saved (Draft) or submitted (Submit).
pub fn validate(
    template: &Template,
    answers: &Answers,
    mode: Mode,
    today: NaiveDate,
) -> Vec<Issue> {
    let mut out = Vec::new();
    for (id, a) in answers {
        match template.question(id) {
            Some(q) => check_answer(q, a, mode, today, &mut out),
            None => out.push(issue(
                id.clone(),
                "この質問はありません",
                "no such question in this template",
            )),
        }
    }
    if mode == Mode::Submit {
        for q in template.questions().filter(|q| q.required) {
            if !answers.get(&q.id).is_some_and(is_answered) {
                out.push(issue(
                    q.id.clone(),
                    "必須の質問です。ご回答ください",
                    "this question needs an answer",
                ));
            }
        }
    }
    out
}

/// (required questions answered, required questions) for a progress display.
pub fn completeness(template: &Template, answers: &Answers) -> (usize, usize) {
    let required: Vec<&Question> = template.questions().filter(|q| q.required).collect();
    let answered = required
        .iter()
        .filter(|q| answers.get(&q.id).is_some_and(is_answered))
        .count();
    (answered, required.len())
}

// ---- the shipped template ----

fn choice(value: &str, ja: &str, en: &str) -> Choice {
    Choice {
        value: value.into(),
        label_ja: ja.into(),
        label_en: en.into(),
    }
}

fn q(id: &str, ja: &str, en: &str, required: bool, kind: QuestionKind) -> Question {
    Question {
        id: id.into(),
        text_ja: ja.into(),
        text_en: en.into(),
        help_ja: None,
        required,
        kind,
    }
}

fn yes_no(id: &str, ja: &str, en: &str) -> Question {
    q(id, ja, en, true, QuestionKind::YesNo)
}

fn col(id: &str, ja: &str, en: &str, kind: ColumnKind) -> Column {
    Column {
        id: id.into(),
        label_ja: ja.into(),
        label_en: en.into(),
        kind,
    }
}

/// Per target (server, client PC, network device) where the checklist asks per target.
fn per_target(id: &str, ja: &str, en: &str, targets: &[&str]) -> Vec<Question> {
    targets
        .iter()
        .map(|t| {
            let (tja, ten) = match *t {
                "server" => ("サーバ", "servers"),
                "client" => ("端末PC", "client PCs"),
                _ => ("ネットワーク機器", "network devices"),
            };
            yes_no(
                &format!("{id}.{t}"),
                &format!("{ja}（{tja}）"),
                &format!("{en} ({ten})"),
            )
        })
        .collect()
}

fn section(id: &str, ja: &str, en: &str, questions: Vec<Question>) -> Section {
    Section {
        id: id.into(),
        title_ja: ja.into(),
        title_en: en.into(),
        questions,
    }
}

/// Version 1 of the pre-questionnaire: the FY2024 checklist items (answered yes/no with the date
/// checked) and what the hearing needs besides.
pub fn default_template() -> Template {
    let all = ["server", "client", "network"];
    let sc = ["server", "client"];
    let mut management = Vec::new();
    management.extend(per_target(
        "2.1",
        "サーバ・端末PC・ネットワーク機器の台帳を作成し、管理していますか",
        "Is an inventory kept",
        &all,
    ));
    management.push(yes_no(
        "2.2",
        "リモートメンテナンスで外部から接続される機器を、各事業者と確認していますか",
        "Have you confirmed with each vendor which devices remote maintenance reaches?",
    ));
    management.push(yes_no("2.3", "各事業者から製造業者／サービス事業者による医療情報セキュリティ開示書（MDS/SDS）の提出を受けていますか", "Has each vendor provided its security disclosure (MDS/SDS)?"));
    management.extend(per_target(
        "2.4",
        "利用者の職種・担当業務に応じたアクセス権限を設定していますか",
        "Are access rights set by job role",
        &sc,
    ));
    management.extend(per_target(
        "2.5",
        "退職者や使用しなくなったアカウントを削除していますか",
        "Are accounts no longer needed deleted",
        &sc,
    ));
    management.extend(per_target(
        "2.6",
        "アクセスログを保存し、定期的に確認していますか",
        "Are access logs kept and reviewed",
        &["server"],
    ));
    management.extend(per_target(
        "2.7",
        "セキュリティパッチ（最新ファームウェアを含む）を適用していますか",
        "Are security patches and firmware updates applied",
        &all,
    ));
    management.extend(per_target(
        "2.8",
        "接続元を制限していますか（無線LANの接続許可端末の制限など）",
        "Are connection sources restricted",
        &["network"],
    ));
    management.extend(per_target(
        "2.9",
        "不要なサービスやバックグラウンドで動作するソフトウェアを停止していますか",
        "Are unneeded services and background software stopped",
        &sc,
    ));

    let connection_types = vec![
        choice(
            "remote_maintenance",
            "リモート保守回線",
            "Remote maintenance line",
        ),
        choice("vpn", "VPN装置", "VPN device"),
        choice(
            "regional_network",
            "地域医療連携ネットワーク",
            "Regional medical network",
        ),
        choice("cloud", "クラウドサービス", "Cloud service"),
        choice(
            "online_eligibility",
            "オンライン資格確認",
            "Online eligibility verification",
        ),
        choice("internet", "インターネット接続", "Internet access"),
        choice("other", "その他", "Other"),
    ];
    let media = vec![
        choice("tape", "テープ（LTO等）", "Tape (LTO etc.)"),
        choice("rdx", "RDX", "RDX"),
        choice("optical", "光ディスク", "Optical disc"),
        choice("nas", "NAS", "NAS"),
        choice("external_hdd", "外付けHDD", "External HDD"),
        choice("cloud", "クラウド", "Cloud"),
        choice("other", "その他", "Other"),
    ];
    Template {
        key: "mhlw-prequestionnaire".into(),
        version: 1,
        title_ja: "医療機関におけるサイバーセキュリティ確保事業 事前質問票".into(),
        title_en: "Hospital cybersecurity programme — pre-questionnaire".into(),
        sections: vec![
            section("governance", "1. 医療情報システムの管理体制", "1. Governance", vec![
                yes_no("1.1", "医療情報システムの安全管理に関する責任者を設置していますか", "Is a person responsible for the safe management of medical information systems appointed?"),
            ]),
            section("management", "2. 医療情報システムの管理・運用", "2. Management and operation", management),
            section("incident", "3. インシデント発生に備えた対応", "3. Incident preparedness", vec![
                yes_no("3.1", "インシデント発生時の連絡体制図（院内・事業者・行政機関・警察等）を整備していますか", "Is there an escalation chart covering staff and outside bodies?"),
                yes_no("3.2", "診療継続に必要な情報を特定し、複数世代・複数方式でバックアップを取得し、復旧手順を確認していますか", "Are the data needed to keep treating patients identified, backed up in several generations and ways, and has a restore been tried?"),
                yes_no("3.3", "サイバー攻撃を想定した事業継続計画（BCP）を策定していますか", "Is there a business continuity plan that assumes a cyber-attack?"),
            ]),
            section("connections", "4. 外部ネットワークとの接続", "4. External network connections", vec![
                Question {
                    help_ja: Some("保守回線・VPN・地域連携・クラウド・オンライン資格確認・インターネットなど、外部と接続している箇所を1行ずつご記入ください。".into()),
                    ..q("external_connections", "外部との接続箇所", "Every external connection", true, QuestionKind::Rows {
                        columns: vec![
                            col("type", "接続の種類", "Type", ColumnKind::Choice { options: connection_types }),
                            col("counterpart", "接続先・事業者", "Counterpart or vendor", ColumnKind::Text),
                            col("device", "接続機器（機種）", "Device (model)", ColumnKind::Text),
                            col("firmware", "ファームウェア版数", "Firmware version", ColumnKind::Text),
                            col("managed_by", "管理者（院内／事業者）", "Managed by", ColumnKind::Text),
                            col("always_on", "常時接続", "Always connected", ColumnKind::YesNo),
                            col("note", "備考", "Notes", ColumnKind::Text),
                        ],
                    })
                },
            ]),
            section("backup", "5. 現在のバックアップ体制", "5. Current backup set-up", vec![
                q("backup.copies", "バックアップの保管数（コピー数）", "Number of copies", true, QuestionKind::Number { min: Some(0.0), max: Some(100.0), unit: Some("個".into()) }),
                q("backup.media", "バックアップ媒体", "Media", true, QuestionKind::MultipleChoice { options: media }),
                q("backup.offline", "ネットワークから切り離したバックアップがありますか", "Is a copy kept off the network?", true, QuestionKind::SingleChoice {
                    options: vec![choice("yes", "はい", "Yes"), choice("no", "いいえ", "No"), choice("unknown", "不明", "Not known")],
                }),
                q("backup.generations", "保管している世代数", "Generations kept", true, QuestionKind::Number { min: Some(0.0), max: Some(1000.0), unit: Some("世代".into()) }),
                q("backup.frequency", "取得頻度", "Frequency", true, QuestionKind::SingleChoice {
                    options: vec![
                        choice("daily", "毎日", "Daily"),
                        choice("weekly", "毎週", "Weekly"),
                        choice("monthly", "毎月", "Monthly"),
                        choice("other", "その他", "Other"),
                    ],
                }),
                q("backup.last_restore_test", "直近に復旧（リストア）を試した日", "Last restore test", false, QuestionKind::Date),
                q("backup.capacity_tb", "バックアップ対象のデータ容量", "Capacity to back up", false, QuestionKind::Number { min: Some(0.0), max: Some(10000.0), unit: Some("TB".into()) }),
            ]),
            section("vendors", "6. システム事業者", "6. System vendors", vec![
                q("system_vendors", "契約している主なシステム事業者", "Main system vendors", true, QuestionKind::Rows {
                    columns: vec![
                        col("system", "システム名", "System", ColumnKind::Text),
                        col("vendor", "事業者名", "Vendor", ColumnKind::Text),
                        col("contact", "担当者", "Contact", ColumnKind::Text),
                        col("email", "メールアドレス", "Email", ColumnKind::Text),
                        col("attends_hearing", "ヒアリングへの同席", "Attends the hearing", ColumnKind::YesNo),
                    ],
                }),
            ]),
            section("hearing", "7. ヒアリングについて", "7. The hearing", vec![
                q("hearing.contact_name", "ヒアリングのご担当者名", "Contact for the hearing", true, QuestionKind::Text { max_len: Some(100) }),
                q("hearing.contact_email", "ご担当者のメールアドレス", "Their email", false, QuestionKind::Text { max_len: Some(254) }),
                q("hearing.notes", "ヒアリングに向けたご要望・ご質問", "Requests or questions for the hearing", false, QuestionKind::Text { max_len: Some(2000) }),
            ]),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn yn(value: bool, checked: &str, target: Option<&str>) -> Answer {
        Answer::YesNo(YesNoAnswer {
            value,
            checked_on: Some(d(checked)),
            target_date: target.map(d),
        })
    }

    /// Answers to every required question of the default template.
    fn complete() -> Answers {
        let t = default_template();
        t.questions()
            .filter(|q| q.required)
            .map(|q| {
                let a = match &q.kind {
                    QuestionKind::YesNo => yn(true, "2025-06-01", None),
                    QuestionKind::SingleChoice { options } => {
                        Answer::Choice(options[0].value.clone())
                    }
                    QuestionKind::MultipleChoice { options } => {
                        Answer::Choices(vec![options[0].value.clone()])
                    }
                    QuestionKind::Text { .. } => Answer::Text("山田".into()),
                    QuestionKind::Number { .. } => Answer::Number(2.0),
                    QuestionKind::Date => Answer::Date(d("2025-05-01")),
                    QuestionKind::Rows { .. } => Answer::Rows(vec![]),
                };
                (q.id.clone(), a)
            })
            .collect()
    }

    #[test]
    fn the_default_template_is_sound_and_round_trips() {
        let t = default_template();
        t.check().unwrap();
        assert!(t.questions().count() > 25);
        let json = serde_json::to_string(&t).unwrap();
        let back: Template = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        assert!(t.question("2.7.network").is_some());
        assert!(t.question("external_connections").is_some());
    }

    #[test]
    fn drafts_may_be_partial_submissions_may_not() {
        let t = default_template();
        let today = d("2025-06-10");
        let mut a = Answers::new();
        a.insert("1.1".into(), yn(true, "2025-06-01", None));
        assert!(validate(&t, &a, Mode::Draft, today).is_empty());
        let issues = validate(&t, &a, Mode::Submit, today);
        assert!(issues.iter().any(|i| i.question_id == "2.1.server"));
        assert!(validate(&t, &complete(), Mode::Submit, today).is_empty());
        assert_eq!(completeness(&t, &a).0, 1);
        let (done, total) = completeness(&t, &complete());
        assert_eq!(done, total);
    }

    #[test]
    fn a_no_needs_a_target_date_within_the_fiscal_year() {
        let t = default_template();
        let today = d("2025-06-10");
        let mut a = complete();
        a.insert("2.7.server".into(), yn(false, "2025-06-01", None));
        let issues = validate(&t, &a, Mode::Draft, today);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].message_ja.contains("目標日"));
        a.insert(
            "2.7.server".into(),
            yn(false, "2025-06-01", Some("2026-04-01")),
        );
        let issues = validate(&t, &a, Mode::Submit, today);
        assert_eq!(issues.len(), 1, "{issues:?}");
        assert!(issues[0].message_en.contains("2026-03-31"));
        a.insert(
            "2.7.server".into(),
            yn(false, "2025-06-01", Some("2025-05-01")),
        );
        assert!(!validate(&t, &a, Mode::Draft, today).is_empty());
        a.insert(
            "2.7.server".into(),
            yn(false, "2025-06-01", Some("2026-03-31")),
        );
        assert!(validate(&t, &a, Mode::Submit, today).is_empty());
    }

    #[test]
    fn wrong_shapes_unknown_ids_ranges_and_rows_are_named() {
        let t = default_template();
        let today = d("2025-06-10");
        let mut a = Answers::new();
        a.insert("1.1".into(), Answer::Text("はい".into()));
        a.insert("nope".into(), Answer::Text("x".into()));
        a.insert("backup.copies".into(), Answer::Number(-1.0));
        a.insert("backup.frequency".into(), Answer::Choice("hourly".into()));
        let mut bad_row = BTreeMap::new();
        bad_row.insert("type".to_owned(), Value::from("vpn"));
        bad_row.insert("always_on".to_owned(), Value::from("sometimes"));
        let mut good_row = BTreeMap::new();
        good_row.insert("type".to_owned(), Value::from("internet"));
        a.insert(
            "external_connections".into(),
            Answer::Rows(vec![good_row, bad_row]),
        );
        let ids: Vec<String> = validate(&t, &a, Mode::Draft, today)
            .into_iter()
            .map(|i| i.question_id)
            .collect();
        for expected in [
            "1.1",
            "nope",
            "backup.copies",
            "backup.frequency",
            "external_connections[1].always_on",
        ] {
            assert!(ids.iter().any(|i| i == expected), "{expected} in {ids:?}");
        }
        assert_eq!(ids.len(), 5);
    }

    #[test]
    fn answers_have_a_plain_json_shape() {
        let a: Answers = serde_json::from_str(
            r#"{"1.1": {"yes_no": {"value": false, "checked_on": "2025-06-01", "target_date": "2025-12-01"}},
                "backup.media": {"choices": ["tape"]}, "backup.copies": {"number": 2}}"#,
        )
        .unwrap();
        assert_eq!(a.len(), 3);
        assert!(serde_json::from_str::<Answers>(r#"{"1.1": {"maybe": true}}"#).is_err());
    }

    #[test]
    fn fiscal_years_end_in_march() {
        assert_eq!(fiscal_year_end(d("2025-04-01")), d("2026-03-31"));
        assert_eq!(fiscal_year_end(d("2026-03-31")), d("2026-03-31"));
        assert_eq!(fiscal_year_end(d("2026-01-15")), d("2026-03-31"));
    }
}
