//! Public market data: server time, instruments info (every page), tickers, price limit.

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
