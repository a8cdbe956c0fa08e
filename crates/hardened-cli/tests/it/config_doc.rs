//! `docs/config.md` is the complete configuration reference: it lists every key the
//! loader accepts, every environment variable it reads and every flag of `hardened
//! serve`, and nothing else, checked against the loader's own lists
//! (`hardened::config::reference`) and `hardened serve --help`.

use std::collections::BTreeSet;

use crate::common::{command, repo_root, run, workdir};

fn doc() -> String {
    std::fs::read_to_string(repo_root().join("docs/config.md")).unwrap()
}

/// The header of the key tables.
const KEY_TABLE: &str =
    "| Key | Type | Default (dev / prod) | Environment variable | Flag | Example | Decision |";
/// The headers of the tables of flags and variables without a key.
const OTHER_TABLES: [&str; 2] = [
    "| Flag | What it does | Default |",
    "| Variable | What it does |",
];

/// The body rows of the tables whose header is one of `headers` (other sections of the
/// page, with tables of their own, are not the reference's).
fn rows<'a>(doc: &'a str, headers: &[&str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if headers.contains(&line) {
            inside = true;
        } else if !line.starts_with('|') {
            inside = false;
        } else if inside && !line.starts_with("|---") {
            out.push(line);
        }
    }
    out
}

/// The backticked words of the reference's table rows.
fn table_words(doc: &str) -> Vec<String> {
    let mut headers = vec![KEY_TABLE];
    headers.extend(OTHER_TABLES);
    rows(doc, &headers)
        .into_iter()
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The keys of the key tables: the first cell of each row.
fn documented_keys(doc: &str) -> BTreeSet<String> {
    rows(doc, &[KEY_TABLE])
        .into_iter()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(k, _)| k.to_owned()))
        .collect()
}

/// The long flags of `hardened serve --help`.
fn serve_flags() -> BTreeSet<String> {
    let dir = workdir(None);
    let help = run(command(dir.path(), &["serve", "--help"]));
    assert_eq!(help.code, Some(0), "{}", help.stderr);
    help.stdout
        .lines()
        .map(str::trim_start)
        .filter_map(|l| l.strip_prefix("-c, ").or(Some(l)))
        .filter(|l| l.starts_with("--"))
        .filter_map(|l| l.split([' ', '=', '<']).next())
        .filter(|f| *f != "--help")
        .map(str::to_owned)
        .collect()
}

/// Environment variables the CLI reads beside the loader's.
const CLI_VARIABLES: [&str; 1] = ["HARDENED_LOG"];

#[test]
fn every_key_variable_and_flag_is_documented_and_nothing_else() {
    let doc = doc();
    let keys: BTreeSet<String> = hardened::config::reference::accepted_keys()
        .into_iter()
        .collect();
    let documented = documented_keys(&doc);
    let missing: Vec<&String> = keys.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&keys).collect();
    assert!(
        missing.is_empty(),
        "docs/config.md lacks the keys {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/config.md lists keys the loader refuses: {unknown:?}"
    );

    let words: BTreeSet<String> = table_words(&doc).into_iter().collect();
    let vars: BTreeSet<String> = hardened::config::reference::environment_variables()
        .into_iter()
        .map(|(v, _)| v)
        .chain(CLI_VARIABLES.iter().map(|v| (*v).to_owned()))
        .collect();
    let documented_vars: BTreeSet<String> = words
        .iter()
        .filter(|w| w.len() > 2 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("HARDENED_") || vars.contains(*w))
        .cloned()
        .collect();
    let missing: Vec<&String> = vars.difference(&documented_vars).collect();
    let unknown: Vec<&String> = documented_vars.difference(&vars).collect();
    assert!(
        missing.is_empty(),
        "docs/config.md lacks the variables {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/config.md lists variables nothing reads: {unknown:?}"
    );

    let flags = serve_flags();
    assert!(flags.len() > 20, "{flags:?}");
    let documented_flags: BTreeSet<String> = words
        .iter()
        .filter(|w| w.starts_with("--"))
        .filter_map(|w| w.split(' ').next())
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = flags.difference(&documented_flags).collect();
    let unknown: Vec<&String> = documented_flags.difference(&flags).collect();
    assert!(
        missing.is_empty(),
        "docs/config.md lacks the serve flags {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/config.md lists flags serve refuses: {unknown:?}"
    );
}

/// A `gateway:` key's variable and flag are the ones the program uses: the row of each
/// key names the variable that sets it.
#[test]
fn each_variable_sits_on_its_keys_row() {
    let doc = doc();
    for (var, key) in hardened::config::reference::environment_variables() {
        let Some(key) = key else { continue };
        let row = rows(&doc, &[KEY_TABLE])
            .into_iter()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("no row for {key}"));
        assert!(
            row.contains(&format!("`{var}`")),
            "the row of {key} lacks {var}: {row}"
        );
    }
}

/// The numbers of docs/decisions.md, in file order.
fn decision_numbers() -> Vec<u32> {
    std::fs::read_to_string(repo_root().join("docs/decisions.md"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(". **").map(|(n, _)| n))
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Decision numbers are stable references: each is used once, and every decision the
/// reference cites exists.
#[test]
fn cited_decisions_exist_once() {
    let numbers = decision_numbers();
    let unique: BTreeSet<u32> = numbers.iter().copied().collect();
    assert_eq!(
        unique.len(),
        numbers.len(),
        "a decision number is used twice"
    );
    let doc = doc();
    // The rows of the key tables: the last column is the decisions.
    for row in rows(&doc, &[KEY_TABLE]) {
        let last = row
            .trim_end_matches([' ', '|'])
            .rsplit('|')
            .next()
            .unwrap_or("");
        for part in last.split([',', '–']) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let n: u32 = part
                .parse()
                .unwrap_or_else(|_| panic!("not a decision: {part:?} in {row}"));
            assert!(
                unique.contains(&n),
                "docs/config.md cites decision {n}, which does not exist: {row}"
            );
        }
    }
}
