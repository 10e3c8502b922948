//! The settings' tests: both sources, every key's refusals, the mainnet and host checks.

use std::io::Write;

use std::path::PathBuf;
use std::time::Duration;

use rust_decimal_macros::dec;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::from_sources(env(pairs), &ConfigArgs::default())
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn with_file(f: &tempfile::NamedTempFile, pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let args = ConfigArgs {
        config: Some(f.path().to_owned()),
        confirm_mainnet: false,
    };
    Settings::from_sources(env(pairs), &args)
}

/// Checks that loading `pairs` fails and the message contains every `words`.
fn check_error(pairs: &[(&str, &str)], words: &[&str]) {
    let message = load(pairs).unwrap_err().to_string();
    for w in words {
        assert!(message.contains(w), "{message:?} lacks {w:?}");
    }
}

#[test]
fn defaults_are_testnet_live_with_spec_values() {
    let s = load(&[]).unwrap();
    assert_eq!(s.env, BybitEnv::Testnet);
    assert_eq!(s.routing, Routing::Live);
    // SPEC R-CFG-2 base URLs.
    assert_eq!(s.rest_url, "https://api-testnet.bybit.com");
    assert_eq!(
        s.ws_public_url,
        "wss://stream-testnet.bybit.com/v5/public/linear"
    );
    assert_eq!(
        s.ws_private_url,
        "wss://stream-testnet.bybit.com/v5/private"
    );
    assert_eq!(
        s.journal,
        JournalLocation::Sqlite(PathBuf::from("data/journal-testnet-live.sqlite"))
    );
    assert_eq!(
        s.error_log,
        Some(PathBuf::from("data/logs/execution-error.log"))
    );
    assert_eq!(s.leverage, dec!(25));
    assert_eq!(s.min_available_usdt, dec!(100));
    assert_eq!(s.recv_window, Duration::from_millis(5000));
    assert!(s.credentials.is_none());
}

#[test]
fn each_environment_and_routing_has_its_own_default_journal() {
    let path = |pairs: &[(&str, &str)]| match load(pairs).unwrap().journal {
        JournalLocation::Sqlite(p) => p,
        JournalLocation::Memory => panic!("memory"),
    };
    let live = path(&[]);
    let dry = path(&[("EXECUTION_DRY_RUN", "true")]);
    let paper = path(&[("EXECUTION_ROUTING", "paper")]);
    let demo = path(&[("BYBIT_ENV", "demo")]);
    assert_eq!(dry, PathBuf::from("data/journal-testnet-dry-run.sqlite"));
    assert_eq!(paper, PathBuf::from("data/journal-testnet-paper.sqlite"));
    assert_eq!(demo, PathBuf::from("data/journal-demo-live.sqlite"));
    assert!(live != dry && live != paper && live != demo);
    // serve --routing moves a default journal with it, but not one set by hand.
    let mut s = load(&[]).unwrap();
    s.set_routing(Routing::Paper);
    assert_eq!(s.journal, JournalLocation::Sqlite(paper));
    let mut s = load(&[("EXECUTION_JOURNAL", "x.sqlite")]).unwrap();
    s.set_routing(Routing::Paper);
    assert_eq!(
        s.journal,
        JournalLocation::Sqlite(PathBuf::from("x.sqlite"))
    );
}

