//! Copilot's conventions and copilot-lite's own marks: stack names, tags, parameter names,
//! logical IDs and the S3 key layout. Every other crate takes them from here.

/// Stack tag with the application name (Copilot's, on every stack it creates).
pub const TAG_APPLICATION: &str = "copilot-application";
/// Stack tag with the environment name (Copilot's).
pub const TAG_ENVIRONMENT: &str = "copilot-environment";
/// Stack tag with the service (or job) name (Copilot's).
pub const TAG_SERVICE: &str = "copilot-service";
/// copilot-lite's mark on the stacks it created (and so owns), with [`MANAGED_VALUE`].
pub const MANAGED_TAG: &str = "copilot-lite:managed";
pub const MANAGED_VALUE: &str = "true";
/// Key under the template's `Metadata` that carries copilot-lite's mark too
/// (`Metadata: {copilot-lite: {Managed: 'true'}}`), so that the template alone tells.
pub const MANAGED_METADATA: &str = "copilot-lite";

/// Workload stack parameters (Copilot's names, which copilot-lite's own stack uses too).
pub const PARAM_APP: &str = "AppName";
pub const PARAM_ENV: &str = "EnvName";
pub const PARAM_WORKLOAD: &str = "WorkloadName";
/// The URL of the addons template; `""` when the service has no addons.
pub const PARAM_ADDONS_URL: &str = "AddonsTemplateURL";
/// The logical ID of the addons nested stack in a workload stack.
pub const ADDONS_STACK: &str = "AddonsStack";
/// The condition that creates [`ADDONS_STACK`] only when [`PARAM_ADDONS_URL`] is set.
pub const HAS_ADDONS: &str = "HasAddons";
/// The parameters the addons stack always gets from the workload stack, in Copilot's order,
/// with the workload stack parameter each one refers to.
pub const ADDONS_STACK_PARAMETERS: [(&str, &str); 3] = [
    ("App", PARAM_APP),
    ("Env", PARAM_ENV),
    ("Name", PARAM_WORKLOAD),
];

/// Environment stack parameters (Copilot's names for `<app>-<env>`, which copilot-lite's own
/// environment stack uses too).
pub const PARAM_ENV_APP: &str = "AppName";
pub const PARAM_ENV_NAME: &str = "EnvironmentName";
/// The parameters the addons stack of an environment gets from the environment stack, in
/// Copilot's order (its `environment/cf.yml`).
pub const ENV_ADDONS_STACK_PARAMETERS: [(&str, &str); 2] =
    [("App", PARAM_ENV_APP), ("Env", PARAM_ENV_NAME)];

/// What a name names: Copilot validates applications, environments and services alike
/// (`basicNameValidation` in Copilot's `internal/pkg/cli/validate.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Application,
    Environment,
    Service,
}

impl std::fmt::Display for NameKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NameKind::Application => "application",
            NameKind::Environment => "environment",
            NameKind::Service => "service",
        })
    }
}

/// The longest name Copilot accepts.
pub const MAX_NAME_LEN: usize = 255;
/// The longest name of a Request-Driven Web Service (an App Runner service), Copilot's
/// `validateAppRunnerSvcName`.
pub const MAX_APP_RUNNER_NAME_LEN: usize = 40;

/// A name Copilot would refuse; the value is shown escaped (`{:?}`), with Copilot's wording of
/// the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{kind} name {value:?} is invalid: value must not be empty")]
    Empty { kind: NameKind, value: String },
    #[error("{kind} name {value:?} is invalid: value must not exceed {max} characters")]
    TooLong {
        kind: NameKind,
        value: String,
        max: usize,
    },
    #[error(
        "{kind} name {value:?} is invalid: value must start with a letter, contain only lower-case letters, numbers, and hyphens, and have no consecutive or trailing hyphen"
    )]
    BadFormat { kind: NameKind, value: String },
}

/// A tag key that a user's extra tags may not set: Copilot's three workload tags and
/// copilot-lite's ownership mark decide whose a stack is, and AWS refuses keys under `aws:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tag key {key:?} is reserved: {why}")]
pub struct ReservedTag {
    pub key: String,
    why: &'static str,
}

