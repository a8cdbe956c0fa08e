//! Logs of `hardened serve` on stderr: `text` (colours only on a terminal) or `json`
//! (one object per line), with the access log when asked for.

use std::io::IsTerminal;

pub(crate) use hardened::config::LogFormat;

/// What is logged unless `HARDENED_LOG` says otherwise: warnings and errors (rejections,
/// upstream failures, reload failures), applied reloads, and the access log if on.
fn default_filter(access_log: bool) -> String {
    let mut f = String::from("warn,hardened_gateway::reload=info");
    if access_log {
        f.push_str(",hardened::access=info");
    }
    f
}

/// Installs the process's log subscriber (once; later calls do nothing).
pub(crate) fn init(format: LogFormat, access_log: bool) {
    let filter = match std::env::var("HARDENED_LOG") {
        Ok(s) if !s.trim().is_empty() => {
            // The access log stays on when asked for, whatever else is filtered.
            let s = if access_log {
                format!("{s},hardened::access=info")
            } else {
                s
            };
            tracing_subscriber::EnvFilter::try_new(s)
        }
        _ => tracing_subscriber::EnvFilter::try_new(default_filter(access_log)),
    }
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(access_log)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One JSON object per line: `timestamp`, `level`, `target`, `message` and the
        // event's fields (a rejection's `check`, `code`, `reason`, `fix`, `method`,
        // `host`, `path`, `origin`, `peer`, `request_id`).
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        _ => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filters_parse() {
        for on in [false, true] {
            assert!(tracing_subscriber::EnvFilter::try_new(default_filter(on)).is_ok());
        }
        assert!(default_filter(true).contains("hardened::access=info"));
    }
}
