// Ritmo's admin console: one page, plain modules, no build step. Every screen is drawn from the
// public `/v1` API with the signed-in user's bearer token, so the console can do exactly what
// the token may do and nothing more. Text is pt-BR by default, English on request.

const MESSAGES = {
  pt: {
    loading: "Carregando…", skip: "Pular para o conteúdo",
    nav_sequences: "Sequências", nav_channels: "Canais", nav_bots: "Bots", nav_links: "Links",
    sign_out: "Sair", viewer: "somente leitura", admin: "administrador", language: "English",
    sign_in: "Entrar", sign_in_title: "Entrar no Ritmo", sign_in_token: "Entrar com um token de acesso",
    sign_in_failed: "Não foi possível entrar: tente de novo.",
    sign_in_hint: "Cole o token de acesso (o servidor local o imprime ao iniciar, junto com um endereço que já entra).",
    token: "Token de acesso", token_invalid: "Este token não é válido: confira se colou o token inteiro.",
    token_expired: "Sua sessão expirou: entre de novo.",
    not_found: "Não encontrado", not_found_text: "Esta página não existe ou não pertence à sua conta.",
    back_home: "Voltar às sequências", error: "Algo deu errado", retry: "Tentar de novo",
    save: "Salvar", cancel: "Cancelar", remove: "Remover", edit: "Editar", delete: "Excluir", view: "Ver",
    continue: "Continuar", saved: "Salvo.", removed: "Removido.", copy: "Copiar link", copied: "Link copiado.",
    none_yet: "Nada por aqui ainda.", yes: "Sim", no: "Não", optional: "opcional",
    // sequences
    sequences: "Sequências", new: "Nova", new_sequence: "Nova sequência", name: "Nome",
    name_hint: "Um nome para reconhecer a sequência, por exemplo “Boas-vindas”.",
    steps_count: "{0} etapa(s)", status_draft: "Rascunho", status_active: "Ativa", status_paused: "Pausada",
    status_archived: "Arquivada", activate: "Ativar", pause: "Pausar", resume: "Retomar", archive: "Arquivar",
    archive_confirm: "Arquivar esta sequência? Os contatos ativos saem dela e os envios pendentes são cancelados.",
    paused_by_ritmo: "O Ritmo pausou esta sequência: {0}", time_zone: "Fuso horário",
    exit_on_reply: "Sair da sequência quando o contato responder",
    steps: "Etapas", add_step: "+", add_step_label: "Adicionar etapa", no_steps: "Nenhuma etapa ainda. Use “+” para adicionar a primeira.",
    step_n: "Etapa {0}", move_up: "Subir", move_down: "Descer", delete_step_confirm: "Excluir esta etapa?",
    contacts: "Contatos", tracking: "Acompanhamento", template_notice: "Aviso de modelo",
    after: "após {0}", immediately: "logo após a anterior", any_time: "a qualquer hora",
    // step editor
    new_step: "Nova etapa", edit_step: "Editar etapa", channel: "Canal", choose: "Escolha…",
    action: "O que enviar", chatbot: "Chatbot", template: "Modelo de mensagem", bot: "Bot",
    no_channels: "Nenhum canal cadastrado. Cadastre um número em Canais primeiro.",
    no_templates: "Este canal não tem modelos aprovados.", no_bots: "Nenhum bot cadastrado.",
    header_param: "Cabeçalho ({0})", header_link: "Endereço da mídia do cabeçalho ({0})",
    body_param: "Variável {0} do corpo", button_param: "Botão {0} ({1})",
    variables_hint: "Use as variáveis do contato: {{contact.name|cliente}} (nome, ou “cliente” quando faltar), {{contact.phone}}, {{contact.<atributo>}}.",
    schedule: "Programação", delay: "Enviar após", delay_hint: "Tempo depois do envio anterior (ou da inscrição, na primeira etapa).",
    minutes: "minutos", hours: "horas", days: "dias", unit: "Unidade",
    hours_title: "Horários", limit_hours: "Limitar horários de envio",
    use_contact_zone: "Usar o fuso horário do contato quando conhecido",
    add_range: "+ faixa", remove_range: "Remover faixa", closed_day: "fechado", from: "De", to: "Até",
    exceptions: "Feriados e exceções", add_exception: "+ exceção", date: "Data",
    exception_ranges: "Faixas (vazio = fechado o dia todo)", exception_hint: "Ex.: 09:00-12:00, 14:00-18:00",
    mon: "Segunda", tue: "Terça", wed: "Quarta", thu: "Quinta", fri: "Sexta", sat: "Sábado", sun: "Domingo",
    // contacts
    add_contact: "Adicionar contato", phone: "Telefone", phone_hint: "Com DDD, por exemplo +55 11 98765-4321.",
    add: "Adicionar", paste_list: "Colar uma lista", paste_hint: "Um contato por linha: telefone,nome",
    enroll_list: "Inscrever lista", import_csv: "Importar CSV", csv_hint: "Colunas: phone,name e atributos; separador , ou ;",
    csv_file: "Arquivo CSV", import: "Importar", import_progress: "Importação: {0} de {1} linhas, {2} com erro",
    import_done: "Importação concluída: {0} linhas, {1} com erro.", error_file: "Baixar arquivo de erros",
    enrolled: "{0} inscrito(s), {1} já inscrito(s), {2} recusado(s).", all_statuses: "Todos",
    filter_status: "Situação", enr_active: "Ativo", enr_completed: "Concluído", enr_removed: "Removido", enr_exited: "Saiu",
    next_send: "Próximo envio", enrolled_at: "Inscrito em", remove_contact_confirm: "Remover {0} desta sequência?",
    timeline: "Linha do tempo", no_history: "Nenhum envio ainda.", exit_reason: "Motivo da saída",
    out_sent: "enviado", out_failed: "falhou", out_skipped: "pulado", out_unknown: "incerto",
    st_sent: "enviado", st_delivered: "entregue", st_read: "lido", st_failed: "falhou", replied: "respondido",
    more: "Carregar mais",
    // stats
    funnel: "Funil por etapa", sent: "Enviadas", delivered: "Entregues", read: "Lidas", replies: "Respondidas",
    failed: "Falhas", skipped: "Puladas", billable: "Mensagens cobráveis", cost: "Custo estimado",
    enrollments_by_status: "Contatos por situação", exit_reasons: "Motivos de saída",
    ex_replied: "respondeu", ex_opted_out: "pediu para sair", ex_undeliverable: "número sem WhatsApp",
    ex_sequence_archived: "sequência arquivada", ex_failed: "falha no envio",
    // channels, bots
    channels: "Canais", new_channel: "Novo canal", display_phone: "Número exibido", phone_number_id: "ID do número (Meta)",
    waba_id: "ID da conta WhatsApp Business", access_token: "Token de acesso da Meta", access_token_hint: "Guardado cifrado; nunca é mostrado de novo.",
    rate: "Mensagens por segundo", templates: "Modelos aprovados", category: "Categoria", status: "Situação",
    header: "Cabeçalho", body_params: "Variáveis do corpo", buttons: "Botões", language_col: "Idioma",
    bots: "Bots", new_bot: "Novo bot", webhook_url: "Endereço do webhook", secret: "Segredo", secret_hint: "Pelo menos 16 caracteres; guardado cifrado.",
    // links
    links: "Links", new_link: "Novo link", new_rotator: "Sequencial", slug: "Link âncora",
    slug_hint: "Letras minúsculas, números e hífen: o fim do endereço público.", link_type_whatsapp: "WhatsApp",
    link_type_rotator: "Sequencial", text: "Mensagem inicial", members: "Links de sequência",
    members_hint: "Os atendentes, em ordem; o peso dá mais vezes a um deles.", weight: "Peso", enabled: "Ativo",
    add_member: "+ atendente", no_whatsapp_links: "Crie antes um link de WhatsApp para cada atendente.",
    sticky: "Atendimento fixo", sticky_hint: "O cliente que volta cai com o mesmo atendente.", sticky_days: "Por quantos dias",
    opening_hours: "Horário de atendimento", limit_opening: "Atender só em alguns horários",
    when_closed: "Fora do horário", closed_page: "Mostrar uma página com uma mensagem", closed_redirect: "Levar a outro endereço",
    closed_ignore: "Atender mesmo assim", closed_message: "Mensagem", closed_url: "Endereço (https://…)",
    preview: "Prévia ao compartilhar", preview_title: "Título", preview_image: "Imagem (https://…)",
    finish: "Finalizar", link_url: "Endereço público", qr: "QR code", download_qr: "Baixar QR code",
    clicks: "Cliques", clicks_by_member: "Cliques por atendente", clicks_by_day: "Cliques por dia",
    human: "Pessoas", bots_label: "Robôs e prévias", closed_clicks: "Fora do horário",
    delete_link_confirm: "Excluir o link {0}?",
  },
  en: {
    loading: "Loading…", skip: "Skip to content",
    nav_sequences: "Sequences", nav_channels: "Channels", nav_bots: "Bots", nav_links: "Links",
    sign_out: "Sign out", viewer: "read-only", admin: "administrator", language: "Português",
    sign_in: "Sign in", sign_in_title: "Sign in to Ritmo", sign_in_token: "Sign in with an access token",
    sign_in_failed: "Signing in did not work: try again.",
    sign_in_hint: "Paste your access token (the local server prints one when it starts, with an address that signs you in).",
    token: "Access token", token_invalid: "This token is not valid: check that you pasted all of it.",
    token_expired: "Your session expired: sign in again.",
    not_found: "Not found", not_found_text: "This page does not exist or does not belong to your account.",
    back_home: "Back to sequences", error: "Something went wrong", retry: "Try again",
    save: "Save", cancel: "Cancel", remove: "Remove", edit: "Edit", delete: "Delete", view: "View",
    continue: "Continue", saved: "Saved.", removed: "Removed.", copy: "Copy link", copied: "Link copied.",
    none_yet: "Nothing here yet.", yes: "Yes", no: "No", optional: "optional",
    sequences: "Sequences", new: "New", new_sequence: "New sequence", name: "Name",
    name_hint: "A name to recognise the sequence by, such as “Welcome”.",
    steps_count: "{0} step(s)", status_draft: "Draft", status_active: "Active", status_paused: "Paused",
    status_archived: "Archived", activate: "Activate", pause: "Pause", resume: "Resume", archive: "Archive",
    archive_confirm: "Archive this sequence? Its active contacts leave it and pending sends are cancelled.",
    paused_by_ritmo: "Ritmo paused this sequence: {0}", time_zone: "Time zone",
    exit_on_reply: "Leave the sequence when the contact replies",
    steps: "Steps", add_step: "+", add_step_label: "Add a step", no_steps: "No steps yet. Use “+” to add the first.",
    step_n: "Step {0}", move_up: "Move up", move_down: "Move down", delete_step_confirm: "Delete this step?",
    contacts: "Contacts", tracking: "Results", template_notice: "Template notice",
    after: "after {0}", immediately: "right after the previous one", any_time: "any time",
    new_step: "New step", edit_step: "Edit step", channel: "Channel", choose: "Choose…",
    action: "What to send", chatbot: "Chatbot", template: "Message template", bot: "Bot",
    no_channels: "No channels yet. Add a number under Channels first.",
    no_templates: "This channel has no approved templates.", no_bots: "No bots yet.",
    header_param: "Header ({0})", header_link: "Header media URL ({0})",
    body_param: "Body variable {0}", button_param: "Button {0} ({1})",
    variables_hint: "Use the contact's variables: {{contact.name|customer}} (the name, or “customer” when missing), {{contact.phone}}, {{contact.<attribute>}}.",
    schedule: "Schedule", delay: "Send after", delay_hint: "Time after the previous send (or after enrollment, for the first step).",
    minutes: "minutes", hours: "hours", days: "days", unit: "Unit",
    hours_title: "Hours", limit_hours: "Limit sending hours",
    use_contact_zone: "Use the contact's time zone when known",
    add_range: "+ range", remove_range: "Remove range", closed_day: "closed", from: "From", to: "To",
    exceptions: "Holidays and exceptions", add_exception: "+ exception", date: "Date",
    exception_ranges: "Ranges (empty = closed all day)", exception_hint: "E.g. 09:00-12:00, 14:00-18:00",
    mon: "Monday", tue: "Tuesday", wed: "Wednesday", thu: "Thursday", fri: "Friday", sat: "Saturday", sun: "Sunday",
    add_contact: "Add a contact", phone: "Phone", phone_hint: "With area code, e.g. +55 11 98765-4321.",
    add: "Add", paste_list: "Paste a list", paste_hint: "One contact per line: phone,name",
    enroll_list: "Enroll list", import_csv: "Import a CSV", csv_hint: "Columns: phone,name and attributes; separator , or ;",
    csv_file: "CSV file", import: "Import", import_progress: "Import: {0} of {1} rows, {2} with errors",
    import_done: "Import finished: {0} rows, {1} with errors.", error_file: "Download the error file",
    enrolled: "{0} enrolled, {1} already enrolled, {2} rejected.", all_statuses: "All",
    filter_status: "Status", enr_active: "Active", enr_completed: "Completed", enr_removed: "Removed", enr_exited: "Exited",
    next_send: "Next send", enrolled_at: "Enrolled", remove_contact_confirm: "Remove {0} from this sequence?",
    timeline: "Timeline", no_history: "Nothing sent yet.", exit_reason: "Exit reason",
    out_sent: "sent", out_failed: "failed", out_skipped: "skipped", out_unknown: "uncertain",
    st_sent: "sent", st_delivered: "delivered", st_read: "read", st_failed: "failed", replied: "replied",
    more: "Load more",
    funnel: "Funnel by step", sent: "Sent", delivered: "Delivered", read: "Read", replies: "Replied",
    failed: "Failed", skipped: "Skipped", billable: "Billable messages", cost: "Estimated cost",
    enrollments_by_status: "Contacts by status", exit_reasons: "Exit reasons",
    ex_replied: "replied", ex_opted_out: "opted out", ex_undeliverable: "no WhatsApp on the number",
    ex_sequence_archived: "sequence archived", ex_failed: "send failed",
    channels: "Channels", new_channel: "New channel", display_phone: "Display number", phone_number_id: "Phone number ID (Meta)",
    waba_id: "WhatsApp Business account ID", access_token: "Meta access token", access_token_hint: "Stored encrypted; never shown again.",
    rate: "Messages per second", templates: "Approved templates", category: "Category", status: "Status",
    header: "Header", body_params: "Body variables", buttons: "Buttons", language_col: "Language",
    bots: "Bots", new_bot: "New bot", webhook_url: "Webhook URL", secret: "Secret", secret_hint: "At least 16 characters; stored encrypted.",
    links: "Links", new_link: "New link", new_rotator: "Sequential", slug: "Anchor link",
    slug_hint: "Lower-case letters, digits and hyphens: the end of the public address.", link_type_whatsapp: "WhatsApp",
    link_type_rotator: "Sequential", text: "Opening message", members: "Sequence links",
    members_hint: "The attendants, in order; a weight gives one of them more turns.", weight: "Weight", enabled: "Enabled",
    add_member: "+ attendant", no_whatsapp_links: "First create a WhatsApp link for each attendant.",
    sticky: "Fixed attendant", sticky_hint: "A returning customer gets the same attendant.", sticky_days: "For how many days",
    opening_hours: "Opening hours", limit_opening: "Serve only at some hours",
    when_closed: "When closed", closed_page: "Show a page with a message", closed_redirect: "Send to another address",
    closed_ignore: "Serve anyway", closed_message: "Message", closed_url: "Address (https://…)",
    preview: "Preview when shared", preview_title: "Title", preview_image: "Image (https://…)",
    finish: "Finish", link_url: "Public address", qr: "QR code", download_qr: "Download the QR code",
    clicks: "Clicks", clicks_by_member: "Clicks by attendant", clicks_by_day: "Clicks by day",
    human: "People", bots_label: "Bots and previews", closed_clicks: "While closed",
    delete_link_confirm: "Delete the link {0}?",
  },
};

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const ZONES = ["America/Sao_Paulo", "America/Manaus", "America/Cuiaba", "America/Belem", "America/Fortaleza",
  "America/Recife", "America/Bahia", "America/Porto_Velho", "America/Rio_Branco", "America/Noronha", "UTC"];

