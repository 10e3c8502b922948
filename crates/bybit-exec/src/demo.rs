//! `bybit-exec demo`: the README's main command.
//!
//! Today it shows the foundation offline: it turns a trade plan's USDT margin into an order
//! with real instrument rules (SPEC R-GW-1, R-META-1), validates it, and signs the REST
//! request that would carry it (R-REST-1). Step 7 (issue 11) replaces it with a whole trade
//! through the live adapters against the embedded exchange emulator, under the same command.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use bybit_meta::{InstrumentRules, OrderDraft, RoundingMode};
use bybit_sign::Credentials;
use bybit_types::rest::order::CreateOrderRequest;
use bybit_types::{Category, OrderLinkId, OrderType, Side, TimeInForce};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// `bybit-exec demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Symbol from the built-in instrument table.
    #[arg(long, default_value = "SOLUSDT")]
    pub symbol: String,
    /// Margin to commit, in USDT, before leverage.
    #[arg(long, default_value = "100")]
    pub margin_usdt: Decimal,
    /// Leverage applied to the margin.
    #[arg(long, default_value = "25")]
    pub leverage: Decimal,
    /// Limit price as the position engine computed it (any precision).
    #[arg(long, default_value = "178.123456")]
    pub price: Decimal,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> Result<()> {
    demo(&args.symbol, args.margin_usdt, args.leverage, args.price)
}

fn demo(symbol: &str, margin_usdt: Decimal, leverage: Decimal, price: Decimal) -> Result<()> {
    let info = sim_engine::defaults::instruments()
        .into_iter()
        .find(|i| i.symbol == symbol)
        .ok_or_else(|| anyhow!("{symbol} is not in the built-in instrument table"))?;
    let rules = InstrumentRules::try_from(&info)?;
    println!(
        "instrument {symbol}: tick {} step {} min qty {} min notional {}",
        rules.tick_size(),
        rules.qty_step(),
        rules.min_order_qty(),
        rules.min_notional()
    );

    // The plan's USDT amount is margin before leverage; the order's notional is margin × leverage.
    let notional = margin_usdt
        .checked_mul(leverage)
        .ok_or_else(|| anyhow!("margin × leverage overflows"))?;
    let raw_qty = notional
        .checked_div(price)
        .ok_or_else(|| anyhow!("price must not be zero"))?;
    let qty = rules.qty_for_notional(notional, price)?;
    println!("plan: {margin_usdt} USDT margin × {leverage} = {notional} USDT at {price} → {raw_qty:.8} raw qty");

    let side = Side::Buy;
    let order = rules.prepare_order(&OrderDraft::limit(qty, price), RoundingMode::passive(side))?;
    let sent_price = order
        .price()
        .ok_or_else(|| anyhow!("a limit order has a price"))?;
    println!(
        "rounded: qty {} (floored to the step), price {} (rounded down: a buy never pays more), notional {}",
        order.qty(),
        sent_price,
        order.notional().round_dp(4)
    );

    let link_id = OrderLinkId::new("andre_ENTRY_DEMO_20251122_130601")?;
    let mut request = CreateOrderRequest::new(
        Category::Linear,
        symbol,
        side,
        OrderType::Limit,
        order.qty().get(),
    );
    request.price = Some(sent_price.get());
    request.time_in_force = Some(TimeInForce::Gtc);
    request.order_link_id = Some(link_id.as_str().to_owned());
    request.position_idx = Some(0);

    // Demo credentials: a real run reads BYBIT_API_KEY / BYBIT_API_SECRET (Step 6).
    let creds = Credentials::new("demo-key", "demo-secret")?;
    let now = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("clock before 1970")?
            .as_millis(),
    )?;
    let signed = creds.sign_post(now, 5000, &request)?;
    println!("POST /v5/order/create");
    for (name, value) in signed.headers().iter() {
        println!("  {name}: {value}");
    }
    println!("  body: {}", signed.body());
    let h = signed.headers();
    let verified = creds.verify_rest(
        h.timestamp(),
        h.recv_window(),
        signed.body().as_bytes(),
        h.sign(),
    );
    println!("signature verifies over the exact body: {verified}");
    println!(
        "(nothing was sent: the whole-trade demo on the built-in emulator arrives with Step 7)"
    );

    // A sanity floor so the demo fails loudly if rounding ever produced an illegal order.
    if order.notional() < dec!(5) || !verified {
        return Err(anyhow!("demo produced an order Bybit would refuse"));
    }
    Ok(())
}
