//! Every setting, one row each: its TOML key (the field), type and default, how a
//! value written as text or JSON is read ([`Kind`]), its `SOKETI_*` / `HERALD_*`
//! variables, its Soketi JSON option path, its names in a Soketi app object and its
//! flag. The environment, Soketi JSON, flag and `config check` readers all walk
//! these rows; the TOML file is the structs themselves (serde).
//!
//! A variable whose name starts with `SOKETI_DEFAULT_APP_` sets the first app
//! (Soketi's default app); any other sets `[server]`. When a row lists several
//! variables, a later one wins (`HERALD_*` over `SOKETI_*`).
//!
//! To add a setting: one row in the struct it belongs to (`RawServer`, `Limits`
//! or `RawApp`), e.g. `health_timeout_ms: u64 = 2000, Int, env "HERALD_HEALTH_TIMEOUT",
//! flag "health-timeout" "Seconds ...";`, then read the field where the raw server
//! is validated (`build.rs`) into the typed `Server` the code uses. TOML, the
//! variables, Soketi JSON, the flag, `--help`, `config check` and error naming follow.
//!
//! Why not figment: its metadata names a provider, not the variable, option path
//! or flag an operator wrote, and its environment reading is not Soketi's (JSON
//! first, empty means unset, default-app variables); the rows below are the data
//! figment would still need, and the source tracker is one map.

use serde::{Deserialize, Serialize};
use serde_json::Value as J;

/// How a value written as text (variable, flag) or JSON is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Text; a number is taken as its digits.
    Str,
    Int,
    Float,
    /// `true`/`false` or a number (0 is off); in a variable also `yes`/`on`/`no`/`off`,
    /// in Soketi JSON any text but `""`, `"false"` and `"0"` is on.
    Bool,
    /// Megabytes, stored as kilobytes.
    Megabytes,
    /// Text as written, never read as JSON (paths, user names).
    Raw,
    /// Like [`Kind::Raw`]; `config check` shows `****` when it is set.
    Secret,
    /// Like [`Kind::Str`]; shown with the password of the URL masked.
    Url,
    /// A JSON array of strings, or the strings separated by commas.
    List,
    /// Like [`Kind::List`], items may also be Soketi's `{"host":..,"port":..}` objects.
    Nodes,
    /// Like [`Kind::List`], each item a URL shown with its password masked.
    Urls,
    /// Soketi's webhooks: an array, or a JSON text of one (unreadable text: none).
    Webhooks,
    /// Only these values are read from the environment or Soketi JSON; others are
    /// left alone (and warned about).
    OneOf(&'static [&'static str]),
}

/// A flag: its long name and help.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub long: &'static str,
    pub help: &'static str,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The key in `[server]` or `[[apps]]`.
    pub key: &'static str,
    pub kind: Kind,
    /// Variables, later ones winning.
    pub env: &'static [&'static str],
    /// Soketi JSON option paths (`metrics.port`).
    pub json: &'static [&'static str],
    /// Names of the field in a Soketi app object (first set one wins).
    pub alias: &'static [&'static str],
    pub flag: Option<Flag>,
}

macro_rules! opt {
    () => { None };
    ($($t:tt)+) => { Some($($t)+) };
}

