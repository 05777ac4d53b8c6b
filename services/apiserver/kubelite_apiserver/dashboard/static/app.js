// kubelite dashboard: every figure comes from the Kubernetes API, read with the user's own
// credentials, so RBAC decides what is shown and which actions are offered.
// Never innerHTML with API data: every text goes through textContent (see el()).
'use strict';

const TOKEN_KEY = 'kubelite.token';
const NS_KEY = 'kubelite.namespace';
const ALL = '';  // "all namespaces" in the picker
const REFRESH_MS = 3000;

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  user: null,
  ns: localStorage.getItem(NS_KEY) ?? 'default',
  allowed: new Map(),  // SelfSubjectAccessReview answers, per session
  timer: null,
  streams: [],  // AbortControllers of open watches / log follows
};

// ---- tiny DOM helpers ---------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function table(headers, rows, attrs) {
  return el('table', attrs, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows : [el('tr', {}, el('td', {colspan: headers.length, class: 'muted'}, 'none'))]));
}

function age(ts) {
  if (!ts) return '';
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// ---- the API -------------------------------------------------------------------------------
class APIError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

function authHeaders(extra) {
  const h = Object.assign({Accept: 'application/json'}, extra || {});
  if (state.token) h.Authorization = `Bearer ${state.token}`;
  return h;
}

async function api(method, path, body, contentType) {
  const init = {method, headers: authHeaders(body !== undefined ? {'Content-Type': contentType || 'application/json'} : {}),
    credentials: 'same-origin'};
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(path, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = {message: text}; }
  if (!r.ok) throw new APIError(r.status, (data && data.message) || r.statusText);
  return data;
}

const get = (path) => api('GET', path);

function nsPath(group, version, plural, ns, name, sub) {
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const scope = ns ? `/namespaces/${encodeURIComponent(ns)}` : '';
  return `${base}${scope}/${plural}${name ? '/' + encodeURIComponent(name) : ''}${sub ? '/' + sub : ''}`;
}

// May the user do `verb` on group/resource[/sub] in ns? (cached; false on any error)
async function can(verb, group, resource, ns, subresource) {
  const key = [verb, group, resource, subresource || '', ns || ''].join('|');
  if (state.allowed.has(key)) return state.allowed.get(key);
  let ok = false;
  try {
    const r = await api('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview',
      spec: {resourceAttributes: {verb, group, resource, subresource: subresource || '', namespace: ns || ''}}});
    ok = !!(r.status && r.status.allowed);
  } catch (e) { ok = false; }
  state.allowed.set(key, ok);
  return ok;
}

// A list, or null when the user may not list it (the section then says so).
async function listOrNull(group, version, plural, ns) {
  try {
    return (await get(nsPath(group, version, plural, ns))).items || [];
  } catch (e) {
    if (e.code === 403 || e.code === 404) return null;
    throw e;
  }
}

// Stream a watch or a log: calls onChunk(text) for each piece until aborted or ended.
async function stream(path, onChunk) {
  const ctl = new AbortController();
  state.streams.push(ctl);
  const r = await fetch(path, {headers: authHeaders(), credentials: 'same-origin', signal: ctl.signal});
  if (!r.ok) throw new APIError(r.status, (await r.text()) || r.statusText);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      onChunk(decoder.decode(value, {stream: true}));
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  }
}

function stopStreams() {
  for (const c of state.streams) c.abort();
  state.streams = [];
}

// ---- sign in -------------------------------------------------------------------------------
async function whoami() {
  const r = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews',
    {apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview'});
  return r.status.userInfo;
}

// whoami, again when no answer came at all: fetch rejects with a TypeError when the request
// never got a response (the apiserver restarting, the host's network changing under the
// browser); a few tries are better than throwing away a good token. An HTTP answer is final.
async function whoamiRetrying() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await whoami();
    } catch (e) {
      if (e instanceof APIError || attempt >= 4) throw e;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}

