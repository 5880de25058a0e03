//! A query-string extractor whose errors name the parameter, like a JSON body field:
//! `?limit=abc` or `?stage=nope` answers 422 with `errors: [{field: "limit", …}]`.

use std::ops::Deref;

use actix_web::{dev::Payload, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::{AppError, AppResult};

pub struct Query<T>(pub T);

impl<T> Query<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Query<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(parse(req.query_string()).map(Query))
    }
}

/// Reads a query string into `T`; a bad value or a missing or unknown parameter is a 422
/// naming it.
pub fn parse<T: DeserializeOwned>(query: &str) -> AppResult<T> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        super::json::data_error(&path, e.inner())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code)]
    enum Color {
        Red,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Q {
        color: Color,
        limit: Option<i64>,
        flag: Option<bool>,
    }

    fn field_of(query: &str) -> String {
        match parse::<Q>(query) {
            Err(AppError::Validation(errors)) => errors[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        assert!(parse::<Q>("color=red&limit=3&flag=true").is_ok());
        assert_eq!(field_of("color=red&limit=abc"), "limit");
        assert_eq!(field_of("color=red&flag=maybe"), "flag");
        assert_eq!(field_of("color=blue"), "color");
        assert_eq!(field_of("limit=3"), "color");
    }
}
