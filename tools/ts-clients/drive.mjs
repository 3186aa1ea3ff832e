// Drive one official TypeScript MCP SDK client against a server, for tests/transports/test_ts_sdk_clients.py.
//
//   node drive.mjs '<config JSON>'
//
// config: {"sdk": "v1" | "v2",                   v1 = @modelcontextprotocol/sdk, v2 = @modelcontextprotocol/client
//          "transport": "stdio" | "http" | "sse",
//          "url": "http://127.0.0.1:PORT",        http: <url>/mcp, sse: <url>/sse
//          "token": "...",                        sent as Authorization: Bearer (HTTP transports)
//          "command": "...", "args": [...], "env": {...},   stdio: the server process
//          "mode": "legacy" | "auto" | "2026-07-28"}        v2 only: versionNegotiation (default legacy)
//
// Then one JSON command per stdin line, {"op": ..., "tag": ..., ...}; each runs at once, concurrently with the
// ones before it (so a call can be aborted while it is in flight). Everything that happens is one JSON line on
// stdout, always with an "event" key:
//   {"event": "done",  "tag", "op", "result"}      a command finished
//   {"event": "error", "tag", "op", "error": {name, message, code}}   a command failed
//   {"event": "progress", "tag", "progress", "total", "message"}     an onprogress callback of call `tag`
//   {"event": "notification", "method", "params"}   a notification handler of the SDK fired
//   {"event": "sent" | "recv", "message"}          every JSON-RPC message the transport sent / delivered
//   {"event": "http_request", "method", "url", "session"}          an HTTP request about to be sent
//   {"event": "http", "method", "url", "status", "session"}         its answer's status (or "error")
//   {"event": "transport_error", "message"} / {"event": "transport_closed"}
// Ops: connect, reconnect, list, call {name, arguments, progress, abortable, timeout_ms},
//      abort {call: <tag of the call>}, listen (v2 modern), ping, terminate (Streamable HTTP DELETE),
//      session (the transport's session id), close, exit.
// The SDKs log with console.*; all of that goes to stderr so stdout stays one JSON object per line.
import readline from 'node:readline';
import { format } from 'node:util';

for (const name of ['log', 'info', 'debug', 'warn', 'error']) {
    console[name] = (...args) => process.stderr.write(format(...args) + '\n');
}

const config = JSON.parse(process.argv[2] ?? '{}');
const emit = (event) => process.stdout.write(JSON.stringify(event) + '\n');

async function loadSdk(sdk) {
    if (sdk === 'v1') {
        const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
        const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
        const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
        const { SSEClientTransport } = await import('@modelcontextprotocol/sdk/client/sse.js');
        const { ToolListChangedNotificationSchema } = await import('@modelcontextprotocol/sdk/types.js');
        return {
            Client, StdioClientTransport, StreamableHTTPClientTransport, SSEClientTransport,
            onListChanged: (client, handler) => client.setNotificationHandler(ToolListChangedNotificationSchema, handler),
            callTool: (client, params, options) => client.callTool(params, undefined, options),
            clientOptions: {},
        };
    }
    if (sdk === 'v2') {
        const v2 = await import('@modelcontextprotocol/client');
        const { StdioClientTransport } = await import('@modelcontextprotocol/client/stdio');
        const mode = config.mode ?? 'legacy';
        return {
            Client: v2.Client, StdioClientTransport,
            StreamableHTTPClientTransport: v2.StreamableHTTPClientTransport, SSEClientTransport: v2.SSEClientTransport,
            onListChanged: (client, handler) => client.setNotificationHandler('notifications/tools/list_changed', handler),
            callTool: (client, params, options) => client.callTool(params, options),
            clientOptions: { versionNegotiation: { mode: mode === 'legacy' || mode === 'auto' ? mode : { pin: mode } } },
        };
    }
    throw new Error(`unknown sdk ${sdk}`);
}

const sdk = await loadSdk(config.sdk);

// Every HTTP exchange, with the bearer token added (the SDKs take a fetch; this one logs what it saw).
async function loggingFetch(url, init = {}) {
    const headers = new Headers(init.headers);
    if (config.token) headers.set('authorization', `Bearer ${config.token}`);
    const method = init.method ?? 'GET';
    emit({ event: 'http_request', method, url: String(url), session: headers.get('mcp-session-id') });
    try {
        const response = await fetch(url, { ...init, headers });
        emit({ event: 'http', method, url: String(url), status: response.status,
               session: headers.get('mcp-session-id'), answer_session: response.headers.get('mcp-session-id') });
        return response;
    } catch (error) {
        emit({ event: 'http', method, url: String(url), status: null, session: headers.get('mcp-session-id'),
               error: String(error?.message ?? error) });
        throw error;
    }
}

// Report every message the transport sends and every one it hands to the protocol layer. The SDK installs its
// handler by assigning transport.onmessage (v2's version probe saves and restores it), so the property becomes an
// accessor that keeps whatever handler is current and wraps it.
function tap(transport) {
    let handler;
    const wrapped = (message, extra) => {
        emit({ event: 'recv', message });
        if (typeof message?.result?.protocolVersion === 'string') initializedVersion = message.result.protocolVersion;
        return handler?.(message, extra);
    };
    Object.defineProperty(transport, 'onmessage', {
        configurable: true, enumerable: true,
        get: () => (handler ? wrapped : undefined),
        set: (fn) => { if (fn !== wrapped) handler = fn; },
    });
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
        emit({ event: 'sent', message });
        return send(message, options);
    };
    return transport;
}

