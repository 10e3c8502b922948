//! A [`SymbolMetaService`] over `bybit-meta`'s cache, fed Bybit's instruments-info records
//! (here, not in exec-gateway, so the gateway's API carries no wire type).

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bybit_meta::{InstrumentCache, InstrumentRules};
use bybit_types::rest::market::InstrumentInfo;
use bybit_types::Symbol;

use exec_gateway::{PortError, PortResult, SymbolMetaService};

type Source = Box<dyn Fn() -> PortResult<Vec<InstrumentInfo>> + Send + Sync>;

/// Instrument rules held in a `bybit_meta::InstrumentCache`, refreshed from a source the
/// application supplies (instruments-info over REST live; the engine's list in simulation).
pub struct CachedSymbolMeta {
    cache: RwLock<InstrumentCache>,
    source: Source,
}

impl std::fmt::Debug for CachedSymbolMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedSymbolMeta").finish_non_exhaustive()
    }
}

impl CachedSymbolMeta {
    /// A cache loaded from `source` now and on every refresh.
    pub fn new(
        source: impl Fn() -> PortResult<Vec<InstrumentInfo>> + Send + Sync + 'static,
    ) -> PortResult<Self> {
        let meta = CachedSymbolMeta {
            cache: RwLock::new(InstrumentCache::new()),
            source: Box::new(source),
        };
        meta.load()?;
        Ok(meta)
    }

    fn load(&self) -> PortResult<usize> {
        let infos = (self.source)()?;
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(cache.replace_all(&infos).loaded)
    }
}

#[async_trait]
impl SymbolMetaService for CachedSymbolMeta {
    async fn refresh_symbol_meta(&self) -> PortResult<usize> {
        self.load()
    }

    async fn get_symbol_meta(&self, symbol: &Symbol) -> PortResult<Arc<InstrumentRules>> {
        self.cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(symbol)
            .map_err(|e| PortError::InvalidInput(e.to_string()))
    }
}
