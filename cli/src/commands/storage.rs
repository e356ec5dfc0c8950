//! Storage for `esb serve`/`esb up`: choose each service's engine, start the services the template
//! needs, provision, report; and `esb storage-s3`, the S3 server process inside the storage container.

use crate::cli::StorageS3Args;
use crate::output::Output;
use crate::progress::Progress;
use esb_config::lambda_env::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use esb_config::services::StorageSettings;
use esb_config::Project;
use esb_runtime::Runtime;
use esb_storage::engines::{self, Choice, Plan};
use esb_storage::provision::{Outcome, Report, Signer};
use esb_storage::service::Endpoint;

/// Runs the built-in S3 server until SIGTERM or Ctrl-C.
pub fn serve_s3(args: StorageS3Args) -> anyhow::Result<()> {
    super::block_on(async move {
        esb_storage::s3::serve(args.root, args.listen, ACCESS_KEY_ID, SECRET_ACCESS_KEY, &args.region, super::serve::stop_signal()).await?;
        Ok(())
    })
}

/// Builds the images of the built-in storage engines `project` needs (the daemon container cannot:
/// it has no RIE download or pip), so `up -d` calls this on the host first.
pub async fn images(rt: &dyn Runtime, project: &Project, settings: &StorageSettings, progress: &Progress) -> anyhow::Result<()> {
    if !project.resources.tables.is_empty() && engines::choose_dynamodb(rt, &settings.dynamodb).await? == Choice::Builtin {
        esb_images::dynamodb::ensure(rt, &|e| progress.event(e)).await?;
        progress.clear();
    }
    Ok(())
}

/// The plan for S3, building nothing but finding the esb image for the built-in engine.
async fn s3_plan(rt: &dyn Runtime, settings: &StorageSettings, region: &str) -> anyhow::Result<Option<Plan>> {
    Ok(match engines::choose_s3(rt, &settings.s3).await? {
        Choice::Off => None,
        Choice::Production(image) => Some(engines::rustfs(&image, &settings.s3, ACCESS_KEY_ID, SECRET_ACCESS_KEY)),
        Choice::Builtin => {
            let image = esb_images::daemon::ensure(rt, &std::env::current_exe()?).await?;
            Some(engines::builtin_s3(&image, &settings.s3, region))
        }
    })
}

/// The plan for DynamoDB, building the built-in engine's image when it is missing.
async fn dynamodb_plan(rt: &dyn Runtime, settings: &StorageSettings, region: &str, progress: &Progress) -> anyhow::Result<Option<Plan>> {
    Ok(match engines::choose_dynamodb(rt, &settings.dynamodb).await? {
        Choice::Off => None,
        Choice::Production(image) => Some(engines::alternator(&image, &settings.dynamodb)),
        Choice::Builtin => {
            let image = esb_images::dynamodb::ensure(rt, &|e| progress.event(e)).await?;
            progress.clear();
            Some(engines::builtin_dynamodb(&image, &settings.dynamodb, ACCESS_KEY_ID, SECRET_ACCESS_KEY, region))
        }
    })
}

