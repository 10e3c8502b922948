//! What every bench binary shares with `cargo xtask bench`: the machine-readable `ROW` line
//! the xtask collects (its one writer; `xtask/src/bench.rs` is its one reader), the
//! percentile of a latency sample, and the report of a client against its bare floor.

use std::time::Duration;

/// Prints one row for `cargo xtask bench`: name, ours, the floor or peer (`-` for none),
/// unit and target (`ratio<=X`, `ours>=X`, or `-`), tab-separated.
pub fn row(name: &str, ours: f64, peer: Option<f64>, unit: &str, target: &str) {
    let peer = peer.map_or_else(|| "-".to_owned(), |p| format!("{p:.3}"));
    println!("ROW\t{name}\t{ours:.3}\t{peer}\t{unit}\t{target}");
}

/// The `per_mille`-th value of a sorted, non-empty sample (500 = median, 990 = p99).
pub fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    sorted[(sorted.len() - 1) * per_mille.min(1000) / 1000]
}

/// One side of an ours-against-its-floor sample: how the printed line names it.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// e.g. `TradeStream`, `client`.
    pub label: &'a str,
    /// Its latencies, in any order.
    pub sample: &'a [Duration],
}

/// Prints p50 and p99 of `ours` against `floor` (a bare send of the same bytes) and writes a
/// `ROW` for each, `<what> <p50|p99> <versus>`, with the target `ratio<=1.3`.
pub fn against_floor(what: &str, versus: &str, ours: Side<'_>, floor: Side<'_>) {
    let mut a_sample = ours.sample.to_vec();
    let mut b_sample = floor.sample.to_vec();
    a_sample.sort();
    b_sample.sort();
    for (name, p) in [("p50", 500), ("p99", 990)] {
        let (a, b) = (percentile(&a_sample, p), percentile(&b_sample, p));
        println!(
            "{what} {name}: {} {:7.1} us, {} {:7.1} us, ratio {:.2}x (target <= 1.3x)",
            ours.label,
            a.as_secs_f64() * 1e6,
            floor.label,
            b.as_secs_f64() * 1e6,
            a.as_secs_f64() / b.as_secs_f64()
        );
        row(
            &format!("{what} {name} {versus}"),
            a.as_secs_f64() * 1e6,
            Some(b.as_secs_f64() * 1e6),
            "µs",
            "ratio<=1.3",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_rank_below() {
        let sample: Vec<Duration> = (1..=101).map(Duration::from_micros).collect();
        assert_eq!(percentile(&sample, 500), Duration::from_micros(51));
        assert_eq!(percentile(&sample, 990), Duration::from_micros(100));
        assert_eq!(percentile(&sample, 1000), Duration::from_micros(101));
        assert_eq!(percentile(&sample[..1], 990), Duration::from_micros(1));
    }
}
