//! CloudFormation intrinsic functions and Conditions.
//!
//! Owns: evaluating `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::If`,
//! `Fn::FindInMap`, `Fn::GetAZs` and the condition functions (`Fn::Equals`, `Fn::Not`, `Fn::And`,
//! `Fn::Or`, `Condition`, evaluated in `conditions`), in both the short `!Tag` and the long `Fn::` form, against a [`Context`]
//! of parameter values, pseudo parameters, condition results and local resources.
//! Must not: know SAM resource semantics beyond names and ARNs of local resources, or do I/O.

use crate::error::Sink;
use crate::model::RUN_TYPES;
use crate::yaml::{Node, Value};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::conditions::evaluate_conditions;

/// Intrinsics esb evaluates, by their `Fn::` name (or `Ref`).
pub const SUPPORTED: &[&str] = &[
    "Ref",
    "Fn::Sub",
    "Fn::GetAtt",
    "Fn::Join",
    "Fn::Select",
    "Fn::Split",
    "Fn::If",
    "Fn::FindInMap",
    "Fn::GetAZs",
    "Fn::Base64",
    "Fn::Cidr",
    "Fn::ToJsonString",
    "Fn::Length",
    "Fn::Equals",
    "Fn::Not",
    "Fn::And",
    "Fn::Or",
    "Condition",
];

/// The value of a template parameter after defaults and overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// A `String` or `Number` parameter.
    Scalar(String),
    /// A `CommaDelimitedList` or `List<...>` parameter.
    List(Vec<String>),
}

impl ParamValue {
    /// The value as a template would write it (a list comma-joined).
    pub fn text(&self) -> String {
        match self {
            ParamValue::Scalar(s) => s.clone(),
            ParamValue::List(l) => l.join(","),
        }
    }
}

/// What a local resource contributes to intrinsics: its type and physical name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// The CloudFormation type, e.g. `AWS::DynamoDB::Table`.
    pub kind: String,
    /// The name `Ref` returns for it locally.
    pub physical: String,
}

/// Everything an intrinsic may look at.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Resolved parameter values.
    pub params: BTreeMap<String, ParamValue>,
    /// `AWS::Region`.
    pub region: String,
    /// `AWS::AccountId`.
    pub account: String,
    /// `AWS::StackName`.
    pub stack: String,
    /// Condition name -> result.
    pub conditions: BTreeMap<String, bool>,
    /// Local resources by logical id.
    pub resources: BTreeMap<String, ResourceRef>,
    /// Logical ids whose Condition is false: a Ref to them gets a precise error.
    pub excluded: BTreeSet<String>,
    /// The template's `Mappings` section.
    pub mappings: Option<Node>,
    /// Parameters that got a stand-in value (no Default, none given).
    pub stand_ins: BTreeSet<String>,
}

/// Evaluation failed; the reason is already in the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

/// `Ok(None)` is `AWS::NoValue`: the property is left out.
pub type Resolved = Result<Option<Node>, Failed>;

/// Recognises an intrinsic call: `!Tag arg` or a one-key mapping `{Ref: ..}` / `{Fn::X: ..}`.
/// Returns the `Fn::` name and the argument.
pub fn as_call(node: &Node) -> Option<(String, Node)> {
    if let Some(tag) = &node.tag {
        let name = if tag == "Ref" || tag == "Condition" { tag.clone() } else { format!("Fn::{tag}") };
        let mut arg = node.clone();
        arg.tag = None;
        return Some((name, arg));
    }
    match node.as_map() {
        Some([(k, v)]) if k == "Ref" || k.starts_with("Fn::") => Some((k.clone(), v.clone())),
        _ => None,
    }
}

fn scalar(s: impl Into<String>, line: usize) -> Node {
    Node::new(Value::String(s.into()), line)
}

fn list(items: Vec<String>, line: usize) -> Node {
    Node::new(Value::Seq(items.into_iter().map(|s| scalar(s, line)).collect()), line)
}

