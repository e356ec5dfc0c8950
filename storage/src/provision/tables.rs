//! Tables: the template's DynamoDB tables exist, as the template describes them.
//!
//! Owns: `CreateTable` (+ `UpdateTimeToLive`) per table of resources.yml; for a table that already
//! exists, comparing its key schema with the template's (a different key is a per-table error: esb
//! never rebuilds a table that holds data) and adding what is missing and can be added in place
//! (global secondary indexes, TTL). Must not: delete or rebuild tables.

use super::{signed, Outcome, Report, Signer};
use bytes::Bytes;
use esb_config::model::{Index, KeyElement, TableSpec};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn key_schema(keys: &[KeyElement]) -> Value {
    keys.iter().map(|k| json!({ "AttributeName": k.attribute_name, "KeyType": k.key_type })).collect()
}

fn throughput(t: &Option<esb_config::model::Throughput>) -> Option<Value> {
    t.as_ref().map(|t| json!({ "ReadCapacityUnits": t.read_capacity_units, "WriteCapacityUnits": t.write_capacity_units }))
}

fn index(i: &Index) -> Value {
    let mut projection = json!({ "ProjectionType": i.projection_type });
    if !i.non_key_attributes.is_empty() {
        projection["NonKeyAttributes"] = json!(i.non_key_attributes);
    }
    let mut v = json!({ "IndexName": i.index_name, "KeySchema": key_schema(&i.key_schema), "Projection": projection });
    if let Some(t) = throughput(&i.provisioned_throughput) {
        v["ProvisionedThroughput"] = t;
    }
    v
}

/// The `CreateTable` request for a table of resources.yml.
pub fn create_table_request(t: &TableSpec) -> Value {
    let mut req = json!({
        "TableName": t.table_name,
        "KeySchema": key_schema(&t.key_schema),
        "AttributeDefinitions": t.attribute_definitions.iter().map(|a| json!({ "AttributeName": a.attribute_name, "AttributeType": a.attribute_type })).collect::<Vec<_>>(),
        "BillingMode": t.billing_mode,
    });
    if let Some(tp) = throughput(&t.provisioned_throughput) {
        req["ProvisionedThroughput"] = tp;
    }
    if !t.global_secondary_indexes.is_empty() {
        req["GlobalSecondaryIndexes"] = t.global_secondary_indexes.iter().map(index).collect();
    }
    if !t.local_secondary_indexes.is_empty() {
        req["LocalSecondaryIndexes"] = t.local_secondary_indexes.iter().map(index).collect();
    }
    if let Some(view) = &t.stream_view_type {
        req["StreamSpecification"] = json!({ "StreamEnabled": true, "StreamViewType": view });
    }
    req
}

/// A signed JSON request to the DynamoDB service; `target` names the operation
/// (`DynamoDB_20120810.PutItem`, `DynamoDBStreams_20120810.GetRecords`).
pub(crate) async fn post_json(signer: &Signer, endpoint: &str, target: &str, body: &Value) -> Result<(u16, String), String> {
    let headers = [("x-amz-target", target), ("content-type", "application/x-amz-json-1.0")];
    signed(signer, "dynamodb", "POST", &format!("{}/", endpoint.trim_end_matches('/')), &headers, Bytes::from(body.to_string())).await
}

async fn dynamodb(signer: &Signer, endpoint: &str, op: &str, body: &Value) -> Result<(u16, String), String> {
    post_json(signer, endpoint, &format!("DynamoDB_20120810.{op}"), body).await
}

/// A DynamoDB error answer's type (without its namespace) and message, when it has them.
pub(crate) fn error_parts(body: &str) -> (Option<String>, Option<String>) {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let kind = v["__type"].as_str().and_then(|t| t.rsplit('#').next()).filter(|k| !k.is_empty()).map(str::to_string);
    let message = v["message"].as_str().or(v["Message"].as_str()).map(str::to_string);
    (kind, message)
}

fn dynamodb_error(body: &str) -> String {
    match error_parts(body) {
        (Some(kind), message) => format!("{kind}: {}", message.as_deref().unwrap_or(body)),
        (None, message) => message.unwrap_or_else(|| body.to_string()),
    }
}

/// Creates every table at the DynamoDB endpoint (and its TTL setting); reconciles existing ones.
pub async fn tables(endpoint: &str, signer: &Signer, tables: &BTreeMap<String, TableSpec>) -> Vec<Report> {
    let mut out = vec![];
    for (id, t) in tables {
        let mut warnings = vec![];
        let outcome = match dynamodb(signer, endpoint, "CreateTable", &create_table_request(t)).await {
            Ok((200, _)) => {
                if let Some(attr) = &t.ttl_attribute {
                    if let Err(e) = set_ttl(signer, endpoint, t, attr).await {
                        warnings.push(format!("TTL on {attr} was not set: {e}"));
                    }
                }
                Outcome::Created
            }
            Ok((_, body)) if body.contains("ResourceInUseException") => existing(signer, endpoint, t, &mut warnings).await,
            Ok((status, body)) => Outcome::Failed(format!("HTTP {status}: {}", dynamodb_error(&body))),
            Err(e) => Outcome::Failed(e),
        };
        out.push(Report { kind: "table", id: id.clone(), name: t.table_name.clone(), outcome, warnings });
    }
    out
}

