//! The private stream: auth, then `order`, `execution`, `execution.fast`, `position` and
//! `wallet` pushed whenever the engine changes them (REFERENCE.md §5, §7).
//!
//! Private topics are events, not state: Bybit sends no snapshot on subscribe (a client seeds
//! from REST), so each engine event of a subscribed kind becomes one record of a push. The
//! engine's records are the REST shapes; the stream carries a few more fields (and calls the
//! entry price `entryPrice`), which are filled in here so that a push has the field set Bybit's
//! pushes have.

use bybit_types::rest::account::WalletAccount;
use bybit_types::rest::execution::{Execution, ExtraFees, FastExecution};
use bybit_types::rest::order::Order;
use bybit_types::rest::position::Position;
use bybit_types::ws::op::StreamReply;
use bybit_types::ws::private::PrivateMessage;
use bybit_types::ExecType;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sim_engine::EngineEvent;

use super::session::{already_subscribed, topic_args, Outbox, Request, Session};
use crate::app::Batch;
use crate::AppState;

/// The reply to an auth with unusable arguments or an expiry in the past, as Bybit words it.
const PARAMS_ERROR: &str = "Params Error";

/// Categories a categorised topic (`order.linear`, ...) may name. The engine trades only
/// linear contracts, so the others are accepted, as Bybit accepts them, and stay silent.
const CATEGORIES: [&str; 4] = ["linear", "inverse", "spot", "option"];

/// What a private topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Order,
    Execution,
    FastExecution,
    Position,
    Wallet,
}

/// One private topic as subscribed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Topic {
    /// The name the client used, which its pushes carry.
    name: String,
    kind: Kind,
    /// The category of a categorised topic; `None` for the all-in-one form.
    category: Option<String>,
}

impl Topic {
    /// Reads a topic name; `None` when no handler exists for it.
    fn parse(name: &str) -> Option<Topic> {
        // `execution.fast` is tried before `execution`, whose name is its prefix.
        let (kind, rest) = [
            ("execution.fast", Kind::FastExecution),
            ("execution", Kind::Execution),
            ("order", Kind::Order),
            ("position", Kind::Position),
            ("wallet", Kind::Wallet),
        ]
        .into_iter()
        .find_map(|(prefix, kind)| name.strip_prefix(prefix).map(|rest| (kind, rest)))?;
        let category = match rest.strip_prefix('.') {
            None if rest.is_empty() => None,
            // The wallet is account-wide: it has no categorised form.
            Some(category) if kind != Kind::Wallet && CATEGORIES.contains(&category) => {
                Some(category.to_owned())
            }
            _ => return None,
        };
        Some(Topic {
            name: name.to_owned(),
            kind,
            category,
        })
    }

    /// Whether a record of this topic's kind belongs on it.
    fn carries(&self, record: &Value) -> bool {
        let Some(category) = &self.category else {
            return true;
        };
        // The engine's records are all linear; one without a category is linear too.
        let record_category = record
            .get("category")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .unwrap_or("linear");
        record_category == category
    }
}

/// One `/v5/private` connection.
#[derive(Debug)]
pub(super) struct PrivateSession {
    conn_id: String,
    authed: bool,
    topics: Vec<Topic>,
    /// Pushes sent, for unique message ids.
    pushes: u64,
}

impl PrivateSession {
    pub(super) fn new(conn_id: String) -> Self {
        PrivateSession {
            conn_id,
            authed: false,
            topics: Vec::new(),
            pushes: 0,
        }
    }

    fn answer(&self, request: &Request, result: Result<(), String>, out: &mut Outbox) {
        self.answer_op(&request.op, request.req_id.as_deref(), result, out);
    }

    fn answer_op(
        &self,
        op: &str,
        req_id: Option<&str>,
        result: Result<(), String>,
        out: &mut Outbox,
    ) {
        let reply = match result {
            Ok(()) => self.reply(Some(op), req_id, true, ""),
            Err(reason) => self.reply(Some(op), req_id, false, &reason),
        };
        out.push(&reply);
    }

    fn auth(&mut self, state: &AppState, request: &Request) -> Result<(), String> {
        if self.authed {
            return Err("Repeat auth".to_owned());
        }
        check_auth(state, &request.args).map_err(|refusal| {
            match refusal {
                AuthRefusal::Params => PARAMS_ERROR,
                AuthRefusal::Key => "Invalid apikey",
                AuthRefusal::Sign => "Signature verification failed",
            }
            .to_owned()
        })?;
        self.authed = true;
        Ok(())
    }

