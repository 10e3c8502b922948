//! Bybit's retCodes as the outcome policy sees them (REFERENCE.md §12, docs v5/error): the
//! one table, `exec_wire::ret_code_error`, for every router.

use exec_gateway::PortError;

fn check(code: i64, definitive: bool, unknown: bool, fatal: bool) {
    let e = exec_wire::ret_code_error(code, "msg");
    assert_eq!(e.is_definitive_reject(), definitive, "{code}: {e:?}");
    assert_eq!(e.is_outcome_unknown(), unknown, "{code}: {e:?}");
    assert_eq!(e.is_fatal(), fatal, "{code}: {e:?}");
}

#[test]
fn ret_codes_are_classified_for_the_policy() {
    // Server timeout / server error: the write may have happened.
    check(10000, false, true, false);
    check(10016, false, true, false);
    // Rate limit: wait, then the outcome is unknown.
    check(10006, false, true, false);
    // Signature and key errors: fatal.
    check(10003, true, false, true);
    check(10004, true, false, true);
    check(33004, true, false, true);
    // Insufficient balance: definitive (and aborts the trade).
    for code in [110004, 110007, 110012] {
        check(code, true, false, false);
        assert!(matches!(
            exec_wire::ret_code_error(code, ""),
            PortError::InsufficientBalance { .. }
        ));
    }
    // Ordinary refusals.
    check(10001, true, false, false);
    check(110094, true, false, false);
    // Duplicate orderLinkId: neither; it means "already there".
    check(110072, false, false, false);
}

/// REFERENCE.md §9: the duplicate-orderLinkId text has been seen under retCode 20094; the
/// classification matches the text as well as 110072.
#[test]
fn the_duplicate_text_under_another_code_is_classified_a_duplicate() {
    let e = exec_wire::ret_code_error(20094, "OrderLinkedID is duplicate");
    assert!(matches!(e, PortError::DuplicateLinkId { .. }), "{e:?}");
}
