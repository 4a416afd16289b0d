//! The tidy test (as rust-analyzer's): the rules of ARCHITECTURE.md that the compiler does not
//! check, checked on every `cargo test --workspace`.
//!
//! - Every crate is internal (`publish = false`) and takes every dependency from
//!   `[workspace.dependencies]` (`name.workspace = true`): versions live in one place.
//! - Every crate's root file opens with its doc header: what it owns (`Owns`) and what it must
//!   not know about (`Must not know about`).
//! - The front end (argument parsing, reports, progress, file watching, log set-up) is the
//!   `copilot-lite` binary's alone: no other crate depends on it.
//! - Each AWS service's SDK is used by the one crate that owns that service; only the crates
//!   that talk to AWS depend on `aws-*` crates at all.
//! - Test support (`test-support`: the S3 server and the fault proxy) is never a dependency of
//!   the product (dev-dependencies and xtask only), nor a default member (a plain
//!   `cargo build` builds the product); every other crate is.
//! - Libraries print nothing: no `print!`/`eprint!`/`dbg!` or direct stdout/stderr in their
//!   source (they log through `tracing`; the binary renders).
//!
//! Each rule is a function from what was read to the violations found, tested on a workspace
//! that breaks it, so that the rules themselves can fail.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The binary: the one crate that may know the terminal and the command line.
const BINARY: &str = "copilot-lite";
/// Crates of the front end, only for [`BINARY`] (dev-dependencies of others are fine).
const FRONT_END: &[&str] = &[
    "clap",
    "clap_complete",
    "miette",
    "indicatif",
    "notify",
    "tracing-subscriber",
];
/// Each AWS service SDK and the crates allowed to depend on it.
const SERVICE_OWNERS: &[(&str, &[&str])] = &[
    ("aws-sdk-s3", &["upload", "test-support"]),
    ("aws-sdk-cloudformation", &["deploy"]),
    ("aws-sdk-sts", &["deploy"]),
    ("aws-sdk-lambda", &["hotswap"]),
];
/// The crates that may depend on `aws-*` crates (SDK, config, smithy types).
const AWS_CRATES: &[&str] = &["aws-policy", "upload", "deploy", "hotswap", "test-support"];
/// Test support: dev-dependencies only (and xtask's, which is not the product).
const TEST_SUPPORT: &[&str] = &["test-support"];
/// Crates allowed to print: the binary, and the developer tooling.
const MAY_PRINT: &[&str] = &[BINARY, "xtask"];

/// One workspace crate, as read from `cargo metadata` and its files.
#[derive(Debug, Clone)]
struct Crate {
    name: String,
    manifest: PathBuf,
    publish_false: bool,
    /// Normal dependencies (not dev, not build).
    normal: Vec<String>,
    /// The root files of its lib and bin targets.
    roots: Vec<PathBuf>,
    /// In `default-members`.
    default_member: bool,
}

