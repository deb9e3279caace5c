'use strict';
// troupe's wire contract seen from grpc-js, a gRPC client with its own
// HTTP/2 stack (Node's), not gRPC's C core like our C++ and Python clients.
// Requests go out as raw bytes (identity serializers), so garbage can be sent
// to every method; valid ones are encoded from the .proto files.
//
// Prints one line per check (PASS/FAIL name: what was seen), then
// "N passed, N failed"; exits 1 if any check failed.
// Environment: TEST_TROUPE_BINARY (the troupe binary), TEST_PROTO_DIR (the
// repository's proto/ folder), TEST_WIRE_GARBAGE (tests/wire/garbage.txt).
// The check names are the same in tests/wire/go/main.go.

const childProcess = require('child_process');
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..', '..');
const BINARY = process.env.TEST_TROUPE_BINARY || path.join(ROOT, 'build', 'host', 'troupe');
const PROTO_DIR = process.env.TEST_PROTO_DIR || path.join(ROOT, 'proto');
const GARBAGE_FILE = process.env.TEST_WIRE_GARBAGE || path.join(HERE, '..', 'garbage.txt');
const CALL_MS = 10000;

// --- checks ------------------------------------------------------------------

let passed = 0;
let failed = 0;

function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
}

// --- messages ----------------------------------------------------------------

const pkg = protoLoader.loadSync(
  ['troupe/kv/v1/kv.proto', 'troupe/fanin/v1/fanin.proto'],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, defaults: true });
const KV = pkg['troupe.kv.v1.KeyValue'];
const FANIN = pkg['troupe.fanin.v1.FanIn'];

const enc = {
  get: (m) => KV.Get.requestSerialize(m),
  put: (m) => KV.Put.requestSerialize(m),
  scan: (m) => KV.Scan.requestSerialize(m),
  publish: (m) => FANIN.Publish.requestSerialize(m),
  subscribe: (m) => FANIN.Subscribe.requestSerialize(m),
  listTopics: () => FANIN.ListTopics.requestSerialize({}),
  // grpc.health.v1.HealthCheckRequest{service = 1}: "" is the empty message.
  healthCheck: () => Buffer.alloc(0),
};
const dec = {
  get: (b) => KV.Get.responseDeserialize(b),
  entry: (b) => KV.Scan.responseDeserialize(b),
  event: (b) => FANIN.Subscribe.responseDeserialize(b),
  listTopics: (b) => FANIN.ListTopics.responseDeserialize(b),
  // grpc.health.v1.HealthCheckResponse{ServingStatus status = 1}.
  health: (b) => {
    let status = 0;
    for (let i = 0; i < b.length;) {
      const tag = b[i++];
      let v = 0;
      let shift = 0;
      let byte;
      do {
        byte = b[i++];
        v += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      if (tag === 0x08) status = v;
    }
    return ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][status] || String(status);
  },
};

const STATUS_NAME = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
const identity = (b) => b;

function garbageCases() {
  return fs.readFileSync(GARBAGE_FILE, 'utf8').split('\n')
    .map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [name, hex] = l.split(/\s+/); return { name, bytes: Buffer.from(hex, 'hex') }; });
}

// --- calls with raw bytes --------------------------------------------------------

function trailersOf(md) {
  const out = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md.getMap())) out[k] = Buffer.isBuffer(v) ? v.toString('hex') : String(v);
  return out;
}

function deadline(ms = CALL_MS) {
  return { deadline: new Date(Date.now() + ms) };
}

// Resolves with {code, details, trailers, messages} once the status is in.
function outcome(call, messages) {
  return new Promise((resolve) => {
    call.on('status', (s) => resolve({
      code: s.code, details: s.details, trailers: trailersOf(s.metadata), messages,
    }));
  });
}

function unary(client, method, body, opts = deadline()) {
  const messages = [];
  const call = client.makeUnaryRequest(method, identity, identity, body, new grpc.Metadata(), opts,
    (err, value) => { if (!err) messages.push(value); });
  return outcome(call, messages);
}

