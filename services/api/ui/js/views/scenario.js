// Endpoint settings → Responses: the scenario rules in order with their counters, a JSON editor of
// the rules in the shape `updateEndpoint(scenario:)` takes (with one-click templates), the
// capture cap and the time to live. Rules, ids, headers and bodies are data: text nodes only.

import { h, mount, field, id, timeEl, prose } from '../dom.js';
import { ApiError } from '../api.js';
import { TEMPLATES, scenarioInput, pretty, parseRules, namedByField } from './scenario-json.js';
import { onSubmit, formAlert, statusLine, showError } from '../forms.js';
import { inWords, plural, sentence } from '../format.js';
import * as Q from '../queries.js';

/** The kinds whose rules count requests (their position is in `counters`). */
const COUNTING = new Set(['SEQUENCE', 'GONE_AFTER']);

/** "method POST and path starts with /x", or "every request". */
export function conditionWords(r) {
  const parts = [];
  if (r.method) parts.push(`method ${r.method}`);
  if (r.pathPrefix) parts.push(`path starts with ${r.pathPrefix}`);
  if (r.header) parts.push(r.header.contains ? `header ${r.header.name} contains “${r.header.contains}”` : `header ${r.header.name} present`);
  if (r.eventTypes.length) parts.push(`event type ${r.eventTypes.join(' or ')}`);
  return parts.length ? parts.join(' and ') : 'every request';
}

const UNITS = [['days', 86_400], ['hours', 3600], ['minutes', 60], ['seconds', 1]];

/** A TTL in the largest unit that holds it exactly: 7200 → [2, 3600]. */
function ttlParts(seconds) {
  if (seconds == null) return ['', 60];
  const [, unit] = UNITS.find(([, u]) => seconds % u === 0);
  return [String(seconds / unit), unit];
}

/** 7200 → "2 hours". */
function ttlWords(seconds) {
  const [amount, unit] = ttlParts(seconds);
  const name = UNITS.find(([, u]) => u === unit)[0];
  return plural(Number(amount), name.slice(0, -1), name);
}

function expiresWords(expiresAt) {
  const left = inWords(expiresAt);
  return left ? ` (${left})` : ' (past: it is deleted within the expiry interval)';
}

/**
 * The section. `getEp()` is the endpoint as it is now; `save(input)` updates it through
 * `updateEndpoint` and keeps the page's copy; `onCounters(endpoint)` hears every read of the
 * counters (the page header shows a reached cap).
 */
