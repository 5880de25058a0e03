//! One mail as it goes on the wire, from what `compose` decided: headers, the text (and HTML)
//! parts, the calendar invite. Nothing here panics on a stored value: display names and the
//! subject are cleaned of control characters, addresses go through the mailer's parser, and an
//! address it refuses is an error for this mail.
//!
//! In UTF-8: `multipart/alternative` of text and HTML (plus the invite as `text/calendar`).
//! In ISO-2022-JP, the convention of RFC 1468 the whole way: the text part only, `7bit`
//! ISO-2022-JP, and every header with Japanese in it (Subject, and the display names of
//! From/To/Reply-To/Cc) as ISO-2022-JP encoded words. No HTML part: it would be a second
//! charset, and these contacts read plain text. The calendar invite, when there is one, stays
//! `text/calendar; charset=UTF-8` (iCalendar is UTF-8 by definition, RFC 5545 §3.1.4), as an
//! alternative and as an `invite.ics` attachment.

use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use super::charset::{self, Charset};
use super::ics::Method;
use crate::domain::validate::header_text;
use crate::error::{AppError, AppResult};

/// A name and an address for a header; `role` names it in an error (`contact`, `sender`, …).
pub struct Addr<'a> {
    pub role: &'a str,
    pub name: &'a str,
    pub email: &'a str,
}

pub struct Parts<'a> {
    pub from: Addr<'a>,
    pub to: Addr<'a>,
    pub reply_to: Option<Addr<'a>>,
    pub cc: Option<Addr<'a>>,
    pub message_id: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub invite: Option<(&'a str, Method)>,
    pub charset: Charset,
}

/// A mailbox for a header: the display name cleaned, the address parsed by lettre. An unusable
/// stored address is a clear error (409), never a panic.
fn mailbox(a: &Addr) -> AppResult<Mailbox> {
    let addr = a.email.parse().map_err(|_| {
        AppError::conflict(
            "unusable_address",
            format!(
                "the {} address {:?} cannot be used for mail; correct it and send again",
                a.role, a.email
            ),
        )
    })?;
    Ok(Mailbox::new(
        Some(header_text(a.name)).filter(|n| !n.is_empty()),
        addr,
    ))
}

/// The plain text part. ISO-2022-JP travels as `7bit`: the encoded bytes are 7-bit with short
/// lines, which lettre cannot tell from the escape sequences, so the body is handed over as is.
fn text_part(text: &str, charset: Charset) -> AppResult<SinglePart> {
    Ok(match charset {
        Charset::Iso2022Jp => {
            let ct = ContentType::parse("text/plain; charset=ISO-2022-JP")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let body = Body::dangerous_pre_encoded(
                charset::encode_body(text, charset),
                ContentTransferEncoding::SevenBit,
            );
            SinglePart::builder().header(ct).body(body)
        }
        Charset::Utf8 => SinglePart::plain(text.to_owned()),
    })
}

