/**
 * Progress of a long transfer: bytes, rate and, when the total is known, ETA.
 * Operations report into a Progress; the CLI decides whether it is shown
 * (a terminal, not --json) so nothing here writes unless asked to.
 */
export interface Progress {
  add(bytes: number): void;
  finish(): void;
}

export type ProgressFactory = (label: string, totalBytes: number | undefined) => Progress;

export const silentProgress: ProgressFactory = () => ({ add: () => undefined, finish: () => undefined });

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit] ?? 'B'}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

/** One status line per transfer, redrawn at most every 200 ms on the given terminal stream. */
export function terminalProgress(stream: NodeJS.WriteStream, now: () => number = Date.now): ProgressFactory {
  return (label, totalBytes) => {
    const started = now();
    let bytes = 0;
    let lastDraw = 0;
    const line = (final: boolean): string => {
      const elapsed = Math.max((now() - started) / 1000, 0.001);
      const rate = bytes / elapsed;
      const eta = totalBytes !== undefined && rate > 0 ? formatDuration((totalBytes - bytes) / rate) : undefined;
      const of = totalBytes === undefined ? '' : ` of ${formatBytes(totalBytes)}`;
      const tail = final ? ` in ${formatDuration(elapsed)}` : eta === undefined ? '' : `  ETA ${eta}`;
      return `${label}  ${formatBytes(bytes)}${of}  ${formatBytes(rate)}/s${tail}`;
    };
    return {
      add(n) {
        bytes += n;
        const t = now();
        if (t - lastDraw >= 200) {
          lastDraw = t;
          stream.write(`\r\x1b[2K${line(false)}`);
        }
      },
      finish() {
        stream.write(`\r\x1b[2K${line(true)}\n`);
      },
    };
  };
}
