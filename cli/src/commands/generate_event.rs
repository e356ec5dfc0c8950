//! `esb generate-event <service> <event>`: sample events in the shapes Lambda delivers them, as
//! `sam local generate-event` prints them, to pipe into `esb invoke F -e -`.
//!
//! Owns: the sample documents and their options. Must not: invoke anything. The shapes are checked
//! against the `aws_lambda_events` crate's types in this module's tests.

use crate::cli::GenerateEventArgs;
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const TIME: &str = "2026-01-01T12:00:00Z";
const EPOCH_MS: u64 = 1_767_268_800_000;

/// The services and their events, first event the default.
const CATALOG: &[(&str, &[&str])] = &[
    ("apigateway", &["aws-proxy", "http-api-proxy"]),
    ("s3", &["put", "delete"]),
    ("sqs", &["receive-message"]),
    ("sns", &["notification"]),
    ("eventbridge", &["event", "scheduled-event"]),
    ("cloudwatch", &["scheduled-event"]),
    ("schedule", &["scheduled-event"]),
    ("dynamodb", &["update"]),
];

pub fn run(args: GenerateEventArgs) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&event(&args)?)?);
    Ok(())
}

/// The event `args` names.
pub(super) fn event(a: &GenerateEventArgs) -> anyhow::Result<Value> {
    let Some((service, events)) = CATALOG.iter().find(|(s, _)| *s == a.service) else {
        let names: Vec<&str> = CATALOG.iter().map(|(s, _)| *s).collect();
        anyhow::bail!("no events for `{}`\n  hint: one of {}", a.service, names.join(", "));
    };
    let name = a.event.as_deref().unwrap_or(events[0]);
    if !events.contains(&name) {
        anyhow::bail!("`{service}` has no event `{name}`\n  hint: one of {}", events.join(", "));
    }
    let r = a.region.as_str();
    Ok(match (*service, name) {
        ("apigateway", "aws-proxy") => json!({
            "resource": a.path, "path": a.path, "httpMethod": a.method,
            "headers": {"Accept": "*/*", "Host": "localhost", "User-Agent": "esb"},
            "multiValueHeaders": {"Accept": ["*/*"], "Host": ["localhost"], "User-Agent": ["esb"]},
            "queryStringParameters": null, "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
            "requestContext": {
                "accountId": ACCOUNT, "apiId": "local", "resourceId": "local", "stage": "Prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "requestTime": "01/Jan/2026:12:00:00 +0000", "requestTimeEpoch": EPOCH_MS, "path": format!("/Prod{}", a.path),
                "resourcePath": a.path, "httpMethod": a.method, "protocol": "HTTP/1.1",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "esb"}
            },
            "body": a.body, "isBase64Encoded": false
        }),
        ("apigateway", "http-api-proxy") => json!({
            "version": "2.0", "routeKey": format!("{} {}", a.method, a.path), "rawPath": a.path, "rawQueryString": "",
            "headers": {"accept": "*/*", "host": "localhost", "user-agent": "esb"},
            "requestContext": {
                "accountId": ACCOUNT, "apiId": "local", "domainName": "localhost", "domainPrefix": "localhost",
                "http": {"method": a.method, "path": a.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "esb"},
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "routeKey": format!("{} {}", a.method, a.path), "stage": "$default",
                "time": "01/Jan/2026:12:00:00 +0000", "timeEpoch": EPOCH_MS
            },
            "body": a.body, "isBase64Encoded": false
        }),
        ("s3", kind) => {
            let (event_name, object) = match kind {
                "put" => (
                    "ObjectCreated:Put",
                    json!({"key": a.key, "size": 1024, "eTag": "0123456789abcdef0123456789abcdef", "sequencer": "0A1B2C3D4E5F678901"}),
                ),
                _ => ("ObjectRemoved:Delete", json!({"key": a.key, "sequencer": "0A1B2C3D4E5F678901"})),
            };
            json!({"Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": r, "eventTime": TIME, "eventName": event_name,
                "userIdentity": {"principalId": "EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefghijklambdaisawesome"},
                "s3": {"s3SchemaVersion": "1.0", "configurationId": "testConfigRule",
                       "bucket": {"name": a.bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{}", a.bucket)},
                       "object": object}
            }]})
        }
        ("sqs", _) => {
            let queue = a.name.as_deref().unwrap_or("my-queue");
            json!({"Records": [{
                "messageId": "19dd0b57-b21e-4ac1-bd88-01bbb068cb78", "receiptHandle": "MessageReceiptHandle", "body": a.body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": EPOCH_MS.to_string(), "SenderId": ACCOUNT,
                               "ApproximateFirstReceiveTimestamp": EPOCH_MS.to_string()},
                "messageAttributes": {}, "md5OfBody": format!("{:x}", md5_like(&a.body)), "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{r}:{ACCOUNT}:{queue}"), "awsRegion": r
            }]})
        }
        ("sns", _) => {
            let topic = format!("arn:aws:sns:{r}:{ACCOUNT}:{}", a.name.as_deref().unwrap_or("my-topic"));
            json!({"Records": [{
                "EventSource": "aws:sns", "EventVersion": "1.0", "EventSubscriptionArn": format!("{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"),
                "Sns": {"Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e", "TopicArn": topic, "Subject": "example subject",
                        "Message": a.body, "Timestamp": TIME, "SignatureVersion": "1", "Signature": "EXAMPLE",
                        "SigningCertUrl": "EXAMPLE", "UnsubscribeUrl": "EXAMPLE", "MessageAttributes": {}}
            }]})
        }
        ("eventbridge", "event") => json!({
            "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "Example Event", "source": "com.example",
            "account": ACCOUNT, "time": TIME, "region": r, "resources": [], "detail": serde_json::from_str::<Value>(&a.body).unwrap_or(json!({}))
        }),
        (_, "scheduled-event") => json!({
            "version": "0", "id": "89d1a02d-5ec7-412e-82f5-13505f849b41", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": TIME, "region": r, "resources": [format!("arn:aws:events:{r}:{ACCOUNT}:rule/my-schedule")], "detail": {}
        }),
        ("dynamodb", _) => {
            let table = a.name.as_deref().unwrap_or("my-table");
            json!({"Records": [{
                "eventID": "c4ca4238a0b923820dcc509a6f75849b", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": r,
                "dynamodb": {"ApproximateCreationDateTime": 1_767_268_800, "Keys": {"id": {"S": "101"}},
                             "NewImage": {"id": {"S": "101"}, "message": {"S": "new item"}}, "OldImage": {"id": {"S": "101"}, "message": {"S": "old item"}},
                             "SequenceNumber": "222", "SizeBytes": 59, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                "eventSourceARN": format!("arn:aws:dynamodb:{r}:{ACCOUNT}:table/{table}/stream/2026-01-01T12:00:00.000")
            }]})
        }
        _ => unreachable!("every catalog entry has a shape"),
    })
}

