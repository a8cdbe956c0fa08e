//! The Configuration rules: problems found while loading, and the container mode.

use super::{Ctx, Hit, hit};
use crate::checklist::{Location, RuleId, Severity};
use crate::config::{DockerMode, Problem, ProblemKind};

/// The rule a loading problem is reported under, `None` for problems a rule re-derives
/// from the configuration (no domains, `*`).
fn problem_rule(p: &Problem) -> Option<RuleId> {
    let kind = p.kind();
    if kind.is_policy() {
        return None;
    }
    Some(match kind {
        ProblemKind::UnknownKey => RuleId::ConfigUnknownKey,
        ProblemKind::UnsetVariable => RuleId::ConfigUnsetVariable,
        _ if p.key().starts_with("security_domains") => RuleId::DomainsInvalid,
        _ => RuleId::ConfigInvalid,
    })
}

/// The loading problems reported under this rule, as findings.
pub(super) fn problem_hits(cx: &Ctx<'_>, id: RuleId) -> Option<Vec<Hit>> {
    Some(
        cx.problems
            .iter()
            .filter(|p| problem_rule(p) == Some(id))
            .map(|p| {
                let mut message = format!("`{}`", p.key());
                if let Some(v) = p.value() {
                    message.push_str(&format!(" = {v}"));
                }
                message.push_str(&format!(": {}", p.message()));
                hit(
                    Severity::Error,
                    message,
                    p.fix(),
                    p.source().and_then(Location::from_source),
                )
            })
            .collect(),
    )
}

pub(super) fn config_invalid(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, RuleId::ConfigInvalid)
}

pub(super) fn config_unknown_key(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, RuleId::ConfigUnknownKey)
}

pub(super) fn config_unset_variable(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    problem_hits(cx, RuleId::ConfigUnsetVariable)
}

pub(super) fn docker_mode_auto(cx: &Ctx<'_>) -> Option<Vec<Hit>> {
    let mut hits = Vec::new();
    if cx.cfg.docker == DockerMode::Auto {
        let seen = match cx.facts.probe.signals.first() {
            Some(s) if cx.facts.probe.in_container() => format!("a container: {s}"),
            _ => "no container".into(),
        };
        hits.push(hit(
            Severity::Info,
            format!(
                "docker: auto: container detection saw {seen} on the machine running this check, which may not be where the service runs"
            ),
            "state the deployment's mode: `docker: true` (or false) in the config, or export DOCKER=true (or false) when running the check",
            cx.loc("docker"),
        ));
    }
    Some(hits)
}
