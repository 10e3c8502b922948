//! A gateway over the live adapters, against an in-process emulator on a still BTCUSDT
//! market at 50 000.

use std::sync::Arc;
use std::time::Duration;

use bybit_emulator::{Emulator, EmulatorConfig};
use bybit_rest::{RestClient, RestConfig};
use bybit_sign::Credentials;
use bybit_ws::{BackoffConfig, PrivateAuth, TradeStream, WsConfig, WsStream};
use exec_events::{ErrorLog, Event, EventBus, Fill, Received, Subscription};
use exec_gateway::{Gateway, GatewayConfig, Journal, Symbol, SystemClock, TradePlan};
use exec_live::{LiveConfig, LiveExchange, OrderPath};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sim_engine::OrderQuery;

pub(crate) const KEY: &str = "test-key";
pub(crate) const SECRET: &str = "test-secret";

pub(crate) fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

/// The paper lifecycle's plan (exec-sim tests/support.rs), same levels.
pub(crate) fn plan(tag: &str) -> TradePlan {
    exec_gateway::testing::lifecycle_plan(tag)
}

pub(crate) fn fast(url: String) -> WsConfig {
    let mut config = WsConfig::new(url);
    config.ping_interval = Duration::from_millis(300);
    config.pong_timeout = Duration::from_millis(700);
    config.idle_timeout = Duration::from_secs(3);
    config.connect_timeout = Duration::from_secs(3);
    config.reply_timeout = Duration::from_secs(3);
    config.backoff = BackoffConfig {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
        stable_after: Duration::from_secs(5),
    };
    config
}

pub(crate) struct Live {
    pub(crate) emu: Emulator,
    pub(crate) exchange: Arc<LiveExchange>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) bus: EventBus,
    http: reqwest::Client,
}

pub(crate) async fn start_emulator(usdt: Decimal) -> Emulator {
    let mut config = EmulatorConfig::with_defaults(KEY, SECRET, usdt, 7);
    config.static_prices = true;
    config.engine = config.engine.with_price("BTCUSDT", dec!(50000));
    Emulator::start("127.0.0.1:0", config).await.unwrap()
}

/// The live adapters and a gateway on `emu` (a new process on the same exchange when called
/// again), with the private stream, a public ticker stream and REST polling every 200 ms
/// while the private stream is quiet.
/// One process of the layer: adapters, gateway, bus, a subscription taken before the start
/// catch-up (the tracker journals each fill before it publishes it).
pub(crate) struct Process {
    pub(crate) exchange: Arc<LiveExchange>,
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) bus: EventBus,
    pub(crate) sub: Subscription,
}

/// Fills the journal already holds are remembered first (a restart does not publish them
/// again); the returned subscription sees everything from the start catch-up on.
pub(crate) async fn connect(
    emu: &Emulator,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
) -> Process {
    let live = LiveConfig {
        poll_interval: Duration::from_millis(200),
        silence_threshold: Duration::from_secs(2),
        ..LiveConfig::default()
    };
    let config = GatewayConfig::new(dec!(5000));
    connect_with(emu, journal, log, live, config).await
}

/// [`connect`] with the adapters' and the gateway's configuration given.
pub(crate) async fn connect_with(
    emu: &Emulator,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
    live: LiveConfig,
    gateway_config: GatewayConfig,
) -> Process {
    connect_with_rest(emu, journal, log, live, gateway_config, |c| c).await
}