    /// Subscribes all the request's topics or none.
    fn subscribe(&mut self, request: &Request) -> Result<(), String> {
        let topics = self.topics(request)?;
        // Bybit refuses the all-in-one and categorised forms of the same topics in one request
        // (REFERENCE.md §5); the wallet has only one form and mixes with either.
        let categorised = |t: &&Topic| t.kind != Kind::Wallet && t.category.is_some();
        let all_in_one = |t: &&Topic| t.kind != Kind::Wallet && t.category.is_none();
        if topics.iter().any(|t| categorised(&t)) && topics.iter().any(|t| all_in_one(&t)) {
            return Err(
                "error:all-in-one and categorised topics cannot be mixed in one request".to_owned(),
            );
        }
        // A topic the connection already has is refused by name (Bybit's
        // `error:already subscribed,topic:…`); the request's other topics are subscribed.
        let mut already = Vec::new();
        for topic in topics {
            if self.topics.contains(&topic) {
                already.push(topic.name.clone());
            } else {
                self.topics.push(topic);
            }
        }
        if already.is_empty() {
            Ok(())
        } else {
            Err(already_subscribed(&already))
        }
    }

    fn unsubscribe(&mut self, request: &Request) -> Result<(), String> {
        let topics = self.topics(request)?;
        self.topics.retain(|t| !topics.contains(t));
        Ok(())
    }

    /// The topics of a subscribe or unsubscribe request, or the reason to refuse it whole.
    fn topics(&self, request: &Request) -> Result<Vec<Topic>, String> {
        if !self.authed {
            return Err("Request not authorized".to_owned());
        }
        let names =
            topic_args(&request.args).ok_or_else(|| "error:args must be topic names".to_owned())?;
        if names.is_empty() {
            return Err("error:args must name at least one topic".to_owned());
        }
        let mut topics = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match Topic::parse(name) {
                Some(topic) => topics.push(topic),
                None => unknown.push(name),
            }
        }
        if unknown.is_empty() {
            Ok(topics)
        } else {
            Err(format!(
                "error:handler not found,topic:{}",
                unknown.join(",")
            ))
        }
    }

    fn wants(&self, kind: Kind) -> bool {
        self.topics.iter().any(|t| t.kind == kind)
    }

    fn push(&mut self, kind: Kind, records: &[Value], now: i64, out: &mut Outbox) {
        if records.is_empty() {
            return;
        }
        for index in 0..self.topics.len() {
            let Some(topic) = self.topics.get(index).filter(|t| t.kind == kind) else {
                continue;
            };
            let data: Vec<&Value> = records.iter().filter(|r| topic.carries(r)).collect();
            if data.is_empty() {
                continue;
            }
            let name = topic.name.clone();
            // `execution.fast` pushes carry no id on Bybit.
            let id = (kind != Kind::FastExecution).then(|| self.next_id());
            out.push(&PrivateMessage {
                id,
                topic: name,
                creation_time: now,
                data,
            });
        }
    }

    fn next_id(&mut self) -> String {
        self.pushes += 1;
        format!("{}-{:x}", self.conn_id, self.pushes)
    }
}

impl Session for PrivateSession {
    type Reply = StreamReply;

    fn reply(
        &self,
        op: Option<&str>,
        req_id: Option<&str>,
        success: bool,
        ret_msg: &str,
    ) -> StreamReply {
        StreamReply {
            success: Some(success),
            ret_msg: Some(ret_msg.to_owned()),
            conn_id: Some(self.conn_id.clone()),
            req_id: req_id.map(str::to_owned),
            op: op.map(str::to_owned),
            ..StreamReply::default()
        }
    }

    fn on_request(&mut self, state: &AppState, request: Request, out: &mut Outbox) {
        match request.op.as_str() {
            // The private stream's pong carries the server time and no success flag, and is
            // allowed before auth (a client keeps the socket alive while it signs).
            "ping" => out.push(&StreamReply {
                req_id: request.req_id.clone(),
                op: Some("pong".to_owned()),
                args: Some(vec![Value::String(state.clock.now_ms().to_string())]),
                conn_id: Some(self.conn_id.clone()),
                ..StreamReply::default()
            }),
            "auth" => {
                let result = self.auth(state, &request);
                self.answer(&request, result, out);
            }
            // docs/v5/websocket/wss-authentication.mdx, "Understanding the Subscription
            // Response", private tab: the reply carries no `req_id`, whatever the request had.
            "subscribe" => {
                let result = self.subscribe(&request);
                self.answer_op(&request.op, None, result, out);
            }
            "unsubscribe" => {
                let result = self.unsubscribe(&request);
                self.answer_op(&request.op, None, result, out);
            }
            other => {
                let reason = format!("error:handler not found,op:{other}");
                self.answer(&request, Err(reason), out);
            }
        }
    }

