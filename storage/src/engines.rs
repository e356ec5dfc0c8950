//! Which server runs a storage service, and how: the engine choice of generator.yml's `storage:`
//! section turned into a [`Plan`] (image, command, environment, data directory, readiness bound).
//!
//! Owns: the production engines' container recipes (RustFS for S3, ScyllaDB Alternator for
//! DynamoDB), used only when their images are already on the engine (loaded from tarballs: esb
//! never pulls), and the built-in engines' recipes (esb's S3 server, the journalled moto service).
//! Must not: build images (the caller passes the built-in images) or start containers (`service`).

use crate::service::{DYNAMODB_PORT, S3_PORT};
use crate::StorageError;
use esb_config::services::{DynamoDbEngine, DynamoDbSettings, S3Settings, ALTERNATOR_IMAGE, DEFAULT_COMPACT_AFTER, RUSTFS_IMAGE};
use esb_runtime::Runtime;
use std::time::Duration;

/// How one storage service runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `s3` or `dynamodb`.
    pub service: &'static str,
    /// `builtin`, `rustfs` or `alternator`.
    pub engine: &'static str,
    /// The image.
    pub image: String,
    /// Arguments to the image's entrypoint.
    pub cmd: Vec<String>,
    /// Environment (`K=V`).
    pub env: Vec<String>,
    /// Where the data volume is mounted.
    pub data_dir: &'static str,
    /// The port it answers on inside its container.
    pub port: u16,
    /// The port on the host's loopback (0: a free one).
    pub host_port: u16,
    /// How long it may take to answer after it starts (a long journal, Scylla's boot).
    pub ready_within: Duration,
}

impl Plan {
    /// The data volume's name: the built-in engines keep the name they always had; another engine
    /// gets its own volume, since their data formats differ (switching back finds the old data).
    pub fn volume(&self, project: &str) -> String {
        match self.engine {
            "builtin" => format!("esb-{project}-{}", self.service),
            engine => format!("esb-{project}-{}-{engine}", self.service),
        }
    }

    /// A value that changes whenever the container would differ (the host port included): a
    /// running one with another is replaced. Only the local, well-known credentials are in it.
    pub fn fingerprint(&self) -> String {
        format!("{}|{}|{}|{}|{}", self.engine, self.image, self.cmd.join(" "), self.env.join(" "), self.host_port)
    }
}

/// What an engine choice came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The built-in engine (its image is esb's to build).
    Builtin,
    /// A production engine whose image is present.
    Production(String),
    /// No service.
    Off,
}

async fn present(rt: &dyn Runtime, image: &str) -> Result<bool, StorageError> {
    Ok(rt.image(image).await?.is_some())
}

fn missing(service: &str, engine: &str, image: &str) -> StorageError {
    StorageError::MissingImage { service: service.into(), engine: engine.into(), image: image.into() }
}

/// Resolves `storage.s3`: `auto` takes RustFS when its image is present, else the built-in server.
pub async fn choose_s3(rt: &dyn Runtime, s: &S3Settings) -> Result<Choice, StorageError> {
    use esb_config::services::S3Engine as E;
    let image = s.image.as_deref().unwrap_or(RUSTFS_IMAGE);
    Ok(match s.engine {
        E::Off => Choice::Off,
        E::Builtin => Choice::Builtin,
        E::Rustfs if present(rt, image).await? => Choice::Production(image.into()),
        E::Rustfs => return Err(missing("s3", "rustfs", image)),
        E::Auto if present(rt, image).await? => Choice::Production(image.into()),
        E::Auto => Choice::Builtin,
    })
}

