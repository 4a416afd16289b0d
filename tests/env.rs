//! `copilot-lite env ls|package` end to end on a workspace with environment addons
//! (`copilot/environments/addons/`), against an in-process S3 server.

use std::path::Path;

use crate::common::*;
use test_support::s3::TestS3;

const SHARED: &str = "\
Parameters:
  App:
    Type: String
  Env:
    Type: String
Resources:
  # shared by every service of the environment
  SharedProcessor:
    Type: AWS::Lambda::Function
    Properties:
      Handler: index.handler
      Runtime: nodejs20.x
      Role: !GetAtt 'SharedRole.Arn'
      Code: lambdas/shared/
  SharedRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}
Outputs:
  SharedProcessorArn:
    Value: !GetAtt SharedProcessor.Arn
    Export:
      Name: !Sub '${App}-${Env}-SharedProcessorArn'
";

/// A workspace of application `app` with environments `test` and `prod`, the environment
/// addon [`SHARED`] and its Lambda folder.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("copilot/.workspace", "application: app\n"),
        (
            "copilot/environments/test/manifest.yml",
            "name: test\ntype: Environment\n",
        ),
        (
            "copilot/environments/prod/manifest.yml",
            "name: prod\ntype: Environment\n",
        ),
        ("copilot/environments/addons/shared.yml", SHARED),
        (
            "lambdas/shared/index.js",
            "exports.handler = async () => 1;\n",
        ),
    ];
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn env(dir: &Path, s3: Option<&TestS3>, args: &[&str]) -> std::process::Output {
    run(copilot_lite(s3).current_dir(dir).arg("env").args(args))
}

