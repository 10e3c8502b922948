//! What every bench binary shares with `cargo xtask bench`: the machine-readable `ROW` line
//! the xtask collects (its one writer; `xtask/src/bench.rs` is its one reader) and the
//! percentile of a latency sample.

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
