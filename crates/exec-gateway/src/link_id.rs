//! Deterministic orderLinkIds: `{prefix}{LEG}_{tag}`, e.g. `andre_ENTRY_RAD_20251122_1306`.
//!
//! The same trade and leg always give the same id, so a resend after an unknown outcome, a
//! second call, or a call after a restart can never create a second order (SPEC R-ORD-5). The
//! tag is the plan's client tag with the prefix removed if it starts with it. An id is ours
//! only if it parses back exactly: prefix, a known leg code, `_`, the tag; nothing else is
//! ever cancelled.

use bybit_types::OrderLinkId;

use crate::error::GatewayError;

/// A trade's order legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leg {
    /// The market entry.
    Entry,
    /// Take-profit `n` (from 1).
    Tp(u8),
    /// DCA `n` (from 1).
    Dca(u8),
    /// Closing market order `n` (from 1; a close may be split and may be retried).
    Close(u16),
}

impl Leg {
    /// `ENTRY`, `TP1`, `DCA2`, `CLOSE3`.
    pub fn code(self) -> String {
        match self {
            Leg::Entry => "ENTRY".to_owned(),
            Leg::Tp(n) => format!("TP{n}"),
            Leg::Dca(n) => format!("DCA{n}"),
            Leg::Close(n) => format!("CLOSE{n}"),
        }
    }

    /// Parses a leg code.
    pub fn parse(code: &str) -> Option<Leg> {
        fn number<T: std::str::FromStr>(text: &str) -> Option<T> {
            let ok = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && !text.starts_with('0');
            if ok {
                text.parse().ok()
            } else {
                None
            }
        }
        if code == "ENTRY" {
            Some(Leg::Entry)
        } else if let Some(n) = code.strip_prefix("CLOSE") {
            number(n).map(Leg::Close)
        } else if let Some(n) = code.strip_prefix("DCA") {
            number(n).map(Leg::Dca)
        } else if let Some(n) = code.strip_prefix("TP") {
            number(n).map(Leg::Tp)
        } else {
            None
        }
    }
}

/// Which of a trade's legs a cancel covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegFilter {
    /// Take-profits only.
    Tp,
    /// DCAs only.
    Dca,
    /// Take-profits and DCAs.
    TpAndDca,
}

impl LegFilter {
    fn covers(self, leg: Leg) -> bool {
        matches!(
            (self, leg),
            (LegFilter::Tp | LegFilter::TpAndDca, Leg::Tp(_))
                | (LegFilter::Dca | LegFilter::TpAndDca, Leg::Dca(_))
        )
    }
}

/// Which open orders a cancel may touch: this layer's, of one trade, of some legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelScope {
    links: LinkIds,
    tag: String,
    legs: LegFilter,
}

impl CancelScope {
    /// Whether the order with this orderLinkId is in scope.
    pub fn matches(&self, order_link_id: &str) -> bool {
        self.links
            .parse(order_link_id)
            .is_some_and(|(leg, tag)| tag == self.tag && self.legs.covers(leg))
    }
}

/// Makes and recognises this layer's orderLinkIds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkIds {
    prefix: String,
}

impl LinkIds {
    /// Ids with `prefix` (e.g. `andre_`). The prefix must itself be valid orderLinkId text.
    pub fn new(prefix: &str) -> Result<Self, GatewayError> {
        let bad = prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if bad {
            return Err(GatewayError::LinkId {
                id: prefix.to_owned(),
                reason: "the prefix must be non-empty A-Z a-z 0-9 _ -".to_owned(),
            });
        }
        Ok(LinkIds {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The trade's tag as it appears in ids: the client tag without the prefix.
    pub fn tag_of<'a>(&self, client_tag: &'a str) -> &'a str {
        client_tag.strip_prefix(&self.prefix).unwrap_or(client_tag)
    }

    /// The id of `leg` of the trade `client_tag`, or a clear error if it would be longer than
    /// 36 characters or use characters Bybit refuses.
    pub fn id(&self, client_tag: &str, leg: Leg) -> Result<OrderLinkId, GatewayError> {
        let id = format!("{}{}_{}", self.prefix, leg.code(), self.tag_of(client_tag));
        let reason = if id.len() > bybit_types::ORDER_LINK_ID_MAX_LEN {
            Some(format!(
                "{} characters, more than {}",
                id.len(),
                bybit_types::ORDER_LINK_ID_MAX_LEN
            ))
        } else if self.tag_of(client_tag).is_empty() {
            Some("the client tag is empty".to_owned())
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(GatewayError::LinkId { id, reason });
        }
        OrderLinkId::new(id.clone()).map_err(|e| GatewayError::LinkId {
            id,
            reason: e.to_string(),
        })
    }

    /// The leg and tag of one of our ids; `None` for anything else (a person's manual order,
    /// another layer's).
    pub fn parse<'a>(&self, order_link_id: &'a str) -> Option<(Leg, &'a str)> {
        let rest = order_link_id.strip_prefix(&self.prefix)?;
        let (code, tag) = rest.split_once('_')?;
        let leg = Leg::parse(code)?;
        (!tag.is_empty()).then_some((leg, tag))
    }

    /// The scope of a trade's TP and/or DCA orders.
    pub fn scope(&self, client_tag: &str, legs: LegFilter) -> CancelScope {
        CancelScope {
            links: self.clone(),
            tag: self.tag_of(client_tag).to_owned(),
            legs,
        }
    }
}
