// The Cloud Console's API Keys page. No framework, no third-party code: it talks to this same
// API (same origin) with the console token as `Authorization: Bearer`.
//
// Sign-in: the console's sign-in sends the browser here with `#token=<console JWT>`. A URL
// fragment never reaches a server or its logs; the page moves the token into sessionStorage
// (this tab only) and removes it from the address bar at once. A link's token for another
// account than the one signed in is taken only if the person confirms: anyone can send a link,
// and keys created after a silent switch would belong to the sender's account (token
// fixation). A real sign-in flow also binds its answer to this browser (an OIDC `state` it
// issued and checks), which a planted link cannot carry; this page, given tokens by
// `vpctl console`, has no such flow to check.
//
// Everything from the API is rendered with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "visionpipe.consoleToken";
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// ---------------------------------------------------------------- sign-in

// The account a console token names (its `sub`), read without verifying: only to tell two
// tokens apart. The API verifies every token it is sent.
function accountOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload)).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}

let pendingSwitch = null;

// Takes a token from the fragment (always clearing it from the address bar): at once when no
// token is held or it names the same account; otherwise only once the person confirms.
function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const offered = params.get("token");
  if (!offered) return;
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  const held = token();
  if (!held || accountOf(held) === accountOf(offered)) {
    sessionStorage.setItem(TOKEN_KEY, offered);
    return;
  }
  pendingSwitch = offered;
  $("switch-new").textContent = accountOf(offered) ?? "(unknown)";
  $("switch-current").textContent = accountOf(held) ?? "(unknown)";
  if (!$("switch-dialog").open) $("switch-dialog").showModal();
}

function confirmSwitch() {
  const offered = pendingSwitch;
  $("switch-dialog").close();
  if (offered) {
    sessionStorage.setItem(TOKEN_KEY, offered);
    show();
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const id of ["keys-view", "usage-view", "audit-view", "webhooks-view", "sign-out"]) $(id).hidden = true;
  for (const d of document.querySelectorAll("dialog[open]")) d.close();
  $("signed-out-reason").textContent = reason;
  $("signed-out").hidden = false;
  clearError();
  setStatus("");
}

// ---------------------------------------------------------------- the API

// Errors in words: the API's own message where it gave one, otherwise what went wrong.
async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, "Cannot reach the VisionPipe API. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (e) {
    data = null;
  }
  if (response.ok && data && data.success) return data;
  if (response.status === 401) {
    signOut("Your session has expired or is not valid. Sign in again to continue.");
    throw new ApiError(401, "Signed out");
  }
  const said = data && typeof data.error === "string" ? data.error : null;
  if (response.status === 402) throw new ApiError(402, said || "Insufficient credits.");
  if (response.status >= 500) {
    throw new ApiError(
      response.status,
      (said || "The service had a problem.") + " Nothing was changed; please try again in a moment.",
    );
  }
  throw new ApiError(response.status, said || `The request failed (HTTP ${response.status}).`);
}

// ---------------------------------------------------------------- feedback

