#!/usr/bin/env python3
"""Load script: resume and archive of a sequence with 100,000 active enrollments on a running
ritmo-local started with --manual-clock. Enrolls the contacts, pauses the sequence, moves the
clock so every first step comes due (each is held), then resumes and archives, timing each
answer (202) and its job, and checks what the jobs leave: no step held after the resume, no
enrollment active after the archive. Exits non-zero if a check fails. Standard library only.

usage: archive.py BASE_URL TOKEN [CONTACTS]
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
contacts = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
BATCH = 1000  # the synchronous endpoint's bound


def call(method, path, body=None, auth=True):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=900) as response:
        raw = response.read()
        return response.status, (json.loads(raw) if raw else None)


def timed(method, path, body=None):
    start = time.perf_counter()
    status, answer = call(method, path, body)
    return status, answer, start, time.perf_counter() - start


def wait_for(job_id, start):
    """The job once finished, and the seconds since `start` (its request's start)."""
    while True:
        _, job = call("GET", f"/v1/jobs/{job_id}")
        if job["status"] not in ("queued", "running"):
            return job, time.perf_counter() - start
        time.sleep(0.05)


def stats(sequence):
    return call("GET", f"/v1/sequences/{sequence}/stats")[1]


_, channel = call("POST", "/v1/channels", {
    "name": "Bench", "phone_number_id": "9100000000", "waba_id": "8100000000",
    "access_token": "bench", "messages_per_second": 1000})
call("POST", "/_dev/templates", {"channel_id": channel["id"], "name": "bench", "language": "pt_BR",
                                 "category": "UTILITY", "status": "APPROVED", "body_parameters": 0},
     auth=False)
_, sequence = call("POST", "/v1/sequences", {"name": "Bench"})
sequence = sequence["id"]
call("POST", f"/v1/sequences/{sequence}/steps", {
    "channel_id": channel["id"], "delay": {"amount": 1, "unit": "hours"},
    "action": {"type": "template", "name": "bench", "language": "pt_BR"}})
call("POST", f"/v1/sequences/{sequence}/activate", {})

start = time.perf_counter()
for i in range(0, contacts, BATCH):
    batch = [{"phone": f"+55119{10_000_000 + j:08d}"} for j in range(i, min(i + BATCH, contacts))]
    call("POST", f"/v1/sequences/{sequence}/enrollments", {"contacts": batch})
print(f"enrolled {contacts:,} in {time.perf_counter() - start:.1f} s")

call("POST", f"/v1/sequences/{sequence}/pause", {})
start = time.perf_counter()
call("POST", "/_dev/clock", {"advance_seconds": 3 * 3600}, auth=False)
_, sent = call("GET", "/_dev/outbox", auth=False)
if sent:
    sys.exit(f"{len(sent)} steps were sent while the sequence was paused")

_, pending = call("GET", "/_dev/schedules", auth=False)
print(f"every first step came due while paused, in {time.perf_counter() - start:.1f} s "
      f"({len(pending):,} still pending)")

failures = []
status, job, started, seconds = timed("POST", f"/v1/sequences/{sequence}/resume", {})
_, now = call("GET", f"/v1/sequences/{sequence}")
job, walked = wait_for(job["job_id"], started)
print(f"resume:  {status} in {seconds * 1000:.0f} ms (sequence {now['status']}); "
      f"its job {job['status']} {walked:.2f} s after the request, done {job['done']:,}, failed {job['failed']:,} "
      f"-> {job['done'] / walked:,.0f} enrollments/s")
if status != 202 or now["status"] != "active" or job["status"] != "succeeded" or job["done"] != contacts:
    failures.append("the resume")
# Planned again: each held step is pending, or sent (the spread's first slot is now: it fires
# at once, and its send waits for the number's slot).
for _ in range(100):
    _, schedules = call("GET", "/_dev/schedules", auth=False)
    _, sent = call("GET", "/_dev/outbox", auth=False)
    if len(schedules) + len(sent) >= contacts:
        break
    time.sleep(0.05)
print(f"after the resume: {len(schedules):,} steps pending, {len(sent):,} sent")
if len(schedules) + len(sent) != contacts:
    failures.append(f"the resume planned {len(schedules) + len(sent):,} steps again, not {contacts:,}")

status, job, started, seconds = timed("DELETE", f"/v1/sequences/{sequence}")
_, now = call("GET", f"/v1/sequences/{sequence}")
job, walked = wait_for(job["job_id"], started)
after = stats(sequence)
print(f"archive: {status} in {seconds * 1000:.0f} ms (sequence {now['status']}); "
      f"its job {job['status']} {walked:.2f} s after the request, done {job['done']:,}, failed {job['failed']:,} "
      f"-> {job['done'] / walked:,.0f} enrollments/s")
active = after["enrollments"].get("active", 0)
print(f"afterwards: {active:,} active, {after['exit_reasons'].get('sequence_archived', 0):,} "
      f"ended sequence_archived")
if status != 202 or now["status"] != "archived" or job["status"] != "succeeded" or active != 0:
    failures.append("the archive")
if failures:
    sys.exit("failed: " + "; ".join(failures))
