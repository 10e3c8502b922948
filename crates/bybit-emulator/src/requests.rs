//! Counts of the REST requests that reached the emulator, by path and, for order creates, by
//! `orderLinkId`: what a test needs to prove a client sent nothing (a refused plan) or never
//! sent one order more than its policy allows, independently of whether the engine accepted it.
//!
//! Every request to a Bybit REST path is counted on arrival, before any fault is applied, so a
//! held, failed or lost request counts as much as an answered one. Order operations on the
//! order-entry stream are counted the same way, under `/v5/trade#<op>` (`/v5/trade#order.create`
//! …), and their creates add to the same per-orderLinkId counts: an order sent once by REST and
//! again over the stream was sent twice. Shown under `requests` in
//! `GET /emulator/state`; never reset (tests compare before and after).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The count key of an order create on the order-entry stream (its body is the op's argument).
pub(crate) const TRADE_CREATE: &str = "/v5/trade#order.create";

/// The count key of a batch create on the order-entry stream.
pub(crate) const TRADE_CREATE_BATCH: &str = "/v5/trade#order.create-batch";

/// Most distinct orderLinkIds counted; later ones are added to `createsUntracked` so a long run
/// cannot grow this without bound.
const MAX_LINK_IDS: usize = 100_000;

/// The counts, as `GET /emulator/state` shows them.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RequestCounts {
    /// Every REST request.
    total: u64,
    /// Per path (`/v5/order/create` …).
    by_path: HashMap<String, u64>,
    /// Order-create requests (single or batch items) per orderLinkId sent.
    creates_by_order_link_id: HashMap<String, u64>,
    /// Order-create requests whose orderLinkId was not counted: none given, or the map full.
    creates_untracked: u64,
    /// Single order creates refused as a duplicate orderLinkId (110072), per orderLinkId: the
    /// client sent again an order the exchange already had.
    duplicates_by_order_link_id: HashMap<String, u64>,
    /// All of those.
    duplicates: u64,
}

/// The counter shared by every request.
#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<RequestCounts>);

impl RequestLog {
    fn counts(&self) -> std::sync::MutexGuard<'_, RequestCounts> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one request to `path`; `body` is read only for order creates. Gives back the
    /// orderLinkId of a single create.
    pub(crate) fn record(&self, path: &str, body: &[u8]) -> Option<String> {
        let links = match path {
            "/v5/order/create" | TRADE_CREATE => Some(vec![single_link(body)]),
            "/v5/order/create-batch" | TRADE_CREATE_BATCH => Some(batch_links(body)),
            _ => None,
        };
        self.count(path, links)
    }

    /// [`record`](Self::record) for a request whose body is already read as JSON (an
    /// order-entry stream op's argument; `None` when it has none).
    pub(crate) fn record_json(&self, path: &str, body: Option<&Value>) -> Option<String> {
        let links = match (path, body) {
            (TRADE_CREATE, Some(body)) => Some(vec![link_of(body)]),
            (TRADE_CREATE_BATCH, Some(body)) => Some(links_of_batch(body)),
            (TRADE_CREATE | TRADE_CREATE_BATCH, None) => Some(vec![None]),
            _ => None,
        };
        self.count(path, links)
    }

    fn count(&self, path: &str, links: Option<Vec<Option<String>>>) -> Option<String> {
        let single = match (path, &links) {
            ("/v5/order/create" | TRADE_CREATE, Some(l)) => l.first().cloned().flatten(),
            _ => None,
        };
        let mut counts = self.counts();
        counts.total += 1;
        match counts.by_path.get_mut(path) {
            Some(count) => *count += 1,
            None => {
                counts.by_path.insert(path.to_owned(), 1);
            }
        }
        for link in links.into_iter().flatten() {
            let full = counts.creates_by_order_link_id.len() >= MAX_LINK_IDS;
            match link {
                Some(id) if !full || counts.creates_by_order_link_id.contains_key(&id) => {
                    *counts.creates_by_order_link_id.entry(id).or_insert(0) += 1;
                }
                _ => counts.creates_untracked += 1,
            }
        }
        single
    }

