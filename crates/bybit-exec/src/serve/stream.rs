//! `GET /api/events`: the bus as Server-Sent Events, resumable.
//!
//! Each event is sent with `id: <epoch>-<seq>` (`epoch`: when this server started, ms;
//! `seq`: the bus's sequence number) and `event: <type>` (`order`, `fill`, `position`,
//! `wallet`, `health`, `execution.error`, `would_send`), its data the event's JSON. A client
//! that reconnects with `Last-Event-ID` gets what followed that id: the last [`REPLAY`](super::hub::REPLAY) events
//! from memory, and **every fill** of this server's life after it — a fill older than the
//! memory is re-read from the journal by its execId — so a reconnecting client misses no fill
//! and gets none twice. An id of an earlier server (another epoch) resumes from this server's
//! first event. A gap in the other events is announced as `event: gap`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use exec_events::Event;
use exec_gateway::DEFAULT_LINK_PREFIX;

use super::app::App;
use super::hub::Item;

fn sse_event(epoch: u64, item: &Item) -> SseEvent {
    SseEvent::default()
        .id(format!("{epoch}-{}", item.seq))
        .event(item.name)
        .data(item.data.clone())
}

/// `GET /api/events`.
pub(crate) async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let hub = app.hub.clone();
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let start = hub.resume_point(last.as_deref());
    let journal = app.runtime.journal.clone();
    let state = (
        hub.clone(),
        hub.latest.subscribe(),
        start,
        VecDeque::new(),
        journal,
    );
    let stream = futures_util::stream::unfold(
        state,
        |(hub, mut latest, mut after, mut pending, journal)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((
                        Ok::<_, Infallible>(event),
                        (hub, latest, after, pending, journal),
                    ));
                }
                let (kept, older, gap) = hub.after(after);
                if !older.is_empty() {
                    // Fills memory no longer holds: re-read from the journal.
                    let wanted: HashSet<String> = older.iter().map(|(_, id)| id.clone()).collect();
                    let found = journal.fills(DEFAULT_LINK_PREFIX).await.unwrap_or_default();
                    let by_id: BTreeMap<String, exec_events::Fill> = found
                        .into_iter()
                        .filter(|f| wanted.contains(&f.exec_id))
                        .map(|f| (f.exec_id.clone(), f))
                        .collect();
                    for (seq, id) in &older {
                        if let Some(fill) = by_id.get(id) {
                            let data = serde_json::to_string(&Event::Fill(fill.clone()))
                                .unwrap_or_default();
                            pending.push_back(sse_event(
                                hub.epoch,
                                &Item {
                                    seq: *seq,
                                    name: "fill",
                                    data,
                                },
                            ));
                        }
                    }
                }
                if gap {
                    pending.push_back(
                        SseEvent::default()
                            .event("gap")
                            .data("events other than fills were missed; re-read GET /api/trades"),
                    );
                }
                for item in &kept {
                    pending.push_back(sse_event(hub.epoch, item));
                }
                if let Some(last) = kept.last() {
                    after = last.seq;
                } else if let Some((seq, _)) = older.last() {
                    after = *seq;
                }
                if pending.is_empty() {
                    // Wait for the next event (marking what we have seen first).
                    latest.borrow_and_update();
                    if hub.after(after).0.is_empty() && latest.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use exec_events::Envelope;

    use super::super::hub::{Hub, REPLAY};
    use super::*;

    #[test]
    fn a_resume_point_is_honoured_only_for_this_servers_ids() {
        let hub = Hub::default();
        assert_eq!(hub.resume_point(None), 0);
        assert_eq!(hub.resume_point(Some(&format!("{}-42", hub.epoch))), 42);
        assert_eq!(hub.resume_point(Some("1-42")), 0);
        assert_eq!(hub.resume_point(Some("garbage")), 0);
    }

    fn envelope(seq: u64, event: Event) -> Envelope {
        Envelope {
            seq,
            event: Arc::new(event),
        }
    }

    #[test]
    fn fills_older_than_the_memory_are_handed_back_for_the_journal_by_exec_id() {
        let hub = Hub::default();
        let fill = |id: &str| {
            Event::Fill(exec_events::Fill {
                exec_id: id.to_owned(),
                symbol: "BTCUSDT".to_owned(),
                side: exec_events::Side::Buy,
                order_id: "1".to_owned(),
                order_link_id: "andre_ENTRY_T".to_owned(),
                price: rust_decimal::Decimal::ONE,
                qty: rust_decimal::Decimal::ONE,
                fee: rust_decimal::Decimal::ZERO,
                fee_currency: "USDT".to_owned(),
                is_maker: false,
                pnl: None,
                exec_kind: exec_events::ExecKind::Trade,
                time_ms: 1,
                simulated: false,
            })
        };
        let health = || {
            Event::Health(exec_events::HealthUpdate {
                component: "rest".to_owned(),
                ok: true,
                detail: None,
            })
        };
        hub.push(&envelope(1, fill("e1")));
        hub.push(&envelope(2, fill("e2")));
        let total = u64::try_from(REPLAY).unwrap() + 10;
        for seq in 3..=total {
            hub.push(&envelope(seq, health()));
        }
        // After seq 1: fill 2 is out of memory, so it comes back by execId; a gap is flagged.
        let (kept, older, gap) = hub.after(1);
        assert_eq!(older, [(2, "e2".to_owned())]);
        assert!(gap);
        assert_eq!(kept.len(), REPLAY);
        // After the newest: nothing.
        let (kept, older, gap) = hub.after(total);
        assert!(kept.is_empty() && older.is_empty() && !gap);
    }
}