/// Resolves `storage.dynamodb`: `auto` takes Alternator when its image is present, else the built-in service.
pub async fn choose_dynamodb(rt: &dyn Runtime, s: &DynamoDbSettings) -> Result<Choice, StorageError> {
    let image = s.image.as_deref().unwrap_or(ALTERNATOR_IMAGE);
    Ok(match s.engine {
        DynamoDbEngine::Off => Choice::Off,
        DynamoDbEngine::Builtin => Choice::Builtin,
        DynamoDbEngine::Alternator if present(rt, image).await? => Choice::Production(image.into()),
        DynamoDbEngine::Alternator => return Err(missing("dynamodb", "alternator", image)),
        DynamoDbEngine::Auto if present(rt, image).await? => Choice::Production(image.into()),
        DynamoDbEngine::Auto => Choice::Builtin,
    })
}

/// esb's S3 server, run by the esb image (`esb storage-s3`).
pub fn builtin_s3(esb_image: &str, s: &S3Settings, region: &str) -> Plan {
    Plan {
        service: "s3",
        engine: "builtin",
        image: esb_image.into(),
        cmd: ["storage-s3", "--root", "/data", "--listen", &format!("0.0.0.0:{S3_PORT}"), "--region", region].map(String::from).to_vec(),
        env: vec!["ESB_LOG_FORMAT=json".into(), "NO_COLOR=1".into()],
        data_dir: "/data",
        port: S3_PORT,
        host_port: s.host_port.unwrap_or(0),
        ready_within: Duration::from_secs(30),
    }
}

/// RustFS, single node, single disk, with the credentials functions are given.
pub fn rustfs(image: &str, s: &S3Settings, access_key: &str, secret_key: &str) -> Plan {
    Plan {
        service: "s3",
        engine: "rustfs",
        image: image.into(),
        cmd: vec!["/data".into()],
        env: vec![
            format!("RUSTFS_ACCESS_KEY={access_key}"),
            format!("RUSTFS_SECRET_KEY={secret_key}"),
            format!("RUSTFS_ADDRESS=0.0.0.0:{S3_PORT}"),
            "RUSTFS_CONSOLE_ENABLE=false".into(),
            "RUSTFS_OBS_LOGGER_LEVEL=warn".into(),
        ],
        data_dir: "/data",
        port: S3_PORT,
        host_port: s.host_port.unwrap_or(0),
        ready_within: Duration::from_secs(60),
    }
}

/// The journalled moto service (`esb/storage-dynamodb`), which verifies requests' signatures
/// against the credentials functions are given and `region`.
pub fn builtin_dynamodb(image: &str, s: &DynamoDbSettings, access_key: &str, secret_key: &str, region: &str) -> Plan {
    Plan {
        service: "dynamodb",
        engine: "builtin",
        image: image.into(),
        cmd: vec![
            "--journal".into(),
            "/data/journal.jsonl".into(),
            "--port".into(),
            DYNAMODB_PORT.to_string(),
            "--compact-after".into(),
            s.compact_after.unwrap_or(DEFAULT_COMPACT_AFTER).to_string(),
            "--region".into(),
            region.into(),
        ],
        env: vec![format!("ESB_ACCESS_KEY_ID={access_key}"), format!("ESB_SECRET_ACCESS_KEY={secret_key}")],
        data_dir: "/data",
        port: DYNAMODB_PORT,
        host_port: s.host_port.unwrap_or(0),
        // A long journal takes a while to replay before the service listens.
        ready_within: Duration::from_secs(120),
    }
}