impl Context {
    /// Resolves every intrinsic inside `node`. Errors go to `sink` with `path`.
    pub fn resolve(&self, node: &Node, path: &str, sink: &mut Sink) -> Resolved {
        if let Some((name, arg)) = as_call(node) {
            return self.call(&name, &arg, node.line, path, sink);
        }
        match &node.value {
            Value::Seq(items) => {
                let children = items.iter().enumerate().map(|(i, n)| ((), format!("{path}[{i}]"), n));
                let out = self.resolve_children(children, sink)?;
                Ok(Some(Node::new(Value::Seq(out.into_iter().map(|(_, n)| n).collect()), node.line)))
            }
            Value::Map(entries) => {
                let children = entries.iter().map(|(k, v)| (k.clone(), join_path(path, k), v));
                Ok(Some(Node::new(Value::Map(self.resolve_children(children, sink)?), node.line)))
            }
            _ => Ok(Some(Node::new(node.value.clone(), node.line))),
        }
    }

    /// Resolves every child (so every error is reported), dropping `AWS::NoValue` ones; fails if any failed.
    fn resolve_children<'n, K>(
        &self,
        children: impl Iterator<Item = (K, String, &'n Node)>,
        sink: &mut Sink,
    ) -> Result<Vec<(K, Node)>, Failed> {
        let mut out = vec![];
        let mut failed = false;
        for (key, path, child) in children {
            match self.resolve(child, &path, sink) {
                Ok(Some(v)) => out.push((key, v)),
                Ok(None) => {}
                Err(Failed) => failed = true,
            }
        }
        if failed {
            Err(Failed)
        } else {
            Ok(out)
        }
    }

    /// Resolves `node` and requires a scalar; returns it as a string.
    pub fn resolve_string(&self, node: &Node, path: &str, sink: &mut Sink) -> Result<Option<String>, Failed> {
        match self.resolve(node, path, sink)? {
            None => Ok(None),
            Some(n) => match n.as_scalar_str() {
                Some(s) => Ok(Some(s)),
                None => {
                    sink.error(Some(node.line), path, format!("expected a string, found {}", n.kind()), None);
                    Err(Failed)
                }
            },
        }
    }

