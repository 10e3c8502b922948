//! `serve`'s HTTP edge: the shared accept loop (`http-serve`) holds against
//! a flood of half-open connections, and the guard refuses foreign `Host`s on every route,
//! duplicate `Host` / `Origin` headers and absolute-form request targets.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::{command, paper_server, plan};
use crate::support::{emulator, eventually};

/// How many half-open connections the flood opens: more than the serve process's 1024 file
/// descriptors.
const FLOOD: usize = 1100;

/// The header-read timeout the flooded serve runs with (`SERVE_HEADER_TIMEOUT_MS`).
const HEADER_TIMEOUT: Duration = Duration::from_millis(1500);

/// Sends `request` on a fresh connection and answers the response's status code.
async fn status_of(addr: SocketAddr, request: &str) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before a status line: {head:?}");
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head).to_string();
        line.split(' ').nth(1).unwrap().parse::<u16>().unwrap()
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .expect("no answer within 5 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_foreign_host_duplicate_headers_and_absolute_targets() {
    let emu = emulator().await;
    let server = paper_server(&emu).await;
    let addr = server.addr();
    let own = addr.to_string();
    let routes = [
        ("GET", "/"),
        ("GET", "/health"),
        ("GET", "/metrics"),
        ("GET", "/api/status"),
        ("GET", "/api/events"),
        ("GET", "/api/trades"),
        ("GET", "/api/trades/T1"),
        ("POST", "/api/trades"),
        ("POST", "/api/trades/T1/close"),
        ("GET", "/no-such-page"),
    ];
    for (method, path) in routes {
        let with = |headers: &str| {
            format!("{method} {path} HTTP/1.1\r\n{headers}content-length: 0\r\nconnection: close\r\n\r\n")
        };
        // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
        assert_eq!(
            status_of(addr, &with("Host: evil.example\r\n")).await,
            403,
            "{method} {path} with a foreign Host"
        );
        assert_eq!(
            status_of(
                addr,
                &with(&format!("Host: {own}\r\nHost: evil.example\r\n"))
            )
            .await,
            400,
            "{method} {path} with two Hosts"
        );
        assert_eq!(
            status_of(
                addr,
                &with(&format!(
                    "Host: {own}\r\nOrigin: http://{own}\r\nOrigin: http://evil.example\r\n"
                ))
            )
            .await,
            400,
            "{method} {path} with two Origins"
        );
        assert_eq!(
            status_of(
                addr,
                &format!(
                    "{method} http://evil.example{path} HTTP/1.1\r\nHost: {own}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
            )
            .await,
            400,
            "{method} {path} in absolute form"
        );
    }
    // The same reads addressed to this server are answered (so the refusals above are the
    // guard's, not a route's).
    for path in ["/", "/health", "/metrics", "/api/status", "/api/trades"] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: {own}\r\nconnection: close\r\n\r\n");
        let code = status_of(addr, &request).await;
        assert!(code == 200 || code == 503, "GET {path}: {code}");
    }
    assert!(server.stop().await, "a clean stop");
}

/// How many file descriptors process `pid` holds.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// `bybit-exec serve` under `ulimit -n 1024`, with a short header timeout.
struct Limited {
    child: Child,
    addr: SocketAddr,
    /// What it printed up to the line naming its address.
    printed: Vec<String>,
    /// Kept, so serve's stdout stays open while it runs.
    _lines: mpsc::Receiver<String>,
}

