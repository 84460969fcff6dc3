//! One AWS JSON-protocol call (`X-Amz-Target: <target>`,
//! `application/x-amz-json-1.0`), signed with SigV4, over herald's own HTTP
//! client (plain TCP, or rustls for `https://`). One connection per call: the
//! calls herald makes are few.

use super::sigv4::{self, Credentials, Scope};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::ServerName;
use serde_json::Value;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// Longest wait for one call's answer (long polls wait at most 1 s on the server).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum AwsError {
    #[error("bad AWS URL or endpoint {0:?}")]
    Url(String),
    #[error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NoCredentials,
    #[error("AWS unreachable: {0}")]
    Io(#[from] std::io::Error),
    #[error("AWS HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("AWS TLS: {0}")]
    Tls(std::io::Error),
    #[error("AWS answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("AWS did not answer within {0:?}")]
    Timeout(Duration),
}

/// Where a service's calls go and how they are signed.
#[derive(Clone)]
pub(crate) struct Service {
    service: &'static str,
    region: String,
    tls: Option<crate::tls::TlsConnector>,
    host: String,
    port: u16,
    authority: String,
    credentials: Credentials,
}

impl Service {
    /// `service` (`sqs`, `dynamodb`) at `endpoint` (`http(s)://host[:port]`), signed for `region`.
    pub(crate) fn new(
        service: &'static str,
        endpoint: &str,
        region: &str,
    ) -> Result<Service, AwsError> {
        let credentials = Credentials::from_env().ok_or(AwsError::NoCredentials)?;
        let bad = || AwsError::Url(endpoint.to_string());
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
        Ok(Service {
            service,
            region: region.to_string(),
            host: authority.host().trim_matches(['[', ']']).to_string(),
            authority: authority.as_str().to_string(),
            port,
            tls,
            credentials,
        })
    }

    /// Call `target` (e.g. `AmazonSQS.SendMessage`) with `request`; the answer's JSON.
    pub(crate) async fn call(&self, target: &str, request: &Value) -> Result<Value, AwsError> {
        tokio::time::timeout(CALL_TIMEOUT, self.call_once(target, request))
            .await
            .map_err(|_| AwsError::Timeout(CALL_TIMEOUT))?
    }

    async fn call_once(&self, target: &str, request: &Value) -> Result<Value, AwsError> {
        let body = request.to_string();
        let headers = vec![
            ("host".to_string(), self.authority.clone()),
            ("content-type".into(), "application/x-amz-json-1.0".into()),
            ("x-amz-target".into(), target.to_string()),
        ];
        let scope = Scope {
            credentials: &self.credentials,
            region: &self.region,
            service: self.service,
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
            .map_err(|_| AwsError::Url(self.authority.clone()))?;
        let stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let (status, answer) = match &self.tls {
            None => exchange(stream, request).await?,
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|_| AwsError::Url(self.authority.clone()))?;
                let stream = tls.connect(name, stream).await.map_err(AwsError::Tls)?;
                exchange(stream, request).await?
            }
        };
        if !(200..300).contains(&status) {
            let body = String::from_utf8_lossy(&answer).chars().take(300).collect();
            return Err(AwsError::Status { status, body });
        }
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }
}

async fn exchange<S>(
    stream: S,
    request: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), AwsError>
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
