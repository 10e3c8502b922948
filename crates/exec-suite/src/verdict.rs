//! One case's verdict.

use std::fmt;

/// One case's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name, as in [`CASES`].
    pub name: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// What was seen (a pass) or what went wrong (a failure).
    pub reason: String,
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(f, "{verdict}  {}\n      {}", self.name, self.reason)
    }
}
