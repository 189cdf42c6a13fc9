// What the whole page shares: the API client, the live connection, who is signed in, and small
// caches of teams, endpoints and providers.

import * as Q from './queries.js';

export function createState(api, live) {
  const state = {
    api,
    live,
    me: null,
    teams: [],
    endpointsByTeam: new Map(),
    endpoints: new Map(),
    providers: null,
    testEventCatalog: null,
    reachability: null,
    lastTeam: null,

    async loadMe() {
      const d = await api.request(Q.ME);
      state.me = d.me;
      state.teams = d.teams;
      return d.me;
    },

    /** The caller's role in `teamId` (the instance admin is ADMIN everywhere). */
    role(teamId) {
      if (!state.me) return 'VIEWER';
      if (state.me.instanceAdmin) return 'ADMIN';
      return state.me.team.id === teamId ? state.me.role : 'VIEWER';
    },

    can(teamId, role) {
      const order = { VIEWER: 0, EDITOR: 1, ADMIN: 2 };
      return order[state.role(teamId)] >= order[role];
    },

    team(id) {
      return state.teams.find((t) => t.id === id) || null;
    },

    async endpointsOf(teamId, { refresh = false } = {}) {
      if (!refresh && state.endpointsByTeam.has(teamId)) return state.endpointsByTeam.get(teamId);
      const d = await api.request(Q.ENDPOINTS, { team: teamId });
      state.endpointsByTeam.set(teamId, d.endpoints);
      return d.endpoints;
    },

    async endpoint(id, { refresh = false } = {}) {
      if (!refresh && state.endpoints.has(id)) return state.endpoints.get(id);
      const d = await api.request(Q.ENDPOINT, { id });
      if (d.endpoint) state.endpoints.set(id, d.endpoint);
      return d.endpoint;
    },

    /** Keeps the caches in step after a mutation answered with the endpoint. */
    putEndpoint(ep) {
      state.endpoints.set(ep.id, ep);
      const list = state.endpointsByTeam.get(ep.teamId);
      if (list) {
        const i = list.findIndex((e) => e.id === ep.id);
        const summary = { id: ep.id, teamId: ep.teamId, name: ep.name, url: ep.url, expiresAt: ep.expiresAt ?? null };
        if (i >= 0) list[i] = summary;
        else list.push(summary);
      }
    },

    dropEndpoint(id, teamId) {
      state.endpoints.delete(id);
      const list = state.endpointsByTeam.get(teamId);
      if (list) state.endpointsByTeam.set(teamId, list.filter((e) => e.id !== id));
    },

    async loadProviders() {
      if (!state.providers) state.providers = (await api.request(Q.PROVIDERS)).providers;
      return state.providers;
    },

    async loadTestEventCatalog() {
      if (!state.testEventCatalog) state.testEventCatalog = (await api.request(Q.TEST_EVENT_CATALOG)).testEventCatalog;
      return state.testEventCatalog;
    },

    /**
     * Whether providers can reach the capture URLs. It follows from the server's configuration,
     * which does not change while it runs, so one answer serves the whole page; views asking at
     * once share the one request.
     */
    loadReachability() {
      if (!state.reachability) {
        state.reachability = api.request(Q.CAPTURE_REACHABILITY).then((d) => d.captureReachability);
        state.reachability.catch(() => {
          state.reachability = null;
        });
      }
      return state.reachability;
    },
  };
  return state;
}
