//! Apps from a SQL table with Soketi's schema, or a DynamoDB table with Soketi's
//! item layout: Soketi's `postgres`, `mysql` and `dynamodb` app managers
//! (`SOKETI_APP_MANAGER_DRIVER`, `SOKETI_DB_POSTGRES_*`, `SOKETI_DB_MYSQL_*`,
//! `SOKETI_APP_MANAGER_DYNAMODB_*`). One driver per database reads the rows
//! (DynamoDB: a `Scan`, each item's attributes, `AppId`, `AppKey`, ...);
//! everything else is shared.
//!
//! The whole table is read before the server starts (it does not start without
//! it) and again every `refresh` (`SOKETI_APP_MANAGER_CACHE_TTL` seconds, default
//! 5). So lookups on connect and on API requests are served from memory and never
//! wait for the database; new, changed and removed rows take effect within one
//! refresh; and while the database is unreachable the last good copy stays in use
//! (logged once). Each row becomes a JSON object of its columns, so column types
//! do not matter (`smallint`, `tinyint(1)`, `boolean` or `bit` flags; `json`,
//! `text` or `varchar` webhooks; numbers stored as text or decimals); columns
//! have Soketi's names, NULL means the default, and other columns are ignored.
//! A row that cannot be used is skipped with a warning naming it.

mod dynamodb;
mod mysql;
mod postgres;

use crate::config::{self, App, AppTable, Driver, Limits};
use crate::node::Node;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// A whole read of the table may take this long (connect included).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[error("cannot read apps from {} (table {table}): {source}", place(*.driver, host, *.port, database))]
pub struct LoadError {
    driver: Driver,
    host: String,
    port: u16,
    database: String,
    table: String,
    #[source]
    source: DbError,
}

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Mysql(#[from] mysql_async::Error),
    #[error(transparent)]
    Aws(#[from] crate::aws::json::AwsError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// `PostgreSQL host:port/database`, or `DynamoDB <endpoint> (region r)`.
fn place(driver: Driver, host: &str, port: u16, database: &str) -> String {
    match driver {
        Driver::Dynamodb if host.is_empty() => format!("DynamoDB (region {database})"),
        Driver::Dynamodb => format!("DynamoDB {host} (region {database})"),
        _ => format!("{} {host}:{port}/{database}", driver_label(driver)),
    }
}

fn driver_label(driver: Driver) -> &'static str {
    match driver {
        Driver::Postgres => "PostgreSQL",
        Driver::Mysql => "MySQL",
        Driver::Dynamodb => "DynamoDB",
    }
}

/// Read every app of the table.
pub async fn load(t: &AppTable, defaults: &Limits) -> Result<Vec<App>, LoadError> {
    let fail = |source| LoadError {
        driver: t.driver,
        host: t.host.clone(),
        port: t.port,
        database: t.database.clone(),
        table: t.table.clone(),
        source,
    };
    let rows = rows(t).await.map_err(fail)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .filter_map(|(i, row)| {
            let id = row.get("id").map(|v| v.to_string()).unwrap_or_default();
            match app_of(row, defaults) {
                Ok(app) => Some(app),
                Err(message) => {
                    tracing::warn!(row = i + 1, id, table = %t.table, message, "apps table row skipped");
                    None
                }
            }
        })
        .collect())
}

/// Every row of the table as a JSON object of its columns.
async fn rows(t: &AppTable) -> Result<Vec<Value>, DbError> {
    let read = async {
        match t.driver {
            Driver::Postgres => postgres::rows(t).await,
            Driver::Mysql => mysql::rows(t).await,
            Driver::Dynamodb => dynamodb::rows(t).await,
        }
    };
    tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .map_err(|_| DbError::Timeout(READ_TIMEOUT))?
}

fn app_of(row: Value, defaults: &Limits) -> Result<App, String> {
    match row {
        Value::Object(fields) => config::app_from_row(numbers_as_numbers(fields), defaults),
        _ => Err("not a JSON object".into()),
    }
}