async function signIn() {
  const hash = new URLSearchParams(location.hash.startsWith('#token=') ? location.hash.slice(1) : '');
  if (hash.get('token')) {  // the login link: keep the token in this tab only, and out of the URL
    state.token = hash.get('token');
    sessionStorage.setItem(TOKEN_KEY, state.token);
    history.replaceState(null, '', location.pathname + '#/overview');
  }
  try {
    const user = await whoamiRetrying();
    if (!user.username || user.username === 'system:anonymous') throw new APIError(401, 'anonymous');
    state.user = user;
    return true;
  } catch (e) {
    if (state.token) {
      document.getElementById('login-error').textContent =
        e.code === 401 ? 'That token was not accepted (expired or unknown).' : `Sign-in failed: ${e.message}`;
    }
    state.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    return false;
  }
}

function showLogin() {
  document.getElementById('login').hidden = false;
  document.getElementById('view').replaceChildren();
  for (const id of ['nav', 'ns-picker', 'logout']) document.getElementById(id).hidden = true;
  document.getElementById('user').textContent = '';
}

async function onLogin(ev) {
  ev.preventDefault();
  state.token = document.getElementById('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  await start();
}

function logout() {
  stopStreams();
  clearTimeout(state.timer);
  state.token = '';
  state.user = null;
  state.allowed.clear();
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin();
}

// ---- namespace picker ----------------------------------------------------------------------
async function fillNamespaces() {
  const select = document.getElementById('ns');
  const listed = await listOrNull('', 'v1', 'namespaces', null);
  const names = listed ? listed.map((n) => n.metadata.name) : [state.ns || 'default'];
  const options = [el('option', {value: ALL}, 'all namespaces'), ...names.map((n) => el('option', {value: n}, n))];
  select.replaceChildren(...options);
  select.value = names.includes(state.ns) || state.ns === ALL ? state.ns : (names.includes('default') ? 'default' : names[0]);
  state.ns = select.value;
}

function onNamespace() {
  state.ns = document.getElementById('ns').value;
  localStorage.setItem(NS_KEY, state.ns);
  route();
}

// ---- views ---------------------------------------------------------------------------------
const VIEWS = {overview, workloads, pods, services, map: mapView, events, pod: podDetail};

function currentRoute() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  return {view: VIEWS[parts[0]] ? parts[0] : 'overview', args: parts.slice(1)};
}

async function route() {
  stopStreams();
  clearTimeout(state.timer);
  const {view, args} = currentRoute();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view);
  const live = view === 'events' || view === 'pod';  // these stream instead of polling
  const target = document.getElementById('view');
  const draw = async () => {
    try {
      const content = await VIEWS[view](...args);
      target.replaceChildren(content);
    } catch (e) {
      if (e.code === 401) { logout(); return; }
      target.replaceChildren(el('p', {class: 'error'}, `Could not load this view: ${e.message}`));
    }
    if (!live) state.timer = setTimeout(draw, REFRESH_MS);
  };
  await draw();
}

function notAllowed(what) {
  return el('p', {class: 'notice', 'data-forbidden': what}, `You may not list ${what} here.`);
}

function podPhase(p) {
  const st = p.status || {};
  if (p.metadata.deletionTimestamp) return 'Terminating';
  for (const c of st.containerStatuses || []) {
    const w = c.state && c.state.waiting;
    if (w && w.reason) return w.reason;
    const t = c.state && c.state.terminated;
    if (t && t.reason && st.phase === 'Running') return t.reason;
  }
  return st.phase || 'Pending';
}

function podReady(p) {
  const cs = (p.status && p.status.containerStatuses) || [];
  return `${cs.filter((c) => c.ready).length}/${(p.spec.containers || []).length}`;
}

function chipClass(p) {
  const phase = podPhase(p);
  if (phase === 'Running' && podReady(p).split('/')[0] === podReady(p).split('/')[1]) return 'chip running';
  if (['Failed', 'CrashLoopBackOff', 'Error', 'ErrImagePull', 'ImagePullBackOff'].includes(phase)) return 'chip failed';
  if (phase === 'Succeeded' || phase === 'Terminating') return 'chip';
  return 'chip pending';
}

function quantity(q) {  // "250m" -> 0.25, "1Gi" -> bytes, "1234n" -> cores
  if (q === undefined || q === null) return 0;
  const m = String(q).match(/^([0-9.]+)([a-zA-Z]*)$/);
  if (!m) return 0;
  const mult = {n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12,
    Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4}[m[2]];
  return parseFloat(m[1]) * (mult ?? 1);
}

