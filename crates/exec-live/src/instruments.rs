//! `bybit-meta`'s [`InstrumentSource`] over `bybit-rest`'s instruments-info, for a caller that
//! fills an [`InstrumentCache`](bybit_meta::InstrumentCache) synchronously. Here, where both
//! crates meet, so the REST client knows nothing of the instrument cache. The adapters
//! themselves await [`RestClient::instruments`] (see [`LiveExchange`](crate::LiveExchange)'s
//! `refresh_symbol_meta`).

use bybit_meta::InstrumentSource;
use bybit_rest::{routes, ErrorContext, RestClient, RestError};
use bybit_types::rest::market::InstrumentInfo;
use bybit_types::Category;

/// [`InstrumentSource`] over instruments-info: every page of one category.
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
                    ctx: ErrorContext {
                        endpoint: routes::INSTRUMENTS.label(),
                        symbol: None,
                        order_link_id: None,
                        write: false,
                    },
                    reason: "InstrumentSource::fetch_all cannot block on a current-thread \
                             runtime; await RestClient::instruments instead",
                }),
            },
        }
    }
}