function serverStream(client, method, body, opts = deadline(), onMessage = () => {}) {
  const messages = [];
  const call = client.makeServerStreamRequest(method, identity, identity, body, new grpc.Metadata(), opts);
  call.on('data', (m) => { messages.push(m); onMessage(m, call); });
  call.on('error', () => {});
  return { call, done: outcome(call, messages) };
}

// `bodies` are written in order, then the client half-closes unless keepOpen.
function clientStream(client, method, bodies, opts = deadline(), keepOpen = false) {
  const messages = [];
  const call = client.makeClientStreamRequest(method, identity, identity, new grpc.Metadata(), opts,
    (err, value) => { if (!err) messages.push(value); });
  call.on('error', () => {});
  for (const b of bodies) call.write(b);
  if (!keepOpen) call.end();
  return { call, done: outcome(call, messages) };
}

function bidi(client, method, bodies, opts = deadline()) {
  const messages = [];
  const call = client.makeBidiStreamRequest(method, identity, identity, new grpc.Metadata(), opts);
  call.on('data', (m) => messages.push(m));
  call.on('error', () => {});
  for (const b of bodies) call.write(b);
  call.end();
  return outcome(call, messages);
}

function describe(r) {
  const t = Object.entries(r.trailers).filter(([k]) => k.startsWith('troupe-'))
    .map(([k, v]) => `${k}=${v}`).join(',');
  return `${STATUS_NAME[r.code] || r.code} ${JSON.stringify(r.details || '')} trailers{${t}}`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no status after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}

// --- the server ------------------------------------------------------------------

const liveServers = new Set(); // killed if this script gives up

class Server {
  constructor(args) {
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('TROUPE_')) delete env[k];
    this.log = '';
    this.exit = new Promise((resolve) => {
      this.proc = childProcess.spawn(BINARY,
        ['serve', '--server-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
         '--kv-backend', 'memory', ...args],
        { env, stdio: ['ignore', 'ignore', 'pipe'] });
      liveServers.add(this);
      this.proc.on('exit', (code, signal) => {
        liveServers.delete(this);
        resolve({ code, signal, at: Date.now() });
      });
    });
    this.proc.stderr.on('data', (d) => { this.log += d.toString(); });
  }

  async listening() {
    const until = Date.now() + 30000;
    while (Date.now() < until) {
      const m = /listening on [0-9.]+:(\d+)/.exec(this.log);
      if (m) {
        this.target = `127.0.0.1:${m[1]}`;
        return this.target;
      }
      if (this.proc.exitCode !== null) throw new Error(`troupe exited ${this.proc.exitCode}:\n${this.log}`);
      await sleep(10);
    }
    throw new Error(`troupe did not listen within 30 s:\n${this.log}`);
  }

  client(options = {}) {
    return new grpc.Client(this.target, grpc.credentials.createInsecure(), options);
  }

  kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

// --- the checks --------------------------------------------------------------------

const hasType = (r, type) => typeof r.details === 'string' && r.details.length > 0 && r.details.includes(type);
const replica = (r) => typeof r.trailers['troupe-replica'] === 'string' && r.trailers['troupe-replica'].length > 0;

// Every method of kv, fan-in and health, with its request type and shape.
const METHODS = [
  ['/troupe.kv.v1.KeyValue/Get', 'troupe.kv.v1.GetRequest', 'unary'],
  ['/troupe.kv.v1.KeyValue/Put', 'troupe.kv.v1.PutRequest', 'unary'],
  ['/troupe.kv.v1.KeyValue/Delete', 'troupe.kv.v1.DeleteRequest', 'unary'],
  ['/troupe.kv.v1.KeyValue/MultiGet', 'troupe.kv.v1.MultiGetRequest', 'unary'],
  ['/troupe.kv.v1.KeyValue/Scan', 'troupe.kv.v1.ScanRequest', 'server'],
  ['/troupe.fanin.v1.FanIn/Publish', 'troupe.fanin.v1.PublishRequest', 'client'],
  ['/troupe.fanin.v1.FanIn/Subscribe', 'troupe.fanin.v1.SubscribeRequest', 'server'],
  ['/troupe.fanin.v1.FanIn/ListTopics', 'troupe.fanin.v1.ListTopicsRequest', 'unary'],
  ['/grpc.health.v1.Health/Check', 'grpc.health.v1.HealthCheckRequest', 'unary'],
  ['/grpc.health.v1.Health/Watch', 'grpc.health.v1.HealthCheckRequest', 'server'],
];

