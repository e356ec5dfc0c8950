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

/// Starts the storage services `project` needs (none when it declares no buckets), creates its
/// buckets, prints a line per problem; returns the endpoints and the environment functions get.
pub async fn up(
    rt: &dyn Runtime,
    project: &Project,
    name: &str,
    region: &str,
    out: &Output,
) -> anyhow::Result<(Vec<Endpoint>, Vec<(String, String)>)> {
    let buckets = &project.resources.buckets;
    if buckets.is_empty() {
        return Ok((vec![], vec![]));
    }
    let image = esb_images::daemon::ensure(rt, &std::env::current_exe()?).await?;
    let s3 = esb_storage::service::start_s3(rt, name, &image, 0).await?;
    let signer = Signer {
        access_key: esb_config::lambda_env::ACCESS_KEY_ID.into(),
        secret_key: esb_config::lambda_env::SECRET_ACCESS_KEY.into(),
        region: region.into(),
    };
    let reports = esb_storage::provision::buckets(&s3.internal, &signer, buckets).await;
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
    out.say(format!(
        "storage: S3 on {} ({} buckets: {created} created, {unchanged} unchanged)",
        s3.host.as_deref().unwrap_or(&s3.internal),
        reports.len()
    ));
    let env = vec![("AWS_ENDPOINT_URL_S3".to_string(), s3.internal.clone())];
    Ok((vec![s3], env))
}