function makeTransport() {
    if (config.transport === 'stdio') {
        return new sdk.StdioClientTransport({ command: config.command, args: config.args ?? [], env: config.env, stderr: 'pipe' });
    }
    if (config.transport === 'http') {
        return new sdk.StreamableHTTPClientTransport(new URL(config.url + '/mcp'), {
            fetch: loggingFetch,
            // Few, quick retries of the standalone GET stream, so a gateway restart is bridged within the test.
            reconnectionOptions: { initialReconnectionDelay: 200, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 20 },
        });
    }
    if (config.transport === 'sse') {
        return new sdk.SSEClientTransport(new URL(config.url + '/sse'), { fetch: loggingFetch });
    }
    throw new Error(`unknown transport ${config.transport}`);
}

let client;
let transport;
let initializedVersion = null; // what the server's initialize result named (v1 keeps it only on some transports)
const calls = new Map(); // call tag -> AbortController

async function connect() {
    initializedVersion = null;
    transport = tap(makeTransport());
    client = new sdk.Client({ name: `janus-ts-${config.sdk}`, version: '1.0.0' }, sdk.clientOptions);
    sdk.onListChanged(client, (notification) => emit({ event: 'notification', method: notification.method,
                                                         params: notification.params ?? null }));
    client.onerror = (error) => emit({ event: 'transport_error', message: String(error?.message ?? error) });
    client.onclose = () => emit({ event: 'transport_closed' });
    if (config.transport === 'stdio') {
        transport.stderr?.on('data', (chunk) => process.stderr.write(chunk));
    }
    await client.connect(transport);
    return {
        protocolVersion: client.getNegotiatedProtocolVersion?.() ?? initializedVersion,
        sessionId: transport.sessionId ?? null,
        serverInfo: client.getServerVersion?.() ?? null,
    };
}

const ops = {
    connect,
    async reconnect() {
        try { await client?.close(); } catch (error) { /* the old connection may already be gone */ }
        return connect();
    },
    async list() {
        // What each SDK's user does to get the whole listing: v1 follows nextCursor page by page; v2's listTools()
        // without a cursor walks every page itself. The pages themselves show in the "sent"/"recv" events.
        if (config.sdk === 'v2') {
            const listed = await client.listTools(undefined, { cacheMode: 'refresh' });
            return { names: listed.tools.map((tool) => tool.name) };
        }
        const names = [];
        let cursor;
        for (let page = 0; page < 100; page++) {
            const listed = await client.listTools(cursor === undefined ? undefined : { cursor });
            names.push(...listed.tools.map((tool) => tool.name));
            cursor = listed.nextCursor;
            if (!cursor) return { names };
        }
        throw new Error('more than 100 pages');
    },
    async call(command) {
        const options = { timeout: command.timeout_ms ?? 60000 };
        if (command.progress) {
            options.onprogress = (progress) => emit({ event: 'progress', tag: command.tag, ...progress });
        }
        if (command.abortable) {
            const controller = new AbortController();
            calls.set(command.tag, controller);
            options.signal = controller.signal;
        }
        const result = await sdk.callTool(client, { name: command.name, arguments: command.arguments ?? {} }, options);
        return result;
    },
    async abort(command) {
        const controller = calls.get(command.call);
        if (!controller) throw new Error(`no abortable call tagged ${command.call}`);
        controller.abort(command.reason ?? 'the test gave up');
        return { aborted: command.call };
    },
    async listen() {
        const subscription = await client.listen({ toolsListChanged: true });
        subscription.closed.then((how) => emit({ event: 'subscription_closed', how }));
        return { honoredFilter: subscription.honoredFilter };
    },
    async ping() {
        return await client.ping();
    },
    async terminate() {
        const sessionId = transport.sessionId ?? null;
        await transport.terminateSession();
        return { terminated: sessionId, sessionIdAfter: transport.sessionId ?? null };
    },
    async session() {
        return { sessionId: transport.sessionId ?? null };
    },
    async close() {
        await client.close();
        return {};
    },
};

function describe(error) {
    return { name: error?.name ?? null, message: String(error?.message ?? error), code: error?.code ?? null };
}

const pending = new Set();
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
    if (!line.trim()) return;
    const command = JSON.parse(line);
    if (command.op === 'exit') {
        lines.close();
        return;
    }
    const run = ops[command.op];
    const job = (run ? run(command) : Promise.reject(new Error(`unknown op ${command.op}`))).then(
        (result) => emit({ event: 'done', tag: command.tag ?? null, op: command.op, result: result ?? null }),
        (error) => emit({ event: 'error', tag: command.tag ?? null, op: command.op, error: describe(error) }),
    );
    pending.add(job);
    job.finally(() => pending.delete(job));
});
lines.on('close', async () => {
    try { await client?.close(); } catch (error) { /* already closed */ }
    emit({ event: 'exit' });
    process.exit(0);
});
emit({ event: 'ready', sdk: config.sdk, transport: config.transport });
