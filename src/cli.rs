//! The command line: herald's own flags, and the command forms Soketi users already have in
//! their compose files and manifests (`soketi start [--config=FILE]`).
//!
//! Every form below serves with the same flags (they are global, so they may come before or
//! after the command word):
//!
//! - `herald [FLAGS]`
//! - `herald start [FLAGS]`: Soketi's `soketi start`, so an image `command: ["start"]` works.
//! - `herald soketi start [FLAGS]`: an image `command: ["soketi", "start", ...]` appended to
//!   herald's `ENTRYPOINT ["herald"]`.
//! - `soketi start [FLAGS]`: the binary run through a link named `soketi` (the image's
//!   `/usr/local/bin/soketi`, `make install`). clap never reads argv[0] for parsing, so this is
//!   `herald start` by construction; the name only shows in usage messages.
//!
//! `herald config check [FLAGS]` validates without serving. `herald health [FLAGS]` asks a
//! running node on this host whether it is ready (the image's HEALTHCHECK).

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use herald::config::Source;

#[derive(Parser, Debug)]
#[command(
    name = "herald",
    version,
    about = "A Pusher-protocol broadcast server (drop-in for Soketi)"
)]
pub struct Cli {
    /// TOML file with [server] settings and [[apps]], or Soketi's JSON config (`*.json`).
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    pub config: Option<String>,
    /// Address to bind (default 0.0.0.0; Soketi: SOKETI_HOST).
    #[arg(long, global = true, env = "HERALD_HOST")]
    pub host: Option<String>,
    /// Port to bind (default 6001; Soketi: SOKETI_PORT).
    #[arg(long, global = true, env = "HERALD_PORT")]
    pub port: Option<u16>,
    /// `local` (one process) or `redis` (a cluster; Soketi: SOKETI_ADAPTER_DRIVER).
    #[arg(long, global = true, env = "HERALD_ADAPTER")]
    pub adapter: Option<String>,
    /// Redis URL for the cluster adapter (Soketi: SOKETI_DB_REDIS_*).
    #[arg(long, global = true, env = "HERALD_REDIS_URL")]
    pub redis_url: Option<String>,
    /// Threads serving connections, one runtime each (default: one per core).
    #[arg(long, global = true, env = "HERALD_THREADS")]
    pub threads: Option<usize>,
    /// Per-frame debug logs (Soketi: SOKETI_DEBUG).
    #[arg(long, global = true, env = "HERALD_DEBUG")]
    pub debug: bool,
    /// PEM certificate chain: serve HTTPS and wss:// on the main port (Soketi: SOKETI_SSL_CERT).
    #[arg(long, global = true, env = "HERALD_TLS_CERT")]
    pub tls_cert: Option<String>,
    /// PEM private key for --tls-cert (Soketi: SOKETI_SSL_KEY).
    #[arg(long, global = true, env = "HERALD_TLS_KEY")]
    pub tls_key: Option<String>,
    /// Passphrase of an encrypted PKCS#8 key (Soketi: SOKETI_SSL_PASS).
    #[arg(
        long,
        global = true,
        env = "HERALD_TLS_PASSPHRASE",
        hide_env_values = true
    )]
    pub tls_passphrase: Option<String>,
    /// PEM file of extra CA certificates trusted for https:// webhooks.
    #[arg(long, global = true, env = "HERALD_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<String>,
    /// Serve the debug console on the metrics port, `/console` (HERALD_CONSOLE; token: HERALD_CONSOLE_TOKEN).
    #[arg(long, global = true)]
    pub console: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The flags given by their `HERALD_*` variable rather than on the command line.
    #[arg(skip)]
    pub from_env: Vec<&'static str>,
}

/// The flags that set a `[server]` key: (argument id, flag, variable, key).
const SERVER_FLAGS: [(&str, &str, &str, &str); 11] = [
    ("host", "--host", "HERALD_HOST", "host"),
    ("port", "--port", "HERALD_PORT", "port"),
    ("adapter", "--adapter", "HERALD_ADAPTER", "adapter"),
    ("redis_url", "--redis-url", "HERALD_REDIS_URL", "redis_url"),
    ("threads", "--threads", "HERALD_THREADS", "threads"),
    ("debug", "--debug", "HERALD_DEBUG", "debug"),
    ("tls_cert", "--tls-cert", "HERALD_TLS_CERT", "tls_cert"),
    ("tls_key", "--tls-key", "HERALD_TLS_KEY", "tls_key"),
    (
        "tls_passphrase",
        "--tls-passphrase",
        "HERALD_TLS_PASSPHRASE",
        "tls_passphrase",
    ),
    (
        "webhook_ca_file",
        "--webhook-ca-file",
        "HERALD_WEBHOOK_CA_FILE",
        "webhook_ca_file",
    ),
    ("console", "--console", "HERALD_CONSOLE", "console_enabled"),
];

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Serve (the same as no command; Soketi's `soketi start`).
    Start,
    /// Soketi's `soketi start`, for a container `command:` written for Soketi's image.
    #[command(hide = true, subcommand_required = true)]
    Soketi {
        #[command(subcommand)]
        action: SoketiAction,
    },
    /// Ask the node serving with these settings (SOKETI_METRICS_SERVER_PORT,
    /// SOKETI_PATH_PREFIX, ...) for `/ready`: exit 0 when it serves, 1 when it is draining,
    /// not ready or not running. The image's HEALTHCHECK; needs no curl.
    Health,
    /// Work with the configuration without serving.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum ConfigAction {
    /// Load the configuration as serving would, validate it and print it with secrets
    /// masked; exit 0, or 2 with one line naming the problem.
    Check,
}

