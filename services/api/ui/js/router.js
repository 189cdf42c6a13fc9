// Hash routes: the page is always `/`, so nothing here can shadow a server route.
//
//   #/signin
//   #/t/<team>                       team home: its endpoints, or "create your first endpoint"
//   #/t/<team>/new                   create an endpoint
//   #/t/<team>/settings              team settings (tokens, retention) for admins
//   #/e/<endpoint>                   live capture list
//   #/e/<endpoint>/c/<capture>[/<tab>]  capture detail next to the list
//   #/e/<endpoint>/settings          endpoint settings

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
  const path = hash.replace(/^#/, '') || '/';
  for (const [name, re, keys] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      const params = {};
      keys.forEach((k, i) => {
        if (m[i + 1] != null) params[k] = decodeURIComponent(m[i + 1]);
      });
      return { name, params, path };
    }
  }
  return { name: 'home', params: {}, path };
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
