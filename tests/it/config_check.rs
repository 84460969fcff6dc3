//! `herald config check`: the configuration loaded as serving would, printed with
//! secrets masked (exit 0), or one line naming the problem (exit 2).

use std::process::{Command, Output};

/// Run `herald config check ARGS` in a fresh directory holding `file` (name, text).
fn check(file: (&str, &str), args: &[&str]) -> Output {
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
    assert!(stdout.contains("secret = \"topsec****\""), "{stdout}");
    assert!(!stdout.contains("topsecret123"), "{stdout}");
    // SOKETI_DEFAULT_APP_* apply to the first app, as when serving.
    assert!(stdout.contains("secret = \"env-secr****\""), "{stdout}");
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