/// `struct Name / ROWS { key: type = default, Kind $(, env ...)? $(, json ...)? $(, alias ...)? $(, flag "long" "help")?; }`
macro_rules! settings {
    ($(#[$meta:meta])* pub struct $name:ident / $rows:ident {
        $($key:ident : $ty:ty = $default:expr, $kind:expr
            $(, env $($env:literal)+)? $(, json $($json:literal)+)?
            $(, alias $($alias:literal)+)? $(, flag $long:literal $help:literal)?;)*
    }) => {
        $(#[$meta])*
        pub struct $name { $(pub $key: $ty,)* }

        impl Default for $name {
            fn default() -> Self {
                $name { $($key: $default,)* }
            }
        }

        pub const $rows: &[Setting] = &[$(Setting {
            key: stringify!($key),
            kind: $kind,
            env: &[$($($env),+)?],
            json: &[$($($json),+)?],
            alias: &[$($($alias),+)?],
            flag: opt!($(Flag { long: $long, help: $help })?),
        },)*];
    };
}

use Kind::*;

settings! {
    /// The `[server]` table (its `Debug` masks the passwords).
    #[derive(Clone, PartialEq, Deserialize, Serialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct RawServer / SERVER {
        host: String = "0.0.0.0".into(), Str, env "SOKETI_HOST" "HERALD_HOST", json "host", flag "host" "Address to bind";
        port: u16 = 6001, Int, env "SOKETI_PORT" "HERALD_PORT", json "port", flag "port" "Port to bind";
        debug: bool = false, Bool, env "SOKETI_DEBUG" "HERALD_DEBUG", json "debug", flag "debug" "Per-frame debug logs";
        activity_timeout: u64 = 30, Int;
        pong_timeout: u64 = 30, Int;
        http_idle_timeout: u64 = 60, Int;
        threads: usize = 0, Int, env "HERALD_THREADS", flag "threads" "Threads serving connections, one runtime each (0: one per core)";
        shutdown_grace_period_ms: u64 = 3000, Int, env "SOKETI_SHUTDOWN_GRACE_PERIOD", json "shutdownGracePeriod";
        shutdown_reconnect_window_ms: u64 = 1000, Int, env "HERALD_SHUTDOWN_RECONNECT_WINDOW";
        http_fallback: bool = true, Bool, env "HERALD_HTTP_FALLBACK";
        http_fallback_idle_timeout_ms: u64 = 10_000, Int, env "HERALD_HTTP_FALLBACK_IDLE_TIMEOUT";
        cache_ttl: u64 = 1800, Int, env "SOKETI_CHANNEL_CACHE_TTL", json "channelLimits.cacheTtl";
        timestamp_window: u64 = 600, Int;
        max_request_size_kb: usize = 1024, Megabytes, env "SOKETI_HTTP_MAX_REQUEST_SIZE", json "httpApi.requestLimitInMb";
        max_message_size_kb: usize = 100, Int;
        socket_queue: usize = 1024, Int;
        adapter: String = "local".into(), Str, env "SOKETI_ADAPTER_DRIVER" "HERALD_ADAPTER", json "adapter.driver", flag "adapter" "`local` (one process; Soketi's `cluster` is taken as it), `redis` or `nats` (a cluster)";
        redis_url: String = "redis://127.0.0.1:6379/0".into(), Url, env "HERALD_REDIS_URL", flag "redis-url" "Redis URL for the cluster adapter";
        redis_prefix: String = "herald".into(), Str, env "SOKETI_ADAPTER_REDIS_PREFIX", json "adapter.redis.prefix";
        redis_cluster_nodes: Vec<String> = Vec::new(), Urls, env "HERALD_REDIS_CLUSTER_NODES";
        bus_lost_reconnect_secs: u64 = 0, Int, env "HERALD_BUS_LOST_RECONNECT";
        redis_sentinels: Vec<String> = Vec::new(), Nodes, env "SOKETI_DB_REDIS_SENTINELS" "HERALD_REDIS_SENTINELS", json "database.redis.sentinels";
        redis_sentinel_password: String = "".into(), Secret, env "SOKETI_DB_REDIS_SENTINEL_PASSWORD", json "database.redis.sentinelPassword";
        redis_master_name: String = "mymaster".into(), Str, env "SOKETI_DB_REDIS_INSTANCE_NAME", json "database.redis.name";
        path_prefix: String = "".into(), Str, env "SOKETI_PATH_PREFIX", json "pathPrefix";
        metrics_enabled: bool = false, Bool, env "SOKETI_METRICS_ENABLED", json "metrics.enabled";
        metrics_host: String = "0.0.0.0".into(), Str, env "SOKETI_METRICS_HOST", json "metrics.host";
        metrics_port: u16 = 9601, Int, env "SOKETI_METRICS_SERVER_PORT", json "metrics.port";
        metrics_prefix: String = "soketi_".into(), Str, env "SOKETI_METRICS_PROMETHEUS_PREFIX", json "metrics.prometheus.prefix";
        metrics_max_connections: usize = 16, Int, env "HERALD_METRICS_MAX_CONNECTIONS";
        webhook_batching: bool = false, Bool, env "SOKETI_WEBHOOKS_BATCHING", json "webhooks.batching.enabled";
        webhook_batching_ms: u64 = 50, Int, env "SOKETI_WEBHOOKS_BATCHING_DURATION", json "webhooks.batching.duration";
        webhook_vacate_delay_ms: u64 = 3000, Int;
        webhook_retry_initial_ms: u64 = 1000, Int;
        webhook_retry_for_secs: u64 = 300, Int;
        webhook_queue: usize = 10_000, Int;
        webhook_timeout_ms: u64 = 10_000, Int;
        webhook_ca_file: String = "".into(), Raw, env "HERALD_WEBHOOK_CA_FILE", flag "webhook-ca-file" "PEM file of extra CA certificates trusted for https:// webhooks";
        accept_traffic_memory_threshold: f64 = 85.0, Float, env "SOKETI_HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD", json "httpApi.acceptTraffic.memoryThreshold";
        tls_cert: String = "".into(), Raw, env "SOKETI_SSL_CERT" "HERALD_TLS_CERT", json "ssl.certPath", flag "tls-cert" "PEM certificate chain: serve HTTPS and wss:// on the main port";
        tls_key: String = "".into(), Raw, env "SOKETI_SSL_KEY" "HERALD_TLS_KEY", json "ssl.keyPath", flag "tls-key" "PEM private key for --tls-cert";
        tls_passphrase: String = "".into(), Secret, env "SOKETI_SSL_PASS" "HERALD_TLS_PASSPHRASE", json "ssl.passphrase", flag "tls-passphrase" "Passphrase of an encrypted PKCS#8 key";
        app_manager: String = "array".into(), Str, env "SOKETI_APP_MANAGER_DRIVER", json "appManager.driver";
        postgres_host: String = "127.0.0.1".into(), Str, env "SOKETI_DB_POSTGRES_HOST", json "database.postgres.host";
        postgres_port: u16 = 5432, Int, env "SOKETI_DB_POSTGRES_PORT", json "database.postgres.port";
        postgres_user: String = "postgres".into(), Raw, env "SOKETI_DB_POSTGRES_USERNAME", json "database.postgres.user";
        postgres_password: String = "password".into(), Secret, env "SOKETI_DB_POSTGRES_PASSWORD", json "database.postgres.password";
        postgres_database: String = "main".into(), Str, env "SOKETI_DB_POSTGRES_DATABASE", json "database.postgres.database";
        postgres_table: String = "apps".into(), Str, env "SOKETI_APP_MANAGER_POSTGRES_TABLE", json "appManager.postgres.table";
        mysql_host: String = "127.0.0.1".into(), Str, env "SOKETI_DB_MYSQL_HOST", json "database.mysql.host";
        mysql_port: u16 = 3306, Int, env "SOKETI_DB_MYSQL_PORT", json "database.mysql.port";
        mysql_user: String = "root".into(), Raw, env "SOKETI_DB_MYSQL_USERNAME", json "database.mysql.user";
        mysql_password: String = "password".into(), Secret, env "SOKETI_DB_MYSQL_PASSWORD", json "database.mysql.password";
        mysql_database: String = "main".into(), Str, env "SOKETI_DB_MYSQL_DATABASE", json "database.mysql.database";
        mysql_table: String = "apps".into(), Str, env "SOKETI_APP_MANAGER_MYSQL_TABLE", json "appManager.mysql.table";
        dynamodb_table: String = "apps".into(), Str, env "SOKETI_APP_MANAGER_DYNAMODB_TABLE", json "appManager.dynamodb.table";
        dynamodb_region: String = "us-east-1".into(), Str, env "SOKETI_APP_MANAGER_DYNAMODB_REGION", json "appManager.dynamodb.region";
        dynamodb_endpoint: String = "".into(), Url, env "SOKETI_APP_MANAGER_DYNAMODB_ENDPOINT", json "appManager.dynamodb.endpoint";
        app_refresh_secs: i64 = 5, Int, env "SOKETI_APP_MANAGER_CACHE_TTL", json "appManager.cache.ttl";
        http_request_timeout: u64 = 15, Int, env "HERALD_HTTP_REQUEST_TIMEOUT";
        ws_frame_timeout: u64 = 15, Int, env "HERALD_WS_FRAME_TIMEOUT";
        max_node_connections: usize = 0, Int, env "HERALD_MAX_NODE_CONNECTIONS";
        max_connections_per_ip: usize = 0, Int, env "HERALD_MAX_CONNECTIONS_PER_IP";
        max_channels_per_connection: usize = 300, Int, env "HERALD_MAX_CHANNELS_PER_CONNECTION";
        trusted_proxies: Vec<String> = Vec::new(), List, env "HERALD_TRUSTED_PROXIES";
        console_enabled: bool = false, Bool, env "HERALD_CONSOLE", flag "console" "Serve the debug console on the metrics port, /console";
        console_token: String = "".into(), Secret, env "HERALD_CONSOLE_TOKEN";
        console_queue: usize = super::console::DEFAULT_QUEUE, Int, env "HERALD_CONSOLE_QUEUE";
        mode: String = "full".into(), Str, env "SOKETI_MODE", json "mode";
        queue_driver: String = "sync".into(), OneOf(&["sync", "redis", "sqs"]), env "SOKETI_QUEUE_DRIVER", json "queue.driver";
        sqs_url: String = "".into(), Url, env "SOKETI_QUEUE_SQS_URL", json "queue.sqs.queueUrl";
        sqs_region: String = "us-east-1".into(), Str, env "SOKETI_QUEUE_SQS_REGION", json "queue.sqs.region";
        sqs_endpoint: String = "".into(), Url, env "SOKETI_QUEUE_SQS_ENDPOINT", json "queue.sqs.endpoint";
        sqs_process_batch: bool = false, Bool, env "SOKETI_QUEUE_SQS_PROCESS_BATCH", json "queue.sqs.processBatch";
        sqs_batch_size: usize = 1, Int, env "SOKETI_QUEUE_SQS_BATCH_SIZE", json "queue.sqs.batchSize";
        sqs_polling_wait_ms: u64 = 0, Int, env "SOKETI_QUEUE_SQS_POLLING_WAIT_TIME_MS", json "queue.sqs.pollingWaitTimeMs";
        nats_servers: Vec<String> = vec!["127.0.0.1:4222".to_string()], List, env "SOKETI_ADAPTER_NATS_SERVERS", json "adapter.nats.servers";
        nats_user: String = "".into(), Raw, env "SOKETI_ADAPTER_NATS_USER", json "adapter.nats.user";
        nats_password: String = "".into(), Secret, env "SOKETI_ADAPTER_NATS_PASSWORD", json "adapter.nats.pass";
        nats_token: String = "".into(), Secret, env "SOKETI_ADAPTER_NATS_TOKEN", json "adapter.nats.token";
        nats_timeout_ms: u64 = 10_000, Int, env "SOKETI_ADAPTER_NATS_TIMEOUT", json "adapter.nats.timeout";
        nats_prefix: String = "herald".into(), Str, env "SOKETI_ADAPTER_NATS_PREFIX", json "adapter.nats.prefix";
        cluster_unicast: Vec<String> = Vec::new(), List, env "SOKETI_CLUSTER_UNICAST_ADDRESSES", json "cluster.unicast";
        cluster_multicast: String = "".into(), Str, env "SOKETI_CLUSTER_MULTICAST_ADDRESS", json "cluster.multicast";
    }
}

