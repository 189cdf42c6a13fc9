// Team settings for admins: retention, tokens (created and shown once, revoked), and for the
// instance admin, new teams.

import { h, mount, field, copyButton, prose, timeEl } from '../dom.js';
import { onSubmit, formAlert, statusLine } from '../forms.js';
import { href, go } from '../router.js';
import { sentence } from '../format.js';
import * as Q from '../queries.js';

export function teamSettingsView(state, teamId) {
  const team = state.team(teamId);
  if (!state.can(teamId, 'ADMIN')) {
    return { el: h('section', { class: 'page' }, h('h1', null, 'Team settings'), h('p', null, 'Only team admins manage tokens and retention. Your token’s role is ', state.role(teamId).toLowerCase(), '.')) };
  }
  const root = h('div', { class: 'page settings-grid' });

  // Retention.
  const days = h('input', { type: 'number', min: 1, max: 3650, required: true, value: team?.retentionDays ?? 30 });
  const retStatus = statusLine();
  const retention = h('form', { class: 'settings-form', 'aria-label': 'Retention' }, formAlert(),
    field('Keep captures for (days)', days, { field: 'days', hint: 'Older captures are deleted by the next retention pass (hourly).' }).wrap,
    h('button', { type: 'submit', class: 'btn' }, 'Save retention'), retStatus.el);
  onSubmit(retention, async () => {
    const t = (await state.api.request(Q.SET_RETENTION, { team: teamId, days: Number(days.value) })).setRetention;
    const i = state.teams.findIndex((x) => x.id === t.id);
    if (i >= 0) state.teams[i] = { ...state.teams[i], retentionDays: t.retentionDays };
    retStatus.say(`Captures are kept for ${t.retentionDays} days.`);
  });

  // Tokens.
  const tokenList = h('div', { class: 'tokens' }, h('p', null, 'Loading tokens…'));
  const secretBox = h('div', { class: 'secret-once', hidden: true, role: 'status' });
  async function loadTokens() {
    try {
      const tokens = (await state.api.request(Q.TOKENS, { team: teamId })).tokens;
      renderTokens(tokens);
    } catch (e) {
      mount(tokenList, h('p', { role: 'alert', class: 'error-text' }, sentence(e.message)));
    }
  }
  function renderTokens(tokens) {
    mount(tokenList, h('table', { class: 'kv tokens-table' },
      h('caption', { class: 'visually-hidden' }, 'Tokens of this team'),
      h('thead', null, h('tr', null, ['Name', 'Role', 'Created', 'Last used', 'Status', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, tokens.map((t) => {
        const cell = h('td');
        const self = t.id === state.me.token.id;
        if (!t.revoked && !(t.instanceAdmin && !state.me.instanceAdmin)) {
          const revoke = h('button', { type: 'button', class: 'btn small ghost danger', 'aria-label': `Revoke ${t.name}`, 'aria-haspopup': t.instanceAdmin || self ? 'dialog' : null }, 'Revoke');
          revoke.addEventListener('click', () => {
            if (t.instanceAdmin || self) {
              finalRevoke(t, self, revoke);
              return;
            }
            mount(cell,
              h('span', { role: 'alert' }, 'Revoke at once? '),
              h('button', { type: 'button', class: 'btn small danger', onclick: async () => {
                try {
                  await state.api.request(Q.REVOKE_TOKEN, { id: t.id });
                  loadTokens();
                } catch (e) {
                  mount(cell, h('span', { role: 'alert', class: 'error-text' }, sentence(e.message)));
                }
              } }, 'Revoke'),
              h('button', { type: 'button', class: 'btn small', onclick: () => loadTokens() }, 'Keep'));
            cell.querySelector('button').focus();
          });
          cell.append(revoke);
        }
        return h('tr', { class: t.revoked ? 'revoked' : '' },
          h('th', { scope: 'row' }, t.name, self ? h('span', { class: 'tag' }, 'you') : null, t.instanceAdmin ? h('span', { class: 'tag' }, 'instance admin') : null),
          h('td', null, t.role.toLowerCase()),
          h('td', { class: 'nowrap' }, timeEl(t.createdAt, { ms: false })),
          h('td', { class: 'nowrap' }, t.lastUsedAt ? timeEl(t.lastUsedAt, { ms: false }) : 'never'),
          h('td', null, t.revoked ? 'revoked' : 'active'),
          cell);
      }))));
  }
  /**
   * Revoking the instance admin token, or the token this page uses, cannot be taken back from
   * here: a modal dialog says what is lost, and "Keep it" has the focus.
   */
  function finalRevoke(t, self, opener) {
    const error = h('p', { class: 'form-alert', role: 'alert', hidden: true });
    const keep = h('button', { type: 'button', class: 'btn', autofocus: true, onclick: () => dialog.close() }, 'Keep it');
    const confirm = h('button', { type: 'button', class: 'btn danger', onclick: async () => {
      confirm.disabled = true;
      try {
        await state.api.request(Q.REVOKE_TOKEN, { id: t.id });
      } catch (e) {
        error.textContent = sentence(e.message);
        error.hidden = false;
        confirm.disabled = false;
        return;
      }
      dialog.close();
      // For the page's own token this read is refused, which signs the page out.
      loadTokens();
    } }, t.instanceAdmin ? 'Revoke the admin token' : 'Revoke and sign out');
    const dialog = h('dialog', { class: 'confirm-revoke', 'aria-labelledby': 'revoke-title', 'aria-describedby': 'revoke-what' },
      h('h2', { id: 'revoke-title' }, t.instanceAdmin ? `Revoke the instance admin token “${t.name}”?` : `Revoke “${t.name}”, the token you are using?`),
      h('div', { id: 'revoke-what' },
        h('p', null, h('strong', null, 'This cannot be undone.'), ' A revoked token never works again.'),
        t.instanceAdmin
          ? h('p', null, prose('The instance loses this admin token: nothing can manage every team until someone with access to the server runs `hookmetry admin-token --rotate` to mint another.'))
          : null,
        self ? h('p', null, 'This page is signed in with it and will be signed out at once.') : null),
      error,
      h('div', { class: 'dialog-actions' }, keep, confirm));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener.isConnected) opener.focus();
    });
    root.append(dialog);
    dialog.showModal();
    keep.focus();
  }

  const tokenName = h('input', { type: 'text', required: true, autocomplete: 'off', placeholder: 'e.g. ci, alice-laptop' });
  const role = h('select', null, ['VIEWER', 'EDITOR', 'ADMIN'].map((r) => h('option', { value: r }, r.toLowerCase())));
  const createToken = h('form', { class: 'settings-form', 'aria-label': 'Create a token' }, formAlert(),
    h('div', { class: 'grid-2' }, field('Name', tokenName, { field: 'name' }).wrap, field('Role', role, { field: 'role', hint: 'Viewer reads; editor also changes endpoints and replays; admin also manages tokens.' }).wrap),
    h('button', { type: 'submit', class: 'btn primary' }, 'Create token'));
  onSubmit(createToken, async () => {
    const r = (await state.api.request(Q.CREATE_TOKEN, { input: { teamId, name: tokenName.value.trim(), role: role.value } })).createToken;
    mount(secretBox,
      h('p', null, h('strong', null, `Token “${r.token.name}” created. Copy it now: it is shown only once.`)),
      h('code', { class: 'token-secret' }, r.secret), ' ', copyButton('Copy token', r.secret),
      h('button', { type: 'button', class: 'btn small ghost', onclick: () => { secretBox.hidden = true; secretBox.replaceChildren(); } }, 'Done, hide it'));
    secretBox.hidden = false;
    tokenName.value = '';
    loadTokens();
  });

  // New teams (instance admin only).
  let teamsSection = null;
  if (state.me.instanceAdmin) {
    const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
    const ret = h('input', { type: 'number', min: 1, max: 3650, value: 30, required: true });
    const f = h('form', { class: 'settings-form', 'aria-label': 'Create a team' }, formAlert(),
      h('div', { class: 'grid-2' }, field('Team name', name, { field: 'name' }).wrap, field('Retention (days)', ret, { field: 'retentionDays' }).wrap),
      h('button', { type: 'submit', class: 'btn' }, 'Create team'));
    onSubmit(f, async () => {
      const t = (await state.api.request(Q.CREATE_TEAM, { name: name.value.trim(), days: Number(ret.value) })).createTeam;
      state.teams.push(t);
      go(href('t', t.id, 'settings'));
    });
    teamsSection = h('section', { class: 'settings-section card', 'aria-labelledby': 'teams-h' }, h('h2', { id: 'teams-h' }, 'New team'),
      h('p', { class: 'hint' }, 'As instance admin you act as admin in every team. Give a new team its first admin by creating a token in it.'), f);
  }

  mount(root,
    h('h1', null, `Team settings · ${team?.name ?? teamId}`),
    h('section', { class: 'settings-section card', 'aria-labelledby': 'ret-h' }, h('h2', { id: 'ret-h' }, 'Retention'), retention),
    h('section', { class: 'settings-section card wide', 'aria-labelledby': 'tok-h' }, h('h2', { id: 'tok-h' }, 'Tokens'),
      h('p', { class: 'hint' }, 'Tokens are stored hashed; a token’s secret is shown once, when it is created. Revoking stops it at once, live connections included.'),
      secretBox, tokenList, h('h3', null, 'Create a token'), createToken),
    teamsSection);
  loadTokens();
  return { el: root };
}
