// An endpoint's captures: the live list (newest first, filtered by the API, paged with a
// cursor, only visible rows in the DOM) next to the open capture.

import { h, id, copyButton, mount, timeEl } from '../dom.js';
import { href, go, currentQuery } from '../router.js';
import { formatBytes, formatTime, base64ToBytes, plural, sentence } from '../format.js';
import { createVirtualList } from '../virtual-list.js';
import { captureDetail } from './capture.js';
import { verdictBadge, verdictWords, VERDICTS } from './verdict.js';
import { bulkReplayDialog } from './bulk-replay.js';
import { gettingStarted, curlExample } from './hints.js';
import { testEventDialog } from './test-event.js';
import { reachabilityNote } from './reachability.js';
import { typeTag, redeliveryBadge, orderBadge, schemaBadge, typeMatches } from './event.js';
import { answerBadge } from './answer.js';
import { expiryTag } from './expiry.js';
import * as Q from '../queries.js';

const PAGE = 100;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** The API's CaptureFilter from the form; only what is set. */
function readFilter(f) {
  const filter = {};
  if (f.body.value) filter.bodyContains = f.body.value;
  if (f.method.value.trim()) filter.method = f.method.value.trim();
  if (f.path.value.trim()) filter.pathPrefix = f.path.value.trim();
  if (f.verdict.value) filter.verdict = f.verdict.value;
  if (f.eventType.value.trim()) filter.eventType = f.eventType.value.trim();
  if (f.header.value.trim()) filter.header = { name: f.header.value.trim(), valueContains: f.headerValue.value };
  if (f.from.value) filter.receivedFrom = new Date(f.from.value).toISOString();
  if (f.until.value) filter.receivedUntil = new Date(f.until.value).toISOString();
  return filter;
}

// URL keys of the filter fields, in the order they are written.
const QUERY_KEYS = [['q', 'body'], ['method', 'method'], ['path', 'path'], ['verdict', 'verdict'], ['type', 'eventType'], ['header', 'header'], ['headerValue', 'headerValue'], ['from', 'from'], ['until', 'until']];

