//! DynamoDB tables (`AWS::DynamoDB::Table`, `AWS::Serverless::SimpleTable`) and S3 buckets.
//!
//! Owns: the checks DynamoDB and S3 would make at create time (key schema vs attribute definitions,
//! index rules, billing mode, bucket naming), so a template fails at `esb build`, not at provisioning.
//! Must not: talk to storage services (the Provisioner does, from resources.yml).

use super::props::Props;
use crate::error::Sink;
use crate::model::{AttributeDefinition, BucketCorsRule, BucketSpec, Index, KeyElement, TableSpec, Throughput};
use std::collections::BTreeSet;

const TABLE_USED: &[&str] = &[
    "TableName",
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "TimeToLiveSpecification",
    "StreamSpecification",
];
const TABLE_IGNORED: &[&str] = &[
    "SSESpecification",
    "PointInTimeRecoverySpecification",
    "Tags",
    "DeletionProtectionEnabled",
    "TableClass",
    "ContributorInsightsSpecification",
    "KinesisStreamSpecification",
    "ImportSourceSpecification",
    "ResourcePolicy",
    "OnDemandThroughput",
    "WarmThroughput",
];
const BUCKET_USED: &[&str] = &["BucketName", "VersioningConfiguration", "CorsConfiguration"];
const BUCKET_IGNORED: &[&str] = &[
    "AccelerateConfiguration",
    "AccessControl",
    "AnalyticsConfigurations",
    "BucketEncryption",
    "IntelligentTieringConfigurations",
    "InventoryConfigurations",
    "LifecycleConfiguration",
    "LoggingConfiguration",
    "MetricsConfigurations",
    "NotificationConfiguration",
    "ObjectLockConfiguration",
    "ObjectLockEnabled",
    "OwnershipControls",
    "PublicAccessBlockConfiguration",
    "ReplicationConfiguration",
    "Tags",
    "WebsiteConfiguration",
    "MetadataTableConfiguration",
];

