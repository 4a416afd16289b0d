//! Whether a request would change a deployed stack at all (a no-op deploy needs no change set).

use crate::{CAPABILITIES, StackDescription, StackRequest};

/// Statuses after which the stack is as its last template says: a successful create, update
/// or import. After a failure or a rollback (`UPDATE_ROLLBACK_COMPLETE`, ...) a deploy always
/// goes through a change set.
const SETTLED: [&str; 3] = ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"];

/// What deploying `request` (whose template is `template`) would change in `deployed`
/// (described, with its template `deployed_template`); `None` when nothing: the status is
/// settled and successful, the template is the same text, every parameter has its deployed
/// value (those passed with `UsePreviousValue` keep theirs, and none is left to a default),
/// the tags are the same set, and so are the capabilities.
pub fn what_changes(
    request: &StackRequest,
    template: &str,
    deployed: &StackDescription,
    deployed_template: Option<&str>,
) -> Option<String> {
    if !SETTLED.contains(&deployed.status.as_str()) {
        return Some(format!(
            "the stack is {}, not a successful deployment",
            deployed.status
        ));
    }
    if deployed_template != Some(template) {
        return Some("the template differs".into());
    }
    for (key, value) in &request.parameters {
        match deployed.parameters.iter().find(|(k, _)| k == key) {
            Some((_, deployed_value)) if deployed_value == value => {}
            Some((_, deployed_value)) => {
                tracing::debug!(key, deployed = %deployed_value, requested = %value, "parameter differs");
                return Some(format!("parameter {key} differs"));
            }
            None => return Some(format!("parameter {key} is new")),
        }
    }
    for (key, _) in &deployed.parameters {
        let given = request.parameters.iter().any(|(k, _)| k == key)
            || request.previous_parameters.contains(key);
        if !given {
            return Some(format!("parameter {key} would take its default"));
        }
    }
    if let Some(missing) = request
        .previous_parameters
        .iter()
        .find(|k| !deployed.parameters.iter().any(|(d, _)| d == *k))
    {
        return Some(format!("parameter {missing} is new"));
    }
    let mut tags = request.tags.clone();
    let mut deployed_tags = deployed.tags.clone();
    tags.sort();
    deployed_tags.sort();
    if tags != deployed_tags {
        return Some("the stack tags differ".into());
    }
    let mut capabilities: Vec<&str> = deployed.capabilities.iter().map(String::as_str).collect();
    capabilities.sort_unstable();
    let mut ours = CAPABILITIES.to_vec();
    ours.sort_unstable();
    if capabilities != ours {
        return Some("the capabilities differ".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Template;

    fn request() -> StackRequest {
        let mut r = StackRequest::new("s", Template::Url("https://b/t.yml".into()));
        r.parameters = vec![("A".into(), "1".into())];
        r.previous_parameters = vec!["B".into()];
        r.tags = vec![("t".into(), "x".into()), ("u".into(), "y".into())];
        r
    }

    fn deployed() -> StackDescription {
        StackDescription {
            id: "arn".into(),
            status: "UPDATE_COMPLETE".into(),
            tags: vec![("u".into(), "y".into()), ("t".into(), "x".into())],
            parameters: vec![("B".into(), "kept".into()), ("A".into(), "1".into())],
            outputs: vec![],
            capabilities: CAPABILITIES.iter().rev().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn the_same_request_changes_nothing() {
        assert_eq!(what_changes(&request(), "T", &deployed(), Some("T")), None);
        let mut created = deployed();
        created.status = "CREATE_COMPLETE".into();
        assert_eq!(what_changes(&request(), "T", &created, Some("T")), None);
    }

    #[test]
    fn each_difference_is_named() {
        type Change = Box<dyn Fn(&mut StackRequest, &mut StackDescription)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|_, d| d.status = "UPDATE_ROLLBACK_COMPLETE".into()),
                "UPDATE_ROLLBACK_COMPLETE",
            ),
            (
                Box::new(|_, d| d.status = "UPDATE_FAILED".into()),
                "UPDATE_FAILED",
            ),
            (
                Box::new(|_, d| d.status = "UPDATE_IN_PROGRESS".into()),
                "UPDATE_IN_PROGRESS",
            ),
            (
                Box::new(|r, _| r.parameters[0].1 = "2".into()),
                "parameter A differs",
            ),
            (
                Box::new(|r, _| r.parameters.push(("C".into(), "3".into()))),
                "parameter C is new",
            ),
            (
                Box::new(|r, _| r.previous_parameters.clear()),
                "parameter B would take its default",
            ),
            (
                Box::new(|r, _| r.previous_parameters.push("D".into())),
                "parameter D is new",
            ),
            (
                Box::new(|r, _| r.tags.push(("v".into(), "z".into()))),
                "tags",
            ),
            (Box::new(|r, _| r.tags[0].1 = "other".into()), "tags"),
            (
                Box::new(|_, d| d.capabilities.pop().map(drop).unwrap_or(())),
                "capabilities",
            ),
        ];
        for (change, expected) in cases {
            let (mut r, mut d) = (request(), deployed());
            change(&mut r, &mut d);
            let why = what_changes(&r, "T", &d, Some("T"));
            assert!(
                why.as_deref().is_some_and(|w| w.contains(expected)),
                "{expected:?}: {why:?}"
            );
        }
        assert_eq!(
            what_changes(&request(), "T2", &deployed(), Some("T")).as_deref(),
            Some("the template differs")
        );
        assert!(what_changes(&request(), "T", &deployed(), None).is_some());
    }
}
