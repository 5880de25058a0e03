//! Pure rules: no I/O, no database, no HTTP. Everything here is unit-tested in place.

pub mod access;
pub mod backup;
pub mod calendar;
pub mod doctype;
pub mod documents;
pub mod events;
pub mod export;
pub mod field;
pub mod findings;
pub mod flow;
pub mod hearings;
pub mod hospital_edit;
pub mod ids;
pub mod medcode;
pub mod normalize;
pub mod orgs;
pub mod pipeline;
pub mod prefectures;
pub mod questionnaire;
pub mod retention;
pub mod rounds;
pub mod sniff;
pub mod validate;

/// Today's date in Japan, where the programme's dates are read.
pub fn today_in_japan() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}
