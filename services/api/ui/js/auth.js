// Where the API token lives in the browser.
//
// By default in sessionStorage: it is gone when the tab is closed and other tabs do not see it.
// "Keep me signed in on this device" puts it in localStorage instead. Signing out clears both.
// Either way the token is readable by scripts of this origin, which is why the page allows no
// script but its own (see the Content-Security-Policy in services/api/src/ui.rs).

const KEY = 'hookmetry.token';

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
