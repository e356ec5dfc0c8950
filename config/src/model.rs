//! The compiled model: what esb runs, and what `functions.yml`, `routing.yml` and `resources.yml` hold.
//!
//! Owns: the serde types of the generated files (the contract between `esb build` and the manager and
//! gateway) and their schema version. Maps are `BTreeMap` and lists are sorted by the compiler, so
//! serialising the same model always gives the same bytes.
//! Must not: hold raw template nodes or anything that depends on the machine (absolute paths only
//! where a later stage must find files, never timestamps).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Schema version of the generated files. Bump when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// `config/functions.yml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionsFile {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// The project name (labels, stack name).
    pub project: String,
    /// Functions by logical id.
    pub functions: BTreeMap<String, FunctionSpec>,
}

/// One Lambda function, fully resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// The name the Lambda API and logs use (`FunctionName`, else the logical id).
    pub function_name: String,
    /// The runtime as the template wrote it (`python3.12`, `provided.al2023`).
    pub runtime: String,
    /// The base image family the function is built on.
    pub base: BaseImage,
    /// Handler (`app.handler`; `bootstrap` for custom runtimes).
    pub handler: String,
    /// Where the code comes from.
    pub code: Code,
    /// The image repository the function's image is tagged into.
    pub image: String,
    /// The generated Dockerfile, relative to the output dir.
    pub dockerfile: String,
    /// Seconds before an invocation is stopped.
    pub timeout: u32,
    /// MiB; the container's memory limit.
    pub memory_size: u32,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// Environment variables, resolved to strings.
    pub environment: BTreeMap<String, String>,
    /// `ReservedConcurrentExecutions`: the function's concurrency limit, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_concurrency: Option<u32>,
    /// `ProvisionedConcurrencyConfig.ProvisionedConcurrentExecutions`: containers kept warm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_concurrency: Option<u32>,
    /// Local layers, in order; their content goes to `/opt`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<Layer>,
    /// Schedule events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedules: Vec<Schedule>,
    /// S3 events: object changes in the template's buckets that invoke the function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub s3_events: Vec<S3Event>,
    /// DynamoDB stream events: changes to the template's tables that invoke the function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_events: Vec<StreamEvent>,
    /// `EventInvokeConfig`: retries, event age and destinations of asynchronous invocations.
    #[serde(default, skip_serializing_if = "AsyncConfig::is_default")]
    pub async_invoke: AsyncConfig,
    /// How the code is built before it is packaged (`Metadata.BuildMethod`); `None`: as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// How asynchronous invocations of a function are retried and where their results go
/// (`EventInvokeConfig`; Lambda's defaults when absent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncConfig {
    /// `MaximumRetryAttempts`: retries after a function error (0 to 2).
    pub max_retries: u32,
    /// `MaximumEventAgeInSeconds`: an event older than this is dropped as failed (60 to 21600).
    pub max_event_age: u32,
    /// `DestinationConfig.OnSuccess` of type Lambda: the logical id of the function invoked with
    /// the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    /// `DestinationConfig.OnFailure` of type Lambda: the logical id of the function invoked with
    /// the failed event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig { max_retries: 2, max_event_age: 21_600, on_success: None, on_failure: None }
    }
}

impl AsyncConfig {
    /// Lambda's defaults, nothing configured.
    pub fn is_default(&self) -> bool {
        *self == AsyncConfig::default()
    }
}

/// A `DynamoDB` event: the stream of a table of the template invokes the function with batches of
/// its change records, in order (an event source mapping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamEvent {
    /// The event's logical name.
    pub name: String,
    /// The table's name (from `Stream: !GetAtt Table.StreamArn`).
    pub table: String,
    /// `StartingPosition`: `TRIM_HORIZON` or `LATEST` (where the first start begins).
    pub starting_position: String,
    /// `BatchSize`: records per invocation (1 to 10000, default 100).
    pub batch_size: u32,
    /// `Enabled` (default true).
    pub enabled: bool,
    /// `MaximumRetryAttempts`: retries of a failing batch; `None` (-1, the default) retries until
    /// the records are older than `max_record_age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: older records are skipped as failed; `None` (-1, the default)
    /// never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_record_age: Option<u32>,
}

