//! The YAML/JSON template model on arbitrary input: parsing never panics; a parsed template
//! renders back byte for byte when nothing is edited (or, when it has anchors, aliases or merge
//! keys, as an unrolled template without any that reads the same); its JSON rendering, when
//! there is one,
//! parses again; replacing a scalar with a string gives a template that parses again with that
//! value in place; and, under any set of value edits, every byte outside the edited spans is
//! unchanged in the output (the check the corpus test runs on real templates, shared with it).

#![no_main]

use std::path::Path;

use cfn_yaml::{Edits, Format, Node, NodeKind, Replacement, Template};
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/cfn-yaml/tests/common/lossless.rs"]
mod lossless;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(text);
    // The same bytes as the value of a JSON document, so that the JSON reader sees them too.
    check(&format!("{{\"Resources\": {text}\n}}"));
});

fn check(text: &str) {
    let origin = Path::new("fuzz.yml");
    let Ok(template) = Template::parse(origin, text.to_string()) else {
        return;
    };
    let rendered = template.render(&Edits::new());
    let json = template.render_json(&Edits::new());
    if template.has_aliases() {
        let back = Template::parse(origin, rendered.clone())
            .unwrap_or_else(|e| panic!("the unrolled template parses: {e}\n{rendered}"));
        assert!(!back.has_aliases(), "nothing left to unroll:\n{rendered}");
        if let Ok(json) = &json {
            assert_eq!(
                back.render_json(&Edits::new()).ok().as_ref(),
                Some(json),
                "the unrolled template reads the same:\n{rendered}"
            );
        }
    } else {
        assert_eq!(rendered, text, "render without edits equals the input");
    }
    if let Ok(json) = json {
        let again = Template::parse(origin, json.clone());
        assert!(
            again.as_ref().is_ok_and(|t| t.format() == Format::Json),
            "the JSON rendering parses as JSON: {again:?}\n{json}"
        );
    }
    // Losslessness under edits: every value, then a subset chosen by the input's bytes.
    let mut bits = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    for (round, pick_all) in [(0, true), (1, false)] {
        let mut pick = |_| {
            bits = bits.rotate_left(7) ^ 0x9e37_79b9_7f4a_7c15;
            pick_all || bits & 1 == 1
        };
        if let Some((out, expected)) = lossless::edit_picked(&template, text, round, &mut pick) {
            assert!(
                out == expected,
                "an edit changed bytes outside its span:\n--- output\n{out}\n--- expected\n{expected}"
            );
        }
    }
    if !template.has_aliases() {
        assert_eq!(
            lossless::rewrite_quoted_as_themselves(&template),
            text,
            "quoted values written back as themselves"
        );
    }
    // Replace the first untagged scalar mapping value (what the packager rewrites).
    let Some(path) = first_scalar_value(template.root(), &mut Vec::new()) else {
        return;
    };
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    let Some(node) = template.root().get_path(&keys) else {
        return; // a duplicate-free path is always found; an alias key or the like is not
    };
    let replacement = "s3://bucket/key with: spaces # and 'quotes\"";
    let mut edits = Edits::new();
    edits.replace(node, Replacement::String(replacement.to_string()));
    let rendered = template.render(&edits);
    let again = Template::parse(origin, rendered.clone())
        .unwrap_or_else(|e| panic!("the edited template parses: {e}\n{rendered}"));
    assert_eq!(
        again.root().get_path(&keys).and_then(Node::as_scalar),
        Some(replacement),
        "the new value is in place:\n{rendered}"
    );
}

/// Keys of the first mapping value that is an untagged, anchor-free scalar reached through
/// scalar keys only.
fn first_scalar_value(node: &Node, path: &mut Vec<String>) -> Option<Vec<String>> {
    let NodeKind::Mapping(entries) = &node.kind else {
        return None;
    };
    for (key, value) in entries {
        let Some(k) = key.as_scalar() else { continue };
        if key.tag.is_some() || key.anchor.is_some() {
            continue;
        }
        path.push(k.to_string());
        if value.tag.is_none() && value.anchor.is_none() && value.as_scalar().is_some() {
            return Some(path.clone());
        }
        if value.tag.is_none()
            && let Some(found) = first_scalar_value(value, path)
        {
            return Some(found);
        }
        path.pop();
    }
    None
}