function usageBar(used, total, label) {
  const pct = total ? Math.min(100, Math.round((used / total) * 100)) : 0;
  const fill = el('span');
  fill.style.width = `${pct}%`;  // CSSOM, not a style attribute: the CSP allows no inline styles
  return el('span', {}, el('span', {class: 'bar', title: `${pct}%`}, fill), label);
}

async function overview() {
  const [nodes, metrics, allPods] = await Promise.all([
    listOrNull('', 'v1', 'nodes', null), listOrNull('metrics.k8s.io', 'v1beta1', 'nodes', null),
    listOrNull('', 'v1', 'pods', state.ns || null)]);
  const usage = new Map((metrics || []).map((m) => [m.metadata.name, m.usage]));
  const perNode = new Map();
  for (const p of allPods || []) perNode.set(p.spec.nodeName || '', (perNode.get(p.spec.nodeName || '') || 0) + 1);
  const phases = {};
  for (const p of allPods || []) phases[podPhase(p)] = (phases[podPhase(p)] || 0) + 1;
  const cards = el('div', {class: 'cards'},
    el('div', {class: 'card'}, el('b', {}, nodes ? nodes.length : '?'), 'nodes'),
    el('div', {class: 'card', id: 'pods-count'}, el('b', {}, allPods ? allPods.length : '?'),
      `pods ${state.ns ? 'in ' + state.ns : 'in all namespaces'}`),
    ...Object.entries(phases).map(([k, v]) => el('div', {class: 'card'}, el('b', {}, v), k)));
  const body = [el('h1', {}, 'Overview'), cards, el('h2', {}, 'Nodes')];
  if (!nodes) {
    body.push(notAllowed('nodes'));
  } else {
    body.push(table(['Name', 'Ready', 'CPU', 'Memory', 'Pods', 'Version'], nodes.map((n) => {
      const ready = ((n.status && n.status.conditions) || []).find((c) => c.type === 'Ready');
      const alloc = (n.status && n.status.allocatable) || {};
      const u = usage.get(n.metadata.name);
      const cpu = u ? usageBar(quantity(u.cpu), quantity(alloc.cpu), `${Math.ceil(quantity(u.cpu) * 1000)}m / ${alloc.cpu}`)
        : el('span', {class: 'muted'}, metrics ? 'no sample yet' : 'metrics not available');
      const mem = u ? usageBar(quantity(u.memory), quantity(alloc.memory), `${Math.round(quantity(u.memory) / 1024 ** 2)}Mi`)
        : el('span', {class: 'muted'}, '');
      return el('tr', {'data-node': n.metadata.name}, el('td', {}, n.metadata.name),
        el('td', {class: ready && ready.status === 'True' ? 'ok' : 'bad'}, ready ? ready.status : 'Unknown'),
        el('td', {class: 'cpu'}, cpu), el('td', {}, mem),
        el('td', {class: 'num'}, `${perNode.get(n.metadata.name) || 0} / ${alloc.pods || '?'}`),
        el('td', {}, (n.status && n.status.nodeInfo && n.status.nodeInfo.kubeletVersion) || ''));
    })));
  }
  return el('div', {}, body);
}

// ---- workloads -----------------------------------------------------------------------------
const WORKLOADS = [
  {title: 'Deployments', group: 'apps', plural: 'deployments', scale: true, restart: true, undo: true,
    cols: ['Ready', 'Up-to-date', 'Available'],
    row: (o) => [`${o.status?.readyReplicas || 0}/${o.spec.replicas ?? 1}`, o.status?.updatedReplicas || 0, o.status?.availableReplicas || 0]},
  {title: 'StatefulSets', group: 'apps', plural: 'statefulsets', scale: true, restart: true,
    cols: ['Ready', 'Current revision'], row: (o) => [`${o.status?.readyReplicas || 0}/${o.spec.replicas ?? 1}`, o.status?.currentRevision || '']},
  {title: 'DaemonSets', group: 'apps', plural: 'daemonsets', restart: true,
    cols: ['Desired', 'Ready', 'Up-to-date'],
    row: (o) => [o.status?.desiredNumberScheduled || 0, o.status?.numberReady || 0, o.status?.updatedNumberScheduled || 0]},
  {title: 'ReplicaSets', group: 'apps', plural: 'replicasets', cols: ['Desired', 'Ready'],
    row: (o) => [o.spec.replicas ?? 1, o.status?.readyReplicas || 0]},
  {title: 'Jobs', group: 'batch', plural: 'jobs', cols: ['Completions', 'Status'],
    row: (o) => [`${o.status?.succeeded || 0}/${o.spec.completions ?? 1}`, jobStatus(o)]},
  {title: 'CronJobs', group: 'batch', plural: 'cronjobs', cols: ['Schedule', 'Suspend', 'Active', 'Last schedule'],
    row: (o) => [o.spec.schedule, String(!!o.spec.suspend), (o.status?.active || []).length, age(o.status?.lastScheduleTime)]},
  {title: 'HorizontalPodAutoscalers', group: 'autoscaling', version: 'v2', plural: 'horizontalpodautoscalers',
    cols: ['Reference', 'Replicas', 'Min/Max'],
    row: (o) => [`${o.spec.scaleTargetRef.kind}/${o.spec.scaleTargetRef.name}`, o.status?.currentReplicas ?? '', `${o.spec.minReplicas ?? 1}/${o.spec.maxReplicas}`]},
];

