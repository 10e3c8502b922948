//! Where the suite runs: the embedded emulator on loopback (`--local`) or Bybit testnet.
//!
//! Both give the same things to the cases: endpoints for a process of the layer, the
//! exchange's truth (positions and orders, read past the layer), and the failure simulations.
//! The emulator has fault injection and moves prices on request; testnet has neither, so
//! there the private stream is killed client-side (a process that never opens it), a
//! take-profit fill comes from a marketable TP1, and too small a balance is a plan whose
//! margin exceeds the available balance.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{
    CancelOrder, NewOrder, OpenOrders, OrderHistory, OrderTarget, Positions, RestClient, RestConfig,
};
use bybit_sign::Credentials;
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use bybit_types::{AccountType, OrderLinkId, Price, Qty, WireSide};
use exec_gateway::Symbol;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sim_engine::OrderQuery;

use bybit_exec::config::{BybitEnv, JournalLocation, Routing, Settings};

/// The run's journal and error log, in the run's directory.
pub(crate) const JOURNAL_FILE: &str = "journal.sqlite";
pub(crate) const ERROR_LOG_FILE: &str = "execution-error.log";

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
    /// Fault injection and price moves are used; without them the suite takes testnet's
    /// paths on the emulator (`--testnet-paths`), so those paths are tested too.
    controls: bool,
    http: reqwest::Client,
    observer: RestClient,
}

/// Bybit testnet.
pub(crate) struct Testnet {
    settings: Settings,
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
    /// Starts the emulator on `127.0.0.1:0`: a still market, 10 000 USDT. Without
    /// `controls` the suite leaves its control API alone and takes testnet's paths.
    pub(crate) async fn local(controls: bool, symbol: &Symbol) -> Result<Venue> {
        let mut config = EmulatorConfig::with_defaults(LOCAL_KEY, LOCAL_SECRET, LOCAL_USDT, 11);
        config.static_prices = true;
        config.engine = config.engine.with_price("BTCUSDT", LOCAL_PRICE);
        let emu = Emulator::start("127.0.0.1:0", config)
            .await
            .context("starting the embedded emulator")?;
        let credentials = Credentials::new(LOCAL_KEY, LOCAL_SECRET)?;
        let observer =
            RestClient::new(RestConfig::with_base_url(emu.http_url()).credentials(credentials))?;
        let local = Local {
            emu,
            controls,
            http: reqwest::Client::new(),
            observer,
        };
        if !controls {
            // Testnet's market moves by itself: here it drifts up 0.2 bp every 200 ms (TP1,
            // 2% above an entry, is minutes away), set once before any case.
            let start = local
                .emu
                .state()
                .read(|e| e.price(symbol.as_str()))
                .map_err(|r| anyhow::anyhow!("the emulator has no price for {symbol}: {r}"))?;
            let prices: Vec<String> = (1..=3000)
                .map(|i| (start * (Decimal::ONE + dec!(0.00002) * Decimal::from(i))).to_string())
                .collect();
            local
                .control(
                    "/price-path",
                    json!({"symbol": symbol.as_str(), "intervalMs": 200, "prices": prices}),
                )
                .await?;
        }
        Ok(Venue::Local(Box::new(local)))
    }

    /// Bybit testnet, from the application's settings (environment and file). Refused unless
    /// they say `BYBIT_ENV=testnet`, live routing (not dry-run: SPEC R-TEST-1) and both keys;
    /// the URLs are testnet's whatever else is configured, so this never reaches mainnet.
    pub(crate) fn testnet(mut settings: Settings) -> Result<Venue> {
        if settings.env != BybitEnv::Testnet {
            bail!(
                "the suite trades, so it runs on Bybit testnet only: BYBIT_ENV is {:?}, not \
                 \"testnet\" (or use --local for the embedded emulator)",
                settings.env.as_str()
            );
        }
        if settings.routing != Routing::Live {
            bail!(
                "routing is {}; the suite needs real testnet orders \
                 (EXECUTION_DRY_RUN=false, SPEC R-TEST-1)",
                settings.routing
            );
        }
        let credentials = settings
            .credentials
            .clone()
            .context("BYBIT_API_KEY and BYBIT_API_SECRET must both be set for the testnet suite")?;
        let env = BybitEnv::Testnet;
        settings.rest_url = env.rest_url().to_owned();
        settings.public_rest_url = env.public_rest_url().to_owned();
        settings.ws_public_url = env.ws_public_url().to_owned();
        settings.ws_private_url = env.ws_private_url().to_owned();
        let observer =
            RestClient::new(RestConfig::with_base_url(env.rest_url()).credentials(credentials))?;
        Ok(Venue::Testnet(Box::new(Testnet { settings, observer })))
    }

