// Create an endpoint: a name, and the capture URL comes back. When providers cannot reach this
// instance (a laptop), the screen says so before the URL is pasted anywhere.

import { h, field } from '../dom.js';
import { onSubmit, formAlert } from '../forms.js';
import { href, go } from '../router.js';
import { reachabilityNote } from './reachability.js';
import * as Q from '../queries.js';

export function newEndpointView(state, teamId) {
  const team = state.team(teamId);
  if (!state.can(teamId, 'EDITOR')) {
    return { el: h('section', { class: 'page' }, h('h1', null, 'New endpoint'), h('p', null, 'Creating endpoints needs the editor role in this team. Ask a team admin for a token with it.')) };
  }
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, autocomplete: 'off', placeholder: 'e.g. stripe-staging' });
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'new-title' },
    h('h1', { id: 'new-title' }, 'New endpoint'),
    h('p', null, `In team ${team ? team.name : teamId}. You get an unguessable capture URL to give to a webhook sender; teammates see its captures too.`),
    formAlert(),
    field('Name', name, { field: 'name', hint: 'For you and your team; it is not part of the URL.' }).wrap,
    h('button', { type: 'submit', class: 'btn primary' }, 'Create endpoint'),
    reachabilityNote(state, {
      meanwhile: 'Meanwhile, create the endpoint and use “Send a test event” on its page: it makes a realistic provider event here, signed with the endpoint’s secret.',
    }),
  );
  onSubmit(form, async () => {
    const ep = (await state.api.request(Q.CREATE_ENDPOINT, { name: name.value.trim(), team: teamId })).createEndpoint;
    state.putEndpoint(ep);
    await state.endpointsOf(teamId, { refresh: true });
    go(href('e', ep.id));
  });
  setTimeout(() => name.focus(), 0);
  return { el: h('section', { class: 'page' }, form), keepFocus: true };
}