    fn on_events(&mut self, state: &AppState, steps: &[Batch], out: &mut Outbox) {
        if !self.authed || self.topics.is_empty() {
            return;
        }
        let mut orders = Vec::new();
        let mut executions = Vec::new();
        let mut fast = Vec::new();
        let mut positions = Vec::new();
        let mut wallets = Vec::new();
        for event in steps.iter().flat_map(|step| step.iter()) {
            match event {
                EngineEvent::Order(order) if self.wants(Kind::Order) => {
                    orders.extend(record(&order_record(order)));
                }
                EngineEvent::Execution(execution) => {
                    if self.wants(Kind::Execution) {
                        executions.extend(record(&execution_record(execution)));
                    }
                    let is_trade = matches!(execution.exec_type, None | Some(ExecType::Trade));
                    if is_trade && self.wants(Kind::FastExecution) {
                        fast.extend(record(&fast_record(execution)));
                    }
                }
                EngineEvent::Position(position) if self.wants(Kind::Position) => {
                    positions.extend(position_record(position));
                }
                EngineEvent::Wallet(wallet) if self.wants(Kind::Wallet) => {
                    wallets.extend(record(&wallet_record(wallet)));
                }
                _ => {}
            }
        }
        let now = state.clock.now_ms();
        // The cancel-race duplicate (`/emulator/ws/double-filled`; v5/websocket/private/order
        // tip): a second `Filled` push carrying the refused cancel's fields.
        let mut raced = Vec::new();
        for o in &orders {
            if o["orderStatus"] == "Filled" && state.faults.take_double_filled() {
                let mut again = o.clone();
                again["cancelType"] = Value::String("CancelByUser".to_owned());
                again["rejectReason"] = Value::String("EC_OrigClOrdIDDoesNotExist".to_owned());
                // The refused cancel is handled after the fill: a later update.
                if let Some(t) = o["updatedTime"]
                    .as_str()
                    .and_then(|t| t.parse::<i64>().ok())
                {
                    again["updatedTime"] = Value::String(t.saturating_add(1).to_string());
                }
                raced.push(again);
            }
        }
        // The order in which one order's consequences happen: the order, its fills, the
        // position they moved, the wallet; Bybit promises none, and `/emulator/ws/shuffle`
        // sends them in reverse.
        let mut kinds = [
            (Kind::Order, orders),
            (Kind::Execution, executions),
            (Kind::FastExecution, fast),
            (Kind::Position, positions),
            (Kind::Wallet, wallets),
        ];
        if state.faults.shuffle_pushes() {
            kinds.reverse();
        }
        for (kind, records) in &kinds {
            self.push(*kind, records, now, out);
        }
        self.push(Kind::Order, &raced, now, out);
    }
}

/// Why an auth request is refused; each stream words it in its own shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthRefusal {
    /// Malformed arguments, or an expiry that has passed.
    Params,
    /// Not the account's API key.
    Key,
    /// The signature does not match.
    Sign,
}

/// Checks `[api_key, expires_ms, signature]`, for the private and the order-entry streams
/// alike. Bybit answers "Params Error" to malformed arguments and to an expiry that has
/// passed; the texts for a wrong key or signature are not documented, and clients rely only
/// on `success: false`.
pub(super) fn check_auth(state: &AppState, args: &[Value]) -> Result<(), AuthRefusal> {
    let [key, expires, signature] = args else {
        return Err(AuthRefusal::Params);
    };
    let (Some(key), Some(signature)) = (key.as_str(), signature.as_str()) else {
        return Err(AuthRefusal::Params);
    };
    // Bybit documents an integer; SDKs in the wild also send it as text.
    let expires = match expires {
        Value::Number(n) => n.as_u64(),
        Value::String(text) => text.parse::<u64>().ok(),
        _ => None,
    };
    let Some(expires) = expires else {
        return Err(AuthRefusal::Params);
    };
    // The client's clock, which `/emulator/time/pass` does not move (see `auth.rs`).
    let now = u64::try_from(state.clock.client_ms()).unwrap_or(0);
    if expires <= now {
        return Err(AuthRefusal::Params);
    }
    if key != state.creds.api_key() {
        return Err(AuthRefusal::Key);
    }
    if !state.creds.verify_ws_auth(expires, signature) {
        return Err(AuthRefusal::Sign);
    }
    Ok(())
}

