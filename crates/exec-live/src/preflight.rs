//! Pre-flight before the first live start (SPEC R-ACC-2): the account can trade what the plan
//! needs, or it says which check failed and what to do.

use bybit_rest::Positions;
use bybit_types::{Category, ContractType, Symbol};
use exec_gateway::{AccountService, PortError};
use rust_decimal::Decimal;

use crate::{port_error, LiveExchange};

/// What the pre-flight checks.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The symbols that will be traded.
    pub symbols: Vec<Symbol>,
    /// The leverage set on each (SPEC: 25).
    pub leverage: Decimal,
    /// Available margin must be at least this, USDT.
    pub min_available_usdt: Decimal,
}

/// Which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightCheck {
    /// The symbol is a USDT-settled linear perpetual that is trading.
    UsdtLinear,
    /// The position mode is one-way (positionIdx 0).
    OneWayMode,
    /// The leverage could be set.
    Leverage,
    /// Enough available margin.
    AvailableMargin,
    /// Bybit refuses, rather than moves, a futures limit price beyond the order price limit
    /// (the account's price-limit action, `modifyEnable=false`).
    PriceLimitAction,
    /// The exchange could not be asked.
    Exchange,
}

/// A failed pre-flight: the check, what was found, and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pre-flight failed ({check:?}): {found}; to fix: {remedy}")]
pub struct PreflightError {
    /// The check.
    pub check: PreflightCheck,
    /// What was found.
    pub found: String,
    /// What the operator should do.
    pub remedy: String,
}

fn failed(check: PreflightCheck, found: String, remedy: &str) -> PreflightError {
    PreflightError {
        check,
        found,
        remedy: remedy.to_owned(),
    }
}

fn exchange(e: PortError) -> PreflightError {
    failed(
        PreflightCheck::Exchange,
        e.to_string(),
        "check the network, the API key and its permissions, then start again",
    )
}

impl LiveExchange {
    /// Runs the checks in order: USDT linear perpetual, one-way mode, leverage (110043, "not
    /// modified", counts as set), the price-limit action, available margin. The first failure
    /// is returned.
    pub async fn preflight(&self, p: &Preflight) -> Result<(), PreflightError> {
        let infos = self
            .rest
            .instruments(Category::Linear)
            .await
            .map_err(|e| exchange(port_error(e)))?;
        for symbol in &p.symbols {
            let ok = infos.iter().any(|i| {
                i.symbol == symbol.as_str()
                    && i.settle_coin == "USDT"
                    && i.contract_type == Some(ContractType::LinearPerpetual)
            });
            if !ok {
                return Err(failed(
                    PreflightCheck::UsdtLinear,
                    format!(
                        "{} is not a USDT-settled linear perpetual here",
                        symbol.as_str()
                    ),
                    "trade only USDT perpetuals (category linear) or fix the symbol list",
                ));
            }
            let positions = self
                .rest
                .positions(Positions::symbol(symbol.clone()))
                .await
                .map_err(|e| exchange(port_error(e)))?;
            if let Some(hedge) = positions.list.iter().find(|p| p.position_idx != 0) {
                return Err(failed(
                    PreflightCheck::OneWayMode,
                    format!(
                        "{} is in hedge mode (positionIdx {})",
                        symbol.as_str(),
                        hedge.position_idx
                    ),
                    "switch the symbol to one-way mode: close its positions and cancel its orders \
                     (Bybit refuses the switch otherwise: 110024 / 110028), then POST \
                     /v5/position/switch-mode {category: linear, symbol, mode: 0}, or choose \
                     One-Way Mode in the web UI; this layer trades positionIdx 0 only",
                ));
            }
            self.set_leverage(symbol, p.leverage).await.map_err(|e| {
                failed(
                    PreflightCheck::Leverage,
                    format!("{}: {e}", symbol.as_str()),
                    "set the leverage by hand or lower it to the symbol's maximum",
                )
            })?;
        }
        self.refuse_moved_prices().await?;
        let balance = self.get_balance().await.map_err(exchange)?;
        if balance.available < p.min_available_usdt {
            return Err(failed(
                PreflightCheck::AvailableMargin,
                format!(
                    "available {} USDT, below the configured minimum {} USDT",
                    balance.available, p.min_available_usdt
                ),
                "transfer USDT to the unified trading account or lower the minimum",
            ));
        }
        Ok(())
    }

    /// Bybit's futures accounts default to `modifyEnable=true`: a limit price beyond the
    /// order price limit is silently moved to the bound (docs/v5/account/set-price-limit.mdx),
    /// so an order could stand at a price this layer never sent. The pre-flight *sets* the
    /// action to refuse (`linear`, `modifyEnable=false`; it is idempotent, and setting linear
    /// sets every futures category of the account) and then reads it back
    /// (docs/v5/account/get-user-setting-config.mdx, where `lpaPerp` `true` = refuse); it
    /// refuses to start unless the account now says "refuse". Setting rather than only reading:
    /// every fresh account has the default, and a start that fails on each of them until an
    /// operator finds the switch protects nothing the set does not. Reading back: the set
    /// call's `{}` proves nothing about the state it leaves.
    async fn refuse_moved_prices(&self) -> Result<(), PreflightError> {
        const REMEDY: &str = "set the account's limit-price action to reject \
             (POST /v5/account/set-limit-px-action {category: linear, modifyEnable: false}, or \
             the web UI's order price limit setting), check the API key may change account \
             settings, then start again";
        self.rest
            .set_limit_px_action(Category::Linear, false)
            .await
            .map_err(|e| {
                failed(
                    PreflightCheck::PriceLimitAction,
                    format!("setting the price-limit action to reject failed: {e}"),
                    REMEDY,
                )
            })?;
        let config = self
            .rest
            .user_setting_config()
            .await
            .map_err(|e| exchange(port_error(e)))?;
        price_action_verdict(&config, REMEDY)
    }
}

/// Whether the account's futures price-limit action, as read, lets the layer start: only a
/// reported "refuse" does.
fn price_action_verdict(
    config: &bybit_types::rest::account::UserSettingConfig,
    remedy: &str,
) -> Result<(), PreflightError> {
    match config.futures_price_adjusted() {
        Some(false) => Ok(()),
        Some(true) => Err(failed(
            PreflightCheck::PriceLimitAction,
            "the account still moves a futures limit price beyond the price limit to the \
                 bound (lpaPerp false) after it was set to reject"
                .to_owned(),
            remedy,
        )),
        None => Err(failed(
            PreflightCheck::PriceLimitAction,
            "the account's price-limit action is not reported (no lpaPerp in \
                 /v5/account/user-setting-config)"
                .to_owned(),
            remedy,
        )),
    }
}

#[cfg(test)]
mod tests {
    use bybit_types::rest::account::UserSettingConfig;

    use super::*;

    // docs/v5/account/get-user-setting-config.mdx, parameter table: `lpaPerp` true = reject,
    // false = adjust (the page's info box, and set-price-limit's, word the futures default
    // differently: "lpaPerp = false ... will automatically adjust" there agrees; "lpaSpot =
    // true, lpaPerp = false" for futures on set-price-limit mixes the two flags). Only a
    // reported refusal lets the layer start.
    #[test]
    fn only_a_reported_refusal_passes() {
        let config = |lpa_perp| UserSettingConfig {
            lpa_perp,
            ..UserSettingConfig::default()
        };
        assert!(price_action_verdict(&config(Some(true)), "fix").is_ok());
        for found in [Some(false), None] {
            let err = price_action_verdict(&config(found), "fix").unwrap_err();
            assert_eq!(err.check, PreflightCheck::PriceLimitAction);
        }
    }
}
