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

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hardened::Security;
use hardened::config::Config;
use hardened::policy;
use hardened_bench::Case;

/// Counts live heap bytes and their peak.
struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
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
    ExitCode::SUCCESS
}
