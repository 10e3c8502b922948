//! The keys settings are read from (the same names in the environment and the TOML file):
//! each one's expected form, its TOML type and whether its value is secret.

/// A key this module reads: its name, expected form, the TOML type its value must have in
/// the file, and whether its value is secret.
pub(super) struct Key {
    pub(super) name: &'static str,
    pub(super) expected: &'static str,
    pub(super) toml: TomlForm,
    pub(super) secret: bool,
}

/// The TOML type a key's value must have in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TomlForm {
    /// A string.
    Text,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A decimal: a string (so no float rounds it) or an integer.
    Decimal,
    /// A string, or an array of strings (joined with commas).
    List,
}

impl TomlForm {
    pub(super) fn describe(self) -> &'static str {
        match self {
            TomlForm::Text => "a TOML string",
            TomlForm::Bool => "a TOML boolean (true or false, unquoted)",
            TomlForm::Int => "a TOML integer (unquoted)",
            TomlForm::Decimal => {
                "a TOML string such as \"0.5\" (or an integer), so no float rounds it"
            }
            TomlForm::List => "a TOML string or an array of strings",
        }
    }
}

const fn key(name: &'static str, expected: &'static str) -> Key {
    Key {
        name,
        expected,
        toml: TomlForm::Text,
        secret: false,
    }
}

const fn typed(name: &'static str, expected: &'static str, toml: TomlForm) -> Key {
    Key {
        name,
        expected,
        toml,
        secret: false,
    }
}

pub(super) const KEYS: &[Key] = &[
    key("BYBIT_ENV", "one of testnet, mainnet, demo"),
    Key {
        name: "BYBIT_API_KEY",
        expected: "the API key: printable ASCII, no spaces",
        toml: TomlForm::Text,
        secret: true,
    },
    Key {
        name: "BYBIT_API_SECRET",
        expected: "the API secret (non-empty)",
        toml: TomlForm::Text,
        secret: true,
    },
    key("BYBIT_MAINNET_CONFIRM", "yes (to allow mainnet)"),
    typed("EXECUTION_DRY_RUN", "true or false", TomlForm::Bool),
    key("EXECUTION_ROUTING", "one of live, dry-run, paper"),
    key("BYBIT_REST_URL", "an http:// or https:// URL"),
    key("BYBIT_PUBLIC_REST_URL", "an http:// or https:// URL"),
    key("BYBIT_WS_PUBLIC_URL", "a ws:// or wss:// URL"),
    key("BYBIT_WS_PRIVATE_URL", "a ws:// or wss:// URL"),
    key("BYBIT_WS_TRADE_URL", "a ws:// or wss:// URL"),
    key("EXECUTION_ORDER_PATH", "auto, rest or ws"),
    key(
        "EXECUTION_JOURNAL",
        "a file path for the SQLite journal, or :memory:",
    ),
    key(
        "EXECUTION_ERROR_LOG",
        "a file path for the error log, or none",
    ),
    typed(
        "EXECUTION_SYMBOLS",
        "comma-separated symbols such as BTCUSDT,ETHUSDT",
        TomlForm::List,
    ),
    typed(
        "EXECUTION_LEVERAGE",
        "a decimal number from 1 to 200",
        TomlForm::Decimal,
    ),
    typed(
        "EXECUTION_MIN_AVAILABLE_USDT",
        "a decimal number of USDT, 0 or more",
        TomlForm::Decimal,
    ),
    typed(
        "EXECUTION_MAX_NOTIONAL_USDT",
        "a decimal number of USDT above 0",
        TomlForm::Decimal,
    ),
    key("EXECUTION_ON_TP_FAILURE", "keep or close"),
    typed(
        "EXECUTION_BOOK_DEPTH",
        "0 (no books) or an order-book depth the linear stream serves: 1, 50, 200 or 1000",
        TomlForm::Int,
    ),
    typed(
        "EXECUTION_POLL_INTERVAL_MS",
        "a whole number of milliseconds from 100 to 60000",
        TomlForm::Int,
    ),
    typed(
        "EXECUTION_SILENCE_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "EXECUTION_RECONCILE_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "BYBIT_RECV_WINDOW_MS",
        "a whole number of milliseconds from 1 to 60000",
        TomlForm::Int,
    ),
    typed(
        "BYBIT_HTTP_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 120000",
        TomlForm::Int,
    ),
    typed(
        "PAPER_USDT",
        "a decimal number of USDT above 0",
        TomlForm::Decimal,
    ),
    typed(
        "SERVE_HEADER_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "SERVE_BODY_TIMEOUT_MS",
        "a whole number of milliseconds from 100 to 600000",
        TomlForm::Int,
    ),
    typed(
        "SERVE_MAX_CONNECTIONS",
        "a whole number from 4 to 4096",
        TomlForm::Int,
    ),
];

pub(super) fn spec(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The names of every key [`Settings::load`] reads (for help texts and the README).
pub fn known_keys() -> impl Iterator<Item = (&'static str, &'static str)> {
    KEYS.iter().map(|k| (k.name, k.expected))
}
