"""Accountability: the figures officials act on, and whether they can be trusted.

Pure, no I/O, except `reading`:

- `stats`: the statistics every part shares (one-sided exact tests, Holm's step-down control
  of the family-wise false-flag rate, beta-binomial empirical Bayes);
- `integrity`: data integrity per office (invalid numbers, unreachable, "not me", reused and
  shared numbers, staff-like numbers), each office against the rest of its district and of
  the province, flagged only beyond chance, each flag with its reason;
- `scorecard`: fair scorecards (shrunk rates, credible intervals, a rank only where intervals
  separate), weekly trends and week-over-week bribe-rate alerts;
- `deadlines`: deadlines on cases and their escalation, a pure function of `now`.

- `figures`: the pure rules composed into what pages, the API and the report show;
- `report`: the monthly district report as HTML and PDF (fpdf2);
- `reading`: the one module here that awaits the store: counts in, figures out, the same for
  the web (ivr/web/accountability.py) and the CLI (ivr/cli/accountability.py).

The store sums what these need (ivr/store/accountability.py).
docs/ACCOUNTABILITY.md states the methods and their error rates.
"""