settings! {
    /// Limits that apply per app: `[server]` gives their defaults, an app may
    /// override them.
    #[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Limits / LIMITS {
        max_channel_name_length: usize = 200, Int, env "SOKETI_CHANNEL_MAX_NAME_LENGTH" "SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH", json "channelLimits.maxNameLength", alias "maxChannelNameLength" "MaxChannelNameLength" "max_channel_name_length";
        max_presence_members: usize = 100, Int, env "SOKETI_PRESENCE_MAX_MEMBERS", json "presence.maxMembersPerChannel", alias "maxPresenceMembersPerChannel" "MaxPresenceMembersPerChannel" "max_presence_members_per_channel";
        max_presence_member_size_kb: f64 = 2.0, Float, env "SOKETI_PRESENCE_MAX_MEMBER_SIZE", json "presence.maxMemberSizeInKb", alias "maxPresenceMemberSizeInKb" "MaxPresenceMemberSizeInKb" "max_presence_member_size_in_kb";
        max_event_payload_kb: f64 = 100.0, Float, env "SOKETI_EVENT_MAX_SIZE_IN_KB", json "eventLimits.maxPayloadInKb", alias "maxEventPayloadInKb" "MaxEventPayloadInKb" "max_event_payload_in_kb";
        max_event_name_length: usize = 200, Int, env "SOKETI_EVENT_MAX_NAME_LENGTH", json "eventLimits.maxNameLength", alias "maxEventNameLength" "MaxEventNameLength" "max_event_name_length";
        max_event_channels_at_once: usize = 100, Int, env "SOKETI_EVENT_MAX_CHANNELS_AT_ONCE", json "eventLimits.maxChannelsAtOnce", alias "maxEventChannelsAtOnce" "MaxEventChannelsAtOnce" "max_event_channels_at_once";
        max_event_batch_size: usize = 10, Int, env "SOKETI_EVENT_MAX_BATCH_SIZE", json "eventLimits.maxBatchSize", alias "maxEventBatchSize" "MaxEventBatchSize" "max_event_batch_size";
        // Client events per second per socket; negative: unlimited.
        max_client_events_per_sec: i64 = 10, Int, env "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC", alias "maxClientEventsPerSecond" "MaxClientEventsPerSecond" "max_client_events_per_sec";
        user_authentication_timeout_ms: u64 = 30_000, Int, env "SOKETI_USER_AUTHENTICATION_TIMEOUT", json "userAuthenticationTimeout";
        // HTTP API events per second per app, one point per channel; negative: unlimited.
        max_backend_events_per_sec: i64 = -1, Int, env "SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", alias "maxBackendEventsPerSecond" "MaxBackendEventsPerSecond" "max_backend_events_per_sec";
        // HTTP API channel queries (GET) per second per app; negative: unlimited.
        max_read_req_per_sec: i64 = -1, Int, env "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC", alias "maxReadRequestsPerSecond" "MaxReadRequestsPerSecond" "max_read_req_per_sec";
    }
}