impl Limited {
    fn spawn(emu: &bybit_emulator::Emulator, journal: &std::path::Path) -> Limited {
        let template = command(emu, journal, &[]);
        let mut sh = Command::new("/bin/sh");
        sh.args([
            "-c",
            "ulimit -n 1024 && exec \"$0\" serve --listen 127.0.0.1:0",
            env!("CARGO_BIN_EXE_bybit-exec"),
        ])
        .env_clear();
        for (k, v) in template.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        sh.env(
            "SERVE_HEADER_TIMEOUT_MS",
            HEADER_TIMEOUT.as_millis().to_string(),
        )
        .env("SERVE_MAX_CONNECTIONS", "256");
        let mut child = sh.stdout(Stdio::piped()).spawn().unwrap();
        let lines = crate::support::stdout_lines(&mut child);
        let (addr, printed) =
            crate::support::serving_addr(&lines, Duration::from_secs(20), |p| format!("{p:?}"));
        Limited {
            child,
            addr,
            printed,
            _lines: lines,
        }
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// 1,100 half-open connections neither starve /health nor leak descriptors,
// and none of them holds the stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_open_connections_leaves_health_answering_and_the_stop_clean() {
    // This test process holds the flood's sockets itself.
    rlimit::increase_nofile_limit(4 * FLOOD as u64).unwrap();
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Limited::spawn(&emu, &dir.path().join("journal.sqlite"));
    let (addr, pid) = (serve.addr, serve.child.id());
    // Pointed at the emulator, serve says so, not "testnet".
    let said = serve.printed.join("\n");
    assert!(
        said.contains("live routing on local emulator") && !said.contains("testnet"),
        "{said}"
    );
    let health = || async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        client
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.to_string())
    };
    eventually("serve healthy", || async { health().await == Ok(200) }).await;
    let baseline = fds(pid);

    let half = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: slow");
    let mut flood = Vec::with_capacity(FLOOD);
    let mut peak = 0;
    for i in 0..FLOOD {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // The server may already have closed it to make room: that is the point.
        let _ = s.write_all(half.as_bytes()).await;
        flood.push(s);
        if i % 100 == 99 {
            peak = peak.max(fds(pid));
        }
    }
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "serve died under the flood"
    );
    let asked = Instant::now();
    assert_eq!(
        health().await,
        Ok(200),
        "/health with {FLOOD} half-open connections"
    );
    println!(
        "/health answered in {:?} with {FLOOD} half-open connections; fds baseline {baseline}, \
         peak {peak} (limit 1024)",
        asked.elapsed()
    );
    assert!(peak < 1024, "peak {peak} descriptors");
    // The control API answers too (a trade on the emulator).
    let opened = reqwest::Client::new()
        .post(format!("http://{addr}/api/trades"))
        .header("X-Bybit-Exec", "1")
        .json(&plan("EDGE_FLOOD"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(opened.ok(), Some(200), "POST /api/trades under the flood");

    // The half-open ones are closed by the header timeout, although the clients keep theirs.
    let deadline = Instant::now() + HEADER_TIMEOUT + Duration::from_secs(5);
    let slack = 3;
    loop {
        let now = fds(pid);
        if now <= baseline + slack {
            println!("fds back to {now} (baseline {baseline})");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve still holds {now} descriptors (baseline {baseline})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(flood);

    // At the stop: fresh half-open connections and an open event stream.
    let mut more = Vec::new();
    for _ in 0..50 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(half.as_bytes()).await.unwrap();
        more.push(s);
    }
    let mut events = TcpStream::connect(addr).await.unwrap();
    events
        .write_all(format!("GET /api/events HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 12];
    events.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // And a control call whose body never finishes, once serve is reading it (hyper answers
    // `Expect: 100-continue` when the body is first read): it waits on its client, so cutting
    // it is no stop cut short (exit 1 before).
    let mut slow_body = TcpStream::connect(addr).await.unwrap();
    slow_body
        .write_all(
            format!(
                "POST /api/trades HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 X-Bybit-Exec: 1\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut cont = [0u8; 12];
    slow_body.read_exact(&mut cont).await.unwrap();
    assert_eq!(&cont, b"HTTP/1.1 100", "the body is not being read");
    slow_body.write_all(b"{").await.unwrap();

    let sent = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "serve did not exit within 5 s of SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("SIGTERM → exit in {:?}", sent.elapsed());
    assert_eq!(status.code(), Some(0), "serve exited with {status:?}");
    // The event stream was ended, not left hanging.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), events.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the event stream still open after the exit");
    drop(more);
    drop(slow_body);
}
