#!/usr/bin/env python3
"""The reference SAM translator's verdict on SAM templates (issue 22's yardstick).

Reads each template path given on stdin (one per line) as SAM CLI reads it (PyYAML with the
CloudFormation short tags turned into their long forms), gives every parameter without a Default a
placeholder value (its first AllowedValue, else its MinValue, else `placeholder`), and runs
aws-sam-translator's transform with a stub managed-policy loader: no network, no AWS account.
Prints one JSON line per template: {"path", "accepted", "error"}.

Run by scripts/corpus.py --reference, with the interpreter of a virtualenv that holds
aws-sam-translator (corpus.py makes one in the cache when asked).
"""
import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import logging

import yaml
from samtranslator.translator.transform import transform


class Loader(yaml.SafeLoader):
    pass


def _construct(tag):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "Ref":
            return {"Ref": value}
        if tag == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        if tag == "Condition":
            return {"Condition": value}
        return {"Fn::" + tag: value}
    return construct


for _tag in ("Ref", "GetAtt", "Sub", "Join", "Select", "Split", "If", "Equals", "And", "Or", "Not", "FindInMap",
             "Base64", "Cidr", "GetAZs", "ImportValue", "Transform", "Condition", "ToJsonString", "Length"):
    Loader.add_constructor("!" + _tag, _construct(_tag))
# Timestamps stay strings, as SAM CLI's loader keeps them.
Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
                                  for k, v in Loader.yaml_implicit_resolvers.items()}


def include(node, base):
    """`Fn::Transform: AWS::Include` of a local file, replaced by the file's content, as the
    CloudFormation package step leaves it for the service (remote locations stay as they are)."""
    if isinstance(node, list):
        return [include(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    t = node.get("Fn::Transform")
    if len(node) == 1 and isinstance(t, dict) and t.get("Name") == "AWS::Include":
        loc = (t.get("Parameters") or {}).get("Location")
        if isinstance(loc, str) and "://" not in loc:
            path = os.path.join(base, loc)
            with open(path, encoding="utf-8") as f:
                return include(yaml.load(f, Loader=Loader), os.path.dirname(path))
    return {k: include(v, base) for k, v in node.items()}


def package_locally(doc):
    """Local code and definition paths become S3 URIs, as `sam validate` does before it translates
    (the translator itself only takes packaged templates)."""
    s3 = "s3://bucket/value"
    uris = {"AWS::Serverless::Function": ("CodeUri", "ImageUri"), "AWS::Serverless::LayerVersion": ("ContentUri",),
            "AWS::Serverless::Api": ("DefinitionUri",), "AWS::Serverless::HttpApi": ("DefinitionUri",),
            "AWS::Serverless::StateMachine": ("DefinitionUri",), "AWS::Serverless::GraphQLApi": ("SchemaUri",)}
    glob = ((doc.get("Globals") or {}).get("Function") or {}) if isinstance(doc.get("Globals"), dict) else {}
    if isinstance(glob, dict) and isinstance(glob.get("CodeUri"), str):
        glob["CodeUri"] = s3
    for res in (doc.get("Resources") or {}).values():
        if not isinstance(res, dict):
            continue
        props = res.get("Properties")
        if not isinstance(props, dict):
            if res.get("Type") == "AWS::Serverless::Function":
                res["Properties"] = props = {}
            else:
                continue
        for key in uris.get(res.get("Type"), ()):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = s3
        if res.get("Type") == "AWS::Serverless::Function" and props.get("PackageType") != "Image" \
                and "CodeUri" not in props and "InlineCode" not in props and not glob.get("CodeUri"):
            props["CodeUri"] = s3
        if res.get("Type") == "AWS::Serverless::Function" and props.get("PackageType") == "Image" and "ImageUri" not in props:
            props["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/value:latest"
        if res.get("Type") == "AWS::Serverless::Application" and isinstance(props.get("Location"), str):
            props["Location"] = "https://bucket.s3.amazonaws.com/value"


class Policies:
    def load(self):
        return {}


def placeholder(spec):
    if not isinstance(spec, dict):
        return "placeholder"
    if spec.get("AllowedValues"):
        return spec["AllowedValues"][0]
    if "MinValue" in spec:
        return spec["MinValue"]
    if str(spec.get("Type", "")).startswith("List<") or spec.get("Type") == "CommaDelimitedList":
        return "placeholder"
    return "placeholder"


def verdict(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=Loader)
        params = {}
        for name, spec in ((doc or {}).get("Parameters") or {}).items():
            if not isinstance(spec, dict) or "Default" not in spec:
                params[name] = placeholder(spec)
        doc = include(doc, os.path.dirname(path))
        package_locally(doc)
        transform(doc, params, Policies())
        return {"path": path, "accepted": True, "error": None}
    except Exception as e:  # the translator's verdict, whatever its exception type
        return {"path": path, "accepted": False, "error": f"{type(e).__name__}: {str(e)[:300]}"}


logging.disable(logging.CRITICAL)
for line in sys.stdin:
    path = line.strip()
    if path:
        print(json.dumps(verdict(path)), flush=True)
