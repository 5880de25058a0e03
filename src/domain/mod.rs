//! Pure rules: no I/O, no database, no HTTP. Everything here is unit-tested in place.

pub mod access;
pub mod doctype;
pub mod orgs;
pub mod prefectures;
pub mod validate;
