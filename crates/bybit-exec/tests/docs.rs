//! The README stays true: its embedding example is the doctest in lib.rs, it documents every
//! configuration key, and it opens with the two commands.

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The body of the first fenced block that opens with `fence` in `text`.
fn block(text: &str, fence: &str) -> String {
    let start = text.find(fence).unwrap() + fence.len();
    let rest = &text[start..];
    let end = rest.find("```").unwrap();
    rest[..end].trim().to_owned()
}

#[test]
fn the_readme_example_is_the_lib_doctest() {
    let readme = read("../../README.md");
    let lib: String = read("src/lib.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(block(&readme, "```rust\n"), block(&lib, "```\n"));
}

#[test]
fn the_readme_documents_every_key_and_opens_with_the_two_commands() {
    let readme = read("../../README.md");
    for (key, _) in bybit_exec::config::known_keys() {
        assert!(readme.contains(&format!("`{key}`")), "README lacks {key}");
    }
    let first = block(&readme, "```sh\n");
    assert!(
        first.starts_with("cargo run -p bybit-exec -- demo"),
        "{first}"
    );
    assert!(first.contains("cargo test --workspace"), "{first}");
}