#[test]
fn ls_lists_the_environments_and_the_addons() {
    let dir = workspace();
    let out = env(dir.path(), None, &["ls"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "NAME\nprod\ntest\n");
    assert!(
        stderr(&out).contains("Environment addons: 1 template(s) in "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn package_uploads_under_the_environments_folder_and_leaves_the_workspace_alone() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = workspace();
    let before = snapshot(dir.path());
    let args = [
        "package",
        "-n",
        "test",
        "--upload-assets",
        "--bucket",
        BUCKET,
    ];
    let out = env(dir.path(), Some(&s3), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let packaged = stdout(&out);
    assert!(
        packaged.contains("      Code:\n        S3Bucket: artifacts\n        S3Key: manual/addons/environments/assets/"),
        "{packaged}"
    );
    // Everything else as written.
    assert!(packaged.contains("  # shared by every service of the environment\n"));
    assert!(packaged.contains("      Role: !GetAtt 'SharedRole.Arn'\n"));
    assert!(packaged.contains("      Name: !Sub '${App}-${Env}-SharedProcessorArn'\n"));
    let keys = s3.keys(BUCKET);
    let asset = keys
        .iter()
        .find(|k| k.starts_with("manual/addons/environments/assets/"))
        .unwrap_or_else(|| panic!("{keys:?}"));
    let zip = unzip(&s3.object(BUCKET, asset).unwrap());
    assert_eq!(
        zip.into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect::<std::collections::BTreeMap<_, _>>(),
        folder_files(&dir.path().join("lambdas/shared"))
    );
    let templates: Vec<&String> = keys
        .iter()
        .filter(|k| {
            k.starts_with("manual/addons/environments/")
                && !k.starts_with("manual/addons/environments/assets/")
        })
        .collect();
    assert!(
        templates.len() == 1 && templates[0].ends_with(".yml"),
        "one packaged addons template: {keys:?}"
    );
    assert_eq!(
        String::from_utf8(s3.object(BUCKET, templates[0]).unwrap()).unwrap(),
        packaged
    );
    assert_eq!(snapshot(dir.path()), before, "the workspace was changed");
}

#[test]
fn package_to_a_folder_writes_copilots_file_names() {
    let dir = workspace();
    let out_dir = dir.path().join("out");
    let out = run(copilot_lite(None)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .current_dir(dir.path())
        .args(["env", "package", "-n", "prod", "--output-dir"])
        .arg(&out_dir));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["env.addons.yml", "prod.env.params.json", "prod.env.yml"]
    );
    // Without --upload-assets the addons template is the file as written.
    assert_eq!(
        std::fs::read_to_string(out_dir.join("env.addons.yml")).unwrap(),
        SHARED
    );
    let params: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("prod.env.params.json")).unwrap())
            .unwrap();
    assert_eq!(params["Parameters"]["EnvironmentName"], "prod");
    assert_eq!(params["Parameters"]["AddonsTemplateURL"], "");
    assert_eq!(params["Tags"]["copilot-environment"], "prod");
    assert_eq!(params["Tags"]["copilot-lite:managed"], "true");
    let stack = std::fs::read_to_string(out_dir.join("prod.env.yml")).unwrap();
    let stack = cfn_yaml::Template::parse(Path::new("prod.env.yml"), stack).unwrap();
    assert_eq!(
        stack
            .root()
            .get_path(&["Outputs", "SharedProcessorArn", "Value"])
            .and_then(cfn_yaml::Node::as_scalar),
        Some("AddonsStack.Outputs.SharedProcessorArn")
    );
}

#[test]
fn environment_rules_and_bad_paths_are_errors_with_nothing_uploaded() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let args = [
        "package",
        "-n",
        "test",
        "--upload-assets",
        "--bucket",
        BUCKET,
    ];
    let addon = "copilot/environments/addons/shared.yml";
    let cases: [(&str, String, String); 3] = [
        (
            "no Env parameter",
            SHARED.replace("  Env:\n    Type: String\n", ""),
            "required parameter \"Env\" is missing from the template".to_owned(),
        ),
        (
            "a parameters file setting Env",
            SHARED.to_owned(),
            "reserved parameters \"App\" and \"Env\" cannot be declared".to_owned(),
        ),
        (
            "a missing Lambda folder",
            SHARED.replace("lambdas/shared/", "lambdas/missing/"),
            format!("{addon}:14:"),
        ),
    ];
    for (what, text, expected) in cases {
        let dir = workspace();
        std::fs::write(dir.path().join(addon), &text).unwrap();
        if what.starts_with("a parameters file") {
            std::fs::write(
                dir.path()
                    .join("copilot/environments/addons/addons.parameters.yml"),
                "Parameters:\n  Env: prod\n",
            )
            .unwrap();
        }
        s3.clear_requests();
        let out = env(dir.path(), Some(&s3), &args);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", stderr(&out));
        assert!(stderr(&out).contains(&expected), "{what}: {}", stderr(&out));
        assert_eq!(
            s3.count_method("PUT") + s3.count_method("POST"),
            0,
            "{what}"
        );
    }
    // The environment name by Copilot's rule, before anything is read.
    let dir = workspace();
    let out = env(dir.path(), None, &["package", "-n", "../prod"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("environment name \"../prod\" is invalid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_environment_can_be_left_out_and_the_list_is_checked() {
    let s3 = TestS3::start_blocking();
    s3.create_bucket_blocking(BUCKET);
    let dir = workspace();
    let params = dir
        .path()
        .join("copilot/environments/addons/addons.parameters.yml");
    std::fs::write(
        &params,
        "Parameters:\n# copilot-lite: no environment addons in prod\nExcludedEnvironments: [prod]\n",
    )
    .unwrap();
    let upload = ["--upload-assets", "--bucket", BUCKET];
    let out = env(
        dir.path(),
        Some(&s3),
        &[&["package", "-n", "prod"][..], &upload].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(
            "Environment prod is left out of the environment addons (ExcludedEnvironments in "
        ),
        "{}",
        stderr(&out)
    );
    assert!(
        s3.keys(BUCKET).is_empty(),
        "uploaded for an environment left out"
    );
    // Other environments get them.
    let out = env(
        dir.path(),
        Some(&s3),
        &[&["package", "-n", "test"][..], &upload].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("S3Key: manual/addons/environments/assets/"));

    // Not a list of names: an error at the value.
    std::fs::write(&params, "Parameters:\nExcludedEnvironments: prod\n").unwrap();
    let out = env(dir.path(), None, &["package", "-n", "test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "addons.parameters.yml:2:23: ExcludedEnvironments: expected a list of environment names"
        ),
        "{}",
        stderr(&out)
    );
    // A service's addons cannot leave environments out.
    let svc_params = dir.path().join("copilot/api/addons/addons.parameters.yml");
    std::fs::create_dir_all(svc_params.parent().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("copilot/api/manifest.yml"),
        "name: api\ntype: Backend Service\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("copilot/api/addons/t.yml"),
        "Parameters:\n  App: {Type: String}\n  Env: {Type: String}\n  Name: {Type: String}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n",
    )
    .unwrap();
    std::fs::write(&svc_params, "Parameters:\nExcludedEnvironments: [prod]\n").unwrap();
    let out = run(copilot_lite(None)
        .current_dir(dir.path())
        .args(["svc", "package", "-n", "api", "-e", "test"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ExcludedEnvironments: only the environment addons (copilot/environments/addons/) can leave environments out"),
        "{}",
        stderr(&out)
    );
}
