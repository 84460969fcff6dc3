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

use clap::{Arg, ArgAction, CommandFactory, FromArgMatches, Parser};
use herald::config::settings::{rows, Kind, RawServer};
use herald::config::Source;
use std::ffi::OsString;

/// The command line. Beside `--config`, each flag is a setting's row in
/// `herald::config::settings` (added by [`command`]), so its name, help,
/// variables and how its value is read are written once, there.
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
    #[command(subcommand)]
    pub command: Option<Command>,
    /// What the setting flags set in `[server]`: (key, value, the flag).
    #[arg(skip)]
    pub flags: Vec<(&'static str, toml::Value, Source)>,
}

/// The derived command with a global flag for every setting row that has one.
fn command() -> clap::Command {
    let defaults = toml::Table::try_from(RawServer::default()).unwrap_or_default();
    rows().fold(Cli::command(), |cmd, row| {
        let Some(flag) = row.flag else {
            return cmd;
        };
        let default = match defaults.get(row.key) {
            Some(v) if v.as_str() != Some("") && row.kind != Kind::Bool => {
                format!(" [default: {v}]")
            }
            _ => String::new(),
        };
        let help = format!("{} [env: {}]{default}", flag.help, row.env.join(", "));
        let arg = Arg::new(row.key).long(flag.long).global(true).help(help);
        cmd.arg(match row.kind {
            Kind::Bool => arg.action(ArgAction::SetTrue),
            _ => arg,
        })
    })
}

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
    /// Parse the process's arguments (exits with clap's message when they are wrong).
    pub fn read() -> Cli {
        Cli::try_read_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parse `args` (the program name first), reading each setting flag as its row says.
    pub fn try_read_from<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.flags = (rows())
            .filter_map(|row| {
                let long = row.flag?.long;
                let value = match row.kind {
                    Kind::Bool => matches.get_flag(row.key).then_some(true.into())?,
                    kind => kind.read_text(matches.get_one::<String>(row.key)?)?,
                };
                Some((row.key, value, Source::Flag(format!("--{long}"))))
            })
            .collect();
        Ok(cli)
    }

    /// What the flags set in `[server]`: (key, value, the flag).
    pub fn settings(&self) -> Vec<(&'static str, toml::Value, Source)> {
        self.flags.clone()
    }

    /// The value a flag gave its setting.
    #[cfg(test)]
    fn flag(&self, key: &str) -> Option<&toml::Value> {
        self.flags
            .iter()
            .find(|(k, ..)| *k == key)
            .map(|(_, v, _)| v)
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
        Cli::try_read_from(args)
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
        assert_eq!(cli.flag("port"), Some(&7001.into()));
        assert_eq!(cli.flag("host"), Some(&"::1".into()));
        assert_eq!(cli.flag("debug"), Some(&true.into()));
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
