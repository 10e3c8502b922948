//! A real `nats-server -js` on loopback for the tests that need one.
//!
//! The binary is `$NATS_SERVER`, else `nats-server` on the `PATH` or in `/usr/sbin` (Debian's
//! package, which `.ci/run` installs). Without it a test says SKIPPED and returns, except under
//! CI, where a missing server is a failure. Each server has its own port and its own JetStream
//! store in a temporary folder (removed when it is dropped), so tests run side by side.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A running `nats-server -js`, killed when dropped.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    store: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// Where the server binary is, if anywhere.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NATS_SERVER").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

impl NatsServer {
    /// Starts one on a free loopback port, or says SKIPPED and answers `None` when there is
    /// no `nats-server` (under CI that panics instead).
    pub fn start() -> Option<NatsServer> {
        let Some(binary) = binary() else {
            assert!(
                !crate::in_ci(),
                "nats-server not found (set NATS_SERVER); .ci/run installs Debian's package"
            );
            eprintln!(
                "SKIPPED: nats-server not found; install Debian's nats-server or set NATS_SERVER"
            );
            return None;
        };
        let store =
            std::env::temp_dir().join(format!("testkit-nats-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&store)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", store.display()));
        let mut server = NatsServer {
            binary,
            store,
            port: 0,
            child: None,
        };
        server.launch();
        Some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (`SIGKILL`: no goodbye to its clients) and waits for it to be gone; its
    /// JetStream store stays for [`start_again`](Self::start_again).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store, and waits until it is ready.
    pub fn start_again(&mut self) {
        self.kill();
        self.launch();
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn launch(&mut self) {
        // Port 0 the first time: the server picks one (`-p -1`) and says which; the same one
        // afterwards, so clients reconnect to where they were.
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let mut child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port, "-sd"])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (lines, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut seen = Vec::new();
        let mut listening = None;
        loop {
            match ready.recv_timeout(READY_WITHIN) {
                Ok(line) => {
                    if let Some(at) = line.split("Listening for client connections on ").nth(1) {
                        listening = at.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                    }
                    let done = line.contains("Server is ready");
                    seen.push(line);
                    if done {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "nats-server not ready within {READY_WITHIN:?}:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
        self.port = listening
            .unwrap_or_else(|| panic!("nats-server did not say its port:\n{}", seen.join("\n")));
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    (NEXT.fetch_add(1, Ordering::Relaxed) << 32) ^ nanos
}
