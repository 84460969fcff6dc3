//! Per-app webhook settings (`[[apps.webhooks]]`, Soketi's `webhooks` array and
//! `SOKETI_DEFAULT_APP_WEBHOOKS`), validated so a typo stops the server at start.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The events a webhook can ask for.
pub const EVENT_TYPES: [&str; 6] = [
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
];

/// One webhook target of an app.
#[derive(Clone, PartialEq)]
pub struct Webhook {
    /// `http://` or `https://` URL the events are POSTed to.
    pub url: String,
    /// Names from [`EVENT_TYPES`]; an event of another type is not sent here.
    pub event_types: Vec<String>,
    pub filter: Filter,
    /// Extra request headers; they cannot replace `Content-Type` or the `X-Pusher-*` headers.
    pub headers: Vec<(String, String)>,
}

/// Which channels a webhook hears about.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub channel_name_starts_with: Option<String>,
    pub channel_name_ends_with: Option<String>,
}

impl Webhook {
    /// Whether an event of `kind` on `channel` goes to this webhook.
    pub fn wants(&self, kind: &str, channel: &str) -> bool {
        let f = &self.filter;
        self.event_types.iter().any(|t| t == kind)
            && f.channel_name_starts_with
                .as_deref()
                .is_none_or(|p| channel.starts_with(p))
            && f.channel_name_ends_with
                .as_deref()
                .is_none_or(|s| channel.ends_with(s))
    }
}

/// A webhook as written (TOML table or Soketi JSON object).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct RawWebhook {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    filter: Option<Filter>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    lambda_function: Option<String>,
}

impl RawWebhook {
    /// The validated webhook; an error is about the app's `webhooks` key.
    pub fn build(self) -> Result<Webhook, ConfigError> {
        let fail = |message: String| ConfigError::key(super::Scope::App(0), "webhooks", message);
        let scheme = "the url must start with http:// or https://";
        let lambda = "AWS Lambda webhooks are not supported; give a url";
        let url = match (self.url, self.lambda_function) {
            (Some(url), _) if url.starts_with("http://") || url.starts_with("https://") => url,
            (Some(url), _) => return Err(fail(format!("{url}: {scheme}"))),
            (None, Some(f)) => return Err(fail(format!("lambda_function {f:?}: {lambda}"))),
            (None, None) => return Err(fail("a webhook needs a url".into())),
        };
        let known = |t: &&String| EVENT_TYPES.contains(&t.as_str());
        if let Some(bad) = self.event_types.iter().find(|t| !known(t)) {
            let known = EVENT_TYPES.join(", ");
            return Err(fail(format!("unknown event type {bad:?}; known: {known}")));
        }
        Ok(Webhook {
            url,
            event_types: self.event_types,
            filter: self.filter.unwrap_or_default(),
            headers: self.headers.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Result<Webhook, ConfigError> {
        serde_json::from_str::<RawWebhook>(json).unwrap().build()
    }

    #[test]
    fn filters_match_prefix_suffix_and_type() {
        let w = hook(r#"{"url":"http://x/h","event_types":["channel_occupied"],"filter":{"channel_name_starts_with":"private-","channel_name_ends_with":"-log"}}"#).unwrap();
        assert!(w.wants("channel_occupied", "private-a-log"));
        assert!(!w.wants("channel_occupied", "private-a"));
        assert!(!w.wants("channel_occupied", "public-log"));
        assert!(!w.wants("channel_vacated", "private-a-log"));
    }

    #[test]
    fn bad_webhooks_are_named() {
        let e = hook(r#"{"url":"http://x","event_types":["channel_ocupied"]}"#).unwrap_err();
        assert!(e.to_string().contains("channel_ocupied"), "{e}");
        let e = hook(r#"{"lambda_function":"f","event_types":[]}"#).unwrap_err();
        assert!(e.to_string().contains("Lambda"), "{e}");
        assert!(hook(r#"{"url":"ftp://x"}"#).is_err());
        assert!(hook(r#"{"url":"https://hooks.example.com/pusher"}"#).is_ok());
    }
}
