//! Outgoing mail: the outbox worker and its transports (and, once merged, rendering).

pub mod transport;
pub mod worker;