function jobStatus(o) {
  for (const c of o.status?.conditions || []) if (c.status === 'True' && ['Complete', 'Failed'].includes(c.type)) return c.type;
  return o.status?.active ? 'Running' : 'Pending';
}

async function workloads() {
  const body = [el('h1', {}, 'Workloads')];
  const sections = await Promise.all(WORKLOADS.map(async (w) => {
    const items = await listOrNull(w.group, w.version || 'v1', w.plural, state.ns || null);
    const head = el('h2', {}, w.title);
    if (items === null) return [head, notAllowed(w.plural)];
    const actions = await allowedActions(w);
    const cols = [...(state.ns ? [] : ['Namespace']), 'Name', ...w.cols, 'Age', ...(actions.any ? ['Actions'] : [])];
    const rows = items.map((o) => el('tr', {'data-name': o.metadata.name, 'data-kind': w.plural},
      ...(state.ns ? [] : [el('td', {}, o.metadata.namespace)]),
      el('td', {}, o.metadata.name), ...w.row(o).map((v) => el('td', {}, v)), el('td', {}, age(o.metadata.creationTimestamp)),
      ...(actions.any ? [el('td', {}, actionCell(w, o, actions))] : [])));
    return [head, table(cols, rows, {'data-section': w.plural})];
  }));
  body.push(...sections.flat());
  return el('div', {}, body);
}

async function allowedActions(w) {
  const ns = state.ns || '';
  const [scale, patch] = await Promise.all([
    w.scale ? can('update', w.group, w.plural, ns, 'scale') : false,
    w.restart || w.undo ? can('patch', w.group, w.plural, ns) : false]);
  return {scale, restart: w.restart && patch, undo: w.undo && patch, any: scale || (w.restart && patch)};
}

function actionCell(w, o, actions) {
  const ns = o.metadata.namespace;
  const name = o.metadata.name;
  const cell = el('div', {class: 'actions'});
  if (actions.scale) {
    const input = el('input', {type: 'number', min: 0, value: o.spec.replicas ?? 1, 'aria-label': 'replicas', class: 'replicas'});
    cell.append(input, el('button', {class: 'scale', onclick: () => act(() => api('PATCH', nsPath(w.group, 'v1', w.plural, ns, name, 'scale'),
      {spec: {replicas: parseInt(input.value, 10)}}, 'application/merge-patch+json'), `scaled ${name} to ${input.value}`)}, 'Scale'));
  }
  if (actions.restart) {
    cell.append(el('button', {class: 'restart', onclick: () => act(() => api('PATCH', nsPath(w.group, 'v1', w.plural, ns, name),
      {spec: {template: {metadata: {annotations: {'kubectl.kubernetes.io/restartedAt': new Date().toISOString()}}}}},
      'application/merge-patch+json'), `restarting ${name}`)}, 'Restart'));
  }
  if (actions.undo) cell.append(el('button', {class: 'undo', onclick: () => act(() => undoDeployment(o), `rolled ${name} back`)}, 'Undo'));
  return cell;
}

async function act(fn, done) {
  try {
    await fn();
    flash(done, false);
  } catch (e) {
    flash(`failed: ${e.message}`, true);
  }
  route();
}

