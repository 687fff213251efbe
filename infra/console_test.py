"""The admin console used as a person would, in a real headless Chromium.

Starts `ritmo-local --manual-clock` (the outbox plays WhatsApp) and walks every flow of the
console at phone width in pt-BR: a channel and a bot, a sequence built as the seed pages describe
(Nova, nome, Continuar, "+", canal, modelo de mensagem, Programação, Horários, Salvar), steps
reordered, edited and deleted, the sequence activated, paused and resumed; contacts added one by
one, pasted and imported from a CSV with its error file, one removed; the clock moved and the
step seen sent in the contact's timeline and the funnel; a Sequencial built, clicked, its
rotation seen in the stats. Then a viewer (no editing controls), another tenant (the not-found
page), English, sign-out and sign-in. Every page is checked with axe-core (no serious or
critical violation) and photographed at phone and desktop width.

    python infra/console_test.py <ritmo-local binary> <axe.min.js> <output directory>
"""

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.error
import urllib.request

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

PHONE = (390, 844)
DESKTOP = (1280, 900)
SECRET = "console-test-secret-0123456789abcdef"
APP_SECRET = "console-test-meta-app-secret"
WABA_ID = "2098765432"
PHONE_NUMBER_ID = "1098765432"
HUMAN_UA = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36"
BOT_UA = "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"


def token(tenant, role):
    def part(obj):
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing = f"{part({'typ': 'JWT', 'alg': 'HS256'})}.{part({'exp': int(time.time()) + 3600, 'role': role, 'sub': f'{tenant}-{role}', 'tenant': tenant})}"
    signature = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def meta_webhook(base, payload):
    """A notification as Meta delivers it: signed with the app secret (X-Hub-Signature-256)."""
    body = json.dumps(payload).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{base}/webhooks/whatsapp", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status


def statuses(*items):
    return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "551140000000", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": list(items)}}]}]}


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Console:
    def __init__(self, driver, base, axe, out):
        self.d, self.base, self.axe_source, self.out = driver, base, axe, out
        self.pages_checked = []

    # -- finding things as a person does: by what the screen says
    def wait(self, condition, timeout=15):
        return WebDriverWait(self.d, timeout, ignored_exceptions=[StaleElementReferenceException]).until(condition)

    def main_text(self):
        return self.d.find_element(By.ID, "main").text

    def see(self, text, timeout=15):
        try:
            self.wait(lambda d: text in self.main_text(), timeout)
        except TimeoutException:
            raise AssertionError(f"{text!r} never showed; the page says:\n{self.main_text()}") from None

    def not_see(self, text):
        assert text not in self.main_text(), f"{text!r} should not show:\n{self.main_text()}"

    def heading(self, text):
        self.wait(lambda d: any(text in h.text for h in d.find_elements(By.TAG_NAME, "h1")))

    def open(self, hash_):
        self.d.get(f"{self.base}/console{hash_}")
        self.wait(lambda d: "Carregando" not in self.main_text() and "Loading" not in self.main_text())

    def by_label(self, label):
        found = self.wait(lambda d: d.find_elements(By.XPATH, f"//label[normalize-space()={xpath_string(label)} and @for]"))
        return self.d.find_element(By.ID, found[-1].get_attribute("for"))

    def fill(self, label, value):
        element = self.by_label(label)
        element.clear()
        element.send_keys(value)
        return element

    def choose(self, label, visible):
        Select(self.by_label(label)).select_by_visible_text(visible)

    def tick(self, label):
        box = self.wait(lambda d: d.find_element(By.XPATH, f"//label[contains(normalize-space(), {xpath_string(label)})]//input"))
        if not box.is_selected():
            box.click()

    def press(self, text, confirm=False):
        target = self.wait(lambda d: [e for e in d.find_elements(By.XPATH, f"//button[normalize-space()={xpath_string(text)} or @aria-label={xpath_string(text)}] | //a[normalize-space()={xpath_string(text)} or @aria-label={xpath_string(text)}]") if e.is_displayed()])
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", target[0])
        target[0].click()
        if confirm:
            self.wait(EC.alert_is_present()).accept()

    def absent(self, text):
        hits = [e for e in self.d.find_elements(By.XPATH, f"//main//button[normalize-space()={xpath_string(text)} or @aria-label={xpath_string(text)}] | //main//a[normalize-space()={xpath_string(text)} or @aria-label={xpath_string(text)}]")]
        assert not hits, f"{text!r} should not be offered to a viewer"

    def bar(self, within, label):
        """The number beside bar `label` of a chart inside the element of class `within`."""
        return self.d.find_element(By.XPATH, f"//*[contains(@class,'{within}')]//div[@class='bar'][span[1][normalize-space()={xpath_string(label)}]]/span[@class='value']").text

    def error_next_to(self, label):
        element = self.by_label(label)
        slot = self.d.find_element(By.ID, f"{element.get_attribute('id')}-error")
        self.wait(lambda d: slot.text.strip())
        assert element.get_attribute("aria-invalid") == "true"
        return slot.text

    # -- checks on every page
    def check(self, name):
        """axe-core on the page as it is now, then a photograph at phone and desktop width."""
        self.d.execute_script(self.axe_source)
        result = self.d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, { resultTypes: ['violations'] }).then(r => done(JSON.stringify(r.violations))).catch(e => done(JSON.stringify([{impact: 'critical', id: 'axe-error', help: String(e), nodes: []}])));"
        )
        bad = [v for v in json.loads(result) if v.get("impact") in ("serious", "critical")]
        assert not bad, f"{name}: accessibility violations:\n" + "\n".join(f"- {v['id']} ({v['impact']}): {v['help']} at {[n.get('target') for n in v['nodes']][:3]}" for v in bad)
        self.d.save_screenshot(os.path.join(self.out, f"{name}-phone.png"))
        # The whole page at desktop width: the window as tall as the page.
        self.d.set_window_size(*DESKTOP)
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(DESKTOP[0], min(max(height + 140, DESKTOP[1]), 4000))
        time.sleep(0.2)
        self.d.save_screenshot(os.path.join(self.out, f"{name}-desktop.png"))
        self.d.set_window_size(*PHONE)
        time.sleep(0.2)
        self.pages_checked.append(name)


