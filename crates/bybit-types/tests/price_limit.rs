//! The price-limit models read the docs' examples.

use bybit_types::rest::account::{SetLimitPxActionRequest, UserSettingConfig};
use bybit_types::rest::market::PriceLimit;
use bybit_types::Category;
use rust_decimal_macros::dec;

use crate::{parse, round_trip};

// docs/v5/market/order-price-limit.mdx, the response example.
#[test]
fn the_order_price_limit_reads_the_docs_example() {
    let p: PriceLimit = parse(
        r#"{"symbol":"BTCUSDT","buyLmt":"105878.10","sellLmt":"103781.60","ts":"1750302284491"}"#,
    );
    assert_eq!(p.buy_lmt, Some(dec!(105878.10)));
    assert_eq!(p.sell_lmt, Some(dec!(103781.60)));
    assert_eq!(p.ts, Some(1_750_302_284_491));
    round_trip(&p);
}

// docs/v5/account/get-user-setting-config.mdx: by the parameter table `lpaPerp` true = reject,
// false = adjust (while `lpaSpot` true = adjust); the info boxes there and on set-price-limit
// word the defaults differently. The table is followed.
#[test]
fn lpa_perp_true_means_refuse_and_false_means_adjust() {
    let c: UserSettingConfig =
        parse(r#"{"lpaSpot":false,"lpaPerp":false,"smsef":false,"fmsef":false}"#);
    assert_eq!(c.futures_price_adjusted(), Some(true));
    let c: UserSettingConfig = parse(r#"{"lpaSpot":false,"lpaPerp":true}"#);
    assert_eq!(c.futures_price_adjusted(), Some(false));
    let c: UserSettingConfig = parse(r#"{"deltaEnable":true}"#);
    assert_eq!(c.futures_price_adjusted(), None);
}

// docs/v5/account/set-price-limit.mdx: `category` and a JSON boolean `modifyEnable`.
#[test]
fn the_set_request_is_the_docs_shape() {
    let r = SetLimitPxActionRequest {
        category: Category::Linear,
        modify_enable: false,
    };
    assert_eq!(
        round_trip(&r),
        r#"{"category":"linear","modifyEnable":false}"#
    );
}
