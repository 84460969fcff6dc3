//! The tables: every environment variable herald reads (Soketi's, and its own
//! `HERALD_*` guards), where it goes and how its value is read; and Soketi's
//! variables for features herald does not have.

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Str,
    Int,
    Float,
    Bool,
    /// Megabytes, stored as kilobytes.
    Megabytes,
    /// A JSON array (Soketi's webhooks list).
    JsonArray,
    /// The text as it is, never read as JSON (paths, passphrases).
    Raw,
    /// A JSON array of strings, or the strings separated by commas.
    List,
}

#[derive(Clone, Copy)]
pub(super) enum Target {
    Server,
    DefaultApp,
}

/// (variable, where it goes, key, kind)
pub(super) const VARS: &[(&str, Target, &str, Kind)] = &[
    // herald's debug console.
    (
        "HERALD_CONSOLE",
        Target::Server,
        "console_enabled",
        Kind::Bool,
    ),
    (
        "HERALD_CONSOLE_TOKEN",
        Target::Server,
        "console_token",
        Kind::Raw,
    ),
    (
        "HERALD_CONSOLE_QUEUE",
        Target::Server,
        "console_queue",
        Kind::Int,
    ),
    // herald's own guards (Soketi has no equivalent).
    (
        "HERALD_HTTP_REQUEST_TIMEOUT",
        Target::Server,
        "http_request_timeout",
        Kind::Int,
    ),
    (
        "HERALD_WS_FRAME_TIMEOUT",
        Target::Server,
        "ws_frame_timeout",
        Kind::Int,
    ),
    (
        "HERALD_MAX_NODE_CONNECTIONS",
        Target::Server,
        "max_node_connections",
        Kind::Int,
    ),
    (
        "HERALD_MAX_CONNECTIONS_PER_IP",
        Target::Server,
        "max_connections_per_ip",
        Kind::Int,
    ),
    (
        "HERALD_MAX_CHANNELS_PER_CONNECTION",
        Target::Server,
        "max_channels_per_connection",
        Kind::Int,
    ),
    (
        "HERALD_REDIS_CLUSTER_NODES",
        Target::Server,
        "redis_cluster_nodes",
        Kind::List,
    ),
    (
        "HERALD_TRUSTED_PROXIES",
        Target::Server,
        "trusted_proxies",
        Kind::List,
    ),
    (
        "HERALD_SHUTDOWN_RECONNECT_WINDOW",
        Target::Server,
        "shutdown_reconnect_window_ms",
        Kind::Int,
    ),
    (
        "HERALD_HTTP_FALLBACK",
        Target::Server,
        "http_fallback",
        Kind::Bool,
    ),
    (
        "HERALD_HTTP_FALLBACK_IDLE_TIMEOUT",
        Target::Server,
        "http_fallback_idle_timeout_ms",
        Kind::Int,
    ),
    ("SOKETI_HOST", Target::Server, "host", Kind::Str),
    ("SOKETI_PORT", Target::Server, "port", Kind::Int),
    ("SOKETI_DEBUG", Target::Server, "debug", Kind::Bool),
    (
        "SOKETI_SHUTDOWN_GRACE_PERIOD",
        Target::Server,
        "shutdown_grace_period_ms",
        Kind::Int,
    ),
    (
        "SOKETI_USER_AUTHENTICATION_TIMEOUT",
        Target::Server,
        "user_authentication_timeout_ms",
        Kind::Int,
    ),
    (
        "SOKETI_PRESENCE_MAX_MEMBERS",
        Target::Server,
        "max_presence_members",
        Kind::Int,
    ),
    (
        "SOKETI_PRESENCE_MAX_MEMBER_SIZE",
        Target::Server,
        "max_presence_member_size_kb",
        Kind::Float,
    ),
    (
        "SOKETI_EVENT_MAX_BATCH_SIZE",
        Target::Server,
        "max_event_batch_size",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_CHANNELS_AT_ONCE",
        Target::Server,
        "max_event_channels_at_once",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_NAME_LENGTH",
        Target::Server,
        "max_event_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_SIZE_IN_KB",
        Target::Server,
        "max_event_payload_kb",
        Kind::Float,
    ),
    (
        "SOKETI_CHANNEL_MAX_NAME_LENGTH",
        Target::Server,
        "max_channel_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH",
        Target::Server,
        "max_channel_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_CHANNEL_CACHE_TTL",
        Target::Server,
        "cache_ttl",
        Kind::Int,
    ),
    ("SOKETI_DEFAULT_APP_ID", Target::DefaultApp, "id", Kind::Str),
    (
        "SOKETI_DEFAULT_APP_KEY",
        Target::DefaultApp,
        "key",
        Kind::Str,
    ),
    (
        "SOKETI_DEFAULT_APP_SECRET",
        Target::DefaultApp,
        "secret",
        Kind::Str,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLED",
        Target::DefaultApp,
        "enabled",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES",
        Target::DefaultApp,
        "enable_client_messages",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_USER_AUTHENTICATION",
        Target::DefaultApp,
        "enable_user_authentication",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLE_SUBSCRIPTION_COUNT",
        Target::DefaultApp,
        "enable_subscription_count",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS",
        Target::DefaultApp,
        "enable_watchlist_events",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_CONNS",
        Target::DefaultApp,
        "max_connections",
        Kind::Int,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC",
        Target::DefaultApp,
        "max_client_events_per_sec",
        Kind::Int,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC",
        Target::DefaultApp,
        "max_backend_events_per_sec",
        Kind::Int,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC",
        Target::DefaultApp,
        "max_read_req_per_sec",
        Kind::Int,
    ),
    (
        "SOKETI_DEFAULT_APP_WEBHOOKS",
        Target::DefaultApp,
        "webhooks",
        Kind::JsonArray,
    ),
    (
        "SOKETI_WEBHOOKS_BATCHING",
        Target::Server,
        "webhook_batching",
        Kind::Bool,
    ),
    (
        "SOKETI_WEBHOOKS_BATCHING_DURATION",
        Target::Server,
        "webhook_batching_ms",
        Kind::Int,
    ),
    (
        "SOKETI_METRICS_ENABLED",
        Target::Server,
        "metrics_enabled",
        Kind::Bool,
    ),
    (
        "SOKETI_METRICS_HOST",
        Target::Server,
        "metrics_host",
        Kind::Str,
    ),
    (
        "SOKETI_METRICS_SERVER_PORT",
        Target::Server,
        "metrics_port",
        Kind::Int,
    ),
    (
        "SOKETI_METRICS_PROMETHEUS_PREFIX",
        Target::Server,
        "metrics_prefix",
        Kind::Str,
    ),
    (
        "SOKETI_PATH_PREFIX",
        Target::Server,
        "path_prefix",
        Kind::Str,
    ),
    (
        "SOKETI_HTTP_MAX_REQUEST_SIZE",
        Target::Server,
        "max_request_size_kb",
        Kind::Megabytes,
    ),
    (
        "SOKETI_HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD",
        Target::Server,
        "accept_traffic_memory_threshold",
        Kind::Float,
    ),
    ("SOKETI_SSL_CERT", Target::Server, "tls_cert", Kind::Raw),
    ("SOKETI_SSL_KEY", Target::Server, "tls_key", Kind::Raw),
    (
        "SOKETI_APP_MANAGER_DRIVER",
        Target::Server,
        "app_manager",
        Kind::Str,
    ),
    (
        "SOKETI_APP_MANAGER_POSTGRES_TABLE",
        Target::Server,
        "postgres_table",
        Kind::Str,
    ),
    (
        "SOKETI_APP_MANAGER_CACHE_TTL",
        Target::Server,
        "app_refresh_secs",
        Kind::Int,
    ),
    (
        "SOKETI_DB_POSTGRES_HOST",
        Target::Server,
        "postgres_host",
        Kind::Str,
    ),
    (
        "SOKETI_DB_POSTGRES_PORT",
        Target::Server,
        "postgres_port",
        Kind::Int,
    ),
    (
        "SOKETI_DB_POSTGRES_USERNAME",
        Target::Server,
        "postgres_user",
        Kind::Str,
    ),
    (
        "SOKETI_DB_POSTGRES_PASSWORD",
        Target::Server,
        "postgres_password",
        Kind::Raw,
    ),
    (
        "SOKETI_DB_POSTGRES_DATABASE",
        Target::Server,
        "postgres_database",
        Kind::Str,
    ),
    ("SOKETI_MODE", Target::Server, "mode", Kind::Str),
    (
        "SOKETI_APP_MANAGER_MYSQL_TABLE",
        Target::Server,
        "mysql_table",
        Kind::Str,
    ),
    (
        "SOKETI_DB_MYSQL_HOST",
        Target::Server,
        "mysql_host",
        Kind::Str,
    ),
    (
        "SOKETI_DB_MYSQL_PORT",
        Target::Server,
        "mysql_port",
        Kind::Int,
    ),
    (
        "SOKETI_DB_MYSQL_USERNAME",
        Target::Server,
        "mysql_user",
        Kind::Str,
    ),
    (
        "SOKETI_DB_MYSQL_PASSWORD",
        Target::Server,
        "mysql_password",
        Kind::Raw,
    ),
    (
        "SOKETI_DB_MYSQL_DATABASE",
        Target::Server,
        "mysql_database",
        Kind::Str,
    ),
    (
        "SOKETI_ADAPTER_NATS_SERVERS",
        Target::Server,
        "nats_servers",
        Kind::List,
    ),
    (
        "SOKETI_ADAPTER_NATS_USER",
        Target::Server,
        "nats_user",
        Kind::Raw,
    ),
    (
        "SOKETI_ADAPTER_NATS_PASSWORD",
        Target::Server,
        "nats_password",
        Kind::Raw,
    ),
    (
        "SOKETI_ADAPTER_NATS_TOKEN",
        Target::Server,
        "nats_token",
        Kind::Raw,
    ),
    (
        "SOKETI_ADAPTER_NATS_TIMEOUT",
        Target::Server,
        "nats_timeout_ms",
        Kind::Int,
    ),
    (
        "SOKETI_ADAPTER_NATS_PREFIX",
        Target::Server,
        "nats_prefix",
        Kind::Str,
    ),
    (
        "SOKETI_SSL_PASS",
        Target::Server,
        "tls_passphrase",
        Kind::Raw,
    ),
];

