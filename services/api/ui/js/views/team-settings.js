// Team settings for admins: retention, tokens (created and shown once, revoked), and for the
// instance admin, new teams.

import { h, mount, field, copyButton } from '../dom.js';
import { onSubmit, formAlert, statusLine } from '../forms.js';
import { href, go } from '../router.js';
import { formatTime, sentence } from '../format.js';
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
          const revoke = h('button', { type: 'button', class: 'btn small ghost danger', 'aria-label': `Revoke ${t.name}` }, 'Revoke');
          revoke.addEventListener('click', () => {
            mount(cell,
              h('span', { role: 'alert' }, self ? 'This is the token you are using: you will be signed out. ' : 'Revoke at once? '),
              h('button', { type: 'button', class: 'btn small danger', onclick: async () => {
                try {
                  await state.api.request(Q.REVOKE_TOKEN, { id: t.id });
                  if (!self) loadTokens();
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
          h('td', { class: 'nowrap' }, formatTime(t.createdAt)),
          h('td', { class: 'nowrap' }, t.lastUsedAt ? formatTime(t.lastUsedAt) : 'never'),
          h('td', null, t.revoked ? 'revoked' : 'active'),
          cell);
      }))));
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
