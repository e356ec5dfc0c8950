//! A workspace: the template, its generator.yml and the settings they give.
//!
//! Owns: combining generator.yml (when present) with defaults and command-line parameter overrides
//! into [`Settings`], and the output dir. Command-line overrides win over generator.yml. A project
//! without generator.yml is named after its directory, unless esb recorded another name for it in
//! `<output>/project-name` (when another directory's project held that name: see
//! [`Workspace::alternate_name`]).
//! Must not: prompt (the CLI does), compile, or ask the engine who holds a name (the CLI does).

use crate::compile::{self, Project, Settings};
use crate::error::{ConfigError, Diagnostic, Diagnostics};
use crate::generator::{self, Generator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An opened project.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The SAM template.
    pub template: PathBuf,
    /// Where generator.yml is (or would be).
    pub generator_path: PathBuf,
    /// generator.yml, if the project has one.
    pub generator: Option<Generator>,
    /// Settings for compiling.
    pub settings: Settings,
    /// The output directory.
    pub output_dir: PathBuf,
    /// Image tarballs to load (`ESB_IMAGES_DIR` overrides generator.yml).
    pub images_dir: PathBuf,
}

/// In the output dir of a project without generator.yml: the name esb chose for it.
pub const NAME_FILE: &str = "project-name";

impl Workspace {
    /// Opens the project of `template`, applying `overrides` on top of generator.yml parameters.
    pub fn open(template: &Path, overrides: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let generator_path = generator::path_for(template);
        let loaded = Generator::load(&generator_path)?;
        let g = loaded.clone().unwrap_or_else(|| Generator::defaults_for(template));
        let mut settings = g.settings();
        settings.parameters.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        let base = generator_path.parent().unwrap_or(Path::new("."));
        Ok(Workspace {
            template: template.to_path_buf(),
            output_dir: base.join(&g.paths.output_dir),
            images_dir: std::env::var_os("ESB_IMAGES_DIR")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| base.join(&g.paths.images_dir)),
            generator_path,
            generator: loaded,
            settings,
        })
    }

    /// Compiles the template to run it: a parameter without a value is an error (one per
    /// parameter, with the ways to give it), never a silent stand-in.
    pub fn compile(&self) -> Result<Project, ConfigError> {
        let project = self.plan()?;
        if project.missing_parameters.is_empty() {
            return Ok(project);
        }
        let diagnostics = project
            .missing_parameters
            .iter()
            .map(|m| Diagnostic {
                file: self.template.clone(),
                line: Some(m.line),
                // A nested template's (`App.Name`) is passed by the nesting resource.
                path: match m.name.split_once('.') {
                    Some((app, name)) => format!("Resources.{app}.Properties.Parameters.{name}"),
                    None => format!("Parameters.{}", m.name),
                },
                message: format!("parameter `{}` has no Default and no value was given", m.name),
                hint: Some(format!(
                    "pass --parameter {}=VALUE, set it under `parameters:` in {}, or run `esb init` to be asked (`esb build --dry-run` shows the plan with a stand-in)",
                    m.name,
                    self.generator_path.display()
                )),
            })
            .collect();
        Err(ConfigError::Invalid(Diagnostics(diagnostics)))
    }

    /// Compiles the template to show what would run: parameters without a value get stand-ins,
    /// listed in [`Project::missing_parameters`].
    pub fn plan(&self) -> Result<Project, ConfigError> {
        compile::compile_file(&self.template, &self.settings)
    }

    /// The project's directory (where generator.yml is or would be), absolute when it exists.
    pub fn project_dir(&self) -> PathBuf {
        let dir = self.generator_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    /// Whether the name is the user's (`app.name`) or already recorded, rather than derived from
    /// the directory's name (which another directory's project may have too).
    pub fn name_is_settled(&self) -> bool {
        self.generator.is_some() || recorded_name(&self.output_dir).is_some()
    }

    /// The name this project takes when its directory's name is held by another directory's
    /// project: the directory's name and 6 hex digits of its path's SHA-256, stable per directory.
    pub fn alternate_name(&self) -> String {
        use sha2::Digest;
        let dir = self.project_dir();
        let digest = hex::encode(sha2::Sha256::digest(dir.to_string_lossy().as_bytes()));
        let stem = dir.file_name().map(|n| generator::sanitize_name(&n.to_string_lossy())).unwrap_or_else(|| "esb".into());
        format!("{stem}-{}", &digest[..6])
    }

    /// Takes `name` as this project's name from now on, recorded in `<output>/project-name`
    /// (written whole: temp file, rename).
    pub fn record_name(&mut self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.output_dir)?;
        let tmp = self.output_dir.join(format!(".{NAME_FILE}.tmp"));
        std::fs::write(&tmp, format!("{name}\n"))?;
        std::fs::rename(&tmp, self.output_dir.join(NAME_FILE))?;
        self.settings.project = name.to_string();
        Ok(())
    }
}

/// The name recorded in `output_dir`, if it is one esb could have written.
pub(crate) fn recorded_name(output_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(output_dir.join(NAME_FILE)).ok()?;
    let name = text.trim();
    (!name.is_empty() && generator::sanitize_name(name) == name).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_without_a_value_is_one_error_for_a_run_and_a_stand_in_for_a_plan() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("src")).unwrap();
        let template = root.path().join("template.yaml");
        let text = "Parameters:\n  Bucket: {Type: String}\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: app.h\n      Runtime: python3.11\n      Environment: {Variables: {B: !Ref Bucket, C: !Sub '${Bucket}-x'}}\n";
        std::fs::write(&template, text).unwrap();
        let ws = Workspace::open(&template, &BTreeMap::new()).unwrap();
        let plan = ws.plan().unwrap();
        assert_eq!(plan.missing_parameters.iter().map(|m| (m.name.as_str(), m.line)).collect::<Vec<_>>(), [("Bucket", 2)]);
        let err = ws.compile().unwrap_err();
        let d = err.diagnostics();
        assert_eq!(d.len(), 1, "one error, none for the Refs to it: {d:?}");
        assert!(
            d[0].message.contains("`Bucket` has no Default") && d[0].hint.as_deref().unwrap_or_default().contains("--parameter Bucket="),
            "{d:?}"
        );
        let given = Workspace::open(&template, &[("Bucket".to_string(), "b1".to_string())].into_iter().collect()).unwrap();
        assert!(given.compile().unwrap().missing_parameters.is_empty());
    }

    #[test]
    fn a_project_without_generator_yml_keeps_the_name_recorded_for_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("one/app"), root.path().join("two/app"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("template.yaml"), "Resources: {}\n").unwrap();
        }
        let open = |d: &Path| Workspace::open(&d.join("template.yaml"), &BTreeMap::new()).unwrap();
        let (wa, mut wb) = (open(&a), open(&b));
        assert_eq!((wa.settings.project.as_str(), wb.settings.project.as_str()), ("app", "app"), "named after the directory");
        assert!(!wb.name_is_settled());
        let alternate = wb.alternate_name();
        assert!(alternate.starts_with("app-") && alternate.len() == 10, "{alternate}");
        assert_ne!(alternate, wa.alternate_name(), "another directory, another name");
        wb.record_name(&alternate).unwrap();
        let again = open(&b);
        assert_eq!(again.settings.project, alternate, "the recorded name is kept");
        assert!(again.name_is_settled());
        assert_eq!(open(&a).settings.project, "app", "the other directory is untouched");
        // A file esb could not have written is ignored.
        std::fs::write(b.join(".esb").join(NAME_FILE), "Bad Name!\n").unwrap();
        assert_eq!(open(&b).settings.project, "app");
    }
}