/// Reads the workspace's crates from `metadata` (`cargo metadata --no-deps` JSON).
fn crates(metadata: &Value) -> Vec<Crate> {
    let packages = metadata["packages"].as_array().cloned().unwrap_or_default();
    let defaults = metadata["workspace_default_members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    packages
        .iter()
        .map(|p| Crate {
            default_member: defaults.contains(&p["id"]),
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
            publish_false: p["publish"].as_array().is_some_and(Vec::is_empty),
            normal: p["dependencies"]
                .as_array()
                .map(|deps| {
                    deps.iter()
                        .filter(|d| d["kind"].is_null())
                        .filter_map(|d| d["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            roots: p["targets"]
                .as_array()
                .map(|targets| {
                    targets
                        .iter()
                        .filter(|t| {
                            t["kind"].as_array().is_some_and(|k| {
                                k.iter()
                                    .any(|k| k == "lib" || k == "bin" || k == "proc-macro")
                            })
                        })
                        .filter_map(|t| t["src_path"].as_str().map(PathBuf::from))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// Dependency rules: front end, AWS ownership, test support, publish.
fn dependency_violations(crates: &[Crate]) -> Vec<String> {
    let mut found = Vec::new();
    for c in crates {
        if !c.publish_false {
            found.push(format!("{}: not `publish = false`", c.name));
        }
        let support = TEST_SUPPORT.contains(&c.name.as_str()) || c.name == "xtask";
        if c.default_member == support {
            found.push(format!(
                "{}: {} `default-members` (only the product is: test support and xtask are not)",
                c.name,
                if support { "in" } else { "not in" }
            ));
        }
        for dep in &c.normal {
            if FRONT_END.contains(&dep.as_str()) && c.name != BINARY {
                found.push(format!(
                    "{} depends on {dep}: the front end belongs to {BINARY}",
                    c.name
                ));
            }
            if let Some((_, owners)) = SERVICE_OWNERS.iter().find(|(sdk, _)| sdk == dep)
                && !owners.contains(&c.name.as_str())
            {
                found.push(format!(
                    "{} depends on {dep}: that service belongs to {}",
                    c.name,
                    owners.join(", ")
                ));
            }
            if dep.starts_with("aws-")
                && !AWS_CRATES.contains(&c.name.as_str())
                && !crates.iter().any(|w| &w.name == dep)
            {
                found.push(format!(
                    "{} depends on {dep}: only {} talk to AWS",
                    c.name,
                    AWS_CRATES.join(", ")
                ));
            }
            if TEST_SUPPORT.contains(&dep.as_str()) && c.name != "xtask" {
                found.push(format!(
                    "{} depends on {dep}, which is test support: make it a dev-dependency",
                    c.name
                ));
            }
        }
    }
    found
}

/// Dependencies of `manifest` (its text) not taken from the workspace.
fn version_violations(name: &str, manifest: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_deps = false;
    for (i, line) in manifest.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line.ends_with("dependencies]");
            continue;
        }
        if !in_deps || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let from_workspace =
            key.trim().ends_with(".workspace") || value.replace(' ', "").contains("workspace=true");
        if !from_workspace {
            found.push(format!(
                "{name}: Cargo.toml line {}: `{line}`: take it from [workspace.dependencies]",
                i + 1
            ));
        }
    }
    found
}

/// The root file `path` (its text) lacks the doc header.
fn header_violation(name: &str, path: &Path, text: &str) -> Option<String> {
    let header: String = text
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    if header.is_empty() {
        return Some(format!(
            "{name}: {} does not open with a `//!` doc header",
            path.display()
        ));
    }
    let missing: Vec<&str> = ["Owns", "Must not know about"]
        .into_iter()
        .filter(|w| !header.contains(w))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{name}: the header of {} does not say {}",
            path.display(),
            missing.join(" and ")
        )
    })
}

/// Lines of `text` (a library's source file) that print to the terminal.
fn print_violations(name: &str, path: &Path, text: &str) -> Vec<String> {
    const PRINTS: &[&str] = &[
        "println!(",
        "eprintln!(",
        "print!(",
        "eprint!(",
        "dbg!(",
        "io::stdout()",
        "io::stderr()",
    ];
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let code = l.split("//").next().unwrap_or("");
            PRINTS.iter().any(|p| code.contains(p))
        })
        .map(|(i, l)| {
            format!(
                "{name}: {}:{}: `{}`: libraries log through tracing, only {BINARY} prints",
                path.display(),
                i + 1,
                l.trim()
            )
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(read) = fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every violation in the workspace described by `metadata`.
fn violations(metadata: &Value) -> Vec<String> {
    let crates = crates(metadata);
    let mut found = dependency_violations(&crates);
    for c in &crates {
        match fs::read_to_string(&c.manifest) {
            Ok(text) => found.extend(version_violations(&c.name, &text)),
            Err(e) => found.push(format!(
                "{}: cannot read {}: {e}",
                c.name,
                c.manifest.display()
            )),
        }
        if c.name == "xtask" {
            continue;
        }
        for root in &c.roots {
            let text = fs::read_to_string(root).unwrap_or_default();
            found.extend(header_violation(&c.name, root, &text));
        }
        if MAY_PRINT.contains(&c.name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        if let Some(dir) = c.manifest.parent() {
            rust_files(&dir.join("src"), &mut files);
        }
        for file in files {
            let text = fs::read_to_string(&file).unwrap_or_default();
            found.extend(print_violations(&c.name, &file, &text));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Value {
        let root = crate::localstack::workspace_root();
        let out = crate::cargo()
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
            ])
            .current_dir(&root)
            .output()
            .expect("cargo metadata runs");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
    }

    #[test]
    fn the_workspace_keeps_its_rules() {
        let metadata = metadata();
        let names: Vec<String> = crates(&metadata).into_iter().map(|c| c.name).collect();
        // The rules below must have something to check.
        for expected in [BINARY, "upload", "deploy", "hotswap", "archive", "xtask"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
        let found = violations(&metadata);
        assert!(found.is_empty(), "tidy:\n{}", found.join("\n"));
    }

    fn krate(name: &str, normal: &[&str]) -> Crate {
        Crate {
            name: name.to_owned(),
            manifest: PathBuf::from(format!("/ws/{name}/Cargo.toml")),
            publish_false: true,
            normal: normal.iter().map(|s| (*s).to_owned()).collect(),
            roots: Vec::new(),
            default_member: !(TEST_SUPPORT.contains(&name) || name == "xtask"),
        }
    }

    #[test]
    fn dependency_rules_catch_what_they_forbid() {
        let bad = [
            krate("archive", &["clap", "aws-config"]),
            krate("packager", &["aws-sdk-s3", "test-support"]),
            krate("hotswap", &["aws-sdk-cloudformation"]),
            Crate {
                publish_false: false,
                ..krate("registry", &[])
            },
            Crate {
                default_member: true,
                ..krate("test-support", &[])
            },
            Crate {
                default_member: false,
                ..krate("upload", &[])
            },
        ];
        let found = dependency_violations(&bad);
        for want in [
            "archive depends on clap",
            "archive depends on aws-config",
            "packager depends on aws-sdk-s3: that service belongs to upload",
            "packager depends on test-support, which is test support",
            "hotswap depends on aws-sdk-cloudformation: that service belongs to deploy",
            "registry: not `publish = false`",
            "test-support: in `default-members`",
            "upload: not in `default-members`",
        ] {
            assert!(
                found.iter().any(|f| f.starts_with(want)),
                "{want:?} not in {found:#?}"
            );
        }
        let good = [
            krate(BINARY, &["clap", "miette", "upload", "deploy"]),
            krate("upload", &["aws-sdk-s3", "aws-config", "aws-policy"]),
            krate("deploy", &["aws-sdk-cloudformation", "aws-sdk-sts"]),
            krate("aws-policy", &["aws-smithy-types"]),
            krate("xtask", &["test-support"]),
        ];
        assert_eq!(dependency_violations(&good), Vec::<String>::new());
    }

    #[test]
    fn version_rule_wants_workspace_dependencies() {
        let manifest = "[package]\nname = \"x\"\nversion = \"0.1.0\"\n\n[dependencies]\n\
                        a.workspace = true\nb = { workspace = true, features = [\"f\"] }\n\
                        c = \"1\"\n# d = \"2\"\n\n[dev-dependencies]\ne = { version = \"1\" }\n";
        let found = version_violations("x", manifest);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("line 8") && found[0].contains("c = \"1\""));
        assert!(found[1].contains("line 12"));
    }

    #[test]
    fn header_rule_wants_owns_and_must_not_know() {
        let p = Path::new("src/lib.rs");
        assert!(header_violation("x", p, "use std::fs;\n").is_some());
        let half = header_violation("x", p, "//! Does things.\n//!\n//! Owns: a.\nfn f() {}\n");
        assert!(half.is_some_and(|v| v.contains("Must not know about") && !v.contains("Owns and")));
        assert_eq!(
            header_violation(
                "x",
                p,
                "//! X.\n//!\n//! Owns: a. Must not know about: b.\n"
            ),
            None
        );
    }

    #[test]
    fn print_rule_finds_prints_but_not_comments() {
        let p = Path::new("src/lib.rs");
        let text = "fn f() {\n    eprintln!(\"x\");\n    // println!(\"in a comment\")\n    \
                    let _ = std::io::stdout();\n    tracing::info!(\"fine\");\n}\n";
        let found = print_violations("x", p, text);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("src/lib.rs:2"));
        assert!(found[1].contains("src/lib.rs:4"));
    }

    #[test]
    fn metadata_is_read_into_crates() {
        let metadata: Value = serde_json::json!({
            "workspace_default_members": ["upload-id"],
            "packages": [{
            "id": "upload-id",
            "name": "upload",
            "manifest_path": "/ws/crates/upload/Cargo.toml",
            "publish": [],
            "dependencies": [
                {"name": "aws-sdk-s3", "kind": null},
                {"name": "tempfile", "kind": "dev"}
            ],
            "targets": [
                {"kind": ["lib"], "src_path": "/ws/crates/upload/src/lib.rs"},
                {"kind": ["test"], "src_path": "/ws/crates/upload/tests/upload.rs"}
            ]
        }]});
        let [c] = crates(&metadata).try_into().expect("one crate");
        assert_eq!(c.name, "upload");
        assert!(c.publish_false);
        assert_eq!(c.normal, vec!["aws-sdk-s3".to_owned()]);
        assert_eq!(c.roots, vec![PathBuf::from("/ws/crates/upload/src/lib.rs")]);
        assert!(c.default_member);
    }
}