function flash(text, bad) {
  const note = el('p', {class: bad ? 'notice error' : 'notice', id: 'flash'}, text);
  document.getElementById('flash')?.remove();
  document.getElementById('main').prepend(note);
  setTimeout(() => note.remove(), 6000);
}

// kubectl rollout undo: the template of the newest older ReplicaSet, without its pod-template-hash.
async function undoDeployment(d) {
  const REV = 'deployment.kubernetes.io/revision';
  const current = parseInt(d.metadata.annotations?.[REV] || '0', 10);
  const sets = (await get(nsPath('apps', 'v1', 'replicasets', d.metadata.namespace))).items
    .filter((rs) => (rs.metadata.ownerReferences || []).some((r) => r.uid === d.metadata.uid))
    .map((rs) => [parseInt(rs.metadata.annotations?.[REV] || '0', 10), rs])
    .filter(([rev]) => rev < current).sort((a, b) => b[0] - a[0]);
  if (!sets.length) throw new Error(`no rollout history of ${d.metadata.name} to go back to`);
  const template = JSON.parse(JSON.stringify(sets[0][1].spec.template));
  delete template.metadata.labels['pod-template-hash'];
  await api('PATCH', nsPath('apps', 'v1', 'deployments', d.metadata.namespace, d.metadata.name),
    [{op: 'test', path: '/metadata/resourceVersion', value: d.metadata.resourceVersion},
      {op: 'replace', path: '/spec/template', value: template}], 'application/json-patch+json');
}

// ---- pods ----------------------------------------------------------------------------------
async function pods() {
  const items = await listOrNull('', 'v1', 'pods', state.ns || null);
  const body = [el('h1', {}, 'Pods')];
  if (items === null) return el('div', {}, body, notAllowed('pods'));
  const cols = [...(state.ns ? [] : ['Namespace']), 'Name', 'Ready', 'Status', 'Restarts', 'Node', 'IP', 'Age'];
  body.push(table(cols, items.map((p) => el('tr', {'data-pod': p.metadata.name},
    ...(state.ns ? [] : [el('td', {}, p.metadata.namespace)]),
    el('td', {}, el('a', {href: `#/pod/${encodeURIComponent(p.metadata.namespace)}/${encodeURIComponent(p.metadata.name)}`}, p.metadata.name)),
    el('td', {}, podReady(p)), el('td', {class: chipClass(p).replace('chip', 'st')}, podPhase(p)),
    el('td', {class: 'num'}, (p.status?.containerStatuses || []).reduce((n, c) => n + (c.restartCount || 0), 0)),
    el('td', {}, p.spec.nodeName || ''), el('td', {}, p.status?.podIP || ''), el('td', {}, age(p.metadata.creationTimestamp))))));
  return el('div', {}, body);
}

async function podDetail(ns, name) {
  const p = await get(nsPath('', 'v1', 'pods', ns, name));
  const containers = [...(p.spec.initContainers || []), ...(p.spec.containers || [])];
  const statuses = new Map([...(p.status?.initContainerStatuses || []), ...(p.status?.containerStatuses || [])].map((c) => [c.name, c]));
  const evs = await listOrNull('', 'v1', 'events', ns).then((items) => (items || []).filter((e) => e.involvedObject?.uid === p.metadata.uid));
  const logs = el('pre', {class: 'logs', id: 'logs'});
  const pick = el('select', {id: 'container', onchange: () => followLogs(ns, name, pick.value, logs)},
    (p.spec.containers || []).map((c) => el('option', {value: c.name}, c.name)));
  const view = el('div', {},
    el('h1', {}, `Pod ${ns}/${name}`),
    el('p', {}, `Status: ${podPhase(p)} · node ${p.spec.nodeName || '(not scheduled)'} · IP ${p.status?.podIP || '-'} · ready ${podReady(p)}`),
    el('h2', {}, 'Containers'),
    table(['Name', 'Image', 'State', 'Ready', 'Restarts'], containers.map((c) => {
      const s = statuses.get(c.name) || {};
      const st = Object.keys(s.state || {})[0] || 'waiting';
      return el('tr', {}, el('td', {}, c.name), el('td', {}, c.image), el('td', {}, st), el('td', {}, String(!!s.ready)),
        el('td', {class: 'num'}, s.restartCount || 0));
    })),
    el('h2', {}, 'Conditions'),
    table(['Type', 'Status', 'Reason'], (p.status?.conditions || []).map((c) => el('tr', {}, el('td', {}, c.type), el('td', {}, c.status), el('td', {}, c.reason || '')))),
    el('h2', {}, 'Events'),
    table(['Type', 'Reason', 'Message', 'Age'], evs.map((e) => el('tr', {class: `ev-${e.type}`}, el('td', {}, e.type), el('td', {}, e.reason),
      el('td', {}, e.message), el('td', {}, age(e.lastTimestamp || e.eventTime))))),
    el('h2', {}, 'Logs ', pick), logs);
  if ((p.spec.containers || []).length) setTimeout(() => followLogs(ns, name, pick.value, logs));
  return view;
}