/// `AWS::DynamoDB::Table`.
pub(crate) fn table(id: &str, name: &str, p: Props, sink: &mut Sink) -> Option<TableSpec> {
    p.check_keys(TABLE_USED, TABLE_IGNORED, "AWS::DynamoDB::Table", sink);
    check_table_name(&p, "TableName", name, sink)?;
    let what = format!("table {id}");
    let mut attrs = vec![];
    for (path, a) in p.maps("AttributeDefinitions", sink) {
        let ap = Props::new(a, &path);
        let (Some(attribute_name), Some(attribute_type)) = (
            ap.required("AttributeName", &what, "each attribute has AttributeName and AttributeType", sink),
            ap.required("AttributeType", &what, "AttributeType is S, N or B", sink),
        ) else {
            continue;
        };
        if !matches!(attribute_type.as_str(), "S" | "N" | "B") {
            sink.error(Some(a.line), &ap.at("AttributeType"), format!("AttributeType `{attribute_type}` must be S, N or B"), None);
            continue;
        }
        if attrs.iter().any(|d: &AttributeDefinition| d.attribute_name == attribute_name) {
            sink.error(Some(a.line), &path, format!("attribute `{attribute_name}` is defined twice"), None);
            continue;
        }
        attrs.push(AttributeDefinition { attribute_name, attribute_type });
    }
    let defined: BTreeSet<String> = attrs.iter().map(|a| a.attribute_name.clone()).collect();
    let mut used = BTreeSet::new();
    let key_schema = key_schema(&p, "KeySchema", &defined, &mut used, sink)?;
    let billing_mode = p.string("BillingMode", sink).unwrap_or_else(|| "PROVISIONED".into());
    if !matches!(billing_mode.as_str(), "PROVISIONED" | "PAY_PER_REQUEST") {
        sink.error(
            Some(p.node.line),
            &p.at("BillingMode"),
            format!("BillingMode `{billing_mode}` must be PROVISIONED or PAY_PER_REQUEST"),
            None,
        );
    }
    let provisioned = billing_mode == "PROVISIONED";
    let throughput = throughput(&p, sink);
    if provisioned && throughput.is_none() {
        sink.error(
            Some(p.node.line),
            &p.at("ProvisionedThroughput"),
            format!("{what} is PROVISIONED but has no ProvisionedThroughput"),
            Some("add ProvisionedThroughput, or set BillingMode: PAY_PER_REQUEST"),
        );
    }
    let mut names = BTreeSet::new();
    let mut gsis = vec![];
    for (path, n) in p.maps("GlobalSecondaryIndexes", sink) {
        if let Some(ix) = index(Props::new(n, &path), &defined, &mut used, &mut names, provisioned, sink) {
            gsis.push(ix);
        }
    }
    let mut lsis = vec![];
    for (path, n) in p.maps("LocalSecondaryIndexes", sink) {
        if let Some(ix) = index(Props::new(n, &path), &defined, &mut used, &mut names, false, sink) {
            if ix.key_schema.first() != key_schema.first() || ix.key_schema.len() != 2 {
                sink.error(
                    Some(n.line),
                    &path,
                    format!("local index `{}` must have the table's HASH key and a RANGE key", ix.index_name),
                    None,
                );
                continue;
            }
            lsis.push(ix);
        }
    }
    for a in defined.difference(&used) {
        sink.error(
            Some(p.node.line),
            &p.at("AttributeDefinitions"),
            format!("attribute `{a}` is defined but used by no key schema or index"),
            Some("DynamoDB rejects unused attribute definitions; remove it (non-key attributes need no definition)"),
        );
    }
    let ttl_attribute = p.map("TimeToLiveSpecification", sink).and_then(|t| {
        let path = p.at("TimeToLiveSpecification");
        let tp = Props::new(t, &path);
        let enabled = tp.bool("Enabled", sink).unwrap_or(false);
        let attr = tp.string("AttributeName", sink);
        enabled.then_some(attr).flatten()
    });
    let stream_view_type = p.map("StreamSpecification", sink).and_then(|s| {
        let path = p.at("StreamSpecification");
        let v = Props::new(s, &path).string("StreamViewType", sink)?;
        if !matches!(v.as_str(), "KEYS_ONLY" | "NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES") {
            sink.error(
                Some(s.line),
                &format!("{path}.StreamViewType"),
                format!("StreamViewType `{v}` must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES"),
                None,
            );
            return None;
        }
        Some(v)
    });
    Some(TableSpec {
        table_name: name.to_string(),
        key_schema,
        attribute_definitions: attrs,
        billing_mode,
        provisioned_throughput: if provisioned { throughput } else { None },
        global_secondary_indexes: gsis,
        local_secondary_indexes: lsis,
        ttl_attribute,
        stream_view_type,
    })
}

fn key_schema(p: &Props, key: &str, defined: &BTreeSet<String>, used: &mut BTreeSet<String>, sink: &mut Sink) -> Option<Vec<KeyElement>> {
    let elements = p.maps(key, sink);
    let mut out = vec![];
    for (path, e) in &elements {
        let ep = Props::new(e, path);
        let (Some(attribute_name), Some(key_type)) = (
            ep.required("AttributeName", "key schema element", "each element has AttributeName and KeyType", sink),
            ep.required("KeyType", "key schema element", "KeyType is HASH or RANGE", sink),
        ) else {
            return None;
        };
        if !defined.contains(&attribute_name) {
            sink.error(
                Some(e.line),
                &ep.at("AttributeName"),
                format!("key attribute `{attribute_name}` is not in AttributeDefinitions"),
                Some("add it to AttributeDefinitions with its type (S, N or B)"),
            );
        }
        used.insert(attribute_name.clone());
        out.push(KeyElement { attribute_name, key_type });
    }
    let types: Vec<&str> = out.iter().map(|k| k.key_type.as_str()).collect();
    if types != ["HASH"] && types != ["HASH", "RANGE"] {
        sink.error(
            Some(p.node.line),
            &p.at(key),
            format!("{key} must be one HASH key, optionally followed by one RANGE key; found {types:?}"),
            None,
        );
        return None;
    }
    Some(out)
}

