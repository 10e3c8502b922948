//! The `bybit-emulator` binary: one `listening on` line once ready, Bybit's own
//! instruments-info format accepted with `--instruments`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Running(Child);

impl Running {
    /// The emulator process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it with the URL from its one line of output.
pub(crate) fn spawn(extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bybit-emulator"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k",
            "--api-secret",
            "s",
            "--usdt",
            "500",
            "--seed",
            "3",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    // Reading blocks until the line arrives; a thread with a channel gives it a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("no 'listening on' line within 30 s");
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (running, url)
}

#[tokio::test]
async fn prints_one_listening_line_and_serves() {
    let (_emulator, url) = spawn(&[]);
    let body: serde_json::Value = reqwest::get(format!("{url}/v5/market/time"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["retCode"], 0);
    let state: serde_json::Value = reqwest::get(format!("{url}/emulator/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["wallet"]["totalWalletBalance"], "500");
}

#[tokio::test]
async fn accepts_instruments_in_bybits_format() {
    let Some(dir) = testkit::fixtures_dir() else {
        return;
    };
    let file = dir.join("rest_instruments_info_linear.json");
    let (_emulator, url) = spawn(&["--instruments", file.to_str().unwrap()]);
    let body: serde_json::Value =
        reqwest::get(format!("{url}/v5/market/instruments-info?category=linear"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let list = body["result"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    // The docs example's values, not the built-in table's (maxOrderQty 1190 vs 1500).
    assert_eq!(list[0]["lotSizeFilter"]["maxOrderQty"], "1190.000");
}
