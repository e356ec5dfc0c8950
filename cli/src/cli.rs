//! The command-line grammar (clap derive). Only commands that work are listed.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// esb runs an AWS SAM template on one machine with Docker, with no registry and no internet.
#[derive(Debug, Parser)]
#[command(name = "esb", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The SAM template (default: ESB_TEMPLATE, ./template.yaml, the project root's, tests/fixtures/template.yaml).
    #[arg(short = 't', long, global = true, value_name = "PATH")]
    pub template: Option<PathBuf>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output (repeat for more); ESB_LOG overrides. (`-v` is `esb down -v`, as in compose.)
    #[arg(long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write generator.yml (project name, image tag, output dir, parameter values) next to the template.
    Init(InitArgs),
    /// Generate esb's configuration from the template and build the function images.
    Build(BuildArgs),
    /// Run a function once in a fresh container and print its result and logs.
    Invoke(InvokeArgs),
    /// Run the gateway (HTTPS API Gateway + Lambda Invoke API) and the manager in the foreground.
    Serve(ServeArgs),
    /// Build what changed, then serve; `-d` runs the daemon detached in a container.
    Up(UpArgs),
    /// Serve in the foreground and hot-reload on every saved change (`esb serve --watch`).
    Watch(ServeArgs),
    /// Stop the daemon and remove this project's containers (data volumes are kept unless -v).
    Down(DownArgs),
    /// Show the daemon, the gateway address and the function containers of this project.
    Status,
    /// Show the functions' logs (what their containers printed), newest last.
    Logs(LogsArgs),
    /// Show asynchronous events: waiting per function, and the failed ones (the failure log).
    Events(EventsArgs),
    /// Delete this project's data (asks first), then `up --build`.
    Reset(ResetArgs),
    /// Gateway users and passwords.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// The built-in S3 server (what esb runs inside the S3 storage container).
    #[command(hide = true)]
    StorageS3(StorageS3Args),
    /// List or export the images esb uses.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Print a sample event for a function, as `sam local generate-event` does
    /// (`esb generate-event s3 put --bucket b --key k | esb invoke F -e -`).
    GenerateEvent(GenerateEventArgs),
}

#[derive(Debug, Args)]
pub struct GenerateEventArgs {
    /// `apigateway`, `s3`, `sqs`, `sns`, `eventbridge` (or `cloudwatch`), `dynamodb`, `schedule`.
    pub service: String,
    /// The event: apigateway `aws-proxy` / `http-api-proxy`, s3 `put` / `delete`, sqs
    /// `receive-message`, sns `notification`, eventbridge `event` / `scheduled-event`, dynamodb `update`.
    pub event: Option<String>,
    /// Region in ARNs and records.
    #[arg(long, default_value = esb_config::compile::DEFAULT_REGION)]
    pub region: String,
    /// S3: bucket.
    #[arg(long, default_value = "example-bucket")]
    pub bucket: String,
    /// S3: object key.
    #[arg(long, default_value = "test/key")]
    pub key: String,
    /// API Gateway: HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// API Gateway: request path.
    #[arg(long, default_value = "/hello")]
    pub path: String,
    /// API Gateway, SQS, SNS: the body or message.
    #[arg(long, default_value = "{\"hello\": \"world\"}")]
    pub body: String,
    /// SQS and SNS: queue or topic name; DynamoDB: table name.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: Option<EventsCommand>,
    /// Only this function (logical id).
    #[arg(long, short)]
    pub function: Option<String>,
    /// Failed events to show, newest last.
    #[arg(long, default_value_t = 10)]
    pub last: usize,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Send failed asynchronous events again, as new events (each failure once).
    Redrive(RedriveArgs),
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// Only this function's failures (logical id).
    #[arg(long, short)]
    pub function: Option<String>,
    /// Only this failed event (its request id, from `esb events`; repeatable).
    #[arg(long = "request-id", value_name = "ID")]
    pub request_ids: Vec<String>,
    /// Show what would be sent; send nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The function: logical id (HelloFunction) or FunctionName.
    pub function: String,
    /// The event: a JSON file, or `-` for stdin (default: `{}`).
    #[arg(short, long, value_name = "FILE")]
    pub event: Option<String>,
    /// Use the last built image; do not build.
    #[arg(long)]
    pub no_build: bool,
    /// Extra environment variable for this run (repeatable).
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_kv)]
    pub env: Vec<(String, String)>,
    /// Environment variables in SAM CLI's env-vars format (see `esb serve --help`); `--env` wins.
    #[arg(short = 'n', long, value_name = "FILE")]
    pub env_vars: Option<PathBuf>,
    /// Template parameter value, overriding generator.yml (repeatable).
    #[arg(short, long = "parameter", value_name = "NAME=VALUE", value_parser = parse_kv)]
    pub parameters: Vec<(String, String)>,
    /// Start the function under a debugger listening on 127.0.0.1:PORT (Node.js: the inspector;
    /// Python: debugpy, when the function ships it) and wait for one to attach; no timeout.
    #[arg(short = 'd', long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1024..))]
    pub debug_port: Option<u16>,
}

