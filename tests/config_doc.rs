//! The key tables of docs/configuration.md against the binary: every section,
//! every key in the binary's order, each with the default `config check`
//! reports.

mod common;

const DOC: &str = include_str!("../docs/configuration.md");

/// The default as the tables write it.
fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Bool(b) => format!("`{b}`"),
        serde_json::Value::Array(a) if a.is_empty() => "`[]`".into(),
        serde_json::Value::String(s) => format!("`\"{s}\"`"),
        other => format!("`{other}`"),
    }
}

/// The rows (key, default) under `### \`[SECTION]\``.
fn table(section: &str) -> Vec<(String, String)> {
    let heading = format!("### `[{section}]`");
    let start = DOC
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/configuration.md has no {heading}"));
    DOC[start + heading.len()..]
        .lines()
        .skip_while(|l| !l.starts_with("| `"))
        .take_while(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            (cells[0].trim_matches('`').to_string(), cells[1].to_string())
        })
        .collect()
}

#[test]
fn every_key_of_every_section_is_in_the_tables_with_its_default() {
    let out = common::logship(&["config", "check", "--json"]);
    assert_eq!(out.code, Some(0), "{out:#?}");
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let sections = v["sections"].as_object().unwrap();
    assert_eq!(sections.len(), 6);
    for (name, entries) in sections {
        let want: Vec<(String, String)> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["key"].as_str().unwrap().to_string(), cell(&e["value"])))
            .collect();
        assert_eq!(table(name), want, "[{name}] in docs/configuration.md");
    }
}