fn calendar_parts(ics: &str, method: Method) -> AppResult<(SinglePart, SinglePart)> {
    let method = match method {
        Method::Request => "REQUEST",
        Method::Cancel => "CANCEL",
    };
    let ct = ContentType::parse(&format!("text/calendar; charset=UTF-8; method={method}"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let inline = SinglePart::builder().header(ct).body(ics.to_owned());
    let attachment = Attachment::new("invite.ics".to_owned()).body(
        ics.to_owned(),
        ContentType::parse("application/ics").map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    Ok((inline, attachment))
}

/// The whole message, 7-bit clean, ready for the outbox.
pub fn build(p: &Parts) -> AppResult<String> {
    let cs = p.charset;
    let subject = header_text(p.subject);
    let from = mailbox(&p.from)?;
    let to = mailbox(&p.to)?;
    let reply_to = p.reply_to.as_ref().map(mailbox).transpose()?;
    let cc = p.cc.as_ref().map(mailbox).transpose()?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to.clone())
        .message_id(Some(p.message_id.to_owned()))
        .date_now()
        .subject(subject.clone());
    if let Some(r) = &reply_to {
        builder = builder.reply_to(r.clone());
    }
    if let Some(c) = &cc {
        builder = builder.cc(c.clone());
    }
    let text = text_part(p.text, cs)?;
    let alternative = match cs {
        Charset::Utf8 => Some(
            MultiPart::alternative()
                .singlepart(text.clone())
                .singlepart(SinglePart::html(p.html.to_owned())),
        ),
        Charset::Iso2022Jp => None,
    };
    let built = match (p.invite, alternative) {
        (Some((ics, method)), alternative) => {
            let (inline, attachment) = calendar_parts(ics, method)?;
            let alternative = alternative
                .unwrap_or_else(|| MultiPart::alternative().singlepart(text))
                .singlepart(inline);
            builder.multipart(
                MultiPart::mixed()
                    .multipart(alternative)
                    .singlepart(attachment),
            )
        }
        (None, Some(alternative)) => builder.multipart(alternative),
        (None, None) => builder.singlepart(text),
    };
    let mut message = built.map_err(|e| anyhow::anyhow!("cannot build mail: {e}"))?;
    if cs == Charset::Iso2022Jp {
        // lettre writes headers in UTF-8 encoded words; these go in the contact's charset.
        let headers = message.headers_mut();
        let mut set = |name: &'static str, raw: String, encoded: String| {
            headers.insert_raw(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str(name),
                raw,
                encoded,
            ));
        };
        set(
            "Subject",
            subject.clone(),
            charset::encode_word(&subject, cs),
        );
        set("From", from.to_string(), charset::address_header(&from, cs));
        set("To", to.to_string(), charset::address_header(&to, cs));
        if let Some(r) = &reply_to {
            set("Reply-To", r.to_string(), charset::address_header(r, cs));
        }
        if let Some(c) = &cc {
            set("Cc", c.to_string(), charset::address_header(c, cs));
        }
    }
    String::from_utf8(message.formatted())
        .map_err(|_| anyhow::anyhow!("a built message is not 7-bit clean").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(name: &'a str, charset: Charset, invite: Option<(&'a str, Method)>) -> Parts<'a> {
        Parts {
            from: Addr {
                role: "sender",
                name: "架空セキュリティ株式会社",
                email: "tracker@example.jp",
            },
            to: Addr {
                role: "contact",
                name,
                email: "yamada@hospital.example",
            },
            reply_to: Some(Addr {
                role: "reply-to",
                name: "佐藤 一郎",
                email: "sato@vendor.example",
            }),
            cc: None,
            message_id: "<1@example.jp>",
            subject: "【医療機関サイバーセキュリティ確保事業】ご案内",
            text: "山田 太郎 様\nいつもお世話になっております。\n",
            html: "<p>山田 太郎 様</p>",
            invite,
            charset,
        }
    }

    fn headers(raw: &str) -> &str {
        raw.split("\r\n\r\n").next().unwrap()
    }

    #[test]
    fn a_line_break_in_a_stored_name_is_cleaned_not_a_panic() {
        for cs in [Charset::Utf8, Charset::Iso2022Jp] {
            let raw = build(&parts("山田\r\n太郎\u{0}", cs, None)).unwrap();
            assert!(raw.is_ascii());
            for line in headers(&raw).split("\r\n") {
                assert!(
                    line.starts_with(' ') || line.contains(':'),
                    "no header injected: {line:?}"
                );
            }
        }
    }

    #[test]
    fn an_address_the_mailer_cannot_use_is_an_error() {
        let mut p = parts("山田 太郎", Charset::Utf8, None);
        p.to.email = "a,b@c.example";
        match build(&p) {
            Err(AppError::Conflict { code, reason }) => {
                assert_eq!(code, "unusable_address");
                assert!(reason.contains("contact"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn iso_2022_jp_mail_is_one_seven_bit_text_with_encoded_headers() {
        let raw = build(&parts("山田 太郎", Charset::Iso2022Jp, None)).unwrap();
        let h = headers(&raw);
        // lettre writes parameter values in lower case; charset names are case-insensitive.
        assert!(
            h.contains("Content-Type: text/plain; charset=iso-2022-jp"),
            "{h}"
        );
        assert!(h.contains("Content-Transfer-Encoding: 7bit"), "{h}");
        for name in ["Subject", "From", "To", "Reply-To"] {
            let line = h
                .split("\r\n")
                .find(|l| l.starts_with(&format!("{name}: ")))
                .unwrap();
            assert!(line.contains("=?ISO-2022-JP?B?"), "{line}");
        }
        assert!(!h.to_lowercase().contains("utf-8"), "{h}");
        assert!(!raw.contains("text/html"));
        // The body is the ISO-2022-JP bytes themselves: ESC $ B … ESC ( B.
        assert!(raw.contains("\u{1b}$B"));
    }

    #[test]
    fn iso_2022_jp_with_an_invite_keeps_the_calendar_in_utf8() {
        let ics = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n";
        let raw = build(&parts(
            "山田 太郎",
            Charset::Iso2022Jp,
            Some((ics, Method::Request)),
        ))
        .unwrap();
        assert!(raw.contains("multipart/mixed") && raw.contains("multipart/alternative"));
        assert!(raw
            .to_lowercase()
            .contains("text/calendar; charset=utf-8; method=request"));
        assert!(raw.contains("invite.ics"));
        assert!(!raw.contains("text/html"));
    }

    #[test]
    fn utf8_mail_has_text_and_html() {
        let raw = build(&parts("山田 太郎", Charset::Utf8, None)).unwrap();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/html"));
        assert!(!raw.to_lowercase().contains("iso-2022-jp"));
    }
}
