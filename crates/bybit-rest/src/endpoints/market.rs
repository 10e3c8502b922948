//! Public market data: server time, instruments info (every page), tickers; and the
//! `bybit-meta` [`InstrumentSource`] over instruments-info.

use bybit_meta::InstrumentSource;
use bybit_types::rest::market::{
    InstrumentInfo, InstrumentsInfo, PriceLimit, ServerTime, TickerList,
};
use bybit_types::{Category, Symbol};

use crate::client::{Call, RestClient};
use crate::error::{ErrorContext, RestError};
use crate::routes::{INSTRUMENTS, PRICE_LIMIT, SERVER_TIME, TICKERS};

/// The most instruments-info pages followed before giving up (a cursor that never ends).
const MAX_PAGES: usize = 100;

impl RestClient {
    /// The order price limit of one symbol now (`GET /v5/market/price-limit`,
    /// docs/v5/market/order-price-limit.mdx): the highest price a buy and the lowest price a
    /// sell may carry. Bybit's own figure: its formula has terms Bybit changes, so it is read,
    /// never recomputed.
    pub async fn price_limit(
        &self,
        category: Category,
        symbol: Symbol,
    ) -> Result<PriceLimit, RestError> {
        let params = [
            ("category", category.as_str().to_owned()),
            ("symbol", symbol.as_str().to_owned()),
        ];
        let call = Call::get(&PRICE_LIMIT, &params).symbol(Some(symbol.as_str()));
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// `GET /v5/market/time` (docs/v5/market/time.mdx).
    pub async fn server_time(&self) -> Result<ServerTime, RestError> {
        let call = Call::get(&SERVER_TIME, &[]);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// One page of `GET /v5/market/instruments-info` (docs/v5/market/instrument.mdx), 1000
    /// instruments at most; pass the previous page's `next_page_cursor` to continue.
    pub async fn instruments_page(
        &self,
        category: Category,
        cursor: Option<String>,
    ) -> Result<InstrumentsInfo, RestError> {
        let mut params = vec![
            ("category", category.as_str().to_owned()),
            ("limit", "1000".to_owned()),
        ];
        if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
            params.push(("cursor", cursor));
        }
        let call = Call::get(&INSTRUMENTS, &params);
        self.execute(&call).await.result.map(|r| r.result)
    }

    /// Every instrument of `category`, all pages followed through the cursor (more than 500
    /// linear symbols exist).
    pub async fn instruments(&self, category: Category) -> Result<Vec<InstrumentInfo>, RestError> {
        let mut all = Vec::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page = self.instruments_page(category.clone(), cursor).await?;
            all.extend(page.list);
            if page.next_page_cursor.is_empty() {
                return Ok(all);
            }
            cursor = Some(page.next_page_cursor);
        }
        Err(RestError::InvalidRequest {
            ctx: ErrorContext::new(INSTRUMENTS.label, false),
            reason: format!("instruments-info cursor did not end after {MAX_PAGES} pages"),
        })
    }

    /// `GET /v5/market/tickers` (docs/v5/market/tickers.mdx), one symbol or the whole category.
    pub async fn tickers(
        &self,
        category: Category,
        symbol: Option<Symbol>,
    ) -> Result<TickerList, RestError> {
        let mut params = vec![("category", category.as_str().to_owned())];
        if let Some(symbol) = &symbol {
            params.push(("symbol", symbol.as_str().to_owned()));
        }
        let call = Call::get(&TICKERS, &params).symbol(symbol.as_ref().map(Symbol::as_str));
        self.execute(&call).await.result.map(|r| r.result)
    }
}

/// [`bybit_meta::InstrumentSource`] over instruments-info: every page of one category.
///
/// The trait is synchronous, so `fetch_all` blocks on the async client: from a thread outside
/// tokio, or from a multi-thread runtime (through `block_in_place`). Called on a
/// current-thread runtime it returns [`RestError::Runtime`] instead of deadlocking. In async
/// code, prefer `cache.replace_all(&client.instruments(category).await?)`.
#[derive(Debug, Clone)]
pub struct RestInstrumentSource {
    client: RestClient,
    category: Category,
    handle: tokio::runtime::Handle,
}

impl RestInstrumentSource {
    /// A source for `category`, running requests on `handle`'s runtime.
    pub fn new(client: RestClient, category: Category, handle: tokio::runtime::Handle) -> Self {
        RestInstrumentSource {
            client,
            category,
            handle,
        }
    }
}

impl InstrumentSource for RestInstrumentSource {
    type Error = RestError;

    fn fetch_all(&mut self) -> Result<Vec<InstrumentInfo>, RestError> {
        let fetch = self.client.instruments(self.category.clone());
        match tokio::runtime::Handle::try_current() {
            Err(_) => self.handle.block_on(fetch),
            Ok(current) => match current.runtime_flavor() {
                tokio::runtime::RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(|| current.block_on(fetch))
                }
                _ => Err(RestError::Runtime {
                    ctx: ErrorContext::new(INSTRUMENTS.label, false),
                    reason: "InstrumentSource::fetch_all cannot block on a current-thread \
                             runtime; await RestClient::instruments instead",
                }),
            },
        }
    }
}
