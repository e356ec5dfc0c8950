//! `generator.yml`: the project file `esb init` writes next to the template.
//!
//! Owns: its schema (`app.name`, `app.tag`, `app.region`, `paths.sam_template`, `paths.output_dir`,
//! `paths.images_dir`, `parameters`), reading it with located errors, and writing it without clobbering.
//! Must not: compile templates.

use crate::error::{ConfigError, Diagnostic, Diagnostics};
pub use crate::services::{LogSettings, StorageSettings};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name of the project file.
pub const FILE_NAME: &str = "generator.yml";
/// Default output directory, relative to the template.
pub const DEFAULT_OUTPUT_DIR: &str = ".esb";
/// Default directory of image tarballs, relative to generator.yml.
pub const DEFAULT_IMAGES_DIR: &str = "build/lambda-images";
/// Default function image tag.
pub const DEFAULT_TAG: &str = "latest";

/// The contents of generator.yml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// Application settings.
    pub app: App,
    /// File locations, relative to generator.yml.
    pub paths: Paths,
    /// Template parameter overrides.
    #[serde(default, deserialize_with = "scalar_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Gateway settings (listen address, TLS files, users).
    #[serde(default, skip_serializing_if = "GatewaySettings::is_default")]
    pub gateway: GatewaySettings,
    /// Storage engines per service, host ports.
    #[serde(default, skip_serializing_if = "is_default")]
    pub storage: StorageSettings,
    /// Where function logs go besides the output dir.
    #[serde(default, skip_serializing_if = "is_default")]
    pub logs: LogSettings,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `gateway:` section: everything optional.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Address to listen on (`0.0.0.0:443` when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// PEM certificate chain, relative to generator.yml; a self-signed one is generated when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// PEM private key for `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
    /// Users who may log in at `POST /user/auth/v1`, besides the generated admin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserEntry>,
}

impl GatewaySettings {
    fn is_default(&self) -> bool {
        *self == GatewaySettings::default()
    }
}

/// One configured user. Passwords are stored only as argon2 PHC strings (`esb auth hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name (`cognito:username`).
    pub username: String,
    /// `$argon2id$...` hash of the password.
    pub password_hash: String,
    /// `cognito:groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// `email` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `app:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    /// Project name: container/volume/image names, labels, `AWS::StackName`.
    pub name: String,
    /// Tag for function images.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// `AWS::Region` and the region functions see.
    #[serde(default = "default_region")]
    pub region: String,
}

/// `paths:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paths {
    /// The SAM template.
    pub sam_template: String,
    /// Where generated files go.
    #[serde(default = "default_output_dir")]
    pub output_dir: String,
    /// Image tarballs loaded before builds (air-gapped sites).
    #[serde(default = "default_images_dir")]
    pub images_dir: String,
}

fn default_tag() -> String {
    DEFAULT_TAG.into()
}
fn default_region() -> String {
    crate::compile::DEFAULT_REGION.into()
}
fn default_output_dir() -> String {
    DEFAULT_OUTPUT_DIR.into()
}
fn default_images_dir() -> String {
    DEFAULT_IMAGES_DIR.into()
}

/// Parameter values may be written as numbers or booleans; CloudFormation sees strings.
pub(crate) fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        S(String),
        I(i64),
        F(f64),
        B(bool),
    }
    let raw = BTreeMap::<String, Scalar>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Scalar::S(s) => s,
                Scalar::I(i) => i.to_string(),
                Scalar::F(f) => f.to_string(),
                Scalar::B(b) => b.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// A project name usable in Docker names: lower-case letters, digits, `-`.
pub fn sanitize_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "esb".into()
    } else {
        out
    }
}