    fn call(&self, name: &str, arg: &Node, line: usize, path: &str, sink: &mut Sink) -> Resolved {
        let fpath = join_path(path, name);
        match name {
            "Ref" if arg.as_str() == Some("AWS::NoValue") => Ok(None),
            "Ref" => self.reference(arg, line, &fpath, sink).map(Some),
            "Fn::Sub" => self.sub(arg, line, &fpath, sink).map(|s| Some(scalar(s, line))),
            "Fn::GetAtt" => self.get_att(arg, line, &fpath, sink).map(|s| Some(scalar(s, line))),
            "Fn::Join" => {
                let [delim, items] = self.args::<2>(arg, name, &fpath, sink)?;
                let delim = self.string_arg(&delim, &format!("{fpath}[0]"), sink)?;
                let items = self.list_arg(&items, &format!("{fpath}[1]"), sink)?;
                Ok(Some(scalar(items.join(&delim), line)))
            }
            "Fn::Select" => {
                let [index, items] = self.args::<2>(arg, name, &fpath, sink)?;
                let index = self.string_arg(&index, &format!("{fpath}[0]"), sink)?;
                let items = self.list_arg(&items, &format!("{fpath}[1]"), sink)?;
                match index.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(v) => Ok(Some(scalar(v.clone(), line))),
                    None if !self.stand_ins.is_empty() => {
                        // The list may be cut from a stand-in (a parameter nobody gave a value).
                        let msg = format!(
                            "Fn::Select index `{index}` is out of range for a list of {} (made from stand-ins for {}?)",
                            items.len(),
                            self.stand_ins.iter().cloned().collect::<Vec<_>>().join(", ")
                        );
                        sink.unknowable(Some(line), &fpath, msg, Some("give those parameters real values"));
                        Err(Failed)
                    }
                    None => {
                        let msg = format!("Fn::Select index `{index}` is out of range for a list of {}", items.len());
                        sink.error(Some(line), &fpath, msg, None);
                        Err(Failed)
                    }
                }
            }
            "Fn::Split" => {
                let [delim, source] = self.args::<2>(arg, name, &fpath, sink)?;
                let delim = self.string_arg(&delim, &format!("{fpath}[0]"), sink)?;
                let source = self.string_arg(&source, &format!("{fpath}[1]"), sink)?;
                if delim.is_empty() {
                    sink.error(Some(line), &fpath, "Fn::Split needs a non-empty delimiter", None);
                    return Err(Failed);
                }
                Ok(Some(list(source.split(delim.as_str()).map(str::to_string).collect(), line)))
            }
            "Fn::If" => {
                let [cond, then, otherwise] = self.args::<3>(arg, name, &fpath, sink)?;
                let cond_name = self.string_arg(&cond, &format!("{fpath}[0]"), sink)?;
                match self.conditions.get(&cond_name) {
                    Some(true) => self.resolve(&then, &format!("{fpath}[1]"), sink),
                    Some(false) => self.resolve(&otherwise, &format!("{fpath}[2]"), sink),
                    None => {
                        sink.error(
                            Some(line),
                            &fpath,
                            format!("Fn::If names condition `{cond_name}`, which is not defined"),
                            Some("declare it under the template's Conditions section"),
                        );
                        Err(Failed)
                    }
                }
            }
            "Fn::FindInMap" => {
                let [map, top, second] = self.args::<3>(arg, name, &fpath, sink)?;
                let keys = [
                    self.string_arg(&map, &format!("{fpath}[0]"), sink)?,
                    self.string_arg(&top, &format!("{fpath}[1]"), sink)?,
                    self.string_arg(&second, &format!("{fpath}[2]"), sink)?,
                ];
                let found = keys.iter().try_fold(self.mappings.as_ref(), |node, k| Some(node?.get(k)));
                match found.flatten() {
                    Some(v) => self.resolve(v, &fpath, sink),
                    None => {
                        sink.error(Some(line), &fpath, format!("Fn::FindInMap: no entry Mappings.{}", keys.join(".")), None);
                        Err(Failed)
                    }
                }
            }
            "Fn::Base64" => {
                let text = self.string_arg(arg, &fpath, sink)?;
                use base64::Engine as _;
                Ok(Some(scalar(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()), line)))
            }
            "Fn::ToJsonString" => {
                let value = self.resolve(arg, &fpath, sink)?.unwrap_or_else(|| Node::new(Value::Null, line));
                Ok(Some(scalar(extensions::to_json_string(&value), line)))
            }
            "Fn::Length" => match self.resolve(arg, &fpath, sink)?.map(|v| v.value) {
                Some(Value::Seq(items)) => Ok(Some(Node::new(Value::Number(items.len().to_string()), line))),
                other => {
                    let found = other.map_or("nothing".to_string(), |v| Node::new(v, line).kind().to_string());
                    sink.error(Some(line), &fpath, format!("Fn::Length takes a list, found {found}"), None);
                    Err(Failed)
                }
            },
            "Fn::Cidr" => {
                let [block, count, bits] = self.args::<3>(arg, name, &fpath, sink)?;
                let block = self.string_arg(&block, &format!("{fpath}[0]"), sink)?;
                let count = self.string_arg(&count, &format!("{fpath}[1]"), sink)?;
                let bits = self.string_arg(&bits, &format!("{fpath}[2]"), sink)?;
                match extensions::cidr(&block, &count, &bits) {
                    Ok(blocks) => Ok(Some(list(blocks, line))),
                    Err(why) => {
                        sink.error(Some(line), &fpath, format!("Fn::Cidr: {why}"), None);
                        Err(Failed)
                    }
                }
            }
            "Fn::GetAZs" => Ok(Some(list(["a", "b", "c"].iter().map(|z| format!("{}{z}", self.region)).collect(), line))),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                sink.error(
                    Some(line),
                    &fpath,
                    format!("{name} is only allowed inside the Conditions section"),
                    Some("define a condition and use Fn::If with it"),
                );
                Err(Failed)
            }
            "Fn::ImportValue" => {
                let export = self.string_arg(arg, &fpath, sink)?;
                sink.unknowable(
                    Some(line),
                    &fpath,
                    format!("`!ImportValue {export}` reads another stack's export, which does not exist locally"),
                    Some("give the value as a template Parameter (generator.yml `parameters:` or --parameter) where esb needs it"),
                );
                Err(Failed)
            }
            other => {
                sink.error(
                    Some(line),
                    &fpath,
                    format!("unknown intrinsic function `{other}`"),
                    Some(&format!("esb supports {}", SUPPORTED.join(", "))),
                );
                Err(Failed)
            }
        }
    }

    fn reference(&self, arg: &Node, line: usize, path: &str, sink: &mut Sink) -> Result<Node, Failed> {
        let name = self.string_arg(arg, path, sink)?;
        if let Some(v) = self.lookup(&name) {
            return Ok(match v {
                ParamValue::Scalar(s) => scalar(s, line),
                ParamValue::List(l) => list(l, line),
            });
        }
        sink.error(
            Some(line),
            path,
            self.unknown_ref_message(&name),
            Some("Ref takes a Parameter, a pseudo parameter (AWS::Region, ...) or a resource's logical id; names are case-sensitive"),
        );
        Err(Failed)
    }

    fn unknown_ref_message(&self, name: &str) -> String {
        if self.excluded.contains(name) {
            format!("Ref to `{name}`, a resource whose Condition is false, so it does not exist")
        } else {
            format!("Ref to `{name}`, which is neither a parameter nor a resource")
        }
    }

    /// A name usable in `Ref` and `${}`: parameters, pseudo parameters, resources.
    fn lookup(&self, name: &str) -> Option<ParamValue> {
        if let Some(v) = self.params.get(name) {
            return Some(v.clone());
        }
        let pseudo = match name {
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::StackName" => self.stack.clone(),
            "AWS::StackId" => format!("arn:aws:cloudformation:{}:{}:stack/{}/local", self.region, self.account, self.stack),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NotificationARNs" => return Some(ParamValue::List(vec![])),
            _ => return self.resources.get(name).map(|r| ParamValue::Scalar(ref_value(&r.kind, &r.physical, &self.region, &self.account))),
        };
        Some(ParamValue::Scalar(pseudo))
    }

    fn get_att(&self, arg: &Node, line: usize, path: &str, sink: &mut Sink) -> Result<String, Failed> {
        let (logical, attr) = match &arg.value {
            Value::String(s) => match s.split_once('.') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => {
                    sink.error(Some(line), path, format!("Fn::GetAtt `{s}` needs the form Resource.Attribute"), None);
                    return Err(Failed);
                }
            },
            _ => {
                let [res, attr] = self.args::<2>(arg, "Fn::GetAtt", path, sink)?;
                (self.string_arg(&res, &format!("{path}[0]"), sink)?, self.string_arg(&attr, &format!("{path}[1]"), sink)?)
            }
        };
        match self.attribute(&logical, &attr) {
            Some(v) => Ok(v),
            None => {
                self.no_attribute(&logical, &attr, line, path, sink);
                Err(Failed)
            }
        }
    }

    /// Reports `Resource.Attribute` that has no local value: unknowable when esb does not run the
    /// resource (a placeholder where esb only passes the value on), an error when the resource is
    /// missing or esb runs it and has no such attribute (a typo).
    fn no_attribute(&self, logical: &str, attr: &str, line: usize, path: &str, sink: &mut Sink) {
        let call = format!("!GetAtt {logical}.{attr}");
        match self.resources.get(logical) {
            Some(r) if attr.starts_with("Outputs.") && (r.kind == "AWS::Serverless::Application" || r.kind == "AWS::CloudFormation::Stack") => sink.unknowable(
                Some(line),
                path,
                format!("`{call}`: nested stack {logical} has no local value for this output (its template is not a local file, or the output depends on resources esb does not run)"),
                Some("give the value as a template Parameter (generator.yml `parameters:` or --parameter) where esb needs it"),
            ),
            Some(r) if !self.runs(&r.kind) => sink.unknowable(
                Some(line),
                path,
                format!("`{call}`: {} is not run by esb, so its attributes have no local value", r.kind),
                Some("give the value as a template Parameter (generator.yml `parameters:` or --parameter) where esb needs it"),
            ),
            Some(r) => sink.error(
                Some(line),
                path,
                format!("`{call}`: {} has no attribute `{attr}`", r.kind),
                Some("esb knows Arn, Name, StreamArn (tables), DomainName, RegionalDomainName, WebsiteURL (buckets), ApiEndpoint (APIs)"),
            ),
            None => sink.error(Some(line), path, self.unknown_ref_message(logical).replacen("Ref to", "Fn::GetAtt on", 1), None),
        }
    }

    /// Whether esb runs resources of `kind` (their attributes are local values).
    fn runs(&self, kind: &str) -> bool {
        RUN_TYPES.contains(&kind)
    }

    /// The value of `Resource.Attribute` for a local resource.
    pub fn attribute(&self, logical: &str, attr: &str) -> Option<String> {
        // `${Fn.Alias}`, `${Api.Stage}`: SAM's generated names are written like attributes.
        if let Some(generated) = self.resources.get(&format!("{logical}.{attr}")) {
            return Some(generated.physical.clone());
        }
        let r = self.resources.get(logical)?;
        let (region, account, name) = (&self.region, &self.account, &r.physical);
        let arn = match r.kind.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => format!("arn:aws:dynamodb:{region}:{account}:table/{name}"),
            "AWS::S3::Bucket" => format!("arn:aws:s3:::{name}"),
            "AWS::IAM::Role" => format!("arn:aws:iam::{account}:role/{name}"),
            other => {
                let service = other.split("::").nth(1).unwrap_or("local").to_lowercase();
                format!("arn:aws:{service}:{region}:{account}:{name}")
            }
        };
        match attr {
            "Arn" => Some(arn),
            "Name" => Some(name.clone()),
            "StreamArn" if r.kind.contains("Table") => Some(format!("{arn}/stream/local")),
            "DomainName" if r.kind == "AWS::S3::Bucket" => Some(format!("{name}.s3.amazonaws.com")),
            "RegionalDomainName" if r.kind == "AWS::S3::Bucket" => Some(format!("{name}.s3.{region}.amazonaws.com")),
            "RootResourceId" => Some("root".into()),
            // A function URL's shape, so `!Select [2, !Split ["/", ...]]` finds its host.
            "FunctionUrl" if r.kind == "AWS::Lambda::Url" => {
                let host: String = name.rsplit(':').next().unwrap_or(name).chars().filter(char::is_ascii_alphanumeric).collect();
                Some(format!("https://{}.lambda-url.{region}.on.aws/", host.to_ascii_lowercase()))
            }
            "WebsiteURL" if r.kind == "AWS::S3::Bucket" => Some(format!("http://{name}.s3-website-{region}.amazonaws.com")),
            "DualStackDomainName" if r.kind == "AWS::S3::Bucket" => Some(format!("{name}.s3.dualstack.{region}.amazonaws.com")),
            "ApiEndpoint" if r.kind.ends_with("Api") => Some(format!("https://{name}.execute-api.{region}.amazonaws.com")),
            "ApiId" | "RestApiId" if r.kind.ends_with("Api") => Some(name.clone()),
            _ => None,
        }
    }

    fn sub(&self, arg: &Node, line: usize, path: &str, sink: &mut Sink) -> Result<String, Failed> {
        let (text, vars) = match &arg.value {
            Value::String(s) => (s.clone(), BTreeMap::new()),
            _ => {
                let [text, vars] = self.args::<2>(arg, "Fn::Sub", path, sink)?;
                let text = self.string_arg(&text, &format!("{path}[0]"), sink)?;
                let mut resolved = BTreeMap::new();
                for (k, v) in vars.as_map().unwrap_or_default() {
                    let vpath = format!("{path}[1].{k}");
                    if let Some(s) = self.resolve_string(v, &vpath, sink)? {
                        resolved.insert(k.clone(), s);
                    }
                }
                (text, resolved)
            }
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                sink.error(Some(line), path, format!("Fn::Sub: unclosed `${{` in `{text}`"), None);
                return Err(Failed);
            };
            let var = after[..end].trim();
            if let Some(literal) = var.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(var) {
                out.push_str(v);
            } else if let Some(v) = self.lookup(var) {
                match v {
                    ParamValue::Scalar(s) => out.push_str(&s),
                    ParamValue::List(_) => {
                        sink.error(
                            Some(line),
                            path,
                            format!("Fn::Sub: `${{{var}}}` is a list parameter"),
                            Some("use Fn::Join to turn a list into a string"),
                        );
                        return Err(Failed);
                    }
                }
            } else if let Some((res, attr)) = var.split_once('.') {
                match self.attribute(res, attr) {
                    Some(v) => out.push_str(&v),
                    None if self.resources.contains_key(res) || self.excluded.contains(res) => {
                        self.no_attribute(res, attr, line, path, sink);
                        return Err(Failed);
                    }
                    None => {
                        sink.error(Some(line), path, format!("Fn::Sub: `${{{var}}}` names no parameter, resource or attribute"), None);
                        return Err(Failed);
                    }
                }
            } else {
                let what = if self.excluded.contains(var) {
                    "a resource whose Condition is false"
                } else {
                    "no parameter, pseudo parameter or resource"
                };
                sink.error(
                    Some(line),
                    path,
                    format!("Fn::Sub: `${{{var}}}` names {what}"),
                    Some("names are case-sensitive; write `${!Literal}` for a literal `${Literal}`"),
                );
                return Err(Failed);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Splits an intrinsic's argument list into exactly N items.
    pub(crate) fn args<const N: usize>(&self, arg: &Node, name: &str, path: &str, sink: &mut Sink) -> Result<[Node; N], Failed> {
        match arg.as_seq() {
            Some(items) if items.len() == N => Ok(std::array::from_fn(|i| items[i].clone())),
            _ => {
                sink.error(Some(arg.line), path, format!("{name} takes a list of {N} arguments, found {}", describe(arg)), None);
                Err(Failed)
            }
        }
    }

    pub(crate) fn string_arg(&self, node: &Node, path: &str, sink: &mut Sink) -> Result<String, Failed> {
        match self.resolve_string(node, path, sink)? {
            Some(s) => Ok(s),
            None => {
                sink.error(Some(node.line), path, "expected a value, found AWS::NoValue", None);
                Err(Failed)
            }
        }
    }

    fn list_arg(&self, node: &Node, path: &str, sink: &mut Sink) -> Result<Vec<String>, Failed> {
        let resolved = self.resolve(node, path, sink)?.unwrap_or(Node::new(Value::Seq(vec![]), node.line));
        match &resolved.value {
            Value::Seq(items) => items
                .iter()
                .map(|i| {
                    i.as_scalar_str().ok_or_else(|| {
                        sink.error(Some(i.line), path, format!("expected a list of strings, found {} in it", i.kind()), None);
                        Failed
                    })
                })
                .collect(),
            _ => {
                sink.error(Some(node.line), path, format!("expected a list, found {}", resolved.kind()), None);
                Err(Failed)
            }
        }
    }
}

pub(crate) fn describe(node: &Node) -> String {
    match node.as_seq() {
        Some(items) => format!("{} argument{}", items.len(), if items.len() == 1 { "" } else { "s" }),
        None => node.kind().to_string(),
    }
}

/// `a.b` path joining that leaves the root empty.
pub fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

mod extensions;
pub(crate) use extensions::expand_loops;

#[cfg(test)]
mod tests;

/// What `Ref` of a resource gives, as CloudFormation gives it: the physical name for most types,
/// an ARN for the types whose Ref is their ARN (templates split and select parts of it, e.g.
/// `!Select [1, !Split ['/', !Ref JobQueue]]`).
fn ref_value(kind: &str, physical: &str, region: &str, account: &str) -> String {
    match kind {
        "AWS::SNS::Topic" => format!("arn:aws:sns:{region}:{account}:{physical}"),
        "AWS::StepFunctions::StateMachine" | "AWS::Serverless::StateMachine" => {
            format!("arn:aws:states:{region}:{account}:stateMachine:{physical}")
        }
        "AWS::Batch::JobQueue" => format!("arn:aws:batch:{region}:{account}:job-queue/{physical}"),
        "AWS::Batch::JobDefinition" => format!("arn:aws:batch:{region}:{account}:job-definition/{physical}:1"),
        "AWS::Batch::ComputeEnvironment" => format!("arn:aws:batch:{region}:{account}:compute-environment/{physical}"),
        "AWS::IAM::ManagedPolicy" => format!("arn:aws:iam::{account}:policy/{physical}"),
        _ => physical.to_string(),
    }
}