// Pointed at loopback, the environment is a local emulator in every
// message, with its own journal and no thin-testnet note.
#[test]
fn loopback_urls_are_a_local_emulator_with_its_own_journal() {
    let local = [
        ("BYBIT_REST_URL", "http://127.0.0.1:9100"),
        (
            "BYBIT_WS_PUBLIC_URL",
            "ws://127.0.0.1:9100/v5/public/linear",
        ),
        ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9100/v5/private"),
    ];
    for extra in [
        None,
        Some(("BYBIT_ENV", "testnet")),
        Some(("BYBIT_ENV", "demo")),
    ] {
        let mut pairs = local.to_vec();
        pairs.extend(extra);
        let s = load(&pairs).unwrap();
        assert_eq!(s.env, BybitEnv::Emulator, "{pairs:?}");
        assert_eq!(s.env.to_string(), "local emulator");
        assert_eq!(
            s.journal,
            JournalLocation::Sqlite(PathBuf::from("data/journal-emulator-live.sqlite"))
        );
        let notes = s.notices().join("\n");
        assert!(
            !notes.contains("testnet") && !notes.contains("thin"),
            "{notes}"
        );
    }
    let mut s = load(&local).unwrap();
    s.set_routing(Routing::Paper);
    assert_eq!(
        s.journal,
        JournalLocation::Sqlite(PathBuf::from("data/journal-emulator-paper.sqlite"))
    );
    // Testnet itself keeps its name and its note.
    let t = load(&[]).unwrap();
    assert_eq!(t.env.to_string(), "testnet");
    assert!(t
        .notices()
        .join(" ")
        .contains("testnet: the market is thin"));
}

// A local emulator is all four URLs on this machine. Only some of them
// on loopback is not an emulator named honestly but two exchanges at once (orders on one,
// fills or prices from the other), so it is refused naming the odd URL. Before, setting
// only BYBIT_REST_URL=http://127.0.0.1:… was taken as "local emulator" while the streams
// stayed on testnet, and a loopback private stream beside testnet REST was "testnet".
#[test]
fn some_urls_on_loopback_and_some_not_is_refused_naming_the_odd_one() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (
            &[("BYBIT_REST_URL", "http://127.0.0.1:18088")],
            "BYBIT_WS_PUBLIC_URL",
        ),
        (
            &[
                ("BYBIT_REST_URL", "http://localhost:18088"),
                ("BYBIT_WS_PUBLIC_URL", "ws://[::1]:18088/v5/public/linear"),
            ],
            "BYBIT_WS_PRIVATE_URL",
        ),
        (
            &[("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private")],
            "BYBIT_WS_PRIVATE_URL",
        ),
        (
            &[("BYBIT_PUBLIC_REST_URL", "http://127.0.0.1:18088")],
            "BYBIT_PUBLIC_REST_URL",
        ),
        (
            &[
                ("BYBIT_REST_URL", "http://127.0.0.1:18088"),
                ("BYBIT_PUBLIC_REST_URL", "https://api-testnet.bybit.com"),
                (
                    "BYBIT_WS_PUBLIC_URL",
                    "ws://127.0.0.1:18088/v5/public/linear",
                ),
                ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private"),
            ],
            "BYBIT_PUBLIC_REST_URL",
        ),
    ];
    for (pairs, odd) in cases {
        let m = load(pairs).map(|s| s.env).unwrap_err().to_string();
        assert!(
            m.starts_with(odd) && m.contains("bybit-exec emulator"),
            "{pairs:?}: {m}"
        );
    }
    // All four on loopback, spelt any loopback way: the local emulator.
    let s = load(&[
        ("BYBIT_REST_URL", "http://localhost:18088"),
        ("BYBIT_WS_PUBLIC_URL", "ws://[::1]:18088/v5/public/linear"),
        ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:18088/v5/private"),
    ])
    .unwrap();
    assert_eq!(s.env, BybitEnv::Emulator);
}

// `bybit-exec emulator --listen 0.0.0.0:PORT --api-secret …` (allowed with a secret of
// one's own) printed `export BYBIT_REST_URL=http://0.0.0.0:PORT`, which these settings
// refuse (plain http to a host that is not loopback): the printed lines must work as
// printed, so a wildcard address is named by the loopback address of its family.
#[test]
fn the_emulator_export_lines_load_as_the_local_emulator_whatever_the_listen_address() {
    for (url, rest) in [
        ("http://127.0.0.1:18088", "http://127.0.0.1:18088"),
        ("http://0.0.0.0:18088", "http://127.0.0.1:18088"),
        ("http://[::]:18088", "http://[::1]:18088"),
        ("http://[::1]:18088", "http://[::1]:18088"),
    ] {
        let text = emulator_exports(url, "k", Some("s"));
        let pairs: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
            .collect();
        assert_eq!(pairs.len(), 6, "{text}");
        let s = Settings::from_sources(pairs, &ConfigArgs::default())
            .unwrap_or_else(|e| panic!("{url}: {e}\n{text}"));
        assert_eq!(s.env, BybitEnv::Emulator, "{url}");
        assert_eq!(s.rest_url, rest, "{url}");
    }
}