impl Generator {
    /// Defaults for a template: project named after the template's directory, or the name esb
    /// recorded for it (see [`crate::workspace::NAME_FILE`]).
    pub fn defaults_for(template: &Path) -> Self {
        let dir = template.parent().and_then(|p| std::fs::canonicalize(p).ok()).unwrap_or_default();
        let name = crate::workspace::recorded_name(&dir.join(DEFAULT_OUTPUT_DIR))
            .unwrap_or_else(|| sanitize_name(&dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()));
        Generator {
            app: App { name, tag: default_tag(), region: default_region() },
            paths: Paths {
                sam_template: template.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "template.yaml".into()),
                output_dir: default_output_dir(),
                images_dir: default_images_dir(),
            },
            parameters: BTreeMap::new(),
            gateway: GatewaySettings::default(),
            storage: StorageSettings::default(),
            logs: LogSettings::default(),
        }
    }

    /// The compile settings this file gives.
    pub fn settings(&self) -> crate::Settings {
        crate::Settings {
            project: self.app.name.clone(),
            tag: self.app.tag.clone(),
            region: self.app.region.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ConfigError::io("reading", path)(e)),
        };
        let parsed: Self = serde_norway::from_str(&text).map_err(|e| {
            parse_error(path, &e, "generator.yml has app.{name,tag,region}, paths.{sam_template,output_dir,images_dir}, parameters, gateway, storage and logs (docs/config.md); `esb init --force` rewrites it")
        })?;
        if parsed.app.name != sanitize_name(&parsed.app.name) {
            return Err(ConfigError::Invalid(Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: None,
                path: "app.name".into(),
                message: format!("project name `{}` is not usable in container names", parsed.app.name),
                hint: Some(format!("use lower-case letters, digits and `-`, e.g. `{}`", sanitize_name(&parsed.app.name))),
            }])));
        }
        let problems: Vec<Diagnostic> = parsed
            .storage
            .check()
            .into_iter()
            .chain(parsed.logs.check())
            .map(|(at, message)| Diagnostic {
                file: path.to_path_buf(),
                line: line_of(&text, &at),
                path: at,
                message,
                hint: Some("docs/config.md lists the storage and logs settings".into()),
            })
            .collect();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(Diagnostics(problems)));
        }
        Ok(Some(parsed))
    }

    /// The YAML text written by `esb init`.
    pub fn to_yaml(&self) -> String {
        let body = serde_norway::to_string(self).unwrap_or_default();
        format!("# esb project file (written by `esb init`). Paths are relative to this file.\n{body}")
    }

    /// Writes to `path`, refusing to overwrite unless `force`. Atomic: a crash leaves the old file.
    pub fn write(&self, path: &Path, force: bool) -> Result<(), ConfigError> {
        self.write_listing(path, force, &[])
    }

    /// [`Generator::write`], listing the template's parameters that still need a value (no
    /// Default, none given) as commented lines to fill in: a build refuses to run without them.
    pub fn write_listing(&self, path: &Path, force: bool, to_fill: &[crate::compile::ParamInfo]) -> Result<(), ConfigError> {
        if path.exists() && !force {
            return Err(ConfigError::Exists(path.to_path_buf()));
        }
        let mut text = self.to_yaml();
        if !to_fill.is_empty() {
            text.push_str("# The template's parameters without a Default: give each a value under `parameters:`\n");
            text.push_str("# (or pass --parameter NAME=VALUE); `esb build` refuses to run without them.\n");
            if self.parameters.is_empty() {
                text.push_str("# parameters:\n");
            }
            for p in to_fill {
                let about = p.description.as_deref().map(|d| format!("  # {}", d.lines().next().unwrap_or_default())).unwrap_or_default();
                let choices = if p.allowed.is_empty() { String::new() } else { format!("  # one of: {}", p.allowed.join(", ")) };
                text.push_str(&format!("#   {}: \"\"{about}{choices}\n", p.name));
            }
        }
        crate::generate::write_atomic(path, text.as_bytes())
    }
}

/// A YAML file that does not fit its schema, located at the line serde reports.
pub(crate) fn parse_error(path: &Path, e: &serde_norway::Error, hint: &str) -> ConfigError {
    ConfigError::Invalid(Diagnostics(vec![Diagnostic {
        file: path.to_path_buf(),
        line: e.location().map(|l| l.line()),
        path: String::new(),
        message: e.to_string(),
        hint: Some(hint.into()),
    }]))
}

/// The line of the last key of a dotted `path` (`storage.s3.image`), found by indentation: good
/// enough to point at a setting in a hand-written file.
pub(crate) fn line_of(text: &str, path: &str) -> Option<usize> {
    let mut from = 0;
    let mut depth: Option<usize> = None;
    let mut found = None;
    for key in path.split('.') {
        let (i, indent) = text.lines().enumerate().skip(from).find_map(|(i, l)| {
            let indent = l.len() - l.trim_start().len();
            let deeper = depth.is_none_or(|d| indent > d);
            let key_here = l.trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with(':'));
            (deeper && key_here).then_some((i, indent))
        })?;
        from = i + 1;
        depth = Some(indent);
        found = Some(i + 1);
    }
    found
}

/// Where a template's generator.yml lives: beside it.
pub fn path_for(template: &Path) -> PathBuf {
    template.parent().unwrap_or(Path::new(".")).join(FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Option<Generator>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        Generator::load(&path)
    }

    const HEAD: &str = "app:\n  name: demo\npaths:\n  sam_template: template.yaml\n";

    #[test]
    fn storage_and_logs_sections_are_read() {
        let g =
            load_text(&format!("{HEAD}storage:\n  s3:\n    engine: builtin\n    host_port: 9000\nlogs:\n  sink: http://127.0.0.1:9428\n"))
                .unwrap()
                .unwrap();
        assert_eq!(g.storage.s3.engine, crate::services::S3Engine::Builtin);
        assert_eq!(g.logs.sink.as_deref(), Some("http://127.0.0.1:9428"));
        // Round trip: what init writes is read back the same.
        assert_eq!(load_text(&g.to_yaml()).unwrap().unwrap(), g);
    }

    #[test]
    fn a_written_file_lists_the_parameters_to_fill_in_and_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("generator.yml");
        let g = Generator::defaults_for(&dir.path().join("template.yaml"));
        let vpc = crate::compile::ParamInfo { name: "VpcId".into(), default: None, allowed: vec![], description: Some("The VPC".into()) };
        g.write_listing(&path, false, &[vpc]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# parameters:\n#   VpcId: \"\"  # The VPC\n"), "{text}");
        assert_eq!(load_text(&text).unwrap().unwrap(), g);
    }

    #[test]
    fn a_bad_setting_is_named_with_its_line() {
        let err =
            load_text(&format!("{HEAD}storage:\n  s3:\n    host_port: 9000\n  dynamodb:\n    host_port: 9000\nlogs:\n  sink: 127.0.0.1\n"))
                .unwrap_err();
        let ConfigError::Invalid(d) = err else { panic!("{err}") };
        let got: Vec<(String, Option<usize>)> = d.0.iter().map(|d| (d.path.clone(), d.line)).collect();
        assert_eq!(got, [("storage.dynamodb.host_port".to_string(), Some(9)), ("logs.sink".to_string(), Some(11))]);
        let err = load_text(&format!("{HEAD}storage:\n  s3:\n    engine: minio\n")).unwrap_err().to_string();
        assert!(err.contains("generator.yml") && err.contains("minio"), "{err}");
    }
}