function callRaw(client, method, shape, body) {
  if (shape === 'unary') return unary(client, method, body);
  if (shape === 'server') return serverStream(client, method, body).done;
  return clientStream(client, method, [body]).done;
}

// 1. Garbage as the request of every method: INVALID_ARGUMENT naming the type.
// INTERNAL is not tolerated anywhere: a request that does not parse is the
// client's fault.
async function checkGarbage(client) {
  for (const [method, type, shape] of METHODS) {
    for (const g of garbageCases()) {
      const r = await callRaw(client, method, shape, g.bytes);
      check(`garbage ${method.slice(1)} ${g.name}`,
        r.code === grpc.status.INVALID_ARGUMENT && hasType(r, type),
        `want INVALID_ARGUMENT naming ${type}; got ${describe(r)}`);
    }
  }
}

async function topicLastSeq(client, topic) {
  const r = await unary(client, '/troupe.fanin.v1.FanIn/ListTopics', enc.listTopics());
  if (r.code !== grpc.status.OK) return { error: describe(r) };
  const t = dec.listTopics(r.messages[0]).topics.find((x) => x.name === topic);
  return { seq: t ? Number(t.last_seq) : undefined };
}

// Events of `topic` replayed from seq 0, read for `ms` after the headers.
async function replay(client, topic, ms) {
  const events = [];
  const { call, done } = serverStream(client, '/troupe.fanin.v1.FanIn/Subscribe',
    enc.subscribe({ topics: [topic], start_after: { [topic]: 0 } }), deadline(),
    (m) => events.push(dec.event(m)));
  await new Promise((resolve) => { call.on('metadata', resolve); call.on('status', resolve); });
  await sleep(ms);
  call.cancel();
  const r = await done;
  return { events, r };
}

// 2. valid, garbage, valid in one Publish stream.
async function checkPublishMixed(client) {
  const topic = 'wire-mixed';
  const first = Buffer.from('first');
  const garbage = garbageCases()[0].bytes; // truncated
  const { done } = clientStream(client, '/troupe.fanin.v1.FanIn/Publish', [
    enc.publish({ topic, payload: first, producer: 'wire' }),
    garbage,
    enc.publish({ topic, payload: Buffer.from('third'), producer: 'wire' }),
  ]);
  const r = await done;
  check('publish-mixed status', r.code === grpc.status.INVALID_ARGUMENT
    && hasType(r, 'troupe.fanin.v1.PublishRequest') && r.details.includes('request[1]'),
  `want INVALID_ARGUMENT naming request[1] and troupe.fanin.v1.PublishRequest; got ${describe(r)}`);
  check('publish-mixed troupe-accepted', r.trailers['troupe-accepted'] === '1',
    `want troupe-accepted=1; got ${describe(r)}`);
  const lt = await topicLastSeq(client, topic);
  check('publish-mixed list-topics', lt.seq === 1,
    `want last_seq 1 for ${topic}; got ${lt.error || (lt.seq === undefined ? 'no such topic' : `last_seq ${lt.seq}`)}`);
  const { events, r: sr } = await replay(client, topic, 500);
  const seen = events.map((e) => `${e.seq}:${e.payload.toString()}`).join(',');
  check('publish-mixed subscribe-replay',
    events.length === 1 && Number(events[0].seq) === 1 && events[0].payload.equals(first),
    `want exactly [1:first]; got [${seen}] (stream ended ${STATUS_NAME[sr.code]})`);
}

