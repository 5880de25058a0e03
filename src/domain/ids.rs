//! Ids as types of their own, so that an engagement's id cannot be passed where a hospital's is
//! expected. Each is the row's UUID text: serialized as a plain string (the JSON and OpenAPI
//! shapes stay strings) and stored as TEXT (the diesel glue is in `db/types.rs`).
//!
//! Wrapping does not check the text: an id read from a path or a file that names no row
//! finds nothing, as before.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        /// Maps keyed by id can be looked up with the text.
        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }
    )*};
}

ids! {
    /// An engagement: one hospital's support in one round.
    EngagementId,
    /// A hospital (one medical institution code).
    HospitalId,
    /// An organisation: the prime contractor or one under it.
    OrganizationId,
    /// A recruitment round.
    RoundId,
    /// A coordinator's (or administrator's) account.
    UserId,
    /// One of a hospital's contact persons.
    ContactId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_strings() {
        let id = EngagementId::new("0190-abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"0190-abc\"");
        let back: HospitalId = serde_json::from_str("\"h-1\"").unwrap();
        assert_eq!(back, "h-1");
        assert_eq!(back.to_string(), "h-1");
    }
}
