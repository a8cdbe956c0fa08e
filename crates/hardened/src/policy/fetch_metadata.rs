//! The derived resource isolation policy ([`FetchMetadataRules`]).

use serde::Serialize;

use crate::config::FetchMetadata;

/// The resource isolation policy on the `Sec-Fetch-*` request headers: a request with
/// `Sec-Fetch-Site: cross-site` that is not a `GET`/`HEAD` navigation to a document is
/// refused (or, in `report` mode, logged), unless its `Origin` is one the policy allows
/// (CORS or CSRF trusted origins) or its path is one of
/// [`cross_site_paths`](Self::cross_site_paths). Requests without the headers (older
/// browsers, non-browser clients) pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FetchMetadataRules {
    /// Enforce, report or off.
    pub mode: FetchMetadata,
    /// Path patterns (the syntax of `csrf_exempt_paths`) whose resources any site may
    /// load or call: public APIs and embeddable resources. None are derived from the
    /// configuration file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cross_site_paths: Vec<String>,
}

impl FetchMetadataRules {
    /// The rules of `mode`, with no route opted out.
    pub fn new(mode: FetchMetadata) -> FetchMetadataRules {
        FetchMetadataRules {
            mode,
            cross_site_paths: Vec::new(),
        }
    }
}
