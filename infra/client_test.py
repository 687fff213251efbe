"""The Python client generated from docs/openapi.json against a running ritmo-local.

Usage: client_test.py CLIENT_DIR BASE_URL TOKEN

CLIENT_DIR holds the generated package `ritmo_client` (`openapi-python-client generate --meta
none --output-path CLIENT_DIR/ritmo_client`). Builds the README tour's requests with the
generated models (the step's `window` without a `time_zone`, which defaults to the sequence's)
and checks the answers. Prints one line per check and `N passed, M failed`; exits 1 on a failure.
"""

import json
import sys
import time
import urllib.request

client_dir, base, token = sys.argv[1:4]
sys.path.insert(0, client_dir)

from ritmo_client import AuthenticatedClient  # noqa: E402
from ritmo_client.api.channels import create_channel  # noqa: E402
from ritmo_client.api.enrollments import import_contacts  # noqa: E402
from ritmo_client.api.health import health  # noqa: E402
from ritmo_client.api.jobs import get_job  # noqa: E402
from ritmo_client.api.sequences import activate_sequence, add_step, create_sequence  # noqa: E402
from ritmo_client.models import (  # noqa: E402
    ChannelInput,
    DelayInMinutes,
    DelayInMinutesUnit,
    SequenceInput,
    StepInput,
    StepWindow,
    StepWindowDays,
    TemplateActionInput,
    TemplateActionInputType,
    UploadRequest,
)
from ritmo_client.types import Unset  # noqa: E402

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok    {name}")
    else:
        failed += 1
        print(f"FAIL  {name}: {detail}")


def post_json(path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return response.status


api = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

answer = health.sync_detailed(client=api)
check("GET /health answers 200", answer.status_code == 200, answer.status_code)

answer = create_channel.sync_detailed(
    client=api,
    body=ChannelInput(
        name="Loja",
        phone_number_id="1098765432",
        waba_id="2098765432",
        display_phone="+55 11 4000-0000",
        access_token="EAAG...",
    ),
)
check("POST /v1/channels answers 201", answer.status_code == 201, answer.content[:300])
channel = answer.parsed

# The local outbox plays WhatsApp: the number's approved template (a dev-only route).
status = post_json(
    "/_dev/templates",
    {
        "channel_id": channel.id,
        "name": "boas_vindas",
        "language": "pt_BR",
        "category": "MARKETING",
        "status": "APPROVED",
        "body_parameters": 1,
    },
)
check("POST /_dev/templates accepts the template", status in (200, 201, 204), status)

answer = create_sequence.sync_detailed(
    client=api, body=SequenceInput(name="Boas-vindas", time_zone="America/Sao_Paulo")
)
check("POST /v1/sequences answers 201", answer.status_code == 201, answer.content[:300])
sequence = answer.parsed

weekday = [["09:00", "18:00"]]
step = StepInput(
    channel_id=channel.id,
    action=TemplateActionInput(
        type_=TemplateActionInputType.TEMPLATE,
        name="boas_vindas",
        language="pt_BR",
        parameters=["{{contact.name|cliente}}"],
    ),
    delay=DelayInMinutes(amount=1, unit=DelayInMinutesUnit.MINUTES),
    window=StepWindow(
        days=StepWindowDays(mon=weekday, tue=weekday, wed=weekday, thu=weekday, fri=weekday)
    ),
)
sent = step.to_dict()
check(
    "the step's window is sent without a time_zone",
    "time_zone" not in sent["window"],
    sent["window"],
)
answer = add_step.sync_detailed(sequence.id, client=api, body=step)
check("POST /v1/sequences/{id}/steps answers 201", answer.status_code == 201, answer.content[:300])
created = answer.parsed
window = getattr(created, "window", None)
zone = getattr(window, "time_zone", None)
check(
    "the step's window takes the sequence's zone",
    not isinstance(zone, Unset) and zone == "America/Sao_Paulo",
    answer.content[:300],
)

answer = activate_sequence.sync_detailed(sequence.id, client=api)
check("POST /v1/sequences/{id}/activate answers 200", answer.status_code == 200, answer.content[:300])

# An import through an upload link: the client asks for the link, PUTs the file to it with
# no token (the link is the authorization), and follows the job.
answer = import_contacts.sync_detailed(sequence.id, client=api, body=UploadRequest(upload=True))
check("POST /v1/sequences/{id}/imports {upload: true} answers 202", answer.status_code == 202, answer.content[:300])
started = answer.parsed
upload_url = getattr(started, "upload_url", None)
check("the answer gives an upload link", isinstance(upload_url, str) and upload_url.startswith("http"), answer.content[:300])
job = get_job.sync(started.job_id, client=api)
check("the job waits for its file", job.awaiting_upload and job.status.value == "queued", job)
request = urllib.request.Request(
    upload_url,
    data="phone;name\n+5511987650001;Ana\n+5511987650002;Bia\n".encode(),
    method="PUT",
)
with urllib.request.urlopen(request) as response:
    check("PUT to the upload link answers 200", response.status == 200, response.status)
for _ in range(500):
    job = get_job.sync(started.job_id, client=api)
    if job.status.value not in ("queued", "running"):
        break
    time.sleep(0.02)
check(
    "the uploaded import succeeds with both rows",
    job.status.value == "succeeded" and job.done == 2 and job.failed == 0,
    job,
)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
