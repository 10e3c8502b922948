//! Local rate limiting (SPEC R-REST-3 / R-ERR-4): one `governor` limiter per Bybit rate-limit
//! bucket, with Bybit's documented limits as defaults (REFERENCE.md §4, §10); waits read from
//! `X-Bapi-Limit-Status` / `X-Bapi-Limit-Reset-Timestamp`; a back-off until the reset after
//! 10006, HTTP 429 and HTTP 403; and, when requests queue, cancels and risk-reducing orders
//! before orders that add risk.
//!
//! Bybit counts the per-UID limit in a rolling one-second window per endpoint, so a bucket is
//! an endpoint (not a symbol: two symbols share `/v5/order/create`'s budget). Every request,
//! public or private, also takes a slot of one IP bucket (600 requests per 5 s per IP), the
//! only bucket public market data has.
//!
//! The quota is set so that no window of `per` ever sees more than `requests - spare` sends:
//! a burst of `burst` cells, then `steady = requests - spare - burst + 1` more per `per` (GCRA:
//! n cells within a span shorter than `per` satisfy n < burst + steady). The spare slots
//! (a tenth of the limit, at least one) absorb network jitter: requests that leave here evenly
//! spaced can arrive at Bybit bunched, and Bybit counts arrivals.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The kinds of endpoint Bybit limits differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    /// Order create / amend / cancel / cancel-all and the batch endpoints: 10/s each.
    OrderWrite,
    /// Open orders, order history, executions: 50/s each.
    OrderRead,
    /// Position list: 50/s.
    PositionRead,
    /// Set leverage, switch mode/isolated, trading stop: 10/s each.
    PositionWrite,
    /// Wallet balance, account info: 50/s each.
    Account,
    /// Fee rate: 5/s.
    FeeRate,
    /// Public market data: the IP limit only, shared by every public endpoint.
    Market,
}

/// One bucket's limit: at most `requests` per `per`, of which `burst` may go at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    /// Bybit's limit for the window.
    pub requests: u32,
    /// The window.
    pub per: Duration,
    /// How many may leave back to back before the steady pace applies (at least 1).
    pub burst: u32,
    /// Slots of the window left unused as a margin for network jitter (at least 1).
    pub spare: u32,
}

impl ClassLimit {
    /// `requests` per second, a burst of a fifth of them and a tenth spare.
    pub const fn per_second(requests: u32) -> Self {
        ClassLimit {
            requests,
            per: Duration::from_secs(1),
            burst: if requests / 5 > 0 { requests / 5 } else { 1 },
            spare: if requests / 10 > 0 { requests / 10 } else { 1 },
        }
    }

    /// The most sends any window of `per` can hold.
    pub fn ceiling(&self) -> u32 {
        let (_, burst, steady) = self.shape();
        burst + steady - 1
    }

    fn shape(&self) -> (Duration, u32, u32) {
        let usable = self.requests.saturating_sub(self.spare.max(1)).max(1);
        let burst = self.burst.clamp(1, usable);
        let steady = (usable - burst + 1).max(1);
        (self.per / steady, burst, steady)
    }

    fn quota(&self) -> (Quota, u32) {
        let (period, burst, _) = self.shape();
        let period = period.max(Duration::from_nanos(1));
        let burst_nz = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst_nz);
        (quota, burst)
    }
}

/// The local limits, by class. Defaults are Bybit's documented UTA linear limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitConfig {
    /// Whether to limit at all (benchmarks against an emulator without limits turn it off).
    pub enabled: bool,
    /// Order writes, per endpoint.
    pub order_write: ClassLimit,
    /// Order reads, per endpoint.
    pub order_read: ClassLimit,
    /// Position list.
    pub position_read: ClassLimit,
    /// Position writes, per endpoint.
    pub position_write: ClassLimit,
    /// Account reads, per endpoint.
    pub account: ClassLimit,
    /// Fee rate.
    pub fee_rate: ClassLimit,
    /// The IP limit: every request, public or private, takes one slot; public endpoints have
    /// no other.
    pub market: ClassLimit,
    /// How long to stop after HTTP 403 (IP limit): Bybit says at least 10 minutes.
    pub ip_ban_backoff: Duration,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            enabled: true,
            order_write: ClassLimit::per_second(10),
            order_read: ClassLimit::per_second(50),
            position_read: ClassLimit::per_second(50),
            position_write: ClassLimit::per_second(10),
            account: ClassLimit::per_second(50),
            fee_rate: ClassLimit::per_second(5),
            market: ClassLimit {
                requests: 600,
                per: Duration::from_secs(5),
                burst: 60,
                spare: 60,
            },
            ip_ban_backoff: Duration::from_secs(600),
        }
    }
}

