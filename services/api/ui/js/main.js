// Entry point: sign-in, the shell, routes to views, global keyboard shortcuts.

import { h, mount } from './dom.js';
import { createApi, onUnauthenticated } from './api.js';
import { LiveClient } from './ws.js';
import { loadToken, saveToken, clearAll } from './auth.js';
import { createState } from './state.js';
import { onRoute, go, href } from './router.js';
import { sentence } from './format.js';
import { signinView } from './views/signin.js';
import { createShell } from './views/shell.js';
import { capturesView } from './views/captures.js';
import { newEndpointView } from './views/endpoint-new.js';
import { endpointSettingsView } from './views/endpoint-settings.js';
import { teamSettingsView } from './views/team-settings.js';

const app = document.getElementById('app');
let token = loadToken();
const api = createApi(() => token);
let state = null;
let shell = null;
let view = null; // {kind, key, el, update?, destroy?, keydown?}
let stopRouting = null;
// Where to go after signing in: the link the user opened, if any.
let wanted = location.hash.startsWith('#/') && location.hash !== '#/signin' ? location.hash : '#/';

function showSignin(message) {
  stopRouting?.();
  stopRouting = null;
  view?.destroy?.();
  view = null;
  state?.live.close();
  state = null;
  shell = null;
  token = null;
  mount(app, signinView({
    api,
    message,
    onSignedIn: async (value, remember) => {
      saveToken(value, remember);
      token = value;
      history.replaceState(null, '', wanted);
      wanted = '#/';
      await start();
    },
  }));
  document.title = 'Sign in · Hookmetry';
}

function signOut(message) {
  clearAll();
  history.replaceState(null, '', '#/signin');
  showSignin(message);
}

onUnauthenticated((err) => {
  if (state) signOut(`You were signed out: ${sentence(err.message).replace(/^Not authenticated: /i, '')}`);
});

async function start() {
  const live = new LiveClient(() => token);
  state = createState(api, live);
  live.addEventListener('state', (ev) => {
    if (ev.detail.state === 'unauthenticated' && state?.live === live) {
      signOut(`You were signed out: ${sentence(ev.detail.reason || 'the token is no longer valid').replace(/^Not authenticated: /i, '')}`);
    }
  });
  try {
    await state.loadMe();
  } catch (e) {
    live.close();
    if (e.code === 'UNAUTHENTICATED') {
      signOut('Your saved token is no longer accepted (unknown or revoked). Sign in with a valid one.');
    } else {
      mount(app, h('main', { id: 'main', class: 'fatal' }, h('h1', null, 'Hookmetry is not reachable'), h('p', { role: 'alert' }, sentence(e.message)),
        h('button', { type: 'button', class: 'btn primary', onclick: () => location.reload() }, 'Try again')));
    }
    return;
  }
  shell = createShell({ state, onSignOut: () => signOut() });
  mount(app, shell.el);
  stopRouting = onRoute(route);
}

// Routes are asynchronous; only the latest one may change the page.
let routeSeq = 0;
const STALE = Symbol('stale route');

async function route(r) {
  if (!state) return;
  const seq = ++routeSeq;
  const wait = async (p) => {
    const v = await p;
    if (seq !== routeSeq || !state) throw STALE;
    return v;
  };
  const focusMain = view != null;
  try {
    switch (r.name) {
      case 'signin':
      case 'home':
        return go(href('t', state.lastTeam || state.me.team.id), { replace: true });
      case 'team': {
        const eps = await wait(state.endpointsOf(r.params.team, { refresh: true }));
        const last = localStorage.getItem(`hookmetry.lastEndpoint.${r.params.team}`);
        const pick = eps.find((e) => e.id === last) || eps[0];
        return go(pick ? href('e', pick.id) : href('t', r.params.team, 'new'), { replace: true });
      }
      case 'new':
        await wait(shell.setContext({ teamId: r.params.team }));
        return show('new', r.params.team, () => newEndpointView(state, r.params.team), 'New endpoint');
      case 'team-settings':
        await wait(shell.setContext({ teamId: r.params.team }));
        return show('team-settings', r.params.team, () => teamSettingsView(state, r.params.team), 'Team settings');
      case 'captures':
      case 'capture':
      case 'endpoint-settings': {
        const ep = await wait(state.endpoint(r.params.endpoint));
        if (!ep) {
          await wait(shell.setContext({}));
          return show('missing', r.path, () => ({ el: h('section', { class: 'page' }, h('h1', null, 'Endpoint not found'),
            h('p', null, 'It was deleted, or it belongs to a team this token cannot see.'), h('a', { href: '#/' }, 'Back to your endpoints')) }), 'Not found');
        }
        localStorage.setItem(`hookmetry.lastEndpoint.${ep.teamId}`, ep.id);
        await wait(shell.setContext({ teamId: ep.teamId, endpointId: ep.id }));
        if (r.name === 'endpoint-settings') {
          if (view?.kind === 'endpoint-settings' && view.key === ep.id) return view.update?.(r.params);
          return show('endpoint-settings', ep.id, () => endpointSettingsView(state, ep, r.params), `Settings · ${ep.name}`);
        }
        const key = ep.id;
        if (view?.kind === 'captures' && view.key === key) {
          view.update(r.params);
          document.title = `${ep.name} · Hookmetry`;
          return;
        }
        return show('captures', key, () => capturesView(state, ep, r.params), `${ep.name} · Hookmetry`, focusMain);
      }
      default:
        return go('#/', { replace: true });
    }
  } catch (e) {
    if (e === STALE) return;
    show('error', String(Math.random()), () => ({ el: h('section', { class: 'page' }, h('h1', null, 'That did not work'), h('p', { role: 'alert' }, sentence(e.message))) }), 'Error');
  }
}

function show(kind, key, make, title, focus = true) {
  // The same screen again (a link to where you are): keep it, and what is typed in it.
  if (view && view.kind === kind && view.key === key && kind !== 'error') return;
  view?.destroy?.();
  const v = make();
  view = { kind, key, ...v };
  mount(shell.main, v.el);
  document.title = title.includes('Hookmetry') ? title : `${title} · Hookmetry`;
  if (focus && !v.keepFocus) shell.main.focus({ preventScroll: true });
}

// Global shortcuts: never while typing, never with modifiers.
document.addEventListener('keydown', (e) => {
  if (!view || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
  // A dialog handles its own keys (Escape closes it).
  if (document.querySelector('dialog[open]')) return;
  const t = e.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  if (e.key === 'Escape' && typing && t.matches('.filters input')) {
    t.blur();
    return;
  }
  if (typing) return;
  if (e.key === '?') {
    e.preventDefault();
    shell?.dialog.showModal();
    return;
  }
  if (view.keydown?.(e)) e.preventDefault();
});

// The skip link must not change the route.
document.addEventListener('click', (e) => {
  const a = e.target.closest?.('a.skip-link');
  if (!a) return;
  e.preventDefault();
  document.getElementById('main')?.focus();
});

document.getElementById('booting')?.remove();
if (token) start();
else {
  if (location.hash !== '#/signin') history.replaceState(null, '', `#/signin`);
  showSignin();
}