#[test]
fn demo_takes_public_data_from_mainnet() {
    // REFERENCE.md §1 (docs/v5/demo.mdx): demo REST and private stream, mainnet public.
    let s = load(&[("BYBIT_ENV", "demo")]).unwrap();
    assert_eq!(s.rest_url, "https://api-demo.bybit.com");
    assert_eq!(s.public_rest_url, "https://api.bybit.com");
    assert_eq!(s.ws_public_url, "wss://stream.bybit.com/v5/public/linear");
    assert_eq!(s.ws_private_url, "wss://stream-demo.bybit.com/v5/private");
    assert!(s.capabilities().public_data_from_mainnet);
}

#[test]
fn the_environment_wins_over_the_file() {
    let f = file(
        "BYBIT_ENV = \"demo\"\nexecution_leverage = 10\nEXECUTION_SYMBOLS = [\"ethusdt\", \"SOLUSDT\"]\nEXECUTION_MAX_NOTIONAL_USDT = \"1234.5\"\n",
    );
    let s = with_file(&f, &[("EXECUTION_LEVERAGE", "20"), ("UNRELATED", "x")]).unwrap();
    assert_eq!(s.env, BybitEnv::Demo, "from the file");
    assert_eq!(s.leverage, dec!(20), "the environment wins");
    assert_eq!(s.max_notional_usdt, dec!(1234.5));
    let symbols: Vec<_> = s.symbols.iter().map(|s| s.as_str().to_owned()).collect();
    assert_eq!(symbols, ["ETHUSDT", "SOLUSDT"]);
}

// A key given twice in the file, spelt in two cases, is refused: which one counts would be
// a guess. Before, the later in the table's order won silently, so `EXECUTION_DRY_RUN =
// true` beside `execution_dry_run = false` routed live.
#[test]
fn a_key_given_twice_in_the_file_in_two_cases_is_refused() {
    let f = file("EXECUTION_DRY_RUN = true\nexecution_dry_run = false\n");
    let m = with_file(&f, &[])
        .map(|s| s.routing)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("EXECUTION_DRY_RUN")
            && m.contains("more than once")
            && m.contains(&f.path().display().to_string()),
        "{m}"
    );
    let f = file(
        "BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = \"s3cr3t-a\"\nbybit_api_secret = \"s3cr3t-b\"\n",
    );
    let m = with_file(&f, &[])
        .map(|s| s.routing)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("BYBIT_API_SECRET") && !m.contains("s3cr3t"),
        "{m}"
    );
}

#[test]
fn file_errors_name_the_file_and_the_key() {
    let f = file("BYBIT_ENVV = \"demo\"\n");
    let m = with_file(&f, &[]).unwrap_err().to_string();
    assert!(
        m.contains("unknown key \"BYBIT_ENVV\"") && m.contains("BYBIT_ENV"),
        "{m}"
    );
    let f = file("EXECUTION_LEVERAGE = 2.5\n");
    let m = with_file(&f, &[]).unwrap_err().to_string();
    assert!(
        m.contains("EXECUTION_LEVERAGE") && m.contains("as strings"),
        "{m}"
    );
    let f = file("EXECUTION_LEVERAGE = \"lots\"\n");
    let m = with_file(&f, &[]).unwrap_err().to_string();
    assert!(
        m.contains("EXECUTION_LEVERAGE") && m.contains(&f.path().display().to_string()),
        "{m}"
    );
    let m = with_file(&file("not toml ="), &[]).unwrap_err().to_string();
    assert!(m.starts_with("config file"), "{m}");
}