async fn set_ttl(signer: &Signer, endpoint: &str, t: &TableSpec, attr: &str) -> Result<(), String> {
    let ttl = json!({ "TableName": t.table_name, "TimeToLiveSpecification": { "AttributeName": attr, "Enabled": true } });
    match dynamodb(signer, endpoint, "UpdateTimeToLive", &ttl).await? {
        (200, _) => Ok(()),
        (_, body) => Err(dynamodb_error(&body)),
    }
}

/// `id HASH, kind RANGE`.
fn describe_keys(keys: &[(String, String)]) -> String {
    keys.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
}

/// A table that already exists: unchanged when it matches, updated when indexes, the stream or
/// TTL were missing, failed (naming both key schemas) when its key differs.
async fn existing(signer: &Signer, endpoint: &str, t: &TableSpec, warnings: &mut Vec<String>) -> Outcome {
    let table = match dynamodb(signer, endpoint, "DescribeTable", &json!({ "TableName": t.table_name })).await {
        Ok((200, body)) => serde_json::from_str::<Value>(&body).unwrap_or_default()["Table"].clone(),
        Ok((status, body)) => {
            return Outcome::Failed(format!("it exists, but DescribeTable answered HTTP {status}: {}", dynamodb_error(&body)))
        }
        Err(e) => return Outcome::Failed(e),
    };
    let pairs = |v: &Value, a: &str, b: &str| -> Vec<(String, String)> {
        v.as_array()
            .map(|l| {
                l.iter().map(|e| (e[a].as_str().unwrap_or_default().to_string(), e[b].as_str().unwrap_or_default().to_string())).collect()
            })
            .unwrap_or_default()
    };
    let have = pairs(&table["KeySchema"], "AttributeName", "KeyType");
    let want: Vec<(String, String)> = t.key_schema.iter().map(|k| (k.attribute_name.clone(), k.key_type.clone())).collect();
    let have_types: BTreeMap<String, String> =
        pairs(&table["AttributeDefinitions"], "AttributeName", "AttributeType").into_iter().collect();
    let type_changed = t.key_schema.iter().find_map(|k| {
        let want = t.attribute_definitions.iter().find(|a| a.attribute_name == k.attribute_name)?;
        let have = have_types.get(&k.attribute_name)?;
        (have != &want.attribute_type)
            .then(|| format!("key `{}` is of type {have}, the template says {}", k.attribute_name, want.attribute_type))
    });
    if have != want || type_changed.is_some() {
        let why =
            type_changed.unwrap_or_else(|| format!("its key is ({}), the template's is ({})", describe_keys(&have), describe_keys(&want)));
        return Outcome::Failed(format!(
            "a table with this name already exists and {why}; esb does not rebuild tables that hold data \
             (hint: give the table a new name, or delete all data with `esb down -v`)"
        ));
    }
    let present: Vec<&str> =
        table["GlobalSecondaryIndexes"].as_array().map(|l| l.iter().filter_map(|i| i["IndexName"].as_str()).collect()).unwrap_or_default();
    let mut added = vec![];
    for gsi in t.global_secondary_indexes.iter().filter(|g| !present.contains(&g.index_name.as_str())) {
        let update = json!({
            "TableName": t.table_name,
            "AttributeDefinitions": t.attribute_definitions.iter().map(|a| json!({ "AttributeName": a.attribute_name, "AttributeType": a.attribute_type })).collect::<Vec<_>>(),
            "GlobalSecondaryIndexUpdates": [{ "Create": index(gsi) }],
        });
        match dynamodb(signer, endpoint, "UpdateTable", &update).await {
            Ok((200, _)) => added.push(format!("index {}", gsi.index_name)),
            Ok((_, body)) => warnings.push(format!("index {} could not be added: {}", gsi.index_name, dynamodb_error(&body))),
            Err(e) => warnings.push(format!("index {} could not be added: {e}", gsi.index_name)),
        }
    }
    if let Some(view) = &t.stream_view_type {
        if table["StreamSpecification"]["StreamEnabled"].as_bool() != Some(true) {
            let update = json!({ "TableName": t.table_name, "StreamSpecification": { "StreamEnabled": true, "StreamViewType": view } });
            match dynamodb(signer, endpoint, "UpdateTable", &update).await {
                Ok((200, _)) => added.push(format!("stream {view}")),
                Ok((_, body)) => warnings.push(format!("the stream could not be enabled: {}", dynamodb_error(&body))),
                Err(e) => warnings.push(format!("the stream could not be enabled: {e}")),
            }
        }
    }
    if let Some(attr) = &t.ttl_attribute {
        let ttl = dynamodb(signer, endpoint, "DescribeTimeToLive", &json!({ "TableName": t.table_name })).await;
        let enabled = match &ttl {
            Ok((200, body)) => {
                let d = &serde_json::from_str::<Value>(body).unwrap_or_default()["TimeToLiveDescription"];
                d["TimeToLiveStatus"].as_str().is_some_and(|s| s.starts_with("ENABL")) && d["AttributeName"].as_str() == Some(attr)
            }
            // A service without DescribeTimeToLive: leave it as it is.
            _ => true,
        };
        if !enabled {
            match set_ttl(signer, endpoint, t, attr).await {
                Ok(()) => added.push(format!("TTL on {attr}")),
                Err(e) => warnings.push(format!("TTL on {attr} was not set: {e}")),
            }
        }
    }
    if added.is_empty() {
        Outcome::Unchanged
    } else {
        Outcome::Updated(format!("added {}", added.join(", ")))
    }
}
