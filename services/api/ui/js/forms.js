// Errors next to what caused them: the API names the field of bad input
// (`extensions.field`, e.g. `target`, `verification.secrets[1].value`, `rules[0].id`); inputs
// carry the same name in `data-field`. An error no input claims is shown at the top of the form.

import { h, mount, prose } from './dom.js';
import { ApiError } from './api.js';
import { sentence } from './format.js';

/** The alert area at the top of a form. */
export function formAlert() {
  return h('div', { class: 'form-alert', role: 'alert', hidden: true });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error')) {
    el.hidden = true;
    el.replaceChildren();
  }
  for (const el of form.querySelectorAll('.form-alert')) {
    el.hidden = true;
    el.replaceChildren();
  }
}

/** `verification.secrets[1].value` → the names to try, most specific first. */
function candidates(field) {
  const out = [field];
  let f = field;
  while (true) {
    const cut = Math.max(f.lastIndexOf('.'), f.lastIndexOf('['));
    if (cut <= 0) break;
    f = f.slice(0, cut);
    out.push(f);
  }
  return out;
}

function inputFor(form, field, map) {
  for (const name of candidates(field)) {
    const mapped = map?.[name] ?? name;
    const el = form.querySelector(`[data-field="${CSS.escape(mapped)}"]`);
    if (el) return el;
  }
  return null;
}

/** Shows `err` by its field when the form has it, else in the form's alert. Returns the element. */
export function showError(form, err, { map } = {}) {
  clearErrors(form);
  const message = err instanceof ApiError ? err.fieldMessage() : sentence(err?.message || String(err));
  const input = err instanceof ApiError && err.field ? inputFor(form, err.field, map) : null;
  if (input) {
    const slot = document.getElementById(`${input.id}-error`);
    input.setAttribute('aria-invalid', 'true');
    const described = new Set((input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean));
    if (slot) {
      described.add(slot.id);
      mount(slot, prose(message));
      slot.hidden = false;
    }
    input.setAttribute('aria-describedby', [...described].join(' '));
    input.focus();
    return slot || input;
  }
  const alert = form.querySelector('.form-alert');
  const full = err instanceof ApiError ? sentence(err.message) : message;
  if (alert) {
    mount(alert, prose(full));
    alert.hidden = false;
    return alert;
  }
  return null;
}

/**
 * Wires a form: on submit, clears errors, disables the submit button, runs `action`, and shows
 * a failure next to its field. Returns the form.
 */
export function onSubmit(form, action, opts = {}) {
  form.noValidate = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const submit = form.querySelector('[type="submit"]');
    if (submit) submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await action(e);
    } catch (err) {
      if (err?.name !== 'AbortError') showError(form, err, opts);
    } finally {
      if (submit) submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

/** Headers typed as `Name: value` lines → [{name, value}]; throws naming the bad line. */
export function parseHeaderLines(text, field = 'edits.headers') {
  const out = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new ApiError(`line ${i + 1} is not \`Name: value\``, { code: 'BAD_USER_INPUT', field });
    }
    out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).replace(/^ /, '') });
  });
  return out;
}

export function headerLines(headers) {
  return headers.map((x) => `${x.name}: ${x.value}`).join('\n');
}

/** A status line for forms that succeed ("Saved."), announced politely. */
export function statusLine() {
  const el = h('p', { class: 'form-status', role: 'status' });
  return {
    el,
    say(text) {
      el.textContent = text;
      clearTimeout(el._t);
      el._t = setTimeout(() => {
        el.textContent = '';
      }, 6000);
    },
  };
}
