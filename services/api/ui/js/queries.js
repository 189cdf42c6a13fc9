// Every GraphQL document the inspector sends (the contract is docs/schema.graphql).

export const ME = `{ me { role instanceAdmin token { id name } team { id name retentionDays } } teams { id name retentionDays createdAt } }`;

export const TEAMS = `{ teams { id name retentionDays createdAt } }`;

/** A scenario reply, whole: the editor turns the rules back into `ScenarioRuleInput`. */
const REPLY = 'status headers { name value } body delayMs timeout';
const SCENARIO_FIELDS = `scenario { id method pathPrefix header { name contains } eventTypes
    answer { kind summary fixed { ${REPLY} } sequence { then steps { ${REPLY} } }
      mix { choices { percent reply { ${REPLY} } } rest { ${REPLY} } }
      goneAfter { count before { ${REPLY} } after { ${REPLY} } }
      latency { reply { ${REPLY} } points { percentile ms } } } }`;

const ENDPOINT_FIELDS = `id teamId name token url createdAt handshakes maxCaptures expiresAt ttlSeconds
  response { status headers { name value } body delayMs }
  ${SCENARIO_FIELDS}
  verification { provider secrets { label } toleranceSeconds effectiveToleranceSeconds publicUrl
    generic { header algorithm encoding prefix template timestampHeader idHeader } }
  forwardingRules { id target method pathPrefix headerName headerContains }`;

export const ENDPOINTS = `query($team: ID) { endpoints(teamId: $team) { id teamId name url expiresAt } }`;

export const ENDPOINT = `query($id: ID!) { endpoint(id: $id) { ${ENDPOINT_FIELDS} } }`;

export const CREATE_ENDPOINT = `mutation($name: String!, $team: ID) { createEndpoint(input: {name: $name, teamId: $team}) { ${ENDPOINT_FIELDS} } }`;

export const UPDATE_ENDPOINT = `mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) { ${ENDPOINT_FIELDS} } }`;

/**
 * The counters are read from the store on each ask (and in cluster mode from a quorum), so only
 * the settings page asks, never the lists.
 */
const COUNTER_FIELDS = 'id maxCaptures counters { captures rules { ruleId count } }';
export const ENDPOINT_COUNTERS = `query($id: ID!) { endpoint(id: $id) { ${COUNTER_FIELDS} } }`;
export const RESET_COUNTERS = `mutation($id: ID!) { resetEndpointCounters(input: {id: $id}) { ${COUNTER_FIELDS} } }`;

export const DELETE_ENDPOINT = `mutation($id: ID!) { deleteEndpoint(input: {id: $id}) { id } }`;

export const ADD_SECRET = `mutation($input: AddSecretInput!) { addVerificationSecret(input: $input) { ${ENDPOINT_FIELDS} } }`;

export const REMOVE_SECRET = `mutation($input: RemoveSecretInput!) { removeVerificationSecret(input: $input) { ${ENDPOINT_FIELDS} } }`;

export const REVERIFY = `mutation($input: ReverifyCapturesInput!) { reverifyCaptures(input: $input) { count hasMore endCursor verdicts { verdict count } } }`;

export const SET_RULES = `mutation($input: SetForwardingRulesInput!) { setForwardingRules(input: $input) { ${ENDPOINT_FIELDS} } }`;

export const PROVIDERS = `{ providers { id name defaultToleranceSeconds urlBound publicKey } }`;

/**
 * What a list row shows. The event parts are the cheap ones: one capture of the redelivery group
 * (only its count and kind are shown), and the ordering flag without the newer capture. The
 * event id lets a live redelivery update the rows of its group without a query.
 */
const ROW_EVENT_FIELDS = `event { id type } redeliveries(first: 1) { count kind } ordering { outOfOrder } schemaChange { kind }`;
// The answer is decided before the capture is stored, so a live row has it from the start.
export const ROW_FIELDS = `id method path query bodySize receivedAt contentType verification { verdict provider }
  answer { ruleId status timedOut step } ${ROW_EVENT_FIELDS}`;

/** A row again, once its capture is checked (its event is read then). */
export const ROW = `query($id: ID!) { capture(id: $id) { id verification { verdict provider } ${ROW_EVENT_FIELDS} } }`;