function showError(error) {
  if (error instanceof ApiError && error.status === 401) return; // the signed-out view says it
  const box = $("error");
  box.textContent = error instanceof ApiError ? error.message : "Something went wrong: " + error;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

function setStatus(text) {
  $("status").textContent = text;
}

// Dates in the viewer's own locale and time zone.
function formatDate(iso) {
  if (!iso) return "Never";
  const date = new Date(iso);
  return isNaN(date) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function cell(row, text, label) {
  const td = row.insertCell();
  td.textContent = text;
  td.dataset.label = label;
  return td;
}

// ---------------------------------------------------------------- keys

// Which keys the page shows, and what Add Key makes: the Live/Test switch.
function keyMode() {
  return $("mode-test").checked ? "test" : "live";
}

function showMode() {
  const test = keyMode() === "test";
  $("live-hint").hidden = test;
  $("test-hint").hidden = !test;
  $("keys-caption").textContent = test ? "Your test API keys" : "Your live API keys";
  $("no-keys-mode").textContent = test ? "test" : "API";
  $("create-mode").textContent = test
    ? "A test key: its sessions spend no credits (a daily allowance shared by your test keys)."
    : "A live key: each session costs one credit.";
}

async function loadKeys() {
  const today = utcDay(0);
  const [list, balance, usage] = await Promise.all([
    api("GET", "/api/v1/keys"),
    api("GET", "/api/v1/credits"),
    api("GET", "/api/v1/usage?" + new URLSearchParams({ from: today.toISOString(), to: utcDay(1).toISOString() })),
  ]);
  const sessionsToday = new Map(usage.series.map((s) => [s.keyId, s.points.reduce((n, p) => n + p.sessions, 0)]));
  $("credits").textContent = String(balance.credits);
  const body = $("keys");
  body.replaceChildren();
  const shown = list.keys.filter((key) => key.mode === keyMode());
  for (const key of shown) {
    const row = body.insertRow();
    row.dataset.keyId = key.id;
    const name = document.createElement("span");
    name.textContent = key.name;
    cell(row, "", "Name").append(name);
    if (key.mode === "test") {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "Test";
      row.cells[0].append(" ", badge);
    }
    const prefix = cell(row, "", "Key prefix");
    const code = document.createElement("code");
    code.textContent = key.prefix;
    prefix.append(code);
    cell(row, formatDate(key.lastUsedAt), "Last used");
    cell(row, (sessionsToday.get(key.id) ?? 0).toLocaleString(), "Sessions today");
    cell(row, formatDate(key.createdAt), "Created");
    // A key secret scanning found leaked was revoked then; it stays listed (until deleted)
    // so that its owner learns why it stopped working.
    cell(row, key.leakedAt ? `Revoked: found leaked ${formatDate(key.leakedAt)}` : formatDate(key.expiresAt), "Expires");
    if (key.leakedAt) row.classList.add("leaked");
    cell(row, key.limits ? `${key.limits.sessionsPerDay.toLocaleString()} / day` : "None", "Daily limit");
    const actions = cell(row, "", "");
    const buttons = document.createElement("div");
    buttons.className = "row-actions";
    const roll = document.createElement("button");
    roll.type = "button";
    roll.textContent = "Roll";
    roll.setAttribute("aria-label", `Roll ${key.name}`);
    roll.addEventListener("click", () => askRoll(key));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete ${key.name}`);
    del.addEventListener("click", () => askDelete(key));
    // A leaked key cannot be rolled (it no longer works); Add Key makes its replacement.
    if (key.leakedAt) buttons.append(del);
    else buttons.append(roll, del);
    actions.append(buttons);
  }
  $("keys-table").hidden = shown.length === 0;
  $("no-keys").hidden = shown.length !== 0;
}

function openCreate() {
  clearError();
  $("key-name").value = "";
  $("key-daily-limit").value = "";
  $("create-dialog").showModal();
  $("key-name").focus();
}

async function createKey(event) {
  event.preventDefault();
  const name = $("key-name").value.trim();
  if (!name) {
    $("key-name").focus();
    return;
  }
  const body = { name, mode: keyMode() };
  const limit = $("key-daily-limit");
  // The browser checks the range and whole number (min/max/step, and text that is no number
  // at all); the API checks again and says why.
  if (!limit.checkValidity()) {
    limit.reportValidity();
    return;
  }
  if (limit.value !== "") body.limits = { sessionsPerDay: Number(limit.value) };
  const submit = $("create-submit");
  submit.disabled = true;
  try {
    const created = await api("POST", "/api/v1/keys", body);
    $("create-dialog").close();
    showCreated(created.key);
    await loadKeys();
    setStatus(`Key "${created.name}" created.`);
  } catch (e) {
    $("create-dialog").close();
    showError(e);
  } finally {
    submit.disabled = false;
  }
}

function showCreated(key) {
  $("created-key").textContent = key;
  $("copy-status").textContent = "";
  $("created-dialog").showModal();
  $("copy-key").focus();
}

// The plaintext key leaves the page when its dialog closes, however it is closed (Done and
// Escape clear it before the dialog is gone).
function forgetCreated() {
  $("created-key").textContent = "";
  $("copy-status").textContent = "";
  $("add-key").focus();
}

// Copies the text shown once (a key, a signing secret) and says how that went.
async function copyShown(sourceId, statusId, what) {
  try {
    await navigator.clipboard.writeText($(sourceId).textContent);
    $(statusId).textContent = "Copied to the clipboard.";
  } catch (e) {
    $(statusId).textContent = `Copying is not allowed here: select the ${what} and copy it by hand.`;
  }
}

let pendingRoll = null;

function askRoll(key) {
  clearError();
  pendingRoll = key;
  $("roll-name").textContent = key.name;
  $("roll-dialog").showModal();
  $("roll-grace").focus();
}

async function confirmRoll(event) {
  event.preventDefault();
  const key = pendingRoll;
  const grace = Number($("roll-grace").value);
  $("roll-dialog").close();
  if (!key) return;
  try {
    const rolled = await api("POST", "/api/v1/keys/" + encodeURIComponent(key.id) + "/roll", { expiresInSeconds: grace });
    showCreated(rolled.key);
    await loadKeys();
    setStatus(`Key "${key.name}" rolled. The old key works until ${formatDate(rolled.previousKeyExpiresAt)}.`);
  } catch (e) {
    showError(e);
  }
}

let pendingDelete = null;

function askDelete(key) {
  clearError();
  pendingDelete = key;
  $("delete-name").textContent = key.name;
  $("delete-dialog").showModal();
  $("delete-cancel").focus();
}

async function confirmDelete() {
  const key = pendingDelete;
  $("delete-dialog").close();
  if (!key) return;
  try {
    await api("DELETE", "/api/v1/keys/" + encodeURIComponent(key.id));
    // Drop the row before saying so: the list reload is a round trip later, and the
    // message must never sit beside a row that still looks live.
    for (const row of [...$("keys").rows]) if (row.dataset.keyId === key.id) row.remove();
    setStatus(`Key "${key.name}" deleted. It no longer works.`);
    await loadKeys();
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------- webhooks

async function loadWebhooks() {
  const list = await api("GET", "/api/v1/webhooks");
  const body = $("webhooks");
  body.replaceChildren();
  for (const hook of list.webhooks) {
    const row = body.insertRow();
    row.dataset.webhookId = hook.id;
    const url = document.createElement("code");
    url.textContent = hook.url;
    const where = cell(row, "", "Endpoint URL");
    where.append(url);
    // Every retry of an event failed (38 h): say so beside the URL, with when.
    if (hook.failingSince) {
      const failing = document.createElement("span");
      failing.className = "badge";
      failing.textContent = "Failing";
      failing.title = `An event was given up on ${formatDate(hook.failingSince)}; the next delivered event clears this.`;
      where.append(" ", failing);
    }
    cell(row, hook.events.join(", "), "Events");
    cell(row, hook.description ?? "", "Description");
    cell(row, formatDate(hook.createdAt), "Created");
    const buttons = document.createElement("div");
    buttons.className = "row-actions";
    const test = document.createElement("button");
    test.type = "button";
    test.textContent = "Send test";
    test.setAttribute("aria-label", `Send a test event to ${hook.url}`);
    test.addEventListener("click", () => sendTest(hook, test));
    const log = document.createElement("button");
    log.type = "button";
    log.textContent = "Deliveries";
    log.setAttribute("aria-label", `Deliveries to ${hook.url}`);
    log.addEventListener("click", () => loadDeliveries(hook).catch(showError));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "danger";
    del.textContent = "Delete";
    del.setAttribute("aria-label", `Delete endpoint ${hook.url}`);
    del.addEventListener("click", () => askDeleteWebhook(hook));
    buttons.append(test, log, del);
    cell(row, "", "").append(buttons);
  }
  if (!list.webhooks.some((hook) => hook.id === deliveriesShown)) {
    deliveriesShown = null;
    $("deliveries-panel").hidden = true;
  }
  $("webhooks-table").hidden = list.webhooks.length === 0;
  $("no-webhooks").hidden = list.webhooks.length !== 0;
}

async function addWebhook(event) {
  event.preventDefault();
  const events = [...document.querySelectorAll('input[name="webhook-event"]:checked')].map((box) => box.value);
  if (events.length === 0) {
    $("error").textContent = "Choose at least one event to send.";
    $("error").hidden = false;
    return;
  }
  const body = { url: $("webhook-url").value.trim(), events };
  const description = $("webhook-description").value.trim();
  if (description) body.description = description;
  const submit = $("webhook-add");
  submit.disabled = true;
  try {
    clearError();
    const created = await api("POST", "/api/v1/webhooks", body);
    $("webhook-url").value = "";
    $("webhook-description").value = "";
    $("webhook-secret").textContent = created.secret;
    $("copy-secret-status").textContent = "";
    $("secret-dialog").showModal();
    $("copy-secret").focus();
    await loadWebhooks();
    setStatus(`Endpoint ${created.url} added.`);
  } catch (e) {
    showError(e);
  } finally {
    submit.disabled = false;
  }
}

// The endpoint whose deliveries are shown, if any.
let deliveriesShown = null;

async function sendTest(hook, button) {
  button.disabled = true;
  try {
    clearError();
    const { delivery } = await api("POST", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/test`);
    setStatus(
      delivery.delivered
        ? `Test event delivered to ${hook.url}: ${delivery.status} in ${delivery.latencyMs} ms.`
        : `Test event not delivered to ${hook.url}: ${delivery.error}.`,
    );
    await loadDeliveries(hook);
  } catch (e) {
    showError(e);
  } finally {
    button.disabled = false;
  }
}

async function loadDeliveries(hook) {
  const page = await api("GET", `/api/v1/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=20`);
  deliveriesShown = hook.id;
  $("deliveries-url").textContent = hook.url;
  const body = $("deliveries");
  body.replaceChildren();
  for (const d of page.deliveries) {
    const row = body.insertRow();
    cell(row, formatDate(d.at), "Time");
    cell(row, d.eventType, "Event");
    cell(row, String(d.attempt), "Attempt");
    cell(row, d.status === null ? "No answer" : String(d.status), "Status");
    cell(row, `${d.latencyMs} ms`, "Latency");
    cell(row, d.delivered ? "Delivered" : `Failed: ${d.error}`, "Result");
  }
  $("deliveries-table").hidden = page.deliveries.length === 0;
  $("no-deliveries").hidden = page.deliveries.length !== 0;
  $("deliveries-panel").hidden = false;
}

function forgetSecret() {
  $("webhook-secret").textContent = "";
  $("copy-secret-status").textContent = "";
}

let pendingWebhookDelete = null;

function askDeleteWebhook(hook) {
  pendingWebhookDelete = hook;
  $("webhook-delete-url").textContent = hook.url;
  $("webhook-delete-dialog").showModal();
}

async function confirmDeleteWebhook() {
  const hook = pendingWebhookDelete;
  $("webhook-delete-dialog").close();
  if (!hook) return;
  try {
    await api("DELETE", `/api/v1/webhooks/${encodeURIComponent(hook.id)}`);
    await loadWebhooks();
    setStatus(`Endpoint ${hook.url} deleted.`);
  } catch (e) {
    showError(e);
  }
}

async function saveThreshold(event) {
  event.preventDefault();
  const input = $("threshold");
  if (!input.checkValidity()) {
    input.reportValidity();
    return;
  }
  try {
    clearError();
    const saved = await api("PUT", "/api/v1/account", { lowCreditThreshold: Number(input.value) });
    setStatus(`Low-credit alert set: credits.low at ${saved.lowCreditThreshold} credits.`);
  } catch (e) {
    showError(e);
  }
}

// ---------------------------------------------------------------- audit log

let auditCursor = null;

function describe(event) {
  const text = { "key.created": "Key created", "key.deleted": "Key deleted", "key.used": "Key used", "key.rolled": "Key rolled", "key.leaked": "Key found leaked and revoked" }[event.event] || event.event;
  return event.url ? `${text}: ${event.url}` : text;
}

async function loadAudit(more) {
  const query = new URLSearchParams({ limit: "50" });
  if (more && auditCursor) query.set("cursor", auditCursor);
  const page = await api("GET", "/api/v1/audit?" + query);
  const body = $("audit");
  if (!more) body.replaceChildren();
  for (const event of page.events) {
    const row = body.insertRow();
    cell(row, formatDate(event.at), "Time");
    cell(row, describe(event), "Event");
    cell(row, event.keyId, "Key");
    cell(row, event.ipAddress || "—", "IP address");
    cell(row, event.userAgent || "—", "User agent");
  }
  auditCursor = page.nextCursor;
  $("audit-more").hidden = !auditCursor;
  const empty = body.rows.length === 0;
  $("audit-table").hidden = empty;
  $("no-audit").hidden = !empty;
}

async function allAuditEvents() {
  const events = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const page = await api("GET", "/api/v1/audit?" + query);
    events.push(...page.events);
    cursor = page.nextCursor;
  } while (cursor);
  return events;
}