impl LimitConfig {
    fn limit(&self, class: EndpointClass) -> ClassLimit {
        match class {
            EndpointClass::OrderWrite => self.order_write,
            EndpointClass::OrderRead => self.order_read,
            EndpointClass::PositionRead => self.position_read,
            EndpointClass::PositionWrite => self.position_write,
            EndpointClass::Account => self.account,
            EndpointClass::FeeRate => self.fee_rate,
            EndpointClass::Market => self.market,
        }
    }
}

/// Which class a path belongs to. Unknown private paths count as order writes (the tightest).
pub fn class_of(path: &str) -> EndpointClass {
    match path {
        "/v5/order/realtime" | "/v5/order/history" | "/v5/execution/list" => {
            EndpointClass::OrderRead
        }
        "/v5/position/list" => EndpointClass::PositionRead,
        "/v5/position/set-leverage"
        | "/v5/position/switch-mode"
        | "/v5/position/switch-isolated"
        | "/v5/position/trading-stop" => EndpointClass::PositionWrite,
        "/v5/account/wallet-balance"
        | "/v5/account/info"
        | "/v5/account/user-setting-config"
        | "/v5/account/set-limit-px-action" => EndpointClass::Account,
        "/v5/account/fee-rate" => EndpointClass::FeeRate,
        p if p.starts_with("/v5/market/") => EndpointClass::Market,
        _ => EndpointClass::OrderWrite,
    }
}

/// Whether a request jumps the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// Cancels, reduce-only and close orders: they lower risk.
    High,
    /// Everything else.
    Normal,
}

/// governor's clock on tokio's time, so tests on a paused clock control it.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

#[derive(Debug)]
struct Bucket {
    gcra: Gcra,
    gcra_clock: TokioClock,
    burst: u32,
    /// The most units any window holds.
    ceiling: u32,
    /// Nothing is sent before this instant (the exchange said the budget is spent).
    blocked_until: Mutex<Option<Instant>>,
    high_waiting: AtomicUsize,
    high_done: Notify,
}

/// Why the limiter refused to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong(pub(crate) Duration);

/// Decrements the high-priority count when a waiter finishes or is cancelled.
struct HighGuard<'a>(&'a Bucket);

impl Drop for HighGuard<'_> {
    fn drop(&mut self) {
        self.0.high_waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.high_done.notify_waiters();
    }
}

