#!/usr/bin/env python3
"""Conformance of `hardened` against real Django + django-cors-headers.

    .venv/bin/python conformance/run.py --hardened target/debug/hardened [--seed N]
        [--config NAME]... [--verbose] [--report FILE]

For every configuration in conformance/configs/*.yaml it generates a seeded request
corpus (corpus.py), runs it through

- `hardened explain --config C --batch FILE` (one process per configuration), and
- a real Django stack configured with the same policy (django_worker.py, one process
  per configuration; settings from `hardened show --config C --format django`),

and compares, per request: verdict (allow | reject | redirect | preflight), status,
rejecting check, redirect Location, Access-Control-Allow-Origin / -Credentials /
-Headers / -Methods / -Max-Age, whether Vary names origin, Strict-Transport-Security,
and the security headers (X-Content-Type-Options, X-Frame-Options, Referrer-Policy,
Cross-Origin-Opener-Policy, X-XSS-Protection).

A differing field is either claimed by a named exclusion (exclusions.py, each one
documented in docs/conformance-divergences.md) or is an unexplained mismatch. Prints
totals and exits 1 on any unexplained mismatch (2 on a harness error).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # keep the source tree clean

import corpus  # noqa: E402
import exclusions  # noqa: E402
import expected  # noqa: E402

CONFIGS = HERE / "configs"
DEFAULT_SEED = 20251124

# Compared fields, in report order.
FIELDS = [
    "verdict", "status", "check", "location",
    "acao", "acac", "acah", "acam", "acma", "vary_origin",
    "hsts", "nosniff", "xfo", "referrer_policy", "coop", "xxss",
]
# A difference in these is a difference in what the request is allowed to do or
# read; the rest are the security headers of the response.
CORE_FIELDS = frozenset({
    "verdict", "status", "check", "location",
    "acao", "acac", "acah", "acam", "acma", "vary_origin", "hsts",
})
HEADER_FIELDS = {
    "acao": "access-control-allow-origin",
    "acac": "access-control-allow-credentials",
    "acah": "access-control-allow-headers",
    "acam": "access-control-allow-methods",
    "acma": "access-control-max-age",
    "hsts": "strict-transport-security",
    "nosniff": "x-content-type-options",
    "xfo": "x-frame-options",
    "referrer_policy": "referrer-policy",
    "coop": "cross-origin-opener-policy",
    "xxss": "x-xss-protection",
}


DOCS = [HERE.parent / "docs" / "conformance-divergences.md", HERE.parent / "docs" / "decisions.md"]


def undocumented_exclusions() -> list[str]:
    """Exclusion names that no document mentions as `name`."""
    text = "".join(p.read_text(encoding="utf-8") for p in DOCS if p.exists())
    return [e.name for e in exclusions.EXCLUSIONS if f"`{e.name}`" not in text]


class HarnessError(Exception):
    """The harness itself failed (not a conformance mismatch)."""


def header(headers: list, name: str) -> str | None:
    values = [v for n, v in headers if n.lower() == name]
    return ", ".join(values) if values else None


def vary_has_origin(headers: list) -> bool:
    for n, v in headers:
        if n.lower() == "vary":
            if any(t.strip().lower() in ("origin", "*") for t in v.split(",")):
                return True
    return False


def request_header(req: dict, name: str) -> str | None:
    for n, v in req["headers"]:
        if n.lower() == name:
            return v
    return None


def is_preflight(req: dict) -> bool:
    return req["method"] == "OPTIONS" and request_header(
        req, "access-control-request-method") is not None


def outcome_fields(headers: list) -> dict:
    out = {k: header(headers, h) for k, h in HEADER_FIELDS.items()}
    out["vary_origin"] = vary_has_origin(headers)
    out["location"] = header(headers, "location")
    return out


def django_outcome(req: dict, raw: dict) -> dict:
    status = raw["status"]
    check = None
    if raw["reached_view"]:
        verdict = "allow"
    elif status == 400 and "django.security.DisallowedHost" in raw["security_loggers"]:
        verdict, check = "reject", "host"
    elif status == 403 and raw["csrf_reason"] is not None:
        verdict, check = "reject", "csrf"
    elif status == 301:
        verdict = "redirect"
    elif status == 200 and is_preflight(req):
        verdict = "preflight"
    else:
        verdict = f"unknown-{status}"
    out = {"verdict": verdict, "status": status, "check": check}
    out.update(outcome_fields(raw["headers"]))
    out["_reason"] = raw["csrf_reason"] or ", ".join(raw["security_loggers"]) or None
    out["_headers"] = raw["headers"]
    return out


def hardened_outcome(raw: dict) -> dict:
    out = {
        "verdict": raw["verdict"],
        "status": raw["status"],
        "check": raw.get("check") if raw["verdict"] == "reject" else None,
    }
    out.update(outcome_fields(raw["response_headers"]))
    out["_reason"] = raw.get("reason")
    out["_code"] = raw.get("code")
    out["_secure"] = raw.get("secure")
    out["_headers"] = raw["response_headers"]
    return out


def clean_env() -> dict:
    """The environment of the `hardened` child: nothing that could change the config
    (SECURITY_DOMAINS, DEBUG, ...) and no real container probe (DOCKER=false)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "SYSTEMROOT") if k in os.environ}
    env["DOCKER"] = "false"
    return env