let lang = localStorage.getItem("ritmo.lang") === "en" ? "en" : "pt";

function t(key, ...args) {
  let text = MESSAGES[lang][key] ?? MESSAGES.pt[key] ?? key;
  args.forEach((value, i) => { text = text.replace(`{${i}}`, value); });
  return text;
}

// ---------------------------------------------------------------------------------------------
// DOM: every node is built, never parsed from strings, so no text from the API becomes markup.

let ids = 0;
const uid = (prefix) => `${prefix}-${++ids}`;

function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "value") node.value = value;
    else if (key === "checked") node.checked = true;
    else node.setAttribute(key, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(title, ...children) {
  const main = document.getElementById("main");
  main.replaceChildren(...children.flat(Infinity).filter(Boolean));
  document.title = `${title} · Ritmo`;
  drawNav();
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function toast(text) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove("show"), 2500);
}

const go = (hash) => { if (location.hash === hash) render(); else location.hash = hash; };
const badge = (kind, text) => h("span", { class: `badge ${kind}` }, text);
const formatTime = (iso) => iso ? new Intl.DateTimeFormat(lang === "pt" ? "pt-BR" : "en", { dateStyle: "short", timeStyle: "short" }).format(new Date(iso)) : "—";
const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
// Session: the bearer token lives in this tab's session storage only.

const session = { token: null, claims: null };

// How to sign in and which claims carry the tenant and the role: from the server.
let config = { oidc: null, tenant_claim: "tenant", role_claim: "role" };

async function loadConfig() {
  try {
    const response = await fetch("/console/config.json");
    if (response.ok) config = { ...config, ...(await response.json()) };
  } catch {
    // The defaults: a pasted token.
  }
}

