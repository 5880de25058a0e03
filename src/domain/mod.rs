//! Pure rules: no I/O, no database, no HTTP. Everything here is unit-tested in place.

pub mod access;
pub mod backup;
pub mod doctype;
pub mod medcode;
pub mod normalize;
pub mod orgs;
pub mod pipeline;
pub mod prefectures;
pub mod rounds;
pub mod validate;
