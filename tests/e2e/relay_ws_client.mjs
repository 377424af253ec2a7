#!/usr/bin/env node
// SPDX-License-Identifier: GPL-3.0-or-later
// Checks freehold-relay's WebSocket transport (docs/relay-protocol.md, "WebSocket transport") with the npm `ws`
// client, a WebSocket implementation independent of the relay's: the upgrade on /freehold-relay with the
// subprotocol freehold-relay.v1 (the relay's certificate checked against its pin), a `hello` split across two
// binary messages, the second of them in two fragments (the relay must read frames from the concatenated payloads),
// the `challenge` back, a WebSocket ping answered with its payload, a close answered with a close; and upgrades the relay must refuse
// (another path, another or no subprotocol: 400 or 404). It never authenticates, so the relay admits no link.
// Run by tests/e2e/relay_test.py:
//
//   node tests/e2e/relay_ws_client.mjs --port PORT --fingerprint AB:CD:...:EF
//
// Prints one JSON object on one line (what it saw, and `failures`); exits 0 when there are none, else 1.

import crypto from 'node:crypto';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const HOST = '127.0.0.1';
const PATH = '/freehold-relay';
const PROTOCOL = 'freehold-relay.v1';
const WAIT_MS = 10000; // each wait; the relay itself allows 10 s for the TLS handshake and for each set-up frame
const FRAME_HEADER = 8;
const HELLO = 0x01;
const CHALLENGE = 0x02;

const { values: args } = parseArgs({ options: { port: { type: 'string' }, fingerprint: { type: 'string' } } });
const seen = { failures: [] };

function fail(what) {
  seen.failures.push(what);
}

function finish() {
  seen.ok = seen.failures.length === 0;
  console.log(JSON.stringify(seen));
  process.exit(seen.ok ? 0 : 1); // a refused upgrade's socket may still hold the event loop: do not wait for it
}

// Resolves to what `pred()` returns once it is truthy (tried at each `event`), else to null once the WebSocket has
// closed or WAIT_MS have passed.
function waitFor(emitter, event, pred) {
  return new Promise((resolve) => {
    const done = (v) => {
      clearTimeout(timer);
      emitter.off(event, poll);
      emitter.off('close', ended);
      resolve(v);
    };
    const poll = () => {
      const v = pred();
      if (v) done(v);
    };
    const ended = () => done(pred() || null);
    const timer = setTimeout(ended, WAIT_MS);
    emitter.on(event, poll);
    emitter.on('close', ended);
    poll();
  });
}

// One upgrade attempt: {ws, fingerprint} once open, {status} for an HTTP answer other than 101, or {error}.
function upgrade(path, protocols) {
  return new Promise((resolve) => {
    const url = `wss://${HOST}:${args.port}${path}`;
    // The relay's certificate is self-signed: trust is the pin, checked below, not a CA.
    const ws = new WebSocket(url, protocols, { rejectUnauthorized: false, handshakeTimeout: WAIT_MS });
    let fingerprint = null;
    ws.on('upgrade', (res) => {
      fingerprint = res.socket.getPeerCertificate().fingerprint256;
      if (fingerprint !== args.fingerprint) ws.terminate();
    });
    ws.on('open', () => resolve({ ws, fingerprint }));
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode });
      req.destroy();
    });
    ws.on('error', (e) => resolve({ error: e.message, fingerprint }));
  });
}

async function link() {
  const { ws, fingerprint, status, error } = await upgrade(PATH, PROTOCOL);
  seen.fingerprint = fingerprint;
  if (fingerprint && fingerprint !== args.fingerprint) return fail(`certificate ${fingerprint} is not the pinned one`);
  if (!ws) return fail(`upgrade on ${PATH} with ${PROTOCOL}: ${status ? `HTTP ${status}` : error}`);
  seen.protocol = ws.protocol;
  seen.extensions = ws.extensions;
  if (ws.protocol !== PROTOCOL) fail(`subprotocol ${JSON.stringify(ws.protocol)}`);

  let received = Buffer.alloc(0);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) fail('a text message from the relay');
    received = Buffer.concat([received, data]);
  });
  let closed = null;
  ws.on('close', (code) => {
    closed = { code };
  });

  const key = Buffer.from(crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x, 'base64url');
  const payload = Buffer.concat([Buffer.from([0x01, 0x02]), key]); // version 1, role client, Ed25519 public key
  const header = Buffer.alloc(FRAME_HEADER);
  header[0] = HELLO;
  header.writeUInt16BE(payload.length, 2);
  const hello = Buffer.concat([header, payload]);
  // Message 1: the first 5 bytes (mid-header). Message 2: the rest, as a binary fragment and a continuation.
  ws.send(hello.subarray(0, 5), { binary: true });
  ws.send(hello.subarray(5, 20), { binary: true, fin: false });
  ws.send(hello.subarray(20), { binary: true, fin: true });
  seen.hello = { bytes: hello.length, messages: 2, frames: 3 };

  const frame = await waitFor(ws, 'message', () => received.length >= FRAME_HEADER + 32 && received);
  if (!frame) {
    fail(`no challenge within ${WAIT_MS} ms: ${received.length} bytes, ${closed ? `closed ${closed.code}` : 'open'}`);
  } else {
    seen.challenge = {
      type: frame[0],
      reserved: frame[1],
      length: frame.readUInt16BE(2),
      session: frame.readUInt32BE(4),
      bytes: frame.length - FRAME_HEADER,
    };
    const c = seen.challenge;
    if (c.type !== CHALLENGE || c.reserved !== 0 || c.length !== 32 || c.session !== 0 || c.bytes !== 32) {
      fail(`not a challenge frame: ${frame.toString('hex')}`);
    }
  }

  if (!closed) {
    const ping = crypto.randomBytes(8);
    let pong = null;
    ws.on('pong', (data) => {
      pong = data;
    });
    ws.ping(ping);
    const got = await waitFor(ws, 'pong', () => pong);
    seen.ping = ping.toString('hex');
    seen.pong = got ? got.toString('hex') : null;
    if (seen.pong !== seen.ping) fail(`ping ${seen.ping} answered with ${seen.pong}`);
  }

  if (!closed) ws.close(1000);
  const end = await waitFor(ws, 'close', () => closed);
  seen.closed = end;
  if (!end) fail(`the link did not end within ${WAIT_MS} ms of a close message`);
  else if (end.code !== 1000) fail(`the relay did not answer the close with its own (RFC 6455 5.5.1): code ${end.code}`);
}

async function refused(name, path, protocols) {
  const { ws, status, error } = await upgrade(path, protocols);
  seen.refused[name] = status ?? error ?? 'upgraded';
  if (ws) ws.terminate();
  if (status !== 400 && status !== 404) fail(`${name}: ${status ? `HTTP ${status}` : error || 'upgraded'}`);
}

async function main() {
  if (!args.port || !/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(args.fingerprint || '')) {
    fail('usage: relay_ws_client.mjs --port PORT --fingerprint AB:CD:...');
    return finish();
  }
  const overall = setTimeout(() => {
    fail('did not finish within 60 s');
    finish();
  }, 60000);
  await link();
  seen.refused = {};
  await refused('another path', '/', PROTOCOL);
  await refused('another subprotocol', PATH, 'freehold-relay.v2');
  await refused('no subprotocol', PATH, []);
  clearTimeout(overall);
  finish();
}

main().catch((e) => {
  fail(`${e.name}: ${e.message}`);
  finish();
});
