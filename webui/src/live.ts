// SPDX-License-Identifier: GPL-3.0-or-later
// The live player: fragmented MP4 from the device's WebSocket (/api/v1/live/<stream>) into Media Source
// Extensions, one append at a time, with a short buffer held close to the live edge.
//
// Server → client: text {"type":"init",mime,...}, then the init segment (binary), then one binary message per
// frame (moof+mdat), and about once a second text {"type":"stats",...}. A new "init" (size or codec changed) means
// a new MediaSource. Text {"type":"error",...} comes before the server closes the socket. Every reconnect goes
// through one backoff, which only playback that moves forward resets.

export interface LiveStats {
  latencyMs: number | null;
  fps: number;
  bitrateKbps: number;
  dropped: number;
}

export interface LiveCallbacks {
  // A stream (re)started: any error shown earlier is over.
  onStart(): void;
  onStats(stats: LiveStats): void;
  // The server refused the stream (privacy mode, stream off, ...): show `message`; the player retries slowly.
  onError(message: string): void;
  // This browser cannot play the stream through MSE: the page falls back to MJPEG.
  onUnsupported(reason: string): void;
  // The socket closed before any message (the handshake was refused, or the session ended): the page may find out
  // why; the player retries.
  onRefused(): void;
}

// The error code that asks for the MJPEG fallback (the stream is not H.264).
const UNSUPPORTED_CODEC = 'unsupported_codec';
const MAX_LAG_S = 0.5; // further behind the newest frame than this: jump ahead
const EDGE_GAP_S = 0.1; // where to jump to, before the newest frame's end
const KEEP_S = 10; // buffer kept behind the playback position
const TRIM_SLACK_S = 1; // how much more may pile up before a remove() (not one per frame)
const MAX_QUEUED = 120; // fragments waiting to be appended; past that start over at a keyframe
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 10000;

interface InitMessage {
  type: 'init';
  mime: string;
}
interface StatsMessage {
  type: 'stats';
  fps: number;
  bitrate_kbps: number;
  dropped: number;
  server_time_ms: number;
  capture_time_ms: number;
}
interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}
type Message = InitMessage | StatsMessage | ErrorMessage;

function mseSupports(mime: string): boolean {
  return typeof MediaSource !== 'undefined' && MediaSource.isTypeSupported(mime);
}

export class LivePlayer {
  private readonly video: HTMLVideoElement;
  private readonly url: string;
  private readonly cb: LiveCallbacks;
  private socket: WebSocket | null = null;
  private media: MediaSource | null = null;
  private buffer: SourceBuffer | null = null;
  private queue: ArrayBuffer[] = [];
  private retryTimer = 0;
  private retryDelay = RETRY_FIRST_MS;
  private stopped = false;
  private objectUrl = ''; // of the MediaSource until it opens (or is dropped)
  private playedTo = 0; // currentTime when playback last moved forward

  constructor(video: HTMLVideoElement, stream: string, callbacks: LiveCallbacks) {
    this.video = video;
    this.cb = callbacks;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url = `${scheme}//${location.host}/api/v1/live/${encodeURIComponent(stream)}`;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    this.closeSocket();
    this.detach();
  }

