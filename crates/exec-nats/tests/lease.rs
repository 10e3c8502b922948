//! The account's lease on a real server: one holder, renewals, expiry, release, and what a
//! holder does when the server is away shorter or longer than the TTL.

use std::time::{Duration, Instant};

use exec_nats::lease::{Held, Lease};
use exec_nats::{Account, Bus, BusConfig, Holding};
use testkit::nats::NatsServer;
use tokio_util::sync::CancellationToken;

fn config(url: &str, holder: &str, ttl_ms: u64, renew_ms: u64) -> BusConfig {
    let mut config = BusConfig::new(url, Account::new("lease-test").expect("account"));
    config.holder = holder.to_owned();
    config.lease_ttl = Duration::from_millis(ttl_ms);
    config.renew_every = Duration::from_millis(renew_ms);
    config.request_timeout = Duration::from_millis(renew_ms);
    config
}

async fn lease(url: &str, holder: &str, ttl_ms: u64, renew_ms: u64) -> Lease {
    let bus = Bus::connect(config(url, holder, ttl_ms, renew_ms))
        .await
        .expect("connect");
    Lease::open(&bus).await.expect("lease")
}

/// Polls `check` every 50 ms until it is true or `within` passes.
async fn until(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

async fn take(lease: &Lease) -> Held {
    lease.try_take().await.expect("take").expect("free")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_at_a_time_and_renewals_keep_it() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 2000, 500).await;
    let b = lease(&server.url(), "host-b:2", 2000, 500).await;
    let held = take(&a).await;
    assert!(held.may_send().is_ok());
    // Three TTLs: the renewals keep it, and the standby never gets it.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        assert!(
            b.try_take().await.expect("try").is_none(),
            "taken while held"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = b.current().await.expect("current").expect("held");
    assert_eq!(seen.holder, "host-a:1");
    assert_eq!(
        seen.epoch,
        held.info().epoch,
        "the standby sees the holder's epoch"
    );
    assert!(held.info().revision > held.info().epoch, "renewed");
    assert!(held.may_send().is_ok());
    assert!(!held.lost().is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holder_blocks_the_account_for_at_most_the_ttl_plus_one_renewal() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 2000, 500).await;
    let b = lease(&server.url(), "host-b:2", 2000, 500).await;
    let held = take(&a).await;
    let epoch = held.info().epoch;
    // Let it renew once, then die without a word (no release).
    assert!(until(Duration::from_secs(3), || held.info().revision > epoch).await);
    let died = Instant::now();
    drop(held);
    let taken = tokio::time::timeout(
        Duration::from_secs(10),
        b.acquire(&CancellationToken::new(), |_| {}),
    )
    .await
    .expect("the standby takes it")
    .expect("acquire");
    let waited = died.elapsed();
    assert!(
        waited <= Duration::from_millis(2000 + 500 + 500),
        "took {waited:?}: more than the TTL plus one renewal (and 500 ms of expiry timer)"
    );
    assert!(
        taken.info().epoch > epoch,
        "a later holder has a higher epoch"
    );
    assert_eq!(taken.holder(), "host-b:2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_taken_at_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 5000, 1000).await;
    let b = lease(&server.url(), "host-b:2", 5000, 1000).await;
    let held = take(&a).await;
    let lost = held.lost();
    held.release().await;
    assert!(lost.is_cancelled(), "a released lease is no longer held");
    assert!(b.try_take().await.expect("try").is_some(), "free at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_holder_stops_sending_at_once() {
    let Some(server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 5000, 1000).await;
    let held = take(&a).await;
    let gate = held.gate();
    gate.fenced("another gateway wrote the journal");
    assert!(held.lost().is_cancelled());
    let refused = held.may_send().expect_err("refused");
    assert!(
        refused.contains("another gateway wrote the journal"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_away_shorter_than_the_ttl_keeps_the_lease() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 4000, 1000).await;
    let held = take(&a).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.start_again();
    let revision = held.info().revision;
    assert!(
        until(Duration::from_secs(4), || held.info().revision > revision).await,
        "renewed after the server came back: {:?}, {:?}",
        held.lost_reason(),
        held.may_send()
    );
    assert!(held.may_send().is_ok());
    assert!(!held.lost().is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_away_longer_than_the_ttl_stops_the_holder_before_its_lease_could_expire() {
    let Some(mut server) = NatsServer::start() else {
        return;
    };
    let a = lease(&server.url(), "host-a:1", 2000, 500).await;
    let held = take(&a).await;
    let epoch = held.info().epoch;
    assert!(until(Duration::from_secs(3), || held.info().revision > epoch).await);
    // The last renewal the server may have seen was sent before the kill.
    let killed = Instant::now();
    server.kill();
    assert!(
        until(Duration::from_secs(3), || held.may_send().is_err()).await,
        "still sending with the server gone"
    );
    let stopped = killed.elapsed();
    assert!(
        stopped < Duration::from_millis(2000),
        "stopped sending {stopped:?} after the last possible renewal: not before the TTL"
    );
    // Back after the TTL: the key expired, the renewal is refused, the lease is lost.
    tokio::time::sleep(Duration::from_millis(2500).saturating_sub(killed.elapsed())).await;
    server.start_again();
    tokio::time::timeout(Duration::from_secs(10), held.lost().cancelled())
        .await
        .expect("lost once the server is back");
    assert!(held.may_send().is_err());
    let b = lease(&server.url(), "host-b:2", 2000, 500).await;
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        b.acquire(&CancellationToken::new(), |_| {}),
    )
    .await
    .expect("the next holder takes it")
    .expect("acquire");
    assert!(next.info().epoch > epoch);
}