def django_settings(hardened: str, config: Path, workdir: Path) -> Path:
    """The Django settings fragment for a config: `hardened show --format django`."""
    proc = subprocess.run(
        [hardened, "show", "--config", str(config), "--format", "django"],
        capture_output=True, text=True, env=clean_env(), cwd=workdir, check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise HarnessError(
            f"hardened show --config {config.name} --format django failed "
            f"(exit {proc.returncode}): {proc.stderr.strip()[:2000]}"
        )
    path = workdir / f"{config.stem}.settings.py"
    path.write_text(proc.stdout, encoding="utf-8")
    return path


def _same(actual, want) -> bool:
    if isinstance(want, set):
        return isinstance(actual, (list, tuple)) and len(set(actual)) == len(actual) \
            and set(actual) == want
    return type(actual) is type(want) and actual == want


def settings_errors(name: str, path: Path) -> list[str]:
    """Where the Django fragment differs from the literal values in expected.py."""
    import re

    from django.utils.http import is_same_domain

    want = expected.EXPECTED.get(name)
    if want is None:
        return [f"{name}: no expected settings in expected.py"]
    ns: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), ns)  # noqa: S102
    errors = []
    for key, value in want["exact"].items():
        if key not in ns:
            errors.append(f"{name}: {key} missing (expected {value!r})")
        elif not _same(ns[key], value):
            errors.append(f"{name}: {key} = {ns[key]!r}, expected {value!r}")

    def cors(origin: str) -> bool:  # django-cors-headers' CorsMiddleware
        return (origin in ns.get("CORS_ALLOWED_ORIGINS", [])
                or any(re.match(p, origin) for p in ns.get("CORS_ALLOWED_ORIGIN_REGEXES", [])))

    def csrf(origin: str) -> bool:  # CsrfViewMiddleware._origin_verified
        trusted = ns.get("CSRF_TRUSTED_ORIGINS", [])
        if origin in trusted:
            return True
        scheme, _, netloc = origin.partition("://")
        return any(t.startswith(f"{scheme}://*.") and is_same_domain(netloc, t.split("://*", 1)[1])
                   for t in trusted)

    for key, test, should in (("cors_allowed", cors, True), ("cors_refused", cors, False),
                              ("csrf_trusted", csrf, True), ("csrf_refused", csrf, False)):
        for origin in want[key]:
            if test(origin) != should:
                errors.append(f"{name}: {key.split('_')[0].upper()} "
                              f"{'refuses' if should else 'accepts'} {origin}")
    return errors


def verdict_mix(run: dict) -> tuple[dict[str, Counter], list[str]]:
    """Per side, how many requests were allowed, rejected (by check), redirected and
    answered as preflights; and where a count is below its floor in expected.py."""
    floors = expected.FLOORS.get(run["config"])
    if floors is None:
        return {}, [f"{run['config']}: no verdict floors in expected.py"]
    mix, errors = {}, []
    for side in ("django", "hardened"):
        c = Counter()
        for res in run["results"]:
            o = res[side]
            c[o["verdict"] + (f"-{o['check']}" if o["verdict"] == "reject" else "")] += 1
        mix[side] = c
        for verdict, floor in floors.items():
            n = c.get(verdict, 0)
            if n < floor or (floor == 0 and n > 0):
                errors.append(f"{run['config']}: {side} {verdict} {n}, expected "
                              + ("none" if floor == 0 else f"at least {floor}"))
    return mix, errors


def run_hardened(hardened: str, config: Path, batch: Path, workdir: Path) -> list[dict]:
    proc = subprocess.run(
        [hardened, "explain", "--config", str(config), "--batch", str(batch)],
        capture_output=True, text=True, env=clean_env(), cwd=workdir, check=False,
    )
    if proc.returncode != 0:
        raise HarnessError(
            f"hardened explain --config {config.name} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[:2000]}"
        )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def run_django(settings: Path, batch: Path, workdir: Path) -> list[dict]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "SYSTEMROOT") if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run(
        [sys.executable, str(HERE / "django_worker.py"), "--settings", str(settings),
         "--requests", str(batch)],
        capture_output=True, text=True, env=env, cwd=workdir, check=False,
    )
    if proc.returncode != 0:
        raise HarnessError(
            f"Django worker for {settings.name} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-3000:]}"
        )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


