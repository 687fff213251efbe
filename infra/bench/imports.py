#!/usr/bin/env python3
"""Load script: import a CSV of ROWS rows (1% not a phone, 1% a phone repeated) into a running
ritmo-local through POST /v1/sequences/{id}/imports, follow the job's progress and check its
final counts. Prints the upload time, rows/s and the job's counts. Standard library only.
With `upload` the file goes through an upload link instead (`{"upload": true}`, then a PUT of
the file to the link), as a client with a file larger than a request takes does.

usage: imports.py BASE_URL TOKEN [ROWS] [body|upload]
"""
import json
import sys
import time
import urllib.request

base, token = sys.argv[1], sys.argv[2]
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
mode = sys.argv[4] if len(sys.argv) > 4 else "body"
if mode not in ("body", "upload"):
    sys.exit(f"mode must be body or upload, not {mode!r}")


def call(method, path, body=None, content_type="application/json", auth=True):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if auth:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=600) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


channel = call("POST", "/v1/channels", {
    "name": "Bench", "phone_number_id": "9100000000", "waba_id": "8100000000",
    "access_token": "bench", "messages_per_second": 1000})
call("POST", "/_dev/templates", {"channel_id": channel["id"], "name": "bench", "language": "pt_BR",
                                 "category": "UTILITY", "status": "APPROVED", "body_parameters": 1},
     auth=False)
sequence = call("POST", "/v1/sequences", {"name": "Bench import"})
# A day before the first send: the benchmark measures the import, not the sends.
call("POST", f"/v1/sequences/{sequence['id']}/steps", {
    "channel_id": channel["id"], "delay": {"amount": 1, "unit": "days"},
    "action": {"type": "template", "name": "bench", "language": "pt_BR",
               "parameters": ["{{contact.name|cliente}}"]}})
call("POST", f"/v1/sequences/{sequence['id']}/activate", {})

lines = ["\ufeffphone;name;cupom"]
invalid = distinct = 0
for i in range(rows):
    if i % 100 == 99:
        invalid += 1
        lines.append(f"0{i};Inválido;X")
    elif i % 100 == 50:
        lines.append(f"+55119{20_000_000 + i - 1:08d};Repetido;X")
    else:
        distinct += 1
        lines.append(f"+55119{20_000_000 + i:08d};Cliente {i};C{i}")
body = ("\r\n".join(lines) + "\r\n").encode()

start = time.perf_counter()
if mode == "body":
    job_id = call("POST", f"/v1/sequences/{sequence['id']}/imports", body, "text/csv")["job_id"]
else:
    link = call("POST", f"/v1/sequences/{sequence['id']}/imports", {"upload": True})
    job_id = link["job_id"]
    put = urllib.request.Request(link["upload_url"], data=body, method=link["upload_method"])
    with urllib.request.urlopen(put, timeout=600) as response:
        response.read()
uploaded = time.perf_counter() - start
last = -1.0
while True:
    job = call("GET", f"/v1/jobs/{job_id}")
    if job["status"] not in ("queued", "running"):
        break
    if job["progress"] - last >= 0.1:
        last = job["progress"]
        print(f"  {time.perf_counter() - start:7.1f} s  progress {job['progress']:.2f}  done {job['done']}  failed {job['failed']}")
    time.sleep(0.2)
seconds = time.perf_counter() - start
stats = call("GET", f"/v1/sequences/{sequence['id']}/stats")
active = stats["enrollments"]["active"]
print(f"import of {rows} rows ({len(body) / 1e6:.1f} MB, {mode}): uploaded in {uploaded:.2f} s, "
      f"job {job['status']} after {seconds:.1f} s: {rows / seconds:,.0f} rows/s")
print(f"  total {job['total']}, done {job['done']}, failed {job['failed']}, enrolled {active}")
expected = (rows, rows - invalid, invalid, distinct)
if (job["total"], job["done"], job["failed"], active) != expected or job["status"] != "succeeded":
    sys.exit(f"wrong counts: expected total, done, failed, enrolled = {expected}")