/// Soketi variables herald accepts and needs no value of: the version hints and
/// the choice of Node driver Soketi hands to Knex.
pub(super) const ACCEPTED: &[&str] = &[
    "SOKETI_APP_MANAGER_MYSQL_VERSION",
    "SOKETI_APP_MANAGER_MYSQL_USE_V2",
    "SOKETI_APP_MANAGER_POSTGRES_VERSION",
];

/// Soketi variables for features herald does not have, by prefix, with the
/// values that need no warning (herald already behaves that way) and why the
/// others are ignored. `SOKETI_ADAPTER_*` and `SOKETI_DB_REDIS_*` are read by
/// [`super::apply`] itself.
pub(super) const UNSUPPORTED: &[(&str, &[&str], &str)] = &[
    ("SOKETI_SSL_CA", &[], "client certificates are not verified; put intermediate certificates in SOKETI_SSL_CERT after the server's"),
    ("SOKETI_APP_MANAGER_CACHE_ENABLED", &["true", "false", "1", "0"], "apps from Postgres or MySQL are always kept in memory and read again every SOKETI_APP_MANAGER_CACHE_TTL seconds"),
    ("SOKETI_APP_MANAGER_", &[], "apps come from the config file, SOKETI_DEFAULT_APP_*, Postgres or MySQL; no DynamoDB app manager"),
    ("SOKETI_DB_MYSQL_", &[], "not a MySQL setting herald reads"),
    ("SOKETI_DB_POSTGRES_", &[], "not a Postgres setting herald reads"),
    ("SOKETI_DB_POOLING_", &[], "the apps table is read over one connection every SOKETI_APP_MANAGER_CACHE_TTL seconds; there is no pool to size"),
    ("SOKETI_QUEUE_DRIVER", &["sync", "redis"], "there is no SQS queue: webhooks wait in this node's memory (use redis for a durable queue)"),
    ("SOKETI_QUEUE_", &[], "the Redis queue uses SOKETI_DB_REDIS_* and the adapter's prefix; each worker node delivers up to 64 jobs per app at once, retries included"),
    ("SOKETI_CACHE_DRIVER", &["memory"], "cache channels live in memory, or in Redis or NATS JetStream with SOKETI_ADAPTER_DRIVER=redis or nats"),
    ("SOKETI_CACHE_", &[], "cache channels live in memory, or in Redis or NATS JetStream with SOKETI_ADAPTER_DRIVER=redis or nats"),
    ("SOKETI_RATE_LIMITER_DRIVER", &["local", "redis"], "HTTP API limits follow the adapter: cluster-wide with Redis or NATS, per node otherwise"),
    ("SOKETI_RATE_LIMITER_", &[], "HTTP API limits follow the adapter: cluster-wide with Redis or NATS, per node otherwise"),
    ("SOKETI_CLUSTER_", &[], "there is no UDP cluster discovery; use SOKETI_ADAPTER_DRIVER=redis or nats"),
    ("SOKETI_METRICS_DRIVER", &["prometheus"], "only Prometheus metrics exist"),
];