/// An `S3` event: object changes in `bucket` invoke the function with S3's event record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Event {
    /// The event's logical name.
    pub name: String,
    /// The bucket's name.
    pub bucket: String,
    /// Event types, as S3 names them (`s3:ObjectCreated:*`, `s3:ObjectRemoved:Delete`).
    pub events: Vec<String>,
    /// `Filter.S3Key.Rules` `prefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// `Filter.S3Key.Rules` `suffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

impl S3Event {
    /// Whether an object change (`ObjectCreated:Put`, without the `s3:` prefix) of `key` in
    /// `bucket` matches this event.
    pub fn matches(&self, bucket: &str, event: &str, key: &str) -> bool {
        bucket == self.bucket
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
            && self.events.iter().any(|pattern| {
                let pattern = pattern.strip_prefix("s3:").unwrap_or(pattern);
                match pattern.strip_suffix('*') {
                    Some(family) => event.starts_with(family),
                    None => event == pattern,
                }
            })
    }
}

/// A function's build step, as `sam build` runs it (`Metadata.BuildMethod` and `BuildProperties`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Build {
    /// `BuildMethod: esbuild`: TypeScript or JavaScript bundled by esbuild on the host.
    Esbuild {
        /// `EntryPoints`, relative to CodeUri (default `app.ts`... as SAM: required in practice).
        entry_points: Vec<String>,
        /// `Target` (e.g. `es2022`); default `node<major>` of the runtime.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// `Format`: `cjs` (default) or `esm`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        /// `Sourcemap`.
        #[serde(default)]
        sourcemap: bool,
        /// `Minify`.
        #[serde(default)]
        minify: bool,
        /// `External`: modules left out of the bundle.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        external: Vec<String>,
        /// `OutExtension`, e.g. `.js=.mjs`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        out_extension: Vec<String>,
    },
    /// `BuildMethod: rust-cargolambda` (or a `provided` function whose CodeUri is a Cargo
    /// package without a `bootstrap`): a release build with the host's cargo into a static
    /// `bootstrap`.
    Cargo {
        /// `BuildProperties.Binary`: the binary target to build (needed when there are several).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binary: Option<String>,
        /// `BuildProperties.Features`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// `BuildMethod: makefile`: `make build-<LogicalId>` in CodeUri with `ARTIFACTS_DIR`, whose
    /// contents become the function's code, as `sam build` runs it.
    Makefile,
    /// Go (`BuildMethod: go1.x`, `Runtime: go1.x`, or a `provided` CodeUri with Go source and no
    /// `bootstrap`): `go build` of the package in CodeUri, within the module that holds it, into a
    /// static `bootstrap`.
    Go {
        /// The directory with `go.mod` (CodeUri or one above it), relative to the template's
        /// directory.
        module: String,
        /// CodeUri relative to `module` (`.` when they are the same).
        package: String,
        /// `.aws-sam/build/<LogicalId>` when it was there at compile time: run when Go cannot
        /// build the function here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifacts: Option<String>,
    },
    /// A Java function whose CodeUri is a Maven project (`pom.xml`): `mvn package` and the
    /// runtime dependencies into `lib/`, as `sam build` lays them out. When Maven is missing or
    /// cannot resolve the project, a prebuilt artifact is used instead: `artifacts` (the `sam
    /// build` output, when it was there at compile time) or the project's `target/*.jar`.
    Maven {
        /// `.aws-sam/build/<LogicalId>`, relative to the template's directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifacts: Option<String>,
        /// The archive the build makes that is the code, relative to the project (CodeUri
        /// `target/sourceCode.zip` of a project whose assembly makes it); `None`: the classes
        /// and runtime dependencies.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
    /// A Java function whose CodeUri is a Gradle project: `gradle build` (the project's wrapper
    /// when it has one), then `build/distributions/*.zip` or `build/libs/*.jar`; the fallbacks
    /// are those of [`Build::Maven`].
    Gradle {
        /// `.aws-sam/build/<LogicalId>`, relative to the template's directory.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifacts: Option<String>,
        /// As [`Build::Maven`]'s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<String>,
    },
}

/// Base image families esb builds (issue: images without a registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum BaseImage {
    /// Debian + CPython + awslambdaric. `version` is the interpreter the image has.
    Python {
        /// e.g. `3.11`.
        version: String,
    },
    /// Debian + Node.js + esb's own runtime client. `version` is the major version the image has.
    Node {
        /// e.g. `24`.
        version: String,
    },
    /// Debian + a JRE + Jackson + esb's own Java runtime client. `version` is the Java feature
    /// release the image has.
    Java {
        /// e.g. `21`.
        version: String,
    },
    /// `FROM scratch` + RIE + the function's static `bootstrap`.
    Provided,
    /// A minimal Debian (bookworm: glibc 2.36, newer than Amazon Linux 2023's 2.34) + RIE, for a
    /// `bootstrap` that is dynamically linked against glibc.
    ProvidedGlibc,
}