fn parse_queue(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
        _ => Err(format!("`{s}` is not a number of events from 1 to 1000000")),
    }
}

/// Defaults of `esb serve`'s flags; the daemon config file fills in only flags left at these.
pub mod defaults {
    pub const IDLE_TIMEOUT: u64 = 300;
    pub const DEFAULT_CONCURRENCY: usize = 10;
    pub const GLOBAL_LIMIT: usize = 64;
    pub const GRACE: u64 = 30;
    pub const MANAGER_WAIT: u64 = 10;
    /// Lambda's wait before the first retry of a failed asynchronous event.
    pub const RETRY_DELAY: u64 = 60;
    pub const EVENT_QUEUE: usize = 1000;
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// HTTPS address to listen on (default: generator.yml gateway.listen, else 127.0.0.1:443, or
    /// 0.0.0.0:443 with a daemon --config file; --listen 0.0.0.0:PORT exposes a session).
    #[arg(long, value_name = "ADDR", conflicts_with = "http")]
    pub listen: Option<std::net::SocketAddr>,
    /// Serve plain HTTP instead of HTTPS, on this loopback address only (e.g. 127.0.0.1:9001; port 0
    /// picks one). The Lambda Invoke API needs no signature there.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// PEM certificate chain to serve instead of the generated self-signed one.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds an idle container lives before it is stopped (scale to zero).
    #[arg(long, default_value_t = defaults::IDLE_TIMEOUT)]
    pub idle_timeout: u64,
    /// Concurrency limit of functions without ReservedConcurrentExecutions.
    #[arg(long, default_value_t = defaults::DEFAULT_CONCURRENCY)]
    pub default_concurrency: usize,
    /// Containers across all functions.
    #[arg(long, default_value_t = defaults::GLOBAL_LIMIT)]
    pub global_limit: usize,
    /// Seconds in-flight invocations may take to finish at shutdown.
    #[arg(long, default_value_t = defaults::GRACE)]
    pub grace: u64,
    /// Keep idle containers running at shutdown, for the next `esb serve` to adopt.
    #[arg(long)]
    pub keep: bool,
    /// Serve the images already built (as `esb build` left them); do not build.
    #[arg(long)]
    pub no_build: bool,
    /// Hot reload: watch the project and apply saved changes (template, generator.yml, code).
    #[arg(long)]
    pub watch: bool,
    /// Serve /metrics (Prometheus) and /healthz on this address, plain HTTP without auth: use
    /// loopback or a private interface.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<std::net::SocketAddr>,
    /// Template parameter value, overriding generator.yml (repeatable).
    #[arg(short, long = "parameter", value_name = "NAME=VALUE", value_parser = parse_kv)]
    pub parameters: Vec<(String, String)>,
    /// Environment variables over the template's, in SAM CLI's format: {"Function": {"NAME": "value"},
    /// "Parameters": {...every function...}} (read at start and at every reload).
    #[arg(short = 'n', long, value_name = "FILE")]
    pub env_vars: Option<PathBuf>,
    /// Run this function (logical id or FunctionName) under its debugger on 127.0.0.1 at
    /// --debug-port: one container, no timeout; it waits for a debugger at its first request.
    #[arg(long, value_name = "FUNCTION", requires = "debug_port")]
    pub debug_function: Option<String>,
    /// The debugger's port for --debug-function (Node.js: the inspector; Python: debugpy).
    #[arg(long, value_name = "PORT", requires = "debug_function", value_parser = clap::value_parser!(u16).range(1024..))]
    pub debug_port: Option<u16>,
    /// Do not fire the template's Schedule events (a quiet harness for tests and fault injection).
    #[arg(long)]
    pub no_schedules: bool,
    /// Run the schedules' clock N times faster than real time (`60`: rate(1 minute) fires every
    /// second), to see schedules work without waiting.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=86400))]
    pub schedule_speed: u32,
    /// Seconds before the first retry of an asynchronous event that ended in a function error (the
    /// second retry waits twice that). Lambda waits 60; `1` makes failures show up in seconds.
    #[arg(long, default_value_t = defaults::RETRY_DELAY, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub retry_delay: u64,
    /// Asynchronous events (Invoke API `Event`, schedules, S3 notifications) a function may have
    /// waiting; more are refused with 429.
    #[arg(long, default_value_t = defaults::EVENT_QUEUE, value_name = "N", value_parser = parse_queue)]
    pub event_queue: usize,
    /// The daemon's config file (listen addresses, TLS, users, limits, storage, log sink; see
    /// docs/operations.md). Flags given on the command line win over it.
    #[arg(long, env = "ESB_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Which part to run: `all` (gateway and manager in one process), `gateway` (the public
    /// listener, without Docker access; it reaches the manager over --manager-socket) or `manager`
    /// (containers and storage through Docker; it listens only on the manager socket).
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// The manager API's unix socket (default: <output dir>/run/manager.sock).
    #[arg(long, value_name = "PATH")]
    pub manager_socket: Option<PathBuf>,
    /// Seconds a split gateway lets a request that needs a new container wait for an absent
    /// manager before answering 503 with Retry-After.
    #[arg(long, default_value_t = defaults::MANAGER_WAIT, value_name = "SECS")]
    pub manager_wait: u64,
}

