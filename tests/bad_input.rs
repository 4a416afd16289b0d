//! The bad input matrix: one table of broken (and a few awkward but valid) inputs, each run
//! through the built binary against the in-process S3 server.
//!
//! Every failing row must: exit with 1 (not a panic, not a hang), say on stderr which file (and
//! where it applies the line, logical ID and property) and what is wrong, send no write request
//! to S3, and leave every file of its tree byte-identical with the same mtime. The rows that
//! must work (names with spaces and unicode, a multi-MB template) check what was uploaded.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;
use test_support::s3::TestS3;

/// How a row runs the binary.
enum Cmd {
    /// `copilot-lite package --template-file <dir>/<template> --s3-bucket artifacts <extra>`,
    /// run in the case's folder.
    Package(&'static str, &'static [&'static str]),
    /// `copilot-lite svc package -n api -e test --upload-assets --bucket artifacts`, run in
    /// the case's folder (a workspace made by [`workspace`]).
    Svc,
    /// `copilot-lite <args>` as given (`{dir}` standing for the case's folder), run in the
    /// case's folder.
    Args(&'static [&'static str]),
}

/// What a row expects.
enum Expect {
    /// Exit code 1 and every needle on stderr, `{dir}` standing for the case's folder.
    Fails(&'static [&'static str]),
    /// Success; the check gets the case's folder, stdout and the server.
    Works(fn(&Path, &str, &TestS3)),
}

struct Case {
    name: &'static str,
    /// Creates the case's files in its (empty) folder.
    files: fn(&Path),
    cmd: Cmd,
    expect: Expect,
    /// Run the binary as an unprivileged user (`setpriv` to nobody when the tests run as root,
    /// as CI does): chmod 000 does not stop root from reading.
    as_nobody: bool,
}