export const CAPTURES = `query($e: ID!, $first: Int, $after: String, $filter: CaptureFilter) {
  captures(endpointId: $e, first: $first, after: $after, filter: $filter) {
    edges { node { ${ROW_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const CAPTURE_RECEIVED = (withBody) => `subscription($e: ID!) {
  captureReceived(endpointId: $e) { ${ROW_FIELDS} ${withBody ? 'bodyBase64 headers { name value }' : 'headers { name value }'} }
}`;

/** Captures whose body changed their event type's shape; analysed shortly after storing. */
export const SCHEMA_CHANGED = `subscription($e: ID!) { schemaChanged(endpointId: $e) { captureId change { kind } } }`;

/** Deletions and new verdicts of stored captures, made by any view or teammate. */
export const CAPTURE_CHANGED = `subscription($e: ID!) {
  captureChanged(endpointId: $e) { captureId kind verification { provider verdict reason secretLabel verifiedAt } }
}`;

const ATTEMPT_FIELDS = `number startedAt latencyMs responseStatus responseHeaders { name value } responseBodyText responseBodyBase64 responseTruncated succeeded error errorMessage`;

export const DELIVERY_FIELDS = `id state origin target method edited resigned attemptCount maxAttempts nextAttemptAt createdAt updatedAt bodySha256
  attempts { ${ATTEMPT_FIELDS} }`;

const DETAIL_EVENT_FIELDS = `event { id type createdAt attempt retryReason resource }
  redeliveries(first: 20) { count position kind reason captures { captureId receivedAt answeredStatus answeredDelayMs attempt } }
  ordering { outOfOrder resource newerCaptureId newerCreatedAt gapSeconds }
  retryGuess { attempt label fitsSchedule explanation }
  schemaChange { kind fields { path kind before after } more }`;

export const CAPTURE = `query($id: ID!) { capture(id: $id) {
  id endpointId teamId method path query headers { name value valueBase64 } bodyBase64 bodySize bodySha256
  remoteAddr httpVersion receivedAt contentType url answer { ruleId status delayMs step timedOut }
  verification { provider verdict reason secretLabel verifiedAt }
  ${DETAIL_EVENT_FIELDS}
  deliveries { ${DELIVERY_FIELDS} }
} }`;

/** The event section of a capture, again once the processor has checked it. */
export const CAPTURE_EVENT = `query($id: ID!) { capture(id: $id) { id ${DETAIL_EVENT_FIELDS} } }`;

/** Exports, fetched when asked for: for a large body each is bigger than the body itself. */
export const CAPTURE_CURL = `query($id: ID!) { capture(id: $id) { id curl } }`;
export const CAPTURE_HAR = `query($id: ID!) { capture(id: $id) { id har } }`;

export const VERIFICATION = `query($id: ID!) { capture(id: $id) { id verification { provider verdict reason secretLabel verifiedAt } } }`;

export const DELETE_CAPTURE = `mutation($id: ID!) { deleteCapture(input: {id: $id}) { id } }`;

export const REPLAY = `mutation($input: ReplayCaptureInput!) { replayCapture(input: $input) { ${DELIVERY_FIELDS} } }`;

export const CANCEL_DELIVERY = `mutation($id: ID!) { cancelDelivery(id: $id) { cancelled delivery { ${DELIVERY_FIELDS} } } }`;

export const DELIVERIES_OF_CAPTURE = `query($id: ID!) { capture(id: $id) { id deliveries { ${DELIVERY_FIELDS} } } }`;

export const REPLAY_CAPTURES = `mutation($input: ReplayCapturesInput!) { replayCaptures(input: $input) { hasMore deliveries { id state attemptCount } } }`;
export const ENDPOINT_DELIVERY_UPDATED = `subscription($e: ID!) { deliveryUpdated(endpointId: $e) { id state attemptCount } }`;
export const DELIVERY_UPDATED = `subscription($c: ID!) { deliveryUpdated(captureId: $c) { ${DELIVERY_FIELDS} } }`;

export const COMPARE = `query($before: AttemptRef!, $after: AttemptRef!) { compareAttempts(before: $before, after: $after) {
  statusChanged bodyEqual
  before { number responseStatus latencyMs error errorMessage responseBodyText responseTruncated }
  after { number responseStatus latencyMs error errorMessage responseBodyText responseTruncated }
  headers { name change before after }
  bodyDiff { change text }
} }`;

export const TOKENS = `query($team: ID) { tokens(teamId: $team) { id name role instanceAdmin createdAt lastUsedAt revoked } }`;

export const CREATE_TOKEN = `mutation($input: CreateTokenInput!) { createToken(input: $input) { secret token { id name role createdAt } } }`;

export const REVOKE_TOKEN = `mutation($id: ID!) { revokeToken(input: {id: $id}) { id revoked } }`;

export const SET_RETENTION = `mutation($team: ID, $days: Int!) { setRetention(input: {teamId: $team, days: $days}) { id name retentionDays } }`;

export const CREATE_TEAM = `mutation($name: String!, $days: Int!) { createTeam(input: {name: $name, retentionDays: $days}) { id name retentionDays createdAt } }`;

export const TEST_EVENT_CATALOG = `{ testEventCatalog { provider name events { name description } } }`;

export const SEND_TEST_EVENT = `mutation($input: TestEventInput!) { sendTestEvent(input: $input) {
  captureId request { provider event url method signed unsignedReason }
} }`;

/**
 * Learned event shapes (docs/schema-drift.md). The list asks for the summary only: a shape's
 * fields and JSON Schema weigh about what it takes stored, so they are read for one type at a time.
 */
export const EVENT_SHAPES = `query($id: ID!) { endpoint(id: $id) { id eventShapes { eventType samples updatedAt truncated } } }`;
export const EVENT_SHAPE = `query($id: ID!, $type: String!) { endpoint(id: $id) { id
  eventShape(eventType: $type) { eventType samples updatedAt truncated fields { path types present parentPresent required } } } }`;
/** Fetched when asked for, like the other exports. */
export const EVENT_SHAPE_SCHEMA = `query($id: ID!, $type: String!) { endpoint(id: $id) { id eventShape(eventType: $type) { eventType jsonSchema } } }`;

export const CAPTURE_REACHABILITY = `{ captureReachability { captureBaseUrl reachable reason advice } }`;
