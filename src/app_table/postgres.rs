//! The PostgreSQL driver: each row read as JSON (`row_to_json`).

use crate::config::AppTable;
use serde_json::Value;
use std::time::Duration;

pub(super) async fn rows(t: &AppTable) -> Result<Vec<Value>, super::DbError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&t.host)
        .port(t.port)
        .user(&t.user)
        .password(&t.password)
        .dbname(&t.database)
        .connect_timeout(Duration::from_secs(5));
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    // The table name was checked to be a plain identifier when the config was built.
    let sql = format!("SELECT row_to_json(t)::text FROM {} t", t.table);
    let rows = client.query(sql.as_str(), &[]).await;
    drop(client);
    let _ = driver.await;
    let texts = rows?
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(texts
        .iter()
        .map(|text| serde_json::from_str(text).unwrap_or(Value::Null))
        .collect())
}
