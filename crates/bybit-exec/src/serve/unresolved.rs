//! The intents of the trades seen whose outcome the journal does not hold (R-SAFE-4): what
//! `/api/status` lists and what keeps a finished trade's tag from being forgotten.

use exec_gateway::{Journal, Outcome};
use rust_decimal::Decimal;
use serde::Serialize;

use super::app::App;

/// An order of a known trade whose outcome the journal does not hold.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Unresolved {
    pub(crate) tag: String,
    leg: String,
    order_link_id: String,
    symbol: String,
    side: String,
    qty: Decimal,
    kind: String,
    /// `none` (sent, no answer journaled) or `unknown` (answered ambiguously, not looked up yet).
    last_outcome: &'static str,
}

/// [`unresolved`] of the trades seen (the journal's owner thread does the reading).
pub(crate) async fn unresolved_off_thread(app: &App) -> Vec<Unresolved> {
    let tags = app.seen.tags();
    unresolved(app.runtime.journal.as_ref(), &tags).await
}

/// The intents of `tags` whose last journaled outcome is none or `unknown`.
async fn unresolved(journal: &dyn Journal, tags: &[String]) -> Vec<Unresolved> {
    let mut out = Vec::new();
    for tag in tags {
        let Ok(rows) = journal.intents(tag).await else {
            continue;
        };
        for row in rows {
            let last = match row.outcomes.last() {
                None => "none",
                Some(Outcome::Unknown { .. }) => "unknown",
                Some(_) => continue,
            };
            let i = row.intent;
            out.push(Unresolved {
                tag: tag.clone(),
                leg: i.leg,
                order_link_id: i.order_link_id,
                symbol: i.symbol,
                side: i.side,
                qty: i.qty,
                kind: i.kind,
                last_outcome: last,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use exec_gateway::{Intent, MemoryJournal};
    use rust_decimal_macros::dec;

    use super::*;

    fn intent(leg: &str) -> Intent {
        Intent {
            trade_tag: "T1".to_owned(),
            leg: leg.to_owned(),
            order_link_id: format!("andre_{leg}_T1"),
            symbol: "BTCUSDT".to_owned(),
            side: "Sell".to_owned(),
            qty: dec!(0.01),
            price: Some(dec!(51000)),
            trigger_price: None,
            kind: "limit".to_owned(),
            reason: "setup_tps".to_owned(),
            at_ms: 1,
        }
    }

    // The outcome policy (STYLE.md): an order is settled by an answer or by a lookup, not by
    // the passage of time.
    #[tokio::test]
    async fn an_order_is_unresolved_until_an_answer_or_a_lookup_is_journaled() {
        let journal = MemoryJournal::new();
        let unknown = Outcome::Unknown {
            reason: "timeout".to_owned(),
        };
        for leg in ["TP1", "TP2", "TP3", "DCA1"] {
            journal.record_intent(&intent(leg)).await.unwrap();
        }
        let link = |leg: &str| format!("andre_{leg}_T1");
        // TP1: no answer at all. TP2: answered "unknown". TP3: unknown, then found by lookup.
        journal
            .record_outcome(&link("TP2"), &unknown, 2)
            .await
            .unwrap();
        journal
            .record_outcome(&link("TP3"), &unknown, 2)
            .await
            .unwrap();
        let found = Outcome::Resolved {
            found: true,
            order_id: Some("1".to_owned()),
        };
        journal
            .record_outcome(&link("TP3"), &found, 3)
            .await
            .unwrap();
        let acked = Outcome::Acked {
            order_id: "2".to_owned(),
        };
        journal
            .record_outcome(&link("DCA1"), &acked, 2)
            .await
            .unwrap();

        let open = unresolved(&journal, &["T1".to_owned(), "other".to_owned()]).await;
        let got: Vec<(&str, &str)> = open
            .iter()
            .map(|u| (u.leg.as_str(), u.last_outcome))
            .collect();
        assert_eq!(got, [("TP1", "none"), ("TP2", "unknown")]);
    }
}
