//! The DynamoDB driver: the whole table scanned, each item's attributes under
//! Soketi's names (`AppId`, `AppKey`, `AppSecret`, `MaxConnections`,
//! `EnableClientMessages`, `Webhooks` as JSON text, ...). `host` is the
//! endpoint (empty: `https://dynamodb.<region>.amazonaws.com`), `database` the region.

use crate::aws::{dynamodb, json::Service};
use crate::config::AppTable;
use serde_json::Value;

pub(super) async fn rows(t: &AppTable) -> Result<Vec<Value>, super::DbError> {
    let endpoint = match t.host.as_str() {
        "" => format!("https://dynamodb.{}.amazonaws.com", t.database),
        host => host.to_string(),
    };
    let service = Service::new("dynamodb", &endpoint, &t.database)?;
    Ok(dynamodb::scan(&service, &t.table).await?)
}
