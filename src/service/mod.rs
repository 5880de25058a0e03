//! The application layer: one function per use case, free of HTTP and of SQL. The API, the web
//! dashboard and the command line call these; they call `domain` for rules and `db` for data.

pub mod dashboard;
pub mod demo;
pub mod retention;