fn throughput(p: &Props, sink: &mut Sink) -> Option<Throughput> {
    let node = p.map("ProvisionedThroughput", sink)?;
    let path = p.at("ProvisionedThroughput");
    let tp = Props::new(node, &path);
    Some(Throughput {
        read_capacity_units: tp.uint("ReadCapacityUnits", 1, u64::MAX, sink).unwrap_or(5),
        write_capacity_units: tp.uint("WriteCapacityUnits", 1, u64::MAX, sink).unwrap_or(5),
    })
}

fn index(
    p: Props,
    defined: &BTreeSet<String>,
    used: &mut BTreeSet<String>,
    names: &mut BTreeSet<String>,
    provisioned: bool,
    sink: &mut Sink,
) -> Option<Index> {
    let index_name = p.required("IndexName", "index", "each index has an IndexName", sink)?;
    let name_ok = check_table_name(&p, "IndexName", &index_name, sink);
    if !names.insert(index_name.clone()) {
        sink.error(Some(p.node.line), &p.at("IndexName"), format!("index name `{index_name}` is used twice"), None);
        return None;
    }
    let key_schema = key_schema(&p, "KeySchema", defined, used, sink)?;
    name_ok?;
    let ppath = p.at("Projection");
    let projection = p.map("Projection", sink).map(|n| Props::new(n, &ppath));
    let projection_type = projection.and_then(|pr| pr.string("ProjectionType", sink)).unwrap_or_else(|| "ALL".into());
    if !matches!(projection_type.as_str(), "ALL" | "KEYS_ONLY" | "INCLUDE") {
        sink.error(
            Some(p.node.line),
            &format!("{ppath}.ProjectionType"),
            format!("ProjectionType `{projection_type}` must be ALL, KEYS_ONLY or INCLUDE"),
            None,
        );
    }
    let non_key_attributes = projection.map(|pr| pr.strings("NonKeyAttributes", sink)).unwrap_or_default();
    let provisioned_throughput =
        if provisioned { throughput(&p, sink).or(Some(Throughput { read_capacity_units: 5, write_capacity_units: 5 })) } else { None };
    Some(Index { index_name, key_schema, projection_type, non_key_attributes, provisioned_throughput })
}

/// `AWS::Serverless::SimpleTable`: one primary key, PAY_PER_REQUEST unless throughput is given.
pub(crate) fn simple_table(name: &str, p: Props, sink: &mut Sink) -> Option<TableSpec> {
    check_table_name(&p, "TableName", name, sink)?;
    p.check_keys(
        &["TableName", "PrimaryKey", "ProvisionedThroughput"],
        &["SSESpecification", "Tags", "PointInTimeRecoverySpecification"],
        "AWS::Serverless::SimpleTable",
        sink,
    );
    let kpath = p.at("PrimaryKey");
    let key = p.map("PrimaryKey", sink).map(|n| Props::new(n, &kpath));
    let key_name = key.and_then(|k| k.string("Name", sink)).unwrap_or_else(|| "id".into());
    let key_type = key.and_then(|k| k.string("Type", sink)).unwrap_or_else(|| "String".into());
    let attribute_type = match key_type.as_str() {
        "String" => "S",
        "Number" => "N",
        "Binary" => "B",
        other => {
            sink.error(
                Some(p.node.line),
                &format!("{kpath}.Type"),
                format!("PrimaryKey Type `{other}` must be String, Number or Binary"),
                None,
            );
            return None;
        }
    };
    let throughput = throughput(&p, sink);
    Some(TableSpec {
        table_name: name.to_string(),
        key_schema: vec![KeyElement { attribute_name: key_name.clone(), key_type: "HASH".into() }],
        attribute_definitions: vec![AttributeDefinition { attribute_name: key_name, attribute_type: attribute_type.into() }],
        billing_mode: if throughput.is_some() { "PROVISIONED".into() } else { "PAY_PER_REQUEST".into() },
        provisioned_throughput: throughput,
        global_secondary_indexes: vec![],
        local_secondary_indexes: vec![],
        ttl_attribute: None,
        stream_view_type: None,
    })
}