function decodeClaims(token) {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

function signIn(token) {
  const claims = decodeClaims(token.trim());
  if (!claims) return false;
  session.token = token.trim();
  session.claims = claims;
  sessionStorage.setItem("ritmo.token", session.token);
  return true;
}

function signOut(reason, everywhere) {
  session.token = null;
  session.claims = null;
  sessionStorage.removeItem("ritmo.token");
  signOut.reason = reason;
  if (everywhere && config.oidc?.logout_url) {
    location.assign(`${config.oidc.logout_url}?${new URLSearchParams({ client_id: config.oidc.client_id, logout_uri: redirectUri() })}`);
    return;
  }
  go("#/entrar");
}

function restoreSession() {
  const fromLink = location.hash.match(/^#token=([^&]+)/);
  if (fromLink && signIn(decodeURIComponent(fromLink[1]))) {
    // Out of the address bar and the history at once.
    history.replaceState(null, "", `${location.pathname}#/sequencias`);
    return;
  }
  const stored = sessionStorage.getItem("ritmo.token");
  if (stored) signIn(stored);
}

const canEdit = () => session.claims?.[config.role_claim] === "admin";

// OpenID Connect, authorization code with PKCE: no client secret, the verifier stays in this tab.
const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const redirectUri = () => `${location.origin}/console`;

async function startProviderSignIn() {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("ritmo.pkce", JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code", client_id: config.oidc.client_id, redirect_uri: redirectUri(), scope: config.oidc.scope,
    state, code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(`${config.oidc.authorize_url}?${query}`);
}

// Back from the provider with `?code=&state=` (or `?error=`): the code is exchanged once.
async function finishProviderSignIn() {
  const params = new URLSearchParams(location.search);
  if (!config.oidc || (!params.has("code") && !params.has("error"))) return;
  history.replaceState(null, "", `${location.pathname}#/sequencias`);
  const saved = JSON.parse(sessionStorage.getItem("ritmo.pkce") || "null");
  sessionStorage.removeItem("ritmo.pkce");
  if (params.has("error")) { signOut.reason = `${t("sign_in_failed")} (${params.get("error_description") || params.get("error")})`; return; }
  if (!saved || saved.state !== params.get("state")) { signOut.reason = t("sign_in_failed"); return; }
  let tokens = null;
  try {
    const response = await fetch(config.oidc.token_url, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", client_id: config.oidc.client_id, code: params.get("code"), redirect_uri: redirectUri(), code_verifier: saved.verifier }),
    });
    if (response.ok) tokens = await response.json();
  } catch {
    tokens = null;
  }
  // The ID token: it carries the tenant and role attributes the API's authorizer reads.
  if (!tokens?.id_token || !signIn(tokens.id_token)) signOut.reason = t("sign_in_failed");
}

// ---------------------------------------------------------------------------------------------
// API: problem+json errors become ApiError, shown next to the fields they name.

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(method, path, body, type) {
  const headers = { Authorization: `Bearer ${session.token}` };
  let payload;
  if (body instanceof Blob || typeof body === "string") {
    payload = body;
    headers["Content-Type"] = type || "text/csv";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(0, { detail: String(error), errors: [] });
  }
  if (response.status === 401) {
    signOut(t("token_expired"));
    throw new ApiError(401, { detail: t("token_expired"), errors: [] });
  }
  if (!response.ok) {
    let problem;
    try { problem = await response.json(); } catch { problem = { detail: `HTTP ${response.status}` }; }
    throw new ApiError(response.status, { errors: [], ...problem });
  }
  if (response.status === 204) return null;
  const kind = response.headers.get("content-type") || "";
  return kind.includes("json") ? response.json() : response.blob();
}

async function everything(path) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", cursor ? `${path}${sep}cursor=${enc(cursor)}` : path);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// ---------------------------------------------------------------------------------------------
// Forms: a field knows the API name it answers for; an error goes next to it.

function field(name, label, input, hint) {
  input.id ||= uid("f");
  input.name ||= name;
  const error = h("p", { class: "field-error", id: `${input.id}-error` });
  const hintNode = hint ? h("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  input.setAttribute("aria-describedby", [hintNode && hintNode.id, error.id].filter(Boolean).join(" "));
  return h("div", { class: "field", "data-field": name }, h("label", { for: input.id }, label), input, hintNode, error);
}

const input = (props) => h("input", { type: "text", ...props });

function select(options, value, props) {
  return h("select", props, options.map(([v, label]) => h("option", { value: v, selected: v === value ? "selected" : null }, label)));
}

function clearErrors(form) {
  form.querySelectorAll(".field-error").forEach((p) => { p.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  const alert = form.querySelector(":scope > .alert");
  if (alert) alert.textContent = "";
}

function showProblem(form, error) {
  clearErrors(form);
  const problem = error instanceof ApiError ? error.problem : { detail: String(error), errors: [] };
  const fields = [...form.querySelectorAll("[data-field]")];
  const unplaced = [];
  let first = null;
  for (const e of problem.errors || []) {
    // The field itself, or its nearest named container (`action.parameters[1]` → `action.parameters`).
    const target = fields
      .filter((f) => e.field === f.dataset.field || e.field.startsWith(`${f.dataset.field}.`) || e.field.startsWith(`${f.dataset.field}[`))
      .sort((a, b) => b.dataset.field.length - a.dataset.field.length)[0];
    if (!target) { unplaced.push(`${e.field}: ${e.message}`); continue; }
    const slot = target.querySelector(":scope > .field-error");
    slot.textContent = slot.textContent ? `${slot.textContent}; ${e.message}` : e.message;
    const control = target.querySelector("input, select, textarea");
    if (control) control.setAttribute("aria-invalid", "true");
    first ||= control;
  }
  let alert = form.querySelector(":scope > .alert");
  if (!alert) { alert = h("div", { class: "alert", role: "alert" }); form.prepend(alert); }
  if (unplaced.length || !problem.errors?.length) alert.textContent = unplaced.length ? unplaced.join("; ") : problem.detail;
  else alert.textContent = problem.detail;
  (first || alert).focus?.();
  if (!first) alert.scrollIntoView({ block: "center" });
}

// Runs `work` for a submitted form: the button waits, an error goes to the form, nothing typed is lost.
function onSubmit(form, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.submitter || form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    clearErrors(form);
    try {
      await work();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) showProblem(form, error);
    } finally {
      if (button) button.disabled = false;
    }
  });
  return form;
}

function actionButton(label, work, props) {
  const button = h("button", { type: "button", ...props }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { await work(); } catch (error) { if (!(error instanceof ApiError && error.status === 401)) toast(error.message); } finally { button.disabled = false; }
  });
  return button;
}

// ---------------------------------------------------------------------------------------------
// Hours: a weekly editor with several ranges a day, the zone, exceptions.

const parseRanges = (text) => text.split(",").map((r) => r.trim()).filter(Boolean).map((r) => r.split("-").map((x) => x.trim()));

function hoursEditor(name, spec, options) {
  const { zoneDefault, contactZone } = options;
  const enabled = h("input", { type: "checkbox", checked: !!spec, id: uid("hours") });
  const dayRows = {};
  const body = h("div", { hidden: spec ? null : "hidden" });
  const start = spec?.days || { mon: [["09:00", "18:00"]], tue: [["09:00", "18:00"]], wed: [["09:00", "18:00"]], thu: [["09:00", "18:00"]], fri: [["09:00", "18:00"]] };
  function rangeRow(list, day, [from, to]) {
    const fromInput = input({ value: from, inputmode: "numeric", size: 5, "aria-label": `${t(day)} ${t("from")}`, placeholder: "09:00" });
    const toInput = input({ value: to, inputmode: "numeric", size: 5, "aria-label": `${t(day)} ${t("to")}`, placeholder: "18:00" });
    const row = h("div", { class: "range" }, fromInput, "–", toInput,
      h("button", { type: "button", "aria-label": `${t("remove_range")} (${t(day)})`, onclick: () => { row.remove(); refresh(list); } }, "×"));
    return row;
  }
  function refresh(list) {
    list.querySelector(".closed")?.toggleAttribute("hidden", list.querySelectorAll(".range").length > 0);
  }
  const week = h("div", {}, DAYS.map((day) => {
    const list = h("div", { class: "ranges" }, h("span", { class: "muted closed" }, t("closed_day")));
    for (const range of start[day] || []) list.append(rangeRow(list, day, range));
    refresh(list);
    dayRows[day] = list;
    return h("div", { class: "day", "data-field": `${name}.days.${day}` },
      h("strong", {}, t(day)),
      h("div", {}, list,
        h("button", { type: "button", class: "add-range", "aria-label": `${t("add_range")} (${t(day)})`, onclick: () => { list.append(rangeRow(list, day, ["09:00", "18:00"])); refresh(list); } }, t("add_range"))),
      h("p", { class: "field-error" }));
  }));
  const zone = select(ZONES.map((z) => [z, z]), spec?.time_zone || zoneDefault || "America/Sao_Paulo");
  const useContact = h("input", { type: "checkbox", checked: !!spec?.use_contact_time_zone });
  const exceptions = h("div", {});
  function exceptionRow(ex) {
    const date = input({ type: "date", value: ex?.date || "", "aria-label": t("date") });
    const ranges = input({ value: (ex?.ranges || []).map((r) => r.join("-")).join(", "), placeholder: t("exception_hint"), "aria-label": t("exception_ranges") });
    const row = h("div", { class: "row exception" }, h("div", {}, h("label", { for: (date.id = uid("d")) }, t("date")), date),
      h("div", {}, h("label", { for: (ranges.id = uid("r")) }, t("exception_ranges")), ranges),
      h("div", { class: "narrow" }, h("button", { type: "button", onclick: () => row.remove() }, t("remove"))));
    row.value = () => ({ date: date.value, ranges: parseRanges(ranges.value) });
    return row;
  }
  for (const ex of spec?.exceptions || []) exceptions.append(exceptionRow(ex));
  append(body, [
    week,
    field(`${name}.time_zone`, t("time_zone"), zone),
    contactZone ? h("label", { class: "inline" }, useContact, t("use_contact_zone")) : null,
    h("div", { "data-field": `${name}.exceptions` }, h("h3", {}, t("exceptions")), exceptions,
      h("button", { type: "button", onclick: () => exceptions.append(exceptionRow()) }, t("add_exception")),
      h("p", { class: "field-error" })),
  ]);
  enabled.addEventListener("change", () => body.toggleAttribute("hidden", !enabled.checked));
  const node = h("fieldset", { "data-field": name }, h("legend", {}, options.legend),
    h("label", { class: "inline", for: enabled.id }, enabled, options.toggle), body, h("p", { class: "field-error" }));
  node.value = () => {
    if (!enabled.checked) return null;
    const days = {};
    for (const day of DAYS) {
      const ranges = [...dayRows[day].querySelectorAll(".range")].map((row) => [...row.querySelectorAll("input")].map((i) => i.value.trim()));
      if (ranges.length) days[day] = ranges;
    }
    const value = { days, time_zone: zone.value, exceptions: [...exceptions.children].map((row) => row.value()) };
    if (contactZone) value.use_contact_time_zone = useContact.checked;
    return value;
  };
  return node;
}

function describeHours(spec) {
  if (!spec) return t("any_time");
  const parts = DAYS.filter((d) => spec.days?.[d]?.length).map((d) => `${t(d).slice(0, 3)} ${spec.days[d].map((r) => r.join("–")).join(", ")}`);
  return `${parts.join(" · ")} (${spec.time_zone})`;
}

function describeDelay(delay) {
  return delay.amount ? t("after", `${delay.amount} ${t(delay.unit)}`) : t("immediately");
}

// ---------------------------------------------------------------------------------------------
// Pages

function drawNav() {
  const nav = document.getElementById("nav");
  const here = location.hash.split("/")[1] || "";
  const link = (hash, label) => h("a", { href: hash, "aria-current": hash.split("/")[1] === here ? "page" : null }, label);
  const langButton = h("button", { type: "button", lang: lang === "pt" ? "en" : "pt-BR", onclick: () => { lang = lang === "pt" ? "en" : "pt"; localStorage.setItem("ritmo.lang", lang); document.documentElement.lang = lang === "pt" ? "pt-BR" : "en"; render(); } }, t("language"));
  document.querySelector(".skip").textContent = t("skip");
  if (!session.token) { nav.replaceChildren(langButton); return; }
  nav.replaceChildren(
    link("#/sequencias", t("nav_sequences")), link("#/canais", t("nav_channels")), link("#/bots", t("nav_bots")), link("#/links", t("nav_links")),
    h("span", { class: "who" }, `${session.claims[config.tenant_claim] ?? ""} · ${canEdit() ? t("admin") : t("viewer")}`),
    langButton,
    h("button", { type: "button", onclick: () => signOut(null, true) }, t("sign_out")));
}

function signInPage() {
  const token = h("textarea", { rows: 4, autocomplete: "off", spellcheck: "false" });
  const form = onSubmit(h("form", {}, field("token", t("token"), token, t("sign_in_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: config.oidc ? null : "primary" }, config.oidc ? t("sign_in_token") : t("sign_in")))), async () => {
    if (!signIn(token.value)) throw new ApiError(400, { detail: t("token_invalid"), errors: [{ field: "token", message: t("token_invalid") }] });
    await api("GET", "/v1/sequences?limit=1");
    go("#/sequencias");
  });
  const reason = signOut.reason;
  signOut.reason = null;
  show(t("sign_in"), h("h1", {}, t("sign_in_title")), reason ? h("p", { class: "notice", role: "alert" }, reason) : null,
    config.oidc ? [h("div", { class: "actions" }, actionButton(t("sign_in"), startProviderSignIn, { class: "primary" })),
      h("details", {}, h("summary", {}, t("sign_in_token")), form)] : form);
}

function notFoundPage() {
  show(t("not_found"), h("h1", {}, t("not_found")), h("p", {}, t("not_found_text")), h("a", { href: "#/sequencias" }, t("back_home")));
}

// Sequências ----------------------------------------------------------------------------------

async function sequencesPage() {
  const items = await everything("/v1/sequences?limit=100");
  show(t("sequences"),
    h("h1", {}, t("sequences")),
    canEdit() ? h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/sequencias/nova" }, t("new"))) : null,
    items.length ? h("ul", { class: "cards" }, items.map((s) => h("li", { class: "card" },
      h("div", {}, h("a", { class: "title", href: `#/sequencias/${s.id}` }, s.name), h("div", { class: "muted" }, t("steps_count", s.steps.length))),
      badge(s.status, t(`status_${s.status}`))))) : h("p", { class: "muted" }, t("none_yet")));
}

function newSequencePage() {
  if (!canEdit()) return notFoundPage();
  const name = input({ required: true, maxlength: 120, autocomplete: "off" });
  const form = onSubmit(h("form", {}, field("name", t("name"), name, t("name_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("continue")), h("a", { class: "button", href: "#/sequencias" }, t("cancel")))), async () => {
    const created = await api("POST", "/v1/sequences", { name: name.value });
    go(`#/sequencias/${created.id}`);
  });
  show(t("new_sequence"), h("h1", {}, t("new_sequence")), form);
}

const channelName = (channels, id) => channels.find((c) => c.id === id)?.name ?? id;

function sequenceTabs(id, active) {
  const tab = (hash, label, key) => h("a", { class: "button", href: hash, "aria-current": key === active ? "page" : null }, label);
  return h("div", { class: "actions", role: "navigation", "aria-label": t("sequences") },
    tab(`#/sequencias/${id}`, t("steps"), "steps"), tab(`#/sequencias/${id}/contatos`, t("contacts"), "contacts"), tab(`#/sequencias/${id}/acompanhamento`, t("tracking"), "tracking"));
}

async function sequencePage(id) {
  const [seq, channels] = await Promise.all([api("GET", `/v1/sequences/${enc(id)}`), everything("/v1/channels?limit=100")]);
  const edit = canEdit() && seq.status !== "archived";
  const lifecycle = [];
  if (edit) {
    const post = (verb) => async () => { await api("POST", `/v1/sequences/${enc(id)}/${verb}`); toast(t("saved")); render(); };
    if (seq.status === "draft") lifecycle.push(actionButton(t("activate"), post("activate"), { class: "primary" }));
    if (seq.status === "active") lifecycle.push(actionButton(t("pause"), post("pause")));
    if (seq.status === "paused") lifecycle.push(actionButton(t("resume"), post("resume"), { class: "primary" }));
    lifecycle.push(actionButton(t("archive"), async () => {
      if (!confirm(t("archive_confirm"))) return;
      await api("DELETE", `/v1/sequences/${enc(id)}`);
      render();
    }, { class: "danger" }));
  }
  const steps = seq.steps.map((step, i) => h("li", { class: "card step" },
    h("div", {},
      h("div", { class: "title" }, t("step_n", i + 1), ": ", step.action.type === "template" ? `${t("template")} “${step.action.name}” (${step.action.language})` : t("chatbot")),
      h("div", { class: "muted" }, `${channelName(channels, step.channel_id)} · ${describeDelay(step.delay)} · ${describeHours(step.window)}`)),
    edit ? h("div", { class: "actions" },
      h("a", { class: "button", href: `#/sequencias/${id}/passos/${step.id}` }, t("edit")),
      i > 0 ? actionButton("↑", async () => { await api("POST", `/v1/sequences/${enc(id)}/steps/${step.id}/move`, { position: i - 1 }); render(); }, { "aria-label": `${t("move_up")} (${t("step_n", i + 1)})` }) : null,
      i < seq.steps.length - 1 ? actionButton("↓", async () => { await api("POST", `/v1/sequences/${enc(id)}/steps/${step.id}/move`, { position: i + 1 }); render(); }, { "aria-label": `${t("move_down")} (${t("step_n", i + 1)})` }) : null,
      actionButton(t("delete"), async () => { if (!confirm(t("delete_step_confirm"))) return; await api("DELETE", `/v1/sequences/${enc(id)}/steps/${step.id}`); render(); }, { class: "danger", "aria-label": `${t("delete")} (${t("step_n", i + 1)})` })) : null));
  show(seq.name,
    h("h1", {}, seq.name, " ", badge(seq.status, t(`status_${seq.status}`))),
    seq.status === "paused" && seq.status_reason ? h("p", { class: "notice", role: "status" }, t("paused_by_ritmo", seq.status_reason)) : null,
    (seq.template_notices || []).map((n) => h("p", { class: "notice" }, `${t("template_notice")}: ${n.name} (${n.language}) ${n.event}${n.reason && n.reason !== "NONE" ? ` — ${n.reason}` : ""} · ${formatTime(n.at)}`)),
    h("p", { class: "muted" }, `${t("time_zone")}: ${seq.time_zone}`),
    lifecycle.length ? h("div", { class: "actions" }, lifecycle) : null,
    sequenceTabs(id, "steps"),
    h("h2", {}, t("steps")),
    steps.length ? h("ol", { class: "cards steps" }, steps) : h("p", { class: "muted" }, t("no_steps")),
    edit ? h("div", { class: "actions" }, h("a", { class: "button primary", href: `#/sequencias/${id}/passos/novo`, "aria-label": t("add_step_label"), title: t("add_step_label") }, t("add_step"))) : null);
}

async function stepEditor(id, stepId) {
  if (!canEdit()) return notFoundPage();
  const [seq, channels, bots] = await Promise.all([api("GET", `/v1/sequences/${enc(id)}`), everything("/v1/channels?limit=100"), everything("/v1/bots?limit=100")]);
  const step = stepId ? seq.steps.find((s) => s.id === stepId) : null;
  if (stepId && !step) return notFoundPage();
  if (!channels.length) {
    return show(t("new_step"), h("h1", {}, t("new_step")), h("p", { class: "notice" }, t("no_channels")), h("a", { href: "#/canais/novo" }, t("new_channel")));
  }
  const channel = select([["", t("choose")], ...channels.map((c) => [c.id, `${c.name} (${c.display_phone})`])], step?.channel_id || (channels.length === 1 ? channels[0].id : ""));
  const kind = step?.action.type || "template";
  const radio = (value, label) => h("label", { class: "inline" }, h("input", { type: "radio", name: "action-type", value, checked: kind === value }), label);
  const templatePart = h("div", {});
  const botPart = h("div", { hidden: kind === "chatbot" ? null : "hidden" },
    bots.length ? field("action.bot_id", t("bot"), select([["", t("choose")], ...bots.map((b) => [b.id, b.name])], step?.action.bot_id || "")) : h("p", { class: "notice" }, t("no_bots")));
  templatePart.hidden = kind !== "template";
  let templates = [];
  let params = h("div", {});
  const templateSelect = select([["", t("choose")]], "");
  const current = step?.action.type === "template" ? step.action : null;

  function drawParams() {
    const chosen = templates.find((tp) => `${tp.name}|${tp.language}` === templateSelect.value);
    const next = h("div", {});
    if (chosen) {
      const header = chosen.header;
      if (header && header.format === "TEXT" && header.parameters > 0) {
        next.append(field("action.header", t("header_param", header.parameter_name || "1"), input({ class: "header-param", value: current?.header?.parameter || "" })));
      } else if (header && ["IMAGE", "VIDEO", "DOCUMENT"].includes(header.format)) {
        next.append(field("action.header", t("header_link", header.format.toLowerCase()), input({ class: "header-link", type: "url", value: current?.header?.link || "", placeholder: "https://" })));
      }
      for (let i = 0; i < chosen.body_parameters; i++) {
        const label = chosen.body_parameter_names?.[i] ? `${t("body_param", i + 1)} ({{${chosen.body_parameter_names[i]}}})` : t("body_param", i + 1);
        next.append(field(`action.parameters[${i}]`, label, input({ class: "body-param", value: current?.parameters?.[i] ?? (i === 0 ? "{{contact.name|cliente}}" : "") })));
      }
      (chosen.buttons || []).forEach((button, index) => {
        if (!button.parameters) return;
        const existing = current?.buttons?.find((b) => b.index === index);
        next.append(field(`action.buttons[${index}]`, t("button_param", index + 1, button.text || button.type), input({ class: "button-param", "data-index": index, "data-type": button.type.toLowerCase(), value: existing?.text ?? existing?.payload ?? existing?.code ?? "" })));
      });
      next.append(h("p", { class: "hint" }, t("variables_hint")));
    }
    params.replaceWith(next);
    params = next;
  }

  async function loadTemplates() {
    templates = [];
    templateSelect.replaceChildren(h("option", { value: "" }, t("choose")));
    if (!channel.value) { drawParams(); return; }
    const list = await api("GET", `/v1/channels/${enc(channel.value)}/templates`);
    templates = list.items.filter((tp) => tp.status === "APPROVED");
    for (const tp of templates) {
      const value = `${tp.name}|${tp.language}`;
      templateSelect.append(h("option", { value, selected: current && value === `${current.name}|${current.language}` ? "selected" : null }, `${tp.name} (${tp.language}, ${tp.category})`));
    }
    if (!templates.length) templateSelect.replaceChildren(h("option", { value: "" }, t("no_templates")));
    drawParams();
  }
  channel.addEventListener("change", () => loadTemplates().catch((e) => toast(e.message)));
  templateSelect.addEventListener("change", drawParams);
  append(templatePart, [field("action.name", t("template"), templateSelect), params]);

  const amount = input({ type: "number", min: 0, max: 525600, value: step?.delay.amount ?? 1, class: "narrow", inputmode: "numeric" });
  const unit = select([["minutes", t("minutes")], ["hours", t("hours")], ["days", t("days")]], step?.delay.unit || "days");
  const hours = hoursEditor("window", step?.window, { legend: t("hours_title"), toggle: t("limit_hours"), zoneDefault: seq.time_zone, contactZone: true });

  const form = h("form", {},
    field("channel_id", t("channel"), channel),
    h("fieldset", { "data-field": "action" }, h("legend", {}, t("action")), radio("template", t("template")), radio("chatbot", t("chatbot")), templatePart, botPart, h("p", { class: "field-error" })),
    h("fieldset", { "data-field": "delay" }, h("legend", {}, t("schedule")),
      h("div", { class: "row" }, field("delay.amount", t("delay"), amount), field("delay.unit", t("unit"), unit)), h("p", { class: "hint" }, t("delay_hint")), h("p", { class: "field-error" })),
    hours,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("save")), h("a", { class: "button", href: `#/sequencias/${id}` }, t("cancel"))));
  form.querySelectorAll("input[name=action-type]").forEach((r) => r.addEventListener("change", () => {
    const type = form.querySelector("input[name=action-type]:checked").value;
    templatePart.hidden = type !== "template";
    botPart.hidden = type !== "chatbot";
  }));
  onSubmit(form, async () => {
    const type = form.querySelector("input[name=action-type]:checked").value;
    let action;
    if (type === "chatbot") {
      action = { type, bot_id: botPart.querySelector("select")?.value || "" };
    } else {
      const [name, language] = (templateSelect.value || "|").split("|");
      action = { type, name, language, parameters: [...form.querySelectorAll(".body-param")].map((i) => i.value) };
      const headerParam = form.querySelector(".header-param");
      const headerLink = form.querySelector(".header-link");
      const chosen = templates.find((tp) => `${tp.name}|${tp.language}` === templateSelect.value);
      if (headerParam) action.header = { type: "text", parameter: headerParam.value };
      if (headerLink) action.header = { type: chosen.header.format.toLowerCase(), link: headerLink.value };
      action.buttons = [...form.querySelectorAll(".button-param")].map((b) => {
        const index = Number(b.dataset.index);
        if (b.dataset.type === "quick_reply") return { type: "quick_reply", index, payload: b.value };
        if (b.dataset.type === "copy_code") return { type: "copy_code", index, code: b.value };
        return { type: "url", index, text: b.value };
      });
    }
    const body = { channel_id: channel.value, action, delay: { amount: Number(amount.value), unit: unit.value }, window: hours.value() };
    if (step) await api("PUT", `/v1/sequences/${enc(id)}/steps/${step.id}`, body);
    else await api("POST", `/v1/sequences/${enc(id)}/steps`, body);
    toast(t("saved"));
    go(`#/sequencias/${id}`);
  });
  const title = step ? t("edit_step") : t("new_step");
  show(title, h("p", {}, h("a", { href: `#/sequencias/${id}` }, seq.name)), h("h1", {}, title), form);
  if (channel.value) await loadTemplates();
}

// Contatos ------------------------------------------------------------------------------------

function parseList(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean).map((line) => {
    const [phone, ...rest] = line.split(/[,;\t]/);
    const name = rest.join(" ").trim();
    return name ? { phone: phone.trim(), name } : { phone: phone.trim() };
  });
}

async function contactsPage(id) {
  const seq = await api("GET", `/v1/sequences/${enc(id)}`);
  const status = new URLSearchParams(location.hash.split("?")[1] || "").get("status") || "";
  const edit = canEdit() && seq.status !== "archived";
  const parts = [h("p", {}, h("a", { href: `#/sequencias/${id}` }, seq.name)), h("h1", {}, t("contacts")), sequenceTabs(id, "contacts")];

  if (edit) {
    const phone = input({ type: "tel", autocomplete: "off", inputmode: "tel" });
    const name = input({ autocomplete: "off" });
    const addForm = onSubmit(h("form", { class: "add-contact" }, h("h2", {}, t("add_contact")),
      h("div", { class: "row" }, field("contacts[0].phone", t("phone"), phone, t("phone_hint")), field("contacts[0].name", `${t("name")} (${t("optional")})`, name)),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("add")))), async () => {
      const contact = name.value.trim() ? { phone: phone.value, name: name.value.trim() } : { phone: phone.value };
      const result = (await api("POST", `/v1/sequences/${enc(id)}/enrollments`, { contacts: [contact] })).results[0];
      if (result.status === "rejected") throw new ApiError(422, { detail: result.error, errors: [{ field: "contacts[0].phone", message: result.error }] });
      toast(t("enrolled", result.status === "enrolled" ? 1 : 0, result.status === "already_enrolled" ? 1 : 0, 0));
      render();
    });
    const list = h("textarea", { rows: 5, placeholder: "+5511987654321,Ana" });
    const listResult = h("div", { role: "status" });
    const listForm = onSubmit(h("form", {}, h("h2", {}, t("paste_list")), field("contacts", t("paste_list"), list, t("paste_hint")),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("enroll_list"))), listResult), async () => {
      const contacts = parseList(list.value);
      const counts = { enrolled: 0, already_enrolled: 0, rejected: 0 };
      const rejected = [];
      for (let i = 0; i < contacts.length; i += 1000) {
        const { results } = await api("POST", `/v1/sequences/${enc(id)}/enrollments`, { contacts: contacts.slice(i, i + 1000) });
        for (const r of results) { counts[r.status]++; if (r.status === "rejected") rejected.push(`${r.phone}: ${r.error}`); }
      }
      listResult.replaceChildren(h("p", {}, t("enrolled", counts.enrolled, counts.already_enrolled, counts.rejected)), rejected.length ? h("ul", { class: "alert" }, rejected.map((r) => h("li", {}, r))) : null);
      // Only the rejected lines stay, to be fixed and sent again.
      list.value = contacts.filter((c) => rejected.some((r) => r.startsWith(`${c.phone}:`))).map((c) => c.name ? `${c.phone},${c.name}` : c.phone).join("\n");
      await drawList();
    });
    const file = input({ type: "file", accept: ".csv,text/csv" });
    const progress = h("div", { class: "import-progress", role: "status", "aria-live": "polite" });
    const csvForm = onSubmit(h("form", {}, h("h2", {}, t("import_csv")), field("file", t("csv_file"), file, t("csv_hint")),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("import"))), progress), async () => {
      if (!file.files[0]) throw new ApiError(400, { detail: t("csv_file"), errors: [{ field: "file", message: t("csv_hint") }] });
      const started = await api("POST", `/v1/sequences/${enc(id)}/imports`, file.files[0], "text/csv");
      await followJob(started.job_id, progress);
      await drawList();
    });
    parts.push(addForm, listForm, csvForm);
  }

  const filter = select([["", t("all_statuses")], ...["active", "completed", "removed", "exited"].map((s) => [s, t(`enr_${s}`)])], status);
  filter.addEventListener("change", () => go(`#/sequencias/${id}/contatos${filter.value ? `?status=${filter.value}` : ""}`));
  const table = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("contacts") });
  let cursor = null;
  const more = h("button", { type: "button", hidden: "hidden" }, t("more"));
  const rows = h("tbody", {});
  async function drawList(append_ = false) {
    if (!append_) { rows.replaceChildren(); cursor = null; }
    const query = new URLSearchParams({ limit: "50" });
    if (filter.value) query.set("status", filter.value);
    if (cursor) query.set("cursor", cursor);
    const page = await api("GET", `/v1/sequences/${enc(id)}/enrollments?${query}`);
    for (const e of page.items) {
      rows.append(h("tr", {},
        h("td", {}, h("a", { href: `#/sequencias/${id}/contatos/${enc(e.phone)}` }, e.phone)),
        h("td", {}, e.name || "—"),
        h("td", {}, badge(e.status, t(`enr_${e.status}`)), e.exit_reason ? h("div", { class: "muted" }, t(`ex_${e.exit_reason}`)) : null),
        h("td", {}, formatTime(e.next_send_at)),
        h("td", {}, edit && e.status === "active" ? actionButton(t("remove"), async () => {
          if (!confirm(t("remove_contact_confirm", e.phone))) return;
          await api("DELETE", `/v1/sequences/${enc(id)}/enrollments/${enc(e.phone)}`);
          toast(t("removed"));
          await drawList();
        }, { class: "danger", "aria-label": `${t("remove")} ${e.phone}` }) : null)));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    table.replaceChildren(rows.children.length ? h("table", {}, h("thead", {}, h("tr", {}, [t("phone"), t("name"), t("status"), t("next_send"), ""].map((c) => h("th", { scope: "col" }, c)))), rows) : h("p", { class: "muted" }, t("none_yet")));
  }
  more.addEventListener("click", () => drawList(true).catch((e) => toast(e.message)));
  parts.push(h("h2", {}, t("contacts")), field("status", t("filter_status"), filter), table, more);
  show(`${t("contacts")} · ${seq.name}`, parts);
  await drawList();
}

