//! `hardened check`: the security guide's checklist as machine checks.
//!
//! Loads the configuration leniently (every problem becomes a finding, so one run lists
//! everything wrong), gathers the facts the checks need (is `.env` ignored and untracked
//! by git, what the runtime probe sees), runs [`hardened::checklist::run_checks`] and renders
//! the report as text, JSON (`hardened.check/v1`) or SARIF 2.1.0.
//!
//! Exit codes: 0 no error finding, 1 at least one error finding, 2 the configuration
//! cannot be read or parsed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use hardened::checklist::{
    self, DjangoSettingsFacts, DotenvFacts, Facts, Finding, Heading, Report, Severity,
};
use hardened::config::load::Loaded;
use serde::Serialize;

use crate::ConfigArg;
use crate::common::{self, CliError};
use crate::term;

/// Arguments of `hardened check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    config: ConfigArg,
    /// Judge production readiness: the configuration must be a production deployment.
    #[arg(long)]
    deploy: bool,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Text output: print only the findings (no passed rules, no manual reminders) and
    /// the summary line.
    #[arg(long, short = 'q')]
    problems_only: bool,
    /// Colour the text output: auto = when stdout is a terminal and NO_COLOR is unset.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
}

/// Output formats of `hardened check`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Findings grouped by the checklist's headings, cargo-style.
    Text,
    /// The versioned `hardened.check/v1` JSON document.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// When to colour the text output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    /// When stdout is a terminal and NO_COLOR is not set.
    Auto,
    /// Always, even when NO_COLOR is set.
    Always,
    /// Never.
    Never,
}

/// Runs `hardened check`.
pub(crate) fn run(args: &Args, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let loaded = common::loader(args.config.config.as_deref()).load_lenient()?;
    let probe = common::probe_machine();
    let mut facts = Facts::new(probe.clone()).with_dotenv(dotenv_facts(&loaded));
    if let Some(django) = django_settings_facts(&loaded, &probe) {
        facts = facts.with_django_settings(django);
    }
    let report = checklist::run_checks(&loaded.config, &loaded.problems, &facts, args.deploy);
    match args.format {
        Format::Text => {
            let color = match args.color {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => {
                    std::io::stdout().is_terminal()
                        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                }
            };
            let style = Style {
                color,
                problems_only: args.problems_only,
            };
            render_text(&report, &loaded, style, out)?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &JsonV1::new(&report))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        Format::Sarif => {
            serde_json::to_writer_pretty(&mut *out, &sarif(&report, &loaded))
                .map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
    }
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

// ---------------------------------------------------------------------------------------
// Facts

/// How the file of `gateway.django_settings` compares with what `show --format django`
/// renders now; `None` when no file is named or the policy cannot be derived (the
/// configuration's own findings say why).
fn django_settings_facts(
    loaded: &Loaded,
    probe: &hardened::probe::RuntimeProbe,
) -> Option<DjangoSettingsFacts> {
    let path = loaded.config.gateway.django_settings.as_ref()?;
    let want = crate::show::django_fragment(loaded, probe)?;
    let have = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Some(DjangoSettingsFacts::Unreadable(e.to_string())),
    };
    if have == want {
        return Some(DjangoSettingsFacts::Current);
    }
    let (mut a, mut b) = (have.lines(), want.lines());
    let mut line = 1u64;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (_, y) => {
                return Some(DjangoSettingsFacts::Stale {
                    line,
                    expected: y.unwrap_or_default().to_owned(),
                });
            }
        }
    }
}

/// The `.env` the loader read, else the one it would read (beside the config file), and
/// what git says about it.
fn dotenv_facts(loaded: &Loaded) -> DotenvFacts {
    let path = loaded.dotenv.clone().unwrap_or_else(|| {
        loaded
            .files
            .first()
            .and_then(|f| f.parent())
            .unwrap_or(Path::new(""))
            .join(".env")
    });
    let exists = path.is_file();
    let (ignored, tracked) = if exists {
        git_facts(&path)
    } else {
        (None, None)
    };
    DotenvFacts {
        path,
        exists,
        ignored,
        tracked,
    }
}