class Context:
    """What an exclusion may look at besides the request: its normalized twin."""

    def __init__(self, results: list[dict]) -> None:
        self._twins = {r["request"]["twin_of"]: r for r in results
                       if r["request"].get("twin_of")}

    def twin(self, req: dict) -> dict | None:
        return self._twins.get(req["id"])


def compare(req: dict, dj: dict, hd: dict, ctx: Context) -> tuple[list[str], dict[str, str]]:
    """Differing fields and, for each, the exclusion that claims it (if any)."""
    diffs = [f for f in FIELDS if dj.get(f) != hd.get(f)]
    claimed: dict[str, str] = {}
    for f in diffs:
        for ex in exclusions.EXCLUSIONS:
            if ex.claims(f, req, dj, hd, ctx):
                claimed[f] = ex.name
                break
    return diffs, claimed


def run_config(args, config: Path, workdir: Path) -> dict:
    name = config.stem
    if name not in corpus.PROFILES:
        raise HarnessError(f"{config.name}: no corpus profile in corpus.py")
    requests = corpus.generate(name, args.seed)
    batch = workdir / f"{name}.jsonl"
    with batch.open("w", encoding="utf-8") as f:
        for r in requests:
            spec = {k: r[k] for k in ("method", "url", "headers", "peer")}
            f.write(json.dumps(spec) + "\n")
    settings = django_settings(args.hardened, config, workdir)
    derived = settings_errors(name, settings)
    with ThreadPoolExecutor(max_workers=2) as pool:
        fut_h = pool.submit(run_hardened, args.hardened, config, batch, workdir)
        fut_d = pool.submit(run_django, settings, batch, workdir)
        hardened_raw, django_raw = fut_h.result(), fut_d.result()
    if len(hardened_raw) != len(requests) or len(django_raw) != len(requests):
        raise HarnessError(
            f"{name}: {len(requests)} requests, {len(hardened_raw)} hardened answers, "
            f"{len(django_raw)} Django answers"
        )
    results = [
        {"request": req, "django": django_outcome(req, draw), "hardened": hardened_outcome(hraw)}
        for req, hraw, draw in zip(requests, hardened_raw, django_raw)
    ]
    ctx = Context(results)
    for res in results:
        res["diffs"], res["claimed"] = compare(res["request"], res["django"],
                                               res["hardened"], ctx)
    return {"config": name, "results": results, "settings_errors": derived}


def show(value) -> str:
    return "-" if value is None else json.dumps(value)