async function followJob(jobId, box) {
  const bar = h("progress", { class: "progress", max: 1, value: 0 });
  const text = h("p", {});
  box.replaceChildren(text, bar);
  for (;;) {
    const job = await api("GET", `/v1/jobs/${enc(jobId)}`);
    if (job.progress !== null && job.progress !== undefined) bar.value = job.progress;
    text.textContent = t("import_progress", job.done + job.failed, job.total || "…", job.failed);
    if (job.finished_at) {
      bar.value = 1;
      text.textContent = t("import_done", job.done + job.failed, job.failed);
      if (job.failed) {
        const blob = await api("GET", `/v1/jobs/${enc(jobId)}/errors.csv`);
        box.append(h("a", { class: "button", href: URL.createObjectURL(blob), download: `erros-${jobId}.csv` }, t("error_file")));
      }
      return job;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function contactPage(id, phone) {
  const [seq, enrollment] = await Promise.all([api("GET", `/v1/sequences/${enc(id)}`), api("GET", `/v1/sequences/${enc(id)}/enrollments/${enc(phone)}`)]);
  const position = (stepId) => seq.steps.findIndex((s) => s.id === stepId);
  const history = enrollment.history || [];
  show(enrollment.phone,
    h("p", {}, h("a", { href: `#/sequencias/${id}/contatos` }, `${seq.name} · ${t("contacts")}`)),
    h("h1", {}, enrollment.name ? `${enrollment.name} (${enrollment.phone})` : enrollment.phone),
    h("p", {}, badge(enrollment.status, t(`enr_${enrollment.status}`)), enrollment.exit_reason ? ` ${t("exit_reason")}: ${t(`ex_${enrollment.exit_reason}`)}` : null),
    h("p", { class: "muted" }, `${t("enrolled_at")}: ${formatTime(enrollment.enrolled_at)} · ${t("next_send")}: ${formatTime(enrollment.next_send_at)}`),
    h("h2", {}, t("timeline")),
    history.length ? h("ol", { class: "timeline" }, history.map((entry) => h("li", { class: "history-entry" },
      h("strong", {}, position(entry.step_id) >= 0 ? t("step_n", position(entry.step_id) + 1) : entry.step_id), " · ", formatTime(entry.at), " ",
      badge(entry.outcome, t(`out_${entry.outcome}`)), " ",
      entry.status ? badge(entry.status, t(`st_${entry.status}`)) : null,
      entry.error ? h("div", { class: "field-error" }, entry.error) : null))) : h("p", { class: "muted" }, t("no_history")));
}

// Acompanhamento ------------------------------------------------------------------------------

function bars(rows, max) {
  return h("div", { class: "chart" }, rows.map(([label, value, kind]) => {
    const fill = h("div", { class: `fill ${kind || ""}` });
    // Through the CSSOM: the policy refuses style attributes.
    fill.style.width = `${max ? Math.round((100 * value) / max) : 0}%`;
    return h("div", { class: "bar" },
      h("span", {}, label),
      h("div", { class: "track", role: "img", "aria-label": `${label}: ${value}` }, fill),
      h("span", { class: "value" }, String(value)));
  }));
}

async function statsPage(id) {
  const [seq, stats] = await Promise.all([api("GET", `/v1/sequences/${enc(id)}`), api("GET", `/v1/sequences/${enc(id)}/stats`)]);
  const money = (v) => v === null || v === undefined ? "—" : new Intl.NumberFormat(lang === "pt" ? "pt-BR" : "en", { style: "currency", currency: stats.currency || "BRL" }).format(v);
  show(`${t("tracking")} · ${seq.name}`,
    h("p", {}, h("a", { href: `#/sequencias/${id}` }, seq.name)),
    h("h1", {}, t("tracking")), sequenceTabs(id, "tracking"),
    h("h2", {}, t("funnel")),
    stats.steps.length ? stats.steps.map((s, i) => h("section", { class: "step-stats", "aria-label": t("step_n", (s.position ?? i) + 1) },
      h("h3", {}, t("step_n", (s.position ?? i) + 1)),
      bars([[t("sent"), s.sent], [t("delivered"), s.delivered], [t("read"), s.read], [t("replies"), s.replied], [t("failed"), s.failed], [t("skipped"), s.skipped]], Math.max(s.sent, s.failed, s.skipped, 1)),
      h("p", { class: "muted" }, `${t("billable")}: ${Object.entries(s.billable || {}).map(([k, v]) => `${k} ${v}`).join(", ") || 0} · ${t("cost")}: ${money(s.estimated_cost)}`))) : h("p", { class: "muted" }, t("no_steps")),
    h("h2", {}, t("enrollments_by_status")),
    bars(Object.entries(stats.enrollments).map(([k, v]) => [t(`enr_${k}`), v]), Math.max(1, ...Object.values(stats.enrollments))),
    h("h2", {}, t("exit_reasons")),
    Object.keys(stats.exit_reasons).length ? bars(Object.entries(stats.exit_reasons).map(([k, v]) => [t(`ex_${k}`), v]), Math.max(1, ...Object.values(stats.exit_reasons))) : h("p", { class: "muted" }, t("none_yet")));
}

// Canais e bots -------------------------------------------------------------------------------

async function channelsPage() {
  const items = await everything("/v1/channels?limit=100");
  show(t("channels"), h("h1", {}, t("channels")),
    canEdit() ? h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/canais/novo" }, t("new_channel"))) : null,
    items.length ? h("ul", { class: "cards" }, items.map((c) => h("li", { class: "card" },
      h("div", {}, h("a", { class: "title", href: `#/canais/${c.id}` }, c.name), h("div", { class: "muted" }, `${c.display_phone} · ${c.messages_per_second}/s`))))) : h("p", { class: "muted" }, t("none_yet")));
}

function newChannelPage() {
  if (!canEdit()) return notFoundPage();
  const f = {
    name: input({ required: true }), display_phone: input({ type: "tel" }), phone_number_id: input({ inputmode: "numeric" }),
    waba_id: input({ inputmode: "numeric" }), access_token: input({ type: "password", autocomplete: "off" }), messages_per_second: input({ type: "number", min: 1, max: 1000, value: 80 }),
  };
  const form = onSubmit(h("form", {},
    field("name", t("name"), f.name), field("display_phone", t("display_phone"), f.display_phone), field("phone_number_id", t("phone_number_id"), f.phone_number_id),
    field("waba_id", t("waba_id"), f.waba_id), field("access_token", t("access_token"), f.access_token, t("access_token_hint")), field("messages_per_second", t("rate"), f.messages_per_second),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("save")), h("a", { class: "button", href: "#/canais" }, t("cancel")))), async () => {
    const body = Object.fromEntries(Object.entries(f).map(([k, i]) => [k, i.value]));
    body.messages_per_second = Number(body.messages_per_second);
    const created = await api("POST", "/v1/channels", body);
    f.access_token.value = "";
    go(`#/canais/${created.id}`);
  });
  show(t("new_channel"), h("h1", {}, t("new_channel")), form);
}

async function channelPage(id) {
  const [channel, templates] = await Promise.all([api("GET", `/v1/channels/${enc(id)}`), api("GET", `/v1/channels/${enc(id)}/templates`)]);
  show(channel.name, h("p", {}, h("a", { href: "#/canais" }, t("channels"))), h("h1", {}, channel.name),
    h("p", { class: "muted" }, `${channel.display_phone} · ${t("phone_number_id")} ${channel.phone_number_id} · ${channel.messages_per_second}/s`),
    h("h2", {}, t("templates")),
    templates.items.length ? h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("templates") }, h("table", {},
      h("thead", {}, h("tr", {}, [t("name"), t("language_col"), t("category"), t("status"), t("header"), t("body_params"), t("buttons")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, templates.items.map((tp) => h("tr", {}, h("td", {}, tp.name), h("td", {}, tp.language), h("td", {}, tp.category), h("td", {}, tp.status),
        h("td", {}, tp.header ? tp.header.format : "—"), h("td", {}, String(tp.body_parameters)), h("td", {}, (tp.buttons || []).map((b) => b.text || b.type).join(", ") || "—")))))) : h("p", { class: "muted" }, t("no_templates")));
}

async function botsPage() {
  const items = await everything("/v1/bots?limit=100");
  show(t("bots"), h("h1", {}, t("bots")),
    canEdit() ? h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/bots/novo" }, t("new_bot"))) : null,
    items.length ? h("ul", { class: "cards" }, items.map((b) => h("li", { class: "card" }, h("div", {}, h("span", { class: "title" }, b.name), h("div", { class: "muted" }, b.webhook_url))))) : h("p", { class: "muted" }, t("none_yet")));
}

function newBotPage() {
  if (!canEdit()) return notFoundPage();
  const name = input({ required: true });
  const url = input({ type: "url", placeholder: "https://" });
  const secret = input({ type: "password", autocomplete: "off" });
  const form = onSubmit(h("form", {}, field("name", t("name"), name), field("webhook_url", t("webhook_url"), url), field("secret", t("secret"), secret, t("secret_hint")),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, t("save")), h("a", { class: "button", href: "#/bots" }, t("cancel")))), async () => {
    await api("POST", "/v1/bots", { name: name.value, webhook_url: url.value, secret: secret.value });
    go("#/bots");
  });
  show(t("new_bot"), h("h1", {}, t("new_bot")), form);
}