// Every key's value in the file must be the TOML type it expects; the refusal
// names the file, the key and the type, and never echoes the value (a secret).
#[test]
fn a_value_of_the_wrong_toml_type_is_refused_naming_file_and_key() {
    let cases = [
        (
            "BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = [\"s3cr3t-a\", \"s3cr3t-b\"]\n",
            "BYBIT_API_SECRET",
            "a TOML string",
        ),
        (
            "BYBIT_API_KEY = 123456789\nBYBIT_API_SECRET = \"s\"\n",
            "BYBIT_API_KEY",
            "a TOML string",
        ),
        ("BYBIT_REST_URL = 8080\n", "BYBIT_REST_URL", "a TOML string"),
        (
            "BYBIT_WS_PUBLIC_URL = { host = \"x\" }\n",
            "BYBIT_WS_PUBLIC_URL",
            "a TOML string",
        ),
        ("BYBIT_ENV = true\n", "BYBIT_ENV", "a TOML string"),
        (
            "EXECUTION_DRY_RUN = \"true\"\n",
            "EXECUTION_DRY_RUN",
            "a TOML boolean",
        ),
        (
            "EXECUTION_DRY_RUN = 1\n",
            "EXECUTION_DRY_RUN",
            "a TOML boolean",
        ),
        (
            "EXECUTION_POLL_INTERVAL_MS = \"3000\"\n",
            "EXECUTION_POLL_INTERVAL_MS",
            "a TOML integer",
        ),
        (
            "BYBIT_HTTP_TIMEOUT_MS = 5000.0\n",
            "BYBIT_HTTP_TIMEOUT_MS",
            "a TOML integer",
        ),
        (
            "SERVE_MAX_CONNECTIONS = [256]\n",
            "SERVE_MAX_CONNECTIONS",
            "a TOML integer",
        ),
        (
            "EXECUTION_LEVERAGE = true\n",
            "EXECUTION_LEVERAGE",
            "a TOML string",
        ),
        (
            "EXECUTION_SYMBOLS = [\"BTCUSDT\", 5]\n",
            "EXECUTION_SYMBOLS",
            "array of strings",
        ),
        (
            "EXECUTION_SYMBOLS = 5\n",
            "EXECUTION_SYMBOLS",
            "array of strings",
        ),
    ];
    for (text, key, form) in cases {
        let f = file(text);
        let m = with_file(&f, &[]).unwrap_err().to_string();
        assert!(
            m.contains(key) && m.contains(form) && m.contains(&f.path().display().to_string()),
            "{text:?}: {m}"
        );
        assert!(!m.contains("s3cr3t") && !m.contains("123456789"), "{m}");
    }
    // The forms each key does take.
    let f = file(
        "BYBIT_API_KEY = \"k\"\nBYBIT_API_SECRET = \"s\"\nEXECUTION_DRY_RUN = false\n\
         EXECUTION_POLL_INTERVAL_MS = 2500\nEXECUTION_LEVERAGE = 10\nPAPER_USDT = \"250.5\"\n\
         EXECUTION_SYMBOLS = \"BTCUSDT,ETHUSDT\"\nSERVE_MAX_CONNECTIONS = 64\n",
    );
    let s = with_file(&f, &[]).unwrap();
    assert!(s.credentials.is_some() && !s.dry_run);
    assert_eq!(s.poll_interval, Duration::from_millis(2500));
    assert_eq!(s.leverage, dec!(10));
    assert_eq!(s.paper_usdt, dec!(250.5));
    assert_eq!(s.symbols.len(), 2);
    assert_eq!(s.serve_http.max_connections, 64);
}

