#!/usr/bin/env python3
"""Regenerates config/spec/resources.json: the property names (and their JSON shapes) of every
resource type esb runs, the SAM Globals sections and the function event types, from the two
published specifications (issue 22, typos are errors):

- SAM: the pydantic models of aws-sam-translator (the reference translator), as its own schema
  generator turns them into JSON Schema;
- CloudFormation: the resource provider schemas that cfn-lint ships (AWS's registry schemas).

Run it with an interpreter that has both packages (e.g. the virtualenv `scripts/corpus.py
--reference` makes, plus `pip install cfn-lint`); the versions go into the file. esb reads the
file at compile time (include_str!), so a machine running esb needs neither package.
"""
import importlib.metadata
import json
import os
import sys

from samtranslator.internal.schema_source import schema as sam_schema
import cfnlint.data.schemas as cfn_schemas

# Resource types esb runs or reads (config/src/compile/needed.rs RUN_TYPES plus nested stacks).
SAM_TYPES = ["AWS::Serverless::Function", "AWS::Serverless::Api", "AWS::Serverless::HttpApi",
             "AWS::Serverless::SimpleTable", "AWS::Serverless::LayerVersion", "AWS::Serverless::Application"]
CFN_TYPES = ["AWS::Lambda::Function", "AWS::Lambda::LayerVersion", "AWS::DynamoDB::Table", "AWS::S3::Bucket",
             "AWS::CloudFormation::Stack"]


def kinds_of(schema, defs, depth=0):
    """The JSON shapes a value may take: a subset of {scalar, object, array}, or None for any."""
    if depth > 8 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        if name == "PassThroughProp":
            return None
        return kinds_of(defs.get(name, {}), defs, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            out = set()
            for s in schema[key]:
                k = kinds_of(s, defs, depth + 1)
                if k is None:
                    return None
                out |= k
            return out or None
    t = schema.get("type")
    if t is None:
        return None
    types = t if isinstance(t, list) else [t]
    out = set()
    for t in types:
        out.add({"object": "object", "array": "array"}.get(t, "scalar"))
    return out


def shape(props, defs):
    return {name: sorted(kinds_of(s, defs) or ["any"]) for name, s in sorted(props.items())}


def sam():
    sch = sam_schema.get_schema(sam_schema.SamModel)
    defs = sch["definitions"]
    resources, events, globals_ = {}, {}, {}
    for name, d in defs.items():
        props = d.get("properties") or {}
        ty = ((props.get("Type") or {}).get("enum") or [None])[0]
        if ty in SAM_TYPES and "Properties" in props:
            ref = props["Properties"].get("$ref", "").split("/")[-1]
            resources[ty] = shape(defs[ref].get("properties", {}), defs)
            if ty == "AWS::Serverless::Function":
                for ev in (defs[ref]["properties"]["Events"].get("additionalProperties") or {}).get("anyOf", []):
                    evdef = defs[ev["$ref"].split("/")[-1]]
                    evtype = evdef["properties"]["Type"]["enum"][0]
                    pprop = evdef["properties"].get("Properties", {})
                    pref = (pprop.get("$ref") or (pprop.get("allOf") or [{}])[0].get("$ref", "")).split("/")[-1]
                    events[evtype] = shape(defs.get(pref, {}).get("properties", {}), defs)
    # Globals: the translator's own list is what it enforces (its schema model is looser).
    from samtranslator.plugins.globals.globals import Globals
    for ty, names in Globals.supported_properties.items():
        globals_[ty.replace("AWS::Serverless::", "")] = sorted(names)
    return resources, events, globals_


def cfn():
    base = os.path.dirname(cfn_schemas.__file__)
    index = json.load(open(os.path.join(base, "providers", "us-east-1.json")))
    out = {}
    for ty in CFN_TYPES:
        s = json.load(open(os.path.join(base, "resources", index[ty] + ".json")))
        read_only = {p.split("/")[-1] for p in s.get("readOnlyProperties", [])}
        props = {k: v for k, v in s["properties"].items() if k not in read_only}
        out[ty] = shape(props, s.get("definitions", {}))
    date = json.load(open(os.path.join(base, "version.json")))["schema_date"]
    return out, date


def main():
    resources, events, globals_ = sam()
    missing = [t for t in SAM_TYPES if t not in resources]
    if missing:
        sys.exit(f"not in the SAM schema: {missing}")
    cfn_resources, date = cfn()
    # SAM passes most properties through to the CloudFormation resource it makes: their shapes come
    # from there when SAM's own model only says "passed through".
    # SAM's own properties take more shapes than its models say (`EndpointConfiguration: REGIONAL`
    # is a string the translator accepts): only their names are checked.
    passthrough = {"AWS::Serverless::Function": "AWS::Lambda::Function", "AWS::Serverless::LayerVersion": "AWS::Lambda::LayerVersion"}
    for sam_type in SAM_TYPES:
        cfn_type = passthrough.get(sam_type)
        for name, kinds in resources[sam_type].items():
            if cfn_type and kinds == ["any"] and name in cfn_resources[cfn_type]:
                resources[sam_type][name] = cfn_resources[cfn_type][name]
            else:
                resources[sam_type][name] = ["any"]
    for ev in events:
        events[ev] = {name: ["any"] for name in events[ev]}
    # Properties `aws cloudformation package` (and sam package) read as a local path: a string is
    # valid there before packaging, whatever the deployed schema says.
    for ty, name in (("AWS::Lambda::Function", "Code"), ("AWS::Lambda::LayerVersion", "Content"),
                     ("AWS::CloudFormation::Stack", "TemplateURL")):
        cfn_resources[ty][name] = sorted(set(cfn_resources[ty][name]) | {"scalar"})
    resources.update(cfn_resources)
    doc = {
        "sources": {
            "aws-sam-translator": importlib.metadata.version("aws-sam-translator"),
            "cfn-lint": importlib.metadata.version("cfn-lint"),
            "cloudformation-schemas": date,
        },
        "resources": resources,
        "events": events,
        "globals": globals_,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "config", "spec", "resources.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {os.path.relpath(path)}: {len(resources)} resource types, {len(events)} event types")


if __name__ == "__main__":
    main()
