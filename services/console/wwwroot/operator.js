// The Operate tab (issue 13): progress of every acquisition, pause/resume/stop, the integration settings and a
// data-root browser, over the console's /api/operator endpoints (which call ingest's Control service).
// Every write carries the X-Anvil-Operator header (the server refuses writes without it: a cross-site form cannot set it).
'use strict';

(() => {
  const el = id => document.getElementById(id);
  const O = { status: null, settings: null, detectors: [], busy: 0, browsePath: '', browseTarget: null, timer: null, refreshes: 0 };
  window.anvilOperator = O;

  // A problem body's text, and its errors map (field → messages) for a 422.
  async function call(url, options) {
    const response = await fetch(url, options);
    let body = null;
    try { body = await response.json(); } catch { /* no JSON */ }
    if (!response.ok) {
      const error = new Error(body ? `${body.title || response.status}: ${body.detail || ''}` : `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.errors = body && body.errors ? body.errors : null;
      throw error;
    }
    return body;
  }

  const write = (url, method, body) => call(url, {
    method,
    headers: { 'Content-Type': 'application/json', 'X-Anvil-Operator': '1' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

  function note(text, isError) {
    const m = el('op-message');
    if (isError) { m.textContent = text; m.hidden = false; el('op-note').textContent = ''; }
    else { m.hidden = true; el('op-note').textContent = text; }
  }

  // A button that sends one request at a time: disabled while it is in flight, so a double click sends one request.
  async function inFlight(button, action) {
    if (button.disabled) return;
    button.disabled = true;
    O.busy++;
    try { await action(); } finally { O.busy--; button.disabled = false; }
  }

  // ---------------------------------------------------------------- status

  async function refreshStatus() {
    try {
      O.status = await call('/api/operator/status');
    } catch (e) {
      el('op-beamtime').textContent = 'unknown';
      el('op-beamtime').className = 'op-state';
      note(e.message, true);
      return;
    }
    O.refreshes++;
    if (!el('op-message').hidden && /Ingest/.test(el('op-message').textContent)) el('op-message').hidden = true;
    const s = O.status;
    // A viewer (or another PC when the console has no accounts) views only: the server refuses its writes, so the page does not offer them.
    document.body.classList.toggle('view-only', !s.canOperate);
    el('op-view-only').hidden = s.canOperate;
    for (const b of [el('op-pause-all'), el('op-resume-all'), el('op-apply'), el('op-config-apply')]) if (!s.canOperate) b.disabled = true;
    el('op-beamtime').textContent = s.beamtimePaused ? 'paused' : 'running';
    el('op-beamtime').className = 'op-state ' + (s.beamtimePaused ? 'paused' : 'running');
    const body = el('op-table').tBodies[0];
    const rows = s.acquisitions.map(a => {
      const tr = document.createElement('tr');
      tr.dataset.name = a.name;
      const cells = [a.name, a.state, a.framesAnnounced || '?', a.framesStitched, a.framesIntegrated, a.framesMerged, a.framesFailed, a.backlog,
        a.paused ? 'yes' : 'no', a.resultFile || '—', a.settingsVersion ?? '—'];
      for (const c of cells) { const td = document.createElement('td'); td.textContent = String(c); tr.appendChild(td); }
      tr.cells[0].className = 'name';
      tr.cells[0].replaceChildren(breakable(a.detector ? a.name.slice(0, -a.detector.length - 1) : a.name));
      if (a.detector) {
        // A detector's stream A_D (several detectors): the acquisition, with its detector beside it.
        const chip = document.createElement('span'); chip.className = 'op-detector'; chip.textContent = a.detector;
        tr.cells[0].append(' ', chip);
        tr.cells[0].title = `detector ${a.detector}'s stream ${a.name} (anvil stop ${a.name})`;
      }
      tr.cells[9].replaceChildren(breakable(a.resultFile || '—'));
      tr.cells[1].className = 'state-' + a.state;
      for (const i of [2, 3, 4, 5, 6, 7, 10]) tr.cells[i].className = 'num';
      tr.cells[8].className = a.paused ? 'paused' : '';
      tr.cells[9].className = 'file';
      tr.cells[9].title = a.resultFile || '';
      if (a.failures && a.failures.length) tr.cells[6].title = a.failures.join('\n');
      const actions = document.createElement('td');
      actions.className = 'actions';
      actions.append(actionButton(a.paused ? 'Resume' : 'Pause', a.paused ? 'resume' : 'pause', a.name, a.paused && s.beamtimePaused),
        actionButton('Stop', 'stop', a.name, a.finished),
        actionButton('Reprocess', 'reprocess', a.name, !a.finished));
      tr.appendChild(actions);
      return tr;
    });
    // Keep buttons that are in flight (a replaced row would re-enable them mid-request).
    if (!body.querySelector('button:disabled[data-busy]')) body.replaceChildren(...rows);
    el('op-empty').hidden = s.acquisitions.length > 0;
    showReprocessings(s.acquisitions);
    const scope = el('op-scope');
    const known = new Set([...scope.options].map(o => o.value));
    for (const a of s.acquisitions) if (!known.has(a.name)) { const o = document.createElement('option'); o.value = a.name; o.textContent = a.name; scope.appendChild(o); }
  }

  // Reprocessings (<acquisition>_r<k>): what they reprocess, how far the reprocess pool has got, and the result file.
  function showReprocessings(acquisitions) {
    const rows = acquisitions.filter(a => a.reprocessOf).map(a => {
      const tr = document.createElement('tr');
      tr.dataset.name = a.name;
      const total = Number(a.framesAnnounced) || 0, merged = Number(a.framesMerged) || 0;
      const percent = a.done ? 100 : total > 0 ? Math.min(100, Math.floor(100 * merged / total)) : 0;
      const progress = document.createElement('td');
      const bar = document.createElement('span'); bar.className = 'op-progress';
      const fill = document.createElement('span'); fill.style.width = percent + '%'; bar.appendChild(fill);
      progress.append(bar, `${merged} / ${total || '?'} frames merged (${percent} %)${a.framesFailed ? `, ${a.framesFailed} failed` : ''}`);
      for (const c of [a.name, a.reprocessOf, a.state]) { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); }
      tr.cells[2].className = 'state-' + a.state;
      tr.appendChild(progress);
      const result = document.createElement('td');
      result.textContent = a.done ? (a.resultFile || `${a.name}.nxs`) : '—';
      tr.appendChild(result);
      return tr;
    });
    el('op-reprocessings').tBodies[0].replaceChildren(...rows);
    el('op-reprocess-empty').hidden = rows.length > 0;
  }

  // A long acquisition or file name that may wrap only after an '_' or before the '.nxs' (<wbr>), never mid-word.
  function breakable(text) {
    const fragment = document.createDocumentFragment();
    for (const part of text.split(/(?<=_)|(?=\.)/)) {
      if (fragment.childNodes.length) fragment.appendChild(document.createElement('wbr'));
      fragment.appendChild(document.createTextNode(part));
    }
    return fragment;
  }

  function actionButton(label, op, acquisition, disabled) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.op = op;
    b.dataset.acq = acquisition;
    if (!O.status.canOperate) { b.disabled = true; b.title = 'operating needs an operator account (or the console on the suite\'s own machine)'; }
    else if (disabled) { b.disabled = true; b.title = op === 'stop' ? 'already finished' : op === 'reprocess' ? 'still being acquired: reprocess it once it is finished' : 'the whole beamtime is paused: resume all'; }
    else if (op === 'reprocess') b.title = 'integrate it again with the settings below, as a new result, in the reprocess pool';
    b.addEventListener('click', () => operate(b));
    return b;
  }

  async function operate(button) {
    const op = button.dataset.op, acquisition = button.dataset.acq;
    await inFlight(button, async () => {
      button.dataset.busy = '1';
      try {
        if (op === 'reprocess') clearErrors();
        const reply = op === 'stop'
          ? await write(`/api/operator/acquisitions/${encodeURIComponent(acquisition)}/stop`, 'POST')
          : op === 'reprocess'
            ? await write(`/api/operator/acquisitions/${encodeURIComponent(acquisition)}/reprocess`, 'POST', formChanges())
            : await write(`/api/operator/${op}`, 'POST', { acquisition });
        if (op === 'reprocess') el('op-settings-note').textContent = '';
        note(reply.message || `${op}: done`, false);
      } catch (e) {
        if (e.errors) { showErrors(e.errors); el('op-settings-note').textContent = 'Not reprocessed: fix the fields in red.'; }
        note(e.message, true);
      } finally {
        delete button.dataset.busy;
      }
    });
    await refreshStatus();
  }

  // ---------------------------------------------------------------- settings

  // The form's fields as the settings API takes them (null / '' switches a setting off).
  function formChanges() {
    const v = id => el(id).value.trim();
    const range = (lo, hi) => (v(lo) === '' && v(hi) === '') ? null : [v(lo), v(hi)];
    const optional = id => v(id) === '' ? null : v(id);
    return {
      poni: v('op-poni'), mask: v('op-mask'), dark: v('op-dark'), flat: v('op-flat'),
      npt: /^-?\d+$/.test(v('op-npt')) ? Number(v('op-npt')) : v('op-npt'),
      unit: v('op-unit'), method: v('op-method'), polarization: optional('op-polarization'),
      radialRange: range('op-radial-lo', 'op-radial-hi'), azimuthRangeDeg: range('op-azimuth-lo', 'op-azimuth-hi'),
      dummy: optional('op-dummy'), deltaDummy: optional('op-delta-dummy'),
      // Sent only when edited: the field shows the stage's short form, which need not say every detail of its settings.
      pressure: O.settings && v('op-pressure') === (O.settings.pressure || '') ? undefined : v('op-pressure'),
    };
  }

  function clearErrors() {
    for (const e of document.querySelectorAll('#op-settings [data-error]')) e.textContent = '';
    for (const f of document.querySelectorAll('#op-settings .op-field')) f.classList.remove('invalid');
  }

  function showErrors(errors) {
    for (const [field, messages] of Object.entries(errors)) {
      const target = document.querySelector(`#op-settings [data-error="${field}"]`) || document.querySelector('#op-settings [data-error="settings"]');
      target.textContent = messages.join('\n');
      const row = document.querySelector(`#op-settings .op-field[data-field="${field}"]`);
      if (row) row.classList.add('invalid');
    }
  }

  // The detector the form addresses: the scope's own when the scope is a detector's stream, else the selector's ('' = the only one).
  function scopeDetector() {
    const scope = el('op-scope').value;
    const row = scope && O.status ? O.status.acquisitions.find(a => a.name === scope) : null;
    return row && row.detector ? { acquisition: scope, detector: '', shown: row.detector } : { acquisition: scope, detector: O.detectors.length > 1 ? el('op-detector').value : '', shown: el('op-detector').value };
  }

  // The configured detectors and their settings versions; the selector shows only when there are several.
  async function loadDetectors() {
    try {
      O.detectors = (await call('/api/operator/detectors')).detectors;
    } catch { return; }
    const select = el('op-detector');
    const chosen = select.value;
    select.replaceChildren(...O.detectors.map(d => { const o = document.createElement('option'); o.value = d.name; o.textContent = `${d.name} (${d.kind})`; return o; }));
    if (O.detectors.some(d => d.name === chosen)) select.value = chosen;
    el('op-detector-field').hidden = O.detectors.length < 2;
    el('op-detector-versions').hidden = O.detectors.length < 2;
    el('op-detector-versions').textContent = 'Settings in force per detector: ' + O.detectors.map(d => `${d.name} version ${d.settingsVersion === 0 ? '0 (configured)' : d.settingsVersion}`).join(' · ');
  }

  function fillSettings(s) {
    O.settings = s;
    const of = s.detector ? ` of detector ${s.detector}` : '';
    el('op-version').textContent = s.version === 0 ? `0 (configured defaults${of})` : `${s.version}${s.scope ? ` (for ${s.scope})` : ` (every acquisition${of})`}`;
    el('op-poni').value = s.poni;
    el('op-mask').value = s.mask;
    el('op-npt').value = s.npt;
    el('op-unit').value = s.unit;
    el('op-method').value = s.method;
    el('op-polarization').value = s.polarization ?? '';
    el('op-dark').value = s.dark;
    el('op-flat').value = s.flat;
    el('op-radial-lo').value = s.radialRange ? s.radialRange[0] : '';
    el('op-radial-hi').value = s.radialRange ? s.radialRange[1] : '';
    el('op-azimuth-lo').value = s.azimuthRangeDeg ? s.azimuthRangeDeg[0] : '';
    el('op-azimuth-hi').value = s.azimuthRangeDeg ? s.azimuthRangeDeg[1] : '';
    el('op-dummy').value = s.dummy ?? '';
    el('op-delta-dummy').value = s.deltaDummy ?? '';
    el('op-pressure').value = s.pressure || '';
  }

  async function loadSettings() {
    clearErrors();
    try {
      if (!O.detectors.length) await loadDetectors();
      const target = scopeDetector();
      el('op-detector').disabled = target.acquisition !== '' && target.detector === '' && O.detectors.length > 1;
      if (el('op-detector').disabled) el('op-detector').value = target.shown;
      fillSettings(await call(`/api/operator/settings?acquisition=${encodeURIComponent(target.acquisition)}&detector=${encodeURIComponent(target.detector)}`));
      el('op-settings-note').textContent = '';
    } catch (e) {
      el('op-version').textContent = 'unknown';
      el('op-settings-note').textContent = e.message;
    }
  }

  async function applySettings(event) {
    event.preventDefault();
    await inFlight(el('op-apply'), async () => {
      clearErrors();
      el('op-settings-note').textContent = 'applying…';
      const target = scopeDetector();
      const body = { acquisition: target.acquisition, detector: target.detector, ...formChanges() };
      try {
        fillSettings(await write('/api/operator/settings', 'PUT', body));
        el('op-settings-note').textContent = `Applied: version ${O.settings.version} is in force${target.shown && O.detectors.length > 1 ? ` for detector ${target.shown}` : ''}.`;
        loadDetectors();
      } catch (e) {
        if (e.errors) { showErrors(e.errors); el('op-settings-note').textContent = 'Nothing was changed: fix the fields in red.'; }
        else el('op-settings-note').textContent = e.message;
      }
    });
  }

  // ---------------------------------------------------------------- experiment configuration file

  // Shows what a configuration file changes (per detector), its errors and what needs a restart.
  function showConfig(plan, errors) {
    const rows = [];
    for (const t of (plan ? plan.targets : [])) {
      for (const [field, change] of Object.entries(t.changes || {})) {
        const tr = document.createElement('tr');
        tr.dataset.target = t.detector; tr.dataset.field = field;
        for (const c of [t.label, field, JSON.stringify(change.from), JSON.stringify(change.to)]) { const td = document.createElement('td'); td.textContent = c; tr.appendChild(td); }
        rows.push(tr);
      }
    }
    el('op-config-changes').tBodies[0].replaceChildren(...rows);
    el('op-config-changes').hidden = rows.length === 0;
    const list = (id, items) => {
      el(id).replaceChildren(...items.map(text => { const li = document.createElement('li'); li.textContent = text; return li; }));
      el(id).hidden = items.length === 0;
    };
    list('op-config-errors', Object.entries(errors || {}).flatMap(([field, messages]) => messages.map(m => `${field}: ${m}`)));
    list('op-config-restart', plan ? plan.restart.map(r => r.message) : []);
  }

  async function configFile(apply) {
    const path = el('op-config-path').value.trim();
    const button = apply ? el('op-config-apply') : el('op-config-preview');
    await inFlight(button, async () => {
      document.querySelector('#op-config [data-error=config]').textContent = '';
      el('op-config-note').textContent = apply ? 'applying…' : 'reading…';
      try {
        const plan = apply
          ? await write('/api/operator/config', 'POST', { path })
          : await call(`/api/operator/config?path=${encodeURIComponent(path)}`);
        showConfig(plan, plan.errors);
        el('op-config-note').textContent = plan.message;
        if (apply) { await loadDetectors(); await loadSettings(); }
      } catch (e) {
        showConfig(null, e.errors);
        if (e.errors) el('op-config-note').textContent = 'Nothing was changed: fix the file (see below).';
        else { document.querySelector('#op-config [data-error=config]').textContent = e.message; el('op-config-note').textContent = ''; }
      }
    });
  }

  // ---------------------------------------------------------------- data-root browser

  async function browse(path) {
    try {
      const listing = await call(`/api/operator/browse?path=${encodeURIComponent(path)}`);
      O.browsePath = listing.path;
      el('op-browse-path').textContent = `${listing.dataRoot}${listing.path ? '/' + listing.path : ''}${listing.truncated ? ' (first entries only)' : ''}`;
      el('op-browse-list').replaceChildren(...listing.entries.map(entry => {
        const li = document.createElement('li');
        li.className = entry.kind;
        li.textContent = entry.kind === 'folder' ? entry.name + '/' : entry.name;
        li.dataset.path = entry.path;
        li.addEventListener('click', () => {
          if (entry.kind === 'folder') browse(entry.path);
          else { el(O.browseTarget).value = entry.path; el('op-browser').hidden = true; }
        });
        return li;
      }));
      el('op-browser').hidden = false;
    } catch (e) {
      el('op-browse-path').textContent = e.message;
      el('op-browser').hidden = false;
    }
  }

  // ---------------------------------------------------------------- tabs

  function showTab(name) {
    for (const b of document.querySelectorAll('.tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
    el('results').hidden = name !== 'results';
    el('operate').hidden = name !== 'operate';
    const url = new URL(location.href);
    if (name === 'operate') url.searchParams.set('tab', 'operate'); else url.searchParams.delete('tab');
    history.replaceState(null, '', url);
    clearInterval(O.timer);
    if (name === 'operate') {
      refreshStatus();
      if (!O.settings) loadSettings();
      O.timer = setInterval(refreshStatus, 2000);
    } else {
      window.dispatchEvent(new Event('resize'));
    }
  }

  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  for (const b of [el('op-pause-all'), el('op-resume-all')]) b.addEventListener('click', () => operate(b));
  el('op-settings').addEventListener('submit', applySettings);
  el('op-reload').addEventListener('click', loadSettings);
  el('op-scope').addEventListener('change', loadSettings);
  el('op-detector').addEventListener('change', loadSettings);
  el('op-config-preview').addEventListener('click', () => configFile(false));
  el('op-config').addEventListener('submit', event => { event.preventDefault(); configFile(true); });
  for (const b of document.querySelectorAll('[data-browse]')) b.addEventListener('click', () => {
    O.browseTarget = b.dataset.browse;
    const current = el(O.browseTarget).value;
    browse(current.includes('/') && !current.startsWith('/') ? current.slice(0, current.lastIndexOf('/')) : O.browsePath);
  });
  el('op-browse-up').addEventListener('click', () => browse(O.browsePath.includes('/') ? O.browsePath.slice(0, O.browsePath.lastIndexOf('/')) : ''));
  el('op-browse-close').addEventListener('click', () => { el('op-browser').hidden = true; });
  if (new URLSearchParams(location.search).get('tab') === 'operate') showTab('operate');
})();