#[test]
fn every_bad_value_names_its_key_and_the_expected_form() {
    check_error(
        &[("BYBIT_ENV", "prod")],
        &["BYBIT_ENV", "\"prod\"", "testnet, mainnet, demo"],
    );
    check_error(
        &[("EXECUTION_DRY_RUN", "maybe")],
        &["EXECUTION_DRY_RUN", "true or false"],
    );
    check_error(
        &[("EXECUTION_ROUTING", "yolo")],
        &["EXECUTION_ROUTING", "live, dry-run, paper"],
    );
    check_error(
        &[("EXECUTION_ROUTING", "live"), ("EXECUTION_DRY_RUN", "true")],
        &["EXECUTION_ROUTING", "EXECUTION_DRY_RUN=true"],
    );
    check_error(
        &[("BYBIT_REST_URL", "api.bybit.com")],
        &["BYBIT_REST_URL", "http://"],
    );
    check_error(
        &[("BYBIT_WS_PUBLIC_URL", "https://x")],
        &["BYBIT_WS_PUBLIC_URL", "ws://"],
    );
    check_error(
        &[("BYBIT_WS_PRIVATE_URL", "ws://")],
        &["BYBIT_WS_PRIVATE_URL"],
    );
    check_error(
        &[("EXECUTION_SYMBOLS", "BTC USDT")],
        &["EXECUTION_SYMBOLS", "comma-separated"],
    );
    check_error(&[("EXECUTION_SYMBOLS", " , ")], &["EXECUTION_SYMBOLS"]);
    check_error(
        &[("EXECUTION_LEVERAGE", "0")],
        &["EXECUTION_LEVERAGE", "1 to 200"],
    );
    check_error(
        &[("EXECUTION_MIN_AVAILABLE_USDT", "-1")],
        &["EXECUTION_MIN_AVAILABLE_USDT"],
    );
    check_error(
        &[("EXECUTION_MAX_NOTIONAL_USDT", "0")],
        &["EXECUTION_MAX_NOTIONAL_USDT"],
    );
    check_error(
        &[("EXECUTION_POLL_INTERVAL_MS", "2s")],
        &["EXECUTION_POLL_INTERVAL_MS", "milliseconds"],
    );
    check_error(&[("EXECUTION_SILENCE_MS", "5")], &["EXECUTION_SILENCE_MS"]);
    check_error(&[("BYBIT_RECV_WINDOW_MS", "0")], &["BYBIT_RECV_WINDOW_MS"]);
    check_error(
        &[("BYBIT_HTTP_TIMEOUT_MS", "x")],
        &["BYBIT_HTTP_TIMEOUT_MS"],
    );
    check_error(&[("PAPER_USDT", "0")], &["PAPER_USDT"]);
    check_error(
        &[("BYBIT_MAINNET_CONFIRM", "sure")],
        &["BYBIT_MAINNET_CONFIRM", "yes"],
    );
    check_error(&[("BYBIT_API_KEY", "k")], &["BYBIT_API_SECRET is not set"]);
    check_error(&[("BYBIT_API_SECRET", "s")], &["BYBIT_API_KEY is not set"]);
}

#[test]
fn an_empty_value_is_refused_not_taken_for_unset() {
    // EXECUTION_DRY_RUN= (empty, from a compose file) must not hide the file's `true`.
    let f = file("EXECUTION_DRY_RUN = true\n");
    let m = with_file(&f, &[("EXECUTION_DRY_RUN", "")])
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("EXECUTION_DRY_RUN") && m.contains("empty value is refused"),
        "{m}"
    );
    for key in ["BYBIT_ENV", "EXECUTION_ERROR_LOG", "BYBIT_API_SECRET"] {
        let m = load(&[(key, "  ")]).unwrap_err().to_string();
        assert!(m.contains(key) && m.contains("empty"), "{m}");
    }
    let f = file("EXECUTION_JOURNAL = \"\"\n");
    let m = with_file(&f, &[]).unwrap_err().to_string();
    assert!(m.contains("EXECUTION_JOURNAL"), "{m}");
    // Unrelated variables may be empty.
    assert!(load(&[("UNRELATED", "")]).is_ok());
}

