//! The SQS calls the webhook queue makes (`SendMessage`, `ReceiveMessage`,
//! `DeleteMessage`, `ChangeMessageVisibility`, `GetQueueAttributes`), in SQS's
//! JSON protocol (`X-Amz-Target: AmazonSQS.<Action>`, `application/x-amz-json-1.0`),
//! signed with SigV4. One connection per call: the calls are few (one receive
//! per poll, one send per webhook request).

use super::sigv4::{self, Credentials, Scope};
use crate::config::SqsQueue;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::ServerName;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// Longest wait for one call's answer (receives wait at most 1 s on the server).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum SqsError {
    #[error("bad SQS URL or endpoint {0:?}")]
    Url(String),
    #[error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials,
    #[error("SQS unreachable: {0}")]
    Io(#[from] std::io::Error),
    #[error("SQS HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("SQS TLS: {0}")]
    Tls(std::io::Error),
    #[error("SQS answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("SQS did not answer within {0:?}")]
    Timeout(Duration),
}

/// Where the queue's calls go and how they are signed.
#[derive(Clone)]
pub(crate) struct Sqs {
    queue_url: String,
    region: String,
    tls: Option<crate::tls::TlsConnector>,
    host: String,
    port: u16,
    authority: String,
    credentials: Credentials,
}

/// One received message.
#[derive(Debug)]
pub(crate) struct Message {
    pub body: String,
    pub receipt: String,
}

impl Sqs {
    pub(crate) fn new(queue: &SqsQueue) -> Result<Sqs, SqsError> {
        let credentials = Credentials::from_env().ok_or(SqsError::NoCredentials)?;
        let endpoint = queue.endpoint.as_deref().unwrap_or(&queue.url);
        let bad = || SqsError::Url(endpoint.to_string());
        let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
        let tls = match uri.scheme_str() {
            Some("https") => Some(crate::tls::connector(None).map_err(|_| bad())?),
            Some("http") => None,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        let port = authority
            .port_u16()
            .unwrap_or(if tls.is_some() { 443 } else { 80 });
        Ok(Sqs {
            queue_url: queue.url.clone(),
            region: queue.region.clone(),
            host: authority.host().trim_matches(['[', ']']).to_string(),
            authority: authority.as_str().to_string(),
            port,
            tls,
            credentials,
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
        tokio::time::timeout(CALL_TIMEOUT, self.call_once(action, request))
            .await
            .map_err(|_| SqsError::Timeout(CALL_TIMEOUT))?
    }

    async fn call_once(&self, action: &str, request: &Value) -> Result<Value, SqsError> {
        let body = request.to_string();
        let headers = vec![
            ("host".to_string(), self.authority.clone()),
            ("content-type".into(), "application/x-amz-json-1.0".into()),
            ("x-amz-target".into(), format!("AmazonSQS.{action}")),
        ];
        let scope = Scope {
            credentials: &self.credentials,
            region: &self.region,
            service: "sqs",
        };
        let signed = sigv4::sign(
            &scope,
            &sigv4::Request {
                method: "POST",
                path: "/",
                query: "",
                headers: &headers,
                body: body.as_bytes(),
            },
            SystemTime::now(),
        );
        let mut builder = hyper::Request::post("/");
        for (name, value) in headers.iter().chain(&signed.headers) {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| SqsError::Url(self.authority.clone()))?;
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let (status, answer) = match &self.tls {
            None => exchange(stream, request).await?,
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| SqsError::Url(self.authority.clone()))?;
                let stream = tls.connect(name, stream).await.map_err(SqsError::Tls)?;
                exchange(stream, request).await?
            }
        };
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&answer).chars().take(300).collect();
            return Err(SqsError::Status { status, body });
        }
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }
}

async fn exchange<S>(
    stream: S,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), SqsError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}
