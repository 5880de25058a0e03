//! A JSON body extractor whose errors name the field: `{"email": 5}` answers 422 with
//! `errors: [{field: "email", …}]`, a syntax error answers 400, a control character in any
//! string 422 naming its path, a body over the limit 413.

use actix_web::http::{header, StatusCode};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

/// Largest JSON body accepted (uploads use multipart, not JSON).
pub const MAX_JSON_BYTES: usize = 1024 * 1024;

pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| ct.contains("json"));
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            if !content_type_ok {
                return Err(AppError::BadRequest(
                    "the body must be JSON (Content-Type: application/json)".into(),
                ));
            }
            let bytes = body.await.map_err(|e| {
                // actix answers an oversized body (declared or streamed) with a 413 error.
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge(format!(
                        "the JSON body is larger than {MAX_JSON_BYTES} bytes"
                    ))
                } else {
                    AppError::BadRequest(format!("the body could not be read: {e}"))
                }
            })?;
            actix_web::HttpMessage::extensions_mut(&req)
                .insert(super::idempotency::hash_body(&bytes));
            parse(&bytes).map(Json)
        })
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    use serde_json::error::Category;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::BadRequest(
            "the request body is empty; JSON expected".into(),
        ));
    }
    // Control characters (U+0000 first) are refused wherever they are, naming the path; the
    // document is then read again into its type, so duplicate keys still count as errors.
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    crate::edge::controls::check_json(&value)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => data_error(&path, &inner),
            // serde_json reports some wrong types (null, a number or `{}` where an enum is
            // expected) as syntax errors; well-formed JSON is never a 400.
            Category::Syntax if well_formed(bytes) => type_error::<T>(bytes, &path),
            _ => AppError::BadRequest(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| AppError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn well_formed(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// The 422 for well-formed JSON of the wrong shape, worded from the parsed value.
fn type_error<T: DeserializeOwned>(bytes: &[u8], path: &str) -> AppError {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return data_error(path, &"invalid value");
    };
    match serde_path_to_error::deserialize::<_, T>(value) {
        Err(e) => data_error(&e.path().to_string(), e.inner()),
        // The parsed value fits (a key given twice, say): name the field the text broke.
        Ok(_) => data_error(path, &"invalid value"),
    }
}

/// A 422 naming the field at `path` (or named in serde's message) that `inner` is about.
pub(super) fn data_error(path: &str, inner: &impl std::fmt::Display) -> AppError {
    let message = inner.to_string();
    // serde's own wording, without the position that means nothing to a client.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    let named = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let base = if path == "." { "" } else { path };
    let join = |name: String| {
        if base.is_empty() {
            name
        } else {
            format!("{base}.{name}")
        }
    };
    let field = if let Some(name) = named("missing field `") {
        join(name)
    } else if let Some(name) = named("unknown field `") {
        // serde_path_to_error already appends an unknown key to the path.
        if base.ends_with(&name) {
            base.to_owned()
        } else {
            join(name)
        }
    } else if base.is_empty() {
        "body".to_owned()
    } else {
        base.to_owned()
    };
    AppError::Validation(vec![FieldError::new(field, message)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        password: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: i64,
    }

    fn field_of(body: &str) -> String {
        match parse::<Login>(body.as_bytes()) {
            Err(AppError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_the_field() {
        assert_eq!(field_of(r#"{"email": 5, "password": "x"}"#), "email");
        assert_eq!(
            field_of(r#"{"email": "a", "password": "x", "inner": {"n": "x"}}"#),
            "inner.n"
        );
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(field_of(r#"{"email": "a"}"#), "password");
        assert_eq!(field_of(r#"{"email": "a", "password": "b", "x": 1}"#), "x");
        assert_eq!(
            field_of(r#"{"email": "a", "password": "b", "inner": {"n": 1, "m": 2}}"#),
            "inner.m"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Kind {
        Prime,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Org {
        kind: Kind,
    }

    #[test]
    fn a_wrong_type_for_an_enum_is_named_not_malformed() {
        for body in [r#"{"kind": null}"#, r#"{"kind": {}}"#, r#"{"kind": 0}"#] {
            match parse::<Org>(body.as_bytes()) {
                Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "kind", "{body}"),
                other => panic!("{body}: expected a validation error, got {other:?}"),
            }
        }
        assert!(matches!(
            parse::<Org>(b"[null]"),
            Err(AppError::Validation(_))
        ));
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        for body in [
            "{",
            "not json",
            "",
            r#"{"email": "a", "password": "b"} trailing"#,
        ] {
            assert!(
                matches!(
                    parse::<Login>(body.as_bytes()),
                    Err(AppError::BadRequest(_))
                ),
                "{body}"
            );
        }
    }
}
