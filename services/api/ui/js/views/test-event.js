// "Send a test event": a realistic sample event of a provider (from the API's catalog), signed
// with the endpoint's current secret when the endpoint checks that provider's signatures, and
// captured as ingest would capture it. It reaches the list through the normal pipeline, verdict
// and all, so a new user sees what a provider sends, and whether verification is set up right,
// before any provider can reach the capture URL.
//
// `sendTestEvent` is used rather than `prepareTestEvent` plus a request from the page: the page's
// CSP lets it talk to its own origin only, and the capture URL may be another host.

import { h, field, id, mount, prose } from '../dom.js';
import { onSubmit, formAlert, showError } from '../forms.js';
import { sentence } from '../format.js';
import * as Q from '../queries.js';

/** `set` from the textarea: one `path=value` per line, blank lines skipped. */
export function setLines(text) {
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

/**
 * The dialog. `onOpen(captureId)` opens a sent event's capture; the dialog exists only while
 * open, like the bulk replay one, so its fields never stand beside the page's own.
 */
export function testEventDialog(state, ep, { onOpen }) {
  const provider = h('select', { name: 'provider', required: true });
  const event = h('select', { name: 'event', required: true });
  const changes = h('textarea', { name: 'set', rows: 3, class: 'code', spellcheck: 'false', placeholder: 'data.object.amount=4242' });
  const eventField = field('Event', event, { field: 'event', hint: ' ' });
  // The chosen event's description, in the hint the select is described by.
  const description = eventField.wrap.querySelector('.hint');
  const send = h('button', { type: 'submit', class: 'btn primary', disabled: true }, 'Send');
  const result = h('div', { class: 'test-event-result', role: 'status' });
  const form = h(
    'form',
    { class: 'test-event-form', 'aria-label': 'What to send' },
    formAlert(),
    field('Provider', provider, { field: 'provider' }).wrap,
    eventField.wrap,
    field('Changes to the body (optional)', changes, {
      field: 'set',
      hint: 'One path=value per line, e.g. data.object.amount=4242 (the value is JSON when it parses, else a string); for form bodies, a field name.',
    }).wrap,
    h('div', { class: 'dialog-actions' },
      send,
      h('button', { type: 'button', class: 'btn ghost', onclick: () => dialog.close() }, 'Close')),
  );
  const titleId = id('test-event-title');
  const dialog = h('dialog', { class: 'test-event', 'aria-labelledby': titleId },
    h('h2', { id: titleId }, 'Send a test event'),
    h('p', { class: 'hint' }, 'A realistic sample event of the provider, captured by this endpoint as if the provider had sent it. It is signed with the endpoint’s current secret when the endpoint checks that provider’s signatures.'),
    form,
    result);

  let catalog = [];
  const byId = (p) => catalog.find((x) => x.provider === p);

  function fillEvents() {
    const p = byId(provider.value);
    const keep = event.value;
    mount(event, (p?.events || []).map((e) => h('option', { value: e.name }, e.name)));
    if (p?.events.some((e) => e.name === keep)) event.value = keep;
    describe();
  }

  function describe() {
    const e = byId(provider.value)?.events.find((x) => x.name === event.value);
    description.textContent = e ? sentence(e.description) : '';
  }

  provider.addEventListener('change', fillEvents);
  event.addEventListener('change', describe);

  async function load() {
    try {
      catalog = await state.loadTestEventCatalog();
    } catch (e) {
      showError(form, e);
      return;
    }
    // The endpoint as last saved (the settings page keeps the cache current), so a provider set
    // a moment ago is the one offered.
    const current = state.endpoints.get(ep.id) || ep;
    mount(provider, catalog.map((p) => h('option', { value: p.provider }, p.name)));
    const verifying = current.verification?.provider;
    provider.value = byId(verifying) ? verifying : catalog[0]?.provider ?? '';
    fillEvents();
    send.disabled = catalog.length === 0;
  }

  onSubmit(form, async () => {
    mount(result);
    const input = { endpointId: ep.id, provider: provider.value, event: event.value, set: setLines(changes.value) };
    const sent = (await state.api.request(Q.SEND_TEST_EVENT, { input })).sendTestEvent;
    const r = sent.request;
    const name = byId(r.provider)?.name || r.provider;
    mount(result,
      h('p', { class: 'test-event-sent', dataset: { captureId: sent.captureId, signed: String(r.signed) } },
        'Sent ', h('code', null, r.event), ` (${name}). `,
        r.signed ? 'Signed with the endpoint’s current secret.' : ['Not signed: ', prose(sentence(r.unsignedReason || 'the endpoint has no secret for this provider'))]),
      h('p', null, 'It shows in the list as soon as it is captured, with its signature verdict. ',
        h('button', { type: 'button', class: 'btn small', onclick: () => onOpen(sent.captureId) }, 'Open the capture')));
  });

  return {
    el: dialog,
    open() {
      dialog.showModal();
      provider.focus();
      load();
    },
    destroy() {
      if (dialog.open) dialog.close();
    },
  };
}
