//! The cache: lookups, replace and update, refused instruments reported, sources.

use std::sync::Arc;

use bybit_meta::{InstrumentCache, InstrumentSource, MetaError, RefreshSummary, SkippedInstrument};
use bybit_types::rest::market::InstrumentInfo;

use crate::support::{d, sym, Spec};

fn eth() -> Spec {
    Spec {
        symbol: "ETHUSDT",
        tick: "0.01",
        min_price: "0.01",
        ..Spec::btc()
    }
}

fn broken(symbol: &'static str) -> Spec {
    Spec {
        symbol,
        tick: "0",
        ..Spec::rad()
    }
}

fn infos(specs: &[Spec]) -> Vec<InstrumentInfo> {
    specs.iter().map(Spec::info).collect()
}

#[test]
fn lookups() {
    let (cache, summary) = InstrumentCache::from_infos(&infos(&[Spec::rad(), Spec::btc()]));
    assert_eq!(
        summary,
        RefreshSummary {
            loaded: 2,
            skipped: vec![],
            removed: vec![],
        }
    );
    assert!(summary.is_clean());
    assert_eq!(cache.len(), 2);
    assert!(!cache.is_empty());
    assert!(cache.contains(&sym("BTCUSDT")));
    assert_eq!(cache.get(&sym("BTCUSDT")).unwrap().tick_size(), d("0.10"));
    let mut symbols: Vec<&str> = cache.symbols().map(|s| s.as_str()).collect();
    symbols.sort_unstable();
    assert_eq!(symbols, ["BTCUSDT", "RADUSDT"]);
    assert_eq!(cache.iter().count(), 2);

    let err = cache.get(&sym("ETHUSDT")).unwrap_err();
    assert_eq!(
        err,
        MetaError::UnknownSymbol {
            symbol: sym("ETHUSDT")
        }
    );
    assert!(err.is_symbol_unavailable());
    assert!(InstrumentCache::new().is_empty());
}

#[test]
fn replace_all_reports_skipped_and_removed() {
    let mut cache = InstrumentCache::new();
    cache.replace_all(&infos(&[Spec::rad(), Spec::btc(), eth()]));

    let summary = cache.replace_all(&infos(&[broken("RADUSDT"), Spec::btc(), broken("NEWUSDT")]));
    assert_eq!(summary.loaded, 1);
    assert!(!summary.is_clean());
    assert_eq!(
        summary.skipped,
        vec![
            SkippedInstrument {
                symbol: "RADUSDT".into(),
                error: MetaError::NonPositiveFilter {
                    symbol: sym("RADUSDT"),
                    field: "tickSize",
                    value: d("0"),
                },
            },
            SkippedInstrument {
                symbol: "NEWUSDT".into(),
                error: MetaError::NonPositiveFilter {
                    symbol: sym("NEWUSDT"),
                    field: "tickSize",
                    value: d("0"),
                },
            },
        ]
    );
    // RADUSDT's old rules are not served stale; ETHUSDT is gone from the list.
    assert_eq!(summary.removed, vec![sym("ETHUSDT"), sym("RADUSDT")]);
    assert_eq!(cache.len(), 1);
    assert!(cache.get(&sym("RADUSDT")).is_err());
}

#[test]
fn an_invalid_symbol_is_reported_by_its_text() {
    let mut cache = InstrumentCache::new();
    let summary = cache.replace_all(&infos(&[Spec {
        symbol: "bad symbol",
        ..Spec::rad()
    }]));
    assert_eq!(summary.loaded, 0);
    assert_eq!(summary.skipped[0].symbol, "bad symbol");
    assert!(summary.skipped[0].error.is_invalid_instrument());
}

