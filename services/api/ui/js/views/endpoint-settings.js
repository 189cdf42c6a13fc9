// Endpoint settings: name, capture URL and provider hints, response scenarios with the capture
// cap and time to live, custom response, handshakes,
// signature verification (secrets are write-only: set, rotate, remove — never shown),
// re-verification, forwarding rules, the learned event shapes, deletion.

import { h, mount, field, id, copyButton, prose } from '../dom.js';
import { onSubmit, formAlert, statusLine, parseHeaderLines, headerLines } from '../forms.js';
import { href, go } from '../router.js';
import { plural } from '../format.js';
import { providerHints, curlExample } from './hints.js';
import { reachabilityNote } from './reachability.js';
import { shapesSection, shapeFromQuery, shapeHref } from './shapes.js';
import { verdictWords } from './verdict.js';
import { responsesSection } from './scenario.js';
import { expiryTag } from './expiry.js';
import * as Q from '../queries.js';

function section(title, ...content) {
  const hid = id('sec');
  return h('section', { class: 'settings-section card', 'aria-labelledby': hid }, h('h2', { id: hid }, title), content);
}

function form(label, ...children) {
  return h('form', { class: 'settings-form', 'aria-label': label }, formAlert(), children);
}

export function endpointSettingsView(state, initial, params = {}) {
  let ep = initial;
  const canEdit = state.can(ep.teamId, 'EDITOR');
  const root = h('div', { class: 'endpoint-page settings-page' });

  let verificationEl = null;
  // Made once: a redraw of the settings (fresh from the API) keeps the selected type and its
  // fields. The selection is in the address, so a link opens the section on it.
  const shapes = shapesSection(state, ep, {
    selected: shapeFromQuery(params.query),
    onSelect: (type) => history.replaceState(null, '', shapeHref(ep.id, type)),
  });

  const save = async (input, { redraw = false } = {}) => {
    const updated = (await state.api.request(Q.UPDATE_ENDPOINT, { input: { id: ep.id, ...input } })).updateEndpoint;
    setEndpoint(updated, { redraw });
  };

  /** Keeps `ep` current; redraws the verification section, whose content depends on it. */
  function setEndpoint(next, { redraw = true } = {}) {
    ep = next;
    state.putEndpoint(ep);
    if (redraw && verificationEl) {
      const fresh = verificationSection();
      verificationEl.replaceWith(fresh);
      verificationEl = fresh;
      fresh.querySelector('h2').focus();
    }
  }

  function generalSection() {
    const name = h('input', { type: 'text', value: ep.name, required: true, maxlength: 200, disabled: !canEdit });
    const st = statusLine();
    const f = form('Name', field('Name', name, { field: 'name' }).wrap, canEdit ? h('button', { type: 'submit', class: 'btn' }, 'Rename') : null, st.el);
    onSubmit(f, async () => {
      await save({ name: name.value.trim() });
      root.querySelector('.endpoint-head h1').textContent = ep.name;
      st.say('Renamed.');
    });
    return section('Endpoint', f);
  }

  function urlSection() {
    const cmd = curlExample(ep.url);
    return section(
      'Capture URL',
      h('div', { class: 'url-bar' }, h('code', { class: 'endpoint-url' }, ep.url), copyButton('Copy URL', ep.url)),
      h('p', { class: 'hint' }, 'Anyone with this URL can send captures to it; keep it as private as the provider’s dashboard.'),
      reachabilityNote(state, {
        meanwhile: ['Meanwhile, “Send a test event” on the ', h('a', { href: href('e', ep.id) }, 'captures page'), ' makes a realistic provider event here, signed with this endpoint’s secret.'],
      }),
      h('h3', null, 'Try it'),
      h('pre', { class: 'code curl-example' }, cmd),
      copyButton('Copy curl command', cmd),
      h('h3', null, 'Provider setup'),
      providerHints(ep.url),
    );
  }

  function responseSection() {
    const custom = ep.response;
    const useCustom = h('input', { type: 'checkbox', checked: Boolean(custom), disabled: !canEdit });
    const status = h('input', { type: 'number', min: 100, max: 599, value: custom?.status ?? 200, disabled: !canEdit });
    const headers = h('textarea', { rows: 3, class: 'code', spellcheck: 'false', disabled: !canEdit, placeholder: 'content-type: application/json' });
    headers.value = custom ? headerLines(custom.headers) : '';
    const body = h('textarea', { rows: 4, class: 'code', spellcheck: 'false', disabled: !canEdit });
    body.value = custom?.body ?? '';
    const delay = h('input', { type: 'number', min: 0, value: custom?.delayMs ?? 0, disabled: !canEdit });
    const fields = h('div', { class: 'grid-2' },
      field('Status', status, { field: 'response.status' }).wrap,
      field('Delay (ms)', delay, { field: 'response.delayMs', hint: 'Wait this long before answering, to test sender timeouts.' }).wrap,
      field(prose('Headers (one `Name: value` per line)'), headers, { field: 'response.headers' }).wrap,
      field('Body', body, { field: 'response.body' }).wrap);
    const sync = () => { fields.hidden = !useCustom.checked; };
    useCustom.addEventListener('change', sync);
    sync();
    const st = statusLine();
    const f = form('Custom response',
      h('p', { class: 'hint' }, 'What senders get back when no response rule answers. By default: 200 with {"id": "<capture id>"}, sent once the capture is on disk.'),
      h('label', { class: 'inline-check' }, useCustom, ' Answer with a custom response'),
      fields,
      canEdit ? h('button', { type: 'submit', class: 'btn' }, 'Save response') : null, st.el);
    onSubmit(f, async () => {
      if (!useCustom.checked) await save({ clearResponse: true });
      else {
        await save({ response: { status: Number(status.value), headers: parseHeaderLines(headers.value, 'response.headers'), body: body.value, delayMs: Number(delay.value || 0) } });
      }
      st.say('Saved. Ingest uses it within 2 s.');
    });
    return section('Custom response', f);
  }

  // The header's tags: the expiry, and a reached cap (known once the counters are read).
  const headTags = h('span', { class: 'head-tags' });
  let capTag = null;
  function renderHeadTags() {
    mount(headTags, expiryTag(ep.expiresAt), capTag);
  }
  function scenarioSection() {
    const content = responsesSection(state, {
      getEp: () => ep,
      canEdit,
      save: async (input) => {
        await save(input);
        renderHeadTags();
      },
      onCounters: (e) => {
        capTag = e.maxCaptures != null && e.counters.captures >= e.maxCaptures
          ? h('span', { class: 'tag cap-tag', title: 'The capture URL answers 429 and stores nothing until the cap is raised or the counters are reset' }, `cap reached (${e.counters.captures}/${e.maxCaptures})`)
          : null;
        renderHeadTags();
      },
    });
    const sec = section('Responses', content);
    sec.classList.add('wide');
    return sec;
  }

  function handshakeSection() {
    const on = h('input', { type: 'checkbox', checked: ep.handshakes, disabled: !canEdit, id: id('hs') });
    const st = statusLine();
    const f = form('Handshakes',
      h('label', { class: 'inline-check', for: on.id }, on, ' Answer handshakes'),
      h('p', { class: 'hint' }, 'Slack url_verification, Zoom endpoint.url_validation (needs provider zoom and its secret) and Twitch webhook_callback_verification get the answer they expect instead of the usual response. Handshakes are captured too.'),
      canEdit ? h('button', { type: 'submit', class: 'btn' }, 'Save') : null, st.el);
    onSubmit(f, async () => {
      await save({ handshakes: on.checked });
      st.say(on.checked ? 'Handshakes are answered.' : 'Handshakes are no longer answered.');
    });
    return section('Handshake mode', f);
  }

  function verificationSection() {
    const v = ep.verification;
    const container = h('div');
    const providersSelect = h('select', { name: 'provider', required: true, disabled: !canEdit }, h('option', { value: '' }, 'Loading providers…'));
    // With settings in place an empty secret keeps the stored ones (the API requires them only
    // for a new provider), so tolerance or public URL change without retyping a secret.
    const label = h('input', { type: 'text', value: 'current', required: !v, disabled: !canEdit, autocomplete: 'off' });
    const value = h('input', { type: 'password', required: !v, disabled: !canEdit, autocomplete: 'new-password', spellcheck: 'false', placeholder: v ? 'empty: keep the current secrets' : 'whsec_…' });
    const tolerance = h('input', { type: 'number', min: 0, value: v?.toleranceSeconds ?? '', disabled: !canEdit, placeholder: 'provider default' });
    const publicUrl = h('input', { type: 'url', value: v?.publicUrl ?? '', disabled: !canEdit, placeholder: ep.url, spellcheck: 'false' });
    const g = v?.generic;
    const gHeader = h('input', { type: 'text', value: g?.header ?? '', placeholder: 'X-Signature', disabled: !canEdit });
    const gAlg = h('select', { disabled: !canEdit }, ['sha256', 'sha1', 'sha512'].map((a) => h('option', { value: a, selected: (g?.algorithm ?? 'sha256') === a }, a)));
    const gEnc = h('select', { disabled: !canEdit }, ['hex', 'base64'].map((a) => h('option', { value: a, selected: (g?.encoding ?? 'hex') === a }, a)));
    const gPrefix = h('input', { type: 'text', value: g?.prefix ?? '', placeholder: 'sha256=', disabled: !canEdit });
    const gTemplate = h('input', { type: 'text', value: g?.template ?? '{body}', disabled: !canEdit });
    const gTs = h('input', { type: 'text', value: g?.timestampHeader ?? '', placeholder: 'X-Timestamp', disabled: !canEdit });
    const gId = h('input', { type: 'text', value: g?.idHeader ?? '', disabled: !canEdit });
    const genericFields = h('fieldset', { class: 'grid-2' }, h('legend', null, 'generic-hmac scheme'),
      field('Signature header', gHeader, { field: 'verification.generic.header' }).wrap,
      field('Algorithm', gAlg, { field: 'verification.generic.algorithm' }).wrap,
      field('Encoding', gEnc, { field: 'verification.generic.encoding' }).wrap,
      field('Prefix', gPrefix, { field: 'verification.generic.prefix' }).wrap,
      field('Signed template', gTemplate, { field: 'verification.generic.template', hint: '{timestamp} {id} {body} {url} {method}' }).wrap,
      field('Timestamp header', gTs, { field: 'verification.generic.timestampHeader' }).wrap,
      field('Id header', gId, { field: 'verification.generic.idHeader' }).wrap);
    const urlField = field('Public URL (URL-bound schemes)', publicUrl, { field: 'verification.publicUrl', hint: 'The URL the provider was given, when a proxy sits in front; default: the capture URL.' });
    const keyHint = h('p', { class: 'hint' });
    let providers = [];
    const sync = () => {
      const p = providers.find((x) => x.id === providersSelect.value);
      genericFields.hidden = providersSelect.value !== 'generic-hmac';
      urlField.wrap.hidden = !(p?.urlBound || providersSelect.value === 'generic-hmac');
      keyHint.textContent = p?.publicKey ? `${p.name} signs with a private key: paste its public key as the secret.` : p ? `Default tolerance: ${p.defaultToleranceSeconds == null ? 'none (no timestamp is signed)' : `${p.defaultToleranceSeconds} s`}.` : '';
    };
    providersSelect.addEventListener('change', sync);
    state.loadProviders().then((list) => {
      providers = list;
      mount(providersSelect, h('option', { value: '' }, 'Choose a provider…'), list.map((p) => h('option', { value: p.id, selected: v?.provider === p.id }, `${p.name} (${p.id})`)));
      sync();
    }).catch(() => mount(providersSelect, h('option', { value: v?.provider ?? '' }, v?.provider ?? 'Providers could not be loaded')));
    sync();

    const st = statusLine();
    const setForm = form('Verification settings',
      h('p', { class: 'hint' }, v
        ? 'Saving replaces the provider, tolerance and public URL. Leave the secret empty to keep the current secrets (a new provider needs its own); a secret entered here replaces all of them. To rotate one secret, use “Add a secret” above.'
        : 'Every new capture is checked with these settings and shows its verdict and why.'),
      h('div', { class: 'grid-2' },
        field('Provider', providersSelect, { field: 'verification.provider' }).wrap,
        field('Tolerance (seconds)', tolerance, { field: 'verification.toleranceSeconds', hint: 'Empty: the provider’s default. 0: timestamps are not checked.' }).wrap,
        field('Secret label', label, { field: 'verification.secrets[0].label' }).wrap,
        field('Secret', value, { field: 'verification.secrets[0].value', hint: 'Write-only: it is stored for checking and never shown again.' }).wrap),
      keyHint,
      urlField.wrap,
      genericFields,
      canEdit ? h('button', { type: 'submit', class: 'btn primary' }, v ? 'Replace verification settings' : 'Save verification settings') : null,
      st.el);
    onSubmit(setForm, async () => {
      const input = {
        provider: providersSelect.value,
        ...(v && value.value === '' ? {} : { secrets: [{ label: label.value.trim(), value: value.value }] }),
        toleranceSeconds: tolerance.value === '' ? null : Number(tolerance.value),
        publicUrl: urlField.wrap.hidden || !publicUrl.value.trim() ? null : publicUrl.value.trim(),
      };
      if (providersSelect.value === 'generic-hmac') {
        input.generic = {
          header: gHeader.value.trim(), algorithm: gAlg.value, encoding: gEnc.value, prefix: gPrefix.value, template: gTemplate.value,
          timestampHeader: gTs.value.trim() || null, idHeader: gId.value.trim() || null,
        };
      }
      await save({ verification: input }, { redraw: true });
      announce('Verification settings saved. New captures are checked with them; use “Check again” for earlier ones.');
    });

    // Current settings: labels only.
    const current = v
      ? h('div', { class: 'current-verification' },
        h('dl', { class: 'meta-list' },
          h('dt', null, 'Provider'), h('dd', { class: 'current-provider' }, v.provider),
          h('dt', null, 'Tolerance'), h('dd', null, v.effectiveToleranceSeconds ? `${v.effectiveToleranceSeconds} s${v.toleranceSeconds == null ? ' (provider default)' : ''}` : 'timestamps not checked'),
          v.publicUrl ? [h('dt', null, 'Public URL'), h('dd', null, h('code', null, v.publicUrl))] : null),
        h('h3', null, 'Secrets (current first)'),
        // The API gives labels only (values are write-only, and it keeps no date), so a row is
        // the label, its role when the label does not already say it, and the masked value. A
        // secret labelled "current" that is the current one is named once.
        h('ul', { class: 'secret-list' }, v.secrets.map((s, i) => h('li', null,
          h('code', { class: 'secret-label' }, s.label),
          (() => {
            const role = i === 0 ? 'current' : 'accepted while rotating';
            return s.label.toLowerCase() === role ? null : [h('span', { 'aria-hidden': 'true' }, '·'), h('span', { class: 'tag' }, role)];
          })(),
          h('span', { 'aria-hidden': 'true' }, '·'),
          h('span', { class: 'hint secret-value' }, '•••••••• write-only, never shown'),
          canEdit && v.secrets.length > 1 ? h('button', { type: 'button', class: 'btn small ghost', onclick: () => removeSecret(s.label) }, `Remove ${s.label}`) : null))))
      : h('p', null, 'Not configured: captures are not checked for authenticity (a known signature header is still recognised).');

    const rotate = v && canEdit ? rotateForm() : null;
    const stop = v && canEdit ? h('button', { type: 'button', class: 'btn small ghost danger', onclick: async (e) => {
      try {
        await save({ verification: null }, { redraw: true });
        announce('Verification is off.');
      } catch (err) {
        e.target.after(h('span', { role: 'alert', class: 'error-text' }, ` ${err.message}`));
      }
    } }, 'Stop verifying') : null;

    mount(container, current, rotate, h('h3', null, v ? 'Replace settings' : 'Set up'), setForm, stop, reverifyForm());
    const sec = section('Signature verification', container);
    sec.querySelector('h2').tabIndex = -1;
    return sec;
  }

  const announcer = h('p', { class: 'settings-announce', role: 'status' });
  function announce(text) {
    announcer.textContent = text;
  }

  function rotateForm() {
    const label = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'e.g. 2026-11' });
    const value = h('input', { type: 'password', required: true, autocomplete: 'new-password', spellcheck: 'false' });
    const f = form('Add a secret',
      h('h3', null, 'Add a secret (rotation)'),
      h('p', { class: 'hint' }, 'The new secret becomes the current one; the others stay accepted until you remove them.'),
      h('div', { class: 'grid-2' }, field('Label', label, { field: 'label' }).wrap, field('Secret', value, { field: 'value' }).wrap),
      h('button', { type: 'submit', class: 'btn' }, 'Add secret'));
    onSubmit(f, async () => {
      const updated = (await state.api.request(Q.ADD_SECRET, { input: { endpointId: ep.id, label: label.value.trim(), value: value.value } })).addVerificationSecret;
      setEndpoint(updated);
      announce(`Secret ${label.value.trim()} added as the current one.`);
    });
    return f;
  }

  async function removeSecret(label) {
    try {
      const updated = (await state.api.request(Q.REMOVE_SECRET, { input: { endpointId: ep.id, label } })).removeVerificationSecret;
      setEndpoint(updated);
      announce(`Secret ${label} removed.`);
    } catch (e) {
      announce(e.message);
    }
  }

  function reverifyForm() {
    if (!canEdit) return null;
    const since = h('input', { type: 'datetime-local', step: 1, required: true });
    const d = new Date(Date.now() - 86_400_000);
    since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    const result = h('p', { class: 'form-status', role: 'status' });
    const f = form('Check captures again',
      h('h3', null, 'Check captures again'),
      h('p', { class: 'hint' }, 'After adding or fixing a secret: checks stored captures with the current settings. Timestamps are still judged against each capture’s receive time.'),
      field('Received since', since, { field: 'since' }).wrap,
      h('button', { type: 'submit', class: 'btn' }, 'Check again'),
      result);
    onSubmit(f, async () => {
      let after = null;
      let count = 0;
      const totals = new Map();
      for (let i = 0; i < 10; i += 1) {
        const r = (await state.api.request(Q.REVERIFY, { input: { endpointId: ep.id, since: new Date(since.value).toISOString(), after } })).reverifyCaptures;
        count += r.count;
        for (const v of r.verdicts) totals.set(v.verdict, (totals.get(v.verdict) || 0) + v.count);
        if (!r.hasMore) break;
        after = r.endCursor;
      }
      const parts = [...totals].map(([k, n]) => `${n} ${verdictWords(k)}`);
      result.textContent = count ? `Checked ${plural(count, 'capture')}: ${parts.join(', ')}.` : 'No capture was received in that time.';
    });
    return f;
  }

  function rulesSection() {
    const rows = h('div', { class: 'rules' });
    let rules = ep.forwardingRules.map((r) => ({ ...r }));
    const renderRules = () => {
      mount(rows, rules.length ? rules.map((r, i) => {
        const inp = (key, attrs, fieldName, labelText) => {
          const el = h('input', { type: 'text', value: r[key] ?? '', disabled: !canEdit, spellcheck: 'false', ...attrs, oninput: (e) => { r[key] = e.target.value; } });
          return field(labelText, el, { field: `rules[${i}].${fieldName}` }).wrap;
        };
        return h('fieldset', { class: 'rule' },
          h('legend', null, `Rule ${i + 1}`),
          h('div', { class: 'grid-3' },
            inp('id', { required: true, placeholder: 'local-dev' }, 'id', 'Id'),
            inp('target', { type: 'url', required: true, placeholder: 'https://example.com/hook' }, 'target', 'Target URL'),
            inp('method', { placeholder: 'any' }, 'method', 'Method'),
            inp('pathPrefix', { placeholder: '/stripe' }, 'pathPrefix', 'Path starts with'),
            inp('headerName', { placeholder: 'X-GitHub-Event' }, 'header.name', 'Header name'),
            inp('headerContains', { placeholder: 'push' }, 'header.contains', 'Header value contains')),
          canEdit ? h('button', { type: 'button', class: 'btn small ghost', onclick: () => { rules.splice(i, 1); renderRules(); } }, `Remove rule ${i + 1}`) : null);
      }) : h('p', { class: 'hint' }, 'No forwarding rules: captures are only stored.'));
    };
    renderRules();
    const st = statusLine();
    const f = form('Forwarding rules',
      h('p', { class: 'hint' }, 'Every new capture that matches a rule is sent to its target with retries, like a replay. Conditions left empty match everything.'),
      rows,
      canEdit ? h('div', { class: 'toolbar' },
        h('button', { type: 'button', class: 'btn small', onclick: () => { rules.push({ id: `rule-${rules.length + 1}`, target: '' }); renderRules(); } }, 'Add a rule'),
        h('button', { type: 'submit', class: 'btn primary' }, 'Save rules')) : null,
      st.el);
    onSubmit(f, async () => {
      const input = rules.map((r) => {
        const out = { id: r.id.trim(), target: r.target.trim() };
        if (r.method?.trim()) out.method = r.method.trim();
        if (r.pathPrefix?.trim()) out.pathPrefix = r.pathPrefix.trim();
        if (r.headerName?.trim()) out.header = { name: r.headerName.trim(), contains: r.headerContains || '' };
        return out;
      });
      const updated = (await state.api.request(Q.SET_RULES, { input: { endpointId: ep.id, rules: input } })).setForwardingRules;
      ep = updated;
      state.putEndpoint(ep);
      rules = ep.forwardingRules.map((r) => ({ ...r }));
      renderRules();
      st.say(`Saved ${plural(rules.length, 'rule')}.`);
    });
    return section('Forwarding rules', f);
  }

  function dangerSection() {
    if (!canEdit) return null;
    const area = h('div');
    const ask = h('button', { type: 'button', class: 'btn danger', onclick: () => {
      mount(area,
        h('p', { role: 'alert' }, 'This deletes the endpoint and every capture of it. Its URL answers 404 from then on.'),
        h('button', { type: 'button', class: 'btn danger', onclick: doDelete }, `Delete ${ep.name} and its captures`),
        h('button', { type: 'button', class: 'btn', onclick: () => { mount(area); ask.focus(); } }, 'Keep it'));
      area.querySelector('button').focus();
    } }, 'Delete endpoint…');
    const doDelete = async () => {
      try {
        await state.api.request(Q.DELETE_ENDPOINT, { id: ep.id });
        state.dropEndpoint(ep.id, ep.teamId);
        localStorage.removeItem(`hookmetry.lastEndpoint.${ep.teamId}`);
        await state.endpointsOf(ep.teamId, { refresh: true });
        go(href('t', ep.teamId));
      } catch (e) {
        area.append(h('p', { role: 'alert', class: 'error-text' }, e.message));
      }
    };
    return section('Delete', ask, area);
  }

  function render() {
    verificationEl = verificationSection();
    renderHeadTags();
    mount(
      root,
      h('header', { class: 'endpoint-head' },
        h('div', { class: 'endpoint-title' },
          h('h1', null, ep.name),
          headTags,
          h('nav', { class: 'subnav', 'aria-label': 'Endpoint' },
            h('a', { href: href('e', ep.id) }, 'Captures'),
            h('a', { href: href('e', ep.id, 'settings'), 'aria-current': 'page' }, 'Settings')))),
      canEdit ? null : h('p', { class: 'hint' }, 'Your role may look but not change: editing needs the editor role.'),
      announcer,
      h('div', { class: 'settings-grid' },
        verificationEl, urlSection(), rulesSection(), scenarioSection(), responseSection(), handshakeSection(), generalSection(), shapes.el, dangerSection()),
    );
  }

  render();
  // Fresh settings (another teammate may have changed them).
  state.endpoint(ep.id, { refresh: true }).then((fresh) => {
    if (fresh && JSON.stringify(fresh) !== JSON.stringify(ep)) {
      ep = fresh;
      render();
    }
  }).catch(() => {});
  return {
    el: root,
    // The same settings, another address: back/forward or a link to another type's shape.
    update: (p) => {
      const type = shapeFromQuery(p.query);
      if (type != null) shapes.select(type);
    },
  };
}