    /// One line for the report's header.
    pub(crate) fn describe(&self) -> String {
        match self {
            Venue::Local(l) if l.controls => {
                format!("the embedded emulator on {}", l.emu.addr())
            }
            Venue::Local(l) => format!(
                "the embedded emulator on {} (testnet's paths: no fault injection, no price \
                 moves, a market drifting up by itself)",
                l.emu.addr()
            ),
            Venue::Testnet(_) => format!("Bybit testnet ({})", BybitEnv::Testnet.rest_url()),
        }
    }

    /// The settings of one process of the layer here: the application's own (the
    /// emulator's, or those loaded from the environment and file for testnet) with the run's
    /// journal and error log, the suite's symbol, and a notional guard high enough that the
    /// balance case reaches the exchange (every other case trades a few minimum quantities).
    pub(crate) fn settings(&self, run_dir: &Path, symbol: &Symbol) -> Result<Settings> {
        let mut settings = match self {
            Venue::Local(l) => Settings::for_emulator(&l.emu.http_url(), LOCAL_KEY, LOCAL_SECRET)?,
            Venue::Testnet(t) => t.settings.clone(),
        };
        settings.journal = JournalLocation::Sqlite(run_dir.join(JOURNAL_FILE));
        settings.error_log = Some(run_dir.join(ERROR_LOG_FILE));
        settings.symbols = vec![symbol.clone()];
        settings.max_notional_usdt = dec!(100000000);
        Ok(settings)
    }

    /// Whether prices move on request (the emulator) or only by themselves (testnet).
    pub(crate) fn moves_prices(&self) -> bool {
        self.controls().is_some()
    }

    /// The emulator whose control API the suite may use.
    fn controls(&self) -> Option<&Local> {
        match self {
            Venue::Local(l) if l.controls => Some(l),
            _ => None,
        }
    }

    /// Prints a trade at `price` (the emulator's `POST /emulator/price`).
    pub(crate) async fn set_price(&self, symbol: &Symbol, price: Decimal) -> Result<()> {
        match self.controls() {
            Some(l) => {
                l.control(
                    "/price",
                    json!({"symbol": symbol.as_str(), "price": price.to_string()}),
                )
                .await
            }
            None => bail!("prices cannot be moved here"),
        }
    }