/// DynamoDB's rule for table and index names (the local services do not all enforce it), for names
/// the template spells out (a table without `TableName` is named after its logical id).
fn check_table_name(p: &Props, key: &str, name: &str, sink: &mut Sink) -> Option<()> {
    if p.get(key).is_none() {
        return Some(());
    }
    let ok = (3..=255).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        let line = p.get(key).map_or(p.node.line, |n| n.line);
        let what = if key == "IndexName" { "index" } else { "table" };
        sink.error(
            Some(line),
            &p.at(key),
            format!("{what} name `{name}` is not valid in DynamoDB"),
            Some("table and index names are 3-255 characters of a-z, A-Z, 0-9, `_`, `-` and `.`"),
        );
        return None;
    }
    Some(())
}

/// `AWS::S3::Bucket`.
pub(crate) fn bucket(name: &str, p: Props, sink: &mut Sink) -> Option<BucketSpec> {
    p.check_keys(BUCKET_USED, BUCKET_IGNORED, "AWS::S3::Bucket", sink);
    if let Err(why) = check_bucket_name(name) {
        let line = p.get("BucketName").map_or(p.node.line, |n| n.line);
        sink.error(
            Some(line),
            &p.at("BucketName"),
            format!("bucket name `{name}` {why}"),
            Some("S3 bucket names are 3-63 characters of a-z, 0-9, `.` and `-`, starting and ending with a letter or digit"),
        );
        return None;
    }
    let versioning = p.map("VersioningConfiguration", sink).is_some_and(|v| {
        let path = p.at("VersioningConfiguration");
        Props::new(v, &path).string("Status", sink).as_deref() == Some("Enabled")
    });
    let mut cors_rules = vec![];
    if let Some(c) = p.map("CorsConfiguration", sink) {
        let path = p.at("CorsConfiguration");
        for (rpath, r) in Props::new(c, &path).maps("CorsRules", sink) {
            let rp = Props::new(r, &rpath);
            rp.check_keys(
                &["AllowedMethods", "AllowedOrigins", "AllowedHeaders", "ExposedHeaders", "MaxAge"],
                &["Id"],
                "S3 CorsRule",
                sink,
            );
            let allowed_methods = rp.strings("AllowedMethods", sink);
            if let Some(bad) = allowed_methods.iter().find(|m| !matches!(m.as_str(), "GET" | "PUT" | "POST" | "DELETE" | "HEAD")) {
                sink.error(
                    Some(r.line),
                    &rp.at("AllowedMethods"),
                    format!("`{bad}` is not an S3 CORS method"),
                    Some("use GET, PUT, POST, DELETE or HEAD"),
                );
            }
            cors_rules.push(BucketCorsRule {
                allowed_methods,
                allowed_origins: rp.strings("AllowedOrigins", sink),
                allowed_headers: rp.strings("AllowedHeaders", sink),
                exposed_headers: rp.strings("ExposedHeaders", sink),
                max_age: rp.uint("MaxAge", 0, u32::MAX as u64, sink).map(|n| n as u32),
            });
        }
    }
    Some(BucketSpec { bucket_name: name.to_string(), versioning, cors_rules })
}

/// S3's bucket naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=63).contains(&name.len()) {
        return Err(format!("is {} characters long", name.len()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')) {
        return Err(format!("contains `{c}`"));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge_ok(name.chars().next()) || !edge_ok(name.chars().last()) {
        return Err("must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("has two adjacent dots".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("looks like an IP address".into());
    }
    Ok(())
}
