//! The SQS calls the webhook queue makes (`SendMessage`, `ReceiveMessage`,
//! `DeleteMessage`, `ChangeMessageVisibility`, `GetQueueAttributes`), in SQS's
//! JSON protocol (`X-Amz-Target: AmazonSQS.<Action>`), see [`super::json`].

use super::json::{AwsError, Service};
use crate::config::SqsQueue;
use serde_json::{json, Value};

pub(crate) type SqsError = AwsError;

/// The queue's calls.
#[derive(Clone)]
pub(crate) struct Sqs {
    queue_url: String,
    service: Service,
}

/// One received message.
#[derive(Debug)]
pub(crate) struct Message {
    pub body: String,
    pub receipt: String,
}

impl Sqs {
    pub(crate) fn new(queue: &SqsQueue) -> Result<Sqs, SqsError> {
        let endpoint = queue.endpoint.as_deref().unwrap_or(&queue.url);
        Ok(Sqs {
            queue_url: queue.url.clone(),
            service: Service::new("sqs", endpoint, &queue.region)?,
        })
    }

    /// Put one job in the queue; on a FIFO queue with Soketi's group
    /// (`<app>_webhooks`) and deduplication id (the body's SHA-256).
    pub(crate) async fn send(&self, app: &str, body: String) -> Result<(), SqsError> {
        let mut request = json!({ "QueueUrl": self.queue_url, "MessageBody": body });
        if self.queue_url.ends_with(".fifo") {
            use sha2::Digest;
            request["MessageGroupId"] = json!(format!("{app}_webhooks"));
            request["MessageDeduplicationId"] =
                json!(hex::encode(sha2::Sha256::digest(body.as_bytes())));
        }
        self.call("SendMessage", &request).await.map(drop)
    }

    /// Up to `max` messages, waiting up to a second for the first (long polling).
    pub(crate) async fn receive(&self, max: usize) -> Result<Vec<Message>, SqsError> {
        let request = json!({
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max.clamp(1, 10),
            "WaitTimeSeconds": 1,
        });
        let answer = self.call("ReceiveMessage", &request).await?;
        let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
        Ok(messages
            .iter()
            .filter_map(|m| {
                Some(Message {
                    body: m["Body"].as_str()?.to_string(),
                    receipt: m["ReceiptHandle"].as_str()?.to_string(),
                })
            })
            .collect())
    }

    pub(crate) async fn delete(&self, receipt: &str) -> Result<(), SqsError> {
        let request = json!({ "QueueUrl": self.queue_url, "ReceiptHandle": receipt });
        self.call("DeleteMessage", &request).await.map(drop)
    }

    /// Keep a message hidden from other workers for `secs` more seconds.
    pub(crate) async fn extend(&self, receipt: &str, secs: u64) -> Result<(), SqsError> {
        let request = json!({
            "QueueUrl": self.queue_url,
            "ReceiptHandle": receipt,
            "VisibilityTimeout": secs,
        });
        self.call("ChangeMessageVisibility", &request)
            .await
            .map(drop)
    }

    /// The queue's visibility timeout in seconds.
    pub(crate) async fn visibility_timeout(&self) -> Result<u64, SqsError> {
        let request =
            json!({ "QueueUrl": self.queue_url, "AttributeNames": ["VisibilityTimeout"] });
        let answer = self.call("GetQueueAttributes", &request).await?;
        let value = &answer["Attributes"]["VisibilityTimeout"];
        Ok(value.as_str().and_then(|v| v.parse().ok()).unwrap_or(30))
    }

    async fn call(&self, action: &str, request: &Value) -> Result<Value, SqsError> {
        self.service
            .call(&format!("AmazonSQS.{action}"), request)
            .await
    }
}
