// One capture: the body viewer first, then headers as received, query parameters and the
// request's metadata; the signature check, exports (cURL, raw body, HAR) and the replay panel.

import { h, mount, tabs, copyButton, download, prose, timeEl } from '../dom.js';
import { href, currentQuery } from '../router.js';
import { formatBytes, base64ToBytes, utf8OrNull, parseForm, sentence } from '../format.js';
import { bodyView } from '../body-view.js';
import { replayPanel } from './replay.js';
import { verdictBadge, verificationPanel } from './verdict.js';
import { eventSection } from './event.js';
import { answerLine } from './answer.js';
import * as Q from '../queries.js';

function headersTable(headers) {
  const counts = new Map();
  for (const x of headers) counts.set(x.name.toLowerCase(), (counts.get(x.name.toLowerCase()) || 0) + 1);
  const seen = new Map();
  return h(
    'table',
    { class: 'kv headers' },
    h('caption', { class: 'visually-hidden' }, 'Headers in the order they arrived'),
    h('thead', null, h('tr', null, h('th', { scope: 'col', class: 'num' }, '#'), h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, headers.map((x, i) => {
      const key = x.name.toLowerCase();
      const n = counts.get(key);
      seen.set(key, (seen.get(key) || 0) + 1);
      const bytes = base64ToBytes(x.valueBase64);
      const nonUtf8 = utf8OrNull(bytes) == null;
      return h(
        'tr',
        null,
        h('td', { class: 'num' }, i + 1),
        h('th', { scope: 'row' }, x.name, n > 1 ? h('span', { class: 'tag', title: `This header arrived ${n} times` }, ` ${seen.get(key)}/${n}`) : null),
        h('td', { class: 'value' }, x.value, nonUtf8 ? h('span', { class: 'hint' }, ` (not UTF-8; bytes: ${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')})`) : null),
      );
    })),
  );
}

function queryTable(query) {
  const params = parseForm(query);
  return h(
    'div',
    null,
    h('p', null, h('code', { class: 'raw-query' }, `?${query}`)),
    params.length
      ? h('table', { class: 'kv' },
        h('caption', { class: 'visually-hidden' }, 'Query parameters, decoded, in order'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
        h('tbody', null, params.map((p) => h('tr', null, h('th', { scope: 'row' }, p.name), h('td', null, p.value == null ? h('em', null, '(no value)') : p.value)))))
      : null,
  );
}

function harFile(entry) {
  return JSON.stringify({ log: { version: '1.2', creator: { name: 'Hookmetry', version: '1' }, entries: [entry] } }, null, 2);
}

export function captureDetail(state, ep, captureId, { tab, canEdit, onClose, onDeleted, onVerification }) {
  const root = h('article', { class: 'capture', tabindex: -1, 'aria-busy': 'true' }, h('p', { class: 'loading' }, 'Loading capture…'));
  let destroyed = false;
  let tabset = null;
  let replay = null;
  let pollTimer = 0;
  // The capture on screen, for in-place updates of what other views change.
  let shown = null;

  async function load() {
    let c;
    try {
      c = (await state.api.request(Q.CAPTURE, { id: captureId })).capture;
    } catch (e) {
      if (!destroyed) mount(root, h('p', { class: 'form-alert', role: 'alert' }, sentence(e.message)));
      return;
    }
    if (destroyed) return;
    root.removeAttribute('aria-busy');
    if (!c) {
      mount(root, h('p', { role: 'alert' }, 'This capture does not exist any more: it was deleted or expired.'), h('button', { type: 'button', class: 'btn', onclick: onClose }, 'Back to the list'));
      return;
    }
    render(c);
    if (!c.verification) pollVerification(c, 0);
  }

  function pollVerification(c, n) {
    if (destroyed || n > 40) return;
    pollTimer = setTimeout(async () => {
      try {
        const v = (await state.api.request(Q.VERIFICATION, { id: c.id })).capture?.verification;
        if (v && !destroyed) {
          c.verification = v;
          // The event is read in the same check: its section appears with the verdict.
          await readEvent(c);
          if (destroyed) return;
          onVerification?.(c.id, v);
          render(c, tabset?.current);
          return;
        }
      } catch {
        // try again
      }
      pollVerification(c, n + 1);
    }, 250);
  }

  /** Merges the capture's event fields as they are now into `c`; keeps the old ones on failure. */
  async function readEvent(c) {
    try {
      const e = (await state.api.request(Q.CAPTURE_EVENT, { id: c.id })).capture;
      if (e) Object.assign(c, { event: e.event, redeliveries: e.redeliveries, ordering: e.ordering, retryGuess: e.retryGuess, schemaChange: e.schemaChange });
    } catch {
      // the section stays as it was; the next open shows it
    }
  }

  /** The Event section in place: after the signature summary, or gone when nothing is named. */
  function showEvent(c) {
    const old = root.querySelector('.capture-event');
    const next = eventSection(c, ep);
    if (old && next) old.replaceWith(next);
    else if (old) old.remove();
    else if (next) (root.querySelector('.request > .answer-line') || root.querySelector('.verification-summary'))?.after(next);
  }

  function render(c, keepTab) {
    shown = c;
    const bytes = base64ToBytes(c.bodyBase64);
    const path = c.query != null ? `${c.path}?${c.query}` : c.path;
    const deleteArea = h('span', { class: 'confirm-area' });
    const askDelete = () => {
      mount(deleteArea,
        h('span', { role: 'alert' }, 'Delete this capture for good? '),
        h('button', { type: 'button', class: 'btn small danger', onclick: doDelete }, 'Delete'),
        h('button', { type: 'button', class: 'btn small', onclick: () => { mount(deleteArea); del.focus(); } }, 'Keep it'));
      deleteArea.querySelector('button').focus();
    };
    const doDelete = async () => {
      try {
        await state.api.request(Q.DELETE_CAPTURE, { id: c.id });
        onDeleted(c.id);
      } catch (e) {
        mount(deleteArea, h('span', { role: 'alert', class: 'error-text' }, sentence(e.message)));
      }
    };
    const del = canEdit ? h('button', { type: 'button', class: 'btn small ghost danger', onclick: askDelete }, 'Delete…') : null;

    const actions = h(
      'div',
      { class: 'actions' },
      copyButton('Copy as cURL', async () => (await state.api.request(Q.CAPTURE_CURL, { id: c.id })).capture.curl),
      h('button', { type: 'button', class: 'btn small', onclick: () => download(`capture-${c.id}.bin`, bytes, c.contentType || 'application/octet-stream') }, 'Download raw body'),
      h('button', { type: 'button', class: 'btn small', onclick: async (e) => {
        try {
          const har = (await state.api.request(Q.CAPTURE_HAR, { id: c.id })).capture.har;
          download(`capture-${c.id}.har`, harFile(har), 'application/json');
        } catch (err) {
          e.target.after(h('span', { role: 'alert', class: 'error-text' }, ` ${sentence(err.message)}`));
        }
      } }, 'Download HAR'),
      del,
      deleteArea,
    );

    // The body is what a reader opened the capture for, so it comes first and starts above the
    // fold on a laptop screen; headers, query and metadata follow.
    const requestTab = () => h(
      'div',
      { class: 'request' },
      h('section', { class: 'verification-summary', 'aria-label': 'Signature' }, verdictBadge(c.verification), ' ', c.verification ? h('span', { class: 'reason' }, prose(sentence(c.verification.reason))) : null),
      answerLine(c.answer),
      eventSection(c, ep),
      h('section', { class: 'request-body', 'aria-labelledby': `b-${c.id}` }, h('h3', { id: `b-${c.id}` }, 'Body'),
        bodyView(bytes, { contentType: c.contentType, sha256: c.bodySha256, filename: `capture-${c.id}.bin` }).el),
      h('section', { class: 'request-headers', 'aria-labelledby': `h-${c.id}` }, h('h3', { id: `h-${c.id}` }, `Headers (${c.headers.length}, in arrival order)`), headersTable(c.headers)),
      h('section', { class: 'query-params', 'aria-labelledby': `q-${c.id}` }, h('h3', { id: `q-${c.id}` }, 'Query parameters'), c.query != null ? queryTable(c.query) : h('p', { class: 'hint' }, 'No query string.')),
      h('section', { class: 'request-meta', 'aria-labelledby': `m-${c.id}` }, h('h3', { id: `m-${c.id}` }, 'Request details'),
        h('dl', { class: 'capture-meta' },
          h('div', null, h('dt', null, 'Received'), h('dd', null, timeEl(c.receivedAt))),
          h('div', null, h('dt', null, 'Size'), h('dd', null, formatBytes(c.bodySize))),
          h('div', null, h('dt', null, 'Content type'), h('dd', null, c.contentType || 'none')),
          h('div', null, h('dt', null, 'From'), h('dd', null, c.remoteAddr)),
          h('div', null, h('dt', null, 'HTTP'), h('dd', null, c.httpVersion)),
          h('div', null, h('dt', null, 'Id'), h('dd', null, h('code', null, c.id))))),
    );

    replay?.destroy?.();
    replay = null;
    const items = [
      { key: 'request', label: 'Request', render: requestTab },
      { key: 'verification', label: h('span', null, 'Signature ', verdictBadge(c.verification)), render: () => verificationPanel(c.verification, ep) },
      { key: 'replay', label: `Replay${c.deliveries.length ? ` (${c.deliveries.length})` : ''}`, render: () => {
        replay = replayPanel(state, ep, c, { canEdit });
        return replay.el;
      } },
    ];
    let current = keepTab || tab || 'request';
    tabset = tabs(items, {
      label: 'Capture',
      selected: current,
      onchange: (key) => {
        current = key;
        if (tabset) tabset.current = key;
        // The tab is part of the address, without a route change.
        const want = (key === 'request' ? href('e', ep.id, 'c', c.id) : href('e', ep.id, 'c', c.id, key)) + currentQuery();
        if (location.hash !== want && location.hash.startsWith(href('e', ep.id, 'c', c.id))) history.replaceState(null, '', want);
      },
    });
    tabset.current = current;

    mount(
      root,
      h('header', { class: 'capture-head' },
        h('div', { class: 'capture-title' },
          h('button', { type: 'button', class: 'btn small ghost back', onclick: onClose, 'aria-label': 'Close capture, back to the list' }, '← List'),
          h('h2', null, h('span', { class: `method m-${c.method.toLowerCase()}` }, c.method), ' ', h('span', { class: 'path' }, path))),
        actions),
      tabset.el,
    );
  }

  load();
  return {
    el: root,
    focus: () => root.focus(),
    /** The capture on screen (headers and body included), or null while it loads. */
    capture: () => shown,
    selectTab: (key) => tabset?.select(key),
    /** A new verdict from elsewhere: the badge, summary and panel change in place, so nothing
     *  typed in the replay form is lost. */
    setVerification(v) {
      if (!shown || destroyed) return;
      shown.verification = v;
      const summary = root.querySelector('.verification-summary');
      if (summary) mount(summary, verdictBadge(v), ' ', h('span', { class: 'reason' }, prose(sentence(v.reason))));
      const tab = root.querySelector('[role="tab"][data-key="verification"]');
      if (tab) {
        mount(tab, 'Signature ', verdictBadge(v));
        const panel = document.getElementById(tab.getAttribute('aria-controls'));
        if (panel?.dataset.rendered) mount(panel, verificationPanel(v, ep));
      }
      // Checked again: the event was read again too.
      const c = shown;
      readEvent(c).then(() => {
        if (!destroyed && shown === c) showEvent(c);
      });
    },
    /** The event parts changed (a schema change was found): the section is read again. */
    refreshEvent() {
      const c = shown;
      if (!c || destroyed) return;
      readEvent(c).then(() => {
        if (!destroyed && shown === c) showEvent(c);
      });
    },
    /** Deleted by another view or a teammate: say so instead of showing what is gone. */
    markDeleted() {
      if (destroyed) return;
      clearTimeout(pollTimer);
      replay?.destroy?.();
      replay = null;
      mount(root, h('p', { role: 'alert', class: 'capture-gone' }, 'This capture was deleted, in another window or by a teammate.'),
        h('button', { type: 'button', class: 'btn', onclick: onClose }, 'Back to the list'));
    },
    destroy() {
      destroyed = true;
      clearTimeout(pollTimer);
      replay?.destroy?.();
    },
  };
}
