//! Summarizes the `checks` criterion bench as markdown: per bench the median time per
//! iteration with the min–max over criterion's samples, then the ratios the goals are
//! about, each against a baseline measured in the same run.
//!
//! ```text
//! bench-report [CRITERION_DIR]     # default target/criterion
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use hardened_bench::{Case, SIZES};
use serde_json::Value;

/// One bench: median, min and max nanoseconds per iteration over the samples.
#[derive(Clone, Copy, Debug)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(sample: &Value) -> Option<Stat> {
    let iters = sample.get("iters")?.as_array()?;
    let times = sample.get("times")?.as_array()?;
    let mut per: Vec<f64> = iters
        .iter()
        .zip(times)
        .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()?))
        .collect();
    if per.is_empty() {
        return None;
    }
    per.sort_by(f64::total_cmp);
    let mid = per.len() / 2;
    let median = if per.len().is_multiple_of(2) {
        (per.get(mid - 1)? + per.get(mid)?) / 2.0
    } else {
        *per.get(mid)?
    };
    Some(Stat {
        median,
        min: *per.first()?,
        max: *per.last()?,
    })
}

fn find(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "new") && p.join("benchmark.json").exists() {
                out.push(p);
            } else {
                find(&p, out);
            }
        }
    }
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// Benches by `(group, function, value)`.
type Results = BTreeMap<(String, String, String), Stat>;

fn load(root: &Path) -> Results {
    let mut dirs = Vec::new();
    find(root, &mut dirs);
    let mut out = Results::new();
    for d in dirs {
        let (Some(b), Some(s)) = (
            read_json(&d.join("benchmark.json")),
            read_json(&d.join("sample.json")),
        ) else {
            continue;
        };
        let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        if let Some(st) = stat(&s) {
            out.insert(
                (field("group_id"), field("function_id"), field("value_str")),
                st,
            );
        }
    }
    out
}

fn get(r: &Results, group: &str, function: &str, n: usize) -> Option<Stat> {
    r.get(&(group.to_owned(), function.to_owned(), n.to_string()))
        .copied()
}

fn ns(s: Stat) -> String {
    format!("{:.1} ({:.1}–{:.1})", s.median, s.min, s.max)
}

fn cell(s: Option<Stat>) -> String {
    s.map_or_else(|| "—".to_owned(), ns)
}