// 4. troupe-replica on every reply, errors included.
async function checkReplica(client) {
  const key = 'wire-replica';
  const put = await unary(client, '/troupe.kv.v1.KeyValue/Put', enc.put({ key, value: Buffer.from('v') }));
  let r = await unary(client, '/troupe.kv.v1.KeyValue/Get', enc.get({ key }));
  let got = r.code === grpc.status.OK ? dec.get(r.messages[0]) : null;
  check('replica get-ok', r.code === grpc.status.OK && got.found && got.value.toString() === 'v' && replica(r),
    `want OK found with troupe-replica (Put was ${STATUS_NAME[put.code]}); got ${describe(r)}`);

  // troupe's Get answers a missing key OK with found=false (kv.proto); a
  // NOT_FOUND status would do as well: the check is about the trailer.
  r = await unary(client, '/troupe.kv.v1.KeyValue/Get', enc.get({ key: 'wire-absent' }));
  got = r.code === grpc.status.OK ? dec.get(r.messages[0]) : null;
  check('replica get-absent',
    ((r.code === grpc.status.OK && !got.found) || r.code === grpc.status.NOT_FOUND) && replica(r),
    `want OK found=false (or NOT_FOUND) with troupe-replica; got ${describe(r)}`);

  r = await unary(client, '/troupe.kv.v1.KeyValue/Get', enc.get({ key: '' }));
  check('replica get-invalid-key', r.code === grpc.status.INVALID_ARGUMENT && replica(r),
    `want INVALID_ARGUMENT with troupe-replica; got ${describe(r)}`);

  r = await unary(client, '/troupe.kv.v1.KeyValue/Get', garbageCases()[0].bytes);
  check('replica garbage-get', r.code === grpc.status.INVALID_ARGUMENT && replica(r),
    `want INVALID_ARGUMENT with troupe-replica; got ${describe(r)}`);

  r = await unary(client, '/grpc.health.v1.Health/Check', enc.healthCheck());
  const hs = r.code === grpc.status.OK ? dec.health(r.messages[0]) : '-';
  check('replica health-check', r.code === grpc.status.OK && hs === 'SERVING' && replica(r),
    `want OK SERVING with troupe-replica; got ${describe(r)} ${hs}`);

  for (const [name, method] of [['unknown-method', '/troupe.kv.v1.KeyValue/Nope'],
    ['unknown-service', '/no.such.Service/X']]) {
    r = await unary(client, method, enc.get({ key }));
    check(`replica ${name}`, r.code === grpc.status.UNIMPLEMENTED && replica(r),
      `${method}: want UNIMPLEMENTED with troupe-replica; got ${describe(r)}`);
  }

  // The server runs with --server-max-message-bytes 1024.
  r = await unary(client, '/troupe.kv.v1.KeyValue/Put', enc.put({ key: 'wire-big', value: Buffer.alloc(4096, 0x61) }));
  check('replica oversize-put', r.code === grpc.status.RESOURCE_EXHAUSTED && replica(r)
    && (r.details || '').includes('server.max_message_bytes'),
  `want RESOURCE_EXHAUSTED naming server.max_message_bytes with troupe-replica; got ${describe(r)}`);
}

// 6. Two request messages on a call that takes one.
async function checkTwoMessages(client) {
  // A unary call is answered from its first message, as gRPC C++ and Go
  // servers do: telling a second one apart would cost every unary call an
  // extra read (docs/ARCHITECTURE.md).
  const get = enc.get({ key: 'wire-replica' });
  let r = await bidi(client, '/troupe.kv.v1.KeyValue/Get', [get, get]);
  check('two-messages Get', r.code === grpc.status.OK && r.messages.length === 1 && replica(r),
    `want one OK answer (from the first message) with troupe-replica; got ${describe(r)} after ${r.messages.length} replies`);
  const scan = enc.scan({ prefix: 'wire-', limit: 10 });
  r = await bidi(client, '/troupe.kv.v1.KeyValue/Scan', [scan, scan]);
  check('two-messages Scan', r.code === grpc.status.INVALID_ARGUMENT,
    `want INVALID_ARGUMENT; got ${describe(r)} after ${r.messages.length} entries`);
}

