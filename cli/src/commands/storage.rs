//! Storage for `esb serve`/`esb up`: start the services the template needs, provision, report; and
//! `esb storage-s3`, the S3 server process inside the storage container.

use crate::cli::StorageS3Args;
use crate::output::Output;
use esb_config::Project;
use esb_runtime::Runtime;
use esb_storage::provision::{Outcome, Signer};
use esb_storage::service::Endpoint;

/// Runs the built-in S3 server until SIGTERM or Ctrl-C.
pub fn serve_s3(args: StorageS3Args) -> anyhow::Result<()> {
    super::block_on(async move {
        esb_storage::s3::serve(
            args.root,
            args.listen,
            esb_config::lambda_env::ACCESS_KEY_ID,
            esb_config::lambda_env::SECRET_ACCESS_KEY,
            super::serve::stop_signal(),
        )
        .await?;
        Ok(())
    })
}

/// Builds the images of the storage services `project` needs (the daemon container cannot: it has
/// no RIE download or pip), so `up -d` calls this on the host first.
pub async fn images(rt: &dyn Runtime, project: &Project, progress: &crate::progress::Progress) -> anyhow::Result<()> {
    if !project.resources.tables.is_empty() {
        esb_images::dynamodb::ensure(rt, &|e| progress.event(e)).await?;
        progress.clear();
    }
    Ok(())
}

/// Starts the storage services `project` needs (none for a template without buckets or tables),
/// creates its buckets and tables, prints a line per problem; returns the endpoints and the
/// environment functions get. A service that fails to start is a warning, not a failed start.
pub async fn up(
    rt: &dyn Runtime,
    project: &Project,
    name: &str,
    region: &str,
    progress: &crate::progress::Progress,
    out: &Output,
) -> anyhow::Result<(Vec<Endpoint>, Vec<(String, String)>)> {
    let (buckets, tables) = (&project.resources.buckets, &project.resources.tables);
    let signer = Signer {
        access_key: esb_config::lambda_env::ACCESS_KEY_ID.into(),
        secret_key: esb_config::lambda_env::SECRET_ACCESS_KEY.into(),
        region: region.into(),
    };
    let (mut endpoints, mut env, mut reports) = (vec![], vec![], vec![]);
    // A service that cannot start is reported and left out; the gateway and the functions that do
    // not need it still come up.
    if !buckets.is_empty() {
        let started = async {
            let image = esb_images::daemon::ensure(rt, &std::env::current_exe()?).await?;
            anyhow::Ok(esb_storage::service::start_s3(rt, name, &image, 0).await?)
        };
        match started.await {
            Ok(s3) => {
                reports.extend(esb_storage::provision::buckets(&s3.internal, &signer, buckets).await);
                env.push(("AWS_ENDPOINT_URL_S3".to_string(), s3.internal.clone()));
                endpoints.push(s3);
            }
            Err(e) => out.warnings(&[format!("storage: S3 is not running, so buckets are unavailable: {e:#}")]),
        }
    }
    if !tables.is_empty() {
        let started = async {
            let image = esb_images::dynamodb::ensure(rt, &|e| progress.event(e)).await?;
            progress.clear();
            anyhow::Ok(esb_storage::service::start_dynamodb(rt, name, &image, 0).await?)
        };
        match started.await {
            Ok(db) => {
                reports.extend(esb_storage::provision::tables(&db.internal, &signer, tables).await);
                env.push(("AWS_ENDPOINT_URL_DYNAMODB".to_string(), db.internal.clone()));
                endpoints.push(db);
            }
            Err(e) => out.warnings(&[format!("storage: DynamoDB is not running, so tables are unavailable: {e:#}")]),
        }
    }
    let (mut created, mut unchanged) = (0, 0);
    for r in &reports {
        match &r.outcome {
            Outcome::Created => created += 1,
            Outcome::Unchanged => unchanged += 1,
            Outcome::Failed(why) => out.warnings(&[format!("{} {} ({}) was not created: {why}", r.kind, r.id, r.name)]),
        }
        for w in &r.warnings {
            out.warnings(&[format!("{} {}: {w}", r.kind, r.id)]);
        }
    }
    if !endpoints.is_empty() {
        let list: Vec<String> =
            endpoints.iter().map(|e| format!("{} on {}", e.service, e.host.as_deref().unwrap_or(&e.internal))).collect();
        out.say(format!("storage: {} ({} resources: {created} created, {unchanged} unchanged)", list.join(", "), reports.len()));
    }
    Ok((endpoints, env))
}