impl BaseImage {
    /// The local image the function's Dockerfile starts from.
    pub fn image(&self) -> String {
        match self {
            BaseImage::Python { version } => format!("esb/base-python:{version}"),
            BaseImage::Node { version } => format!("esb/base-nodejs:{version}"),
            BaseImage::Java { version } => format!("esb/base-java:{version}"),
            BaseImage::Provided => "esb/base-provided:latest".to_string(),
            BaseImage::ProvidedGlibc => "esb/base-provided-glibc:latest".to_string(),
        }
    }
}

/// A function's code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Code {
    /// A directory (`CodeUri`), relative to the template's directory.
    Dir {
        /// The directory.
        path: String,
    },
    /// `InlineCode`: the source text of the handler module.
    Inline {
        /// The source.
        source: String,
    },
    /// `PackageType: Image`: the function's own image, built by the engine from `Metadata`
    /// (`DockerContext`, `Dockerfile`, `DockerBuildArgs`, `DockerBuildTarget`), or an `ImageUri`
    /// already on the engine.
    Image(ImageCode),
}

/// A CodeUri that Lambda takes as an archive and extracts into `/var/task`: a `.zip`, or for Java
/// a `.jar`.
pub fn is_archive(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".zip")
}

/// How an image function's image is made (see [`Code::Image`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCode {
    /// `Metadata.DockerContext`, relative to the template's directory; `None` for an `ImageUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `Metadata.Dockerfile`, relative to the context (default `Dockerfile`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dockerfile: String,
    /// `Metadata.DockerBuildArgs`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_args: BTreeMap<String, String>,
    /// `Metadata.DockerBuildTarget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `ImageUri` without `Metadata`: an image that must already be on the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The AWS Lambda base image the Dockerfile starts `FROM` (`public.ecr.aws/lambda/python:3.14`),
    /// built on esb's base for that runtime when it is not on the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_base: Option<String>,
    /// `ImageConfig.Command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `ImageConfig.EntryPoint`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// `ImageConfig.WorkingDirectory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
}

/// A local `AWS::Serverless::LayerVersion` used by a function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Logical id of the layer.
    pub name: String,
    /// `ContentUri`, relative to the template's directory.
    pub content_uri: String,
    /// `Metadata.BuildMethod` as `sam build` reads it: `python` (ContentUri and its requirements.txt
    /// installed under `/opt/python`) or `nodejs` (ContentUri under `/opt/nodejs`, so its
    /// node_modules are found); none: ContentUri is `/opt` as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<LayerBuild>,
}

/// How a layer with a `BuildMethod` is laid out in `/opt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerBuild {
    /// `BuildMethod: python3.x`.
    Python,
    /// `BuildMethod: nodejsNN.x`.
    Nodejs,
}

/// A `Schedule` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The event's logical name.
    pub name: String,
    /// `rate(5 minutes)` or `cron(0 12 * * ? *)`.
    pub expression: String,
    /// The event's `Input` (JSON text), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// False when `Enabled: false` or `State: DISABLED`.
    pub enabled: bool,
}

