"""Checks template.yaml for the properties the stack promises, beyond what cfn-lint and checkov
know: where secrets live and who may open them, the queues and their dead-letter queues and
alarms, the webhook's own throttle, the closed redirect origin, and that every documented admin
operation reaches the function whose router serves it. Run by infra/test.sh; exits 1 naming
every broken promise."""

import json
import os
import sys

from cfnlint.decode import cfn_yaml

template = cfn_yaml.load(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
resources = template["Resources"]
parameters = set(template.get("Parameters", {}))
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def functions():
    return {
        name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
    }


def statements(function):
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            yield from policy.get("Statement", [])


def allows(function, action, resource_ref):
    """Whether a statement of the function allows `action` on the resource named `resource_ref`."""
    for statement in statements(function):
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        targets = statement.get("Resource")
        targets = targets if isinstance(targets, list) else [targets]
        if action in actions and any(
            t == {"Ref": resource_ref} or t == {"Fn::GetAtt": [resource_ref, "Arn"]}
            for t in targets
        ):
            return True
    return False


def mentions(value, names):
    """Whether a template value refers to one of `names` (Ref, GetAtt or inside a Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") in names:
            return True
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            if any("${" + n + "}" in text for n in names) or "resolve:secretsmanager" in text:
                return True
        return any(mentions(v, names) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, names) for v in value)
    return False


secret_parameters = {"WhatsAppAppSecret", "WhatsAppVerifyToken"} & parameters
secret_resources = {"CursorKey", "StickyKey", "WhatsAppAppSecretValue", "WhatsAppVerifyTokenValue"}
openers = {
    "SequencesApiFunction",
    "EnrollmentsApiFunction",
    "SenderFunction",
    "WebhookWorkerFunction",
    "JobWorkerFunction",
}

for name, function in functions().items():
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    for var, value in variables.items():
        # A secret's value never sits in an environment: only secrets' ARNs (Ref of a
        # Secrets Manager secret) under <VAR>_ARN.
        check(
            not mentions(value, secret_parameters),
            f"{name}: {var} holds a secret parameter's value",
        )
        if mentions(value, secret_resources):
            check(
                var.endswith("_ARN") and value.get("Ref") in secret_resources,
                f"{name}: {var} must name its Secrets Manager secret by ARN (<VAR>_ARN: !Ref)",
            )
            check(
                allows(function, "secretsmanager:GetSecretValue", value["Ref"]),
                f"{name}: reads {value.get('Ref')} but may not GetSecretValue on it",
            )
    opens = allows(function, "kms:Decrypt", "SecretsKey")
    check(
        opens == (name in openers),
        f"{name}: kms:Decrypt on SecretsKey must be {'granted' if name in openers else 'absent'}",
    )
    check(
        ("RITMO_SECRETS_KEY_ID" in variables) == (name in openers),
        f"{name}: RITMO_SECRETS_KEY_ID must be {'set' if name in openers else 'absent'}",
    )

check(
    resources["SecretsKey"]["Properties"].get("EnableKeyRotation") is True,
    "SecretsKey: rotation must be on",
)
sse = resources["Table"]["Properties"].get("SSESpecification", {})
check(
    sse.get("SSEType") == "KMS" and sse.get("KMSMasterKeyId") == {"Ref": "TableKey"},
    "Table: encrypted with TableKey",
)

# Warm throughput on the table and both indexes, from parameters (docs/deploy.md has the arithmetic).
table = resources["Table"]["Properties"]
check(
    mentions(table.get("WarmThroughput"), ["TableWarmWriteUnits"])
    and mentions(table.get("WarmThroughput"), ["TableWarmReadUnits"]),
    "Table: WarmThroughput from TableWarmWriteUnits and TableWarmReadUnits",
)
for index in table.get("GlobalSecondaryIndexes", []):
    parameter = f"{index['IndexName'].capitalize()}WarmWriteUnits"
    check(
        parameter in template.get("Parameters", {}) and mentions(index.get("WarmThroughput"), [parameter]),
        f"Table: index {index['IndexName']} has WarmThroughput from {parameter}",
    )

# Every queue is encrypted; every consumed queue has a dead-letter queue with an alarm.
alarmed = {
    a["Properties"]["Dimensions"][0]["Value"].get("Fn::GetAtt", [None])[0]
    for a in resources.values()
    if a["Type"] == "AWS::CloudWatch::Alarm"
    and a["Properties"].get("Namespace") == "AWS/SQS"
    and a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
}
for name, queue in resources.items():
    if queue["Type"] != "AWS::SQS::Queue":
        continue
    check(queue["Properties"].get("SqsManagedSseEnabled") is True, f"{name}: encrypted (SSE-SQS)")
    redrive = queue["Properties"].get("RedrivePolicy")
    if redrive:
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        check(dlq in alarmed, f"{name}: its dead-letter queue {dlq} has no alarm")

consumers = {}
for name, function in functions().items():
    for event in function["Properties"].get("Events", {}).values():
        if event["Type"] == "SQS":
            queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            consumers[queue] = (name, event["Properties"])
for queue in ("StepQueue", "NotificationQueue", "JobQueue"):
    check(queue in consumers, f"{queue}: consumed by a function")
    if queue in consumers:
        name, props = consumers[queue]
        check(
            "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            f"{queue}: {name} reports partial batch failures",
        )
        check("RedrivePolicy" in resources[queue]["Properties"], f"{queue}: has a dead-letter queue")

# The imports bucket: private, encrypted with its own key, emptied by a lifecycle rule; its
# uploads' completions reach the job queue; only enrollments-api signs links (PutObject) and
# only job-worker reads and deletes the files.
bucket = resources["ImportsBucket"]["Properties"]
block = bucket.get("PublicAccessBlockConfiguration", {})
check(
    all(block.get(k) is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")),
    "ImportsBucket: every public access blocked",
)
encryption = bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])[0]
check(
    encryption.get("ServerSideEncryptionByDefault", {}).get("KMSMasterKeyID") == {"Fn::GetAtt": ["ImportsKey", "Arn"]},
    "ImportsBucket: encrypted with ImportsKey",
)
check(
    any(r.get("Status") == "Enabled" and r.get("ExpirationInDays") for r in bucket.get("LifecycleConfiguration", {}).get("Rules", [])),
    "ImportsBucket: a lifecycle rule expires what is left",
)
check(
    bucket.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") is True,
    "ImportsBucket: sends its events to EventBridge",
)
rule = resources["UploadCompletedRule"]["Properties"]
check(
    rule["EventPattern"].get("detail-type") == ["Object Created"]
    and rule["EventPattern"]["detail"]["bucket"]["name"] == [{"Ref": "ImportsBucket"}]
    and [t["Arn"] for t in rule["Targets"]] == [{"Fn::GetAtt": ["JobQueue", "Arn"]}],
    "UploadCompletedRule: the bucket's Object Created events go to the job queue",
)


def s3_actions(function):
    found = set()
    for statement in statements(function):
        actions = statement.get("Action")
        actions = actions if isinstance(actions, list) else [actions]
        if mentions(statement.get("Resource"), {"ImportsBucket.Arn", "ImportsBucket"}):
            found.update(a for a in actions if a.startswith("s3:"))
    return found


for name, function in functions().items():
    expected = {
        "EnrollmentsApiFunction": {"s3:PutObject"},
        "JobWorkerFunction": {"s3:GetObject", "s3:DeleteObject"},
    }.get(name, set())
    check(s3_actions(function) == expected, f"{name}: imports bucket access {sorted(s3_actions(function))}, expected {sorted(expected)}")
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    check(("RITMO_IMPORTS_BUCKET" in variables) == bool(expected), f"{name}: RITMO_IMPORTS_BUCKET must be {'set' if expected else 'absent'}")

# The webhook: its own throttle, and it only queues.
routes = resources["HttpApi"]["Properties"].get("RouteSettings", {})
check("POST /webhooks/whatsapp" in routes, "HttpApi: POST /webhooks/whatsapp has its own throttle")
webhook = resources["WebhookFunction"]
check(
    allows(webhook, "sqs:SendMessage", "NotificationQueue"),
    "WebhookFunction: may send to NotificationQueue",
)
check(
    not any(
        str(a).startswith("dynamodb:")
        for s in statements(webhook)
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ),
    "WebhookFunction: no table access (it only checks signatures and queues)",
)

# The redirect's origin is closed: IAM-authenticated function URL behind origin access control.
redirect = resources["RedirectFunction"]["Properties"]
check(
    redirect.get("FunctionUrlConfig", {}).get("AuthType") == "AWS_IAM",
    "RedirectFunction: function URL with AuthType AWS_IAM",
)
check(
    any(r["Type"] == "AWS::CloudFront::OriginAccessControl" for r in resources.values()),
    "an origin access control for the redirect's URL",
)

# Every documented /v1 operation reaches, by API Gateway's route choice (a route without a
# greedy `{proxy+}` first, then the longest greedy prefix), the function that serves its tag.
SERVED_BY = {
    "channels": "SequencesApiFunction",
    "bots": "SequencesApiFunction",
    "sequences": "SequencesApiFunction",
    "jobs": "SequencesApiFunction",
    "enrollments": "EnrollmentsApiFunction",
    "links": "LinksApiFunction",
}
routes_of_api = []
for name, function in functions().items():
    for event in function["Properties"].get("Events", {}).values():
        if event.get("Type") == "HttpApi":
            props = event["Properties"]
            routes_of_api.append((props["Path"], props.get("Method", "ANY").upper(), name))


def route_for(method, path):
    segments = path.strip("/").split("/")
    exact, greedy = [], []
    for route, route_method, name in routes_of_api:
        if route_method not in ("ANY", method):
            continue
        parts = route.strip("/").split("/")
        if parts[-1] == "{proxy+}":
            prefix = parts[:-1]
            if len(segments) > len(prefix) and all(
                p.startswith("{") or p == s for p, s in zip(prefix, segments)
            ):
                greedy.append((len(prefix), name))
        elif len(parts) == len(segments) and all(
            p.startswith("{") or p == s for p, s in zip(parts, segments)
        ):
            exact.append(name)
    if exact:
        return exact[0]
    return max(greedy)[1] if greedy else None


openapi_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "openapi.json")
with open(openapi_path) as document:
    for path, operations in json.load(document)["paths"].items():
        for method, operation in operations.items():
            tag = (operation.get("tags") or [None])[0] if isinstance(operation, dict) else None
            if tag not in SERVED_BY:
                continue
            reached = route_for(method.upper(), path)
            check(
                reached == SERVED_BY[tag],
                f"{method.upper()} {path}: routed to {reached}, served by {SERVED_BY[tag]}",
            )

# The console is served by the sequences-api function, with no authorizer on its routes alone:
# its page holds no data, and every /v1 route keeps the JWT authorizer.
for path in ("/console", "/console/app.js", "/console/config.json"):
    check(route_for("GET", path) == "SequencesApiFunction", f"GET {path}: routed to {route_for('GET', path)}")
for name, function in functions().items():
    for event in function["Properties"].get("Events", {}).values():
        if event.get("Type") != "HttpApi":
            continue
        path = event["Properties"]["Path"]
        open_route = event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
        if path.startswith("/v1"):
            check(not open_route, f"{path} ({name}) has no authorizer")
        if path.startswith("/console"):
            check(open_route, f"{path} ({name}) is behind the JWT authorizer, which would refuse the page itself")
client = resources.get("ConsoleUserPoolClient", {}).get("Properties", {})
check(client.get("GenerateSecret") is False and client.get("AllowedOAuthFlows") == ["code"],
      "the console's app client is a public authorization-code client")
check(not any(a.startswith("custom:") for a in client.get("WriteAttributes", [])),
      "the console's app client cannot write custom:tenant or custom:role")
check(resources.get("ConsoleUserPool", {}).get("Properties", {}).get("AdminCreateUserConfig", {}).get("AllowAdminCreateUserOnly") is True,
      "only administrators create console users")

if problems:
    print("template.yaml breaks these promises:")
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)
print(f"template.yaml: {len(functions())} functions, {len(resources)} resources, every promise kept")
