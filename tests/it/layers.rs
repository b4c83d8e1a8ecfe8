//! The library's layers depend one way only: each module of `src/<layer>/` may use the layers
//! below its own and its own layer, never one above. A `use crate::…` (or a `crate::…` path)
//! that points up the stack fails this test with the file, the line and the layer it reaches.

use std::path::{Path, PathBuf};

/// Top to bottom. `logger` and `error` are the base every layer may use; macros (`info!`,
/// `warn!`, `debug!`) are the logger's.
const LAYERS: &[&[&str]] = &[
    &["cli"],
    &["ops"],
    &["output"],
    &["exec"],
    &["archive"],
    &["plan"],
    &["preflight"],
    &["indexes"],
    &["config"],
    &["sql"],
    &["logger", "error", "info", "warn", "debug"],
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_layer_uses_only_the_layers_below_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut checked = 0;
    let mut upward = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let own = top.trim_end_matches(".rs");
        let Some(own_rank) = rank(own) else {
            // lib.rs and main.rs sit above every layer.
            assert!(
                own == "lib" || own == "main",
                "{} is in no layer: add its folder to LAYERS",
                rel.display()
            );
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let Some(r) = rank(&name) else {
                    upward.push(format!(
                        "{}:{}: crate::{name} is in no layer",
                        rel.display(),
                        n + 1
                    ));
                    continue;
                };
                checked += 1;
                if r < own_rank {
                    upward.push(format!(
                        "{}:{}: {own} uses crate::{name}, a layer above it",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "the check saw the imports ({checked})");
    assert!(
        upward.is_empty(),
        "dependencies point up:\n{}",
        upward.join("\n")
    );
}
