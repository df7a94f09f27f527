// The catcher's list page, kept current while it is open: served as /mail/live.js.
//
// It asks GET /mail/live?version=V (the list's `data-live` URL) and waits; the
// server answers as soon as mail arrives or is deleted, with the list as the
// page shows it, or with 204 after a while without a change. Then it asks again.
// Nothing runs in between, and after an error it waits before asking again.
// Without this script the page still works: a reload shows new mail.
"use strict";

(function () {
  const RETRY_AFTER_ERROR_MS = 5000;
  const note = document.getElementById("live-note");
  const status = document.getElementById("live-status");

  function currentList() {
    return document.getElementById("mail-list");
  }

  function newestId(list) {
    const first = list.querySelector("ol.messages a.subject");
    const match = first ? /\/(\d+)$/.exec(first.getAttribute("href")) : null;
    return match ? Number(match[1]) : 0;
  }

  function replaceList(html) {
    const old = currentList();
    const parsed = new DOMParser().parseFromString(html, "text/html");
    const fresh = parsed.getElementById("mail-list");
    if (!old || !fresh || fresh.dataset.version === old.dataset.version) {
      return false;
    }
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    const focusedHref = focused ? focused.getAttribute("href") : null;
    const before = newestId(old);
    const adopted = document.importNode(fresh, true);
    old.replaceWith(adopted);
    document.title = adopted.dataset.title || document.title;
    if (focusedHref) {
      const again = adopted.querySelector(`a[href="${CSS.escape(focusedHref)}"]`);
      if (again) {
        again.focus();
      }
    }
    if (status && newestId(adopted) > before) {
      status.textContent = "New mail arrived.";
    }
    return true;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function follow() {
    for (;;) {
      const list = currentList();
      if (!list || !list.dataset.live) {
        return;
      }
      const url = new URL(list.dataset.live, window.location.href);
      url.searchParams.set("version", list.dataset.version);
      let answered = 0;
      let replaced = false;
      try {
        const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
        answered = response.status;
        replaced = answered === 200 && replaceList(await response.text());
      } catch (error) {
        answered = 0;
      }
      if (!replaced && answered !== 204) {
        await sleep(RETRY_AFTER_ERROR_MS);
      }
    }
  }

  if (currentList() && currentList().dataset.live) {
    if (note) {
      note.textContent = "This list shows new mail as it arrives.";
    }
    follow();
  }
})();