#[test]
fn dry_run_cannot_be_overridden_after_loading() {
    let mut s = load(&[("EXECUTION_DRY_RUN", "true")]).unwrap();
    assert!(s.dry_run && s.validate().is_ok());
    for routing in [Routing::Live, Routing::Paper] {
        s.set_routing(routing);
        let m = s.validate().unwrap_err().to_string();
        assert!(
            m.contains("EXECUTION_DRY_RUN") && m.contains(routing.as_str()),
            "{m}"
        );
    }
    let mut s = load(&[("EXECUTION_DRY_RUN", "false")]).unwrap();
    s.set_routing(Routing::Paper);
    assert!(s.validate().is_ok());
}

#[test]
fn mainnet_needs_the_opt_in() {
    assert_eq!(
        load(&[("BYBIT_ENV", "mainnet")]).unwrap_err(),
        ConfigError::MainnetNotConfirmed
    );
    assert_eq!(
        load(&[("BYBIT_ENV", "mainnet"), ("BYBIT_MAINNET_CONFIRM", "no")]).unwrap_err(),
        ConfigError::MainnetNotConfirmed
    );
    let s = load(&[("BYBIT_ENV", "MAINNET"), ("BYBIT_MAINNET_CONFIRM", "yes")]).unwrap();
    assert_eq!(s.env, BybitEnv::Mainnet);
    assert_eq!(s.rest_url, "https://api.bybit.com");
    let args = ConfigArgs {
        config: None,
        confirm_mainnet: true,
    };
    let s = Settings::from_sources(env(&[("BYBIT_ENV", "mainnet")]), &args).unwrap();
    assert!(s.mainnet_confirmed);
}

#[test]
fn mainnet_hosts_need_mainnet_confirmed_and_real_hosts_need_tls() {
    // R-CFG-5: BYBIT_ENV unset (testnet) but the URL on mainnet is refused.
    for (key, url) in [
        ("BYBIT_REST_URL", "https://api.bybit.com"),
        ("BYBIT_REST_URL", "https://API.BYTICK.COM/"),
        ("BYBIT_REST_URL", "https://api.bybit.eu"),
        ("BYBIT_WS_PRIVATE_URL", "wss://stream.bybit.com/v5/private"),
    ] {
        let m = load(&[(key, url)]).unwrap_err().to_string();
        assert!(m.contains(key) && m.contains("mainnet"), "{m}");
        let m = load(&[("BYBIT_ENV", "demo"), (key, url)])
            .unwrap_err()
            .to_string();
        assert!(m.contains(key), "{m}");
    }
    // Confirmed mainnet may; testnet and demo hosts are not mainnet.
    assert!(load(&[
        ("BYBIT_ENV", "mainnet"),
        ("BYBIT_MAINNET_CONFIRM", "yes"),
        ("BYBIT_REST_URL", "https://api.bytick.com"),
    ])
    .is_ok());
    assert!(!is_mainnet_host("api-testnet.bybit.com"));
    assert!(!is_mainnet_host("stream-demo.bybit.com"));
    assert!(!is_mainnet_host("notbybit.com"));
    // Plain http / ws only to loopback.
    let m = load(&[("BYBIT_REST_URL", "http://api-testnet.bybit.com")])
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("BYBIT_REST_URL") && m.contains("https://"),
        "{m}"
    );
    let m = load(&[("BYBIT_WS_PUBLIC_URL", "ws://example.org/v5/public/linear")])
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("BYBIT_WS_PUBLIC_URL") && m.contains("wss://"),
        "{m}"
    );
    for rest in ["http://localhost:9", "http://[::1]:9"] {
        assert!(load(&[
            ("BYBIT_REST_URL", rest),
            ("BYBIT_WS_PUBLIC_URL", "ws://localhost:9/v5/public/linear"),
            ("BYBIT_WS_PRIVATE_URL", "ws://[::1]:9/v5/private"),
        ])
        .is_ok());
    }
    // Hand-built settings are held to the same rules.
    let mut s = Settings::for_emulator("http://127.0.0.1:1", "k", "s").unwrap();
    s.rest_url = "https://api.bybit.com".to_owned();
    assert!(s.validate().unwrap_err().to_string().contains("mainnet"));
    // The emulator is on loopback only.
    assert!(Settings::for_emulator("http://api.bybit.com", "k", "s").is_err());
    assert!(Settings::for_emulator("http://10.0.0.5:80", "k", "s").is_err());
    assert!(Settings::for_emulator("http://localhost:80", "k", "s").is_ok());
}

