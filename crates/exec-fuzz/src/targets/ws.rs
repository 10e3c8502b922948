//! The WebSocket frame parser: `WsMessage::parse` on every kind of frame Bybit sends, then
//! what the layer does with a frame that parsed: the order book applies book frames (a run of
//! the recorded `orderbook.500` stream, snapshot then deltas, with edits), ticker deltas merge
//! into a ticker, and private pushes map to the gateway's vocabulary (`exec-wire`).
//!
//! Promises checked: no panic; a refusal is `bybit_types::Error` with a message; a book that
//! accepted a frame is sorted (bids high to low, asks low to high), holds no zero size, keeps
//! within its depth and is not crossed.

use std::collections::HashMap;
use std::sync::Arc;

use bybit_types::rest::market::Ticker;
use bybit_types::ws::WsMessage;
use bybit_ws::OrderBook;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

use crate::gen::{self, Body, Edit, Finish};
use crate::runner::{Describe, Tally, Target};
use crate::targets::seeds;

/// One input: frames in the order a socket would deliver them.
#[derive(Debug, Clone)]
pub enum WsInput {
    /// Frames edited from any WebSocket fixture, or raw.
    Frames(Vec<Body>),
    /// The first `len` frames of the recorded book stream, with edits spread over them.
    BookRun {
        /// How many frames.
        len: usize,
        /// Each edit, and which frame it applies to.
        edits: Vec<(Index, Edit)>,
        /// A byte-level finish of one frame.
        finish: (Index, Finish),
    },
}

/// The target.
#[derive(Debug)]
pub struct Ws {
    seeds: Arc<Seeds>,
    /// Frames by what became of them.
    tally: Tally,
}

#[derive(Debug)]
struct Seeds {
    /// Every `ws_*` fixture (the book stream's lines included).
    frames: Vec<Value>,
    /// The book stream, in order.
    book: Vec<Value>,
}

impl Ws {
    /// Reads the fixtures.
    pub fn new() -> anyhow::Result<Ws> {
        let all = seeds("ws_")?;
        let book = all
            .iter()
            .filter(|(name, _)| name.contains("orderbook_ob500"))
            .map(|(_, v)| v.clone())
            .collect();
        let frames = all.into_iter().map(|(_, v)| v).collect();
        Ok(Ws {
            seeds: Arc::new(Seeds { frames, book }),
            tally: Tally::default(),
        })
    }
}

impl Seeds {
    fn render(&self, input: &WsInput) -> Vec<String> {
        let texts: Vec<Vec<u8>> = match input {
            WsInput::Frames(bodies) => bodies.iter().map(|b| b.render(&self.frames)).collect(),
            WsInput::BookRun { len, edits, finish } => {
                let len = (*len).clamp(1, self.book.len().max(1));
                let finish_at = finish.0.index(len);
                self.book
                    .iter()
                    .take(len)
                    .enumerate()
                    .map(|(i, frame)| {
                        let mine: Vec<Edit> = edits
                            .iter()
                            .filter(|(at, _)| at.index(len) == i)
                            .map(|(_, e)| e.clone())
                            .collect();
                        let none = Finish::None;
                        let finish = if i == finish_at { &finish.1 } else { &none };
                        gen::render_edits(frame.clone(), &mine, finish)
                    })
                    .collect()
            }
        };
        // A text frame is UTF-8 by the protocol; the socket layer refuses anything else.
        texts
            .into_iter()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .collect()
    }
}

impl Target for Ws {
    type Input = WsInput;

    fn name(&self) -> &'static str {
        "ws"
    }

    fn strategy(&self) -> BoxedStrategy<WsInput> {
        prop_oneof![
            3 => prop::collection::vec(gen::body(4), 1..4).prop_map(WsInput::Frames),
            2 => (
                1usize..12,
                prop::collection::vec((any::<Index>(), crate::gen::edit()), 0..4),
                (any::<Index>(), crate::gen::finish()),
            )
                .prop_map(|(len, edits, finish)| WsInput::BookRun { len, edits, finish }),
        ]
        .boxed()
    }

    fn describer(&self) -> Describe<WsInput> {
        let seeds = self.seeds.clone();
        Arc::new(move |input| seeds.render(input).join("\n"))
    }

    fn check(&mut self, input: &WsInput) -> Result<(), String> {
        let mut books: HashMap<String, OrderBook> = HashMap::new();
        let mut tickers: HashMap<String, Ticker> = HashMap::new();
        for text in self.seeds.render(input) {
            let outcome = frame(&text, &mut books, &mut tickers)?;
            self.tally.add(outcome);
        }
        Ok(())
    }

    fn reached(&self) -> String {
        format!("(frames) {}", self.tally.top(16))
    }
}