/// Columns whose text is kept as it is; in every other column a number written
/// as text (`varchar`, MySQL `decimal`) counts as that number, and a whole
/// decimal (`5.00`) as an integer, as Soketi's `parseInt` and truthiness read them.
/// (DynamoDB's attributes have Soketi's names: `AppId`, `AppKey`, ...)
const TEXT_COLUMNS: [&str; 9] = [
    "id",
    "key",
    "secret",
    "webhooks",
    "allowed_origins",
    "AppId",
    "AppKey",
    "AppSecret",
    "Webhooks",
];

fn numbers_as_numbers(mut fields: Map<String, Value>) -> Map<String, Value> {
    for (name, value) in fields.iter_mut() {
        if !TEXT_COLUMNS.contains(&name.as_str()) {
            *value = number_of(std::mem::take(value));
        }
    }
    fields
}

fn number_of(value: Value) -> Value {
    let n = match &value {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) if !n.is_i64() && !n.is_u64() => n.as_f64(),
        _ => None,
    };
    match n {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        Some(f) if f.is_finite() => Value::from(f),
        _ => value,
    }
}

/// Read the table again every `refresh`, keeping the last good copy on failure.
pub fn keep_fresh(node: Arc<Node>, t: AppTable) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(t.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut failing = false;
        loop {
            tick.tick().await;
            let loaded = load(&t, &node.config.server.app_defaults).await;
            match loaded.map(|apps| node.config.apps.replace(apps)) {
                Ok(Ok(())) if failing => {
                    tracing::info!(table = %t.table, "apps table readable again");
                    failing = false;
                }
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "apps table refused; keeping the apps read before")
                }
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "keeping the apps read before");
                    failing = true;
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(row: Value) -> Result<App, String> {
        app_of(row, &Limits::default())
    }

    #[test]
    fn numbers_written_as_text_or_decimals_are_numbers() {
        let row = json!({"id": "007", "key": "0123", "secret": "1", "max_connections": "25",
            "enabled": "1", "enable_client_messages": 1.0, "max_event_batch_size": 4.0,
            "max_presence_member_size_in_kb": "1.50", "max_event_payload_in_kb": "20.00",
            "created_at": "2024-01-01 00:00:00"});
        let a = app(row).unwrap();
        assert_eq!(
            (a.raw.id.as_str(), a.raw.key.as_str(), a.raw.secret.as_str()),
            ("007", "0123", "1")
        );
        assert_eq!(a.max_connections, Some(25));
        assert!(a.raw.enabled && a.raw.enable_client_messages);
        assert_eq!(a.limits.max_event_batch_size, 4);
        assert_eq!(a.limits.max_presence_member_size_kb, 1.5);
        assert_eq!(a.limits.max_event_payload_kb, 20.0);
    }

    #[test]
    fn flags_of_zero_are_off_and_null_limits_are_the_defaults() {
        let row = json!({"id": 5, "key": "k", "secret": "s", "enabled": 0,
            "enable_client_messages": "0", "enable_user_authentication": null,
            "max_connections": -1, "max_presence_members_per_channel": null, "webhooks": null});
        let a = app(row).unwrap();
        assert_eq!(a.raw.id, "5");
        assert!(
            !a.raw.enabled && !a.raw.enable_client_messages && !a.raw.enable_user_authentication
        );
        assert_eq!(a.max_connections, None);
        assert_eq!(a.limits, Limits::default());
        assert!(a.webhooks.is_empty());
    }

    #[test]
    fn a_row_that_is_not_an_app_says_why() {
        assert!(app(json!([1])).is_err());
        let err = app(json!({"id": "a", "key": "k", "secret": "s", "max_connections": "many"}));
        assert!(err.unwrap_err().starts_with("max_connections: "));
    }
}