#[test]
fn validate_holds_hand_built_settings_to_the_same_rules() {
    let mut s = Settings::for_emulator("http://127.0.0.1:1", "k", "s").unwrap();
    assert!(s.validate().is_ok());
    s.env = BybitEnv::Mainnet;
    assert_eq!(s.validate().unwrap_err(), ConfigError::MainnetNotConfirmed);
    s.mainnet_confirmed = true;
    assert!(s.validate().is_ok());
    s.credentials = None;
    assert!(s
        .validate()
        .unwrap_err()
        .to_string()
        .contains("BYBIT_API_KEY"));
    s.routing = Routing::Paper;
    assert!(s.validate().is_ok());
}

#[test]
fn secrets_are_never_printed() {
    let key = "KEY1234567890ABCD";
    let secret = "SECRET0987654321xyz";
    let s = load(&[("BYBIT_API_KEY", key), ("BYBIT_API_SECRET", secret)]).unwrap();
    assert!(s.credentials.is_some());
    let debug = format!("{s:?}");
    assert!(!debug.contains(key) && !debug.contains(secret), "{debug}");
    assert!(debug.contains("[REDACTED]"));
    // A bad key's error names the key, not its value.
    let m = load(&[("BYBIT_API_KEY", "bad key"), ("BYBIT_API_SECRET", secret)])
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("BYBIT_API_KEY") && !m.contains("bad key") && !m.contains(secret),
        "{m}"
    );
    let e = Settings::for_emulator("http://127.0.0.1:1", key, secret).unwrap();
    let debug = format!("{e:?}");
    assert!(!debug.contains(key) && !debug.contains(secret), "{debug}");
}

#[test]
fn routing_from_dry_run_and_routing_keys() {
    assert_eq!(
        load(&[("EXECUTION_DRY_RUN", "true")]).unwrap().routing,
        Routing::DryRun
    );
    assert_eq!(
        load(&[("EXECUTION_DRY_RUN", "false")]).unwrap().routing,
        Routing::Live
    );
    assert_eq!(
        load(&[("EXECUTION_ROUTING", "paper")]).unwrap().routing,
        Routing::Paper
    );
    assert_eq!(
        load(&[("EXECUTION_JOURNAL", ":memory:")]).unwrap().journal,
        JournalLocation::Memory
    );
    assert_eq!(
        load(&[("EXECUTION_ERROR_LOG", "none")]).unwrap().error_log,
        None
    );
}

#[test]
fn url_overrides_carry_public_data_with_them() {
    let s = load(&[
        ("BYBIT_ENV", "demo"),
        ("BYBIT_REST_URL", "http://127.0.0.1:9/"),
        ("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:9/v5/public/linear"),
        ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9/v5/private"),
    ])
    .unwrap();
    assert_eq!(s.rest_url, "http://127.0.0.1:9");
    assert_eq!(s.public_rest_url, "http://127.0.0.1:9");
}

#[test]
fn demo_refuses_what_it_lacks() {
    // REFERENCE.md §1 (docs/v5/demo.mdx): no WS order entry, fee rate or execution.fast.
    let demo = load(&[("BYBIT_ENV", "demo")]).unwrap();
    for f in [
        Feature::WsOrderEntry,
        Feature::FeeRate,
        Feature::ExecutionFast,
    ] {
        let m = demo.require(f).unwrap_err().to_string();
        assert!(
            m.contains("BYBIT_ENV=demo") && m.contains(f.describe()),
            "{m}"
        );
    }
    let testnet = load(&[]).unwrap();
    assert!(testnet.require(Feature::FeeRate).is_ok());
    assert!(testnet.notices()[0].contains("thin"));
    assert!(demo.notices()[0].contains("mainnet"));
}