// Links ---------------------------------------------------------------------------------------

async function linksPage() {
  const items = await everything("/v1/links?limit=100");
  show(t("links"), h("h1", {}, t("links")),
    canEdit() ? h("div", { class: "actions" }, h("a", { class: "button primary", href: "#/links/+whatsapp" }, t("new_link")), h("a", { class: "button primary", href: "#/links/+sequencial" }, t("new_rotator"))) : null,
    items.length ? h("ul", { class: "cards" }, items.map((l) => h("li", { class: "card" },
      h("div", {}, h("a", { class: "title", href: `#/links/${l.slug}` }, l.slug), h("div", { class: "muted" }, l.type === "rotator" ? `${t("link_type_rotator")} · ${l.members.length}` : `${t("link_type_whatsapp")} · ${l.phone}`)),
      h("code", { class: "url" }, l.url)))) : h("p", { class: "muted" }, t("none_yet")));
}

async function linkEditor(type, slug) {
  if (!canEdit()) return notFoundPage();
  const [existing, links] = await Promise.all([slug ? api("GET", `/v1/links/${enc(slug)}`) : null, everything("/v1/links?limit=100")]);
  if (existing) type = existing.type;
  const slugInput = input({ value: existing?.slug || "", required: true, autocomplete: "off", readonly: existing ? "readonly" : null });
  const parts = [field("slug", t("slug"), slugInput, t("slug_hint"))];
  let phone, text, members, sticky, stickyDays;
  if (type === "whatsapp") {
    phone = input({ type: "tel", value: existing?.phone || "" });
    text = h("textarea", { rows: 3 }, existing?.text || "");
    parts.push(field("phone", t("phone"), phone, t("phone_hint")), field("text", t("text"), text));
  } else {
    const choices = links.filter((l) => l.type === "whatsapp");
    members = h("div", { class: "members" });
    const memberRow = (m, i) => {
      const linkSelect = select([["", t("choose")], ...choices.map((l) => [l.slug, `${l.slug} (${l.phone})`])], m?.link || "", { "aria-label": `${t("members")} ${i + 1}`, class: "member-link" });
      const weight = input({ type: "number", min: 1, max: 100, value: m?.weight || 1, class: "member-weight", "aria-label": `${t("weight")} ${i + 1}` });
      const enabled = h("input", { type: "checkbox", checked: m ? m.enabled !== false : true, class: "member-enabled" });
      const row = h("div", { class: "row member", "data-field": `members[${i}]` },
        h("div", {}, linkSelect), h("div", { class: "narrow" }, weight),
        h("label", { class: "inline" }, enabled, t("enabled")),
        h("button", { type: "button", class: "narrow", onclick: () => row.remove() }, t("remove")), h("p", { class: "field-error" }));
      return row;
    };
    (existing?.members || [null, null]).forEach((m, i) => members.append(memberRow(m, i)));
    sticky = h("input", { type: "checkbox", checked: existing?.sticky });
    stickyDays = input({ type: "number", min: 1, max: 365, value: existing?.sticky_days || 30 });
    parts.push(h("fieldset", { "data-field": "members" }, h("legend", {}, t("members")), h("p", { class: "hint" }, t("members_hint")),
      choices.length ? null : h("p", { class: "notice" }, t("no_whatsapp_links")), members,
      h("button", { type: "button", onclick: () => members.append(memberRow(null, members.children.length)) }, t("add_member")), h("p", { class: "field-error" })),
    h("fieldset", {}, h("legend", {}, t("sticky")), h("label", { class: "inline" }, sticky, t("sticky")), h("p", { class: "hint" }, t("sticky_hint")), field("sticky_days", t("sticky_days"), stickyDays)));
  }
  const hours = hoursEditor("hours", existing?.hours, { legend: t("opening_hours"), toggle: t("limit_opening"), contactZone: false });
  const closedKind = existing?.when_closed?.type || "page";
  const closedRadio = (value, label) => h("label", { class: "inline" }, h("input", { type: "radio", name: "when-closed", value, checked: closedKind === value }), label);
  const closedMessage = h("textarea", { rows: 2 }, existing?.when_closed?.message || "");
  const closedUrl = input({ type: "url", value: existing?.when_closed?.url || "", placeholder: "https://" });
  const previewTitle = input({ value: existing?.preview?.title || "" });
  const previewImage = input({ type: "url", value: existing?.preview?.image_url || "", placeholder: "https://" });
  parts.push(hours,
    h("fieldset", { "data-field": "when_closed" }, h("legend", {}, t("when_closed")), closedRadio("page", t("closed_page")), closedRadio("redirect", t("closed_redirect")), closedRadio("ignore_hours", t("closed_ignore")),
      field("when_closed.message", t("closed_message"), closedMessage), field("when_closed.url", t("closed_url"), closedUrl), h("p", { class: "field-error" })),
    h("fieldset", { "data-field": "preview" }, h("legend", {}, t("preview")), field("preview.title", t("preview_title"), previewTitle), field("preview.image_url", t("preview_image"), previewImage), h("p", { class: "field-error" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, type === "rotator" ? t("finish") : t("save")), h("a", { class: "button", href: existing ? `#/links/${existing.slug}` : "#/links" }, t("cancel"))));
  const form = onSubmit(h("form", {}, parts), async () => {
    const body = { type, slug: slugInput.value.trim() };
    if (type === "whatsapp") { body.phone = phone.value; body.text = text.value || null; } else {
      body.members = [...members.querySelectorAll(".member")].map((row) => ({ link: row.querySelector(".member-link").value, weight: Number(row.querySelector(".member-weight").value), enabled: row.querySelector(".member-enabled").checked }));
      body.sticky = sticky.checked;
      if (sticky.checked) body.sticky_days = Number(stickyDays.value);
    }
    body.hours = hours.value();
    if (body.hours) {
      const kind = form.querySelector("input[name=when-closed]:checked").value;
      body.when_closed = kind === "page" ? { type: kind, message: closedMessage.value } : kind === "redirect" ? { type: kind, url: closedUrl.value } : { type: kind };
    }
    if (previewTitle.value || previewImage.value) body.preview = { title: previewTitle.value || null, image_url: previewImage.value || null };
    const saved = existing ? await api("PUT", `/v1/links/${enc(existing.slug)}`, body) : await api("POST", "/v1/links", body);
    toast(t("saved"));
    go(`#/links/${saved.slug}`);
  });
  const title = existing ? `${t("edit")} ${existing.slug}` : type === "rotator" ? t("new_rotator") : t("new_link");
  show(title, h("p", {}, h("a", { href: "#/links" }, t("links"))), h("h1", {}, title), form);
}

// One column per day (people and bots side by side), then the days with clicks as a table.
function dayChart(days, max) {
  const busy = days.filter((d) => d.human || d.bot);
  const columns = h("div", { class: "days", role: "img", "aria-label": `${t("clicks_by_day")}: ${busy.map((d) => `${d.date} ${d.human}/${d.bot}`).join(", ") || 0}` },
    days.map((d) => {
      const human = h("div", { class: "col human" });
      const bot = h("div", { class: "col bot" });
      human.style.height = `${Math.round((100 * d.human) / max)}%`;
      bot.style.height = `${Math.round((100 * d.bot) / max)}%`;
      return h("div", { class: "daycol", title: `${d.date}: ${d.human} / ${d.bot}` }, human, bot);
    }));
  return [
    columns,
    days.length ? h("p", { class: "legend axis" }, h("span", {}, days[0].date), h("span", {}, days[days.length - 1].date)) : null,
    busy.length ? h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("clicks_by_day") }, h("table", { class: "day-clicks" },
      h("thead", {}, h("tr", {}, [t("date"), t("human"), t("bots_label")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, busy.map((d) => h("tr", {}, h("td", {}, d.date), h("td", {}, String(d.human)), h("td", {}, String(d.bot))))))) : h("p", { class: "muted" }, t("none_yet")),
  ];
}

async function linkPage(slug) {
  const [link, stats, qr] = await Promise.all([api("GET", `/v1/links/${enc(slug)}`), api("GET", `/v1/links/${enc(slug)}/stats`), api("GET", `/v1/links/${enc(slug)}/qr.svg`)]);
  const qrUrl = URL.createObjectURL(qr);
  const maxMember = Math.max(1, ...stats.members.map((m) => m.clicks));
  const maxDay = Math.max(1, ...stats.by_day.map((d) => Math.max(d.human, d.bot)));
  show(link.slug,
    h("p", {}, h("a", { href: "#/links" }, t("links"))),
    h("h1", {}, link.slug, " ", badge("", link.type === "rotator" ? t("link_type_rotator") : t("link_type_whatsapp"))),
    h("p", {}, `${t("link_url")}: `, h("code", { class: "url link-url" }, link.url)),
    h("div", { class: "actions" },
      actionButton(t("copy"), async () => { await navigator.clipboard.writeText(link.url); toast(t("copied")); }),
      h("a", { class: "button", href: qrUrl, download: `${link.slug}.svg` }, t("download_qr")),
      canEdit() ? h("a", { class: "button", href: `#/links/${link.slug}/editar` }, t("edit")) : null,
      canEdit() ? actionButton(t("delete"), async () => { if (!confirm(t("delete_link_confirm", link.slug))) return; await api("DELETE", `/v1/links/${enc(link.slug)}`); go("#/links"); }, { class: "danger" }) : null),
    h("div", { class: "qr" }, h("img", { src: qrUrl, alt: `${t("qr")} ${link.url}` })),
    link.type === "rotator" ? [h("h2", {}, t("members")), h("ol", {}, link.members.map((m) => h("li", {}, `${m.link} · ${t("weight")} ${m.weight}${m.enabled ? "" : ` · ${t("no")}`}`))),
      link.sticky ? h("p", {}, `${t("sticky")}: ${link.sticky_days} ${t("days")}`) : null] : h("p", {}, `${t("phone")}: ${link.phone}`),
    h("p", { class: "muted" }, `${t("opening_hours")}: ${describeHours(link.hours)}`),
    h("h2", {}, `${t("clicks")} (${stats.from} – ${stats.to})`),
    h("p", { class: "click-totals" }, `${t("human")}: ${stats.clicks.human} · ${t("bots_label")}: ${stats.clicks.bot} · ${t("closed_clicks")}: ${stats.clicks.closed}`),
    link.type === "rotator" ? [h("h3", {}, t("clicks_by_member")), h("div", { class: "member-clicks" }, bars(stats.members.map((m) => [m.link, m.clicks]), maxMember))] : null,
    h("h3", {}, t("clicks_by_day")),
    h("p", { class: "legend" }, h("span", {}, h("span", { class: "sw" }), t("human")), h("span", {}, h("span", { class: "sw bot" }), t("bots_label"))),
    dayChart(stats.by_day, maxDay));
}

// ---------------------------------------------------------------------------------------------
// Routing: `#/<page>/...`, pt-BR paths as the seed pages name them.

const ROUTES = [
  [/^#\/entrar$/, signInPage],
  [/^#\/sequencias$/, sequencesPage],
  [/^#\/sequencias\/nova$/, newSequencePage],
  [/^#\/sequencias\/([^/?]+)$/, sequencePage],
  [/^#\/sequencias\/([^/?]+)\/passos\/novo$/, (id) => stepEditor(id, null)],
  [/^#\/sequencias\/([^/?]+)\/passos\/([^/?]+)$/, stepEditor],
  [/^#\/sequencias\/([^/?]+)\/contatos(?:\?.*)?$/, contactsPage],
  [/^#\/sequencias\/([^/?]+)\/contatos\/([^/?]+)$/, contactPage],
  [/^#\/sequencias\/([^/?]+)\/acompanhamento$/, statsPage],
  [/^#\/canais$/, channelsPage],
  [/^#\/canais\/novo$/, newChannelPage],
  [/^#\/canais\/([^/?]+)$/, channelPage],
  [/^#\/bots$/, botsPage],
  [/^#\/bots\/novo$/, newBotPage],
  [/^#\/links$/, linksPage],
  // `+` is in no slug: a link may be called "novo".
  [/^#\/links\/\+whatsapp$/, () => linkEditor("whatsapp")],
  [/^#\/links\/\+sequencial$/, () => linkEditor("rotator")],
  [/^#\/links\/([^/?]+)\/editar$/, (slug) => linkEditor(null, slug)],
  [/^#\/links\/([^/?]+)$/, linkPage],
];

async function render() {
  document.documentElement.lang = lang === "pt" ? "pt-BR" : "en";
  // A sign-in address opened in a tab that already shows the console.
  if (location.hash.startsWith("#token=")) restoreSession();
  const hash = location.hash || "#/sequencias";
  if (!session.token) { if (hash !== "#/entrar") { location.replace("#/entrar"); return; } return signInPage(); }
  const route = ROUTES.find(([pattern]) => pattern.test(hash));
  if (!route) return notFoundPage();
  const args = hash.match(route[0]).slice(1).map(decodeURIComponent);
  try {
    await route[1](...args);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    if (error instanceof ApiError && (error.status === 404 || (error.status === 400 && args.length))) return notFoundPage();
    show(t("error"), h("h1", {}, t("error")), h("p", { class: "alert", role: "alert" }, error.message), h("button", { type: "button", onclick: render }, t("retry")));
  }
}

await loadConfig();
await finishProviderSignIn();
restoreSession();
window.addEventListener("hashchange", render);
render();