function followLogs(ns, name, container, pre) {
  stopStreams();
  pre.textContent = '';
  const path = `${nsPath('', 'v1', 'pods', ns, name, 'log')}?follow=true&tailLines=500&container=${encodeURIComponent(container)}`;
  stream(path, (text) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.append(text);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }).catch((e) => pre.append(`\n[logs: ${e.message}]\n`));
}

// ---- services ------------------------------------------------------------------------------
async function services() {
  const [svcs, eps] = await Promise.all([listOrNull('', 'v1', 'services', state.ns || null), listOrNull('', 'v1', 'endpoints', state.ns || null)]);
  const body = [el('h1', {}, 'Services')];
  if (svcs === null) return el('div', {}, body, notAllowed('services'));
  const byName = new Map((eps || []).map((e) => [`${e.metadata.namespace}/${e.metadata.name}`, e]));
  body.push(table(['Namespace', 'Name', 'Type', 'Cluster IP', 'Ports', 'Endpoints'], svcs.map((s) => {
    const e = byName.get(`${s.metadata.namespace}/${s.metadata.name}`);
    const ready = (e?.subsets || []).reduce((n, sub) => n + (sub.addresses || []).length, 0);
    const notReady = (e?.subsets || []).reduce((n, sub) => n + (sub.notReadyAddresses || []).length, 0);
    const ports = (s.spec.ports || []).map((p) => `${p.port}${p.nodePort ? ':' + p.nodePort : ''}/${p.protocol || 'TCP'}`).join(', ');
    return el('tr', {'data-service': s.metadata.name}, el('td', {}, s.metadata.namespace), el('td', {}, s.metadata.name),
      el('td', {}, s.spec.type || 'ClusterIP'), el('td', {}, s.spec.clusterIP || ''), el('td', {}, ports),
      el('td', {class: ready ? 'ok' : 'warn'}, `${ready} ready${notReady ? `, ${notReady} not ready` : ''}`));
  })));
  return el('div', {}, body);
}