/// Refuses the first reserved key of `extra` (see [`ReservedTag`]).
pub fn check_extra_tags(extra: &[(String, String)]) -> Result<(), ReservedTag> {
    for (key, _) in extra {
        let why = if [TAG_APPLICATION, TAG_ENVIRONMENT, TAG_SERVICE].contains(&key.as_str()) {
            "Copilot's tags name the application, environment and service of the stack"
        } else if key == MANAGED_TAG {
            "it marks the stacks copilot-lite created, and so owns"
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            "AWS reserves the prefix aws: for its own tags"
        } else {
            continue;
        };
        return Err(ReservedTag {
            key: key.clone(),
            why,
        });
    }
    Ok(())
}

/// Copilot's rule for application, environment and service names: not empty, at most 255
/// bytes, `^[a-z][a-z0-9-]+$` (so at least two characters), no `--`, no trailing `-`. The
/// names end up in stack names, S3 keys and file names: a name that passes holds no `/`,
/// `.`, space or control character.
pub fn validate_name(kind: NameKind, value: &str) -> Result<(), NameError> {
    let err = |make: fn(NameKind, String) -> NameError| Err(make(kind, value.to_owned()));
    if value.is_empty() {
        return err(|kind, value| NameError::Empty { kind, value });
    }
    if value.len() > MAX_NAME_LEN {
        return err(|kind, value| NameError::TooLong {
            kind,
            value,
            max: MAX_NAME_LEN,
        });
    }
    let bytes = value.as_bytes();
    let well_formed = bytes.len() >= 2
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && !value.contains("--")
        && !value.ends_with('-');
    if !well_formed {
        return err(|kind, value| NameError::BadFormat { kind, value });
    }
    Ok(())
}

/// Copilot's rule for the name of a service of type `service_type`: [`validate_name`], and at
/// most [`MAX_APP_RUNNER_NAME_LEN`] characters for a Request-Driven Web Service.
pub fn validate_service_name(
    value: &str,
    service_type: copilot_workspace::ServiceType,
) -> Result<(), NameError> {
    if service_type == copilot_workspace::ServiceType::RequestDrivenWebService
        && value.len() > MAX_APP_RUNNER_NAME_LEN
    {
        return Err(NameError::TooLong {
            kind: NameKind::Service,
            value: value.to_owned(),
            max: MAX_APP_RUNNER_NAME_LEN,
        });
    }
    validate_name(NameKind::Service, value)
}

/// A service of an application in one of its environments: what a workload stack is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub app: String,
    pub env: String,
    pub svc: String,
}

impl Target {
    pub fn new(app: impl Into<String>, env: impl Into<String>, svc: impl Into<String>) -> Target {
        Target {
            app: app.into(),
            env: env.into(),
            svc: svc.into(),
        }
    }

    /// The workload stack: `<app>-<env>-<svc>` (Copilot's name, used by copilot-lite too).
    pub fn stack_name(&self) -> String {
        format!("{}-{}-{}", self.app, self.env, self.svc)
    }

    /// Copilot's three tags of a workload stack, in this order.
    pub fn copilot_tags(&self) -> [(&'static str, &str); 3] {
        [
            (TAG_APPLICATION, self.app.as_str()),
            (TAG_ENVIRONMENT, self.env.as_str()),
            (TAG_SERVICE, self.svc.as_str()),
        ]
    }

    /// The tags of copilot-lite's own workload stack: Copilot's three, the managed mark, then
    /// `extra` in order. An extra tag cannot replace a reserved one (the reserved value wins)
    /// and a repeated key keeps its first value, so the same list goes to the parameters file
    /// and to CloudFormation.
    pub fn own_stack_tags(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        own_tags(&self.copilot_tags(), extra)
    }

    /// The parameters of copilot-lite's own workload stack, in this order.
    pub fn own_stack_parameters(&self, addons_url: &str) -> Vec<(String, String)> {
        [
            (PARAM_APP, self.app.as_str()),
            (PARAM_ENV, self.env.as_str()),
            (PARAM_WORKLOAD, self.svc.as_str()),
            (PARAM_ADDONS_URL, addons_url),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }
}

/// An environment of an application: its stack `<app>-<env>` holds the environments' addons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvTarget {
    pub app: String,
    pub env: String,
}

impl EnvTarget {
    pub fn new(app: impl Into<String>, env: impl Into<String>) -> EnvTarget {
        EnvTarget {
            app: app.into(),
            env: env.into(),
        }
    }