    /// Kills the private stream of the running processes: the emulator drops every
    /// WebSocket and refuses new ones for a minute. Returns `false` where that cannot be done
    /// from outside (testnet): the case then silences the stream from the client side.
    pub(crate) async fn kill_private_streams(&self) -> Result<bool> {
        match self.controls() {
            Some(l) => {
                l.control("/ws/refuse", json!({"seconds": 60})).await?;
                l.control("/ws/drop", json!({})).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Clears every injected fault (streams are accepted again).
    pub(crate) async fn clear_faults(&self) -> Result<()> {
        match self.controls() {
            Some(l) => l.control("/reset", json!({})).await,
            None => Ok(()),
        }
    }

    /// Sets the emulator's wallet so small no entry fits; `false` on testnet, where the
    /// case sizes a plan above the available balance instead.
    pub(crate) async fn shrink_balance(&self) -> Result<bool> {
        match self.controls() {
            Some(l) => {
                l.control("/balance", json!({"usdt": LOCAL_SMALL_USDT.to_string()}))
                    .await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Puts the emulator's wallet back.
    pub(crate) async fn restore_balance(&self) -> Result<()> {
        match self.controls() {
            Some(l) => {
                l.control("/balance", json!({"usdt": LOCAL_USDT.to_string()}))
                    .await
            }
            None => Ok(()),
        }
    }

    /// The account's total available balance (USD) where the exchange reports one for the
    /// whole unified account (testnet: other coins count as collateral too).
    pub(crate) async fn total_available(&self) -> Result<Option<Decimal>> {
        let wallet = self
            .observer()
            .wallet_balance(AccountType::Unified, None)
            .await
            .context("reading the wallet")?;
        Ok(wallet.list.first().and_then(|a| a.total_available_balance))
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
        let rest = self.observer();
        let open = open_orders(rest, symbol).await?;
        for o in open.iter().filter(|o| belongs(&o.order_link_id, tag)) {
            let link = OrderLinkId::new(o.order_link_id.clone())?;
            rest.cancel_order(CancelOrder::new(symbol.clone(), OrderTarget::LinkId(link)))
                .await
                .with_context(|| format!("cancelling {}", o.order_link_id))?;
        }
        let position = self.truth_position(symbol).await?;
        if let (Some(side), true) = (position.side, position.size > Decimal::ZERO) {
            let close = match side {
                WireSide::Buy => WireSide::Sell,
                WireSide::Sell => WireSide::Buy,
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

/// Every open order of `symbol`, page by page (Bybit lists 20 a page unless asked for more).
async fn open_orders(rest: &RestClient, symbol: &Symbol) -> Result<Vec<Order>> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    for _ in 0..MAX_PAGES {
        let mut q = OpenOrders::symbol(symbol.clone()).limit(50);
        if !cursor.is_empty() {
            q = q.cursor(cursor.clone());
        }
        let page = rest.open_orders(q).await.context("listing open orders")?;
        all.extend(page.list);
        if page.next_page_cursor.is_empty() {
            break;
        }
        cursor = page.next_page_cursor;
    }
    Ok(all)
}

impl Venue {
    /// The REST client that reads the exchange past the layer (and cleans up as a last
    /// resort).
    fn observer(&self) -> &RestClient {
        match self {
            Venue::Local(l) => &l.observer,
            Venue::Testnet(t) => &t.observer,
        }
    }
}

impl Venue {
    /// A resting Buy limit sent straight to the exchange, past the layer (the suite's
    /// negative control).
    pub(crate) async fn place_limit(
        &self,
        symbol: &Symbol,
        qty: Decimal,
        price: Decimal,
        link: &str,
    ) -> Result<()> {
        let order = NewOrder::limit(
            symbol.clone(),
            WireSide::Buy,
            Qty::new(qty)?,
            Price::new(price)?,
        )
        .order_link_id(OrderLinkId::new(link.to_owned())?);
        self.observer()
            .create_order(order)
            .await
            .with_context(|| format!("placing {link}"))?;
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
        let mut all = open_orders(&self.observer, symbol).await?;
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
    use super::{belongs, Venue};
    use bybit_exec::config::{ConfigArgs, Settings};

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::from_sources(env, &ConfigArgs::default()).unwrap()
    }

    fn refusal(vars: &[(&str, &str)]) -> String {
        match Venue::testnet(settings(vars)) {
            Ok(_) => panic!("accepted {vars:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn only_testnet_with_keys_and_live_routing_is_accepted() {
        let keys = [("BYBIT_API_KEY", "k"), ("BYBIT_API_SECRET", "s")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut v = keys.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let demo = refusal(&with(&[("BYBIT_ENV", "demo")]));
        assert!(demo.contains("testnet only"), "{demo}");
        let mainnet = refusal(&with(&[
            ("BYBIT_ENV", "mainnet"),
            ("BYBIT_MAINNET_CONFIRM", "yes"),
        ]));
        assert!(mainnet.contains("testnet only"), "{mainnet}");
        let dry = refusal(&with(&[
            ("BYBIT_ENV", "testnet"),
            ("EXECUTION_DRY_RUN", "true"),
        ]));
        assert!(dry.contains("EXECUTION_DRY_RUN=false"), "{dry}");
        // Loopback URLs are a local emulator, whatever BYBIT_ENV says.
        let local = refusal(&with(&[
            ("BYBIT_ENV", "testnet"),
            ("BYBIT_REST_URL", "http://127.0.0.1:8080"),
            (
                "BYBIT_WS_PUBLIC_URL",
                "ws://127.0.0.1:8080/v5/public/linear",
            ),
            ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:8080/v5/private"),
        ]));
        assert!(
            local.contains("testnet only") && local.contains("emulator"),
            "{local}"
        );
        let no_keys = refusal(&[("BYBIT_ENV", "testnet")]);
        assert!(
            no_keys.contains("BYBIT_API_KEY and BYBIT_API_SECRET"),
            "{no_keys}"
        );
    }

    #[test]
    fn testnet_urls_win_over_configured_ones() {
        let venue = Venue::testnet(settings(&[
            ("BYBIT_ENV", "testnet"),
            ("BYBIT_API_KEY", "k"),
            ("BYBIT_API_SECRET", "s"),
            ("BYBIT_REST_URL", "https://proxy.example.com"),
            ("BYBIT_WS_PRIVATE_URL", "wss://proxy.example.com/v5/private"),
        ]))
        .unwrap();
        let dir = std::path::Path::new("/tmp/run");
        let btc = exec_gateway::Symbol::new("BTCUSDT").unwrap();
        let s = venue.settings(dir, &btc).unwrap();
        assert_eq!(s.rest_url, "https://api-testnet.bybit.com");
        assert!(s.ws_private_url.contains("stream-testnet.bybit.com"));
        assert!(s.ws_public_url.contains("stream-testnet.bybit.com"));
        assert_eq!(s.symbols, vec![btc]);
    }

    #[test]
    fn an_order_belongs_to_the_trade_named_at_its_end() {
        assert!(belongs("andre_TP1_r1L", "r1L"));
        assert!(belongs("suite_FLAT_r1L", "r1L"));
        assert!(!belongs("andre_TP1_xr1L", "r1L"));
        assert!(!belongs("andre_TP1_r1L2", "r1L"));
        assert!(!belongs("r1L", "r1L"));
    }
}
