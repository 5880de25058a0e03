//! Outgoing mail: the outbox worker and its transports (and, once merged, rendering).

pub mod charset;
pub mod compose;
pub mod ics;
pub mod message;
pub mod render;
pub mod reply_to;
pub mod smtp;
pub mod transport;
pub mod worker;