    /// The environment stack: `<app>-<env>` (Copilot's name, used by copilot-lite too).
    pub fn stack_name(&self) -> String {
        format!("{}-{}", self.app, self.env)
    }

    /// Copilot's two tags of an environment stack, in this order.
    pub fn copilot_tags(&self) -> [(&'static str, &str); 2] {
        [
            (TAG_APPLICATION, self.app.as_str()),
            (TAG_ENVIRONMENT, self.env.as_str()),
        ]
    }

    /// The tags of copilot-lite's own environment stack: Copilot's two, the managed mark, then
    /// `extra` (as [`Target::own_stack_tags`]).
    pub fn own_stack_tags(&self, extra: &[(String, String)]) -> Vec<(String, String)> {
        own_tags(&self.copilot_tags(), extra)
    }

    /// The parameters of copilot-lite's own environment stack, in this order.
    pub fn own_stack_parameters(&self, addons_url: &str) -> Vec<(String, String)> {
        [
            (PARAM_ENV_APP, self.app.as_str()),
            (PARAM_ENV_NAME, self.env.as_str()),
            (PARAM_ADDONS_URL, addons_url),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }
}

/// Copilot's tags, copilot-lite's mark, then the extra tags whose keys are not taken yet.
fn own_tags(copilot: &[(&str, &str)], extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = copilot
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tags.push((MANAGED_TAG.to_owned(), MANAGED_VALUE.to_owned()));
    for (k, v) in extra {
        if !tags.iter().any(|(t, _)| t == k) {
            tags.push((k.clone(), v.clone()));
        }
    }
    tags
}

/// Where objects go in the artifact bucket: Copilot's layout (so that both tools share the
/// same folders), under an optional `--s3-prefix`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLayout {
    prefix: String,
}

impl KeyLayout {
    /// `prefix`: the `--s3-prefix`, slashes around it ignored; `None` or empty for none.
    pub fn new(prefix: Option<&str>) -> KeyLayout {
        KeyLayout {
            prefix: prefix.unwrap_or_default().trim_matches('/').to_owned(),
        }
    }

    fn join(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }

    /// The folder of a service's addon assets: `[prefix/]manual/addons/<svc>/assets`.
    pub fn addon_assets(&self, svc: &str) -> String {
        self.join(&format!("manual/addons/{svc}/assets"))
    }

    /// The folder of a service's packaged addons templates: `[prefix/]manual/addons/<svc>`.
    pub fn addons_templates(&self, svc: &str) -> String {
        self.join(&format!("manual/addons/{svc}"))
    }

    /// The folder of the environments' addon assets (Copilot's
    /// `EnvironmentAddonAsset`): `[prefix/]manual/addons/environments/assets`.
    pub fn env_addon_assets(&self) -> String {
        self.join("manual/addons/environments/assets")
    }

    /// The folder of the environments' packaged addons templates (Copilot's
    /// `EnvironmentAddons`): `[prefix/]manual/addons/environments`.
    pub fn env_addons_templates(&self) -> String {
        self.join("manual/addons/environments")
    }

    /// The folder of a stack's templates: `[prefix/]manual/templates/<stack>`.
    pub fn stack_templates(&self, stack: &str) -> String {
        self.join(&format!("manual/templates/{stack}"))
    }