settings! {
    /// An `[[apps]]` entry (`id`, `key` and `secret` are required; its `Debug`
    /// masks the secret). Unset limits fall back to the server's.
    #[derive(Clone, PartialEq, Deserialize, Serialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct RawApp / APP {
        id: String = "".into(), Str, env "SOKETI_DEFAULT_APP_ID", alias "id" "AppId";
        key: String = "".into(), Str, env "SOKETI_DEFAULT_APP_KEY", alias "key" "AppKey";
        secret: String = "".into(), Secret, env "SOKETI_DEFAULT_APP_SECRET", alias "secret" "AppSecret";
        enabled: bool = true, Bool, env "SOKETI_DEFAULT_APP_ENABLED", alias "enabled" "Enabled";
        enable_client_messages: bool = false, Bool, env "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES", alias "enableClientMessages" "EnableClientMessages" "enable_client_messages";
        enable_user_authentication: bool = false, Bool, env "SOKETI_DEFAULT_APP_USER_AUTHENTICATION", alias "enableUserAuthentication" "EnableUserAuthentication" "enable_user_authentication";
        enable_subscription_count: bool = false, Bool, env "SOKETI_DEFAULT_APP_ENABLE_SUBSCRIPTION_COUNT", alias "enableSubscriptionCount" "EnableSubscriptionCount" "enable_subscription_count";
        enable_watchlist_events: bool = false, Bool, env "SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS", alias "enableWatchlistEvents" "EnableWatchlistEvents" "enable_watchlist_events";
        max_connections: i64 = -1, Int, env "SOKETI_DEFAULT_APP_MAX_CONNS", alias "maxConnections" "MaxConnections" "max_connections";
        webhooks: Vec<super::webhooks::RawWebhook> = Vec::new(), Webhooks, env "SOKETI_DEFAULT_APP_WEBHOOKS", alias "webhooks" "Webhooks";
        allowed_origins: Vec<String> = Vec::new(), List, alias "allowedOrigins" "allowed_origins";
        // Channels (`*` ends a prefix) whose API events are kept for recovery after a reconnect.
        recovery_channels: Vec<String> = Vec::new(), List, env "SOKETI_DEFAULT_APP_RECOVERY_CHANNELS", alias "recoveryChannels" "RecoveryChannels" "recovery_channels";
        recovery_max_events: usize = 100, Int, env "SOKETI_DEFAULT_APP_RECOVERY_MAX_EVENTS", alias "recoveryMaxEvents" "RecoveryMaxEvents" "recovery_max_events";
        recovery_max_age: u64 = 120, Int, env "SOKETI_DEFAULT_APP_RECOVERY_MAX_AGE", alias "recoveryMaxAge" "RecoveryMaxAge" "recovery_max_age";
        // Kept events over all the app's recovery channels, per node (~320 B each for 200 B of data).
        recovery_max_kept: usize = 200_000, Int, env "SOKETI_DEFAULT_APP_RECOVERY_MAX_KEPT", alias "recoveryMaxKept" "RecoveryMaxKept" "recovery_max_kept";
    }
}

