//! The few AWS services herald talks to (SQS for the webhook queue), over
//! herald's own HTTP client, signed with [`sigv4`].

pub mod sigv4;
pub(crate) mod sqs;