const fn row(name: &'static str, files: fn(&Path), cmd: Cmd, expect: Expect) -> Case {
    Case {
        name,
        files,
        cmd,
        expect,
        as_nobody: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Building blocks for the rows' files.

fn write(dir: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// `code/index.py`: a small valid artifact folder.
fn code(dir: &Path) {
    write(
        dir,
        "code/index.py",
        "def handler(event, context):\n    return 1\n",
    );
}

fn fifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// A function whose code is `value`, as the whole template `t.yml`.
fn function(dir: &Path, value: &str) {
    write(
        dir,
        "t.yml",
        format!(
            "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {value}\n"
        ),
    );
}

/// A nested stack whose template is `value`, as the whole template `t.yml`.
fn stack(dir: &Path, value: &str) {
    write(
        dir,
        "t.yml",
        format!(
            "Resources:\n  Child:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: {value}\n"
        ),
    );
}

/// A Copilot workspace: app `app`, service `api` (`copilot/api/manifest.yml`), the given
/// addon files (`copilot/api/addons/<name>`) and `lambdas/fn/index.py`.
fn workspace(dir: &Path, addons: &[(&str, &str)]) {
    write(dir, "copilot/.workspace", "application: app\n");
    write(
        dir,
        "copilot/api/manifest.yml",
        "name: api\ntype: Backend Service\n",
    );
    for (name, text) in addons {
        write(dir, &format!("copilot/api/addons/{name}"), text);
    }
    write(
        dir,
        "lambdas/fn/index.js",
        "exports.handler = async () => 1;\n",
    );
}

/// An addon with the required parameters and one function whose code is `value`.
fn addon_function(value: &str) -> String {
    format!(
        "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\nResources:\n  fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: {value}\n"
    )
}

const ADDON_PARAMS: &str =
    "Parameters:\n  App:\n    Type: String\n  Env:\n    Type: String\n  Name:\n    Type: String\n";

/// A `Fn::ForEach::Loop` whose value is `value`, in `t.yml` (line 3).
fn loop_template(dir: &Path, value: &str) {
    write(
        dir,
        "t.yml",
        format!("Transform: AWS::LanguageExtensions\nResources:\n  Fn::ForEach::Loop: {value}\n"),
    );
}

// ---------------------------------------------------------------------------------------------
// The matrix.

static CASES: &[Case] = &[
    // --- Syntax ---------------------------------------------------------------------------------
    row(
        "malformed YAML",
        |d| write(d, "t.yml", "Resources:\n  Fn:\n    Type: [unclosed\n"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:4:1: "]),
    ),
    row(
        "malformed JSON",
        |d| {
            write(
                d,
                "t.json",
                "{\n  \"Resources\": {\n    \"Fn\": {\"Type\": \"AWS::SQS::Queue\" \"Properties\": {}}\n  }\n}\n",
            )
        },
        Cmd::Package("t.json", &[]),
        Expect::Fails(&["{dir}/t.json:3:"]),
    ),
    row(
        "duplicate keys (YAML)",
        |d| {
            write(
                d,
                "t.yml",
                "Resources:\n  Fn:\n    Type: AWS::SQS::Queue\n  Fn:\n    Type: AWS::SNS::Topic\n",
            )
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:4:3: ", "duplicate", "line 2"]),
    ),
    row(
        "duplicate keys (JSON)",
        |d| {
            write(
                d,
                "t.json",
                "{\"Resources\": {\n  \"Q\": {\"Type\": \"AWS::SQS::Queue\", \"Type\": \"AWS::SNS::Topic\"}\n}}\n",
            )
        },
        Cmd::Package("t.json", &[]),
        Expect::Fails(&["{dir}/t.json:2:", "duplicate", "line 2"]),
    ),
    row(
        "duplicate keys in a nested template",
        |d| {
            stack(d, "child.yml");
            write(
                d,
                "child.yml",
                "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Type: AWS::SNS::Topic\n",
            );
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/child.yml:4:5: ",
            "duplicate",
            "resource Child, property TemplateURL",
        ]),
    ),
    row(
        "malformed nested template",
        |d| {
            stack(d, "child.yml");
            write(d, "child.yml", "Resources:\n  Q: [unclosed\n");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/child.yml:3:1: ",
            "in the nested template of resource Child, property TemplateURL",
        ]),
    ),
    row(
        "empty template",
        |d| write(d, "t.yml", "# nothing here\n"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:", "empty"]),
    ),
    row(
        "template that is not UTF-8",
        |d| {
            write(
                d,
                "t.yml",
                b"# caf\xe9 (Latin-1)\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n",
            )
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml", "UTF-8"]),
    ),
    row(
        "a NUL byte in a template",
        |d| {
            write(
                d,
                "t.yml",
                b"Description: |\n  exis\0ts\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n",
            )
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:2:7: control character U+0000 is not allowed"]),
    ),
    row(
        "tag with no long form under --use-json",
        |d| {
            code(d);
            write(
                d,
                "t.yml",
                "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n      Description: !Unknown x\n",
            );
        },
        Cmd::Package("t.yml", &["--use-json"]),
        Expect::Fails(&["{dir}/t.yml:6:20: ", "!Unknown"]),
    ),
    // --- Wrong values -------------------------------------------------------------------------
    row(
        "a number where a path is expected",
        |d| function(d, "42"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: expected a path string, found a number",
        ]),
    ),
    row(
        "a boolean where a path is expected",
        |d| stack(d, "true"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:20: resource Child, property TemplateURL: expected a path string, found a boolean",
        ]),
    ),
    row(
        "a path that does not exist",
        |d| function(d, "code/nope/"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: file or folder does not exist",
            "resolved to {dir}/code/nope",
        ]),
    ),
    row(
        "a nested template that does not exist",
        |d| stack(d, "child.yml"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:20: resource Child, property TemplateURL: file or folder does not exist",
        ]),
    ),
    row(
        "a template file that does not exist",
        |_| {},
        Cmd::Package("nope.yml", &[]),
        Expect::Fails(&["{dir}/nope.yml", "No such file"]),
    ),
    row(
        "a folder as the template file",
        code,
        Cmd::Package("code", &[]),
        Expect::Fails(&["template {dir}/code is a folder, not a regular file"]),
    ),
    row(
        "a folder where a template is needed",
        |d| {
            code(d);
            stack(d, "code");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:20: resource Child, property TemplateURL: expected a template file, found a folder",
        ]),
    ),
    row(
        "a folder where a file is needed",
        |d| {
            code(d);
            write(
                d,
                "t.yml",
                "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      Fn::Transform:\n        Name: AWS::Include\n        Parameters:\n          Location: code/\n",
            );
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:8:21: resource Q, property Fn::Transform.Parameters.Location: expected a file, found a folder",
        ]),
    ),
    row(
        "an empty folder",
        |d| {
            std::fs::create_dir_all(d.join("empty")).unwrap();
            function(d, "empty/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/empty: folder is empty",
        ]),
    ),
    Case {
        as_nobody: true,
        ..row(
            "an unreadable file",
            |d| {
                code(d);
                write(d, "code/secret.py", "x = 1\n");
                std::fs::set_permissions(
                    d.join("code/secret.py"),
                    std::fs::Permissions::from_mode(0o000),
                )
                .unwrap();
                function(d, "code/");
            },
            Cmd::Package("t.yml", &[]),
            Expect::Fails(&[
                "{dir}/t.yml:5:13: resource Fn, property Code: ",
                "{dir}/code/secret.py: Permission denied",
            ]),
        )
    },
    Case {
        as_nobody: true,
        ..row(
            "an unreadable folder",
            |d| {
                code(d);
                write(d, "code/sub/a.py", "x = 1\n");
                std::fs::set_permissions(
                    d.join("code/sub"),
                    std::fs::Permissions::from_mode(0o000),
                )
                .unwrap();
                function(d, "code/");
            },
            Cmd::Package("t.yml", &[]),
            Expect::Fails(&[
                "{dir}/t.yml:5:13: resource Fn, property Code: ",
                "{dir}/code/sub: Permission denied",
            ]),
        )
    },
    row(
        "a file whose read fails (EIO)",
        // /proc/self/mem is a regular file whose read at offset 0 fails, even for root.
        |d| function(d, "/proc/self/mem"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "/proc/self/mem: Input/output error",
        ]),
    ),
    // --- Special files ------------------------------------------------------------------------
    row(
        "a FIFO as the template file",
        |d| fifo(&d.join("t.yml")),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["template {dir}/t.yml is a FIFO, not a regular file"]),
    ),
    row(
        "a FIFO as the artifact",
        |d| {
            fifo(&d.join("pipe"));
            function(d, "pipe");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "not a regular file",
        ]),
    ),
    row(
        "a FIFO inside an artifact folder",
        |d| {
            code(d);
            fifo(&d.join("code/pipe"));
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code/pipe: is a FIFO, not a regular file or folder",
        ]),
    ),
    row(
        "a FIFO as a nested template",
        |d| {
            fifo(&d.join("child.yml"));
            stack(d, "child.yml");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:20: resource Child, property TemplateURL: ",
            "not a regular file",
        ]),
    ),
    // --- Symbolic links -----------------------------------------------------------------------
    row(
        "a symlink loop as the artifact",
        |d| {
            symlink("loop", d.join("loop")).unwrap();
            function(d, "loop");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "symbolic link",
        ]),
    ),
    row(
        "a symlink loop inside an artifact folder",
        |d| {
            code(d);
            symlink("b", d.join("code/a")).unwrap();
            symlink("a", d.join("code/b")).unwrap();
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code/a: symbolic link loop",
        ]),
    ),
    row(
        "a symlink to its own folder inside an artifact folder",
        |d| {
            code(d);
            symlink(".", d.join("code/again")).unwrap();
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code/again: symbolic link loop",
        ]),
    ),
    row(
        "a symlink loop as the template file",
        |d| symlink("t.yml", d.join("t.yml")).unwrap(),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml", "symbolic links"]),
    ),
    row(
        "a symlink leaving the template's folder",
        |d| {
            write(d, "outside/secret.txt", "do not ship\n");
            write(d, "proj/code/index.py", "x = 1\n");
            symlink("../../outside/secret.txt", d.join("proj/code/leak.txt")).unwrap();
            write(
                d,
                "proj/t.yml",
                "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n",
            );
        },
        Cmd::Package("proj/t.yml", &[]),
        Expect::Fails(&[
            "{dir}/proj/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/proj/code/leak.txt: symbolic link points outside {dir}/proj",
        ]),
    ),
    row(
        "a `..` path leaving the workspace",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("../outside/"))]);
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/fn.yml:12:13: resource fn, property Code: path \"../outside/\" leaves the workspace root",
        ]),
    ),
    row(
        "a symlinked artifact leaving the workspace",
        |d| {
            let ws = d.join("ws");
            workspace(&ws, &[("fn.yml", &addon_function("lambdas/link"))]);
            write(d, "outside/index.js", "secret\n");
            symlink("../../outside", ws.join("lambdas/link")).unwrap();
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/ws/copilot/api/addons/fn.yml:12:13: resource fn, property Code: ",
            "leaves the workspace root",
        ]),
    ),
    row(
        "a symlink inside an artifact leaving the workspace",
        |d| {
            let ws = d.join("ws");
            workspace(&ws, &[("fn.yml", &addon_function("lambdas/fn"))]);
            write(d, "outside/secret.txt", "secret\n");
            symlink(
                "../../../outside/secret.txt",
                ws.join("lambdas/fn/leak.txt"),
            )
            .unwrap();
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/ws/copilot/api/addons/fn.yml:12:13: resource fn, property Code: ",
            "{dir}/ws/lambdas/fn/leak.txt: symbolic link points outside {dir}/ws",
        ]),
    ),
    // --- Ignore files -------------------------------------------------------------------------
    row(
        "a bad pattern in the workspace's .copilotignore",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn"))]);
            write(d, ".copilotignore", "*.log\nsrc/{a,b\n");
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/fn.yml:12:13: resource fn, property Code: ",
            "{dir}/.copilotignore:2: error parsing glob 'src/{a,b'",
        ]),
    ),
    row(
        "a bad pattern in an artifact's .copilotignore",
        |d| {
            code(d);
            write(d, "code/.copilotignore", "[z-a]\n");
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code/.copilotignore:1: error parsing glob '[z-a]'",
        ]),
    ),
    row(
        "an artifact whose files are all excluded",
        |d| {
            code(d);
            write(d, "code/.copilotignore", "*.py\n");
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code: every file is excluded by {dir}/code/.copilotignore",
        ]),
    ),
    Case {
        as_nobody: true,
        ..row(
            "an unreadable folder, a FIFO and an escaping link, excluded",
            |d| {
                code(d);
                write(d, "code/cache/a.py", "x = 1\n");
                std::fs::set_permissions(
                    d.join("code/cache"),
                    std::fs::Permissions::from_mode(0o000),
                )
                .unwrap();
                fifo(&d.join("code/events.fifo"));
                symlink("/etc/passwd", d.join("code/passwd")).unwrap();
                write(d, "code/.copilotignore", "cache/\n*.fifo\n/passwd\n");
                function(d, "code/");
            },
            Cmd::Package("t.yml", &[]),
            Expect::Works(|_, out, s3| {
                let key = out
                    .rsplit_once("S3Key: ")
                    .map(|(_, k)| k.trim().trim_matches('"'))
                    .unwrap();
                let zip = unzip(&s3.object(BUCKET, key).unwrap());
                assert_eq!(zip.keys().collect::<Vec<_>>(), ["index.py"]);
            }),
        )
    },
    // --- Nested stacks ------------------------------------------------------------------------
    row(
        "a template nesting itself",
        |d| stack(d, "t.yml"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:20: resource Child, property TemplateURL: nested template cycle: {dir}/t.yml -> {dir}/t.yml",
        ]),
    ),
    row(
        "a nested-stack cycle through two templates",
        |d| {
            stack(d, "a/child.yml");
            write(
                d,
                "a/child.yml",
                "Resources:\n  Back:\n    Type: AWS::CloudFormation::Stack\n    Properties:\n      TemplateURL: ../t.yml\n",
            );
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/a/child.yml:5:20: resource Back, property TemplateURL: nested template cycle: {dir}/t.yml -> {dir}/a/child.yml -> {dir}/t.yml",
        ]),
    ),
    // --- Size ---------------------------------------------------------------------------------
    row(
        "flow nesting 10,000 deep (YAML)",
        |d| {
            let text = format!("Resources: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
            write(d, "t.yml", text);
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:1:267: recursion limit exceeded"]),
    ),
    row(
        "block nesting 10,000 deep (YAML)",
        |d| {
            let text = format!("Resources:\n  X:\n    {}x\n", "- ".repeat(10_000));
            write(d, "t.yml", text);
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&["{dir}/t.yml:3:401: nesting deeper than 200 levels"]),
    ),
    row(
        "nesting 10,000 deep (JSON)",
        |d| {
            let text = format!(
                "{{\"Resources\": {}1{}}}\n",
                "{\"a\": ".repeat(10_000),
                "}".repeat(10_000)
            );
            write(d, "t.json", text);
        },
        Cmd::Package("t.json", &[]),
        Expect::Fails(&["{dir}/t.json:1:", "nesting deeper than 200 levels"]),
    ),
    row(
        "a 4 MB template",
        |d| {
            code(d);
            let mut text = String::from("# big\nResources:\n");
            let mut i = 0;
            while text.len() < 4 << 20 {
                text.push_str(&format!(
                    "  # queue number {i}\n  Queue{i}:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub '${{AWS::StackName}}-{i}'\n      Tags: [{{Key: k, Value: \"v{i}\"}}]\n"
                ));
                i += 1;
            }
            text.push_str(
                "  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: code/\n",
            );
            write(d, "t.yml", text);
        },
        Cmd::Package("t.yml", &[]),
        Expect::Works(|d, out, s3| {
            let original = std::fs::read_to_string(d.join("t.yml")).unwrap();
            let (head, _) = original.rsplit_once("      Code: code/\n").unwrap();
            assert!(out.starts_with(head), "everything before Code is kept");
            let key = out
                .rsplit_once("S3Key: ")
                .map(|(_, k)| k.trim().trim_matches('"'))
                .unwrap();
            let zip = unzip(
                &s3.object(BUCKET, key)
                    .unwrap_or_else(|| panic!("{key} uploaded: {:?}", s3.keys(BUCKET))),
            );
            assert_eq!(zip.keys().collect::<Vec<_>>(), ["index.py"]);
        }),
    ),
    // --- Names --------------------------------------------------------------------------------
    row(
        "a file name that is not UTF-8 inside an artifact",
        |d| {
            code(d);
            let name = OsStr::from_bytes(b"caf\xe9.py");
            std::fs::write(d.join("code").join(name), "x = 1\n").unwrap();
            function(d, "code/");
        },
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:5:13: resource Fn, property Code: ",
            "{dir}/code/caf\u{FFFD}.py: file name is not valid UTF-8",
        ]),
    ),
    row(
        "names with spaces and unicode (package)",
        |d| {
            write(d, "my code/héllo wörld.py", "print('hi')\n");
            write(d, "my code/日本/データ.txt", "data\n");
            write(d, "défs/api spec.json", "{\"openapi\": \"3.0.0\"}\n");
            write(
                d,
                "my tëmplate.yml",
                "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: my code/\n  Api:\n    Type: AWS::ApiGateway::RestApi\n    Properties:\n      BodyS3Location: 'défs/api spec.json'\n",
            );
        },
        Cmd::Package("my tëmplate.yml", &[]),
        Expect::Works(|d, out, s3| {
            let packaged = cfn_yaml::Template::parse(Path::new("o.yml"), out.to_string()).unwrap();
            let at = |path: &[&str]| {
                packaged
                    .root()
                    .get_path(path)
                    .and_then(|n| n.as_scalar())
                    .unwrap_or_else(|| panic!("{path:?} in\n{out}"))
                    .to_string()
            };
            let code = at(&["Resources", "Fn", "Properties", "Code", "S3Key"]);
            let zip = unzip(&s3.object(BUCKET, &code).unwrap());
            let files: BTreeMap<String, Vec<u8>> =
                zip.into_iter().map(|(k, (v, _))| (k, v)).collect();
            assert_eq!(files, folder_files(&d.join("my code")));
            assert!(files.contains_key("日本/データ.txt"), "{files:?}");
            let api = at(&["Resources", "Api", "Properties", "BodyS3Location", "Key"]);
            assert_eq!(
                s3.object(BUCKET, &api).unwrap(),
                std::fs::read(d.join("défs/api spec.json")).unwrap()
            );
        }),
    ),
    row(
        "names with spaces and unicode (svc)",
        |d| {
            workspace(
                d,
                &[("mý addön.yml", &addon_function("lambdas/fün ction/"))],
            );
            write(d, "lambdas/fün ction/ín dex.js", "exports.handler = 1;\n");
        },
        Cmd::Svc,
        Expect::Works(|d, out, s3| {
            let key = out.rsplit_once("S3Key: ").map(|(_, k)| k.trim()).unwrap();
            assert!(key.starts_with("manual/addons/api/assets/"), "{key}");
            let zip = unzip(&s3.object(BUCKET, key).unwrap());
            assert_eq!(zip.keys().collect::<Vec<_>>(), ["ín dex.js"]);
            assert_eq!(zip["ín dex.js"].0, b"exports.handler = 1;\n");
            assert!(
                d.join("copilot/api/addons/mý addön.yml").is_file(),
                "the addon is where it was"
            );
        }),
    ),
    // --- Workspaces and addons ----------------------------------------------------------------
    row(
        "a missing path in the second addon file",
        |d| {
            workspace(
                d,
                &[
                    ("a.yml", ADDON_PARAMS),
                    (
                        "b.yml",
                        "Resources:\n  # the function\n  fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: lambdas/missing/\n",
                    ),
                ],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/b.yml:6:13: resource fn, property Code: file or folder does not exist",
            "resolved to {dir}/lambdas/missing",
        ]),
    ),
    row(
        "conflicting addon files",
        |d| {
            workspace(
                d,
                &[
                    ("a.yml", &addon_function("lambdas/fn/")),
                    ("b.yml", "Resources:\n  fn:\n    Type: AWS::SQS::Queue\n"),
                ],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/b.yml:3:5: resource \"fn\" defined in \"a.yml\" at Ln 10, Col 5 is different than in \"b.yml\" at Ln 3, Col 5",
        ]),
    ),
    // Fn::ForEach loops of the wrong shape (aws-cli and CloudFormation refuse them).
    row(
        "loop with two entries",
        |d| loop_template(d, "[Id, {'Res${Id}': {}}]"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:3:22: resource Fn::ForEach::Loop: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found 2 entries",
        ]),
    ),
    row(
        "loop with four entries",
        |d| loop_template(d, "[Id, [a], {'Res${Id}': {Type: AWS::SNS::Topic}}, x]"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:3:22: resource Fn::ForEach::Loop: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found 4 entries",
        ]),
    ),
    row(
        "loop that is not a list",
        |d| loop_template(d, "{Id: [a]}"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:3:22: resource Fn::ForEach::Loop: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found a mapping",
        ]),
    ),
    row(
        "loop whose output is not a mapping",
        |d| loop_template(d, "[Id, [a], [x]]"),
        Cmd::Package("t.yml", &[]),
        Expect::Fails(&[
            "{dir}/t.yml:3:32: resource Fn::ForEach::Loop: invalid \"Fn::ForEach::\" loop: its third entry (the output map) must be a mapping, found a list",
        ]),
    ),
    row(
        "addon loops of the wrong shape",
        |d| {
            workspace(
                d,
                &[
                    ("a.yml", &addon_function("lambdas/fn/")),
                    (
                        "b.yml",
                        "Resources:\n  Fn::ForEach::Two: [Id, {'Res${Id}': {}}]\n  Fn::ForEach::Four: [Id, [a], {}, x]\n  Fn::ForEach::Scalar: x\n  Fn::ForEach::NotMap: [Id, [a], x]\n",
                    ),
                ],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/b.yml:2:21: resource Fn::ForEach::Two: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found 2 entries",
            "{dir}/copilot/api/addons/b.yml:3:22: resource Fn::ForEach::Four: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found 4 entries",
            "{dir}/copilot/api/addons/b.yml:4:24: resource Fn::ForEach::Scalar: invalid \"Fn::ForEach::\" loop: its value must be a list of three entries (identifier, collection, output map), found a string",
            "{dir}/copilot/api/addons/b.yml:5:34: resource Fn::ForEach::NotMap: invalid \"Fn::ForEach::\" loop: its third entry (the output map) must be a mapping, found a string",
            "error: 4 problems found; nothing was uploaded",
        ]),
    ),
    // The addons template's shape, as Copilot checks it (its messages).
    row(
        "addon Resources that is not a map",
        |d| {
            workspace(
                d,
                &[("a.yml", &format!("{ADDON_PARAMS}Resources: hello\n"))],
            )
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/a.yml:8:12: \"Resources\" field in cloudformation template is not a map",
        ]),
    ),
    row(
        "addon resource that is not a map",
        |d| {
            workspace(
                d,
                &[
                    ("a.yml", &addon_function("lambdas/fn/")),
                    ("b.yml", "Resources:\n  Hello: World\n"),
                ],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/b.yml:2:10: decode the \"Type\" field of resource \"Hello\": the resource is a string, not a mapping",
        ]),
    ),
    row(
        "addon Outputs that is not a map",
        |d| {
            workspace(
                d,
                &[(
                    "a.yml",
                    &format!("{}Outputs: hello\n", addon_function("lambdas/fn/")),
                )],
            )
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/a.yml:13:10: \"Outputs\" field in cloudformation template is not a map",
        ]),
    ),
    row(
        "addon output that is not a map",
        |d| {
            workspace(
                d,
                &[(
                    "a.yml",
                    &format!(
                        "{}Outputs:\n  Hello: World\n",
                        addon_function("lambdas/fn/")
                    ),
                )],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/a.yml:14:10: decode the \"Value\" field of output \"Hello\": the output is a string, not a mapping",
        ]),
    ),
    row(
        "addon resource without Type",
        |d| {
            workspace(
                d,
                &[(
                    "a.yml",
                    &format!("{ADDON_PARAMS}Resources:\n  Hello:\n    Properties: {{}}\n"),
                )],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/a.yml:9:3: decode the \"Type\" field of resource \"Hello\": the resource has no \"Type\"",
        ]),
    ),
    row(
        "addon resource whose Type is not a string",
        |d| {
            workspace(
                d,
                &[(
                    "a.yml",
                    &format!("{ADDON_PARAMS}Resources:\n  Hello:\n    Type: [AWS::SNS::Topic]\n"),
                )],
            );
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/a.yml:10:11: decode the \"Type\" field of resource \"Hello\": \"Type\" must be a string, found a list",
        ]),
    ),
    row(
        "malformed addon YAML",
        |d| workspace(d, &[("fn.yml", "Resources:\n  fn: [unclosed\n")]),
        Cmd::Svc,
        Expect::Fails(&["{dir}/copilot/api/addons/fn.yml:3:1: "]),
    ),
    row(
        "duplicate keys in an addon",
        |d| {
            workspace(
                d,
                &[(
                    "fn.yml",
                    "Resources:\n  q:\n    Type: AWS::SQS::Queue\n  q:\n    Type: AWS::SQS::Queue\n",
                )],
            )
        },
        Cmd::Svc,
        Expect::Fails(&["{dir}/copilot/api/addons/fn.yml:4:3: ", "duplicate"]),
    ),
    row(
        "a FIFO among the addon files",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]);
            fifo(&d.join("copilot/api/addons/more.yml"));
        },
        Cmd::Svc,
        Expect::Fails(&["{dir}/copilot/api/addons/more.yml: is a FIFO, not a regular file"]),
    ),
    row(
        "addons.parameters.yml without Parameters",
        |d| {
            workspace(
                d,
                &[
                    ("fn.yml", &addon_function("lambdas/fn/")),
                    ("addons.parameters.yml", "Params:\n  X: 1\n"),
                ],
            )
        },
        Cmd::Svc,
        Expect::Fails(&[
            "must define field 'Parameters' in file addons.parameters.yml",
            "{dir}/copilot/api/addons",
        ]),
    ),
    row(
        "addons.parameters.yml with a parameter the template does not declare",
        |d| {
            workspace(
                d,
                &[
                    ("fn.yml", &addon_function("lambdas/fn/")),
                    (
                        "addons.parameters.yml",
                        "Parameters:\n  Unknown: !Ref AWS::Region\n",
                    ),
                ],
            )
        },
        Cmd::Svc,
        Expect::Fails(&[
            "{dir}/copilot/api/addons/addons.parameters.yml:2:3: ",
            "template does not require the parameter \"Unknown\" in parameters file",
        ]),
    ),
    row(
        "malformed addons.parameters.yml",
        |d| {
            workspace(
                d,
                &[
                    ("fn.yml", &addon_function("lambdas/fn/")),
                    ("addons.parameters.yml", "Parameters:\n  X: [unclosed\n"),
                ],
            )
        },
        Cmd::Svc,
        Expect::Fails(&["{dir}/copilot/api/addons/addons.parameters.yml:3:1: "]),
    ),
    row(
        "both addons.parameters.yml and addons.parameters.yaml",
        |d| {
            workspace(
                d,
                &[
                    ("fn.yml", &addon_function("lambdas/fn/")),
                    ("addons.parameters.yml", "Parameters: {}\n"),
                    ("addons.parameters.yaml", "Parameters: {}\n"),
                ],
            )
        },
        Cmd::Svc,
        Expect::Fails(&[
            "defining addons.parameters.yml and addons.parameters.yaml is not allowed under addons/",
        ]),
    ),
    // --- Names (Copilot's rule, checked before any path, key or stack name is made) ----------
    row(
        "-e with a path traversal (names)",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]);
            std::fs::create_dir_all(d.join("od/api-")).unwrap();
        },
        Cmd::Args(&[
            "svc",
            "package",
            "-n",
            "api",
            "-e",
            "/../../ESCAPED",
            "--output-dir",
            "od",
        ]),
        Expect::Fails(&[
            "error: -e/--env: environment name \"/../../ESCAPED\" is invalid: value must start with a letter, contain only lower-case letters, numbers, and hyphens, and have no consecutive or trailing hyphen",
        ]),
    ),
    row(
        "-e with a space (names)",
        |d| workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]),
        Cmd::Args(&["svc", "package", "-n", "api", "-e", "a b\t"]),
        Expect::Fails(&["error: -e/--env: environment name \"a b\\t\" is invalid: "]),
    ),
    row(
        "-n with capitals (names)",
        |d| workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]),
        Cmd::Args(&["svc", "package", "-n", "Api", "-e", "test"]),
        Expect::Fails(&["error: -n/--name: service name \"Api\" is invalid: "]),
    ),
    row(
        "-a with a slash (names)",
        |d| workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]),
        Cmd::Args(&["svc", "deploy", "-n", "api", "-e", "test", "-a", "x/y"]),
        Expect::Fails(&["error: -a/--app: application name \"x/y\" is invalid: "]),
    ),
    row(
        "-e empty (names)",
        |d| workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]),
        Cmd::Args(&["svc", "delete", "-n", "api", "-e", ""]),
        Expect::Fails(&[
            "error: -e/--env: environment name \"\" is invalid: value must not be empty",
        ]),
    ),
    row(
        "an application name in .workspace that Copilot refuses (names)",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]);
            write(d, "copilot/.workspace", "application: ../My App\n");
        },
        Cmd::Svc,
        Expect::Fails(&[
            "error: {dir}/copilot/.workspace (field \"application\"): application name \"../My App\" is invalid: ",
        ]),
    ),
    row(
        "a service folder name that Copilot refuses (names)",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]);
            write(
                d,
                "copilot/Bad_Svc/manifest.yml",
                "name: Bad_Svc\ntype: Backend Service\n",
            );
        },
        Cmd::Args(&["svc", "ls"]),
        Expect::Fails(&[
            "error: service folder {dir}/copilot/Bad_Svc: service name \"Bad_Svc\" is invalid: ",
        ]),
    ),
    row(
        "a Request-Driven Web Service name over App Runner's 40 characters (names)",
        |d| {
            write(d, "copilot/.workspace", "application: app\n");
            write(
                d,
                "copilot/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/manifest.yml",
                "name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\ntype: Request-Driven Web Service\n",
            );
        },
        Cmd::Args(&[
            "svc",
            "package",
            "-n",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "-e",
            "test",
        ]),
        Expect::Fails(&[
            "error: service folder {dir}/copilot/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: service name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" is invalid: value must not exceed 40 characters",
        ]),
    ),
    // --- Messages that used to mislead -------------------------------------------------------
    row(
        "an empty copilot/.workspace",
        |d| {
            workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]);
            write(d, "copilot/.workspace", "# nothing yet\n\n");
        },
        Cmd::Svc,
        Expect::Fails(&[
            "error: {dir}/copilot/.workspace: the workspace file is empty; it should name the application, as `application: <name>`",
        ]),
    ),
    row(
        "an s3:// URL as --s3-bucket",
        |d| {
            code(d);
            function(d, "code/");
        },
        Cmd::Args(&[
            "package",
            "--template-file",
            "t.yml",
            "--s3-bucket",
            "s3://artifacts/team",
        ]),
        Expect::Fails(&[
            "error: bucket \"s3://artifacts/team\" is an s3:// URL: a bucket name is expected (here \"artifacts\"), and the folder \"team\" goes in the key prefix (--s3-prefix)",
        ]),
    ),
    row(
        "an s3:// URL as --bucket",
        |d| workspace(d, &[("fn.yml", &addon_function("lambdas/fn/"))]),
        Cmd::Args(&[
            "svc",
            "package",
            "-n",
            "api",
            "-e",
            "test",
            "--upload-assets",
            "--bucket",
            "s3://artifacts",
        ]),
        Expect::Fails(&["error: bucket \"s3://artifacts\" is an s3:// URL: "]),
    ),
];