#[test]
fn emulator_settings_derive_the_stream_urls() {
    let s = Settings::for_emulator("http://127.0.0.1:4567/", "k", "s").unwrap();
    assert_eq!(s.rest_url, "http://127.0.0.1:4567");
    assert_eq!(s.ws_public_url, "ws://127.0.0.1:4567/v5/public/linear");
    assert_eq!(s.ws_private_url, "ws://127.0.0.1:4567/v5/private");
    assert_eq!(s.journal, JournalLocation::Memory);
    assert!(Settings::for_emulator("https://x", "k", "s").is_err());
    assert!(s.require_credentials("live routing").is_ok());
    let m = load(&[])
        .unwrap()
        .require_credentials("live routing")
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("BYBIT_API_KEY") && m.contains("live routing"),
        "{m}"
    );
}

#[test]
fn book_depth_is_off_by_default_and_only_a_depth_the_stream_serves() {
    assert_eq!(load(&[]).unwrap().book_depth, 0);
    assert_eq!(
        load(&[("EXECUTION_BOOK_DEPTH", "50")]).unwrap().book_depth,
        50
    );
    assert_eq!(
        load(&[("EXECUTION_BOOK_DEPTH", "0")]).unwrap().book_depth,
        0
    );
    for refused in ["49", "500", "1001", "-1", "fifty"] {
        check_error(
            &[("EXECUTION_BOOK_DEPTH", refused)],
            &["EXECUTION_BOOK_DEPTH"],
        );
    }
}

#[test]
fn the_order_entry_stream_sits_beside_the_private_one_and_demo_has_none() {
    // REFERENCE.md §11: `/v5/trade` on the private stream's host; demo has no WS order entry.
    let testnet = load(&[]).unwrap();
    assert_eq!(
        testnet.ws_trade_url.as_deref(),
        Some("wss://stream-testnet.bybit.com/v5/trade")
    );
    assert_eq!(testnet.order_path, exec_live::OrderPath::Auto);
    let local = load(&[
        ("BYBIT_REST_URL", "http://127.0.0.1:9"),
        ("BYBIT_WS_PUBLIC_URL", "ws://127.0.0.1:9/v5/public/linear"),
        ("BYBIT_WS_PRIVATE_URL", "ws://127.0.0.1:9/v5/private"),
    ])
    .unwrap();
    assert_eq!(
        local.ws_trade_url.as_deref(),
        Some("ws://127.0.0.1:9/v5/trade")
    );
    let emulator = Settings::for_emulator("http://127.0.0.1:4567/", "k", "s").unwrap();
    assert_eq!(
        emulator.ws_trade_url.as_deref(),
        Some("ws://127.0.0.1:4567/v5/trade")
    );
    let demo = load(&[("BYBIT_ENV", "demo")]).unwrap();
    assert_eq!(demo.ws_trade_url, None);
    // Orders over the stream only: refused where there is none.
    let m = load(&[
        ("BYBIT_ENV", "demo"),
        ("EXECUTION_ORDER_PATH", "ws"),
        ("BYBIT_API_KEY", "k"),
        ("BYBIT_API_SECRET", "s"),
    ])
    .and_then(|s| s.validate())
    .unwrap_err()
    .to_string();
    assert!(m.contains("BYBIT_ENV=demo"), "{m}");
    assert!(load(&[("EXECUTION_ORDER_PATH", "fix")]).is_err());
    let rest = load(&[("EXECUTION_ORDER_PATH", "REST")]).unwrap();
    assert_eq!(rest.order_path, exec_live::OrderPath::Rest);
    // A mainnet order-entry host is real money: refused without the mainnet opt-in.
    let m = load(&[("BYBIT_WS_TRADE_URL", "wss://stream.bybit.com/v5/trade")])
        .unwrap_err()
        .to_string();
    assert!(m.contains("BYBIT_WS_TRADE_URL"), "{m}");
}
