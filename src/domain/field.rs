//! The one problem type the rules speak: a named field and what is wrong with it. Channels show
//! it their way (a problem document's `errors`, a note next to a page's form).

use serde::Serialize;
use utoipa::ToSchema;

/// One field-level problem in a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field (`email`, `contacts[1].phone`), or `body` for the document itself.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
