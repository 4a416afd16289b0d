//! Helpers: temporary workspaces.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use copilot_workspace::{Addons, AddonsError};

/// Writes `files` (relative path, content) under a new temporary folder.
pub fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, content) in files {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, content).expect("write");
    }
    dir
}

/// The reserved parameters, as a template section.
pub const PARAMS: &str =
    "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\n";

/// Loads addons from files written to a temporary `addons/` folder.
pub fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Result<Option<Addons>, AddonsError>) {
    let prefixed: Vec<(String, &str)> = files
        .iter()
        .map(|(n, c)| (format!("addons/{n}"), *c))
        .collect();
    let refs: Vec<(&str, &str)> = prefixed.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let dir = tree(&refs);
    let res = Addons::load(&dir.path().join("addons"));
    (dir, res)
}

pub fn addons_dir(dir: &Path) -> PathBuf {
    dir.join("addons")
}

/// Loads addons that must merge fine.
pub fn merged(files: &[(&str, &str)]) -> (tempfile::TempDir, Addons) {
    let (dir, res) = load(files);
    match res {
        Ok(Some(a)) => (dir, a),
        Ok(None) => panic!("no addons"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

/// Loads addons that must fail; returns the error message.
pub fn merge_err(files: &[(&str, &str)]) -> String {
    match load(files).1 {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}
