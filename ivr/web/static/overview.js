// Rabta live overview: keep the tiles current from the server-sent event stream.
// No library, nothing fetched but our own stream (the page's CSP allows only 'self').
"use strict";
(function () {
  const root = document.getElementById("overview");
  if (!root || !window.EventSource) { return; }
  const status = document.getElementById("status");
  const pct = (x) => Math.round(100 * x) + "%";
  // The words come from the page, in the official's language; times in the site's zone.
  const words = root.dataset;
  const clock = () => new Date().toLocaleTimeString(document.documentElement.lang,
    {timeZone: words.zone, timeZoneName: "short"});

  function show(data) {
    root.querySelectorAll("[data-field]").forEach((el) => {
      el.textContent = String(data[el.dataset.field]);
    });
    root.querySelectorAll("[data-share]").forEach((el) => {
      const e = data[el.dataset.share];
      el.textContent = e.suppressed ? "–" : pct(e.value);
    });
    root.querySelectorAll("[data-ci]").forEach((el) => {
      const e = data[el.dataset.ci];
      el.textContent = e.suppressed ? words.fewer
        : pct(e.low).slice(0, -1) + "–" + pct(e.high) + ", n=" + e.n;
    });
    status.textContent = words.updated + " " + clock();
  }

  const source = new EventSource(root.dataset.stream);
  source.addEventListener("overview", (event) => show(JSON.parse(event.data)));
  source.addEventListener("signed_out", () => {
    source.close();
    status.textContent = words.signedOut;
  });
  source.onerror = () => { status.textContent = words.lost; };
}());