/// A record as JSON; `None` only if a wire type failed to serialise, which `Outbox::push`
/// explains.
fn record<T: Serialize>(value: &T) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// An `order` record: the REST order plus the stream-only fields, with Bybit's "none" values
/// where the engine does not model them.
fn order_record(order: &Order) -> Order {
    let mut order = order.clone();
    order.parent_order_link_id.get_or_insert_with(String::new);
    order.is_leverage.get_or_insert_with(String::new);
    order.fee_currency.get_or_insert_with(String::new);
    order.oco_trigger_by.get_or_insert_with(String::new);
    order.market_unit.get_or_insert_with(String::new);
    order.rpi_taker_access.get_or_insert(false);
    order.rpi_matched_qty.get_or_insert(Decimal::ZERO);
    order
}

/// An `execution` record: extra fees are an array on the stream (a string in REST).
fn execution_record(execution: &Execution) -> Execution {
    let mut execution = execution.clone();
    execution
        .extra_fees
        .get_or_insert_with(|| ExtraFees::List(Vec::new()));
    execution.market_unit.get_or_insert_with(String::new);
    execution
}

/// An `execution.fast` record. Bybit leaves `orderLinkId` empty on maker fills (REFERENCE.md
/// §7.2), and so does the emulator, so clients learn to key fast fills by `orderId`.
fn fast_record(execution: &Execution) -> FastExecution {
    FastExecution {
        category: execution.category.clone(),
        symbol: execution.symbol.clone(),
        exec_id: execution.exec_id.clone(),
        exec_price: execution.exec_price,
        exec_qty: execution.exec_qty,
        order_id: execution.order_id.clone(),
        is_maker: execution.is_maker,
        order_link_id: if execution.is_maker {
            String::new()
        } else {
            execution.order_link_id.clone()
        },
        side: execution.side,
        exec_time: execution.exec_time,
        seq: execution.seq,
    }
}

/// A `position` record: the stream names the entry price `entryPrice` and carries the
/// by-mark-price margins and a few timestamps REST leaves out.
fn position_record(position: &Position) -> Option<Value> {
    let mut p = position.clone();
    let entry = p
        .ws_entry_price
        .or(p.avg_price.take())
        .unwrap_or(Decimal::ZERO);
    p.ws_entry_price = Some(entry);
    // The engine does not model the fee-adjusted break-even; the entry price is the closest
    // value it has, and a flat position reports zero as Bybit does.
    p.break_even_price.get_or_insert(entry);
    // Deprecated on Bybit and always "0" there.
    p.position_balance.get_or_insert(Decimal::ZERO);
    // Mark price follows the last price in the engine, so the by-mark-price margins are the
    // margins.
    p.position_im_by_mp = p.position_im_by_mp.or(p.position_im);
    p.position_mm_by_mp = p.position_mm_by_mp.or(p.position_mm);
    let mut value = record(&p)?;
    if let Value::Object(map) = &mut value {
        // Fields whose "none" is "" on the stream, which the shared type can only omit.
        for key in [
            "sessionAvgPrice",
            "leverageSysUpdatedTime",
            "mmrSysUpdatedTime",
        ] {
            map.entry(key)
                .or_insert_with(|| Value::String(String::new()));
        }
    }
    Some(value)
}

/// A `wallet` record. The by-mark-price figures equal the plain ones because the engine's
/// mark price is its last price; `accountLTV` is deprecated and "0" on Bybit.
fn wallet_record(wallet: &WalletAccount) -> WalletAccount {
    let mut w = wallet.clone();
    w.account_im_rate_by_mp = w.account_im_rate_by_mp.or(w.account_im_rate);
    w.account_mm_rate_by_mp = w.account_mm_rate_by_mp.or(w.account_mm_rate);
    w.total_initial_margin_by_mp = w.total_initial_margin_by_mp.or(w.total_initial_margin);
    w.total_maintenance_margin_by_mp = w
        .total_maintenance_margin_by_mp
        .or(w.total_maintenance_margin);
    w.account_ltv.get_or_insert(Decimal::ZERO);
    w
}