// ---- map: nodes with their pods, Services pointing at theirs ----------------------------------
async function mapView() {
  const [nodes, podList, svcs, eps] = await Promise.all([listOrNull('', 'v1', 'nodes', null), listOrNull('', 'v1', 'pods', state.ns || null),
    listOrNull('', 'v1', 'services', state.ns || null), listOrNull('', 'v1', 'endpoints', state.ns || null)]);
  const body = [el('h1', {}, 'Map'), el('p', {class: 'muted'}, 'Nodes and the pods on them; point at a Service to see the pods it sends traffic to.')];
  if (podList === null) return el('div', {}, body, notAllowed('pods'));
  const columns = new Map((nodes || []).map((n) => [n.metadata.name, n]));
  for (const p of podList) if (!columns.has(p.spec.nodeName || '(unscheduled)')) columns.set(p.spec.nodeName || '(unscheduled)', null);
  const row = el('div', {class: 'map-nodes'});
  for (const [name, node] of columns) {
    const ready = node && (node.status?.conditions || []).find((c) => c.type === 'Ready')?.status === 'True';
    const here = podList.filter((p) => (p.spec.nodeName || '(unscheduled)') === name);
    row.append(el('div', {class: `map-node${node && !ready ? ' notready' : ''}`, 'data-node': name},
      el('b', {}, name), el('span', {class: node ? (ready ? 'ok' : 'bad') : 'muted'}, node ? (ready ? ' Ready' : ' NotReady') : ''),
      el('div', {}, here.map((p) => el('span', {class: chipClass(p), 'data-pod': `${p.metadata.namespace}/${p.metadata.name}`,
        title: `${p.metadata.namespace}/${p.metadata.name}: ${podPhase(p)}`}, p.metadata.name)))));
  }
  body.push(row, el('h2', {}, 'Services'));
  if (svcs === null) {
    body.push(notAllowed('services'));
  } else {
    const targets = new Map((eps || []).map((e) => [`${e.metadata.namespace}/${e.metadata.name}`,
      (e.subsets || []).flatMap((s) => (s.addresses || []).map((a) => a.targetRef && `${a.targetRef.namespace || e.metadata.namespace}/${a.targetRef.name}`)).filter(Boolean)]));
    body.push(table(['Service', 'Cluster IP', 'Ready pods'], svcs.map((s) => {
      const key = `${s.metadata.namespace}/${s.metadata.name}`;
      const to = targets.get(key) || [];
      const highlight = (on) => () => {
        for (const chip of document.querySelectorAll('.map-node .chip')) chip.classList.toggle('hl', on && to.includes(chip.dataset.pod));
      };
      return el('tr', {class: 'svc-row', 'data-service': s.metadata.name, onmouseenter: highlight(true), onmouseleave: highlight(false)},
        el('td', {}, key), el('td', {}, s.spec.clusterIP || ''), el('td', {}, to.length ? to.map((t) => t.split('/')[1]).join(', ') : '—'));
    })));
  }
  return el('div', {}, body);
}

// ---- events: the cluster's Event stream, live --------------------------------------------------
async function events() {
  const path = nsPath('', 'v1', 'events', state.ns || null);
  let initial;
  try {
    initial = await get(path);
  } catch (e) {
    if (e.code === 403) return el('div', {}, el('h1', {}, 'Events'), notAllowed('events'));
    throw e;
  }
  const tbody = el('tbody', {id: 'events-body'});
  const add = (e, front) => {
    const tr = el('tr', {class: `ev-${e.type}`, 'data-reason': e.reason},
      el('td', {}, e.type), el('td', {}, new Date(e.lastTimestamp || e.eventTime || e.metadata.creationTimestamp).toLocaleTimeString()),
      el('td', {}, `${e.involvedObject?.kind || ''}/${e.involvedObject?.name || ''}`), el('td', {}, e.reason || ''), el('td', {}, e.message || ''));
    if (front) tbody.prepend(tr); else tbody.append(tr);
    while (tbody.children.length > 500) tbody.lastChild.remove();
  };
  const items = (initial.items || []).sort((a, b) => Date.parse(b.lastTimestamp || b.eventTime || 0) - Date.parse(a.lastTimestamp || a.eventTime || 0));
  items.slice(0, 200).forEach((e) => add(e, false));
  let buffer = '';
  stream(`${path}?watch=true&resourceVersion=${initial.metadata.resourceVersion}`, (text) => {
    buffer += text;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!line) continue;
      const ev = JSON.parse(line);
      if (ev.type === 'ADDED' || ev.type === 'MODIFIED') add(ev.object, true);
    }
  }).catch(() => {});
  return el('div', {}, el('h1', {}, 'Events'),
    el('p', {class: 'muted'}, 'Live: every scheduling decision, rollout step and kubelet action as the cluster records it.'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Type', 'Time', 'Object', 'Reason', 'Message'].map((h) => el('th', {}, h)))), tbody));
}

// ---- start ---------------------------------------------------------------------------------
async function start() {
  document.getElementById('login').hidden = true;
  if (!(await signIn())) { showLogin(); return; }
  for (const id of ['nav', 'ns-picker', 'logout']) document.getElementById(id).hidden = false;
  const groups = (state.user.groups || []).filter((g) => g !== 'system:authenticated');
  const who = document.getElementById('user');
  who.textContent = state.user.username;
  who.title = groups.length ? `groups: ${groups.join(', ')}` : '';
  await fillNamespaces();
  if (!location.hash || location.hash.startsWith('#token=')) location.hash = '#/overview';
  else await route();
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('login-form').addEventListener('submit', onLogin);
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('ns').addEventListener('change', onNamespace);
  window.addEventListener('hashchange', () => { if (state.user) route(); });
  start();
});
