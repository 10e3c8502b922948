//! Layering: bybit-ws does not know the REST client, the gateway or the
//! event bus. Checked on the manifest, with a positive control (a crate it must use).

#[test]
fn bybit_ws_depends_on_no_rest_gateway_or_event_crate() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    assert!(dependencies.contains("bybit-types"), "positive control");
    for forbidden in [
        "bybit-rest",
        "exec-gateway",
        "exec-events",
        "exec-sim",
        "bybit-exec",
    ] {
        assert!(
            !dependencies.contains(forbidden),
            "bybit-ws depends on {forbidden}"
        );
    }
}