    /// The record of the functions of stack `stack` hotswapped since its last deploy
    /// (`hotswap::Record`): `manual/hotswap/<stack>.json`, never under `--s3-prefix`, so that
    /// every later deploy finds it whatever prefix it uses.
    pub fn hotswap_record(&self, stack: &str) -> String {
        format!("manual/hotswap/{stack}.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copilot's own examples (`basicNameTestCases` of its validate_test.go) and the edges of
    /// the rule.
    #[test]
    fn copilot_name_rules() {
        use NameKind::*;
        for ok in ["chicken1234", "ab", "my-app", "a1-b2-c3", &"s".repeat(255)] {
            assert_eq!(validate_name(Application, ok), Ok(()), "{ok}");
        }
        let refused = |v: &str| validate_name(Environment, v).unwrap_err();
        assert!(matches!(refused(""), NameError::Empty { .. }));
        assert!(matches!(
            refused(&"s".repeat(256)),
            NameError::TooLong { .. }
        ));
        for bad in [
            "myProject!",
            "123chicken",
            "badGoose",
            "\u{1F600}",
            "a",
            "a--b",
            "ab-",
            "-ab",
            "a b",
            "a/b",
            "..",
            "/../../tmp/x",
            "a.b",
            "a_b",
            "ab\n",
        ] {
            assert!(
                matches!(refused(bad), NameError::BadFormat { .. }),
                "{bad:?} accepted"
            );
        }
        use copilot_workspace::ServiceType::{BackendService, RequestDrivenWebService};
        let forty_one = "a".repeat(41);
        assert_eq!(validate_service_name(&forty_one, BackendService), Ok(()));
        assert_eq!(
            validate_service_name(&forty_one, RequestDrivenWebService)
                .unwrap_err()
                .to_string(),
            format!("service name \"{forty_one}\" is invalid: value must not exceed 40 characters")
        );
        assert_eq!(
            validate_service_name(&"a".repeat(40), RequestDrivenWebService),
            Ok(())
        );
        assert!(validate_service_name("Bad", RequestDrivenWebService).is_err());
        assert_eq!(
            validate_name(Service, "a b\n").unwrap_err().to_string(),
            "service name \"a b\\n\" is invalid: value must start with a letter, contain only lower-case letters, numbers, and hyphens, and have no consecutive or trailing hyphen"
        );
    }

    #[test]
    fn names_and_keys() {
        let t = Target::new("app", "test", "api");
        assert_eq!(t.stack_name(), "app-test-api");
        assert_eq!(
            KeyLayout::new(None).addon_assets("api"),
            "manual/addons/api/assets"
        );
        assert_eq!(
            KeyLayout::new(Some("/p/q/")).addons_templates("api"),
            "p/q/manual/addons/api"
        );
        assert_eq!(
            KeyLayout::new(Some("")).stack_templates("app-test-api"),
            "manual/templates/app-test-api"
        );
        // The hotswap record is found whatever prefix a later deploy uses.
        for prefix in [None, Some("p")] {
            assert_eq!(
                KeyLayout::new(prefix).hotswap_record("app-test-api"),
                "manual/hotswap/app-test-api.json"
            );
        }
    }

    #[test]
    fn reserved_tag_keys_are_refused_by_name() {
        let tag = |k: &str| {
            vec![
                ("team".to_owned(), "a".to_owned()),
                (k.to_owned(), "x".to_owned()),
            ]
        };
        for key in [
            "copilot-application",
            "copilot-environment",
            "copilot-service",
            MANAGED_TAG,
            "aws:cloudformation:stack-name",
            "AWS:x",
        ] {
            let err = check_extra_tags(&tag(key)).unwrap_err();
            assert_eq!(err.key, key);
            assert!(
                err.to_string()
                    .starts_with(&format!("tag key {key:?} is reserved: "))
            );
        }
        for key in ["team", "copilot-lite", "copilot-services", "awsx", "Name"] {
            assert_eq!(check_extra_tags(&tag(key)), Ok(()), "{key}");
        }
    }

    #[test]
    fn reserved_tags_win_and_repeats_keep_the_first() {
        let t = Target::new("app", "test", "api");
        let tags = t.own_stack_tags(&[
            ("copilot-service".into(), "spoof".into()),
            (MANAGED_TAG.into(), "false".into()),
            ("team".into(), "core".into()),
            ("team".into(), "other".into()),
        ]);
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            tags,
            [
                ("copilot-application", "app"),
                ("copilot-environment", "test"),
                ("copilot-service", "api"),
                ("copilot-lite:managed", "true"),
                ("team", "core"),
            ]
        );
    }
}
