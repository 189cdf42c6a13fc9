// Mounts GraphiQL on this origin's API. The token the web inspector stored (same origin, same
// key as services/api/ui/js/auth.js) is sent as the Authorization header over HTTP and in
// connection_init over WebSocket; without one, set the header in GraphiQL's Headers tab.
(function () {
  'use strict';
  var KEY = 'hookmetry.token';
  var token = null;
  try {
    token = sessionStorage.getItem(KEY) || localStorage.getItem(KEY);
  } catch (e) {
    token = null;
  }
  var api = new URL('/graphql', window.location.href);
  var ws = new URL('/graphql/ws', window.location.href);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  var headers = token ? { Authorization: 'Bearer ' + token } : {};
  var fetcher = GraphiQL.createFetcher({
    url: api.toString(),
    subscriptionUrl: ws.toString(),
    headers: headers,
    wsConnectionParams: token ? { authorization: 'Bearer ' + token } : {},
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      // The token stays where the inspector keeps it; GraphiQL's own storage must not copy it.
      shouldPersistHeaders: false,
      defaultQuery: '{ me { role team { name } } endpoints { id name url } }\n',
    })
  );
})();
