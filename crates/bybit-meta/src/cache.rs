//! A cache of instrument rules keyed by symbol, refreshed from data the caller fetched.

use std::collections::HashMap;
use std::sync::Arc;

use bybit_types::rest::market::InstrumentInfo;
use bybit_types::Symbol;

use crate::{InstrumentRules, MetaError};

/// Where instruments come from: something that returns the full instruments-info list.
///
/// The trait is synchronous and the crate does no I/O. The REST layer fetches (all pages)
/// asynchronously, then hands the result in, either with
/// [`InstrumentCache::replace_all`] directly or through a source that returns what was fetched.
/// A closure returning `Result<Vec<InstrumentInfo>, E>` is a source.
///
/// `fetch_all` takes `&mut self` so that a source may keep state (a cursor, a recorded
/// response, a call count in a test) without interior mutability.
pub trait InstrumentSource {
    /// Why fetching failed. Passed back unchanged by [`InstrumentCache::refresh_from`].
    type Error;

    /// Every instrument of the category, all pages joined.
    fn fetch_all(&mut self) -> Result<Vec<InstrumentInfo>, Self::Error>;
}

impl<F, E> InstrumentSource for F
where
    F: FnMut() -> Result<Vec<InstrumentInfo>, E>,
{
    type Error = E;

    fn fetch_all(&mut self) -> Result<Vec<InstrumentInfo>, E> {
        self()
    }
}

/// An instrument left out of the cache because its rules are unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedInstrument {
    /// The symbol as Bybit sent it (it may be the part that is invalid).
    pub symbol: String,
    /// Why it was refused; [`MetaError::is_invalid_instrument`] holds.
    pub error: MetaError,
}

/// What a refresh did, so that refused instruments are reported rather than silently dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshSummary {
    /// How many symbols now have fresh rules (a symbol listed twice counts once).
    pub loaded: usize,
    /// Instruments refused, in input order.
    pub skipped: Vec<SkippedInstrument>,
    /// Symbols the cache held before and no longer holds, sorted.
    pub removed: Vec<Symbol>,
}

impl RefreshSummary {
    /// Whether every instrument offered was accepted.
    pub fn is_clean(&self) -> bool {
        self.skipped.is_empty()
    }
}

/// Instrument rules by symbol (SPEC R-META-1's `get_symbol_meta`).
///
/// Rules are handed out as `Arc`s, so a caller can keep the rules an order was checked with
/// while the cache is refreshed underneath. The cache itself is a plain value: an async caller
/// that shares it wraps it in its own lock, or swaps whole caches.
///
/// Rules that could not be read are never served stale: an instrument refused during a refresh
/// is removed (and reported), so a lookup fails with [`MetaError::UnknownSymbol`] instead of
/// returning outdated limits. Bybit re-adjusts maximum quantities twice a month, so refresh
/// periodically rather than once at start-up.
#[derive(Debug, Clone, Default)]
pub struct InstrumentCache {
    rules: HashMap<Symbol, Arc<InstrumentRules>>,
}

impl InstrumentCache {
    /// An empty cache.
    pub fn new() -> Self {
        InstrumentCache::default()
    }

