//! The crate's layers (README, Architecture): every reference from one
//! top-level module to another goes downwards, and the stages never reach
//! into each other. A change that adds an upward import fails here, before
//! it grows into a cycle.

use std::path::Path;

/// Layer of each top-level module of `src/`; higher layers may use lower ones.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "record" | "exit" | "paths" => 0,
        "stream" | "tag" => 1,
        "classify" | "apply" | "imap" | "report" => 2,
        "cli" => 3,
        "bin" => 4,
        _ => return None,
    })
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules named by `prefix::name` paths in code (comments skipped).
fn references<'a>(text: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .flat_map(move |code| {
            code.match_indices(prefix)
                .map(move |(i, _)| &code[i + prefix.len()..])
        })
        .map(|rest| {
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
        })
}

#[test]
fn imports_only_go_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let from = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let from = from.trim_end_matches(".rs");
        if from == "lib" {
            continue;
        }
        let from_layer = layer(from).unwrap_or_else(|| {
            panic!(
                "{}: a top-level module with no layer; add it to layer()",
                rel.display()
            )
        });
        let text = std::fs::read_to_string(file).unwrap();
        let prefix = if from == "bin" {
            "bounce_tools::"
        } else {
            "crate::"
        };
        for to in references(&text, prefix) {
            if to == from || to.is_empty() {
                continue;
            }
            let ok = layer(to).is_some_and(|to_layer| to_layer < from_layer);
            if !ok {
                wrong.push(format!(
                    "{} uses {to} ({from} is layer {from_layer})",
                    rel.display()
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}
