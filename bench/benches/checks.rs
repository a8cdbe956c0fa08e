//! Per-request cost of each check and of the whole stack at 10, 1 000 and 10 000
//! security domains, against linear baselines (a `Vec<String>` scan, tower-http's
//! `CorsLayer` with `AllowOrigin::list`) and the bare service.
//!
//! Every service bench drops the response inside the timed routine, as a server does
//! once it has written it: the cost of the headers a layer adds includes freeing them.
//!
//! Bench ids are `<check>/<case>/<implementation>/<domains>`, e.g.
//! `cors/hit/tower-http/10000`; run a subset with `cargo bench -p hardened-bench --bench
//! checks -- cors/hit`. `scripts/bench-all.sh` runs them all and summarizes.

use std::cell::OnceCell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use hardened::{Check, Checks};
use hardened_bench::{
    Case, SIZES, Shape, TowerHttpStack, call_now, naive_host_allowed, naive_origin_allowed,
    origins, request, tower_http_cors, trivial_service,
};
use http::{HeaderMap, HeaderValue, header};
use tower::Layer;

fn only(check: Check) -> Checks {
    match check {
        Check::Host => Checks::NONE.with_host(true),
        Check::Tls => Checks::NONE.with_tls(true),
        Check::Cors => Checks::NONE.with_cors(true),
        Check::Csrf => Checks::NONE.with_csrf(true),
        _ => Checks::NONE,
    }
}

/// The pure decision of one check (`Security::decide_with`) vs a linear scan.
fn pure_checks(c: &mut Criterion) {
    let plan: [(Check, Shape, &[Case]); 3] = [
        (
            Check::Host,
            Shape::Host,
            &[
                Case::Hit,
                Case::Miss,
                Case::Subdomain,
                Case::PrivateIp,
                Case::Loopback,
            ],
        ),
        (
            Check::Cors,
            Shape::Cors,
            &[
                Case::Hit,
                Case::Miss,
                Case::Subdomain,
                Case::Loopback,
                Case::Preflight,
            ],
        ),
        (
            Check::Csrf,
            Shape::Csrf,
            &[Case::Hit, Case::Miss, Case::Subdomain, Case::Loopback],
        ),
    ];
    for (check, shape, cases) in plan {
        for &case in cases {
            let mut g = c.benchmark_group(format!("{}/{}", check.as_str(), case.name()));
            for n in SIZES {
                // Built on first use, so a filtered run builds only what it benches.
                let sec = OnceCell::new();
                let (parts, ()) = request(case, n, shape).into_parts();
                let checks = only(check);
                g.bench_with_input(BenchmarkId::new("hardened", n), &parts, |b, parts| {
                    let sec = sec.get_or_init(|| case.security(n));
                    b.iter(|| black_box(sec.decide_with(black_box(parts), checks)));
                });
                // The linear baseline, where a flat list can express the case.
                let list = match (check, case) {
                    (Check::Host, Case::Hit | Case::Miss | Case::Subdomain) => {
                        Some(case.domains(n))
                    }
                    (Check::Cors | Check::Csrf, Case::Hit | Case::Miss | Case::Preflight) => {
                        Some(origins(n))
                    }
                    _ => None,
                };
                if let Some(list) = list {
                    g.bench_with_input(BenchmarkId::new("naive", n), &parts, |b, parts| {
                        b.iter(|| {
                            black_box(match check {
                                Check::Host => naive_host_allowed(&list, black_box(parts)),
                                _ => naive_origin_allowed(&list, black_box(parts)),
                            })
                        });
                    });
                }
            }
            g.finish();
        }
    }
}

