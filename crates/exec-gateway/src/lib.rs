//! The execution gateway: the five operations the state machine calls (`execute_entry`,
//! `setup_tps`, `setup_dcas`, `move_to_breakeven`, `close_all`) and the ports (traits) that the
//! live Bybit adapters and the simulated routers implement.
//!
//! Empty until Step 5 of the roadmap. It must not depend on any implementation of its ports
//! (no `bybit-rest`, `bybit-ws` or `exec-sim`): only the application wires one in.
