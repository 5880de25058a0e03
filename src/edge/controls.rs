//! Input refused at the edge, before any handler: control characters that no text of this
//! service may hold (U+0000 first of all — PostgreSQL cannot store it, and on SQLite it would
//! reach a mail later). JSON bodies are checked by the JSON extractor, query strings and paths
//! by the middleware here, form and multipart fields where they are read. Finer rules per field
//! (one line, or free text with line breaks) live in `domain::validate`.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde_json::Value;

use crate::error::{AppError, FieldError};

pub use crate::domain::validate::{check_text, is_refused};

/// Every string (and object key) of a JSON document, with its path in the same notation as
/// the deserialiser's errors (`attendees[0].name`).
pub fn check_json(value: &Value) -> Result<(), AppError> {
    let mut errors = Vec::new();
    walk(value, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn walk(value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let here = |p: &str| {
        if p.is_empty() {
            "body".to_owned()
        } else {
            p.to_owned()
        }
    };
    match value {
        Value::String(s) => {
            if let Err(e) = check_text(&here(path), s) {
                errors.push(e);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk(v, &format!("{path}[{i}]"), errors);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                if k.chars().any(is_refused) {
                    // The key itself cannot be shown as it is: name it cleaned.
                    let shown: String = k.chars().filter(|c| !is_refused(*c)).collect();
                    let field = if path.is_empty() {
                        shown
                    } else {
                        format!("{path}.{shown}")
                    };
                    errors.push(FieldError::new(
                        field,
                        "a field name must not contain control characters",
                    ));
                    continue;
                }
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &child, errors);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Query parameters as the extractors will see them (percent- and plus-decoded).
fn check_query(query: &str) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let name: String = k.chars().filter(|c| !is_refused(*c)).collect();
        if k.chars().any(is_refused) {
            errors.push(FieldError::new(
                name,
                "a parameter name must not contain control characters",
            ));
        } else if let Err(e) = check_text(&name, &v) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// Refuses a request whose query string holds a control character (422 naming the parameter),
/// or whose path does (404: no resource has such a name).
pub async fn refuse_controls(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let path_bad = percent_encoding::percent_decode_str(req.path())
        .decode_utf8_lossy()
        .chars()
        .any(is_refused);
    let refused = if path_bad {
        Some(AppError::NotFound("no such resource".into()))
    } else {
        check_query(req.query_string()).err()
    };
    match refused {
        Some(e) => {
            let (http, _) = req.into_parts();
            let res = actix_web::ResponseError::error_response(&e);
            Ok(ServiceResponse::new(http, res).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Vec<String> {
        match check_json(&v) {
            Ok(()) => Vec::new(),
            Err(AppError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn json_strings_are_checked_with_their_path() {
        assert!(fields(json!({"name": "山田\n太郎", "n": 1, "tab": "a\tb"})).is_empty());
        assert_eq!(fields(json!({"email": "a\u{0}@b.jp"})), ["email"]);
        assert_eq!(
            fields(json!({"attendees": [{"name": "ok"}, {"name": "x\u{1b}"}]})),
            ["attendees[1].name"]
        );
        assert_eq!(fields(json!({"a": {"b": ["\u{7f}"]}})), ["a.b[0]"]);
        assert_eq!(fields(json!("\u{85}")), ["body"]);
        assert_eq!(fields(json!({"k\u{0}ey": 1})), ["key"]);
    }

    #[test]
    fn nul_is_named_as_such() {
        let e = check_text("q", "a\u{0}").unwrap_err();
        assert!(e.message.contains("U+0000"), "{}", e.message);
        assert!(check_text("q", "改行\r\nタブ\t").is_ok());
    }

    #[test]
    fn query_parameters_are_decoded_then_checked() {
        assert!(check_query("q=%E7%97%85%E9%99%A2&limit=5").is_ok());
        match check_query("limit=5&q=a%00b") {
            Err(AppError::Validation(e)) => assert_eq!(e[0].field, "q"),
            other => panic!("{other:?}"),
        }
        assert!(check_query("q%00=1").is_err());
    }
}
