//! `bybit-exec`: the application that wires the execution layer together,
//! and the library a trading system embeds to run the layer in its own process.
//!
//! - [`config`]: settings from the environment and an optional TOML file (SPEC §2).
//! - [`runtime`]: one process of the layer — REST client, streams, live / paper / dry-run
//!   router, journal, gateway — built from the settings.
//! - [`demo`]: the README's main command, a whole trade on the embedded emulator.
//! - [`ops`]: status, balance, positions, orders, preflight, recover, close-all, journal.
//! - [`serve`]: the long-running mode with `/health`, `/metrics`, a status page, the
//!   control API and the event stream.
//! - [`manager`]: a reference trade manager over the gateway's public operations.
//!
//! What it is not: no trading logic (levels and sizes come in the caller's
//! [`exec_gateway::TradePlan`]; the outcome policy is the gateway's) and no wire format of
//! its own.
//!
//! # Embedding
//!
//! A state machine drives the layer through [`runtime::Runtime`]'s gateway and listens on its
//! bus. Against Bybit, build the settings with `Settings::load(&ConfigArgs::default())` (the
//! environment and an optional file); here the embedded emulator stands in for the exchange,
//! so the example runs anywhere (it is compiled and run by `cargo test`, and the README shows
//! the same code):
//!
//! ```
//! use bybit_emulator::{Emulator, EmulatorConfig};
//! use bybit_exec::config::Settings;
//! use bybit_exec::runtime::Runtime;
//! use exec_events::{Event, Received};
//! use exec_gateway::{Side, Symbol, TradePlan};
//! use rust_decimal_macros::dec;
//!
//! #[tokio::main]
//! async fn main() -> anyhow::Result<()> {
//!     // A local exchange with 10 000 USDT and a still market.
//!     let mut exchange = EmulatorConfig::with_defaults("key", "secret", dec!(10000), 1);
//!     exchange.static_prices = true;
//!     let emulator = Emulator::start("127.0.0.1:0", exchange).await?;
//!
//!     // One process of the layer: live routing over REST and both streams.
//!     let settings = Settings::for_emulator(&emulator.http_url(), "key", "secret")?;
//!     let layer = Runtime::start(settings).await?;
//!     let mut events = layer.bus.subscribe();
//!
//!     // The state machine's call: 100 USDT of margin at 10x, at market.
//!     let plan = TradePlan {
//!         symbol: Symbol::new("BTCUSDT")?,
//!         side: Side::Buy,
//!         margin_usdt: dec!(100),
//!         leverage: dec!(10),
//!         dca_levels: vec![],
//!         tp_levels: vec![],
//!         client_tag: "T1".to_owned(),
//!         adopt_position: false,
//!     };
//!     let entry = layer.gateway.execute_entry(&plan).await?;
//!     println!("filled {} at {}", entry.filled_qty, entry.entry_price);
//!
//!     // The fill arrives on the bus (and is already in the journal).
//!     loop {
//!         if let Received::Event(e) = events.recv().await {
//!             if let Event::Fill(fill) = &*e.event {
//!                 assert_eq!(fill.order_link_id, "andre_ENTRY_T1");
//!                 break;
//!             }
//!         }
//!     }
//!     layer.shutdown().await;
//!     Ok(())
//! }
//! ```

pub mod config;
pub mod demo;
pub mod manager;
pub mod ops;
pub mod runtime;
pub mod serve;

/// Writes a line to stdout; a closed pipe (`bybit-exec demo | head`) is not an error worth a
/// panic, so write failures are ignored.
pub fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
