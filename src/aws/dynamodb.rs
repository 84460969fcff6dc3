//! The one DynamoDB call herald makes: `Scan` of the apps table, page by page
//! (`DynamoDB_20120810.Scan`, see [`super::json`]), items unmarshalled to JSON.

use super::json::{AwsError, Service};
use serde_json::{json, Map, Value};

/// Pages read at most (1 MB each): a bound on a runaway table.
const MAX_PAGES: usize = 1000;

/// Every item of `table`, each as a JSON object of its attributes.
pub(crate) async fn scan(service: &Service, table: &str) -> Result<Vec<Value>, AwsError> {
    let mut items = Vec::new();
    let mut start: Option<Value> = None;
    for _ in 0..MAX_PAGES {
        let mut request = json!({ "TableName": table, "ConsistentRead": true });
        if let Some(key) = start.take() {
            request["ExclusiveStartKey"] = key;
        }
        let page = service.call("DynamoDB_20120810.Scan", &request).await?;
        if let Some(found) = page["Items"].as_array() {
            items.extend(found.iter().map(|item| match item {
                Value::Object(attributes) => item_of(attributes),
                _ => Value::Null,
            }));
        }
        match &page["LastEvaluatedKey"] {
            Value::Object(key) if !key.is_empty() => start = Some(Value::Object(key.clone())),
            _ => break,
        }
    }
    Ok(items)
}

fn item_of(attributes: &Map<String, Value>) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(name, v)| (name.clone(), unmarshal(v)))
            .collect(),
    )
}

/// One attribute value (`{"S": "x"}`, `{"N": "5"}`, ...) as plain JSON; numbers
/// stay text (the apps reader reads text numbers). Binary is read as Soketi
/// reads its `B` flags (`EnableClientMessages`, `Enabled`): the bytes as text,
/// `true`, `yes`, `on` or `1` being true and any other text false.
fn unmarshal(value: &Value) -> Value {
    let Some((kind, inner)) = value.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    match (kind.as_str(), inner) {
        ("NULL", _) => Value::Null,
        ("M", Value::Object(m)) => item_of(m),
        ("L", Value::Array(l)) => Value::Array(l.iter().map(unmarshal).collect()),
        ("B", Value::String(b64)) => Value::Bool(binary_flag(b64)),
        (_, other) => other.clone(),
    }
}

fn binary_flag(b64: &str) -> bool {
    let bytes = data_encoding::BASE64
        .decode(b64.as_bytes())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_ascii_lowercase();
    matches!(text.as_str(), "true" | "yes" | "on" | "1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_become_plain_json() {
        let item = json!({
            "AppId": {"S": "app-1"}, "MaxConnections": {"N": "100"}, "Enabled": {"BOOL": true},
            "Gone": {"NULL": true}, "Meta": {"M": {"a": {"S": "b"}}}, "Tags": {"L": [{"N": "1"}]},
            "Ids": {"SS": ["x", "y"]}, "On": {"B": "dHJ1ZQ=="}, "Off": {"B": "ZmFsc2U="},
        });
        let plain = item_of(item.as_object().unwrap());
        assert_eq!(
            plain,
            json!({"AppId": "app-1", "MaxConnections": "100", "Enabled": true, "Gone": null,
                   "Meta": {"a": "b"}, "Tags": ["1"], "Ids": ["x", "y"], "On": true, "Off": false})
        );
    }
}
