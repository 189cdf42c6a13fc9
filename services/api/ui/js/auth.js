// Where the API token lives in the browser.
//
// By default in sessionStorage: it is gone when the tab is closed and other tabs do not see it.
// "Keep me signed in on this device" puts it in localStorage instead. Signing out clears both,
// and with them every other `hookmetry.` key (last endpoint, last replay target): what one
// person did must not show to the next one to sign in on a shared browser.
// Either way the token is readable by scripts of this origin, which is why the page allows no
// script but its own (see the Content-Security-Policy in services/api/src/ui.rs).

const PREFIX = 'hookmetry.';
const KEY = `${PREFIX}token`;

export function loadToken() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(KEY) || null;
}

export function saveToken(token, remember) {
  clearToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

export function isRemembered() {
  return localStorage.getItem(KEY) != null;
}

/** Removes every Hookmetry key from both storages: the token and what the page remembered. */
export function clearAll() {
  for (const store of [sessionStorage, localStorage]) {
    const keys = [];
    for (let i = 0; i < store.length; i += 1) {
      const k = store.key(i);
      if (k?.startsWith(PREFIX)) keys.push(k);
    }
    keys.forEach((k) => store.removeItem(k));
  }
}