/// One frame through the parser and whatever takes its result; says what became of it.
fn frame(
    text: &str,
    books: &mut HashMap<String, OrderBook>,
    tickers: &mut HashMap<String, Ticker>,
) -> Result<&'static str, String> {
    let message = match WsMessage::parse(text) {
        Ok(message) => message,
        Err(e) if e.to_string().trim().is_empty() => {
            return Err("a refusal without a message".to_owned())
        }
        Err(_) => return Ok("refused"),
    };
    let mut outcome = kind(&message);
    let _ = message.topic();
    // What parsed also writes back (the emulator speaks with these types).
    serde_json::to_string(&message).map_err(|e| format!("a parsed frame does not write: {e}"))?;
    match &message {
        WsMessage::Orderbook(m) => {
            let depth = m
                .topic
                .split('.')
                .nth(1)
                .and_then(|d| d.parse::<usize>().ok())
                .unwrap_or(50)
                .min(1000);
            let book = books
                .entry(m.topic.clone())
                .or_insert_with(|| OrderBook::new(m.data.symbol.clone(), depth));
            match book.apply(m) {
                Ok(_) => {
                    book_holds(book)?;
                    outcome = "book applied";
                }
                Err(_) => outcome = "book refused (resync)",
            }
        }
        WsMessage::Ticker(m) => {
            let merged = tickers
                .entry(m.data.symbol.clone())
                .or_insert_with(|| m.data.clone());
            bybit_ws::merge_ticker(merged, &m.data);
        }
        WsMessage::Op(reply) => {
            let _ = (reply.is_success(), reply.is_pong(), reply.is_auth());
            let _ = (reply.message(), reply.ret_code(), reply.conn_id());
        }
        WsMessage::Order(m) => {
            for order in &m.data {
                let _ = exec_wire::order_event(order, false);
                let _ = exec_wire::snapshot(order);
            }
        }
        WsMessage::Execution(m) => {
            for execution in &m.data {
                let _ = exec_wire::fill(execution);
            }
        }
        WsMessage::Position(m) => {
            for position in &m.data {
                let _ = exec_wire::position(position);
                let _ = exec_wire::position_event(position);
            }
        }
        WsMessage::Wallet(m) => {
            for account in &m.data {
                let _ = exec_wire::balance(account);
            }
        }
        WsMessage::Trade(_) | WsMessage::FastExecution(_) | WsMessage::Other(_) => {}
        // A kind added later is parsed above; nothing more to drive yet.
        #[allow(unreachable_patterns)]
        _ => {}
    }
    Ok(outcome)
}

fn kind(message: &WsMessage) -> &'static str {
    match message {
        WsMessage::Op(_) => "op reply",
        WsMessage::Ticker(_) => "ticker",
        WsMessage::Orderbook(_) => "book",
        WsMessage::Trade(_) => "trade",
        WsMessage::Order(_) => "order",
        WsMessage::Execution(_) => "execution",
        WsMessage::FastExecution(_) => "execution.fast",
        WsMessage::Position(_) => "position",
        WsMessage::Wallet(_) => "wallet",
        WsMessage::Other(_) => "other",
        #[allow(unreachable_patterns)]
        _ => "other",
    }
}

/// The promises of a book that accepted a frame.
fn book_holds(book: &OrderBook) -> Result<(), String> {
    let bids = book.bids(usize::MAX);
    let asks = book.asks(usize::MAX);
    if bids.len() > book.depth() || asks.len() > book.depth() {
        return Err(format!("book deeper than {}", book.depth()));
    }
    if bids.windows(2).any(|w| w[0].0 <= w[1].0) || asks.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err("book side out of order".to_owned());
    }
    if bids.iter().chain(asks).any(|(_, size)| size.is_zero()) {
        return Err("book holds a zero size".to_owned());
    }
    if let (Some((bid, _)), Some((ask, _))) = (book.best_bid(), book.best_ask()) {
        if bid >= ask {
            return Err(format!("book accepted crossed: {bid} >= {ask}"));
        }
    }
    let _ = (book.mid(), book.spread());
    Ok(())
}
