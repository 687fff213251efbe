"""Checks template.yaml for the properties the stack promises, beyond what cfn-lint and checkov
know: where secrets live and who may open them, the queues and their dead-letter queues and
alarms, the webhook's own throttle, the closed redirect origin. Run by infra/test.sh; exits 1
naming every broken promise."""

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

if problems:
    print("template.yaml breaks these promises:")
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)
print(f"template.yaml: {len(functions())} functions, {len(resources)} resources, every promise kept")
