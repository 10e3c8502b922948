//! `Runtime::start` in each routing against the emulator; status (SPEC R-HEALTH-1); shutdown.

use std::time::{Duration, Instant};

use bybit_exec::config::Routing;
use bybit_exec::runtime::Runtime;
use exec_gateway::{PositionService, PriceService, Symbol};
use rust_decimal_macros::dec;

use crate::support::{emulator, eventually, settings};

fn btc() -> Symbol {
    Symbol::new("BTCUSDT").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_runtime_is_healthy_trades_and_shuts_down_quickly() {
    let emu = emulator().await;
    let rt = Runtime::start(settings(&emu)).await.unwrap();
    assert!(rt.live().is_some() && rt.private().is_some() && rt.paper().is_none());
    eventually("both streams up", || async {
        let s = rt.status().await;
        rt.is_healthy(&s)
    })
    .await;
    let status = rt.status().await;
    let json = serde_json::to_value(&status).unwrap();
    // SPEC R-HEALTH-1's shape, camelCase.
    assert_eq!(json["rest"]["ok"], true);
    assert!(json["rest"]["latencyMs"].is_u64());
    assert_eq!(json["wsPublic"]["ok"], true);
    assert_eq!(json["wsPrivate"]["ok"], true);
    assert!(json["wsPrivate"]["error"].is_null());
    assert!(json["wsPrivate"].get("lastMsgAgoSec").is_some());

    // The gateway reaches the exchange: an entry opens a position there.
    let plan = exec_gateway::TradePlan {
        symbol: btc(),
        side: exec_gateway::Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![],
        tp_levels: vec![],
        client_tag: "RT1".to_owned(),
        adopt_position: false,
    };
    let entry = rt.gateway.execute_entry(&plan).await.unwrap();
    assert_eq!(entry.filled_qty, dec!(0.020));
    let exchange_size = emu.state().read(|e| e.position_of("BTCUSDT").unwrap().size);
    assert_eq!(exchange_size, dec!(0.020));

    assert_eq!(
        emu.state().websocket_sessions(),
        3,
        "public, private and order entry"
    );
    let started = Instant::now();
    rt.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // Every stream was closed, not left to time out.
    eventually("the emulator sees every socket close", || async {
        emu.state().websocket_sessions() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paper_runtime_needs_no_keys_and_follows_the_public_ticker() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.routing = Routing::Paper;
    s.credentials = None;
    let rt = Runtime::start(s).await.unwrap();
    let paper = rt.paper().cloned().unwrap();
    assert!(rt.private().is_none() && rt.live().is_none());
    assert_eq!(paper.last_price(&btc()).await.unwrap(), dec!(50000));
    // The real (here: emulated) market moves; the paper exchange follows its ticker.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(50500)))
        .unwrap();
    eventually("the paper price follows the ticker", || async {
        paper.last_price(&btc()).await.unwrap() == dec!(50500)
    })
    .await;
    let status = rt.status().await;
    assert!(rt.is_healthy(&status), "{status:?}");
    assert!(!status.ws_private.ok);
    assert!(status.ws_private.error.unwrap().contains("not configured"));
    // A paper entry fills on the paper exchange, not on the real one.
    let plan = exec_gateway::TradePlan {
        symbol: btc(),
        side: exec_gateway::Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![],
        tp_levels: vec![],
        client_tag: "P1".to_owned(),
        adopt_position: false,
    };
    rt.gateway.execute_entry(&plan).await.unwrap();
    let position = paper.get_position(&btc()).await.unwrap();
    assert!(!position.is_flat());
    assert!(emu
        .state()
        .read(|e| e.position_of("BTCUSDT").unwrap().size.is_zero()));
    // A take-profit rests on the paper exchange and fills when the real price reaches it.
    let mut plan = plan;
    plan.tp_levels = vec![exec_gateway::TpLevel {
        price: dec!(50800),
        share: dec!(1),
    }];
    rt.gateway.setup_tps(&plan, &position).await.unwrap();
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(50810)))
        .unwrap();
    eventually("the paper TP fills on the ticker's price", || async {
        paper.get_position(&btc()).await.unwrap().is_flat()
    })
    .await;
    assert_eq!(
        rt.journal.fills("andre_TP1_P1").await.unwrap().len(),
        1,
        "the paper fill is journaled"
    );
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_routing_without_keys_is_refused_naming_them() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.credentials = None;
    let err = Runtime::start(s).await.unwrap_err().to_string();
    assert!(err.contains("BYBIT_API_KEY"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_sends_nothing_to_the_exchange() {
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.routing = Routing::DryRun;
    let rt = Runtime::start(s).await.unwrap();
    let mut sub = rt.bus.subscribe();
    let plan = exec_gateway::TradePlan {
        symbol: btc(),
        side: exec_gateway::Side::Buy,
        margin_usdt: dec!(100),
        leverage: dec!(10),
        dca_levels: vec![],
        tp_levels: vec![],
        client_tag: "D1".to_owned(),
        adopt_position: false,
    };
    rt.gateway.execute_entry(&plan).await.unwrap();
    let mut would_send = false;
    while let Some(exec_events::Received::Event(env)) = sub.try_recv() {
        would_send |= matches!(&*env.event, exec_events::Event::WouldSend(_));
    }
    assert!(would_send, "a WouldSend event was published");
    let orders = emu.state().read(|e| {
        e.order_history(&sim_engine::OrderQuery::default()).len()
            + e.open_orders(&sim_engine::OrderQuery::default()).len()
    });
    assert_eq!(orders, 0, "nothing reached the exchange");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_trading_takes_market_data_from_its_public_host_and_refuses_the_fee_rate() {
    use bybit_types::Category;
    // REFERENCE.md §1 (docs/v5/demo.mdx): demo trades on its own host, takes public data from
    // mainnet, and has no fee-rate endpoint. Two emulators stand in for the two hosts.
    let trading = emulator().await;
    let mut config = bybit_emulator::EmulatorConfig::with_defaults(
        crate::support::KEY,
        crate::support::SECRET,
        dec!(10000),
        9,
    );
    config.static_prices = true;
    config.engine = config.engine.with_price("BTCUSDT", dec!(60000));
    let mainnet = bybit_emulator::Emulator::start("127.0.0.1:0", config)
        .await
        .unwrap();
    let mut s = settings(&trading);
    s.env = bybit_exec::config::BybitEnv::Demo;
    s.public_rest_url = mainnet.http_url();
    s.ws_public_url = mainnet.public_ws_url();
    let rt = Runtime::start(s).await.unwrap();
    let tickers = rt
        .rest
        .tickers(Category::Linear, Some(btc()))
        .await
        .unwrap();
    assert_eq!(
        tickers.list[0].last_price,
        Some(dec!(60000)),
        "from mainnet"
    );
    let live = rt.live().cloned().unwrap();
    eventually("the public stream's price", || async {
        live.cached_last_price(&btc()) == Some(dec!(60000))
    })
    .await;
    let wallet = rt
        .rest
        .wallet_balance(bybit_types::AccountType::Unified, None)
        .await
        .unwrap();
    assert!(!wallet.list.is_empty(), "trading calls reach the demo host");
    let fee_rates_seen = || async {
        trading.truth()["requests"]["byPath"]["/v5/account/fee-rate"]
            .as_u64()
            .unwrap_or(0)
    };
    let refused = rt
        .rest
        .fee_rates(Category::Linear, Some(btc()))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, bybit_rest::RestError::NotOffered { .. }),
        "{refused:?}"
    );
    let refused = refused.to_string();
    assert!(
        refused.contains("BYBIT_ENV=demo") && refused.contains("fee-rate"),
        "{refused}"
    );
    assert_eq!(fee_rates_seen().await, 0, "nothing was sent");
    rt.shutdown().await;

    // An environment that offers it (the emulator, like testnet): the call goes through.
    let rt = Runtime::start(settings(&trading)).await.unwrap();
    assert!(rt
        .rest
        .fee_rates(Category::Linear, Some(btc()))
        .await
        .is_ok());
    assert_eq!(fee_rates_seen().await, 1, "sent where it is offered");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_fills_are_journaled_by_the_router_before_they_are_published() {
    // One fill recorder: the dry-run router journals each fill itself (as the paper router and
    // the live tracker do), so a fill is in the journal when it is published, whatever a
    // subscriber does, and a stop has nothing left to drain.
    let emu = emulator().await;
    let mut s = settings(&emu);
    s.routing = Routing::DryRun;
    let rt = Runtime::start(s).await.unwrap();
    let journal = rt.journal.clone();
    let mut sub = rt.bus.subscribe();
    let n = 20;
    for i in 0..n {
        let req = exec_gateway::OrderRequest {
            symbol: btc(),
            side: exec_gateway::Side::Buy,
            qty: dec!(0.001),
            price: None,
            trigger_price: None,
            trigger_direction: None,
            reduce_only: false,
            time_in_force: exec_gateway::TimeInForce::Ioc,
            order_link_id: exec_gateway::OrderLinkId::new(format!("andre_ENTRY_DRY{i}")).unwrap(),
        };
        exec_gateway::OrderRouter::place(rt.ports.router.as_ref(), &req)
            .await
            .unwrap();
    }
    let mut published = Vec::new();
    while let Some(exec_events::Received::Event(env)) = sub.try_recv() {
        if let exec_events::Event::Fill(f) = &*env.event {
            published.push(f.clone());
        }
    }
    assert_eq!(published.len(), n, "one fill per market order");
    // Already journaled when published: no recorder, no wait.
    assert_eq!(journal.fills("andre_").await.unwrap(), published);
    assert!(rt.shutdown().await, "a clean stop");
    assert_eq!(journal.fills("andre_").await.unwrap().len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_leaves_nothing_running() {
    // A key the exchange refuses: the start catch-up's signed calls fail, after the streams
    // were opened. Nothing may stay subscribed to the caller's bus or connected.
    let emu = emulator().await;
    let settings =
        bybit_exec::config::Settings::for_emulator(&emu.http_url(), "wrong-key", "wrong-secret")
            .unwrap();
    let bus = exec_events::EventBus::new(exec_events::DEFAULT_CAPACITY);
    let err = Runtime::start_on_bus(settings, bus.clone())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("order tracking"), "{err:#}");
    eventually("no task left on the bus", || async {
        bus.subscriber_count() == 0
    })
    .await;
    eventually("no socket left open", || async {
        emu.state().websocket_sessions() == 0
    })
    .await;
}

/// The fills published on `sub` so far (by orderLinkId), read without waiting.
fn drain_fills(sub: &mut exec_events::Subscription, into: &mut Vec<String>) {
    while let Some(received) = sub.try_recv() {
        if let exec_events::Received::Event(env) = received {
            if let Some(fill) = env.event.as_fill() {
                into.push(fill.order_link_id.clone());
            }
        }
    }
}

/// A restart through the application's own `Runtime` (not a test harness's
/// wiring): a DCA that filled while the process was down is published exactly once by the
/// next start, and the entry's fill, published before the restart, is not published again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_publishes_a_fill_from_the_downtime_once_and_no_earlier_fill_again() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&emu);
    s.journal = bybit_exec::config::JournalLocation::Sqlite(dir.path().join("journal.sqlite"));
    let plan = exec_gateway::TradePlan {
        symbol: btc(),
        side: exec_gateway::Side::Buy,
        margin_usdt: dec!(40),
        leverage: dec!(25),
        dca_levels: vec![exec_gateway::DcaLevel {
            price: dec!(48000),
            margin_usdt: dec!(20),
        }],
        tp_levels: vec![exec_gateway::TpLevel {
            price: dec!(52000),
            share: dec!(1),
        }],
        client_tag: "RT_DOWN".to_owned(),
        adopt_position: false,
    };
    let bus = exec_events::EventBus::new(exec_events::DEFAULT_CAPACITY);
    let mut sub = bus.subscribe();
    let rt = Runtime::start_on_bus(s.clone(), bus).await.unwrap();
    rt.gateway.open_trade(&plan).await.unwrap();
    let mut before = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !before.iter().any(|l| l == "andre_ENTRY_RT_DOWN") {
        assert!(Instant::now() < deadline, "no entry fill: {before:?}");
        drain_fills(&mut sub, &mut before);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(rt.shutdown().await);

    // Down: DCA1 fills on the exchange.
    emu.state()
        .execute(|e, now| e.set_price(now, "BTCUSDT", dec!(47990)))
        .unwrap();
    let dca = emu.state().read(|e| e.position_of("BTCUSDT").unwrap().size);
    assert_eq!(dca, dec!(0.030), "DCA1 filled while the layer was down");

    // Up again, the same way every mode starts it.
    let bus = exec_events::EventBus::new(exec_events::DEFAULT_CAPACITY);
    let mut sub = bus.subscribe();
    let rt = Runtime::start_on_bus(s, bus).await.unwrap();
    let mut after = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !after.iter().any(|l| l == "andre_DCA1_RT_DOWN") {
        assert!(
            Instant::now() < deadline,
            "the downtime's fill was not published: {after:?}"
        );
        drain_fills(&mut sub, &mut after);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A later fill marks the end: by then any repeat of the earlier fills would be out.
    let state = rt.gateway.trade("RT_DOWN").unwrap_or_else(|| {
        let mut s = exec_gateway::TradeState::new(&plan);
        s.phase = exec_gateway::Phase::InPosition;
        s
    });
    rt.gateway.close_all(&state, "test").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !after.iter().any(|l| l.starts_with("andre_CLOSE")) {
        assert!(Instant::now() < deadline, "no close fill: {after:?}");
        drain_fills(&mut sub, &mut after);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let count = |link: &str| after.iter().filter(|l| *l == link).count();
    assert_eq!(count("andre_DCA1_RT_DOWN"), 1, "{after:?}");
    assert_eq!(count("andre_ENTRY_RT_DOWN"), 0, "{after:?}");
    rt.shutdown().await;
}
