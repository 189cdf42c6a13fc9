// What the provider says about a capture's event (docs/events.md): the type tag, redelivery and
// ordering badges of a list row, and the Event section of the capture detail. Ids, types and
// resources come from whoever holds the capture URL, so they only ever become text.

import { h, timeEl, details } from '../dom.js';
import { href, currentQuery } from '../router.js';
import { ago } from '../format.js';
import { shapeHref } from './shapes.js';

/** RedeliveryKind → its word, lower case like the verdict words. */
const KINDS = { FIRST: 'first', RETRY: 'retry', DUPLICATE: 'duplicate' };

export function kindWord(kind) {
  return KINDS[kind] || String(kind).toLowerCase();
}

/**
 * The API's `eventType` filter test, for captures that arrive live: exact, or `*` standing for
 * any run of characters. Greedy matching with one backtrack point keeps it linear, as the
 * server's matcher is, whatever the pattern.
 */
export function typeMatches(pattern, type) {
  if (type == null) return false;
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < type.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === type[t]) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p;
      mark = t;
      p += 1;
    } else if (star >= 0) {
      p = star + 1;
      mark += 1;
      t = mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p += 1;
  return p === pattern.length;
}

/** "45 s", "1 min 30 s", "2 h 5 min", "3 d 4 h": a gap between two event times. */
export function formatGap(seconds) {
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return `${s} s`;
  const parts = [];
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) parts.push(`${d} d`);
  if (hr) parts.push(`${hr} h`);
  if (min && !d) parts.push(`${min} min`);
  if (sec && !d && !hr) parts.push(`${sec} s`);
  return parts.join(' ');
}

/**
 * The row's event type, clickable to filter by it. A span rather than a button: the row is a
 * listbox option, which may not hold focusable controls; the filter field does the same from
 * the keyboard.
 */
export function typeTag(type, onPick) {
  if (!type) return null;
  return h('span', {
    class: 'ev-type',
    title: `Event type ${type}: click to list only these`,
    dataset: { type },
    onclick: (e) => {
      // The row would open the capture; the tag only sets the filter.
      e.stopPropagation();
      onPick?.(type);
    },
  }, type);
}

/** `×N` when the event reached this endpoint more than once; the title says what this one is. */
export function redeliveryBadge(r) {
  if (!r || r.count <= 1) return null;
  const word = kindWord(r.kind);
  return h('span', {
    class: ['ev-badge', 'redelivered', `k-${word}`],
    title: `${word}: the event was received ${r.count} times`,
    dataset: { kind: r.kind },
  }, h('span', { class: 'count' }, `×${r.count}`), h('span', { class: 'visually-hidden' }, ` deliveries, this one ${r.kind === 'FIRST' ? 'the first' : `a ${word}`}`));
}

/** SchemaChangeKind → words: what the capture's body did to its type's shape. */
const CHANGES = { ADDED: 'added', REMOVED: 'removed', RETYPED: 'retyped', MIXED: 'mixed' };
export function changeWord(kind) {
  return CHANGES[kind] || String(kind).toLowerCase();
}

/** `schema changed` when the body added, dropped or retyped a field of its event type's shape. */
export function schemaBadge(s) {
  if (!s) return null;
  return h('span', {
    class: ['ev-badge', 'schema-changed'],
    title: `The body's shape changed from earlier events of this type: fields ${changeWord(s.kind)}`,
    dataset: { kind: s.kind },
  }, 'schema changed');
}

export function orderBadge(o) {
  if (!o?.outOfOrder) return null;
  return h('span', { class: ['ev-badge', 'out-of-order'], title: 'A newer event about the same resource arrived before this one' }, 'out of order');
}

function item(label, value, cls) {
  if (value == null || value === '') return null;
  return h('div', { class: cls }, h('dt', null, label), h('dd', null, value));
}

function answered(m) {
  if (m.answeredStatus == null) return 'answer not recorded';
  return m.answeredDelayMs ? `answered ${m.answeredStatus} after ${m.answeredDelayMs} ms` : `answered ${m.answeredStatus}`;
}