const CSV_COLUMNS = ["at", "event", "accountId", "keyId", "previousKeyId", "sessionId", "ipAddress", "userAgent", "url", "source", "id"];

function csvField(value) {
  let text = value === null || value === undefined ? "" : String(value);
  // A cell starting with = + - @ would run as a formula in a spreadsheet.
  if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\r\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function exportAudit(format) {
  clearError();
  try {
    setStatus("Preparing the audit export…");
    const events = await allAuditEvents();
    const day = new Date().toISOString().slice(0, 10);
    if (format === "jsonl") {
      download(`visionpipe-audit-${day}.jsonl`, "application/x-ndjson",
        events.map((e) => JSON.stringify(e)).join("\n") + (events.length ? "\n" : ""));
    } else {
      const lines = [CSV_COLUMNS.join(",")].concat(events.map((e) => CSV_COLUMNS.map((c) => csvField(e[c])).join(",")));
      download(`visionpipe-audit-${day}.csv`, "text/csv", lines.join("\r\n") + "\r\n");
    }
    setStatus(`Audit export ready: ${events.length} events.`);
  } catch (e) {
    setStatus("");
    showError(e);
  }
}


// ---------------------------------------------------------------- usage

const USAGE_DAYS = 30;
// Colours a key keeps in the chart, its legend and nowhere else (set as SVG attributes: the
// page's CSP allows no inline styles).
const PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
const SVG = "http://www.w3.org/2000/svg";

// Midnight UTC, `days` days from today.
function utcDay(days) {
  const d = new Date();
  d.setUTCHours(0, 0, 0, 0);
  d.setUTCDate(d.getUTCDate() + days);
  return d;
}

let usageShown = null;
// Key id -> name, for every key the page has seen (a deleted key's series has no name).
const keyNames = new Map();

// A test key's sessions spent no credit: its label says so wherever it appears.
function keyLabel(series) {
  const name = series.name ?? keyNames.get(series.keyId) ?? `Deleted key ${series.keyId}`;
  return series.mode === "test" ? `${name} (test)` : name;
}

async function loadUsage() {
  const picked = $("usage-key").value;
  const query = new URLSearchParams({
    from: utcDay(1 - USAGE_DAYS).toISOString(),
    to: utcDay(1).toISOString(),
    granularity: "day",
  });
  if (picked) query.set("keyId", picked);
  const [report, list] = await Promise.all([api("GET", "/api/v1/usage?" + query), api("GET", "/api/v1/keys")]);
  for (const key of list.keys) keyNames.set(key.id, key.name);
  for (const series of report.series) if (series.name) keyNames.set(series.keyId, series.name);
  // The picker lists every live key and any other key with sessions in the range.
  const select = $("usage-key");
  const options = [["", "All keys"], ...[...keyNames].map(([id, name]) => [id, name])];
  for (const series of report.series) if (!keyNames.has(series.keyId)) options.push([series.keyId, keyLabel(series)]);
  select.replaceChildren(...options.map(([value, text]) => new Option(text, value, false, value === picked)));
  usageShown = report;
  drawChart(report);
  fillUsageTable(report);
}

// Per day: its start and each series' sessions on it.
function usageDays(report) {
  const days = [];
  for (const t = new Date(report.from); t < new Date(report.to); t.setUTCDate(t.getUTCDate() + 1)) {
    days.push(t.toISOString().replace(".000Z", "Z"));
  }
  return days.map((at, i) => ({ at, counts: report.series.map((s) => s.points[i]?.sessions ?? 0) }));
}

function dayName(at) {
  return new Date(at).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

function svg(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  parent?.append(node);
  return node;
}

// Stacked bars, one per day, the busiest key at the bottom. Each day is a keyboard stop whose
// label reads its counts; the table below says the same for those who cannot see the chart.
function drawChart(report) {
  const chart = $("usage-chart");
  chart.replaceChildren();
  const days = usageDays(report);
  const [left, top, width, height] = [40, 10, 590, 200];
  const most = Math.max(1, ...days.map((d) => d.counts.reduce((a, b) => a + b, 0)));
  const step = width / days.length;
  svg("line", { class: "axis", x1: left, y1: top + height, x2: left + width, y2: top + height }, chart);
  svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + height }, chart);
  for (const [value, y] of [[most, top + 4], [0, top + height]]) {
    svg("text", { x: left - 6, y, "text-anchor": "end", "dominant-baseline": "middle" }, chart).textContent = value.toLocaleString();
  }
  days.forEach((day, i) => {
    const x = left + i * step;
    const total = day.counts.reduce((a, b) => a + b, 0);
    const parts = report.series.map((s, j) => [keyLabel(s), day.counts[j]]).filter(([, n]) => n > 0);
    const label = `${dayName(day.at)}: ${total.toLocaleString()} sessions` + (parts.length ? ` (${parts.map(([k, n]) => `${k} ${n}`).join(", ")})` : "");
    const group = svg("g", { class: "day", tabindex: 0, role: "img", "aria-label": label }, chart);
    svg("title", {}, group).textContent = label;
    let y = top + height;
    day.counts.forEach((n, j) => {
      if (!n) return;
      const h = (n / most) * height;
      y -= h;
      svg("rect", { x: x + step * 0.15, y, width: step * 0.7, height: h, fill: PALETTE[j % PALETTE.length] }, group);
    });
    svg("rect", { class: "hit", x, y: top, width: step, height }, group);
    if (i % 7 === (days.length - 1) % 7) {
      svg("text", { x: x + step / 2, y: top + height + 16, "text-anchor": "middle" }, chart).textContent = dayName(day.at);
    }
  });
  const total = report.totals.sessions;
  $("usage-chart-label").textContent =
    `${total.toLocaleString()} sessions in the last ${USAGE_DAYS} days` +
    (report.series.length === 1 ? ` with ${keyLabel(report.series[0])}` : "") +
    `, counted up to ${formatDate(report.caughtUpTo)}.`;
  const legend = $("usage-legend");
  legend.replaceChildren(...report.series.map((s, j) => {
    const item = document.createElement("li");
    const swatch = svg("svg", { viewBox: "0 0 10 10", "aria-hidden": "true" });
    svg("rect", { width: 10, height: 10, fill: PALETTE[j % PALETTE.length] }, swatch);
    item.append(swatch, `${keyLabel(s)}: ${s.points.reduce((n, p) => n + p.sessions, 0).toLocaleString()}`);
    return item;
  }));
}

