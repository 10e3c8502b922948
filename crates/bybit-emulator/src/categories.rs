//! Categories the emulator does not trade (`inverse`, `spot`, `option`): reads answer like a
//! Bybit account that holds nothing there, writes are refused.
//!
//! Clients query every category at start (ccxt's `watch_positions` loads linear *and* inverse
//! positions), so a 10001 for `category=inverse` on a read breaks them. Each read answers in
//! the shape its doc page gives, with the category echoed and nothing in it: `list` `[]`,
//! `nextPageCursor` `""` where the endpoint pages. The categories each endpoint accepts are the
//! ones its doc page lists (`position/list`: linear, inverse, option — so `spot` stays 10001).
//! The emulator lists no instrument outside linear, so a read naming a symbol in another
//! category is the usual unknown-symbol 10001.

use serde_json::{json, Value};
use sim_engine::Reject;

use crate::params::{Params, UNTRADED};

/// The reply of a read endpoint for an untraded category, or `None` when the request is not
/// such a read (a linear request, a write, a missing or invalid category: the endpoint's own
/// checks answer those).
pub(crate) fn empty_read(path: &str, p: &Params) -> Option<Result<Value, Reject>> {
    let category = p.text("category").ok().flatten()?;
    let category = UNTRADED.into_iter().find(|c| *c == category)?;
    let symbol = p.text("symbol").ok().flatten();
    // A page of nothing, after the same checks of `limit` and `cursor` a linear read makes
    // (maxima as each page documents them).
    let paged = |max: usize| {
        p.limit(1, max)?;
        p.cursor()?;
        Ok(json!({"category": category, "list": [], "nextPageCursor": ""}))
    };
    Some(match path {
        // docs v5/order/open-order, order-list, execution; v5/market/instrument.
        "/v5/order/realtime" | "/v5/order/history" => paged(50),
        "/v5/execution/list" => paged(100),
        "/v5/market/instruments-info" => paged(1000),
        // docs v5/position/position: linear, inverse, option only.
        "/v5/position/list" if category == "spot" => Err(Reject::params(
            "params error: category spot is not supported by /v5/position/list (linear, inverse, option)",
        )),
        "/v5/position/list" => paged(200),
        // docs v5/market/tickers and orderbook: nothing is listed in this category.
        "/v5/market/tickers" => match symbol {
            Some(symbol) => Err(Reject::unknown_symbol(&symbol)),
            None => Ok(json!({"category": category, "list": []})),
        },
        "/v5/market/orderbook" => match symbol {
            Some(symbol) => Err(Reject::unknown_symbol(&symbol)),
            None => Err(Reject::params("params error: symbol is required")),
        },
        // docs v5/account/fee-rate: `category` is in the reply for spot and option only.
        "/v5/account/fee-rate" if category == "inverse" => Ok(json!({"list": []})),
        "/v5/account/fee-rate" => Ok(json!({"category": category, "list": []})),
        _ => return None,
    })
}
