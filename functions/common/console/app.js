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
  for (const id of ["keys-view", "audit-view", "sign-out"]) $(id).hidden = true;
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

async function loadKeys() {
  const [list, balance] = await Promise.all([api("GET", "/api/v1/keys"), api("GET", "/api/v1/credits")]);
  $("credits").textContent = String(balance.credits);
  const body = $("keys");
  body.replaceChildren();
  for (const key of list.keys) {
    const row = body.insertRow();
    row.dataset.keyId = key.id;
    cell(row, key.name, "Name");
    const prefix = cell(row, "", "Key prefix");
    const code = document.createElement("code");
    code.textContent = key.prefix;
    prefix.append(code);
    cell(row, formatDate(key.lastUsedAt), "Last used");
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
  $("keys-table").hidden = list.keys.length === 0;
  $("no-keys").hidden = list.keys.length !== 0;
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
  const body = { name };
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

async function copyKey() {
  try {
    await navigator.clipboard.writeText($("created-key").textContent);
    $("copy-status").textContent = "Copied to the clipboard.";
  } catch (e) {
    $("copy-status").textContent = "Copying is not allowed here: select the key and copy it by hand.";
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

// ---------------------------------------------------------------- views

async function show() {
  clearError();
  if (!token()) {
    signOut("Sign in to the Cloud Console to manage your API keys.");
    return;
  }
  $("signed-out").hidden = true;
  $("sign-out").hidden = false;
  const audit = location.hash === "#audit";
  $("keys-view").hidden = audit;
  $("audit-view").hidden = !audit;
  $("nav-keys").toggleAttribute("aria-current", !audit);
  $("nav-audit").toggleAttribute("aria-current", audit);
  if (audit) $("nav-audit").setAttribute("aria-current", "page");
  else $("nav-keys").setAttribute("aria-current", "page");
  try {
    if (audit) await loadAudit(false);
    else await loadKeys();
  } catch (e) {
    showError(e);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  $("add-key").addEventListener("click", openCreate);
  $("create-form").addEventListener("submit", createKey);
  $("create-cancel").addEventListener("click", () => $("create-dialog").close());
  $("copy-key").addEventListener("click", copyKey);
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
