// SPDX-License-Identifier: GPL-3.0-or-later
// Drives freeholdd with the npm `onvif` client (agsh/onvif), as NVR software built on it does: connect (which
// reads the device's clock, GetServices/GetCapabilities, the profiles and video sources), GetProfiles,
// GetStreamUri, GetSnapshotUri, a pull-point event loop until a motion start and end arrive, and PTZ
// ContinuousMove, GetStatus and Stop. Run by tests/e2e/onvif_test.py:
//
//   node onvif_client.js '{"hostname":"127.0.0.1","port":8080,"username":"admin","password":"...",
//                          "skewMs":0,"outDir":"/tmp/x","motionSeconds":30}'
//
// skewMs shifts this process's clock (Date) and the client's idea of the device's clock by that much, so that
// every WS-Security Created stamp it sends is off by skewMs. Progress goes to stderr as one JSON object per line
// ("pullpoint" tells the test when to toggle motion); the results go to stdout as one JSON object. Each SOAP
// answer is written to outDir for XSD validation.
'use strict';

const fs = require('fs');
const path = require('path');

const opts = JSON.parse(process.argv[2]);
const skewMs = opts.skewMs || 0;

if (skewMs) {
  // A clock skewMs off: Date.now() and new Date() (no argument) are shifted; explicit dates are untouched.
  const RealDate = Date;
  class SkewedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(RealDate.now() + skewMs);
      else super(...args);
    }
    static now() { return RealDate.now() + skewMs; }
  }
  global.Date = SkewedDate;
}

const { Cam } = require('onvif');  // its http.request calls go through the hook below

function progress(step, extra) {
  process.stderr.write(JSON.stringify(Object.assign({ step }, extra || {})) + '\n');
}

// Every answer as it came off the wire goes to outDir, numbered and named after the request's body element, for
// the test's XSD validation (the library hands its callbacks XML with the namespace declarations stripped).
let answerNo = 0;
const http = require('http');
const realHttpRequest = http.request;
http.request = function (options, onResponse) {
  const sent = [];
  const req = realHttpRequest.call(http, options, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => {
      if (!opts.outDir || !chunks.length) return;
      const body = Buffer.concat(sent.map((x) => Buffer.from(x))).toString();
      const op = (/<(?:\w+:)?(\w+)[^>]*xmlns="http:\/\/www\.onvif\.org\/ver[12]0\/[\w/]+"/.exec(body) || [])[1]
        || 'request';
      answerNo += 1;
      fs.writeFileSync(path.join(opts.outDir, `${String(answerNo).padStart(3, '0')}-${op}.xml`), Buffer.concat(chunks));
    });
    if (onResponse) onResponse(res);
  });
  const write = req.write.bind(req);
  const end = req.end.bind(req);
  req.write = (data, ...rest) => { if (data) sent.push(data); return write(data, ...rest); };
  req.end = (data, ...rest) => { if (data && typeof data !== 'function') sent.push(data); return end(data, ...rest); };
  return req;
};

function call(cam, fn, ...args) {
  return new Promise((resolve) => {
    try {
      cam[fn](...args, (err, data, xml) => resolve({ err: err ? String(err.message || err) : null, data, xml }));
    } catch (e) {
      resolve({ err: `threw: ${e.message || e}`, data: null });
    }
  });
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// The motion states found in a PullMessages answer, in order: [{topic, state, time, operation}].
function motionStates(xml) {
  const found = [];
  const msgRe = /<(?:\w+:)?NotificationMessage\b[\s\S]*?<\/(?:\w+:)?NotificationMessage>/g;
  let m;
  while ((m = msgRe.exec(xml || '')) !== null) {
    const msg = m[0];
    const topic = ((/<(?:\w+:)?Topic\b[^>]*>([^<]*)</.exec(msg)) || [])[1];
    const item = /<(?:\w+:)?SimpleItem\b[^>]*Name="(State|IsMotion)"[^>]*Value="([^"]*)"/.exec(msg)
      || /<(?:\w+:)?SimpleItem\b[^>]*Value="([^"]*)"[^>]*Name="(State|IsMotion)"/.exec(msg);
    const time = ((/UtcTime="([^"]*)"/.exec(msg)) || [])[1];
    const operation = ((/PropertyOperation="([^"]*)"/.exec(msg)) || [])[1];
    if (topic && item) {
      const value = item[1] === 'State' || item[1] === 'IsMotion' ? item[2] : item[1];
      found.push({ topic: topic.trim(), state: value === 'true', time, operation });
    }
  }
  return found;
}

