//! [`ConfigError`]: why settings could not be built, naming the key and the expected form and
//! never a secret's value (R-CFG-4).

use std::path::PathBuf;

use super::environment::BybitEnv;

/// Why the settings could not be built. The message names the key and the expected form and
/// never carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value is not of the expected form.
    #[error("{key}{origin}: {shown} is not valid; expected {expected}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Where it came from (`" (from the environment)"`, `" (from FILE)"`).
        origin: String,
        /// The value as shown (`"…"`, or `a value` for a secret).
        shown: String,
        /// The expected form.
        expected: String,
    },
    /// A value is needed but not set.
    #[error("{key} is not set: {why}; expected {expected}")]
    Missing {
        /// The key.
        key: &'static str,
        /// Why it is needed.
        why: String,
        /// The expected form.
        expected: &'static str,
    },
    /// Mainnet without the opt-in (R-CFG-5).
    #[error(
        "BYBIT_ENV=mainnet trades real money and needs an explicit opt-in: set \
         BYBIT_MAINNET_CONFIRM=yes or pass --confirm-mainnet"
    )]
    MainnetNotConfirmed,
    /// The TOML file could not be read or parsed, or holds an unknown key.
    #[error("config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The environment lacks a feature that was asked for.
    #[error(
        "BYBIT_ENV={env} does not offer {feature} (REFERENCE.md §1); use {alternative} for it"
    )]
    Unsupported {
        /// The environment.
        env: BybitEnv,
        /// The feature, described.
        feature: &'static str,
        /// Where it is offered.
        alternative: &'static str,
    },
}
