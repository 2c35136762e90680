// The admin page: sign in, list, create, rotate and revoke API keys through
// the key admin API. The access token lives in this closure only: no cookie,
// no Web Storage, so a reload signs the user out. Every value from the
// server goes into the page as text (textContent), never as HTML.
"use strict";
(function () {
  const cfg = document.body.dataset;
  const tokenPath = cfg.tokenPath;
  const passwordPath = cfg.passwordPath;
  const adminPath = cfg.adminPath;
  const keyAuth = cfg.keyAuth;

  const $ = (id) => document.getElementById(id);
  const ui = {
    error: $("error"), status: $("status"),
    signin: $("signin"), passwordForm: $("password-form"), keyForm: $("key-form"),
    username: $("username"), password: $("password"), adminKey: $("admin-key"),
    session: $("session"), signOut: $("sign-out"), app: $("app"), who: $("who"),
    newKey: $("new-key"), newKeyHeading: $("new-key-h"), newKeyValue: $("new-key-value"),
    copy: $("copy"), copyStatus: $("copy-status"), dismiss: $("dismiss"),
    keysHeading: $("keys-h"), keysNote: $("keys-note"), keys: $("keys"), refresh: $("refresh"),
    create: $("create"), createForm: $("create-form"), createButton: $("create-button"),
    name: $("key-name"), scopeOptions: $("scope-options"), extraScope: $("extra-scope"),
    lifetime: $("lifetime"),
    dialog: $("confirm"), dialogHeading: $("confirm-h"), dialogText: $("confirm-text"),
    graceRow: $("grace-row"), grace: $("grace"), dialogOK: $("confirm-ok"), dialogCancel: $("confirm-cancel"),
  };

  // The session: the token and what it holds. Nothing else keeps it.
  let session = null; // {token, scopes: [], who, keyID, timer}
  // The revocation or rotation awaiting confirmation: {run, back}.
  let pending = null;

  // Messages: errors in words a person understands.

  function showError(text) {
    ui.error.textContent = text;
  }
  function clearMessages() {
    ui.error.textContent = "";
    ui.status.textContent = "";
  }
  function say(text) {
    ui.status.textContent = text;
  }

  // busy disables button while fn runs, so that a request is not sent twice,
  // and gives it the focus back if the focus was lost with it.
  async function busy(button, fn) {
    button.disabled = true;
    try {
      return await fn();
    } finally {
      button.disabled = false;
      if (document.activeElement === document.body && button.offsetParent !== null) {
        button.focus();
      }
    }
  }

  // An error answered by the server: status, OAuth error code, description.
  class APIError extends Error {
    constructor(status, code, description, retryAfter) {
      super(description || code || "HTTP " + status);
      this.status = status;
      this.code = code || "";
      this.description = description || "";
      this.retryAfter = retryAfter;
    }
  }

  async function call(method, path, {headers = {}, body, bearer} = {}) {
    const h = Object.assign({Accept: "application/json"}, headers);
    if (bearer) {
      h.Authorization = "Bearer " + bearer;
    }
    let res;
    try {
      res = await fetch(path, {
        method, headers: h, body, credentials: "omit", cache: "no-store",
        redirect: "error", referrerPolicy: "no-referrer",
      });
    } catch (e) {
      throw new APIError(0, "network", "");
    }
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
    }
    if (!res.ok) {
      const d = data && typeof data === "object" ? data : {};
      throw new APIError(res.status, String(d.error || ""), String(d.error_description || ""),
        res.headers.get("Retry-After"));
    }
    return data;
  }

  // words turns an error into a sentence for the person at the page. what
  // names the action: "password" or "key" (signing in), "list", "create",
  // "revoke" or "rotate".
  function words(err, what) {
    if (!(err instanceof APIError)) {
      return "Something went wrong in the page: " + String(err && err.message || err);
    }
    const detail = err.description ? " (The server said: " + err.description + ".)" : "";
    switch (true) {
      case err.status === 0:
        return "The server could not be reached. Check your connection and try again.";
      case err.status === 429:
        return "Too many attempts. Wait " + (err.retryAfter ? err.retryAfter + " seconds" : "a little") + " and try again.";
      case what === "password" && (err.code === "invalid_grant" || err.status === 401):
        return "The username or password is wrong.";
      case what === "password" && err.code === "invalid_scope":
        return "This user holds no permissions that this server knows.";
      case what === "key" && (err.code === "invalid_client" || err.status === 401):
        return "That admin key was not accepted: it may be mistyped, revoked or expired.";
      case what === "key" && err.code === "invalid_request":
        return "That does not look like an admin key.";
      case err.status === 401:
        return "Your session has expired: sign in again.";
      case err.status === 403 && what === "create":
        return "That scope is wider than your own permissions: a key can hold only scopes you hold yourself." + detail;
      case err.status === 403 && (what === "revoke" || what === "rotate"):
        return "You may not " + what + " this key: only its owner, or someone whose permissions cover all of its scope, may.";
      case err.status === 403:
        return "Your permissions do not allow this." + detail;
      case err.status === 404:
        return "That key no longer exists.";
      case err.code === "key_revoked":
        return "A revoked key cannot be rotated.";
      case err.code === "key_expired":
        return "An expired key cannot be rotated.";
      case err.code === "conflict":
        return "Someone else rotated this key at the same moment. Refresh the list and try again.";
      case err.status === 400:
        return "The server refused the request" + (err.description ? ": " + err.description + "." : ".");
      case err.status >= 500:
        return "The server failed to answer. Try again in a moment.";
      default:
        return "The request failed (HTTP " + err.status + ")." + detail;
    }
  }

  // Signing in and out.

  function splitScope(s) {
    return String(s || "").split(" ").filter((x) => x !== "");
  }

  // signIn exchanges the credentials for a token; keyID is the id of the
  // admin key signed in with, "" for a user.
  async function signIn(body, headers, who, what, keyID) {
    clearMessages();
    say("Signing in…");
    let data;
    try {
      data = await call("POST", what === "password" ? (passwordPath || tokenPath) : tokenPath, {headers, body});
    } catch (err) {
      say("");
      showError(words(err, what));
      return false;
    }
    if (!data || typeof data.access_token !== "string") {
      say("");
      showError("The server answered without a token.");
      return false;
    }
    session = {token: data.access_token, scopes: splitScope(data.scope), who, keyID, timer: 0};
    const secs = Number(data.expires_in);
    if (secs > 0) {
      session.timer = setTimeout(() => expire(), secs * 1000);
    }
    ui.password.value = "";
    ui.adminKey.value = "";
    showApp();
    say("Signed in.");
    ui.keysHeading.focus();
    await loadKeys();
    return true;
  }

  ui.passwordForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const user = ui.username.value.trim();
    if (user === "" || ui.password.value === "") {
      showError("Enter your username and password.");
      (user === "" ? ui.username : ui.password).focus();
      return;
    }
    const body = new URLSearchParams({grant_type: "password", username: user, password: ui.password.value});
    busy(ev.submitter || ui.passwordForm.querySelector("button"), () => signIn(body, {}, user, "password", "")).then((ok) => {
      if (!ok) {
        ui.password.value = "";
        ui.password.focus();
      }
    });
  });

  ui.keyForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = ui.adminKey.value.trim();
    // A key is <prefix>_<id>_<secret>; the id and secret never hold '_'.
    const parts = key.split("_");
    if (parts.length < 3 || parts.some((p) => p === "")) {
      showError("That does not look like an admin key: it has the form prefix_id_secret.");
      ui.adminKey.focus();
      return;
    }
    const id = parts[parts.length - 2];
    const secret = parts[parts.length - 1];
    let headers = {};
    let body;
    switch (keyAuth) {
      case "bearer":
        headers = {Authorization: "Bearer " + key};
        body = new URLSearchParams();
        break;
      case "post":
        body = new URLSearchParams({grant_type: "client_credentials", client_id: id, client_secret: secret});
        break;
      default: // basic: id and secret are [0-9A-Za-z], so form-encoding changes nothing
        headers = {Authorization: "Basic " + btoa(id + ":" + secret)};
        body = new URLSearchParams({grant_type: "client_credentials"});
    }
    busy(ev.submitter || ui.keyForm.querySelector("button"), () => signIn(body, headers, "admin key " + id, "key", id)).then((ok) => {
      if (!ok) {
        ui.adminKey.focus();
      }
    });
  });

  // signOut forgets the token and everything shown, and returns to the
  // sign-in forms.
  function signOut(message) {
    if (session && session.timer) {
      clearTimeout(session.timer);
    }
    session = null;
    hideNewKey();
    pending = null;
    if (ui.dialog.open) {
      ui.dialog.close();
    }
    ui.keys.tBodies[0].replaceChildren();
    ui.scopeOptions.replaceChildren();
    ui.who.textContent = "";
    ui.keysNote.textContent = "";
    ui.createForm.reset();
    ui.password.value = "";
    ui.adminKey.value = "";
    ui.app.hidden = true;
    ui.session.hidden = true;
    ui.signin.hidden = false;
    clearMessages();
    if (message) {
      showError(message);
    } else {
      say("Signed out.");
    }
    focusSignIn();
  }

  // focusSignIn puts the focus on the first field of the sign-in forms.
  function focusSignIn() {
    (passwordPath ? ui.username : ui.adminKey).focus();
  }

  function expire() {
    signOut("Your session has expired: sign in again.");
  }

  ui.signOut.addEventListener("click", () => signOut(""));

  // After any refused call: a 401 ends the session.
  function failed(err, what) {
    if (err instanceof APIError && err.status === 401) {
      expire();
      return;
    }
    say("");
    showError(words(err, what));
  }

  function has(s) {
    return session !== null && session.scopes.includes(s);
  }

  function showApp() {
    ui.signin.hidden = true;
    ui.app.hidden = false;
    ui.session.hidden = false;
    ui.who.replaceChildren();
    const strong = document.createElement("strong");
    strong.textContent = session.who;
    ui.who.append("Signed in as ", strong, ", with the permissions ");
    session.scopes.forEach((s, i) => {
      const code = document.createElement("code");
      code.textContent = s;
      ui.who.append(i > 0 ? " " : "", code);
    });
    ui.who.append(".");

    ui.scopeOptions.replaceChildren();
    session.scopes.forEach((s, i) => {
      const id = "scope-" + i;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = id;
      box.value = s;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = s;
      const row = document.createElement("div");
      row.className = "check";
      row.append(box, label);
      ui.scopeOptions.append(row);
    });
    const canWrite = has("write:api_keys");
    ui.create.hidden = !canWrite;
    if (!canWrite) {
      ui.keysNote.textContent = "Your permissions do not include write:api_keys, so you can look but not create, rotate or revoke.";
    }
  }

  // The list.

  function when(unix) {
    if (!unix) {
      return null;
    }
    const d = new Date(unix * 1000);
    const iso = d.toISOString();
    const t = document.createElement("time");
    t.dateTime = iso;
    const day = document.createElement("span");
    day.textContent = iso.slice(0, 10);
    const time = document.createElement("span");
    time.textContent = iso.slice(11, 16) + " UTC";
    t.append(day, " ", time);
    return t;
  }

  function duration(secs) {
    const parts = [];
    let s = Number(secs);
    for (const [n, unit] of [[86400, "d"], [3600, "h"], [60, "min"]]) {
      if (s >= n) {
        parts.push(Math.floor(s / n) + " " + unit);
        s %= n;
      }
    }
    if (s > 0 || parts.length === 0) {
      parts.push(s + " s");
    }
    return parts.join(" ");
  }

  function status(k) {
    if (k.revoked_at) {
      return "Revoked";
    }
    if (k.expires_at && k.expires_at * 1000 <= Date.now()) {
      return "Expired";
    }
    return "Active";
  }

  function cell(label, content, cls) {
    const td = document.createElement("td");
    td.dataset.label = label;
    if (cls) {
      td.className = cls;
    }
    if (content === null || content === undefined || content === "") {
      const none = document.createElement("span");
      none.className = "none";
      none.textContent = "—";
      td.append(none);
    } else {
      td.append(content);
    }
    return td;
  }

  function code(text) {
    const c = document.createElement("code");
    c.textContent = text;
    return c;
  }

  function renderKeys(list) {
    const rows = list.map((k, i) => {
      const tr = document.createElement("tr");
      const st = status(k);
      tr.dataset.id = String(k.id);
      tr.className = st.toLowerCase();
      const nameID = "key-name-" + i;
      const name = document.createElement("span");
      name.id = nameID;
      name.textContent = String(k.name || "");
      const scopes = splitScope(k.scope).map((s) => code(s));
      const scopeSpan = document.createElement("span");
      scopes.forEach((c, j) => scopeSpan.append(j > 0 ? " " : "", c));
      tr.append(
        cell("Name", k.name ? name : null, "name"),
        cell("ID", code(String(k.id))),
        cell("Scope", scopes.length ? scopeSpan : null),
        cell("Token lifetime", duration(k.token_lifetime)),
        cell("Owner", k.owner ? String(k.owner) : "(none)"),
        cell("Created", when(k.created_at)),
        cell("Last used", k.last_used_at ? when(k.last_used_at) : "never"),
        cell("Expires", k.expires_at ? when(k.expires_at) : "never"),
        cell("Status", st, "state"),
      );
      const actions = document.createElement("td");
      actions.className = "actions";
      actions.dataset.label = "Actions";
      if (st === "Active" && has("write:api_keys")) {
        const rotate = document.createElement("button");
        rotate.type = "button";
        rotate.textContent = "Rotate secret";
        rotate.className = "rotate";
        const revoke = document.createElement("button");
        revoke.type = "button";
        revoke.textContent = "Revoke";
        revoke.className = "revoke danger";
        if (k.name) {
          rotate.setAttribute("aria-describedby", nameID);
          revoke.setAttribute("aria-describedby", nameID);
        }
        rotate.addEventListener("click", () => confirmRotate(k, rotate));
        revoke.addEventListener("click", () => confirmRevoke(k, revoke));
        actions.append(rotate, " ", revoke);
      }
      tr.append(actions);
      return tr;
    });
    ui.keys.tBodies[0].replaceChildren(...rows);
  }

  async function loadKeys() {
    if (!session) {
      return;
    }
    if (!has("read:api_keys")) {
      ui.keys.hidden = true;
      ui.refresh.hidden = true;
      ui.keysNote.textContent = "Your permissions do not include read:api_keys, so the keys cannot be listed.";
      return;
    }
    ui.keys.hidden = false;
    ui.refresh.hidden = false;
    try {
      const data = await call("GET", adminPath, {bearer: session.token});
      const list = data && Array.isArray(data.api_keys) ? data.api_keys : [];
      list.sort((a, b) => (b.created_at - a.created_at) || String(a.id).localeCompare(String(b.id)));
      renderKeys(list);
      if (list.length === 0) {
        ui.keysNote.textContent = "There are no keys yet.";
      } else if (has("write:api_keys")) {
        ui.keysNote.textContent = "";
      }
    } catch (err) {
      failed(err, "list");
    }
  }

  ui.refresh.addEventListener("click", async () => {
    clearMessages();
    await busy(ui.refresh, loadKeys);
    if (session) {
      say("The list is up to date.");
    }
  });

  // The new key, shown once.

  function showNewKey(heading, key) {
    ui.newKeyHeading.textContent = heading;
    ui.newKeyValue.value = key;
    ui.copyStatus.textContent = "";
    ui.newKey.hidden = false;
    ui.newKeyValue.focus();
    ui.newKeyValue.select();
  }

  function hideNewKey() {
    ui.newKeyValue.value = "";
    ui.newKeyHeading.textContent = "";
    ui.copyStatus.textContent = "";
    ui.newKey.hidden = true;
  }

  ui.copy.addEventListener("click", async () => {
    const key = ui.newKeyValue.value;
    try {
      await navigator.clipboard.writeText(key);
      ui.copyStatus.textContent = "Copied to the clipboard.";
    } catch (e) {
      ui.newKeyValue.focus();
      ui.newKeyValue.select();
      ui.copyStatus.textContent = "The browser did not let the page copy: the key is selected, press Ctrl+C (⌘C on a Mac) to copy it.";
    }
  });

  ui.dismiss.addEventListener("click", () => {
    hideNewKey();
    say("The key is no longer shown.");
    ui.keysHeading.focus();
  });

  // Creating a key.

  ui.createForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!session) {
      return;
    }
    clearMessages();
    const chosen = Array.from(ui.scopeOptions.querySelectorAll("input:checked"), (b) => b.value);
    const scope = chosen.concat(splitScope(ui.extraScope.value)).join(" ");
    const name = ui.name.value.trim();
    const lifetime = Number(ui.lifetime.value);
    if (name === "") {
      showError("Give the key a name.");
      ui.name.focus();
      return;
    }
    if (scope === "") {
      showError("Choose at least one scope.");
      const first = ui.scopeOptions.querySelector("input");
      (first || ui.extraScope).focus();
      return;
    }
    if (!Number.isInteger(lifetime) || lifetime < 60 || lifetime > 86400) {
      showError("The token lifetime must be a whole number of seconds from 60 to 86400.");
      ui.lifetime.focus();
      return;
    }
    say("Creating the key…");
    try {
      const data = await busy(ui.createButton, () => call("POST", adminPath, {
        bearer: session.token,
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name, scope, token_lifetime: lifetime}),
      }));
      ui.createForm.reset();
      say("");
      showNewKey("Your new key “" + String(data.name) + "”", String(data.key));
      await loadKeys();
    } catch (err) {
      failed(err, "create");
    }
  });

  // Revoking and rotating, after a confirmation.

  function ask(heading, text, ok, withGrace, run, back) {
    ui.dialogHeading.textContent = heading;
    ui.dialogText.textContent = text;
    ui.dialogOK.textContent = ok;
    ui.graceRow.hidden = !withGrace;
    ui.grace.value = "0";
    pending = {run, back};
    ui.dialog.showModal();
    ui.dialogCancel.focus();
  }

  function label(k) {
    return (k.name ? "“" + String(k.name) + "” " : "") + "(" + String(k.id) + ")";
  }

  function confirmRevoke(k, button) {
    ask("Revoke the key?",
      "Revoke the key " + label(k) + "? Every token it issued is refused from now on and it issues no more. This cannot be undone.",
      "Yes, revoke", false, () => revoke(k), button);
  }

  function confirmRotate(k, button) {
    ask("Rotate the secret?",
      "Give the key " + label(k) + " a new secret? Programs using the old one must be given the new one. Tokens already issued stay valid.",
      "Yes, rotate", true, () => rotate(k, Number(ui.grace.value)), button);
  }

  ui.dialogOK.addEventListener("click", () => {
    const p = pending;
    pending = null;
    ui.dialog.close();
    if (p) {
      p.run();
    }
  });
  ui.dialogCancel.addEventListener("click", () => ui.dialog.close());
  ui.dialog.addEventListener("close", () => {
    // The event comes after close() returns: when the dialog has been
    // opened again since, this close is not the current question's.
    if (ui.dialog.open) {
      return;
    }
    ui.dialogHeading.textContent = "";
    ui.dialogText.textContent = "";
    if (pending) { // cancelled, with the button or Escape
      const back = pending.back;
      pending = null;
      say("Nothing was changed.");
      if (back && back.isConnected) {
        back.focus();
      }
    }
  });

  async function revoke(k) {
    clearMessages();
    say("Revoking the key…");
    try {
      await call("DELETE", adminPath + "/" + encodeURIComponent(k.id), {bearer: session.token});
      if (session && k.id === session.keyID) {
        signOut("You revoked the key you signed in with, so you are signed out.");
        return;
      }
      await loadKeys();
      say("The key " + label(k) + " is revoked.");
      ui.keysHeading.focus();
    } catch (err) {
      failed(err, "revoke");
    }
  }

  async function rotate(k, grace) {
    clearMessages();
    say("Rotating the secret…");
    try {
      const data = await call("POST", adminPath + "/" + encodeURIComponent(k.id) + "/rotate", {
        bearer: session.token,
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({grace}),
      });
      say("");
      showNewKey("The new secret of " + label(k), String(data.key));
      await loadKeys();
    } catch (err) {
      failed(err, "rotate");
    }
  }

  // Ready: show the sign-in forms.
  if (!passwordPath) {
    ui.passwordForm.hidden = true;
  }
  ui.signin.hidden = false;
  focusSignIn();
})();
