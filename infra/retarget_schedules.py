"""Points the pending one-shot schedules of a schedule group at the step queue.

Schedules created before the stack put a queue between EventBridge Scheduler and the sender
target the sender function itself, which the scheduler role may no longer invoke. Run this once,
right after deploying the stack with the step queue: every schedule of the group whose target is
not the step queue gets the queue as its target, everything else kept (expression, time zone,
flexible window, input, role, dead-letter queue, retry policy, action after completion). Running
it again changes nothing. A schedule that fires (and deletes itself) while the script runs is
skipped. A schedule that fired between the deploy and this run is in the schedules dead-letter
queue (see docs/operations.md, Dead-letter queues and redrive).

Usage: python infra/retarget_schedules.py --group GROUP --queue-arn STEP_QUEUE_ARN [--dry-run]
(GROUP and STEP_QUEUE_ARN are the stack's ScheduleGroupName and StepQueueArn outputs; the usual
AWS credentials, region and AWS_ENDPOINT_URL apply.)
"""

import argparse
import sys

import boto3

# The fields of GetSchedule's answer that CreateSchedule/UpdateSchedule take back as they are.
KEPT = (
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "ActionAfterCompletion",
    "State",
    "Description",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
)


def retarget(client, group: str, queue_arn: str, dry_run: bool) -> tuple[int, int, int]:
    """Returns (retargeted, already on the queue, gone before they could be updated)."""
    moved = kept = gone = 0
    for page in client.get_paginator("list_schedules").paginate(GroupName=group):
        for summary in page["Schedules"]:
            name = summary["Name"]
            try:
                schedule = client.get_schedule(GroupName=group, Name=name)
            except client.exceptions.ResourceNotFoundException:
                gone += 1
                continue
            target = dict(schedule["Target"])
            if target["Arn"] == queue_arn:
                kept += 1
                continue
            target["Arn"] = queue_arn
            # Only FIFO queues take SqsParameters; the other target kinds' parameters do not
            # apply to a queue.
            for key in [k for k in target if k.endswith("Parameters")]:
                del target[key]
            update = {k: schedule[k] for k in KEPT if k in schedule}
            if dry_run:
                moved += 1
                continue
            try:
                client.update_schedule(GroupName=group, Name=name, Target=target, **update)
                moved += 1
            except client.exceptions.ResourceNotFoundException:
                gone += 1
    return moved, kept, gone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", required=True, help="the schedule group (ScheduleGroupName output)")
    parser.add_argument("--queue-arn", required=True, help="the step queue (StepQueueArn output)")
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    args = parser.parse_args()
    if args.queue_arn.split(":")[2:3] != ["sqs"]:
        parser.error("--queue-arn must be the ARN of an SQS queue")
    moved, kept, gone = retarget(boto3.client("scheduler"), args.group, args.queue_arn, args.dry_run)
    verb = "would retarget" if args.dry_run else "retargeted"
    print(f"{verb} {moved}, already on the queue {kept}, fired meanwhile {gone}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
