//! exec-nats against a real `nats-server -js` on loopback (SKIPPED when it is not installed,
//! outside CI).

mod commands;
mod connect;
mod events;
mod journal;
mod lease;