/// `config/routing.yml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingFile {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// APIs by logical id (including the implicit `ServerlessRestApi` / `ServerlessHttpApi`).
    pub apis: BTreeMap<String, ApiSpec>,
    /// Routes, most specific first within each API.
    pub routes: Vec<Route>,
    /// Routes the template declares for functions esb cannot run: the gateway's 404 for one of
    /// them names the function and why, instead of a bare "Not Found".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<UnavailableRoute>,
    /// Function URLs (`FunctionUrlConfig`), served at `https://<id>.lambda-url.<host>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_urls: Vec<FunctionUrl>,
}

/// A function's URL (`FunctionUrlConfig`): every path and method of its host goes to the function
/// with the payload 2.0 event Lambda sends to function URLs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionUrl {
    /// The URL's id, the first label of its host: the function's key in lower case, letters,
    /// digits and `-` only.
    pub id: String,
    /// The function (its key).
    pub function: String,
    /// `AuthType: AWS_IAM`: requests must be signed (service `lambda`); else `NONE`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub iam: bool,
    /// `Cors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

/// A route of a function that is left out (see `Project::left_out`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnavailableRoute {
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path template, as for [`Route::path`].
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// Why esb cannot run it.
    pub reason: String,
}

/// REST API (payload 1.0 by default) or HTTP API (payload 2.0 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    /// `AWS::Serverless::Api` / `Api` events.
    Rest,
    /// `AWS::Serverless::HttpApi` / `HttpApi` events.
    Http,
}

/// One API: stage, auth, CORS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    /// REST or HTTP API.
    pub kind: ApiKind,
    /// Stage name (`Prod` for the implicit REST API, `$default` for HTTP APIs).
    pub stage: String,
    /// Authorizers by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorizers: BTreeMap<String, Authorizer>,
    /// CORS, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Media types the REST API treats as binary (`BinaryMediaTypes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_media_types: Vec<String>,
    /// The stage's variables (`Variables` of a REST API, `StageVariables` of an HTTP API): the
    /// events' `stageVariables`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stage_variables: BTreeMap<String, String>,
}

impl ApiSpec {
    /// An API of `kind` at `stage` with nothing else configured (no authorizers, CORS, binary
    /// media types or stage variables).
    pub fn new(kind: ApiKind, stage: impl Into<String>) -> ApiSpec {
        ApiSpec {
            kind,
            stage: stage.into(),
            authorizers: BTreeMap::new(),
            cors: None,
            binary_media_types: vec![],
            stage_variables: BTreeMap::new(),
        }
    }
}

impl Authorizer {
    /// A Lambda authorizer esb cannot run (its function is not the template's, or it cannot be
    /// read): the gateway refuses its routes (fail closed).
    pub fn refused_lambda(function_arn: impl Into<String>) -> Authorizer {
        Authorizer::Lambda {
            function_arn: function_arn.into(),
            function: None,
            token: false,
            identity: vec![],
            validation: None,
            ttl: 0,
            payload_version: None,
            simple_responses: false,
        }
    }
}

/// An authorizer a route may require.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Authorizer {
    /// A Cognito user pool authorizer (REST API): esb's own user store issues the tokens.
    Cognito {
        /// Header carrying the token.
        header: String,
    },
    /// A JWT authorizer (HTTP API).
    Jwt {
        /// Expected `iss`; esb's own issuer when not set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        /// Accepted `aud` values.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        audience: Vec<String>,
        /// Header carrying the token.
        header: String,
    },
    /// A Lambda authorizer: the gateway runs its function (one of the template's) and follows its
    /// answer; one whose function esb does not run is refused (fail closed).
    Lambda {
        /// The authorizer function's ARN as written.
        function_arn: String,
        /// The template's function (its key) the ARN names; `None`: refused.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        function: Option<String>,
        /// A REST `TOKEN` authorizer (the token from one header); else `REQUEST`.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        token: bool,
        /// Identity sources: `header:Name` or `query:name` (all must be present).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        identity: Vec<String>,
        /// `ValidationExpression` a TOKEN must match before the function is asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        validation: Option<String>,
        /// Seconds a result is cached per identity (0: not cached).
        #[serde(default)]
        ttl: u32,
        /// HTTP API authorizers: the payload format (`1.0` or `2.0`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload_version: Option<String>,
        /// HTTP API authorizers: `{"isAuthorized": ..}` answers instead of IAM policies.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        simple_responses: bool,
    },
    /// IAM (SigV4) authorization: the gateway accepts requests signed for `execute-api` with esb's
    /// credentials (those of the Lambda Invoke API) and refuses others as API Gateway does.
    Iam,
}

