// Replay: send the capture to a target (as captured, or edited, optionally re-signed), watch
// the attempts live, and compare two attempts' responses side by side.

import { h, mount, field, id, details, copyButton, prose, timeEl } from '../dom.js';
import { onSubmit, formAlert, parseHeaderLines, headerLines } from '../forms.js';
import { formatTime, base64ToBytes, utf8OrNull, hexLines, sentence, plural } from '../format.js';
import * as Q from '../queries.js';

const STATE_LABEL = { PENDING: 'Pending', SUCCEEDED: 'Succeeded', DEAD_LETTERED: 'Dead-lettered', CANCELLED: 'Cancelled' };

/**
 * The attempts of a delivery and what they came to, as one phrase: "1 attempt · delivered",
 * "3 of 8 attempts · retrying, next at …", "8 of 8 attempts · gave up". The maximum is named only
 * while it still matters (retrying) or was reached; "1 attempt of 8" on a delivered replay read
 * as if seven more were coming. Returns an array of text and elements (the time is a <time>).
 */
export function attemptsSummary(d) {
  const n = d.attemptCount;
  const of = `${n} of ${plural(d.maxAttempts, 'attempt')}`;
  switch (d.state) {
    case 'SUCCEEDED':
      return [`${plural(n, 'attempt')} · delivered`];
    case 'DEAD_LETTERED':
      return [`${n >= d.maxAttempts ? of : plural(n, 'attempt')} · gave up`];
    case 'CANCELLED':
      return [`${plural(n, 'attempt')} · cancelled`];
    default:
      if (n === 0) return ['no attempt yet · sending'];
      return d.nextAttemptAt ? [`${of} · retrying, next at `, timeEl(d.nextAttemptAt, { ms: false })] : [`${of} · retrying`];
  }
}

/** Where the last replay target of an endpoint is remembered, for single and bulk replays. */
export function targetKey(ep) {
  return `hookmetry.replayTarget.${ep.id}`;
}

function responseBody(a) {
  if (a.responseBodyText != null) return h('pre', { class: 'code wrap response-body', tabindex: 0 }, a.responseBodyText || '(empty body)');
  const bytes = base64ToBytes(a.responseBodyBase64);
  return h('pre', { class: 'code hex', tabindex: 0 }, hexLines(bytes, 0, Math.min(bytes.length, 4096)).join('\n'));
}

function attemptResult(a) {
  if (a.succeeded) return h('span', { class: 'ok-text' }, 'Succeeded');
  return h('span', { class: 'error-text' }, a.errorMessage ? sentence(a.errorMessage) : (a.error || 'Failed'));
}

function attemptsTable(d) {
  if (!d.attempts.length) {
    return h('p', { class: 'hint' }, d.state === 'PENDING' ? 'Waiting for the first attempt…' : 'No attempt was made.');
  }
  return h(
    'table',
    { class: 'attempts' },
    h('caption', { class: 'visually-hidden' }, 'Attempts, first first'),
    h('thead', null, h('tr', null, ['#', 'Started', 'Status', 'Latency', 'Result'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, d.attempts.map((a) => [
      h('tr', { dataset: { attempt: a.number } },
        h('td', null, a.number),
        h('td', null, timeEl(a.startedAt)),
        h('td', { class: 'attempt-status' }, a.responseStatus ?? '—'),
        h('td', { class: 'attempt-latency' }, `${a.latencyMs} ms`),
        h('td', null, attemptResult(a))),
      h('tr', { class: 'attempt-response' },
        h('td', { colspan: 5 },
          details(`Response of attempt ${a.number}${a.responseTruncated ? ' (truncated)' : ''}`, h('div', null,
            a.responseHeaders.length
              ? h('table', { class: 'kv' }, h('caption', { class: 'visually-hidden' }, 'Response headers'),
                h('tbody', null, a.responseHeaders.map((x) => h('tr', null, h('th', { scope: 'row' }, x.name), h('td', null, x.value)))))
              : h('p', { class: 'hint' }, 'No response headers.'),
            responseBody(a))))),
    ])),
  );
}

function deliveryCard(d, { canEdit, onCancel }) {
  return h(
    'section',
    { class: 'delivery', dataset: { id: d.id, state: d.state }, 'aria-label': `Delivery to ${d.target}` },
    h('header', { class: 'delivery-head' },
      h('span', { class: `badge d-${d.state.toLowerCase().replace('_', '-')}` }, STATE_LABEL[d.state] || d.state),
      h('code', { class: 'delivery-target' }, `${d.method} ${d.target}`),
      d.edited ? h('span', { class: 'tag' }, 'edited') : null,
      d.resigned ? h('span', { class: 'tag' }, 're-signed') : null,
      h('span', { class: 'hint' }, `${d.origin} · `, timeEl(d.createdAt, { ms: false }), ' · ', h('span', { class: 'delivery-attempts' }, attemptsSummary(d))),
      canEdit && d.state === 'PENDING' ? h('button', { type: 'button', class: 'btn small ghost', onclick: () => onCancel(d) }, 'Cancel') : null),
    attemptsTable(d),
  );
}

/** Side-by-side rows from a unified line diff: removed lines pair with the added ones after them. */
function sideBySide(lines) {
  const rows = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].change === 'SAME') {
      rows.push([lines[i], lines[i]]);
      i += 1;
      continue;
    }
    const removed = [];
    const added = [];
    while (i < lines.length && lines[i].change === 'REMOVED') removed.push(lines[i++]);
    while (i < lines.length && (lines[i].change === 'ADDED' || lines[i].change === 'CHANGED')) added.push(lines[i++]);
    if (!removed.length && !added.length) {
      rows.push([lines[i], lines[i]]);
      i += 1;
      continue;
    }
    for (let k = 0; k < Math.max(removed.length, added.length); k += 1) rows.push([removed[k] || null, added[k] || null]);
  }
  return rows;
}