/** `datetime-local` values are local time; the URL holds UTC so a shared link means one instant. */
function localToIso(v) {
  const d = new Date(v);
  return v && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
}
function isoToLocal(v) {
  const d = new Date(v);
  if (!v || Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

/** The filter form as a route query (`method=POST&q=…`), only what is set. */
export function formToQuery(f) {
  const qs = new URLSearchParams();
  for (const [key, input] of QUERY_KEYS) {
    const raw = f[input].value;
    // Search text is matched as typed, spaces included; the other fields are trimmed by the API.
    const v = key === 'from' || key === 'until' ? localToIso(raw) : key === 'q' || key === 'headerValue' ? raw : raw.trim();
    if (v) qs.set(key, v);
  }
  return qs.toString();
}

/** Fills the filter form from a route query; unknown keys are ignored. */
function queryToForm(query, f) {
  const qs = new URLSearchParams(query);
  for (const [key, input] of QUERY_KEYS) {
    const v = qs.get(key) ?? '';
    f[input].value = key === 'from' || key === 'until' ? isoToLocal(v) : v;
  }
}

/** The filter in words, for the bulk replay dialog; '' when there is none. */
function describeFilter(filter) {
  const parts = [];
  if (filter.bodyContains) parts.push(`body contains “${filter.bodyContains}”`);
  if (filter.method) parts.push(`method ${filter.method}`);
  if (filter.pathPrefix) parts.push(`path starts with ${filter.pathPrefix}`);
  if (filter.verdict) parts.push(`signature ${verdictWords(filter.verdict)}`);
  if (filter.eventType) parts.push(`event type ${filter.eventType}`);
  if (filter.header) parts.push(`header ${filter.header.name}${filter.header.valueContains ? ` contains “${filter.header.valueContains}”` : ' present'}`);
  if (filter.receivedFrom) parts.push(`received from ${formatTime(filter.receivedFrom, { ms: false })}`);
  if (filter.receivedUntil) parts.push(`received before ${formatTime(filter.receivedUntil, { ms: false })}`);
  return parts.join(', ');
}

function bytesContain(hay, needle) {
  if (!needle.length) return true;
  outer: for (let i = 0; i <= hay.length - needle.length; i += 1) {
    for (let j = 0; j < needle.length; j += 1) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** The same conditions the API applies, for captures that arrive live. */
export function matchesFilter(c, filter) {
  if (filter.method && c.method !== filter.method) return false;
  if (filter.pathPrefix && !c.path.startsWith(filter.pathPrefix)) return false;
  if (filter.verdict && c.verification?.verdict !== filter.verdict) return false;
  if (filter.eventType && !typeMatches(filter.eventType, c.event?.type)) return false;
  if (filter.header) {
    const name = filter.header.name.toLowerCase();
    const ok = (c.headers || []).some((x) => x.name.toLowerCase() === name && x.value.includes(filter.header.valueContains || ''));
    if (!ok) return false;
  }
  const t = new Date(c.receivedAt).getTime();
  if (filter.receivedFrom && t < new Date(filter.receivedFrom).getTime()) return false;
  if (filter.receivedUntil && t >= new Date(filter.receivedUntil).getTime()) return false;
  if (filter.bodyContains) {
    if (c.bodyBase64 == null) return false;
    if (!bytesContain(base64ToBytes(c.bodyBase64), new TextEncoder().encode(filter.bodyContains))) return false;
  }
  return true;
}

function row(c, onPickType) {
  if (c.probe) {
    return [h('div', { class: 'row-main' }, h('span', { class: 'method' }, 'POST'), h('span', { class: 'path' }, '/')), h('div', { class: 'row-meta' }, 'x')];
  }
  const path = c.query != null ? `${c.path}?${c.query}` : c.path;
  return [
    h('div', { class: 'row-main' },
      h('span', { class: `method m-${c.method.toLowerCase()}` }, c.method),
      h('span', { class: 'path', title: path }, path),
      typeTag(c.event?.type, onPickType),
      c.isNew ? h('span', { class: 'new-tag' }, 'new') : null),
    h('div', { class: 'row-meta' },
      timeEl(c.receivedAt, { ms: false }),
      h('span', { class: 'size' }, formatBytes(c.bodySize)),
      h('span', { class: 'ctype', title: c.contentType || '' }, c.contentType ? c.contentType.split(';')[0] : 'no content type'),
      verdictBadge(c.verification),
      answerBadge(c.answer),
      redeliveryBadge(c.redeliveries),
      orderBadge(c.ordering),
      schemaBadge(c.schemaChange)),
  ];
}

export function capturesView(state, ep, params) {
  const canEdit = state.can(ep.teamId, 'EDITOR');
  let filter = {};
  // The filters as they are in the route; the list follows the route when a link changes it.
  let query = '';
  let cursor = null;
  let hasMore = false;
  let loading = false;
  let generation = 0;
  let unsubscribe = null;
  let subscribedWithBody = null;
  let detail = null;
  let openId = null;
  let newAbove = 0;
  const known = new Set();
  // Live captures taken while a reset load is in flight: the page may not have them yet.
  let liveDuringLoad = [];

  // Filters: the search box is body text; the rest are the API's other filter fields.
  const body = h('input', { type: 'search', name: 'q', placeholder: 'Search bodies…  (press /)', autocomplete: 'off', 'aria-keyshortcuts': '/' });
  const method = h('input', { type: 'text', name: 'method', list: 'methods-list', autocomplete: 'off', placeholder: 'Any', size: 7, spellcheck: 'false' });
  const path = h('input', { type: 'text', name: 'path', autocomplete: 'off', placeholder: '/stripe', size: 10, spellcheck: 'false' });
  // Patterns as the API takes them: `charge.*`, `*.created`.
  const eventType = h('input', { type: 'text', name: 'type', autocomplete: 'off', placeholder: 'charge.*', size: 12, spellcheck: 'false' });
  const verdict = h('select', { name: 'verdict' }, h('option', { value: '' }, 'Any'), VERDICTS.map(([v, label]) => h('option', { value: v }, label)));
  const header = h('input', { type: 'text', name: 'header', placeholder: 'e.g. stripe-signature', autocomplete: 'off', spellcheck: 'false' });
  const headerValue = h('input', { type: 'text', name: 'headerValue', placeholder: 'contains…', autocomplete: 'off', spellcheck: 'false' });
  const from = h('input', { type: 'datetime-local', name: 'from', step: 1 });
  const until = h('input', { type: 'datetime-local', name: 'until', step: 1 });
  const f = { body, method, path, verdict, eventType, header, headerValue, from, until };
  const labelled = (text, input, cls) => {
    input.id = id('flt');
    return h('div', { class: ['flt', cls] }, h('label', { for: input.id }, text), input);
  };
  const filterError = h('p', { class: 'form-alert', role: 'alert', hidden: true, id: id('flt-error') });
  const clear = h('button', { type: 'button', class: 'btn small ghost', hidden: true }, 'Clear filters');
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter captures' },
    h('datalist', { id: 'methods-list' }, METHODS.map((m) => h('option', { value: m }))),
    labelled('Search body', body, 'grow'),
    labelled('Method', method),
    labelled('Path starts with', path),
    labelled('Signature', verdict),
    labelled('Event type', eventType),
    h('details', { class: 'more-filters' },
      h('summary', null, 'More filters'),
      h('div', { class: 'flt-row' },
        labelled('Header name', header),
        labelled('Header value contains', headerValue),
        labelled('Received from', from),
        labelled('Received before', until))),
    h('div', { class: 'flt-actions' }, h('button', { type: 'submit', class: 'btn small' }, 'Apply'), clear),
    filterError,
  );

  const status = h('p', { class: 'list-status', role: 'status' });
  const newAboveBtn = h('button', { type: 'button', class: 'btn small new-above', hidden: true }, '');
  // Replays what the list shows: the same filter goes to `replayCaptures`. The dialog exists
  // only while open, so its fields never stand beside the replay panel's in the page.
  let bulk = null;
  const openBulk = () => {
    bulk = bulkReplayDialog(state, ep, { getFilter: () => filter, describe: () => describeFilter(filter) });
    bulk.el.addEventListener('close', () => {
      bulk?.destroy();
      bulk?.el.remove();
      bulk = null;
      bulkBtn.focus();
    });
    listPane.append(bulk.el);
    bulk.open();
  };
  const bulkBtn = canEdit ? h('button', { type: 'button', class: 'btn small ghost bulk-btn', 'aria-haspopup': 'dialog', onclick: openBulk }, 'Replay matching…') : null;
  // A test event reaches the list through the normal pipeline, a moment after the API answers:
  // "Open the capture" waits for its row, so the detail never loads a capture not stored yet.
  let testDialog = null;
  let testOpener = null;
  let pendingOpen = null;
  const openWhenListed = (cid) => {
    testOpener = null;
    testDialog?.destroy();
    if (known.has(cid)) {
      go(href('e', ep.id, 'c', cid) + currentQuery());
      return;
    }
    pendingOpen = cid;
    announcer.textContent = 'The test event opens as soon as it is captured.';
    // Filters the event does not pass keep its row out of the list: open it anyway.
    setTimeout(() => {
      if (pendingOpen === cid) {
        pendingOpen = null;
        go(href('e', ep.id, 'c', cid) + currentQuery());
      }
    }, 5000);
  };
  const openTestEvent = () => {
    testOpener = document.activeElement;
    testDialog = testEventDialog(state, ep, { onOpen: openWhenListed });
    testDialog.el.addEventListener('close', () => {
      testDialog?.el.remove();
      testDialog = null;
      // Back where the dialog was opened from, unless a capture was opened meanwhile.
      if (!pendingOpen && testOpener?.isConnected && !openId) testOpener.focus();
    });
    el.append(testDialog.el);
    testDialog.open();
  };
  const testBtn = canEdit ? h('button', { type: 'button', class: 'btn small test-event-btn', 'aria-haspopup': 'dialog', onclick: openTestEvent }, 'Send a test event…') : null;
  const loadMore = h('button', { type: 'button', class: 'btn small load-more', hidden: true }, 'Load more');
  const announcer = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });

  const list = createVirtualList({
    label: `Captures of ${ep.name}`,
    renderRow: (c) => row(c, pickType),
    emptyText: '',
    onActivate: (item, _i, { focus }) => {
      const target = href('e', ep.id, 'c', item.id) + currentQuery();
      if (location.hash !== target) go(target, { replace: openId != null });
      if (focus) detail?.focus();
    },
    onNearEnd: () => {
      if (hasMore && !loading) loadPage();
    },
  });
  const emptyState = h('div', { class: 'empty-state' });
  list.el.append(emptyState);

  const detailPane = h('section', { class: 'detail-pane', 'aria-label': 'Capture' });
  const placeholder = h('div', { class: 'detail-placeholder' }, h('p', null, 'Select a capture to see its headers, body, signature check and replays.'),
    h('p', { class: 'hint' }, 'Keys: ', h('kbd', null, 'j'), ' / ', h('kbd', null, 'k'), ' move through captures, ', h('kbd', null, '/'), ' searches.'));
  const listPane = h('section', { class: 'list-pane', 'aria-label': 'Capture list' }, filters, h('div', { class: 'list-bar' }, status, newAboveBtn, bulkBtn), list.el, loadMore, announcer);
  const split = h('div', { class: 'split' }, listPane, detailPane);

  const head = h(
    'header',
    { class: 'endpoint-head' },
    h('div', { class: 'endpoint-title' },
      h('h1', null, ep.name),
      expiryTag(ep.expiresAt),
      h('nav', { class: 'subnav', 'aria-label': 'Endpoint' },
        h('a', { href: href('e', ep.id), 'aria-current': 'page' }, 'Captures'),
        h('a', { href: href('e', ep.id, 'settings') }, 'Settings'))),
    h('div', { class: 'url-bar' },
      h('span', { class: 'url-label' }, 'Capture URL'),
      h('code', { class: 'endpoint-url' }, ep.url),
      copyButton('Copy URL', ep.url),
      copyButton('Copy curl example', () => curlExample(ep.url)),
      testBtn),
    reachabilityNote(state, {
      compact: true,
      meanwhile: canEdit
        ? '“Send a test event” makes a provider’s event here meanwhile, signed as the provider would sign it.'
        : 'An editor of this team can use “Send a test event” to make a provider’s event here meanwhile.',
    }),
  );
  const el = h('div', { class: 'endpoint-page' }, head, split);

  function updateStatus() {
    const n = list.items.length;
    const filtered = Object.keys(filter).length > 0;
    clear.hidden = !filtered;
    if (loading && n === 0) status.textContent = 'Loading captures…';
    else if (n === 0) status.textContent = filtered ? 'No capture matches these filters.' : 'No captures yet: send a request to the URL above.';
    else status.textContent = `${hasMore ? `${plural(n, 'capture')} loaded, more available` : `${n === 1 ? 'The only capture' : `All ${plural(n, 'capture')}`}`}${filtered ? ' matching the filters' : ''}.`;
    // Nothing listed, nothing to replay: the button would open a dialog that can only say so.
    if (bulkBtn) bulkBtn.hidden = n === 0;
    loadMore.hidden = !hasMore;
    loadMore.disabled = loading;
    loadMore.textContent = loading ? 'Loading…' : `Load ${PAGE} more`;
    list.setTotal(hasMore ? null : n);
    const showHelp = n === 0 && !loading && !filtered;
    emptyState.hidden = !showHelp;
    list.viewport.hidden = showHelp;
    if (showHelp && !emptyState.firstChild) mount(emptyState, gettingStarted(ep, { testEvent: canEdit ? openTestEvent : null }));
  }

  async function loadPage({ reset = false } = {}) {
    const gen = reset ? ++generation : generation;
    if (reset) liveDuringLoad = [];
    loading = true;
    updateStatus();
    try {
      const d = await state.api.request(Q.CAPTURES, { e: ep.id, first: PAGE, after: reset ? null : cursor, filter: Object.keys(filter).length ? filter : null });
      if (gen !== generation) return;
      const nodes = d.captures.edges.map((e) => e.node).filter((c) => !known.has(c.id) || reset);
      if (reset) {
        const ids = new Set(nodes.map((c) => c.id));
        const extra = liveDuringLoad.filter((c) => !ids.has(c.id));
        known.clear();
        extra.concat(nodes).forEach((c) => known.add(c.id));
        list.setItems(extra.concat(nodes));
        if (openId) list.selectId(openId);
      } else {
        nodes.forEach((c) => known.add(c.id));
        list.append(nodes);
      }
      cursor = d.captures.pageInfo.endCursor;
      hasMore = d.captures.pageInfo.hasNextPage;
      filterError.hidden = true;
    } catch (e) {
      if (gen !== generation) return;
      filterError.textContent = sentence(e.message);
      filterError.hidden = false;
      if (e.field) {
        const input = { 'filter.method': method, 'filter.pathPrefix': path, 'filter.receivedFrom': from, 'filter.receivedUntil': until, 'filter.header': header, 'filter.bodyContains': body, 'filter.eventType': eventType }[e.field];
        input?.setAttribute('aria-invalid', 'true');
        // The message names the field; tying it to the input has it read out there too.
        input?.setAttribute('aria-describedby', filterError.id);
      }
    } finally {
      if (gen === generation) {
        loading = false;
        updateStatus();
      }
    }
  }

  /** After a reconnect or a lagged subscription: add what arrived meanwhile. */
  async function resync() {
    const gen = generation;
    let after = null;
    const fresh = [];
    for (let page = 0; page < 5; page += 1) {
      let d;
      try {
        d = await state.api.request(Q.CAPTURES, { e: ep.id, first: PAGE, after, filter: Object.keys(filter).length ? filter : null });
      } catch {
        return;
      }
      if (gen !== generation) return;
      const nodes = d.captures.edges.map((e) => e.node);
      const overlap = nodes.findIndex((c) => known.has(c.id));
      fresh.push(...(overlap >= 0 ? nodes.slice(0, overlap) : nodes));
      if (overlap >= 0 || !d.captures.pageInfo.hasNextPage) {
        addNew(fresh);
        return;
      }
      after = d.captures.pageInfo.endCursor;
    }
    // More than five pages were missed: start over from the newest.
    loadPage({ reset: true });
  }

  function addNew(captures) {
    const add = captures.filter((c) => !known.has(c.id));
    if (!add.length) return;
    liveDuringLoad = add.concat(liveDuringLoad).slice(0, 1000);
    add.forEach((c) => {
      known.add(c.id);
      c.isNew = true;
      setTimeout(() => list.update(c.id, (x) => ({ ...x, isNew: false })), 10_000);
    });
    const wasTop = list.viewport.scrollTop < 10;
    list.prepend(add);
    if (!wasTop) {
      newAbove += add.length;
      newAboveBtn.textContent = `↑ ${plural(newAbove, 'new capture')}`;
      newAboveBtn.hidden = false;
    }
    announcer.textContent = add.length === 1 ? `New capture: ${add[0].method} ${add[0].path}` : `${add.length} new captures`;
    updateStatus();
    if (pendingOpen && add.some((c) => c.id === pendingOpen)) {
      const cid = pendingOpen;
      pendingOpen = null;
      go(href('e', ep.id, 'c', cid) + currentQuery());
    }
  }

  /** A row's type tag sets the filter to that type; the other filters stay. */
  function pickType(type) {
    eventType.value = type;
    applyFilters();
    announcer.textContent = `Listing ${type} events only.`;
  }

  // The processor reads a capture's event when it checks it, so a row listed before that (or
  // checked again since) reads its event fields anew. One request at a time, and a bounded
  // queue: a re-check of thousands of captures must not become thousands of requests at once.
  const toRefresh = new Map();
  let refreshing = false;
  let alive = true;
  function refreshRow(cid, tries = 0) {
    if (toRefresh.size >= 200 && !toRefresh.has(cid)) return;
    toRefresh.set(cid, tries);
    if (!refreshing) drainRefresh();
  }
  async function drainRefresh() {
    refreshing = true;
    while (alive && toRefresh.size) {
      const [cid, tries] = toRefresh.entries().next().value;
      toRefresh.delete(cid);
      if (!known.has(cid)) continue;
      let c;
      try {
        c = (await state.api.request(Q.ROW, { id: cid })).capture;
      } catch {
        c = undefined;
      }
      if (!alive || !known.has(cid) || c === null) continue;
      if (c?.verification) {
        list.update(cid, (x) => ({ ...x, ...c }));
        noteGroup(c);
      } else if (tries < 20) {
        // Not checked yet: ask again a little later, as the open capture does.
        setTimeout(() => alive && refreshRow(cid, tries + 1), 250 * Math.min(4, tries + 1));
      }
    }
    refreshing = false;
  }

  /** A new capture of an event already listed: the rows of its group show the new count. */
  function noteGroup(c) {
    const evId = c.event?.id;
    const count = c.redeliveries?.count ?? 0;
    if (!evId || count <= 1) return;
    for (const x of list.items) {
      if (x.id !== c.id && x.event?.id === evId && (x.redeliveries?.count ?? 1) < count) {
        list.update(x.id, (y) => ({ ...y, redeliveries: { kind: y.redeliveries?.kind ?? 'FIRST', count } }));
      }
    }
  }

  // Deletions and new verdicts made elsewhere (another tab, a teammate, "Check again"): the list
  // and the open capture follow. Missed ones (after a reconnect) show at the next reload.
  const stopChanges = state.live.subscribe(Q.CAPTURE_CHANGED, { e: ep.id }, {
    next: (d) => {
      const { captureId: cid, kind, verification } = d.captureChanged;
      if (kind === 'DELETED') {
        list.remove(cid);
        known.delete(cid);
        liveDuringLoad = liveDuringLoad.filter((c) => c.id !== cid);
        if (openId === cid) detail?.markDeleted();
        updateStatus();
      } else if (kind === 'VERIFIED' && verification) {
        list.update(cid, (x) => ({ ...x, verification }));
        if (openId === cid) detail?.setVerification(verification);
        // Checking again reads the event again (another provider, other event fields).
        refreshRow(cid);
      }
    },
  });

  // Schema drift is analysed shortly after a capture is stored, so a live row learns it here.
  const stopSchema = state.live.subscribe(Q.SCHEMA_CHANGED, { e: ep.id }, {
    next: (d) => {
      const { captureId: cid, change } = d.schemaChanged;
      list.update(cid, (x) => ({ ...x, schemaChange: { kind: change.kind } }));
      if (openId === cid) detail?.refreshEvent();
    },
  });

  function subscribe() {
    const withBody = Boolean(filter.bodyContains);
    if (unsubscribe && subscribedWithBody === withBody) return;
    unsubscribe?.();
    subscribedWithBody = withBody;
    unsubscribe = state.live.subscribe(Q.CAPTURE_RECEIVED(withBody), { e: ep.id }, {
      next: (d) => {
        const c = d.captureReceived;
        if (!matchesFilter(c, filter)) return;
        delete c.bodyBase64;
        addNew([c]);
        if (c.verification) noteGroup(c);
        else refreshRow(c.id);
      },
      resync,
      error: (errors) => {
        status.textContent = errors[0]?.extensions?.code === 'NOT_FOUND'
          ? 'This endpoint was deleted: no more captures will arrive.'
          : `Live updates stopped: ${sentence(errors[0]?.message)}`;
      },
    });
  }

  /** Writes the filters into the route. Replace, not push: typing would fill the history. */
  function syncHash() {
    const hash = location.hash.replace(/\?.*$/, '') + (query ? `?${query}` : '');
    if (hash !== location.hash) history.replaceState(null, '', hash);
  }

  /**
   * `closeUnmatched`: a filter the user just set closes the open capture when it does not pass,
   * so the detail never sits next to a list that leaves it out. A link that names both a capture
   * and filters opens what it names.
   */
  function applyFilters({ closeUnmatched = true } = {}) {
    for (const i of filters.querySelectorAll('[aria-invalid]')) {
      i.removeAttribute('aria-invalid');
      i.removeAttribute('aria-describedby');
    }
    filter = readFilter(f);
    query = formToQuery(f);
    syncHash();
    const open = detail?.capture();
    if (closeUnmatched && open && !matchesFilter(open, filter)) {
      go(href('e', ep.id) + currentQuery(), { replace: true });
      announcer.textContent = 'The open capture does not match the filters, so it was closed.';
    }
    cursor = null;
    hasMore = false;
    subscribe();
    loadPage({ reset: true });
  }

  let debounce = 0;
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    applyFilters();
  });
  body.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => applyFilters(), 350);
  });
  for (const input of [method, path, verdict, eventType, from, until]) input.addEventListener('change', () => applyFilters());
  clear.addEventListener('click', () => {
    filters.reset();
    applyFilters();
    body.focus();
  });
  loadMore.addEventListener('click', () => loadPage());
  newAboveBtn.addEventListener('click', () => {
    list.viewport.scrollTop = 0;
  });
  list.viewport.addEventListener('scroll', () => {
    if (list.viewport.scrollTop < 10 && newAbove) {
      newAbove = 0;
      newAboveBtn.hidden = true;
    }
  }, { passive: true });

  function openCapture(captureId, tab) {
    if (openId === captureId && detail) {
      if (tab) detail.selectTab(tab);
      return;
    }
    detail?.destroy?.();
    openId = captureId;
    list.selectId(captureId);
    detail = captureDetail(state, ep, captureId, {
      tab,
      canEdit,
      onClose: () => go(href('e', ep.id) + currentQuery()),
      onDeleted: (cid) => {
        list.remove(cid);
        known.delete(cid);
        updateStatus();
        go(href('e', ep.id) + currentQuery());
      },
      onVerification: (cid, v) => {
        list.update(cid, (x) => ({ ...x, verification: v }));
        refreshRow(cid);
      },
    });
    mount(detailPane, detail.el);
    split.classList.add('has-detail');
  }

  function closeCapture() {
    detail?.destroy?.();
    detail = null;
    openId = null;
    split.classList.remove('has-detail');
    mount(detailPane, placeholder);
    list.selectId(null);
  }

  function update(p) {
    if ((p.query ?? '') !== query) {
      queryToForm(p.query ?? '', f);
      applyFilters({ closeUnmatched: false });
    }
    if (p.capture) openCapture(p.capture, p.tab);
    else closeCapture();
  }

  // Subscribe before the first page, so nothing stored in between is missed (duplicates are
  // dropped by id).
  queryToForm(params.query ?? '', f);
  filter = readFilter(f);
  query = formToQuery(f);
  syncHash();
  if (query) filters.querySelector('.more-filters').open = Boolean(f.header.value || f.from.value || f.until.value);
  subscribe();
  loadPage({ reset: true });
  update({ ...params, query });

  return {
    el,
    update,
    keepFocus: false,
    keydown(e) {
      if (e.key === 'j' || e.key === 'k') {
        list.move(e.key === 'j' ? 1 : -1);
        return true;
      }
      if (e.key === '/') {
        body.focus();
        body.select();
        return true;
      }
      if (e.key === 'Escape' && openId) {
        go(href('e', ep.id) + currentQuery());
        list.focus();
        return true;
      }
      return false;
    },
    destroy() {
      alive = false;
      stopChanges();
      stopSchema();
      bulk?.destroy();
      testDialog?.destroy();
      pendingOpen = null;
      generation += 1;
      unsubscribe?.();
      detail?.destroy?.();
    },
  };
}