def describe(res: dict, only_unexplained: bool) -> str:
    req, dj, hd = res["request"], res["django"], res["hardened"]
    lines = [f"  {req['id']}: {req['method']} {req['url']} peer={req['peer']}"]
    for n, v in req["headers"]:
        if n.lower() not in ("cookie", "x-csrftoken"):
            lines.append(f"      {n}: {v!r}")
    for f in res["diffs"]:
        if only_unexplained and f in res["claimed"]:
            continue
        tag = f" [excluded: {res['claimed'][f]}]" if f in res["claimed"] else ""
        lines.append(f"    {f}: django={show(dj.get(f))} hardened={show(hd.get(f))}{tag}")
    lines.append(f"    django reason: {dj['_reason']}; hardened: {hd['_code']} {hd['_reason']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="hardened vs Django conformance")
    parser.add_argument("--hardened", required=True, help="path to the hardened binary")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--config", action="append", help="only these configs (stem)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also list excluded mismatches")
    parser.add_argument("--report", help="write every result as JSON to this file")
    args = parser.parse_args()

    started = time.monotonic()
    configs = sorted(CONFIGS.glob("*.yaml"))
    if args.config:
        configs = [c for c in configs if c.stem in args.config]
    if not configs:
        print("error: no configurations selected", file=sys.stderr)
        return 2
    try:
        import django  # noqa: F401
        import corsheaders  # noqa: F401
    except ImportError as e:
        print(f"error: {e}; run with the venv of scripts/django-venv.sh", file=sys.stderr)
        return 2

    runs = []
    with tempfile.TemporaryDirectory(prefix="hardened-conformance-") as tmp:
        try:
            for config in configs:
                runs.append(run_config(args, config, Path(tmp)))
        except HarnessError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    from importlib.metadata import version
    print(f"hardened conformance: Django {version('django')}, django-cors-headers "
          f"{version('django-cors-headers')}, seed {args.seed}, "
          f"settings from `hardened show --format django`")
    totals = Counter()
    core_claims: Counter = Counter()    # requests whose verdict/CORS/HSTS/Location differ
    header_claims: Counter = Counter()  # requests where only security headers differ
    field_by_exclusion: dict[str, Counter] = {}
    matrix: Counter = Counter()
    unexplained = []
    below_floor: list[str] = []
    wrong_settings = [e for run in runs for e in run["settings_errors"]]
    for run in runs:
        c = Counter()
        for res in run["results"]:
            c["compared"] += 1
            matrix[(res["django"]["verdict"], res["hardened"]["verdict"])] += 1
            core = [f for f in res["diffs"] if f in CORE_FIELDS]
            if set(res["diffs"]) != set(res["claimed"]):
                c["unexplained"] += 1
                unexplained.append(res)
            elif core:
                c["excluded"] += 1
                for name in sorted({res["claimed"][f] for f in core}):
                    core_claims[name] += 1
            else:
                c["matched"] += 1
                c["identical"] += not res["diffs"]
                for name in sorted(set(res["claimed"].values())):
                    header_claims[name] += 1
            for f, name in res["claimed"].items():
                field_by_exclusion.setdefault(name, Counter())[f] += 1
        totals.update(c)
        print(f"  {run['config']:<18} compared {c['compared']:>4}  matched {c['matched']:>4} "
              f"(identical {c['identical']:>4})  excluded {c['excluded']:>4}  "
              f"unexplained {c['unexplained']:>3}")
        mix, errors = verdict_mix(run)
        below_floor += errors
        for side, counts in mix.items():
            print(f"    {side:<9} " + "  ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    print("verdicts (django -> hardened): " + ", ".join(
        f"{d}->{h} {n}" for (d, h), n in sorted(matrix.items())))
    if args.verbose:
        for run in runs:
            for res in run["results"]:
                if res["diffs"] and set(res["diffs"]) == set(res["claimed"]):
                    print(describe(res, only_unexplained=False))
    print("exclusions: name  requests excluded (verdict/CORS/HSTS/Location differ) / "
          "matched with header-only differences  [kind, decision]  claimed fields")
    for ex in exclusions.EXCLUSIONS:
        fields = ", ".join(f"{f}={n}" for f, n in
                           sorted(field_by_exclusion.get(ex.name, {}).items()))
        where = f"{ex.kind}" + (f", decision {ex.decision}" if ex.decision else "")
        print(f"  {ex.name:<36} {core_claims.get(ex.name, 0):>4} / "
              f"{header_claims.get(ex.name, 0):>4}  [{where}]  {fields or 'unused'}")
    # With every config selected, an exclusion that claims nothing is a divergence that
    # is gone (or a predicate that no longer matches): either way it must go.
    unused = [] if args.config else [ex.name for ex in exclusions.EXCLUSIONS
                                     if ex.name not in field_by_exclusion]
    for name in unused:
        print(f"UNUSED EXCLUSION: `{name}` claims no field of any request: remove it or fix "
              f"its condition")
    for error in wrong_settings:
        print(f"DERIVED SETTING DIFFERS FROM THE GUIDE: {error}")
    for error in below_floor:
        print(f"VERDICT MIX BELOW FLOOR: {error}")
    undocumented = undocumented_exclusions()
    for name in undocumented:
        print(f"UNDOCUMENTED EXCLUSION: `{name}` is in neither "
              + " nor ".join(str(p.relative_to(HERE.parent)) for p in DOCS))
    if unexplained:
        print(f"UNEXPLAINED MISMATCHES ({len(unexplained)}):")
        for res in unexplained:
            print(describe(res, only_unexplained=True))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(runs, f, indent=1, default=str)
    elapsed = time.monotonic() - started
    # How many configs had their derived settings and their verdict mix checked (the
    # Rust test wants every config in both).
    checked = sum(1 for r in runs if r["config"] in expected.EXPECTED)
    floored = sum(1 for r in runs if r["config"] in expected.FLOORS)
    print(f"conformance: compared={totals['compared']} matched={totals['matched']} "
          f"identical={totals['identical']} excluded={totals['excluded']} "
          f"unexplained={totals['unexplained']} configs={len(runs)} "
          f"settings_checked={checked} floors_checked={floored} "
          f"({elapsed:.1f}s)")
    return 1 if unexplained or undocumented or unused or wrong_settings or below_floor else 0


if __name__ == "__main__":
    sys.exit(main())
