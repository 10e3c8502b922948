//! State the socket task writes and callers read: health, order books, merged tickers.
//! Each lock is held for one synchronous apply or read, never across an `.await`.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, RwLock};

use bybit_types::rest::market::Ticker;
use bybit_types::ws::public::TickerMessage;

use crate::book::OrderBook;
use crate::health::Health;

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) health: Health,
    books: RwLock<HashMap<String, OrderBook>>,
    tickers: RwLock<HashMap<String, Ticker>>,
    /// Book topics resubscribed and not yet acknowledged.
    resyncing: Mutex<BTreeSet<String>>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Shared {
            health: Health::new(),
            books: RwLock::new(HashMap::new()),
            tickers: RwLock::new(HashMap::new()),
            resyncing: Mutex::new(BTreeSet::new()),
        }
    }

    fn resyncing(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.resyncing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `f` to the book of `topic` (`orderbook.{depth}.{symbol}`), creating it if
    /// needed. Books are kept per topic: two depths of one symbol are two books.
    pub(crate) fn with_book_mut<R>(
        &self,
        topic: &str,
        symbol: &str,
        depth: usize,
        f: impl FnOnce(&mut OrderBook) -> R,
    ) -> R {
        let mut books = self
            .books
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(book) = books.get_mut(topic) {
            return f(book);
        }
        f(books
            .entry(topic.to_owned())
            .or_insert_with(|| OrderBook::new(symbol, depth)))
    }

    /// Reads the book of `topic`, if there is one.
    pub(crate) fn with_book<R>(&self, topic: &str, f: impl FnOnce(&OrderBook) -> R) -> Option<R> {
        let books = self
            .books
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        books.get(topic).map(f)
    }

    /// Merges a ticker message into the symbol's ticker and returns the result.
    pub(crate) fn merge_ticker(
        &self,
        message: &TickerMessage,
        merge: fn(&mut Ticker, &Ticker),
    ) -> Ticker {
        let mut tickers = self
            .tickers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let symbol = message.data.symbol.as_str();
        match tickers.get_mut(symbol) {
            Some(merged) if !message.is_snapshot() => {
                merge(merged, &message.data);
                merged.clone()
            }
            _ => {
                tickers.insert(symbol.to_owned(), message.data.clone());
                message.data.clone()
            }
        }
    }

    pub(crate) fn ticker(&self, symbol: &str) -> Option<Ticker> {
        self.tickers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(symbol)
            .cloned()
    }

    /// Marks a book topic as resubscribing; false if it already was.
    pub(crate) fn begin_resync(&self, topic: &str) -> bool {
        self.resyncing().insert(topic.to_owned())
    }

    pub(crate) fn end_resync(&self, topics: &[String]) {
        let mut resyncing = self.resyncing();
        for topic in topics {
            resyncing.remove(topic);
        }
    }

    /// After a disconnect: every book waits for its next snapshot.
    pub(crate) fn invalidate_books(&self) {
        let mut books = self
            .books
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for book in books.values_mut() {
            book.invalidate();
        }
        self.resyncing().clear();
    }

    /// Drops the state of unsubscribed topics.
    pub(crate) fn forget(&self, topics: &[String]) {
        for topic in topics {
            let mut parts = topic.split('.');
            match (parts.next(), parts.next_back()) {
                (Some("orderbook"), Some(_)) => {
                    self.books
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(topic.as_str());
                }
                (Some("tickers"), Some(symbol)) => {
                    self.tickers
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(symbol);
                }
                _ => {}
            }
        }
    }
}
