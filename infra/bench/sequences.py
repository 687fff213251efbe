#!/usr/bin/env python3
"""Load script: enroll 10,000 contacts through a running ritmo-local and wait until every first
step was sent. Prints enrollments/s and sends/s. Standard library only.

usage: sequences.py BASE_URL TOKEN [CONTACTS]
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
contacts = int(sys.argv[3]) if len(sys.argv) > 3 else 10_000
SEQUENCES = 10  # one channel each, so per-number pacing is not the only limit
BATCH = 100


def call(method, path, body=None, content_type="application/json", auth=True):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if auth:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


sequences = []
for n in range(SEQUENCES):
    channel = call("POST", "/v1/channels", {
        "name": f"Bench {n}", "phone_number_id": f"{9000000000 + n}", "waba_id": f"{8000000000 + n}",
        "access_token": "bench", "messages_per_second": 1000})
    call("POST", "/_dev/templates", {"channel_id": channel["id"], "name": "bench", "language": "pt_BR",
                                     "category": "UTILITY", "status": "APPROVED", "body_parameters": 1},
         auth=False)
    sequence = call("POST", "/v1/sequences", {"name": f"Bench {n}"})
    call("POST", f"/v1/sequences/{sequence['id']}/steps", {
        "channel_id": channel["id"], "delay": {"amount": 0, "unit": "minutes"},
        "action": {"type": "template", "name": "bench", "language": "pt_BR",
                   "parameters": ["{{contact.name|cliente}}"]}})
    call("POST", f"/v1/sequences/{sequence['id']}/activate", {})
    sequences.append(sequence["id"])

start = time.perf_counter()
enrolled = 0
for i in range(0, contacts, BATCH):
    sequence = sequences[(i // BATCH) % SEQUENCES]
    batch = [{"phone": f"+55119{10_000_000 + j:08d}", "name": f"C{j}"} for j in range(i, min(i + BATCH, contacts))]
    results = call("POST", f"/v1/sequences/{sequence}/enrollments", {"contacts": batch})["results"]
    enrolled += sum(1 for r in results if r["status"] == "enrolled")
enroll_seconds = time.perf_counter() - start

while True:
    sent = len(call("GET", "/_dev/outbox", auth=False))
    if sent >= enrolled:
        break
    if time.perf_counter() - start > 600:
        sys.exit(f"only {sent} of {enrolled} sent after 600 s")
    time.sleep(0.05)
total_seconds = time.perf_counter() - start

print(f"contacts enrolled: {enrolled} in {enroll_seconds:.2f} s -> {enrolled / enroll_seconds:,.0f} enrollments/s")
print(f"first steps sent:  {sent} within {total_seconds:.2f} s of the first enrollment "
      f"-> {sent / total_seconds:,.0f} sends/s (enrollment and sending overlap)")
