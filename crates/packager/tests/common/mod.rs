//! What the packager's integration tests share: a template prepared in a workspace folder.

use std::path::Path;

use packager::{Base, Options, Prepared, prepare};

/// `root`, the text of `dir/template.yml`, prepared with paths from the template's folder, key
/// prefix `p` and 2 jobs.
pub async fn prepared(dir: &Path, root: &str, force: bool) -> Prepared {
    let template =
        cfn_yaml::Template::parse(&dir.join("template.yml"), root.to_string()).expect("parses");
    let options = Options {
        base: Base::TemplateDir,
        root: dir.to_path_buf(),
        confine: false,
        key_prefix: "p".into(),
        jobs: 2,
        json: false,
        ignore_file: None,
        cache: None,
        force,
    };
    prepare(template, options).await.expect("valid")
}
