// Bulk replay: every capture the list's filters match (newest first, up to a limit) sent to one
// target with `replayCaptures`, then followed live as one tally of delivery states. Before it is
// sent the dialog says how many captures that is.

import { h, field, id, mount } from '../dom.js';
import { onSubmit, formAlert } from '../forms.js';
import { plural } from '../format.js';
import { targetKey } from './replay.js';
import * as Q from '../queries.js';

const MAX = 1000;
const STATES = [
  ['SUCCEEDED', 'succeeded'],
  ['PENDING', 'pending or retrying'],
  ['DEAD_LETTERED', 'dead-lettered'],
  ['CANCELLED', 'cancelled'],
];
const FINAL = new Set(['SUCCEEDED', 'DEAD_LETTERED', 'CANCELLED']);
// Ids per refresh query: 50 aliased `delivery` fields stay far below the API's complexity limit.
const CHUNK = 50;

/** Whether `next` says more than `prev` about one delivery: states only move forward. */
function newer(prev, next) {
  if (!prev) return true;
  if (FINAL.has(prev.state)) return false;
  return FINAL.has(next.state) || next.attemptCount >= prev.attemptCount;
}

// The captures connection has no total, so the dialog counts the matching ids, a page at a
// time. At most MAX are ever sent, so counting stops there: with the limit at most MAX, the
// number sent is exact either way.
const COUNT_PAGE = 100;
const COUNT_IDS = `query($e: ID!, $first: Int, $after: String, $filter: CaptureFilter) {
  captures(endpointId: $e, first: $first, after: $after, filter: $filter) { edges { node { id } } pageInfo { hasNextPage endCursor } }
}`;

/** How many captures match `filter`, counting up to MAX: `{ count, more }`. */
async function countMatching(state, ep, filter) {
  let count = 0;
  let after = null;
  for (;;) {
    const d = (await state.api.request(COUNT_IDS, { e: ep.id, first: COUNT_PAGE, after, filter: Object.keys(filter).length ? filter : null })).captures;
    count += d.edges.length;
    if (!d.pageInfo.hasNextPage) return { count, more: false };
    if (count >= MAX) return { count, more: true };
    after = d.pageInfo.endCursor;
  }
}

/** One query for the state of many deliveries, by aliases. */
function statesQuery(ids) {
  const vars = ids.map((_, i) => `$i${i}: ID!`).join(', ');
  const fields = ids.map((_, i) => `d${i}: delivery(id: $i${i}) { id state attemptCount }`).join(' ');
  return [`query(${vars}) { ${fields} }`, Object.fromEntries(ids.map((x, i) => [`i${i}`, x]))];
}

/**
 * The dialog. `getFilter()` is the list's current API filter and `describe()` says it in words;
 * the dialog reads both when it opens, so it replays what the list shows.
 */
