//! Settings from environment variables and an optional TOML file (SPEC §2, R-CFG-1..5).
//!
//! Every key is read the same way from both sources: the file first, then the environment,
//! which wins (R-CFG-1). The file holds the same keys as the environment (`BYBIT_ENV =
//! "testnet"`; lower case is accepted too) and nothing else: an unknown key in it is an
//! error, so a typo cannot silently leave a default in force. A bad or missing value fails
//! [`Settings::load`] with a [`ConfigError`] naming the key and the expected form; a secret's
//! value is never part of an error, and [`Settings`]' `Debug` prints only whether keys are set
//! (R-CFG-4). Mainnet needs `BYBIT_MAINNET_CONFIRM=yes` or `--confirm-mainnet` (R-CFG-5).
//!
//! Each environment's [`Capabilities`] (REFERENCE.md §1) are known here, so a feature the
//! chosen environment lacks is refused at start ([`Settings::require`]) rather than found out
//! as a failure in the middle of a trade.
//!
//! The files, by concern: [`environment`] (Bybit's environments, their hosts and
//! capabilities), `keys` (the key table), `source` (the command line, the environment and
//! the TOML file, as raw values), [`settings`] (the parsed [`Settings`] and their checks),
//! `error` ([`ConfigError`]). Children name their siblings, never this file, so the files
//! form no import cycle.

pub mod environment;
mod error;
mod keys;
pub mod settings;
mod source;

pub use environment::{
    emulator_exports, is_loopback_host, is_mainnet_host, BybitEnv, Capabilities, Feature,
};
pub use error::ConfigError;
pub use keys::known_keys;
pub use settings::{default_journal_path, JournalLocation, Routing, ServeHttp, Settings, WsTuning};
pub use source::ConfigArgs;

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests;
