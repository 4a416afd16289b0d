//! Runs the parser and renderers over the shared corpus of real CloudFormation templates.

mod common;

use std::path::{Path, PathBuf};

use cfn_yaml::{Edits, Format, Node, NodeKind, Replacement, Template};
use common::{check_spans, lossless, strip};

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CFN_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cfn-corpus/templates"),
    };
    dir.is_dir().then_some(dir)
}

fn corpus() -> Vec<(PathBuf, String)> {
    let Some(dir) = corpus_dir() else {
        // CI has ../shared beside the repository: there a missing corpus is a failure.
        assert!(
            std::env::var_os("CI").is_none(),
            "cfn corpus not found (../shared/cfn-corpus/templates, or set CFN_CORPUS)"
        );
        eprintln!("SKIP: cfn corpus not found (set CFN_CORPUS); the corpus tests check nothing");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json" | "template")
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus dir {} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

#[test]
fn corpus_parses_and_renders_byte_identical() {
    let files = corpus();
    let mut failures = Vec::new();
    for (path, text) in &files {
        match Template::parse(path, text.clone()) {
            Ok(t) => {
                assert_eq!(t.render(&Edits::new()), *text, "{}", path.display());
                check_spans(text, t.root());
                let is_json = path.extension().is_some_and(|e| e == "json");
                assert_eq!(t.format() == Format::Json, is_json, "{}", path.display());
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    assert!(
        failures.is_empty(),
        "parse failures:\n{}",
        failures.join("\n")
    );
    eprintln!("{} corpus templates parsed and rendered", files.len());
}

/// Every `Resources.*.Type` scalar of a template, with its resource name.
fn type_nodes(root: &Node) -> Vec<(String, &Node)> {
    let Some(res) = root.get("Resources") else {
        return Vec::new();
    };
    res.entries()
        .iter()
        .filter_map(|(k, v)| Some((k.as_scalar()?.to_owned(), v.get("Type")?)))
        .filter(|(_, t)| matches!(t.kind, NodeKind::Scalar { .. }))
        .collect()
}

/// The stripped tree of `root` with `Resources.<name>.Type` replaced by `with`.
fn expected_tree(root: &Node, names: &[String], with: &dyn Fn(&Node) -> Node) -> Node {
    let mut root = strip(root);
    let NodeKind::Mapping(entries) = &mut root.kind else {
        panic!()
    };
    for (k, v) in entries.iter_mut() {
        if k.as_scalar() != Some("Resources") {
            continue;
        }
        let NodeKind::Mapping(res) = &mut v.kind else {
            panic!()
        };
        for (rk, rv) in res.iter_mut() {
            if !names.iter().any(|n| Some(n.as_str()) == rk.as_scalar()) {
                continue;
            }
            let NodeKind::Mapping(props) = &mut rv.kind else {
                panic!()
            };
            for (pk, pv) in props.iter_mut() {
                if pk.as_scalar() == Some("Type") {
                    *pv = with(pv);
                }
            }
        }
    }
    root
}

/// Normalises the replaced `Type` nodes of a re-parsed tree so that it can be compared with the
/// expected one: for strings, only value and tag matter (the quoting style may change).
fn normalise_types(root: &mut Node, names: &[String]) {
    let NodeKind::Mapping(entries) = &mut root.kind else {
        return;
    };
    for (k, v) in entries.iter_mut() {
        if k.as_scalar() != Some("Resources") {
            continue;
        }
        let NodeKind::Mapping(res) = &mut v.kind else {
            return;
        };
        for (rk, rv) in res.iter_mut() {
            if !names.iter().any(|n| Some(n.as_str()) == rk.as_scalar()) {
                continue;
            }
            let NodeKind::Mapping(props) = &mut rv.kind else {
                continue;
            };
            for (pk, pv) in props.iter_mut() {
                if pk.as_scalar() == Some("Type")
                    && let NodeKind::Scalar { style, .. } = &mut pv.kind
                {
                    *style = cfn_yaml::ScalarStyle::Plain;
                }
                if pk.as_scalar() == Some("Type") && pv.flow {
                    pv.flow = false;
                }
            }
        }
    }
}

fn scalar(value: &str) -> Node {
    Node {
        kind: NodeKind::Scalar {
            value: value.into(),
            style: cfn_yaml::ScalarStyle::Plain,
        },
        tag: None,
        anchor: None,
        flow: false,
        span: Default::default(),
        content: Default::default(),
        via: Default::default(),
    }
}

#[test]
fn corpus_replacements_reparse_to_expected_tree() {
    let files = corpus();
    let mut checked = 0;
    let values = [
        "AWS::S3::Bucket",
        "s3://my-bucket/0a1b2c.zip",
        "it's: a \"tricky\" # value",
        "true",
        "12345",
        "",
        "ünïcödé\tvalue\\with\nnewline",
    ];
    for (i, (path, text)) in files.iter().enumerate() {
        let t = Template::parse(path, text.clone()).unwrap();
        let types = type_nodes(t.root());
        if types.is_empty() {
            continue;
        }
        let names: Vec<String> = types.iter().map(|(n, _)| n.clone()).collect();

        // String replacement of every Type.
        let value = values[i % values.len()];
        let mut edits = Edits::new();
        for (_, node) in &types {
            edits.replace(node, Replacement::String(value.to_owned()));
        }
        let out = t.render(&edits);
        let re = Template::parse(path, out.clone())
            .unwrap_or_else(|e| panic!("{}: re-parse failed: {e}\n{out}", path.display()));
        let mut got = strip(re.root());
        normalise_types(&mut got, &names);
        // Tags and anchors of a replaced scalar are kept.
        let with = |old: &Node| {
            let mut n = scalar(value);
            n.tag = old.tag.clone();
            n.anchor = old.anchor.clone();
            n
        };
        let mut want = expected_tree(t.root(), &names, &with);
        normalise_types(&mut want, &names);
        assert!(
            got == want,
            "{}: String replacement changed the tree\n{out}",
            path.display()
        );

        // Mapping replacement of every Type.
        let pairs = vec![
            ("S3Bucket".to_owned(), "my-bucket".to_owned()),
            ("S3Key".to_owned(), format!("{value}/code.zip")),
        ];
        let mut edits = Edits::new();
        for (_, node) in &types {
            edits.replace(node, Replacement::Mapping(pairs.clone()));
        }
        let out = t.render(&edits);
        let re = Template::parse(path, out.clone())
            .unwrap_or_else(|e| panic!("{}: re-parse failed: {e}\n{out}", path.display()));
        let mut got = strip(re.root());
        normalise_types(&mut got, &names);
        let mut mapping = scalar("");
        mapping.kind =
            NodeKind::Mapping(pairs.iter().map(|(k, v)| (scalar(k), scalar(v))).collect());
        let mut want = expected_tree(t.root(), &names, &|_| mapping.clone());
        normalise_types(&mut want, &names);
        // Keys and values of the new mapping may be quoted: compare values only.
        fn values_only(n: &mut Node) {
            match &mut n.kind {
                NodeKind::Scalar { style, .. } => *style = cfn_yaml::ScalarStyle::Plain,
                NodeKind::Mapping(e) => e.iter_mut().for_each(|(k, v)| {
                    values_only(k);
                    values_only(v)
                }),
                NodeKind::Sequence(s) => s.iter_mut().for_each(values_only),
                NodeKind::Alias(_) => {}
            }
        }
        let (mut g2, mut w2) = (got.clone(), want.clone());
        let sel = |n: &mut Node| -> Vec<Node> {
            let res = n.get("Resources").unwrap();
            names
                .iter()
                .map(|name| res.get(name).unwrap().get("Type").unwrap().clone())
                .collect()
        };
        let (mut gt, mut wt) = (sel(&mut g2), sel(&mut w2));
        gt.iter_mut().for_each(values_only);
        wt.iter_mut().for_each(values_only);
        assert!(
            gt == wt,
            "{}: Mapping replacement wrong\n{out}",
            path.display()
        );
        // JSON gets flow mappings, YAML block ones (the corpus has no flow resources).
        let flow_of = |n: &Node| {
            n.get("Resources")
                .unwrap()
                .get(&names[0])
                .unwrap()
                .get("Type")
                .unwrap()
                .flow
        };
        assert_eq!(flow_of(re.root()), t.format() == Format::Json);
        // Everything else is unchanged.
        let blank = |n: &mut Node| {
            let NodeKind::Mapping(entries) = &mut n.kind else {
                return;
            };
            for (k, v) in entries.iter_mut() {
                if k.as_scalar() != Some("Resources") {
                    continue;
                }
                let NodeKind::Mapping(res) = &mut v.kind else {
                    return;
                };
                for (_, rv) in res.iter_mut() {
                    let NodeKind::Mapping(props) = &mut rv.kind else {
                        continue;
                    };
                    for (pk, pv) in props.iter_mut() {
                        if pk.as_scalar() == Some("Type") {
                            *pv = scalar("X");
                        }
                    }
                }
            }
        };
        blank(&mut got);
        blank(&mut want);
        assert!(
            got == want,
            "{}: Mapping replacement changed other nodes\n{out}",
            path.display()
        );
        checked += 1;
    }
    eprintln!("{checked} corpus templates checked with replacements");
}

#[test]
fn corpus_render_json() {
    let files = corpus();
    let mut ok = 0;
    let mut tag_errors = 0;
    for (path, text) in &files {
        let t = Template::parse(path, text.clone()).unwrap();
        match t.render_json(&Edits::new()) {
            Ok(json) => {
                let v: serde_json::Value = serde_json::from_str(&json)
                    .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}\n{json}", path.display()));
                assert!(v.is_object());
                if t.format() == Format::Json {
                    let orig: serde_json::Value = serde_json::from_str(text).unwrap();
                    assert_eq!(v, orig, "{}", path.display());
                }
                ok += 1;
            }
            Err(e) => {
                assert!(
                    e.message.contains("has no long form in JSON"),
                    "{}: {e}",
                    path.display()
                );
                tag_errors += 1;
            }
        }
    }
    eprintln!("render_json: {ok} ok, {tag_errors} with tags that have no long form");
}

/// Templates present in both YAML and JSON form convert to the same JSON value.
#[test]
fn corpus_yaml_json_pairs_agree() {
    let files = corpus();
    let mut pairs = 0;
    let mut differences = Vec::new();
    for (path, text) in &files {
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let jpath = path.with_extension("json");
        let Some((_, jtext)) = files.iter().find(|(p, _)| *p == jpath) else {
            continue;
        };
        let t = Template::parse(path, text.clone()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        pairs += 1;
        let json = match t.render_json(&Edits::new()) {
            Ok(json) => json,
            Err(e) => {
                differences.push(format!("{name}: {}", e.message));
                continue;
            }
        };
        let a: serde_json::Value = serde_json::from_str(&json).unwrap();
        let b: serde_json::Value = serde_json::from_str(jtext).unwrap();
        differences
            .extend(first_difference(&a, &b, String::new()).map(|at| format!("{name} at {at}")));
    }
    assert!(pairs > 0, "the corpus has YAML/JSON pairs");
    assert_eq!(
        differences, KNOWN_PAIR_DIFFERENCES,
        "{pairs} YAML/JSON pairs: the JSON rendering of the YAML differs from the JSON twin"
    );
}

/// Pairs of the corpus whose YAML and JSON twins do not say the same thing (the corpus's own
/// differences, not the renderer's), each with why.
const KNOWN_PAIR_DIFFERENCES: &[&str] = &[
    // `!Rain::` tags are directives of the rain preprocessor, which its JSON twin has applied;
    // they have no CloudFormation form.
    "APIGateway__apigateway_lambda_integration.yaml: tag !Rain::Embed has no long form in JSON",
    // The twins are different versions of the template (other resources, properties, AMIs).
    "AutoScaling__AutoScalingRollingUpdates.yaml at .Resources (keys)",
    "AutoScaling__AutoScalingScheduledAction.yaml at .Resources (keys)",
    "CloudFormation__MacrosExamples__StringFunctions__string.yaml: tag !Rain::Embed has no long \
     form in JSON",
    "CloudFormation__StackSets__common-resources.yaml: tag !Rain::Module has no long form in JSON",
    "EC2__EIP_With_Association.yaml at .Resources.EC2Instance.Properties (keys)",
    "ECS__EC2LaunchType__clusters__private-vpc.yaml at .Resources.ContainerInstances.Properties \
     (keys)",
    "ECS__EC2LaunchType__clusters__public-vpc.yaml at .Resources.ContainerInstances.Properties \
     (keys)",
    "ElastiCache__Elasticache-snapshot.yaml: tag !Rain::Embed has no long form in JSON",
    "IoT__amzn2-greengrass-cfn.yaml: tag !Rain::Embed has no long form in JSON",
    // A plain `Yes` is a boolean in YAML 1.1, which CloudFormation's reader and aws-cli follow;
    // the JSON twin wrote the string "Yes".
    "Solutions__ADConnector__templates__ADCONNECTOR.cfn.yaml at \
     .Conditions.DHCPOptionSetCondition.Fn::Equals[1]: true vs \"Yes\"",
    "Solutions__AmazonCloudWatchAgent__inline__suse.yaml at .Mappings.RegionMap.ap-northeast-1 \
     (keys)",
    "Solutions__AmazonCloudWatchAgent__ssm__redhat.yaml at .Mappings.RegionMap.eu-west-1.RHEL9: \
     \"ami-0e28d6c0c65e7f82f\" vs \"ami-0f0f1c02e5e4d9d9f\"",
    "Solutions__AmazonCloudWatchAgent__ssm__suse.yaml at .Mappings.RegionMap.ap-northeast-1 \
     (keys)",
    "Solutions__DirectoryServiceSettings__templates__DIRECTORY_SETTINGS.cfn.yaml at \
     .Conditions.DirectoryConsoleDelegatedAccessRolesCondition.Fn::Equals[1]: true vs \"Yes\"",
    "Solutions__GitLab__GitLabServer.yaml: tag !Rain::Module has no long form in JSON",
    "Solutions__Gitea__Gitea.yaml: tag !Rain::Module has no long form in JSON",
    "Solutions__VSCode__VSCodeServer.yaml: tag !Rain::Module has no long form in JSON",
];

/// The path of the first place where `a` and `b` differ, if any.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.keys().collect::<Vec<_>>() != y.keys().collect::<Vec<_>>() {
                let mut kx: Vec<_> = x.keys().collect();
                let mut ky: Vec<_> = y.keys().collect();
                kx.sort();
                ky.sort();
                if kx != ky {
                    return Some(format!("{at} (keys)"));
                }
            }
            x.iter()
                .find_map(|(k, v)| first_difference(v, &y[k], format!("{at}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (v, w))| first_difference(v, w, format!("{at}[{i}]"))),
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Losslessness under edits (not only without them): for a pseudo-random set of edits on each
/// corpus template, the output is the source with exactly the edited spans replaced, every other
/// byte as written; and replacing a quoted value with its own value gives back the source.
#[test]
fn edits_leave_every_other_byte_as_written() {
    let files = corpus();
    let mut checked = 0;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for (path, text) in &files {
        let t = Template::parse(path, text.clone()).unwrap();
        for round in 0..3 {
            let Some((out, expected)) =
                lossless::edit_picked(&t, text, round, &mut |_| next() % 4 == 0)
            else {
                continue;
            };
            assert!(
                out == expected,
                "{}: an edit changed bytes outside its span",
                path.display()
            );
            checked += 1;
        }
        if !t.has_aliases() {
            assert_eq!(
                lossless::rewrite_quoted_as_themselves(&t),
                *text,
                "{}",
                path.display()
            );
        }
    }
    assert!(checked > 300, "only {checked} edit sets checked");
}
