//! Ignore files (`.copilotignore`, gitignore syntax): which entries of a folder artifact are
//! left out of its zip.
//!
//! Up to two rule sets apply to a folder artifact: [`Policy::ignore_file`] (the caller's, e.g.
//! the workspace root's), when the artifact lies inside the folder holding it, and the
//! artifact folder's own [`IGNORE_FILE`]. Each file's patterns are relative to its folder and
//! matched by `ignore::gitignore` (ripgrep's matcher). An entry is decided by the artifact's
//! own file first, as a deeper `.gitignore` decides over a shallower one: an exclusion or a
//! `!` re-inclusion there is final; only an entry it says nothing about goes to the outer file.
//! The walk asks while it goes: an excluded folder is pruned, so nothing below it is listed,
//! stat'ed or read, and nothing below it can be re-included.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::scan::{check_link, classify_io, io_err};
use crate::{ArchiveError, Excluded, IGNORE_FILE, Policy};

/// The rule sets of one folder artifact, most specific first.
pub(crate) struct Rules {
    sets: Vec<RuleSet>,
    /// The artifact root's own ignore file exists: its entry (`/.copilotignore`) is not zipped.
    own_file: bool,
}

struct RuleSet {
    file: PathBuf,
    matcher: Gitignore,
    /// The artifact root relative to the folder holding the ignore file (empty for the
    /// artifact's own file).
    prefix: PathBuf,
    files: usize,
    folders: usize,
}

impl Rules {
    /// Reads the rule sets that apply to the folder artifact at `root`.
    pub(crate) fn load(
        root: &Path,
        boundary: &Path,
        policy: &Policy,
    ) -> Result<Rules, ArchiveError> {
        let own_path = root.join(IGNORE_FILE);
        let own = read_rules(&own_path, root, boundary, policy)?;
        let own_canonical = own.as_ref().and_then(|_| fs::canonicalize(&own_path).ok());
        let mut sets = Vec::new();
        if let Some(matcher) = own {
            sets.push(RuleSet::new(own_path, matcher, PathBuf::new()));
        }
        if let Some(outer) = &policy.ignore_file
            && let Some(folder) = outer.parent()
            && let Some(prefix) = relative_to(root, folder)
        {
            // The artifact may be the outer file's own folder: one file, read once.
            let same = own_canonical.is_some() && fs::canonicalize(outer).ok() == own_canonical;
            if !same && let Some(matcher) = read_rules(outer, folder, boundary, policy)? {
                sets.push(RuleSet::new(outer.clone(), matcher, prefix));
            }
        }
        let own_file = sets
            .first()
            .is_some_and(|s| s.prefix.as_os_str().is_empty());
        Ok(Rules { sets, own_file })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Whether the entry at `relative` (to the artifact root, never empty) is left out;
    /// counts it against the rule set that excluded it.
    pub(crate) fn excludes(&mut self, relative: &Path, is_dir: bool) -> bool {
        if self.own_file && !is_dir && relative.as_os_str() == IGNORE_FILE {
            return true;
        }
        for set in &mut self.sets {
            let matched = if set.prefix.as_os_str().is_empty() {
                set.matcher.matched(relative, is_dir)
            } else {
                set.matcher.matched(set.prefix.join(relative), is_dir)
            };
            match matched {
                Match::Ignore(_) => {
                    if is_dir {
                        set.folders += 1;
                    } else {
                        set.files += 1;
                    }
                    return true;
                }
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }

    /// What each rule set excluded, outermost file first.
    pub(crate) fn into_excluded(self) -> Vec<Excluded> {
        self.sets
            .into_iter()
            .rev()
            .map(|set| Excluded {
                ignore_file: set.file,
                files: set.files,
                folders: set.folders,
            })
            .collect()
    }

    /// The ignore files, outermost first.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        self.sets.iter().rev().map(|s| s.file.clone()).collect()
    }
}

impl RuleSet {
    fn new(file: PathBuf, matcher: Gitignore, prefix: PathBuf) -> RuleSet {
        RuleSet {
            file,
            matcher,
            prefix,
            files: 0,
            folders: 0,
        }
    }
}

/// `path` relative to `folder`: lexically, else with both resolved (a symlink on the way);
/// `None` when `path` is not inside `folder`.
fn relative_to(path: &Path, folder: &Path) -> Option<PathBuf> {
    if let Ok(relative) = path.strip_prefix(folder) {
        return Some(relative.to_path_buf());
    }
    let (path, folder) = (fs::canonicalize(path).ok()?, fs::canonicalize(folder).ok()?);
    path.strip_prefix(&folder).ok().map(Path::to_path_buf)
}

/// Parses the ignore file at `path` (patterns relative to `folder`); `None` when there is no
/// such file. A symlink is followed under the policy; anything but a regular file is an error.
fn read_rules(
    path: &Path,
    folder: &Path,
    boundary: &Path,
    policy: &Policy,
) -> Result<Option<Gitignore>, ArchiveError> {
    let lstat = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(classify_io(path, e)),
    };
    if lstat.file_type().is_symlink() {
        check_link(path, boundary, policy)?;
    }
    let meta = fs::metadata(path).map_err(|e| classify_io(path, e))?;
    if !meta.is_file() {
        return Err(ArchiveError::Io {
            path: path.to_path_buf(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "an ignore file must be a regular file",
            ),
        });
    }
    let text = fs::read(path).map_err(io_err(path))?;
    parse(path, folder, &text).map(Some)
}

/// Builds the matcher, line by line (gitignore syntax; a UTF-8 byte order mark is skipped).
fn parse(path: &Path, folder: &Path, text: &[u8]) -> Result<Gitignore, ArchiveError> {
    let rule_error = |line: usize, message: String| ArchiveError::IgnoreRule {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut builder = GitignoreBuilder::new(folder);
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = if index == 0 {
            line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line)
        } else {
            line
        };
        let line = std::str::from_utf8(line)
            .map_err(|_| rule_error(index + 1, "not valid UTF-8".to_owned()))?;
        builder
            .add_line(Some(path.to_path_buf()), line)
            .map_err(|e| rule_error(index + 1, e.to_string()))?;
    }
    builder.build().map_err(|e| ArchiveError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        let file = PathBuf::from("/art/.copilotignore");
        let matcher = parse(&file, Path::new("/art"), text.as_bytes()).unwrap();
        Rules {
            sets: vec![RuleSet::new(file, matcher, PathBuf::new())],
            own_file: true,
        }
    }

