//! Per-route overrides in code: [`Security::route`] builds a tower layer for one route
//! or router, validated as a `routes:` entry of the file.
//!
//! The layer marks the request, and the security layer reads the mark, whichever of
//! the two runs first:
//!
//! - **outside the security layer** (applied after it, so it sees the request first):
//!   the mark is in the request when the policy decides, so every override applies,
//!   the request-side ones (`csrf_exempt`, `skip_host_allowlist`, `no_ssl_redirect`,
//!   `report_only`, the route's CORS preflights) too;
//! - **inside it** (axum's `Router::route_layer`, which runs after routing): the
//!   request was judged before the route was known, so the layer can only tighten what
//!   happens next: it runs the CSRF check again for `csrf_enforce`, and hands its mark
//!   back with the response, whose headers and CORS the security layer then sets by the
//!   route. A CORS preflight never reaches it (the security layer answers preflights
//!   before routing, by the file's routes or the global rules). Relaxing a request
//!   check needs the mark before the decision: put such a route in `routes:` (or
//!   [`Config::routes`](crate::config::Config::routes)), or apply the layer outside the
//!   security layer. The layer logs it, once, when a relaxation arrives too late.
//!
//! ```
//! use bytes::Bytes;
//! use hardened::{config::Config, probe::RuntimeProbe, Security};
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let security = Security::from_config(&Config::production(["example.com"])?, &RuntimeProbe::none())?;
//! let embed = ServiceBuilder::new()
//!     .layer(security.layer())
//!     .layer(security.route().frame_ancestors(["https://partner.example"]).layer()?)
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("widget"))))
//!     }));
//! let req = Request::get("/embed").header("host", "example.com").body(Full::default())?;
//! let resp = embed.oneshot(req).await?;
//! assert_eq!(resp.headers()["content-security-policy"], "frame-ancestors https://partner.example");
//! assert!(resp.headers().get("x-frame-options").is_none());
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{
    Config, ConfigErrors, CsrfMode, HeaderOverride, HeadersConfig, HostCheckMode, ReportOnly,
    RouteConfig, RouteCors,
};
use crate::enforce::{Checks, Client, CspNonce, Decision, RouteMark, Security};

/// Put into a passed request's extensions by the security layer when route layers
/// exist: the request was judged, by this client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decided(pub(crate) Client);

/// A route layer's mark handed back with the response: the route, the CORS origin it
/// allows (when the route has CORS rules) and the nonce it drew.
#[derive(Clone, Debug)]
pub(crate) struct ResponseMark {
    pub(crate) route: RouteMark,
    pub(crate) cors_origin: Option<HeaderValue>,
    pub(crate) nonce: Option<CspNonce>,
}

impl Security {
    /// Overrides for one route or router, as a tower layer (see the
    /// [module docs](crate::route)): `Router::new().route("/embed", get(h))
    /// .route_layer(security.route().frame_ancestors(["https://partner.example"]).layer()?)`.
    pub fn route(&self) -> RouteBuilder {
        RouteBuilder {
            security: self.clone(),
            config: RouteConfig::new("/"),
        }
    }
}

/// The overrides of a route layer; [`RouteBuilder::layer`] validates them as the file's
/// `routes:` entries are validated.
#[derive(Clone, Debug)]
#[must_use]
pub struct RouteBuilder {
    security: Security,
    config: RouteConfig,
}