/// Every row: `[server]`, the limits, the app keys.
pub fn rows() -> impl Iterator<Item = &'static Setting> {
    SERVER.iter().chain(LIMITS).chain(APP)
}

/// Every name a setting goes by, for messages: its key, variables and flag.
pub fn names(key: &str) -> String {
    let Some(row) = rows().find(|r| r.key == key) else {
        return key.to_string();
    };
    let flag = row.flag.map(|f| format!("--{}", f.long));
    let names = std::iter::once(key.to_string()).chain(row.env.iter().map(|e| e.to_string()));
    names.chain(flag).collect::<Vec<_>>().join(", ")
}

/// Variables with this prefix set the first app; the others `[server]`.
pub const DEFAULT_APP: &str = "SOKETI_DEFAULT_APP_";

impl Kind {
    /// A value written as text (a variable, a flag): JSON first, else the text,
    /// except for kinds that are text as written.
    pub fn read_text(self, text: &str) -> Option<toml::Value> {
        let json = match (self, serde_json::from_str(text)) {
            (Raw | Secret | List | Urls, _) => J::String(text.to_string()),
            (_, Ok(J::Null)) => J::String(text.to_string()),
            (_, Ok(json)) => json,
            // Unreadable webhooks JSON in a variable is an error, not "no webhooks".
            (Webhooks, Err(_)) => return Some(text.into()),
            (_, Err(_)) => J::String(text.to_string()),
        };
        match (self, json) {
            // A word, as Soketi's variables allow; any other text is refused.
            (Bool, J::String(s)) => Some(match s.to_ascii_lowercase().as_str() {
                "yes" | "on" => true.into(),
                "no" | "off" => false.into(),
                _ => s.into(),
            }),
            (kind, json) => kind.read(json),
        }
    }

