//! `herald config check`: the configuration loaded as serving would, printed with
//! secrets masked (exit 0), or one line naming the problem (exit 2).

use std::process::{Command, Output};

/// Run `herald config check ARGS` in a fresh directory holding `file` (name, text).
fn check(file: (&str, &str), args: &[&str]) -> Output {
    check_with(file, args, &[])
}

/// The same with these variables set.
fn check_with(file: (&str, &str), args: &[&str], vars: &[(&str, &str)]) -> Output {
    let dir = std::env::temp_dir().join(format!(
        "herald-check-{}-{}",
        std::process::id(),
        file.0.replace('.', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file.0), file.1).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    cmd.current_dir(&dir).args(["config", "check"]).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") || name.starts_with("SOKETI_") {
            cmd.env_remove(name);
        }
    }
    let out = cmd
        .env("SOKETI_DEFAULT_APP_SECRET", "env-secret-value")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn valid_toml_prints_resolved_settings_with_masked_secrets() {
    let toml = "[server]\nport = 7001\n[[apps]]\nid='a0'\nkey='k0'\nsecret='s'\n\
                [[apps]]\nid='a1'\nkey='k1'\nsecret='topsecret123'\n";
    let out = check(
        ("herald.toml", toml),
        &["--config", "herald.toml", "--port", "7002"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("listen = 0.0.0.0:7002"), "{stdout}"); // the flag wins
    assert!(stdout.contains("key = \"k1\""), "{stdout}");
    // Both apps' secrets, masked entirely.
    assert_eq!(stdout.matches("secret = \"****\"").count(), 2, "{stdout}");
    assert!(!stdout.contains("topsecret123"), "{stdout}");
    // SOKETI_DEFAULT_APP_* apply to the first app, as when serving.
    assert!(!stdout.contains("env-secret-value"), "{stdout}");
}

#[test]
fn the_subscription_count_and_watchlist_flags_are_shown_per_app() {
    let toml = "[[apps]]\nid='a0'\nkey='k0'\nsecret='s'\nenable_watchlist_events = true\n";
    let out = check(("flags.toml", toml), &["--config", "flags.toml"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        stdout.contains("enable_subscription_count = false"),
        "{stdout}"
    );
    assert!(
        stdout.contains("enable_watchlist_events = true"),
        "{stdout}"
    );
}

#[test]
fn soketi_json_is_checked_too_and_warns_about_ignored_options() {
    let json = r#"{"port": 6100, "ssl.caPath": "/c.pem",
        "appManager.array.apps": [{"AppId": "j", "AppKey": "jk", "AppSecret": "js-secret"}]}"#;
    let out = check(("config.json", json), &["--config", "config.json"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("listen = 0.0.0.0:6100"), "{stdout}");
    assert!(stdout.contains("key = \"jk\""), "{stdout}");
    assert!(text(&out.stderr).contains("ssl.caPath"));
}

#[test]
fn invalid_config_exits_2_with_one_line_naming_the_problem() {
    let dup = "[[apps]]\nid='1'\nkey='k'\nsecret='s'\n[[apps]]\nid='2'\nkey='k'\nsecret='s'\n";
    let out = check(("dup.toml", dup), &["--config", "dup.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("duplicate app key \"k\""), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = check(("bad.json", "{\"port\": "), &["--config", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("config file bad.json"));
}

/// Arguments, variables, and the source the error must name.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn errors_name_the_variable_the_flag_or_the_file_key_that_holds_the_value() {
    let bad = "adapter must be \"local\", \"redis\" or \"nats\", not \"memcached\"";
    let file = ("adapter.toml", "[server]\nadapter = \"memcached\"\n");
    let env = "environment variable";
    let cases: [Case; 5] = [
        (
            &[],
            &[("SOKETI_ADAPTER_DRIVER", "memcached")],
            &format!("{env} SOKETI_ADAPTER_DRIVER"),
        ),
        (&["--adapter", "memcached"], &[], "flag --adapter"),
        (
            &[],
            &[("HERALD_ADAPTER", "memcached")],
            &format!("{env} HERALD_ADAPTER"),
        ),
        (
            &["--config", "adapter.toml"],
            &[],
            "config file adapter.toml, [server] adapter",
        ),
        (
            &["--config", "adapter.toml"],
            &[("SOKETI_ADAPTER_DRIVER", "memcached")],
            &format!("{env} SOKETI_ADAPTER_DRIVER"),
        ),
    ];
    for (args, vars, origin) in cases {
        let out = check_with(file, args, vars);
        assert_eq!(out.status.code(), Some(2), "{args:?} {vars:?}");
        let want = format!("herald: invalid configuration: {origin}: {bad}\n");
        assert_eq!(text(&out.stderr), want, "{args:?} {vars:?}");
    }
    // A flag over the file's bad value leaves nothing to blame.
    let out = check(file, &["--config", "adapter.toml", "--adapter", "local"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn the_mysql_app_manager_is_shown_with_its_password_masked() {
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "mysql"),
        ("SOKETI_DB_MYSQL_HOST", "mysql"),
        ("SOKETI_DB_MYSQL_PASSWORD", "sail-password"),
        ("SOKETI_DB_MYSQL_DATABASE", "laravel"),
        ("SOKETI_APP_MANAGER_MYSQL_VERSION", "8.0"),
    ];
    let out = check_with(("unused.toml", ""), &[], &vars);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let want = "app_manager = mysql root:****@mysql:3306/laravel table \"apps\" refresh 5s";
    assert!(stdout.contains(want), "{stdout}");
    assert!(!stdout.contains("sail-password"), "{stdout}");
    assert!(
        !stderr.contains("SOKETI_APP_MANAGER_MYSQL_VERSION"),
        "{stderr}"
    );
}

#[test]
fn a_host_that_does_not_resolve_is_named_with_where_it_was_set() {
    let out = check_with(("host.toml", ""), &[], &[("SOKETI_HOST", "nope.invalid")]);
    assert_eq!(out.status.code(), Some(2));
    let want = "herald: invalid configuration: environment variable SOKETI_HOST: cannot resolve nope.invalid: ";
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(want), "{stderr}");
}

/// Each `[server]` setting is printed with where its value was written: the
/// file's key, the variable (`HERALD_*` over `SOKETI_*`) or the flag; secrets
/// masked entirely whatever wrote them.
#[test]
fn each_setting_is_shown_with_where_it_was_written() {
    let toml = "[server]\nport = 7001\nmetrics_port = 9700\n";
    let vars = [
        ("SOKETI_PORT", "7002"),
        ("HERALD_PORT", "7003"),
        ("HERALD_CONSOLE_TOKEN", "tok-secret-5"),
    ];
    let out = check_with(
        ("src.toml", toml),
        &["--config", "src.toml", "--debug"],
        &vars,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    for line in [
        "port = 7003  # environment variable HERALD_PORT",
        "metrics_port = 9700  # config file src.toml, [server] metrics_port",
        "debug = true  # flag --debug",
        "console_token = \"****\"  # environment variable HERALD_CONSOLE_TOKEN",
        "activity_timeout = 30\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    assert!(!stdout.contains("tok-secret-5"), "{stdout}");
}
