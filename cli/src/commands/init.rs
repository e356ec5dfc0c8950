//! `esb init`: writes generator.yml beside the template.
//!
//! Interactive on a terminal (each template Parameter with its default, then project name, image tag
//! and output dir), non-interactive with `--yes`, flags, or when stdin is not a terminal. Parameter
//! values are checked against the template's constraints before anything is written.

use super::{find_template, show};
use crate::cli::{Global, InitArgs};
use crate::output::Output;
use anyhow::Context as _;
use dialoguer::{theme::ColorfulTheme, Input, Select};
use esb_config::compile::{declared_parameters, ParamInfo};
use esb_config::generator::{self, sanitize_name, Generator};
use esb_config::ConfigError;
use serde_json::json;
use std::io::IsTerminal;

pub fn run(global: &Global, args: InitArgs, out: &Output) -> anyhow::Result<()> {
    let template = find_template(global)?;
    let path = generator::path_for(&template);
    if path.exists() && !args.force {
        return Err(ConfigError::Exists(path).into());
    }
    let text = std::fs::read_to_string(&template).with_context(|| format!("reading {}", template.display()))?;
    let declared = declared_parameters(&text)
        .map_err(|e| anyhow::anyhow!("{}:{}: YAML syntax: {}", template.display(), e.line.unwrap_or(0), e.message))?;

    let mut g = Generator::defaults_for(&template);
    if let Some(name) = &args.name {
        g.app.name = name.clone();
    }
    if let Some(tag) = &args.tag {
        g.app.tag = tag.clone();
    }
    if let Some(dir) = &args.output_dir {
        g.paths.output_dir = dir.clone();
    }
    g.parameters.extend(args.parameters.iter().cloned());

    let interactive = !args.yes && !out.json() && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive {
        ask(&mut g, &declared, &args)?;
    }
    if g.app.name != sanitize_name(&g.app.name) {
        anyhow::bail!(
            "project name `{}` is not usable in container names\n  hint: use lower-case letters, digits and `-`, e.g. `{}`",
            g.app.name,
            sanitize_name(&g.app.name)
        );
    }
    // Check the chosen values against the template before writing anything.
    let mut template_problems = 0;
    if let Err(e) = esb_config::compile_file(&template, &g.settings()) {
        let param_errors: Vec<_> = e.diagnostics().iter().filter(|d| d.path.starts_with("Parameters.")).cloned().collect();
        if !param_errors.is_empty() {
            return Err(ConfigError::Invalid(esb_config::error::Diagnostics(param_errors)).into());
        }
        template_problems = e.diagnostics().len();
    }
    let to_fill: Vec<ParamInfo> = declared.iter().filter(|p| p.default.is_none() && !g.parameters.contains_key(&p.name)).cloned().collect();
    g.write_listing(&path, args.force, &to_fill)?;
    if out.json() {
        out.emit(&json!({"generator": path, "app": {"name": g.app.name, "tag": g.app.tag, "region": g.app.region}, "output_dir": g.paths.output_dir, "parameters": g.parameters, "parameters_to_fill": to_fill.iter().map(|p| &p.name).collect::<Vec<_>>(), "template_errors": template_problems}));
    } else {
        out.say(format!("Wrote {} (project {}, tag {}, output {})", show(&path), g.app.name, g.app.tag, g.paths.output_dir));
        if !to_fill.is_empty() {
            let names: Vec<&str> = to_fill.iter().map(|p| p.name.as_str()).collect();
            out.say(format!("Give these parameters a value in {} (listed there) before `esb build`: {}", show(&path), names.join(", ")));
        }
        if template_problems > 0 {
            out.say(format!("The template has {template_problems} problem(s); `esb build` lists them."));
        } else {
            out.say("Next: esb build");
        }
    }
    Ok(())
}

fn ask(g: &mut Generator, declared: &[ParamInfo], args: &InitArgs) -> anyhow::Result<()> {
    let theme = ColorfulTheme::default();
    for p in declared {
        if g.parameters.contains_key(&p.name) {
            continue;
        }
        let prompt = match &p.description {
            Some(d) => format!("{} ({d})", p.name),
            None => p.name.clone(),
        };
        let value = if p.allowed.is_empty() {
            let mut input = Input::<String>::with_theme(&theme).with_prompt(prompt).allow_empty(true);
            if let Some(d) = &p.default {
                input = input.default(d.clone());
            }
            input.interact_text()?
        } else {
            let default = p.default.as_ref().and_then(|d| p.allowed.iter().position(|a| a == d)).unwrap_or(0);
            let i = Select::with_theme(&theme).with_prompt(prompt).items(&p.allowed).default(default).interact()?;
            p.allowed[i].clone()
        };
        if p.default.as_ref() != Some(&value) {
            g.parameters.insert(p.name.clone(), value);
        }
    }
    if args.name.is_none() {
        g.app.name = Input::with_theme(&theme).with_prompt("Project name").default(g.app.name.clone()).interact_text()?;
    }
    if args.tag.is_none() {
        g.app.tag = Input::with_theme(&theme).with_prompt("Image tag").default(g.app.tag.clone()).interact_text()?;
    }
    if args.output_dir.is_none() {
        g.paths.output_dir =
            Input::with_theme(&theme).with_prompt("Output directory").default(g.paths.output_dir.clone()).interact_text()?;
    }
    Ok(())
}
