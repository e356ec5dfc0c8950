//! A workspace: the template, its generator.yml and the settings they give.
//!
//! Owns: combining generator.yml (when present) with defaults and command-line parameter overrides
//! into [`Settings`], and the output dir. Command-line overrides win over generator.yml.
//! Must not: prompt (the CLI does) or compile.

use crate::compile::{self, Project, Settings};
use crate::error::ConfigError;
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

    /// Compiles the template.
    pub fn compile(&self) -> Result<Project, ConfigError> {
        compile::compile_file(&self.template, &self.settings)
    }
}
