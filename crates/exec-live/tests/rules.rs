//! A create refused for a quantity rule: the router hands it to the outcome policy, which
//! reloads the instrument rules, re-rounds and sends once more (docs/v5/error.mdx 10001,
//! docs/v5/market/instrument.mdx lotSizeFilter).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bybit_rest::{
    AmendOrder, BatchItem, BybitRest, CancelAll, CancelOrder, CancelOutcome, Change, ErrorContext,
    Executions, FeeRates, NewOrder, OpenOrders, OrderHistory, Positions, RestError, TradingStop,
};
use bybit_types::rest::account::{AccountInfo, UserSettingConfig, WalletBalance};
use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::market::{InstrumentInfo, PriceLimit, ServerTime, TickerList};
use bybit_types::rest::order::{CancelAllResult, Order, OrderAck, OrderList};
use bybit_types::rest::position::PositionList;
use bybit_types::{AccountType, Category, OrderLinkId, Symbol};
use exec_events::EventBus;
use exec_gateway::{Journal, MemoryJournal, OrderRequest, OrderRouter, Outcome, PortError, Side};
use exec_live::{LiveConfig, LiveExchange};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::btc;

fn refused(code: i64) -> RestError {
    RestError::Exchange {
        ctx: ErrorContext {
            endpoint: "POST /v5/order/create",
            symbol: None,
            order_link_id: None,
            write: true,
        },
        code,
        message: "params error".into(),
    }
}

fn tp(qty: Decimal) -> OrderRequest {
    OrderRequest {
        symbol: btc(),
        side: Side::Sell,
        qty,
        price: Some(dec!(51000)),
        trigger_price: None,
        trigger_direction: None,
        reduce_only: true,
        time_in_force: exec_gateway::TimeInForce::Gtc,
        order_link_id: exec_gateway::OrderLinkId::new("andre_TP1_T1").unwrap(),
    }
}

// The client's trait mocked here, in the test that needs it: a mock is not part of
// bybit-rest's published API. Only `instruments` and `create_order` are expected below; the
// rest are declared because a mock implements the whole trait.
mockall::mock! {
    Rest {}

    #[async_trait::async_trait]
    impl BybitRest for Rest {
        async fn server_time(&self) -> Result<ServerTime, RestError>;
        async fn instruments(&self, category: Category) -> Result<Vec<InstrumentInfo>, RestError>;
        async fn tickers(&self, category: Category, symbol: Option<Symbol>) -> Result<TickerList, RestError>;
        async fn create_order(&self, order: NewOrder) -> Result<OrderAck, RestError>;
        async fn amend_order(&self, amend: AmendOrder) -> Result<OrderAck, RestError>;
        async fn cancel_order(&self, cancel: CancelOrder) -> Result<CancelOutcome, RestError>;
        async fn cancel_all(&self, scope: CancelAll) -> Result<CancelAllResult, RestError>;
        async fn create_batch(&self, orders: Vec<NewOrder>) -> Result<Vec<BatchItem>, RestError>;
        async fn amend_batch(&self, amends: Vec<AmendOrder>) -> Result<Vec<BatchItem>, RestError>;
        async fn cancel_batch(&self, cancels: Vec<CancelOrder>) -> Result<Vec<BatchItem>, RestError>;
        async fn open_orders(&self, query: OpenOrders) -> Result<OrderList, RestError>;
        async fn order_by_link_id(&self, symbol: Symbol, link: OrderLinkId) -> Result<Option<Order>, RestError>;
        async fn order_history(&self, query: OrderHistory) -> Result<OrderList, RestError>;
        async fn executions(&self, query: Executions) -> Result<ExecutionList, RestError>;
        async fn positions(&self, query: Positions) -> Result<PositionList, RestError>;
        async fn set_leverage(&self, symbol: Symbol, buy: Decimal, sell: Decimal) -> Result<Change, RestError>;
        async fn switch_isolated(&self, symbol: Symbol, isolated: bool, buy: Decimal, sell: Decimal) -> Result<(), RestError>;
        async fn trading_stop(&self, stop: TradingStop) -> Result<Change, RestError>;
        async fn wallet_balance(&self, account_type: AccountType, coins: Option<String>) -> Result<WalletBalance, RestError>;
        async fn account_info(&self) -> Result<AccountInfo, RestError>;
        async fn fee_rates(&self, category: Category, symbol: Option<Symbol>) -> Result<FeeRates, RestError>;
        async fn price_limit(&self, category: Category, symbol: Symbol) -> Result<PriceLimit, RestError>;
        async fn user_setting_config(&self) -> Result<UserSettingConfig, RestError>;
        async fn set_limit_px_action(&self, category: Category, modify_enable: bool) -> Result<(), RestError>;
    }
}

/// A client whose every create is refused with `code`; counts the creates.
fn client(code: i64) -> (MockRest, Arc<AtomicUsize>) {
    let mut mock = MockRest::new();
    mock.expect_instruments()
        .returning(|_| Ok(sim_engine::defaults::instruments()));
    let sent = Arc::new(AtomicUsize::new(0));
    let seen = sent.clone();
    mock.expect_create_order().returning(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        Err(refused(code))
    });
    (mock, sent)
}

