//! The binary started with each command form a Soketi deployment uses (issue 18): `herald start`,
//! `herald soketi start` (a compose `command:` appended to the image's `ENTRYPOINT ["herald"]`),
//! a `soketi` link run as `soketi start` (the image's `/usr/local/bin/soketi`, `make install`)
//! and plain `herald --config=FILE`. Each must serve, on the configured port, the configured app.

use crate::support::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const APP_KEY: &str = "cli-key";

/// A started binary in its own directory; killed and cleaned up on drop.
struct Running {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory (the working directory of the binary, so no `.env` is read by accident).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn toml(port: u16, metrics_port: u16) -> (&'static str, String) {
    let text = format!(
        "[server]\nhost = '127.0.0.1'\nport = {port}\nmetrics_host = '127.0.0.1'\n\
         metrics_port = {metrics_port}\n[[apps]]\nid = 'cli-app'\nkey = '{APP_KEY}'\nsecret = 's'\n"
    );
    ("apps.toml", text)
}

fn soketi_json(port: u16, metrics_port: u16) -> (&'static str, String) {
    let text = format!(
        r#"{{"host": "127.0.0.1", "port": {port},
            "metrics": {{"host": "127.0.0.1", "port": {metrics_port}}},
            "appManager.array.apps": [{{"AppId": "cli-app", "AppKey": "{APP_KEY}", "AppSecret": "s"}}]}}"#
    );
    ("config.json", text)
}

/// Start `program args` in `dir` with no HERALD_* or SOKETI_* variables but `env`.
fn spawn(dir: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> Child {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") || name.starts_with("SOKETI_") {
            cmd.env_remove(name);
        }
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.env("HERALD_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"))
}

/// Wait until the server answers `GET /` on `addr`; a binary that exits first fails the test
/// with what it printed.
async fn serving(mut child: Child, dir: PathBuf, addr: SocketAddr) -> Running {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "exited with {status} before serving: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if tokio::net::TcpStream::connect(addr).await.is_ok() && get(addr, "/").await.0 == 200 {
            return Running { child, dir, addr };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { child, dir, addr }.fail("never answered GET / with 200")
}

impl Running {
    fn fail(mut self, why: &str) -> ! {
        let _ = self.child.kill();
        panic!("{}: {why}", self.addr)
    }

    /// The configured app's key gets `connection_established` and can subscribe; the default
    /// app (which a config file replaces) is refused with 4001.
    async fn serves_the_configured_app(&self, replaces_default: bool) {
        let server = Server::external(self.addr);
        let mut c = server.client_for(APP_KEY).await;
        assert!(c.socket_id.contains('.'), "{}", c.socket_id);
        let ok = c.subscribe("news").await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
        if replaces_default {
            let mut refused = server.raw_client(KEY).await;
            assert_eq!(refused.closed().await, Some(4001));
        }
    }
}

/// Write the config file into a fresh directory and run herald with `args`, where `{}` in
/// an argument stands for the file's name.
async fn run_with_file(
    name: &str,
    file: fn(u16, u16) -> (&'static str, String),
    args: &[&str],
) -> Running {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = scratch(name);
    let (file_name, text) = file(port, metrics_port);
    std::fs::write(dir.join(file_name), text).unwrap();
    let args: Vec<String> = args.iter().map(|a| a.replace("{}", file_name)).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = spawn(&dir, env!("CARGO_BIN_EXE_herald"), &args, &[]);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    serving(child, dir, addr).await
}

#[tokio::test]
async fn herald_start_serves_with_soketi_variables() {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = scratch("start");
    let env = [
        ("SOKETI_HOST", "127.0.0.1".to_string()),
        ("SOKETI_PORT", port.to_string()),
        ("SOKETI_METRICS_HOST", "127.0.0.1".to_string()),
        ("SOKETI_METRICS_SERVER_PORT", metrics_port.to_string()),
        ("SOKETI_DEFAULT_APP_KEY", APP_KEY.to_string()),
    ];
    let child = spawn(&dir, env!("CARGO_BIN_EXE_herald"), &["start"], &env);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let running = serving(child, dir, addr).await;
    running.serves_the_configured_app(true).await;
    let (status, _, _) = get(
        format!("127.0.0.1:{metrics_port}").parse().unwrap(),
        "/ready",
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn herald_start_with_a_toml_config() {
    let running = run_with_file("start-toml", toml, &["start", "--config={}"]).await;
    running.serves_the_configured_app(true).await;
}

#[tokio::test]
async fn herald_start_with_a_soketi_json_config() {
    let running = run_with_file("start-json", soketi_json, &["start", "--config={}"]).await;
    running.serves_the_configured_app(true).await;
}

/// A compose `command: ["soketi", "start", "--config=..."]` with herald's `ENTRYPOINT ["herald"]`.
#[tokio::test]
async fn herald_soketi_start_with_a_soketi_json_config() {
    let args = ["soketi", "start", "--config={}"];
    let running = run_with_file("soketi-start", soketi_json, &args).await;
    running.serves_the_configured_app(true).await;
}

/// A compose `command: ["--config=..."]` with herald's `ENTRYPOINT ["herald"]`.
#[tokio::test]
async fn herald_with_only_a_config_flag() {
    let running = run_with_file("config-only", soketi_json, &["--config={}"]).await;
    running.serves_the_configured_app(true).await;
}

/// `soketi start --config=...` found on PATH as a link to herald, as in the image and after
/// `make install` (and as a Kubernetes `command:`, which replaces the entrypoint, runs it).
#[tokio::test]
async fn a_soketi_link_runs_soketi_start() {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = scratch("link");
    // The link lives in the test's directory, which `Running` removes however the test ends.
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_herald"), bin.join("soketi")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (file_name, text) = soketi_json(port, metrics_port);
    std::fs::write(dir.join(file_name), text).unwrap();
    let config = format!("--config={file_name}");
    let child = spawn(&dir, "soketi", &["start", &config], &[("PATH", path)]);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let running = serving(child, dir, addr).await;
    running.serves_the_configured_app(true).await;
}
