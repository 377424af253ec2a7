// SPDX-License-Identifier: GPL-3.0-or-later
// src/zones.ts against the motion.zones rules of docs/analytics.md#zones (the device's src/core/zones.cpp).
// The TypeScript is stripped with the bundler's own transform, so the test runs on plain node.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { transformWithOxc } from 'vite';

const source = readFileSync(new URL('../src/zones.ts', import.meta.url), 'utf8');
const { code } = await transformWithOxc(source, 'zones.ts');
const zones = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);

const square = [
  { x: 0.1, y: 0.2 },
  { x: 0.45, y: 0.2 },
  { x: 0.45, y: 0.95 },
  { x: 0.1, y: 0.95 },
];

test('parses the documented example', () => {
  const parsed = zones.parseZones(
    'include door: 0.10,0.20 0.45,0.20 0.45,0.95 0.10,0.95; exclude road: 0.5,0 1,0 1,0.3 0.5,0.3',
  );
  assert.deepEqual(parsed, [
    { name: 'door', exclude: false, points: square },
    {
      name: 'road',
      exclude: true,
      points: [
        { x: 0.5, y: 0 },
        { x: 1, y: 0 },
        { x: 1, y: 0.3 },
        { x: 0.5, y: 0.3 },
      ],
    },
  ]);
});

test('empty text and stray separators mean no zones', () => {
  assert.deepEqual(zones.parseZones(''), []);
  assert.deepEqual(zones.parseZones(' ; ;'), []);
});

test('formats as the device does and reads back the same', () => {
  const text = zones.formatZones([
    { name: 'door', exclude: false, points: square },
    {
      name: 'sky',
      exclude: true,
      points: [
        { x: 0, y: 0 },
        { x: 1, y: 0 },
        { x: 0.5, y: 0.12345 },
      ],
    },
  ]);
  assert.equal(
    text,
    'include door: 0.1000,0.2000 0.4500,0.2000 0.4500,0.9500 0.1000,0.9500; ' +
      'exclude sky: 0.0000,0.0000 1.0000,0.0000 0.5000,0.1235',
  );
  assert.equal(zones.formatZones(zones.parseZones(text)), text);
});

test('refuses what the device refuses', () => {
  const refused = {
    'include door 0.1,0.1 0.2,0.1 0.2,0.2': /not of the form/,
    'inside door: 0.1,0.1 0.2,0.1 0.2,0.2': /neither include nor exclude/,
    'include Door: 0.1,0.1 0.2,0.1 0.2,0.2': /zone name/,
    'include door: 0.1,0.1 0.2,0.1': /at least 3 corners/,
    'include door: 0.1,0.1 1.2,0.1 0.2,0.2': /outside the picture/,
    'include door: 0.1,0.1 x,0.1 0.2,0.2': /is not a corner/,
    'include bow: 0,0 1,1 1,0 0,1': /crosses itself \(edge 1 meets edge 3\)/,
    'include line: 0,0 0.5,0.5 1,1': /no area|folds back/,
    'include a: 0,0 1,0 1,1; exclude a: 0,0 1,0 1,1': /used twice/,
  };
  for (const [text, reason] of Object.entries(refused)) {
    assert.throws(() => zones.parseZones(text), reason, text);
  }
  const many = Array.from({ length: 17 }, (_, i) => `include z${i}: 0,0 1,0 1,1`).join('; ');
  assert.throws(() => zones.parseZones(many), /more than 16 zones/);
});

test('checks names and clamps clicks to the picture', () => {
  assert.equal(zones.nameProblem('porch_1', ['door']), null);
  assert.match(zones.nameProblem('door', ['door']), /already used/);
  assert.match(zones.nameProblem('', []), /1–32/);
  assert.equal(zones.roundCoordinate(1.2), 1);
  assert.equal(zones.roundCoordinate(-0.1), 0);
  assert.equal(zones.roundCoordinate(0.123456), 0.1235);
});