fn ratio(a: Option<Stat>, b: Option<Stat>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}×", a.median / b.median),
        _ => "—".to_owned(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn main() -> ExitCode {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/criterion"), PathBuf::from);
    let r = load(&root);
    if r.is_empty() {
        eprintln!(
            "bench-report: no criterion results under {}; run `cargo bench -p hardened-bench --bench checks` first",
            root.display()
        );
        return ExitCode::FAILURE;
    }
    let big = SIZES[SIZES.len() - 1];
    let small = SIZES[0];

    println!("### Pure checks: `Security::decide_with` (one check) vs a `Vec<String>` scan\n");
    println!("Nanoseconds per request: median (min–max over criterion's samples).\n");
    println!(
        "| check/case | domains | hardened ns | naive scan ns | naive ÷ hardened | hardened {big} ÷ {small} |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut groups: Vec<&String> = r
        .keys()
        .map(|(g, _, _)| g)
        .filter(|g| ["host/", "cors/", "csrf/"].iter().any(|p| g.starts_with(p)))
        .collect();
    groups.dedup();
    for g in &groups {
        let flat = ratio(get(&r, g, "hardened", big), get(&r, g, "hardened", small));
        for n in SIZES {
            let h = get(&r, g, "hardened", n);
            let v = get(&r, g, "naive", n);
            println!(
                "| {g} | {n} | {} | {} | {} | {} |",
                cell(h),
                cell(v),
                ratio(v, h),
                if n == big { flat.as_str() } else { "" }
            );
        }
    }

    println!(
        "\n### CORS as a layer on the trivial service: hardened `cors_layer()` vs tower-http `CorsLayer` + `AllowOrigin::list`\n"
    );
    println!("| case | domains | hardened ns | tower-http ns | tower-http ÷ hardened |");
    println!("|---|---:|---:|---:|---:|");
    let mut tower_ratio_big = Vec::new();
    for case in [Case::Hit, Case::Miss, Case::Preflight] {
        let g = format!("cors-layer/{}", case.name());
        for n in SIZES {
            let h = get(&r, &g, "hardened", n);
            let t = get(&r, &g, "tower-http", n);
            if n == big
                && let (Some(h), Some(t)) = (h, t)
            {
                tower_ratio_big.push((case.name(), t.median / h.median));
            }
            println!(
                "| {} | {n} | {} | {} | {} |",
                case.name(),
                cell(h),
                cell(t),
                ratio(t, h)
            );
        }
    }

    println!("\n### Whole stack: `Security::layer()` on the trivial service, per request\n");
    let bare = r
        .get(&("stack/bare".to_owned(), "bare".to_owned(), "0".to_owned()))
        .copied();
    println!("Bare service, same harness: {} ns.\n", cell(bare));
    println!(
        "| case | domains | stack ns | added ns (stack − bare, medians) | stack {big} ÷ {small} |"
    );
    println!("|---|---:|---:|---:|---:|");
    let mut flat_worst: Option<(&str, f64)> = None;
    let mut added_worst: Option<(&str, usize, f64)> = None;
    for case in Case::ALL {
        let g = format!("stack/{}", case.name());
        let hs = get(&r, &g, "hardened", small);
        let hb = get(&r, &g, "hardened", big);
        if let (Some(a), Some(b)) = (hb, hs) {
            let f = a.median / b.median;
            if flat_worst.is_none_or(|(_, w)| f > w) {
                flat_worst = Some((case.name(), f));
            }
        }
        for n in SIZES {
            let h = get(&r, &g, "hardened", n);
            let added = match (h, bare) {
                (Some(h), Some(b)) => {
                    let a = h.median - b.median;
                    if added_worst.is_none_or(|(_, _, w)| a > w) {
                        added_worst = Some((case.name(), n, a));
                    }
                    format!("{a:.1}")
                }
                _ => "—".to_owned(),
            };
            println!(
                "| {} | {n} | {} | {added} | {} |",
                case.name(),
                cell(h),
                if n == big {
                    ratio(hb, hs)
                } else {
                    String::new()
                }
            );
        }
    }

    println!(
        "\n### Whole stack vs the same job from tower-http parts (five `SetResponseHeaderLayer`s, a Host allow-list, `CorsLayer`)\n"
    );
    println!("Miss is a foreign Host: both answer 400 (hardened with a body giving the reason).\n");
    println!("| case | domains | hardened ns | tower-http stack ns | tower-http ÷ hardened |");
    println!("|---|---:|---:|---:|---:|");
    for case in [Case::Hit, Case::Miss, Case::Preflight] {
        let g = format!("stack/{}", case.name());
        for n in SIZES {
            let h = get(&r, &g, "hardened", n);
            let t = get(&r, &g, "tower-http", n);
            println!(
                "| {} | {n} | {} | {} | {} |",
                case.name(),
                cell(h),
                cell(t),
                ratio(t, h)
            );
        }
    }

    println!("\n### Breakdown of the stack's cost (hit, {small} domains)\n");
    println!("| part | ns |");
    println!("|---|---:|");
    let part = |f: &str| get(&r, "breakdown/hit", f, small);
    println!("| bare service (harness, request drop) | {} |", cell(bare));
    println!(
        "| whole stack | {} |",
        cell(get(&r, "stack/hit", "hardened", small))
    );
    println!(
        "| `decide` (host, TLS, CORS, CSRF) | {} |",
        cell(part("decide"))
    );
    println!(
        "| 8 response headers into an empty map, grown (as the layer does) | {} |",
        cell(part("headers-grown"))
    );
    println!(
        "| the same with one `reserve` up front | {} |",
        cell(part("headers-reserved"))
    );

    println!("\n### Goals\n");
    println!("| goal | measured | verdict |");
    println!("|---|---|---|");
    if let Some((case, f)) = flat_worst {
        println!(
            "| whole stack flat from {small} to {big} domains (≤ 1.5×) | worst case `{case}`: {f:.2}× | {} |",
            verdict(f <= 1.5)
        );
    }
    for (case, t) in &tower_ratio_big {
        println!(
            "| ≥ 20× faster than tower-http's list at {big} origins (`{case}`) | {t:.1}× | {} |",
            verdict(*t >= 20.0)
        );
    }
    if let Some((case, n, a)) = added_worst {
        println!(
            "| < 1 µs added per request (stack − bare) | worst `{case}` at {n}: {a:.0} ns | {} |",
            verdict(a < 1000.0)
        );
    }
    ExitCode::SUCCESS
}