/// The client's limiter: buckets by key, created on first use.
#[derive(Debug)]
pub(crate) struct Limiter {
    config: LimitConfig,
    clock: TokioClock,
    buckets: Mutex<HashMap<&'static str, std::sync::Arc<Bucket>>>,
    ip_blocked_until: Mutex<Option<Instant>>,
    /// The same end on the wall clock, for the error's "until HH:MM:SS", and whether the 403
    /// said the IP's country is blocked.
    ip_banned_until: Mutex<Option<(std::time::SystemTime, bool)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Limiter {
    pub(crate) fn new(config: LimitConfig) -> Self {
        Limiter {
            config,
            clock: TokioClock {
                origin: Instant::now(),
            },
            buckets: Mutex::new(HashMap::new()),
            ip_blocked_until: Mutex::new(None),
            ip_banned_until: Mutex::new(None),
        }
    }

    fn bucket(&self, path: &'static str) -> std::sync::Arc<Bucket> {
        let class = class_of(path);
        let key = if class == EndpointClass::Market {
            "market"
        } else {
            path
        };
        let mut buckets = lock(&self.buckets);
        buckets
            .entry(key)
            .or_insert_with(|| {
                let limit = self.config.limit(class);
                let (quota, burst) = limit.quota();
                std::sync::Arc::new(Bucket {
                    gcra: RateLimiter::direct_with_clock(quota, self.clock.clone()),
                    gcra_clock: self.clock.clone(),
                    burst,
                    ceiling: limit.ceiling().max(1),
                    blocked_until: Mutex::new(None),
                    high_waiting: AtomicUsize::new(0),
                    high_done: Notify::new(),
                })
            })
            .clone()
    }

    /// Waits until `cost` units may be sent on `path`. Refuses (without waiting) when the
    /// exchange has blocked the bucket for longer than `max_wait`.
    pub(crate) async fn acquire(
        &self,
        path: &'static str,
        cost: u32,
        priority: Priority,
        max_wait: Duration,
    ) -> Result<(), TooLong> {
        if !self.config.enabled {
            return Ok(());
        }
        let bucket = self.bucket(path);
        Self::acquire_in(&bucket, cost, priority, max_wait, &self.ip_blocked_until).await?;
        // The IP limit counts every request, private ones included; public endpoints' own
        // bucket is that one (a batch is one request).
        if class_of(path) != EndpointClass::Market {
            let ip = self.bucket("/v5/market/");
            Self::acquire_in(&ip, 1, priority, max_wait, &self.ip_blocked_until).await?;
        }
        Ok(())
    }

    /// Waits until `cost` units of `bucket` may be sent (see [`acquire`](Self::acquire)).
    async fn acquire_in(
        bucket: &Bucket,
        cost: u32,
        priority: Priority,
        max_wait: Duration,
        ip_blocked_until: &Mutex<Option<Instant>>,
    ) -> Result<(), TooLong> {
        let _guard = (priority == Priority::High).then(|| {
            bucket.high_waiting.fetch_add(1, Ordering::SeqCst);
            HighGuard(bucket)
        });
        // Each order of a batch is one unit of the window. Units are taken a burst at a time
        // and the request leaves with the last; a batch larger than the whole window waits
        // for the window only: Bybit lets its first orders through and refuses the rest,
        // which the caller sees per item.
        let mut left = cost.clamp(1, bucket.ceiling);
        loop {
            let now = Instant::now();
            let blocked = [*lock(ip_blocked_until), *lock(&bucket.blocked_until)]
                .into_iter()
                .flatten()
                .max()
                .filter(|until| *until > now);
            if let Some(until) = blocked {
                let wait = until - now;
                if wait > max_wait {
                    return Err(TooLong(wait));
                }
                // One line per wait (the request's span names the endpoint and orderLinkId).
                tracing::info!(
                    wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "rate limit: waiting for the exchange's reset before sending"
                );
                tokio::time::sleep_until(until).await;
                continue;
            }
            if priority == Priority::Normal && bucket.high_waiting.load(Ordering::SeqCst) > 0 {
                let done = bucket.high_done.notified();
                if bucket.high_waiting.load(Ordering::SeqCst) > 0 {
                    // Bounded, in case a wake-up slips between the check and the wait.
                    let _ = tokio::time::timeout(Duration::from_millis(50), done).await;
                }
                continue;
            }
            let cells = NonZeroU32::new(left.min(bucket.burst)).unwrap_or(NonZeroU32::MIN);
            match bucket.gcra.check_n(cells) {
                Ok(Ok(())) | Err(_) => {
                    left = left.saturating_sub(cells.get());
                    if left == 0 {
                        return Ok(());
                    }
                }
                Ok(Err(not_until)) => {
                    let wait = not_until.wait_time_from(bucket.gcra_clock.now());
                    tracing::debug!(
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "rate limit: local budget spent; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Blocks `path`'s bucket for `wait` (the exchange said its budget is spent).
    pub(crate) fn block(&self, path: &'static str, wait: Duration) {
        let bucket = self.bucket(path);
        let until = Instant::now() + wait;
        let mut blocked = lock(&bucket.blocked_until);
        if blocked.is_none_or(|b| b < until) {
            *blocked = Some(until);
        }
    }

    /// Blocks every request after an HTTP 403 (the IP ban; `country_blocked` when its reply
    /// said the IP's country is refused). Returns the back-off and when it ends on the wall
    /// clock.
    pub(crate) fn block_ip(&self, country_blocked: bool) -> (Duration, std::time::SystemTime) {
        let wait = self.config.ip_ban_backoff;
        let until = std::time::SystemTime::now() + wait;
        *lock(&self.ip_blocked_until) = Some(Instant::now() + wait);
        *lock(&self.ip_banned_until) = Some((until, country_blocked));
        (wait, until)
    }

    /// While an IP ban blocks requests: the time left, when it ends (wall clock) and whether
    /// the 403 said the IP's country is blocked.
    pub(crate) fn ip_ban(&self) -> Option<(Duration, std::time::SystemTime, bool)> {
        let left = (*lock(&self.ip_blocked_until))?.checked_duration_since(Instant::now())?;
        let (until, country_blocked) = (*lock(&self.ip_banned_until))?;
        Some((left, until, country_blocked))
    }

    /// The ban length assumed after a 403.
    pub(crate) fn ip_ban_backoff(&self) -> Duration {
        self.config.ip_ban_backoff
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn limiter(limit: ClassLimit) -> Arc<Limiter> {
        Arc::new(Limiter::new(LimitConfig {
            order_write: limit,
            order_read: limit,
            ..LimitConfig::default()
        }))
    }

    /// Sends `n` acquisitions at once and returns when each was granted (ms from start).
    async fn grant_times(limiter: &Arc<Limiter>, path: &'static str, n: usize) -> Vec<u128> {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..n {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                limiter
                    .acquire(path, 1, Priority::Normal, Duration::from_secs(5))
                    .await
                    .unwrap();
                start.elapsed().as_millis()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap());
        }
        times.sort_unstable();
        times
    }

    fn max_in_any_window(times: &[u128], window: u128) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    // docs/v5/rate-limit/rate-limit.mdx: order create is 10 requests per rolling second.
    #[tokio::test(start_paused = true)]
    async fn no_rolling_second_holds_more_than_the_ceiling() {
        let limit = ClassLimit::per_second(10);
        assert_eq!(limit.ceiling(), 9);
        let times = grant_times(&limiter(limit), "/v5/order/create", 60).await;
        assert_eq!(max_in_any_window(&times, 1000), 9);
        // The burst goes at once, then the steady pace: 2 at t=0, the 60th near 58 × 125 ms.
        assert_eq!(&times[..2], &[0, 0]);
        assert!(times[59] >= 7000, "{times:?}");
        let reads = ClassLimit::per_second(50);
        assert_eq!(reads.ceiling(), 45);
        let times = grant_times(&limiter(reads), "/v5/order/realtime", 200).await;
        assert_eq!(max_in_any_window(&times, 1000), 45);
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_have_separate_budgets_and_market_data_shares_one() {
        let limiter = limiter(ClassLimit::per_second(10));
        let create = grant_times(&limiter, "/v5/order/create", 2).await;
        let cancel = grant_times(&limiter, "/v5/order/cancel", 2).await;
        assert_eq!((create[1], cancel[1]), (0, 0));
        let lim = Limiter::new(LimitConfig::default());
        assert!(Arc::ptr_eq(
            &lim.bucket("/v5/market/time"),
            &lim.bucket("/v5/market/tickers")
        ));
    }

    // docs/v5/rate-limit/rate-limit.mdx: the IP limit (600 requests per 5 s, HTTP 403 and a
    // 10-minute ban beyond it) counts every request from the IP, private ones included. Five
    // read endpoints at their own 50/s budgets would send about 950 per 5 s.
    #[tokio::test(start_paused = true)]
    async fn all_endpoints_together_stay_under_the_ip_limit() {
        let limiter = Arc::new(Limiter::new(LimitConfig::default()));
        let (a, b, c, d, e) = tokio::join!(
            grant_times(&limiter, "/v5/order/realtime", 300),
            grant_times(&limiter, "/v5/order/history", 300),
            grant_times(&limiter, "/v5/execution/list", 300),
            grant_times(&limiter, "/v5/position/list", 300),
            grant_times(&limiter, "/v5/account/wallet-balance", 300),
        );
        let mut all: Vec<u128> = a.into_iter().chain(b).chain(c).chain(d).chain(e).collect();
        all.sort_unstable();
        let most = max_in_any_window(&all, 5000);
        assert!(most <= 600, "{most} requests in one 5 s window");
    }

    // docs/v5/rate-limit/rate-limit.mdx: each order in a batch consumes one unit of the batch
    // endpoint's 10/s; a batch that overflows the budget has its last orders refused.
    #[tokio::test(start_paused = true)]
    async fn batches_consume_one_unit_per_order() {
        let limiter = Arc::new(Limiter::new(LimitConfig::default()));
        let start = Instant::now();
        let mut units = Vec::new();
        for _ in 0..8 {
            limiter
                .acquire("/v5/order/create-batch", 5, Priority::Normal, Duration::MAX)
                .await
                .unwrap();
            let at = start.elapsed().as_millis();
            units.extend(std::iter::repeat_n(at, 5));
        }
        let most = max_in_any_window(&units, 1000);
        assert!(most <= 10, "{most} orders in one second: {units:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_bucket_waits_for_the_reset_or_refuses_a_long_wait() {
        let limiter = limiter(ClassLimit::per_second(10));
        limiter.block("/v5/order/create", Duration::from_millis(700));
        let start = Instant::now();
        limiter
            .acquire(
                "/v5/order/create",
                1,
                Priority::Normal,
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(700));
        let (ban, _) = limiter.block_ip(false);
        assert_eq!(ban, Duration::from_secs(600));
        let refused = limiter
            .acquire(
                "/v5/order/realtime",
                1,
                Priority::High,
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(refused, Err(TooLong(Duration::from_secs(600))));
    }

    #[tokio::test(start_paused = true)]
    async fn queued_risk_reducing_orders_go_before_risk_adding_ones() {
        let limiter = limiter(ClassLimit::per_second(10));
        let order = Arc::new(Mutex::new(Vec::new()));
        // Spend the burst, then queue five risk-adding orders and, after them, two reduce-only.
        for _ in 0..2 {
            limiter
                .acquire("/v5/order/create", 1, Priority::Normal, Duration::MAX)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for (i, priority) in [Priority::Normal; 5]
            .into_iter()
            .chain([Priority::High; 2])
            .enumerate()
        {
            let (limiter, order) = (limiter.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                limiter
                    .acquire("/v5/order/create", 1, priority, Duration::MAX)
                    .await
                    .unwrap();
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(&order[..2], &[5, 6], "reduce-only first: {order:?}");
    }
}
