//! Where raw values come from before they are parsed: the command line's options, the
//! process environment and the TOML file (R-CFG-1), and the typed readers that turn a raw
//! value into a setting or a [`ConfigError`] naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

use super::error::ConfigError;
use super::keys::{spec, TomlForm, KEYS};

/// Options every subcommand takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// A TOML file with the same keys as the environment (the environment wins).
    #[arg(long, global = true, env = "BYBIT_EXEC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Allow BYBIT_ENV=mainnet (the same as BYBIT_MAINNET_CONFIRM=yes): real money.
    #[arg(long, global = true)]
    pub confirm_mainnet: bool,
}

/// Where a raw value came from.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    Env,
    File(PathBuf),
}

/// The raw key → value map, before parsing.
pub(super) struct Raw {
    pub(super) values: BTreeMap<&'static str, (String, Origin)>,
}

impl Raw {
    pub(super) fn get(&self, name: &'static str) -> Option<&str> {
        self.values
            .get(name)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether the key is present at all (an empty value counts).
    pub(super) fn present(&self, name: &'static str) -> bool {
        self.values.contains_key(name)
    }

    pub(super) fn invalid(&self, name: &'static str) -> ConfigError {
        let k = spec(name);
        let (value, origin) = self
            .values
            .get(name)
            .cloned()
            .unwrap_or((String::new(), Origin::Env));
        let shown = if k.is_some_and(|k| k.secret) {
            "the value".to_owned()
        } else {
            format!("{value:?}")
        };
        ConfigError::Invalid {
            key: name,
            origin: match origin {
                Origin::Env => " (from the environment)".to_owned(),
                Origin::File(p) => format!(" (from {})", p.display()),
            },
            shown,
            expected: k.map_or("a valid value", |k| k.expected).to_owned(),
        }
    }

    pub(super) fn parse<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, ConfigError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| self.invalid(name)),
        }
    }

    pub(super) fn bool(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" => Ok(Some(false)),
                _ => Err(self.invalid(name)),
            },
        }
    }

    pub(super) fn decimal(
        &self,
        name: &'static str,
        default: Decimal,
        ok: impl Fn(Decimal) -> bool,
    ) -> Result<Decimal, ConfigError> {
        let v = self.parse::<Decimal>(name)?.unwrap_or(default);
        if ok(v) {
            Ok(v)
        } else {
            Err(self.invalid(name))
        }
    }

    pub(super) fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        let v = self.parse::<u64>(name)?.unwrap_or(default);
        if range.contains(&v) {
            Ok(Duration::from_millis(v))
        } else {
            Err(self.invalid(name))
        }
    }

    pub(super) fn count(
        &self,
        name: &'static str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Result<usize, ConfigError> {
        let v = self.parse::<usize>(name)?.unwrap_or(default);
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.invalid(name))
        }
    }

    pub(super) fn url(
        &self,
        name: &'static str,
        default: &str,
        schemes: &[&str],
    ) -> Result<String, ConfigError> {
        let Some(v) = self.get(name) else {
            return Ok(default.to_owned());
        };
        let v = v.trim();
        let ok = schemes.iter().any(|s| {
            v.strip_prefix(s)
                .and_then(|rest| rest.strip_prefix("://"))
                .is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace))
        });
        if ok {
            Ok(v.trim_end_matches('/').to_owned())
        } else {
            Err(self.invalid(name))
        }
    }
}

/// Reads a TOML file into raw values: the same keys as the environment, any case, each value
/// of the TOML type its key expects ([`TomlForm`]: a string for text, URLs and secrets, a
/// boolean, an integer, a decimal as a string so no float rounds it, a list as an array of
/// strings). A value of another type is refused naming the file, the key and the expected
/// type, never the value (it may be a secret).
pub(super) fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let file_error = |reason: String| ConfigError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| file_error(e.message().to_owned()))?;
    let mut out = Vec::new();
    for (name, value) in table {
        let upper = name.to_ascii_uppercase();
        let Some(k) = spec(&upper) else {
            return Err(file_error(format!(
                "unknown key {name:?}; the keys are {}",
                KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
            )));
        };
        // TOML keys are case-sensitive, these are not: the same key in two cases would leave
        // which value counts to the table's order.
        if out.iter().any(|(seen, _)| *seen == k.name) {
            return Err(file_error(format!(
                "{} is given more than once (in different cases); keep one",
                k.name
            )));
        }
        let wrong = |found: &str| {
            file_error(format!(
                "{}: a TOML {found} is not accepted; expected {} ({})",
                k.name,
                k.toml.describe(),
                k.expected
            ))
        };
        let text = match (k.toml, value) {
            (TomlForm::Text | TomlForm::Decimal | TomlForm::List, toml::Value::String(s)) => s,
            (TomlForm::Bool, toml::Value::Boolean(b)) => b.to_string(),
            (TomlForm::Int | TomlForm::Decimal, toml::Value::Integer(i)) => i.to_string(),
            (TomlForm::List, toml::Value::Array(items)) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        other => return Err(wrong(&format!("array of {}s", other.type_str()))),
                    }
                }
                parts.join(",")
            }
            (TomlForm::Decimal, toml::Value::Float(_)) => {
                return Err(file_error(format!(
                    "{}: write decimal numbers as strings (e.g. \"0.5\") so no float rounds them; expected {}",
                    k.name, k.expected
                )))
            }
            (_, other) => return Err(wrong(other.type_str())),
        };
        out.push((k.name, text));
    }
    Ok(out)
}
