// Progressive enhancement for the web app; every form works without this file.
"use strict";

// The installable app: the service worker keeps the app shell and the offline page
// (static/sw.js, served at /sw.js so its scope is the whole app).
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {
    // No service worker (a private window, an old browser): the app works online as before.
  });
}

/** The page's `js-*` messages (base.html embeds them in the reader's language). */
function msg(id, vars) {
  if (!msg.all) {
    try {
      msg.all = JSON.parse(document.getElementById("lk-messages").textContent);
    } catch (_) {
      msg.all = {};
    }
  }
  let text = msg.all[id] ?? id;
  for (const [k, v] of Object.entries(vars || {})) text = text.split(`{$${k}}`).join(String(v));
  return text;
}

/** The reader's locale: the page's language, with the browser's region when it speaks it. */
function pageLocale() {
  const lang = document.documentElement.lang || "en";
  const nav = navigator.language || "";
  return nav.split("-")[0] === lang ? nav : lang;
}

document.addEventListener("DOMContentLoaded", () => {
  // Country choices: region codes become names in the reader's language, sorted by name.
  const select = document.getElementById("country");
  if (select && typeof Intl.DisplayNames === "function") {
    let names;
    try {
      names = new Intl.DisplayNames([pageLocale(), "en"], { type: "region" });
    } catch (_) {
      names = null;
    }
    if (names) {
      const options = Array.from(select.options).filter((o) => o.value);
      for (const o of options) {
        let name = o.value;
        try {
          name = names.of(o.value) || o.value;
        } catch (_) {
          // An unknown region keeps its code.
        }
        o.textContent = `${name} (+${o.dataset.code})`;
      }
      options.sort((a, b) => a.textContent.localeCompare(b.textContent, pageLocale()));
      for (const o of options) select.appendChild(o);
    }
  }

  // Live pages: a page with `data-live-src` listens to that server-sent event stream and, when
  // the lock changes, fetches itself again and swaps its `data-live` parts. Without
  // EventSource (or while the stream is down) it does the same every 20 seconds.
  const liveRoot = document.querySelector("[data-live-src]");
  if (liveRoot && typeof fetch === "function" && typeof DOMParser === "function") {
    let busy = false;
    let again = false;
    const refresh = async () => {
      if (document.hidden) return;
      if (busy) {
        // A change while the page is being fetched: fetch once more afterwards.
        again = true;
        return;
      }
      busy = true;
      again = false;
      try {
        const r = await fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } });
        if (!r.ok || r.redirected) return;
        const doc = new DOMParser().parseFromString(await r.text(), "text/html");
        for (const el of document.querySelectorAll("[data-live]")) {
          const fresh = doc.querySelector(`[data-live="${el.dataset.live}"]`);
          if (fresh && fresh.innerHTML !== el.innerHTML) el.replaceWith(document.importNode(fresh, true));
        }
        document.body.dataset.liveRefreshed = String(Date.now());
      } catch (_) {
        // Offline for a moment: the next change or tick tries again.
      } finally {
        busy = false;
        if (again) refresh();
      }
    };
    let timer = setInterval(refresh, 20000);
    if (typeof EventSource === "function") {
      const events = new EventSource(liveRoot.dataset.liveSrc);
      events.addEventListener("ready", () => {
        clearInterval(timer);
        timer = null;
        document.body.dataset.live = "on";
        // The stream compares with the lock as it was when it connected: a change between
        // the page's rendering and then (the lock taking a change just saved) is fetched now.
        refresh();
      });
      events.addEventListener("changed", refresh);
      events.addEventListener("error", () => {
        // EventSource reconnects by itself; poll meanwhile.
        if (!timer) timer = setInterval(refresh, 20000);
        document.body.dataset.live = "off";
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
  }

  // Buttons that need a second thought (Revoke): a confirmation first. Without JavaScript the
  // server asks instead (its confirmation page).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) {
        e.preventDefault();
        return;
      }
      // Confirmed here: the server need not ask again (a form with its own box has it ticked).
      if (!form.querySelector("[name=confirm]")) {
        const yes = document.createElement("input");
        yes.type = "hidden";
        yes.name = "confirm";
        yes.value = "on";
        form.appendChild(yes);
      }
    });
  }

  // Sharing a guest code: the Web Share API where there is one (phones), else the sms: link.
  for (const button of document.querySelectorAll("button[data-share]")) {
    if (typeof navigator.share === "function") {
      button.hidden = false;
      button.addEventListener("click", async () => {
        try {
          await navigator.share({ text: button.dataset.share });
        } catch (_) {
          // Closed the share sheet.
        }
      });
    }
  }

  // The browser's time zone, proposed where a lock's zone is chosen.
  for (const input of document.querySelectorAll("input[data-browser-zone]")) {
    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && !input.value) input.value = zone;
    } catch (_) {
      // No Intl time zones: the field stays as the server filled it.
    }
  }

  // The browser's contact picker, where it exists (Chrome on Android): fills a phone field.
  const picker = navigator.contacts;
  if (picker && typeof picker.select === "function") {
    for (const input of document.querySelectorAll("input[type=tel][data-contacts]")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = msg("js-choose-contacts");
      button.addEventListener("click", async () => {
        try {
          const [contact] = await picker.select(["tel"], { multiple: false });
          const tel = contact && contact.tel && contact.tel[0];
          if (tel) {
            input.value = tel;
            input.focus();
          }
        } catch (_) {
          // The person closed the picker: nothing to do.
        }
      });
      input.insertAdjacentElement("afterend", button);
    }
  }
});
