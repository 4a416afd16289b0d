//! Helpers: addons merged from files in a temporary folder.
#![allow(dead_code)]

use copilot_workspace::Addons;

/// Writes `files` under a new temporary `addons/` folder and merges them; they must merge.
pub fn merged(files: &[(&str, &str)]) -> (tempfile::TempDir, Addons) {
    let dir = tempfile::tempdir().expect("tempdir");
    let addons = dir.path().join("addons");
    std::fs::create_dir_all(&addons).expect("mkdir");
    for (name, content) in files {
        std::fs::write(addons.join(name), content).expect("write");
    }
    match Addons::load(&addons) {
        Ok(Some(a)) => (dir, a),
        Ok(None) => panic!("no addons"),
        Err(e) => panic!("unexpected error: {e}"),
    }
}