/// CORS as a tower layer on the trivial service: hardened's `cors_layer()` vs
/// tower-http's `CorsLayer` with `AllowOrigin::list`.
fn cors_layers(c: &mut Criterion) {
    for case in [Case::Hit, Case::Miss, Case::Preflight] {
        let mut g = c.benchmark_group(format!("cors-layer/{}", case.name()));
        for n in SIZES {
            let mut ours = None;
            g.bench_function(BenchmarkId::new("hardened", n), |b| {
                let ours = ours
                    .get_or_insert_with(|| case.security(n).cors_layer().layer(trivial_service()));
                b.iter_batched(
                    || request(case, n, Shape::Cors),
                    |req| drop(black_box(call_now(ours, req))),
                    BatchSize::SmallInput,
                );
            });
            let mut theirs = None;
            g.bench_function(BenchmarkId::new("tower-http", n), |b| {
                let theirs =
                    theirs.get_or_insert_with(|| tower_http_cors(n).layer(trivial_service()));
                b.iter_batched(
                    || request(case, n, Shape::Cors),
                    |req| drop(black_box(call_now(theirs, req))),
                    BatchSize::SmallInput,
                );
            });
        }
        g.finish();
    }
}

/// The whole stack (`Security::layer()`) per request on the trivial service, the bare
/// service measured the same way, and, for the cases a Host allow-list and a CORS list
/// can express (hit, miss, preflight), the equivalent tower-http stack
/// ([`TowerHttpStack`]: five `SetResponseHeaderLayer`s, a Host allow-list, `CorsLayer`).
fn stack(c: &mut Criterion) {
    {
        let mut g = c.benchmark_group("stack/bare");
        let mut bare = trivial_service();
        g.bench_function(BenchmarkId::new("bare", 0), |b| {
            b.iter_batched(
                || request(Case::Hit, 10, Shape::Stack),
                |req| drop(black_box(call_now(&mut bare, req))),
                BatchSize::SmallInput,
            );
        });
        g.finish();
    }
    for case in Case::ALL {
        let mut g = c.benchmark_group(format!("stack/{}", case.name()));
        for n in SIZES {
            let mut svc = None;
            g.bench_function(BenchmarkId::new("hardened", n), |b| {
                let svc =
                    svc.get_or_insert_with(|| case.security(n).layer().layer(trivial_service()));
                b.iter_batched(
                    || request(case, n, Shape::Stack),
                    |req| drop(black_box(call_now(svc, req))),
                    BatchSize::SmallInput,
                );
            });
            if !matches!(case, Case::Hit | Case::Miss | Case::Preflight) {
                continue;
            }
            let mut theirs = None;
            g.bench_function(BenchmarkId::new("tower-http", n), |b| {
                let theirs =
                    theirs.get_or_insert_with(|| TowerHttpStack::new(n).layer(trivial_service()));
                b.iter_batched(
                    || request(case, n, Shape::Stack),
                    |req| drop(black_box(call_now(theirs, req))),
                    BatchSize::SmallInput,
                );
            });
        }
        g.finish();
    }
}

/// Where the whole stack's time goes, for the hit case at 10 domains: the decision
/// alone (every check), and the response headers it adds (`Vary`, two CORS headers,
/// five security headers) inserted into an empty `HeaderMap` and freed, as the layer
/// does today (the map grows) and with one `reserve` up front.
fn breakdown(c: &mut Criterion) {
    let mut g = c.benchmark_group("breakdown/hit");
    let sec = Case::Hit.security(10);
    let (parts, ()) = request(Case::Hit, 10, Shape::Stack).into_parts();
    g.bench_function(BenchmarkId::new("decide", 10), |b| {
        b.iter(|| black_box(sec.decide(black_box(&parts))));
    });
    let origin = HeaderValue::from_static("https://app5.example.com");
    let coop = header::HeaderName::from_static("cross-origin-opener-policy");
    for reserve in [false, true] {
        let name = if reserve {
            "headers-reserved"
        } else {
            "headers-grown"
        };
        g.bench_function(BenchmarkId::new(name, 10), |b| {
            b.iter(|| {
                let mut h = HeaderMap::new();
                if reserve {
                    h.reserve(11);
                }
                h.append(header::VARY, HeaderValue::from_static("origin"));
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
                h.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                h.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                );
                h.insert(coop.clone(), HeaderValue::from_static("same-origin"));
                h.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("0"));
                drop(black_box(h));
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = pure_checks, cors_layers, stack, breakdown
}
criterion_main!(benches);