// ---------------------------------------------------------------------------------------------
// Running the matrix.

/// What a path in a case's tree looks like, to prove nothing changed (contents, links, mtimes).
#[derive(Debug, PartialEq)]
struct State {
    kind: &'static str,
    mode: u32,
    mtime: SystemTime,
    /// File bytes (`None` when not readable by us) or link target.
    content: Option<Vec<u8>>,
}

fn tree_state(dir: &Path) -> BTreeMap<PathBuf, State> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&d) else {
            continue; // an unreadable folder: its own State is recorded by its parent
        };
        for entry in read {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let (kind, content) = if ft.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                ("symlink", Some(target.as_os_str().as_bytes().to_vec()))
            } else if ft.is_dir() {
                stack.push(path.clone());
                ("folder", None)
            } else if ft.is_file() {
                ("file", std::fs::read(&path).ok())
            } else {
                ("special", None)
            };
            out.insert(
                path,
                State {
                    kind,
                    mode: meta.permissions().mode(),
                    mtime: meta.modified().unwrap(),
                    content,
                },
            );
        }
    }
    out
}

/// Runs `cmd`, killing it if it has not finished after a generous time (a hang is a failure
/// of the row, reported as such rather than blocking the test run forever).
fn run_bounded(cmd: &mut Command) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    // Drain the pipes on threads so that a big output cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).ok();
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut b).ok();
        b
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            return Err("did not finish within 120 s (hang?)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    })
}

