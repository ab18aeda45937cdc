/**
 * The dashboard's browser script (plain ES2020, runs in the page; kept as a string so the
 * coordinator serves it without a build step). The token, if any, is kept in localStorage and
 * sent as a bearer header, or as ?access_token= for EventSource (which cannot send headers).
 */
export const DASHBOARD_SCRIPT = String.raw`
(() => {
  const $ = (id) => document.getElementById(id);
  const workloads = new Map();
  let selected = null;
  let source = null;
  const token = () => localStorage.getItem('drcToken') || '';
  const esc = (s) => String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]);
  function stateClass(state) {
    const top = String(state);
    if (/^protected/.test(top)) return 's-green';
    if (/failingOver|suspect|switchingOver|failingBack|reprotecting|degraded/.test(top)) return 's-yellow';
    if (/failedOver/.test(top)) return 's-cyan';
    if (/escalated|awaitingApproval/.test(top)) return 's-red';
    return 's-grey';
  }
  function showError(msg) { const e = $('error'); e.textContent = msg; e.style.display = msg ? 'block' : 'none'; }
  async function api(path) {
    const t = token();
    const res = await fetch(path, { headers: t ? { authorization: 'Bearer ' + t } : {} });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(res.status + ' ' + ((body.error && body.error.message) || res.statusText));
    }
    return res.json();
  }
  function renderSites(sites) {
    $('sites').innerHTML = sites.map((s) =>
      '<div class="site ' + esc(s.status) + '" data-site="' + esc(s.siteId) + '" data-status="' + esc(s.status) + '">' +
      '<div><b>' + esc(s.siteId) + '</b> ' + esc(s.name || '') + '</div><div>' + esc(s.status) + '</div></div>').join('');
  }
  function lagText(w) {
    return w.replicas.filter((r) => r.siteId !== w.primarySite)
      .map((r) => r.siteId + ' ' + (r.lagSeconds === undefined ? '?' : r.lagSeconds.toFixed(1)) + '/' + w.policy.rpoSeconds + 's').join(', ');
  }
  function renderTile(w) {
    let el = document.querySelector('[data-workload="' + CSS.escape(w.workloadId) + '"]');
    if (!el) {
      el = document.createElement('div');
      el.dataset.workload = w.workloadId;
      el.addEventListener('click', () => selectWorkload(w.workloadId));
      $('workloads').appendChild(el);
    }
    const changed = el.dataset.state !== undefined && el.dataset.state !== w.state;
    el.dataset.state = w.state;
    el.dataset.primary = w.primarySite;
    el.className = 'tile ' + stateClass(w.state) + (selected === w.workloadId ? ' selected' : '') + (changed ? ' flash' : '');
    el.innerHTML = '<div class="id">' + esc(w.workloadId) + '</div><div class="state">' + esc(w.state) + '</div>' +
      '<div class="meta">primary ' + esc(w.primarySite) + ' · epoch ' + esc(w.epoch) + '</div><div class="meta">' + esc(lagText(w)) + '</div>';
  }
  function timelineItem(e) {
    const li = document.createElement('li');
    const d = e.data || {};
    li.className = /Observed|Received|TimerFired/.test(e.type) ? 'input' : 'decision';
    const when = e.recordedAt ? new Date(e.recordedAt).toLocaleTimeString() : '';
    let detail = '';
    if (e.type === 'WorkloadStateChanged') detail = d.from + ' → ' + d.to;
    else if (e.type === 'CommandIssued' && d.command) detail = d.command.action + ' → ' + d.command.siteId + ' (epoch ' + d.command.epoch + ')';
    else if (e.type === 'FailoverCompleted') detail = d.fromSite + ' → ' + d.toSite + ', RTO ' + (d.rtoMs / 1000).toFixed(1) + 's';
    else if (typeof d.command === 'string') detail = d.command + (d.actor ? ' by ' + d.actor.id : '');
    else detail = d.reason || d.toSite || d.siteId || '';
    li.textContent = '#' + e.position + ' ' + when + ' ' + e.type + (detail ? ' — ' + detail : '');
    return li;
  }
  async function selectWorkload(id) {
    selected = id;
    workloads.forEach(renderTile);
    $('timeline-panel').hidden = false;
    $('timeline-title').textContent = 'Timeline of ' + id;
    try {
      const body = await api('/api/v1/workloads/' + encodeURIComponent(id) + '/events?limit=500');
      const ol = $('timeline');
      ol.innerHTML = '';
      body.events.forEach((e) => ol.appendChild(timelineItem(e)));
      ol.scrollTop = ol.scrollHeight;
    } catch (e) { showError('timeline: ' + e.message); }
  }
  function connect() {
    if (source) source.close();
    const t = token();
    source = new EventSource('/api/v1/stream' + (t ? '?access_token=' + encodeURIComponent(t) : ''));
    source.addEventListener('open', () => { $('conn').textContent = 'live'; $('conn').className = 'conn on'; });
    source.addEventListener('error', () => { $('conn').textContent = 'reconnecting…'; $('conn').className = 'conn off'; });
    source.addEventListener('workload', (m) => { const w = JSON.parse(m.data); workloads.set(w.workloadId, w); renderTile(w); });
    source.addEventListener('sites', (m) => renderSites(JSON.parse(m.data).sites));
    source.addEventListener('stored', (m) => {
      const e = JSON.parse(m.data);
      if (e.workloadId && e.workloadId === selected) { const ol = $('timeline'); ol.appendChild(timelineItem(e)); ol.scrollTop = ol.scrollHeight; }
    });
  }
  async function load() {
    try {
      const [s, w] = await Promise.all([api('/api/v1/sites'), api('/api/v1/workloads')]);
      renderSites(s.sites);
      w.workloads.forEach((x) => { workloads.set(x.workloadId, x); renderTile(x); });
      showError('');
      connect();
    } catch (e) { showError(e.message + ' — enter a viewer token above'); }
  }
  $('token-form').addEventListener('submit', (ev) => { ev.preventDefault(); localStorage.setItem('drcToken', $('token').value); load(); });
  load();
})();
`;