#[test]
fn update_keeps_other_symbols_and_drops_refused_ones() {
    let mut cache = InstrumentCache::new();
    cache.replace_all(&infos(&[Spec::rad(), Spec::btc()]));

    let summary = cache.update(&infos(&[Spec {
        max_mkt_qty: Some("100.000"),
        ..Spec::btc()
    }]));
    assert_eq!(summary.loaded, 1);
    assert!(summary.is_clean() && summary.removed.is_empty());
    assert_eq!(cache.len(), 2);
    assert_eq!(
        cache.get(&sym("BTCUSDT")).unwrap().max_mkt_order_qty(),
        d("100")
    );

    let summary = cache.update(&infos(&[broken("RADUSDT"), eth()]));
    assert_eq!(summary.loaded, 1);
    assert_eq!(summary.skipped.len(), 1);
    assert_eq!(summary.removed, vec![sym("RADUSDT")]);
    assert_eq!(cache.len(), 2);
    assert!(cache.contains(&sym("ETHUSDT")) && !cache.contains(&sym("RADUSDT")));
}

#[test]
fn a_symbol_listed_twice_takes_the_later_item() {
    let (cache, summary) = InstrumentCache::from_infos(&infos(&[
        Spec::btc(),
        Spec {
            min_notional: Some("10"),
            ..Spec::btc()
        },
    ]));
    assert_eq!(summary.loaded, 1);
    assert_eq!(cache.get(&sym("BTCUSDT")).unwrap().min_notional(), d("10"));

    // A later refusal supersedes an earlier valid item.
    let (cache, summary) = InstrumentCache::from_infos(&infos(&[Spec::rad(), broken("RADUSDT")]));
    assert_eq!((summary.loaded, summary.skipped.len()), (0, 1));
    assert!(cache.is_empty());
}

#[test]
fn insert_and_remove() {
    let mut cache = InstrumentCache::new();
    assert!(cache.insert(Spec::rad().rules()).is_none());
    assert!(cache.insert(Spec::rad().rules()).is_some());
    assert!(cache.remove(&sym("RADUSDT")).is_some());
    assert!(cache.is_empty());
}

#[test]
fn rules_held_by_a_caller_survive_a_refresh() {
    let mut cache = InstrumentCache::new();
    cache.replace_all(&infos(&[Spec::btc()]));
    let held: Arc<_> = cache.get(&sym("BTCUSDT")).unwrap();
    cache.replace_all(&infos(&[Spec {
        max_mkt_qty: Some("100.000"),
        ..Spec::btc()
    }]));
    assert_eq!(held.max_mkt_order_qty(), d("150"));
    assert_eq!(
        cache.get(&sym("BTCUSDT")).unwrap().max_mkt_order_qty(),
        d("100")
    );
}

#[test]
fn refresh_from_a_closure() {
    let mut cache = InstrumentCache::new();
    let mut source = || Ok::<_, String>(infos(&[Spec::rad(), Spec::btc()]));
    let summary = cache.refresh_from(&mut source).unwrap();
    assert_eq!(summary.loaded, 2);
    assert_eq!(cache.len(), 2);
}

/// A source that fails every other call, counting calls.
struct Flaky {
    calls: usize,
    infos: Vec<InstrumentInfo>,
}

impl InstrumentSource for Flaky {
    type Error = &'static str;

    fn fetch_all(&mut self) -> Result<Vec<InstrumentInfo>, &'static str> {
        self.calls += 1;
        if self.calls % 2 == 0 {
            Err("timeout")
        } else {
            Ok(self.infos.clone())
        }
    }
}

#[test]
fn a_failing_source_leaves_the_cache_unchanged() {
    let mut cache = InstrumentCache::new();
    let mut source = Flaky {
        calls: 0,
        infos: infos(&[Spec::rad()]),
    };
    cache.refresh_from(&mut source).unwrap();
    assert_eq!(cache.refresh_from(&mut source), Err("timeout"));
    assert_eq!(source.calls, 2);
    assert!(cache.contains(&sym("RADUSDT")));

    // Through a trait object as well.
    let dynamic: &mut dyn InstrumentSource<Error = &'static str> = &mut source;
    assert_eq!(cache.refresh_from(dynamic).unwrap().loaded, 1);
}
