//! The connection edge: hyper's own answers to requests it cannot parse, rewritten into
//! Bybit's envelope.
//!
//! hyper refuses some requests before any handler sees them and answers with a bare status and
//! an empty body: 414 for a URI over 65,534 bytes, 431 for more than 100 headers or a head
//! over its read buffer (about 400 KiB), 400 for a malformed request line or header. A Bybit
//! client then finds no JSON to read. Nothing in hyper's or axum's API changes that answer,
//! so each connection's writes pass through [`EnvelopeIo`], which recognises such a bodiless
//! 400/414/431 head (a write, or a vectored write, holding that head alone) and writes the same
//! status with Bybit's envelope instead (retCode 10001,
//! `connection: close`, since hyper closes the connection after it). Every other byte passes
//! through untouched. The envelope's `time` is wall-clock: these answers come before any
//! handler, so the clock-skew fault does not reach them.
//!
//! [`EnvelopeIo::new`] wraps any accepted stream; the accept loop (`server.rs`) wraps each
//! connection in it before handing it to hyper.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The statuses hyper sends by itself, with the retMsg each gets.
const AUTOMATIC: [(&[u8], u16, &str, &str); 3] = [
    (
        b"HTTP/1.1 400 ",
        400,
        "Bad Request",
        "params error: malformed HTTP request",
    ),
    (
        b"HTTP/1.1 414 ",
        414,
        "URI Too Long",
        "params error: request URI too long",
    ),
    (
        b"HTTP/1.1 431 ",
        431,
        "Request Header Fields Too Large",
        "params error: request headers too large",
    ),
];

/// One connection; see the module doc.
#[derive(Debug)]
pub(crate) struct EnvelopeIo<T = TcpStream> {
    inner: T,
    replacing: Option<Replacement>,
}

impl<T> EnvelopeIo<T> {
    /// Wraps an accepted connection.
    pub(crate) fn new(inner: T) -> Self {
        EnvelopeIo {
            inner,
            replacing: None,
        }
    }
}

/// Wall-clock milliseconds, for the envelope's `time`.
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// An envelope response being written in place of hyper's head.
#[derive(Debug)]
struct Replacement {
    bytes: Vec<u8>,
    written: usize,
    /// How many of the caller's bytes the replacement stands for.
    stands_for: usize,
}

/// The envelope response for `head` when it is one of hyper's bodiless refusals.
fn replacement_for(head: &[u8], now: i64) -> Option<Replacement> {
    if !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let (_, status, reason, ret_msg) = AUTOMATIC
        .iter()
        .find(|(prefix, ..)| head.starts_with(prefix))?;
    let body = json!({
        "retCode": 10001, "retMsg": ret_msg, "result": {}, "retExtInfo": {}, "time": now,
    })
    .to_string();
    let bytes = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\ntimenow: {now}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    Some(Replacement {
        bytes,
        written: 0,
        stands_for: head.len(),
    })
}

impl<T: AsyncRead + Unpin> AsyncRead for EnvelopeIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> EnvelopeIo<T> {
    /// Writes the replacement under way, then reports the caller's bytes it stands for.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(r) = self.replacing.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while r.written < r.bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &r.bytes[r.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            r.written += n;
        }
        let stands_for = r.stands_for;
        self.replacing = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for EnvelopeIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match replacement_for(buf, now_ms()) {
                Some(replacement) => this.replacing = Some(replacement),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // After Pending the caller retries with the same bytes; carry on with ours.
        this.poll_replacement(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            // hyper queues a head and its body as separate slices; a refusal is a head alone.
            let mut filled = bufs.iter().filter(|b| !b.is_empty());
            let alone = match (filled.next(), filled.next()) {
                (Some(head), None) => replacement_for(head, now_ms()),
                _ => None,
            };
            match alone {
                Some(replacement) => this.replacing = Some(replacement),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_replacement(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
