//! Clock drift (SPEC R-REST-4; docs/v5/guide.mdx: Bybit accepts
//! `server_time - recv_window <= timestamp < server_time + 1000`, else retCode 10002).

use serde_json::json;

use crate::support::{client, control, emulator, orders_with_link, resting_buy};

async fn skewed_create_succeeds_after_a_resync(skew_ms: i64) {
    let emu = emulator().await;
    let client = client(&emu);
    assert_eq!(client.clock_status().last_sync_ms, None);
    control(&emu, "/clock", json!({"skewMs": skew_ms})).await;
    let link = format!("skew{}", skew_ms.abs());
    let ack = client
        .create_order(resting_buy(Some(&link)))
        .await
        .expect("resynced and re-sent once");
    let status = client.clock_status();
    assert!(status.last_sync_ms.is_some());
    assert!(
        (status.offset_ms - skew_ms).abs() < 1000,
        "offset {} for skew {skew_ms}",
        status.offset_ms
    );
    assert_eq!(orders_with_link(&emu, &link).await.len(), 1);
    assert_eq!(
        orders_with_link(&emu, &link).await[0]["orderId"],
        ack.order_id.as_str()
    );
    // Later requests carry the offset: an unlinked create goes through first time.
    client.create_order(resting_buy(None)).await.unwrap();
}

#[tokio::test]
async fn a_server_10_s_ahead_is_resynced_and_orders_succeed() {
    skewed_create_succeeds_after_a_resync(10_000).await;
}

#[tokio::test]
async fn a_server_10_s_behind_is_resynced_and_orders_succeed() {
    skewed_create_succeeds_after_a_resync(-10_000).await;
}

#[tokio::test]
async fn an_unlinked_create_is_not_resent_after_10002_but_the_clock_is_fixed() {
    let emu = emulator().await;
    let client = client(&emu);
    control(&emu, "/clock", json!({"skewMs": 10_000})).await;
    let err = client.create_order(resting_buy(None)).await.unwrap_err();
    assert!(err.is_timestamp() && err.is_definitive_reject(), "{err}");
    assert!((client.clock_status().offset_ms - 10_000).abs() < 1000);
    client.create_order(resting_buy(None)).await.unwrap();
}