function redeliveryBlock(r, ep, selfId) {
  if (!r) return null;
  const word = kindWord(r.kind);
  // The reason continues the line after a colon, so it keeps the API's lower case.
  const reason = /[.!?)]$/.test(r.reason) ? r.reason : `${r.reason}.`;
  return h('div', { class: 'ev-group' },
    h('p', { class: 'ev-group-line' },
      r.count === 1
        ? h('strong', null, 'Received once.')
        : [h('strong', null, `Delivery ${r.position} of ${r.count}`), ` · ${word}: `, h('span', { class: 'ev-reason' }, reason)]),
    // A long group is folded: the body stays above the fold (docs/ui.md, "Body first").
    r.count > 1
      ? details(`The ${r.count} captures of this event, oldest first`, h('ol', { class: 'ev-members' }, r.captures.map((m) => {
        const self = m.captureId === selfId;
        const what = [timeEl(m.receivedAt), ` · ${answered(m)}`, m.attempt != null ? ` · attempt ${m.attempt}` : null];
        return h('li', { dataset: { captureId: m.captureId } },
          self
            ? h('span', { 'aria-current': 'true' }, what, h('span', { class: 'hint' }, ' (this one)'))
            : h('a', { href: href('e', ep.id, 'c', m.captureId) + currentQuery() }, what));
      }),
      r.count > r.captures.length ? h('li', { class: 'hint' }, `and ${r.count - r.captures.length} more`) : null), { open: r.count <= 3, class: 'ev-members-fold' })
      : null);
}

/** "Looks like Stripe's 3rd retry (Stripe retries after ~4h; this came 2s after the previous)." */
function retryGuessLine(g) {
  if (!g) return null;
  return h('p', { class: 'ev-retry-guess', dataset: { fits: String(g.fitsSchedule) } },
    `Looks like ${g.label} (${g.explanation}).`);
}

function orderingLine(o, ep) {
  if (!o) return null;
  if (!o.outOfOrder) return h('p', { class: 'ev-order', dataset: { outOfOrder: 'false' } }, 'In order: no newer event about ', h('code', null, o.resource), ' had arrived before it.');
  return h('p', { class: 'ev-order', dataset: { outOfOrder: 'true' } },
    h('span', { class: ['ev-badge', 'out-of-order'] }, 'out of order'), ' ',
    o.gapSeconds != null ? `Created ${formatGap(o.gapSeconds)} before` : 'Older than',
    ' an event about ', h('code', null, o.resource), ' that arrived first',
    o.newerCaptureId ? [' — ', h('a', { href: href('e', ep.id, 'c', o.newerCaptureId) + currentQuery() }, `capture ${o.newerCaptureId}`)] : null,
    '.');
}

/** Types at a path as the API lists them; `–` for none (the field was absent). */
function types(list) {
  return list.length ? list.join(' | ') : '–';
}

function schemaBlock(s, type, ep) {
  if (!s) return null;
  return h('div', { class: 'ev-schema' },
    h('p', { class: 'ev-schema-line' },
      h('span', { class: ['ev-badge', 'schema-changed'] }, 'schema changed'), ' ',
      `Fields ${changeWord(s.kind)} compared with earlier events of this type:`),
    h('table', { class: 'kv ev-schema-fields' },
      h('caption', { class: 'visually-hidden' }, 'Changed fields, with their types before and in this capture'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Change'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'Now'))),
      h('tbody', null, s.fields.map((f) => h('tr', { dataset: { path: f.path } },
        // The body itself is the empty path.
        h('th', { scope: 'row' }, f.path === '' ? '(the body)' : f.path),
        h('td', null, changeWord(f.kind)),
        h('td', null, types(f.before)),
        h('td', null, types(f.after)))))),
    s.more ? h('p', { class: 'hint' }, `and ${s.more} more changed ${s.more === 1 ? 'field' : 'fields'}`) : null,
    // The whole shape as learned so far, under Settings → Event shapes with this type selected.
    type ? h('p', { class: 'ev-schema-shape' }, h('a', { href: shapeHref(ep.id, type) }, 'See the shape of ', h('code', null, type))) : null);
}

/** The detail's Event section; null when the capture names no event (nothing to say). */
export function eventSection(c, ep) {
  const e = c.event;
  if (!e && !c.redeliveries && !c.ordering && !c.schemaChange) return null;
  return h('section', { class: 'capture-event', 'aria-labelledby': `ev-${c.id}` },
    h('h3', { id: `ev-${c.id}` }, 'Event'),
    e ? h('dl', { class: 'capture-meta ev-fields' },
      item('Type', e.type ? h('code', null, e.type) : null, 'ev-f-type'),
      item('Id', e.id ? h('code', null, e.id) : null, 'ev-f-id'),
      item('Created', e.createdAt ? [timeEl(e.createdAt, { ms: false }), h('span', { class: 'hint ev-ago' }, ` (${ago(e.createdAt)})`)] : null, 'ev-f-created'),
      item('Attempt', e.attempt, 'ev-f-attempt'),
      item('Retry reason', e.retryReason ? h('code', null, e.retryReason) : null, 'ev-f-retry'),
      item('Resource', e.resource ? h('code', null, e.resource) : null, 'ev-f-resource')) : null,
    redeliveryBlock(c.redeliveries, ep, c.id),
    retryGuessLine(c.retryGuess),
    orderingLine(c.ordering, ep),
    schemaBlock(c.schemaChange, e?.type, ep));
}