/// [`connect_with`], the REST client's configuration adjusted by `rest` before the
/// execution layer's wiring ([`exec_live::gateway_rest_config`]) applies.
pub(crate) async fn connect_with_rest(
    emu: &Emulator,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
    live: LiveConfig,
    gateway_config: GatewayConfig,
    rest: impl FnOnce(RestConfig) -> RestConfig,
) -> Process {
    let creds = Credentials::new(KEY, SECRET).unwrap();
    let rest = Arc::new(
        RestClient::new(exec_live::gateway_rest_config(rest(
            RestConfig::with_base_url(emu.http_url()).credentials(creds.clone()),
        )))
        .unwrap(),
    );
    // Order creates go as `live.order_path` says (auto by default: the order-entry stream
    // while it is up, else REST), as in `serve`: the stream stamps its requests with the
    // REST client's measured clock offset.
    let trade = (live.order_path != OrderPath::Rest).then(|| {
        let mut auth = PrivateAuth::new(creds.clone());
        let clock = rest.clone();
        auth.clock_offset = Some(Arc::new(move || clock.clock_status().offset_ms));
        let (trade, _events) = TradeStream::connect(fast(emu.trade_ws_url()), auth).unwrap();
        Arc::new(trade)
    });
    let (private, private_events) =
        WsStream::private(fast(emu.private_ws_url()), PrivateAuth::new(creds)).unwrap();
    let (public, _public_events) = WsStream::public(fast(emu.public_ws_url())).unwrap();
    public.subscribe_tickers(&["BTCUSDT"]).await.unwrap();
    let bus = EventBus::new(4096);
    let config = live;
    let mut exchange = LiveExchange::new(
        rest,
        bus.clone(),
        journal.clone(),
        config,
        Some(Arc::new(private)),
        Some(Arc::new(public)),
    );
    if let Some(trade) = trade {
        exchange = exchange.with_trade_stream(trade);
    }
    let exchange = Arc::new(exchange);
    exchange
        .tracker()
        .remember_fills(&journal.fills("andre_").await.unwrap());
    let sub = bus.subscribe();
    exchange.start_tracking(Some(private_events)).await.unwrap();
    let ports = exchange.ports(journal, Arc::new(SystemClock));
    let gateway = Arc::new(Gateway::new(ports, gateway_config, bus.clone(), log).unwrap());
    Process {
        exchange,
        gateway,
        bus,
        sub,
    }
}

pub(crate) async fn live(
    usdt: Decimal,
    journal: Arc<dyn Journal>,
    log: Option<Arc<ErrorLog>>,
) -> Live {
    let emu = start_emulator(usdt).await;
    let Process {
        exchange,
        gateway,
        bus,
        ..
    } = connect(&emu, journal, log).await;
    Live {
        emu,
        exchange,
        gateway,
        bus,
        http: reqwest::Client::new(),
    }
}

impl Live {
    /// A [`Live`] over an emulator and a process made with [`connect_with`].
    pub(crate) fn over(emu: Emulator, p: &Process) -> Live {
        Live {
            emu,
            exchange: p.exchange.clone(),
            gateway: p.gateway.clone(),
            bus: p.bus.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// POSTs a fault-control request (`/emulator/...`).
    pub(crate) async fn control(&self, path: &str, body: Value) {
        let reply: Value = self
            .http
            .post(format!("{}/emulator{path}", self.emu.http_url()))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply["ok"], json!(true), "{path}: {reply}");
    }

    /// Prints a trade at `price` on the emulator.
    pub(crate) fn set_price(&self, price: Decimal) {
        self.emu
            .state()
            .execute(|e, now| e.set_price(now, "BTCUSDT", price))
            .unwrap();
    }

    /// Every order the exchange has for BTCUSDT, open or closed.
    pub(crate) fn exchange_orders(&self) -> Vec<bybit_types::rest::order::Order> {
        self.emu.state().read(|e| {
            let q = OrderQuery {
                symbol: Some("BTCUSDT".into()),
                ..OrderQuery::default()
            };
            let mut all = e.order_history(&q);
            all.extend(e.open_orders(&q));
            all.sort_by(|a, b| a.order_id.cmp(&b.order_id));
            all.dedup_by(|a, b| a.order_id == b.order_id);
            all
        })
    }

    /// Waits until the public ticker has a price (the gateway sizes entries with it).
    pub(crate) async fn ticker_ready(&self) {
        eventually_async("a ticker price", || async {
            exec_gateway::PriceService::last_price(self.exchange.as_ref(), &btc())
                .await
                .is_ok()
        })
        .await;
    }
}

/// The fills published since the last call (without waiting).
pub(crate) fn fills(sub: &mut Subscription) -> Vec<Fill> {
    exec_gateway::testing::drain_fills(sub)
}

/// Waits (up to 10 s) for fills until `want` have arrived; returns them all.
pub(crate) async fn wait_fills(sub: &mut Subscription, want: usize) -> Vec<Fill> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while out.len() < want {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Received::Event(env)) => {
                if let Event::Fill(f) = &*env.event {
                    out.push(f.clone());
                }
            }
            Ok(Received::Lagged { missed }) => panic!("test subscriber lagged by {missed}"),
            Ok(Received::Closed) => panic!("bus closed"),
            Err(_) => panic!("timed out with {} of {want} fills: {out:?}", out.len()),
        }
    }
    out
}

/// Waits (polling under a deadline) until `check` holds.
pub(crate) async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`eventually`] with an async check.
pub(crate) async fn eventually_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
