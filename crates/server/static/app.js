// Progressive enhancement for the web app; every form works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Country choices: region codes become names in the reader's language, sorted by name.
  const select = document.getElementById("country");
  if (select && typeof Intl.DisplayNames === "function") {
    let names;
    try {
      names = new Intl.DisplayNames([navigator.language || "en", "en"], { type: "region" });
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
      options.sort((a, b) => a.textContent.localeCompare(b.textContent));
      for (const o of options) select.appendChild(o);
    }
  }

  // The browser's contact picker, where it exists (Chrome on Android): fills a phone field.
  const picker = navigator.contacts;
  if (picker && typeof picker.select === "function") {
    for (const input of document.querySelectorAll("input[type=tel][data-contacts]")) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = "Choose from contacts";
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
