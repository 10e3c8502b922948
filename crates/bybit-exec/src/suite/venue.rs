//! Where the suite runs: the embedded emulator on loopback (`--local`) or Bybit testnet.
//!
//! Both give the same things to the cases: endpoints for a process of the layer, the
//! exchange's truth (positions and orders, read past the layer), and the failure simulations.
//! The emulator has fault injection and moves prices on request; testnet has neither, so
//! there the private stream is killed client-side (a process that never opens it), a
//! take-profit fill comes from a marketable TP1, and too small a balance is a plan whose
//! margin exceeds the available balance.

use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{
    CancelOrder, Environment, NewOrder, OpenOrders, OrderHistory, OrderTarget, Positions,
    RestClient, RestConfig,
};
use bybit_sign::Credentials;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use bybit_types::{AccountType, OrderLinkId, Qty, Side};
use exec_gateway::Symbol;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sim_engine::OrderQuery;

use super::process::Endpoints;

/// The emulator's key pair (loopback only; it accepts nothing else).
const LOCAL_KEY: &str = "suite-key";
const LOCAL_SECRET: &str = "suite-secret";
/// The emulator's wallet, and where its BTCUSDT market stands still.
const LOCAL_USDT: Decimal = dec!(10000);
const LOCAL_PRICE: Decimal = dec!(50000);
/// What the emulator's wallet holds for the balance case: less than any entry's margin.
const LOCAL_SMALL_USDT: Decimal = dec!(5);
/// How many history pages the testnet observer reads (50 orders each).
const MAX_PAGES: usize = 10;

/// The embedded emulator.
pub(crate) struct Local {
    emu: Emulator,
    credentials: Credentials,
    http: reqwest::Client,
    observer: RestClient,
}

/// Bybit testnet.
pub(crate) struct Testnet {
    credentials: Credentials,
    observer: RestClient,
}

/// Where the suite runs.
pub(crate) enum Venue {
    Local(Box<Local>),
    Testnet(Box<Testnet>),
}

impl std::fmt::Debug for Venue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Venue {
    /// Starts the emulator on `127.0.0.1:0`: a still market, 10 000 USDT.
    pub(crate) async fn local() -> Result<Venue> {
        let mut config = EmulatorConfig::with_defaults(LOCAL_KEY, LOCAL_SECRET, LOCAL_USDT, 11);
        config.static_prices = true;
        config.engine = config.engine.with_price("BTCUSDT", LOCAL_PRICE);
        let emu = Emulator::start("127.0.0.1:0", config)
            .await
            .context("starting the embedded emulator")?;
        let credentials = Credentials::new(LOCAL_KEY, LOCAL_SECRET)?;
        let observer = RestClient::new(
            RestConfig::with_base_url(emu.http_url()).credentials(credentials.clone()),
        )?;
        Ok(Venue::Local(Box::new(Local {
            emu,
            credentials,
            http: reqwest::Client::new(),
            observer,
        })))
    }

    /// Bybit testnet with the given key pair. The URLs are testnet's, whatever else is
    /// configured: this never reaches mainnet.
    pub(crate) fn testnet(credentials: Credentials) -> Result<Venue> {
        let observer = RestClient::new(
            RestConfig::new(Environment::Testnet).credentials(credentials.clone()),
        )?;
        Ok(Venue::Testnet(Box::new(Testnet {
            credentials,
            observer,
        })))
    }

    /// One line for the report's header.
    pub(crate) fn describe(&self) -> String {
        match self {
            Venue::Local(l) => format!("the embedded emulator on {}", l.emu.addr()),
            Venue::Testnet(_) => format!("Bybit testnet ({})", Environment::Testnet.rest_url()),
        }
    }

    /// Where a process of the layer connects.
    pub(crate) fn endpoints(&self) -> Endpoints {
        match self {
            Venue::Local(l) => Endpoints {
                rest: l.emu.http_url(),
                public_ws: l.emu.public_ws_url(),
                private_ws: l.emu.private_ws_url(),
                credentials: l.credentials.clone(),
                loopback: true,
            },
            Venue::Testnet(t) => Endpoints {
                rest: Environment::Testnet.rest_url().to_owned(),
                public_ws: "wss://stream-testnet.bybit.com/v5/public/linear".to_owned(),
                private_ws: "wss://stream-testnet.bybit.com/v5/private".to_owned(),
                credentials: t.credentials.clone(),
                loopback: false,
            },
        }
    }

