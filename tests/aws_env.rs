//! What the binary takes from the AWS environment and gives to the shell: `--profile` (the
//! shared config files' profile, as AWS_PROFILE) and `completions`.

use std::process::Command;

use crate::common::*;
use test_support::s3::TestS3;

const BUCKET: &str = "profile-bucket";

/// `package` of `examples/package` with only the endpoint in the environment: credentials
/// come from `config` (a shared config file), through `profile` when given.
fn package_with_config(
    s3: &TestS3,
    config: &std::path::Path,
    profile: Option<&str>,
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("examples/package"), dir.path());
    let out = tempfile::tempdir().unwrap();
    let mut cmd = copilot_lite(None);
    cmd.env("AWS_ENDPOINT_URL", &s3.endpoint)
        .env("AWS_CONFIG_FILE", config)
        .env_remove("AWS_REGION")
        .arg("package")
        .arg("--template-file")
        .arg(dir.path().join("template.yml"))
        .args(["--s3-bucket", BUCKET, "--output-template-file"])
        .arg(out.path().join("packaged.yml"));
    if let Some(p) = profile {
        cmd.args(["--profile", p]);
    }
    run(&mut cmd)
}

#[test]
fn profile_picks_the_credentials_and_region_of_the_config_file() {
    let s3 = TestS3::start_with_credentials_blocking("profile-key", "profile-secret");
    s3.create_bucket_blocking(BUCKET);
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "[default]\nregion = us-east-1\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
         [profile dev]\nregion = us-east-1\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    // The default profile's keys are refused by the server: nothing is stored.
    let out = package_with_config(&s3, config.path(), None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(s3.keys(BUCKET).is_empty(), "{:?}", s3.keys(BUCKET));
    // --profile dev: its keys and region; the artifacts are uploaded.
    let out = package_with_config(&s3, config.path(), Some("dev"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !s3.keys(BUCKET).is_empty(),
        "nothing uploaded with --profile dev"
    );
    // A profile that does not exist is a usage error naming it and the files read, not a
    // silent default or a message about a missing region.
    let out = package_with_config(&s3, config.path(), Some("nope"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--profile nope: no such profile in")
            && err.contains(&config.path().display().to_string()),
        "{err}"
    );
}

#[test]
fn completions_are_generated_for_each_shell() {
    // (shell, a line every script of it has, how it writes a long flag)
    for (shell, marker, flag) in [
        ("bash", "complete -F", "--"),
        ("zsh", "#compdef copilot-lite", "--"),
        ("fish", "complete -c copilot-lite", "-l "),
        ("powershell", "Register-ArgumentCompleter", "--"),
    ] {
        let out = run(copilot_lite(None).args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains(marker),
            "{shell}: no {marker:?} in the script"
        );
        // The subcommands and their flags are in it.
        for word in ["svc", "deploy", "watch", "completions"] {
            assert!(script.contains(word), "{shell}: no {word:?} in the script");
        }
        for name in ["hotswap", "profile", "s3-bucket"] {
            let written = format!("{flag}{name}");
            assert!(
                script.contains(&written),
                "{shell}: no {written:?} in the script"
            );
        }
    }
    // The bash script is valid bash.
    let out = run(copilot_lite(None).args(["completions", "bash"]));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), stdout(&out)).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // An unknown shell is a usage error.
    let out = run(copilot_lite(None).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}
