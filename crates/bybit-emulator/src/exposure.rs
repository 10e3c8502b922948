//! Exposure: the binary's default credentials are published in its `--help`, so a server
//! with them must not be reachable from other machines.

use std::net::{SocketAddr, ToSocketAddrs};

/// The API key the binary accepts unless told otherwise.
pub const DEFAULT_API_KEY: &str = "emulator-key";
/// Its secret. Anyone can read it in `--help`, so it protects nothing off this machine.
pub const DEFAULT_API_SECRET: &str = "emulator-secret";

/// Why the emulator refuses to start on an address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExposureError {
    /// A non-loopback address with the published default secret.
    #[error(
        "refusing to listen on {listen} ({addr}) with the default API secret: that address is \
         reachable from other machines and the default secret is published in --help, so \
         anyone there could sign orders. Pass your own --api-secret (or \
         BYBIT_EMULATOR_API_SECRET), and --api-key, or listen on a loopback address such as \
         127.0.0.1:0"
    )]
    DefaultSecretOffLoopback {
        /// The `--listen` text.
        listen: String,
        /// The first non-loopback address it names.
        addr: SocketAddr,
    },
}

/// Checks that `listen` is loopback or the secret is not the default one. The key alone is
/// not a secret (it travels in every request's headers), so a custom secret is what counts.
///
/// `listen` is parsed as an address, else resolved (`localhost:0`); every address it names must
/// be loopback. Text that names no address passes, and binding it reports the error.
///
/// ```
/// use bybit_emulator::{check_exposure, DEFAULT_API_SECRET};
/// assert!(check_exposure("127.0.0.1:0", DEFAULT_API_SECRET).is_ok());
/// assert!(check_exposure("0.0.0.0:8080", DEFAULT_API_SECRET).is_err());
/// assert!(check_exposure("0.0.0.0:8080", "a-secret-of-my-own").is_ok());
/// ```
pub fn check_exposure(listen: &str, api_secret: &str) -> Result<(), ExposureError> {
    if api_secret != DEFAULT_API_SECRET {
        return Ok(());
    }
    let addrs: Vec<SocketAddr> = match listen.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => listen
            .to_socket_addrs()
            .map(Iterator::collect)
            .unwrap_or_default(),
    };
    match addrs.into_iter().find(|a| !a.ip().is_loopback()) {
        Some(addr) => Err(ExposureError::DefaultSecretOffLoopback {
            listen: listen.to_owned(),
            addr,
        }),
        None => Ok(()),
    }
}