function comparisonView(cmp) {
  const { before, after } = cmp;
  const cell = (line, side) => {
    if (!line) return h('td', { class: 'diff-empty' }, '');
    const change = line.change === 'SAME' ? 'same' : side === 'before' ? 'removed' : 'added';
    const mark = change === 'same' ? ' ' : change === 'removed' ? '−' : '+';
    return h('td', { class: `diff-${change}` }, h('span', { class: 'diff-mark', 'aria-label': change === 'same' ? '' : change }, mark), line.text);
  };
  const statusOf = (a) => `${a.responseStatus ?? 'no response'}${a.error ? ` (${a.error})` : ''}, ${a.latencyMs} ms`;
  return h(
    'div',
    { class: 'comparison' },
    h('table', { class: 'compare-summary' },
      h('caption', { class: 'visually-hidden' }, 'Status and latency'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, ''), h('th', { scope: 'col' }, `Before: attempt ${before.number}`), h('th', { scope: 'col' }, `After: attempt ${after.number}`))),
      h('tbody', null,
        h('tr', { class: cmp.statusChanged ? 'changed' : '' }, h('th', { scope: 'row' }, 'Status'), h('td', { class: 'cmp-before-status' }, statusOf(before)), h('td', { class: 'cmp-after-status' }, statusOf(after))),
        h('tr', null, h('th', { scope: 'row' }, 'Body'), h('td', { colspan: 2 }, cmp.bodyEqual ? 'Byte for byte equal.' : 'Different.')))),
    h('h4', null, 'Response headers'),
    h('table', { class: 'compare-headers kv' },
      h('thead', null, h('tr', null, ['Header', 'Change', 'Before', 'After'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, cmp.headers.map((x) => h('tr', { class: `chg-${x.change.toLowerCase()}` },
        h('th', { scope: 'row' }, x.name), h('td', null, x.change.toLowerCase()), h('td', null, x.before.join('\n')), h('td', null, x.after.join('\n')))))),
    h('h4', null, 'Response body'),
    cmp.bodyDiff
      ? h('table', { class: 'diff code' },
        h('caption', { class: 'visually-hidden' }, 'Body lines, before on the left, after on the right'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'After'))),
        h('tbody', null, sideBySide(cmp.bodyDiff).map(([l, r]) => h('tr', null, cell(l, 'before'), cell(r, 'after')))))
      : h('div', { class: 'diff-raw' },
        h('p', { class: 'hint' }, 'No line diff (a body is not text or is too long); both bodies as kept:'),
        h('div', { class: 'two-col' }, h('pre', { class: 'code wrap' }, before.responseBodyText ?? '(not text)'), h('pre', { class: 'code wrap' }, after.responseBodyText ?? '(not text)'))),
  );
}