    /// A JSON value as this kind; `None` when it is to be left alone (`null`, a
    /// value [`Kind::OneOf`] does not list). A value of the wrong type is kept
    /// as it is, for serde to name the problem.
    pub fn read(self, value: J) -> Option<toml::Value> {
        use toml::Value as T;
        Some(match (self, value) {
            (_, J::Null) => return None,
            (OneOf(ok), v) => T::String(text(&v).filter(|s| ok.contains(&s.as_str()))?),
            (Str | Raw | Secret | Url, J::Number(n)) => T::String(n.to_string()),
            (Int | Float | Megabytes, J::String(s)) => match s.trim().parse::<serde_json::Number>()
            {
                Ok(n) => return self.read(J::Number(n)),
                Err(_) => T::String(s),
            },
            (Int, J::Number(n)) => T::Integer(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?),
            (Float, J::Number(n)) => T::Float(n.as_f64()?),
            (Megabytes, J::Number(n)) => T::Integer((n.as_f64()? * 1024.0) as i64),
            (Bool, J::Number(n)) => T::Boolean(n.as_f64()? != 0.0),
            // Soketi's JSON truthiness: `"false"`, `"0"` and `""` are off.
            (Bool, J::String(s)) => T::Boolean(!matches!(s.as_str(), "" | "false" | "0")),
            (Bool, J::Array(_) | J::Object(_)) => T::Boolean(true),
            (List | Urls | Nodes, J::String(s)) => list(&s),
            (List | Urls, J::Array(items)) => {
                T::Array(items.iter().filter_map(text).map(T::String).collect())
            }
            (Nodes, J::Array(items)) => T::Array(items.iter().filter_map(node).collect()),
            (Webhooks, J::String(s)) => match serde_json::from_str(&s) {
                Ok(a @ J::Array(_)) => json_to_toml(a)?,
                _ => T::Array(Vec::new()),
            },
            (_, v) => json_to_toml(v)?,
        })
    }
}

