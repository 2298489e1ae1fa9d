// The Status tab (issue 13 item 4): every service instance (health, CPU, memory, restarts, last exit, crashes in red),
// every acquisition's progress with rate and time to completion, and each service's log (tail, follow, level and
// text filters, a failed frame's trace). Reads /api/status/*; changes nothing.
'use strict';

(() => {
  const el = id => document.getElementById(id);
  const S = { timer: null, logTimer: null, services: null, acquisitions: null, trace: '', refreshes: 0, logRefreshes: 0 };
  window.anvilStatus = S;

  async function getJson(url) {
    const response = await fetch(url);
    let body = null;
    try { body = await response.json(); } catch { /* no JSON */ }
    if (!response.ok) {
      const error = new Error(body ? `${body.title || response.status}: ${body.detail || ''}` : `${response.status} ${response.statusText}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  const time = iso => iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '';
  const mb = bytes => bytes == null ? '—' : (bytes / 1048576).toFixed(0);
  const num = (v, digits) => v == null ? '—' : Number(v).toFixed(digits);
  function duration(seconds) {
    if (seconds == null) return '—';
    if (seconds < 60) return `${Math.round(seconds)} s`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  }

  function cell(tr, text, className, title) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    if (title) td.title = title;
    tr.appendChild(td);
    return td;
  }

  function problem(id, text) {
    const m = el(id);
    m.textContent = text || '';
    m.hidden = !text;
  }

  // ---------------------------------------------------------------- services

  async function refreshServices() {
    let s;
    try { s = await getJson('/api/status/services'); } catch (e) { problem('st-message', e.message); return; }
    S.services = s;
    S.refreshes++;
    problem('st-message', '');
    el('st-supervisor').textContent = s.supervised
      ? 'Processes, restarts and exit codes from anvil up\'s supervisor; health, CPU and memory from each service.'
      : s.supervisorConfigured
        ? `Supervisor not answering (${s.supervisorError}): restarts, exit codes and logs unknown for now.`
        : 'No supervisor: health, CPU, memory and the log since its start from each service; restarts and exit codes are not known here (under Compose or Kubernetes: docker compose ps, kubectl get pods; earlier logs: docker compose logs, kubectl logs).';
    el('st-asof').textContent = 'as of ' + time(s.time);
    const body = el('st-services').tBodies[0];
    body.replaceChildren(...s.services.map(x => {
      const tr = document.createElement('tr');
      tr.dataset.service = x.name;
      const crashed = x.state === 'crashed' || x.lastExitCode != null;
      tr.className = crashed ? 'crashed' : '';
      cell(tr, x.name, 'st-name');
      cell(tr, x.address.replace(/^https?:\/\//, ''));
      cell(tr, x.state.replace('_', ' '), 'st-state st-' + x.state, x.error || '');
      cell(tr, x.pid ?? '—');
      cell(tr, duration(x.uptimeSeconds));
      cell(tr, num(x.cpuPercent, 1), 'num', x.cpuSeconds != null ? `${x.cpuSeconds} CPU-s since start` : '');
      cell(tr, mb(x.rssBytes), 'num');
      cell(tr, x.restarts ?? '—', 'num st-restarts');
      cell(tr, x.lastExitCode == null ? (x.restarts == null ? '—' : 'none') : `exit ${x.lastExitCode} at ${time(x.lastExitUtc)}`,
        'st-exit' + (x.lastExitCode != null ? ' st-crash' : ''), x.lastExitUtc || '');
      const log = cell(tr, '');
      const a = document.createElement('a');
      a.href = '#'; a.textContent = 'log';
      a.addEventListener('click', ev => { ev.preventDefault(); showLog(x.name, ''); });
      log.appendChild(a);
      return tr;
    }));
    const select = el('st-log-service');
    const names = s.services.map(x => x.name);
    if ([...select.options].map(o => o.value).join() !== names.join()) {
      const keep = select.value;
      select.replaceChildren(...names.map(n => new Option(n, n)));
      if (names.includes(keep)) select.value = keep;
    }
  }

  // ---------------------------------------------------------------- acquisitions

  async function refreshAcquisitions() {
    let s;
    try { s = await getJson('/api/status/acquisitions'); } catch (e) { problem('st-acq-message', e.message); return; }
    S.acquisitions = s;
    problem('st-acq-message', '');
    el('st-acq-empty').hidden = s.acquisitions.length > 0;
    const backlog = (a, group) => { const b = a.backlogs.find(x => x.group === group); return b ? `${b.backlog}${b.inFlight ? ' +' + b.inFlight : ''}` : '—'; };
    el('st-acquisitions').tBodies[0].replaceChildren(...s.acquisitions.slice().reverse().map(a => {
      const tr = document.createElement('tr');
      tr.dataset.name = a.name;
      cell(tr, a.name);
      cell(tr, a.state, 'state-' + a.state);
      for (const v of [a.framesAnnounced || '?', a.framesStitched, a.framesIntegrated, a.framesMerged]) cell(tr, v, 'num');
      cell(tr, a.framesFailed, 'num' + (a.framesFailed > 0 ? ' st-crash' : ''));
      for (const g of ['stitch', 'integrate', 'merge']) cell(tr, backlog(a, g), 'num', 'waiting (+ delivered, not yet acknowledged)');
      cell(tr, a.rate == null ? '—' : a.rate.toFixed(1), 'num st-rate');
      cell(tr, a.done ? 'done' : duration(a.etaSeconds), 'num st-eta');
      return tr;
    }));
    const failed = s.acquisitions.flatMap(a => a.failedFrames.map(f => ({ acquisition: a.name, ...f })));
    el('st-failed-head').hidden = failed.length === 0;
    el('st-failed').replaceChildren(...failed.slice(0, 100).map(f => {
      const li = document.createElement('li');
      li.dataset.acquisition = f.acquisition;
      li.dataset.frame = f.frame;
      li.append(`${f.acquisition} frame ${f.frame}: ${f.reason} `);
      const logs = document.createElement('a');
      logs.href = '#';
      logs.className = 'st-trace-link';
      logs.textContent = f.traceId ? `logs of trace ${f.traceId}` : 'integrate log';
      logs.addEventListener('click', ev => {
        ev.preventDefault();
        if (f.traceId) showTrace(f.traceId); else showLog('integrate', `Frame ${f.frame} of ${f.acquisition}`);
      });
      li.appendChild(logs);
      return li;
    }));
  }

  // ---------------------------------------------------------------- logs

  function renderEntries(entries, withService) {
    const pre = el('st-log');
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.replaceChildren(...entries.map(e => {
      const div = document.createElement('div');
      div.className = 'lv lv-' + e.level;
      const head = [withService ? `[${e.service}]` : null, e.time ? time(e.time) : null, e.level, e.category].filter(Boolean).join(' ');
      div.textContent = head + (e.traceId ? `  trace ${e.traceId}` : '') + '\n  ' + e.text.replace(/\n/g, '\n  ');
      return div;
    }));
    if (entries.length === 0) pre.textContent = '(no matching lines)';
    if (el('st-log-follow').checked && (atBottom || S.logRefreshes <= 1)) pre.scrollTop = pre.scrollHeight;
  }

  async function refreshLog() {
    S.logRefreshes++;
    try {
      if (S.trace) {
        const t = await getJson('/api/status/traces/' + S.trace);
        el('st-log-info').textContent = `${t.entries.length} line(s) of trace ${S.trace} in every service's log`;
        renderEntries(t.entries.filter(e => !el('st-log-text').value || (e.text + ' ' + e.category).toLowerCase().includes(el('st-log-text').value.toLowerCase())), true);
      } else {
        const service = el('st-log-service').value;
        if (!service) return;
        const q = new URLSearchParams({ level: el('st-log-level').value, text: el('st-log-text').value, lines: '5000', limit: '500' });
        const l = await getJson(`/api/status/logs/${encodeURIComponent(service)}?${q}`);
        el('st-log-info').textContent = `${l.matching} of the last ${l.entriesRead} entries of ${service} match` + (l.matching > l.entries.length ? ` (newest ${l.entries.length} shown)` : '') +
          (l.source === 'service' ? ' — as the service keeps it since its start' : '');
        renderEntries(l.entries, false);
      }
      problem('st-log-message', '');
    } catch (e) {
      problem('st-log-message', e.message);
    }
  }

  function showLog(service, text) {
    S.trace = '';
    el('st-log-trace').hidden = true;
    if (service) el('st-log-service').value = service;
    el('st-log-text').value = text || '';
    S.logRefreshes = 0;
    refreshLog();
    el('st-logs').scrollIntoView({ block: 'start' });
  }

  function showTrace(traceId) {
    S.trace = traceId;
    el('st-log-trace').hidden = false;
    el('st-log-trace-id').textContent = traceId;
    el('st-log-text').value = '';
    S.logRefreshes = 0;
    refreshLog();
    el('st-logs').scrollIntoView({ block: 'start' });
  }

  // ---------------------------------------------------------------- tab

  function tick() { refreshServices(); refreshAcquisitions(); }

  function show(visible) {
    el('status-panel').hidden = !visible;
    clearInterval(S.timer);
    clearInterval(S.logTimer);
    if (!visible) return;
    const url = new URL(location.href);
    url.searchParams.set('tab', 'status');
    history.replaceState(null, '', url);
    refreshAcquisitions();
    refreshServices().then(refreshLog);
    S.timer = setInterval(tick, 1000);
    S.logTimer = setInterval(() => { if (el('st-log-follow').checked) refreshLog(); }, 2000);
  }

  // operator.js switches the Results and Operate panels (and hides both for this tab); this shows or hides ours.
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => show(b.dataset.tab === 'status'));
  el('st-log-service').addEventListener('change', () => showLog(el('st-log-service').value, el('st-log-text').value));
  el('st-log-level').addEventListener('change', refreshLog);
  let typing = null;
  el('st-log-text').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(refreshLog, 300); });
  el('st-log-follow').addEventListener('change', refreshLog);
  el('st-log-trace-clear').addEventListener('click', () => showLog(el('st-log-service').value, ''));
  if (new URLSearchParams(location.search).get('tab') === 'status') el('tab-status').click();
})();