impl RouteBuilder {
    /// Framable by these origins: CSP `frame-ancestors` (X-Frame-Options, which cannot
    /// name origins, is dropped).
    pub fn frame_ancestors<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config = self.config.frame_ancestors(origins);
        self
    }

    /// No X-Frame-Options (Django's `@xframe_options_exempt`).
    pub fn xframe_options_exempt(mut self) -> Self {
        self.config = self.config.xframe_options_exempt();
        self
    }

    /// No CSRF check (Django's `@csrf_exempt`): needs the mark before the decision
    /// (see the [module docs](crate::route)).
    pub fn csrf_exempt(mut self) -> Self {
        self.config.csrf = Some(CsrfMode::Exempt);
        self
    }

    /// Any site may load or call the route (`cross_site: allow`): Fetch Metadata's
    /// resource isolation is off on it; needs the mark before the decision (see the
    /// [module docs](crate::route)).
    pub fn cross_site_allow(mut self) -> Self {
        self.config.cross_site = Some(crate::config::CrossSiteMode::Allow);
        self
    }

    /// The CSRF check, even where `csrf_exempt_paths` exempts the path.
    pub fn csrf_enforce(mut self) -> Self {
        self.config.csrf = Some(CsrfMode::Enforce);
        self
    }

    /// This route's `Content-Security-Policy` (`{nonce}` for a per-response nonce).
    pub fn content_security_policy(mut self, csp: impl Into<String>) -> Self {
        self.config.headers.content_security_policy = HeaderOverride::Set(csp.into());
        self
    }

    /// Header overrides, as a `routes:` entry's `headers:`.
    pub fn headers(mut self, headers: HeadersConfig) -> Self {
        self.config.headers = headers;
        self
    }

    /// CORS overrides, as a `routes:` entry's `cors:`.
    pub fn cors(mut self, cors: RouteCors) -> Self {
        self.config.cors = Some(cors);
        self
    }

    /// Any well-formed Host, as on health checks.
    pub fn skip_host_allowlist(mut self) -> Self {
        self.config.host_check = Some(HostCheckMode::SkipAllowlist);
        self
    }

    /// No TLS redirect.
    pub fn no_ssl_redirect(mut self) -> Self {
        self.config.ssl_redirect = Some(false);
        self
    }

    /// These checks only report on the route.
    pub fn report_only(mut self, checks: ReportOnly) -> Self {
        self.config.report_only = Some(checks);
        self
    }

    /// The layer.
    ///
    /// # Errors
    /// What the file's validation refuses in a `routes:` entry (an invalid header
    /// value or origin, an entry that contradicts itself), keyed `route.*`.
    pub fn layer(self) -> Result<RouteLayer, ConfigErrors> {
        let policy = self.security.policy();
        let cfg = Config {
            environment: policy.environment,
            routes: vec![self.config.clone()],
            ..Config::default()
        };
        let mut problems: Vec<_> = crate::policy::route_problems(&cfg)
            .into_iter()
            // A route layer is as wide as what the application puts it on: not judged
            // as a path.
            .filter(|p| p.kind() != crate::config::ProblemKind::CatchAll)
            .map(|p| p.rekey("routes[0]", "route"))
            .collect();
        let mut route = crate::policy::derive_route(&self.config, &policy.headers, &policy.cors);
        crate::policy::point_route_headers(
            &mut route,
            policy.reports.as_ref(),
            policy.environment.is_strict(),
        );
        let rules = crate::enforce::RouteRules::compile(
            "route layer".to_owned(),
            None,
            &route,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        self.security.enable_route_layers();
        Ok(RouteLayer {
            security: self.security,
            mark: RouteMark(Arc::new(rules)),
            warned: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// The layer of [`RouteBuilder::layer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RouteLayer {
    security: Security,
    mark: RouteMark,
    warned: Arc<AtomicBool>,
}

impl<S> Layer<S> for RouteLayer {
    type Service = RouteService<S>;

    fn layer(&self, inner: S) -> RouteService<S> {
        RouteService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of a [`RouteLayer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RouteService<S> {
    inner: S,
    layer: RouteLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RouteService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RouteFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        let layer = &self.layer;
        let Some(Decided(client)) = parts.extensions.get::<Decided>().copied() else {
            // Outside the security layer: it reads the mark when it decides.
            parts.extensions.insert(layer.mark.clone());
            return RouteFuture {
                fut: Some(self.inner.call(Request::from_parts(parts, body))),
                answer: None,
                mark: None,
            };
        };
        let rules = &layer.mark.0;
        if (rules.csrf_exempt == Some(true)
            || rules.skip_host_allowlist
            || rules.no_ssl_redirect
            || rules.cross_site_allow
            || rules.report_only.is_some())
            && !layer.warned.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                route = %rules.label,
                fix = "list the route in `routes:` (or Config::routes), or apply the route layer outside the security layer",
                "a route layer inside the security layer cannot relax request checks (csrf_exempt, skip_host_allowlist, no_ssl_redirect, cross_site_allow, report_only): the request was judged before the route was known; logged once"
            );
        }
        if rules.csrf_exempt == Some(false) {
            // Judged again with the route's mark: the path's exemption no longer holds.
            parts.extensions.insert(layer.mark.clone());
            let decision =
                layer
                    .security
                    .decide_for(&parts, Checks::NONE.with_csrf(true), client, None);
            parts.extensions.remove::<RouteMark>();
            if let Some(r) = decision.rejection() {
                crate::service::log_rejection(r, &parts, &client, None);
            }
            for answer in decision.facts().reported() {
                crate::service::log_reported(answer, &parts);
            }
            if let Decision::Answer(..) = decision
                && let Some(resp) = layer.security.respond::<Bytes>(decision)
            {
                let (head, bytes) = resp.into_parts();
                return RouteFuture {
                    fut: None,
                    answer: Some(Response::from_parts(head, ResBody::from(bytes))),
                    mark: None,
                };
            }
        }
        let head = crate::enforce::RequestHead::new(&parts, client.secure());
        let cors_origin = rules.cors.as_ref().and_then(|c| c.allowed_origin(&head));
        let nonce = rules
            .headers
            .as_ref()
            .is_some_and(|h| h.needs_nonce())
            .then(CspNonce::generate);
        if let Some(n) = nonce {
            parts.extensions.insert(n);
        }
        RouteFuture {
            fut: Some(self.inner.call(Request::from_parts(parts, body))),
            answer: None,
            mark: Some(ResponseMark {
                route: layer.mark.clone(),
                cors_origin,
                nonce,
            }),
        }
    }
}

pin_project! {
    /// The response future of [`RouteService`].
    pub struct RouteFuture<F, B> {
        #[pin]
        fut: Option<F>,
        answer: Option<Response<B>>,
        mark: Option<ResponseMark>,
    }
}

impl<F, B, E> Future for RouteFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(resp) = this.answer.take() {
            return Poll::Ready(Ok(resp));
        }
        let Some(fut) = this.fut.as_pin_mut() else {
            return Poll::Pending;
        };
        let mut resp = match fut.poll(cx) {
            Poll::Ready(r) => r?,
            Poll::Pending => return Poll::Pending,
        };
        if let Some(mark) = this.mark.take() {
            resp.extensions_mut().insert(mark);
        }
        Poll::Ready(Ok(resp))
    }
}
