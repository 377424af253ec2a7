// SPDX-License-Identifier: GPL-3.0-or-later
// Draws motion.zones over a picture from the camera: "Add zone", click the corners, "Finish zone". The result is
// the setting's text (src/zones.ts), which the motion section's Save sends.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { getBlob } from '../api';
import {
  formatZones,
  MAX_POINTS,
  MAX_ZONES,
  MIN_POINTS,
  nameProblem,
  parseZones,
  polygonProblem,
  roundCoordinate,
  type Point,
  type Zone,
} from '../zones';
import { errorText, Field } from '../ui';

const svgPoints = (points: readonly Point[]) => points.map((p) => `${p.x},${p.y}`).join(' ');

function centre(points: readonly Point[]): Point {
  const x = points.reduce((s, p) => s + p.x, 0) / points.length;
  const y = points.reduce((s, p) => s + p.y, 0) / points.length;
  return { x, y };
}

const at = (p: Point) => ({ left: `${p.x * 100}%`, top: `${p.y * 100}%` });

export function ZoneEditor(props: { value: string; disabled: boolean; onChange: (text: string) => void }) {
  const parsed = useMemo(() => {
    try {
      return { zones: parseZones(props.value), error: '' };
    } catch (e) {
      return { zones: [] as Zone[], error: errorText(e) };
    }
  }, [props.value]);
  const [picture, setPicture] = useState('');
  const [pictureError, setPictureError] = useState('');
  const [aspect, setAspect] = useState(16 / 9);
  const [drawing, setDrawing] = useState<Zone | null>(null);
  const [drawError, setDrawError] = useState('');
  const stageRef = useRef<HTMLDivElement>(null);
  const nameRef = useRef<HTMLInputElement>(null);

  async function loadPicture() {
    try {
      const { blob } = await getBlob('/api/v1/snapshot');
      setPicture(URL.createObjectURL(blob));
      setPictureError('');
    } catch (e) {
      setPictureError(`No picture from the camera (${errorText(e)}); zones can still be drawn.`);
    }
  }

  useEffect(() => {
    void loadPicture();
  }, []);
  // Frees each picture when the next replaces it, and the last when the editor closes.
  useEffect(() => () => void (picture && URL.revokeObjectURL(picture)), [picture]);

  const zones = parsed.zones;
  const editable = !props.disabled && !parsed.error;

  function startZone() {
    let n = zones.length + 1;
    while (zones.some((z) => z.name === `zone${n}`)) n += 1;
    setDrawing({ name: `zone${n}`, exclude: false, points: [] });
    setDrawError('');
    window.setTimeout(() => nameRef.current?.select(), 0);
  }

  function addPoint(e: MouseEvent) {
    if (!drawing || !stageRef.current) return;
    if (drawing.points.length >= MAX_POINTS) {
      setDrawError(`A zone has at most ${MAX_POINTS} corners.`);
      return;
    }
    const r = stageRef.current.getBoundingClientRect();
    const p = {
      x: roundCoordinate((e.clientX - r.left) / r.width),
      y: roundCoordinate((e.clientY - r.top) / r.height),
    };
    setDrawing({ ...drawing, points: [...drawing.points, p] });
    setDrawError('');
  }

  function draftProblem(draft: Zone): string | null {
    const badName = nameProblem(
      draft.name,
      zones.map((z) => z.name),
    );
    if (badName) return badName;
    if (draft.points.length < MIN_POINTS) return `Click at least ${MIN_POINTS} corners on the picture.`;
    const badShape = polygonProblem(draft.points);
    return badShape && `The zone ${badShape}.`;
  }

  function finish() {
    if (!drawing) return;
    const problem = draftProblem(drawing);
    if (problem) {
      setDrawError(problem);
      return;
    }
    props.onChange(formatZones([...zones, drawing]));
    setDrawing(null);
  }

  function update(index: number, zone: Zone | null) {
    const next = zone ? zones.map((z, i) => (i === index ? zone : z)) : zones.filter((_, i) => i !== index);
    props.onChange(formatZones(next));
  }

  return (
    <div id="zone-editor" class="zone-editor">
      <div class="zone-toolbar">
        <button type="button" onClick={() => void loadPicture()}>
          Refresh picture
        </button>
        {drawing ? (
          <>
            <button type="button" class="primary" onClick={finish}>
              Finish zone
            </button>
            <button
              type="button"
              disabled={drawing.points.length === 0}
              onClick={() => setDrawing({ ...drawing, points: drawing.points.slice(0, -1) })}
            >
              Undo corner
            </button>
            <button type="button" class="ghost" onClick={() => setDrawing(null)}>
              Cancel
            </button>
          </>
        ) : (
          <button type="button" disabled={!editable || zones.length >= MAX_ZONES} onClick={startZone}>
            Add zone
          </button>
        )}
      </div>
      {drawing && (
        <div class="zone-draft">
          <Field label="Zone name" hint="a–z, 0–9, _ and -; events name the include zones they touched">
            {(aria) => (
              <input
                {...aria}
                ref={nameRef}
                name="zone-name"
                value={drawing.name}
                autocapitalize="none"
                spellcheck={false}
                onInput={(e) => setDrawing({ ...drawing, name: e.currentTarget.value })}
                onKeyDown={(e) => {
                  if (e.key === 'Enter') {
                    e.preventDefault();
                    finish();
                  }
                }}
              />
            )}
          </Field>
          <Field label="Kind">
            {(aria) => (
              <select
                {...aria}
                name="zone-kind"
                value={drawing.exclude ? 'exclude' : 'include'}
                onChange={(e) => setDrawing({ ...drawing, exclude: e.currentTarget.value === 'exclude' })}
              >
                <option value="include">Include: motion counts only in include zones</option>
                <option value="exclude">Exclude: motion here never counts</option>
              </select>
            )}
          </Field>
          <p class="hint" aria-live="polite">
            Click on the picture to add corners ({drawing.points.length} so far, at least {MIN_POINTS}).
          </p>
          {drawError && (
            <p class="field-error" role="alert">
              {drawError}
            </p>
          )}
        </div>
      )}
      <div
        class={drawing ? 'zone-stage drawing' : 'zone-stage'}
        ref={stageRef}
        style={{ aspectRatio: String(aspect) }}
        onClick={addPoint}
      >
        {picture ? (
          <img
            src={picture}
            alt="The camera's current picture"
            onLoad={(e) => setAspect(e.currentTarget.naturalWidth / e.currentTarget.naturalHeight || 16 / 9)}
          />
        ) : (
          <p class="zone-placeholder">{pictureError || 'Loading the picture…'}</p>
        )}
        <svg viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">
          {zones.map((z) => (
            <polygon key={z.name} class={z.exclude ? 'zone exclude' : 'zone include'} points={svgPoints(z.points)} />
          ))}
          {drawing && drawing.points.length > 0 && <polygon class="zone draft" points={svgPoints(drawing.points)} />}
        </svg>
        {zones.map((z) => (
          <span key={z.name} class={z.exclude ? 'zone-label exclude' : 'zone-label'} style={at(centre(z.points))}>
            {z.name}
          </span>
        ))}
        {drawing?.points.map((p, i) => (
          <span key={i} class="zone-corner" style={at(p)} />
        ))}
      </div>
      {picture && pictureError && <p class="hint">{pictureError}</p>}
      {parsed.error && <p class="field-error">The zones text cannot be drawn: {parsed.error}</p>}
      {zones.length > 0 ? (
        <ul class="zone-list" aria-label="Zones">
          {zones.map((z, i) => (
            <li key={z.name}>
              <span class={z.exclude ? 'swatch exclude' : 'swatch'} aria-hidden="true" />
              <span class="zone-name">{z.name}</span>
              <span class="muted">{z.points.length} corners</span>
              <label class="inline">
                <span class="visually-hidden">Kind of zone {z.name}</span>
                <select
                  name={`zone-kind-${z.name}`}
                  value={z.exclude ? 'exclude' : 'include'}
                  disabled={!editable}
                  onChange={(e) => update(i, { ...z, exclude: e.currentTarget.value === 'exclude' })}
                >
                  <option value="include">include</option>
                  <option value="exclude">exclude</option>
                </select>
              </label>
              <button type="button" class="ghost danger" disabled={!editable} onClick={() => update(i, null)}>
                Delete<span class="visually-hidden"> zone {z.name}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : (
        !parsed.error && <p class="muted">No zones: motion counts everywhere in the picture.</p>
      )}
    </div>
  );
}
