// The frame around every signed-in screen: team and endpoint switchers, the live-connection
// indicator and its notice, team settings, sign-out, and the keyboard shortcuts dialog.

import { h, mount, id } from '../dom.js';
import { href, go } from '../router.js';
import { expiryWords } from './expiry.js';

const SHORTCUTS = [
  ['j', 'Next capture (opens it)'],
  ['k', 'Previous capture (opens it)'],
  ['/', 'Search captures'],
  ['Enter', 'In the list: move focus to the open capture'],
  ['Escape', 'Close the capture and return to the list'],
  ['?', 'Show these shortcuts'],
];

export function createShell({ state, onSignOut }) {
  const teamSelect = h('select', { id: id('team'), class: 'compact' });
  const endpointSelect = h('select', { id: id('endpoint'), class: 'compact' });
  const teamLabel = h('label', { for: teamSelect.id, class: 'switch-label' }, 'Team');
  const endpointLabel = h('label', { for: endpointSelect.id, class: 'switch-label' }, 'Endpoint');
  const newLink = h('a', { class: 'btn small', href: '#' }, '+ New endpoint');
  const teamSettings = h('a', { class: 'btn small ghost', href: '#' }, 'Team settings');
  const liveDot = h('span', { class: 'live-dot', 'aria-hidden': 'true' });
  const liveText = h('span', { class: 'live-text' }, 'Idle');
  const liveBadge = h('span', { class: 'live-badge', dataset: { state: 'idle' }, title: 'Live updates over WebSocket' }, liveDot, liveText);
  const who = h('span', { class: 'who' });
  const shortcutsBtn = h('button', { type: 'button', class: 'btn small ghost shortcuts-btn', 'aria-haspopup': 'dialog' }, 'Shortcuts');
  const signOut = h('button', { type: 'button', class: 'btn small ghost', onclick: onSignOut }, 'Sign out');
  const noticeText = h('span', { class: 'notice-text' });
  const retry = h('button', { type: 'button', class: 'btn small', hidden: true, onclick: () => state.live.reconnectNow() }, 'Retry now');
  const notice = h('div', { class: 'conn-notice', role: 'status', 'aria-live': 'polite', hidden: true }, noticeText, retry);
  const main = h('main', { id: 'main', tabindex: -1 });

  const dialog = h(
    'dialog',
    { class: 'shortcuts', 'aria-labelledby': 'shortcuts-title' },
    h('h2', { id: 'shortcuts-title' }, 'Keyboard shortcuts'),
    h('dl', null, SHORTCUTS.map(([k, what]) => [h('dt', null, h('kbd', null, k)), h('dd', null, what)])),
    h('p', { class: 'hint' }, 'Shortcuts are off while you type in a field.'),
    h('form', { method: 'dialog' }, h('button', { type: 'submit', class: 'btn' }, 'Close')),
  );
  shortcutsBtn.addEventListener('click', () => dialog.showModal());

  const header = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '#/' }, h('img', { src: new URL('../../icon.svg', import.meta.url).href, alt: '', width: 24, height: 24 }), h('span', null, 'Hookmetry')),
    h('nav', { class: 'switchers', 'aria-label': 'Team and endpoint' },
      h('div', { class: 'switch' }, teamLabel, teamSelect),
      h('div', { class: 'switch' }, endpointLabel, endpointSelect),
      newLink),
    h('div', { class: 'top-right' }, liveBadge, who, teamSettings, shortcutsBtn, signOut),
  );
  const root = h('div', { class: 'shell' }, header, notice, main, dialog);

  teamSelect.addEventListener('change', () => go(href('t', teamSelect.value)));
  endpointSelect.addEventListener('change', () => {
    if (endpointSelect.value) go(href('e', endpointSelect.value));
  });

  // The connection indicator, and a notice that says what happens while it is down.
  let countdown = 0;
  let hideTimer = 0;
  state.live.addEventListener('state', (ev) => {
    const d = ev.detail;
    clearInterval(countdown);
    clearTimeout(hideTimer);
    liveBadge.dataset.state = d.state;
    if (d.state === 'live') {
      liveText.textContent = 'Live';
      retry.hidden = true;
      if (d.reconnected) {
        noticeText.textContent = 'Reconnected: live updates are back, and anything that arrived meanwhile has been loaded.';
        notice.dataset.kind = 'ok';
        notice.hidden = false;
        hideTimer = setTimeout(() => {
          notice.hidden = true;
        }, 6000);
      } else {
        notice.hidden = true;
      }
    } else if (d.state === 'reconnecting') {
      const tick = () => {
        const secs = d.retryAt ? Math.max(0, Math.ceil((d.retryAt - Date.now()) / 1000)) : 0;
        liveText.textContent = d.connecting || secs === 0 ? 'Reconnecting…' : `Reconnecting in ${secs} s`;
        noticeText.textContent = d.connecting
          ? `Live updates are interrupted. Reconnecting now (attempt ${d.attempt + 1})…`
          : `Live updates are interrupted${d.reason ? ` (${d.reason})` : ''}. Reconnecting in ${secs} s (attempt ${d.attempt}); new captures will appear once it is back.`;
      };
      tick();
      countdown = setInterval(tick, 1000);
      notice.dataset.kind = 'warn';
      notice.hidden = false;
      retry.hidden = Boolean(d.connecting);
    } else if (d.state === 'connecting') {
      liveText.textContent = 'Connecting…';
    } else if (d.state === 'idle') {
      liveText.textContent = 'Idle';
    } else {
      liveText.textContent = 'Offline';
    }
  });

  let contextSeq = 0;
  async function setContext({ teamId, endpointId }) {
    const seq = ++contextSeq;
    const me = state.me;
    const role = me.instanceAdmin ? 'instance admin' : me.role.toLowerCase();
    who.textContent = me.token.name === role ? role : `${me.token.name} (${role})`;
    who.title = `Signed in with the token “${me.token.name}”; role: ${role}`;
    const team = teamId || state.lastTeam || me.team.id;
    state.lastTeam = team;
    mount(teamSelect, state.teams.map((t) => h('option', { value: t.id, selected: t.id === team }, t.name)));
    teamSelect.disabled = state.teams.length < 2;
    newLink.href = href('t', team, 'new');
    newLink.hidden = !state.can(team, 'EDITOR');
    teamSettings.href = href('t', team, 'settings');
    teamSettings.hidden = !state.can(team, 'ADMIN');
    let endpoints = [];
    try {
      endpoints = await state.endpointsOf(team);
    } catch {
      endpoints = [];
    }
    if (seq !== contextSeq) return; // a later call owns the switchers
    mount(
      endpointSelect,
      endpointId ? null : h('option', { value: '', selected: true }, endpoints.length ? 'Choose…' : 'No endpoints yet'),
      endpoints.map((e) => h('option', { value: e.id, selected: e.id === endpointId }, e.expiresAt ? `${e.name} (${expiryWords(e.expiresAt)})` : e.name)),
    );
  }

  return { el: root, main, setContext, dialog };
}
