//! The repository is self-contained about the requirement ids its tests cite: every id cited in
//! `spec-tests/`, `tests/` or `src/` is listed in `docs/requirements.md`, and every id listed
//! there is cited somewhere.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The requirement-id pattern, built from parts so that this file cites no id itself.
fn id_pattern() -> Regex {
    let part = "[ABC]";
    let cross = "X";
    Regex::new(&format!(
        r"\b(?:{part}-[A-Z]+(?:-[A-Z]+)*-[0-9]+|{cross}-[0-9]+)\b"
    ))
    .expect("valid regex")
}

/// Every `.rs` file below `dir`, in a stable order.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn ids_in(text: &str, pattern: &Regex) -> BTreeSet<String> {
    pattern
        .find_iter(text)
        .map(|m| m.as_str().to_string())
        .collect()
}

#[test]
fn every_cited_requirement_id_is_listed_and_every_listed_id_is_cited() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pattern = id_pattern();
    let this_file = root.join("tests").join("requirements.rs");

    let mut files = Vec::new();
    for dir in ["spec-tests", "tests", "src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut cited = BTreeSet::new();
    for file in files.iter().filter(|file| **file != this_file) {
        let text =
            fs::read_to_string(file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        cited.extend(ids_in(&text, &pattern));
    }

    let doc_path = root.join("docs").join("requirements.md");
    let doc = fs::read_to_string(&doc_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", doc_path.display()));
    // An id is listed when it opens a table row: `| ID | what it requires | proven by |`.
    let listed: BTreeSet<String> = doc
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|rest| rest.split(" |").next())
        .filter(|cell| pattern.find(cell).is_some_and(|m| m.as_str() == *cell))
        .map(str::to_string)
        .collect();

    assert!(!cited.is_empty(), "no requirement id found in the sources");
    let missing: Vec<&String> = cited.difference(&listed).collect();
    let uncited: Vec<&String> = listed.difference(&cited).collect();
    assert!(
        missing.is_empty() && uncited.is_empty(),
        "docs/requirements.md is out of step with the tests.\n\
         Cited in spec-tests/, tests/ or src/ but not listed ({}): {}\n\
         Listed but cited nowhere ({}): {}",
        missing.len(),
        missing
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        uncited.len(),
        uncited
            .iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    );
}
