//! Command-line arguments.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "copilot-lite", version, about, propagate_version = true)]
pub struct Cli {
    /// More logs: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The AWS profile of the shared config and credentials files (as AWS_PROFILE: it chooses
    /// the credentials, region and endpoints that the environment does not set).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Upload the local artifacts a template refers to and write the packaged template
    /// (a drop-in for `aws cloudformation package`).
    Package(PackageArgs),
    /// The Copilot workflow: package and deploy a service's addons.
    #[command(subcommand)]
    Svc(SvcCommand),
    /// The environments' addons (copilot/environments/addons/).
    #[command(subcommand)]
    Env(EnvCommand),
    /// Print the shell completion script for SHELL (see the README for where it goes).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// List the environments of the workspace, and the environment addons.
    Ls(LsArgs),
    /// Write the packaged environment addons template (and, with --output-dir, copilot-lite's
    /// environment stack template and its parameters).
    Package(Box<EnvPackageArgs>),
    /// Package, upload and deploy the environments' addons into the stack <app>-<env>: only its
    /// AddonsStack when Copilot deployed it.
    Deploy(Box<EnvDeployArgs>),
    /// Delete copilot-lite's own environment stack; with --addons-only, remove just the
    /// AddonsStack of a Copilot environment stack.
    Delete(EnvDeleteArgs),
}

