//! Build cost of a policy: time and heap to derive and compile it
//! (`policy::derive` + `Security::new`) for 10, 1 000 and 10 000 generated domains,
//! measured with a counting global allocator.
//!
//! ```text
//! build-cost [RUNS]     # RUNS timed builds per size (default 21); prints a markdown table
//! ```
//!
//! Reported per size: the median, min and max wall time of `derive` alone, of
//! `Security::new` alone and of both; the heap peak while building (above what was
//! allocated before) and the heap the compiled `Security` keeps. Parsing the domain
//! strings into a `Config` (`Config::production`) is timed apart: it is the config
//! loader's cost, not the policy's.
//!
//! Then, per request through the whole stack on the trivial service (the criterion
//! harness's `call_now`, response dropped): heap allocations and bytes allocated, for
//! the bare service, `Security::layer()` and the tower-http stack, for an allowed
//! request (hit) and a rejected one (miss: foreign Host), at 10 domains. Counting is
//! exact, so unlike times these figures do not depend on the machine's load.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hardened::Security;
use hardened::config::Config;
use hardened::policy;
use hardened_bench::{Case, Shape, TowerHttpStack, call_now, request, trivial_service};
use tower::Layer;

/// Counts live heap bytes and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Allocations (and reallocations) and the bytes they asked for.
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED.fetch_add(n, Ordering::Relaxed);
    let now = CURRENT.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrink(n: usize) {
    CURRENT.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and
// only updates two counters, so `System`'s guarantees carry over.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        // `grow` counted the reallocation as an allocation.
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Median, min and max of some durations.
fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let mid = v.get(v.len() / 2).copied().unwrap_or_default();
    let min = v.first().copied().unwrap_or_default();
    let max = v.last().copied().unwrap_or_default();
    (mid, min, max)
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

fn mib(bytes: usize) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

/// Heap peak (above the starting level) while running `f`, and what `f`'s result keeps.
fn heap<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let kept = CURRENT.load(Ordering::Relaxed).saturating_sub(base);
    (out, peak, kept)
}

/// Allocations and bytes allocated per call of `svc` (averaged over 1 000 calls, after
/// 100 to warm up), the request built outside the count.
fn allocs_per_request<S>(svc: &mut S, case: Case, n: usize) -> (f64, f64)
where
    S: tower::Service<http::Request<()>>,
    S::Error: std::fmt::Debug,
{
    const CALLS: usize = 1_000;
    for _ in 0..100 {
        drop(call_now(svc, request(case, n, Shape::Stack)));
    }
    let (mut count, mut bytes) = (0, 0);
    for _ in 0..CALLS {
        let req = request(case, n, Shape::Stack);
        let (c0, b0) = (
            ALLOCS.load(Ordering::Relaxed),
            ALLOCATED.load(Ordering::Relaxed),
        );
        drop(std::hint::black_box(call_now(svc, req)));
        count += ALLOCS.load(Ordering::Relaxed) - c0;
        bytes += ALLOCATED.load(Ordering::Relaxed) - b0;
    }
    (count as f64 / CALLS as f64, bytes as f64 / CALLS as f64)
}

/// The allocations table.
fn print_allocs() {
    let n = 10;
    println!();
    println!(
        "| request ({n} domains) | service | allocations per request | bytes allocated per request |"
    );
    println!("|---|---|---:|---:|");
    for case in [Case::Hit, Case::Miss] {
        let mut bare = trivial_service();
        let mut ours = case.security(n).layer().layer(trivial_service());
        let mut theirs = TowerHttpStack::new(n).layer(trivial_service());
        for (name, (c, b)) in [
            ("bare", allocs_per_request(&mut bare, case, n)),
            (
                "`Security::layer()`",
                allocs_per_request(&mut ours, case, n),
            ),
            ("tower-http stack", allocs_per_request(&mut theirs, case, n)),
        ] {
            println!("| {} | {name} | {c:.1} | {b:.0} |", case.name());
        }
    }
}

fn main() -> ExitCode {
    let runs: usize = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 21,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: build-cost [RUNS]");
            return ExitCode::from(2);
        }
    };
    println!(
        "| config | domains | parse `Config::production` ms | `derive` ms | `Security::new` ms | derive + new ms (median, min–max) | heap peak MiB | heap kept MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, case) in [("production", Case::Hit), ("development", Case::Loopback)] {
        for n in hardened_bench::SIZES {
            let probe = case.probe();
            let mut parse = Vec::new();
            let mut derive = Vec::new();
            let mut new = Vec::new();
            let mut both = Vec::new();
            let mut peak = 0;
            let mut kept = 0;
            for _ in 0..runs {
                let t = Instant::now();
                let cfg: Config = case.config(n);
                parse.push(t.elapsed());

                let t = Instant::now();
                let p = match policy::derive(&cfg, &probe) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("build-cost: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let t_derive = t.elapsed();
                let t = Instant::now();
                let sec = Security::new(p);
                let t_new = t.elapsed();
                drop(sec);
                derive.push(t_derive);
                new.push(t_new);

                // The figure the goal is about: both steps in one go, with its heap.
                let t = Instant::now();
                let (sec, p, k) = heap(|| Security::from_config(&cfg, &probe));
                both.push(t.elapsed());
                peak = peak.max(p);
                kept = kept.max(k);
                if let Err(e) = sec {
                    eprintln!("build-cost: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let (pm, _, _) = stats(parse);
            let (dm, _, _) = stats(derive);
            let (nm, _, _) = stats(new);
            let (bm, bmin, bmax) = stats(both);
            println!(
                "| {label} | {n} | {} | {} | {} | {} ({}–{}) | {} | {} |",
                ms(pm),
                ms(dm),
                ms(nm),
                ms(bm),
                ms(bmin),
                ms(bmax),
                mib(peak),
                mib(kept),
            );
        }
    }
    print_allocs();
    ExitCode::SUCCESS
}