export function bulkReplayDialog(state, ep, { getFilter, describe }) {
  const target = h('input', { type: 'url', name: 'target', required: true, placeholder: 'http://localhost:3000/webhooks', autocomplete: 'url', spellcheck: 'false', value: localStorage.getItem(targetKey(ep)) || '' });
  const limit = h('input', { type: 'number', name: 'limit', min: 1, max: MAX, value: 100, required: true });
  const resign = h('input', { type: 'checkbox', name: 'resign', id: id('bulk-resign'), dataset: { field: 'resign' } });
  const resignError = h('p', { class: 'field-error', id: `${resign.id}-error`, hidden: true });
  const scope = h('p', { class: 'bulk-scope' });
  // "Send 37 captures to …": what the Send button will do, kept in step with the target and
  // the limit.
  const summary = h('p', { class: 'bulk-summary', 'aria-live': 'polite' });
  const send = h('button', { type: 'submit', class: 'btn primary', disabled: true }, 'Send');
  let matched = null; // { count, more } once counted
  const result = h('div', { class: 'bulk-result', role: 'status', 'aria-live': 'polite' });
  const alert = formAlert();
  const form = h(
    'form',
    { class: 'bulk-form', 'aria-label': 'Replay the matching captures' },
    alert,
    scope,
    summary,
    field('Target URL', target, { field: 'target', hint: 'Each capture’s path and query are appended to the target’s path.' }).wrap,
    field('At most this many captures, newest first', limit, { field: 'limit', hint: `1 to ${MAX}.` }).wrap,
    h('div', { class: 'field' },
      h('label', { class: 'inline-check', for: resign.id }, resign, ' Re-sign each with the endpoint’s current secret'),
      resignError),
    h('div', { class: 'dialog-actions' },
      send,
      h('button', { type: 'button', class: 'btn ghost', onclick: () => dialog.close() }, 'Close')),
  );
  const dialog = h('dialog', { class: 'bulk-replay', 'aria-labelledby': 'bulk-title' },
    h('h2', { id: 'bulk-title' }, 'Replay matching captures'), form, result);

  // Deliveries of the last run, by id, as last seen; `run` tells a newer run from a stale one.
  let latest = new Map();
  let ours = [];
  let hasMore = false;
  let sentTo = '';
  let run = 0;
  let unsubscribe = null;

  function toSend() {
    const n = Number(limit.value);
    return Math.min(matched.count, Number.isInteger(n) && n > 0 ? n : 0);
  }

  function renderSummary() {
    if (!matched) {
      summary.textContent = 'Counting the matching captures…';
      send.disabled = true;
      send.textContent = 'Send';
      return;
    }
    const n = toSend();
    const where = target.value.trim() || 'the target URL';
    const matchedWords = matched.more ? `More than ${plural(MAX, 'capture')} match` : `${plural(matched.count, 'capture')} ${matched.count === 1 ? 'matches' : 'match'}`;
    summary.textContent = matched.count === 0
      ? 'No capture matches: there is nothing to send.'
      : `${matchedWords}. Send ${plural(n, 'capture')} to ${where}${n < matched.count ? ` (the newest ${n}, the limit)` : ''}.`;
    send.disabled = n === 0;
    send.textContent = n === 0 ? 'Send' : `Send ${plural(n, 'capture')}`;
  }
  target.addEventListener('input', renderSummary);
  limit.addEventListener('input', renderSummary);

  async function count() {
    matched = null;
    renderSummary();
    const mine = run;
    try {
      const m = await countMatching(state, ep, getFilter());
      if (mine !== run) return;
      matched = m;
      renderSummary();
    } catch (e) {
      if (mine !== run) return;
      // Sending does not need the count; say that it is unknown and let it go ahead.
      summary.textContent = `The matching captures could not be counted (${e.message}). Send replays up to the limit.`;
      send.disabled = false;
      send.textContent = 'Send';
    }
  }

  function render() {
    if (!ours.length) {
      mount(result, run ? h('p', null, 'No capture matches the filters: nothing was replayed.') : null);
      return;
    }
    const counts = Object.fromEntries(STATES.map(([s]) => [s, 0]));
    for (const d of ours) counts[latest.get(d)?.state ?? 'PENDING'] += 1;
    const done = ours.length - counts.PENDING;
    mount(result,
      h('p', { class: 'bulk-total' }, `${plural(ours.length, 'capture')} replayed to `, h('code', null, sentTo), done === ours.length ? ': all finished.' : `: ${done} finished.`),
      h('ul', { class: 'bulk-tally' }, STATES.map(([s, label]) => h('li', { dataset: { state: s } }, h('span', { class: 'count' }, String(counts[s])), ` ${label}`))),
      hasMore ? h('p', { class: 'hint' }, `More captures matched than the limit: only the newest ${ours.length} were replayed. Raise the limit or narrow the filters.`) : null,
      h('p', { class: 'hint' }, 'Each replay, with its attempts, is also on its capture’s Replay tab.'));
  }

  function take(d) {
    if (newer(latest.get(d.id), d)) latest.set(d.id, d);
  }

  async function refresh(ids, mine) {
    for (let i = 0; i < ids.length; i += CHUNK) {
      const [query, vars] = statesQuery(ids.slice(i, i + CHUNK));
      const d = await state.api.request(query, vars);
      if (mine !== run) return;
      Object.values(d).forEach((x) => x && take(x));
      render();
    }
  }

  function follow() {
    unsubscribe?.();
    unsubscribe = state.live.subscribe(Q.ENDPOINT_DELIVERY_UPDATED, { e: ep.id }, {
      next: (d) => {
        take(d.deliveryUpdated);
        if (ours.includes(d.deliveryUpdated.id)) render();
      },
      // After a reconnect, what changed meanwhile is read back.
      resync: () => refresh(ours, run).catch(() => {}),
      error: () => {},
    });
  }

  onSubmit(form, async () => {
    const mine = ++run;
    // Listen before sending, so no change is missed; the refresh below covers the time the
    // subscription took to start.
    latest = new Map();
    ours = [];
    follow();
    const input = { endpointId: ep.id, target: target.value.trim(), limit: Number(limit.value), resign: resign.checked };
    const filter = getFilter();
    if (Object.keys(filter).length) input.filter = filter;
    const r = (await state.api.request(Q.REPLAY_CAPTURES, { input })).replayCaptures;
    if (mine !== run) return;
    localStorage.setItem(targetKey(ep), input.target);
    r.deliveries.forEach(take);
    ours = r.deliveries.map((d) => d.id);
    hasMore = r.hasMore;
    sentTo = input.target;
    render();
    await refresh(ours, mine);
  });

  dialog.addEventListener('close', () => {
    unsubscribe?.();
    unsubscribe = null;
  });

  return {
    el: dialog,
    open() {
      const words = describe();
      scope.textContent = words ? `Captures matching the list’s filters (${words}).` : 'Every capture of this endpoint (no filter is set).';
      dialog.showModal();
      target.focus();
      count();
    },
    destroy() {
      run += 1;
      unsubscribe?.();
      unsubscribe = null;
      if (dialog.open) dialog.close();
    },
  };
}
