//! The application layer: one function per use case, free of HTTP and of SQL. Every channel —
//! the API, the hospital pages, the web dashboard, the command line and the mail worker — calls
//! these; they call `domain` for rules and `db` for data. See ARCHITECTURE.md.

pub mod accounts;
pub mod contacts;
pub mod cursor;
pub mod dashboard;
pub mod demo;
pub mod emails;
pub mod engagement_list;
pub mod engagements;
pub mod hearings;
pub mod hospitals;
pub mod import_batch;
pub mod imports;
pub mod intake;
pub mod reminders;
pub mod retention;
pub mod rounds;
pub mod step;
pub mod utc_json;
pub mod verification;
pub mod work;

use std::sync::Arc;

use crate::auth::links::LinkKeys;
use crate::config::Config;

/// What use cases need beyond the connection: the configuration and the keys that sign the
/// links in mail.
#[derive(Clone)]
pub struct Ctx {
    pub config: Arc<Config>,
    pub links: Arc<LinkKeys>,
}

impl Ctx {
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.config.clock
    }
}