/// The router sends a create once and hands a price or quantity rule refusal to the
/// outcome policy as `RuleRefused` (which reloads, re-rounds and re-sends: one owner of
/// re-sends, SPEC R-ERR-1); any other refusal stays a plain reject.
#[tokio::test]
async fn a_rule_refusal_is_sent_once_and_handed_to_the_policy_as_rule_refused() {
    for (code, rule) in [
        (10001, true),
        (110094, true),
        (110003, true),
        (110017, false),
    ] {
        let (mock, sent) = client(code);
        let live = LiveExchange::new(
            Arc::new(mock),
            EventBus::new(16),
            Arc::new(MemoryJournal::new()),
            LiveConfig::default(),
            None,
            None,
        );
        let err = live.place(&tp(dec!(0.015))).await.unwrap_err();
        if rule {
            assert!(
                matches!(err, PortError::RuleRefused { code: c, .. } if c == code),
                "{code}: {err}"
            );
        } else {
            assert!(
                matches!(err, PortError::Rejected { code: c, .. } if c == code),
                "{code}: {err}"
            );
        }
        assert_eq!(sent.load(Ordering::SeqCst), 1, "{code}: sent once");
    }
}

/// End to end against the emulator: the gateway sized the trade with
/// BTCUSDT's old lot size (step 0.001); the exchange then changes it to 0.003
/// (`/emulator/instrument`, docs/v5/market/instrument.mdx lotSizeFilter). TP1 (0.010) and
/// TP3 (0.004) are refused with 10001 (docs/v5/error.mdx: params error, qty not on the step);
/// the outcome policy reloads the rules, re-rounds down (0.009, 0.003), journal `Rerounded` and send
/// once more with the same orderLinkId. Each TP is then on the exchange once, at the new qty,
/// and a second `setup_tps` (now sized with the new rules) sends nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lot_size_change_mid_trade_rerounds_the_tp_once_on_the_emulator() {
    use exec_events::{ErrorKind, Event, Received};
    use exec_gateway::PositionService;

    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::new());
    let l = crate::support::live(dec!(10000), journal.clone(), None).await;
    l.ticker_ready().await;
    let plan = crate::support::plan("T1");
    l.gateway.execute_entry(&plan).await.unwrap();
    let position = l.exchange.get_position(&btc()).await.unwrap();
    assert_eq!(position.size, dec!(0.020));
    l.control(
        "/instrument",
        serde_json::json!({"symbol": "BTCUSDT", "qtyStep": "0.003", "minOrderQty": "0.003"}),
    )
    .await;
    let mut sub = l.bus.subscribe();
    l.gateway.setup_tps(&plan, &position).await.unwrap();

    let tp_orders = |leg: &str| -> Vec<Decimal> {
        let link = format!("andre_{leg}_T1");
        l.exchange_orders()
            .iter()
            .filter(|o| o.order_link_id == link)
            .map(|o| o.qty)
            .collect()
    };
    assert_eq!(tp_orders("TP1"), [dec!(0.009)]);
    assert_eq!(tp_orders("TP2"), [dec!(0.006)]);
    assert_eq!(tp_orders("TP3"), [dec!(0.003)]);
    for (leg, qty) in [("TP1", dec!(0.009)), ("TP3", dec!(0.003))] {
        let row = journal
            .intent(&format!("andre_{leg}_T1"))
            .await
            .unwrap()
            .unwrap();
        let names: Vec<_> = row.outcomes.iter().map(Outcome::name).collect();
        assert_eq!(names, ["rerounded", "acked"], "{leg}");
        assert!(
            matches!(&row.outcomes[0], Outcome::Rerounded { qty: q, reason, .. }
                if *q == qty && reason.contains("10001")),
            "{leg}: {:?}",
            row.outcomes
        );
        assert!(row
            .differs_from(&exec_wire::snapshot(
                &l.exchange_orders()
                    .into_iter()
                    .find(|o| o.order_link_id == row.intent.order_link_id)
                    .unwrap()
            ))
            .is_none());
    }
    let tp2 = journal.intent("andre_TP2_T1").await.unwrap().unwrap();
    assert_eq!(tp2.outcomes.len(), 1, "TP2 was on the new step: sent once");

    l.gateway.setup_tps(&plan, &position).await.unwrap();
    for leg in ["TP1", "TP2", "TP3"] {
        assert_eq!(tp_orders(leg).len(), 1, "{leg} sent again");
    }
    let mut errors = Vec::new();
    while let Some(Received::Event(env)) = sub.try_recv() {
        if let Event::ExecutionError(e) = &*env.event {
            errors.push(e.clone());
        }
    }
    assert!(
        errors.iter().all(|e| e.kind != ErrorKind::Rejected),
        "{errors:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
}
