//! A newcomer's first order: a client for Bybit's testnet from environment variables, a limit
//! order far from the market with an orderLinkId, then its cancel.
//!
//! ```text
//! BYBIT_API_KEY=… BYBIT_API_SECRET=… cargo run -p bybit-rest --example testnet_order
//! ```
//!
//! Testnet keys are made at testnet.bybit.com; they do not work on mainnet or demo (10003).

use bybit_rest::{
    CancelOrder, CancelOutcome, Environment, NewOrder, OrderTarget, RestClient, RestConfig,
};
use bybit_sign::Credentials;
use bybit_types::{OrderLinkId, Price, Qty, Symbol, TimeInForce, WireSide};
use rust_decimal_macros::dec;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let credentials = Credentials::new(
        std::env::var("BYBIT_API_KEY")?,
        std::env::var("BYBIT_API_SECRET")?,
    )?;
    let client = RestClient::new(RestConfig::new(Environment::Testnet).credentials(credentials))?;

    let symbol = Symbol::new("BTCUSDT")?;
    // A unique client id makes the create safe to retry: a lost reply never becomes two orders.
    let link = OrderLinkId::new(format!("newcomer-{}", std::process::id()))?;
    let order = NewOrder::limit(
        symbol.clone(),
        WireSide::Buy,
        Qty::new(dec!(0.001))?,
        Price::new(dec!(10000))?, // far below the market: it rests, it does not fill
    )
    .time_in_force(TimeInForce::PostOnly)
    .order_link_id(link.clone());

    match client.create_order(order).await {
        Ok(ack) => println!("placed order {} ({})", ack.order_id, ack.order_link_id),
        Err(e) if e.is_outcome_unknown() => {
            // The exchange may or may not have it: ask by the client id before anything else.
            let found = client
                .order_by_link_id(symbol.clone(), link.clone())
                .await?;
            println!("outcome was unknown ({e}); lookup says {found:?}");
        }
        Err(e) => return Err(e.into()),
    }

    match client
        .cancel_order(CancelOrder::new(symbol, OrderTarget::LinkId(link)))
        .await?
    {
        CancelOutcome::Cancelled(ack) => println!("cancelled {}", ack.order_id),
        CancelOutcome::AlreadyGone => println!("already gone"),
    }
    Ok(())
}
