// Hash routes: the page is always `/`, so nothing here can shadow a server route.
//
//   #/signin
//   #/t/<team>                       team home: its endpoints, or "create your first endpoint"
//   #/t/<team>/new                   create an endpoint
//   #/t/<team>/settings              team settings (tokens, retention) for admins
//   #/e/<endpoint>                   live capture list
//   #/e/<endpoint>/c/<capture>[/<tab>]  capture detail next to the list
//   #/e/<endpoint>/settings          endpoint settings
//
// The list and detail routes take the list's filters after `?` (`#/e/<id>?method=POST&q=…`), so
// a filtered view is a link that can be shared or bookmarked.

const ROUTES = [
  ['signin', /^\/signin$/, []],
  ['team', /^\/t\/([^/]+)$/, ['team']],
  ['new', /^\/t\/([^/]+)\/new$/, ['team']],
  ['team-settings', /^\/t\/([^/]+)\/settings$/, ['team']],
  ['captures', /^\/e\/([^/]+)$/, ['endpoint']],
  ['capture', /^\/e\/([^/]+)\/c\/([^/]+)(?:\/([a-z]+))?$/, ['endpoint', 'capture', 'tab']],
  ['endpoint-settings', /^\/e\/([^/]+)\/settings$/, ['endpoint']],
];

export function parseRoute(hash = location.hash) {
  const full = hash.replace(/^#/, '') || '/';
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  const query = q < 0 ? '' : full.slice(q + 1);
  for (const [name, re, keys] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      const params = { query };
      keys.forEach((k, i) => {
        if (m[i + 1] != null) params[k] = decodeURIComponent(m[i + 1]);
      });
      return { name, params, path };
    }
  }
  return { name: 'home', params: { query }, path };
}

/** The `?…` part of the current route, or ''. */
export function currentQuery() {
  const q = location.hash.indexOf('?');
  return q < 0 ? '' : location.hash.slice(q);
}

export function href(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function go(hash, { replace = false } = {}) {
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
    return;
  }
  if (replace) {
    history.replaceState(null, '', hash);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

/** Calls `fn(route)` now and on every change of the fragment that is a route. */
export function onRoute(fn) {
  const handler = () => {
    if (location.hash && !location.hash.startsWith('#/')) return; // in-page anchors
    fn(parseRoute());
  };
  window.addEventListener('hashchange', handler);
  handler();
  return () => window.removeEventListener('hashchange', handler);
}