/// `["a","b"]` or `a, b` as an array of strings (unreadable JSON stays text).
fn list(text: &str) -> toml::Value {
    let items: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
        Ok(items) => items,
        Err(_) if text.trim_start().starts_with('[') => return text.into(),
        Err(_) => text.split(',').map(|s| s.trim().to_string()).collect(),
    };
    let items = items.into_iter().filter(|s| !s.is_empty());
    toml::Value::Array(items.map(toml::Value::String).collect())
}

/// `host:port` (or `host`) of a `"host:port"` string or a `{"host":..,"port":..}` object.
fn node(value: &J) -> Option<toml::Value> {
    let J::Object(o) = value else {
        return text(value).map(toml::Value::String);
    };
    let host = o.get("host").and_then(J::as_str).unwrap_or("127.0.0.1");
    Some(match o.get("port").and_then(text) {
        Some(port) => format!("{host}:{port}").into(),
        None => host.into(),
    })
}

/// A scalar as text.
pub fn text(value: &J) -> Option<String> {
    match value {
        J::String(s) => Some(s.clone()),
        J::Number(n) => Some(n.to_string()),
        J::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// JSON into TOML; `null` (which TOML lacks) drops the key.
pub fn json_to_toml(j: J) -> Option<toml::Value> {
    use toml::Value as T;
    Some(match j {
        J::Null => return None,
        J::Bool(b) => T::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => T::Integer(i),
            None => T::Float(n.as_f64()?),
        },
        J::String(s) => T::String(s),
        J::Array(a) => T::Array(a.into_iter().filter_map(json_to_toml).collect()),
        J::Object(o) => T::Table(
            o.into_iter()
                .filter_map(|(k, v)| Some((k, json_to_toml(v)?)))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name read by two rows would set two keys from one value: each variable,
    /// Soketi option and flag belongs to one row, and a flag has a `HERALD_*` variable.
    #[test]
    fn every_name_belongs_to_one_row() {
        let mut seen = std::collections::HashSet::new();
        for row in rows() {
            let flag = row.flag.map(|f| format!("--{}", f.long));
            let json = row.json.iter().map(|p| format!("json {p}"));
            let env = row.env.iter().map(|v| v.to_string());
            for name in env.chain(json).chain(flag.clone()) {
                assert!(seen.insert(name.clone()), "{name} is read by two rows");
            }
            let herald = row.env.iter().any(|v| v.starts_with("HERALD_"));
            assert!(flag.is_none() || herald, "{}", row.key);
        }
    }
}
