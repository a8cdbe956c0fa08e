//! What the loader accepts, enumerated from the lists it checks keys against: every key
//! path of the file and every environment variable it reads. Tools and documentation
//! are checked against these (the configuration reference, `docs/config.md`, is tested
//! to list exactly them), so they cannot drift from the loader.
//!
//! ```
//! let keys = hardened::config::reference::accepted_keys();
//! assert!(keys.iter().any(|k| k == "hsts.seconds"));
//! assert!(keys.iter().any(|k| k == "gateway.tls.cert"));
//! let vars = hardened::config::reference::environment_variables();
//! assert!(vars.iter().any(|(v, k)| v == "HARDENED_GATEWAY_LISTEN" && k.as_deref() == Some("gateway.listen")));
//! ```

use super::gateway;
use super::load::{ENVIRONMENT_VARS, KEY_VARIABLES};
use super::typer::{
    COOKIE_KEYS, DATABASE_KEYS, HEADER_KEYS, HSTS_KEYS, KNOWN_KEYS, REPORTS_KEYS, ROUTE_CORS_KEYS,
    ROUTE_KEYS,
};

/// Every key the config file accepts, as a dotted path, in the loader's order: each
/// top-level key, then the keys of its section (`hsts.seconds`, `gateway.tls.cert`).
/// `app` takes any key (free-form); `report_only` takes `true` or a list of checks.
pub fn accepted_keys() -> Vec<String> {
    let mut out = Vec::new();
    for key in KNOWN_KEYS {
        out.push((*key).to_owned());
        let gateway_keys: Vec<&str>;
        let sub: &[&str] = match *key {
            "hsts" => HSTS_KEYS,
            "headers" => HEADER_KEYS,
            "cookies" => COOKIE_KEYS,
            "database" => DATABASE_KEYS,
            "gateway" => {
                gateway_keys = gateway::keys().collect();
                &gateway_keys
            }
            "routes" => ROUTE_KEYS,
            "reports" => REPORTS_KEYS,
            _ => &[],
        };
        for s in sub {
            out.push(format!("{key}.{s}"));
            if *key == "gateway" && *s == "tls" {
                out.extend(gateway::tls_keys().map(|t| format!("gateway.tls.{t}")));
            }
            // A route's `headers` takes the top-level ones and `frame_ancestors`.
            if *key == "routes" && *s == "headers" {
                out.push("routes.headers.frame_ancestors".to_owned());
            }
            if *key == "routes" && *s == "cors" {
                out.extend(ROUTE_CORS_KEYS.iter().map(|c| format!("routes.cors.{c}")));
            }
        }
    }
    out
}

/// Every environment variable the loader reads, with the key path it sets (`None`: it
/// names the environment).
pub fn environment_variables() -> Vec<(String, Option<String>)> {
    ENVIRONMENT_VARS
        .iter()
        .map(|v| ((*v).to_owned(), None))
        .chain(
            KEY_VARIABLES
                .iter()
                .map(|(v, k)| ((*v).to_owned(), Some((*k).to_owned()))),
        )
        .chain(gateway::variables().into_iter().map(|(v, k)| (v, Some(k))))
        .collect()
}
