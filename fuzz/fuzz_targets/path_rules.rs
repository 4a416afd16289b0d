//! The local-path rules on arbitrary input: classifying and resolving never panic; a path
//! accepted under confinement never resolves outside the root, checked against an independent
//! string-based resolution.

#![no_main]

use std::path::{Path, PathBuf};

use cfn_yaml::Template;
use libfuzzer_sys::fuzz_target;
use registry::{Value, classify, classify_for, normalize, resolve};

fuzz_target!(|input: (&str, &str, &str, bool, &str)| {
    let (written, base, root, confine, yaml) = input;

    // Resolution alone, with any base and root (relative ones too).
    let base_dir = Path::new(root).join(base);
    check_resolve(written, &base_dir, Path::new(root), confine);
    check_resolve(written, Path::new("/ws"), Path::new("/ws"), true);

    // Classification of whatever a template holds where a path is expected, then resolution of
    // the local paths it accepts, as the packager does.
    for text in [
        yaml.to_string(),
        format!(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {written}\n"
        ),
    ] {
        let Ok(template) = Template::parse(Path::new("fuzz.yml"), text) else {
            continue;
        };
        for candidate in registry::candidates(&template) {
            let value = classify_for(candidate.rule, candidate.node);
            assert_eq!(value, candidate.value);
            // Only an `s3://` string on a mapping-form property is classified by its rule.
            if !matches!(value, Value::S3(_) | Value::BadS3Url { .. }) {
                assert_eq!(classify(candidate.node), value);
            }
            if let Value::Local(path) = value {
                assert!(!path.trim().is_empty(), "a local path is not blank");
                check_resolve(path, Path::new("/ws"), Path::new("/ws"), true);
                check_resolve(path, Path::new("/ws/sub"), Path::new("/ws"), true);
            }
        }
    }
});

fn check_resolve(written: &str, base_dir: &Path, root: &Path, confine: bool) {
    let normalized = normalize(&base_dir.join(written));
    assert_eq!(
        normalized,
        oracle(&base_dir.join(written)),
        "normalize({:?})",
        base_dir.join(written)
    );
    let Ok(resolved) = resolve(written, base_dir, root, confine) else {
        return;
    };
    assert_eq!(resolved, normalized);
    if confine && Path::new(written).is_relative() {
        let (resolved, root) = (oracle(&resolved), oracle(root));
        let (resolved, root) = (components(&resolved), components(&root));
        assert!(
            resolved.starts_with(&root) && resolved.get(root.len()).is_none_or(|c| c != ".."),
            "{written:?} from {base_dir:?} was accepted but resolves to {resolved:?}, outside {root:?}"
        );
    }
}

/// Normalization written independently, on the `/`-separated text.
fn oracle(path: &Path) -> PathBuf {
    let text = path.to_string_lossy();
    let absolute = text.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    PathBuf::from(if absolute {
        format!("/{joined}")
    } else {
        joined
    })
}

fn components(path: &Path) -> Vec<String> {
    path.to_string_lossy()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
