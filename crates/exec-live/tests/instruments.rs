//! bybit-meta's instrument cache filled through the REST source (docs/v5/market/instrument.mdx).

use bybit_meta::InstrumentCache;
use bybit_rest::{RestClient, RestConfig};
use bybit_types::Category;
use exec_live::RestInstrumentSource;
use rust_decimal_macros::dec;

use crate::support::{btc, start_emulator};

async fn client() -> (bybit_emulator::Emulator, RestClient) {
    let emu = start_emulator(dec!(10000)).await;
    let client = RestClient::new(RestConfig::with_base_url(emu.http_url())).unwrap();
    (emu, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instrument_cache_refreshes_through_the_rest_source() {
    let (_emu, client) = client().await;
    let mut source =
        RestInstrumentSource::new(client, Category::Linear, tokio::runtime::Handle::current());
    let mut cache = InstrumentCache::new();
    let summary = cache.refresh_from(&mut source).unwrap();
    assert!(summary.loaded >= 5, "{summary:?}");
    assert!(cache.get(&btc()).is_ok());
}

#[tokio::test]
async fn the_instrument_source_refuses_to_block_a_current_thread_runtime() {
    let (_emu, client) = client().await;
    let mut source =
        RestInstrumentSource::new(client, Category::Linear, tokio::runtime::Handle::current());
    let err = bybit_meta::InstrumentSource::fetch_all(&mut source).unwrap_err();
    assert!(
        matches!(err, bybit_rest::RestError::Runtime { .. }),
        "{err}"
    );
}
