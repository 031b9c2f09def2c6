// The dashboard's script: polls the service's JSON routes and draws. No framework, no build step.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { view: null, top: [], lookupKey: null };

  /** JSON.parse that keeps integers beyond 2^53 as exact digit strings (where the browser gives
   * the source text to revivers); metric values are int64. */
  const parseExact = (text) => JSON.parse(text, (k, v, ctx) =>
    typeof v === 'number' && !Number.isSafeInteger(v) && Number.isInteger(v) && ctx && ctx.source ? ctx.source : v);

  async function getJson(path) {
    const res = await fetch(path, { headers: { accept: 'application/json' } });
    const text = await res.text();
    return { status: res.status, body: text ? parseExact(text) : null };
  }

  const digits = (v) => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const ago = (iso) => {
    if (!iso) return '–';
    const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
  };
  const el = (tag, attrs = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  const keyCell = (key) => key === null ? el('td', { class: 'null' }, '(null)') : el('td', {}, key);

  // ---- charts: a polyline over the last minutes, y from 0 to a rounded maximum
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
  }
  function drawChart(svg, t, values, color) {
    const w = svg.clientWidth || 500, h = svg.clientHeight || 130, left = 46, bottom = 16, top = 6;
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.replaceChildren();
    const ns = 'http://www.w3.org/2000/svg';
    const add = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
      return e;
    };
    const max = niceMax(Math.max(0, ...values));
    const x = (i) => left + (t.length < 2 ? 0 : ((t[i] - t[0]) / (t[t.length - 1] - t[0])) * (w - left - 4));
    const y = (v) => top + (1 - v / max) * (h - top - bottom);
    for (const v of [0, max / 2, max]) {
      add('line', { x1: left, x2: w - 4, y1: y(v), y2: y(v), stroke: '#e4e7ec' });
      add('text', { x: left - 6, y: y(v) + 3, 'text-anchor': 'end', class: 'axis' }, Number.isInteger(v) ? digits(v) : v.toFixed(1));
    }
    if (t.length >= 2) {
      const span = Math.round((t[t.length - 1] - t[0]) / 1000);
      add('text', { x: left, y: h - 3, class: 'axis' }, span >= 60 ? `-${Math.round(span / 60)}m` : `-${span}s`);
      add('text', { x: w - 4, y: h - 3, 'text-anchor': 'end', class: 'axis' }, 'now');
      const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
      add('polygon', { points: `${x(0)},${y(0)} ${pts.join(' ')} ${x(values.length - 1)},${y(0)}`, fill: color, 'fill-opacity': '0.12' });
      add('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': '1.6' });
    }
  }

  // ---- stats: KPIs, charts, rejected records, snapshot details
  async function refreshStats() {
    const { body: s } = await getJson('/v1/stats');
    if (!state.view) setView(s.view);
    $('mode').textContent = s.mode === 'embedded' ? 'embedded mode' : 'external';
    $('rate').textContent = digits(s.updatesPerSecond);
    $('speedSub').textContent = `${digits(s.speed.keys)} keys, ${digits(s.speed.windows)} windows in memory`;
    $('lag').textContent = digits(s.lag);
    $('batchRows').textContent = `${digits(s.batch.rows)} rows`;
    $('batchSub').textContent = s.batch.loaded ? `loaded ${ago(s.batch.loadedAt)}; watermark ${s.batch.watermark ?? 'none'}` : 'not loaded yet';
    $('snapRows').textContent = s.snapshot.rows === null ? '–' : `${digits(s.snapshot.rows)} rows`;
    $('snapSub').textContent = s.snapshot.at ? `#${s.snapshot.id}, ${ago(s.snapshot.at)}, took ${s.snapshot.ms} ms` : 'none yet';
    if (s.snapshot.lastError) $('snapSub').append(el('div', { class: 'error' }, `last flush failed: ${s.snapshot.lastError}`));
    drawChart($('rateChart'), s.series.t, s.series.updatesPerSecond, '#2f6fde');
    drawChart($('lagChart'), s.series.t, s.series.lag, '#d9822b');
    const reasons = Object.entries(s.rejected).sort((a, b) => b[1] - a[1]);
    $('rejected').tBodies[0].replaceChildren(...(reasons.length === 0
      ? [el('tr', {}, el('td', { class: 'sub' }, 'none'), el('td'))]
      : reasons.map(([r, n]) => el('tr', {}, el('td', {}, r), el('td', { 'data-reason': r }, digits(n))))));
    const d = [
      ['snapshot id', s.snapshot.id ?? '–'], ['swapped in', s.snapshot.at ?? '–'], ['rows', s.snapshot.rows === null ? '–' : digits(s.snapshot.rows)],
      ['duration', s.snapshot.ms === null ? '–' : `${s.snapshot.ms} ms`], ['batch watermark', s.batch.watermark ?? 'none'],
      ['batch loaded', s.batch.loadedAt ?? '–'], ['positions', Object.entries(s.speed.positions).map(([p, o]) => `${p}:${o}`).join(' ') || '–'],
    ];
    $('details').replaceChildren(...d.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  }

  function setView(view) {
    state.view = view;
    $('metric').replaceChildren(...view.metrics.map((m) => el('option', { value: m }, m)));
    $('top').tHead.replaceChildren(el('tr', {}, el('th', {}, view.key), ...view.metrics.map((m) => el('th', {}, m))));
  }

  // ---- top-N table, filtered by the search box
  async function refreshTop() {
    if (!state.view) return;
    const { status, body } = await getJson(`/v1/top?metric=${encodeURIComponent($('metric').value)}&limit=${$('limit').value}`);
    if (status === 200) state.top = body.items;
    renderTop();
  }
  function renderTop() {
    const q = $('search').value.trim().toLowerCase();
    const rows = state.top.filter((r) => !q || String(r[state.view.key] ?? '(null)').toLowerCase().includes(q));
    $('top').tBodies[0].replaceChildren(...rows.map((r) => {
      const key = r[state.view.key];
      const tr = el('tr', { class: key !== null && key.toLowerCase() === q ? 'hit' : '' }, keyCell(key), ...state.view.metrics.map((m) => el('td', {}, digits(r[m]))));
      tr.style.cursor = 'pointer';
      tr.addEventListener('click', () => { if (key !== null) { $('search').value = key; lookup(key); } });
      return tr;
    }));
  }

  // ---- one key: merged value and its parts (GET /v1/counts/:key?explain=true)
  async function lookup(key) {
    state.lookupKey = key;
    const box = $('lookup');
    const { status, body } = await getJson(`/v1/counts/${encodeURIComponent(key)}?explain=true`);
    if (state.lookupKey !== key) return;
    if (status === 404) { box.replaceChildren(el('div', { class: 'error', 'data-testid': 'lookup-missing' }, `no key "${key}" in the batch or the speed layer`)); return; }
    if (status !== 200) { box.replaceChildren(el('div', { class: 'error' }, body && body.message ? body.message : `HTTP ${status}`)); return; }
    const added = body.speed.filter((w) => w.fate === 'added').length;
    box.replaceChildren(
      el('div', { class: 'big', 'data-testid': 'lookup-key' }, key),
      ...state.view.metrics.map((m) => {
        const merged = BigInt(body.merged[m]);
        const batch = body.batch ? BigInt(body.batch[m]) : 0n;
        return el('div', { class: 'field' },
          el('span', {}, m),
          el('b', { 'data-testid': `lookup-${m}`, 'data-value': String(merged) }, digits(merged)),
          el('span', { class: 'part' }, `batch ${digits(batch)} + speed ${digits(merged - batch)}`));
      }),
      el('div', { class: 'sub' }, `${body.speed.length} speed window(s), ${added} added on top of the batch; watermark ${body.watermark ?? 'none'}`),
    );
  }

  $('searchForm').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('search').value.trim();
    if (key) lookup(key);
  });
  $('search').addEventListener('input', renderTop);
  $('metric').addEventListener('change', refreshTop);
  $('limit').addEventListener('change', refreshTop);

  async function refreshReady() {
    const { body } = await getJson('/readyz');
    const b = $('ready');
    b.textContent = body.status;
    b.className = `badge ${body.status.replace(' ', '-')}`;
    b.title = [...body.notReady, ...body.degraded].join('\n');
  }

  const every = (ms, fn) => {
    const run = () => fn().catch((err) => { $('ready').title = String(err); }).finally(() => setTimeout(run, ms));
    run();
  };
  every(1000, refreshStats);
  every(2000, refreshReady);
  every(2000, async () => { await refreshTop(); if (state.lookupKey) await lookup(state.lookupKey); });
})();