    /// Whether prices move on request (the emulator) or only by themselves (testnet).
    pub(crate) fn moves_prices(&self) -> bool {
        matches!(self, Venue::Local(_))
    }

    /// Prints a trade at `price` (the emulator's `POST /emulator/price`).
    pub(crate) async fn set_price(&self, symbol: &Symbol, price: Decimal) -> Result<()> {
        match self {
            Venue::Local(l) => {
                l.control(
                    "/price",
                    json!({"symbol": symbol.as_str(), "price": price.to_string()}),
                )
                .await
            }
            Venue::Testnet(_) => bail!("testnet prices cannot be moved"),
        }
    }

    /// Kills the private stream of the running processes: the emulator drops every
    /// WebSocket and refuses new ones for a minute. Returns `false` where that cannot be done
    /// from outside (testnet): the case then runs a process without a private stream.
    pub(crate) async fn kill_private_streams(&self) -> Result<bool> {
        match self {
            Venue::Local(l) => {
                l.control("/ws/refuse", json!({"seconds": 60})).await?;
                l.control("/ws/drop", json!({})).await?;
                Ok(true)
            }
            Venue::Testnet(_) => Ok(false),
        }
    }

    /// Clears every injected fault (streams are accepted again).
    pub(crate) async fn clear_faults(&self) -> Result<()> {
        match self {
            Venue::Local(l) => l.control("/reset", json!({})).await,
            Venue::Testnet(_) => Ok(()),
        }
    }

    /// Sets the emulator's wallet so small no entry fits; `false` on testnet, where the
    /// case sizes a plan above the available balance instead.
    pub(crate) async fn shrink_balance(&self) -> Result<bool> {
        match self {
            Venue::Local(l) => {
                l.control("/balance", json!({"usdt": LOCAL_SMALL_USDT.to_string()}))
                    .await?;
                Ok(true)
            }
            Venue::Testnet(_) => Ok(false),
        }
    }

    /// Puts the emulator's wallet back.
    pub(crate) async fn restore_balance(&self) -> Result<()> {
        match self {
            Venue::Local(l) => {
                l.control("/balance", json!({"usdt": LOCAL_USDT.to_string()}))
                    .await
            }
            Venue::Testnet(_) => Ok(()),
        }
    }

    /// The account's total available balance (USD) where the exchange reports one for the
    /// whole unified account (testnet: other coins count as collateral too).
    pub(crate) async fn total_available(&self) -> Result<Option<Decimal>> {
        match self {
            Venue::Local(_) => Ok(None),
            Venue::Testnet(t) => {
                let wallet = t
                    .observer
                    .wallet_balance(AccountType::Unified, None)
                    .await
                    .context("reading the wallet")?;
                Ok(wallet.list.first().and_then(|a| a.total_available_balance))
            }
        }
    }

    /// The exchange's position in `symbol`, read past the layer (the engine itself on the
    /// emulator; a separate REST client on testnet).
    pub(crate) async fn truth_position(&self, symbol: &Symbol) -> Result<Position> {
        match self {
            Venue::Local(l) => l
                .emu
                .state()
                .read(|e| e.position_of(symbol.as_str()))
                .map_err(|r| anyhow::anyhow!("the engine has no {symbol}: {r}")),
            Venue::Testnet(t) => {
                let list = t
                    .observer
                    .positions(Positions::symbol(symbol.clone()))
                    .await
                    .context("reading the position")?;
                list.list
                    .into_iter()
                    .find(|p| p.symbol == symbol.as_str())
                    .with_context(|| format!("testnet lists no {symbol} position row"))
            }
        }
    }