    /// Counts a create refused as a duplicate orderLinkId.
    pub(crate) fn duplicate(&self, link: Option<&str>) {
        let mut counts = self.counts();
        counts.duplicates += 1;
        if let Some(link) = link {
            let full = counts.duplicates_by_order_link_id.len() >= MAX_LINK_IDS;
            if !full || counts.duplicates_by_order_link_id.contains_key(link) {
                *counts
                    .duplicates_by_order_link_id
                    .entry(link.to_owned())
                    .or_insert(0) += 1;
            }
        }
    }

    /// A copy of the counts.
    pub(crate) fn snapshot(&self) -> RequestCounts {
        self.counts().clone()
    }
}

/// The orderLinkId a single create body asks for: `None` for an order without one, or a body
/// that is not the JSON Bybit expects. Only that field is read: the rest of the body is skipped,
/// not built into a tree (this runs on every create).
fn single_link(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Create {
        #[serde(rename = "orderLinkId", default)]
        order_link_id: Option<Value>,
    }
    // A derived struct would also read a JSON array, field by position.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let create: Create = serde_json::from_slice(body).ok()?;
    create.order_link_id.as_ref().and_then(text_link)
}

/// The orderLinkId of each order a batch create body asks for (one untracked create when the
/// body is not the JSON Bybit expects).
fn batch_links(body: &[u8]) -> Vec<Option<String>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => links_of_batch(&value),
        Err(_) => vec![None],
    }
}

fn link_of(create: &Value) -> Option<String> {
    create.get("orderLinkId").and_then(text_link)
}

fn links_of_batch(batch: &Value) -> Vec<Option<String>> {
    match batch.get("request").and_then(Value::as_array) {
        Some(items) => items.iter().map(link_of).collect(),
        None => vec![None],
    }
}

/// An orderLinkId as counted: a non-empty string.
fn text_link(link: &Value) -> Option<String> {
    link.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_creates_per_link_id_single_and_batch() {
        let log = RequestLog::default();
        assert_eq!(
            log.record("/v5/order/create", br#"{"orderLinkId":"a"}"#),
            Some("a".to_owned())
        );
        log.record("/v5/order/create", br#"{"orderLinkId":"a"}"#);
        log.record(
            "/v5/order/create-batch",
            br#"{"request":[{"orderLinkId":"a"},{"orderLinkId":"b"},{}]}"#,
        );
        log.record("/v5/order/create", b"not json");
        log.record("/v5/market/time", b"");
        let c = log.snapshot();
        assert_eq!(c.total, 5);
        assert_eq!(c.by_path["/v5/order/create"], 3);
        assert_eq!(c.creates_by_order_link_id["a"], 3);
        assert_eq!(c.creates_by_order_link_id["b"], 1);
        assert_eq!(c.creates_untracked, 2);
    }

    #[test]
    fn a_create_body_counts_alike_as_bytes_and_as_json() {
        let bodies: [&[u8]; 7] = [
            br#"{"symbol":"BTCUSDT","orderLinkId":"a","qty":"0.001"}"#,
            br#"{"symbol":"BTCUSDT","orderLinkId":""}"#,
            br#"{"orderLinkId":7}"#,
            br#"{"orderLinkId":"esc\u0061ped"}"#,
            br#"{"symbol":"BTCUSDT"}"#,
            br#"["a"]"#,
            br#"{"orderLinkId":"a""#,
        ];
        for body in bodies {
            let bytes = RequestLog::default();
            let json = RequestLog::default();
            let from_bytes = bytes.record(TRADE_CREATE, body);
            let value = serde_json::from_slice::<Value>(body).ok();
            let from_json = json.record_json(TRADE_CREATE, value.as_ref());
            let text = String::from_utf8_lossy(body);
            assert_eq!(from_bytes, from_json, "{text}");
            let (b, j) = (bytes.snapshot(), json.snapshot());
            assert_eq!(
                b.creates_by_order_link_id, j.creates_by_order_link_id,
                "{text}"
            );
            assert_eq!(b.creates_untracked, j.creates_untracked, "{text}");
        }
        let log = RequestLog::default();
        let escaped: &[u8] = br#"{"orderLinkId":"esc\u0061ped"}"#;
        assert_eq!(
            log.record("/v5/order/create", escaped),
            Some("escaped".to_owned())
        );
        assert_eq!(log.record("/v5/order/create", br#"["a"]"#), None);
        assert_eq!(log.snapshot().creates_untracked, 1);
    }
}
