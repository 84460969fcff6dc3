//! The MySQL and MariaDB driver (`mysql_async`): `SELECT *` over the binary
//! protocol, so numbers arrive as numbers; each column becomes a JSON value by
//! its type. Authentication: `mysql_native_password` and MySQL 8's default
//! `caching_sha2_password` (its full exchange over plain TCP uses the server's
//! RSA key).

use crate::config::AppTable;
use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Row, Value as Sql};
use serde_json::{Map, Value};

pub(super) async fn rows(t: &AppTable) -> Result<Vec<Value>, super::DbError> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(t.host.as_str())
        .tcp_port(t.port)
        .user(Some(t.user.as_str()))
        .pass(Some(t.password.as_str()))
        .db_name(Some(t.database.as_str()))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await?;
    let read = conn.exec::<Row, _, _>(select(&t.table), ()).await;
    // The rows are in hand; a failed goodbye changes nothing.
    let _ = conn.disconnect().await;
    Ok(read?.into_iter().map(object_of).collect())
}

/// `SELECT * FROM `db`.`apps``: the name was checked to be a plain
/// (optionally database-qualified) identifier when the config was built.
fn select(table: &str) -> String {
    let quoted: Vec<String> = table.split('.').map(|part| format!("`{part}`")).collect();
    format!("SELECT * FROM {}", quoted.join("."))
}

fn object_of(row: Row) -> Value {
    let columns = row.columns();
    let values = row.unwrap();
    let fields: Map<String, Value> = columns
        .iter()
        .zip(values)
        .map(|(column, value)| (column.name_str().into_owned(), json_of(column, value)))
        .collect();
    Value::Object(fields)
}

/// One column's value: numbers as numbers, `bit(n)` as its unsigned number,
/// text (and `json`, which MariaDB stores as text) as a string.
fn json_of(column: &Column, value: Sql) -> Value {
    match value {
        Sql::NULL => Value::Null,
        Sql::Int(n) => Value::from(n),
        Sql::UInt(n) => Value::from(n),
        Sql::Float(f) => Value::from(f64::from(f)),
        Sql::Double(f) => Value::from(f),
        Sql::Bytes(bytes) if column.column_type() == ColumnType::MYSQL_TYPE_BIT => {
            let n = bytes.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
            Value::from(n)
        }
        Sql::Bytes(bytes) => Value::String(String::from_utf8_lossy(&bytes).into_owned()),
        other => Value::String(other.as_sql(true)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_name_is_quoted_part_by_part() {
        assert_eq!(select("apps"), "SELECT * FROM `apps`");
        assert_eq!(select("soketi.apps"), "SELECT * FROM `soketi`.`apps`");
    }
}
