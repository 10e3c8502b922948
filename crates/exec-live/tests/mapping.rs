//! REST failures as the gateway's port errors, one per class of the outcome policy
//! (docs/v5/error.mdx; REFERENCE.md §12).

use std::time::Duration;

use bybit_rest::{ErrorContext, RateLimitSignal, RestError};
use exec_gateway::PortError;
use exec_live::port_error;

fn ctx(write: bool) -> ErrorContext {
    ErrorContext {
        endpoint: "POST /v5/order/create",
        symbol: None,
        order_link_id: None,
        write,
    }
}

fn exchange(code: i64) -> RestError {
    RestError::Exchange {
        ctx: ctx(true),
        code,
        message: "text".into(),
    }
}

#[test]
fn each_class_maps_to_its_policy() {
    assert!(matches!(
        port_error(exchange(110072)),
        PortError::DuplicateLinkId { .. }
    ));
    for code in [110004, 110007, 110012, 110044, 110045] {
        assert!(
            matches!(port_error(exchange(code)), PortError::InsufficientBalance { code: c, .. } if c == code),
            "{code}"
        );
    }
    for code in [10003, 10004, 10005, 10010, 33004] {
        let e = port_error(exchange(code));
        assert!(e.is_fatal(), "{code}: {e:?}");
    }
    for code in [10000, 10016] {
        assert!(port_error(exchange(code)).is_outcome_unknown(), "{code}");
    }
    let refused = port_error(exchange(110003));
    assert!(refused.is_definitive_reject());
    assert_eq!(refused.ret_code(), Some(110003));
    let timeout = RestError::Timeout {
        ctx: ctx(true),
        timeout: Duration::from_secs(5),
    };
    assert!(port_error(timeout).is_outcome_unknown());
    let reset = RestError::Network {
        ctx: ctx(true),
        sent: true,
        message: "reset".into(),
    };
    assert!(port_error(reset).is_outcome_unknown());
    let not_sent = RestError::Network {
        ctx: ctx(true),
        sent: false,
        message: "refused".into(),
    };
    // A read's (or an unsent write's) transient failure is retried, never a reject.
    assert!(port_error(not_sent).is_retryable());
    let limited = RestError::RateLimited {
        ctx: ctx(true),
        signal: RateLimitSignal::RetCode10006,
        retry_after: Duration::from_millis(700),
    };
    assert_eq!(
        port_error(limited),
        PortError::RateLimited {
            retry_after: Duration::from_millis(700)
        }
    );
    let page = RestError::Decode {
        ctx: ctx(true),
        stage: bybit_rest::DecodeStage::Envelope,
        status: 502,
        len: 3,
        first_bytes: "bad".into(),
        reason: "not json".into(),
    };
    assert!(port_error(page).is_outcome_unknown());
}

/// docs/changelog/v5.mdx, docs/v5/error.mdx: 110123 / 110125 (trading terms
/// not agreed) halt like an auth failure, with a message that says what to do; 110120 / 110121
/// (price limit) and 110090 (position limit) are definitive refusals; HTTP 429 is a rate limit.
#[test]
fn new_refusals_are_classified() {
    for code in [110123, 110125] {
        match port_error(exchange(code)) {
            PortError::Auth { code: c, message } => {
                assert_eq!(c, code);
                assert!(message.contains("trading terms"), "{message}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    for code in [110120, 110121, 110090] {
        assert!(
            matches!(port_error(exchange(code)), PortError::Rejected { code: c, .. } if c == code),
            "{code}"
        );
    }
}

/// An endpoint the environment does not offer (demo: the fee rate) was refused unsent: the
/// caller's request cannot be served here, as an invalid one cannot (REFERENCE.md §1).
#[test]
fn an_endpoint_not_offered_is_invalid_input_not_an_unknown_outcome() {
    let e = port_error(RestError::NotOffered {
        ctx: ctx(false),
        environment: "BYBIT_ENV=demo".into(),
    });
    assert!(
        matches!(&e, PortError::InvalidInput(m) if m.contains("BYBIT_ENV=demo")),
        "{e:?}"
    );
    assert!(!e.is_outcome_unknown());
}

/// 10002 on a create (a timestamp outside recv_window; the client has resynced its clock and,
/// under the layer's wiring, does not re-send a create itself): not executed, so not a
/// refusal of the order; the policy looks it up and sends it again (docs/v5/error.mdx).
#[test]
fn a_timestamp_refusal_is_an_unknown_outcome_for_the_policy_not_a_reject() {
    let e = port_error(exchange(10002));
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert!(!e.is_definitive_reject(), "{e:?}");
}
