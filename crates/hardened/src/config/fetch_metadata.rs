//! `fetch_metadata:`: the resource isolation policy built on the `Sec-Fetch-*` request
//! headers browsers send (see [`FetchMetadata`]).

use std::fmt;

use serde::Serialize;

/// What the resource isolation policy does with a cross-site request that is not a
/// navigation (`fetch_metadata:`). Unset, it is [`Report`](FetchMetadata::Report) in
/// production and staging and [`Off`](FetchMetadata::Off) in development and test.
///
/// ```
/// use hardened::config::FetchMetadata;
///
/// assert_eq!(FetchMetadata::parse("Enforce"), Some(FetchMetadata::Enforce));
/// assert_eq!(FetchMetadata::Report.as_str(), "report");
/// assert_eq!(FetchMetadata::parse("block"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FetchMetadata {
    /// Reject (403) what the policy refuses.
    Enforce,
    /// Log what the policy would refuse and let it through.
    Report,
    /// No resource isolation policy.
    Off,
}

impl FetchMetadata {
    /// `enforce`, `report` or `off`.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchMetadata::Enforce => "enforce",
            FetchMetadata::Report => "report",
            FetchMetadata::Off => "off",
        }
    }

    /// Parses `enforce`, `report` or `off` (case-insensitive).
    pub fn parse(s: &str) -> Option<FetchMetadata> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enforce" => Some(FetchMetadata::Enforce),
            "report" => Some(FetchMetadata::Report),
            "off" => Some(FetchMetadata::Off),
            _ => None,
        }
    }

    /// The mode of an environment when `fetch_metadata` is not set: `report` where the
    /// environment is strict (production, staging), `off` elsewhere.
    pub fn default_for(strict: bool) -> FetchMetadata {
        if strict {
            FetchMetadata::Report
        } else {
            FetchMetadata::Off
        }
    }
}

impl fmt::Display for FetchMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
