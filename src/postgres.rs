//! Apps from a PostgreSQL table with Soketi's schema
//! (`SOKETI_APP_MANAGER_DRIVER=postgres`, `SOKETI_DB_POSTGRES_*`).
//!
//! The whole table is read before the server starts (it does not start without
//! it) and again every `refresh` (`SOKETI_APP_MANAGER_CACHE_TTL` seconds, default
//! 5). So lookups on connect and on API requests are served from memory and never
//! wait for the database; new, changed and removed rows take effect within one
//! refresh; and while the database is unreachable the last good copy stays in use
//! (logged once). Each row is read as JSON (`row_to_json`), so column types do not
//! matter (`smallint` or `boolean` flags, `json` or `text` webhooks); columns have
//! Soketi's names and NULL means the default. A row that cannot be used is skipped
//! with a warning naming it.

use crate::config::{self, App, Limits, Postgres};
use crate::node::Node;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[error("cannot read apps from PostgreSQL {host}:{port}/{database} (table {table}): {source}")]
pub struct LoadError {
    host: String,
    port: u16,
    database: String,
    table: String,
    #[source]
    source: tokio_postgres::Error,
}

/// Read every app of the table.
pub async fn load(pg: &Postgres, defaults: &Limits) -> Result<Vec<App>, LoadError> {
    let fail = |source| LoadError {
        host: pg.host.clone(),
        port: pg.port,
        database: pg.database.clone(),
        table: pg.table.clone(),
        source,
    };
    let rows = query(pg).await.map_err(fail)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .filter_map(|(i, text)| match app_of(&text, defaults) {
            Ok(app) => Some(app),
            Err(message) => {
                tracing::warn!(row = i + 1, table = %pg.table, message, "apps table row skipped");
                None
            }
        })
        .collect())
}

async fn query(pg: &Postgres) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&pg.host)
        .port(pg.port)
        .user(&pg.user)
        .password(&pg.password)
        .dbname(&pg.database)
        .connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    // The table name was checked to be a plain identifier when the config was built.
    let sql = format!("SELECT row_to_json(t)::text FROM {} t", pg.table);
    let rows = client.query(sql.as_str(), &[]).await;
    drop(client);
    let _ = driver.await;
    rows?.iter().map(|r| r.try_get::<_, String>(0)).collect()
}

fn app_of(text: &str, defaults: &Limits) -> Result<App, String> {
    match serde_json::from_str(text) {
        Ok(Value::Object(fields)) => config::app_from_row(fields, defaults),
        _ => Err("not a JSON object".into()),
    }
}

/// Read the table again every `refresh`, keeping the last good copy on failure.
pub fn keep_fresh(node: Arc<Node>, pg: Postgres) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(pg.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut failing = false;
        loop {
            tick.tick().await;
            let loaded = load(&pg, &node.config.server.app_defaults).await;
            match loaded.map(|apps| node.config.apps.replace(apps)) {
                Ok(Ok(())) if failing => {
                    tracing::info!("apps table readable again");
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
