// Rabta live overview: keep the tiles, the cases waiting, the chart by hour and the table per
// district current from the server-sent event stream.
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
    root.querySelectorAll("[data-waiting]").forEach((el) => {
      el.textContent = String((data.cases_waiting || {})[el.dataset.waiting] || 0);
    });
    const empty = document.getElementById("empty");
    if (empty) { empty.hidden = Boolean(data.calls || data.transactions); }
    const chart = document.getElementById("hours-chart");
    if (chart && data.hours_svg) {
      // our own server's drawing of our own numbers (no script can run in it: CSP)
      chart.innerHTML = data.hours_svg;
    }
    if (data.districts) { districts(data.districts); }
    status.textContent = words.updated + " " + clock();
  }

  // One row per district, built with textContent only (district names are data).
  const urdu = /[\u0600-\u06ff\u0750-\u077f]/;
  function cell(row, text, numeric) {
    const td = document.createElement("td");
    if (numeric) { td.className = "n"; }
    if (!numeric && urdu.test(text)) {
      const bdi = document.createElement("bdi");
      bdi.lang = "ur";
      bdi.dir = "rtl";
      bdi.textContent = text;
      td.appendChild(bdi);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
  }
  function districts(rows) {
    const body = document.querySelector("#district-table tbody");
    if (!body || rows.length === 0) { return; }
    const fresh = document.createDocumentFragment();
    rows.forEach((d) => {
      const tr = document.createElement("tr");
      cell(tr, d.district, false);
      ["calls", "answered", "completed", "responses"].forEach((k) => cell(tr, String(d[k]), true));
      ["satisfaction", "bribe_rate"].forEach((k) => {
        cell(tr, d[k].suppressed ? "–" : pct(d[k].value), true);
      });
      fresh.appendChild(tr);
    });
    body.replaceChildren(fresh);
  }

  const source = new EventSource(root.dataset.stream);
  source.addEventListener("overview", (event) => show(JSON.parse(event.data)));
  source.addEventListener("signed_out", () => {
    source.close();
    status.textContent = words.signedOut;
  });
  source.onerror = () => { status.textContent = words.lost; };
}());
