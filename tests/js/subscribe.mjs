// Subscribes to `captureReceived` with the standard `graphql-ws` client (the reference
// implementation of the graphql-transport-ws protocol) and prints the first capture as JSON.
//
// usage: node subscribe.mjs <ws-url> <token> <endpoint-id>
// exit 0 after printing one capture; 1 on any error; 2 after 30 s without a capture.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, token, endpointId] = process.argv.slice(2);
if (!url || !token || !endpointId) {
  console.error('usage: node subscribe.mjs <ws-url> <token> <endpoint-id>');
  process.exit(1);
}

const timer = setTimeout(() => {
  console.error('no capture within 30 s');
  process.exit(2);
}, 30_000);

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { connected: () => console.error('connected') },
});

const query = `subscription($e: ID!) {
  captureReceived(endpointId: $e) { id endpointId method path query bodyBase64 headers { name value } }
}`;

client.subscribe(
  { query, variables: { e: endpointId } },
  {
    next: (result) => {
      if (result.errors) {
        console.error(JSON.stringify(result.errors));
        process.exit(1);
      }
      process.stdout.write(JSON.stringify(result.data.captureReceived) + '\n');
      clearTimeout(timer);
      client.dispose();
      process.exit(0);
    },
    error: (err) => {
      console.error('subscription failed:', err instanceof Error ? err.message : JSON.stringify(err));
      process.exit(1);
    },
    complete: () => {
      console.error('subscription completed without a capture');
      process.exit(1);
    },
  },
);
