//! Linear tickers arrive as a snapshot, then deltas carrying only the fields that changed
//! (docs/v5/websocket/public/ticker.mdx): an absent field means "unchanged", so a delta is
//! merged into the last full ticker.

use bybit_types::rest::market::Ticker;

/// Copies every field `delta` carries into `merged`; fields it lacks keep their value. The
/// field list lives in one place, [`Ticker::merge`], so a field Bybit adds is merged here too.
pub fn merge_ticker(merged: &mut Ticker, delta: &Ticker) {
    merged.merge(delta);
}

#[cfg(test)]
mod tests {
    use bybit_types::ws::WsMessage;
    use rust_decimal_macros::dec;

    use super::*;

    fn ticker(text: &str) -> Ticker {
        match WsMessage::parse(text).unwrap() {
            WsMessage::Ticker(m) => m.data,
            other => panic!("not a ticker: {other:?}"),
        }
    }

    // docs/v5/websocket/public/ticker.mdx; the delta is the real one quoted in REFERENCE.md §6.1.
    #[test]
    fn a_delta_changes_only_the_fields_it_carries() {
        let mut merged = ticker(
            r#"{"topic":"tickers.AAVEUSDT","type":"snapshot","data":{"symbol":"AAVEUSDT","lastPrice":"112.9","markPrice":"112.91","bid1Price":"112.8","bid1Size":"1","ask1Price":"113","ask1Size":"1"},"cs":1,"ts":1}"#,
        );
        let delta = ticker(
            r#"{"topic":"tickers.AAVEUSDT","type":"delta","data":{"symbol":"AAVEUSDT","bid1Price":"112.89","bid1Size":"2.12","ask1Price":"112.90","ask1Size":"5.02"},"cs":78039939929,"ts":1709210212704}"#,
        );
        merge_ticker(&mut merged, &delta);
        assert_eq!(merged.last_price, Some(dec!(112.9)));
        assert_eq!(merged.mark_price, Some(dec!(112.91)));
        assert_eq!(merged.bid1_price, Some(dec!(112.89)));
        assert_eq!(merged.ask1_size, Some(dec!(5.02)));
    }
}