    #[test]
    fn gitignore_semantics() {
        let mut r = rules("# comment\n*.log\n!keep.log\nbuild/\n/top.txt\ndocs/**/*.md\n");
        assert!(r.excludes(Path::new("a.log"), false));
        assert!(r.excludes(Path::new("sub/b.log"), false));
        assert!(!r.excludes(Path::new("keep.log"), false));
        assert!(r.excludes(Path::new("build"), true));
        assert!(r.excludes(Path::new("src/build"), true));
        // `dir/` matches folders only.
        assert!(!r.excludes(Path::new("build"), false));
        // Anchored: only at the root of the ignore file's folder.
        assert!(r.excludes(Path::new("top.txt"), false));
        assert!(!r.excludes(Path::new("sub/top.txt"), false));
        assert!(r.excludes(Path::new("docs/a/b/c.md"), false));
        assert!(!r.excludes(Path::new("docs/a/b/c.txt"), false));
        assert!(!r.excludes(Path::new("# comment"), false));
        // The artifact's own ignore file is left out, but only at the root.
        assert!(r.excludes(Path::new(".copilotignore"), false));
        assert!(!r.excludes(Path::new("sub/.copilotignore"), false));
        // a.log, sub/b.log, top.txt, c.md; build twice (the root .copilotignore is not counted).
        let counts = r.into_excluded();
        assert_eq!((counts[0].files, counts[0].folders), (4, 2));
    }

    #[test]
    fn later_lines_win() {
        let mut r = rules("!a.txt\n*.txt\n");
        assert!(r.excludes(Path::new("a.txt"), false));
        let mut r = rules("*.txt\n!a.txt\n");
        assert!(!r.excludes(Path::new("a.txt"), false));
    }

    /// Unlike git, globset's `{a,b}` alternatives work (documented in the README).
    #[test]
    fn alternatives_and_double_stars() {
        let mut r = rules("*.{map,d.ts}\n**/fixtures/**\n");
        assert!(r.excludes(Path::new("dist/app.js.map"), false));
        assert!(r.excludes(Path::new("types/index.d.ts"), false));
        assert!(!r.excludes(Path::new("dist/app.js"), false));
        assert!(r.excludes(Path::new("a/fixtures/b/c.json"), false));
        // `x/**` matches what is inside `x`, not `x` itself.
        assert!(!r.excludes(Path::new("a/fixtures"), true));
    }

    #[test]
    fn crlf_and_bom_are_not_part_of_patterns() {
        let mut r = rules("\u{feff}a.txt\r\nb.txt\r\n");
        assert!(r.excludes(Path::new("a.txt"), false));
        assert!(r.excludes(Path::new("b.txt"), false));
    }

    #[test]
    fn bad_pattern_names_file_and_line() {
        let file = Path::new("/art/.copilotignore");
        match parse(file, Path::new("/art"), b"ok.txt\n\n{a,b\n") {
            Err(ArchiveError::IgnoreRule {
                path,
                line,
                message,
            }) => {
                assert_eq!((path.as_path(), line), (file, 3));
                assert!(message.contains("{a,b"), "{message}");
            }
            other => panic!("expected IgnoreRule, got {other:?}"),
        }
        match parse(file, Path::new("/art"), b"a\n\xff\n") {
            Err(ArchiveError::IgnoreRule { line, .. }) => assert_eq!(line, 2),
            other => panic!("expected IgnoreRule, got {other:?}"),
        }
    }
}
