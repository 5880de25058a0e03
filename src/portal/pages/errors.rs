//! What can go wrong on a page, said to a hospital clerk: the notices beside a form, the page
//! errors, the refusal texts chosen by code, whom to contact, and the error page.

use super::*;

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

impl From<DbError> for PageError {
    fn from(e: DbError) -> Self {
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
    let org = db::orgs::get(conn, e.organization_id.as_ref()?).ok()??;
    Some(Helpdesk {
        organization: org.name,
        email: org.reply_to,
    })
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
