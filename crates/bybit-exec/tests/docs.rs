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

// The README's emulator recipe is what `bybit-exec emulator` prints, and its
// export lines make `bybit-exec status` healthy on a local emulator.
#[test]
fn the_readme_emulator_recipe_makes_status_healthy() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let readme = read("../../README.md");
    let recipe = block(&readme, "```sh\n# The local emulator recipe");
    assert!(
        recipe.contains("bybit-exec -- emulator") && recipe.contains("bybit-exec -- status"),
        "{recipe}"
    );
    let default = bybit_emulator::cli::DEFAULT_LISTEN;
    assert!(
        recipe.contains(default),
        "the recipe names another port: {recipe}"
    );

    // The real subcommand, on a free port, prints its exports after the listening line.
    let bin = env!("CARGO_BIN_EXE_bybit-exec");
    let dir = tempfile::tempdir().unwrap();
    let mut emulator = Command::new(bin)
        .args(["emulator", "--listen", "127.0.0.1:0", "--static-prices"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = emulator.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let url = first.strip_prefix("listening on ").unwrap().to_owned();
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let mut printed = Vec::new();
    while printed.len() < 6 {
        let line = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        if line.starts_with("export ") {
            printed.push(line);
        }
    }
    let exports: Vec<String> = recipe
        .lines()
        .filter(|l| l.starts_with("export "))
        .map(|l| l.replace(default, &addr))
        .collect();
    assert_eq!(
        exports, printed,
        "the README's recipe differs from what emulator prints"
    );

    // The recipe's lines, as a shell would apply them, and nothing else of this environment.
    let mut status = Command::new(bin);
    status.args(["status"]).current_dir(dir.path()).env_clear();
    for line in &exports {
        let (key, value) = line
            .strip_prefix("export ")
            .unwrap()
            .split_once('=')
            .unwrap();
        status.env(key, value.trim_matches('\''));
    }
    let out = status.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    let _ = emulator.kill();
    let _ = emulator.wait();
    assert!(out.status.success(), "status failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("healthy") && stdout.contains("local emulator"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("testnet") && !stderr.contains("testnet"),
        "{stdout}\n{stderr}"
    );
}
