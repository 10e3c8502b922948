//! Deterministic orderLinkIds and what counts as ours.

use exec_gateway::{GatewayError, Leg, LegFilter, LinkIds, MemoryJournal};
use std::sync::Arc;

use crate::support::{plan, Mocks};

#[test]
fn ids_are_prefix_leg_tag_and_parse_back() {
    let ids = LinkIds::new("andre_").unwrap();
    let id = ids.id("andre_RAD_20251122_1306", Leg::Entry).unwrap();
    assert_eq!(id.as_str(), "andre_ENTRY_RAD_20251122_1306");
    assert_eq!(
        ids.id("RAD_20251122_1306", Leg::Tp(3)).unwrap().as_str(),
        "andre_TP3_RAD_20251122_1306"
    );
    assert_eq!(ids.parse("andre_DCA2_RAD_1"), Some((Leg::Dca(2), "RAD_1")));
    assert_eq!(ids.parse("andre_TP0_RAD_1"), None);
    assert_eq!(ids.parse("andre_FOO_RAD_1"), None);
    assert_eq!(ids.parse("manual_TP1_RAD_1"), None);
    let scope = ids.scope("andre_RAD_1", LegFilter::Dca);
    assert!(scope.matches("andre_DCA1_RAD_1"));
    assert!(!scope.matches("andre_TP1_RAD_1"));
    assert!(!scope.matches("andre_DCA1_X_RAD_1"));
    assert!(!scope.matches("andre_DCA1_RAD_10"));
}

#[test]
fn the_prefix_is_configurable() {
    let ids = LinkIds::new("bot-7_").unwrap();
    assert_eq!(
        ids.id("T1", Leg::Close(2)).unwrap().as_str(),
        "bot-7_CLOSE2_T1"
    );
    assert!(LinkIds::new("bad prefix").is_err());
}

#[test]
fn an_id_over_36_characters_or_with_bad_characters_is_a_clear_error() {
    let ids = LinkIds::new("andre_").unwrap();
    let err = ids
        .id("RAD_20251122_130601_EXTRA_LONG", Leg::Entry)
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("more than 36"), "{text}");
    assert!(ids.id("RAD 1", Leg::Entry).is_err());
    assert!(ids.id("RAD.1", Leg::Entry).is_err());
}

#[tokio::test]
async fn an_entry_whose_ids_would_be_too_long_sends_nothing() {
    let mut m = Mocks::new();
    m.router
        .expect_place()
        .withf(crate::support::is_entry)
        .times(0);
    let gw = m.build(Arc::new(MemoryJournal::new()), None);
    let err = gw
        .execute_entry(&plan("RAD_20251122_130601_TOO_LONG"))
        .await
        .unwrap_err();
    // R-SAFE-1: the whole-plan check names the field.
    assert!(
        matches!(&err, GatewayError::PlanRefused { field, .. } if field == "client_tag"),
        "{err}"
    );
    assert!(err.is_plan_refused());
}