def xpath_string(text):
    if "'" not in text:
        return f"'{text}'"
    return "concat('" + "', \"'\", '".join(text.split("'")) + "')"


class Provider(BaseHTTPRequestHandler):
    """A stand-in OpenID Connect provider for the console's sign-in: an authorization endpoint
    that signs the user in at once, and a token endpoint that gives an ID token only for the
    code it issued, to the client it issued it to, with the verifier whose S256 challenge it got."""

    codes = {}
    exchanges = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        assert url.path == "/authorize", url.path
        assert q["response_type"] == "code" and q["client_id"] == "ritmo-console", q
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43, q
        code = base64.urlsafe_b64encode(os.urandom(12)).decode()
        Provider.codes[code] = (q["code_challenge"], q["redirect_uri"])
        self.send_response(302)
        self.send_header("Location", f"{q['redirect_uri']}?{urllib.parse.urlencode({'code': code, 'state': q['state']})}")
        self.end_headers()

    def do_POST(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        challenge, redirect_uri = Provider.codes.pop(form.get("code"), (None, None))
        verifier_hash = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest()).rstrip(b"=").decode()
        good = (challenge == verifier_hash and form.get("grant_type") == "authorization_code"
                and form.get("client_id") == "ritmo-console" and form.get("redirect_uri") == redirect_uri)
        Provider.exchanges.append(good)
        body = json.dumps({"id_token": token("loja", "admin"), "token_type": "Bearer"} if good else {"error": "invalid_grant"}).encode()
        self.send_response(200 if good else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def start_provider():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def start_server(binary, log, provider):
    process = subprocess.Popen(
        [binary, "--port", "0", "--manual-clock", "--jwt-secret", SECRET, "--tenant", "loja", "--allow-private-bots",
         "--whatsapp-app-secret", APP_SECRET,
         "--console-authorize-url", f"{provider}/authorize", "--console-token-url", f"{provider}/token",
         "--console-client-id", "ritmo-console"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    base, console_url = None, None
    deadline = time.time() + 60
    while time.time() < deadline and not console_url:
        line = process.stdout.readline()
        if not line:
            raise SystemExit("ritmo-local exited before it printed its console address")
        if m := re.match(r"Ritmo local server listening on (\S+)", line):
            base = m.group(1)
        if m := re.match(r"Console \(signed in\): (\S+)", line):
            console_url = m.group(1)
    assert base and console_url, "ritmo-local did not print its console address"
    return process, base, console_url


def main():
    binary, axe_path, out = sys.argv[1:4]
    os.makedirs(out, exist_ok=True)
    axe = open(axe_path, encoding="utf-8").read()
    log = open(os.path.join(out, "server.log"), "w")
    server, base, console_url = start_server(binary, log, start_provider())
    admin = {"Authorization": f"Bearer {token('loja', 'admin')}"}
    options = Options()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={PHONE[0]},{PHONE[1]}", "--lang=pt-BR"]:
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "pt-BR"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    driver.set_script_timeout(60)
    c = Console(driver, base, axe, out)
    try:
        run(c, base, console_url, admin)
    except BaseException:
        driver.save_screenshot(os.path.join(out, "failure.png"))
        print("the page at the failure:", driver.current_url, file=sys.stderr)
        raise
    finally:
        driver.quit()
        server.terminate()
        server.wait(10)
    print(f"console: every flow passed; axe-core clean on {len(c.pages_checked)} pages; screenshots in {out}")


def run(c, base, console_url, admin):
    d = c.d
    # A Monday, 10:00 in São Paulo: inside the step's hours and the rotator's opening hours.
    status, _, body = http("POST", f"{base}/_dev/clock", {"now": "2026-12-07T13:00:00Z"})
    assert status == 200, body

    # The printed address opens the console signed in, and the token leaves the address bar.
    d.get(console_url)
    c.heading("Sequências")
    assert "token" not in d.current_url, d.current_url
    c.see("Nada por aqui ainda.")
    c.check("sequencias-vazio")

    # Canais: a number, then the templates WhatsApp approved for it.
    c.press("Canais")
    c.heading("Canais")
    c.press("Novo canal")
    c.fill("Nome", "Loja Centro")
    c.fill("Número exibido", "+55 11 4000-0000")
    c.fill("ID do número (Meta)", PHONE_NUMBER_ID)
    c.fill("ID da conta WhatsApp Business", WABA_ID)
    c.fill("Token de acesso da Meta", "EAAG-console-test-token")
    c.check("canal-novo")
    c.press("Salvar")
    c.heading("Loja Centro")
    channel_id = d.current_url.rsplit("/", 1)[1]
    for template in [
        {"name": "boas_vindas", "language": "pt_BR", "category": "MARKETING", "body_parameters": 1,
         "header": {"format": "IMAGE"}, "buttons": [{"type": "URL", "text": "Ver ofertas", "parameters": 1}]},
        {"name": "lembrete", "language": "pt_BR", "category": "UTILITY", "body_parameters": 0},
    ]:
        status, _, body = http("POST", f"{base}/_dev/templates", {"channel_id": channel_id, **template})
        assert status == 201, body
    d.refresh()
    c.see("boas_vindas")
    c.see("Ver ofertas")
    c.check("canal")

    # Bots.
    c.press("Bots")
    c.press("Novo bot")
    c.fill("Nome", "Atendente virtual")
    c.fill("Endereço do webhook", "https://127.0.0.1:9/bot")
    c.fill("Segredo", "segredo-do-bot-0123456789")
    c.press("Salvar")
    c.see("Atendente virtual")
    c.check("bots")

    # Sequências › Nova › nome › Continuar; a blank name is refused next to the field, kept as typed.
    c.press("Sequências")
    c.press("Nova")
    c.fill("Nome", "   ")
    c.press("Continuar")
    assert c.error_next_to("Nome")
    assert c.by_label("Nome").get_attribute("value") == "   "
    c.check("sequencia-nova-erro")
    c.fill("Nome", "Boas-vindas")
    c.press("Continuar")
    c.heading("Boas-vindas")
    c.see("Rascunho")
    sequence_id = d.current_url.rsplit("/", 1)[1]
    c.see("Nenhuma etapa ainda.")

    # "+" › canal › modelo de mensagem › parâmetros › Programação › Horários › Salvar.
    c.press("Adicionar etapa")
    c.heading("Nova etapa")
    assert Select(c.by_label("Canal")).first_selected_option.text.startswith("Loja Centro")
    c.choose("Modelo de mensagem", "boas_vindas (pt_BR, MARKETING)")
    assert c.by_label("Variável 1 do corpo").get_attribute("value") == "{{contact.name|cliente}}"
    c.fill("Endereço da mídia do cabeçalho (image)", "https://cdn.example.com/ofertas.jpg")
    c.fill("Botão 1 (Ver ofertas)", "ofertas/dezembro")
    c.fill("Enviar após", "1")
    c.choose("Unidade", "dias")
    c.tick("Limitar horários de envio")
    c.press("+ faixa (Sábado)")
    saturday = d.find_element(By.CSS_SELECTOR, "[data-field='window.days.sat'] .range")
    to = saturday.find_elements(By.TAG_NAME, "input")[1]
    to.clear()
    to.send_keys("13:00")
    c.press("+ exceção")
    date = d.find_element(By.CSS_SELECTOR, ".exception input[type=date]")
    d.execute_script("arguments[0].value = '2026-12-25'", date)
    c.check("etapa-editor")
    c.press("Salvar")
    c.heading("Boas-vindas")
    c.see("Etapa 1: Modelo de mensagem “boas_vindas” (pt_BR)")
    c.see("Sáb 09:00–13:00")
    step = http("GET", f"{base}/v1/sequences/{sequence_id}", headers=admin)
    step = json.loads(step[2])["steps"][0]
    assert step["action"]["header"] == {"type": "image", "link": "https://cdn.example.com/ofertas.jpg"}, step
    assert step["window"]["exceptions"] == [{"date": "2026-12-25", "ranges": []}], step

    # A second step, a chatbot; moved up and back, edited, deleted.
    c.press("Adicionar etapa")
    c.tick("Chatbot")
    c.choose("Bot", "Atendente virtual")
    c.fill("Enviar após", "2")
    c.press("Salvar")
    c.see("Etapa 2: Chatbot")
    c.press("Subir (Etapa 2)")
    c.see("Etapa 1: Chatbot")
    c.press("Descer (Etapa 1)")
    c.see("Etapa 2: Chatbot")
    d.find_elements(By.XPATH, "//li[contains(@class,'step')]")[1].find_element(By.XPATH, ".//a[normalize-space()='Editar']").click()
    c.heading("Editar etapa")
    c.fill("Enviar após", "3")
    c.press("Salvar")
    c.see("após 3 dias")
    c.check("sequencia")
    c.press("Excluir (Etapa 2)", confirm=True)
    c.wait(lambda d: "Etapa 2" not in c.main_text())

    # Ativar, Pausar, Retomar.
    c.press("Ativar")
    c.wait(lambda d: "Ativa" in c.main_text() and "Rascunho" not in c.main_text())
    c.press("Pausar")
    c.see("Pausada")
    c.press("Retomar")
    c.wait(lambda d: "Pausada" not in c.main_text())

    # Another sequence, archived.
    c.press("Sequências")
    c.press("Nova")
    c.fill("Nome", "Promoção de Natal")
    c.press("Continuar")
    c.heading("Promoção de Natal")
    c.press("Arquivar", confirm=True)
    c.see("Arquivada")
    c.absent("Adicionar etapa")
    c.open(f"#/sequencias/{sequence_id}")

    # Contatos: one by hand (a wrong number first), a pasted list, a CSV with its error file.
    c.press("Contatos")
    c.heading("Contatos")
    c.fill("Telefone", "123")
    c.press("Adicionar")
    assert c.error_next_to("Telefone")
    assert c.by_label("Telefone").get_attribute("value") == "123"
    c.check("contatos-erro")
    c.fill("Telefone", "+55 11 98765-4321")
    c.fill("Nome (opcional)", "Ana")
    c.press("Adicionar")
    c.see("+5511987654321")
    c.fill("Colar uma lista", "+5511987654322,Bia\n+5511987654323;Caio\nnão é telefone")
    c.press("Inscrever lista")
    c.see("2 inscrito(s), 0 já inscrito(s), 1 recusado(s).")
    assert c.by_label("Colar uma lista").get_attribute("value") == "não é telefone"
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as csv:
        csv.write("phone,name\n+5511987654324,Duda\n+5511987654325,Edu\n999,Erro\n")
    c.by_label("Arquivo CSV").send_keys(csv.name)
    c.press("Importar")
    c.see("Importação concluída: 3 linhas, 1 com erro.", timeout=30)
    c.wait(lambda d: d.find_elements(By.XPATH, "//a[normalize-space()='Baixar arquivo de erros']"))
    c.see("+5511987654325")
    c.check("contatos")
    c.press("Remover +5511987654325", confirm=True)
    c.wait(lambda d: "Removido" in c.main_text())
    c.choose("Situação", "Removido")
    c.wait(lambda d: "status=removed" in d.current_url)
    c.see("+5511987654325")
    c.not_see("+5511987654321")

    # A day later, step 1 goes out (Meta refuses Caio's number): the timelines and the funnel show it.
    status, _, body = http("POST", f"{base}/_dev/outbox/failures", {"code": 131026, "times": 1, "to": "+5511987654323"})
    assert status < 300, body
    status, _, body = http("POST", f"{base}/_dev/clock", {"advance_seconds": 86400 + 300})
    assert status == 200, body
    deadline = time.time() + 20
    while len(outbox := json.loads(http("GET", f"{base}/_dev/outbox")[2])) < 3 and time.time() < deadline:
        time.sleep(0.2)
    assert sorted(m["to"] for m in outbox) == [f"551198765432{i}" for i in (1, 2, 4)], outbox
    # Meta reports Ana's message delivered, then read.
    ana = json.loads(http("GET", f"{base}/v1/sequences/{sequence_id}/enrollments/%2B5511987654321", headers=admin)[2])
    message_id = ana["history"][0]["message_id"]
    sent_to_ana = next(m for m in outbox if m["to"] == "5511987654321")
    for status, at in (("delivered", "1796735160"), ("read", "1796735220")):
        meta_webhook(base, statuses({"id": message_id, "status": status, "timestamp": at, "recipient_id": "5511987654321",
                                     "biz_opaque_callback_data": sent_to_ana["request"].get("biz_opaque_callback_data"),
                                     "conversation": {"id": "a1b2c3", "origin": {"type": "marketing"}},
                                     "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}}))
    c.open(f"#/sequencias/{sequence_id}/contatos")
    c.press("+5511987654321")
    c.heading("Ana (+5511987654321)")
    c.see("Etapa 1")
    c.see("enviado")
    c.see("lido")
    c.check("contato-linha-do-tempo")
    c.open(f"#/sequencias/{sequence_id}/contatos/{urllib.parse.quote('+5511987654323')}")
    c.heading("Caio (+5511987654323)")
    c.see("falhou")
    c.see("número sem WhatsApp")
    reason = d.find_element(By.CSS_SELECTOR, ".history-entry .field-error").text
    assert "131026" in reason or "undeliverable" in reason.lower(), reason
    c.open(f"#/sequencias/{sequence_id}/acompanhamento")
    c.heading("Acompanhamento")
    for label, expected in (("Enviadas", "3"), ("Entregues", "1"), ("Lidas", "1"), ("Falhas", "1")):
        assert c.bar("step-stats", label) == expected, (label, c.bar("step-stats", label))
    # The bars are drawn to scale: read is a third of sent.
    widths = d.execute_script(
        "return [...document.querySelectorAll('.step-stats .bar')].map(b => [b.children[0].textContent, b.querySelector('.fill').getBoundingClientRect().width / b.querySelector('.track').getBoundingClientRect().width])")
    widths = dict(widths)
    assert widths["Enviadas"] > 0.95 and 0.25 < widths["Lidas"] < 0.42 and widths["Respondidas"] == 0, widths
    c.see("número sem WhatsApp")
    c.check("acompanhamento")

    # Meta pauses the template: Ritmo pauses the sequence and the page says why.
    meta_webhook(base, {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "time": 1796735280, "changes": [{
        "field": "message_template_status_update",
        "value": {"event": "PAUSED", "message_template_id": 594425479261596, "message_template_name": "boas_vindas",
                  "message_template_language": "pt_BR", "reason": None}}]}]})
    c.open(f"#/sequencias/{sequence_id}")
    c.see("Pausada")
    c.see("O Ritmo pausou esta sequência: template boas_vindas (pt_BR) is PAUSED")
    c.wait(lambda d: d.find_elements(By.XPATH, "//main//button[normalize-space()='Retomar']"))
    c.check("sequencia-pausada-pelo-ritmo")

    # Links: one per attendant (a bad slug first), then the Sequencial.
    for slug, phone in [("ana", "+55 11 98765-4301"), ("bia", "+55 11 98765-4302")]:
        c.press("Links")
        c.press("Novo link")
        c.fill("Link âncora", "Ana Maria" if slug == "ana" else slug)
        c.fill("Telefone", phone)
        c.fill("Mensagem inicial", "Olá! Vim pelo link")
        c.press("Salvar")
        if slug == "ana":
            assert c.error_next_to("Link âncora")
            c.check("link-erro")
            c.fill("Link âncora", slug)
            c.press("Salvar")
        c.heading(slug)
    c.press("Links")
    c.press("Sequencial")
    c.heading("Sequencial")
    c.fill("Link âncora", "loja")
    members = d.find_elements(By.CSS_SELECTOR, ".member .member-link")
    Select(members[0]).select_by_visible_text("ana (+5511987654301)")
    Select(members[1]).select_by_visible_text("bia (+5511987654302)")
    c.tick("Atendimento fixo")
    c.tick("Atender só em alguns horários")
    c.fill("Mensagem", "Voltamos às 9h!")
    c.fill("Título", "Fale com a Loja Centro")
    c.check("sequencial-novo")
    c.press("Finalizar")
    c.heading("loja")
    url = d.find_element(By.CSS_SELECTOR, ".link-url").text
    assert url.endswith("/loja"), url
    assert d.execute_script("return document.querySelector('.qr img').naturalWidth") > 0
    # Copiar link puts the public address on the clipboard; the QR download is the SVG itself.
    d.execute_cdp_cmd("Browser.grantPermissions", {"origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    c.press("Copiar link")
    c.wait(lambda d: d.find_element(By.ID, "toast").text == "Link copiado.")
    copied = d.execute_async_script("const done = arguments[arguments.length - 1]; navigator.clipboard.readText().then(done, e => done(String(e)));")
    assert copied == url, copied
    download = d.find_element(By.XPATH, "//a[normalize-space()='Baixar QR code']")
    assert download.get_attribute("download") == "loja.svg"
    # The same object the page shows as the QR image (which rendered, above).
    href = download.get_attribute("href")
    assert href.startswith("blob:") and href == d.find_element(By.CSS_SELECTOR, ".qr img").get_attribute("src"), href

    # Customers click it: strict turns; a link preview is counted as a bot.
    turns = []
    for _ in range(4):
        status, headers, _ = http("GET", url, headers={"User-Agent": HUMAN_UA})
        assert status == 302, status
        turns.append(headers["location"].split("?")[0].rsplit("/", 1)[1])
    assert turns == ["5511987654301", "5511987654302"] * 2, turns
    status, _, page = http("GET", url, headers={"User-Agent": BOT_UA})
    assert status == 200 and b"Fale com a Loja Centro" in page, status
    d.refresh()
    c.see("Pessoas: 4 · Robôs e prévias: 1")
    for member in ("ana", "bia"):
        assert c.bar("member-clicks", member) == "2", (member, c.bar("member-clicks", member))
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in d.find_elements(By.CSS_SELECTOR, "table.day-clicks tbody tr")]
    assert [r[1:] for r in rows] == [["4", "1"]], rows
    assert d.execute_script("return [...document.querySelectorAll('.daycol .col.human')].filter(c => c.getBoundingClientRect().height > 50).length") == 1
    c.check("link-estatisticas")

    # Editar: bia gets two turns in three from now on.
    c.press("Editar")
    c.heading("Editar loja")
    weight = d.find_elements(By.CSS_SELECTOR, ".member .member-weight")[1]
    weight.clear()
    weight.send_keys("2")
    c.press("Finalizar")
    c.heading("loja")
    c.see("bia · Peso 2")
    turns = [http("GET", url, headers={"User-Agent": HUMAN_UA})[1]["location"].split("?")[0].rsplit("/", 1)[1] for _ in range(3)]
    assert sorted(turns) == ["5511987654301", "5511987654302", "5511987654302"], turns

    # English on request, pt-BR again.
    c.press("English")
    c.wait(lambda d: d.find_element(By.XPATH, "//nav//a[normalize-space()='Sequences']"))
    assert d.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    c.check("link-statistics-en")
    c.press("Português")
    c.wait(lambda d: d.find_element(By.XPATH, "//nav//a[normalize-space()='Sequências']"))

    # A viewer sees everything and is offered no change.
    c.open(f"#token={token('loja', 'viewer')}")
    c.heading("Sequências")
    c.see("Boas-vindas")
    c.wait(lambda d: "loja · somente leitura" in d.find_element(By.ID, "nav").text)
    c.absent("Nova")
    c.open(f"#/sequencias/{sequence_id}")
    c.see("Etapa 1")
    for control in ("Pausar", "Retomar", "Arquivar", "Adicionar etapa", "Editar", "Excluir (Etapa 1)"):
        c.absent(control)
    c.open(f"#/sequencias/{sequence_id}/contatos")
    c.see("+5511987654321")
    c.absent("Adicionar")
    c.absent("Remover +5511987654321")
    assert not d.find_elements(By.CSS_SELECTOR, "form")
    c.open("#/links/loja")
    c.see("Pessoas: 7")
    c.absent("Editar")
    c.absent("Excluir")
    c.open("#/links")
    c.absent("Novo link")
    c.open(f"#/sequencias/{sequence_id}/passos/novo")
    c.heading("Não encontrado")
    c.check("visualizador")

    # Another tenant's ids are not found.
    c.open(f"#token={token('outra', 'admin')}")
    c.heading("Sequências")
    c.see("Nada por aqui ainda.")
    c.open(f"#/sequencias/{sequence_id}")
    c.heading("Não encontrado")
    c.open("#/links/loja")
    c.heading("Não encontrado")
    c.check("nao-encontrado")

    # Sign out; sign in with a pasted token, then through the provider (code + PKCE).
    c.press("Sair")
    c.heading("Entrar no Ritmo")
    c.check("entrar")
    d.find_element(By.XPATH, "//summary[normalize-space()='Entrar com um token de acesso']").click()
    c.fill("Token de acesso", "não é um token")
    c.press("Entrar com um token de acesso")
    assert c.error_next_to("Token de acesso")
    c.fill("Token de acesso", token("loja", "admin"))
    c.press("Entrar com um token de acesso")
    c.heading("Sequências")
    c.see("Boas-vindas")
    c.press("Sair")
    c.heading("Entrar no Ritmo")
    c.press("Entrar")
    c.heading("Sequências")
    c.see("Boas-vindas")
    assert Provider.exchanges == [True], Provider.exchanges
    assert "code=" not in d.current_url and d.current_url.endswith("/console#/sequencias"), d.current_url
    c.wait(lambda d: "loja · administrador" in d.find_element(By.ID, "nav").text)


if __name__ == "__main__":
    main()
