// Access (issue 13, item 6): who is signed in, logging out, the CSRF token on every change, and the audit panel in the
// Operate tab. Every same-origin request that changes something (not GET/HEAD) carries this session's token in the
// header the server names (X-Anvil-CSRF); a 401 (session ended) takes the page back to the login.
'use strict';

(() => {
  const el = id => document.getElementById(id);
  const A = { me: null };
  window.anvilAccess = A;
  const plainFetch = window.fetch.bind(window);

  window.fetch = async (input, init) => {
    init = init || {};
    const method = (init.method || (input instanceof Request ? input.method : 'GET')).toUpperCase();
    const url = new URL(input instanceof Request ? input.url : input, location.href);
    if (A.me && A.me.csrfToken && url.origin === location.origin && method !== 'GET' && method !== 'HEAD') {
      const headers = new Headers(init.headers || (input instanceof Request ? input.headers : undefined));
      headers.set(A.me.csrfHeader, A.me.csrfToken);
      init = { ...init, headers };
    }
    const response = await plainFetch(input, init);
    if (response.status === 401 && A.me && A.me.loginRequired && !A.leaving) {
      location.href = '/login?returnUrl=' + encodeURIComponent(location.pathname + location.search);
    }
    return response;
  };

  const text = (tag, value, cls) => { const e = document.createElement(tag); e.textContent = value; if (cls) e.className = cls; return e; };

  function showUser(me) {
    if (!me.loginRequired) return;
    const box = document.createElement('span');
    box.className = 'user';
    box.id = 'user';
    box.append('signed in as ', text('strong', me.user), text('span', me.role, 'role ' + me.role));
    const out = text('button', 'Log out');
    out.id = 'logout';
    out.addEventListener('click', async () => {
      out.disabled = true;
      A.leaving = true;
      await fetch('/logout', { method: 'POST' });
      location.href = '/login';
    });
    box.append(out);
    document.querySelector('header').append(box);
    const viewOnly = el('op-view-only');
    if (viewOnly && !me.canOperate) {
      viewOnly.textContent = `View only: ${me.user} is a viewer. Pausing, resuming, stopping and changing settings need an operator account.`;
    }
  }

  function changes(entry) {
    if (!entry.changes) return '';
    return Object.entries(entry.changes).map(([field, c]) => `${field}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`).join('; ');
  }

  async function refreshAudit() {
    const body = el('audit-table').tBodies[0];
    try {
      const response = await fetch('/api/access/audit?limit=20');
      if (!response.ok) return;
      const audit = await response.json();
      body.replaceChildren(...audit.entries.map(e => {
        const tr = document.createElement('tr');
        const when = new Date(e.time);
        tr.append(text('td', when.toLocaleString()), text('td', e.user), text('td', e.role || ''), text('td', e.remote), text('td', e.action),
          text('td', e.acquisition || (e.action === 'settings' || e.action === 'pause' || e.action === 'resume' ? 'all' : '')),
          text('td', changes(e), 'changes'), text('td', e.result, e.status >= 400 ? 'refused' : ''));
        return tr;
      }));
      el('audit-empty').hidden = audit.entries.length > 0;
    } catch { /* the next refresh tries again */ }
  }

  function addAuditPanel() {
    const operate = el('operate');
    if (!operate) return;
    const title = text('h2', 'Changes (audit log)');
    const table = document.createElement('table');
    table.id = 'audit-table';
    table.className = 'audit';
    const head = document.createElement('tr');
    for (const h of ['When', 'User', 'Role', 'From', 'Action', 'Acquisition', 'Changes', 'Result']) head.append(text('th', h));
    table.createTHead().append(head);
    table.createTBody();
    const empty = text('div', 'No change recorded yet.', 'op-note');
    empty.id = 'audit-empty';
    operate.append(title, table, empty);
    refreshAudit();
    setInterval(() => { if (!operate.hidden) refreshAudit(); }, 3000);
  }

  A.ready = (async () => {
    const response = await plainFetch('/api/access/me');
    if (!response.ok) return;
    A.me = await response.json();
    showUser(A.me);
    addAuditPanel();
  })();
  A.refreshAudit = refreshAudit;
})();
