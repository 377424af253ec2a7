// SPDX-License-Identifier: GPL-3.0-or-later
// The text form of the motion.zones setting (docs/analytics.md#zones), read and written by the zone editor:
//   include door: 0.1000,0.2000 0.4500,0.2000 0.4500,0.9500; exclude road: 0.5,0 1,0 1,0.3 0.5,0.3
// Coordinates are fractions of the picture (x right, y down). The device checks the same rules on save; checking
// them here lets the editor say what is wrong while the user draws.

export interface Point {
  x: number;
  y: number;
}

export interface Zone {
  name: string;
  exclude: boolean;
  points: Point[];
}

export const MAX_ZONES = 16;
export const MIN_POINTS = 3;
export const MAX_POINTS = 32;

const NAME = /^[a-z0-9_-]{1,32}$/;
const NUMBER = /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

// A coordinate as the device stores it: within the picture, to 4 decimals.
export function roundCoordinate(v: number): number {
  return Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
}

export function nameProblem(name: string, otherNames: readonly string[]): string | null {
  if (!NAME.test(name)) return 'A zone name is 1–32 characters from a–z, 0–9, _ and -';
  if (otherNames.includes(name)) return `The name ${name} is already used`;
  return null;
}

function cross(a: Point, b: Point, c: Point): number {
  return (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
}

function within(a: Point, b: Point, p: Point): boolean {
  return (
    Math.min(a.x, b.x) <= p.x && p.x <= Math.max(a.x, b.x) && Math.min(a.y, b.y) <= p.y && p.y <= Math.max(a.y, b.y)
  );
}

function segmentsMeet(a: Point, b: Point, c: Point, d: Point): boolean {
  const d1 = cross(c, d, a);
  const d2 = cross(c, d, b);
  const d3 = cross(a, b, c);
  const d4 = cross(a, b, d);
  if (d1 * d2 < 0 && d3 * d4 < 0) return true;
  return (
    (d1 === 0 && within(c, d, a)) ||
    (d2 === 0 && within(c, d, b)) ||
    (d3 === 0 && within(a, b, c)) ||
    (d4 === 0 && within(a, b, d))
  );
}

// Why the device would refuse this polygon, or null.
export function polygonProblem(points: readonly Point[]): string | null {
  const n = points.length;
  if (n < MIN_POINTS) return `needs at least ${MIN_POINTS} corners`;
  if (n > MAX_POINTS) return `has more than ${MAX_POINTS} corners`;
  if (points.some((p) => p.x < 0 || p.x > 1 || p.y < 0 || p.y > 1)) return 'has a corner outside the picture';
  for (let i = 0; i < n; i++) {
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // neighbours through the closing edge
      if (segmentsMeet(points[i], points[(i + 1) % n], points[j], points[(j + 1) % n])) {
        return `crosses itself (edge ${i + 1} meets edge ${j + 1})`;
      }
    }
  }
  let area2 = 0;
  for (let i = 0; i < n; i++) {
    const p = points[i];
    const q = points[(i + 1) % n];
    area2 += p.x * q.y - q.x * p.y;
  }
  if (Math.abs(area2) < 1e-6) return 'has no area';
  for (let k = 0; k < n; k++) {
    const a = points[(k + n - 1) % n];
    const b = points[k];
    const c = points[(k + 1) % n];
    if (cross(a, b, c) === 0 && (c.x - b.x) * (a.x - b.x) + (c.y - b.y) * (a.y - b.y) >= 0) {
      return `folds back on itself at corner ${k + 1}`;
    }
  }
  return null;
}

function parseZone(text: string): Zone {
  const colon = text.indexOf(':');
  if (colon < 0) throw new Error(`"${text.slice(0, 40)}" is not of the form "include|exclude <name>: x,y x,y x,y"`);
  const [kind, ...rest] = text.slice(0, colon).trim().split(/\s+/);
  const name = rest.join(' ');
  if (kind !== 'include' && kind !== 'exclude') throw new Error(`zone kind "${kind}" is neither include nor exclude`);
  if (!NAME.test(name)) throw new Error(`zone name "${name}" must be 1-32 of a-z 0-9 _ -`);
  const body = text.slice(colon + 1).trim();
  const points = (body ? body.split(/\s+/) : []).map((pair) => {
    const [x, y, extra] = pair.split(',');
    if (extra !== undefined || !NUMBER.test(x ?? '') || !NUMBER.test(y ?? '')) {
      throw new Error(`zone ${name}: "${pair}" is not a corner "x,y"`);
    }
    return { x: Math.round(Number(x) * 10000) / 10000, y: Math.round(Number(y) * 10000) / 10000 };
  });
  const problem = polygonProblem(points);
  if (problem) throw new Error(`zone ${name}: ${problem}`);
  return { name, exclude: kind === 'exclude', points };
}

// The zones of a motion.zones value; throws an Error saying what is wrong.
export function parseZones(text: string): Zone[] {
  const zones: Zone[] = [];
  for (const part of text.split(';')) {
    if (!part.trim()) continue;
    if (zones.length === MAX_ZONES) throw new Error(`more than ${MAX_ZONES} zones`);
    const zone = parseZone(part.trim());
    if (zones.some((z) => z.name === zone.name)) throw new Error(`zone name ${zone.name} is used twice`);
    zones.push(zone);
  }
  return zones;
}

// The motion.zones value of `zones`, in the device's own spelling (4 decimals, "; " between zones).
export function formatZones(zones: readonly Zone[]): string {
  return zones
    .map(
      (z) =>
        `${z.exclude ? 'exclude' : 'include'} ${z.name}:` +
        z.points.map((p) => ` ${p.x.toFixed(4)},${p.y.toFixed(4)}`).join(''),
    )
    .join('; ');
}
