//! The `herald` binary: read configuration, bind, serve until a signal, drain.

mod cli;

use anyhow::Context;
use cli::Cli;
use herald::config::{self, RawConfig};
use herald::node::Node;
use herald::server::Listener;
use std::net::{SocketAddr, ToSocketAddrs};

/// `herald config check`: never returns.
fn check(cli: &Cli) -> ! {
    let result = load(cli).and_then(|(config, warnings)| {
        listen_addr(&config)?;
        tls(&config)?;
        Ok((config, warnings))
    });
    match result {
        Ok((config, mut warnings)) => {
            warnings.extend(unsupported_env());
            for warning in warnings {
                eprintln!("warning: {warning}");
            }
            print!("{}", config::summary::render(&config));
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("herald: invalid configuration: {e:#}");
            std::process::exit(2)
        }
    }
}

/// `herald health`: probe the health listener these settings describe (given none on its
/// command line, those of the herald serving as PID 1, as in a container); never returns.
fn health(cli: &Cli) -> ! {
    let pid1 = cli.config.is_none() && cli.settings().is_empty();
    let serving = pid1.then(Cli::of_pid1).flatten();
    let probed = load(serving.as_ref().unwrap_or(cli)).and_then(|(config, _)| {
        let (server, m) = (&config.server, &config.server.raw);
        let mut addr = resolve(&m.metrics_host, m.metrics_port)?;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let path = format!("{}/ready", server.path_prefix);
        Ok(herald::health::probe(
            addr,
            &path,
            std::time::Duration::from_secs(2),
        )?)
    });
    match probed {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("herald: not ready: {e:#}");
            std::process::exit(1)
        }
    }
}

/// The validated configuration and warnings about options herald ignores.
fn load(cli: &Cli) -> anyhow::Result<(config::Config, Vec<String>)> {
    let (mut raw, warnings) = match &cli.config {
        Some(path) => read_file(path)?,
        None => (RawConfig::default(), Vec::new()),
    };
    let env = environment();
    config::env::apply(&mut raw, &|name| env.get(name).cloned())?;
    for (key, value, source) in cli.settings() {
        raw.set_server(key, value, source);
    }
    Ok((raw.build()?, warnings))
}

/// Read the TLS files the configuration names: the main port's acceptor, if
/// TLS is on, and the webhook CA file, checked here so a bad one stops the start.
fn tls(config: &config::Config) -> anyhow::Result<Option<herald::tls::TlsAcceptor>> {
    if let Some(ca) = &config.server.webhooks.ca_file {
        herald::tls::connector(Some(ca))?;
    }
    Ok(config
        .server
        .tls
        .as_ref()
        .map(herald::tls::acceptor)
        .transpose()?)
}

/// A TOML file, or Soketi's JSON config when the name ends in `.json`.
fn read_file(path: &str) -> anyhow::Result<(RawConfig, Vec<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read config file {path}"))?;
    if path.to_ascii_lowercase().ends_with(".json") {
        Ok(config::soketi_json::parse(path, &text)?)
    } else {
        Ok((RawConfig::parse_toml(path, &text)?, Vec::new()))
    }
}

/// The process environment over the variables of `./.env` (as Soketi reads it
/// with dotenv: the real environment wins).
fn environment() -> std::collections::HashMap<String, String> {
    let mut vars: std::collections::HashMap<String, String> = std::fs::read_to_string(".env")
        .map(|text| config::env::parse_dotenv(&text).into_iter().collect())
        .unwrap_or_default();
    vars.extend(std::env::vars());
    vars
}

