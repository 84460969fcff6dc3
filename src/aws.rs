//! The few AWS services herald talks to (SQS for the webhook queue, DynamoDB
//! for apps), in their JSON protocol over herald's own HTTP client, signed
//! with [`sigv4`].

pub(crate) mod dynamodb;
pub(crate) mod json;
pub mod sigv4;
pub(crate) mod sqs;
