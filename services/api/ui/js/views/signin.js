// Sign-in: an API token, checked against the API before it is kept.

import { h, field } from '../dom.js';
import { onSubmit, formAlert } from '../forms.js';
import { ApiError } from '../api.js';
import * as Q from '../queries.js';

export function signinView({ api, message, onSignedIn }) {
  const token = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'current-password',
    spellcheck: 'false',
    required: true,
    placeholder: 'hm_…',
  });
  const tokenField = field('API token', token, {
    field: 'token',
    hint: 'The admin token of a fresh install is in <data dir>/admin-token; other tokens come from a team admin (Team settings → Tokens).',
  });
  const show = h('input', { type: 'checkbox', onchange: (e) => { token.type = e.target.checked ? 'text' : 'password'; } });
  const remember = h('input', { type: 'checkbox', name: 'remember' });
  const alert = formAlert();
  const form = h(
    'form',
    { class: 'signin-form card', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Hookmetry'),
    message ? h('p', { class: 'form-alert', role: 'alert' }, message) : null,
    alert,
    tokenField.wrap,
    h('label', { class: 'inline-check' }, show, ' Show token'),
    h('label', { class: 'inline-check' }, remember, ' Keep me signed in on this device'),
    h('p', { class: 'hint' }, 'Without it the token is forgotten when this tab closes. Either way it stays in this browser only; Sign out removes it.'),
    h('button', { type: 'submit', class: 'btn primary' }, 'Sign in'),
  );
  onSubmit(form, async () => {
    const value = token.value.trim();
    if (!value) throw new ApiError('enter a token', { field: 'token' });
    try {
      await api.request(Q.ME, {}, { token: value });
    } catch (e) {
      if (e.code === 'UNAUTHENTICATED') {
        throw new ApiError('That token was not accepted: it is unknown or has been revoked. Check that you copied all of it.', { code: e.code, field: 'token' });
      }
      throw e;
    }
    await onSignedIn(value, remember.checked);
  });
  setTimeout(() => token.focus(), 0);
  return h('main', { id: 'main', class: 'signin', tabindex: -1 }, h('div', { class: 'brand-big' }, h('img', { src: new URL('../../icon.svg', import.meta.url).href, alt: '', width: 40, height: 40 }), 'Hookmetry'), form);
}
