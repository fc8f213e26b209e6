// Offline guest keys on this device (docs/design/offline-guest-keys.md). Loaded by every page
// and by the offline page the service worker shows when the server cannot be reached.
//
// - On a lock's "Offline guest keys" page: keeps the issuer file the server hands over once
//   (turning it on), forgets it when its issuer is revoked, says whether this device has one.
// - On the offline page: mints guest codes with the guest-code crate compiled to WebAssembly
//   (/static/guest-code.mjs), shows and shares them, and queues them to be recorded.
// - On any signed-in page (so: online): records the queued keys on the server.
//
// What it keeps, in this browser's localStorage under one key: for each lock, the device's
// issuer file with the lock's name and time zone; every code each issuer made (so a device
// never gives out one code twice: `taken`); the keys not yet recorded.
"use strict";

(() => {
  const STORE = "latchkey.offline.v1";
  /** The language the app last spoke on this device (the offline page has no server to ask). */
  const LANG = "latchkey.lang";

  // ---- words: a page's embedded `js-*` messages (base.html), or on the offline page the
  // generated /static/messages/{en,ko}.json of the language last used here or the browser's.
  let messages = {};
  try {
    messages = JSON.parse(document.getElementById("lk-messages").textContent);
  } catch (_) {
    messages = {};
  }

  function msg(id, vars) {
    let text = messages[id] ?? id; // "" is a message (English needs no word after a name)
    for (const [k, v] of Object.entries(vars || {})) text = text.split(`{$${k}}`).join(String(v));
    return text;
  }

  /** The offline page's language: the one last used online here, else the browser's first we speak. */
  function offlineLang() {
    const known = ["en", "ko"];
    try {
      const saved = localStorage.getItem(LANG);
      if (known.includes(saved)) return saved;
    } catch (_) {
      // No storage: the browser decides.
    }
    for (const l of navigator.languages || [navigator.language || "en"]) {
      const base = String(l).split("-")[0].toLowerCase();
      if (known.includes(base)) return base;
    }
    return "en";
  }

  /** The locale dates are written in: the page's language, with the browser's region if it speaks it. */
  function locale() {
    const lang = document.documentElement.lang || "en";
    const nav = navigator.language || "";
    return nav.split("-")[0] === lang ? nav : lang;
  }

  function read() {
    try {
      const v = JSON.parse(localStorage.getItem(STORE) || "{}");
      return { devices: v.devices || {}, minted: v.minted || {}, pending: v.pending || [], failed: v.failed || [] };
    } catch (_) {
      return { devices: {}, minted: {}, pending: [], failed: [] };
    }
  }

  function write(v) {
    localStorage.setItem(STORE, JSON.stringify(v));
  }

  // ---- time at the lock: issuer files carry no zone, so the page converts with the lock's.

  /** Milliseconds to add to UTC to get the wall clock of `zone` at instant `t`. */
  function offsetAt(t, zone) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(t));
    const p = Object.fromEntries(parts.map((x) => [x.type, Number(x.value)]));
    const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
    return wall - Math.floor(t / 1000) * 1000;
  }

  /**
   * The instant of a `datetime-local` value at the lock, read as the server reads it: a time
   * skipped by a daylight-saving change as the instant after the gap, a repeated one as its
   * first occurrence.
   */
  function instantAt(local, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local || "");
    if (!m) return null;
    const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    // The offsets a day either side: a zone changes its offset at most once in between.
    const before = wall - offsetAt(wall - 86400_000, zone);
    const after = wall - offsetAt(wall + 86400_000, zone);
    const fits = [before, after].filter((t) => t + offsetAt(t, zone) === wall).sort((a, b) => a - b);
    return fits.length ? fits[0] : before;
  }

  /** A `datetime-local` value for an instant, at the lock. */
  function localValue(t, zone) {
    const d = new Date(t + offsetAt(t, zone));
    return d.toISOString().slice(0, 16);
  }

  function readable(t, zone) {
    return new Intl.DateTimeFormat(locale(), { timeZone: zone, dateStyle: "medium", timeStyle: "short" }).format(new Date(t));
  }

  const spaced = (code) => code.replace(/(\d{4})(?=\d)/g, "$1 ");

  // ---- the lock's "Offline guest keys" page (online)

  function keysPage(root) {
    const v = read();
    const lock = root.dataset.lock;
    if (root.dataset.newFile) {
      v.devices[lock] = {
        issuerId: root.dataset.newIssuer,
        file: root.dataset.newFile,
        lockName: root.dataset.lockName,
        timeZone: root.dataset.timeZone,
      };
      write(v);
      // Not left in the page: the file stays in this browser's storage only.
      delete root.dataset.newFile;
      history.replaceState(null, "", location.pathname);
    }
    if (root.dataset.revoked && v.devices[lock] && v.devices[lock].issuerId === root.dataset.revoked) {
      delete v.devices[lock];
      write(v);
    }
    const mine = v.devices[lock];
    // An issuer the server no longer lists as active is forgotten.
    if (mine) {
      const item = document.querySelector(`li[data-issuer="${CSS.escape(mine.issuerId)}"]`);
      if (!item || item.querySelector(".pill.off")) {
        delete v.devices[lock];
        write(v);
      }
    }
    const state = document.getElementById("offline-state");
    const on = v.devices[lock];
    const form = document.getElementById("turn-on");
    if (on) {
      state.textContent = msg("js-offline-on");
      form.hidden = true;
      const item = document.querySelector(`li[data-issuer="${CSS.escape(on.issuerId)}"] strong`);
      if (item) item.insertAdjacentText("afterend", ` ${msg("js-this-device")}`);
    } else {
      state.textContent = msg("js-offline-off");
      form.hidden = false;
    }
    document.body.dataset.offlineKeys = on ? "on" : "off";
  }

  // ---- recording what was made offline (any signed-in page)

  async function recordPending() {
    const csrfInput = document.querySelector("input[name=csrf]");
    const v = read();
    if (!csrfInput || !v.pending.length || document.getElementById("offline-page")) return;
    for (const k of [...v.pending]) {
      const body = new URLSearchParams({
        csrf: csrfInput.value, name: k.name, code: k.code, starts_at: k.startsAt, ends_at: k.endsAt,
      });
      if (k.oneTime) body.set("one_time", "on");
      let r;
      try {
        r = await fetch(`/locks/${encodeURIComponent(k.lockId)}/offline-keys/${encodeURIComponent(k.issuerId)}/keys`, {
          method: "POST", credentials: "same-origin", body, redirect: "manual",
        });
      } catch (_) {
        return; // Offline again: next time.
      }
      // Signed out, the server failed, or an answer that is not the endpoint's (a page
      // refusing the form): next time.
      const json = (r.headers.get("content-type") || "").startsWith("application/json");
      if (r.type === "opaqueredirect" || r.status >= 500 || !json) return;
      const now = read();
      now.pending = now.pending.filter((p) => p.code !== k.code);
      if (r.status !== 201) {
        let message = `HTTP ${r.status}`;
        try {
          message = (await r.json()).error || message;
        } catch (_) {
          // Not JSON: the status says enough.
        }
        now.failed.push({ ...k, message });
      }
      write(now);
    }
    const left = read();
    if (left.failed.length) {
      const main = document.querySelector("main");
      const p = document.createElement("p");
      p.className = "problem";
      p.setAttribute("role", "alert");
      p.textContent = msg("js-refused", {
        list: left.failed.map((f) => `${f.name} (${spaced(f.code)}): ${f.message}`).join("; "),
      });
      if (main) main.prepend(p);
      left.failed = [];
      write(left);
    }
    document.body.dataset.offlineRecorded = String(Date.now());
  }

  // ---- the offline page

  function offlinePage() {
    const v = read();
    document.getElementById("retry").href = location.href;
    showPending(v);
    const m = /^\/locks\/([^/]+)/.exec(location.pathname);
    const lockId = m && decodeURIComponent(m[1]);
    const locks = Object.keys(v.devices);
    if (lockId && v.devices[lockId]) {
      mintForm(lockId, v.devices[lockId]);
    } else if (locks.length) {
      const list = document.getElementById("choose-list");
      for (const id of locks) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.className = "button";
        a.href = `/locks/${encodeURIComponent(id)}/guest-keys/new`;
        a.textContent = msg("js-create-for", { lock: v.devices[id].lockName });
        li.append(a);
        list.append(li);
      }
      document.getElementById("choose").hidden = false;
    } else {
      document.getElementById("none").hidden = false;
    }
    document.body.dataset.offlineReady = "yes";
  }

  function showPending(v) {
    const list = document.getElementById("pending-list");
    list.replaceChildren();
    for (const k of v.pending) {
      const li = document.createElement("li");
      li.textContent = `${k.name}: ${spaced(k.code)} (${k.lockName})`;
      list.append(li);
    }
    document.getElementById("waiting").hidden = v.pending.length === 0;
  }

  function mintForm(lockId, device) {
    const zone = device.timeZone;
    document.getElementById("lock-name").textContent = device.lockName;
    document.getElementById("zone").textContent = zone;
    const start = Math.floor(Date.now() / 60000) * 60000;
    document.getElementById("starts_at").value = localValue(start, zone);
    document.getElementById("ends_at").value = localValue(start + 24 * 3600_000, zone);
    document.getElementById("mint").hidden = false;
    // What was typed in the form the server could not take.
    try {
      const draft = JSON.parse(sessionStorage.getItem(DRAFT) || "null");
      sessionStorage.removeItem(DRAFT);
      if (draft) {
        document.getElementById("name").value = draft.name;
        if (draft.startsAt) document.getElementById("starts_at").value = draft.startsAt;
        if (draft.endsAt) document.getElementById("ends_at").value = draft.endsAt;
        document.getElementById("one_time").checked = draft.oneTime;
      }
    } catch (_) {
      // No draft: the defaults stay.
    }
    const problem = document.getElementById("mint-problem");
    const say = (text) => {
      problem.textContent = text;
      problem.hidden = !text;
    };
    const modulePromise = import("/static/guest-code.mjs").then((gc) => gc.load());
    document.getElementById("mint-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      say("");
      const name = document.getElementById("name").value.trim();
      if (!name) return say(msg("js-give-name"));
      const from = instantAt(document.getElementById("starts_at").value, zone);
      const until = instantAt(document.getElementById("ends_at").value, zone);
      if (from === null || until === null) return say(msg("js-give-times"));
      if (until <= from) return say(msg("js-end-after-start"));
      if (until <= Date.now()) return say(msg("js-end-past"));
      const oneTime = document.getElementById("one_time").checked;
      let minted;
      try {
        const gc = await modulePromise;
        const v = read();
        minted = gc.mint(device.file, { start: from, end: until, oneTime, taken: v.minted[device.issuerId] || [], now: Date.now() });
      } catch (err) {
        return say(err && err.kind === "window-too-long"
          ? msg("js-too-long")
          : msg("js-not-made", { error: err && err.message }));
      }
      const v = read();
      (v.minted[device.issuerId] ||= []).push(minted.code);
      v.pending.push({
        lockId, issuerId: device.issuerId, lockName: device.lockName, name, code: minted.code,
        startsAt: new Date(from).toISOString(), endsAt: new Date(until).toISOString(), oneTime,
      });
      write(v);
      showMade(device, name, minted, from, until, oneTime);
      showPending(v);
    });
  }

  function showMade(device, name, minted, from, until, oneTime) {
    const zone = device.timeZone;
    const instructions = msg("js-instructions", { code: minted.code });
    const when = from > Date.now()
      ? msg("js-starts-working", { start: readable(from, zone), end: readable(until, zone), zone })
      : msg("js-works-now", { end: readable(until, zone), zone });
    const text = msg("js-share-text", {
      lock: device.lockName,
      text: `${instructions}${oneTime ? ` ${msg("js-works-once")}` : ""} ${when}`,
    });
    document.getElementById("mint").hidden = true;
    document.getElementById("made-name").textContent = name;
    document.getElementById("made-code").textContent = spaced(minted.code);
    document.getElementById("made-instructions").textContent = instructions;
    document.getElementById("made-when").textContent = when;
    document.getElementById("made-sms").href = `sms:?&body=${encodeURIComponent(text)}`;
    document.getElementById("another").href = location.href;
    const share = document.getElementById("made-share");
    if (typeof navigator.share === "function") {
      share.hidden = false;
      share.onclick = () => navigator.share({ text }).catch(() => {});
    }
    document.getElementById("made").hidden = false;
    document.getElementById("made-code").focus?.();
  }

  // ---- the Create Guest Key form, open when the connection goes: on a device with offline
  // keys for this lock, a form the server cannot take goes to the offline page, with what
  // was typed.

  const DRAFT = "latchkey.offline.draft";

  function guestKeyForm(form) {
    const m = /^\/locks\/([^/]+)\/guest-keys\/new$/.exec(new URL(form.action, location.href).pathname);
    if (!m || !read().devices[decodeURIComponent(m[1])]) return;
    form.addEventListener("submit", async (e) => {
      if (form.dataset.checked) return;
      e.preventDefault();
      let reachable = false;
      try {
        // Any answer will do: the server is there to take the form.
        reachable = navigator.onLine !== false && Boolean(await fetch("/readyz", { cache: "no-store" }));
      } catch (_) {
        reachable = false;
      }
      if (reachable) {
        form.dataset.checked = "yes";
        form.requestSubmit(e.submitter || undefined);
        return;
      }
      const field = (name) => form.elements.namedItem(name);
      sessionStorage.setItem(DRAFT, JSON.stringify({
        name: field("name")?.value || "",
        startsAt: field("starts_at")?.value || "",
        endsAt: field("ends_at")?.value || "",
        oneTime: Boolean(field("one_time")?.checked),
      }));
      location.reload();
    });
  }

  /** The offline page in the chosen language: its words from the cached messages file. */
  async function translateOfflinePage() {
    const lang = offlineLang();
    try {
      const r = await fetch(`/static/messages/${lang}.json`);
      if (r.ok) messages = await r.json();
    } catch (_) {
      // Not cached: the page stays in English, as written.
    }
    if (!messages["js-offline-title"]) return;
    document.documentElement.lang = lang;
    document.title = `${msg("js-offline-title")} · Latchkey`;
    for (const el of document.querySelectorAll("[data-msg]")) el.textContent = msg(el.dataset.msg);
    for (const el of document.querySelectorAll("[data-msg-label]")) el.setAttribute("aria-label", msg(el.dataset.msgLabel));
  }

  function start() {
    if (document.getElementById("offline-page")) {
      translateOfflinePage().finally(offlinePage);
      return;
    }
    // Remembered for the offline page, which has no server to ask.
    try {
      if (document.documentElement.lang) localStorage.setItem(LANG, document.documentElement.lang);
    } catch (_) {
      // No storage: the offline page follows the browser.
    }
    const root = document.getElementById("offline-keys");
    if (root) keysPage(root);
    for (const form of document.querySelectorAll("form[action$='/guest-keys/new']")) guestKeyForm(form);
    recordPending().catch(() => {});
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