/// `(ignored, tracked)` from git, run in the file's directory; `None`s when that is not
/// a git work tree or git cannot run.
fn git_facts(path: &Path) -> (Option<bool>, Option<bool>) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return (None, None);
    };
    if git(&dir, &["rev-parse", "--is-inside-work-tree"]) != Some(true) {
        return (None, None);
    }
    (
        git(&dir, &["check-ignore", "-q", "--", name]),
        git(&dir, &["ls-files", "--error-unmatch", "--", name]),
    )
}

/// Runs git quietly: exit 0 → true, 1 → false, anything else → unknown.
fn git(dir: &Path, args: &[&str]) -> Option<bool> {
    let status = Command::new("git")
        // Never run a repository's fsmonitor hook just to answer a question.
        .args(["-c", "core.fsmonitor=false"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    match status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Text

/// ANSI colouring, or none.
#[derive(Clone, Copy)]
struct Style {
    color: bool,
    /// Findings only: no passed rules, no manual reminders.
    problems_only: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(self, s: Severity, text: &str) -> String {
        let code = match s {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Info => "1;36",
        };
        self.paint(code, text)
    }
}

fn mark(s: Severity) -> &'static str {
    match s {
        Severity::Error => "✗",
        Severity::Warning => "!",
        Severity::Info => "i",
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn render_text(
    report: &Report,
    loaded: &Loaded,
    st: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let files = term::paths(&loaded.files);
    let from = if files.is_empty() {
        "built-in defaults".to_owned()
    } else {
        files.join(", ")
    };
    writeln!(
        out,
        "{}: {} configuration from {from}",
        st.paint(
            "1",
            if report.deploy {
                "hardened check --deploy"
            } else {
                "hardened check"
            }
        ),
        report.environment,
    )?;
    for heading in Heading::ALL {
        let mut findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.heading == heading)
            .collect();
        // Errors first, then warnings, then notes; rule order within each.
        findings.sort_by_key(|f| f.severity);
        let passed: Vec<&checklist::Rule> = report
            .passed
            .iter()
            .filter_map(|id| checklist::rule(*id))
            .filter(|r| r.heading == heading && !st.problems_only)
            .collect();
        let manual: Vec<_> = report
            .manual
            .iter()
            .filter(|m| m.heading == heading && !st.problems_only)
            .collect();
        if findings.is_empty() && passed.is_empty() && manual.is_empty() {
            continue;
        }
        term::section(out, &st.paint("1;4", heading.as_str()))?;
        for f in findings {
            let label = format!("{}[{}]", f.severity, f.id);
            writeln!(
                out,
                "  {} {}: {}",
                st.severity(f.severity, mark(f.severity)),
                st.severity(f.severity, &label),
                f.message
            )?;
            if let Some(loc) = &f.location {
                writeln!(out, "      {} {loc}", st.paint("1;34", "-->"))?;
            }
            writeln!(out, "      {} {}", st.paint("1;34", "= fix:"), f.fix)?;
        }
        for r in passed {
            writeln!(out, "  {} {}: {}", st.paint("32", "✓"), r.id, r.summary)?;
        }
        for m in manual {
            writeln!(
                out,
                "  {} {}: verify by hand that {}",
                st.paint("1", "☐"),
                m.id,
                m.message
            )?;
        }
    }
    let errors = report.count(Severity::Error);
    let warnings = report.count(Severity::Warning);
    let infos = report.count(Severity::Info);
    let mut summary = vec![
        plural(errors, "error", "errors"),
        plural(warnings, "warning", "warnings"),
    ];
    if infos > 0 {
        summary.push(plural(infos, "info", "infos"));
    }
    summary.push(format!("{} passed", report.passed.len()));
    summary.push(format!("{} manual", report.manual.len()));
    let summary = summary.join(", ");
    let summary = if errors > 0 {
        st.paint("1;31", &summary)
    } else {
        st.paint("1;32", &summary)
    };
    term::section(out, &summary)
}

// ---------------------------------------------------------------------------------------
// JSON v1: a frozen schema, kept apart from the library's types.

#[derive(Serialize)]
struct JsonV1<'a> {
    schema: &'static str,
    environment: &'static str,
    deploy: bool,
    findings: Vec<JsonFinding<'a>>,
    passed: Vec<&'static str>,
    manual: Vec<JsonManual>,
    summary: JsonSummary,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    id: &'static str,
    severity: &'static str,
    message: &'a str,
    fix: &'a str,
    heading: &'static str,
    location: Option<String>,
}

#[derive(Serialize)]
struct JsonManual {
    id: &'static str,
    heading: &'static str,
    message: &'static str,
}

#[derive(Serialize)]
struct JsonSummary {
    errors: usize,
    warnings: usize,
    infos: usize,
    passed: usize,
    manual: usize,
}

impl<'a> JsonV1<'a> {
    fn new(r: &'a Report) -> JsonV1<'a> {
        JsonV1 {
            schema: "hardened.check/v1",
            environment: r.environment.as_str(),
            deploy: r.deploy,
            findings: r
                .findings
                .iter()
                .map(|f| JsonFinding {
                    id: f.id.as_str(),
                    severity: f.severity.as_str(),
                    message: &f.message,
                    fix: &f.fix,
                    heading: f.heading.as_str(),
                    location: f.location.as_ref().map(ToString::to_string),
                })
                .collect(),
            passed: r.passed.iter().map(|id| id.as_str()).collect(),
            manual: r
                .manual
                .iter()
                .map(|m| JsonManual {
                    id: m.id,
                    heading: m.heading.as_str(),
                    message: m.message,
                })
                .collect(),
            summary: JsonSummary {
                errors: r.count(Severity::Error),
                warnings: r.count(Severity::Warning),
                infos: r.count(Severity::Info),
                passed: r.passed.len(),
                manual: r.manual.len(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------
// SARIF 2.1.0

fn uri(path: &str) -> String {
    path.replace('\\', "/")
}

fn sarif(report: &Report, loaded: &Loaded) -> serde_json::Value {
    use serde_json::json;
    let docs = format!("{}/blob/main/docs/checks.md", env!("CARGO_PKG_REPOSITORY"));
    let rules: Vec<serde_json::Value> = checklist::RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id.as_str(),
                "shortDescription": { "text": r.id.description() },
                "fullDescription": { "text": format!("{}. Passes when {}.", r.id.description(), r.summary) },
                "helpUri": format!("{docs}#{}", r.id),
                "properties": { "tags": ["security", r.heading.as_str()] },
            })
        })
        .collect();
    let config_file = loaded.files.first().map(|f| uri(&f.display().to_string()));
    let results: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = checklist::RULES.iter().position(|r| r.id == f.id);
            let level = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "note",
            };
            let location = match &f.location {
                Some(l) => {
                    let mut phys = json!({ "artifactLocation": { "uri": uri(&l.file) } });
                    if let (Some(line), Some(obj)) = (l.line, phys.as_object_mut()) {
                        obj.insert("region".into(), json!({ "startLine": line }));
                    }
                    Some(phys)
                }
                None => config_file
                    .as_ref()
                    .map(|f| json!({ "artifactLocation": { "uri": f } })),
            };
            let mut result = json!({
                "ruleId": f.id.as_str(),
                "level": level,
                "message": { "text": format!("{} (fix: {})", f.message, f.fix) },
            });
            if let Some(obj) = result.as_object_mut() {
                if let Some(i) = index {
                    obj.insert("ruleIndex".into(), json!(i));
                }
                if let Some(loc) = location {
                    obj.insert("locations".into(), json!([{ "physicalLocation": loc }]));
                }
            }
            result
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "hardened",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": docs,
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
