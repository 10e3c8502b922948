//! `result` payloads of the REST endpoints, one module per area of Bybit's docs.

use serde::{Deserialize, Serialize};

use crate::enums::Category;
use crate::serde_helpers;

pub mod account;
pub mod execution;
pub mod market;
pub mod order;
pub mod position;

/// One page of a cursor-paginated list (`order/realtime`, `order/history`, `execution/list`,
/// `position/list`): `{category, list, nextPageCursor}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The category asked for.
    #[serde(default, with = "serde_helpers::opt_enum")]
    pub category: Option<Category>,
    /// The items on this page.
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
    /// Cursor for the next page; `""` on the last page.
    #[serde(default)]
    pub next_page_cursor: String,
}

impl<T> Page<T> {
    /// Whether another page follows (a non-empty cursor).
    pub fn has_next_page(&self) -> bool {
        !self.next_page_cursor.is_empty()
    }
}