/// Runs one row; `Err` describes how it failed.
fn check(case: &Case) -> Result<(), String> {
    let s3 = &TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let temp = tempfile::tempdir().unwrap();
    // Canonical, so that messages (which name canonical workspace roots) match `{dir}`.
    let dir = std::fs::canonicalize(temp.path()).unwrap();
    (case.files)(&dir);
    let before = tree_state(&dir);
    let mut cmd = copilot_lite(Some(s3));
    cmd.current_dir(&dir);
    match case.cmd {
        Cmd::Package(template, extra) => {
            cmd.arg("package")
                .arg("--template-file")
                .arg(dir.join(template))
                .args(["--s3-bucket", BUCKET])
                .args(extra);
        }
        Cmd::Svc => {
            let ws = if dir.join("ws").is_dir() {
                dir.join("ws")
            } else {
                dir.clone()
            };
            cmd.current_dir(ws).args([
                "svc",
                "package",
                "-n",
                "api",
                "-e",
                "test",
                "--upload-assets",
                "--bucket",
                BUCKET,
            ]);
        }
        Cmd::Args(args) => {
            let dir_text = dir.display().to_string();
            cmd.args(args.iter().map(|a| a.replace("{dir}", &dir_text)));
        }
    }
    if case.as_nobody && is_root() {
        // nobody must reach the case's folder (the temporary folder is root's, mode 0700).
        std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        cmd = as_nobody(&cmd);
    }
    let output = run_bounded(&mut cmd)?;
    let err = stderr(&output);
    let mut problems = Vec::new();
    if err.contains("panicked") || output.status.code() == Some(101) {
        problems.push("the binary panicked".to_string());
    }
    match &case.expect {
        Expect::Fails(needles) => {
            if output.status.code() != Some(1) {
                problems.push(format!("exit code {:?}, expected 1", output.status.code()));
            }
            let dir_text = dir.display().to_string();
            for needle in *needles {
                let needle = needle.replace("{dir}", &dir_text);
                if !err.contains(&needle) {
                    problems.push(format!("stderr lacks {needle:?}"));
                }
            }
            if s3.write_requests() != 0 {
                problems.push(format!(
                    "S3 write requests were sent: {:?}",
                    s3.counts_by_operation()
                ));
            }
        }
        Expect::Works(verify) => {
            if !output.status.success() {
                problems.push(format!("exit code {:?}, expected 0", output.status.code()));
            } else {
                let out = stdout(&output);
                let verified = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    verify(&dir, &out, s3)
                }));
                if let Err(panic) = verified {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    problems.push(format!("output check failed: {message}"));
                }
            }
        }
    }
    let after = tree_state(&dir);
    if after != before {
        let changed: Vec<_> = before
            .keys()
            .chain(after.keys())
            .filter(|p| before.get(*p) != after.get(*p))
            .collect();
        problems.push(format!("files changed on disk: {changed:?}"));
    }
    // Let the temporary folder be removed (an unreadable folder cannot be emptied).
    for (path, state) in &after {
        if state.kind == "folder" && state.mode & 0o700 != 0o700 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).ok();
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n--- stderr:\n{err}--- exit code: {:?}",
            problems.join("\n"),
            output.status.code()
        ))
    }
}