function fillUsageTable(report) {
  const body = $("usage-rows");
  body.replaceChildren();
  for (const day of usageDays(report).reverse()) {
    const row = body.insertRow();
    row.dataset.day = day.at.slice(0, 10);
    cell(row, dayName(day.at), "Day (UTC)");
    cell(row, day.counts.reduce((a, b) => a + b, 0).toLocaleString(), "Sessions");
    const parts = report.series.map((s, j) => [keyLabel(s), day.counts[j]]).filter(([, n]) => n > 0);
    cell(row, parts.map(([k, n]) => `${k}: ${n}`).join(", ") || "—", "By key");
  }
}

// The shown range as CSV: a row per day and key with its sessions.
function exportUsage() {
  if (!usageShown) return;
  const lines = [["day", "keyId", "keyName", "sessions"].join(",")];
  for (const s of usageShown.series) {
    for (const p of s.points) lines.push([p.at.slice(0, 10), s.keyId, keyLabel(s), p.sessions].map(csvField).join(","));
  }
  download(`visionpipe-usage-${usageShown.from.slice(0, 10)}-${usageShown.to.slice(0, 10)}.csv`, "text/csv", lines.join("\r\n") + "\r\n");
  setStatus(`Usage export ready: ${usageShown.series.length} keys, ${USAGE_DAYS} days.`);
}

