// SPDX-License-Identifier: GPL-3.0-or-later
// Live view: H.264 through Media Source Extensions (src/live.ts), or MJPEG in an <img> where MSE cannot play it.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get, getBlob, type Value } from '../api';
import { formatNumber } from '../format';
import { LivePlayer, type LiveStats } from '../live';
import { announce, errorText, PageTitle } from '../ui';

type Stream = 'main' | 'sub';

// Remembered per browser: choices about this screen, not device settings.
function stored<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
  const v = localStorage.getItem(key);
  return allowed.includes(v as T) ? (v as T) : fallback;
}

function useStoredFlag(key: string, fallback: boolean): [boolean, (v: boolean) => void] {
  const [value, setValue] = useState(stored(key, ['1', '0'], fallback ? '1' : '0') === '1');
  return [
    value,
    (v: boolean) => {
      localStorage.setItem(key, v ? '1' : '0');
      setValue(v);
    },
  ];
}

const MJPEG_RETRY_MS = 3000;

// A browser does not tell a page why a WebSocket handshake or an <img> failed. A plain GET of the stream's path
// does: the stream's refusal (503 privacy mode or stream off, 415 not H.264), or 426 when the stream is fine and
// only wants a WebSocket. A 401 there shows the login page. The answer is the reason to show, or null.
async function whyRefused(stream: string): Promise<ApiError | null> {
  try {
    await get(`/api/v1/live/${stream}`);
  } catch (e) {
    if (e instanceof ApiError && e.status !== 401 && e.code !== 'upgrade_required') return e;
  }
  return null;
}

