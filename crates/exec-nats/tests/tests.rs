//! exec-nats against a real `nats-server -js` on loopback (SKIPPED when it is not installed,
//! outside CI).

mod connect;
mod journal;
mod lease;
