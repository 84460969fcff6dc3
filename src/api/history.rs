//! `GET /apps/{id}/channels/{name}/events`: a recovery channel's kept events
//! on this node, oldest first, each with its id (its position, the same on
//! every node: a decimal string, beyond JavaScript's exact integers) and when
//! this node kept it. For a server that loads the last messages of a chat.

use super::ApiError;
use crate::channel::registry::AppState;
use serde_json::{json, Value};

pub(super) fn events(app: &AppState, channel: &str) -> Result<Value, ApiError> {
    if !crate::recovery::wanted(&app.app(), channel) {
        let msg = "events are kept only for the app's recovery_channels";
        return Err(ApiError::new(400, msg));
    }
    let kept = app.kept_events(channel).into_iter().map(|k| {
        let mut event: Value = serde_json::from_str(k.frame.as_str()).unwrap_or(Value::Null);
        if let Some(fields) = event.as_object_mut() {
            fields.insert("id".into(), k.id.to_string().into());
            fields.insert("time_ms".into(), k.at.into());
        }
        event
    });
    Ok(json!({ "events": kept.collect::<Vec<_>>() }))
}