export function LivePage() {
  const [stream, setStreamState] = useState<Stream>(stored('freehold.live.stream', ['main', 'sub'] as const, 'main'));
  const [preferMjpeg, setPreferMjpeg] = useStoredFlag('freehold.live.mjpeg', false);
  const [showStats, setShowStats] = useStoredFlag('freehold.live.stats', true);
  const [codecOf, setCodecOf] = useState<{ stream: Stream; codec: string } | null>(null);
  const [unsupported, setUnsupported] = useState('');
  const [message, setMessage] = useState('');
  const [stats, setStats] = useState<LiveStats | null>(null);
  const [resolution, setResolution] = useState('');
  const [mjpegTry, setMjpegTry] = useState(0);
  const videoRef = useRef<HTMLVideoElement>(null);
  const imgRef = useRef<HTMLImageElement>(null);
  const playerRef = useRef<HTMLDivElement>(null);

  function setStream(s: Stream) {
    localStorage.setItem('freehold.live.stream', s);
    setStreamState(s);
  }

  // The configured codec decides before connecting: an MJPEG stream is never offered over the socket. (It may differ
  // from the running one until a restart; then the socket's refusal says so.)
  useEffect(() => {
    get<{ values: Record<string, Value> }>('/api/v1/config').then(
      (c) => setCodecOf({ stream, codec: String(c.values[`stream.${stream}.codec`] ?? 'h264') }),
      () => setCodecOf({ stream, codec: 'h264' }),
    );
  }, [stream]);
  const codec = codecOf?.stream === stream ? codecOf.codec : null;

  const mse = typeof MediaSource !== 'undefined';
  const mode = preferMjpeg || !mse || codec === 'mjpeg' || unsupported ? 'mjpeg' : 'mse';

  useEffect(() => {
    setMessage('');
    setUnsupported('');
  }, [stream]);

  useEffect(() => {
    setStats(null);
    setResolution('');
    const video = videoRef.current;
    if (mode !== 'mse' || codec === null || !video) return;
    const player = new LivePlayer(video, stream, {
      onStart: () => setMessage(''),
      onStats: (s) => {
        setStats(s);
        if (video.videoWidth) setResolution(`${video.videoWidth}×${video.videoHeight}`);
      },
      onError: (text) => {
        setMessage(text);
        setStats(null);
        setResolution('');
      },
      onUnsupported: (reason) => {
        announce(`${reason}. Showing the MJPEG stream instead.`);
        setUnsupported(reason);
      },
      onRefused: () =>
        void whyRefused(stream).then((e) => {
          if (e?.code === 'unsupported_codec') setUnsupported(e.message);
          else if (e) setMessage(e.message);
        }),
    });
    player.start();
    return () => player.stop();
  }, [mode, stream, codec]);

  // Stop the MJPEG download when the picture goes away: an <img> removed from the page may keep loading.
  const mjpegSrc = `/api/v1/live/${stream}.mjpeg${mjpegTry ? `?retry=${mjpegTry}` : ''}`;
  useEffect(() => {
    const img = imgRef.current;
    return () => img?.removeAttribute('src');
  }, [mode, mjpegSrc]);

  // One pending MJPEG retry at most, cancelled when the page goes away.
  const mjpegRetry = useRef(0);
  useEffect(() => () => window.clearTimeout(mjpegRetry.current), []);
  function onMjpegError() {
    void whyRefused(stream).then((e) => setMessage(e?.message ?? 'The MJPEG stream stopped; trying again…'));
    window.clearTimeout(mjpegRetry.current);
    mjpegRetry.current = window.setTimeout(() => setMjpegTry((n) => n + 1), MJPEG_RETRY_MS);
  }

  async function snapshot() {
    try {
      const { blob, headers } = await getBlob('/api/v1/snapshot');
      const taken = Number(headers.get('X-Picture-Time')) || Date.now();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = `snapshot-${new Date(taken).toISOString().replace(/[:.]/g, '-')}.jpg`;
      document.body.append(a);
      a.click();
      a.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 10000);
      announce('Snapshot saved.');
    } catch (e) {
      announce(e instanceof ApiError ? `No snapshot: ${e.message}` : errorText(e));
    }
  }

  function fullscreen() {
    const el = playerRef.current;
    if (document.fullscreenElement) void document.exitFullscreen();
    else void el?.requestFullscreen?.().catch(() => undefined);
  }

  return (
    <>
      <PageTitle
        actions={
          <>
            <button type="button" onClick={() => void snapshot()}>
              Snapshot
            </button>
            <button type="button" class="ghost" onClick={fullscreen}>
              Full screen
            </button>
          </>
        }
      >
        Live
      </PageTitle>
      <div class="toolbar" role="group" aria-label="Player options">
        <label class="inline">
          Stream{' '}
          <select name="live.stream" value={stream} onChange={(e) => setStream(e.currentTarget.value as Stream)}>
            <option value="main">Main (full size)</option>
            <option value="sub">Sub (small)</option>
          </select>
        </label>
        <label class="inline">
          <input
            type="checkbox"
            name="live.mjpeg"
            checked={mode === 'mjpeg'}
            disabled={!mse || codec === 'mjpeg' || Boolean(unsupported)}
            onChange={(e) => setPreferMjpeg(e.currentTarget.checked)}
          />{' '}
          MJPEG
        </label>
        <label class="inline">
          <input
            type="checkbox"
            name="live.stats"
            checked={showStats}
            onChange={(e) => setShowStats(e.currentTarget.checked)}
          />{' '}
          Statistics
        </label>
      </div>
      <div class="player" id="live-player" data-mode={mode} ref={playerRef}>
        {mode === 'mse' ? (
          <video
            ref={videoRef}
            muted
            autoplay
            playsInline
            disablePictureInPicture
            aria-label={`Live video, ${stream} stream`}
            onResize={(e) => setResolution(`${e.currentTarget.videoWidth}×${e.currentTarget.videoHeight}`)}
          />
        ) : (
          <img
            key={mjpegSrc}
            ref={imgRef}
            src={mjpegSrc}
            alt={`Live picture, ${stream} stream`}
            onLoad={(e) => {
              setMessage('');
              setResolution(`${e.currentTarget.naturalWidth}×${e.currentTarget.naturalHeight}`);
            }}
            onError={onMjpegError}
          />
        )}
        {message && (
          <div class="player-message" role="alert">
            {message}
          </div>
        )}
        {showStats && (
          <dl class="readout" aria-label="Stream statistics">
            <div>
              <dt>Latency</dt>
              <dd id="live-latency">{stats?.latencyMs != null ? `${stats.latencyMs} ms` : '—'}</dd>
            </div>
            <div>
              <dt>Frame rate</dt>
              <dd id="live-fps">{stats ? `${formatNumber(stats.fps, 1)} fps` : '—'}</dd>
            </div>
            <div>
              <dt>Bitrate</dt>
              <dd id="live-bitrate">{stats ? `${formatNumber(stats.bitrateKbps)} kbit/s` : '—'}</dd>
            </div>
            <div>
              <dt>Dropped</dt>
              <dd id="live-dropped">{stats ? formatNumber(stats.dropped) : '—'}</dd>
            </div>
            <div>
              <dt>Size</dt>
              <dd id="live-resolution">{resolution || '—'}</dd>
            </div>
          </dl>
        )}
      </div>
      {mode === 'mjpeg' && (
        <p class="hint">
          {unsupported
            ? `MJPEG fallback: ${unsupported}.`
            : !mse
              ? 'This browser has no Media Source Extensions: showing the MJPEG stream.'
              : codec === 'mjpeg'
                ? 'This stream is encoded as MJPEG.'
                : 'MJPEG uses more bandwidth than H.264; latency and bitrate are not measured.'}
        </p>
      )}
    </>
  );
}
