"""Creates a small working data set in a running ritmo-local before schemathesis fuzzes it, so
that generated requests also meet real resources: a channel, a bot, an active sequence with a
chatbot step (a window read in the contact's zone) and enrolled contacts, a paused sequence,
whatsapp links and a sticky rotator with opening hours. Schemathesis picks the ids up from the
list responses.

It also writes a schemathesis configuration that pins the path parameters of the operations
that take the richest bodies to these resources (the active sequence, its first step, the
rotator), for a pass that fuzzes those bodies against a real resource rather than a 404.

Usage: schemathesis_seed.py BASE_URL TOKEN CONFIG.toml
"""

import json
import sys
import urllib.request


def main() -> int:
    base, token, config = sys.argv[1:]

    def call(method: str, path: str, body=None):
        request = urllib.request.Request(
            base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            text = response.read()
            return json.loads(text) if text else None

    channel = call("POST", "/v1/channels", {
        "name": "Loja", "phone_number_id": "1098765432", "waba_id": "2098765432",
        "display_phone": "+55 11 4000-0000", "access_token": "EAAG-seed",
    })["id"]
    bot = call("POST", "/v1/bots", {
        "name": "Triagem", "webhook_url": "https://bot.example.com/ritmo",
        "secret": "0123456789abcdef0123",
    })["id"]
    week = {day: [["08:00", "12:00"], ["13:00", "24:00"]] for day in ["mon", "tue", "wed", "thu", "fri"]}
    sequences = {}
    for status in ["active", "paused"]:
        sequence = call("POST", "/v1/sequences", {"name": f"Seed {status}", "time_zone": "America/Sao_Paulo"})["id"]
        sequences[status] = sequence
        for delay in [{"amount": 1, "unit": "days"}, {"amount": 2, "unit": "hours"}]:
            step = call("POST", f"/v1/sequences/{sequence}/steps", {
                "channel_id": channel, "action": {"type": "chatbot", "bot_id": bot}, "delay": delay,
                "window": {"use_contact_time_zone": True, "days": week,
                           "exceptions": [{"date": "2026-12-25", "ranges": []}]},
            })["id"]
            sequences.setdefault(f"{status}_step", step)
        call("POST", f"/v1/sequences/{sequence}/activate", {})
        call("POST", f"/v1/sequences/{sequence}/enrollments", {"contacts": [
            {"phone": "+5511987654321", "name": "Ana", "attributes": {"coupon": "X1"}},
            {"phone": "+5521987654321", "time_zone": "America/Manaus"},
            {"phone": "+14155550123", "name": "Bob", "time_zone": "America/Los_Angeles"},
        ]})
        if status == "paused":
            call("POST", f"/v1/sequences/{sequence}/pause", {})
    call("POST", "/v1/links", {"slug": "ana", "type": "whatsapp", "phone": "+5511987654321", "text": "Olá!"})
    call("POST", "/v1/links", {
        "slug": "bia", "type": "whatsapp", "phone": "+5511987654322",
        "hours": {"time_zone": "America/Sao_Paulo", "days": week},
    })
    call("POST", "/v1/links", {
        "slug": "loja", "type": "rotator", "members": [{"link": "ana"}, {"link": "bia", "weight": 2}],
        "sticky": True, "sticky_days": 30, "hours": {"time_zone": "UTC", "days": week},
        "when_closed": {"type": "page", "message": "Voltamos às 8h"},
        "preview": {"title": "Loja", "description": "Fale conosco"},
    })
    active, step = sequences["active"], sequences["active_step"]
    pins = {
        "enrollContacts": {"id": active},
        "listEnrollments": {"id": active},
        "importContacts": {"id": active},
        "removeListedContacts": {"id": active},
        "addStep": {"id": active},
        "replaceStep": {"id": active, "step_id": step},
        "moveStep": {"id": active, "step_id": step},
        "updateSequence": {"id": active},
        "replaceLink": {"slug": "loja"},
        "linkStats": {"slug": "loja"},
    }
    with open(config, "w") as f:
        f.write("# Written by infra/schemathesis_seed.py for one run: path parameters pinned to seeded data.\n")
        for operation, parameters in pins.items():
            values = ", ".join(f'{name} = "{value}"' for name, value in parameters.items())
            f.write(f'\n[[operations]]\ninclude-operation-id = "{operation}"\nparameters = {{ {values} }}\n')
    print(f"seeded: channel {channel}, bot {bot}, two sequences with contacts, links ana, bia, loja")
    return 0


if __name__ == "__main__":
    sys.exit(main())
