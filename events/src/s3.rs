//! The S3 notifier: the manager's reader of the built-in S3 server's object changes, turning those
//! that match a function's `S3` event into asynchronous events for it.
//!
//! Owns: the reader's position (`<output>/events/s3.cursor`, written after the matching events are
//! journaled, so an object change is delivered at least once: a crash between the two delivers it
//! again), finding the S3 service again when it moves, and the rules (replaced on hot reload).
//! The first start begins at the newest change: uploads from before esb ran are not replayed.
//! Must not: invoke (the EventQueue does) or serve S3 (the storage container does).

use esb_actors::FunctionHandle;
use esb_config::model::S3Event;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One function's S3 event.
#[derive(Clone)]
pub struct Rule {
    pub handle: FunctionHandle,
    pub event: S3Event,
}

/// The rules, shared with the reader.
pub type Rules = Arc<Mutex<Vec<Rule>>>;

/// What the reader needs.
pub struct Reader {
    pub rt: Arc<dyn esb_runtime::Runtime>,
    pub project: String,
    pub region: String,
    pub dir: PathBuf,
    pub rules: Rules,
}

fn rules_now(rules: &Rules) -> Vec<Rule> {
    rules.lock().map(|r| r.clone()).unwrap_or_default()
}

/// The S3 service: its address and engine.
async fn endpoint(r: &Reader) -> Option<(String, String)> {
    let eps = esb_storage::service::endpoints(r.rt.as_ref(), &r.project).await.ok()?;
    let s3 = eps.into_iter().find(|e| e.service == "s3")?;
    Some((s3.direct, s3.engine))
}

fn write_cursor(path: &std::path::Path, seq: u64) {
    let tmp = path.with_extension("tmp");
    if let Err(e) = std::fs::write(&tmp, seq.to_string()).and_then(|_| std::fs::rename(&tmp, path)) {
        tracing::warn!(path = %path.display(), error = %e, "the S3 notification cursor cannot be written");
    }
}

/// Reads changes until aborted.
pub async fn run(r: Reader) {
    let secret = esb_config::lambda_env::SECRET_ACCESS_KEY;
    let cursor_path = r.dir.join("s3.cursor");
    let mut cursor: Option<u64> = std::fs::read_to_string(&cursor_path).ok().and_then(|s| s.trim().parse().ok());
    let mut failures = 0u32;
    // Checked at start and after the service was unreachable: a log newer than the cursor means
    // the S3 volume was recreated, and its changes start again from 1.
    let mut check = true;
    let mut warned = false;
    loop {
        if rules_now(&r.rules).is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let Some((ep, engine)) = endpoint(&r).await else {
            tokio::time::sleep(Duration::from_secs(5)).await;
            continue;
        };
        if engine != "builtin" {
            if !warned {
                tracing::warn!(%engine, "S3 events need the built-in S3 engine; the {engine} engine reports no object changes, so they do not fire");
                warned = true;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
            continue;
        }
        if let (true, Some(c)) = (check, cursor) {
            match esb_storage::notify::newest(&ep, secret).await {
                Ok(newest) if newest < c => {
                    tracing::info!(
                        cursor = c,
                        newest,
                        "the S3 notification log is new (its volume was recreated); reading it from the start"
                    );
                    cursor = Some(0);
                    write_cursor(&cursor_path, 0);
                    check = false;
                }
                Ok(_) => check = false,
                Err(_) => {}
            }
        }
        let after = match cursor {
            Some(c) => c,
            None => match esb_storage::notify::newest(&ep, secret).await {
                Ok(n) => {
                    write_cursor(&cursor_path, n);
                    cursor = Some(n);
                    n
                }
                Err(e) => {
                    tracing::debug!(error = %e, "S3 notifications not reachable yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let list = match esb_storage::notify::poll(&ep, secret, after, Duration::from_secs(20)).await {
            Ok(l) => {
                failures = 0;
                l
            }
            Err(e) => {
                failures += 1;
                check = true;
                if failures == 3 {
                    tracing::warn!(error = %e, "S3 notifications unreachable; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Some(last) = list.last().map(|n| n.seq) else {
            // Nothing new: check that the log did not go backwards (a recreated volume, or lines
            // the server set aside), or the reader would wait above its end for good.
            check = true;
            continue;
        };
        let rules = rules_now(&r.rules);
        for n in &list {
            for rule in rules.iter().filter(|rule| rule.event.matches(&n.bucket, &n.event, &n.key)) {
                let payload = esb_storage::notify::lambda_event(&r.region, &rule.event.name, n).to_string();
                let trace = esb_runtime::rie::new_trace_id();
                let function = rule.handle.config().function.clone();
                // The queue may be briefly unavailable (a reload): try a few times before giving up.
                let mut tries = 0;
                loop {
                    match rule.handle.enqueue(payload.clone(), &trace).await {
                        Ok(id) => {
                            tracing::info!(%function, event = %n.event, bucket = %n.bucket, key = %n.key, request_id = %id, trace_id = %trace, "S3 event queued");
                            break;
                        }
                        Err(e) if tries < 5 => {
                            tries += 1;
                            tracing::debug!(%function, error = %e, "S3 event not queued yet");
                            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                        }
                        Err(e) => {
                            tracing::error!(%function, key = %n.key, error = %e, "an S3 event was dropped: the function's queue did not take it");
                            break;
                        }
                    }
                }
            }
        }
        cursor = Some(last);
        write_cursor(&cursor_path, last);
    }
}