#[test]
fn bad_input_matrix() {
    let mut failed = Vec::new();
    for case in CASES {
        match check(case) {
            Ok(()) => eprintln!("ok   {}", case.name),
            Err(why) => {
                eprintln!("FAIL {}: {why}\n", case.name);
                failed.push(case.name);
            }
        }
    }
    assert!(failed.is_empty(), "rows failed: {failed:#?}");
}

/// The issue's list of bad inputs, each covered by at least one row (keeps the table honest
/// when rows are edited).
#[test]
fn the_matrix_covers_the_issue_list() {
    let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    for topic in [
        "malformed YAML",
        "malformed JSON",
        "duplicate keys",
        "no long form under --use-json",
        "where a path is expected",
        "does not exist",
        "a folder where a file is needed",
        "empty folder",
        "unreadable file",
        "FIFO",
        "symlink loop",
        "symlink",
        "`..` path leaving the workspace",
        "nested-stack cycle",
        "10,000 deep",
        "MB template",
        "not UTF-8",
        "spaces and unicode",
        "conflicting addon files",
        "addons.parameters.yml",
        "(names)",
        "path traversal",
        "empty copilot/.workspace",
        "s3:// URL",
    ] {
        assert!(
            names.iter().any(|n| n.contains(topic)),
            "no row about {topic:?}"
        );
    }
}