    /// A cache holding exactly the valid instruments given, and what was refused.
    pub fn from_infos<'a>(
        infos: impl IntoIterator<Item = &'a InstrumentInfo>,
    ) -> (Self, RefreshSummary) {
        let mut cache = InstrumentCache::new();
        let summary = cache.replace_all(infos);
        (cache, summary)
    }

    /// The rules for a symbol, or [`MetaError::UnknownSymbol`].
    pub fn get(&self, symbol: &Symbol) -> Result<Arc<InstrumentRules>, MetaError> {
        self.rules
            .get(symbol)
            .cloned()
            .ok_or_else(|| MetaError::UnknownSymbol {
                symbol: symbol.clone(),
            })
    }

    /// Whether the cache holds rules for a symbol.
    pub fn contains(&self, symbol: &Symbol) -> bool {
        self.rules.contains_key(symbol)
    }

    /// How many symbols the cache holds.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every symbol held, in no particular order.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> + '_ {
        self.rules.keys()
    }

    /// Every symbol's rules, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &Arc<InstrumentRules>)> + '_ {
        self.rules.iter()
    }

    /// Adds or replaces one instrument's rules, returning the previous ones.
    pub fn insert(&mut self, rules: InstrumentRules) -> Option<Arc<InstrumentRules>> {
        self.rules.insert(rules.symbol().clone(), Arc::new(rules))
    }

    /// Removes one symbol, returning its rules.
    pub fn remove(&mut self, symbol: &Symbol) -> Option<Arc<InstrumentRules>> {
        self.rules.remove(symbol)
    }

    /// Replaces the whole cache with the valid instruments given: symbols not in `infos`, and
    /// symbols whose new rules are refused, are dropped (and listed in `removed`). Pass every
    /// page of instruments-info; a partial list drops the symbols it lacks. Where a symbol is
    /// listed twice the later item wins.
    pub fn replace_all<'a>(
        &mut self,
        infos: impl IntoIterator<Item = &'a InstrumentInfo>,
    ) -> RefreshSummary {
        let (fresh, skipped) = build_all(infos);
        let mut removed: Vec<Symbol> = self
            .rules
            .keys()
            .filter(|symbol| !fresh.contains_key(*symbol))
            .cloned()
            .collect();
        removed.sort();
        let loaded = fresh.len();
        self.rules = fresh;
        RefreshSummary {
            loaded,
            skipped,
            removed,
        }
    }

    /// Updates the instruments given and keeps every other symbol, e.g. after fetching one
    /// symbol's instruments-info. A symbol whose new rules are refused is removed rather than
    /// kept with its old rules.
    pub fn update<'a>(
        &mut self,
        infos: impl IntoIterator<Item = &'a InstrumentInfo>,
    ) -> RefreshSummary {
        let (fresh, skipped) = build_all(infos);
        let mut removed: Vec<Symbol> = skipped
            .iter()
            .filter_map(|skip| skip.error.symbol())
            .filter(|symbol| !fresh.contains_key(*symbol))
            .filter_map(|symbol| self.rules.remove(symbol).map(|_| symbol.clone()))
            .collect();
        removed.sort();
        removed.dedup();
        let loaded = fresh.len();
        self.rules.extend(fresh);
        RefreshSummary {
            loaded,
            skipped,
            removed,
        }
    }

    /// Fetches every instrument from `source` and [replaces](Self::replace_all) the cache with
    /// them. If the source fails, its error is returned and the cache is left as it was.
    pub fn refresh_from<S>(&mut self, source: &mut S) -> Result<RefreshSummary, S::Error>
    where
        S: InstrumentSource + ?Sized,
    {
        let infos = source.fetch_all()?;
        Ok(self.replace_all(&infos))
    }
}

/// Builds rules for every instrument, keeping the valid ones by symbol and reporting the rest.
fn build_all<'a>(
    infos: impl IntoIterator<Item = &'a InstrumentInfo>,
) -> (
    HashMap<Symbol, Arc<InstrumentRules>>,
    Vec<SkippedInstrument>,
) {
    let mut fresh = HashMap::new();
    let mut skipped = Vec::new();
    for info in infos {
        match InstrumentRules::try_from(info) {
            Ok(rules) => {
                fresh.insert(rules.symbol().clone(), Arc::new(rules));
            }
            Err(error) => {
                // A later valid item for the same symbol still wins, as in the valid case; an
                // earlier valid one is superseded by this refusal.
                if let Some(symbol) = error.symbol() {
                    fresh.remove(symbol);
                }
                skipped.push(SkippedInstrument {
                    symbol: info.symbol.clone(),
                    error,
                });
            }
        }
    }
    (fresh, skipped)
}