/// Normalised CORS settings of REST and HTTP APIs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Allowed origins (`*` for any).
    pub allow_origins: Vec<String>,
    /// Allowed methods.
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    pub allow_headers: Vec<String>,
    /// Headers exposed to the browser.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Preflight cache seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
    /// `Access-Control-Allow-Credentials`.
    #[serde(default)]
    pub allow_credentials: bool,
}

/// One route: API + method + path template -> function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The API's logical id.
    pub api: String,
    /// Upper-case method or `ANY`.
    pub method: String,
    /// Path template (`/items/{id}`, `/files/{proxy+}`), or `$default` (HTTP API catch-all).
    pub path: String,
    /// The function's logical id.
    pub function: String,
    /// `1.0` or `2.0`.
    pub payload_version: String,
    /// Authorizer name, if the route requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<String>,
    /// True when callers must send a valid `x-api-key`.
    #[serde(default)]
    pub api_key_required: bool,
    /// Integration timeout (`TimeoutInMillis`); API Gateway's 29 s when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// Where the route came from: `Function.Event`.
    pub source: String,
}

/// `config/resources.yml`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesFile {
    /// [`SCHEMA_VERSION`].
    pub version: u32,
    /// DynamoDB tables by logical id.
    pub tables: BTreeMap<String, TableSpec>,
    /// S3 buckets by logical id.
    pub buckets: BTreeMap<String, BucketSpec>,
}

/// A DynamoDB table, in the DynamoDB API's own terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Table name.
    pub table_name: String,
    /// HASH then optional RANGE.
    pub key_schema: Vec<KeyElement>,
    /// Attributes used by keys.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// Read/write units for `PROVISIONED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<Throughput>,
    /// GSIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<Index>,
    /// LSIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub local_secondary_indexes: Vec<Index>,
    /// TTL attribute, when TTL is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_attribute: Option<String>,
    /// Stream view type, when streams are enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
}

/// One key schema element.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyElement {
    /// Attribute name.
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

/// One attribute definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDefinition {
    /// Attribute name.
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

/// Provisioned capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    /// RCUs.
    pub read_capacity_units: u64,
    /// WCUs.
    pub write_capacity_units: u64,
}

/// A secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Index name.
    pub index_name: String,
    /// Key schema.
    pub key_schema: Vec<KeyElement>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    /// For `INCLUDE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_key_attributes: Vec<String>,
    /// Capacity for GSIs of `PROVISIONED` tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<Throughput>,
}

/// An S3 bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {
    /// Bucket name.
    pub bucket_name: String,
    /// Versioning enabled.
    #[serde(default)]
    pub versioning: bool,
    /// CORS rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cors_rules: Vec<BucketCorsRule>,
}

/// One S3 CORS rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketCorsRule {
    /// Methods.
    pub allowed_methods: Vec<String>,
    /// Origins.
    pub allowed_origins: Vec<String>,
    /// Headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    /// Exposed headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed_headers: Vec<String>,
    /// Preflight cache seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// Resource types esb runs or provisions: only their properties are resolved.
pub const RUN_TYPES: &[&str] = &[
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::Serverless::Api",
    "AWS::Serverless::HttpApi",
    "AWS::DynamoDB::Table",
    "AWS::Serverless::SimpleTable",
    "AWS::S3::Bucket",
    "AWS::Serverless::LayerVersion",
    "AWS::Lambda::LayerVersion",
];
