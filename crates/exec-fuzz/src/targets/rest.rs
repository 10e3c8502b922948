//! REST reply decoding, as the client does it: the envelope first (`RawEnvelope::parse` on
//! the body bytes), then, for a success, `result` into the payload type of the endpoint. Every
//! success body is decoded as every payload type the client reads, so each type meets the
//! others' shapes too; an instruments list that decoded also goes through the instrument
//! cache's rules (`bybit-meta`), which is what the client's users do with it.
//!
//! Promises checked: no panic; every refusal is a `bybit_types::Error` with a message.

use std::sync::Arc;

use bybit_meta::InstrumentCache;
use bybit_types::rest::account::{
    AccountInfo, SetMarginModeResult, UserSettingConfig, WalletBalance,
};
use bybit_types::rest::execution::ExecutionList;
use bybit_types::rest::market::{InstrumentsInfo, PriceLimit, ServerTime, TickerList};
use bybit_types::rest::order::{BatchResult, CancelAllResult, OrderAck, OrderList};
use bybit_types::rest::position::PositionList;
use bybit_types::{Empty, RawEnvelope};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::gen::{self, Body};
use crate::runner::{Describe, Tally, Target};
use crate::targets::seeds;

/// The target.
#[derive(Debug)]
pub struct Rest {
    seeds: Arc<Vec<Value>>,
    /// Bodies by how far they got.
    tally: Tally,
}

impl Rest {
    /// Reads the fixtures.
    pub fn new() -> anyhow::Result<Rest> {
        let seeds = seeds("rest_")?.into_iter().map(|(_, v)| v).collect();
        Ok(Rest {
            seeds: Arc::new(seeds),
            tally: Tally::default(),
        })
    }
}

/// A decode refusal must say why.
fn refusal(what: &str, error: &bybit_types::Error) -> Result<(), String> {
    if error.to_string().trim().is_empty() {
        Err(format!("{what}: a refusal without a message"))
    } else {
        Ok(())
    }
}

fn decode<T: DeserializeOwned>(
    envelope: &RawEnvelope,
    what: &'static str,
) -> Result<Option<T>, String> {
    match envelope.decode::<T>(what) {
        Ok(value) => Ok(Some(value)),
        Err(e) => refusal(what, &e).map(|()| None),
    }
}

impl Target for Rest {
    type Input = Body;

    fn name(&self) -> &'static str {
        "rest"
    }

    fn strategy(&self) -> BoxedStrategy<Body> {
        gen::body(4).boxed()
    }

    fn describer(&self) -> Describe<Body> {
        let seeds = self.seeds.clone();
        Arc::new(move |body| String::from_utf8_lossy(&body.render(&seeds)).into_owned())
    }

    fn check(&mut self, input: &Body) -> Result<(), String> {
        let bytes = input.render(&self.seeds);
        let envelope = match RawEnvelope::parse(&bytes) {
            Ok(envelope) => envelope,
            Err(e) => {
                self.tally.add("envelope refused");
                return refusal("envelope", &e);
            }
        };
        if !envelope.is_success() {
            self.tally.add("error envelope");
            // The client answers with the code and message; nothing else is read.
            let _ = (&envelope.ret_msg, &envelope.ret_ext_info.list);
            return Ok(());
        }
        // How many payload types took the result: the empty ones take almost anything, the
        // lists only their own shape.
        let took = [
            decode::<OrderAck>(&envelope, "order ack")?.is_some(),
            decode::<BatchResult>(&envelope, "batch result")?.is_some(),
            decode::<CancelAllResult>(&envelope, "cancel-all result")?.is_some(),
            decode::<OrderList>(&envelope, "order list")?.is_some(),
            decode::<ExecutionList>(&envelope, "execution list")?.is_some(),
            decode::<PositionList>(&envelope, "position list")?.is_some(),
            decode::<WalletBalance>(&envelope, "wallet balance")?.is_some(),
            decode::<AccountInfo>(&envelope, "account info")?.is_some(),
            decode::<UserSettingConfig>(&envelope, "user setting config")?.is_some(),
            decode::<SetMarginModeResult>(&envelope, "set margin mode")?.is_some(),
            decode::<bybit_rest::FeeRates>(&envelope, "fee rates")?.is_some(),
            decode::<ServerTime>(&envelope, "server time")?.is_some(),
            decode::<TickerList>(&envelope, "ticker list")?.is_some(),
            decode::<PriceLimit>(&envelope, "price limit")?.is_some(),
            decode::<Empty>(&envelope, "empty")?.is_some(),
        ];
        let instruments = decode::<InstrumentsInfo>(&envelope, "instruments info")?;
        let n = took.iter().filter(|t| **t).count() + usize::from(instruments.is_some());
        self.tally
            .add(format!("success, {n:>2} of 16 types took it"));
        if let Some(info) = instruments {
            let (cache, _refused) = InstrumentCache::from_infos(&info.list);
            for (_, rules) in cache.iter() {
                let _ = rules.split_market_qty(rust_decimal::Decimal::ONE);
            }
        }
        Ok(())
    }

    fn reached(&self) -> String {
        format!("(bodies) {}", self.tally.top(20))
    }
}