// ---------------------------------------------------------------- views

async function show() {
  clearError();
  if (!token()) {
    signOut("Sign in to the Cloud Console to manage your API keys.");
    return;
  }
  $("signed-out").hidden = true;
  $("sign-out").hidden = false;
  const view = { "#audit": "audit", "#usage": "usage", "#webhooks": "webhooks" }[location.hash] ?? "keys";
  for (const name of ["keys", "usage", "audit", "webhooks"]) {
    $(`${name}-view`).hidden = name !== view;
    if (name === view) $(`nav-${name}`).setAttribute("aria-current", "page");
    else $(`nav-${name}`).removeAttribute("aria-current");
  }
  try {
    if (view === "audit") await loadAudit(false);
    else if (view === "usage") await loadUsage();
    else if (view === "webhooks") await loadWebhooks();
    else await loadKeys();
  } catch (e) {
    showError(e);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  $("add-key").addEventListener("click", openCreate);
  for (const id of ["mode-live", "mode-test"]) {
    $(id).addEventListener("change", () => {
      showMode();
      loadKeys().catch(showError);
    });
  }
  showMode();
  $("create-form").addEventListener("submit", createKey);
  $("create-cancel").addEventListener("click", () => $("create-dialog").close());
  $("copy-key").addEventListener("click", () => copyShown("created-key", "copy-status", "key"));
  $("created-done").addEventListener("click", () => {
    forgetCreated();
    $("created-dialog").close();
  });
  // Escape fires `cancel` before the dialog closes; `close` itself comes a task later, so the
  // key is dropped on both (Done drops it before closing).
  $("created-dialog").addEventListener("cancel", forgetCreated);
  $("created-dialog").addEventListener("close", forgetCreated);
  $("roll-form").addEventListener("submit", confirmRoll);
  $("roll-cancel").addEventListener("click", () => $("roll-dialog").close());
  $("roll-dialog").addEventListener("close", () => { pendingRoll = null; });
  $("delete-cancel").addEventListener("click", () => $("delete-dialog").close());
  $("delete-confirm").addEventListener("click", confirmDelete);
  $("delete-dialog").addEventListener("close", () => { pendingDelete = null; });
  $("audit-more").addEventListener("click", () => loadAudit(true).catch(showError));
  $("download-jsonl").addEventListener("click", () => exportAudit("jsonl"));
  $("download-csv").addEventListener("click", () => exportAudit("csv"));
  $("usage-key").addEventListener("change", () => loadUsage().catch(showError));
  $("usage-csv").addEventListener("click", exportUsage);
  $("webhook-form").addEventListener("submit", addWebhook);
  $("threshold-form").addEventListener("submit", saveThreshold);
  $("copy-secret").addEventListener("click", () => copyShown("webhook-secret", "copy-secret-status", "secret"));
  // The secret leaves the page with its dialog, however it is closed: Done drops it before
  // closing; Escape fires `cancel` at once and `close` a task later.
  $("secret-done").addEventListener("click", () => {
    forgetSecret();
    $("secret-dialog").close();
  });
  $("secret-dialog").addEventListener("cancel", forgetSecret);
  $("secret-dialog").addEventListener("close", forgetSecret);
  $("webhook-delete-cancel").addEventListener("click", () => $("webhook-delete-dialog").close());
  $("webhook-delete-confirm").addEventListener("click", confirmDeleteWebhook);
  $("webhook-delete-dialog").addEventListener("close", () => { pendingWebhookDelete = null; });
  $("sign-out").addEventListener("click", () => signOut("You signed out."));
  $("switch-stay").addEventListener("click", () => $("switch-dialog").close());
  $("switch-confirm").addEventListener("click", confirmSwitch);
  $("switch-dialog").addEventListener("close", () => { pendingSwitch = null; });
  window.addEventListener("hashchange", () => {
    if (location.hash.includes("token=")) takeTokenFromFragment();
    show();
  });
  show();
});