#[derive(clap::Subcommand, Debug)]
pub enum SoketiAction {
    /// Serve.
    Start,
}

/// What the command line asks the binary to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    Serve,
    Check,
    Health,
}

impl Cli {
    /// Parse the process's arguments (exits with clap's message when they are wrong),
    /// noting which flags came from their `HERALD_*` variable.
    pub fn read() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        cli.from_env = SERVER_FLAGS
            .iter()
            .filter(|(id, ..)| matches.value_source(id) == Some(ValueSource::EnvVariable))
            .map(|(id, ..)| *id)
            .collect();
        cli
    }

    /// What the flags set in `[server]`: (key, value, the flag or its variable).
    pub fn settings(&self) -> Vec<(&'static str, toml::Value, Source)> {
        let text = |v: &Option<String>| v.clone().map(toml::Value::from);
        let values = [
            text(&self.host),
            self.port.map(|p| i64::from(p).into()),
            text(&self.adapter),
            text(&self.redis_url),
            self.threads.map(|n| (n as i64).into()),
            self.debug.then_some(true.into()),
            text(&self.tls_cert),
            text(&self.tls_key),
            text(&self.tls_passphrase),
            text(&self.webhook_ca_file),
            self.console.then_some(true.into()),
        ];
        SERVER_FLAGS
            .iter()
            .zip(values)
            .filter_map(|(&(id, flag, var, key), value)| {
                let source = if self.from_env.contains(&id) {
                    Source::Env(var.to_string())
                } else {
                    Source::Flag(flag.to_string())
                };
                Some((key, value?, source))
            })
            .collect()
    }

    /// In a container, the serving process is PID 1: its command line (`--config=FILE`,
    /// `--port`, ...) is the one `herald health` should read when given none itself. `None`
    /// when PID 1 is not herald (or `soketi`) or its arguments do not parse.
    pub fn of_pid1() -> Option<Cli> {
        let raw = std::fs::read("/proc/1/cmdline").ok()?;
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let program = std::path::Path::new(args.first()?).file_name()?.to_str()?;
        if !matches!(program, "herald" | "soketi") {
            return None;
        }
        let cli = Cli::try_parse_from(&args).ok()?;
        (cli.action() == Action::Serve).then_some(cli)
    }

    pub fn action(&self) -> Action {
        match self.command {
            Some(Command::Config {
                action: ConfigAction::Check,
            }) => Action::Check,
            Some(Command::Health) => Action::Health,
            None | Some(Command::Start) | Some(Command::Soketi { .. }) => Action::Serve,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(args)
    }

    fn serves_with_config(args: &[&str], config: &str) {
        let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(cli.action(), Action::Serve, "{args:?}");
        assert_eq!(cli.config.as_deref(), Some(config), "{args:?}");
    }

    #[test]
    fn soketi_command_forms_serve_with_their_config() {
        for args in [
            &["herald", "--config=c.json"][..],
            &["herald", "start", "--config=c.json"],
            &["herald", "start", "--config", "c.json"],
            &["herald", "--config=c.json", "start"],
            &["herald", "soketi", "start", "--config=c.json"],
            &["herald", "soketi", "--config=c.json", "start"],
            &["soketi", "start", "--config=c.json"],
            &["/usr/local/bin/soketi", "start", "--config=c.json"],
        ] {
            serves_with_config(args, "c.json");
        }
    }

    #[test]
    fn start_takes_every_server_flag() {
        let cli = parse(&[
            "herald", "start", "--port", "7001", "--host", "::1", "--debug",
        ])
        .unwrap();
        assert_eq!(cli.action(), Action::Serve);
        assert_eq!(cli.port, Some(7001));
        assert_eq!(cli.host.as_deref(), Some("::1"));
        assert!(cli.debug);
        for args in [&["herald"][..], &["herald", "start"], &["soketi", "start"]] {
            assert_eq!(parse(args).unwrap().action(), Action::Serve, "{args:?}");
        }
    }

    #[test]
    fn config_check_still_checks() {
        let cli = parse(&["herald", "config", "check", "--config=a.toml"]).unwrap();
        assert_eq!(cli.action(), Action::Check);
        assert_eq!(cli.config.as_deref(), Some("a.toml"));
    }

    #[test]
    fn health_reads_the_same_flags() {
        let cli = parse(&["herald", "health", "--config=c.json"]).unwrap();
        assert_eq!(cli.action(), Action::Health);
        assert_eq!(cli.config.as_deref(), Some("c.json"));
    }

    #[test]
    fn unknown_words_are_refused() {
        for args in [
            &["herald", "soketi"][..],
            &["herald", "start", "start"],
            &["herald", "node", "/app/bin/server.js", "start"],
            &["herald", "stop"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