/// The parts of `esb serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Gateway and manager in one process.
    All,
    /// The public HTTPS listener only; no Docker access.
    Gateway,
    /// Containers, storage and the manager socket; no public listener.
    Manager,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Rebuild every image from scratch (no cache) before starting.
    #[arg(long)]
    pub build: bool,
    /// Run detached: the daemon runs in a container (label esb.role=daemon); `esb status` and
    /// `esb down` find it.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Only this function (logical id).
    pub function: Option<String>,
    /// Keep printing new lines as they are written.
    #[arg(short, long)]
    pub follow: bool,
    /// Only lines newer than this: `30s`, `10m`, `2h`, `1d`.
    #[arg(long, value_name = "AGE")]
    pub since: Option<String>,
    /// Only lines of the request with this trace id (`X-Amzn-Trace-Id`, or any part of it).
    #[arg(long, value_name = "ID")]
    pub trace: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also delete the project's data volumes (S3 objects, DynamoDB items). Nothing else does.
    #[arg(short, long)]
    pub volumes: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Do not ask.
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub up: UpArgs,
}

#[derive(Debug, Args)]
pub struct StorageS3Args {
    /// Directory the objects live in.
    #[arg(long)]
    pub root: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:9000")]
    pub listen: std::net::SocketAddr,
    /// The region requests must be signed for (esb's region).
    #[arg(long, default_value = esb_config::compile::DEFAULT_REGION)]
    pub region: String,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Print an argon2 hash of a password read from stdin, for generator.yml gateway.users.
    HashPassword,
    /// Replace the token signing key (tokens signed with the old one keep working for --grace),
    /// and with --admin-password the generated admin's password. A running gateway picks the new
    /// secrets up on SIGHUP (`systemctl reload esb`, `docker kill -s HUP esb-<project>-gateway`).
    RotateKey {
        /// How long tokens signed with the old key stay valid: `30m`, `1h`, `1d` (tokens live 1 h).
        #[arg(long, default_value = "1h", value_name = "AGE")]
        grace: String,
        /// Also generate a new admin password (printed once).
        #[arg(long)]
        admin_password: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Images esb built or uses: bases and this project's functions.
    List,
    /// Write tarballs of every image this project needs, for an air-gapped site.
    Export {
        /// Directory for the tarballs (default: the project's images dir, build/lambda-images).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Do not ask; take defaults and flags.
    #[arg(short, long)]
    pub yes: bool,
    /// Overwrite an existing generator.yml.
    #[arg(long)]
    pub force: bool,
    /// Project name (default: the template's directory name).
    #[arg(long)]
    pub name: Option<String>,
    /// Image tag for function images.
    #[arg(long)]
    pub tag: Option<String>,
    /// Output directory, relative to the template.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<String>,
    /// Template parameter value (repeatable).
    #[arg(short, long = "parameter", value_name = "NAME=VALUE", value_parser = parse_kv)]
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Only these functions' images (default: all).
    pub functions: Vec<String>,
    /// Print what would be generated and built; write and build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Rebuild images even when nothing changed.
    #[arg(long)]
    pub no_cache: bool,
    /// Generate configuration only; build no images (no Docker needed).
    #[arg(long)]
    pub config_only: bool,
    /// Template parameter value, overriding generator.yml (repeatable).
    #[arg(short, long = "parameter", value_name = "NAME=VALUE", value_parser = parse_kv)]
    pub parameters: Vec<(String, String)>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_name_value_pairs() {
        assert_eq!(parse_kv("Stage=prod").unwrap(), ("Stage".into(), "prod".into()));
        assert_eq!(parse_kv("Url=a=b").unwrap(), ("Url".into(), "a=b".into()));
        assert!(parse_kv("=x").is_err());
        assert!(parse_kv("Stage").is_err());
    }

    #[test]
    fn grammar_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