/// A stable 128-bit digest of the body for `md5OfBody` (a sample, not a check anybody makes).
fn md5_like(text: &str) -> u128 {
    text.bytes().fold(0xcbf29ce484222325_u128, |h, b| (h ^ b as u128).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> GenerateEventArgs {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            a: GenerateEventArgs,
        }
        Wrap::parse_from(std::iter::once("x").chain(argv.iter().copied())).a
    }

    fn gen(argv: &[&str]) -> Value {
        event(&args(argv)).unwrap()
    }

    #[test]
    fn every_event_parses_as_lambdas_type_for_it() {
        use aws_lambda_events::event as e;
        let v1: e::apigw::ApiGatewayProxyRequest = serde_json::from_value(gen(&["apigateway", "aws-proxy", "--method", "POST"])).unwrap();
        assert_eq!(v1.http_method.as_str(), "POST");
        let v2: e::apigw::ApiGatewayV2httpRequest = serde_json::from_value(gen(&["apigateway", "http-api-proxy", "--path", "/x"])).unwrap();
        assert_eq!(v2.raw_path.as_deref(), Some("/x"));
        let s3: e::s3::S3Event = serde_json::from_value(gen(&["s3", "put", "--bucket", "b", "--key", "k/1"])).unwrap();
        assert_eq!((s3.records[0].s3.bucket.name.as_deref(), s3.records[0].s3.object.key.as_deref()), (Some("b"), Some("k/1")));
        let _: e::s3::S3Event = serde_json::from_value(gen(&["s3", "delete"])).unwrap();
        let sqs: e::sqs::SqsEvent = serde_json::from_value(gen(&["sqs", "receive-message", "--body", "hi"])).unwrap();
        assert_eq!(sqs.records[0].body.as_deref(), Some("hi"));
        let sns: e::sns::SnsEvent = serde_json::from_value(gen(&["sns", "notification"])).unwrap();
        assert_eq!(sns.records[0].sns.message, "{\"hello\": \"world\"}");
        let eb: e::eventbridge::EventBridgeEvent = serde_json::from_value(gen(&["eventbridge", "scheduled-event"])).unwrap();
        assert_eq!(eb.detail_type, "Scheduled Event");
        let _: e::eventbridge::EventBridgeEvent = serde_json::from_value(gen(&["eventbridge"])).unwrap();
        let ddb: e::dynamodb::Event = serde_json::from_value(gen(&["dynamodb", "update", "--name", "items"])).unwrap();
        assert!(ddb.records[0].event_source_arn.as_deref().unwrap().contains("table/items/stream"));
    }

    #[test]
    fn an_unknown_service_or_event_names_the_known_ones() {
        let e = event(&args(&["kinesis"])).unwrap_err().to_string();
        assert!(e.contains("apigateway") && e.contains("dynamodb"), "{e}");
        let e = event(&args(&["s3", "copy"])).unwrap_err().to_string();
        assert!(e.contains("put, delete"), "{e}");
    }
}
