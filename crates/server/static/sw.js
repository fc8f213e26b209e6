// Latchkey's service worker: keeps the app shell (style, scripts, icons, the guest-code
// WebAssembly module and the offline page) so that the installed app opens with no connection,
// and answers a page the server cannot serve with the offline page, where an Admin who turned
// on offline guest keys on this device mints codes (static/offline.html, offline.js).
//
// Pages are never cached: they carry a person's data and CSRF token (and say `no-store`).
// Everything else goes to the network first as well, the cache serving only when it fails, so
// an update of the server is seen at once. Served at /sw.js, so its scope is the whole site.
"use strict";

// Bumped with any change to what is cached (the files' names or this list).
const CACHE = "latchkey-shell-v3";
const SHELL = [
  "/offline",
  "/static/app.css",
  "/static/app.js",
  "/static/offline.js",
  "/static/guest-code.mjs",
  "/static/guest-code.wasm",
  "/static/manifest.webmanifest",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/messages/en.json",
  "/static/messages/ko.json",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("latchkey-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // The live stream and the API: the network or nothing.
  if (url.pathname.startsWith("/api/") || url.pathname.endsWith("/live")) return;

  if (request.mode === "navigate") {
    event.respondWith(
      fetch(request).catch(async () => {
        const offline = await caches.match("/offline");
        return offline || new Response("Latchkey cannot reach its server.", { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } });
      }),
    );
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
          }
          return response;
        })
        .catch(async () => (await caches.match(url.pathname)) || Response.error()),
    );
  }
});