async function main() {
  const out = { skewMs, steps: {} };
  const cam = new Cam({
    hostname: opts.hostname, port: opts.port, username: opts.username, password: opts.password,
    timeout: 15000, autoconnect: false, preserveAddress: true,
  });
  const step = (name, r, summary) => {
    out.steps[name] = { ok: !r.err, err: r.err, summary: r.err ? null : summary };
    progress(name, { ok: !r.err, err: r.err });
    return !r.err;
  };

  const connected = await new Promise((resolve) => {
    cam.connect((err) => resolve({ err: err ? String(err.message || err) : null }));
  });
  if (skewMs && cam.timeShift !== undefined) {
    // The library stamps Created from the device's clock as read at connect; make the client's clock, as the
    // device sees it, really skewMs off.
    cam.timeShift += skewMs;
  }
  step('connect', connected, { media2: !!cam.media2Support, uri: Object.keys(cam.uri || {}).sort() });
  if (connected.err) return out;

  const profiles = await call(cam, 'getProfiles');
  const list = profiles.data || [];
  step('getProfiles', profiles, list.map((p) => ({
    token: p.$ ? p.$.token : p.token,
    encoding: p.videoEncoderConfiguration ? p.videoEncoderConfiguration.encoding
      : (p.configurations && p.configurations.videoEncoder ? p.configurations.videoEncoder.encoding : null),
  })));
  const token = list.length ? (list[0].$ ? list[0].$.token : list[0].token) : undefined;

  const stream = await call(cam, 'getStreamUri', { protocol: 'RTSP', profileToken: token });
  step('getStreamUri', stream, stream.data ? stream.data.uri : null);
  const snap = await call(cam, 'getSnapshotUri', { profileToken: token });
  step('getSnapshotUri', snap, snap.data ? snap.data.uri : null);

  // Events: one pull point, pulled until motion went true and then false (or motionSeconds passed).
  const sub = await call(cam, 'createPullPointSubscription');
  if (step('createPullPointSubscription', sub, sub.data ? sub.data.subscriptionReference.address.href : null)) {
    progress('pullpoint');
    const deadline = Date.now() + (opts.motionSeconds || 30) * 1000;
    const states = [];
    let pulls = 0;
    let lastErr = null;
    while (Date.now() < deadline) {
      const r = await call(cam, 'pullMessages', { messageLimit: 10 });
      pulls += 1;
      if (r.err) { lastErr = r.err; break; }
      states.push(...motionStates(r.xml));
      const alarm = states.filter((s) => s.topic.endsWith('VideoSource/MotionAlarm'));
      const start = alarm.findIndex((s) => s.state && s.operation !== 'Initialized');
      if (start >= 0 && alarm.slice(start + 1).some((s) => !s.state)) break;
    }
    out.steps.pullMessages = { ok: lastErr === null, err: lastErr, summary: { pulls, states } };
    progress('pullMessages', { pulls, states: states.length });
    const unsub = await call(cam, 'unsubscribe');
    step('unsubscribe', unsub, null);
  }

  // PTZ: a short continuous pan, its status while moving, stop, the status after.
  const move = await call(cam, 'continuousMove', { profileToken: token, x: 0.5, y: 0, zoom: 0 });
  step('continuousMove', move, null);
  await sleep(300);
  const moving = await call(cam, 'getStatus', { profileToken: token });
  step('getStatusMoving', moving, moving.data || null);
  const stop = await call(cam, 'stop', { profileToken: token, panTilt: true, zoom: true });
  step('stop', stop, null);
  const idle = await call(cam, 'getStatus', { profileToken: token });
  step('getStatusStopped', idle, idle.data || null);
  return out;
}

const hardStop = setTimeout(() => {
  process.stdout.write(JSON.stringify({ fatal: 'the client did not finish within its time limit' }) + '\n');
  process.exit(3);
}, ((opts.motionSeconds || 30) + 60) * 1000);

main().then((out) => {
  clearTimeout(hardStop);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}, (e) => {
  clearTimeout(hardStop);
  process.stdout.write(JSON.stringify({ fatal: String(e && e.stack || e) }) + '\n');
  process.exit(2);
});