/// One warning per `SOKETI_*` variable herald does not act on.
fn unsupported_env() -> Vec<String> {
    let env = environment();
    config::env::unsupported(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn init_logs(debug: bool) {
    let default = if debug {
        "herald=trace,info"
    } else {
        "herald=info,warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG")
        .unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The main port's address; an error names where the host was set.
fn listen_addr(config: &config::Config) -> anyhow::Result<SocketAddr> {
    let origin = config.sources.describe(config::Scope::Server, "host");
    resolve(&config.server.raw.host, config.server.raw.port).with_context(|| origin)
}

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("cannot resolve {host}"))
}

/// Bind the health/usage/metrics listener (Soketi's port 9601), or take the
/// one systemd passed, and serve it in the background.
fn start_metrics(node: &std::sync::Arc<Node>, inherited: Option<Listener>) {
    if let Some(listener) = inherited {
        tracing::info!(addr = ?listener.local_addr().ok(), "health and metrics listening (socket from systemd)");
        tokio::spawn(herald::health::run(listener.socket, node.clone()));
        return;
    }
    let m = &node.config.server.raw;
    let addr = match resolve(&m.metrics_host, m.metrics_port) {
        Ok(a) => a,
        Err(e) => {
            let origin = (node.config.sources).describe(config::Scope::Server, "metrics_host");
            eprintln!("herald: {origin}: {e:#}");
            std::process::exit(2);
        }
    };
    // Serving traffic matters more than serving metrics: say so loudly and go on.
    let listener = match herald::server::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(%addr, error = %e, "cannot listen for health and metrics (SOKETI_METRICS_SERVER_PORT); running without them");
            return;
        }
    };
    tracing::info!(%addr, metrics = m.metrics_enabled, "health and metrics listening");
    tokio::spawn(herald::health::run(listener, node.clone()));
}

/// The main thread runs a single-threaded runtime: accept, background work and
/// its share of the connections; `server::run` starts the other shards.
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(serve());
}

async fn serve() {
    let cli = Cli::read();
    match cli.action() {
        cli::Action::Check => check(&cli),
        cli::Action::Health => health(&cli),
        cli::Action::Serve => {}
    }
    let (listener, acceptor, node, metrics) = match prepare(&cli).await {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("herald: {e:#}");
            std::process::exit(2);
        }
    };
    if let Some(table) = node.config.server.app_table.clone() {
        herald::app_table::keep_fresh(node.clone(), table);
    }
    start_metrics(&node, metrics);
    herald::server::run(listener, acceptor, node, shutdown_signal()).await;
    tracing::info!("stopped");
}

/// What serving needs: the main listener, TLS, the node, an inherited metrics
/// listener; or why herald cannot start (exit 2).
type Ready = (
    Listener,
    Option<herald::tls::TlsAcceptor>,
    std::sync::Arc<Node>,
    Option<Listener>,
);

async fn prepare(cli: &Cli) -> anyhow::Result<Ready> {
    let (config, warnings) = load(cli)?;
    init_logs(config.server.raw.debug);
    for warning in unsupported_env().into_iter().chain(warnings) {
        tracing::warn!("{warning}");
    }
    if config.server.raw.adapter == "cluster" {
        tracing::info!("adapter \"cluster\" runs as \"local\": herald is one multi-threaded process, so it already serves every core of this host as Soketi's PM2 cluster did; UDP discovery and SOKETI_CLUSTER_* are not needed (several hosts join through redis or nats)");
    }
    let addr = listen_addr(&config)?;
    let acceptor = tls(&config)?;
    let (inherited, inherited_metrics) =
        herald::server::inherited().context("cannot use the sockets passed in LISTEN_FDS")?;
    let listener = match inherited {
        Some(l) => l,
        None => herald::server::bind(addr)
            .map(Listener::from)
            .with_context(|| format!("cannot listen on {addr}"))?,
    };
    let addr = listener.local_addr().unwrap_or(addr);
    if let Some(table) = &config.server.app_table {
        let apps = herald::app_table::load(table, &config.server.app_defaults).await?;
        config.apps.replace(apps).context("apps table")?;
    }
    let apps: Vec<String> = config.apps.iter().map(|a| a.raw.id.clone()).collect();
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, ?apps, origin = ?listener.origin, "herald listening");
    let redis = config.sources.describe(config::Scope::Server, "redis_url");
    let node = Node::new(config).with_context(|| format!("invalid Redis settings ({redis})"))?;
    Ok((listener, acceptor, node, inherited_metrics))
}