/// ScyllaDB with only its DynamoDB API in use: one shard, bounded memory, developer mode (no
/// XFS or tuning checks), every write isolated with LWT (DynamoDB's conditional writes are exact).
pub fn alternator(image: &str, s: &DynamoDbSettings) -> Plan {
    Plan {
        service: "dynamodb",
        engine: "alternator",
        image: image.into(),
        cmd: [
            "--alternator-port",
            &DYNAMODB_PORT.to_string(),
            "--alternator-write-isolation",
            "always",
            "--smp",
            "1",
            "--memory",
            "750M",
            "--overprovisioned",
            "1",
            "--developer-mode",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        env: vec![],
        data_dir: "/var/lib/scylla",
        port: DYNAMODB_PORT,
        host_port: s.host_port.unwrap_or(0),
        // Scylla boots in tens of seconds on a small machine.
        ready_within: Duration::from_secs(180),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esb_config::services::S3Engine;
    use esb_runtime::fake::FakeRuntime;

    #[tokio::test]
    async fn auto_takes_a_production_engine_only_when_its_image_is_loaded() {
        let rt = FakeRuntime::new();
        assert_eq!(choose_s3(&rt, &S3Settings::default()).await.unwrap(), Choice::Builtin);
        assert_eq!(choose_dynamodb(&rt, &DynamoDbSettings::default()).await.unwrap(), Choice::Builtin);
        rt.add_image(RUSTFS_IMAGE, Default::default());
        rt.add_image("scylladb/scylla:2025.1", Default::default());
        assert_eq!(choose_s3(&rt, &S3Settings::default()).await.unwrap(), Choice::Production(RUSTFS_IMAGE.into()));
        // The default Scylla tag is not there; the configured one is.
        assert_eq!(choose_dynamodb(&rt, &DynamoDbSettings::default()).await.unwrap(), Choice::Builtin);
        let pinned = DynamoDbSettings { image: Some("scylladb/scylla:2025.1".into()), ..Default::default() };
        assert_eq!(choose_dynamodb(&rt, &pinned).await.unwrap(), Choice::Production("scylladb/scylla:2025.1".into()));
        let builtin = S3Settings { engine: S3Engine::Builtin, ..Default::default() };
        assert_eq!(choose_s3(&rt, &builtin).await.unwrap(), Choice::Builtin);
    }

    #[tokio::test]
    async fn an_explicit_engine_without_its_image_is_an_error_naming_the_image() {
        let rt = FakeRuntime::new();
        let s = DynamoDbSettings { engine: DynamoDbEngine::Alternator, ..Default::default() };
        let err = choose_dynamodb(&rt, &s).await.unwrap_err().to_string();
        assert!(err.contains(ALTERNATOR_IMAGE) && err.contains("docker load"), "{err}");
        let off = DynamoDbSettings { engine: DynamoDbEngine::Off, ..Default::default() };
        assert_eq!(choose_dynamodb(&rt, &off).await.unwrap(), Choice::Off);
    }

    #[test]
    fn each_engine_keeps_its_data_in_its_own_volume() {
        let s = S3Settings { host_port: Some(9000), ..Default::default() };
        let b = builtin_s3("esb/daemon:1", &s, "us-east-1");
        let r = rustfs(RUSTFS_IMAGE, &s, "ak", "sk");
        assert_eq!((b.volume("p"), r.volume("p")), ("esb-p-s3".to_string(), "esb-p-s3-rustfs".to_string()));
        assert_eq!((r.port, r.host_port), (S3_PORT, 9000));
        assert!(r.env.contains(&"RUSTFS_ACCESS_KEY=ak".to_string()) && r.cmd == ["/data"]);
        assert_ne!(b.fingerprint(), r.fingerprint());
        let moved = builtin_s3("esb/daemon:1", &S3Settings { host_port: Some(9001), ..Default::default() }, "us-east-1");
        assert_ne!(b.fingerprint(), moved.fingerprint(), "a new host port replaces the running container");
        let a = alternator(ALTERNATOR_IMAGE, &DynamoDbSettings::default());
        assert_eq!((a.volume("p").as_str(), a.data_dir, a.port), ("esb-p-dynamodb-alternator", "/var/lib/scylla", DYNAMODB_PORT));
        let m = builtin_dynamodb(
            "esb/storage-dynamodb:1",
            &DynamoDbSettings { compact_after: Some(50), ..Default::default() },
            "ak",
            "sk",
            "us-east-1",
        );
        let after = |flag: &str| m.cmd.iter().position(|a| a == flag).and_then(|i| m.cmd.get(i + 1)).map(String::as_str);
        assert_eq!((after("--compact-after"), after("--region")), (Some("50"), Some("us-east-1")));
        assert!(m.env.contains(&"ESB_SECRET_ACCESS_KEY=sk".to_string()), "the secret goes in the environment, not the command line");
    }
}
