//! Getting the per-response CSP nonce into a handler, with the failure made explicit:
//! [`Security::require_csp_nonce`] refuses at start-up a policy whose CSP has no
//! `{nonce}` (so no nonce would ever be drawn), and with the `axum` feature
//! [`CspNonce`](super::CspNonce)
//! is an extractor whose rejection names the fix, with `Option<CspNonce>` for handlers
//! that render with or without one.

use super::{NONCE_PLACEHOLDER, Security};
use crate::config::{ConfigErrors, Problem, ProblemKind};

/// The fix of a policy without `{nonce}` whose handlers need one.
const NONCE_FIX: &str = "add `'nonce-{nonce}'` to the CSP's script-src, e.g. `headers: {content_security_policy: \"default-src 'self'; script-src 'self' 'nonce-{nonce}'\"}`, in every environment the handlers run in (development sends no CSP by default)";

impl Security {
    /// This security, when its policy draws a CSP nonce per request (a
    /// `content_security_policy` or report-only policy with `{nonce}`); else an error
    /// naming the key and the fix. Call it at start-up in an application whose handlers
    /// read [`CspNonce`](super::CspNonce), so a configuration that would leave them without one fails
    /// before the port opens, not as a `500` per page.
    ///
    /// ```
    /// use hardened::config::{Config, HeaderOverride};
    /// use hardened::probe::RuntimeProbe;
    /// use hardened::Security;
    ///
    /// let mut cfg = Config::development();
    /// let no_csp = Security::from_config(&cfg, &RuntimeProbe::none())?;
    /// assert!(no_csp.require_csp_nonce().is_err());
    /// cfg.headers.content_security_policy =
    ///     HeaderOverride::Set("script-src 'self' 'nonce-{nonce}'".into());
    /// let with_nonce = Security::from_config(&cfg, &RuntimeProbe::none())?;
    /// assert!(with_nonce.require_csp_nonce().is_ok());
    /// # Ok::<(), hardened::config::ConfigErrors>(())
    /// ```
    ///
    /// # Errors
    /// The policy sends no CSP with `{nonce}`.
    pub fn require_csp_nonce(self) -> Result<Security, ConfigErrors> {
        if self.needs_csp_nonce() {
            return Ok(self);
        }
        let env = self.policy().environment;
        Err(ConfigErrors(vec![Problem::new(
            ProblemKind::MissingValue,
            "headers.content_security_policy",
            format!(
                "the handlers read the CSP nonce, but the {env} policy's CSP has no `{NONCE_PLACEHOLDER}`: no nonce would be drawn"
            ),
            NONCE_FIX,
        )]))
    }
}

#[cfg(feature = "axum")]
mod axum_extract {
    use axum::extract::{FromRequestParts, OptionalFromRequestParts};
    use axum::response::{IntoResponse, Response};
    use http::StatusCode;
    use http::request::Parts;

    use super::NONCE_FIX;
    use crate::enforce::CspNonce;

    /// The rejection of a [`CspNonce`] extractor on a request the layer drew no nonce
    /// for: `500`, with the fix in the body and the log. [`Security::require_csp_nonce`]
    /// at start-up makes it impossible.
    ///
    /// [`Security::require_csp_nonce`]: crate::Security::require_csp_nonce
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct MissingCspNonce;

    impl IntoResponse for MissingCspNonce {
        fn into_response(self) -> Response {
            tracing::error!(
                fix = NONCE_FIX,
                "a handler reads the CSP nonce, but none was drawn: the CSP has no {{nonce}}, or the hardened layer is not around this route"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "no CSP nonce for this request: the Content-Security-Policy has no {nonce}, or the hardened layer is not around this route (call Security::require_csp_nonce at start-up)\n",
            )
                .into_response()
        }
    }

    /// The nonce the layer drew for this request (the CSP has `{nonce}`).
    impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
        type Rejection = MissingCspNonce;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts
                .extensions
                .get::<CspNonce>()
                .copied()
                .ok_or(MissingCspNonce)
        }
    }

    /// `Option<CspNonce>`: the nonce when the policy draws one, `None` otherwise.
    impl<S: Send + Sync> OptionalFromRequestParts<S> for CspNonce {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<CspNonce>().copied())
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_extract::MissingCspNonce;
