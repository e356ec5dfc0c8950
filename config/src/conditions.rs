//! The template's `Conditions` section.
//!
//! Owns: evaluating every condition once (memoised), `Fn::Equals`/`Fn::Not`/`Fn::And`/`Fn::Or`/
//! `Condition` in both forms, and reporting cycles with the whole cycle named. Must not: evaluate
//! property values (that is `intrinsics`); it calls back into [`Context`] only for Equals operands.

use crate::error::Sink;
use crate::intrinsics::{as_call, describe, join_path, Context, Failed};
use crate::yaml::{Node, Value};
use std::collections::BTreeMap;

/// Evaluates the template's `Conditions` section. Every condition is evaluated (so all errors are
/// reported); cycles are errors naming the cycle.
pub fn evaluate_conditions(ctx: &Context, conditions: Option<&Node>, sink: &mut Sink) -> BTreeMap<String, bool> {
    let mut eval = CondEval { ctx, raw: conditions.and_then(Node::as_map).unwrap_or_default(), done: BTreeMap::new(), stack: vec![] };
    let names: Vec<String> = eval.raw.iter().map(|(k, _)| k.clone()).collect();
    for name in names {
        let _ = eval.named(&name, None, sink);
    }
    eval.done.into_iter().filter_map(|(k, v)| v.ok().map(|v| (k, v))).collect()
}

struct CondEval<'a> {
    ctx: &'a Context,
    raw: &'a [(String, Node)],
    done: BTreeMap<String, Result<bool, Failed>>,
    stack: Vec<String>,
}

impl CondEval<'_> {
    fn named(&mut self, name: &str, line: Option<usize>, sink: &mut Sink) -> Result<bool, Failed> {
        if let Some(r) = self.done.get(name) {
            return *r;
        }
        let path = format!("Conditions.{name}");
        if let Some(pos) = self.stack.iter().position(|n| n == name) {
            let cycle = self.stack[pos..].iter().chain(std::iter::once(&name.to_string())).cloned().collect::<Vec<_>>().join(" -> ");
            sink.error(
                line,
                &path,
                format!("circular Conditions: {cycle}"),
                Some("a condition may not depend on itself, directly or through others"),
            );
            return Err(Failed);
        }
        let Some((_, node)) = self.raw.iter().find(|(k, _)| k == name) else {
            sink.error(line, &path, format!("condition `{name}` is not defined"), Some("declare it under Conditions"));
            return Err(Failed);
        };
        self.stack.push(name.to_string());
        let result = self.eval(node, &path, sink);
        self.stack.pop();
        self.done.insert(name.to_string(), result);
        result
    }

    fn eval(&mut self, node: &Node, path: &str, sink: &mut Sink) -> Result<bool, Failed> {
        // `{Condition: Name}` is a call only here; elsewhere a `Condition` key is ordinary data.
        let call = match node.as_map() {
            Some([(k, v)]) if k == "Condition" && node.tag.is_none() => Some((k.clone(), v.clone())),
            _ => as_call(node),
        };
        let Some((func, arg)) = call else {
            return match &node.value {
                Value::Bool(b) => Ok(*b),
                _ => {
                    sink.error(
                        Some(node.line),
                        path,
                        format!("a condition must be Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition, found {}", node.kind()),
                        None,
                    );
                    Err(Failed)
                }
            };
        };
        let fpath = join_path(path, &func);
        match func.as_str() {
            "Condition" => {
                let name = self.ctx.string_arg(&arg, &fpath, sink)?;
                self.named(&name, Some(node.line), sink)
            }
            "Fn::Equals" => {
                let [a, b] = self.ctx.args::<2>(&arg, &func, &fpath, sink)?;
                let a = self.ctx.resolve(&a, &format!("{fpath}[0]"), sink)?.map(|n| canonical(&n));
                let b = self.ctx.resolve(&b, &format!("{fpath}[1]"), sink)?.map(|n| canonical(&n));
                Ok(a == b)
            }
            "Fn::Not" => {
                let [a] = self.ctx.args::<1>(&arg, &func, &fpath, sink)?;
                Ok(!self.eval(&a, &format!("{fpath}[0]"), sink)?)
            }
            "Fn::And" | "Fn::Or" => {
                let items = arg.as_seq().unwrap_or_default();
                if !(2..=10).contains(&items.len()) {
                    sink.error(Some(node.line), &fpath, format!("{func} takes 2 to 10 conditions, found {}", describe(&arg)), None);
                    return Err(Failed);
                }
                let mut results = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    results.push(self.eval(item, &format!("{fpath}[{i}]"), sink));
                }
                let results: Vec<bool> = results.into_iter().collect::<Result<_, _>>()?;
                Ok(if func == "Fn::And" { results.iter().all(|b| *b) } else { results.iter().any(|b| *b) })
            }
            _ => {
                // Any other intrinsic: not a condition function.
                sink.error(
                    Some(node.line),
                    &fpath,
                    format!("`{func}` is not a condition function"),
                    Some("use Fn::Equals, Fn::Not, Fn::And, Fn::Or or Condition"),
                );
                Err(Failed)
            }
        }
    }
}

/// Compares scalars by text, so `!Equals [!Ref Count, 3]` works when Count is "3".
fn canonical(node: &Node) -> String {
    match &node.value {
        Value::Seq(items) => items.iter().map(canonical).collect::<Vec<_>>().join(","),
        _ => node.as_scalar_str().unwrap_or_default(),
    }
}