export function responsesSection(state, { getEp, save, canEdit, onCounters }) {
  const body = h('div', { class: 'responses' });
  const counterText = h('p', { class: 'counter-captures', 'aria-live': 'polite' }, h('span', { class: 'hint' }, 'Reading the counters…'));
  // Made once, so focus can come back to it after the dialog, whatever the counters say.
  const resetButton = canEdit ? h('button', { type: 'button', class: 'btn small', onclick: () => confirmReset(resetButton) }, 'Reset counters…') : null;
  const counters = h('div', { class: 'scenario-counters' }, counterText, resetButton);
  let counts = null;

  async function readCounters() {
    try {
      const e = (await state.api.request(Q.ENDPOINT_COUNTERS, { id: getEp().id })).endpoint;
      if (e) setCounters(e);
    } catch (err) {
      mount(counterText, h('span', { class: 'error-text', role: 'alert' }, `The counters could not be read: ${sentence(err.message)}`));
    }
  }

  function setCounters(e) {
    counts = e.counters;
    onCounters?.(e);
    renderCounters();
    renderRules();
  }

  function renderCounters() {
    if (!counts) return;
    const cap = getEp().maxCaptures;
    // Captures are counted only while a cap is set (uncapped endpoints pay nothing for it).
    mount(counterText, cap == null
      ? 'No capture cap.'
      : [`${counts.captures.toLocaleString('en')} of ${plural(cap, 'capture')} accepted since creation or the last reset`,
        counts.captures >= cap ? h('strong', { class: 'cap-reached' }, ` · cap reached (${counts.captures}/${cap})`) : null, '.']);
  }

  function confirmReset(opener) {
    const error = h('p', { class: 'error-text', role: 'alert' });
    const dialogId = id('reset');
    const keep = h('button', { type: 'button', class: 'btn', onclick: () => dialog.close() }, 'Keep them');
    const confirm = h('button', { type: 'button', class: 'btn primary', onclick: async () => {
      confirm.disabled = true;
      try {
        setCounters((await state.api.request(Q.RESET_COUNTERS, { id: getEp().id })).resetEndpointCounters);
        dialog.close();
      } catch (err) {
        error.textContent = sentence(err.message);
        confirm.disabled = false;
      }
    } }, 'Reset counters');
    const dialog = h('dialog', { class: 'confirm-reset', 'aria-labelledby': `${dialogId}-t`, 'aria-describedby': `${dialogId}-d` },
      h('h2', { id: `${dialogId}-t` }, 'Reset the counters?'),
      h('p', { id: `${dialogId}-d` }, 'Every sequence starts again at its first step, every gone-after rule at zero, and the capture cap counts from zero. Captures are kept.'),
      error,
      h('div', { class: 'dialog-actions' }, keep, confirm));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener.isConnected) opener.focus();
    });
    body.append(dialog);
    dialog.showModal();
    keep.focus();
  }

  const rulesList = h('div', { class: 'scenario-rules-wrap' });
  function renderRules() {
    const rules = getEp().scenario;
    if (!rules.length) {
      mount(rulesList, h('p', { class: 'hint no-rules' }, 'No rules: every request gets the custom response, or 200 {"id": …}.'));
      return;
    }
    mount(rulesList, h('ol', { class: 'scenario-rules' }, rules.map((r) => {
      const n = COUNTING.has(r.answer.kind) && counts ? (counts.rules.find((c) => c.ruleId === r.id)?.count ?? 0) : null;
      return h('li', { class: 'scenario-rule', dataset: { rule: r.id } },
        h('code', { class: 'rule-id' }, r.id), ' ',
        h('span', { class: 'rule-when' }, conditionWords(r)), ' → ',
        h('span', { class: 'rule-summary' }, r.answer.summary),
        n != null ? h('span', { class: 'tag rule-count' }, `${plural(n, 'request')} counted`) : null);
    })));
  }

  function editorForm() {
    const editor = h('textarea', { rows: 12, class: 'code scenario-editor', spellcheck: 'false', autocomplete: 'off' });
    const st = statusLine();
    const templates = h('div', { class: 'toolbar scenario-templates', role: 'group', 'aria-label': 'Templates' },
      h('span', { class: 'hint' }, 'Templates:'),
      TEMPLATES.map(([name, rules]) => h('button', { type: 'button', class: 'btn small', onclick: () => {
        editor.value = pretty(rules);
        editor.focus();
        st.say(`“${name}” is in the editor: save to use it.`);
      } }, name)));
    const remove = h('button', { type: 'button', class: 'btn small ghost danger', onclick: async () => {
      try {
        await save({ scenario: null });
        refresh();
        saved(st, 'Every rule was removed: requests get the custom response, or 200.');
      } catch (err) {
        showError(f, namedByField(err, editor));
      }
    } }, 'Remove all rules');
    const f = h('form', { class: 'settings-form', 'aria-label': 'Scenario rules' }, formAlert(),
      templates,
      field(prose('Rules (JSON, as `updateEndpoint(scenario:)` takes them)'), editor, {
        field: 'scenario',
        hint: prose('A list tried in order; each rule has an `id`, optional `method`, `pathPrefix`, `header {name contains}`, `eventTypes`, and one `answer`: `fixed`, `sequence`, `mix`, `goneAfter` or `latency` (see docs/scenarios.md). A template replaces the text; nothing changes until you save.'),
      }).wrap,
      h('div', { class: 'toolbar' }, h('button', { type: 'submit', class: 'btn primary' }, 'Save response rules'), remove),
      st.el);
    // The rules as stored (ids filled in), after every save.
    const refresh = () => {
      editor.value = pretty(scenarioInput(getEp().scenario));
      remove.hidden = getEp().scenario.length === 0;
    };
    refresh();
    onSubmit(f, async () => {
      const rules = parseRules(editor.value);
      try {
        await save({ scenario: rules.length ? rules : null });
      } catch (err) {
        throw namedByField(err, editor);
      }
      const n = getEp().scenario.length;
      refresh();
      saved(st, n ? `Saved ${plural(n, 'rule')}. Ingest uses them within 2 s; a changed rule list counts from zero.` : 'Saved: no rules.');
    });
    return f;
  }

  function limitsForm() {
    const ep = getEp();
    const cap = h('input', { type: 'number', min: 1, max: 1_000_000_000, step: 1, value: ep.maxCaptures ?? '', placeholder: 'no cap', inputmode: 'numeric' });
    const [amount, unit] = ttlParts(ep.ttlSeconds);
    const ttl = h('input', { type: 'number', min: 1, step: 1, value: amount, placeholder: 'never expires', inputmode: 'numeric' });
    const ttlUnit = h('select', { 'aria-label': 'Time to live unit' }, UNITS.map(([name, u]) => h('option', { value: u, selected: u === unit }, name)));
    const preview = h('p', { class: 'hint ttl-preview' });
    const ttlSeconds = () => (ttl.value === '' ? null : Number(ttl.value) * Number(ttlUnit.value));
    const showPreview = () => {
      const s = ttlSeconds();
      if (s == null || !Number.isFinite(s)) {
        preview.classList.remove('warn');
        mount(preview, s == null ? 'Empty: the endpoint never expires.' : '');
        return;
      }
      const at = new Date(new Date(ep.createdAt).getTime() + s * 1000).toISOString();
      const past = !inWords(at);
      preview.classList.toggle('warn', past);
      if (past) mount(preview, 'That is already past (', timeEl(at, { ms: false }), '): saving deletes the endpoint and its captures at the next expiry run.');
      else mount(preview, 'With this it expires ', timeEl(at, { ms: false }), expiresWords(at), '.');
    };
    ttl.addEventListener('input', showPreview);
    ttlUnit.addEventListener('change', showPreview);
    showPreview();
    refreshers.push(showPreview);
    const st = statusLine();
    const ttlField = field('Time to live', ttl, {
      field: 'ttlSeconds',
      hint: h('span', null, 'Counted from the endpoint’s creation (', timeEl(ep.createdAt, { ms: false }), '), not from saving. Then the endpoint and its captures are deleted.'),
    });
    const row = h('div', { class: 'ttl-row' });
    ttl.replaceWith(row);
    row.append(ttl, ttlUnit);
    const f = h('form', { class: 'settings-form limits-form', 'aria-label': 'Capture cap and time to live' }, formAlert(),
      h('div', { class: 'grid-2' },
        field('Capture cap', cap, { field: 'maxCaptures', hint: 'Empty: no cap. Past it the capture URL answers 429 and stores nothing; counted since creation or the last reset.' }).wrap,
        h('div', null, ttlField.wrap, preview)),
      h('button', { type: 'submit', class: 'btn' }, 'Save cap and time to live'),
      st.el);
    onSubmit(f, async () => {
      for (const [input, name] of [[cap, 'maxCaptures'], [ttl, 'ttlSeconds']]) {
        if (input.value !== '' && !Number.isInteger(Number(input.value))) {
          throw new ApiError(`invalid \`${name}\`: a whole number, or empty`, { code: 'BAD_USER_INPUT', field: name });
        }
      }
      await save({ maxCaptures: cap.value === '' ? null : Number(cap.value), ttlSeconds: ttlSeconds() });
      saved(st, 'Saved the cap and the time to live.');
    });
    return f;
  }

  /** What viewers get instead of the forms: the same facts, nothing to press. */
  function readOnly() {
    const ep = getEp();
    return h('div', { class: 'responses-read-only' },
      ep.scenario.length ? h('details', null, h('summary', null, 'Rules as JSON'), h('pre', { class: 'code' }, pretty(scenarioInput(ep.scenario)))) : null,
      h('dl', { class: 'meta-list' },
        h('dt', null, 'Capture cap'), h('dd', null, ep.maxCaptures != null ? String(ep.maxCaptures) : 'none'),
        h('dt', null, 'Time to live'), h('dd', null, ep.ttlSeconds != null ? `${ttlWords(ep.ttlSeconds)} from creation` : 'none')));
  }

  // What a save changes outside the form that saved.
  const refreshers = [];
  function saved(st, text) {
    renderRules();
    renderCounters();
    renderExpiry();
    refreshers.forEach((f) => f());
    st.say(text);
    readCounters();
  }

  const expiry = h('p', { class: 'expiry-line' });
  function renderExpiry() {
    const ep = getEp();
    if (ep.expiresAt) mount(expiry, 'Expires ', timeEl(ep.expiresAt, { ms: false }), expiresWords(ep.expiresAt), '.');
    else mount(expiry, 'Does not expire.');
  }

  renderRules();
  renderExpiry();
  const forms = canEdit
    ? h('div', { class: 'responses-forms' }, h('h3', null, 'Edit the rules'), editorForm(), h('h3', null, 'Capture cap and time to live'), limitsForm())
    : readOnly();
  mount(body,
    h('p', { class: 'hint' }, 'Rules choose what the capture URL answers: tried in order, the first that matches answers; otherwise the custom response below does. Every request is stored before it is answered, a 500 included.'),
    rulesList, counters, expiry, forms);
  readCounters();
  return body;
}
