//! The account as one text that outlives the process: what a paper router saves after every
//! change and gives back to a fresh engine after a restart, so the account continues where it
//! stopped (its balance, positions, open and recent orders, fills, orderLinkIds used, leverage,
//! the order-id generator and the sequence numbers).
//!
//! The market (prices, book, price source, instruments) is not part of it: a restarted paper
//! router reads the market again, and resting orders fill when the new prices reach them.
//! Fees, funding rate, limits and default leverage are the engine's configuration.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use rand_xorshift::XorShiftRng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{Engine, LimitPxAction};
use crate::state::{ExecRecord, OrderState, PositionState};

/// The layout's version; a text of another version is refused rather than misread. The
/// records' fields (`state.rs`) are part of the layout: a field added there needs a serde
/// default or a new version, or saved accounts stop reading (refused, never misread).
const VERSION: u32 = 1;

/// Why a saved account could not be restored. The engine is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    /// Not a saved account of this layout.
    #[error("the saved paper account cannot be read: {0}")]
    Unreadable(String),
    /// It was saved by another layout version.
    #[error("the saved paper account has layout version {found}, this build reads {VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// It holds orders or positions on a symbol this engine does not trade.
    #[error(
        "the saved paper account holds {symbol}, which this engine does not trade \
         (add it to the symbols, or use another journal)"
    )]
    UnknownSymbol {
        /// The symbol.
        symbol: String,
    },
}

/// The saved account: borrowed to save (no copy of the engine's records), owned to restore.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Saved<'a> {
    version: u32,
    wallet: Decimal,
    cum_realised: Decimal,
    orders: Cow<'a, BTreeMap<u64, OrderState>>,
    open: Cow<'a, BTreeSet<u64>>,
    closed: Cow<'a, VecDeque<u64>>,
    /// Every orderLinkId used, oldest first (an orderLinkId is unique for the account's life).
    used_links: Cow<'a, VecDeque<String>>,
    positions: Cow<'a, BTreeMap<String, PositionState>>,
    hedge: Cow<'a, BTreeSet<String>>,
    executions: Cow<'a, VecDeque<ExecRecord>>,
    /// The order-id generator: a restored engine never hands out an id it already gave.
    ids: Cow<'a, XorShiftRng>,
    next_seq: u64,
    match_seq: i64,
    now: i64,
    realtime_since: i64,
    limit_px_spot: bool,
    limit_px_futures: bool,
}

impl Engine {
    /// The account as JSON, for [`Engine::restore_account`] after a restart.
    pub fn account_json(&self) -> String {
        let saved = Saved {
            version: VERSION,
            wallet: self.wallet,
            cum_realised: self.cum_realised,
            orders: Cow::Borrowed(&self.orders),
            open: Cow::Borrowed(&self.open),
            closed: Cow::Borrowed(&self.closed),
            used_links: Cow::Borrowed(&self.used_links_order),
            positions: Cow::Borrowed(&self.positions),
            hedge: Cow::Borrowed(&self.hedge),
            executions: Cow::Borrowed(&self.executions),
            ids: Cow::Borrowed(&self.ids),
            next_seq: self.next_seq,
            match_seq: self.match_seq,
            now: self.now,
            realtime_since: self.realtime_since,
            limit_px_spot: self.limit_px.spot,
            limit_px_futures: self.limit_px.futures,
        };
        // Every field is a string, a number, a bool or a map with integer or string keys:
        // serde_json cannot fail on them.
        serde_json::to_string(&saved).unwrap_or_default()
    }

    /// Replaces this engine's account with one [`Engine::account_json`] wrote. Refused, with
    /// the engine unchanged, when the text is not such an account or holds a symbol this
    /// engine does not trade. Nothing is pushed: the account is as it was, not changed.
    pub fn restore_account(&mut self, json: &str) -> Result<(), RestoreError> {
        let saved: Saved<'static> =
            serde_json::from_str(json).map_err(|e| RestoreError::Unreadable(e.to_string()))?;
        if saved.version != VERSION {
            return Err(RestoreError::Version {
                found: saved.version,
            });
        }
        let symbols = saved
            .orders
            .values()
            .map(|o| &o.symbol)
            .chain(saved.positions.keys())
            .chain(saved.executions.iter().map(|e| &e.symbol));
        for symbol in symbols {
            if !self.instruments.contains_key(symbol) {
                return Err(RestoreError::UnknownSymbol {
                    symbol: symbol.clone(),
                });
            }
        }
        let orders = saved.orders.into_owned();
        self.by_id = orders
            .iter()
            .map(|(seq, o)| (o.order_id.clone(), *seq))
            .collect::<HashMap<_, _>>();
        self.by_link = orders
            .iter()
            .filter(|(_, o)| !o.link_id.is_empty())
            .map(|(seq, o)| (o.link_id.clone(), *seq))
            .collect::<HashMap<_, _>>();
        self.orders = orders;
        self.used_links_order = saved.used_links.into_owned();
        self.used_links = self
            .used_links_order
            .iter()
            .cloned()
            .collect::<HashSet<_>>();
        self.open = saved.open.into_owned();
        self.closed = saved.closed.into_owned();
        self.positions = saved.positions.into_owned();
        self.hedge = saved.hedge.into_owned();
        self.executions = saved.executions.into_owned();
        self.wallet = saved.wallet;
        self.cum_realised = saved.cum_realised;
        self.ids = saved.ids.into_owned();
        self.next_seq = saved.next_seq;
        self.match_seq = saved.match_seq;
        self.now = saved.now;
        self.realtime_since = saved.realtime_since;
        self.limit_px = LimitPxAction {
            spot: saved.limit_px_spot,
            futures: saved.limit_px_futures,
        };
        self.outbox = super::Outbox::default();
        self.events.clear();
        Ok(())
    }
}
