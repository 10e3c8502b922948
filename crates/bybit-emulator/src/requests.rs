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

use serde::Serialize;
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
            "/v5/order/create" | TRADE_CREATE => Some(create_links(body, false)),
            "/v5/order/create-batch" | TRADE_CREATE_BATCH => Some(create_links(body, true)),
            _ => None,
        };
        let single = match (path, &links) {
            ("/v5/order/create" | TRADE_CREATE, Some(l)) => l.first().cloned().flatten(),
            _ => None,
        };
        let mut counts = self.counts();
        counts.total += 1;
        *counts.by_path.entry(path.to_owned()).or_insert(0) += 1;
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

/// The orderLinkId of each order a create body asks for (`None` for an order without one, or
/// one create counted as untracked when the body is not the JSON Bybit expects).
fn create_links(body: &[u8], batch: bool) -> Vec<Option<String>> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return vec![None];
    };
    let link = |v: &Value| {
        v.get("orderLinkId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if !batch {
        return vec![link(&value)];
    }
    match value.get("request").and_then(Value::as_array) {
        Some(items) => items.iter().map(link).collect(),
        None => vec![None],
    }
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
}
