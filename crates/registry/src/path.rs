//! Where a local path written in a template points (SPEC A4), decided lexically: the file
//! system (symlinks, existence) is the caller's to check.

use std::path::{Component, Path, PathBuf};

/// A written path refused by [`resolve`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Under confinement, a relative path whose resolution is not inside the root.
    #[error(
        "path {written:?} leaves the workspace root {} (write an absolute path if this is intended)",
        root.display()
    )]
    LeavesRoot { written: String, root: PathBuf },
    /// A NUL byte: no file can have such a name.
    #[error("path {written:?} contains a NUL byte")]
    Nul { written: String },
}

/// Resolves `written` (as decoded from the template) against `base_dir`: a relative path is
/// joined to `base_dir`, an absolute one is taken as is, and both are [`normalize`]d. With
/// `confine`, a relative path whose resolution is not `root` or under it is an error (absolute
/// paths are always accepted: the user wrote where they point).
pub fn resolve(
    written: &str,
    base_dir: &Path,
    root: &Path,
    confine: bool,
) -> Result<PathBuf, PathError> {
    if written.contains('\0') {
        return Err(PathError::Nul {
            written: written.to_string(),
        });
    }
    let path = Path::new(written);
    let resolved = normalize(&base_dir.join(path));
    if confine && path.is_relative() && !is_within(&resolved, &normalize(root)) {
        return Err(PathError::LeavesRoot {
            written: written.to_string(),
            root: root.to_path_buf(),
        });
    }
    Ok(resolved)
}

/// Whether normalized `path` is `root` or under it. For a relative root, `..` components after
/// it lead out of it (`../..` is not under `..`, nor `..` under the empty path).
fn is_within(path: &Path, root: &Path) -> bool {
    match path.strip_prefix(root) {
        Ok(rest) => rest.components().next() != Some(Component::ParentDir),
        Err(_) => false,
    }
}

/// Lexical normalization: drops `.` components, and a `..` removes the preceding normal
/// component. A `..` with nothing to remove is kept at the start of a relative path and
/// dropped after the root of an absolute one (`/..` is `/`). The result has no `.` component,
/// and `..` components only at the start of a relative path.
pub fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                Some(Component::ParentDir | Component::CurDir) | None => {
                    parts.push(Component::ParentDir);
                }
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::new();
    }
    parts.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        let n = |p: &str| normalize(Path::new(p));
        assert_eq!(n("/a/b/../c/./d"), PathBuf::from("/a/c/d"));
        assert_eq!(n("a/../../b"), PathBuf::from("../b"));
        assert_eq!(n("/a/b/c/../../.."), PathBuf::from("/"));
        assert_eq!(n("/.."), PathBuf::from("/"));
        assert_eq!(n("/../x"), PathBuf::from("/x"));
        assert_eq!(n("a/.."), PathBuf::new());
        assert_eq!(n("./."), PathBuf::new());
    }

    /// Regression (path_rules fuzz target): `..` after a leading `..` used to pop it, so
    /// `../../b` normalized to `b`.
    #[test]
    fn leading_parent_components_accumulate() {
        assert_eq!(normalize(Path::new("../../b")), PathBuf::from("../../b"));
        assert_eq!(
            normalize(Path::new("ws/../../ws/x")),
            PathBuf::from("../ws/x")
        );
        // ... which let a relative root be escaped.
        assert!(resolve("../../ws/x", Path::new("ws"), Path::new("ws"), true).is_err());
        // Parent components after a relative root lead out of it.
        assert!(resolve("../x", Path::new(""), Path::new(""), true).is_err());
        assert!(resolve("..", Path::new(".."), Path::new(".."), true).is_err());
        assert_eq!(
            resolve("x", Path::new(".."), Path::new(".."), true),
            Ok(PathBuf::from("../x"))
        );
    }

    #[test]
    fn confinement() {
        let root = Path::new("/ws");
        assert_eq!(
            resolve("lambdas/fn/", root, root, true),
            Ok(PathBuf::from("/ws/lambdas/fn"))
        );
        assert_eq!(
            resolve("a/../b", root, root, true),
            Ok(PathBuf::from("/ws/b"))
        );
        assert_eq!(resolve(".", root, root, true), Ok(PathBuf::from("/ws")));
        assert!(matches!(
            resolve("../outside", root, root, true),
            Err(PathError::LeavesRoot { .. })
        ));
        assert!(resolve("a/../../x", root, root, true).is_err());
        // A sibling whose name starts like the root is outside it.
        assert!(resolve("../ws2/x", root, root, true).is_err());
        // Absolute paths are the user's explicit choice; without confinement anything goes.
        assert_eq!(
            resolve("/etc/x", root, root, true),
            Ok(PathBuf::from("/etc/x"))
        );
        assert_eq!(resolve("../x", root, root, false), Ok(PathBuf::from("/x")));
        assert!(matches!(
            resolve("a\0b", root, root, false),
            Err(PathError::Nul { .. })
        ));
    }
}
