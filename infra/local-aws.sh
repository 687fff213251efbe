#!/usr/bin/env bash
# Runs the real Lambda functions on this machine against a local AWS emulator (moto): starts the
# emulator, creates the table, the schedule group, the step queue and the dead-letter queues, writes the
# functions' environment to .local-aws.env, and prints how to run and call them with
# `cargo lambda watch` / `cargo lambda invoke`. Ctrl-C stops the emulator.
#
# Usage: infra/local-aws.sh [PORT]   (default 5055)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-5055}"

if ! .venv/bin/python -c 'import moto.server, boto3' 2>/dev/null || [ ! -x .venv/bin/cargo-lambda ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet 'moto[server]' cargo-lambda ziglang
fi

source infra/moto.sh
start_moto "$port" || exit 1
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT

export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
.venv/bin/python - <<'PY'
import boto3
ddb = boto3.client("dynamodb")
s = lambda name: {"AttributeName": name, "AttributeType": "S"}
ddb.create_table(
    TableName="ritmo",
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[s("pk"), s("sk"), s("gsi1pk"), s("gsi1sk")],
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    GlobalSecondaryIndexes=[{
        "IndexName": "gsi1",
        "KeySchema": [{"AttributeName": "gsi1pk", "KeyType": "HASH"}, {"AttributeName": "gsi1sk", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
)
ddb.update_time_to_live(TableName="ritmo", TimeToLiveSpecification={"AttributeName": "ttl", "Enabled": True})
boto3.client("scheduler").create_schedule_group(Name="ritmo")
sqs = boto3.client("sqs")
sqs.create_queue(QueueName="ritmo-schedules-dlq")
steps_dlq = sqs.create_queue(QueueName="ritmo-steps-dlq")["QueueUrl"]
steps_dlq_arn = sqs.get_queue_attributes(QueueUrl=steps_dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
sqs.create_queue(
    QueueName="ritmo-steps",
    Attributes={
        "VisibilityTimeout": "360",
        "RedrivePolicy": '{"deadLetterTargetArn": "%s", "maxReceiveCount": "5"}' % steps_dlq_arn,
    },
)
PY

cat > .local-aws.env <<ENV
AWS_ENDPOINT_URL=$endpoint
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
AWS_REGION=us-east-1
RUST_LOG=info
RITMO_TABLE=ritmo
RITMO_CURSOR_KEY=local-cursor-key-local-cursor-key-0123
RITMO_SCHEDULE_GROUP=ritmo
RITMO_STEP_QUEUE_ARN=arn:aws:sqs:us-east-1:123456789012:ritmo-steps
RITMO_SCHEDULER_ROLE_ARN=arn:aws:iam::123456789012:role/ritmo-scheduler
RITMO_SCHEDULER_DLQ_ARN=arn:aws:sqs:us-east-1:123456789012:ritmo-schedules-dlq
RITMO_WHATSAPP_VERIFY_TOKEN=local-verify-token-0123
RITMO_WHATSAPP_APP_SECRET=local-app-secret-0123456
RITMO_STICKY_KEY=local-sticky-key-local-sticky-key-0123
RITMO_PUBLIC_BASE_URL=http://127.0.0.1:9000/lambda-url/redirect
ENV

fixtures=shared/lambda/tests/fixtures
cat <<TXT
AWS emulator at $endpoint with table "ritmo", schedule group "ritmo", the step queue "ritmo-steps"
and the dead-letter queues "ritmo-steps-dlq" and "ritmo-schedules-dlq".
The functions' environment is in .local-aws.env.

In another terminal, run every function (rebuilt on change) on http://127.0.0.1:9000:

  export PATH="\$PWD/.venv/bin:\$PATH"
  cargo lambda watch --env-file .local-aws.env

Call them:

  # an admin API call as API Gateway delivers it, with the JWT authorizer's claims
  cargo lambda invoke sequences-api --data-file $fixtures/apigw-v2-admin-create-sequence.json
  cargo lambda invoke enrollments-api --data-file $fixtures/apigw-v2-viewer-list-enrollments.json

  # the sender, with a batch of one step job as the step queue's event source mapping delivers it
  cargo lambda invoke sender --data-file $fixtures/sqs-step-job.json

  # plain HTTP through the function URLs (no authorizer here, so /v1 answers 401)
  curl -i 'http://127.0.0.1:9000/lambda-url/webhook/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=local-verify-token-0123&hub.challenge=42'
  curl -i http://127.0.0.1:9000/lambda-url/redirect/mystore
  curl -i http://127.0.0.1:9000/lambda-url/sequences-api/health

Ctrl-C stops the emulator (its data is in memory only).
TXT
wait "$moto_pid"