    /// Every order the exchange has for `symbol`, open or closed (recent history on testnet),
    /// each once.
    pub(crate) async fn truth_orders(&self, symbol: &Symbol) -> Result<Vec<Order>> {
        let mut all = match self {
            Venue::Local(l) => l.emu.state().read(|e| {
                let q = OrderQuery {
                    symbol: Some(symbol.as_str().to_owned()),
                    ..OrderQuery::default()
                };
                let mut all = e.order_history(&q);
                all.extend(e.open_orders(&q));
                all
            }),
            Venue::Testnet(t) => t.orders(symbol).await?,
        };
        all.sort_by(|a, b| a.order_id.cmp(&b.order_id));
        all.dedup_by(|a, b| a.order_id == b.order_id);
        Ok(all)
    }

    /// The last resort after a case, past the layer: cancels every open order of `tag` and
    /// closes what position is left with a reduce-only market order. Only ever called for
    /// a trade the suite opened on a symbol it found flat.
    pub(crate) async fn force_flat(&self, symbol: &Symbol, tag: &str) -> Result<()> {
        let rest: &RestClient = match self {
            Venue::Local(l) => &l.observer,
            Venue::Testnet(t) => &t.observer,
        };
        let open = rest
            .open_orders(OpenOrders::symbol(symbol.clone()))
            .await
            .context("listing open orders")?;
        for o in open.list.iter().filter(|o| belongs(&o.order_link_id, tag)) {
            let link = OrderLinkId::new(o.order_link_id.clone())?;
            rest.cancel_order(CancelOrder::new(symbol.clone(), OrderTarget::LinkId(link)))
                .await
                .with_context(|| format!("cancelling {}", o.order_link_id))?;
        }
        let position = self.truth_position(symbol).await?;
        if let (Some(side), true) = (position.side, position.size > Decimal::ZERO) {
            let close = match side {
                Side::Buy => Side::Sell,
                Side::Sell => Side::Buy,
            };
            let order = NewOrder::market(symbol.clone(), close, Qty::new(position.size)?)
                .reduce_only(true)
                .order_link_id(OrderLinkId::new(format!("suite_FLAT_{tag}"))?);
            rest.create_order(order)
                .await
                .context("closing the position")?;
        }
        Ok(())
    }
}

/// Whether an orderLinkId is one of trade `tag`'s (`{prefix}{LEG}_{tag}`).
pub(crate) fn belongs(order_link_id: &str, tag: &str) -> bool {
    order_link_id
        .strip_suffix(tag)
        .is_some_and(|head| head.ends_with('_'))
}

impl Local {
    /// `POST /emulator{path}`; the reply must say `ok`.
    async fn control(&self, path: &str, body: Value) -> Result<()> {
        let url = format!("{}/emulator{path}", self.emu.http_url());
        let reply: Value = self
            .http
            .post(&url)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .with_context(|| format!("POST {url}"))?
            .json()
            .await
            .with_context(|| format!("POST {url}: reply"))?;
        ensure!(reply["ok"] == json!(true), "POST {url}: {reply}");
        Ok(())
    }
}

impl Testnet {
    async fn orders(&self, symbol: &Symbol) -> Result<Vec<Order>> {
        let mut all = self
            .observer
            .open_orders(OpenOrders::symbol(symbol.clone()))
            .await
            .context("listing open orders")?
            .list;
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut q = OrderHistory::new().symbol(symbol.clone()).limit(50);
            if !cursor.is_empty() {
                q = q.cursor(cursor.clone());
            }
            let page = self
                .observer
                .order_history(q)
                .await
                .context("listing order history")?;
            all.extend(page.list);
            if page.next_page_cursor.is_empty() {
                break;
            }
            cursor = page.next_page_cursor;
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::belongs;

    #[test]
    fn an_order_belongs_to_the_trade_named_at_its_end() {
        assert!(belongs("andre_TP1_r1L", "r1L"));
        assert!(belongs("suite_FLAT_r1L", "r1L"));
        assert!(!belongs("andre_TP1_xr1L", "r1L"));
        assert!(!belongs("andre_TP1_r1L2", "r1L"));
        assert!(!belongs("r1L", "r1L"));
    }
}
