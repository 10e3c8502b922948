//! Hardening found by hostile clients: strict decimals, HTTP 401 for a bad key,
//! empty reads for categories the emulator does not trade, and the exposure checks.

use std::time::Duration;

use bybit_emulator::Emulator;
use bybit_sign::Credentials;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{start_with, Client, Reply, SECRET};

/// A market order for `qty` ETHUSDT; rate limits are off in these tests, so many fit a second.
fn market(qty: &str) -> Value {
    json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": qty})
}

/// The orders and fills the engine holds, from the control API.
async fn orders_and_fills(c: &Client) -> (usize, usize) {
    let state = c.state().await;
    let count = |name: &str| state[name].as_array().map_or(0, Vec::len);
    (
        count("openOrders") + count("closedOrders"),
        count("executions"),
    )
}

// Bybit docs v5/order/create-order: `qty` and `price` are strings holding a plain decimal.
#[tokio::test]
async fn a_quantity_or_price_not_in_plain_decimal_form_is_10001_and_places_nothing() {
    let emu = start_with(|c| c.rate_limits = false).await;
    let c = Client::new(&emu);
    let before = orders_and_fills(&c).await;
    let too_precise = format!("0.{}1", "0".repeat(28));
    let bad_qty = [
        "1_000", "1_0", "1e3", "+0.001", ".5", "5.", " 1", "1 ", "-0", "-1", "0x1",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([too_precise.clone(), "9".repeat(40)]);
    for qty in bad_qty {
        let reply = c.post("/v5/order/create", &market(&qty)).await;
        assert_eq!(reply.ret_code(), 10001, "qty {qty:?}: {}", reply.body);
        let msg = reply.body["retMsg"].as_str().unwrap();
        assert!(msg.contains("qty invalid"), "qty {qty:?}: {msg}");
    }
    for price in ["1_800", "1.8e3", "+1800", "1800.", " 1800", &too_precise] {
        let order = json!({"category": "linear", "symbol": "ETHUSDT", "side": "Buy",
            "orderType": "Limit", "qty": "0.1", "price": price, "timeInForce": "GTC"});
        let reply = c.post("/v5/order/create", &order).await;
        assert_eq!(reply.ret_code(), 10001, "price {price:?}: {}", reply.body);
    }
    // The same grammar on amend, trading-stop and leverage.
    let amend =
        json!({"category": "linear", "symbol": "ETHUSDT", "orderLinkId": "x", "qty": "1_0"});
    assert_eq!(c.post("/v5/order/amend", &amend).await.ret_code(), 10001);
    let stop = json!({"category": "linear", "symbol": "ETHUSDT", "takeProfit": "2_000"});
    assert_eq!(
        c.post("/v5/position/trading-stop", &stop).await.ret_code(),
        10001
    );
    let leverage = json!({"category": "linear", "symbol": "ETHUSDT", "buyLeverage": "1_0", "sellLeverage": "10"});
    assert_eq!(
        c.post("/v5/position/set-leverage", &leverage)
            .await
            .ret_code(),
        10001
    );
    // Integers alike: std's parser takes "+5", Bybit documents plain integers.
    for query in ["limit=%2B5", "limit=+5", "limit=5_0", "limit=5.0"] {
        let reply = c
            .get("/v5/order/history", &format!("category=linear&{query}"))
            .await;
        assert_eq!(reply.ret_code(), 10001, "{query}: {}", reply.body);
    }
    // A JSON number where Bybit documents a string is refused, as Bybit refuses it.
    for qty in [json!(1), json!(0.1), json!(1e3)] {
        let mut order = market("0");
        order["qty"] = qty.clone();
        let reply = c.post("/v5/order/create", &order).await;
        assert_eq!(reply.ret_code(), 10001, "qty {qty}: {}", reply.body);
    }
    let mut idx = market("0.1");
    idx["positionIdx"] = json!("+0");
    assert_eq!(c.post("/v5/order/create", &idx).await.ret_code(), 10001);
    assert_eq!(
        orders_and_fills(&c).await,
        before,
        "nothing was placed or filled"
    );

    // Plain text still works, leading zeros and trailing fractional zeros included.
    for qty in ["0.10", "00.1", "1"] {
        let reply = c.post("/v5/order/create", &market(qty)).await;
        assert_eq!(reply.ret_code(), 0, "qty {qty:?}: {}", reply.body);
    }
    let state = c.state().await;
    let position = state["positions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["symbol"] == "ETHUSDT")
        .unwrap();
    assert_eq!(position["size"], "1.20", "{position}");
}

/// Checks `reply` is Bybit's envelope for a bad key: HTTP 401, retCode 10003, `result` `{}`.
fn check_invalid_key(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.body["retCode"], 10003, "{what}");
    assert_eq!(reply.body["retMsg"], "API key is invalid.", "{what}");
    assert_eq!(reply.body["result"], json!({}), "{what}");
    assert_eq!(reply.body["retExtInfo"], json!({}), "{what}");
    assert!(reply.body["time"].as_i64().is_some(), "{what}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{what}"
    );
}

// Bybit docs v5/error, "HTTP Code": 401 = "Need to use the correct key to access; Need to put
// authentication params in the request header". 10004 and 10006 stay business errors (200).
#[tokio::test]
async fn a_missing_or_unknown_key_is_http_401_and_bad_signatures_and_limits_stay_200() {
    let emu = start_with(|_| {}).await;
    let c = Client::new(&emu);
    let url = format!("{}/v5/position/list?category=linear&symbol=ETHUSDT", c.base);
    let bare = c.http.get(&url).send().await.unwrap();
    check_invalid_key(&Client::read(bare).await, "GET without any auth header");
    let post = c
        .http
        .post(format!("{}/v5/order/create", c.base))
        .body(market("0.1").to_string())
        .send()
        .await
        .unwrap();
    check_invalid_key(&Client::read(post).await, "POST without any auth header");

    // Correctly signed, but with a key the exchange does not know.
    let stranger = Client {
        creds: Credentials::new("someone-else", SECRET).unwrap(),
        ..Client::new(&emu)
    };
    check_invalid_key(
        &stranger
            .get("/v5/account/wallet-balance", "accountType=UNIFIED")
            .await,
        "unknown key, GET",
    );
    check_invalid_key(
        &stranger.post("/v5/order/create", &market("0.1")).await,
        "unknown key, POST",
    );

    let forger = Client::with_secret(&emu, "not-the-secret");
    let forged = forger.post("/v5/order/create", &market("0.1")).await;
    assert_eq!((forged.status, forged.ret_code()), (StatusCode::OK, 10004));

    // set-margin-mode allows 5 a second (docs v5/rate-limit): the refusal is a 200 with 10006.
    let mut limited = None;
    let unchanged = json!({"setMarginMode": "REGULAR_MARGIN"});
    for _ in 0..30 {
        let reply = c.post("/v5/account/set-margin-mode", &unchanged).await;
        if reply.ret_code() == 10006 {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("set-margin-mode was never rate limited");
    assert_eq!(
        (limited.status, limited.ret_code()),
        (StatusCode::OK, 10006)
    );
    assert_eq!(
        c.state().await["openOrders"],
        json!([]),
        "nothing was placed"
    );
}

// Bybit docs v5/order/open-order, order-list, execution, position/position, market/tickers,
// market/instrument, account/fee-rate: each reply's shape with nothing in it. Clients such as
// ccxt read every category at start; an empty account there is not an error.
#[tokio::test]
async fn reads_in_untraded_categories_are_empty_and_writes_there_are_refused() {
    let emu = start_with(|c| c.rate_limits = false).await;
    let c = Client::new(&emu);
    // Something in linear, so an empty answer elsewhere is not just an empty account.
    assert_eq!(
        c.post("/v5/order/create", &market("0.1")).await.ret_code(),
        0
    );
    for category in ["inverse", "spot", "option"] {
        let paged = json!({"category": category, "list": [], "nextPageCursor": ""});
        for (path, query) in [
            ("/v5/order/realtime", format!("category={category}")),
            (
                "/v5/order/realtime",
                format!("category={category}&openOnly=1"),
            ),
            ("/v5/order/history", format!("category={category}")),
            (
                "/v5/execution/list",
                format!("category={category}&limit=10"),
            ),
        ] {
            let reply = c.get(path, &query).await;
            assert_eq!(reply.ret_code(), 0, "{path}?{query}: {}", reply.body);
            assert_eq!(reply.body["result"], paged, "{path}?{query}");
        }
        let bad_limit = c
            .get(
                "/v5/order/history",
                &format!("category={category}&limit=51"),
            )
            .await;
        assert_eq!(
            bad_limit.ret_code(),
            10001,
            "limit is checked as for linear"
        );
        let info = c
            .public(
                "/v5/market/instruments-info",
                &format!("category={category}"),
            )
            .await;
        assert_eq!(info.body["result"], paged, "instruments-info {category}");
        let tickers = c
            .public("/v5/market/tickers", &format!("category={category}"))
            .await;
        assert_eq!(
            tickers.body["result"],
            json!({"category": category, "list": []}),
            "tickers {category}"
        );
        let one = c
            .public(
                "/v5/market/tickers",
                &format!("category={category}&symbol=BTCUSD"),
            )
            .await;
        assert_eq!(one.ret_code(), 10001, "a symbol no one lists there");
        let fees = c
            .get("/v5/account/fee-rate", &format!("category={category}"))
            .await;
        assert_eq!(fees.ret_code(), 0, "{}", fees.body);
        assert_eq!(fees.body["result"]["list"], json!([]));
        // Only spot and option replies carry `category` (docs v5/account/fee-rate).
        assert_eq!(
            fees.body["result"].get("category").is_some(),
            category != "inverse"
        );

        // Writes stay refused, saying why.
        let mut order = market("0.1");
        order["category"] = json!(category);
        let create = c.post("/v5/order/create", &order).await;
        assert_eq!(create.ret_code(), 10001);
        let msg = create.body["retMsg"].as_str().unwrap();
        assert!(msg.contains(category) && msg.contains("linear"), "{msg}");
        let leverage = json!({"category": category, "symbol": "BTCUSD", "buyLeverage": "5", "sellLeverage": "5"});
        assert_eq!(
            c.post("/v5/position/set-leverage", &leverage)
                .await
                .ret_code(),
            10001
        );
        let cancel_all = json!({"category": category});
        assert_eq!(
            c.post("/v5/order/cancel-all", &cancel_all).await.ret_code(),
            10001
        );
    }
    // Positions: linear, inverse and option exist there; spot has no positions at all.
    for category in ["inverse", "option"] {
        let reply = c
            .get("/v5/position/list", &format!("category={category}"))
            .await;
        assert_eq!(
            reply.body["result"],
            json!({"category": category, "list": [], "nextPageCursor": ""}),
            "position/list {category}"
        );
    }
    assert_eq!(
        c.get("/v5/position/list", "category=spot").await.ret_code(),
        10001
    );
    // A category Bybit does not have is still 10001, and linear is untouched.
    assert_eq!(
        c.get("/v5/order/realtime", "category=futures")
            .await
            .ret_code(),
        10001
    );
    let linear = c
        .get("/v5/position/list", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(linear.body["result"]["list"][0]["size"], "0.1");
    let fees = c
        .get("/v5/account/fee-rate", "category=linear&symbol=ETHUSDT")
        .await;
    assert_eq!(fees.body["result"]["list"][0]["symbol"], "ETHUSDT");
    assert!(
        fees.body["result"].get("category").is_none(),
        "derivatives have no category"
    );
    assert_eq!(
        c.state().await["openOrders"],
        json!([]),
        "the market order filled, nothing else placed"
    );
}

/// Sends `head` (a request head, no body) on a fresh connection and returns the status and
/// the JSON body of the answer.
async fn raw_request(emu: &Emulator, head: &[u8]) -> (u16, Value) {
    raw_request_to(&emu.addr().to_string(), head).await
}

/// [`raw_request`] to an address.
async fn raw_request_to(addr: &str, head: &[u8]) -> (u16, Value) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    // The server may answer and close before reading all of an oversized head, so the head is
    // written beside the read: a write that stalls or fails is not the test's business.
    let head = head.to_vec();
    // The task hands the write half back rather than dropping it: dropping it would send a
    // FIN, and hyper may close a connection whose client has finished before it answers.
    let writer = tokio::spawn(async move {
        let written = write.write_all(&head).await;
        (written, write)
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer))
        .await
        .expect("no answer within 10 s");
    writer.abort();
    // Closing with unread request bytes makes the server's kernel reset the connection; the
    // answer that came before the reset has been read all the same.
    if let Err(e) = read {
        assert!(!answer.is_empty(), "no answer before {e}");
    }
    let text = String::from_utf8(answer).unwrap();
    let status = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (status, body)
}

fn check_envelope_10001(body: &Value, what: &str) {
    assert_eq!(body["retCode"], 10001, "{what}: {body}");
    assert!(
        body["retMsg"].as_str().unwrap().starts_with("params error"),
        "{what}"
    );
    assert_eq!(body["result"], json!({}), "{what}");
    assert!(body["time"].as_i64().is_some(), "{what}");
}

// Requests hyper refuses before any handler runs still get Bybit's envelope (docs v5/guide,
// "Common response parameters"), with the HTTP status that says what was wrong.
#[tokio::test]
async fn oversized_uris_and_headers_get_the_envelope_not_a_bare_status() {
    let emu = start_with(|_| {}).await;
    let long_query = "a".repeat(70_000);
    let head = format!("GET /v5/market/time?x={long_query} HTTP/1.1\r\nhost: x\r\n\r\n");
    let (status, body) = raw_request(&emu, head.as_bytes()).await;
    assert_eq!(status, 414);
    check_envelope_10001(&body, "URI of 70 kB");

    let many: String = (0..150).map(|i| format!("x-h{i}: v\r\n")).collect();
    let head = format!("GET /v5/market/time HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    let (status, body) = raw_request(&emu, head.as_bytes()).await;
    assert_eq!(status, 431);
    check_envelope_10001(&body, "150 headers");

    // hyper checks its ~400 KiB head limit only between reads, so a head not far above it can
    // still arrive whole in one read and be served; 4 MB cannot, however the reads fall.
    let big = "v".repeat(4_000_000);
    let head = format!("GET /v5/market/time HTTP/1.1\r\nhost: x\r\nx-big: {big}\r\n\r\n");
    let (status, body) = raw_request(&emu, head.as_bytes()).await;
    assert_eq!(status, 431);
    check_envelope_10001(&body, "a 4 MB header");

    let head = "GET /v5/market/time HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n";
    let (status, body) = raw_request(&emu, head.as_bytes()).await;
    assert_eq!(status, 400);
    check_envelope_10001(&body, "a header without a colon");

    // An ordinary request is untouched, on the same server.
    let head = "GET /v5/market/time HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let (status, body) = raw_request(&emu, head.as_bytes()).await;
    assert_eq!((status, body["retCode"].as_i64()), (200, Some(0)));
}

#[test]
fn the_default_secret_stays_on_loopback() {
    use bybit_emulator::{check_exposure, ExposureError, DEFAULT_API_SECRET};
    for listen in ["127.0.0.1:0", "127.0.0.2:8080", "[::1]:0", "localhost:0"] {
        assert_eq!(
            check_exposure(listen, DEFAULT_API_SECRET),
            Ok(()),
            "{listen}"
        );
    }
    for listen in ["0.0.0.0:0", "[::]:0", "192.168.1.10:80", "10.0.0.1:0"] {
        let err = check_exposure(listen, DEFAULT_API_SECRET).unwrap_err();
        assert!(
            matches!(err, ExposureError::DefaultSecretOffLoopback { .. }),
            "{listen}"
        );
        // A secret of one's own is the user's decision to expose it.
        assert_eq!(check_exposure(listen, "my-own-secret"), Ok(()), "{listen}");
    }
}

#[test]
fn the_binary_refuses_a_non_loopback_listen_with_the_default_secret_and_says_why() {
    // 192.0.2.1 (TEST-NET-1) is not this machine's, so even a broken check could not expose
    // anything: the bind would fail instead, with a different message.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bybit-emulator"))
        .args(["--listen", "192.0.2.1:0"])
        .env_remove("BYBIT_EMULATOR_API_KEY")
        .env_remove("BYBIT_EMULATOR_API_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for_exit(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("refusing to listen on 192.0.2.1:0")
            && stderr.contains("default API secret")
            && stderr.contains("--api-secret")
            && !stderr.contains(bybit_emulator::DEFAULT_API_SECRET),
        "{stderr}"
    );
}

/// Waits for `child` to exit, polling under a deadline; kills it and fails past the deadline.
fn wait_for_exit(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the emulator did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client that sends half a request and then nothing must not keep the binary alive after
/// SIGINT or SIGTERM: the stop is bounded.
#[tokio::test]
async fn the_binary_stops_on_sigint_and_sigterm_even_with_a_half_sent_request() {
    for signal in ["-INT", "-TERM"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bybit-emulator"))
            .args(["--listen", "127.0.0.1:0", "--api-secret", "s"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
            line
        });
        let line = tokio::time::timeout(Duration::from_secs(30), line)
            .await
            .expect("no 'listening on' line")
            .unwrap();
        let addr = line
            .trim_end()
            .strip_prefix("listening on http://")
            .unwrap()
            .to_owned();
        let mut stuck = TcpStream::connect(&addr).await.unwrap();
        stuck
            .write_all(b"GET /v5/market/time HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        // Connections are accepted in order, so the stuck one is held once this is answered.
        let (status, _) = raw_request_to(
            &addr,
            b"GET /v5/market/time HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(status, 200);
        let sent = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = wait_for_exit(&mut child, Duration::from_secs(15));
        assert!(status.success(), "{signal}: {status:?}");
        drop(stuck);
    }
}
