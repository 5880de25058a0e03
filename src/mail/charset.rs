//! ISO-2022-JP for contacts whose mail clients want it — only when the text fits. Names often
//! carry characters that ISO-2022-JP (JIS X 0208) lacks (﨑, 髙, ①, ㈱); those mails go in
//! UTF-8, and the outbox records which charset was used.

use base64::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Iso2022Jp,
}

impl Charset {
    pub fn as_str(self) -> &'static str {
        match self {
            Charset::Utf8 => "UTF-8",
            Charset::Iso2022Jp => "ISO-2022-JP",
        }
    }
}

/// Whether a character is in plain JIS X 0208 (what every ISO-2022-JP reader knows). The
/// WHATWG encoder also maps the NEC row 13 (①, ㈱) and the IBM extensions (﨑, 髙), which
/// other readers show as garbage; those count as not fitting.
fn fits_jis(c: char) -> bool {
    if c.is_ascii() {
        return true;
    }
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = encoding_rs::ISO_2022_JP.encode(c.encode_utf8(&mut buf));
    if unmappable {
        return false;
    }
    // ESC $ B <lead> <trail> ESC ( B — half-width katakana is refused too.
    match bytes.as_ref() {
        [0x1B, b'$', b'B', lead, _, ..] => *lead != 0x2D && *lead <= 0x74,
        _ => false,
    }
}

/// ISO-2022-JP when preferred and every part encodes without loss; UTF-8 otherwise.
pub fn choose(preferred: Charset, parts: &[&str]) -> Charset {
    if preferred == Charset::Iso2022Jp && parts.iter().all(|p| p.chars().all(fits_jis)) {
        Charset::Iso2022Jp
    } else {
        Charset::Utf8
    }
}

/// Lines of an ISO-2022-JP body longer than this many characters are broken: a character
/// costs at most 5 bytes (an escape sequence and a double-byte character), so every line stays
/// within SMTP's 998 bytes and the body can travel as `7bit`.
const MAX_JIS_LINE_CHARS: usize = 190;

fn wrap_long_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let chars: Vec<char> = line.chars().collect();
        for (j, chunk) in chars.chunks(MAX_JIS_LINE_CHARS).enumerate() {
            if j > 0 {
                out.push('\n');
            }
            out.extend(chunk);
        }
    }
    out
}

/// The text in the charset (ISO-2022-JP bodies end back in ASCII, as encoding_rs ensures, and
/// their lines are kept short enough for `7bit`).
pub fn encode_body(text: &str, charset: Charset) -> Vec<u8> {
    match charset {
        // Mail lines end in CRLF; ISO-2022-JP needs them before it is encoded.
        Charset::Iso2022Jp => encoding_rs::ISO_2022_JP
            .encode(&wrap_long_lines(&text.replace("\r\n", "\n")).replace('\n', "\r\n"))
            .0
            .into_owned(),
        Charset::Utf8 => text.as_bytes().to_vec(),
    }
}

/// An address header value (`From`, `To`, `Reply-To`, `Cc`) whose display name travels as
/// encoded words in the charset; ASCII names and bare addresses are left to lettre's own
/// formatting. The name must already be free of control characters.
pub fn address_header(mailbox: &lettre::message::Mailbox, charset: Charset) -> String {
    match mailbox.name.as_deref() {
        Some(name) if !name.is_ascii() => {
            format!("{} <{}>", encode_word(name, charset), mailbox.email)
        }
        _ => mailbox.to_string(),
    }
}

/// An RFC 2047 header value: one or more encoded-words, each within 75 characters and each a
/// complete ISO-2022-JP sequence, separated by folding whitespace.
pub fn encode_word(s: &str, charset: Charset) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let prefix = format!("=?{}?B?", charset.as_str());
    let budget = 75 - prefix.len() - 2;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        let mut candidate = chunk.clone();
        candidate.push(c);
        if b64(&encode_body(&candidate, charset)).len() > budget && !chunk.is_empty() {
            words.push(format!("{prefix}{}?=", b64(&encode_body(&chunk, charset))));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("{prefix}{}?=", b64(&encode_body(&chunk, charset))));
    }
    words.join("\r\n ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_2022_jp_only_when_everything_fits() {
        assert_eq!(
            choose(Charset::Iso2022Jp, &["山田 太郎 様", "ヒアリング"]),
            Charset::Iso2022Jp
        );
        for odd in ["山﨑 様", "髙橋 様", "①", "㈱架空"] {
            assert_eq!(
                choose(Charset::Iso2022Jp, &["件名", odd]),
                Charset::Utf8,
                "{odd}"
            );
        }
        assert_eq!(choose(Charset::Utf8, &["山田"]), Charset::Utf8);
    }

    #[test]
    fn bodies_are_seven_bit_and_decode_back() {
        let text = "山田 太郎 様\nいつもお世話になっております。\n";
        let bytes = encode_body(text, Charset::Iso2022Jp);
        assert!(bytes.iter().all(|b| *b < 0x80));
        assert!(bytes.ends_with(b"\r\n"));
        let (back, _, bad) = encoding_rs::ISO_2022_JP.decode(&bytes);
        assert!(!bad);
        assert_eq!(back.replace("\r\n", "\n"), text);
    }

    #[test]
    fn long_lines_are_broken_to_stay_seven_bit() {
        let text = format!("{}\n短い行\n", "あa".repeat(400));
        let bytes = encode_body(&text, Charset::Iso2022Jp);
        for line in bytes.split(|b| *b == b'\n') {
            assert!(line.len() <= 998, "{} bytes", line.len());
        }
        let (back, _, bad) = encoding_rs::ISO_2022_JP.decode(&bytes);
        assert!(!bad);
        assert_eq!(back.replace("\r\n", ""), text.replace('\n', ""));
    }

    #[test]
    fn address_headers_encode_only_what_needs_it() {
        use lettre::message::Mailbox;
        let jp = Mailbox::new(
            Some("山田 太郎".into()),
            "yamada@example.jp".parse().unwrap(),
        );
        let h = address_header(&jp, Charset::Iso2022Jp);
        assert!(h.starts_with("=?ISO-2022-JP?B?"), "{h}");
        assert!(h.ends_with(" <yamada@example.jp>"), "{h}");
        let ascii = Mailbox::new(Some("Desk".into()), "desk@example.jp".parse().unwrap());
        assert_eq!(
            address_header(&ascii, Charset::Iso2022Jp),
            "Desk <desk@example.jp>"
        );
        let bare = Mailbox::new(None, "a@example.jp".parse().unwrap());
        assert_eq!(address_header(&bare, Charset::Iso2022Jp), "a@example.jp");
    }

    #[test]
    fn encoded_words_are_short_and_decode_back() {
        let subject =
            "【医療機関サイバーセキュリティ確保事業】ヒアリング日程のご相談（架空市立中央病院様）";
        for cs in [Charset::Iso2022Jp, Charset::Utf8] {
            let encoded = encode_word(subject, cs);
            let mut decoded = String::new();
            for word in encoded.split("\r\n ") {
                assert!(word.len() <= 75, "{word}");
                let inner = word
                    .strip_prefix(&format!("=?{}?B?", cs.as_str()))
                    .and_then(|w| w.strip_suffix("?="))
                    .unwrap();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(inner)
                    .unwrap();
                decoded.push_str(&match cs {
                    Charset::Iso2022Jp => encoding_rs::ISO_2022_JP.decode(&bytes).0.into_owned(),
                    Charset::Utf8 => String::from_utf8(bytes).unwrap(),
                });
            }
            assert_eq!(decoded, subject);
        }
    }
}