/// Starts the storage services `project` needs (none for a template without buckets or tables, or
/// with the engine `off`), creates its buckets and tables, prints a line per problem; returns the
/// endpoints and the environment functions get. A service that fails to start is a warning, not a
/// failed start: the gateway and the functions that do not need it still come up.
pub async fn up(
    rt: &dyn Runtime,
    project: &Project,
    name: &str,
    region: &str,
    settings: &StorageSettings,
    progress: &Progress,
    out: &Output,
) -> anyhow::Result<(Vec<Endpoint>, Vec<(String, String)>)> {
    let (buckets, tables) = (&project.resources.buckets, &project.resources.tables);
    // Functions join the project's network even when there is no storage to reach.
    esb_storage::service::ensure_network(rt, name).await?;
    let signer = Signer { access_key: ACCESS_KEY_ID.into(), secret_key: SECRET_ACCESS_KEY.into(), region: region.into() };
    let (mut endpoints, mut reports) = (vec![], vec![]);
    if !buckets.is_empty() {
        match start(rt, name, s3_plan(rt, settings, region).await).await {
            Ok(Some(s3)) => {
                reports.extend(esb_storage::provision::buckets(&s3.direct, &signer, &s3.engine, buckets).await);
                endpoints.push(s3);
            }
            Ok(None) => out.warnings(&[format!("storage: S3 is off (storage.s3.engine), so {} buckets are not created", buckets.len())]),
            Err(e) => out.warnings(&[format!("storage: S3 is not running, so buckets are unavailable: {e:#}")]),
        }
    }
    if !tables.is_empty() {
        match start(rt, name, dynamodb_plan(rt, settings, region, progress).await).await {
            Ok(Some(db)) => {
                reports.extend(esb_storage::provision::tables(&db.direct, &signer, tables).await);
                endpoints.push(db);
            }
            Ok(None) => {
                out.warnings(&[format!("storage: DynamoDB is off (storage.dynamodb.engine), so {} tables are not created", tables.len())])
            }
            Err(e) => out.warnings(&[format!("storage: DynamoDB is not running, so tables are unavailable: {e:#}")]),
        }
    }
    report(&reports, out);
    if !endpoints.is_empty() {
        let list: Vec<String> = endpoints
            .iter()
            .map(|e| {
                let engine = if e.engine == "builtin" { String::new() } else { format!(" ({})", e.engine) };
                format!("{}{engine} on {}", e.service, e.host.as_deref().unwrap_or(&e.internal))
            })
            .collect();
        let count = |f: fn(&Outcome) -> bool| reports.iter().filter(|r| f(&r.outcome)).count();
        let mut counts =
            format!("{} created, {} unchanged", count(|o| matches!(o, Outcome::Created)), count(|o| matches!(o, Outcome::Unchanged)));
        for (n, word) in [(count(|o| matches!(o, Outcome::Updated(_))), "updated"), (count(|o| matches!(o, Outcome::Failed(_))), "failed")]
        {
            if n > 0 {
                counts.push_str(&format!(", {n} {word}"));
            }
        }
        out.say(format!("storage: {} ({} resources: {counts})", list.join(", "), reports.len()));
    }
    let env = function_env(&endpoints);
    Ok((endpoints, env))
}

/// What a function is given to reach `endpoints` with unmodified boto3. Services esb does not run
/// must not reach real AWS from a local box, so the generic `AWS_ENDPOINT_URL` points at a local
/// service too (the per-service variables win for S3 and DynamoDB).
pub fn function_env(endpoints: &[Endpoint]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = endpoints
        .iter()
        .filter_map(|e| {
            let var = match e.service.as_str() {
                "s3" => "AWS_ENDPOINT_URL_S3",
                "dynamodb" => "AWS_ENDPOINT_URL_DYNAMODB",
                _ => return None,
            };
            Some((var.to_string(), e.internal.clone()))
        })
        .collect();
    if let Some((_, url)) = env.first().cloned() {
        env.push(("AWS_ENDPOINT_URL".to_string(), url));
    }
    env
}

async fn start(rt: &dyn Runtime, name: &str, plan: anyhow::Result<Option<Plan>>) -> anyhow::Result<Option<Endpoint>> {
    let Some(plan) = plan? else { return Ok(None) };
    Ok(Some(esb_storage::service::start(rt, name, &plan).await?))
}

/// A line per failed resource (naming it and the service's reason), per update and per warning.
fn report(reports: &[Report], out: &Output) {
    for r in reports {
        match &r.outcome {
            Outcome::Failed(why) => out.warnings(&[format!("{} {} ({}) is not usable: {why}", r.kind, r.id, r.name)]),
            Outcome::Updated(what) => out.say(format!("storage: {} {} ({}): {what}", r.kind, r.id, r.name)),
            Outcome::Created | Outcome::Unchanged => {}
        }
        for w in &r.warnings {
            out.warnings(&[format!("{} {}: {w}", r.kind, r.id)]);
        }
    }
}
