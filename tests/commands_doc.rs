//! The list of supported commands in `docs/operations.md` is tested against
//! the command table: every command the server knows is documented there,
//! and every command documented there is one the server knows.

use logship::resp::commands::{lookup, COMMANDS};

/// The "Supported commands" table of the operations guide.
fn supported_commands_section() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
        .expect("docs/operations.md");
    let start = doc
        .find("## Supported commands")
        .expect("a Supported commands section");
    let rest = &doc[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// The upper-case words in backticks of the table's rows: the commands (and
/// their options, which are not commands).
fn documented_words(section: &str) -> Vec<String> {
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---") && !l.starts_with("| group"))
        .flat_map(|l| l.split('`').skip(1).step_by(2))
        .filter_map(|w| w.split(' ').next())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_uppercase()))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_command_is_documented() {
    let words = documented_words(&supported_commands_section());
    let missing: Vec<&str> = COMMANDS
        .iter()
        .map(|s| s.name)
        .filter(|name| !words.iter().any(|w| w.eq_ignore_ascii_case(name)))
        .collect();
    assert!(
        missing.is_empty(),
        "commands missing from docs/operations.md § Supported commands: {missing:?}"
    );
}

#[test]
fn each_row_starts_with_a_command_the_server_knows() {
    let section = supported_commands_section();
    for row in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| ---") && !l.starts_with("| group"))
    {
        let first = row.split('`').nth(1).expect("a command in backticks");
        let name = first.split(' ').next().unwrap();
        assert!(lookup(name.as_bytes()).is_some(), "{name} in {row}");
    }
}