export function replayPanel(state, ep, capture, { canEdit }) {
  let deliveries = capture.deliveries.slice();
  const list = h('div', { class: 'deliveries', 'aria-live': 'polite' });
  const compareArea = h('div', { class: 'compare' });
  const original = {
    method: capture.method,
    path: capture.query != null ? `${capture.path}?${capture.query}` : capture.path,
    headers: headerLines(capture.headers),
    body: utf8OrNull(base64ToBytes(capture.bodyBase64)),
  };

  // The form.
  let form = null;
  if (canEdit) {
    const target = h('input', { type: 'url', name: 'target', required: true, placeholder: 'http://localhost:3000/webhooks', value: localStorage.getItem(targetKey(ep)) || '', autocomplete: 'url', spellcheck: 'false' });
    const resign = h('input', { type: 'checkbox', name: 'resign', id: id('resign'), dataset: { field: 'resign' } });
    const resignError = h('p', { class: 'field-error', id: `${resign.id}-error`, hidden: true });
    const method = h('input', { type: 'text', name: 'method', value: original.method, spellcheck: 'false' });
    const path = h('input', { type: 'text', name: 'path', value: original.path, spellcheck: 'false' });
    const headers = h('textarea', { name: 'headers', rows: Math.min(12, capture.headers.length + 1), spellcheck: 'false', class: 'code' });
    headers.value = original.headers;
    const body = h('textarea', { name: 'body', rows: 8, spellcheck: 'false', class: 'code' });
    body.value = original.body ?? '';
    const replaceBinary = h('input', { type: 'checkbox', name: 'replaceBody' });
    const bodyField = field('Body', body, { field: 'edits.body', hint: original.body == null ? 'The captured body is binary and is sent as captured unless you replace it with text here.' : 'Left as it is, the captured bytes are sent. Once edited it is sent as UTF-8 text with LF line ends.' });
    if (original.body == null) {
      body.disabled = true;
      replaceBinary.addEventListener('change', () => { body.disabled = !replaceBinary.checked; });
    }
    const alert = formAlert();
    form = h(
      'form',
      { class: 'replay-form', 'aria-label': 'Replay this capture' },
      alert,
      field('Target URL', target, { field: 'target', hint: `The capture’s path and query (${original.path}) are appended to the target’s path.` }).wrap,
      h('div', { class: 'field' },
        h('label', { class: 'inline-check', for: resign.id }, resign, ' Re-sign with the endpoint’s current secret'),
        h('p', { class: 'hint' }, ep.verification ? `A fresh ${ep.verification.provider} signature replaces the captured one, so receivers that check timestamps accept it.` : 'Needs the endpoint’s signature settings (Settings → Signature verification).'),
        resignError),
      details('Edit before sending', h('div', { class: 'edit-grid' },
        field('Method', method, { field: 'edits.method' }).wrap,
        field('Path and query', path, { field: 'edits.path' }).wrap,
        field(prose('Headers (one `Name: value` per line; replaces all captured headers)'), headers, { field: 'edits.headers' }).wrap,
        original.body == null ? h('label', { class: 'inline-check' }, replaceBinary, ' Replace the binary body with text') : null,
        bodyField.wrap)),
      h('button', { type: 'submit', class: 'btn primary' }, 'Replay'),
    );
    onSubmit(form, async () => {
      const edits = {};
      if (method.value.trim() !== original.method) edits.method = method.value.trim();
      if (path.value !== original.path) edits.path = path.value;
      if (headers.value.trim() !== original.headers.trim()) edits.headers = parseHeaderLines(headers.value);
      // A textarea turns CR LF into LF: compare with the captured text as it would show, so an
      // untouched body is sent as the captured bytes, not re-typed.
      if (!body.disabled && body.value !== (original.body ?? '').replace(/\r\n?/g, '\n')) edits.body = body.value;
      if (original.body == null && replaceBinary.checked) edits.body = body.value;
      const input = { captureId: capture.id, target: target.value.trim(), resign: resign.checked };
      if (Object.keys(edits).length) input.edits = edits;
      const d = (await state.api.request(Q.REPLAY, { input })).replayCapture;
      localStorage.setItem(targetKey(ep), input.target);
      upsert(d);
    });
  }

  function upsert(d) {
    const i = deliveries.findIndex((x) => x.id === d.id);
    if (i >= 0) {
      // Updates can overtake each other; keep the one with more attempts or a later state.
      if (deliveries[i].attemptCount > d.attemptCount) return;
      deliveries[i] = d;
    } else deliveries.unshift(d);
    renderDeliveries();
  }

  async function cancel(d) {
    try {
      const r = (await state.api.request(Q.CANCEL_DELIVERY, { id: d.id })).cancelDelivery;
      upsert(r.delivery);
    } catch (e) {
      const card = list.querySelector(`[data-id="${CSS.escape(d.id)}"]`);
      card?.append(h('p', { class: 'form-alert', role: 'alert' }, sentence(e.message)));
    }
  }

  let userPicked = false;
  // A select cannot wrap, and an option names delivery, attempt, status, target and time, so
  // with a long target it is cut off just where two attempts differ. The chosen option is then
  // also written out in full under its select (and always in its title).
  const measure = document.createElement('canvas').getContext('2d');
  const fits = (sel, text) => {
    if (!sel.clientWidth) return false;
    const cs = getComputedStyle(sel);
    measure.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`;
    // The drop-down arrow takes about 20 px of the padding box.
    return measure.measureText(text).width <= sel.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 20;
  };
  const shown = (sel) => {
    const text = sel.selectedOptions[0]?.textContent ?? '';
    sel.title = text;
    const full = fullLines.get(sel);
    full.textContent = text;
    full.hidden = !text || fits(sel, text);
  };
  const picked = (e) => {
    userPicked = true;
    shown(e.target);
  };
  const beforeSel = h('select', { name: 'before', id: id('before'), onchange: picked });
  const afterSel = h('select', { name: 'after', id: id('after'), onchange: picked });
  // aria-hidden: a screen reader hears the whole option from the select itself.
  const fullLines = new Map([beforeSel, afterSel].map((sel) => [sel, h('p', { class: 'hint compare-full', 'aria-hidden': 'true', hidden: true })]));
  // Laid out only once the Replay tab shows, and again whenever the panel changes width.
  const resized = new ResizeObserver(() => {
    shown(beforeSel);
    shown(afterSel);
  });
  const compareResult = h('div', { class: 'compare-result' });
  const compareAlert = formAlert();
  const compareForm = h(
    'form',
    { class: 'compare-form', 'aria-label': 'Compare two attempts' },
    compareAlert,
    h('div', { class: 'field' }, h('label', { for: beforeSel.id }, 'Left (before)'), beforeSel, fullLines.get(beforeSel)),
    h('div', { class: 'field' }, h('label', { for: afterSel.id }, 'Right (after)'), afterSel, fullLines.get(afterSel)),
    h('button', { type: 'submit', class: 'btn' }, 'Compare responses'),
  );
  onSubmit(compareForm, async () => {
    const ref = (v) => {
      const [deliveryId, number] = v.split('|');
      return { deliveryId, number: Number(number) };
    };
    const d = await state.api.request(Q.COMPARE, { before: ref(beforeSel.value), after: ref(afterSel.value) });
    mount(compareResult, comparisonView(d.compareAttempts));
  });

  function renderDeliveries() {
    mount(list, deliveries.length
      ? deliveries.map((d) => deliveryCard(d, { canEdit, onCancel: cancel }))
      : h('p', { class: 'hint' }, 'Not replayed yet.'));
    const attempts = [];
    // Oldest first, so "before" defaults to the older one; deliveries are numbered in that order.
    deliveries.slice().reverse().forEach((d, k) => {
      for (const a of d.attempts) attempts.push({ d, k: k + 1, a, value: `${d.id}|${a.number}` });
    });
    // Which delivery and attempt first: that is what tells two options apart.
    const label = ({ d, k, a }) => `Delivery ${k}, attempt ${a.number} · ${a.responseStatus ?? a.error ?? 'no response'} · ${d.target} · ${formatTime(a.startedAt, { ms: false })}`;
    const keep = [beforeSel.value, afterSel.value];
    mount(beforeSel, attempts.map((x) => h('option', { value: x.value }, label(x))));
    mount(afterSel, attempts.map((x) => h('option', { value: x.value }, label(x))));
    if (attempts.length >= 2) {
      // Until the user picks, compare the two latest attempts.
      const has = (v) => attempts.some((x) => x.value === v);
      beforeSel.value = userPicked && has(keep[0]) ? keep[0] : attempts[attempts.length - 2].value;
      afterSel.value = userPicked && has(keep[1]) ? keep[1] : attempts[attempts.length - 1].value;
    }
    shown(beforeSel);
    shown(afterSel);
    compareForm.hidden = attempts.length < 2;
    compareNote.hidden = attempts.length >= 2;
  }
  const compareNote = h('p', { class: 'hint' }, 'Two attempts are needed to compare responses: replay again, for instance after changing your receiver.');
  mount(compareArea, h('h3', null, 'Compare responses'), compareNote, compareForm, compareResult);

  renderDeliveries();
  const unsubscribe = state.live.subscribe(Q.DELIVERY_UPDATED, { c: capture.id }, {
    next: (data) => upsert(data.deliveryUpdated),
    resync: async () => {
      try {
        const d = await state.api.request(Q.DELIVERIES_OF_CAPTURE, { id: capture.id });
        if (d.capture) {
          deliveries = d.capture.deliveries;
          renderDeliveries();
        }
      } catch {
        // the next update will do
      }
    },
  });

  const el = h(
    'div',
    { class: 'replay' },
    canEdit ? h('section', { 'aria-labelledby': 'replay-send' }, h('h3', { id: 'replay-send' }, 'Send this capture'), form)
      : h('p', { class: 'hint' }, 'Replaying needs the editor role; you can watch deliveries and compare attempts.'),
    h('section', { 'aria-labelledby': 'replay-deliveries' }, h('h3', { id: 'replay-deliveries' }, 'Deliveries'), list),
    h('section', null, compareArea),
    h('p', { class: 'hint' }, 'From a terminal: ', h('code', null, `hookmetry replay ${capture.id} --to <url>`), ' ', copyButton('Copy', `hookmetry replay ${capture.id} --to `)),
  );
  resized.observe(beforeSel);
  resized.observe(afterSel);
  return {
    el,
    destroy() {
      unsubscribe();
      resized.disconnect();
    },
  };
}
