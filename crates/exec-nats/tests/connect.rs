use std::time::Duration;

use exec_nats::{Account, Bus, BusConfig, BusError};
use testkit::nats::NatsServer;

#[test]
fn account_names_are_subject_tokens() {
    assert!(Account::new("main-1_A").is_ok());
    for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(33)] {
        assert_eq!(
            Account::new(bad),
            Err(BusError::InvalidAccount(bad.to_owned())),
            "{bad:?}"
        );
    }
}

#[test]
fn a_lease_that_cannot_be_renewed_three_times_is_refused() {
    let mut config = BusConfig::new("nats://127.0.0.1:1", Account::new("a").unwrap());
    assert_eq!(config.validate(), Ok(()));
    config.renew_every = Duration::from_secs(4);
    assert!(matches!(config.validate(), Err(BusError::InvalidLease(_))));
}

#[tokio::test]
async fn connect_creates_the_streams_and_the_bucket() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let config = BusConfig::new(server.url(), Account::new("acct-1").unwrap());
    let bus = Bus::connect(config.clone()).await.expect("connect");
    assert!(bus.is_connected());
    for name in [
        "BYBIT_EXEC_ACCT_1_CMD",
        "BYBIT_EXEC_ACCT_1_EVT",
        "BYBIT_EXEC_ACCT_1_JOURNAL",
        "KV_BYBIT_EXEC_ACCT_1_LEASE",
    ] {
        bus.jetstream().get_stream(name).await.expect(name);
    }
    // A second process of the same account finds them in place.
    Bus::connect(config).await.expect("connect again");
}

#[tokio::test]
async fn no_server_is_a_connect_error() {
    let config = BusConfig::new("nats://127.0.0.1:1", Account::new("a").unwrap());
    assert!(matches!(
        Bus::connect(config).await,
        Err(BusError::Connect { .. })
    ));
}

#[tokio::test]
async fn a_gateway_with_another_lease_ttl_is_refused_rather_than_changing_it() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let config = BusConfig::new(server.url(), Account::new("acct-2").unwrap());
    Bus::connect(config.clone())
        .await
        .expect("the first makes the bucket");
    let mut other = config.clone();
    other.lease_ttl = Duration::from_secs(20);
    other.renew_every = Duration::from_secs(4);
    let refused = Bus::connect(other).await.expect_err("another TTL");
    assert!(
        matches!(&refused, BusError::InvalidLease(why) if why.contains("same TTL")),
        "{refused}"
    );
    // The bucket keeps the first TTL: the first configuration still connects.
    Bus::connect(config).await.expect("same TTL");
}