// 3. Still serving after all of the above.
async function checkServing(client) {
  const r = await unary(client, '/grpc.health.v1.Health/Check', enc.healthCheck());
  const hs = r.code === grpc.status.OK ? dec.health(r.messages[0]) : '-';
  check('health serving-after', r.code === grpc.status.OK && hs === 'SERVING',
    `want OK SERVING; got ${describe(r)} ${hs}`);
}

// 5. SIGTERM with a live Subscribe, a paused Scan, a Health Watch and an
// open Publish: each ends UNAVAILABLE with the server's own trailers
// (troupe-replica tells them from a status the client made up after a
// reset or GOAWAY), and the server exits 0.
async function checkShutdown() {
  const server = new Server(['--server-shutdown-grace-ms', '1500', '--server-shutdown-linger-ms', '3000']);
  try {
    await server.listening();
    const client = server.client();
    const nKeys = 3000;
    const value = Buffer.alloc(1024, 0x62);
    let nextKey = 0;
    let putErrors = 0;
    await Promise.all(Array.from({ length: 32 }, async () => {
      while (nextKey < nKeys) {
        const key = `scan-${String(nextKey++).padStart(5, '0')}`;
        const r = await unary(client, '/troupe.kv.v1.KeyValue/Put', enc.put({ key, value }));
        if (r.code !== grpc.status.OK) putErrors++;
      }
    }));
    if (putErrors) check('shutdown setup', false, `${putErrors} of ${nKeys} Puts failed`);

    const topic = 'wire-shutdown';
    const seed = await clientStream(client, '/troupe.fanin.v1.FanIn/Publish',
      [enc.publish({ topic, payload: Buffer.from('e1'), producer: 'wire' })]).done;
    const long = () => deadline(60000);

    // Subscribe: replays the one event, then waits for more that never come.
    const events = [];
    let gotEvent;
    const eventIn = new Promise((r) => { gotEvent = r; });
    const sub = serverStream(client, '/troupe.fanin.v1.FanIn/Subscribe',
      enc.subscribe({ topics: [topic], start_after: { [topic]: 0 } }), long(),
      (m) => { events.push(dec.event(m)); gotEvent(); });

    // Health Watch: SERVING first, then whatever the drain sends.
    const watched = [];
    let gotWatch;
    const watchIn = new Promise((r) => { gotWatch = r; });
    const watch = serverStream(client, '/grpc.health.v1.Health/Watch', enc.healthCheck(), long(),
      (m) => { watched.push(dec.health(m)); gotWatch(); });

    // Publish: one event accepted, the stream left open.
    const pub = clientStream(client, '/troupe.fanin.v1.FanIn/Publish',
      [enc.publish({ topic: 'wire-shutdown-pub', payload: Buffer.from('p1'), producer: 'wire' })], long(), true);

    // Scan: a separate connection (its flow-control window is its own),
    // paused after its first entry. grpc-js stops reading the HTTP/2 stream
    // only once the application has taken a message (before the first read
    // it buffers without limit), so the first one is read.
    const scanClient = server.client({ 'grpc.use_local_subchannel_pool': 1 });
    const scanCall = scanClient.makeServerStreamRequest('/troupe.kv.v1.KeyValue/Scan', identity, identity,
      enc.scan({ prefix: 'scan-', limit: nKeys }), new grpc.Metadata(), long());
    const scanEntries = [];
    let gotEntry;
    const scanEntryIn = new Promise((r) => { gotEntry = r; });
    scanCall.on('data', (m) => {
      scanEntries.push(m);
      if (scanEntries.length === 1) {
        scanCall.pause();
        gotEntry();
      }
    });
    scanCall.on('error', () => {});
    const scanDone = outcome(scanCall, scanEntries);
    scanCall.on('status', () => gotEntry());

    await withTimeout(Promise.all([eventIn, watchIn, scanEntryIn]), CALL_MS, 'streams open');
    const until = Date.now() + CALL_MS;
    while (Date.now() < until && (await topicLastSeq(client, 'wire-shutdown-pub')).seq !== 1) await sleep(20);
    await sleep(300); // the Scan fills its window and the server stalls

    server.proc.kill('SIGTERM');
    const signalled = Date.now();
    // The paused Scan is read again 1800 ms after SIGTERM, after the 1500 ms
    // grace and within the linger: by then the server has ended it
    // UNAVAILABLE, and the status follows the entries already in flight.
    await sleep(1800);
    const scanPausedAt = scanEntries.length;
    scanCall.resume();

    const ends = await Promise.allSettled([sub.done, scanDone, watch.done, pub.done].map(
      (p) => withTimeout(p, 15000, 'call')));
    const [rs, rscan, rw, rp] = ends.map((e) => (e.status === 'fulfilled' ? e.value
      : { code: -1, details: e.reason.message, trailers: {}, messages: [] }));
    const unavailable = (r) => r.code === grpc.status.UNAVAILABLE && replica(r);
    const lastSeq = rs.trailers[`troupe-last-seq-${topic}`];

    check('shutdown subscribe', unavailable(rs),
      `want UNAVAILABLE with troupe-replica; got ${describe(rs)} after ${events.length} events (seed Publish ${STATUS_NAME[seed.code]})`);
    check('shutdown subscribe-last-seq', lastSeq === '1',
      `want troupe-last-seq-${topic}=1; got ${lastSeq === undefined ? 'none' : lastSeq}`);
    check('shutdown scan-paused', unavailable(rscan),
      `want UNAVAILABLE with troupe-replica; got ${describe(rscan)} after ${scanEntries.length} of ${nKeys} entries (${scanPausedAt} read before the resume)`);
    check('shutdown health-watch', unavailable(rw),
      `want UNAVAILABLE with troupe-replica; got ${describe(rw)} after [${watched.join(',')}]`);
    check('shutdown publish-open', unavailable(rp) && rp.trailers['troupe-accepted'] === '1',
      `want UNAVAILABLE with troupe-accepted=1 and troupe-replica; got ${describe(rp)}`);

    pub.call.end();
    const exit = await withTimeout(server.exit, 15000, 'server exit')
      .catch((e) => ({ code: null, signal: e.message, at: Date.now() }));
    check('shutdown exit-code', exit.code === 0,
      `want exit 0; got ${exit.code === null ? exit.signal : `exit ${exit.code}`} ${exit.at - signalled} ms after SIGTERM`);
    if (failed) console.log(server.log.trimEnd().split('\n').map((l) => `  | ${l}`).join('\n'));
    client.close();
    scanClient.close();
  } finally {
    server.kill();
  }
}

async function main() {
  console.log(`grpc-js ${require('@grpc/grpc-js/package.json').version} on node ${process.version}; server ${BINARY}`);
  const server = new Server(['--server-max-message-bytes', '1024']);
  try {
    await server.listening();
    const client = server.client();
    await checkGarbage(client);
    await checkPublishMixed(client);
    await checkReplica(client);
    await checkTwoMessages(client);
    await checkServing(client);
    client.close();
  } finally {
    server.kill();
  }
  await checkShutdown();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

const watchdog = setTimeout(() => {
  console.log(`FAIL watchdog: still running after 240 s\n${passed} passed, ${failed + 1} failed`);
  for (const s of liveServers) s.kill();
  process.exit(1);
}, 240000);
watchdog.unref();

main().catch((e) => {
  for (const s of liveServers) s.kill();
  console.log(`FAIL harness: ${e.stack || e}`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}).finally(() => clearTimeout(watchdog));