  private connect(): void {
    const socket = new WebSocket(this.url);
    socket.binaryType = 'arraybuffer';
    let heard = false;
    socket.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      if (this.socket !== socket) return;
      heard = true;
      if (typeof e.data === 'string') this.onText(e.data);
      else this.onFragment(e.data);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (!heard) this.cb.onRefused();
      this.scheduleConnect();
    };
    this.socket = socket;
  }

  private scheduleConnect(): void {
    window.clearTimeout(this.retryTimer);
    this.retryTimer = window.setTimeout(() => this.connect(), this.retryDelay);
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
  }

  // Start over at a keyframe on a new connection, after the backoff.
  private restart(): void {
    this.closeSocket();
    this.detach();
    this.scheduleConnect();
  }

  private closeSocket(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  private onText(text: string): void {
    let msg: Message;
    try {
      msg = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (msg.type === 'init') {
      if (!mseSupports(msg.mime)) {
        this.stop();
        this.cb.onUnsupported(`This browser cannot play ${msg.mime} through Media Source Extensions`);
        return;
      }
      this.attach(msg.mime);
      this.cb.onStart();
    } else if (msg.type === 'stats') {
      this.cb.onStats({
        latencyMs: this.latency(msg),
        fps: msg.fps,
        bitrateKbps: msg.bitrate_kbps,
        dropped: msg.dropped,
      });
    } else if (msg.type === 'error') {
      if (msg.code === UNSUPPORTED_CODEC) {
        this.stop();
        this.cb.onUnsupported(msg.message);
        return;
      }
      // Privacy mode or a stream turned off can end at any time: keep trying, slowly. The last picture goes too:
      // privacy mode means nothing is shown.
      this.retryDelay = RETRY_MAX_MS;
      this.detach();
      this.cb.onError(msg.message);
    }
  }

  // Glass to glass, as far as the page can tell: the server's age of the newest sent frame plus what waits in the
  // buffer ahead of the playback position.
  private latency(msg: StatsMessage): number | null {
    const b = this.buffer?.buffered;
    if (!b || b.length === 0) return null;
    const ahead = Math.max(0, b.end(b.length - 1) - this.video.currentTime);
    return Math.round(msg.server_time_ms - msg.capture_time_ms + ahead * 1000);
  }

  private attach(mime: string): void {
    this.detach();
    const media = new MediaSource();
    const url = URL.createObjectURL(media);
    this.objectUrl = url;
    media.addEventListener(
      'sourceopen',
      () => {
        this.revokeUrl();
        if (this.media !== media) return;
        try {
          const buffer = media.addSourceBuffer(mime);
          buffer.addEventListener('updateend', () => this.onUpdateEnd(buffer));
          this.buffer = buffer;
          this.pump();
        } catch (e) {
          this.stop();
          this.cb.onUnsupported(e instanceof Error ? e.message : String(e));
        }
      },
      { once: true },
    );
    this.media = media;
    this.video.src = url;
  }

  private revokeUrl(): void {
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = '';
  }

  private detach(): void {
    this.revokeUrl();
    this.media = null;
    this.buffer = null;
    this.queue = [];
    if (this.video.getAttribute('src')) {
      this.video.removeAttribute('src');
      this.video.load();
    }
  }

  private onFragment(data: ArrayBuffer): void {
    if (!this.media) return; // no init yet
    this.queue.push(data);
    if (this.queue.length > MAX_QUEUED) {
      // Far behind (a throttled background tab): a new connection starts again at a keyframe.
      this.restart();
      return;
    }
    this.pump();
  }

  private pump(): void {
    const buffer = this.buffer;
    if (!buffer || buffer.updating || this.queue.length === 0) return;
    const b = buffer.buffered;
    const keepFrom = this.video.currentTime - KEEP_S;
    if (b.length > 0 && b.start(0) < keepFrom - TRIM_SLACK_S) {
      buffer.remove(0, keepFrom); // its updateend pumps again
      return;
    }
    const next = this.queue.shift()!;
    try {
      buffer.appendBuffer(next);
    } catch (e) {
      const played = this.video.currentTime - 1;
      if (e instanceof DOMException && e.name === 'QuotaExceededError' && b.length > 0 && b.start(0) < played) {
        // Full: drop what has been played and append the same fragment again (updateend pumps).
        this.queue.unshift(next);
        buffer.remove(0, played);
        return;
      }
      // Closed by a decode error, or full of what has not been played: start over at a keyframe.
      this.restart();
    }
  }

  private onUpdateEnd(buffer: SourceBuffer): void {
    if (buffer !== this.buffer) return;
    const b = buffer.buffered;
    if (b.length > 0) {
      const v = this.video;
      const start = b.start(0);
      const end = b.end(b.length - 1);
      if (v.currentTime < start) v.currentTime = start;
      else if (end - v.currentTime > MAX_LAG_S) v.currentTime = end - EDGE_GAP_S;
      if (v.paused) v.play().catch(() => undefined);
      if (v.currentTime > this.playedTo) {
        this.playedTo = v.currentTime;
        this.retryDelay = RETRY_FIRST_MS; // it plays: the next trouble starts the backoff afresh
      }
    }
    this.pump();
  }
}
