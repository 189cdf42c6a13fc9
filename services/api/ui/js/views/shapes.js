// Settings → Event shapes: the JSON shape the processor learned for each event type of the
// endpoint (docs/schema-drift.md), one type's fields, and its JSON Schema to download or copy.
// Types and field paths come from whoever holds the capture URL, so they only ever become text.

import { h, mount, id, timeEl, copyButton, download } from '../dom.js';
import { href } from '../router.js';
import { plural, sentence } from '../format.js';
import * as Q from '../queries.js';

/** The address of the section with `type` selected: the capture's Event section links here. */
export function shapeHref(endpointId, type) {
  return `${href('e', endpointId, 'settings')}?${new URLSearchParams({ shape: type })}`;
}

/** The selected type named by a settings route's query, or null. */
export function shapeFromQuery(query) {
  return new URLSearchParams(query || '').get('shape');
}

/**
 * A file name part from a name anyone may have chosen: characters a file system or a shell
 * could take for something else become `_`, and it stays short enough for every system.
 */
function safeName(s) {
  return String(s).replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_').slice(0, 100) || '_';
}

export function schemaFilename(endpointName, type) {
  return `${safeName(endpointName)}-${safeName(type)}.schema.json`;
}

function typesText(list) {
  return list.length ? list.join(' | ') : '–';
}

/**
 * How often a field was there. A path ending in `[]` is an array's elements: the API never calls
 * them required (an empty array is fine), and counts the samples in which the array had any.
 */
function presence(f) {
  if (f.path.endsWith('[]')) return `elements (in ${f.present} of ${f.parentPresent})`;
  return f.required ? 'required' : `optional (present in ${f.present} of ${f.parentPresent})`;
}

/**
 * The section. `selected` is the type the address names; `onSelect(type)` keeps the address in
 * step when the user picks another. Returns {el, select}.
 */
export function shapesSection(state, ep, { selected = null, onSelect } = {}) {
  const hid = id('sec');
  const list = h('div', { class: 'shape-types' }, h('p', { class: 'hint' }, 'Loading event shapes…'));
  const detail = h('div', { class: 'shape-detail', 'aria-live': 'polite' });
  const el = h('section', { class: 'settings-section card wide event-shapes', 'aria-labelledby': hid },
    h('h2', { id: hid, tabindex: -1 }, 'Event shapes'),
    h('p', { class: 'hint' }, 'The JSON shape learned from the bodies of each event type: every field, its types, and whether it was always there. A capture that adds, drops or retypes a field is marked “schema changed”.'),
    list, detail);

  let shapes = null;
  let current = selected;
  // Only the latest selection may fill the detail (a slow answer must not replace a newer one).
  let seq = 0;

  function renderList() {
    if (!shapes.length) {
      mount(list, h('p', { class: 'shape-empty' }, 'No event shape is learned yet. Shapes are learned from captures that name an event type and have a JSON body.'));
      return;
    }
    mount(list, h('table', { class: 'kv shape-list' },
      h('caption', { class: 'visually-hidden' }, 'Event types with a learned shape, most recently updated first'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Event type'), h('th', { scope: 'col' }, 'Samples'), h('th', { scope: 'col' }, 'Updated'))),
      h('tbody', null, shapes.map((s) => h('tr', { dataset: { type: s.eventType }, class: s.eventType === current ? 'selected' : null },
        h('th', { scope: 'row' }, h('button', {
          type: 'button',
          class: 'btn small ghost shape-pick',
          'aria-current': s.eventType === current ? 'true' : null,
          onclick: () => select(s.eventType, { user: true }),
        }, s.eventType), s.truncated ? h('span', { class: 'tag', title: 'More than 1,024 fields: the rest are not tracked' }, 'truncated') : null),
        h('td', { class: 'shape-samples' }, String(s.samples)),
        h('td', null, timeEl(s.updatedAt, { ms: false })))))));
  }

  async function schemaOf(type) {
    const r = await state.api.request(Q.EVENT_SHAPE_SCHEMA, { id: ep.id, type });
    const s = r.endpoint?.eventShape;
    if (!s?.jsonSchema) throw new Error(`No shape is learned for ${type}.`);
    return `${JSON.stringify(s.jsonSchema, null, 2)}\n`;
  }

  function renderDetail(s) {
    const status = h('span', { class: 'copy-status', role: 'status' });
    const dl = h('button', { type: 'button', class: 'btn small', onclick: async () => {
      status.textContent = '';
      try {
        download(schemaFilename(ep.name, s.eventType), await schemaOf(s.eventType), 'application/schema+json');
      } catch (e) {
        status.textContent = sentence(e.message);
      }
    } }, 'Download JSON Schema');
    const did = id('shape');
    mount(detail, h('div', { class: 'shape-fields-wrap', dataset: { type: s.eventType } },
      h('h3', { id: did, tabindex: -1 }, 'Fields of ', h('code', null, s.eventType)),
      h('p', { class: 'hint shape-summary' }, `Learned from ${plural(s.samples, 'capture')}, last on `, timeEl(s.updatedAt, { ms: false }), '.'),
      s.truncated ? h('p', { class: 'hint warn shape-truncated' }, 'More than 1,024 fields: the rest are not tracked.') : null,
      h('div', { class: 'toolbar' }, dl, copyButton('Copy JSON Schema', () => schemaOf(s.eventType)), status),
      // A plain table: about 540 paths for GitHub's pull_request, which a browser lays out at once.
      h('table', { class: 'kv shape-fields', 'aria-labelledby': did },
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Types'), h('th', { scope: 'col' }, 'Presence'))),
        h('tbody', null, s.fields.map((f) => h('tr', { dataset: { path: f.path }, class: f.required ? 'required' : null },
          h('th', { scope: 'row' }, f.path),
          h('td', null, typesText(f.types)),
          h('td', { class: 'shape-presence' }, presence(f))))))));
  }

  /** Shows `type`'s fields; `user` when picked here (the address follows, focus stays put). */
  async function select(type, { user = false, focus = false } = {}) {
    current = type;
    const mine = ++seq;
    if (shapes) renderList();
    if (user) onSelect?.(type);
    if (type == null) {
      mount(detail);
      return;
    }
    mount(detail, h('p', { class: 'hint' }, 'Loading fields…'));
    try {
      const s = (await state.api.request(Q.EVENT_SHAPE, { id: ep.id, type })).endpoint?.eventShape;
      if (mine !== seq) return;
      if (!s) {
        mount(detail, h('p', { class: 'hint shape-missing' }, 'No shape is learned for ', h('code', null, type), ' on this endpoint.'));
        return;
      }
      renderDetail(s);
      if (focus) {
        el.scrollIntoView({ block: 'start' });
        detail.querySelector('h3').focus({ preventScroll: true });
      }
    } catch (e) {
      if (mine === seq) mount(detail, h('p', { role: 'alert', class: 'error-text' }, sentence(e.message)));
    }
  }

  state.api.request(Q.EVENT_SHAPES, { id: ep.id }).then((r) => {
    // Most recently updated first: the type a provider just changed is the one being looked at.
    // RFC 3339 strings with varying fractions do not sort as text; then by type, for a stable order.
    shapes = (r.endpoint?.eventShapes ?? []).slice().sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt) || (a.eventType < b.eventType ? -1 : 1));
    renderList();
  }).catch((e) => mount(list, h('p', { role: 'alert', class: 'error-text' }, sentence(e.message))));
  if (current != null) select(current, { focus: true });

  return { el, select: (type) => select(type, { focus: true }) };
}
