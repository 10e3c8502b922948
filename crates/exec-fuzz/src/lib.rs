//! Fuzzing on the stable toolchain: generated inputs, a million a target, against the parsers
//! that read what the layer does not control.
//!
//! Targets ([`targets`]): `ws` (the WebSocket frame parser, and the order book, ticker merge
//! and private-push mapping behind it), `rest` (REST reply decoding: envelope, then every
//! payload type), `emulator` (the emulator's request parsing, in-process, signed with its
//! key) and `serve` (`serve`'s control API, in-process, the layer trading on an emulator).
//!
//! Inputs ([`gen`]) are proptest strategies: Bybit's recorded payloads (or a valid request)
//! with structural edits, and raw bytes. The loop ([`runner`]) gives each case its own seed,
//! so a failure prints a one-line reproduction; a panic or a broken promise is a failure and
//! is shrunk; a case past its deadline is a hang. `cargo xtask fuzz` runs it in release.
//!
//! What it is not: coverage-guided (that needs a nightly toolchain); it runs no network but
//! loopback (`serve`'s layer talks to its emulator over it), and never in CI time beyond the
//! smoke test of a few hundred cases a target.

pub mod gen;
pub mod runner;
pub mod targets;

use std::time::Duration;

use anyhow::{bail, Result};

pub use runner::{Plan, Summary};

/// The targets' names, in the order `--target all` runs them.
pub const TARGETS: &[&str] = &["ws", "rest", "emulator", "serve"];

/// The default per-case deadline: a case that takes longer is a hang.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Runs one target by name.
pub fn run(name: &str, plan: Plan) -> Result<Summary> {
    match name {
        "ws" => runner::run(targets::ws::Ws::new()?, plan),
        "rest" => runner::run(targets::rest::Rest::new()?, plan),
        "emulator" => runner::run(targets::emulator::Emu::new()?, plan),
        "serve" => {
            // A trade placed on the emulator can take more than a parser's deadline.
            let plan = Plan {
                deadline: plan.deadline.max(Duration::from_secs(10)),
                ..plan
            };
            runner::run(targets::serve::Serve::new()?, plan)
        }
        other => bail!("unknown target {other:?}; one of {}", TARGETS.join(", ")),
    }
}