#[derive(Debug, Args)]
pub struct EnvDeployArgs {
    #[command(flatten)]
    pub target: EnvTargetArgs,
    #[command(flatten)]
    pub how: DeployFlags,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct EnvDeleteArgs {
    #[command(flatten)]
    pub target: EnvTargetArgs,
    /// Remove only the environment addons (the AddonsStack resource), keeping the rest of the
    /// stack: the way to take copilot-lite's addons out of a Copilot environment.
    #[arg(long)]
    pub addons_only: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Which environment.
#[derive(Debug, Clone, Args)]
pub struct EnvTargetArgs {
    /// Environment name.
    #[arg(short, long)]
    pub name: String,
    /// Application name (default: copilot/.workspace).
    #[arg(short, long)]
    pub app: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnvPackageArgs {
    #[command(flatten)]
    pub target: EnvTargetArgs,
    /// Upload the local artifacts and rewrite their properties (else local paths stay).
    #[arg(long)]
    pub upload_assets: bool,
    /// Write <env>.env.yml, <env>.env.params.json and env.addons.yml here (Copilot's names;
    /// default: the addons template to standard output).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum SvcCommand {
    /// List the services of the workspace.
    Ls(LsArgs),
    /// Write the packaged addons template (and, with --output-dir, the workload stack template
    /// and its parameters).
    Package(SvcPackageArgs),
    /// Package, upload and deploy the service's stack with its addons.
    Deploy(SvcDeployArgs),
    /// Watch the service's addons and the files they name; on each change, hotswap the changed
    /// Lambda code (or deploy when more changed). For development environments.
    Watch(SvcWatchArgs),
    /// Delete the service's stack if copilot-lite created it (uploaded assets stay); with
    /// --addons-only, remove just the addons of a Copilot service's stack.
    Delete(SvcDeleteArgs),
}

/// Which service in which environment.
#[derive(Debug, Clone, Args)]
pub struct SvcTarget {
    /// Service name (a folder copilot/<name>/ with a manifest.yml).
    #[arg(short, long)]
    pub name: String,
    /// Environment name.
    #[arg(short, long)]
    pub env: String,
    /// Application name (default: copilot/.workspace).
    #[arg(short, long)]
    pub app: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Application name (default: copilot/.workspace).
    #[arg(short, long)]
    pub app: Option<String>,
}

/// Where assets go.
#[derive(Debug, Clone, Args)]
pub struct BucketArgs {
    /// Artifact bucket (default: COPILOT_LITE_BUCKET, else Copilot's artifact bucket of the
    /// application in the region, else the bucket of copilot-lite's stack <app>-infrastructure).
    #[arg(long, value_name = "BUCKET", env = "COPILOT_LITE_BUCKET")]
    pub bucket: Option<String>,
    /// Prefix of every uploaded key.
    #[arg(long, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,
}

#[derive(Debug, Args)]
pub struct SvcPackageArgs {
    #[command(flatten)]
    pub target: SvcTarget,
    /// Upload the local artifacts and rewrite their properties (else local paths stay).
    #[arg(long)]
    pub upload_assets: bool,
    /// Write <svc>-<env>.stack.yml, <svc>-<env>.params.json and <svc>.addons.stack.yml here
    /// (default: the addons template to standard output).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Extra tags of the workload stack: `k=v,k2=v2`.
    #[arg(long, value_name = "TAGS", value_parser = parse_metadata)]
    pub resource_tags: Option<BTreeMap<String, String>>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// How a deploy runs (`svc deploy`, `env deploy`).
#[derive(Debug, Clone, Args)]
pub struct DeployFlags {
    /// Keep the resources of a failed deployment for inspection.
    #[arg(long)]
    pub no_rollback: bool,
    /// Start the deployment and return without waiting.
    #[arg(long)]
    pub detach: bool,
    /// Print the differences with the deployed stack and exit (0: none, 1: some, 2: error);
    /// creates, uploads and deploys nothing.
    #[arg(long, conflicts_with_all = ["detach", "no_rollback"])]
    pub diff: bool,
    /// Deploy through a change set even when nothing differs from the deployed stack (by
    /// default an unchanged stack makes no change set).
    #[arg(long, conflicts_with = "diff")]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SvcDeployArgs {
    #[command(flatten)]
    pub target: SvcTarget,
    /// When only the code of Lambda functions changed, update the functions directly instead
    /// of deploying the stack (seconds instead of minutes; the stack's template then names the
    /// old code until the next deploy without --hotswap). Anything else changed: a normal
    /// deploy, saying why. For development environments.
    #[arg(long, conflicts_with_all = ["diff", "detach", "force"])]
    pub hotswap: bool,
    /// Extra tags of the workload stack: `k=v,k2=v2` (only for copilot-lite's own stack: the
    /// tags of a stack that Copilot deployed are Copilot's to set).
    #[arg(long, value_name = "TAGS", value_parser = parse_metadata)]
    pub resource_tags: Option<BTreeMap<String, String>>,
    #[command(flatten)]
    pub how: DeployFlags,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct SvcWatchArgs {
    #[command(flatten)]
    pub target: SvcTarget,
    /// Wait this long after the last change before a round starts (milliseconds).
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub debounce: u64,
    #[command(flatten)]
    pub bucket: BucketArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct SvcDeleteArgs {
    #[command(flatten)]
    pub target: SvcTarget,
    /// Remove only the addons (the AddonsStack nested stack), keeping the rest of the stack:
    /// the way to take copilot-lite's addons out of a stack that Copilot deployed.
    #[arg(long)]
    pub addons_only: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Options shared by every command that talks to AWS.
#[derive(Debug, Clone, Args)]
pub struct AwsArgs {
    /// AWS region (default: the SDK chain: AWS_REGION, profile).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

/// Options of the uploads.
#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// Upload even when an object with the same key exists.
    #[arg(long)]
    pub force_upload: bool,
    /// Server-side encryption: AES256 or aws:kms.
    #[arg(long, value_enum)]
    pub sse: Option<SseArg>,
    /// KMS key for server-side encryption (implies --sse aws:kms).
    #[arg(long, value_name = "KEY")]
    pub kms_key_id: Option<String>,
    /// Metadata for every uploaded object: `k=v,k2=v2` or a JSON object.
    #[arg(long, value_name = "MAP", value_parser = parse_metadata)]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Expected owner (account ID) of the bucket, sent with every request.
    #[arg(long, value_name = "ACCOUNT")]
    pub expected_bucket_owner: Option<String>,
    /// Artifacts hashed, zipped and uploaded at once.
    #[arg(short, long, default_value_t = default_jobs(), value_name = "N")]
    pub jobs: usize,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The compressed-entry cache (README: "The compressed-entry cache").
#[derive(Debug, Clone, Default, Args)]
pub struct CacheArgs {
    /// Deflate every zip entry again instead of copying what an earlier build of the same
    /// artifact deflated (the zips are the same either way).
    /// `COPILOT_LITE_NO_CACHE`: any value but empty, 0, false, no or off.
    #[arg(long, env = "COPILOT_LITE_NO_CACHE", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_cache: bool,
    /// Folder of the compressed-entry cache (default: the user's cache folder, e.g.
    /// ~/.cache/copilot-lite/zip-entries).
    #[arg(
        long,
        env = "COPILOT_LITE_CACHE_DIR",
        value_name = "DIR",
        hide_short_help = true
    )]
    pub cache_dir: Option<PathBuf>,
    /// Size bound of the compressed-entry cache, in MiB: the least recently built artifacts'
    /// entries are evicted beyond it.
    #[arg(
        long,
        env = "COPILOT_LITE_CACHE_MIB",
        value_name = "MIB",
        default_value_t = 1024,
        hide_short_help = true
    )]
    pub cache_mib: u64,
}

/// What a command prints on standard output (`package`, `svc package`, `svc deploy`).
#[derive(Debug, Clone, Default, Args)]
pub struct OutputArgs {
    /// text: the packaged template on standard output when no file is named (as `aws
    /// cloudformation package`); json: one JSON document on standard output instead, with the
    /// artifacts, the templates written and the deployment (README: "JSON output"). Messages
    /// go to standard error either way.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl OutputArgs {
    pub fn json(&self) -> bool {
        self.output == OutputFormat::Json
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SseArg {
    #[value(name = "AES256")]
    Aes256,
    #[value(name = "aws:kms")]
    Kms,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The template to package. Relative paths in it resolve against its folder.
    #[arg(long, value_name = "PATH")]
    pub template_file: PathBuf,
    /// Bucket to upload the artifacts to.
    #[arg(long, value_name = "BUCKET", env = "COPILOT_LITE_BUCKET")]
    pub s3_bucket: String,
    /// Prefix of every uploaded key.
    #[arg(long, value_name = "PREFIX")]
    pub s3_prefix: Option<String>,
    /// Where to write the packaged template (default: standard output).
    #[arg(long, value_name = "PATH")]
    pub output_template_file: Option<PathBuf>,
    /// Write the packaged template as JSON.
    #[arg(long)]
    pub use_json: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub upload: UploadArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().clamp(4, 16))
}

/// `k=v,k2=v2` (the AWS CLI shorthand) or a JSON object of strings.
fn parse_metadata(s: &str) -> Result<BTreeMap<String, String>, String> {
    let s = s.trim();
    if s.starts_with('{') {
        return serde_json::from_str(s).map_err(|e| format!("not a JSON object of strings: {e}"));
    }
    s.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!("expected key=value, found {pair:?}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn metadata_forms() {
        let m = parse_metadata("a=1, b = two").unwrap();
        assert_eq!(m.get("a").map(String::as_str), Some("1"));
        assert_eq!(m.get("b").map(String::as_str), Some("two"));
        let j = parse_metadata(r#"{"team": "x"}"#).unwrap();
        assert_eq!(j.get("team").map(String::as_str), Some("x"));
        assert!(parse_metadata("novalue").is_err());
        assert!(parse_metadata("{\"a\": 1}").is_err());
    }
}
